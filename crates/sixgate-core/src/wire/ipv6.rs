//! IPv6 (RFC 8200): the header view and the header the engines build.

use std::net::Ipv6Addr;

use super::WireError;

mod field {
    use std::ops::Range;
    pub(super) const VER_TC_FLOW: Range<usize> = 0..4;
    pub(super) const LENGTH: Range<usize> = 4..6;
    pub(super) const NXT_HDR: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC_ADDR: Range<usize> = 8..24;
    pub(super) const DST_ADDR: Range<usize> = 24..40;
}

/// The length of the IPv6 header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// The layout shared by the extension headers (RFC 8200 §4.3-4.6, RFC 6564), for
/// walking a header chain.
pub mod ext {
    use crate::wire::proto;

    /// Offset of the Next Header octet.
    pub const NEXT_HEADER: usize = 0;
    /// Offset of the Hdr Ext Len octet.
    pub const LENGTH: usize = 1;
    /// Offset of Segments Left in a Routing header (RFC 8200 §4.4).
    pub const SEGMENTS_LEFT: usize = 3;
    /// The shortest extension header.
    pub const MIN_LEN: usize = 8;

    /// The length in bytes of an extension header of type `nh` whose Hdr Ext Len octet
    /// is `len`: 8-octet units not counting the first 8 (RFC 8200 §4.3-4.6, RFC 6564),
    /// for AH 4-octet units not counting the first 2 (RFC 4302 §2.2), and always 8 for
    /// the Fragment Header (RFC 8200 §4.5, whose second octet is reserved).
    #[inline]
    pub const fn header_len(nh: u8, len: u8) -> usize {
        match nh {
            proto::FRAGMENT => MIN_LEN,
            proto::AH => (len as usize + 2) * 4,
            _ => (len as usize + 1) * 8,
        }
    }
}

/// Option types of the Hop-by-Hop and Destination Options headers (RFC 8200 §4.2).
pub mod option {
    /// Pad1: one octet, no length octet.
    pub const PAD1: u8 = 0;
    /// Jumbo Payload (RFC 2675 §2).
    pub const JUMBO_PAYLOAD: u8 = 0xc2;
}

/// A view of an IPv6 packet (RFC 8200 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

