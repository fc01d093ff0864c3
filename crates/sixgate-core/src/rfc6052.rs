//! IPv4-embedded IPv6 addresses (RFC 6052 §2.2) and 6to4 addresses (RFC 3056 §2).
//!
//! ```
//! use sixgate_core::rfc6052::{embed, extract, Pool6};
//! let pool: Pool6 = "64:ff9b::/96".parse().unwrap();
//! let v6 = embed(&pool, "192.0.2.33".parse().unwrap());
//! assert_eq!(v6.to_string(), "64:ff9b::c000:221");
//! assert_eq!(extract(&pool, v6).unwrap().to_string(), "192.0.2.33");
//! ```

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::Ipv6Net;

/// The RFC 6052 well-known prefix `64:ff9b::/96` (§2.1).
pub const WELL_KNOWN_PREFIX: Ipv6Net = match Ipv6Net::new(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
    Ok(n) => n,
    Err(_) => panic!("constant prefix"),
};

/// The prefix lengths RFC 6052 §2.2 allows.
pub const ALLOWED_LENGTHS: [u8; 6] = [32, 40, 48, 56, 64, 96];

/// Errors of RFC 6052 and 6to4 address arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rfc6052Error {
    /// The prefix length is not one of 32, 40, 48, 56, 64 or 96 (RFC 6052 §2.2).
    #[error("prefix length /{0} is not allowed by RFC 6052 §2.2 (use 32, 40, 48, 56, 64 or 96)")]
    BadLength(u8),
    /// The prefix has bits set beyond its length.
    #[error(
        "prefix {0} has bits set after its length /{len}: the /{len} prefix is {net}; write that, or give the \
         length that keeps those bits (RFC 6052 §2.2: 32, 40, 48, 56, 64 or 96)",
        len = .0.prefix_len(),
        net = .0.trunc()
    )]
    HostBits(Ipv6Net),
    /// The prefix itself sets bits 64–71, which RFC 6052 §2.2 reserves (the "u" octet).
    #[error("prefix {0} sets bits 64-71 (the u-octet), which RFC 6052 §2.2 requires to be zero")]
    PrefixUOctet(Ipv6Net),
    /// An address under the prefix has a non-zero u-octet (bits 64–71).
    #[error("address {0} has a non-zero u-octet (bits 64-71), RFC 6052 §2.2")]
    UOctet(Ipv6Addr),
    /// The address is not under the prefix.
    #[error("address {addr} is not under prefix {prefix}")]
    NotInPrefix {
        /// The address.
        addr: Ipv6Addr,
        /// The prefix.
        prefix: Ipv6Net,
    },
    /// The string is not an IPv6 prefix.
    #[error("not an IPv6 prefix")]
    Syntax,
}

/// A validated RFC 6052 translation prefix ("pool6"): one of the allowed lengths, no host
/// bits, u-octet zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pool6 {
    net: Ipv6Net,
    // Numeric prefix and mask, for the per-packet fast path.
    prefix: u128,
    mask: u128,
    well_known: bool,
}

impl Pool6 {
    /// Validates a prefix for use with RFC 6052.
    pub fn new(net: Ipv6Net) -> Result<Self, Rfc6052Error> {
        let len = net.prefix_len();
        if !ALLOWED_LENGTHS.contains(&len) {
            return Err(Rfc6052Error::BadLength(len));
        }
        if net.network() != net.addr() {
            return Err(Rfc6052Error::HostBits(net));
        }
        if net.addr().octets()[8] != 0 {
            return Err(Rfc6052Error::PrefixUOctet(net));
        }
        Ok(Self {
            net,
            prefix: u128::from(net.addr()),
            mask: u128::MAX << (128 - u32::from(len)),
            well_known: net == WELL_KNOWN_PREFIX,
        })
    }

    /// The well-known prefix 64:ff9b::/96.
    pub fn well_known() -> Self {
        match Self::new(WELL_KNOWN_PREFIX) {
            Ok(p) => p,
            Err(_) => unreachable!("the well-known prefix is valid"),
        }
    }

