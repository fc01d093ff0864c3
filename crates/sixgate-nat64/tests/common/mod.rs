//! Shared helpers for the SIIT tests: an independent checksum and field accessors; the
//! stateful tests' harness is in [`stateful`], the sharded ones' in [`sharded`].
#![allow(dead_code, unreachable_pub)]

pub mod sharded;
pub mod stateful;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_nat64::{Siit, SiitConfig, SiitDrop};

/// A naive RFC 1071 checksum, written apart from sixgate-core's, for checking.
pub fn naive_sum(chunks: &[&[u8]]) -> u16 {
    let mut all = Vec::new();
    for c in chunks {
        all.extend_from_slice(c);
    }
    let mut acc: u64 = 0;
    for w in all.chunks(2) {
        acc += u64::from(if w.len() == 2 { u16::from_be_bytes([w[0], w[1]]) } else { u16::from(w[0]) << 8 });
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

pub fn v4ok(p: &[u8]) {
    assert_eq!(p[0] >> 4, 4, "not IPv4");
    let ihl = usize::from(p[0] & 15) * 4;
    assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len(), "IPv4 total length");
    assert_eq!(naive_sum(&[&p[..ihl]]), 0, "IPv4 header checksum");
}

/// Checks the IPv6 payload length and, for an unfragmented TCP/UDP/ICMPv6 packet, its
/// checksum. Returns the offset of the upper-layer header.
pub fn v6ok(p: &[u8]) -> usize {
    assert_eq!(p[0] >> 4, 6, "not IPv6");
    assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])) + 40, p.len(), "IPv6 payload length");
    let nh = p[6];
    if matches!(nh, 6 | 17 | 58) {
        let l4 = &p[40..];
        let mut ph = Vec::new();
        ph.extend_from_slice(&p[8..40]);
        ph.extend_from_slice(&(l4.len() as u32).to_be_bytes());
        ph.extend_from_slice(&[0, 0, 0, nh]);
        assert_eq!(naive_sum(&[&ph, l4]), 0, "IPv6 upper-layer checksum (nh {nh})");
    }
    40
}

/// Checks the transport checksum of an unfragmented IPv4 TCP/UDP/ICMP packet.
pub fn v4l4ok(p: &[u8]) {
    v4ok(p);
    let ihl = usize::from(p[0] & 15) * 4;
    let l4 = &p[ihl..];
    match p[9] {
        1 => assert_eq!(naive_sum(&[l4]), 0, "ICMPv4 checksum"),
        6 | 17 => {
            let mut ph = Vec::new();
            ph.extend_from_slice(&p[12..20]);
            ph.extend_from_slice(&[0, p[9]]);
            ph.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            assert_eq!(naive_sum(&[&ph, l4]), 0, "IPv4 transport checksum");
        }
        _ => {}
    }
}

pub fn a4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
pub fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
pub fn src4(p: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(p[12], p[13], p[14], p[15])
}
pub fn dst4(p: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(p[16], p[17], p[18], p[19])
}
pub fn src6(p: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap())
}
pub fn dst6(p: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap())
}

/// Translator used by most tests: own 198.51.100.1 / 2001:db8::1, pool6 2001:db8:64::/96.
pub fn siit() -> Siit {
    Siit::new(config()).unwrap()
}

pub fn config() -> SiitConfig {
    let mut c = SiitConfig::new(a4("198.51.100.1"), a6("2001:db8::1"));
    c.pool6 = Some("2001:db8:64::/96".parse().unwrap());
    c
}

pub fn run(s: &mut Siit, pkt: &[u8]) -> (Verdict<SiitDrop>, Vec<u8>) {
    let mut b = PacketBuf::from_slice(pkt);
    let v = s.process(&mut b, Instant::now());
    (v, b.to_vec())
}

/// All packets a verdict produced (first plus queued fragments).
pub fn run_all(s: &mut Siit, pkt: &[u8]) -> (Verdict<SiitDrop>, Vec<Vec<u8>>) {
    let mut b = PacketBuf::from_slice(pkt);
    let v = s.process(&mut b, Instant::now());
    let mut out = vec![b.to_vec()];
    while let Some(side) = s.poll_transmit(&mut b) {
        if let Verdict::Forward(fs) = v {
            assert_eq!(side, fs);
        }
        out.push(b.to_vec());
    }
    (v, out)
}

pub const FWD4: Verdict<SiitDrop> = Verdict::Forward(Side::V4);
pub const FWD6: Verdict<SiitDrop> = Verdict::Forward(Side::V6);
