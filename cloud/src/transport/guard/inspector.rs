//! A sans-IO, incremental ZMTP 3.x checker for the client→server byte stream.
//!
//! [`ZmtpInspector`] is fed the bytes a client sends, in whatever pieces the
//! network delivers them, and answers with a [`Verdict`]: how many of those
//! bytes are checked and may go on to the real ZeroMQ socket, or why the
//! connection must be closed. It never copies frame bodies and never needs more
//! than one greeting (64 bytes) or one frame header (9 bytes) of lookahead, so
//! its memory is constant whatever the client claims.
//!
//! What it checks (RFC 23/ZMTP 3.1, NULL mechanism, as spoken by zeromq 0.7):
//!
//! 1. the 64-byte greeting: signature `FF 00..00 7F` (8 padding bytes, not
//!    checked), version major `3`, mechanism `NULL` (zero padded to 20 bytes);
//!    the as-server byte and the 31 filler bytes are not checked;
//! 2. the handshake: the first frame is a command (flags `0x04` or `0x06`) named
//!    `READY`, at most [`MAX_HANDSHAKE_COMMAND`] bytes long, whose properties
//!    are well formed; unless identities are allowed, it must not carry a
//!    non-empty `Identity` (a ZeroMQ ROUTER gives the newest connection with
//!    a chosen identity that identity's route: a peer that knew a worker's
//!    route could take it over). The whole READY command is held back until
//!    it is checked;
//! 3. every frame after that: flags use only bits 0–2, a command never has
//!    MORE set, a LONG length fits in 63 bits, and no declared length exceeds
//!    the configured `max_frame`.
//!
//! A frame header is held back until it is complete and checked, so a
//! rejected header never reaches the server: that is the whole point (zeromq
//! 0.7 aborts the process when it reads a header claiming 2^44 bytes).
//!
//! With [`ZmtpInspector::swallowing_commands`], command frames after the
//! handshake (ZMTP 3.1 `PING`, `PONG`, …) are reported as byte ranges the
//! caller must not forward ([`ZmtpInspector::take_skips`]): zeromq 0.7 knows
//! no command but READY and drops the connection on any other. Each `PING`'s
//! context is reported ([`ZmtpInspector::take_pings`]) so the caller can
//! answer `PONG` itself (RFC 37/ZMTP 3.1 heartbeats, which libzmq sends when
//! `ZMQ_HEARTBEAT_IVL` is set).

use std::fmt;

/// Length of a ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;

/// Largest handshake command the inspector lets through. zeromq 0.7's READY
/// carries `Socket-Type` and at most a 255-byte `Identity`, well under this.
pub const MAX_HANDSHAKE_COMMAND: u64 = 4096;

/// ZMTP frame flag: more frames of this message follow.
const FLAG_MORE: u8 = 0b001;
/// ZMTP frame flag: the length is 8 bytes (big-endian), not 1.
const FLAG_LONG: u8 = 0b010;
/// ZMTP frame flag: this frame is a command, not message data.
const FLAG_COMMAND: u8 = 0b100;

/// The body of a READY command starts with its name, length-prefixed.
const READY_PREFIX: &[u8] = b"\x05READY";

/// The body of a PING command: name, then a 2-byte TTL, then the context.
const PING_PREFIX: &[u8] = b"\x04PING";

/// Longest PING context (RFC 37: 0 to 16 octets); longer ones are cut.
pub const MAX_PING_CONTEXT: usize = 16;

/// Most PINGs remembered between two [`ZmtpInspector::take_pings`] calls.
const MAX_PENDING_PINGS: usize = 16;

/// A PONG command frame answering a PING with `context` (RFC 37).
pub fn pong_frame(context: &[u8]) -> Vec<u8> {
    let context = &context[..context.len().min(MAX_PING_CONTEXT)];
    let mut frame = vec![FLAG_COMMAND, (5 + context.len()) as u8];
    frame.extend_from_slice(b"\x04PONG");
    frame.extend_from_slice(context);
    frame
}

/// What to do with the bytes fed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward this many bytes, counted from the oldest byte not yet
    /// forwarded (bytes held back by earlier calls come first). The rest of
    /// what was fed is an incomplete greeting or frame header: keep it and
    /// feed only new bytes next time.
    Forward(usize),
    /// Close the connection; forward nothing more.
    Reject(Rejection),
}

