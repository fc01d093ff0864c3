//! UDP (RFC 768): the header view.

use super::WireError;

mod field {
    use std::ops::Range;
    pub(super) const SRC_PORT: Range<usize> = 0..2;
    pub(super) const DST_PORT: Range<usize> = 2..4;
    pub(super) const LENGTH: Range<usize> = 4..6;
    pub(super) const CHECKSUM: Range<usize> = 6..8;
}

/// The length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;
/// The offset of the checksum field.
pub const CHECKSUM_AT: usize = field::CHECKSUM.start;
/// The offset of the source port.
pub const SRC_PORT_AT: usize = field::SRC_PORT.start;
/// The offset of the destination port.
pub const DST_PORT_AT: usize = field::DST_PORT.start;

/// A view of a UDP header and its payload (RFC 768).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

#[inline(always)]
fn get16(b: &[u8], r: std::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// A view without a length check (see the [module contract](super)).
    #[inline(always)]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// A view of at least the 8-byte header; after it no accessor panics. The Length
    /// field is not checked against the buffer: a translator carries it unchanged, and a
    /// quoted packet in an ICMP error is often cut short.
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

    /// The source port.
    #[inline(always)]
    pub fn src_port(&self) -> u16 {
        get16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// The destination port.
    #[inline(always)]
    pub fn dst_port(&self) -> u16 {
        get16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The Length field.
    #[inline(always)]
    pub fn len(&self) -> u16 {
        get16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the Length field is zero.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The checksum field (zero: none, RFC 768; see [`crate::checksum::udp_has_checksum`]).
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), field::CHECKSUM)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    #[inline(always)]
    pub fn set_src_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the destination port.
    #[inline(always)]
    pub fn set_dst_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the Length field.
    #[inline(always)]
    pub fn set_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the checksum field.
    #[inline(always)]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view() {
        let mut h = [0x04, 0x00, 0x00, 0x35, 0x00, 0x0a, 0x12, 0x34, 0xaa, 0xbb];
        let mut u = UdpPacket::new_checked(&mut h[..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len(), u.checksum()), (1024, 53, 10, 0x1234));
        u.set_checksum(0xffff);
        u.set_src_port(7);
        assert_eq!(h[..2], [0, 7]);
        assert_eq!(h[6..8], [0xff, 0xff]);
        assert_eq!(UdpPacket::new_checked(&h[..7]), Err(WireError::Truncated));
    }
}
