//! 6rd (RFC 5969): a CE's delegated prefix from the domain's 6rd prefix, IPv4MaskLen and
//! the CE's IPv4 address, and back.
//!
//! ```text
//! |     n bits    |    o bits   |   m bits  |  128-n-o-m bits  |
//! +---------------+-------------+-----------+------------------+
//! |  6rd prefix   | IPv4 address| subnet ID |   interface ID   |
//! |<--- 6rd delegated prefix --->|
//! ```
//!
//! `o = 32 - IPv4MaskLen`: the first IPv4MaskLen bits of every CE's IPv4 address are the
//! same in a domain and are left out (RFC 5969 §4, §7.1.1).
//!
//! ```
//! use sixgate_6to4::sixrd::SixRd;
//! let d = SixRd::new("2001:db8::/32".parse().unwrap(), 8).unwrap().with_relay("10.0.0.1".parse().unwrap());
//! let p = d.delegated_prefix("10.100.100.1".parse().unwrap()).unwrap();
//! assert_eq!(p.to_string(), "2001:db8:6464:100::/56");
//! assert_eq!(d.ce_ipv4(p.addr()).unwrap().to_string(), "10.100.100.1");
//! ```

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
#[cfg(feature = "serde")]
use serde::Serialize;

use crate::error::{host_net, Error};
#[cfg(feature = "serde")]
use crate::ser;

/// A 6rd domain: the 6rd prefix, IPv4MaskLen, and (optionally) the common IPv4 prefix of
/// its CEs, taken from the BR's address or given outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SixRd {
    prefix: Ipv6Net,
    ipv4_mask_len: u8,
    relay: Option<Ipv4Net>,
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

impl SixRd {
    /// A domain from the 6rd prefix and IPv4MaskLen.
    ///
    /// Refused: host bits set in the prefix (RFC 5969 §7.1.1 carries the prefix and its
    /// length separately, so stray bits are a typo); IPv4MaskLen above 32 (§7.1.1); and a
    /// delegated prefix longer than /64 (§4: it "SHOULD be /64 or shorter" so the CE LAN
    /// can use SLAAC; we hold to it).
    pub fn new(prefix: Ipv6Net, ipv4_mask_len: u8) -> Result<Self, Error> {
        if prefix.trunc() != prefix {
            return Err(Error::SixRdPrefixHostBits(prefix));
        }
        if ipv4_mask_len > 32 {
            return Err(Error::SixRdMaskLen(ipv4_mask_len));
        }
        if u16::from(prefix.prefix_len()) + 32 - u16::from(ipv4_mask_len) > 64 {
            return Err(Error::SixRdTooLong { prefix_len: prefix.prefix_len(), ipv4_mask_len });
        }
        Ok(Self { prefix, ipv4_mask_len, relay: None })
    }

    /// Sets the domain's common IPv4 prefix from any address in it, typically the BR's
    /// (RFC 5969 §7.1.1: IPv4MaskLen is "the number of high-order bits that are identical
    /// across all CE IPv4 addresses within a given 6rd domain").
    #[must_use]
    pub fn with_relay(mut self, br: Ipv4Addr) -> Self {
        let net = Ipv4Net::new(br, self.ipv4_mask_len).map(|n| n.trunc());
        self.relay = net.ok();
        self
    }

    /// Sets the domain's common IPv4 prefix; its length must be IPv4MaskLen. Host bits are
    /// dropped (so `192.0.2.1/8`, the BR with the mask, is accepted).
    pub fn with_relay_prefix(mut self, relay: Ipv4Net) -> Result<Self, Error> {
        if relay.prefix_len() != self.ipv4_mask_len {
            return Err(Error::SixRdRelayLength { relay, ipv4_mask_len: self.ipv4_mask_len });
        }
        self.relay = Some(relay.trunc());
        Ok(self)
    }

    /// The 6rd prefix.
    pub const fn prefix(&self) -> Ipv6Net {
        self.prefix
    }

