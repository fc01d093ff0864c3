//! Checks of the fuzz target `sit_decap` (`fuzz/fuzz_targets/sit_decap.rs`), shared with
//! its corpus replay test (`crates/sixgate-6in4/tests/fuzz_corpus.rs`).
//!
//! # Input format
//!
//! Byte 0 is a mode; the rest is the packet.
//!
//! | bits | meaning |
//! |------|---------|
//! | 0    | set the IPv4 Total Length (or IPv6 Payload Length) to the real length |
//! | 1    | recompute the outer IPv4 header checksum (after the other repairs) |
//! | 2-3  | which of four endpoint configurations to use ([`config`]) |
//! | 4    | force version 6: the packet is an inner packet to encapsulate |
//! | 5    | first teach the endpoint a 1300-byte path MTU to the far end (outer fragments) |
//!
//! Otherwise the version nibble is forced to 4: the packet came from the outer side.
//!
//! # Properties checked
//!
//! - Nothing panics.
//! - A decapsulated packet ([`Verdict::Forward`] to [`Side::V6`]) is the inner packet of
//!   the input, byte for byte except the two ECN bits, which follow RFC 6040 §4.2, and its
//!   Payload Length matches its length.
//! - An encapsulated packet (to [`Side::V4`]) has a valid 20-byte IPv4 header (checked
//!   with a separate, naive RFC 1071 sum), protocol 41, the local source, DF set unless
//!   fragmented, and carries the input unchanged; in static mode the peer endpoint
//!   decapsulates it back to the input. Fragments tile the inner packet and fit the path.
//! - A reply is an ICMPv6 Packet Too Big of at most 1280 bytes with a valid checksum, to
//!   the input's source, advertising at least 1280.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
// Only the registry numbers: the checks read the header fields themselves.
use sixgate_core::wire::{icmpv6, proto};

use sixgate_6in4::{ecn_decap, SitConfig, SitTunnel};

/// Static mode local address.
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Static mode remote address.
pub const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// 6to4 local address.
pub const LOCAL_6TO4: Ipv4Addr = Ipv4Addr::new(11, 0, 0, 1);
/// 6to4 relay.
pub const RELAY: Ipv4Addr = Ipv4Addr::new(12, 0, 0, 1);

/// Defines `fn config(n: u8) -> SitConfig`, the four endpoint configurations of mode bits
/// 2-3 (see [`config`]), with an optional visibility, against the `sixgate-6in4` crate named
/// by the last argument: `crate` inside that crate's own unit tests, whose `SitConfig` is not
/// the type this crate links, or `sixgate_6in4` anywhere else. One definition serves both.
///
/// ```ignore
/// sixgate_testkit::sit_configs!(crate); // in sixgate-6in4's #[cfg(test)] module
/// ```
#[macro_export]
macro_rules! sit_configs {
    ($vis:vis $sit:ident) => {
        /// The four endpoint configurations of the `sit_decap` fuzz input's mode bits 2-3:
        /// static (plain, and ECN compatibility with DSCP copy, TTL 1 and a 1400-byte link
        /// MTU), 6to4 with a relay and 6to4 without; ICMP errors not rate-limited.
        $vis fn config(n: u8) -> $sit::SitConfig {
            use $crate::fuzz::sit::{LOCAL, LOCAL_6TO4, RELAY, REMOTE};
            let own: ::std::net::Ipv6Addr = "2001:db8:ffff::1".parse().unwrap_or(::std::net::Ipv6Addr::UNSPECIFIED);
            let mut c = match n & 3 {
                0 => $sit::SitConfig::new_static(LOCAL, REMOTE, own),
                1 => {
                    let mut c = $sit::SitConfig::new_static(LOCAL, REMOTE, own);
                    c.ecn = $sit::EcnMode::Compatibility;
                    c.copy_dscp = true;
                    c.ttl = 1;
                    c.link_mtu = 1400;
                    c
                }
                2 => $sit::SitConfig::new_6to4(LOCAL_6TO4, Some(RELAY)),
                _ => $sit::SitConfig::new_6to4(LOCAL_6TO4, None),
            };
            c.icmp_rate.per_second = 0;
            c
        }
    };
}

sit_configs!(pub sixgate_6in4);