/// Why a client stream was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The greeting does not start with `FF` or has no `7F` at offset 9.
    BadSignature,
    /// The greeting's version major is not 3.
    UnsupportedVersion(u8),
    /// The greeting names a security mechanism other than `NULL`.
    UnsupportedMechanism,
    /// A frame's flags byte has reserved bits set, or MORE on a command.
    BadFlags(u8),
    /// The first frame after the greeting is not a READY command, or is too
    /// long for one.
    BadHandshake,
    /// The READY command names its own routing identity where that is not
    /// allowed.
    IdentityNotAllowed,
    /// A frame declares more bytes than allowed (or more than 2^63 - 1).
    FrameTooLarge {
        /// The length the frame header claims.
        declared: u64,
        /// The largest length allowed at this point of the stream.
        limit: u64,
    },
}

impl Rejection {
    /// Whether this rejection is an oversized length claim (counted apart in
    /// the guard's statistics: it is the attack the guard exists for).
    pub fn is_oversize(&self) -> bool {
        matches!(self, Rejection::FrameTooLarge { .. })
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::BadSignature => f.write_str("not a ZMTP 3 greeting (bad signature)"),
            Rejection::UnsupportedVersion(v) => write!(f, "unsupported ZMTP major version {v}"),
            Rejection::UnsupportedMechanism => f.write_str("security mechanism is not NULL"),
            Rejection::BadFlags(b) => write!(f, "invalid frame flags {b:#04x}"),
            Rejection::BadHandshake => {
                f.write_str("first frame is not a well-formed READY command")
            }
            Rejection::IdentityNotAllowed => {
                f.write_str("READY carries a routing identity, which this port does not allow")
            }
            Rejection::FrameTooLarge { declared, limit } => {
                write!(f, "frame claims {declared} bytes, limit {limit}")
            }
        }
    }
}

/// Where the inspector is in the stream.
#[derive(Debug, Clone)]
enum State {
    /// Collecting the greeting; `got` bytes so far.
    Greeting { buf: [u8; GREETING_LEN], got: usize },
    /// Waiting for a frame's flags byte.
    Flags,
    /// Collecting a frame's length field.
    Length { flags: u8, buf: [u8; 8], got: usize },
    /// Inside a frame body with `remaining` bytes to go; `last` if the
    /// frame ends a message (data, no MORE flag).
    Body { remaining: u64, last: bool },
    /// Inside a swallowed command's body: its first bytes (enough for a
    /// PING) are kept in `head`.
    Command { remaining: u64, head: Vec<u8> },
    /// Collecting the handshake command (held back until checked):
    /// `header` bytes of frame header, then `body`, `remaining` to go.
    Handshake {
        header: usize,
        body: Vec<u8>,
        remaining: usize,
    },
    /// Rejected: every later call repeats the rejection.
    Rejected(Rejection),
}

/// Incremental ZMTP 3.x checker for one client connection (see module docs).
#[derive(Debug, Clone)]
pub struct ZmtpInspector {
    state: State,
    max_frame: u64,
    /// Bytes fed but not yet released by a [`Verdict::Forward`].
    held: usize,
    /// Whether the READY command has been seen in full.
    handshake_done: bool,
    /// Whether the first frame after the greeting has started.
    first_frame_seen: bool,
    /// Whether READY may carry a non-empty `Identity`.
    allow_identity: bool,
    /// Data messages completed so far (their last frame passed in full).
    messages: u64,
    /// Declared bytes of the data message in progress (frames so far).
    message_bytes: u64,
    /// Where (a stream offset) the frame that made a message big begins,
    /// since [`ZmtpInspector::take_became_big`].
    became_big: Option<u64>,
    /// Stream offset of the next byte to consume.
    position: u64,
    /// Stream offset where the current frame's header began.
    frame_start: u64,
    /// The size from which a message counts as big.
    big_message: u64,
    /// Whether commands after the handshake are swallowed (module docs).
    swallow_commands: bool,
    /// Stream ranges of swallowed commands, not yet taken.
    skips: Vec<std::ops::Range<u64>>,
    /// Contexts of PINGs seen, not yet taken.
    pings: Vec<Vec<u8>>,
}

/// Most bytes [`ZmtpInspector`] ever holds back: a READY command with its
/// frame header.
pub const MAX_HELD: usize = MAX_HANDSHAKE_COMMAND as usize + 9;

impl ZmtpInspector {
    /// A checker for a fresh connection, allowing frames of up to
    /// `max_frame` bytes once the handshake is done, and READY commands that
    /// name a routing identity.
    pub fn new(max_frame: u64) -> Self {
        Self::with_identity(max_frame, true)
    }