#[inline(always)]
fn get_addr(b: &[u8], r: std::ops::Range<usize>) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[r]);
    Ipv6Addr::from(a)
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// A view without a length check (see the [module contract](super)).
    #[inline(always)]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// A view of a buffer that holds the 40-byte header and the Payload Length after it
    /// (bytes past it are link padding). A zero Payload Length passes: it is an empty
    /// payload, or a jumbogram (RFC 2675), which the caller tells apart. After it no
    /// accessor panics.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`Ipv6Packet::new_checked`].
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    /// The buffer.
    #[inline(always)]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline(always)]
    fn word0(&self) -> u32 {
        let b = self.buffer.as_ref();
        let r = field::VER_TC_FLOW;
        u32::from_be_bytes([b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]])
    }

    /// The version field.
    #[inline(always)]
    pub fn version(&self) -> u8 {
        (self.word0() >> 28) as u8
    }

    /// The Traffic Class.
    #[inline(always)]
    pub fn traffic_class(&self) -> u8 {
        (self.word0() >> 20) as u8
    }

    /// The Flow Label.
    #[inline(always)]
    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }

    /// The Payload Length.
    #[inline(always)]
    pub fn payload_len(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::LENGTH.start], b[field::LENGTH.start + 1]])
    }

    /// The Next Header ([`super::proto`]).
    #[inline(always)]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// The Hop Limit.
    #[inline(always)]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// The source address.
    #[inline(always)]
    pub fn src_addr(&self) -> Ipv6Addr {
        get_addr(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// The destination address.
    #[inline(always)]
    pub fn dst_addr(&self) -> Ipv6Addr {
        get_addr(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The payload (extension headers included): 40 to 40 + Payload Length, clamped to
    /// the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        // Read without indexing: this accessor is safe on any buffer.
        let end = (HEADER_LEN + usize::from(super::be16(b, field::LENGTH.start))).min(b.len());
        b.get(HEADER_LEN..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets the Traffic Class (the flow label and version are kept).
    #[inline(always)]
    pub fn set_traffic_class(&mut self, v: u8) {
        let b = self.buffer.as_mut();
        let at = field::VER_TC_FLOW.start;
        b[at] = (b[at] & 0xf0) | (v >> 4);
        b[at + 1] = (b[at + 1] & 0x0f) | (v << 4);
    }

    /// Sets the Payload Length.
    #[inline(always)]
    pub fn set_payload_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the Next Header.
    #[inline(always)]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v;
    }

    /// Sets the Hop Limit.
    #[inline(always)]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// Sets the source address.
    #[inline(always)]
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Sets the destination address.
    #[inline(always)]
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }
}

/// An IPv6 header to build; the flow label is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Traffic Class.
    pub traffic_class: u8,
    /// Payload Length.
    pub payload_len: u16,
    /// Next Header ([`super::proto`]).
    pub next_header: u8,
    /// Hop Limit.
    pub hop_limit: u8,
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
}

impl Ipv6Repr {
    /// Writes the header into `h`.
    #[inline]
    pub fn emit(&self, h: &mut [u8; HEADER_LEN]) {
        let w = (6u32 << 28) | (u32::from(self.traffic_class) << 20);
        h[field::VER_TC_FLOW].copy_from_slice(&w.to_be_bytes());
        h[field::LENGTH].copy_from_slice(&self.payload_len.to_be_bytes());
        h[field::NXT_HDR] = self.next_header;
        h[field::HOP_LIMIT] = self.hop_limit;
        h[field::SRC_ADDR].copy_from_slice(&self.src_addr.octets());
        h[field::DST_ADDR].copy_from_slice(&self.dst_addr.octets());
    }

    /// Writes the header into the first 40 bytes of `buf`, when it has them.
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

    fn pkt() -> Vec<u8> {
        let mut p = vec![0x6b, 0x81, 0x23, 0x45, 0x00, 0x02, 0x11, 0x40];
        p.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&[0xaa, 0xbb, 0xcc]);
        p
    }

    #[test]
    fn parse() {
        let b = pkt();
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0xb8, 0x12345));
        assert_eq!((p.payload_len(), p.next_header(), p.hop_limit()), (2, proto::UDP, 64));
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
        assert_eq!(Ipv6Packet::new_checked(&b[..39]), Err(WireError::Truncated));
        assert_eq!(Ipv6Packet::new_checked(&b[..41]), Err(WireError::BadLength));
    }

    #[test]
    fn emit_round_trip() {
        let b = pkt();
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        let r = Ipv6Repr {
            traffic_class: p.traffic_class(),
            payload_len: p.payload_len(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
        };
        let mut h = [0u8; 40];
        r.emit(&mut h);
        // The same header with the flow label zeroed.
        let mut want = b[..40].to_vec();
        want[1] &= 0xf0;
        want[2] = 0;
        want[3] = 0;
        assert_eq!(h[..], want[..]);
        assert_eq!(r.emit_into(&mut [0; 39]), Err(WireError::Truncated));
        let mut v = Ipv6Packet::new_unchecked(&mut h[..]);
        v.set_hop_limit(1);
        v.set_traffic_class(0xa5);
        assert_eq!((v.version(), v.traffic_class(), v.flow_label()), (6, 0xa5, 0));
        v.set_next_header(proto::FRAGMENT);
        assert_eq!((h[6], h[7]), (44, 1));
    }

    #[test]
    fn extension_header_lengths() {
        assert_eq!(ext::header_len(proto::HOP_BY_HOP, 0), 8);
        assert_eq!(ext::header_len(proto::ROUTING, 2), 24);
        assert_eq!(ext::header_len(proto::FRAGMENT, 0xff), 8);
        assert_eq!(ext::header_len(proto::AH, 4), 24);
    }

    proptest::proptest! {
        /// After `new_checked`, no accessor panics, whatever the bytes.
        #[test]
        fn accessors_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            if let Ok(p) = Ipv6Packet::new_checked(&b[..]) {
                let _ = (p.version(), p.traffic_class(), p.flow_label(), p.next_header(), p.hop_limit());
                let _ = (p.src_addr(), p.dst_addr());
                proptest::prop_assert_eq!(p.payload().len(), usize::from(p.payload_len()));
            }
            let _ = Ipv6Packet::new_unchecked(&b[..]).payload();
        }
    }
}
