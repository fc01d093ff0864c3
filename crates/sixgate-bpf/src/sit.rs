//! The 6in4 fast path (RFC 4213): `bpf/sit.bpf.c` and its loader.
//!
//! Encapsulates IPv6 packets leaving through the tunnel and decapsulates the protocol-41
//! packets that pass the engine's outer checks (RFC 4213 §3.6, RFC 3964 in 6to4 mode); hands
//! everything else to the engine.

use sixgate_6in4::SitConfig;

use crate::{BpfError, Direction, FastPathCounters, TestOutcome};

/// The 6in4 TC programs, loaded, with its maps filled from a [`SitConfig`].
#[derive(Debug)]
pub struct SitFastPath {
    _private: (),
}

impl SitFastPath {
    /// Checks that `cfg` is one the fast path handles (otherwise [`BpfError::Config`]),
    /// loads the program through the verifier and fills its maps from `cfg`.
    pub fn load(cfg: &SitConfig) -> Result<Self, BpfError> {
        let _ = cfg;
        Err(BpfError::NotBuilt)
    }

    /// Attaches the decapsulation program to the ingress hook of each IPv4 interface in
    /// `ifaces` and the encapsulation program to the egress hook of `tunnel` (the engine's
    /// TUN device, which stays the tunnel interface: decapsulated packets enter the stack
    /// through it, and what the programs do not handle reaches the engine through it).
    pub fn attach(&mut self, ifaces: &[&str], tunnel: &str) -> Result<(), BpfError> {
        let _ = (ifaces, tunnel);
        Err(BpfError::NotBuilt)
    }

    /// Replaces the maps' contents with `cfg`'s, in place (SIGHUP reload): the attachment
    /// stays, no packet is lost.
    pub fn reconfigure(&mut self, cfg: &SitConfig) -> Result<(), BpfError> {
        let _ = cfg;
        Err(BpfError::NotBuilt)
    }

    /// The counters since load.
    pub fn counters(&self) -> Result<FastPathCounters, BpfError> {
        Err(BpfError::NotBuilt)
    }

    /// Runs the decapsulation (`Direction::Ingress`, an Ethernet frame) or encapsulation
    /// (`Direction::Egress`, the frame as the tunnel's TUN device holds it) program once by
    /// `BPF_PROG_TEST_RUN`.
    pub fn test_run(&mut self, direction: Direction, frame: &[u8]) -> Result<TestOutcome, BpfError> {
        let _ = (direction, frame);
        Err(BpfError::NotBuilt)
    }
}