    /// IPv4MaskLen.
    pub const fn ipv4_mask_len(&self) -> u8 {
        self.ipv4_mask_len
    }

    /// The common IPv4 prefix, if known.
    pub const fn relay_prefix(&self) -> Option<Ipv4Net> {
        self.relay
    }

    /// The length of every delegated prefix: 6rdPrefixLen + 32 - IPv4MaskLen (RFC 5969 §4).
    pub fn delegated_len(&self) -> u8 {
        self.prefix.prefix_len() + 32 - self.ipv4_mask_len
    }

    /// The CE's delegated prefix: the 6rd prefix followed by the CE's IPv4 address without
    /// its first IPv4MaskLen bits (RFC 5969 §4). With a relay prefix set, a CE outside it is
    /// refused.
    pub fn delegated_prefix(&self, ce: Ipv4Addr) -> Result<Ipv6Net, Error> {
        if let Some(relay) = self.relay {
            if !relay.contains(&ce) {
                return Err(Error::CeOutsideRelay { ce, relay });
            }
        }
        let o = 32 - u32::from(self.ipv4_mask_len); // suffix bits
        let mut addr = u128::from(self.prefix.addr());
        if o > 0 {
            let suffix = u128::from(u32::from(ce) & !mask32(self.ipv4_mask_len));
            addr |= suffix << (128 - u32::from(self.prefix.prefix_len()) - o);
        }
        Ipv6Net::new(Ipv6Addr::from(addr), self.delegated_len()).map_err(|_| Error::SixRdPrefixHostBits(self.prefix))
    }

    /// The CE's own 6rd address on its 6rd tunnel interface: the delegated prefix, subnet
    /// ID 0, and an interface ID holding the IPv4 address in its low 32 bits (RFC 5969 §4
    /// refers to RFC 4291 for the interface ID; Linux sit and most CEs use `::V4ADDR`).
    pub fn ce_address(&self, ce: Ipv4Addr) -> Result<Ipv6Addr, Error> {
        let p = self.delegated_prefix(ce)?;
        Ok(Ipv6Addr::from(u128::from(p.addr()) | u128::from(u32::from(ce))))
    }

    /// The CE's IPv4 address from any address under one of its delegated prefixes: the
    /// §4 format read backwards, as a BR or another CE does to find the IPv4 destination
    /// of a packet (RFC 5969 §4). Needs the common IPv4 prefix unless IPv4MaskLen is 0.
    pub fn ce_ipv4(&self, addr: Ipv6Addr) -> Result<Ipv4Addr, Error> {
        if !self.prefix.contains(&addr) {
            return Err(Error::NotInSixRdPrefix { given: host_net(addr), prefix: self.prefix });
        }
        let common = match (self.ipv4_mask_len, self.relay) {
            (0, _) => 0,
            (_, Some(r)) => u32::from(r.network()),
            (m, None) => return Err(Error::SixRdRelayNeeded(m)),
        };
        let o = 32 - u32::from(self.ipv4_mask_len);
        if o == 0 {
            return Ok(Ipv4Addr::from(common));
        }
        let shift = 128 - u32::from(self.prefix.prefix_len()) - o;
        let suffix = ((u128::from(addr) >> shift) & ((1u128 << o) - 1)) as u32;
        Ok(Ipv4Addr::from(common | suffix))
    }

    /// The CE's IPv4 address from its delegated prefix (or any longer prefix under it).
    pub fn ce_ipv4_from_prefix(&self, net: Ipv6Net) -> Result<Ipv4Addr, Error> {
        if !self.prefix.contains(&net) {
            return Err(Error::NotInSixRdPrefix { given: net, prefix: self.prefix });
        }
        if net.prefix_len() < self.delegated_len() {
            return Err(Error::SixRdPrefixTooShort { given: net, needed: self.delegated_len() });
        }
        self.ce_ipv4(net.addr())
    }

