//! Configuration of a tunnel endpoint.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use sixgate_core::class::is_global_v4;
use sixgate_core::rfc6052::sixtofour_prefix;

/// The deprecated 6to4 relay anycast address (RFC 3068), withdrawn by RFC 7526.
pub const DEPRECATED_ANYCAST_RELAY: Ipv4Addr = Ipv4Addr::new(192, 88, 99, 1);

/// The smallest MTU IPv6 may be offered (RFC 8200 §5).
pub const IPV6_MIN_MTU: u16 = 1280;

/// How the far end of the tunnel is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A configured (point-to-point) tunnel, RFC 4213 §3: everything goes to `remote`, and
    /// only packets from `remote` are accepted.
    Static {
        /// The remote endpoint's IPv4 address.
        remote: Ipv4Addr,
    },
    /// 6to4 (RFC 3056, with the RFC 3964 security checks): a 2002::/16 destination is sent
    /// to the IPv4 address it embeds, any other destination to `relay`.
    SixToFour {
        /// The 6to4 relay for native IPv6 destinations (none: such packets are dropped).
        relay: Option<Ipv4Addr>,
    },
}

/// What happens to the ECN field (RFC 6040).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EcnMode {
    /// RFC 6040 §4.1 normal mode: the outer ECN field is a copy of the inner one.
    #[default]
    Normal,
    /// RFC 6040 §4.1 compatibility mode: the outer ECN field is Not-ECT.
    Compatibility,
}

/// ICMPv6 error rate limit (RFC 4443 §2.4(f)): a token bucket, shared with the
/// translator; a tunnel's default is [`IcmpRateLimit::SIT_DEFAULT`].
pub use sixgate_core::ratelimit::IcmpRateLimit;

/// A tunnel configuration value the endpoint refuses. Each variant carries the value; its
/// message names the value, the rule and what to set instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An endpoint or relay address that is not a unicast address.
    #[error("{role} address {addr} is not a unicast address; give the {role} endpoint's unicast IPv4 address")]
    NotUnicast {
        /// `local`, `remote` or `relay`.
        role: &'static str,
        /// The address given.
        addr: Ipv4Addr,
    },
    /// An outer TTL of zero: every outer packet would expire at the first router.
    #[error("ttl 0 would make every outer packet expire; set a ttl of 1-255 (64 is the default)")]
    ZeroTtl,
    /// A link MTU below the IPv4 minimum (RFC 791: 68).
    #[error("link MTU {0} is below the IPv4 minimum of 68 (RFC 791); set link_mtu to the outer link's MTU")]
    LinkMtuTooSmall(u16),
    /// A tunnel MTU below the IPv6 minimum (RFC 4213 §3.2, RFC 8200 §5: 1280).
    #[error("tunnel MTU {0} is below the IPv6 minimum of 1280 (RFC 4213 §3.2); raise mtu or link_mtu")]
    TunnelMtuTooSmall(u16),
    /// A tunnel MTU that leaves no room for the 20-byte outer header in 65535 bytes.
    #[error("tunnel MTU {0} leaves no room for the 20-byte outer header; set mtu to 65515 or less")]
    TunnelMtuTooLarge(u16),
    /// A path-MTU table of no entries.
    #[error("pmtu_entries is 0; the path-MTU table needs at least 1 entry")]
    ZeroPmtuEntries,
    /// 6to4 on an address that is not global (RFC 3964 §5.1).
    #[error("6to4 needs a global IPv4 address (RFC 3964 §5.1); {0} is not: use a static tunnel or a global address")]
    SixToFourNotGlobal(Ipv4Addr),
}

/// Configuration of a [`SitTunnel`](crate::SitTunnel).
///
/// ```
/// use sixgate_6in4::{Mode, SitConfig};
/// let cfg = SitConfig::new_static(
///     "192.0.2.1".parse().unwrap(),
///     "198.51.100.1".parse().unwrap(),
///     "2001:db8:ffff::1".parse().unwrap(),
/// );
/// assert_eq!(cfg.tunnel_mtu(), 1480);
/// cfg.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SitConfig {
    /// The local IPv4 endpoint (outer source).
    pub local: Ipv4Addr,
    /// Static or 6to4.
    pub mode: Mode,
    /// The endpoint's IPv6 address: the source of the Packet Too Big messages it sends.
    pub address: Ipv6Addr,
    /// Outer TTL (RFC 4213 §3.3) [default: 64].
    pub ttl: u8,
    /// Copy the inner DSCP into the outer header (RFC 2983 uniform model); otherwise the
    /// outer DSCP is 0 [default: false].
    pub copy_dscp: bool,
    /// ECN handling (RFC 6040) [default: normal mode].
    pub ecn: EcnMode,
    /// MTU of the IPv4 link the outer packets leave by [default: 1500].
    pub link_mtu: u16,
    /// The tunnel MTU offered to IPv6; `None` means `link_mtu − 20` (RFC 4213 §3.2).
    pub mtu: Option<u16>,
    /// How long a path MTU learned from ICMPv4 lasts (RFC 1191 §6.3) [default: 10 min].
    pub pmtu_expiry: Duration,
    /// Most destinations with a learned path MTU (the table never grows beyond it).
    pub pmtu_entries: usize,
    /// Rate limit of the Packet Too Big messages the endpoint sends.
    pub icmp_rate: IcmpRateLimit,
}

