//! The Explicit Address Mapping Table (RFC 7757).
//!
//! Each entry maps an IPv6 prefix to an IPv4 prefix (RFC 7757 §3.2). The IPv4 suffix (the
//! bits after the IPv4 prefix) is copied into the bits right after the IPv6 prefix; when the
//! IPv6 suffix is longer, its remaining low bits are zero in the IPv4 → IPv6 direction and
//! not looked at in the IPv6 → IPv4 direction. An entry whose IPv4 suffix is longer than its
//! IPv6 suffix cannot hold its addresses and is refused. Lookups are longest-prefix match in
//! both directions (§3.3), and an EAM match takes precedence over RFC 6052.
//!
//! ```
//! use sixgate_nat64::eamt::{Eam, Eamt};
//! let mut t = Eamt::default();
//! t.insert(Eam::new("2001:db8:1::/120".parse().unwrap(), "198.51.100.0/24".parse().unwrap()).unwrap()).unwrap();
//! assert_eq!(t.v4_to_v6("198.51.100.7".parse().unwrap()), Some("2001:db8:1::7".parse().unwrap()));
//! assert_eq!(t.v6_to_v4("2001:db8:1::7".parse().unwrap()), Some("198.51.100.7".parse().unwrap()));
//! // Suffixes of unequal size: 8 IPv4 bits land in bits 72..80 of the IPv6 address.
//! t.insert(Eam::new("2001:db8:1c6:3364::/72".parse().unwrap(), "203.0.113.0/24".parse().unwrap()).unwrap()).unwrap();
//! assert_eq!(t.v4_to_v6("203.0.113.7".parse().unwrap()), Some("2001:db8:1c6:3364:7::".parse().unwrap()));
//! assert_eq!(t.v6_to_v4("2001:db8:1c6:3364:7::1".parse().unwrap()), Some("203.0.113.7".parse().unwrap()));
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use crate::ConfigError;

/// One explicit address mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eam {
    v6: Ipv6Net,
    v4: Ipv4Net,
    // Numeric network and mask, for the fast path.
    n6: u128,
    m6: u128,
    n4: u32,
    m4: u32,
    /// How many low bits of the IPv6 suffix the IPv4 suffix does not fill (0..=128).
    pad: u32,
}

impl Eam {
    /// A mapping; the IPv4 suffix must fit in the IPv6 suffix (RFC 7757 §3.2: the IPv6
    /// suffix may be longer, never shorter) and neither prefix may have host bits set.
    pub fn new(v6: Ipv6Net, v4: Ipv4Net) -> Result<Self, ConfigError> {
        let bits6 = 128 - u32::from(v6.prefix_len());
        let bits4 = 32 - u32::from(v4.prefix_len());
        // RFC 7757 §3.2: refused only when the IPv4 suffix is longer than the IPv6 suffix
        // (some IPv4 addresses would have no IPv6 counterpart).
        if bits4 > bits6 {
            return Err(ConfigError::EamSuffix { v6, v4, bits4, bits6 });
        }
        if v6.trunc() != v6 || v4.trunc() != v4 {
            return Err(ConfigError::EamHostBits { v6, v4 });
        }
        Ok(Self {
            v6,
            v4,
            n6: u128::from(v6.network()),
            m6: u128::from(v6.netmask()),
            n4: u32::from(v4.network()),
            m4: u32::from(v4.netmask()),
            pad: bits6 - bits4,
        })
    }

    /// The IPv6 prefix.
    pub fn v6(&self) -> Ipv6Net {
        self.v6
    }

    /// The IPv4 prefix.
    pub fn v4(&self) -> Ipv4Net {
        self.v4
    }
}

/// The table. Kept as two lists sorted by prefix length, longest first, so the first match
/// is the longest.
#[derive(Debug, Clone, Default)]
pub struct Eamt {
    by_v4: Vec<Eam>,
    by_v6: Vec<Eam>,
}