    /// As [`ZmtpInspector::new`]; with `allow_identity` false, a READY that
    /// names a non-empty routing identity is rejected.
    pub fn with_identity(max_frame: u64, allow_identity: bool) -> Self {
        Self {
            state: State::Greeting {
                buf: [0; GREETING_LEN],
                got: 0,
            },
            max_frame,
            held: 0,
            handshake_done: false,
            first_frame_seen: false,
            allow_identity,
            messages: 0,
            message_bytes: 0,
            became_big: None,
            position: 0,
            frame_start: 0,
            big_message: u64::MAX,
            swallow_commands: false,
            skips: Vec::new(),
            pings: Vec::new(),
        }
    }

    /// Swallow command frames after the handshake: report them through
    /// [`ZmtpInspector::take_skips`] and their PINGs through
    /// [`ZmtpInspector::take_pings`] (module docs).
    pub fn swallowing_commands(mut self) -> Self {
        self.swallow_commands = true;
        self
    }

    /// Stream ranges (offsets from the first byte ever fed) of swallowed
    /// commands found since the last call. A range is reported as soon as
    /// the command's header is complete, so it covers every byte of it that
    /// a [`Verdict::Forward`] releases, then or later; the caller drops
    /// those bytes instead of forwarding them.
    pub fn take_skips(&mut self) -> Vec<std::ops::Range<u64>> {
        std::mem::take(&mut self.skips)
    }