    /// The prefix.
    pub const fn net(&self) -> Ipv6Net {
        self.net
    }

    /// The prefix length.
    pub const fn prefix_len(&self) -> u8 {
        self.net.prefix_len()
    }

    /// Whether this is the well-known prefix 64:ff9b::/96 (subject to RFC 6052 §3.1).
    #[inline]
    pub fn is_well_known(&self) -> bool {
        self.well_known
    }

    /// Whether `addr` falls under this prefix.
    #[inline]
    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        u128::from(addr) & self.mask == self.prefix
    }
}

impl FromStr for Pool6 {
    type Err = Rfc6052Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let net: Ipv6Net = s.trim().parse().map_err(|_| Rfc6052Error::Syntax)?;
        Self::new(net)
    }
}

impl fmt::Display for Pool6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.net.fmt(f)
    }
}

/// Embeds `v4` under `pool` (RFC 6052 §2.2, Figure 1). The suffix is zero; bits 64–71
/// are zero.
#[inline(always)]
pub fn embed(pool: &Pool6, v4: Ipv4Addr) -> Ipv6Addr {
    if pool.prefix_len() == 96 {
        return Ipv6Addr::from(pool.prefix | u128::from(u32::from(v4)));
    }
    let mut o = pool.net.addr().octets();
    let a = v4.octets();
    // Byte positions of the four IPv4 octets for each prefix length, skipping octet 8 (u).
    let pos: [usize; 4] = match pool.prefix_len() {
        32 => [4, 5, 6, 7],
        40 => [5, 6, 7, 9],
        48 => [6, 7, 9, 10],
        56 => [7, 9, 10, 11],
        64 => [9, 10, 11, 12],
        _ => [12, 13, 14, 15],
    };
    for (i, p) in pos.into_iter().enumerate() {
        o[p] = a[i];
    }
    Ipv6Addr::from(o)
}

/// Extracts the IPv4 address embedded in `v6` under `pool` (RFC 6052 §2.2). The address
/// must be under the prefix and have a zero u-octet (for lengths below 96). The suffix is
/// ignored, as §2.2 says it "SHOULD be set to zero" by the sender only.
#[inline(always)]
pub fn extract(pool: &Pool6, v6: Ipv6Addr) -> Result<Ipv4Addr, Rfc6052Error> {
    if !pool.contains(v6) {
        return Err(Rfc6052Error::NotInPrefix { addr: v6, prefix: pool.net });
    }
    let len = pool.prefix_len();
    if len == 96 {
        return Ok(Ipv4Addr::from(u128::from(v6) as u32));
    }
    let o = v6.octets();
    if o[8] != 0 {
        return Err(Rfc6052Error::UOctet(v6));
    }
    let b = match len {
        32 => [o[4], o[5], o[6], o[7]],
        40 => [o[5], o[6], o[7], o[9]],
        48 => [o[6], o[7], o[9], o[10]],
        56 => [o[7], o[9], o[10], o[11]],
        64 => [o[9], o[10], o[11], o[12]],
        _ => [o[12], o[13], o[14], o[15]],
    };
    Ok(Ipv4Addr::from(b))
}

/// The 6to4 prefix 2002::/16 (RFC 3056 §2).
pub const SIX_TO_FOUR: Ipv6Net = match Ipv6Net::new(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
    Ok(n) => n,
    Err(_) => panic!("constant prefix"),
};

