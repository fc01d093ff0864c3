//! Building the ICMPv6 error messages engines generate themselves (RFC 4443 §2.4, §3):
//! an IPv6 header, the ICMPv6 type, code and the four bytes after the checksum, then as
//! much of the invoking packet as fits in the IPv6 minimum MTU, with the checksum over
//! the RFC 8200 §8.1 pseudo-header.
//!
//! ```
//! use std::net::Ipv6Addr;
//! use sixgate_core::icmp6::{build_error, MAX_ERROR_LEN};
//! use sixgate_core::wire::{icmpv6, Icmpv6Packet, Ipv6Packet};
//! let own: Ipv6Addr = "2001:db8::1".parse().unwrap();
//! let to: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
//! let invoking = vec![0x60; 2000];
//! let mut out = Vec::new();
//! // Packet Too Big with an MTU of 1280 in the four bytes after the checksum.
//! let (typ, code) = (icmpv6::PACKET_TOO_BIG, icmpv6::code::PACKET_TOO_BIG);
//! build_error(&mut out, own, to, 64, typ, code, 1280u32.to_be_bytes(), &invoking);
//! assert_eq!(out.len(), MAX_ERROR_LEN);
//! let ip = Ipv6Packet::new_checked(&out[..]).unwrap();
//! let m = Icmpv6Packet::new_checked(ip.payload()).unwrap();
//! assert_eq!((m.msg_type(), m.rest_word()), (icmpv6::PACKET_TOO_BIG, 1280));
//! assert!(m.verify_checksum(own, to));
//! ```

use std::net::Ipv6Addr;

use crate::wire::{icmpv6, ipv6, proto, Icmpv6Packet, Ipv6Repr};

/// The largest ICMPv6 error message, IPv6 header included: the IPv6 minimum MTU
/// (RFC 4443 §2.4(c), RFC 8200 §5).
pub const MAX_ERROR_LEN: usize = 1280;

/// Writes into `out` (cleared first; its capacity is reused) an ICMPv6 error of type
/// `typ` and code `code` from `src` to `dst` with hop limit `hop_limit`, `rest` as the
/// four bytes after the checksum (the MTU, pointer or unused word), quoting the start
/// of `invoking`.
///
/// Traffic class and flow label are 0. Deciding whether the error may be sent at all
/// (RFC 4443 §2.4(e), the rate limit of §2.4(f)) is the caller's.
#[allow(clippy::too_many_arguments)] // the fields of the message, each named at the call
pub fn build_error(
    out: &mut Vec<u8>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    typ: u8,
    code: u8,
    rest: [u8; 4],
    invoking: &[u8],
) {
    // RFC 4443 §2.4(c): as much of the invoking packet as fits without the error
    // exceeding the minimum IPv6 MTU.
    const HEAD: usize = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
    let quote = invoking.len().min(MAX_ERROR_LEN - HEAD);
    out.clear();
    out.resize(HEAD, 0);
    out.extend_from_slice(&invoking[..quote]);
    let mlen = out.len() - ipv6::HEADER_LEN;
    let mut h = [0u8; ipv6::HEADER_LEN];
    Ipv6Repr {
        traffic_class: 0,
        // At most 1240: the quote is trimmed above.
        payload_len: mlen as u16,
        next_header: proto::ICMPV6,
        hop_limit,
        src_addr: src,
        dst_addr: dst,
    }
    .emit(&mut h);
    out[..ipv6::HEADER_LEN].copy_from_slice(&h);
    let mut m = Icmpv6Packet::new_unchecked(&mut out[ipv6::HEADER_LEN..]);
    m.set_msg_type(typ);
    m.set_msg_code(code);
    m.set_rest(rest);
    // RFC 4443 §2.3: the checksum covers the message and the RFC 8200 §8.1 pseudo-header.
    m.fill_checksum(src, dst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::{add, finish, pseudo_v6, sum};
    use proptest::prelude::*;

    /// An independent reading of RFC 4443: header fields at their offsets, the quote,
    /// a checksum that verifies.
    #[allow(clippy::too_many_arguments)]
    fn check(out: &[u8], src: Ipv6Addr, dst: Ipv6Addr, hop: u8, typ: u8, code: u8, rest: [u8; 4], inv: &[u8]) {
        let q = inv.len().min(1280 - 48);
        assert_eq!(out.len(), 48 + q);
        assert!(out.len() <= 1280);
        assert_eq!(&out[0..4], &[0x60, 0, 0, 0], "version 6, traffic class and flow label 0");
        assert_eq!(usize::from(u16::from_be_bytes([out[4], out[5]])), out.len() - 40);
        assert_eq!((out[6], out[7]), (58, hop));
        assert_eq!(&out[8..24], &src.octets());
        assert_eq!(&out[24..40], &dst.octets());
        assert_eq!((out[40], out[41]), (typ, code));
        assert_eq!(&out[44..48], &rest);
        assert_eq!(&out[48..], &inv[..q]);
        let c = finish(add(pseudo_v6(src, dst, 58, (out.len() - 40) as u32), sum(&out[40..])));
        assert_eq!(c, 0, "the checksum verifies");
    }

    #[test]
    fn trims_the_quote_to_1280_and_reuses_the_buffer() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let inv: Vec<u8> = (0..1500u32).map(|i| i as u8).collect();
        let mut out = vec![0xff; 3000];
        build_error(&mut out, s, d, 255, 2, 0, 1280u32.to_be_bytes(), &inv);
        check(&out, s, d, 255, 2, 0, 1280u32.to_be_bytes(), &inv);
        assert_eq!(out.len(), 1280);
        build_error(&mut out, s, d, 64, 1, 3, [0; 4], &inv[..100]);
        check(&out, s, d, 64, 1, 3, [0; 4], &inv[..100]);
        build_error(&mut out, s, d, 64, 3, 0, [0; 4], &[]);
        check(&out, s, d, 64, 3, 0, [0; 4], &[]);
    }

    proptest! {
        #[test]
        fn any_error_is_well_formed(
            s in any::<[u8; 16]>(), d in any::<[u8; 16]>(), hop in any::<u8>(), typ in 0u8..128,
            code in any::<u8>(), rest in any::<[u8; 4]>(), inv in proptest::collection::vec(any::<u8>(), 0..1400),
        ) {
            let (s, d) = (Ipv6Addr::from(s), Ipv6Addr::from(d));
            let mut out = Vec::new();
            build_error(&mut out, s, d, hop, typ, code, rest, &inv);
            check(&out, s, d, hop, typ, code, rest, &inv);
        }
    }
}