    /// Everything about one CE, for display and JSON.
    pub fn ce(&self, ce: Ipv4Addr) -> Result<SixRdCe, Error> {
        let delegated = self.delegated_prefix(ce)?;
        let free = 64 - u32::from(delegated.prefix_len());
        Ok(SixRdCe {
            ce_ipv4: ce,
            sixrd_prefix: self.prefix,
            ipv4_mask_len: self.ipv4_mask_len,
            relay_prefix: self.relay,
            delegated_prefix: delegated,
            ce_address: self.ce_address(ce)?,
            subnets_64: 1u64 << free,
        })
    }
}

/// A CE in a 6rd domain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct SixRdCe {
    /// The CE's IPv4 address.
    pub ce_ipv4: Ipv4Addr,
    /// The domain's 6rd prefix.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::display"))]
    pub sixrd_prefix: Ipv6Net,
    /// IPv4MaskLen.
    pub ipv4_mask_len: u8,
    /// The domain's common IPv4 prefix, if given.
    #[cfg_attr(feature = "serde", serde(serialize_with = "opt_display"))]
    pub relay_prefix: Option<Ipv4Net>,
    /// The CE's delegated prefix.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::display"))]
    pub delegated_prefix: Ipv6Net,
    /// The CE's 6rd address (subnet 0, interface ID `::V4ADDR`).
    pub ce_address: Ipv6Addr,
    /// How many /64s the delegated prefix holds.
    pub subnets_64: u64,
}

#[cfg(feature = "serde")]
fn opt_display<S: serde::Serializer>(v: &Option<Ipv4Net>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.collect_str(n),
        None => s.serialize_none(),
    }
}

