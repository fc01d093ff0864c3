//! `fast_path = "bpf"`: the kernel fast path (`sixgate_bpf`) of `nat64 run` (stateless
//! mode) and `tunnel run`, beside the TUN path.
//!
//! The TUN path stays the complete implementation: the TC-BPF programs translate (or
//! encapsulate) the common packet classes in the kernel and hand everything else, unchanged,
//! to the engine. When the fast path cannot start (a binary built without the `bpf` feature,
//! a kernel without TC-BPF, no privileges, an interface that does not exist, a configuration
//! it does not handle) the daemon says so in one line and runs on the TUN path alone. On
//! SIGHUP the programs' maps are rewritten in place; the counters line and the metrics show
//! the packets the fast path forwarded and those it punted, by reason.

use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use sixgate_bpf::{BpfError, FastPathCounters, SiitFastPath, SitFastPath};

use crate::daemon::log;

/// The `fast_path` and `fast_path_interfaces` keys, checked: `None` for no fast path (the
/// default, or `fast_path = "none"`), otherwise the interfaces to attach to.
pub(crate) fn choice(kind: Option<&str>, interfaces: &[String]) -> Result<Option<Vec<String>>, String> {
    match kind {
        None | Some("none") => {
            if interfaces.is_empty() {
                Ok(None)
            } else {
                Err("fast_path_interfaces: given without fast_path = \"bpf\"".to_string())
            }
        }
        Some("bpf") => {
            if interfaces.is_empty() {
                return Err("fast_path = \"bpf\" needs fast_path_interfaces, the interfaces the packets arrive on \
                            (e.g. [\"eth0\"])"
                    .to_string());
            }
            if let Some(bad) = interfaces.iter().find(|i| i.is_empty() || i.len() > 15 || i.contains('/')) {
                return Err(format!("fast_path_interfaces: {bad:?} is not an interface name"));
            }
            Ok(Some(interfaces.to_vec()))
        }
        Some(other) => Err(format!("fast_path {other:?}: expected \"bpf\" or \"none\"")),
    }
}

/// What the daemons need of a loaded fast path.
pub(crate) trait Accelerator: Send + 'static {
    /// The engine configuration its maps are filled from.
    type Config;
    /// Its counters since load.
    fn counters(&self) -> Result<FastPathCounters, BpfError>;
    /// Rewrites its maps from `cfg`, in place.
    fn reconfigure(&mut self, cfg: &Self::Config) -> Result<(), BpfError>;
}

impl Accelerator for SiitFastPath {
    type Config = sixgate_nat64::SiitConfig;
    fn counters(&self) -> Result<FastPathCounters, BpfError> {
        Self::counters(self)
    }
    fn reconfigure(&mut self, cfg: &Self::Config) -> Result<(), BpfError> {
        Self::reconfigure(self, cfg)
    }
}

impl Accelerator for SitFastPath {
    type Config = sixgate_6in4::SitConfig;
    fn counters(&self) -> Result<FastPathCounters, BpfError> {
        Self::counters(self)
    }
    fn reconfigure(&mut self, cfg: &Self::Config) -> Result<(), BpfError> {
        Self::reconfigure(self, cfg)
    }
}

/// A daemon's fast path: running, or not (then every method does nothing). Cloned handles
/// share it; the programs stay attached until the last handle goes (the daemon's exit).
pub(crate) struct FastPath<A> {
    inner: Arc<Mutex<Option<A>>>,
}

impl<A> Clone for FastPath<A> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<A: Accelerator> FastPath<A> {
    /// No fast path (yet: [`FastPath::start`] starts it).
    pub(crate) fn off() -> Self {
        Self { inner: Arc::new(Mutex::new(None)) }
    }

    /// Starts the fast path by `start` when `interfaces` asks for one, logging one line either
    /// way: where it is attached, or why the daemon goes on with the TUN path alone.
    pub(crate) fn start(&self, interfaces: Option<&[String]>, start: impl FnOnce(&[&str]) -> Result<A, BpfError>) {
        let Some(interfaces) = interfaces else { return };
        let names: Vec<&str> = interfaces.iter().map(String::as_str).collect();
        match start(&names) {
            Ok(a) => {
                log!(
                    "sixgate: fast path: BPF programs attached to {}; what they do not handle takes the TUN path",
                    names.join(", ")
                );
                *self.lock() = Some(a);
            }
            Err(e) => log!("sixgate: fast path: not used ({e}); every packet takes the TUN path"),
        }
    }

