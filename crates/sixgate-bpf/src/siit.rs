//! The SIIT fast path (RFC 7915 for the common classes): `bpf/siit.bpf.c` and its loader.
//!
//! Handles, both ways, unfragmented TCP, UDP and ICMP echo between addresses that pool6
//! (RFC 6052) or the EAM table (RFC 7757) map; hands everything else to the engine.

use sixgate_nat64::SiitConfig;

use crate::{BpfError, FastPathCounters, TestOutcome};

/// The SIIT TC program, loaded, with its maps filled from a [`SiitConfig`].
#[derive(Debug)]
pub struct SiitFastPath {
    _private: (),
}

impl SiitFastPath {
    /// Checks that `cfg` is one the fast path handles (otherwise [`BpfError::Config`]),
    /// loads the program through the verifier and fills its maps from `cfg`.
    pub fn load(cfg: &SiitConfig) -> Result<Self, BpfError> {
        let _ = cfg;
        Err(BpfError::NotBuilt)
    }

    /// Attaches the program to the ingress hook of each interface in `ifaces` (where the
    /// packets to translate arrive). Packets the program does not handle go to `punt_to`
    /// (the engine's TUN device) unchanged.
    pub fn attach(&mut self, ifaces: &[&str], punt_to: &str) -> Result<(), BpfError> {
        let _ = (ifaces, punt_to);
        Err(BpfError::NotBuilt)
    }

    /// Replaces the maps' contents with `cfg`'s, in place (SIGHUP reload): the attachment
    /// stays, no packet is lost.
    pub fn reconfigure(&mut self, cfg: &SiitConfig) -> Result<(), BpfError> {
        let _ = cfg;
        Err(BpfError::NotBuilt)
    }

    /// The counters since load.
    pub fn counters(&self) -> Result<FastPathCounters, BpfError> {
        Err(BpfError::NotBuilt)
    }

    /// Runs the program once over an Ethernet `frame` by `BPF_PROG_TEST_RUN`.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<TestOutcome, BpfError> {
        let _ = frame;
        Err(BpfError::NotBuilt)
    }
}