/// Naive RFC 1071 checksum: sum of 16-bit words, folded, complemented.
fn naive(data: &[u8]) -> u16 {
    let mut s: u64 = 0;
    for (i, b) in data.iter().enumerate() {
        s += if i % 2 == 0 { u64::from(*b) << 8 } else { u64::from(*b) };
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn ecn6(p: &[u8]) -> u8 {
    (p[1] >> 4) & 3
}

/// Runs one fuzz input (see the module documentation).
pub fn sit_decap(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut pkt = rest.to_vec();
    let encap = mode & 0x10 != 0;
    if let Some(b) = pkt.first_mut() {
        *b = (*b & 0x0f) | if encap { 0x60 } else { 0x40 };
    }
    if mode & 1 != 0 {
        if encap && pkt.len() >= 40 {
            let l = (pkt.len() - 40).min(0xffff) as u16;
            pkt[4..6].copy_from_slice(&l.to_be_bytes());
        } else if !encap && pkt.len() >= 20 {
            let l = pkt.len().min(0xffff) as u16;
            pkt[2..4].copy_from_slice(&l.to_be_bytes());
        }
    }
    if mode & 2 != 0 && !encap && pkt.len() >= 20 {
        let ihl = (usize::from(pkt[0] & 15) * 4).clamp(20, pkt.len());
        pkt[10] = 0;
        pkt[11] = 0;
        let c = naive(&pkt[..ihl]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let cfg = config(mode >> 2);
    let static_mode = matches!(cfg.mode, sixgate_6in4::Mode::Static { .. });
    let link_mtu = usize::from(cfg.link_mtu);
    let Ok(mut e) = SitTunnel::new(cfg.clone()) else { panic!("fuzz configuration invalid") };
    let now = Instant::now();
    let mut path = link_mtu;
    if mode & 0x20 != 0 {
        // A Fragmentation Needed quoting one of our packets to the far end.
        let far = if static_mode { REMOTE } else { RELAY };
        let mut q = crate::packets::sit::ipv4_header(cfg.local, far, proto::IPV6, 1400, 0, true).to_vec();
        q.extend_from_slice(&crate::packets::sit::udp6("2001:db8:a::2", "2001:db8:b::2", &[0; 1300])[..40]);
        let fne = crate::packets::sit::frag_needed("203.0.113.9", &cfg.local.to_string(), 1300, &q, q.len());
        let mut b = PacketBuf::from_slice(&fne);
        let _ = e.process(&mut b, now);
        assert_eq!(e.path_mtu(far, now), Some(1300).filter(|_| 1300 < link_mtu), "path MTU learned");
        if 1300 < link_mtu {
            path = 1300;
        }
    }
    let mut buf = PacketBuf::from_slice(&pkt);
    let v = e.process(&mut buf, now + Duration::from_millis(1));
    let out = buf.as_slice().to_vec();
    match v {
        Verdict::Drop(_) => assert!(e.poll_transmit(&mut buf).is_none()),
        Verdict::Forward(Side::V6) => {
            assert!(!encap, "an inner packet went back inside");
            let ihl = usize::from(pkt[0] & 15) * 4;
            let inner = &pkt[ihl..];
            assert_eq!(out.len(), 40 + usize::from(u16::from_be_bytes([out[4], out[5]])));
            assert_eq!(out[0], inner[0]);
            assert_eq!(out[1] & 0xcf, inner[1] & 0xcf);
            assert_eq!(out[2..], inner[2..out.len()]);
            assert_eq!(Some(ecn6(&out)), ecn_decap(ecn6(inner), pkt[1] & 3));
        }
        Verdict::Forward(Side::V4) => {
            assert!(encap, "an outer packet went back outside");
            let h = &out[..20];
            assert_eq!(naive(h), 0, "outer header checksum");
            assert_eq!((h[0], h[9]), (0x45, proto::IPV6));
            assert_eq!(&h[12..16], &cfg.local.octets());
            let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
            assert_eq!(total, out.len());
            let inner_len = 40 + usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
            let inner = &pkt[..inner_len];
            let fragmented = h[6] & 0x20 != 0;
            if fragmented {
                assert!(out.len() <= path && h[6] & 0x40 == 0);
                let mut whole = out[20..].to_vec();
                while let Some(side) = e.poll_transmit(&mut buf) {
                    assert_eq!(side, Side::V4);
                    let f = buf.as_slice();
                    assert_eq!(naive(&f[..20]), 0);
                    assert!(f.len() <= path);
                    let off = usize::from(u16::from_be_bytes([f[6], f[7]]) & 0x1fff) * 8;
                    assert_eq!(off, whole.len(), "fragments tile the packet");
                    whole.extend_from_slice(&f[20..]);
                }
                assert_eq!(whole, inner);
            } else {
                assert!(e.poll_transmit(&mut buf).is_none());
                assert_eq!(&out[20..], inner);
                assert!(h[6] & 0x40 != 0 || path < 1300, "DF set");
                if static_mode {
                    let mut peer_cfg = SitConfig::new_static(REMOTE, LOCAL, cfg.address);
                    peer_cfg.ecn = cfg.ecn;
                    let Ok(mut peer) = SitTunnel::new(peer_cfg) else { panic!("peer configuration invalid") };
                    let mut b = PacketBuf::from_slice(&out);
                    match peer.process(&mut b, now) {
                        Verdict::Forward(Side::V6) => {
                            let expect_ecn = ecn_decap(ecn6(inner), h[1] & 3);
                            assert_eq!(Some(ecn6(&b)), expect_ecn);
                            assert_eq!(b[0], inner[0]);
                            assert_eq!(b[1] & 0xcf, inner[1] & 0xcf);
                            assert_eq!(b[2..], inner[2..]);
                        }
                        // The peer applies source checks the encapsulator does not.
                        Verdict::Drop(_) => {}
                        other => panic!("peer: {other:?}"),
                    }
                }
            }
        }
        Verdict::Reply(side) => {
            assert_eq!(side, Side::V6);
            assert!(out.len() <= 1280 && out.len() >= 48);
            assert_eq!((out[0] >> 4, out[6], out[40]), (6, proto::ICMPV6, icmpv6::PACKET_TOO_BIG));
            let mtu = u32::from_be_bytes([out[44], out[45], out[46], out[47]]);
            assert!(mtu >= 1280, "Packet Too Big advertises {mtu}");
            let mut ps = Vec::new();
            ps.extend_from_slice(&out[8..40]);
            ps.extend_from_slice(&((out.len() - 40) as u32).to_be_bytes());
            ps.extend_from_slice(&[0, 0, 0, proto::ICMPV6]);
            ps.extend_from_slice(&out[40..]);
            assert_eq!(naive(&ps), 0, "ICMPv6 checksum");
        }
    }
}

/// Seed inputs: valid packets of every kind, each with its mode byte.
pub fn seeds() -> Vec<Vec<u8>> {
    use crate::packets::sit::{encap, frag_needed, udp6};
    let mut out = Vec::new();
    let mut push = |mode: u8, p: Vec<u8>| {
        let mut v = vec![mode];
        v.extend(p);
        out.push(v);
    };
    let inner = udp6("2001:db8:b::2", "2001:db8:a::2", b"seed");
    for tos in [0u8, 1, 2, 3, 0xb8] {
        push(0, encap("198.51.100.1", "192.0.2.1", tos, &inner));
    }
    push(0, encap("198.51.100.9", "192.0.2.1", 0, &inner));
    push(0, encap("198.51.100.1", "192.0.2.2", 0, &inner));
    let s6 = udp6("2002:c00:1::1", "2002:b00:1::1", b"6to4");
    push(8, encap("12.0.0.1", "11.0.0.1", 0, &s6));
    push(8, encap("12.0.0.2", "11.0.0.1", 0, &s6));
    let ok6 = udp6("2002:c00:2::1", "2002:b00:1::1", b"6to4");
    push(8, encap("12.0.0.2", "11.0.0.1", 0, &ok6));
    let priv6 = udp6("2002:a00:1::1", "2002:b00:1::1", b"6to4");
    push(8, encap("10.0.0.1", "11.0.0.1", 0, &priv6));
    let native = udp6("2001:db8:b::2", "2002:b00:1::1", b"native");
    push(8, encap("12.0.0.1", "11.0.0.1", 0, &native));
    push(12, encap("12.0.0.1", "11.0.0.1", 0, &native));
    for bad in ["::1", "ff02::1", "::ffff:1.2.3.4", "::1.2.3.4"] {
        push(0, encap("198.51.100.1", "192.0.2.1", 0, &udp6(bad, "2001:db8:a::2", b"x")));
    }
    let big = udp6("2001:db8:a::2", "2001:db8:b::2", &[7u8; 1500]);
    push(0x10, udp6("2001:db8:a::2", "2001:db8:b::2", b"out"));
    push(0x10, big.clone());
    push(0x14, big[..1400].to_vec());
    push(0x30, big[..1280].to_vec());
    push(0x18, udp6("2001:db8:a::2", "2002:c633:6401::1", b"to 6to4"));
    push(0x18, udp6("2001:db8:a::2", "2001:db8:b::2", b"to relay"));
    push(0x1c, udp6("2001:db8:a::2", "2001:db8:b::2", b"no relay"));
    let mut q = crate::packets::sit::ipv4_header(LOCAL, REMOTE, proto::IPV6, 1500, 0, true).to_vec();
    q.extend_from_slice(&big[..200]);
    push(0, frag_needed("203.0.113.1", "192.0.2.1", 1400, &q, q.len()));
    push(0, frag_needed("203.0.113.1", "192.0.2.1", 0, &q, 28));
    push(0, frag_needed("203.0.113.1", "192.0.2.1", 600, &q, q.len()));
    push(3, vec![0x45, 0, 0, 20]);
    push(0, vec![0x40; 10]);
    out
}