/// The 6to4 /48 of an IPv4 address: `2002:V4ADDR::/48` (RFC 3056 §2).
///
/// ```
/// let p = sixgate_core::rfc6052::sixtofour_prefix("74.207.254.16".parse().unwrap());
/// assert_eq!(p.to_string(), "2002:4acf:fe10::/48");
/// ```
#[inline]
pub fn sixtofour_prefix(v4: Ipv4Addr) -> Ipv6Net {
    let a = v4.octets();
    let addr = Ipv6Addr::from([0x20, 0x02, a[0], a[1], a[2], a[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    match Ipv6Net::new(addr, 48) {
        Ok(n) => n,
        Err(_) => unreachable!("48 is a valid IPv6 prefix length"),
    }
}

/// The IPv4 address a 6to4 address (any address in 2002::/16) embeds (RFC 3056 §2), or
/// `None` if `v6` is not a 6to4 address.
#[inline]
pub fn sixtofour_extract(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = v6.octets();
    (o[0] == 0x20 && o[1] == 0x02).then(|| Ipv4Addr::new(o[2], o[3], o[4], o[5]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 6052 §2.4 table: 192.0.2.33 under each prefix length.
    #[test]
    fn rfc6052_section_2_4_examples() {
        let v4: Ipv4Addr = "192.0.2.33".parse().unwrap();
        let cases = [
            ("2001:db8::/32", "2001:db8:c000:221::"),
            ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
            ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
            ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
            ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
            ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
            ("64:ff9b::/96", "64:ff9b::192.0.2.33"),
        ];
        for (p, want) in cases {
            let pool: Pool6 = p.parse().unwrap();
            let want: Ipv6Addr = want.parse().unwrap();
            assert_eq!(embed(&pool, v4), want, "{p}");
            assert_eq!(extract(&pool, want).unwrap(), v4, "{p}");
        }
    }

    #[test]
    fn bad_pools_refused() {
        assert_eq!("2001:db8::/33".parse::<Pool6>(), Err(Rfc6052Error::BadLength(33)));
        assert!(matches!("2001:db8::1/96".parse::<Pool6>(), Err(Rfc6052Error::HostBits(_))));
        assert!(matches!("2001:db8:0:0:100::/96".parse::<Pool6>(), Err(Rfc6052Error::PrefixUOctet(_))));
        assert_eq!("nonsense".parse::<Pool6>(), Err(Rfc6052Error::Syntax));
    }

    #[test]
    fn nonzero_u_octet_refused() {
        let pool: Pool6 = "2001:db8::/32".parse().unwrap();
        let a: Ipv6Addr = "2001:db8:c000:221:100::".parse().unwrap();
        assert_eq!(extract(&pool, a), Err(Rfc6052Error::UOctet(a)));
        let other: Ipv6Addr = "2001:db9::1".parse().unwrap();
        assert!(matches!(extract(&pool, other), Err(Rfc6052Error::NotInPrefix { .. })));
    }

    #[test]
    fn sixtofour() {
        let v4 = Ipv4Addr::new(192, 88, 99, 1);
        let p = sixtofour_prefix(v4);
        assert_eq!(p.to_string(), "2002:c058:6301::/48");
        assert_eq!(sixtofour_extract(p.addr()), Some(v4));
        assert_eq!(sixtofour_extract("2001:db8::1".parse().unwrap()), None);
    }

    proptest! {
        #[test]
        fn embed_extract_roundtrip(pfx in any::<[u8;16]>(), li in 0usize..6, v4 in any::<[u8;4]>()) {
            let len = ALLOWED_LENGTHS[li];
            let mut p = Ipv6Net::new(Ipv6Addr::from(pfx), len).unwrap().trunc();
            let mut o = p.addr().octets(); o[8] = 0;
            p = Ipv6Net::new(Ipv6Addr::from(o), len).unwrap();
            let pool = Pool6::new(p).unwrap();
            let a = embed(&pool, Ipv4Addr::from(v4));
            prop_assert!(pool.contains(a));
            prop_assert_eq!(a.octets()[8], 0);
            prop_assert_eq!(extract(&pool, a).unwrap(), Ipv4Addr::from(v4));
        }

        #[test]
        fn sixtofour_roundtrip(v4 in any::<[u8;4]>(), host in any::<u128>()) {
            let p = sixtofour_prefix(Ipv4Addr::from(v4));
            let a = Ipv6Addr::from(u128::from(p.addr()) | (host & ((1u128 << 80) - 1)));
            prop_assert_eq!(sixtofour_extract(a), Some(Ipv4Addr::from(v4)));
        }
    }
}
