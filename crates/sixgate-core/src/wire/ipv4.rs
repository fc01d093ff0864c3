//! IPv4 (RFC 791): the header view and the header the engines build.

use std::net::Ipv4Addr;

use super::WireError;
use crate::checksum;

mod field {
    use std::ops::Range;
    pub(super) const VER_IHL: usize = 0;
    pub(super) const TOS: usize = 1;
    pub(super) const LENGTH: Range<usize> = 2..4;
    pub(super) const IDENT: Range<usize> = 4..6;
    pub(super) const FLG_OFF: Range<usize> = 6..8;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: Range<usize> = 10..12;
    pub(super) const SRC_ADDR: Range<usize> = 12..16;
    pub(super) const DST_ADDR: Range<usize> = 16..20;
}

/// The length of the IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;
/// The Don't Fragment flag in the flags-and-offset word.
pub const DF: u16 = 0x4000;
/// The More Fragments flag in the flags-and-offset word.
pub const MF: u16 = 0x2000;
/// The fragment offset (in 8-byte units) in the flags-and-offset word.
pub const OFFSET_MASK: u16 = 0x1fff;

/// IPv4 option types (RFC 791 §3.1, the IANA "IP Option Numbers" registry).
pub mod option {
    /// End of Option List (no length octet).
    pub const END: u8 = 0;
    /// No Operation (no length octet).
    pub const NOP: u8 = 1;
    /// Loose Source and Record Route.
    pub const LSRR: u8 = 131;
    /// Strict Source and Record Route.
    pub const SSRR: u8 = 137;
}

/// A view of an IPv4 packet (RFC 791 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

#[inline(always)]
fn get16(b: &[u8], r: std::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}

#[inline(always)]
fn get_addr(b: &[u8], r: std::ops::Range<usize>) -> Ipv4Addr {
    Ipv4Addr::new(b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3])
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// A view without a length check (see the [module contract](super)).
    #[inline(always)]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// A view of a buffer that holds the whole header (IHL ≥ 5, within the buffer) and
    /// whose Total Length covers the header and ends within the buffer (bytes past it are
    /// link padding; see [`Ipv4Packet::total_len`]). After it no accessor panics.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`Ipv4Packet::new_checked`].
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        let total = usize::from(self.total_len());
        // A header past the buffer fails this too (`total >= hl > len`): it is told apart
        // only on the way out, so that a good packet pays for two comparisons, not three.
        if total < hl || total > len {
            return Err(if hl > len { WireError::BadHeaderLen } else { WireError::BadLength });
        }
        Ok(())
    }

    /// The buffer.
    #[inline(always)]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field.
    #[inline(always)]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL × 4).
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The Type of Service octet (DSCP and ECN).
    #[inline(always)]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// The Total Length field.
    #[inline(always)]
    pub fn total_len(&self) -> u16 {
        get16(self.buffer.as_ref(), field::LENGTH)
    }

    /// The Identification field.
    #[inline(always)]
    pub fn ident(&self) -> u16 {
        get16(self.buffer.as_ref(), field::IDENT)
    }

    /// The flags and fragment offset as one word ([`DF`], [`MF`], [`OFFSET_MASK`]).
    #[inline(always)]
    pub fn frag_field(&self) -> u16 {
        get16(self.buffer.as_ref(), field::FLG_OFF)
    }

    /// The Don't Fragment flag.
    #[inline(always)]
    pub fn dont_frag(&self) -> bool {
        self.frag_field() & DF != 0
    }

    /// The More Fragments flag.
    #[inline(always)]
    pub fn more_frags(&self) -> bool {
        self.frag_field() & MF != 0
    }

    /// The fragment offset in bytes.
    #[inline(always)]
    pub fn frag_offset(&self) -> usize {
        usize::from(self.frag_field() & OFFSET_MASK) * 8
    }

    /// The Time to Live.
    #[inline(always)]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The Protocol field ([`super::proto`]).
    #[inline(always)]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// The header checksum field.
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The source address.
    #[inline(always)]
    pub fn src_addr(&self) -> Ipv4Addr {
        get_addr(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// The destination address.
    #[inline(always)]
    pub fn dst_addr(&self) -> Ipv4Addr {
        get_addr(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The header (options included), clamped to the buffer.
    #[inline]
    pub fn header(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        // Read without indexing: this accessor is safe on any buffer.
        let hl = b.get(field::VER_IHL).map_or(0, |v| usize::from(v & 0x0f) * 4);
        &b[..hl.min(b.len())]
    }

    /// The options between the fixed header and the payload (clamped to the buffer).
    #[inline]
    pub fn options(&self) -> &[u8] {
        self.header().get(HEADER_LEN..).unwrap_or(&[])
    }

    /// Whether the header checksum verifies (RFC 1071 over the whole header).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.header()) == 0
    }

    /// The payload: from the end of the header to Total Length (clamped to the buffer).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(super::be16(b, field::LENGTH.start)).min(b.len());
        b.get(self.header().len()..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the Type of Service octet.
    #[inline(always)]
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }

    /// Sets the Total Length field.
    #[inline(always)]
    pub fn set_total_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the Identification field.
    #[inline(always)]
    pub fn set_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the flags and fragment offset word.
    #[inline(always)]
    pub fn set_frag_field(&mut self, v: u16) {
        self.buffer.as_mut()[field::FLG_OFF].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the Time to Live.
    #[inline(always)]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Sets the Protocol field.
    #[inline(always)]
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }

    /// Sets the header checksum field.
    #[inline(always)]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the source address.
    #[inline(always)]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Sets the destination address.
    #[inline(always)]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Computes and sets the header checksum (RFC 791 §3.1, over the header length).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::finish(checksum::sum(self.header()));
        self.set_checksum(c);
    }

    /// The payload, mutable (see [`Ipv4Packet::payload`]).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, total) = (self.header().len(), usize::from(super::be16(self.buffer.as_ref(), field::LENGTH.start)));
        let b = self.buffer.as_mut();
        let end = total.min(b.len());
        b.get_mut(hl..end).unwrap_or(&mut [])
    }
}