impl fmt::Display for SixRdCe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "delegated prefix  {}", self.delegated_prefix)?;
        writeln!(f, "CE IPv4 address   {}", self.ce_ipv4)?;
        writeln!(f, "CE 6rd address    {}", self.ce_address)?;
        writeln!(f, "6rd prefix        {} (IPv4MaskLen {})", self.sixrd_prefix, self.ipv4_mask_len)?;
        if let Some(r) = self.relay_prefix {
            writeln!(f, "IPv4 relay prefix {r}")?;
        }
        write!(f, "/64 subnets       {}", self.subnets_64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(p: &str, m: u8) -> SixRd {
        SixRd::new(p.parse().unwrap(), m).unwrap()
    }

    /// The example used throughout the 6rd literature (and BBF TR-181's 6rd model):
    /// 2001:db8::/32, IPv4MaskLen 8, CE 10.100.100.1.
    #[test]
    fn tr181_example() {
        let dom = d("2001:db8::/32", 8).with_relay("10.0.0.0".parse().unwrap());
        let p = dom.delegated_prefix("10.100.100.1".parse().unwrap()).unwrap();
        assert_eq!(p.to_string(), "2001:db8:6464:100::/56");
        // The reverse: a destination 2001:db8:64c8:200:x:x:x:x is CE 10.100.200.2.
        assert_eq!(dom.ce_ipv4("2001:db8:64c8:200:1:2:3:4".parse().unwrap()).unwrap(), Ipv4Addr::new(10, 100, 200, 2));
        assert_eq!(dom.ce_ipv4_from_prefix(p).unwrap(), Ipv4Addr::new(10, 100, 100, 1));
        assert_eq!(dom.ce_address("10.100.100.1".parse().unwrap()).unwrap().to_string(), "2001:db8:6464:100::a64:6401");
    }

    /// IPv4MaskLen 0, an unaligned /30 6rd prefix: a /62 (a deployed ISP's parameters,
    /// also checked against ipv6calc's 6rd_local_prefix in the differential test).
    #[test]
    fn unaligned_mask_zero() {
        let dom = d("2a01:79c::/30", 0);
        let p = dom.delegated_prefix("81.167.4.214".parse().unwrap()).unwrap();
        assert_eq!(p.to_string(), "2a01:79d:469c:1358::/62");
        assert_eq!(dom.ce_ipv4(p.addr()).unwrap(), Ipv4Addr::new(81, 167, 4, 214));
    }

    #[test]
    fn whole_ipv4_masked_out() {
        // IPv4MaskLen 32: every CE gets the 6rd prefix itself.
        let dom = d("2001:db8:1234:5600::/56", 32).with_relay("192.0.2.7".parse().unwrap());
        assert_eq!(dom.delegated_prefix("192.0.2.7".parse().unwrap()).unwrap().to_string(), "2001:db8:1234:5600::/56");
        assert_eq!(dom.ce_ipv4("2001:db8:1234:5600::1".parse().unwrap()).unwrap(), Ipv4Addr::new(192, 0, 2, 7));
    }

    #[test]
    fn refusals() {
        assert!(matches!(SixRd::new("2001:db8::1/32".parse().unwrap(), 8), Err(Error::SixRdPrefixHostBits(_))));
        assert!(matches!(SixRd::new("2001:db8::/32".parse().unwrap(), 33), Err(Error::SixRdMaskLen(33))));
        let e = SixRd::new("2001:db8::/40".parse().unwrap(), 0).unwrap_err();
        assert!(e.to_string().contains("/72"), "{e}");
        assert!(SixRd::new("2001:db8::/40".parse().unwrap(), 8).is_ok()); // exactly /64
        let dom = d("2001:db8::/32", 8).with_relay("10.0.0.1".parse().unwrap());
        let e = dom.delegated_prefix("11.1.1.1".parse().unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CE address 11.1.1.1 is outside the 6rd domain's IPv4 relay prefix 10.0.0.0/8 (RFC 5969 §4)"
        );
        assert!(matches!(
            d("2001:db8::/32", 8).ce_ipv4("2001:db8::1".parse().unwrap()),
            Err(Error::SixRdRelayNeeded(8))
        ));
        assert!(matches!(dom.ce_ipv4("2001:db9::1".parse().unwrap()), Err(Error::NotInSixRdPrefix { .. })));
        assert!(matches!(
            dom.ce_ipv4_from_prefix("2001:db8::/48".parse().unwrap()),
            Err(Error::SixRdPrefixTooShort { needed: 56, .. })
        ));
        assert!(matches!(
            d("2001:db8::/32", 8).with_relay_prefix("10.0.0.0/16".parse().unwrap()),
            Err(Error::SixRdRelayLength { .. })
        ));
    }

    proptest! {
        /// For any valid domain, any CE in the relay prefix round-trips through its
        /// delegated prefix, and every address under the delegated prefix maps to it.
        #[test]
        fn roundtrip(pfx in any::<u128>(), plen in 0u8..=64, mask in 0u8..=32, ce in any::<u32>(), low in any::<u128>()) {
            let plen = plen.min(32 + mask); // keep the delegated prefix within 64 bits
            let prefix = Ipv6Net::new(Ipv6Addr::from(pfx), plen).unwrap().trunc();
            let dom = SixRd::new(prefix, mask).unwrap().with_relay(Ipv4Addr::from(ce));
            let ce = Ipv4Addr::from(ce);
            let p = dom.delegated_prefix(ce).unwrap();
            prop_assert_eq!(p.prefix_len(), plen + 32 - mask);
            prop_assert!(prefix.contains(&p));
            prop_assert_eq!(dom.ce_ipv4_from_prefix(p).unwrap(), ce);
            let host_bits = 128 - u32::from(p.prefix_len());
            let host = if host_bits == 128 { low } else { low & ((1u128 << host_bits) - 1) };
            let a = Ipv6Addr::from(u128::from(p.addr()) | host);
            prop_assert_eq!(dom.ce_ipv4(a).unwrap(), ce);
            prop_assert!(p.contains(&dom.ce_address(ce).unwrap()));
        }
    }
}
