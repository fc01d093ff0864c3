//! 6in4 / sit tunnels as a sans-IO engine: RFC 4213 encapsulation and decapsulation of
//! IPv6 in IPv4 (protocol 41), with tunnel MTU and dynamic path MTU (RFC 4213 §3.2), ECN
//! per RFC 6040, and 6to4 (RFC 3056) with the RFC 3964 security checks.
//!
//! [`SitTunnel`] implements the [`sixgate_core::engine::Engine`] contract. An IPv6 packet
//! (from the inner, [`Side::V6`](sixgate_core::engine::Side::V6) side) is encapsulated by
//! prepending a 20-byte IPv4 header into the buffer's headroom; an IPv4 packet (from the
//! outer side) is checked and decapsulated by moving the start of the buffer. The inner
//! packet is never copied.
//!
//! ```
//! use std::time::Instant;
//! use sixgate_core::{buf::PacketBuf, engine::{Engine, Side, Verdict}};
//! use sixgate_6in4::{SitConfig, SitTunnel};
//!
//! let (a, b) = ("192.0.2.1".parse().unwrap(), "198.51.100.1".parse().unwrap());
//! let mut left = SitTunnel::new(SitConfig::new_static(a, b, "2001:db8:ffff::1".parse().unwrap())).unwrap();
//! let mut right = SitTunnel::new(SitConfig::new_static(b, a, "2001:db8:ffff::2".parse().unwrap())).unwrap();
//!
//! // An IPv6 packet 2001:db8:a::2 -> 2001:db8:b::2 with 5 bytes of payload (Next Header 59).
//! let mut inner = vec![0x60, 0, 0, 0, 0, 5, 59, 64];
//! inner.extend_from_slice(&"2001:db8:a::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
//! inner.extend_from_slice(&"2001:db8:b::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
//! inner.extend_from_slice(b"hello");
//! let mut buf = PacketBuf::from_slice(&inner);
//! let now = Instant::now();
//! assert_eq!(left.process(&mut buf, now), Verdict::Forward(Side::V4));
//! assert_eq!((buf.len(), buf[9]), (inner.len() + 20, 41)); // IPv4, protocol 41
//! assert_eq!(right.process(&mut buf, now), Verdict::Forward(Side::V6));
//! assert_eq!(&buf[..], &inner[..]);
//! ```
//!
//! # Errors and stability
//! [`SitTunnel::new`] fails with [`Error`], whose [`ConfigError`] names the bad value, the
//! rule and the fix. Both, and [`SitDrop`], are `#[non_exhaustive]` (`match` with a `_`
//! arm); a drop reason's stable name never changes once released. [`SitConfig`] is
//! `#[non_exhaustive]` with public fields: start from [`SitConfig::new_static`] or
//! [`SitConfig::new_6to4`] and set fields.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
mod reason;
mod sit;

pub use config::{ConfigError, EcnMode, IcmpRateLimit, Mode, SitConfig, DEPRECATED_ANYCAST_RELAY, IPV6_MIN_MTU};
pub use reason::SitDrop;
pub use sit::{ecn_decap, SitTunnel, PROTO_IPV6};
pub use sixgate_core::reload::ReloadReport;

/// What building a tunnel endpoint can fail with.
///
/// `#[non_exhaustive]`, as is [`ConfigError`]: a minor release may add a variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value the endpoint refuses.
    #[error(transparent)]
    Config(#[from] ConfigError),
}
