//! Why the stateful translator did not forward a packet.

#[allow(unused_imports)] // Named in the docs.
use super::{Nat64, Nat64Config};
use crate::reason::SiitDrop;

sixgate_core::drop_reasons! {
    /// Why the stateful translator did not forward a packet. Its own reasons come first in
    /// [`Reason::ALL`](sixgate_core::engine::Reason::ALL), then the header translator's
    /// ([`Nat64Drop::Xlate`]).
    pub enum Nat64Drop {
        /// The header translator refused the packet.
        Xlate(SiitDrop),
        /// An IPv4 packet (or ICMP error) for a pool transport address with no BIB entry.
        NoBinding = "no-binding",
        /// Refused by address-dependent filtering (RFC 6146 §3.5.1, RFC 4787 REQ-8).
        Filtered = "filtered",
        /// An unsolicited IPv4 SYN (no BIB entry, or refused by address-dependent filtering)
        /// that could not be held: the store of held SYNs is full (or the SYN came back in
        /// by hairpinning).
        IncomingSyn = "incoming-syn",
        /// An unsolicited IPv4 SYN held for TCP_INCOMING_SYN (RFC 6146 §3.5.2.2), or a
        /// retransmission of one already held: not forwarded now; a matching IPv6 SYN
        /// discards it, else an ICMP Port Unreachable goes back for it.
        SynHeld = "incoming-syn-held",
        /// A new TCP flow from IPv6 that does not start with SYN (RFC 6146 §3.5.2.2, CLOSED).
        TcpNotSyn = "tcp-not-syn",
        /// An IPv4 TCP segment with a BIB entry but no session that is not a SYN.
        NoSession = "no-session",
        /// The session table is full; a new flow was refused (from IPv6: with an ICMPv6
        /// Address Unreachable, rate-limited, see [`Nat64::icmp_suppressed`]).
        SessionLimit = "session-limit",
        /// The IPv6 source has its maximum of sessions; a new flow was refused (with an
        /// ICMPv6 Address Unreachable, rate-limited).
        SourceLimit = "source-limit",
        /// No free port (or identifier) in the IPv4 pool (with an ICMPv6 Address
        /// Unreachable, rate-limited: RFC 6146 §3.5.1.1, §3.5.3).
        PoolExhausted = "pool-exhausted",
        /// A fragment that came before its datagram's first fragment and could not be kept
        /// for it: the store of waiting fragments (`max_fragment_bytes`) was full, or it came
        /// back in by hairpinning. Counted when refused.
        Fragment = "fragment",
        /// The verdict for a fragment that came before its datagram's first fragment and is
        /// kept (not forwarded now). Never counted as a drop: such a fragment is counted as
        /// waiting ([`Counters::waiting`](sixgate_core::engine::Counters::waiting)) until its
        /// fate is known — forwarded when it comes out of `poll_transmit` after its first
        /// fragment, or [`Nat64Drop::FragmentTimeout`].
        FragmentHeld = "fragment-held",
        /// A kept fragment whose datagram's first fragment did not come within
        /// `fragment_timeout` (FRAGMENT_MIN): dropped then, and counted then (once).
        FragmentTimeout = "fragment-timeout",
        /// A protocol or ICMP type the stateful translator does not carry.
        UnsupportedProtocol = "unsupported-protocol",
        /// A new flow over the session-creation budget
        /// ([`Nat64Config::max_new_sessions_per_second`]): refused before any table work,
        /// without an ICMP error (RFC 4443 §3.1: none for a packet dropped for congestion).
        NewFlowBudget = "new-flow-budget",
        /// Port-block mode: a new flow whose subscriber's blocks are full and who holds
        /// `max_blocks_per_subscriber` already (with an ICMPv6 Address Unreachable,
        /// rate-limited, like the per-source limit).
        BlockLimit = "block-limit",
        /// Deterministic mode (RFC 7422): a new flow whose subscriber's fixed port range
        /// is full (with an ICMPv6 Address Unreachable, rate-limited).
        SubscriberPorts = "subscriber-ports",
        /// Deterministic mode: a new flow from a source outside the subscriber prefix,
        /// which has no port range.
        NotSubscriber = "not-subscriber",
    }
}