/// A 20-byte IPv4 header (no options) to build: version 4 and IHL 5 are implied, the
/// checksum is computed by [`Ipv4Repr::emit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Type of Service (DSCP and ECN).
    pub tos: u8,
    /// Total Length.
    pub total_len: u16,
    /// Identification.
    pub ident: u16,
    /// Flags and fragment offset ([`DF`], [`MF`], offset in 8-byte units).
    pub frag_field: u16,
    /// Time to Live.
    pub ttl: u8,
    /// Protocol ([`super::proto`]).
    pub protocol: u8,
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
}

impl Ipv4Repr {
    /// Writes the header, checksum included, into `h`.
    #[inline]
    pub fn emit(&self, h: &mut [u8; HEADER_LEN]) {
        h[field::VER_IHL] = 0x45;
        h[field::TOS] = self.tos;
        h[field::LENGTH].copy_from_slice(&self.total_len.to_be_bytes());
        h[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        h[field::FLG_OFF].copy_from_slice(&self.frag_field.to_be_bytes());
        h[field::TTL] = self.ttl;
        h[field::PROTOCOL] = self.protocol;
        h[field::CHECKSUM].copy_from_slice(&[0, 0]);
        h[field::SRC_ADDR].copy_from_slice(&self.src_addr.octets());
        h[field::DST_ADDR].copy_from_slice(&self.dst_addr.octets());
        let c = checksum::finish(checksum::sum20(h));
        h[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Writes the header into the first 20 bytes of `buf`, when it has them.
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

    /// A UDP packet, 192.0.2.1 → 198.51.100.2, TTL 64, ID 0x1c46, DF, with a header
    /// checksum computed by hand (RFC 1071).
    const PKT: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x32, 0x54, 0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33,
        0x64, 0x02, 0x04, 0x00, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00,
    ];

    #[test]
    fn parse() {
        let p = Ipv4Packet::new_checked(&PKT[..]).unwrap();
        assert_eq!((p.version(), p.header_len(), p.total_len(), p.ident()), (4, 20, 28, 0x1c46));
        assert!(p.dont_frag() && !p.more_frags() && p.frag_offset() == 0);
        assert_eq!((p.ttl(), p.protocol()), (64, proto::UDP));
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 51, 100, 2));
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &PKT[20..]);
        assert!(p.options().is_empty());
    }

    #[test]
    fn emit_matches_the_vector() {
        let r = Ipv4Repr {
            tos: 0,
            total_len: 28,
            ident: 0x1c46,
            frag_field: DF,
            ttl: 64,
            protocol: proto::UDP,
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(198, 51, 100, 2),
        };
        let mut h = [0xffu8; 20];
        r.emit(&mut h);
        assert_eq!(h, PKT[..20]);
        assert_eq!(r.emit_into(&mut [0; 19]), Err(WireError::Truncated));
    }

    #[test]
    fn checked_refuses_inconsistent_lengths() {
        assert_eq!(Ipv4Packet::new_checked(&PKT[..19]), Err(WireError::Truncated));
        let mut p = PKT;
        p[0] = 0x44;
        assert_eq!(Ipv4Packet::new_checked(&p[..]), Err(WireError::BadHeaderLen));
        p[0] = 0x48; // 32-byte header in a 28-byte buffer
        assert_eq!(Ipv4Packet::new_checked(&p[..]), Err(WireError::BadHeaderLen));
        p[3] = 32; // ... whatever the Total Length says
        assert_eq!(Ipv4Packet::new_checked(&p[..]), Err(WireError::BadHeaderLen));
        p[3] = 28;
        p[0] = 0x45;
        p[3] = 29;
        assert_eq!(Ipv4Packet::new_checked(&p[..]), Err(WireError::BadLength));
        p[3] = 19;
        assert_eq!(Ipv4Packet::new_checked(&p[..]), Err(WireError::BadLength));
    }

    #[test]
    fn setters_and_fill_checksum() {
        let mut b = PKT;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_ttl(63);
        p.set_src_addr(Ipv4Addr::new(203, 0, 113, 9));
        p.set_frag_field(MF | 3);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!((p.ttl(), p.frag_offset(), p.more_frags()), (63, 24, true));
        p.payload_mut()[0] = 9;
        assert_eq!(b[20], 9);
    }

    proptest::proptest! {
        /// After `new_checked`, no accessor panics, whatever the bytes.
        #[test]
        fn accessors_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            if let Ok(p) = Ipv4Packet::new_checked(&b[..]) {
                let _ = (p.version(), p.tos(), p.ident(), p.frag_offset(), p.ttl(), p.protocol(), p.checksum());
                let _ = (p.src_addr(), p.dst_addr(), p.options(), p.payload(), p.verify_checksum());
                proptest::prop_assert!(p.payload().len() + p.header_len() == usize::from(p.total_len()));
            }
            let p = Ipv4Packet::new_unchecked(&b[..]);
            let _ = (p.header(), p.options(), p.payload());
        }
    }
}
