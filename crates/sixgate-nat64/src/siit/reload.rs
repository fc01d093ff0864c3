//! [`Siit::reconfigure`]: the stateless translator takes a new configuration live.

use crate::reload::{siit_changes, ReloadReport};
use crate::{ConfigError, Error, SiitConfig};

use super::Siit;

impl Siit {
    /// Takes `new` live: validated first (a config that fails changes nothing and comes
    /// back as its [`ConfigError`]), then applied as a whole between two packets. Every
    /// setting of the stateless translator is stateless (RFC 7915 and RFC 7757 map each
    /// packet on its own), so every one changes at once: pool6, EAM entries, the
    /// denylist, own addresses, RFC 6791 pools, MTUs, TOS policies, the ICMP rate. What
    /// the engine holds survives: counters, the ICMP rate-limit bucket (its tokens; a
    /// lowered burst caps it at the next error), the IPv4 identification sequence, and
    /// the fragments of a packet still to come out of `poll_transmit`.
    pub fn reconfigure(&mut self, new: SiitConfig) -> Result<ReloadReport, ConfigError> {
        let mut r = ReloadReport::default();
        siit_changes(&self.cfg, &new, &mut r);
        new.validate()?;
        let mut fresh = match Self::new(new) {
            Ok(s) => s,
            Err(Error::Config(e)) => return Err(e),
            // Not reached: building a translator from a validated config cannot fail.
            Err(Error::Rfc6052(_)) => return Err(ConfigError::NothingToTranslate),
        };
        std::mem::swap(&mut self.counters, &mut fresh.counters);
        std::mem::swap(&mut self.bucket, &mut fresh.bucket);
        std::mem::swap(&mut self.pending, &mut fresh.pending);
        std::mem::swap(&mut self.scratch, &mut fresh.scratch);
        fresh.next_id = self.next_id;
        fresh.suppressed = self.suppressed;
        *self = fresh;
        Ok(r)
    }
}
