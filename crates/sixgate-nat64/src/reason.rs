//! Why the translator did not forward a packet.

sixgate_core::drop_reasons! {
    /// Why a packet was not forwarded. Where the translator answered with an ICMP
    /// error, the packet is counted as answered for its reason
    /// ([`Counters::answered`](sixgate_core::engine::Counters::answered)), not as a drop.
    pub enum SiitDrop {
        /// Shorter than its headers, lengths that disagree, or not IPv4/IPv6.
        Malformed = "malformed",
        /// IPv4 header checksum wrong (RFC 1812 §5.2.2).
        Ipv4HeaderChecksum = "ipv4-header-checksum",
        /// TTL would reach zero; ICMPv4 Time Exceeded sent (RFC 7915 §4.1).
        TtlExceeded = "ttl-exceeded",
        /// Hop limit would reach zero; ICMPv6 Time Exceeded sent (RFC 7915 §5.1).
        HopLimitExceeded = "hop-limit-exceeded",
        /// Unexpired IPv4 source route option; Source Route Failed sent (RFC 7915 §4.1).
        SourceRoute = "source-route",
        /// IPv6 routing header with segments left ≠ 0; Parameter Problem sent (RFC 7915 §5.1).
        RoutingHeader = "routing-header",
        /// An extension header other than ESP (AH included) after the Fragment Header
        /// (RFC 7915 §5.1.1); Destination Unreachable, administratively prohibited, sent
        /// (RFC 7915 §5.4) unless the packet is an ICMPv6 message.
        ExtensionAfterFragment = "extension-after-fragment",
        /// The source address has no translation.
        UntranslatableSource = "untranslatable-source",
        /// The destination address has no translation.
        UntranslatableDestination = "untranslatable-destination",
        /// An IPv4 address no translator may use: 0/8, 127/8, 169.254/16, 224/4, 240/4
        /// (RFC 7915 §4.1, `sixgate_core::class::is_forbidden_v4`), or an IPv6 multicast
        /// destination.
        ForbiddenAddress = "forbidden-address",
        /// Link-scoped IPv6 (a link-local source, or an interface- or link-local multicast
        /// destination): never forwarded (RFC 4291 §2.5.6, §2.7). On the TUN device these
        /// are the host's own router solicitations and MLD reports.
        LinkLocal = "link-local",
        /// An IPv4 address on the configured denylist.
        DenylistedAddress = "denylisted-address",
        /// A non-global IPv4 address with the well-known prefix (RFC 6052 §3.1).
        WellKnownPrefixNonGlobal = "wkp-non-global",
        /// An ICMP type or code with no counterpart (RFC 7915 §4.2/§5.2: silently dropped).
        UntranslatableIcmp = "untranslatable-icmp",
        /// A single-hop ICMP message (ND, MLD, redirect, router discovery) or IGMP.
        SingleHop = "single-hop",
        /// A Parameter Problem pointer with no counterpart (RFC 7915 Figures 3 and 6).
        UntranslatablePointer = "untranslatable-pointer",
        /// An ICMP error whose checksum is wrong (it is rebuilt, so it is checked).
        IcmpChecksum = "icmp-checksum",
        /// An ICMP error inside an ICMP error (RFC 7915 §4.3: not translated recursively).
        NestedIcmpError = "nested-icmp-error",
        /// A fragmented ICMP message: its checksum cannot be translated without reassembly.
        FragmentedIcmp = "fragmented-icmp",
        /// IPv4 UDP without checksum, refused (RFC 7915 §4.5); ICMPv4 error sent when allowed.
        UdpZeroChecksum = "udp-zero-checksum",
        /// IPv6 UDP with a zero checksum (invalid, RFC 8200 §8.1).
        Udp6ZeroChecksum = "udp6-zero-checksum",
        /// DF set and too big for the next hop; Fragmentation Needed / Packet Too Big sent.
        TooBig = "too-big",
        /// Addressed to the translator itself and not an echo request.
        ToTranslator = "to-translator",
        /// An ICMP error that could not be sent (rate limit, or a packet that must not get one).
        IcmpSuppressed = "icmp-suppressed",
        /// The packet did not fit in the buffer (headroom or capacity).
        NoRoom = "no-room",
        /// An IPv6 jumbogram (RFC 2675: Payload Length 0 and a Jumbo Payload option),
        /// which IPv4 cannot carry.
        Jumbogram = "jumbogram",
    }
}

impl SiitDrop {
    /// The RFC section that has a packet dropped (or answered with an ICMP error) for this
    /// reason, or `None` where the drop is local policy or a limit of this translator
    /// rather than an RFC rule. `sixgate nat64 translate --explain` prints it with each drop.
    pub const fn rfc(self) -> Option<&'static str> {
        Some(match self {
            Self::Malformed => "RFC 1812 §5.2.2, RFC 8200 §3",
            Self::Ipv4HeaderChecksum => "RFC 1812 §5.2.2",
            Self::TtlExceeded | Self::SourceRoute => "RFC 7915 §4.1",
            Self::HopLimitExceeded | Self::RoutingHeader => "RFC 7915 §5.1",
            Self::ExtensionAfterFragment => "RFC 7915 §5.1.1",
            Self::UntranslatableSource | Self::UntranslatableDestination => "RFC 7915 §6, RFC 6052 §2",
            Self::ForbiddenAddress => "RFC 7915 §4.1, §5.1 (RFC 1812 §5.3.7)",
            Self::LinkLocal => "RFC 4291 §2.5.6, §2.7",
            Self::WellKnownPrefixNonGlobal => "RFC 6052 §3.1",
            Self::UntranslatableIcmp | Self::SingleHop => "RFC 7915 §4.2, §5.2",
            Self::UntranslatablePointer | Self::NestedIcmpError => "RFC 7915 §4.3, §5.3",
            Self::IcmpChecksum => "RFC 792, RFC 4443 §2.3",
            Self::UdpZeroChecksum => "RFC 7915 §4.5",
            Self::Udp6ZeroChecksum => "RFC 8200 §8.1",
            Self::TooBig => "RFC 7915 §4.1, §5.1",
            Self::IcmpSuppressed => "RFC 4443 §2.4 (f), RFC 1812 §4.3.2.8",
            Self::Jumbogram => "RFC 2675",
            Self::DenylistedAddress | Self::FragmentedIcmp | Self::ToTranslator | Self::NoRoom => return None,
        })
    }
}

#[cfg(test)]
mod rfc_tests {
    use sixgate_core::engine::Reason;

    use super::SiitDrop;

    #[test]
    fn every_reason_names_its_rfc_or_is_policy() {
        let policy = [SiitDrop::DenylistedAddress, SiitDrop::FragmentedIcmp, SiitDrop::ToTranslator, SiitDrop::NoRoom];
        for r in SiitDrop::ALL {
            match r.rfc() {
                Some(s) => assert!(s.starts_with("RFC ") && !policy.contains(r), "{}: {s}", r.name()),
                None => assert!(policy.contains(r), "{} has no RFC section", r.name()),
            }
        }
        assert_eq!(SiitDrop::TtlExceeded.rfc(), Some("RFC 7915 §4.1"));
    }
}
