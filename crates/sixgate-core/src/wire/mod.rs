//! Checked views of the headers every packet engine reads and writes, in the smoltcp
//! manner, with the named constants of the IANA protocol and ICMP registries.
//!
//! Each view (`Ipv4Packet<T>`, [`Ipv6Packet`], [`UdpPacket`], [`TcpPacket`],
//! [`Icmpv4Packet`], [`Icmpv6Packet`], [`FragmentHeader`]) wraps a buffer `T:
//! AsRef<[u8]>` without copying it. Its fields are byte ranges in a private `field`
//! module, read by getters and written by `set_*` when `T: AsMut<[u8]>`.
//!
//! **The contract.** `new_checked` validates the lengths once and returns a [`WireError`]
//! on short or inconsistent input; after it succeeds no accessor panics, whatever the
//! bytes say. `new_unchecked` skips the check: its accessors of the fixed header panic
//! on a buffer shorter than that header (like slice indexing), so it is for buffers whose
//! length the caller has already checked. Accessors of variable parts (options, payload)
//! never panic: they clamp to the buffer.
//!
//! The `*Repr` structs ([`Ipv4Repr`], [`Ipv6Repr`], [`FragmentRepr`]) are the headers the
//! engines build: `emit` writes one into a fixed-size array, so it cannot panic either.
//!
//! ```
//! use sixgate_core::wire::{proto, Ipv4Packet, Ipv4Repr};
//! let mut h = [0u8; 20];
//! Ipv4Repr {
//!     tos: 0,
//!     total_len: 20,
//!     ident: 7,
//!     frag_field: 0,
//!     ttl: 64,
//!     protocol: proto::UDP,
//!     src_addr: "192.0.2.1".parse().unwrap(),
//!     dst_addr: "198.51.100.2".parse().unwrap(),
//! }
//! .emit(&mut h);
//! let p = Ipv4Packet::new_checked(&h[..]).unwrap();
//! assert_eq!((p.total_len(), p.protocol(), p.ttl()), (20, proto::UDP, 64));
//! assert!(p.verify_checksum());
//! assert!(Ipv4Packet::new_checked(&h[..19]).is_err());
//! ```
//!
//! The five byte-offset helpers ([`be16`], [`be32`], [`put16`], [`v4at`], [`v6at`]) never
//! panic (see each). They are for a word at an offset built from the views' named field
//! offsets where no one view fits: a 16-bit word rewritten the same way whether it is a
//! TCP or UDP port or an ICMP identifier, in an outer or a quoted header (the stateful
//! translator's port rewrite), a checksum field whose header `gso::Layout` names, the
//! ports of a transport header known only to be 4 bytes long (the shard router). The
//! SIIT fast path and the 6in4 cold paths still read some fields with them too.

use std::net::{Ipv4Addr, Ipv6Addr};

pub mod fragment;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod proto;
pub mod tcp;
pub mod udp;

pub use fragment::{FragmentHeader, FragmentRepr};
pub use icmpv4::Icmpv4Packet;
pub use icmpv6::Icmpv6Packet;
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use tcp::TcpPacket;
pub use udp::UdpPacket;

/// Why a buffer cannot be viewed as a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer is shorter than the fixed header.
    #[error("buffer shorter than the header")]
    Truncated,
    /// A header length field is below the minimum or past the buffer.
    #[error("header length field out of range")]
    BadHeaderLen,
    /// A total or payload length field disagrees with the header or the buffer.
    #[error("length field disagrees with the header or the buffer")]
    BadLength,
}

/// Where the checksum field of a TCP or UDP header lies, with the length a header must
/// have to hold it: `(minimum header length, checksum offset)`. `None` for any other
/// protocol.
#[inline(always)]
pub const fn transport_checksum(protocol: u8) -> Option<(usize, usize)> {
    match protocol {
        proto::TCP => Some((tcp::HEADER_LEN, tcp::CHECKSUM_AT)),
        proto::UDP => Some((udp::HEADER_LEN, udp::CHECKSUM_AT)),
        _ => None,
    }
}

/// The `N` bytes at `o`, when the buffer holds them.
#[inline(always)]
fn chunk<const N: usize>(p: &[u8], o: usize) -> Option<&[u8; N]> {
    p.get(o..)?.first_chunk()
}

/// The 16-bit big-endian word at `o`; 0 when the buffer ends before `o + 2`.
#[inline]
pub fn be16(p: &[u8], o: usize) -> u16 {
    chunk(p, o).map_or(0, |b| u16::from_be_bytes(*b))
}

/// The 32-bit big-endian word at `o`; 0 when the buffer ends before `o + 4`.
#[inline]
pub fn be32(p: &[u8], o: usize) -> u32 {
    chunk(p, o).map_or(0, |b| u32::from_be_bytes(*b))
}

/// Writes `v` big-endian at `o`; nothing when the buffer ends before `o + 2`.
#[inline]
pub fn put16(p: &mut [u8], o: usize, v: u16) {
    if let Some(b) = p.get_mut(o..).and_then(<[u8]>::first_chunk_mut::<2>) {
        *b = v.to_be_bytes();
    }
}

/// The IPv4 address at `o`; 0.0.0.0 when the buffer ends before `o + 4`.
#[inline]
pub fn v4at(p: &[u8], o: usize) -> Ipv4Addr {
    chunk::<4>(p, o).map_or(Ipv4Addr::UNSPECIFIED, |b| Ipv4Addr::from(*b))
}

/// The IPv6 address at `o`; `::` when the buffer ends before `o + 16`.
#[inline]
pub fn v6at(p: &[u8], o: usize) -> Ipv6Addr {
    chunk::<16>(p, o).map_or(Ipv6Addr::UNSPECIFIED, |b| Ipv6Addr::from(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_helpers_never_panic() {
        let mut h = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2];
        assert_eq!(be16(&h, 2), 20);
        put16(&mut h, 2, 28);
        assert_eq!(be16(&h, 2), 28);
        assert_eq!(v4at(&h, 12), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(be32(&h, 16), 0xc633_6402);
        // Past the end, and at offsets that would overflow.
        assert_eq!(be16(&h, 19), 0);
        assert_eq!(be32(&h, usize::MAX), 0);
        assert_eq!(v4at(&h, 17), Ipv4Addr::UNSPECIFIED);
        assert_eq!(v6at(&h, 8), Ipv6Addr::UNSPECIFIED);
        put16(&mut h, 19, 0xffff);
        put16(&mut h, usize::MAX, 0xffff);
        assert_eq!(h[19], 2);
    }

    #[test]
    fn transport_checksum_fields() {
        assert_eq!(transport_checksum(proto::TCP), Some((20, 16)));
        assert_eq!(transport_checksum(proto::UDP), Some((8, 6)));
        assert_eq!(transport_checksum(proto::ICMP), None);
    }
}
