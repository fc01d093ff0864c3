//! TCP (RFC 9293): the header view.

use super::WireError;

mod field {
    use std::ops::Range;
    pub(super) const SRC_PORT: Range<usize> = 0..2;
    pub(super) const DST_PORT: Range<usize> = 2..4;
    pub(super) const SEQ_NUM: Range<usize> = 4..8;
    pub(super) const ACK_NUM: Range<usize> = 8..12;
    pub(super) const DATA_OFF: usize = 12;
    pub(super) const FLAGS: usize = 13;
    pub(super) const WINDOW: Range<usize> = 14..16;
    pub(super) const CHECKSUM: Range<usize> = 16..18;
    pub(super) const URGENT: Range<usize> = 18..20;
}

/// The length of the TCP header without options.
pub const HEADER_LEN: usize = field::URGENT.end;
/// The offset of the checksum field.
pub const CHECKSUM_AT: usize = field::CHECKSUM.start;
/// The offset of the source port.
pub const SRC_PORT_AT: usize = field::SRC_PORT.start;
/// The offset of the destination port.
pub const DST_PORT_AT: usize = field::DST_PORT.start;

/// FIN flag.
pub const FIN: u8 = 0x01;
/// SYN flag.
pub const SYN: u8 = 0x02;
/// RST flag.
pub const RST: u8 = 0x04;
/// ACK flag.
pub const ACK: u8 = 0x10;
/// PSH flag.
pub const PSH: u8 = 0x08;
/// CWR flag (RFC 3168 §23.2).
pub const CWR: u8 = 0x80;

/// A view of a TCP header and its payload (RFC 9293 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

#[inline(always)]
fn get16(b: &[u8], r: std::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}

#[inline(always)]
fn get32(b: &[u8], r: std::ops::Range<usize>) -> u32 {
    u32::from_be_bytes([b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]])
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// A view without a length check (see the [module contract](super)).
    #[inline(always)]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// A view of at least the 20-byte header whose Data Offset is at least 5 words and
    /// within the buffer; after it no accessor panics.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let p = Self::new_unchecked(buffer);
        let hl = p.header_len();
        if hl < HEADER_LEN || hl > p.buffer.as_ref().len() {
            return Err(WireError::BadHeaderLen);
        }
        Ok(p)
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

    /// The sequence number.
    #[inline(always)]
    pub fn seq_number(&self) -> u32 {
        get32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    /// The acknowledgment number.
    #[inline(always)]
    pub fn ack_number(&self) -> u32 {
        get32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// The header length in bytes (Data Offset × 4).
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The flag octet (CWR, ECE, URG, ACK, PSH, RST, SYN, FIN).
    #[inline(always)]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The window.
    #[inline(always)]
    pub fn window(&self) -> u16 {
        get16(self.buffer.as_ref(), field::WINDOW)
    }

    /// The checksum field.
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), field::CHECKSUM)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the checksum field.
    #[inline(always)]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the sequence number.
    #[inline(always)]
    pub fn set_seq_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::SEQ_NUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the Data Offset to `len` bytes (a multiple of 4, 20 to 60), clearing the
    /// reserved bits.
    #[inline(always)]
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::DATA_OFF] = ((len / 4) as u8) << 4;
    }

    /// Sets the flag octet ([`FIN`], [`SYN`], [`RST`], [`ACK`], …).
    #[inline(always)]
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_write_their_fields() {
        let mut h = [0xffu8; 20];
        let mut t = TcpPacket::new_unchecked(&mut h[..]);
        t.set_seq_number(0x0102_0304);
        t.set_header_len(HEADER_LEN);
        t.set_flags(ACK | PSH);
        assert_eq!((t.seq_number(), t.header_len(), t.flags()), (0x0102_0304, 20, 0x18));
        assert_eq!(&h[4..8], &[1, 2, 3, 4]);
        assert_eq!((h[12], h[13]), (0x50, 0x18), "data offset 5, reserved bits cleared");
        assert_eq!((SRC_PORT_AT, DST_PORT_AT, CHECKSUM_AT, CWR), (0, 2, 16, 0x80));
    }

    #[test]
    fn view() {
        let mut h = [0u8; 24];
        h[..4].copy_from_slice(&[0x00, 0x50, 0x04, 0x00]);
        h[12] = 0x60;
        h[13] = SYN | ACK;
        h[16..18].copy_from_slice(&[0xbe, 0xef]);
        let mut t = TcpPacket::new_checked(&mut h[..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port(), t.header_len(), t.checksum()), (80, 1024, 24, 0xbeef));
        assert_eq!(t.flags() & (SYN | ACK | FIN | RST), SYN | ACK);
        t.set_checksum(1);
        assert_eq!(h[16..18], [0, 1]);
        assert_eq!(TcpPacket::new_checked(&h[..20]), Err(WireError::BadHeaderLen));
        assert_eq!(TcpPacket::new_checked(&h[..19]), Err(WireError::Truncated));
        h[12] = 0x40;
        assert_eq!(TcpPacket::new_checked(&h[..]), Err(WireError::BadHeaderLen));
    }
}
