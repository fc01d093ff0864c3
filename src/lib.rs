//! sixgate: a toolkit for the IPv4→IPv6 transition.
//!
//! This facade re-exports every library crate of the workspace:
//!
//! * [`core`]: addresses (RFC 6052, 6to4), classification, text forms, checksums, the
//!   packet buffer and the engine contract;
//! * [`sixto4`]: 6to4, 6rd, ISATAP and Teredo arithmetic and tunnel configuration;
//! * [`sixin4`]: 6in4 / sit tunnel endpoints (RFC 4213, 6to4 with RFC 3964 checks);
//! * [`nat64`]: stateless IP/ICMP translation (RFC 7915);
//! * [`rdns`]: reverse DNS names, zone planning and zone files;
//! * `io` (Linux): TUN devices, the worker loop and signals that run engines for real.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use sixgate_6in4 as sixin4;
pub use sixgate_6to4 as sixto4;
pub use sixgate_core as core;
#[cfg(target_os = "linux")]
pub use sixgate_io as io;
pub use sixgate_nat64 as nat64;
pub use sixgate_rdns as rdns;

/// The most used types in one import.
pub mod prelude {
    pub use sixgate_core::buf::PacketBuf;
    pub use sixgate_core::engine::{Counters, Engine, Reason, Side, Verdict};
    pub use sixgate_core::rfc6052::Pool6;
}
