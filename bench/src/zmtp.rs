//! A minimal raw ZMTP 3.x DEALER (NULL mechanism) for W6's simulated
//! devices: thousands of connections from chosen source addresses, which
//! no ZeroMQ library here can bind. Sans-IO: [`hello`] and [`message`]
//! make the bytes to send; [`Decoder`] turns received bytes into whole
//! messages (the peer's greeting checked, commands skipped, every length
//! bounded). The same bytes as `shoplist_tests::zmtp`, which the transport
//! attack tests use.

use bytes::{Buf, Bytes, BytesMut};

/// Longest frame a device accepts (a `notify` or `subscribed` header is a
/// few hundred bytes).
pub const MAX_FRAME: u64 = 1024 * 1024;
/// Most frames in one message.
pub const MAX_FRAMES: usize = 64;

/// Greeting plus a DEALER's READY: what a device sends first.
pub fn hello() -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[12..16].copy_from_slice(b"NULL");
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.extend_from_slice(&6u32.to_be_bytes());
    body.extend_from_slice(b"DEALER");
    g.extend([0x04, body.len() as u8]);
    g.extend(body);
    g
}

/// One multipart message (a DEALER's: no envelope) as ZMTP data frames.
pub fn message(frames: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let more = u8::from(i + 1 < frames.len());
        if f.len() <= 255 {
            out.extend([more, f.len() as u8]);
        } else {
            out.push(0x02 | more);
            out.extend((f.len() as u64).to_be_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

/// What the peer sent that a device does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZmtpError {
    /// The first 64 bytes are not a ZMTP 3 greeting.
    #[error("not a ZMTP 3 greeting")]
    BadGreeting,
    /// A frame longer than [`MAX_FRAME`].
    #[error("frame of {0} bytes is too long")]
    FrameTooLong(u64),
    /// A message of more than [`MAX_FRAMES`] frames.
    #[error("message of more than {MAX_FRAMES} frames")]
    TooManyFrames,
}

/// Received bytes → whole messages. Feed with [`Decoder::buffer`] (e.g.
/// `read_buf`), then call [`Decoder::next_message`] until `None`.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
    greeted: bool,
    parts: Vec<Bytes>,
}

impl Decoder {
    /// Where received bytes go.
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// The next whole message's frames, `None` until more bytes arrive.
    pub fn next_message(&mut self) -> Result<Option<Vec<Bytes>>, ZmtpError> {
        if !self.greeted {
            if self.buf.len() < 64 {
                return Ok(None);
            }
            if self.buf[0] != 0xFF || self.buf[9] != 0x7F || self.buf[10] < 3 {
                return Err(ZmtpError::BadGreeting);
            }
            self.buf.advance(64);
            self.greeted = true;
        }
        loop {
            let Some(&flags) = self.buf.first() else {
                return Ok(None);
            };
            let long = flags & 0x02 != 0;
            let head = if long { 9 } else { 2 };
            if self.buf.len() < head {
                return Ok(None);
            }
            let len = if long {
                let mut n = [0u8; 8];
                n.copy_from_slice(&self.buf[1..9]);
                u64::from_be_bytes(n)
            } else {
                u64::from(self.buf[1])
            };
            if len > MAX_FRAME {
                return Err(ZmtpError::FrameTooLong(len));
            }
            // Bounded by MAX_FRAME above.
            let len = len as usize;
            if self.buf.len() < head + len {
                return Ok(None);
            }
            self.buf.advance(head);
            let body = self.buf.split_to(len).freeze();
            if flags & 0x04 != 0 {
                continue; // A command (READY, PING): nothing for a device.
            }
            if self.parts.len() >= MAX_FRAMES {
                return Err(ZmtpError::TooManyFrames);
            }
            self.parts.push(body);
            if flags & 0x01 == 0 {
                return Ok(Some(std::mem::take(&mut self.parts)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_hello() -> Vec<u8> {
        // A server's greeting is a device's with another socket type.
        hello()
    }

    #[test]
    fn messages_come_out_whole_whatever_the_byte_split() {
        let frames = [Bytes::from_static(b"head"), Bytes::from(vec![7u8; 300])];
        let mut bytes = server_hello();
        bytes.extend(message(&frames));
        bytes.extend(message(&[Bytes::from_static(b"second")]));
        for chunk in [1, 3, 64, 1000] {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for piece in bytes.chunks(chunk) {
                d.buffer().extend_from_slice(piece);
                while let Some(m) = d.next_message().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got.len(), 2, "chunk {chunk}");
            assert_eq!(got[0], frames.to_vec());
            assert_eq!(got[1], vec![Bytes::from_static(b"second")]);
        }
    }

    #[test]
    fn bad_greetings_and_huge_frames_are_refused() {
        let mut d = Decoder::default();
        d.buffer().extend_from_slice(&[0u8; 64]);
        assert_eq!(d.next_message(), Err(ZmtpError::BadGreeting));
        let mut d = Decoder::default();
        d.buffer().extend_from_slice(&server_hello());
        d.buffer().extend_from_slice(&[0x02]);
        d.buffer().extend_from_slice(&(1u64 << 44).to_be_bytes());
        assert_eq!(d.next_message(), Err(ZmtpError::FrameTooLong(1 << 44)));
    }
}
