//! ICMPv6 (RFC 4443): the message view, the type numbers and, in [`code`], the codes.

use std::net::Ipv6Addr;

use super::WireError;

/// Destination Unreachable (RFC 4443 §3.1).
pub const DEST_UNREACHABLE: u8 = 1;
/// Packet Too Big (RFC 4443 §3.2).
pub const PACKET_TOO_BIG: u8 = 2;
/// Time Exceeded (RFC 4443 §3.3).
pub const TIME_EXCEEDED: u8 = 3;
/// Parameter Problem (RFC 4443 §3.4).
pub const PARAM_PROBLEM: u8 = 4;
/// Echo Request (RFC 4443 §4.1).
pub const ECHO_REQUEST: u8 = 128;
/// Echo Reply (RFC 4443 §4.2).
pub const ECHO_REPLY: u8 = 129;
/// Multicast Listener Query (RFC 2710).
pub const MLD_QUERY: u8 = 130;
/// Multicast Listener Done (RFC 2710), the last of the MLDv1 types.
pub const MLD_DONE: u8 = 132;
/// Router Solicitation (RFC 4861), the first of the Neighbor Discovery types.
pub const ROUTER_SOLICITATION: u8 = 133;
/// Redirect (RFC 4861), the last of the Neighbor Discovery types.
pub const REDIRECT: u8 = 137;
/// Version 2 Multicast Listener Report (RFC 3810).
pub const MLDV2_REPORT: u8 = 143;

/// ICMPv6 codes, named after their type.
pub mod code {
    /// Destination Unreachable: no route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Destination Unreachable: communication administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Destination Unreachable: beyond scope of source address.
    pub const BEYOND_SCOPE: u8 = 2;
    /// Destination Unreachable: address unreachable.
    pub const ADDRESS_UNREACHABLE: u8 = 3;
    /// Destination Unreachable: port unreachable.
    pub const PORT_UNREACHABLE: u8 = 4;
    /// Packet Too Big: its only code ("set to 0 by the originator", RFC 4443 §3.2).
    pub const PACKET_TOO_BIG: u8 = 0;
    /// Time Exceeded: hop limit exceeded in transit.
    pub const HOP_LIMIT_EXCEEDED: u8 = 0;
    /// Time Exceeded: fragment reassembly time exceeded.
    pub const REASSEMBLY_TIME_EXCEEDED: u8 = 1;
    /// Parameter Problem: erroneous header field encountered.
    pub const ERRONEOUS_HEADER_FIELD: u8 = 0;
    /// Parameter Problem: unrecognized Next Header type encountered.
    pub const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
    /// Parameter Problem: unrecognized IPv6 option encountered.
    pub const UNRECOGNIZED_OPTION: u8 = 2;
}

/// Whether an ICMPv6 type is an error message (types 0-127, RFC 4443 §2.1).
#[inline]
pub const fn is_error(typ: u8) -> bool {
    typ < 128
}

/// Whether an ICMPv6 type carries an RFC 4884 §4.2 length attribute: Destination
/// Unreachable and Time Exceeded.
#[inline]
pub const fn has_length_attr(typ: u8) -> bool {
    matches!(typ, DEST_UNREACHABLE | TIME_EXCEEDED)
}

mod field {
    use std::ops::Range;
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: Range<usize> = 2..4;
    pub(super) const REST: Range<usize> = 4..8;
    /// RFC 4884 §4.2: the length attribute, in 64-bit words.
    pub(super) const LENGTH_ATTR: usize = 4;
    pub(super) const PAYLOAD: usize = 8;
}

/// The length of the ICMPv6 header: type, code, checksum and the four bytes after it.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// The offset of the checksum field.
pub const CHECKSUM_AT: usize = field::CHECKSUM.start;
/// The offset of an echo request's or reply's Identifier (RFC 4443 §4.1), the word a stateful
/// translator treats as the query's port (RFC 6146 §3.5.3).
pub const ECHO_IDENT_AT: usize = field::REST.start;

