//! ICMPv4 (RFC 792): the message view, the type numbers and, in [`code`], the codes.

use super::WireError;

/// Echo Reply (RFC 792).
pub const ECHO_REPLY: u8 = 0;
/// Destination Unreachable (RFC 792).
pub const DEST_UNREACHABLE: u8 = 3;
/// Source Quench (RFC 792, deprecated by RFC 6633).
pub const SOURCE_QUENCH: u8 = 4;
/// Redirect (RFC 792).
pub const REDIRECT: u8 = 5;
/// Alternate Host Address (deprecated, RFC 6918).
pub const ALTERNATE_HOST_ADDRESS: u8 = 6;
/// Echo Request (RFC 792).
pub const ECHO_REQUEST: u8 = 8;
/// Router Advertisement (RFC 1256).
pub const ROUTER_ADVERTISEMENT: u8 = 9;
/// Router Solicitation (RFC 1256).
pub const ROUTER_SOLICITATION: u8 = 10;
/// Time Exceeded (RFC 792).
pub const TIME_EXCEEDED: u8 = 11;
/// Parameter Problem (RFC 792).
pub const PARAM_PROBLEM: u8 = 12;
/// Timestamp (RFC 792).
pub const TIMESTAMP: u8 = 13;
/// Timestamp Reply (RFC 792).
pub const TIMESTAMP_REPLY: u8 = 14;

/// ICMPv4 codes, named after their type.
pub mod code {
    /// Destination Unreachable: net unreachable.
    pub const NET_UNREACHABLE: u8 = 0;
    /// Destination Unreachable: host unreachable.
    pub const HOST_UNREACHABLE: u8 = 1;
    /// Destination Unreachable: protocol unreachable.
    pub const PROTOCOL_UNREACHABLE: u8 = 2;
    /// Destination Unreachable: port unreachable.
    pub const PORT_UNREACHABLE: u8 = 3;
    /// Destination Unreachable: fragmentation needed and DF set (RFC 1191).
    pub const FRAGMENTATION_NEEDED: u8 = 4;
    /// Destination Unreachable: source route failed.
    pub const SOURCE_ROUTE_FAILED: u8 = 5;
    /// Destination Unreachable: destination network unknown (RFC 1122).
    pub const NET_UNKNOWN: u8 = 6;
    /// Destination Unreachable: destination host unknown (RFC 1122).
    pub const HOST_UNKNOWN: u8 = 7;
    /// Destination Unreachable: source host isolated (RFC 1122).
    pub const SOURCE_HOST_ISOLATED: u8 = 8;
    /// Destination Unreachable: network administratively prohibited (RFC 1122).
    pub const NET_PROHIBITED: u8 = 9;
    /// Destination Unreachable: host administratively prohibited (RFC 1122).
    pub const HOST_PROHIBITED: u8 = 10;
    /// Destination Unreachable: network unreachable for TOS (RFC 1122).
    pub const NET_UNREACHABLE_FOR_TOS: u8 = 11;
    /// Destination Unreachable: host unreachable for TOS (RFC 1122).
    pub const HOST_UNREACHABLE_FOR_TOS: u8 = 12;
    /// Destination Unreachable: communication administratively prohibited (RFC 1812).
    pub const COMMUNICATION_PROHIBITED: u8 = 13;
    /// Destination Unreachable: host precedence violation (RFC 1812).
    pub const HOST_PRECEDENCE_VIOLATION: u8 = 14;
    /// Destination Unreachable: precedence cutoff in effect (RFC 1812).
    pub const PRECEDENCE_CUTOFF: u8 = 15;
    /// Time Exceeded: time to live exceeded in transit.
    pub const TTL_EXCEEDED_IN_TRANSIT: u8 = 0;
    /// Time Exceeded: fragment reassembly time exceeded.
    pub const REASSEMBLY_TIME_EXCEEDED: u8 = 1;
    /// Parameter Problem: the pointer indicates the error.
    pub const POINTER_INDICATES_ERROR: u8 = 0;
    /// Parameter Problem: missing a required option (RFC 1108).
    pub const MISSING_REQUIRED_OPTION: u8 = 1;
    /// Parameter Problem: bad length (RFC 1812 §5.2.5 / IANA).
    pub const BAD_LENGTH: u8 = 2;
}

