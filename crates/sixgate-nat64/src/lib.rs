//! Stateless IP/ICMP translation (SIIT, RFC 7915) with RFC 6052 address mapping and
//! RFC 7757 Explicit Address Mappings, as a sans-IO engine.
//!
//! [`Siit`] implements the [`sixgate_core::engine::Engine`] contract: give it an IPv4 or
//! IPv6 packet in a [`PacketBuf`](sixgate_core::buf::PacketBuf) and the current time; it
//! rewrites the buffer in place (the payload is never copied on the common path) and
//! returns a verdict: forward to the other side, reply with an ICMP error it generated, or
//! drop for a counted [`DropReason`].
//!
//! ```
//! use std::time::Instant;
//! use sixgate_core::{buf::PacketBuf, engine::{Engine, Side, Verdict}};
//! use sixgate_nat64::{Siit, SiitConfig};
//!
//! let mut cfg = SiitConfig::new("198.51.100.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
//! cfg.pool6 = Some("64:ff9b::/96".parse().unwrap());
//! let mut siit = Siit::new(cfg).unwrap();
//!
//! // An IPv6 UDP packet from 64:ff9b::c000:201 (192.0.2.1 is not global: the well-known
//! // prefix refuses it, RFC 6052 §3.1) ...
//! let pkt = sixgate_nat64::testpkt::udp6("64:ff9b::c000:201", "64:ff9b::808:808", 53, b"hi");
//! let mut buf = PacketBuf::from_slice(&pkt);
//! assert!(matches!(siit.process(&mut buf, Instant::now()), Verdict::Drop(_)));
//! // ... and one from a global address is translated to IPv4.
//! let pkt = sixgate_nat64::testpkt::udp6("64:ff9b::4a7d:e1f", "64:ff9b::808:808", 53, b"hi");
//! let mut buf = PacketBuf::from_slice(&pkt);
//! assert_eq!(siit.process(&mut buf, Instant::now()), Verdict::Forward(Side::V4));
//! assert_eq!(buf[0] >> 4, 4);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod dns64;
pub mod eamt;
#[doc(hidden)]
pub mod fuzzing;
mod icmp;
pub mod pref64;
mod reason;
mod sharded;
mod siit;
pub mod stateful;
#[doc(hidden)]
pub mod testpkt;

pub use config::{IcmpRateLimit, SiitConfig, TosPolicy};
pub use reason::DropReason;
pub use sharded::{Nat64Handle, Nat64Shards};
pub use siit::Siit;
pub use stateful::{Filtering, Nat64, Nat64Drop, Pool4Range, StatefulConfig, TableStats, TcpState, Timers};

/// Errors of the translator's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bad configuration value; the message names it.
    #[error("{0}")]
    Config(String),
    /// A bad RFC 6052 prefix.
    #[error(transparent)]
    Rfc6052(#[from] sixgate_core::rfc6052::Rfc6052Error),
}
