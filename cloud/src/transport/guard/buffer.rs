//! A read buffer that starts small and grows on demand.
//!
//! An idle connection should cost little: at 10,000 live devices, two
//! 32 KiB buffers per connection are 640 MiB. [`GrowBuf`] starts at
//! [`GrowBuf::MIN`] bytes, doubles (up to its maximum) whenever a read
//! fills it, and shrinks back when a read uses at most a quarter of it, so
//! a bulk transfer gets big reads and a quiet connection goes back to a
//! small buffer. Sans-IO: the caller reads into [`GrowBuf::space`] and
//! reports how much of the buffer is in use with [`GrowBuf::filled`].

use std::ops::{Deref, DerefMut};

/// A byte buffer whose length adapts to the reads it sees.
#[derive(Debug)]
pub(super) struct GrowBuf {
    buf: Vec<u8>,
    max: usize,
}

impl GrowBuf {
    /// The starting (and smallest) length.
    pub(super) const MIN: usize = 1024;

    /// A buffer of [`GrowBuf::MIN`] bytes that grows up to `max` (at least
    /// `MIN`).
    pub(super) fn new(max: usize) -> Self {
        let buf = vec![0; Self::MIN];
        Self {
            buf,
            max: max.max(Self::MIN),
        }
    }

    /// The free part after the first `keep` bytes (which are kept), grown
    /// first if there is no room at all (even beyond the maximum: `keep`
    /// bytes must stay).
    pub(super) fn space(&mut self, keep: usize) -> &mut [u8] {
        if keep >= self.buf.len() {
            let len = (self.buf.len() * 2).max(keep + Self::MIN);
            self.resize(len);
        }
        &mut self.buf[keep..]
    }

    /// After a read: `used` bytes at the front are in use (kept bytes plus
    /// the fresh ones). A full buffer doubles for the next read; one used
    /// at most a quarter shrinks, never below `used`.
    pub(super) fn filled(&mut self, used: usize) {
        let len = self.buf.len();
        if used >= len && len < self.max {
            self.resize((len * 2).min(self.max));
        } else if used <= len / 4 && len > Self::MIN {
            self.resize((len / 2).max(used).max(Self::MIN));
        }
    }

    /// The buffer's current length (its memory).
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn resize(&mut self, len: usize) {
        self.buf.resize(len, 0);
        self.buf.shrink_to_fit();
    }
}

impl Deref for GrowBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl DerefMut for GrowBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::GrowBuf;

    const MAX: usize = 32 * 1024;

    #[test]
    fn starts_small() {
        let buf = GrowBuf::new(MAX);
        assert_eq!(buf.len(), GrowBuf::MIN);
        assert!(buf.capacity() <= GrowBuf::MIN);
    }

    #[test]
    fn full_reads_grow_up_to_the_maximum() {
        let mut buf = GrowBuf::new(MAX);
        for _ in 0..20 {
            let n = buf.space(0).len();
            buf.filled(n);
        }
        assert_eq!(buf.len(), MAX);
        assert!(buf.capacity() <= MAX);
    }

    #[test]
    fn small_reads_shrink_back_to_the_minimum() {
        let mut buf = GrowBuf::new(MAX);
        for _ in 0..20 {
            let n = buf.space(0).len();
            buf.filled(n);
        }
        for _ in 0..20 {
            buf.filled(10);
        }
        assert_eq!(buf.len(), GrowBuf::MIN);
        assert!(buf.capacity() <= GrowBuf::MIN);
    }

    #[test]
    fn kept_bytes_survive_growth_and_shrinking() {
        let mut buf = GrowBuf::new(MAX);
        // More kept bytes than the buffer holds (a partial READY command):
        // it grows past them, even above its maximum.
        let keep = 3000;
        let mut big = GrowBuf::new(2048);
        assert!(!big.space(keep).is_empty());
        big[..4].copy_from_slice(b"abcd");
        big.filled(keep + 1);
        assert_eq!(&big[..4], b"abcd");
        assert!(big.len() > keep);
        // A shrink keeps the bytes in use.
        for _ in 0..6 {
            let n = buf.space(0).len();
            buf.filled(n);
        }
        buf[..3].copy_from_slice(b"xyz");
        buf.filled(3);
        assert_eq!(&buf[..3], b"xyz");
        assert!(buf.len() < MAX);
    }
}
