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
//!
//! # Where each rule lives
//!
//! One home per rule: find the RFC section, open the file, the function cites the section
//! at the line that applies it. Paths are under `crates/sixgate-nat64/src/` unless they
//! name `sixgate-core` (`crates/sixgate-core/src/`).
//!
//! | RFC section | rule | file: function |
//! | --- | --- | --- |
//! | RFC 6052 §2.2, §3.1 | address embedding, suffix and u-octet, the well-known prefix refuses non-global IPv4 | `sixgate-core` `rfc6052.rs`: `embed`, `extract`, `Pool6::new`; `siit/addresses.rs`: `map46_rfc6052` |
//! | RFC 7757 §3.2–§4 | EAM table, longest match, unequal sizes, hairpinning | `eamt.rs`: `Eamt::v4_to_v6`, `Eamt::v6_to_v4`; `siit/addresses.rs`: `map46_plain`, `map64` |
//! | RFC 7915 §4.1, RFC 1812 §5.3.7 | IPv4 addresses never translated (0/8, 127/8, 224/4, 240/4) | `sixgate-core` `class.rs`: `is_forbidden_v4` |
//! | RFC 7915 §4.1 | IPv4 → IPv6 header: TOS, TTL, DF, options, fragments | `siit/v4_to_v6.rs`: `xlate_v4`; `siit/fragments.rs`; `siit/fastpath.rs`: `fast_v4` |
//! | RFC 7915 §5.1, §5.1.1 | IPv6 → IPv4 header, extension headers, Fragment Header, an extension after it | `siit/v6_to_v4.rs`: `xlate_v6`, `refused_after_fragment`, `has_jumbo_payload_option`; `siit/fastpath.rs`: `fast_v6` |
//! | RFC 7915 §4.1, §5.1; RFC 1812 §5.3.1; RFC 8200 §3 | TTL / Hop Limit decrement and Time Exceeded | `sixgate-core` `router.rs`: `forward_hop` |
//! | RFC 7915 §4.2, §5.2 | ICMP type/code and pointer mapping, Packet Too Big / Fragmentation Needed MTUs | `icmp.rs`: `map_4to6`, `pointer_6to4`, `ptb_mtu_4to6`, `ptb_mtu_6to4` |
//! | RFC 7915 §4.3, §5.3, RFC 4884 | translating ICMP errors and their quoted packets, extensions | `siit/icmp.rs`: `err46`, `err64` |
//! | RFC 7915 §4.4, §5.4; RFC 1812 §4.3.2.7; RFC 4443 §2.4(e) | when the translator sends its own ICMP error, and to whom | `siit/icmp.rs`: `icmp4_error`, `icmp6_error`; `sixgate-core` `router.rs`: `icmp4_error_allowed_to`, `icmp6_error_allowed_to` |
//! | RFC 4443 §2.4(c), §3 | building an ICMPv6 error (quote up to 1280 bytes) | `sixgate-core` `icmp6.rs`: `build_error` |
//! | RFC 4443 §2.4(f), RFC 1812 §4.3.2.8 | ICMP error rate limit | `sixgate-core` `ratelimit.rs`: `TokenBucket`, `IcmpRateLimit` |
//! | RFC 7915 §4.5, §5.5; RFC 768; RFC 1624 | transport checksums, the UDP zero checksum, incremental updates | `sixgate-core` `checksum.rs`: `update`, `update_udp`, `udp_field`, `udp_has_checksum`; `siit/v4_to_v6.rs`, `siit/fastpath.rs` |
//! | RFC 6146 §3.4 | which packets the stateful translator looks at; fragments | `stateful/outbound.rs`: `outbound`; `stateful/inbound.rs`: `inbound`; `stateful/fragments.rs` |
//! | RFC 6146 §3.5.1, RFC 4787 | BIB, endpoint-independent mapping, filtering | `stateful/sessions.rs`; `stateful/tables.rs`; `stateful/config.rs`: `Filtering` |
//! | RFC 6146 §3.5.1.1, RFC 6056 | pool4 port allocation: range, parity, the client's port first | `stateful/ports.rs`: `allocate` |
//! | RFC 6146 §3.5.2.2 | TCP state machine, TCP_INCOMING_SYN (held SYNs), TCP_EST probe | `stateful/tcp.rs`: `touch_slot`, `lifetime`; `stateful/held.rs`: `hold`, `simultaneous_open`, `port_unreachable` |
//! | RFC 6146 §3.5.3, §3.5.1.1 | refusing a flow (limits, pool exhausted) with Address Unreachable | `stateful/outbound.rs`: `refuse` |
//! | RFC 6146 §3.8 | hairpinning | `stateful/outbound.rs`; `sharded.rs`: `route4` |
//! | RFC 6146 §4 | timer defaults and minimums | `stateful/config.rs`: `Timers` |
//! | RFC 6147 §5 | DNS64 synthesis, exclusions, TTLs, the PTR rule | `dns64/mod.rs` (feature `dns64`) |
//! | RFC 7050 §3 | `ipv4only.arpa` | `dns64/mod.rs` |
//! | RFC 8781 §4 | PREF64 option | `pref64.rs`: `Pref64::decode`, `Pref64::encode` |
//!
//! Every drop has a stable reason name and its section: [`SiitDrop::rfc`] and the drop
//! reasons of [`Nat64Drop`].
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
pub use stateful::{
    Allocation, BlockEvent, BlockEventKind, Deterministic, DeterministicMap, EventLevel, Filtering, Instance,
    LookupError, Nat64, Nat64Config, Nat64Drop, NatEvent, NatEventKind, Pool4Range, PortBlocks, Share, TableStats,
    TcpState, Timers,
};

pub use error::{ConfigError, Error};