impl SitConfig {
    /// A configured tunnel from `local` to `remote`, with the defaults.
    pub fn new_static(local: Ipv4Addr, remote: Ipv4Addr, address: Ipv6Addr) -> Self {
        Self::with_mode(local, Mode::Static { remote }, address)
    }

    /// A 6to4 endpoint on `local`; its address is `2002:<local>::1`.
    pub fn new_6to4(local: Ipv4Addr, relay: Option<Ipv4Addr>) -> Self {
        let net = sixtofour_prefix(local).network();
        let address = Ipv6Addr::from(u128::from(net) | 1);
        Self::with_mode(local, Mode::SixToFour { relay }, address)
    }

    fn with_mode(local: Ipv4Addr, mode: Mode, address: Ipv6Addr) -> Self {
        Self {
            local,
            mode,
            address,
            ttl: sixgate_core::router::DEFAULT_IPV4_TTL,
            copy_dscp: false,
            ecn: EcnMode::Normal,
            link_mtu: 1500,
            mtu: None,
            pmtu_expiry: Duration::from_secs(600),
            pmtu_entries: 4096,
            icmp_rate: IcmpRateLimit::SIT_DEFAULT,
        }
    }

    /// The tunnel MTU offered to IPv6.
    pub fn tunnel_mtu(&self) -> u16 {
        self.mtu.unwrap_or(self.link_mtu.saturating_sub(20))
    }

    /// Checks the values; the error names the bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let unicast = |role, addr: Ipv4Addr| {
            if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() {
                return Err(ConfigError::NotUnicast { role, addr });
            }
            Ok(())
        };
        unicast("local", self.local)?;
        if self.ttl == 0 {
            return Err(ConfigError::ZeroTtl);
        }
        if self.link_mtu < 68 {
            return Err(ConfigError::LinkMtuTooSmall(self.link_mtu));
        }
        let mtu = self.tunnel_mtu();
        // RFC 4213 §3.2: the tunnel never offers IPv6 less than 1280 bytes.
        if mtu < IPV6_MIN_MTU {
            return Err(ConfigError::TunnelMtuTooSmall(mtu));
        }
        if usize::from(mtu) + 20 > usize::from(u16::MAX) {
            return Err(ConfigError::TunnelMtuTooLarge(mtu));
        }
        if self.pmtu_entries == 0 {
            return Err(ConfigError::ZeroPmtuEntries);
        }
        match self.mode {
            Mode::Static { remote } => unicast("remote", remote)?,
            Mode::SixToFour { relay } => {
                // RFC 3964 §5.1: 6to4 needs a global IPv4 address.
                if !is_global_v4(self.local) {
                    return Err(ConfigError::SixToFourNotGlobal(self.local));
                }
                if let Some(r) = relay {
                    unicast("relay", r)?;
                }
            }
        }
        Ok(())
    }

    /// Warnings about a valid but questionable configuration (for the operator's log).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Mode::SixToFour { relay } = self.mode {
            match relay {
                Some(DEPRECATED_ANYCAST_RELAY) => w.push(
                    "relay 192.88.99.1 is the 6to4 anycast relay address, deprecated by RFC 7526; \
                     configure a specific relay"
                        .to_owned(),
                ),
                None => w.push("no 6to4 relay: packets to native IPv6 destinations are dropped".to_owned()),
                Some(_) => {}
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tunnel_limits_its_icmp_errors_to_100_per_second_in_bursts_of_20() {
        let c = SitConfig::new_static(
            "192.0.2.1".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        );
        assert_eq!(c.icmp_rate, IcmpRateLimit::new(100, 20));
        assert_eq!(c.icmp_rate, IcmpRateLimit::SIT_DEFAULT);
    }
}

#[cfg(test)]
mod config_error_tests {
    use super::*;

    #[test]
    fn each_refusal_is_its_own_variant_naming_the_value() {
        let (a, b) = ("192.0.2.1".parse().unwrap(), "198.51.100.1".parse().unwrap());
        let mut c = SitConfig::new_static(a, b, "2001:db8::1".parse().unwrap());
        c.link_mtu = 1299;
        let e = c.validate().unwrap_err();
        assert_eq!(e, ConfigError::TunnelMtuTooSmall(1279));
        assert!(e.to_string().contains("1280 (RFC 4213 §3.2)"), "{e}");
        c.link_mtu = 60;
        assert_eq!(c.validate(), Err(ConfigError::LinkMtuTooSmall(60)));
        let c = SitConfig::new_static(a, Ipv4Addr::BROADCAST, "2001:db8::1".parse().unwrap());
        assert_eq!(c.validate(), Err(ConfigError::NotUnicast { role: "remote", addr: Ipv4Addr::BROADCAST }));
        let c = SitConfig::new_6to4("10.0.0.1".parse().unwrap(), None);
        assert_eq!(c.validate(), Err(ConfigError::SixToFourNotGlobal("10.0.0.1".parse().unwrap())));
        let mut c = SitConfig::new_static(a, b, "2001:db8::1".parse().unwrap());
        c.ttl = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroTtl));
    }
}
