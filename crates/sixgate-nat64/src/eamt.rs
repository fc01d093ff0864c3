//! The Explicit Address Mapping Table (RFC 7757).
//!
//! Each entry maps an IPv6 prefix to an IPv4 prefix with the same number of suffix bits
//! (RFC 7757 §3.2); the suffix is copied. Lookups are longest-prefix match in both
//! directions (§3.3), and an EAM match takes precedence over RFC 6052.
//!
//! ```
//! use sixgate_nat64::eamt::{Eam, Eamt};
//! let mut t = Eamt::default();
//! t.insert(Eam::new("2001:db8:1::/120".parse().unwrap(), "198.51.100.0/24".parse().unwrap()).unwrap()).unwrap();
//! assert_eq!(t.v4_to_v6("198.51.100.7".parse().unwrap()), Some("2001:db8:1::7".parse().unwrap()));
//! assert_eq!(t.v6_to_v4("2001:db8:1::7".parse().unwrap()), Some("198.51.100.7".parse().unwrap()));
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use crate::Error;

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
}

impl Eam {
    /// A mapping; the two prefixes must have the same number of suffix bits
    /// (RFC 7757 §3.2) and no host bits set.
    pub fn new(v6: Ipv6Net, v4: Ipv4Net) -> Result<Self, Error> {
        if 128 - u32::from(v6.prefix_len()) != 32 - u32::from(v4.prefix_len()) {
            return Err(Error::Config(format!(
                "EAM {v6}={v4}: the prefixes must leave the same number of suffix bits (RFC 7757 §3.2)"
            )));
        }
        if v6.trunc() != v6 || v4.trunc() != v4 {
            return Err(Error::Config(format!("EAM {v6}={v4}: host bits set")));
        }
        Ok(Self {
            v6,
            v4,
            n6: u128::from(v6.network()),
            m6: u128::from(v6.netmask()),
            n4: u32::from(v4.network()),
            m4: u32::from(v4.netmask()),
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
    pub fn insert(&mut self, e: Eam) -> Result<(), Error> {
        if let Some(o) = self.by_v4.iter().find(|o| o.v4 == e.v4 || o.v6 == e.v6) {
            return Err(Error::Config(format!("EAM {}={} collides with {}={}", e.v6, e.v4, o.v6, o.v4)));
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
        self.by_v4.iter().find(|e| x & e.m4 == e.n4).map(|e| Ipv6Addr::from(e.n6 | u128::from(x & !e.m4)))
    }

    /// Translates an IPv6 address by longest-prefix match, if an entry covers it.
    #[inline]
    pub fn v6_to_v4(&self, a: Ipv6Addr) -> Option<Ipv4Addr> {
        if self.by_v6.is_empty() {
            return None;
        }
        let x = u128::from(a);
        self.by_v6.iter().find(|e| x & e.m6 == e.n6).map(|e| Ipv4Addr::from(e.n4 | (x & !e.m6) as u32))
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
        assert!(Eam::new("2001:db8::/120".parse().unwrap(), "192.0.2.0/25".parse().unwrap()).is_err());
        assert!(Eam::new("2001:db8::1/120".parse().unwrap(), "192.0.2.0/24".parse().unwrap()).is_err());
        let mut t = Eamt::default();
        t.insert(eam("2001:db8::/120", "192.0.2.0/24")).unwrap();
        assert!(t.insert(eam("2001:db8:1::/120", "192.0.2.0/24")).is_err());
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