    /// Contexts of the PING commands completed since the last call (at
    /// most 16 are kept in between; a peer that floods PINGs gets fewer
    /// PONGs).
    pub fn take_pings(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.pings)
    }

    /// Whether the stream is between two frames after the handshake: a
    /// frame injected here (a PONG) does not split another one.
    pub fn at_frame_boundary(&self) -> bool {
        self.handshake_done && matches!(self.state, State::Flags)
    }

    /// Report messages whose frames declare `bytes` or more in all through
    /// [`ZmtpInspector::take_became_big`].
    pub fn with_big_message(mut self, bytes: u64) -> Self {
        self.big_message = bytes;
        self
    }

    /// Data messages whose last frame has passed in full so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Whether, since the last call, a data message's declared bytes reached
    /// the big-message size: the stream offset (counted from the first byte
    /// ever fed) where the frame that crossed it begins. That frame's header
    /// is in what the last `feed` released; a caller that limits big messages
    /// forwards the bytes before the offset, takes its slot, then forwards
    /// the rest. At most once per message.
    pub fn take_became_big(&mut self) -> Option<u64> {
        self.became_big.take()
    }

    /// Whether the greeting and the READY command have both passed in full.
    pub fn handshake_complete(&self) -> bool {
        self.handshake_done
    }

    /// Feeds the next bytes the client sent and says what to do.
    pub fn feed(&mut self, mut input: &[u8]) -> Verdict {
        let total = self.held + input.len();
        while !input.is_empty() {
            match self.step(input) {
                Ok(used) => {
                    self.position += used as u64;
                    input = &input[used..];
                }
                Err(rejection) => {
                    self.state = State::Rejected(rejection.clone());
                    return Verdict::Reject(rejection);
                }
            }
        }
        if let State::Rejected(rejection) = &self.state {
            return Verdict::Reject(rejection.clone());
        }
        self.held = match &self.state {
            State::Greeting { got, .. } => *got,
            State::Length { got, .. } => 1 + *got,
            State::Handshake { header, body, .. } => *header + body.len(),
            State::Flags | State::Body { .. } | State::Command { .. } | State::Rejected(_) => 0,
        };
        Verdict::Forward(total - self.held)
    }

    /// Consumes a prefix of `input` (at least one byte), returning its length.
    fn step(&mut self, input: &[u8]) -> Result<usize, Rejection> {
        match &mut self.state {
            State::Rejected(rejection) => Err(rejection.clone()),
            State::Greeting { buf, got } => {
                let take = (GREETING_LEN - *got).min(input.len());
                buf[*got..*got + take].copy_from_slice(&input[..take]);
                *got += take;
                if *got == GREETING_LEN {
                    check_greeting(buf)?;
                    self.state = State::Flags;
                }
                Ok(take)
            }
            State::Flags => {
                self.frame_start = self.position;
                let flags = input[0];
                if flags & !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND) != 0
                    || flags & (FLAG_COMMAND | FLAG_MORE) == FLAG_COMMAND | FLAG_MORE
                {
                    return Err(Rejection::BadFlags(flags));
                }
                if !self.first_frame_seen && flags & FLAG_COMMAND == 0 {
                    return Err(Rejection::BadHandshake);
                }
                self.state = State::Length {
                    flags,
                    buf: [0; 8],
                    got: 0,
                };
                Ok(1)
            }
            State::Length { flags, buf, got } => {
                let width = if *flags & FLAG_LONG != 0 { 8 } else { 1 };
                let take = (width - *got).min(input.len());
                buf[*got..*got + take].copy_from_slice(&input[..take]);
                *got += take;
                if *got == width {
                    let declared = if width == 8 {
                        u64::from_be_bytes(*buf)
                    } else {
                        u64::from(buf[0])
                    };
                    let flags = *flags;
                    self.start_body(declared, 1 + width, flags)?;
                }
                Ok(take)
            }
            State::Body { remaining, last } => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                *remaining -= take as u64;
                if *remaining == 0 {
                    if *last {
                        self.messages += 1;
                    }
                    self.state = State::Flags;
                }
                Ok(take)
            }
            State::Command { remaining, head } => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                let room = (PING_PREFIX.len() + 2 + MAX_PING_CONTEXT).saturating_sub(head.len());
                head.extend_from_slice(&input[..take.min(room)]);
                *remaining -= take as u64;
                if *remaining == 0 {
                    let head = std::mem::take(head);
                    self.command_done(&head);
                    self.state = State::Flags;
                }
                Ok(take)
            }
            State::Handshake {
                body, remaining, ..
            } => {
                let take = (*remaining).min(input.len());
                body.extend_from_slice(&input[..take]);
                *remaining -= take;
                // Fail fast on a wrong command name.
                let n = body.len().min(READY_PREFIX.len());
                if body[..n] != READY_PREFIX[..n] {
                    return Err(Rejection::BadHandshake);
                }
                if *remaining == 0 {
                    check_ready(body, self.allow_identity)?;
                    self.handshake_done = true;
                    self.state = State::Flags;
                }
                Ok(take)
            }
        }
    }

    /// A complete, declared length (after a `header`-byte frame header):
    /// check it and enter the body.
    fn start_body(&mut self, declared: u64, header: usize, flags: u8) -> Result<(), Rejection> {
        // ZMTP: the most significant bit of a long length must be 0.
        let limit = if self.first_frame_seen {
            self.max_frame
        } else {
            self.max_frame.min(MAX_HANDSHAKE_COMMAND)
        }
        .min(i64::MAX as u64);
        if declared > limit {
            return Err(Rejection::FrameTooLarge { declared, limit });
        }
        if !self.first_frame_seen {
            self.first_frame_seen = true;
            if declared < READY_PREFIX.len() as u64 {
                return Err(Rejection::BadHandshake);
            }
            // declared <= MAX_HANDSHAKE_COMMAND here, so it fits.
            let remaining = usize::try_from(declared).map_err(|_| Rejection::BadHandshake)?;
            self.state = State::Handshake {
                header,
                body: Vec::with_capacity(remaining),
                remaining,
            };
            return Ok(());
        }
        if flags & FLAG_COMMAND != 0 && self.swallow_commands {
            let end = self.frame_start + header as u64 + declared;
            self.skips.push(self.frame_start..end);
            let head = Vec::new();
            if declared == 0 {
                self.command_done(&head);
            } else {
                self.state = State::Command {
                    remaining: declared,
                    head,
                };
            }
            return Ok(());
        }
        let last = flags & (FLAG_COMMAND | FLAG_MORE) == 0;
        if flags & FLAG_COMMAND == 0 {
            let before = self.message_bytes;
            self.message_bytes = before.saturating_add(declared);
            if before < self.big_message && self.message_bytes >= self.big_message {
                self.became_big = Some(self.frame_start);
            }
            if last {
                self.message_bytes = 0;
            }
        }
        self.state = if declared == 0 {
            if last {
                self.messages += 1;
            }
            State::Flags
        } else {
            State::Body {
                remaining: declared,
                last,
            }
        };
        Ok(())
    }
}

impl ZmtpInspector {
    /// A swallowed command ended; `head` holds its first bytes.
    fn command_done(&mut self, head: &[u8]) {
        if let Some(rest) = head.strip_prefix(PING_PREFIX) {
            // 2 bytes of TTL (ignored: the guard's idle timeout governs),
            // then the context.
            let context = rest.get(2..).unwrap_or_default();
            if self.pings.len() < MAX_PENDING_PINGS {
                self.pings.push(context.to_vec());
            }
        }
    }
}

