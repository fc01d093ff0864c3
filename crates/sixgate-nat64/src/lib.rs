//! IPv4/IPv6 translation as sans-IO engines:
//!
//! * [`Siit`]: stateless IP/ICMP translation (SIIT, RFC 7915) with RFC 6052 address
//!   mapping ([`SiitConfig::pool6`]) and RFC 7757 Explicit Address Mappings ([`eamt`]);
//! * [`Nat64`]: stateful NAT64 (RFC 6146): BIB and sessions for TCP, UDP and ICMP, the TCP
//!   state machine, filtering, limits and timers ([`stateful`]); [`Nat64Shards`] cuts one
//!   into shards for several workers;
//! * `dns64` (feature `dns64`, off by default): a sans-IO DNS64 (RFC 6147) with the
//!   RFC 7050 `ipv4only.arpa` name, over hickory-proto;
//! * [`pref64`]: the RFC 8781 PREF64 router-advertisement option.
//!
//! The engines implement the [`sixgate_core::engine::Engine`] contract: give one an IPv4 or
//! IPv6 packet in a [`PacketBuf`](sixgate_core::buf::PacketBuf) and the current time; it
//! rewrites the buffer in place (the payload is never copied on the common path) and
//! returns a verdict: forward to the other side, reply with an ICMP error it generated, or
//! drop for a counted [`SiitDrop`] (stateful: [`Nat64Drop`]).
//!
//! ```
//! use std::time::Instant;
//! use sixgate_core::{buf::PacketBuf, checksum, engine::{Engine, Side, Verdict}};
//! use sixgate_nat64::{Siit, SiitConfig};
//!
//! let mut cfg = SiitConfig::new("198.51.100.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
//! cfg.pool6 = Some("64:ff9b::/96".parse().unwrap());
//! let mut siit = Siit::new(cfg).unwrap();
//!
//! // An IPv6 UDP datagram [64:ff9b::<src>]:1000 -> [64:ff9b::808:808]:53 carrying "hi".
//! let udp6 = |src: [u8; 4]| {
//!     let mut p = vec![0x60, 0, 0, 0, 0, 10, 17, 64];
//!     p.extend_from_slice(&[0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]);
//!     p.extend_from_slice(&src);
//!     p.extend_from_slice(&[0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8]);
//!     p.extend_from_slice(&[0x03, 0xe8, 0, 53, 0, 10, 0, 0, b'h', b'i']);
//!     let pseudo = checksum::add(checksum::sum(&p[8..40]), 17 + 10);
//!     let c = checksum::finish(checksum::add(pseudo, checksum::sum(&p[40..])));
//!     p[46..48].copy_from_slice(&c.to_be_bytes());
//!     p
//! };
//! // From 192.0.2.1, which is not global: the well-known prefix refuses it (RFC 6052 §3.1) ...
//! let mut buf = PacketBuf::from_slice(&udp6([192, 0, 2, 1]));
//! assert!(matches!(siit.process(&mut buf, Instant::now()), Verdict::Drop(_)));
//! // ... and from a global address it is translated to IPv4.
//! let mut buf = PacketBuf::from_slice(&udp6([74, 125, 225, 31]));
//! assert_eq!(siit.process(&mut buf, Instant::now()), Verdict::Forward(Side::V4));
//! assert_eq!(buf[0] >> 4, 4);
//! ```
//!
//! # Errors and stability
//! Building an engine fails with [`Error`]; a configuration that cannot work is a
//! [`ConfigError`] naming the value, the rule and the fix. Both enums, and the drop
//! reasons, are `#[non_exhaustive]` (a new check or reason is a new variant: `match` with
//! a `_` arm); a drop reason's stable name never changes once released. The configuration
//! structs ([`SiitConfig`], [`Nat64Config`], [`Timers`], [`Pool4Range`]) are
//! `#[non_exhaustive]` with public fields: start from `new(…)` (or [`Timers::default`])
//! and set fields, so a field added later does not break you.
//!
//! # Intended differences from other translators
//!
//! Where RFC 7915 leaves a choice, this translator makes these, on purpose (the
//! stateful translator, which uses the same header and ICMP code, makes them too):
//!
//! * **Fragmentation Needed for a fragment counts the Fragment Header.** An IPv4 fragment
//!   with DF set that is too big for the IPv6 next hop is answered with an MTU 28 bytes
//!   below the IPv6 MTU (the 20-byte difference between the headers plus the 8-byte
//!   Fragment Header its translation carries), not 20, so that a sender that follows it
//!   gets through.
//! * **IPv6 fragments are fragmented again.** An IPv6 fragment whose translation exceeds
//!   the IPv4 MTU is cut into IPv4 fragments at the offsets it covers, the last keeping
//!   the fragment's own M flag (RFC 7915 §1.4 allows a translator to fragment), rather
//!   than dropped.
//! * **RFC 4884 extensions keep the whole quoted packet.** A translated ICMP error with
//!   an extension structure quotes the whole original datagram, zero-padded to the
//!   RFC 4884 word size and to at least 128 bytes (RFC 4884 §4), when that and the
//!   extension fit in 576 (ICMPv4) or 1280 (ICMPv6) bytes.
//! * **An extension that does not fit trims the quote, not the extension: a deliberate
//!   departure from a SHOULD.** RFC 7915 §4.2 says an ICMPv4 extension that would exceed
//!   the maximum ICMPv6 message size "SHOULD be simply truncated". This translator instead
//!   trims the quoted original datagram (never below 128 bytes, RFC 4884 §4) and keeps the
//!   extension whole, with the length attribute recomputed, because the extension
//!   structure carries its own checksum and object lengths (RFC 4884 §7, §8), which a cut
//!   would leave wrong, so a receiver would throw the truncated extension away. An extension that cannot fit next to
//!   128 bytes of quote is left out. The same is done from ICMPv6 to ICMPv4.
//!
//! And where the RFCs decide, for the record:
//!
//! * An IPv6 packet with an extension header other than ESP after its Fragment Header
//!   (Hop-by-Hop, Routing, Destination Options, a second Fragment Header, AH, Mobility,
//!   HIP, Shim6, or the experimental 253 and 254) is not translated: RFC 7915 §5.1.1 says
//!   it "SHOULD be dropped and logged". It is dropped (`extension-after-fragment`) and,
//!   unless it is itself an ICMPv6 message, answered, rate-limited, with Destination
//!   Unreachable, code 1, administratively prohibited, unused field zero (RFC 7915 §5.4),
//!   as Jool does; RFC 7915 gives no Parameter Problem for it. ESP after the Fragment
//!   Header is translated, Protocol 50.
//! * No ICMPv6 error is sent about an ICMPv6 error message, whatever extension headers
//!   precede it (RFC 4443 §2.4(e.1)), and no ICMPv4 error about an ICMPv4 error or a
//!   non-first fragment (RFC 1812 §4.3.2.7).
//! * A zero IPv6 Payload Length is a jumbogram (dropped, `jumbogram`) only with a
//!   Hop-by-Hop Jumbo Payload option (RFC 2675); otherwise it is an empty payload.
//! * Every ICMP error the translator sends about a packet quotes that packet as it
//!   arrived (RFC 1812 §4.3.2.3, RFC 4443 §3.2): the decision to send one comes before
//!   the packet is rewritten.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
#[cfg(feature = "dns64")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns64")))]
pub mod dns64;
pub mod eamt;
mod error;
mod icmp;
pub mod pref64;
mod reason;
mod reload;
mod sharded;
mod siit;
pub mod stateful;

pub use config::{IcmpRateLimit, SiitConfig, TosPolicy};
pub use reason::SiitDrop;
pub use reload::{ReloadReport, POOL4_REMOVED};
pub use sharded::{Nat64Handle, Nat64Shards};
pub use siit::Siit;
pub use stateful::{Filtering, Nat64, Nat64Config, Nat64Drop, Pool4Range, TableStats, TcpState, Timers};

pub use error::{ConfigError, Error};