/// Whether an ICMPv4 type is an error message (RFC 1812 §4.3.2.7 never answers those):
/// Destination Unreachable, Source Quench, Redirect, Time Exceeded, Parameter Problem.
#[inline]
pub const fn is_error(typ: u8) -> bool {
    matches!(typ, DEST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROBLEM)
}

mod field {
    use std::ops::Range;
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: Range<usize> = 2..4;
    pub(super) const REST: Range<usize> = 4..8;
    /// Parameter Problem pointer.
    pub(super) const POINTER: usize = 4;
    /// RFC 4884 §4.1: the length attribute, in 32-bit words.
    pub(super) const LENGTH_ATTR: usize = 5;
    /// RFC 1191 §4: the next-hop MTU of Fragmentation Needed.
    pub(super) const MTU: Range<usize> = 6..8;
    pub(super) const PAYLOAD: usize = 8;
}

/// The length of the ICMPv4 header: type, code, checksum and the four bytes after it.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// The offset of the checksum field.
pub const CHECKSUM_AT: usize = field::CHECKSUM.start;
/// The offset of an echo request's or reply's Identifier (RFC 792), the word a stateful
/// translator treats as the query's port (RFC 6146 §3.5.3).
pub const ECHO_IDENT_AT: usize = field::REST.start;

/// A view of an ICMPv4 message (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
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

    /// An echo request's or reply's Identifier (RFC 792): the first half of the four bytes
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

    /// Parameter Problem: the pointer (RFC 792).
    #[inline(always)]
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }

    /// The RFC 4884 §4.1 length attribute of the original datagram field, in 32-bit words.
    #[inline(always)]
    pub fn length_attr(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH_ATTR]
    }

    /// Fragmentation Needed: the next-hop MTU (RFC 1191 §4).
    #[inline(always)]
    pub fn next_hop_mtu(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::MTU.start], b[field::MTU.start + 1]])
    }

    /// Everything after the 8-byte header (empty if the buffer is shorter).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(field::PAYLOAD..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
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

    /// Computes and sets the checksum over the whole buffer (RFC 792).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = crate::checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_identifier() {
        // Echo Reply, identifier 0xbeef, sequence 1 (RFC 792).
        let m = [ECHO_REPLY, 0, 0, 0, 0xbe, 0xef, 0, 1];
        let v = Icmpv4Packet::new_checked(&m[..]).unwrap();
        assert_eq!((v.msg_type(), v.echo_ident()), (ECHO_REPLY, 0xbeef));
        assert_eq!((ECHO_IDENT_AT, CHECKSUM_AT), (4, 2));
    }

    #[test]
    fn view_of_a_fragmentation_needed() {
        // Type 3 code 4, length attribute 32 words, next-hop MTU 1400.
        let mut m = [3, 4, 0, 0, 0, 32, 0x05, 0x78, 0x45, 0];
        let mut p = Icmpv4Packet::new_checked(&mut m[..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (DEST_UNREACHABLE, code::FRAGMENTATION_NEEDED));
        assert_eq!((p.length_attr(), p.next_hop_mtu(), p.payload()), (32, 1400, &[0x45, 0][..]));
        p.fill_checksum();
        assert_eq!(crate::checksum::checksum(&m), 0);
        assert_eq!(Icmpv4Packet::new_checked(&m[..7]), Err(WireError::Truncated));
        assert!(is_error(TIME_EXCEEDED) && !is_error(ECHO_REQUEST) && !is_error(ECHO_REPLY));
    }
}
