//! The shared vocabulary of sixgate: address arithmetic (RFC 6052, 6to4), address
//! classification against the IANA special-purpose registries, address text forms,
//! Internet checksums with RFC 1624 incremental update, the ICMPv6 error builder and the ICMP
//! error rate limit, the packet buffer with headroom,
//! and the engine contract every packet engine implements.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod buf;
pub mod checksum;
pub mod class;
pub mod engine;
pub mod gso;
pub mod icmp6;
pub mod protocol;
pub mod ratelimit;
pub mod reload;
pub mod rfc6052;
pub mod router;
pub mod text;
pub mod wire;

pub use buf::PacketBuf;
pub use engine::{Counters, Engine, Reason, Side, Verdict};
pub use protocol::Protocol;
