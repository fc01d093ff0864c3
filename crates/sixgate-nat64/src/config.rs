//! Configuration of the stateless translator.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{Ipv4Net, Ipv6Net};
use sixgate_core::rfc6052::Pool6;

use crate::eamt::{Eam, Eamt};
use crate::error::ConfigError;

/// What to write in the IPv6 Traffic Class (4→6) or the IPv4 TOS (6→4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TosPolicy {
    /// Copy the other header's value (RFC 7915 §4.1 / §5.1 default).
    #[default]
    Copy,
    /// Set it to zero (the RFC's configurable alternative).
    Zero,
    /// Set it to this value.
    Force(u8),
}

impl TosPolicy {
    #[inline]
    pub(crate) fn apply(self, v: u8) -> u8 {
        match self {
            Self::Copy => v,
            Self::Zero => 0,
            Self::Force(x) => x,
        }
    }
}

impl FromStr for TosPolicy {
    type Err = ConfigError;
    /// `copy`, `zero`, or a number 0–255 (decimal or `0x` hex).
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim() {
            "copy" => Ok(Self::Copy),
            "zero" => Ok(Self::Zero),
            t => {
                let v = match t.strip_prefix("0x") {
                    Some(h) => u8::from_str_radix(h, 16),
                    None => t.parse::<u8>(),
                };
                v.map(Self::Force).map_err(|_| ConfigError::TosPolicy { value: s.to_owned() })
            }
        }
    }
}

/// ICMP error rate limit (RFC 4443 §2.4(f), RFC 1812 §4.3.2.8): a token bucket, shared
/// with the tunnel endpoint; a translator's default is [`IcmpRateLimit::NAT64_DEFAULT`].
pub use sixgate_core::ratelimit::IcmpRateLimit;

/// Configuration of a [`Siit`](crate::Siit) translator.
///
/// ```
/// use sixgate_nat64::SiitConfig;
/// let mut cfg = SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
/// cfg.pool6 = Some("2001:db8:64::/96".parse().unwrap());
/// cfg.add_eam("2001:db8:1::/120", "198.51.100.0/24").unwrap();
/// cfg.validate().unwrap();
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SiitConfig {
    /// The RFC 6052 translation prefix (none: EAM only).
    pub pool6: Option<Pool6>,
    /// Explicit Address Mappings (RFC 7757).
    pub eamt: Eamt,
    /// The translator's own IPv4 address: source of the ICMPv4 errors it generates.
    pub own_ipv4: Ipv4Addr,
    /// The translator's own IPv6 address: source of the ICMPv6 errors it generates.
    pub own_ipv6: Ipv6Addr,
    /// RFC 6791 pool: IPv4 sources for translated ICMPv6 errors whose IPv6 source cannot
    /// be translated (none: the translator's own IPv4 address is used).
    pub rfc6791_v4: Option<Ipv4Net>,
    /// IPv6 sources for translated ICMPv4 errors whose IPv4 source cannot be translated
    /// (none: the translator's own IPv6 address is used).
    pub rfc6791_v6: Option<Ipv6Net>,
    /// MTU of the IPv4-side link.
    pub ipv4_mtu: u16,
    /// MTU of the IPv6-side link.
    pub ipv6_mtu: u16,
    /// The lowest MTU in the IPv6 domain (RFC 7915 §4.1, ≥ 1280): DF-clear IPv4 packets are
    /// fragmented so the IPv6 fragments fit in it.
    pub lowest_ipv6_mtu: u16,
    /// Compute the checksum of unfragmented IPv4 UDP packets that carry none (RFC 7915
    /// §4.5); when off they are refused with ICMPv4 "administratively prohibited".
    pub amend_udp_checksum_zero: bool,
    /// IPv4 TOS → IPv6 Traffic Class.
    pub traffic_class: TosPolicy,
    /// IPv6 Traffic Class → IPv4 TOS.
    pub tos: TosPolicy,
    /// IPv4 prefixes never translated through pool6 (EAM entries still apply).
    pub denylist4: Vec<Ipv4Net>,
    /// ICMP error rate limit.
    pub icmp_rate: IcmpRateLimit,
    /// Answer ICMP echo requests addressed to the translator's own addresses.
    pub answer_pings: bool,
}

impl SiitConfig {
    /// A configuration with the given own addresses, no pool6, no EAM, MTUs 1500, lowest
    /// IPv6 MTU 1280, everything else at the RFC defaults.
    pub fn new(own_ipv4: Ipv4Addr, own_ipv6: Ipv6Addr) -> Self {
        Self {
            pool6: None,
            eamt: Eamt::default(),
            own_ipv4,
            own_ipv6,
            rfc6791_v4: None,
            rfc6791_v6: None,
            ipv4_mtu: 1500,
            ipv6_mtu: 1500,
            lowest_ipv6_mtu: 1280,
            amend_udp_checksum_zero: false,
            traffic_class: TosPolicy::Copy,
            tos: TosPolicy::Copy,
            denylist4: Vec::new(),
            icmp_rate: IcmpRateLimit::NAT64_DEFAULT,
            answer_pings: true,
        }
    }

    /// Adds an EAM entry from text, e.g. `("2001:db8:1::/120", "198.51.100.0/24")`.
    pub fn add_eam(&mut self, v6: &str, v4: &str) -> Result<(), ConfigError> {
        let v6: Ipv6Net =
            v6.trim().parse().map_err(|_| ConfigError::NotAPrefix { value: v6.to_owned(), family: "IPv6" })?;
        let v4: Ipv4Net =
            v4.trim().parse().map_err(|_| ConfigError::NotAPrefix { value: v4.to_owned(), family: "IPv4" })?;
        self.eamt.insert(Eam::new(v6, v4)?)
    }

    /// Checks the configuration as a whole.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.pool6.is_none() && self.eamt.is_empty() {
            return Err(ConfigError::NothingToTranslate);
        }
        // RFC 8200 §5: every IPv6 link has an MTU of 1280 or more.
        let v6_min = |field, value| {
            if value < 1280 {
                return Err(ConfigError::MtuTooSmall { field, value, min: 1280, rule: "RFC 8200 §5" });
            }
            Ok(())
        };
        v6_min("ipv6_mtu", self.ipv6_mtu)?;
        v6_min("lowest_ipv6_mtu", self.lowest_ipv6_mtu)?;
        // RFC 791: every IPv4 module forwards a 68-byte datagram without fragmenting it.
        if self.ipv4_mtu < 68 {
            return Err(ConfigError::MtuTooSmall { field: "ipv4_mtu", value: self.ipv4_mtu, min: 68, rule: "RFC 791" });
        }
        if let Some(p) = self.rfc6791_v4 {
            if p.trunc() != p {
                return Err(ConfigError::host_bits_v4("rfc6791_v4", p));
            }
        }
        if let Some(p) = self.rfc6791_v6 {
            if p.trunc() != p {
                return Err(ConfigError::host_bits_v6("rfc6791_v6", p));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod icmp_rate_tests {
    use super::*;

    #[test]
    fn a_translator_limits_its_icmp_errors_to_1000_per_second_in_bursts_of_100() {
        let c = SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
        assert_eq!(c.icmp_rate, IcmpRateLimit::new(1000, 100));
        assert_eq!(c.icmp_rate, IcmpRateLimit::NAT64_DEFAULT);
    }
}
