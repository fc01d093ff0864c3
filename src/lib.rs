//! sixgate: a toolkit for the IPv4→IPv6 transition.
//!
//! Every packet engine is sans-IO: it takes bytes and the current time and returns a
//! [`Verdict`](prelude::Verdict) (forward to a side, reply, or drop for a counted reason);
//! it never touches a device, a socket or a clock. The `io` module runs them on Linux.
//!
//! | capability | where | example |
//! | --- | --- | --- |
//! | stateless IP/ICMP translation, SIIT (RFC 7915, RFC 6052 prefixes, RFC 7757 EAM) | [`nat64::Siit`] | `examples/siit.rs` |
//! | stateful NAT64 (RFC 6146: BIB, sessions, TCP state machine, limits, shards) | [`nat64::Nat64`], [`nat64::Nat64Shards`] | `examples/stateful_nat64.rs` |
//! | DNS64 (RFC 6147, `ipv4only.arpa` RFC 7050), sans-IO; PREF64 (RFC 8781) | `nat64::dns64` (feature `dns64`), [`nat64::pref64`] | `examples/dns64_server.rs` |
//! | 6in4 / sit tunnel endpoint (RFC 4213; 6to4 with RFC 3964 checks; RFC 6040 ECN; path MTU) | [`sixin4::SitTunnel`] | `examples/sit_endpoint.rs` |
//! | 6to4, 6rd, ISATAP, Teredo arithmetic; address explanation; tunnel configuration | [`sixto4`] | `examples/quickstart.rs` |
//! | IPv4 → IPv6-only web servers: TLS ClientHello (SNI, ALPN), HTTP Host, PROXY v1/v2 parsers; routing by name, wildcard, DNS within prefixes; NAT46 sources | [`proxy`] | `examples/proxy.rs` |
//! | reverse DNS: `ip6.arpa`/`in-addr.arpa` names, zone planning (RFC 2317), zone files | [`rdns`] | `examples/reverse_zone.rs` |
//! | Linux TUN devices, raw sockets, the worker loop, signals, the DNS64 server | `io` (Linux) | `examples/nat64_gateway.rs`, `examples/sit_tunnel.rs` (root) |
//! | shared vocabulary: RFC 6052 / 6to4 arithmetic, address classes, checksums, [`PacketBuf`](prelude::PacketBuf), the engine contract | [`core`] | |
//!
//! ```
//! use std::time::Instant;
//! use sixgate::prelude::*;
//!
//! let mut cfg = SiitConfig::new("198.51.100.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
//! cfg.pool6 = Some("2001:db8:64::/96".parse().unwrap());
//! cfg.amend_udp_checksum_zero = true; // RFC 7915 §4.5: compute a missing UDP checksum
//! let mut siit = Siit::new(cfg)?;
//!
//! // An IPv4 UDP datagram 192.0.2.1:1000 -> 203.0.113.5:53 carrying "hi", no UDP checksum.
//! let mut pkt = vec![0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 203, 0, 113, 5];
//! pkt.extend_from_slice(&[0x03, 0xe8, 0, 53, 0, 10, 0, 0, b'h', b'i']);
//! let sum = sixgate::core::checksum::checksum(&pkt[..20]);
//! pkt[10..12].copy_from_slice(&sum.to_be_bytes());
//!
//! let mut buf = PacketBuf::from_slice(&pkt);
//! assert_eq!(siit.process(&mut buf, Instant::now()), Verdict::Forward(Side::V6));
//! assert_eq!((buf.len(), buf[0] >> 4), (50, 6)); // 40-byte IPv6 header, same UDP datagram
//! // Source and destination under the prefix (RFC 6052 §2.2): 2001:db8:64::c000:201.
//! assert_eq!(buf[8..24], "2001:db8:64::c000:201".parse::<std::net::Ipv6Addr>().unwrap().octets());
//! # Ok::<(), sixgate::Error>(())
//! ```
//!
//! # Cargo features
//! * `dns64` (default): the sans-IO DNS64 (`nat64::dns64`) and, on Linux, its server
//!   (`io::dns`). On here because the reverse-DNS crate already depends on hickory-proto,
//!   so it costs no further dependency; the `sixgate-nat64` and `sixgate-io` crates have it
//!   off by default, for users of the packet engines alone.
//! * `serde`: `serde::Serialize` for the 6to4/6rd/ISATAP/Teredo results and tunnel
//!   descriptions.
//!
//! # Stability
//! The crates follow semantic versioning (0.x: a minor release may break, a patch may not).
//! Made to grow without breaking:
//! * errors ([`Error`], each crate's `Error` and `ConfigError`) and drop reasons
//!   (`SiitDrop`, `SitDrop`, `Nat64Drop`) are `#[non_exhaustive]` enums: a new check
//!   or a new reason is a new variant, so `match` them with a `_` arm. A drop reason's
//!   stable name ([`Reason::name`](prelude::Reason::name)) never changes once released:
//!   counters and dashboards key on it.
//! * configurations (`SiitConfig`, `Nat64Config`, `Timers`, `Pool4Range`, `SitConfig`,
//!   `Dns64Config`, `IcmpRateLimit`, `TunOptions`, `ServerOptions`) are `#[non_exhaustive]`
//!   structs with public fields: build them with `new(…)` or `Default` and set fields (a
//!   new field comes with a default), never with a struct literal.
//! * the enums of configuration choices (`TosPolicy`, `EcnMode`) are `#[non_exhaustive]`
//!   too. The enums a caller acts on ([`Verdict`](prelude::Verdict), [`Side`](prelude::Side),
//!   the DNS64 `Action`) are exhaustive on purpose: a new variant must break the build,
//!   because a caller that ignored it would drop packets or queries.
//!
//! Names are symmetric: each engine `X` has its configuration `XConfig` and its drop reasons
//! `XDrop` (`Siit`/`SiitConfig`/`SiitDrop`, `Nat64`/`Nat64Config`/`Nat64Drop`,
//! `SitTunnel`/`SitConfig`/`SitDrop`).
//!
//! ```compile_fail,E0639
//! // A configuration cannot be written as a struct literal: fields may be added.
//! let t = sixgate::nat64::Timers {
//!     udp: std::time::Duration::from_secs(300),
//!     icmp: std::time::Duration::from_secs(60),
//!     tcp_est: std::time::Duration::from_secs(7440),
//!     tcp_trans: std::time::Duration::from_secs(240),
//!     tcp_incoming_syn: std::time::Duration::from_secs(6),
//! };
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use sixgate_6in4 as sixin4;
pub use sixgate_6to4 as sixto4;
pub use sixgate_bpf as bpf;
pub use sixgate_core as core;
#[cfg(target_os = "linux")]
pub use sixgate_io as io;
pub use sixgate_nat64 as nat64;
pub use sixgate_proxy as proxy;
pub use sixgate_rdns as rdns;