/// Checks a complete READY command body: its name, then properties as ZMTP
/// 3 lays them out (a 1-byte name length, the name, a 4-byte big-endian
/// value length, the value) exactly filling the body.
fn check_ready(body: &[u8], allow_identity: bool) -> Result<(), Rejection> {
    let mut rest = body
        .strip_prefix(READY_PREFIX)
        .ok_or(Rejection::BadHandshake)?;
    while let Some((&name_len, after)) = rest.split_first() {
        let name_len = usize::from(name_len);
        if after.len() < name_len + 4 {
            return Err(Rejection::BadHandshake);
        }
        let (name, after) = after.split_at(name_len);
        let (len_bytes, after) = after.split_at(4);
        let value_len =
            u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let value_len = usize::try_from(value_len).map_err(|_| Rejection::BadHandshake)?;
        if after.len() < value_len {
            return Err(Rejection::BadHandshake);
        }
        if !allow_identity && value_len > 0 && name.eq_ignore_ascii_case(b"Identity") {
            return Err(Rejection::IdentityNotAllowed);
        }
        rest = &after[value_len..];
    }
    Ok(())
}

/// Checks a complete greeting (signature, version major, mechanism).
fn check_greeting(greeting: &[u8; GREETING_LEN]) -> Result<(), Rejection> {
    if greeting[0] != 0xFF || greeting[9] != 0x7F {
        return Err(Rejection::BadSignature);
    }
    if greeting[10] != 3 {
        return Err(Rejection::UnsupportedVersion(greeting[10]));
    }
    let mechanism = &greeting[12..32];
    if &mechanism[..4] != b"NULL" || mechanism[4..].iter().any(|&b| b != 0) {
        return Err(Rejection::UnsupportedMechanism);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 1 << 20;

    /// A greeting as zeromq 0.7 sends it: ZMTP 3.0, NULL, as-server 0.
    fn greeting() -> Vec<u8> {
        let mut g = vec![0u8; GREETING_LEN];
        g[0] = 0xFF;
        g[9] = 0x7F;
        g[10] = 3;
        g[12..16].copy_from_slice(b"NULL");
        g
    }

    /// A READY command frame with a `Socket-Type` property.
    fn ready(socket_type: &str) -> Vec<u8> {
        let mut body = READY_PREFIX.to_vec();
        body.push(11);
        body.extend_from_slice(b"Socket-Type");
        body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
        body.extend_from_slice(socket_type.as_bytes());
        let mut frame = vec![FLAG_COMMAND, body.len() as u8];
        frame.extend_from_slice(&body);
        frame
    }

    fn short_frame(flags: u8, body: &[u8]) -> Vec<u8> {
        let mut f = vec![flags, body.len() as u8];
        f.extend_from_slice(body);
        f
    }

    fn long_header(flags: u8, len: u64) -> Vec<u8> {
        let mut h = vec![flags | FLAG_LONG];
        h.extend_from_slice(&len.to_be_bytes());
        h
    }

    /// A valid stream: greeting, READY, a two-frame message, a long frame.
    fn valid_stream() -> Vec<u8> {
        let mut s = greeting();
        s.extend(ready("DEALER"));
        s.extend(short_frame(FLAG_MORE, b"hello"));
        s.extend(short_frame(0, b""));
        s.extend(long_header(0, 300));
        s.extend(std::iter::repeat_n(7u8, 300));
        s
    }

    /// Feeds `stream` in pieces of `chunk` bytes, simulating the adapter:
    /// returns the forwarded bytes, and the rejection if any.
    fn run(stream: &[u8], chunk: usize, max: u64) -> (Vec<u8>, Option<Rejection>) {
        let mut inspector = ZmtpInspector::new(max);
        let mut pending = Vec::new();
        let mut forwarded = Vec::new();
        for piece in stream.chunks(chunk) {
            pending.extend_from_slice(piece);
            match inspector.feed(piece) {
                Verdict::Forward(n) => {
                    forwarded.extend(pending.drain(..n));
                    assert!(pending.len() <= MAX_HELD, "held back too much");
                }
                Verdict::Reject(r) => return (forwarded, Some(r)),
            }
        }
        (forwarded, None)
    }

    #[test]
    fn valid_stream_is_forwarded_whole_however_it_is_split() {
        let stream = valid_stream();
        for chunk in [1, 2, 3, 7, 9, 63, 64, 65, 100, stream.len()] {
            let (forwarded, rejection) = run(&stream, chunk, MAX);
            assert_eq!(rejection, None, "chunk {chunk}");
            assert_eq!(forwarded, stream, "chunk {chunk}");
        }
    }

    #[test]
    fn handshake_completes_after_ready_body_which_is_held_back_until_checked() {
        let mut inspector = ZmtpInspector::new(MAX);
        assert_eq!(inspector.feed(&greeting()), Verdict::Forward(GREETING_LEN));
        assert!(!inspector.handshake_complete());
        let ready = ready("ROUTER");
        let (head, tail) = ready.split_at(ready.len() - 1);
        assert_eq!(inspector.feed(head), Verdict::Forward(0));
        assert!(!inspector.handshake_complete());
        assert_eq!(inspector.feed(tail), Verdict::Forward(ready.len()));
        assert!(inspector.handshake_complete());
    }

    #[test]
    fn incomplete_header_is_held_back_then_released() {
        let mut inspector = ZmtpInspector::new(MAX);
        let mut prefix = greeting();
        prefix.extend(ready("DEALER"));
        assert_eq!(inspector.feed(&prefix), Verdict::Forward(prefix.len()));
        let header = long_header(0, 1000);
        assert_eq!(inspector.feed(&header[..4]), Verdict::Forward(0));
        assert_eq!(inspector.feed(&header[4..8]), Verdict::Forward(0));
        // The last length byte completes the header: all 9 go, plus 2 body bytes.
        assert_eq!(inspector.feed(&[header[8], 1, 2]), Verdict::Forward(11));
    }

    #[test]
    fn huge_length_claim_is_rejected_before_its_header_is_released() {
        let mut stream = greeting();
        stream.extend(ready("DEALER"));
        let accepted = stream.len();
        stream.extend(long_header(0, 1 << 44));
        for chunk in [1, 5, stream.len()] {
            let (forwarded, rejection) = run(&stream, chunk, MAX);
            assert_eq!(
                rejection,
                Some(Rejection::FrameTooLarge {
                    declared: 1 << 44,
                    limit: MAX
                })
            );
            // On rejection the rest of the chunk is dropped with the
            // connection, so at most the valid prefix went through.
            assert!(forwarded.len() <= accepted, "chunk {chunk}");
            assert_eq!(forwarded[..], stream[..forwarded.len()]);
        }
    }

    #[test]
    fn length_at_the_limit_passes_one_over_fails() {
        let mut base = greeting();
        base.extend(ready("DEALER"));
        let mut ok = base.clone();
        ok.extend(long_header(FLAG_MORE, MAX));
        assert_eq!(run(&ok, 1, MAX).1, None);
        let mut bad = base;
        bad.extend(long_header(FLAG_MORE, MAX + 1));
        assert!(run(&bad, 1, MAX).1.is_some_and(|r| r.is_oversize()));
    }

    #[test]
    fn length_with_top_bit_set_is_rejected_even_without_limit() {
        let mut s = greeting();
        s.extend(ready("DEALER"));
        s.extend(long_header(0, u64::MAX));
        assert!(run(&s, 3, u64::MAX).1.is_some_and(|r| r.is_oversize()));
    }

    #[test]
    fn huge_claim_instead_of_ready_is_rejected() {
        let mut s = greeting();
        s.extend(long_header(FLAG_COMMAND, 1 << 44));
        assert_eq!(
            run(&s, 1, MAX).1,
            Some(Rejection::FrameTooLarge {
                declared: 1 << 44,
                limit: MAX_HANDSHAKE_COMMAND
            })
        );
    }

    #[test]
    fn bad_greetings_are_rejected() {
        let mut g = greeting();
        g[0] = 0x00;
        assert_eq!(run(&g, 1, MAX).1, Some(Rejection::BadSignature));
        let mut g = greeting();
        g[9] = 0x00;
        assert_eq!(run(&g, 64, MAX).1, Some(Rejection::BadSignature));
        let mut g = greeting();
        g[10] = 2;
        assert_eq!(run(&g, 64, MAX).1, Some(Rejection::UnsupportedVersion(2)));
        let mut g = greeting();
        g[12..17].copy_from_slice(b"PLAIN");
        assert_eq!(run(&g, 64, MAX).1, Some(Rejection::UnsupportedMechanism));
        // An HTTP request is not a greeting.
        let http = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3);
        assert_eq!(run(&http, 64, MAX).1, Some(Rejection::BadSignature));
    }

    #[test]
    fn greeting_is_held_back_until_complete() {
        let mut inspector = ZmtpInspector::new(MAX);
        let g = greeting();
        assert_eq!(inspector.feed(&g[..63]), Verdict::Forward(0));
        assert_eq!(inspector.feed(&g[63..]), Verdict::Forward(64));
    }

    #[test]
    fn reserved_flag_bits_and_more_on_commands_are_rejected() {
        let mut base = greeting();
        base.extend(ready("DEALER"));
        for flags in [0x08, 0x80, FLAG_COMMAND | FLAG_MORE] {
            let mut s = base.clone();
            s.extend(short_frame(flags, b"x"));
            assert_eq!(run(&s, 1, MAX).1, Some(Rejection::BadFlags(flags)));
        }
    }

    #[test]
    fn first_frame_must_be_a_ready_command() {
        let mut s = greeting();
        s.extend(short_frame(0, b"data"));
        assert_eq!(run(&s, 1, MAX).1, Some(Rejection::BadHandshake));
        let mut s = greeting();
        s.extend(short_frame(FLAG_COMMAND, b"\x05HELLO"));
        assert_eq!(run(&s, 1, MAX).1, Some(Rejection::BadHandshake));
        let mut s = greeting();
        s.extend(short_frame(FLAG_COMMAND, b"\x05REA"));
        assert_eq!(run(&s, 2, MAX).1, Some(Rejection::BadHandshake));
    }

    #[test]
    fn rejection_is_sticky() {
        let mut inspector = ZmtpInspector::new(MAX);
        assert!(matches!(inspector.feed(&[0u8; 64]), Verdict::Reject(_)));
        assert!(matches!(inspector.feed(&greeting()), Verdict::Reject(_)));
    }

    #[test]
    fn commands_after_the_handshake_pass() {
        let mut s = greeting();
        s.extend(ready("DEALER"));
        s.extend(short_frame(FLAG_COMMAND, b"\x04PING\x00\x00"));
        s.extend(short_frame(0, b"x"));
        assert_eq!(run(&s, 1, MAX), (s.clone(), None));
    }

    /// A READY command frame with `Socket-Type` DEALER and an `Identity`.
    fn ready_with_identity(identity: &[u8]) -> Vec<u8> {
        let mut frame = ready("DEALER");
        let mut extra = vec![8u8];
        extra.extend_from_slice(b"Identity");
        extra.extend_from_slice(&(identity.len() as u32).to_be_bytes());
        extra.extend_from_slice(identity);
        frame[1] += extra.len() as u8;
        frame.extend(extra);
        frame
    }

    fn run_backend(stream: &[u8], chunk: usize) -> Option<Rejection> {
        let mut inspector = ZmtpInspector::with_identity(MAX, false);
        let mut forwarded = 0;
        for piece in stream.chunks(chunk) {
            match inspector.feed(piece) {
                Verdict::Forward(n) => forwarded += n,
                Verdict::Reject(r) => {
                    // Nothing of the READY command reached the server.
                    assert!(forwarded <= GREETING_LEN, "forwarded {forwarded} bytes");
                    return Some(r);
                }
            }
        }
        None
    }

    #[test]
    fn a_chosen_identity_is_refused_where_not_allowed_and_held_back_until_checked() {
        let mut s = greeting();
        s.extend(ready_with_identity(b"route-of-w1"));
        s.extend(short_frame(0, b"x"));
        for chunk in [1, 5, 64, 70, s.len()] {
            assert_eq!(
                run_backend(&s, chunk),
                Some(Rejection::IdentityNotAllowed),
                "chunk {chunk}"
            );
            assert_eq!(run(&s, chunk, MAX), (s.clone(), None), "frontend allows it");
        }
        // An empty identity (libzmq sends one) is not a choice of route.
        let mut s = greeting();
        s.extend(ready_with_identity(b""));
        s.extend(short_frame(0, b"x"));
        assert_eq!(run_backend(&s, 3), None);
        // Without any identity property.
        let mut s = greeting();
        s.extend(ready("DEALER"));
        assert_eq!(run_backend(&s, 1), None);
    }

    #[test]
    fn malformed_ready_properties_are_refused() {
        let mut frame = ready("DEALER");
        // Claim a longer value than the command holds.
        let len_at = 2 + READY_PREFIX.len() + 1 + "Socket-Type".len();
        frame[len_at + 3] = 200;
        let mut s = greeting();
        s.extend(frame);
        assert_eq!(run(&s, 1, MAX).1, Some(Rejection::BadHandshake));
    }

    #[test]
    fn messages_and_big_messages_are_counted_as_they_pass() {
        let mut inspector = ZmtpInspector::new(MAX).with_big_message(200);
        let stream = valid_stream();
        for piece in stream.chunks(5) {
            assert!(matches!(inspector.feed(piece), Verdict::Forward(_)));
        }
        // "hello"+"" is one message, the 300-byte frame another; READY and
        // commands are not messages.
        assert_eq!(inspector.messages(), 2);
        // The 300-byte frame starts after greeting, READY and 2 + 2 bytes.
        let at = (stream.len() - 300 - 9) as u64;
        assert_eq!(inspector.take_became_big(), Some(at));
        assert_eq!(inspector.take_became_big(), None);
        // Many small frames make a big message too, once.
        let mut many = Vec::new();
        for _ in 0..10 {
            many.extend(short_frame(FLAG_MORE, &[1; 30]));
        }
        many.extend(short_frame(0, b"end"));
        inspector.feed(&many);
        let seventh = (stream.len() + 6 * 32) as u64;
        assert_eq!(inspector.take_became_big(), Some(seventh));
        assert_eq!(inspector.take_became_big(), None);
        let mut more = short_frame(FLAG_COMMAND, b"\x04PING\x00\x00");
        more.extend(short_frame(0, b""));
        inspector.feed(&more);
        assert_eq!(inspector.messages(), 4);
    }

    /// A ZMTP 3.1 PING command frame (RFC 37): TTL in tenths of a second.
    fn ping(ttl: u16, context: &[u8]) -> Vec<u8> {
        let mut body = PING_PREFIX.to_vec();
        body.extend_from_slice(&ttl.to_be_bytes());
        body.extend_from_slice(context);
        short_frame(FLAG_COMMAND, &body)
    }

    #[test]
    fn pings_are_swallowed_and_reported_however_the_stream_is_split() {
        let mut prefix = greeting();
        prefix.extend(ready("DEALER"));
        let mut stream = prefix.clone();
        stream.extend(short_frame(FLAG_MORE, b"a"));
        let ping_at = stream.len() as u64;
        stream.extend(ping(300, b"ctx-1"));
        let ping_end = stream.len() as u64;
        stream.extend(short_frame(0, b"b"));
        stream.extend(short_frame(FLAG_COMMAND, b"\x04PONG"));
        stream.extend(ping(0, b""));
        let mut expected = prefix;
        expected.extend(short_frame(FLAG_MORE, b"a"));
        expected.extend(short_frame(0, b"b"));
        for chunk in [1, 2, 5, 9, stream.len()] {
            let mut inspector = ZmtpInspector::new(MAX).swallowing_commands();
            let mut pending = Vec::new();
            let mut offset = 0u64;
            let mut out = Vec::new();
            let mut skips = Vec::new();
            let mut pings = Vec::new();
            for piece in stream.chunks(chunk) {
                pending.extend_from_slice(piece);
                let Verdict::Forward(n) = inspector.feed(piece) else {
                    panic!("rejected");
                };
                skips.extend(inspector.take_skips());
                pings.extend(inspector.take_pings());
                for (i, b) in pending.drain(..n).enumerate() {
                    let at = offset + i as u64;
                    if !skips.iter().any(|r: &std::ops::Range<u64>| r.contains(&at)) {
                        out.push(b);
                    }
                }
                offset += n as u64;
            }
            assert_eq!(out, expected, "chunk {chunk}");
            assert_eq!(pings, vec![b"ctx-1".to_vec(), Vec::new()], "chunk {chunk}");
            assert_eq!(skips[0], ping_at..ping_end);
            assert_eq!(inspector.messages(), 1);
            assert!(inspector.at_frame_boundary());
        }
    }

    #[test]
    fn without_swallowing_commands_pass_and_pings_are_not_reported() {
        let mut s = greeting();
        s.extend(ready("DEALER"));
        s.extend(ping(1, b"x"));
        let mut inspector = ZmtpInspector::new(MAX);
        assert_eq!(inspector.feed(&s), Verdict::Forward(s.len()));
        assert!(inspector.take_pings().is_empty() && inspector.take_skips().is_empty());
    }

    #[test]
    fn pong_echoes_the_context_cut_to_16_bytes() {
        assert_eq!(pong_frame(b"abc"), b"\x04\x08\x04PONGabc".to_vec());
        assert_eq!(pong_frame(&[7; 40]).len(), 2 + 5 + MAX_PING_CONTEXT);
    }

    #[test]
    fn a_ping_flood_keeps_at_most_16_contexts() {
        let mut s = greeting();
        s.extend(ready("DEALER"));
        for _ in 0..100 {
            s.extend(ping(1, &[9; 40]));
        }
        let mut inspector = ZmtpInspector::new(MAX).swallowing_commands();
        assert!(matches!(inspector.feed(&s), Verdict::Forward(_)));
        let pings = inspector.take_pings();
        assert_eq!(pings.len(), 16);
        assert!(pings.iter().all(|p| p.len() == MAX_PING_CONTEXT));
    }
}