    /// Whether the programs are attached.
    pub(crate) fn is_on(&self) -> bool {
        self.lock().is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<A>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rewrites the maps from a reloaded configuration (which the engine has taken). When
    /// that fails the programs are detached, so that no packet is handled by the old
    /// configuration's rules: the line says so and every packet takes the TUN path.
    pub(crate) fn reconfigure(&self, cfg: &A::Config) {
        let mut slot = self.lock();
        if let Some(Err(e)) = slot.as_mut().map(|a| a.reconfigure(cfg)) {
            *slot = None;
            log!("sixgate: SIGHUP: fast path stopped ({e}); every packet takes the TUN path");
        }
    }

    /// The counters, when running.
    pub(crate) fn counters(&self) -> Option<FastPathCounters> {
        self.lock().as_ref().and_then(|a| a.counters().ok())
    }

    /// The counters line's part: ` fast_path_forwarded=N fast_path_punted=N` and each
    /// non-zero punt reason as ` fast_path_punted:REASON=N`; empty without a fast path.
    pub(crate) fn line(&self) -> String {
        let Some(c) = self.counters() else { return String::new() };
        let mut s = format!(" fast_path_forwarded={} fast_path_punted={}", c.forwarded, c.punted_total());
        for (reason, n) in c.punted.iter().filter(|(_, n)| *n != 0) {
            s.push_str(&format!(" fast_path_punted:{reason}={n}"));
        }
        s
    }

    /// The metrics `sixgate_DAEMON_fast_path_forwarded_total` and
    /// `sixgate_DAEMON_fast_path_punted_total{reason}`, when running.
    pub(crate) fn collector(&self, daemon: &'static str) -> Option<Box<dyn Collector>> {
        self.is_on().then(|| Box::new(FastPathCollector { daemon, fast: self.clone() }) as Box<dyn Collector>)
    }
}

impl FastPath<SitFastPath> {
    /// Makes the encapsulation program's path-MTU map hold `entries` (the engine's learned
    /// path MTUs). When that fails the programs are detached (a packet too big for its path
    /// must reach the engine): the line says so and every packet takes the TUN path.
    pub(crate) fn set_path_mtus(&self, entries: &[(std::net::Ipv4Addr, u16)]) {
        let mut slot = self.lock();
        if let Some(Err(e)) = slot.as_mut().map(|a| a.set_path_mtus(entries)) {
            *slot = None;
            log!("sixgate: fast path stopped (path MTU map: {e}); every packet takes the TUN path");
        }
    }
}

struct FastPathCollector<A> {
    daemon: &'static str,
    fast: FastPath<A>,
}

impl<A> std::fmt::Debug for FastPathCollector<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPathCollector").field("daemon", &self.daemon).finish_non_exhaustive()
    }
}

impl<A: Accelerator> Collector for FastPathCollector<A> {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(c) = self.fast.counters() else { return Ok(()) };
        let forwarded = ConstCounter::new(c.forwarded);
        forwarded.encode(enc.encode_descriptor(
            &format!("sixgate_{}_fast_path_forwarded", self.daemon),
            "Packets the kernel fast path handled and sent on itself (not counted by the engine's forwarded)",
            None,
            forwarded.metric_type(),
        )?)?;
        let name = format!("sixgate_{}_fast_path_punted", self.daemon);
        let mut family = enc.encode_descriptor(
            &name,
            "Packets the kernel fast path handed unchanged to the engine, by reason (the engine counts them again)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (reason, n) in &c.punted {
            ConstCounter::new(*n).encode(family.encode_family(&[("reason", *reason)])?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_are_checked() {
        let eth0 = vec!["eth0".to_string()];
        assert_eq!(choice(None, &[]), Ok(None));
        assert_eq!(choice(Some("none"), &[]), Ok(None));
        assert_eq!(choice(Some("bpf"), &eth0), Ok(Some(eth0.clone())));
        assert!(choice(Some("bpf"), &[]).unwrap_err().contains("needs fast_path_interfaces"));
        assert!(choice(None, &eth0).unwrap_err().contains("without fast_path"));
        assert!(choice(Some("xdp"), &eth0).unwrap_err().contains("expected \"bpf\" or \"none\""));
        assert!(choice(Some("bpf"), &["a-name-much-too-long".to_string()]).unwrap_err().contains("not an interface"));
    }

    #[test]
    fn a_fast_path_that_cannot_start_leaves_the_tun_path_alone() {
        let eth0 = vec!["eth0".to_string()];
        let fast: FastPath<SiitFastPath> = FastPath::off();
        fast.start(Some(&eth0), |_| Err(BpfError::NotBuilt));
        assert!(!fast.is_on());
        assert_eq!(fast.line(), "");
        assert!(fast.collector("nat64").is_none());
        let cfg = sixgate_nat64::SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
        fast.reconfigure(&cfg);
        assert!(!fast.is_on());
    }
}
