//! TC-BPF fast paths for the SIIT translator and the 6in4 tunnel endpoint.
//!
//! The programs in `bpf/` (C, compiled with clang for the BPF target when the `programs`
//! feature is on) translate or encapsulate the common packet classes in the kernel, at the
//! `clsact` hook of the interfaces they are attached to. Everything else — fragments, IPv4
//! options, extension headers, ICMP errors, packets that need an ICMP error generated,
//! anything unknown — is handed unchanged to the userspace engine, which stays the complete
//! implementation: the fast path is an accelerator, never a second set of semantics. The
//! tests prove it packet by packet: the program (run by `BPF_PROG_TEST_RUN`) and the sans-IO
//! engine give byte-identical output for every class the program handles.
//!
//! Without the `programs` feature (the default) the crate needs no C toolchain; every loader
//! answers [`BpfError::NotBuilt`], so a daemon falls back to its TUN path with one line.

mod counters;
#[cfg(all(feature = "programs", target_os = "linux"))]
mod loader;
pub mod siit;
pub mod sit;

pub use counters::FastPathCounters;
#[cfg(all(feature = "programs", target_os = "linux"))]
pub use loader::{attach_tc, load_object, test_run};
pub use siit::{SiitFastPath, SIIT_PUNT_REASONS};
pub use sit::{SitFastPath, SIT_PUNT_REASONS};

/// Which `clsact` hook of an interface a program attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Packets arriving on the interface.
    Ingress,
    /// Packets leaving through the interface.
    Egress,
}

/// Why a fast path could not be loaded, attached or updated.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The crate was built without the `programs` feature.
    #[error("built without BPF programs (build with the `bpf` feature and clang)")]
    NotBuilt,
    /// The kernel (or the process's privileges) does not support what the fast path needs.
    #[error("kernel does not support the BPF fast path: {0}")]
    Unsupported(String),
    /// The configuration has something the fast path does not handle.
    #[error("configuration not supported by the BPF fast path: {0}")]
    Config(String),
    /// Loading (the verifier included) failed.
    #[error("loading BPF program {program}: {detail}")]
    Load {
        /// The program's name.
        program: String,
        /// What went wrong, with the verifier's log when it refused.
        detail: String,
    },
    /// Attaching to an interface failed.
    #[error("attaching BPF program to {iface}: {detail}")]
    Attach {
        /// The interface.
        iface: String,
        /// What went wrong.
        detail: String,
    },
    /// Reading or writing a map failed.
    #[error("BPF map {map}: {detail}")]
    Map {
        /// The map's name.
        map: String,
        /// What went wrong.
        detail: String,
    },
}

/// The outcome of one `BPF_PROG_TEST_RUN` of a TC program over one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// The program's return value (`TC_ACT_*`).
    pub action: i32,
    /// The frame as the program left it (Ethernet header included).
    pub data: Vec<u8>,
}

/// `TC_ACT_OK`: the packet goes on through the kernel's own stack.
pub const TC_ACT_OK: i32 = 0;
/// `TC_ACT_SHOT`: the packet is dropped.
pub const TC_ACT_SHOT: i32 = 2;
/// `TC_ACT_REDIRECT`: the packet went to the device `bpf_redirect*` named.
pub const TC_ACT_REDIRECT: i32 = 7;

/// Checks that this kernel and this process can load and run a TC-BPF program: loads the
/// smallest program and runs it once over a test frame. Answers [`BpfError::NotBuilt`]
/// without the `programs` feature.
pub fn probe() -> Result<(), BpfError> {
    #[cfg(all(feature = "programs", target_os = "linux"))]
    {
        loader::probe()
    }
    #[cfg(not(all(feature = "programs", target_os = "linux")))]
    {
        Err(BpfError::NotBuilt)
    }
}
