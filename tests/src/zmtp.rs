//! Raw ZMTP 3.x bytes, for talking to a cloud port without a ZeroMQ library
//! (the transport attacks of DESIGN §5).

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

/// A LONG message frame header (flags `0x02`) claiming `len` body bytes.
pub fn long_frame_header(len: u64) -> Vec<u8> {
    let mut header = vec![0x02];
    header.extend_from_slice(&len.to_be_bytes());
    header
}

/// Greeting, a DEALER's READY, then a frame header claiming 2^44 bytes: the
/// packet that aborts an unguarded zeromq 0.7 process.
pub fn huge_length_attack() -> Vec<u8> {
    let mut bytes = greeting();
    bytes.extend(ready("DEALER"));
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
        let mut h = vec![0x02 | more];
        h.extend_from_slice(&(body.len() as u64).to_be_bytes());
        h
    };
    frame.extend_from_slice(body);
    frame
}

/// One multipart message (a DEALER's: no envelope) as ZMTP frames.
pub fn message(frames: &[&[u8]]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        bytes.extend(data_frame(f, i + 1 < frames.len()));
    }
    bytes
}

/// A process's resident memory now and at its peak, in KiB, from
/// `/proc/PID/status` (`VmRSS`, `VmHWM`); `None` if unreadable.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
