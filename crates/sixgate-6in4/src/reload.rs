//! [`SitTunnel::reconfigure`]: the tunnel endpoint takes a new configuration live.
//!
//! (A child of the `sit` module, so that it reaches the endpoint's fields.)

use sixgate_core::reload::ReloadReport;

use super::{PathMtu, SitTunnel};
use crate::{ConfigError, Error, Mode, SitConfig};

impl SitTunnel {
    /// Takes `new` live, between two packets. `new` is validated first: one that fails
    /// changes nothing and comes back as its [`ConfigError`]. Otherwise every setting
    /// changes at once except the endpoint's identity, which needs a restart (reported
    /// in [`ReloadReport::needs_restart`], the running value kept):
    ///
    /// * **`local`**: the IPv4 address the host's routes, its raw socket and (in 6to4
    ///   mode) the site's 2002:&lt;local&gt;::/48 prefix (RFC 3056 §2) were set up for,
    ///   outside the engine; changing only the engine would send from, or accept for, an
    ///   address the host may not have.
    /// * **`mode`** between static and 6to4: the IPv6 side's address and routes differ
    ///   (a configured tunnel's routes against 2002::/16 and a relay), also outside.
    ///
    /// Live: a static tunnel's `remote` (RFC 4213 §3: the only state tied to it is the
    /// path MTU learned for it, kept per destination until it expires) and a 6to4
    /// `relay`; `address`, `ttl`, `copy_dscp`, `ecn`, `link_mtu` and `mtu` (from the next
    /// packet); the ICMP rate (the bucket keeps its tokens); `pmtu_expiry` for path MTUs
    /// learned from now on (RFC 1191 §6.3: an estimate's timer starts when it is
    /// learned); `pmtu_entries` at once (a lowered one lets go of the entries that would
    /// expire first). What the endpoint holds survives: counters, learned path MTUs,
    /// the rate-limit bucket, the IPv4 identification sequence and fragments still to
    /// come out of `poll_transmit`.
    pub fn reconfigure(&mut self, new: SitConfig) -> Result<ReloadReport, ConfigError> {
        new.validate()?;
        let old = &self.cfg;
        let mut r = ReloadReport::default();
        let mut cfg = new;
        if cfg.local != old.local {
            r.mark_restart("local");
            cfg.local = old.local;
        }
        match (old.mode, cfg.mode) {
            (Mode::Static { remote: a }, Mode::Static { remote: b }) => r.mark_changed_where([("remote", a != b)]),
            (Mode::SixToFour { relay: a }, Mode::SixToFour { relay: b }) => r.mark_changed_where([("relay", a != b)]),
            _ => {
                r.mark_restart("mode");
                cfg.mode = old.mode;
            }
        }
        r.mark_changed_where([
            ("address", old.address != cfg.address),
            ("ttl", old.ttl != cfg.ttl),
            ("copy_dscp", old.copy_dscp != cfg.copy_dscp),
            ("ecn", old.ecn != cfg.ecn),
            ("link_mtu", old.link_mtu != cfg.link_mtu),
            ("mtu", old.mtu != cfg.mtu),
            ("pmtu_expiry", old.pmtu_expiry != cfg.pmtu_expiry),
            ("pmtu_entries", old.pmtu_entries != cfg.pmtu_entries),
            ("icmp_rate", old.icmp_rate != cfg.icmp_rate),
        ]);
        // With the running endpoint kept, checked again before anything changes.
        let mut fresh = match Self::new(cfg) {
            Ok(t) => t,
            Err(Error::Config(e)) => return Err(e),
        };
        std::mem::swap(&mut self.counters, &mut fresh.counters);
        std::mem::swap(&mut self.bucket, &mut fresh.bucket);
        std::mem::swap(&mut self.pmtu, &mut fresh.pmtu);
        std::mem::swap(&mut self.pending, &mut fresh.pending);
        std::mem::swap(&mut self.scratch, &mut fresh.scratch);
        fresh.next_id = self.next_id;
        fresh.suppressed = self.suppressed;
        while fresh.pmtu.len() > fresh.cfg.pmtu_entries {
            let Some(k) = fresh.pmtu.iter().min_by_key(|(_, e): &(_, &PathMtu)| e.expires).map(|(k, _)| *k) else {
                break;
            };
            fresh.pmtu.remove(&k);
        }
        fresh.next_expiry = fresh.pmtu.values().map(|e| e.expires).min();
        fresh.pmtu_version = self.pmtu_version.wrapping_add(1);
        *self = fresh;
        Ok(r)
    }
}
