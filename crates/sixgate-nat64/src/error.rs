//! The translators' errors: [`ConfigError`] for a configuration that cannot work, and
//! [`Error`], what building an engine can fail with.
//!
//! Both enums are `#[non_exhaustive]`: a minor release may add a variant (a new check),
//! so a `match` on them needs a `_` arm. Each variant carries the offending value, and
//! its message names the value, the rule it breaks and what to do instead.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// A configuration value the translators refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither a pool6 prefix nor an EAM entry: no address could be translated.
    #[error("nothing to translate: set pool6 or add at least one EAM entry")]
    NothingToTranslate,
    /// An MTU below the minimum its family allows.
    #[error("{field} {value} is below the minimum of {min} ({rule}); set it to {min} or more")]
    MtuTooSmall {
        /// The setting (`ipv4_mtu`, `ipv6_mtu`, `lowest_ipv6_mtu`).
        field: &'static str,
        /// The value given.
        value: u16,
        /// The smallest value allowed.
        min: u16,
        /// The rule that sets the minimum.
        rule: &'static str,
    },
    /// A prefix given as a whole network has bits set beyond its length.
    #[error("{field} {prefix} has host bits set; use {}", prefix.trunc())]
    HostBits {
        /// The setting.
        field: &'static str,
        /// The prefix given.
        prefix: IpNet,
    },
    /// Text that should be a prefix of one family is not one.
    #[error("{value:?} is not an {family} prefix; write it as address/length")]
    NotAPrefix {
        /// The text given.
        value: String,
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
    /// Text that should be a traffic-class/TOS policy is not one.
    #[error("{value:?} is not a TOS policy; use copy, zero or a number 0-255")]
    TosPolicy {
        /// The text given.
        value: String,
    },
    /// An EAM entry whose IPv4 suffix is longer than its IPv6 suffix.
    #[error(
        "EAM {v6}={v4}: the IPv4 suffix ({bits4} bits) is longer than the IPv6 suffix ({bits6} bits), \
         which RFC 7757 §3.2 forbids; shorten the IPv6 prefix or lengthen the IPv4 one"
    )]
    EamSuffix {
        /// The IPv6 prefix.
        v6: Ipv6Net,
        /// The IPv4 prefix.
        v4: Ipv4Net,
        /// Bits of the IPv4 suffix.
        bits4: u32,
        /// Bits of the IPv6 suffix.
        bits6: u32,
    },
    /// An EAM entry whose prefixes have bits set beyond their length.
    #[error("EAM {v6}={v4}: host bits set; use {}={}", v6.trunc(), v4.trunc())]
    EamHostBits {
        /// The IPv6 prefix.
        v6: Ipv6Net,
        /// The IPv4 prefix.
        v4: Ipv4Net,
    },
    /// An EAM entry with the IPv4 or IPv6 prefix of an entry already in the table: the
    /// mapping would be ambiguous in one direction.
    #[error("EAM {v6}={v4} collides with {other_v6}={other_v4}: each prefix may appear in one entry only")]
    EamCollision {
        /// The new entry's IPv6 prefix.
        v6: Ipv6Net,
        /// The new entry's IPv4 prefix.
        v4: Ipv4Net,
        /// The existing entry's IPv6 prefix.
        other_v6: Ipv6Net,
        /// The existing entry's IPv4 prefix.
        other_v4: Ipv4Net,
    },
    /// Stateful NAT64 without a pool6 prefix (RFC 6146 §1.2: its addresses are made
    /// under one).
    #[error("stateful NAT64 needs a pool6 prefix; set pool6 (64:ff9b::/96 or a network-specific one)")]
    StatefulNeedsPool6,
    /// Stateful NAT64 with EAM entries, which only the stateless translator uses.
    #[error("stateful NAT64 takes no EAM entries ({count} given); remove them or run the stateless translator")]
    StatefulWithEam {
        /// How many entries were given.
        count: usize,
    },
    /// Stateful NAT64 without an IPv4 pool.
    #[error("stateful NAT64 needs a pool4; add at least one prefix with a port range")]
    Pool4Missing,
    /// A pool4 entry whose port range is empty.
    #[error("pool4 {prefix}: port range {first}-{last} is empty; the first port must not exceed the last")]
    Pool4EmptyRange {
        /// The entry's addresses.
        prefix: Ipv4Net,
        /// Its first port.
        first: u16,
        /// Its last port.
        last: u16,
    },
    /// A pool4 entry touching addresses a translator must not use (RFC 7915 §4.1,
    /// applied by RFC 6146 §3.5).
    #[error("pool4 {prefix} is not usable unicast space (RFC 7915 §4.1); use global unicast addresses")]
    Pool4Forbidden {
        /// The entry's addresses.
        prefix: Ipv4Net,
    },
    /// Two pool4 entries sharing addresses.
    #[error("pool4 {prefix} overlaps pool4 {other}; give each address once")]
    Pool4Overlap {
        /// The entry.
        prefix: Ipv4Net,
        /// The entry it overlaps.
        other: Ipv4Net,
    },
    /// A pool4 of more addresses than the tables address.
    #[error("pool4 holds {addresses} addresses, more than the {max} allowed; use fewer or shorter prefixes")]
    Pool4TooLarge {
        /// Addresses given.
        addresses: u64,
        /// The most allowed.
        max: u64,
    },
    /// A session limit of zero.
    #[error("{field} is 0; a session limit must be at least 1")]
    ZeroLimit {
        /// The setting (`max_sessions`, `max_sessions_per_source`).
        field: &'static str,
    },
    /// More sessions per source than one pool address has ports.
    #[error("max_sessions_per_source {value} is above {max}, the ports of one pool address; lower it")]
    SessionsPerSourceTooLarge {
        /// The value given.
        value: usize,
        /// The most allowed.
        max: usize,
    },
    /// A pool4 port range too small to give each shard a port.
    #[error("pool4 {prefix} ports {first}-{last}: fewer ports than the {shards} shards; widen the range or use fewer shards")]
    TooFewPortsForShards {
        /// The entry's addresses.
        prefix: Ipv4Net,
        /// Its first port.
        first: u16,
        /// Its last port.
        last: u16,
        /// Shards asked for.
        shards: usize,
    },
    /// A subscriber prefix length out of range: 56 to 128, and in deterministic mode no
    /// shorter than the subscriber prefix and at most 32 bits longer.
    #[error("{}", subscriber_len_msg(*len, subscribers))]
    SubscriberPrefixLen {
        /// The length given (`block_prefix_len`).
        len: u8,
        /// The subscriber prefix (deterministic mode).
        subscribers: Option<Ipv6Net>,
    },
    /// A port block (or deterministic port range) larger than a pool4 entry's ports.
    #[error("port_block {size}: larger than pool4 {prefix} ports {first}-{last}; lower port_block or widen the range")]
    BlockTooLarge {
        /// Ports per block.
        size: u16,
        /// The entry's addresses.
        prefix: Ipv4Net,
        /// Its first port.
        first: u16,
        /// Its last port.
        last: u16,
    },
    /// A port block size that does not divide a pool4 entry's port range.
    #[error("port_block {size} does not divide pool4 {prefix} ports {first}-{last} ({} ports); pick a divisor of it or change the range", u32::from(*last - *first) + 1)]
    BlockSizeNotDividing {
        /// Ports per block.
        size: u16,
        /// The entry's addresses.
        prefix: Ipv4Net,
        /// Its first port.
        first: u16,
        /// Its last port.
        last: u16,
    },
    /// Deterministic mapping: pool4 has room for fewer subscribers than the prefix holds.
    #[error("deterministic: {subscribers} subscribers of port_block {ports} ports need more than pool4 holds (room for {room}); add pool4 addresses, lower port_block or lengthen the subscriber prefix")]
    DeterministicTooSmall {
        /// Subscribers in the subscriber prefix.
        subscribers: u64,
        /// Subscribers pool4 has room for.
        room: u64,
        /// Ports per subscriber.
        ports: u16,
    },
    /// Deterministic mapping asked of a translator cut into several shards (queues).
    #[error("deterministic = true with {shards} queues: a subscriber's fixed port range cannot be split between queues; set queues = 1")]
    DeterministicSharded {
        /// Shards asked for.
        shards: usize,
    },
    /// Deterministic mapping with `instance = "k/n"`: the mapping is computed over the
    /// whole pool4, so it cannot be cut between gateways.
    #[error("deterministic = true with instance {k}/{n}: the RFC 7422 mapping spans the whole pool4 and cannot be cut between gateways; remove instance and give each gateway its own subscribers prefix and pool4")]
    DeterministicInstance {
        /// This instance.
        k: u32,
        /// Instances.
        n: u32,
    },
    /// Deterministic mapping without a subscriber prefix.
    #[error(
        "deterministic = true needs subscribers = \"PREFIX\" (the IPv6 prefix the subscriber prefixes are cut from)"
    )]
    SubscribersMissing,
    /// An `instance` that is not `k/n` with 1 ≤ k ≤ n.
    #[error("instance {text:?}: not k/n with 1 <= k <= n (e.g. \"1/2\" for the first of two gateways)")]
    BadInstance {
        /// What was given.
        text: String,
    },
    /// More instances than pool4 addresses: each instance needs addresses of its own, so
    /// that IPv4 routes reach it.
    #[error("instance {k}/{n}: pool4 has {addresses} address(es), fewer than the {n} instances; give pool4 at least one address per instance")]
    InstanceTooFewAddresses {
        /// This instance.
        k: u32,
        /// Instances.
        n: u32,
        /// Addresses in pool4.
        addresses: u64,
    },
}