/// A view of an ICMPv6 message (RFC 4443).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
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

    /// The message type.
    #[inline(always)]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// The code.
    #[inline(always)]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::CHECKSUM.start], b[field::CHECKSUM.start + 1]])
    }

    /// The first 16 bits (type and code) as one word, as checksums see them.
    #[inline(always)]
    pub fn type_code_word(&self) -> u16 {
        u16::from_be_bytes([self.msg_type(), self.msg_code()])
    }

    /// An echo request's or reply's Identifier (RFC 4443 §4.1): the first half of the four bytes
    /// after the checksum.
    #[inline(always)]
    pub fn echo_ident(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[ECHO_IDENT_AT], b[ECHO_IDENT_AT + 1]])
    }

    /// The four bytes after the checksum (identifier and sequence, pointer, MTU, unused).
    #[inline(always)]
    pub fn rest(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        [b[field::REST.start], b[field::REST.start + 1], b[field::REST.start + 2], b[field::REST.start + 3]]
    }

    /// The four bytes after the checksum as one word: the Packet Too Big MTU or the
    /// Parameter Problem pointer (RFC 4443 §3.2, §3.4).
    #[inline(always)]
    pub fn rest_word(&self) -> u32 {
        u32::from_be_bytes(self.rest())
    }

    /// The RFC 4884 §4.2 length attribute of the original datagram field, in 64-bit words
    /// (meaningful for the types of [`has_length_attr`]).
    #[inline(always)]
    pub fn length_attr(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH_ATTR]
    }

    /// Everything after the 8-byte header (empty if the buffer is shorter).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(field::PAYLOAD..).unwrap_or(&[])
    }

    /// Whether the checksum over the message and the RFC 8200 §8.1 pseudo-header of
    /// `src` and `dst` verifies.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        use crate::checksum::{add, finish, pseudo_v6, sum};
        let b = self.buffer.as_ref();
        finish(add(pseudo_v6(src, dst, super::proto::ICMPV6, b.len() as u32), sum(b))) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Sets the message type.
    #[inline(always)]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Sets the code.
    #[inline(always)]
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Sets the checksum field.
    #[inline(always)]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the four bytes after the checksum.
    #[inline(always)]
    pub fn set_rest(&mut self, v: [u8; 4]) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&v);
    }

    /// Computes and sets the checksum over the whole buffer with the RFC 8200 §8.1
    /// pseudo-header of `src` and `dst`.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        use crate::checksum::{add, finish, pseudo_v6, sum};
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let c = finish(add(pseudo_v6(src, dst, super::proto::ICMPV6, b.len() as u32), sum(b)));
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_identifier() {
        // Echo Request, identifier 0x1234, sequence 7 (RFC 4443 §4.1).
        let m = [ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 7];
        let v = Icmpv6Packet::new_checked(&m[..]).unwrap();
        assert_eq!((v.msg_type(), v.echo_ident()), (ECHO_REQUEST, 0x1234));
        assert_eq!((ECHO_IDENT_AT, CHECKSUM_AT), (4, 2));
    }

    #[test]
    fn view_of_a_packet_too_big() {
        let (s, d): (Ipv6Addr, Ipv6Addr) = ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap());
        let mut m = [2, 0, 0, 0, 0, 0, 0x05, 0x00, 0x60, 0];
        let mut p = Icmpv6Packet::new_checked(&mut m[..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code(), p.rest_word()), (PACKET_TOO_BIG, 0, 1280));
        p.fill_checksum(s, d);
        assert!(p.verify_checksum(s, d));
        assert!(!p.verify_checksum(d, d));
        assert_eq!(Icmpv6Packet::new_checked(&m[..3]), Err(WireError::Truncated));
        assert!(is_error(PARAM_PROBLEM) && !is_error(ECHO_REQUEST));
        assert!(has_length_attr(TIME_EXCEEDED) && !has_length_attr(PACKET_TOO_BIG));
    }
}
