//! Packet builders for 6in4 tests, examples, benchmarks and fuzz seeds: IPv6 inner
//! packets, IPv4 protocol 41 encapsulation and ICMPv4 Fragmentation Needed. Every packet
//! they build has correct lengths and checksums.

use std::net::{Ipv4Addr, Ipv6Addr};

use sixgate_core::checksum::{add, finish, pseudo_v6, sum};

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}
fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// An IPv6 packet of next header `nh` with `l4` as payload (checksum already in `l4`).
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, tc: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x60 | (tc >> 4);
    p[1] = tc << 4;
    p[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
    p[6] = nh;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p.extend_from_slice(l4);
    p
}

/// An IPv6 UDP packet (ports 1234 → 53) with a correct checksum.
pub fn udp6(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let (s, d) = (v6(src), v6(dst));
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&1234u16.to_be_bytes());
    u.extend_from_slice(&53u16.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let c = match finish(add(pseudo_v6(s, d, 17, u.len() as u32), sum(&u))) {
        0 => 0xffff,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    ipv6(s, d, 17, 0, &u)
}

/// An IPv4 header (no options) for `payload_len` bytes of `proto`, checksum filled.
pub fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload_len: usize, tos: u8, df: bool) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[1] = tos;
    h[2..4].copy_from_slice(&((20 + payload_len) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    if df {
        h[6] = 0x40;
    }
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = finish(sum(&h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// `inner` encapsulated in IPv4 protocol 41 from `src` to `dst`.
pub fn encap(src: &str, dst: &str, tos: u8, inner: &[u8]) -> Vec<u8> {
    let mut p = ipv4_header(v4(src), v4(dst), 41, inner.len(), tos, true).to_vec();
    p.extend_from_slice(inner);
    p
}

/// An ICMPv4 Fragmentation Needed from `router` to `to`, advertising `mtu`, quoting the
/// first `quote` bytes of `about`.
pub fn frag_needed(router: &str, to: &str, mtu: u16, about: &[u8], quote: usize) -> Vec<u8> {
    let q = &about[..quote.min(about.len())];
    let mut m = vec![3u8, 4, 0, 0, 0, 0];
    m.extend_from_slice(&mtu.to_be_bytes());
    m.extend_from_slice(q);
    let c = finish(sum(&m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = ipv4_header(v4(router), v4(to), 1, m.len(), 0, false).to_vec();
    p.extend_from_slice(&m);
    p
}
