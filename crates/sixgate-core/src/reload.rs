//! What an engine's `reconfigure` did: the one report every engine returns when it
//! takes a new configuration live.
//!
//! ```
//! use sixgate_core::reload::ReloadReport;
//! let mut r = ReloadReport::default();
//! assert!(r.is_unchanged());
//! r.mark_changed("ipv6_mtu");
//! r.mark_restart("pool6");
//! assert_eq!((r.changed.as_slice(), r.needs_restart.as_slice()), (&["ipv6_mtu"][..], &["pool6"][..]));
//! ```

/// What a `reconfigure` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadReport {
    /// Settings whose new value is in force now, by their configuration names
    /// (`pool4`, `timers`, `ipv6_mtu`, …), each once.
    pub changed: Vec<&'static str>,
    /// Settings whose new value differs but was not applied: the running value stays
    /// until the engine is built anew. Each once.
    pub needs_restart: Vec<&'static str>,
    /// Sessions ended by the new configuration (stateful NAT64: their IPv4 transport
    /// address left pool4); 0 for stateless engines.
    pub sessions_ended: usize,
    /// BIB entries ended with them (stateful NAT64); 0 for stateless engines.
    pub bib_ended: usize,
}

impl ReloadReport {
    /// Whether the new configuration was the running one (nothing changed, nothing
    /// needs a restart).
    pub fn is_unchanged(&self) -> bool {
        self.changed.is_empty() && self.needs_restart.is_empty()
    }

    /// Notes that `name` changed.
    pub fn mark_changed(&mut self, name: &'static str) {
        if !self.changed.contains(&name) {
            self.changed.push(name);
        }
    }

    /// Notes that `name` needs a restart.
    pub fn mark_restart(&mut self, name: &'static str) {
        if !self.needs_restart.contains(&name) {
            self.needs_restart.push(name);
        }
    }

    /// Notes each setting of `diffs` (name, whether it differs) that differs as changed.
    pub fn mark_changed_where(&mut self, diffs: impl IntoIterator<Item = (&'static str, bool)>) {
        for (name, differs) in diffs {
            if differs {
                self.mark_changed(name);
            }
        }
    }

    /// Adds what another engine (a shard, a part) reported.
    pub fn merge(&mut self, o: Self) {
        for c in o.changed {
            self.mark_changed(c);
        }
        for r in o.needs_restart {
            self.mark_restart(r);
        }
        self.sessions_ended += o.sessions_ended;
        self.bib_ended += o.bib_ended;
    }
}
