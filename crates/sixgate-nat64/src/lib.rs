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
//! // An IPv6 UDP packet, built here with the etherparse crate.
//! let udp6 = |src: &str, dst: &str| {
//!     let addr = |a: &str| a.parse::<std::net::Ipv6Addr>().unwrap().octets();
//!     let mut pkt = Vec::new();
//!     etherparse::PacketBuilder::ipv6(addr(src), addr(dst), 64).udp(40000, 53).write(&mut pkt, b"hi").unwrap();
//!     pkt
//! };
//! // One from 64:ff9b::c000:201 (192.0.2.1 is not global: the well-known prefix refuses
//! // it, RFC 6052 §3.1) ...
//! let mut buf = PacketBuf::from_slice(&udp6("64:ff9b::c000:201", "64:ff9b::808:808"));
//! assert!(matches!(siit.process(&mut buf, Instant::now()), Verdict::Drop(_)));
//! // ... and one from a global address is translated to IPv4.
//! let mut buf = PacketBuf::from_slice(&udp6("64:ff9b::4a7d:e1f", "64:ff9b::808:808"));
//! assert_eq!(siit.process(&mut buf, Instant::now()), Verdict::Forward(Side::V4));
//! assert_eq!(buf[0] >> 4, 4);
//! ```
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
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod dns64;
pub mod eamt;
mod icmp;
pub mod pref64;
mod reason;
mod sharded;
mod siit;
pub mod stateful;

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