/// Any error of the sixgate crates, for applications that use several of them.
///
/// Each crate's error converts into it with `?`. `#[non_exhaustive]`: a new crate or
/// error adds a variant.
///
/// ```
/// fn build() -> Result<sixgate::nat64::Siit, sixgate::Error> {
///     let cfg = sixgate::nat64::SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
///     Ok(sixgate::nat64::Siit::new(cfg)?) // no pool6, no EAM: refused
/// }
/// let e = build().unwrap_err();
/// assert!(matches!(e, sixgate::Error::Nat64(sixgate::nat64::Error::Config(sixgate::nat64::ConfigError::NothingToTranslate))));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Building a translator (SIIT or stateful NAT64) failed.
    #[error(transparent)]
    Nat64(#[from] sixgate_nat64::Error),
    /// Building a 6in4 tunnel endpoint failed.
    #[error(transparent)]
    Sit(#[from] sixgate_6in4::Error),
    /// A 6to4, 6rd, ISATAP, Teredo or tunnel-configuration input was refused.
    #[error(transparent)]
    SixToFour(#[from] sixgate_6to4::Error),
    /// A reverse-DNS input was refused.
    #[error(transparent)]
    Rdns(#[from] sixgate_rdns::RdnsError),
    /// A bad RFC 6052 prefix or address.
    #[error(transparent)]
    Rfc6052(#[from] sixgate_core::rfc6052::Rfc6052Error),
    /// Text that is not an address of the form asked for.
    #[error(transparent)]
    Text(#[from] sixgate_core::text::TextError),
    /// A bad DNS64 configuration.
    #[cfg(feature = "dns64")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dns64")))]
    #[error(transparent)]
    Dns64(#[from] sixgate_nat64::dns64::Dns64Error),
    /// A PREF64 option that does not decode, or a prefix it cannot carry.
    #[error(transparent)]
    Pref64(#[from] sixgate_nat64::pref64::Pref64Error),
    /// The kernel fast path could not be loaded, attached or updated.
    #[error(transparent)]
    Bpf(#[from] sixgate_bpf::BpfError),
    /// A device, socket or system call failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<sixgate_nat64::ConfigError> for Error {
    fn from(e: sixgate_nat64::ConfigError) -> Self {
        Self::Nat64(e.into())
    }
}

impl From<sixgate_6in4::ConfigError> for Error {
    fn from(e: sixgate_6in4::ConfigError) -> Self {
        Self::Sit(e.into())
    }
}

/// The engines, their configurations and the engine contract, in one import.
pub mod prelude {
    pub use crate::Error;
    pub use sixgate_6in4::{SitConfig, SitDrop, SitTunnel};
    pub use sixgate_core::buf::PacketBuf;
    pub use sixgate_core::engine::{Counters, Engine, Reason, Side, Verdict};
    pub use sixgate_core::rfc6052::Pool6;
    pub use sixgate_core::Protocol;
    pub use sixgate_nat64::{Nat64, Nat64Config, Nat64Drop, Pool4Range, Siit, SiitConfig, SiitDrop};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crate_error_converts_with_question_mark() {
        fn sit() -> Result<(), Error> {
            let mut c = sixin4::SitConfig::new_static(
                "192.0.2.1".parse().unwrap(),
                "198.51.100.1".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
            );
            c.ttl = 0;
            c.validate()?;
            Ok(())
        }
        assert!(matches!(sit(), Err(Error::Sit(sixin4::Error::Config(sixin4::ConfigError::ZeroTtl)))));
        fn stateful() -> Result<(), Error> {
            let c = nat64::Nat64Config::new(
                "64:ff9b::/96".parse().unwrap(),
                Vec::new(),
                "192.0.2.1".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
            );
            c.validate()?;
            Ok(())
        }
        assert!(matches!(stateful(), Err(Error::Nat64(nat64::Error::Config(nat64::ConfigError::Pool4Missing)))));
        fn sixto4() -> Result<(), Error> {
            sixto4::six_to_four("10.0.0.1".parse().unwrap(), sixto4::Scope::GlobalOnly)?;
            Ok(())
        }
        assert!(matches!(sixto4(), Err(Error::SixToFour(_))));
        let e: Error = std::io::Error::other("x").into();
        assert_eq!(e.to_string(), "x");
    }
}
