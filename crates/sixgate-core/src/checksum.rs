//! The Internet checksum (RFC 1071), pseudo-headers for IPv4 and IPv6, and the RFC 1624
//! incremental update that lets a translator rewrite headers without re-summing payloads.
//!
//! All sums are kept as a `u32`/`u64` one's-complement accumulator and folded to 16 bits
//! only at the end, so partial sums over several slices can be added freely.
//!
//! ```
//! use sixgate_core::checksum;
//! // RFC 1071 §3 example bytes.
//! let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
//! assert_eq!(checksum::fold(checksum::sum(&data)), 0xddf2);
//! assert_eq!(checksum::checksum(&data), !0xddf2);
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

/// One's-complement sum of `data` as big-endian 16-bit words (an odd final byte is padded
/// with zero, RFC 1071 §4.1), returned unfolded. Fold it with [`fold`].
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        // Adding 32-bit big-endian halves into a 64-bit accumulator is the same
        // one's-complement sum as adding the 16-bit words (RFC 1071 §2 (B), (C)).
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
    }
    let rest = chunks.remainder();
    let mut words = rest.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold64(acc)
}

/// Unfolded sum of a 20-byte header (an IPv4 header without options), unrolled: the
/// per-packet path verifies and writes one of these for every translated packet.
#[inline(always)]
pub fn sum20(h: &[u8; 20]) -> u32 {
    let w = |i: usize| u64::from(u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    fold64(w(0) + w(4) + w(8) + w(12) + w(16))
}

#[inline]
fn fold64(mut acc: u64) -> u32 {
    // Fold 64 → 32 bits keeping end-around carries.
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc as u32
}

/// Adds two unfolded sums.
#[inline]
pub fn add(a: u32, b: u32) -> u32 {
    let (s, c) = a.overflowing_add(b);
    s + u32::from(c)
}

/// Folds an unfolded sum to 16 bits (one's-complement, end-around carry).
#[inline]
pub fn fold(mut acc: u32) -> u16 {
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// The Internet checksum of `data`: the one's complement of the folded sum.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// Finishes a checksum from an unfolded sum: fold, complement.
#[inline]
pub fn finish(acc: u32) -> u16 {
    !fold(acc)
}

/// Unfolded sum of the IPv4 pseudo-header (RFC 768, RFC 793 §3.1): source, destination,
/// zero, protocol, upper-layer length.
#[inline]
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) -> u32 {
    let s = src.octets();
    let d = dst.octets();
    let mut acc = u32::from(u16::from_be_bytes([s[0], s[1]]));
    acc += u32::from(u16::from_be_bytes([s[2], s[3]]));
    acc += u32::from(u16::from_be_bytes([d[0], d[1]]));
    acc += u32::from(u16::from_be_bytes([d[2], d[3]]));
    acc += u32::from(proto);
    acc += u32::from(len);
    acc
}

/// Unfolded sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit
/// upper-layer length, three zero bytes, next header.
#[inline]
pub fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u32 {
    let mut acc = add(sum(&src.octets()), sum(&dst.octets()));
    acc = add(acc, len >> 16);
    acc = add(acc, len & 0xffff);
    add(acc, u32::from(next_header))
}

/// Unfolded sum of the 16-bit words of an IPv4 address (for incremental updates).
#[inline]
pub fn sum_v4(a: Ipv4Addr) -> u32 {
    let o = a.octets();
    u32::from(u16::from_be_bytes([o[0], o[1]])) + u32::from(u16::from_be_bytes([o[2], o[3]]))
}

/// Unfolded sum of the 16-bit words of an IPv6 address (for incremental updates).
#[inline]
pub fn sum_v6(a: Ipv6Addr) -> u32 {
    // Four 32-bit big-endian words summed: congruent, modulo 0xffff, to the sum of the
    // eight 16-bit words (2^16 ≡ 1), which is all one's-complement arithmetic needs.
    let x = u128::from(a);
    let s = (x as u32 as u64) + ((x >> 32) as u32 as u64) + ((x >> 64) as u32 as u64) + ((x >> 96) as u32 as u64);
    fold64(s)
}

/// RFC 1624 eqn. 3 incremental update: given the checksum field `hc` of a message, and the
/// unfolded sums of the 16-bit words that were removed (`old`) and added (`new`), returns
/// the new checksum field `HC' = ~(~HC + ~m + m')`.
///
/// Because the update is pure one's-complement arithmetic, a checksum that was wrong
/// before stays wrong by exactly the same amount after.
///
/// ```
/// use sixgate_core::checksum::{checksum, sum, update};
/// let mut msg = [0x45u8, 0x00, 0x12, 0x34, 0xab, 0xcd, 0, 0];
/// let hc = checksum(&msg);
/// let old = sum(&msg[2..4]);
/// msg[2..4].copy_from_slice(&[0x56, 0x78]);
/// assert_eq!(update(hc, old, sum(&msg[2..4])), checksum(&msg));
/// ```
#[inline]
pub fn update(hc: u16, old: u32, new: u32) -> u16 {
    // ~m as an unfolded sum: fold first, then complement in 16 bits.
    let not_m = u32::from(!fold(old));
    let acc = add(add(u32::from(!hc), not_m), new);
    !fold(acc)
}

/// Like [`update`] for a UDP checksum field, where 0 means "no checksum" and a computed
/// zero is sent as 0xffff (RFC 768). A transmitted 0xffff and 0x0000 are the same value in
/// one's complement, so the update is unchanged; only the final representation differs.
#[inline]
pub fn update_udp(hc: u16, old: u32, new: u32) -> u16 {
    udp_field(update(hc, old, new))
}

/// The UDP checksum field for a computed (or updated) checksum `c`: RFC 768 sends a
/// computed zero as 0xffff, because a zero field means "no checksum" (allowed in IPv4 only;
/// RFC 8200 §8.1 makes it invalid in IPv6). The one place every engine takes this from.
///
/// ```
/// use sixgate_core::checksum::udp_field;
/// assert_eq!(udp_field(0), 0xffff);
/// assert_eq!(udp_field(0x1234), 0x1234);
/// ```
#[inline(always)]
pub const fn udp_field(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// Whether a UDP checksum field carries a checksum: zero means the sender computed none
/// (RFC 768), which is legal in IPv4 and invalid in IPv6 (RFC 8200 §8.1). A field that
/// carries none is left as it is by an incremental update.
#[inline(always)]
pub const fn udp_has_checksum(field: u16) -> bool {
    field != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for w in data.chunks(2) {
            let v = if w.len() == 2 { u16::from_be_bytes([w[0], w[1]]) } else { u16::from(w[0]) << 8 };
            acc += u32::from(v);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
    }

    #[test]
    fn real_ipv4_header_verifies() {
        // An IPv4 header captured from the wire (checksum 0xb861).
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(checksum(&hdr), 0);
        let mut z = hdr;
        z[10] = 0;
        z[11] = 0;
        assert_eq!(checksum(&z), 0xb861);
    }

    proptest! {
        #[test]
        fn sum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(checksum(&data), naive(&data));
        }

        /// RFC 1624: the incremental update equals a full recomputation, for any message
        /// and any rewrite of any even-aligned field.
        #[test]
        fn incremental_equals_full(
            mut data in proptest::collection::vec(any::<u8>(), 4..200),
            start in 0usize..100, len in 1usize..40,
            replacement in proptest::collection::vec(any::<u8>(), 80),
        ) {
            if data.len() % 2 == 1 { data.push(0); }
            // Reserve the first two bytes as the checksum field.
            data[0] = 0; data[1] = 0;
            let hc = checksum(&data);
            data[0..2].copy_from_slice(&hc.to_be_bytes());
            let s = 2 + (start * 2) % (data.len() - 2);
            let e = (s + len * 2).min(data.len());
            let old = sum(&data[s..e]);
            data[s..e].copy_from_slice(&replacement[..e - s]);
            let new = sum(&data[s..e]);
            let inc = update(hc, old, new);
            data[0] = 0; data[1] = 0;
            let full = checksum(&data);
            // One's complement has two zeros; both are the same checksum value.
            prop_assert!(inc == full || (inc == 0xffff && full == 0) || (inc == 0 && full == 0xffff),
                "inc {inc:#x} full {full:#x}");
        }

        /// A wrong checksum stays exactly as wrong after an incremental update.
        #[test]
        fn wrong_stays_wrong(mut data in proptest::collection::vec(any::<u8>(), 8..100), err in 1u16..0xfffe) {
            if data.len() % 2 == 1 { data.push(0); }
            data[0] = 0; data[1] = 0;
            let good = checksum(&data);
            let bad = fold(u32::from(good) + u32::from(err));
            let old = sum(&data[2..6]);
            data[2..6].copy_from_slice(&[1, 2, 3, 4]);
            let new = sum(&data[2..6]);
            let good2 = update(good, old, new);
            let bad2 = update(bad, old, new);
            // The difference between the two fields is preserved (mod one's complement).
            let d1 = fold(u32::from(bad) + u32::from(!good));
            let d2 = fold(u32::from(bad2) + u32::from(!good2));
            prop_assert!(d1 == d2 || (d1 == 0 && d2 == 0xffff) || (d1 == 0xffff && d2 == 0));
        }

        #[test]
        fn pseudo_v6_matches_bytes(src in any::<[u8;16]>(), dst in any::<[u8;16]>(), nh in any::<u8>(), len in any::<u32>()) {
            let mut ph = Vec::new();
            ph.extend_from_slice(&src); ph.extend_from_slice(&dst);
            ph.extend_from_slice(&len.to_be_bytes()); ph.extend_from_slice(&[0,0,0,nh]);
            prop_assert_eq!(fold(pseudo_v6(src.into(), dst.into(), nh, len)), fold(sum(&ph)));
        }

        #[test]
        fn pseudo_v4_matches_bytes(src in any::<[u8;4]>(), dst in any::<[u8;4]>(), p in any::<u8>(), len in any::<u16>()) {
            let mut ph = Vec::new();
            ph.extend_from_slice(&src); ph.extend_from_slice(&dst);
            ph.extend_from_slice(&[0, p]); ph.extend_from_slice(&len.to_be_bytes());
            prop_assert_eq!(fold(pseudo_v4(src.into(), dst.into(), p, len)), fold(sum(&ph)));
            prop_assert_eq!(fold(sum_v4(src.into())), fold(sum(&src)));
        }

        #[test]
        fn sum20_matches_sum(h in any::<[u8; 20]>()) {
            prop_assert_eq!(fold(sum20(&h)), fold(sum(&h)));
        }

        #[test]
        fn sum_v6_matches_bytes(a in any::<[u8;16]>()) {
            let f = |x: u32| { let v = fold(x); if v == 0xffff { 0 } else { v } };
            prop_assert_eq!(f(sum_v6(a.into())), f(sum(&a)));
        }
    }
}
