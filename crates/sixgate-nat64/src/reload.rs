//! Taking a new configuration live: what each engine's `reconfigure` changes at once,
//! what it leaves for a restart, and what it ends.
//!
//! Every `reconfigure` validates the whole new configuration first: one that fails
//! changes nothing (the engine goes on exactly as before) and comes back as the
//! [`ConfigError`](crate::ConfigError) `new` would have failed with. A valid one is applied at once, except
//! the settings listed in [`ReloadReport::needs_restart`], which keep their running value
//! (never half-applied). The engine's state survives: sessions, BIB entries, held SYNs,
//! fragments in flight, counters and the ICMP rate-limit buckets.
//!
//! * [`crate::Siit::reconfigure`]: everything is stateless (pool6, EAM entries,
//!   denylists, own addresses, MTUs, TOS, ICMP rate), so everything is applied, at once.
//! * [`crate::Nat64::reconfigure`]: timers, limits, filtering, the ICMP rate, the
//!   session-creation budget, fragment and held-SYN limits, the translation settings
//!   and pool4 are applied; pool6 needs a restart (see there for why).
//! * [`crate::Nat64Shards::reconfigure`]: the same on every shard at once, each keeping
//!   its slice of pool4; pool4 may only shrink live, and the shard count and the seed
//!   need a restart (they decide which shard owns a packet).
//! * `Dns64::reconfigure` (feature `dns64`): every setting, at once.

pub use sixgate_core::reload::ReloadReport;

/// The stable name under which sessions and BIB entries ended by a pool4 change are
/// counted.
pub const POOL4_REMOVED: &str = "pool4-removed";

/// The stateless translator's settings that differ between `old` and `new`, by name.
pub(crate) fn siit_changes(old: &crate::SiitConfig, new: &crate::SiitConfig, r: &mut ReloadReport) {
    let eamt = |c: &crate::SiitConfig| c.eamt.entries().to_vec();
    let diffs: [(&'static str, bool); 15] = [
        ("pool6", old.pool6 != new.pool6),
        ("eamt", eamt(old) != eamt(new)),
        ("own_ipv4", old.own_ipv4 != new.own_ipv4),
        ("own_ipv6", old.own_ipv6 != new.own_ipv6),
        ("rfc6791_v4", old.rfc6791_v4 != new.rfc6791_v4),
        ("rfc6791_v6", old.rfc6791_v6 != new.rfc6791_v6),
        ("ipv4_mtu", old.ipv4_mtu != new.ipv4_mtu),
        ("ipv6_mtu", old.ipv6_mtu != new.ipv6_mtu),
        ("lowest_ipv6_mtu", old.lowest_ipv6_mtu != new.lowest_ipv6_mtu),
        ("amend_udp_checksum_zero", old.amend_udp_checksum_zero != new.amend_udp_checksum_zero),
        ("traffic_class", old.traffic_class != new.traffic_class),
        ("tos", old.tos != new.tos),
        ("denylist4", old.denylist4 != new.denylist4),
        ("icmp_rate", old.icmp_rate != new.icmp_rate),
        ("answer_pings", old.answer_pings != new.answer_pings),
    ];
    r.mark_changed_where(diffs);
}

#[cfg(feature = "dns64")]
impl crate::dns64::Dns64 {
    /// Takes `new` live. The DNS64 keeps no state between queries (each query's is in
    /// its [`Pending`](crate::dns64::Pending)), so every setting changes at once; a query
    /// asked upstream before the reload is answered under the new settings. A config
    /// that fails leaves this one as it was.
    pub fn reconfigure(&mut self, new: crate::dns64::Dns64Config) -> Result<ReloadReport, crate::dns64::Dns64Error> {
        let fresh = Self::new(new)?;
        let (o, n) = (self.config(), fresh.config());
        let mut r = ReloadReport::default();
        let diffs: [(&'static str, bool); 5] = [
            ("prefix", o.prefix != n.prefix),
            ("exclude_aaaa", o.exclude_aaaa != n.exclude_aaaa),
            ("exclude_a", o.exclude_a != n.exclude_a),
            ("synthesize_ptr", o.synthesize_ptr != n.synthesize_ptr),
            ("upstream_timeout", o.upstream_timeout != n.upstream_timeout),
        ];
        r.mark_changed_where(diffs);
        *self = fresh;
        Ok(r)
    }
}
