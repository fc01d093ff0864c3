//! The IPv6 Fragment extension header (RFC 8200 §4.5): view and the header to build.

use super::WireError;

mod field {
    use std::ops::Range;
    pub(super) const NXT_HDR: usize = 0;
    pub(super) const RESERVED: usize = 1;
    pub(super) const OFF_M: Range<usize> = 2..4;
    pub(super) const IDENT: Range<usize> = 4..8;
}

/// The length of the Fragment Header.
pub const HEADER_LEN: usize = field::IDENT.end;
/// The fragment offset (already in bytes: the 13-bit field × 8) in the offset word.
pub const OFFSET_MASK: u16 = 0xfff8;
/// The M (more fragments) flag in the offset word.
pub const M: u16 = 1;

/// A view of an IPv6 Fragment Header (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    /// A view without a length check (see the [module contract](super)).
    #[inline(always)]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// A view of at least the 8-byte header; after it no accessor panics.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Self { buffer })
    }

    /// The buffer.
    #[inline(always)]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Next Header of the fragmented packet.
    #[inline(always)]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// The offset word: the offset in bytes ([`OFFSET_MASK`]) and the [`M`] flag.
    #[inline(always)]
    pub fn offset_word(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::OFF_M.start], b[field::OFF_M.start + 1]])
    }

    /// The fragment offset in bytes.
    #[inline(always)]
    pub fn frag_offset(&self) -> usize {
        usize::from(self.offset_word() & OFFSET_MASK)
    }

    /// The M flag: more fragments follow.
    #[inline(always)]
    pub fn more_frags(&self) -> bool {
        self.offset_word() & M != 0
    }

    /// The Identification.
    #[inline(always)]
    pub fn ident(&self) -> u32 {
        let b = self.buffer.as_ref();
        let r = field::IDENT;
        u32::from_be_bytes([b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragmentHeader<T> {
    /// Sets the Next Header.
    #[inline(always)]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v;
    }

    /// Sets the offset word (offset in bytes, a multiple of 8, and the M flag).
    #[inline(always)]
    pub fn set_offset_word(&mut self, v: u16) {
        self.buffer.as_mut()[field::OFF_M].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the Identification.
    #[inline(always)]
    pub fn set_ident(&mut self, v: u32) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&v.to_be_bytes());
    }
}

/// A Fragment Header to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentRepr {
    /// Next Header of the fragmented packet.
    pub next_header: u8,
    /// Fragment offset in bytes (a multiple of 8).
    pub offset: u16,
    /// More fragments follow.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

impl FragmentRepr {
    /// Writes the header (reserved octet zero) into `h`.
    #[inline]
    pub fn emit(&self, h: &mut [u8; HEADER_LEN]) {
        h[field::NXT_HDR] = self.next_header;
        h[field::RESERVED] = 0;
        h[field::OFF_M].copy_from_slice(&((self.offset & OFFSET_MASK) | u16::from(self.more_frags)).to_be_bytes());
        h[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
    }

    /// Writes the header into the first 8 bytes of `buf`, when it has them.
    #[inline]
    pub fn emit_into(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let h = buf.first_chunk_mut().ok_or(WireError::Truncated)?;
        self.emit(h);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::proto;

    #[test]
    fn view_and_emit() {
        // UDP, offset 1448 bytes, M set, identification 0xdeadbeef.
        let v = [17, 0, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef];
        let f = FragmentHeader::new_checked(&v[..]).unwrap();
        assert_eq!(
            (f.next_header(), f.frag_offset(), f.more_frags(), f.ident()),
            (proto::UDP, 1448, true, 0xdead_beef)
        );
        let mut h = [0xff; 8];
        FragmentRepr { next_header: proto::UDP, offset: 1448, more_frags: true, ident: 0xdead_beef }.emit(&mut h);
        assert_eq!(h, v);
        assert_eq!(FragmentHeader::new_checked(&v[..7]), Err(WireError::Truncated));
        let mut w = FragmentHeader::new_checked(h).unwrap();
        w.set_offset_word(8);
        assert!(!w.more_frags());
        assert_eq!(w.into_inner()[2..4], [0, 8]);
    }
}
