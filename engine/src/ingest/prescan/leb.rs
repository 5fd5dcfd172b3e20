//! LEB128: a bounds-checked cursor over untrusted bytes with readers as
//! strict as automerge's (no overlong encodings, nothing beyond 64 bits),
//! and the writers used to build chunks.

use super::error::{PrescanError, Result};

/// Append `v` as unsigned LEB128.
pub(crate) fn write_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Append `v` as signed LEB128.
pub(crate) fn write_sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A cursor over untrusted bytes; every read is bounds checked.
#[derive(Clone)]
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Offset of the next byte to read.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(super) fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        rest
    }

    pub(super) fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(PrescanError::Truncated { what });
        }
        let end = self.pos + n as usize;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or(PrescanError::Truncated { what })?;
        self.pos = end;
        Ok(out)
    }

    pub(super) fn byte(&mut self, what: &'static str) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(PrescanError::Truncated { what })?;
        self.pos += 1;
        Ok(b)
    }

    /// Unsigned LEB128, as strict as automerge's `parse::leb128_u64`:
    /// overlong encodings and values beyond 64 bits are errors.
    pub(super) fn uleb(&mut self, what: &'static str) -> Result<u64> {
        let mut res = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = self.byte(what)?;
            let low = u64::from(byte & 0x7f);
            if shift == 63 && (low > 1 || byte & 0x80 != 0) {
                return Err(PrescanError::BadLeb { what });
            }
            res |= low << shift;
            if byte & 0x80 == 0 {
                if shift > 0 && byte == 0 {
                    return Err(PrescanError::BadLeb { what });
                }
                return Ok(res);
            }
            shift += 7;
        }
    }

    /// Signed LEB128, as strict as automerge's `parse::leb128_i64`.
    pub(super) fn sleb(&mut self, what: &'static str) -> Result<i64> {
        let mut res = 0i64;
        let mut shift = 0u32;
        let mut prev = 0u8;
        loop {
            let byte = self.byte(what)?;
            if shift == 63 && byte != 0 && byte != 0x7f {
                return Err(PrescanError::BadLeb { what });
            }
            res |= i64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                let overlong = shift > 0
                    && ((byte == 0 && prev & 0x40 == 0) || (byte == 0x7f && prev & 0x40 != 0));
                if overlong {
                    return Err(PrescanError::BadLeb { what });
                }
                if shift + 7 < 64 && byte & 0x40 != 0 {
                    res |= -1i64 << (shift + 7);
                }
                return Ok(res);
            }
            prev = byte;
            shift += 7;
        }
    }
}