impl Eamt {
    /// Adds an entry. Entries whose IPv4 or IPv6 prefix equals an existing one's are
    /// refused (they would make the mapping ambiguous in one direction).
    pub fn insert(&mut self, e: Eam) -> Result<(), ConfigError> {
        if let Some(o) = self.by_v4.iter().find(|o| o.v4 == e.v4 || o.v6 == e.v6) {
            return Err(ConfigError::EamCollision { v6: e.v6, v4: e.v4, other_v6: o.v6, other_v4: o.v4 });
        }
        self.by_v4.push(e);
        self.by_v4.sort_by_key(|e| std::cmp::Reverse(e.v4.prefix_len()));
        self.by_v6.push(e);
        self.by_v6.sort_by_key(|e| std::cmp::Reverse(e.v6.prefix_len()));
        Ok(())
    }

    /// Whether the table is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.by_v4.is_empty()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_v4.len()
    }

    /// The entries.
    pub fn entries(&self) -> &[Eam] {
        &self.by_v4
    }

    /// Translates an IPv4 address by longest-prefix match, if an entry covers it.
    #[inline]
    pub fn v4_to_v6(&self, a: Ipv4Addr) -> Option<Ipv6Addr> {
        if self.by_v4.is_empty() {
            return None;
        }
        let x = u32::from(a);
        // RFC 7757 §3.2: the IPv4 suffix goes right after the IPv6 prefix; the IPv6
        // suffix's remaining low bits are zero. (An IPv4 /32 has no suffix: 0 shifted by
        // any amount, up to 128 for a ::/0 entry, is 0.)
        self.by_v4
            .iter()
            .find(|e| x & e.m4 == e.n4)
            .map(|e| Ipv6Addr::from(e.n6 | u128::from(x & !e.m4).checked_shl(e.pad).unwrap_or(0)))
    }

    /// Translates an IPv6 address by longest-prefix match, if an entry covers it.
    #[inline]
    pub fn v6_to_v4(&self, a: Ipv6Addr) -> Option<Ipv4Addr> {
        if self.by_v6.is_empty() {
            return None;
        }
        let x = u128::from(a);
        // RFC 7757 §3.2: the IPv4 suffix is read from the same bits, right after the IPv6
        // prefix; the low bits after it are not part of the mapping and are not looked at.
        self.by_v6.iter().find(|e| x & e.m6 == e.n6).map(|e| {
            let suffix = (x & !e.m6).checked_shr(e.pad).unwrap_or(0) as u32;
            Ipv4Addr::from(e.n4 | (suffix & !e.m4))
        })
    }

    /// Whether an IPv4 address is covered by an entry (for EAM hairpinning, RFC 7757 §4).
    #[inline]
    pub fn covers_v4(&self, a: Ipv4Addr) -> bool {
        let x = u32::from(a);
        !self.by_v4.is_empty() && self.by_v4.iter().any(|e| x & e.m4 == e.n4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eam(a: &str, b: &str) -> Eam {
        Eam::new(a.parse().unwrap(), b.parse().unwrap()).unwrap()
    }

    /// RFC 7757 §3.3 and Appendix A-style examples.
    #[test]
    fn longest_match_both_ways() {
        let mut t = Eamt::default();
        t.insert(eam("2001:db8:aaaa::/120", "192.0.2.0/24")).unwrap();
        t.insert(eam("2001:db8:bbbb::1/128", "192.0.2.1/32")).unwrap();
        assert_eq!(t.v4_to_v6("192.0.2.1".parse().unwrap()), Some("2001:db8:bbbb::1".parse().unwrap()));
        assert_eq!(t.v4_to_v6("192.0.2.2".parse().unwrap()), Some("2001:db8:aaaa::2".parse().unwrap()));
        assert_eq!(t.v6_to_v4("2001:db8:bbbb::1".parse().unwrap()), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(t.v6_to_v4("2001:db8:aaaa::ff".parse().unwrap()), Some("192.0.2.255".parse().unwrap()));
        assert_eq!(t.v6_to_v4("2001:db8:aaaa::100".parse().unwrap()), None);
        assert_eq!(t.v4_to_v6("192.0.3.1".parse().unwrap()), None);
        assert!(t.covers_v4("192.0.2.77".parse().unwrap()));
    }

    #[test]
    fn bad_entries_refused() {
        // RFC 7757 §3.2: an IPv4 suffix longer than the IPv6 suffix cannot be held.
        assert!(Eam::new("2001:db8::/121".parse().unwrap(), "192.0.2.0/24".parse().unwrap()).is_err());
        assert!(Eam::new("2001:db8::/128".parse().unwrap(), "192.0.2.0/31".parse().unwrap()).is_err());
        // A shorter IPv4 suffix is legal.
        assert!(Eam::new("2001:db8::/120".parse().unwrap(), "192.0.2.0/25".parse().unwrap()).is_ok());
        assert!(Eam::new("2001:db8::1/120".parse().unwrap(), "192.0.2.0/24".parse().unwrap()).is_err());
        assert!(Eam::new("2001:db8::/120".parse().unwrap(), "192.0.2.1/24".parse().unwrap()).is_err());
        let mut t = Eamt::default();
        t.insert(eam("2001:db8::/120", "192.0.2.0/24")).unwrap();
        assert!(t.insert(eam("2001:db8:1::/120", "192.0.2.0/24")).is_err());
    }

    /// RFC 7757 §3.2 with suffixes of unequal size: `2001:db8:1c6:3364::/72 =
    /// 198.51.100.0/24` (8 IPv4 bits in bits 72..80) and `2001:db8::/120 = 192.0.2.0/25`
    /// (7 IPv4 bits in bits 120..127, the last bit zero).
    #[test]
    fn unequal_suffixes() {
        let mut t = Eamt::default();
        t.insert(eam("2001:db8:1c6:3364::/72", "198.51.100.0/24")).unwrap();
        t.insert(eam("2001:db8::/120", "192.0.2.0/25")).unwrap();
        let v4 = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        for (a4, a6) in [
            ("198.51.100.0", "2001:db8:1c6:3364::"),
            ("198.51.100.2", "2001:db8:1c6:3364:2::"),
            ("198.51.100.255", "2001:db8:1c6:3364:ff::"),
            ("192.0.2.0", "2001:db8::"),
            ("192.0.2.1", "2001:db8::2"),
            ("192.0.2.100", "2001:db8::c8"),
            ("192.0.2.127", "2001:db8::fe"),
        ] {
            assert_eq!(t.v4_to_v6(v4(a4)), Some(v6(a6)), "{a4}");
            assert_eq!(t.v6_to_v4(v6(a6)), Some(v4(a4)), "{a6}");
        }
        // 192.0.2.128/25 is outside the entry.
        assert_eq!(t.v4_to_v6(v4("192.0.2.128")), None);
        // IPv6 → IPv4 reads the suffix from the bits after the prefix; the bits below it
        // are not part of the mapping.
        assert_eq!(t.v6_to_v4(v6("2001:db8:1c6:3364:2:ffff:ffff:ffff")), Some(v4("198.51.100.2")));
        assert_eq!(t.v6_to_v4(v6("2001:db8:1c6:3364:2::1")), Some(v4("198.51.100.2")));
        assert_eq!(t.v6_to_v4(v6("2001:db8::3")), Some(v4("192.0.2.1")));
        // The first 8 bits of the IPv6 suffix of the /72 are the IPv4 suffix; past the
        // IPv6 prefix nothing matches.
        assert_eq!(t.v6_to_v4(v6("2001:db8:1c6:3365::")), None);
    }

    /// RFC 7757 §3.3's example table, which mixes equal and unequal suffixes
    /// (192.0.2.128/26 = 2001:db8:dddd::/64: 6 IPv4 bits at the top of a 64-bit suffix).
    #[test]
    fn rfc7757_example_table() {
        let mut t = Eamt::default();
        t.insert(eam("2001:db8:aaaa::/128", "192.0.2.1/32")).unwrap();
        t.insert(eam("2001:db8:bbbb::b/128", "192.0.2.2/32")).unwrap();
        t.insert(eam("2001:db8:cccc::/124", "192.0.2.16/28")).unwrap();
        t.insert(eam("2001:db8:dddd::/64", "192.0.2.128/26")).unwrap();
        t.insert(eam("64:ff9b::/127", "192.0.2.192/31")).unwrap();
        for (a4, a6) in [
            ("192.0.2.1", "2001:db8:aaaa::"),
            ("192.0.2.2", "2001:db8:bbbb::b"),
            ("192.0.2.16", "2001:db8:cccc::"),
            ("192.0.2.24", "2001:db8:cccc::8"),
            ("192.0.2.31", "2001:db8:cccc::f"),
            ("192.0.2.128", "2001:db8:dddd::"),
            ("192.0.2.152", "2001:db8:dddd:0:6000::"),
            ("192.0.2.183", "2001:db8:dddd:0:dc00::"),
            ("192.0.2.191", "2001:db8:dddd:0:fc00::"),
            ("192.0.2.193", "64:ff9b::1"),
        ] {
            let (x4, x6): (Ipv4Addr, Ipv6Addr) = (a4.parse().unwrap(), a6.parse().unwrap());
            assert_eq!(t.v4_to_v6(x4), Some(x6), "{a4}");
            assert_eq!(t.v6_to_v4(x6), Some(x4), "{a6}");
        }
    }

    proptest! {
        /// Any entry whose IPv4 suffix fits: 4→6→4 is the identity, the IPv6 address lies
        /// in the entry's prefix with its low pad bits zero, and 6→4 ignores those bits.
        #[test]
        fn roundtrip_unequal(len4 in 0u8..=32, extra in 0u8..=96, host in any::<u32>(), low in any::<u128>()) {
            let bits4 = 32 - u32::from(len4);
            let len6 = 128 - (bits4 + u32::from(extra)).min(128) as u8;
            let v4 = Ipv4Net::new("203.0.113.0".parse().unwrap(), len4).unwrap().trunc();
            let v6 = Ipv6Net::new("2001:db8:ff00::".parse().unwrap(), len6).unwrap().trunc();
            let e = Eam::new(v6, v4).unwrap();
            let mut t = Eamt::default();
            t.insert(e).unwrap();
            let a = Ipv4Addr::from(u32::from(v4.network()) | (host & !u32::from(v4.netmask())));
            let a6 = t.v4_to_v6(a).unwrap();
            prop_assert!(v6.contains(&a6));
            prop_assert_eq!(u128::from(a6) & low_bits(e.pad), 0);
            prop_assert_eq!(t.v6_to_v4(a6), Some(a));
            let noisy = Ipv6Addr::from(u128::from(a6) | (low & low_bits(e.pad)));
            prop_assert_eq!(t.v6_to_v4(noisy), Some(a));
        }
    }

    fn low_bits(n: u32) -> u128 {
        if n >= 128 {
            u128::MAX
        } else {
            (1u128 << n) - 1
        }
    }

    proptest! {
        #[test]
        fn roundtrip(host in any::<u8>(), len4 in 24u8..=32) {
            let mut t = Eamt::default();
            let v4: Ipv4Net = Ipv4Net::new("203.0.113.0".parse().unwrap(), len4).unwrap().trunc();
            let v6: Ipv6Net = Ipv6Net::new("2001:db8:ff::".parse().unwrap(), 96 + len4).unwrap().trunc();
            t.insert(Eam::new(v6, v4).unwrap()).unwrap();
            let a = Ipv4Addr::from(u32::from(v4.network()) | (u32::from(host) & !u32::from(v4.netmask())));
            let a6 = t.v4_to_v6(a).unwrap();
            prop_assert!(v6.contains(&a6));
            prop_assert_eq!(t.v6_to_v4(a6), Some(a));
        }
    }
}
