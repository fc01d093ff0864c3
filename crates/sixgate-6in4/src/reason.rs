//! Why the tunnel endpoint did not forward a packet.

sixgate_core::drop_reasons! {
    /// Why a packet was not forwarded. Where the endpoint answered with an ICMPv6
    /// Packet Too Big, the packet is counted as answered for its reason
    /// ([`Counters::answered`](sixgate_core::engine::Counters::answered)), not as a drop.
    pub enum SitDrop {
        /// Shorter than its headers, lengths that disagree, or neither IPv4 nor IPv6.
        Malformed = "malformed",
        /// Outer IPv4 header checksum wrong (RFC 1812 §5.2.2).
        Ipv4HeaderChecksum = "ipv4-header-checksum",
        /// An outer IPv4 fragment: the driver's raw socket delivers reassembled datagrams, so
        /// a fragment here was never meant for the decapsulator.
        OuterFragment = "outer-fragment",
        /// An outer IPv4 packet that is neither protocol 41 nor an ICMPv4 error (RFC 4213 §3.5).
        NotProtocol41 = "not-protocol-41",
        /// Outer destination is not the local tunnel address.
        WrongOuterDestination = "wrong-outer-destination",
        /// Static mode: the outer source is not the configured remote (RFC 4213 §3.6).
        WrongOuterSource = "wrong-outer-source",
        /// The encapsulated packet is not a well-formed IPv6 packet.
        InnerMalformed = "inner-malformed",
        /// Inner source multicast, loopback, unspecified, IPv4-compatible or IPv4-mapped
        /// (RFC 4213 §3.6, RFC 3964 §5.1).
        ForbiddenInnerSource = "forbidden-inner-source",
        /// 6to4 mode: the inner 6to4 source does not embed the outer IPv4 source and the
        /// packet did not come from the relay (RFC 3964 §5.1).
        Spoofed6to4 = "spoofed-6to4",
        /// 6to4 mode: a 6to4 address (2002::/16) embedding a non-global IPv4 address
        /// (RFC 3964 §5.1), as inner source or as destination to encapsulate to.
        NonGlobal6to4 = "non-global-6to4",
        /// 6to4 mode: a native (non-6to4) inner source from an IPv4 node that is not the
        /// configured relay (RFC 3964 §5.1).
        NotFromRelay = "not-from-relay",
        /// 6to4 mode: the inner destination is not inside the local 6to4 prefix.
        InnerDestinationNotOurs = "inner-destination-not-ours",
        /// 6to4 mode: a non-6to4 destination and no relay configured.
        NoRelay = "no-relay",
        /// RFC 6040 §4.2: outer CE on a Not-ECT inner packet (the packet must be dropped).
        EcnCeOnNotEct = "ecn-ce-on-not-ect",
        /// Larger than the tunnel or path MTU; ICMPv6 Packet Too Big sent (RFC 4213 §3.2).
        TooBig = "too-big",
        /// An ICMPv4 Fragmentation Needed about one of our outer packets: consumed, path MTU
        /// lowered (RFC 4213 §3.2, RFC 1191).
        PathMtuLearned = "pmtu-learned",
        /// An ICMPv4 message that is not a Fragmentation Needed about one of our outer packets.
        IcmpNotForUs = "icmp-not-for-us",
        /// The packet did not fit in the buffer (headroom or capacity).
        NoRoom = "no-room",
    }
}
