//! Raw ZMTP 3.x bytes (NULL mechanism), for talking to a cloud port without
//! a ZeroMQ library: the transport attack tests of DESIGN §5 and W6's
//! simulated devices (thousands of connections from chosen source
//! addresses, which no ZeroMQ library here can bind).
//!
//! Sans-IO: [`greeting`], [`ready`], [`hello`], [`data_frame`] and
//! [`message`] make the bytes to send (and [`huge_length_attack`] the
//! poisonous ones); [`Decoder`] turns received bytes into whole messages
//! (the peer's greeting checked, commands skipped, every length bounded).

use bytes::{Buf, Bytes, BytesMut};

/// Longest frame a default [`Decoder`] accepts (a device's: a `notify` or
/// `subscribed` header is a few hundred bytes).
pub const MAX_FRAME: u64 = 1024 * 1024;
/// Most frames in one message a default [`Decoder`] accepts.
pub const MAX_FRAMES: usize = 64;

/// The 64-byte ZMTP 3.0 greeting with the NULL mechanism, as zeromq sends it.
pub fn greeting() -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// A READY command frame announcing `socket_type` (e.g. `"DEALER"`).
pub fn ready(socket_type: &str) -> Vec<u8> {
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type.as_bytes());
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

/// Greeting plus a DEALER's READY: what a device sends first.
pub fn hello() -> Vec<u8> {
    let mut bytes = greeting();
    bytes.extend(ready("DEALER"));
    bytes
}

/// A LONG message frame header (flags `0x02`) claiming `len` body bytes.
pub fn long_frame_header(len: u64) -> Vec<u8> {
    let mut header = vec![0x02];
    header.extend_from_slice(&len.to_be_bytes());
    header
}

/// Greeting, a DEALER's READY, then a frame header claiming 2^44 bytes: the
/// packet that aborts an unguarded zeromq 0.7 process.
pub fn huge_length_attack() -> Vec<u8> {
    let mut bytes = hello();
    bytes.extend(long_frame_header(1 << 44));
    bytes
}

/// One ZMTP data frame carrying `body`; `more` if another frame of the same
/// message follows.
pub fn data_frame(body: &[u8], more: bool) -> Vec<u8> {
    let more = u8::from(more);
    let mut frame = if body.len() <= 255 {
        vec![more, body.len() as u8]
    } else {
        let mut h = long_frame_header(body.len() as u64);
        h[0] |= more;
        h
    };
    frame.extend_from_slice(body);
    frame
}

/// One multipart message (a DEALER's: no envelope) as ZMTP data frames.
pub fn message<F: AsRef<[u8]>>(frames: &[F]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        bytes.extend(data_frame(f.as_ref(), i + 1 < frames.len()));
    }
    bytes
}

/// What the peer sent that a [`Decoder`] does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZmtpError {
    /// The first 64 bytes are not a ZMTP 3 greeting.
    #[error("not a ZMTP 3 greeting")]
    BadGreeting,
    /// A frame longer than the decoder's limit ([`MAX_FRAME`] by default).
    #[error("frame of {0} bytes is too long")]
    FrameTooLong(u64),
    /// A message of more frames than the decoder's limit ([`MAX_FRAMES`]
    /// by default).
    #[error("message of too many frames")]
    TooManyFrames,
}

/// Received bytes → whole messages. Feed with [`Decoder::buffer`] (e.g.
/// `read_buf`), then call [`Decoder::next_message`] until `None`.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    greeted: bool,
    parts: Vec<Bytes>,
    max_frame: u64,
    max_frames: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::with_limits(MAX_FRAME, MAX_FRAMES)
    }
}

impl Decoder {
    /// A decoder that refuses frames longer than `max_frame` and messages
    /// of more than `max_frames` frames.
    pub fn with_limits(max_frame: u64, max_frames: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            greeted: false,
            parts: Vec::new(),
            max_frame,
            max_frames,
        }
    }

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
            if len > self.max_frame {
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
            if self.parts.len() >= self.max_frames {
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

    /// A server's greeting and READY: a device's with another socket type.
    fn server_hello() -> Vec<u8> {
        let mut bytes = greeting();
        bytes.extend(ready("ROUTER"));
        bytes
    }

    #[test]
    fn frames_are_short_or_long_with_the_more_flag() {
        assert_eq!(data_frame(b"ab", true), vec![1, 2, b'a', b'b']);
        let long = data_frame(&[9u8; 300], false);
        assert_eq!(long[..9], long_frame_header(300)[..]);
        assert_eq!(long.len(), 9 + 300);
        assert_eq!(data_frame(&[9u8; 300], true)[0], 0x03);
        assert_eq!(hello().len(), 64 + 2 + 28);
        assert_eq!(
            huge_length_attack()[hello().len()..],
            long_frame_header(1 << 44)[..]
        );
    }

    #[test]
    fn messages_come_out_whole_whatever_the_byte_split() {
        let frames = [Bytes::from_static(b"head"), Bytes::from(vec![7u8; 300])];
        let mut bytes = server_hello();
        bytes.extend(message(&frames));
        bytes.extend(message(&[b"second".as_slice()]));
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
    fn bad_greetings_huge_frames_and_long_messages_are_refused() {
        let mut d = Decoder::default();
        d.buffer().extend_from_slice(&[0u8; 64]);
        assert_eq!(d.next_message(), Err(ZmtpError::BadGreeting));
        let mut d = Decoder::default();
        d.buffer().extend_from_slice(&server_hello());
        d.buffer().extend_from_slice(&long_frame_header(1 << 44));
        assert_eq!(d.next_message(), Err(ZmtpError::FrameTooLong(1 << 44)));
        let mut d = Decoder::default();
        d.buffer().extend_from_slice(&server_hello());
        for _ in 0..=MAX_FRAMES {
            d.buffer().extend_from_slice(&data_frame(b"x", true));
        }
        assert_eq!(d.next_message(), Err(ZmtpError::TooManyFrames));
        // The limits are the decoder's own (the READY command is 28 bytes).
        let mut d = Decoder::with_limits(40, 2);
        d.buffer().extend_from_slice(&server_hello());
        d.buffer()
            .extend_from_slice(&message(&[[1u8; 40].as_slice(), b"x"]));
        assert_eq!(d.next_message().unwrap().map(|m| m.len()), Some(2));
        d.buffer()
            .extend_from_slice(&message(&[b"a".as_slice(), b"b", b"c"]));
        assert_eq!(d.next_message(), Err(ZmtpError::TooManyFrames));
        let mut d = Decoder::with_limits(40, 2);
        d.buffer().extend_from_slice(&server_hello());
        d.buffer().extend_from_slice(&data_frame(&[1u8; 41], false));
        assert_eq!(d.next_message(), Err(ZmtpError::FrameTooLong(41)));
    }
}