fn subscriber_len_msg(len: u8, subscribers: &Option<Ipv6Net>) -> String {
    match subscribers {
        None => format!("block_prefix_len {len}: must be 56 to 128"),
        Some(s) => format!(
            "block_prefix_len {len}: must be 56 to 128, at least the length of subscribers {s} and at most 32 more"
        ),
    }
}

impl ConfigError {
    /// [`ConfigError::HostBits`] for an IPv4 prefix.
    pub(crate) fn host_bits_v4(field: &'static str, prefix: Ipv4Net) -> Self {
        Self::HostBits { field, prefix: IpNet::V4(prefix) }
    }

    /// [`ConfigError::HostBits`] for an IPv6 prefix.
    pub(crate) fn host_bits_v6(field: &'static str, prefix: Ipv6Net) -> Self {
        Self::HostBits { field, prefix: IpNet::V6(prefix) }
    }
}

/// What building a translator can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value the translator refuses.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A bad RFC 6052 prefix.
    #[error(transparent)]
    Rfc6052(#[from] sixgate_core::rfc6052::Rfc6052Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Nat64Config, Pool4Range, SiitConfig, TosPolicy};

    fn siit() -> SiitConfig {
        let mut c = SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
        c.pool6 = Some("2001:db8:64::/96".parse().unwrap());
        c
    }

    fn stateful(pool4: &[(&str, u16, u16)]) -> Nat64Config {
        let pool4 = pool4.iter().map(|&(p, a, b)| Pool4Range::new(p.parse().unwrap(), a, b)).collect();
        Nat64Config::new(
            "64:ff9b::/96".parse().unwrap(),
            pool4,
            "192.0.2.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        )
    }

    #[test]
    fn each_stateless_refusal_is_its_own_variant_naming_the_value() {
        let mut c = SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
        assert_eq!(c.validate(), Err(ConfigError::NothingToTranslate));
        c = siit();
        c.ipv6_mtu = 1279;
        let e = c.validate().unwrap_err();
        assert_eq!(e, ConfigError::MtuTooSmall { field: "ipv6_mtu", value: 1279, min: 1280, rule: "RFC 8200 §5" });
        assert_eq!(e.to_string(), "ipv6_mtu 1279 is below the minimum of 1280 (RFC 8200 §5); set it to 1280 or more");
        c = siit();
        c.ipv4_mtu = 67;
        assert!(matches!(c.validate(), Err(ConfigError::MtuTooSmall { field: "ipv4_mtu", value: 67, min: 68, .. })));
        c = siit();
        c.rfc6791_v4 = Some("198.51.100.1/24".parse().unwrap());
        let e = c.validate().unwrap_err();
        assert!(matches!(e, ConfigError::HostBits { field: "rfc6791_v4", .. }));
        assert!(e.to_string().ends_with("use 198.51.100.0/24"), "{e}");
        assert!(matches!(c.add_eam("2001:db8::/120", "nonsense"), Err(ConfigError::NotAPrefix { family: "IPv4", .. })));
        assert!(matches!(
            c.add_eam("2001:db8::/124", "198.51.100.0/24"),
            Err(ConfigError::EamSuffix { bits4: 8, bits6: 4, .. })
        ));
        c.add_eam("2001:db8::/120", "198.51.100.0/24").unwrap();
        assert!(matches!(c.add_eam("2001:db8::/120", "203.0.113.0/24"), Err(ConfigError::EamCollision { .. })));
        assert_eq!("fast".parse::<TosPolicy>(), Err(ConfigError::TosPolicy { value: "fast".into() }));
    }

    #[test]
    fn each_stateful_refusal_is_its_own_variant_naming_the_value() {
        assert_eq!(stateful(&[]).validate(), Err(ConfigError::Pool4Missing));
        assert!(matches!(
            stateful(&[("198.51.100.0/30", 2000, 1000)]).validate(),
            Err(ConfigError::Pool4EmptyRange { first: 2000, last: 1000, .. })
        ));
        assert!(matches!(stateful(&[("127.0.0.0/30", 1, 65535)]).validate(), Err(ConfigError::Pool4Forbidden { .. })));
        let e = stateful(&[("198.51.100.0/24", 1, 65535), ("198.51.100.8/30", 1, 65535)]).validate().unwrap_err();
        assert_eq!(
            e,
            ConfigError::Pool4Overlap {
                prefix: "198.51.100.0/24".parse().unwrap(),
                other: "198.51.100.8/30".parse().unwrap()
            }
        );
        // The same prefix twice overlaps itself.
        assert!(matches!(
            stateful(&[("198.51.100.0/30", 1, 65535), ("198.51.100.0/30", 1, 65535)]).validate(),
            Err(ConfigError::Pool4Overlap { .. })
        ));
        assert_eq!(
            stateful(&[("198.51.100.0/24", 1, 65535), ("203.0.113.0/24", 1, 65535)]).validate(),
            Ok(()),
            "disjoint prefixes are fine"
        );
        let mut c = stateful(&[("198.51.100.0/30", 1, 65535)]);
        c.max_sessions_per_source = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroLimit { field: "max_sessions_per_source" }));
        c.max_sessions_per_source = 65536;
        assert_eq!(c.validate(), Err(ConfigError::SessionsPerSourceTooLarge { value: 65536, max: 65535 }));
        let mut c = stateful(&[("198.51.100.0/30", 1, 65535)]);
        c.xlate.add_eam("2001:db8::/120", "203.0.113.0/24").unwrap();
        assert_eq!(c.validate(), Err(ConfigError::StatefulWithEam { count: 1 }));
        let e = crate::Nat64Shards::new(stateful(&[("198.51.100.0/30", 1000, 1001)]), 4).unwrap_err();
        assert!(matches!(e, Error::Config(ConfigError::TooFewPortsForShards { shards: 4, .. })), "{e:?}");
    }
}
