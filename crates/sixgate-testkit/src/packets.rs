//! Packet builders for tests, examples, benchmarks and fuzz seeds. Every packet they build
//! has correct lengths and checksums; addresses are given as text and a bad one becomes the
//! unspecified address. [`sit`] holds the 6in4 (protocol 41) builders.

pub mod sit;

use std::net::{Ipv4Addr, Ipv6Addr};

use sixgate_core::checksum::{add, finish, fold, pseudo_v4, pseudo_v6, sum};

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
}
fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

/// An IPv4 header (no options) for `payload_len` bytes of `proto`, checksum filled.
pub fn ipv4_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    payload_len: usize,
    ttl: u8,
    id: u16,
    df: bool,
) -> [u8; 20] {
    let total = (20 + payload_len) as u16;
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    if df {
        h[6] = 0x40;
    }
    h[8] = ttl;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = finish(sum(&h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// An IPv6 header for `payload_len` bytes of `nh`.
pub fn ipv6_header(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, payload_len: usize, hop: u8) -> [u8; 40] {
    let mut h = [0u8; 40];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    h[6] = nh;
    h[7] = hop;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    h
}

fn l4_udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn l4_tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn set_csum(l4: &mut [u8], at: usize, pseudo: u32, udp: bool) {
    let mut c = finish(add(pseudo, sum(l4)));
    if udp && c == 0 {
        c = 0xffff;
    }
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// IPv4 UDP packet.
pub fn udp4(src: &str, dst: &str, dport: u16, payload: &[u8]) -> Vec<u8> {
    let (s, d) = (v4(src), v4(dst));
    let mut u = l4_udp(40000, dport, payload);
    let n = u.len() as u16;
    set_csum(&mut u, 6, pseudo_v4(s, d, 17, n), true);
    let mut p = ipv4_header(s, d, 17, u.len(), 64, 0x1234, true).to_vec();
    p.extend_from_slice(&u);
    p
}

/// IPv6 UDP packet.
pub fn udp6(src: &str, dst: &str, dport: u16, payload: &[u8]) -> Vec<u8> {
    let (s, d) = (v6(src), v6(dst));
    let mut u = l4_udp(40000, dport, payload);
    let n = u.len() as u32;
    set_csum(&mut u, 6, pseudo_v6(s, d, 17, n), true);
    let mut p = ipv6_header(s, d, 17, u.len(), 64).to_vec();
    p.extend_from_slice(&u);
    p
}

/// IPv4 TCP packet (PSH|ACK).
pub fn tcp4(src: &str, dst: &str, dport: u16, payload: &[u8]) -> Vec<u8> {
    let (s, d) = (v4(src), v4(dst));
    let mut t = l4_tcp(40000, dport, payload);
    let n = t.len() as u16;
    set_csum(&mut t, 16, pseudo_v4(s, d, 6, n), false);
    let mut p = ipv4_header(s, d, 6, t.len(), 64, 0x1234, true).to_vec();
    p.extend_from_slice(&t);
    p
}

/// IPv6 TCP packet (PSH|ACK).
pub fn tcp6(src: &str, dst: &str, dport: u16, payload: &[u8]) -> Vec<u8> {
    let (s, d) = (v6(src), v6(dst));
    let mut t = l4_tcp(40000, dport, payload);
    let n = t.len() as u32;
    set_csum(&mut t, 16, pseudo_v6(s, d, 6, n), false);
    let mut p = ipv6_header(s, d, 6, t.len(), 64).to_vec();
    p.extend_from_slice(&t);
    p
}

/// ICMPv4 message of any type (checksum filled).
pub fn icmp4(src: &str, dst: &str, typ: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let (s, d) = (v4(src), v4(dst));
    let mut m = vec![typ, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(data);
    set_csum(&mut m, 2, 0, false);
    let mut p = ipv4_header(s, d, 1, m.len(), 64, 0x1234, false).to_vec();
    p.extend_from_slice(&m);
    p
}

/// ICMPv6 message of any type (checksum filled).
pub fn icmp6(src: &str, dst: &str, typ: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let (s, d) = (v6(src), v6(dst));
    let mut m = vec![typ, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(data);
    let n = m.len() as u32;
    set_csum(&mut m, 2, pseudo_v6(s, d, 58, n), false);
    let mut p = ipv6_header(s, d, 58, m.len(), 64).to_vec();
    p.extend_from_slice(&m);
    p
}

/// ICMPv4 echo request.
pub fn echo4(src: &str, dst: &str, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut rest = [0; 4];
    rest[..2].copy_from_slice(&id.to_be_bytes());
    rest[2..].copy_from_slice(&seq.to_be_bytes());
    icmp4(src, dst, 8, 0, rest, data)
}

/// ICMPv6 echo request.
pub fn echo6(src: &str, dst: &str, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut rest = [0; 4];
    rest[..2].copy_from_slice(&id.to_be_bytes());
    rest[2..].copy_from_slice(&seq.to_be_bytes());
    icmp6(src, dst, 128, 0, rest, data)
}

/// Recomputes the IPv4 header checksum of `p` in place (after a test edits the header).
pub fn fix_ipv4_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0xf) * 4;
    p[10] = 0;
    p[11] = 0;
    let c = finish(sum(&p[..ihl]));
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Whether the transport checksum of a complete TCP or UDP packet verifies: the sum over
/// the pseudo-header and the transport bytes folds to 0xffff. `false` for what
/// [`sixgate_core::gso::layout`] does not take (a fragment, other protocols, lengths that
/// disagree).
pub fn transport_checksum_ok(p: &[u8]) -> bool {
    let Some(l) = sixgate_core::gso::layout(p) else { return false };
    let ulen = p.len() - l.l3;
    let pseudo = if l.v6 {
        let (Ok(s), Ok(d)) = (<[u8; 16]>::try_from(&p[8..24]), <[u8; 16]>::try_from(&p[24..40])) else {
            return false;
        };
        pseudo_v6(s.into(), d.into(), l.proto, ulen as u32)
    } else {
        let (Ok(s), Ok(d)) = (<[u8; 4]>::try_from(&p[12..16]), <[u8; 4]>::try_from(&p[16..20])) else {
            return false;
        };
        pseudo_v4(s.into(), d.into(), l.proto, ulen as u16)
    };
    fold(add(pseudo, sum(&p[l.l3..]))) == 0xffff
}

/// IPv6 UDP packet with explicit ports.
pub fn udp6_ports(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let (s, d) = (v6(src), v6(dst));
    let mut u = l4_udp(sport, dport, payload);
    let n = u.len() as u32;
    set_csum(&mut u, 6, pseudo_v6(s, d, 17, n), true);
    let mut p = ipv6_header(s, d, 17, u.len(), 64).to_vec();
    p.extend_from_slice(&u);
    p
}

/// IPv4 UDP packet with explicit ports.
pub fn udp4_ports(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let (s, d) = (v4(src), v4(dst));
    let mut u = l4_udp(sport, dport, payload);
    let n = u.len() as u16;
    set_csum(&mut u, 6, pseudo_v4(s, d, 17, n), true);
    let mut p = ipv4_header(s, d, 17, u.len(), 64, 0x1234, true).to_vec();
    p.extend_from_slice(&u);
    p
}

/// IPv6 TCP segment with explicit ports and flags (0x02 SYN, 0x01 FIN, 0x04 RST, 0x10 ACK).
pub fn tcp6_flags(src: &str, dst: &str, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let (s, d) = (v6(src), v6(dst));
    let mut t = l4_tcp(sport, dport, &[]);
    t[13] = flags;
    let n = t.len() as u32;
    set_csum(&mut t, 16, pseudo_v6(s, d, 6, n), false);
    let mut p = ipv6_header(s, d, 6, t.len(), 64).to_vec();
    p.extend_from_slice(&t);
    p
}

/// IPv4 TCP segment with explicit ports and flags.
pub fn tcp4_flags(src: &str, dst: &str, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let (s, d) = (v4(src), v4(dst));
    let mut t = l4_tcp(sport, dport, &[]);
    t[13] = flags;
    let n = t.len() as u16;
    set_csum(&mut t, 16, pseudo_v4(s, d, 6, n), false);
    let mut p = ipv4_header(s, d, 6, t.len(), 64, 0x1234, true).to_vec();
    p.extend_from_slice(&t);
    p
}

/// ICMPv4 echo reply.
pub fn echo_reply4(src: &str, dst: &str, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut rest = [0; 4];
    rest[..2].copy_from_slice(&id.to_be_bytes());
    rest[2..].copy_from_slice(&seq.to_be_bytes());
    icmp4(src, dst, 0, 0, rest, data)
}

/// An IPv6 packet without extension headers as fragments cut at the payload offsets `cuts`
/// (multiples of 8, ascending), with identification `id`.
pub fn frag6_at(full: &[u8], id: u32, cuts: &[usize]) -> Vec<Vec<u8>> {
    let payload = &full[40..];
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(payload.len());
    bounds
        .windows(2)
        .map(|w| {
            let mut p = full[..40].to_vec();
            p[6] = 44;
            p[4..6].copy_from_slice(&((8 + w[1] - w[0]) as u16).to_be_bytes());
            p.extend_from_slice(&[full[6], 0]);
            p.extend_from_slice(&((w[0] as u16) | u16::from(w[1] < payload.len())).to_be_bytes());
            p.extend_from_slice(&id.to_be_bytes());
            p.extend_from_slice(&payload[w[0]..w[1]]);
            p
        })
        .collect()
}

/// An IPv4 packet (20-byte header) as fragments cut at the payload offsets `cuts`
/// (multiples of 8, ascending), with identification `id`.
pub fn frag4_at(full: &[u8], id: u16, cuts: &[usize]) -> Vec<Vec<u8>> {
    let payload = &full[20..];
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(payload.len());
    bounds
        .windows(2)
        .map(|w| {
            let mut p = full[..20].to_vec();
            p[2..4].copy_from_slice(&((20 + w[1] - w[0]) as u16).to_be_bytes());
            p[4..6].copy_from_slice(&id.to_be_bytes());
            let more = u16::from(w[1] < payload.len()) << 13;
            p[6..8].copy_from_slice(&(more | (w[0] / 8) as u16).to_be_bytes());
            p.extend_from_slice(&payload[w[0]..w[1]]);
            fix_ipv4_checksum(&mut p);
            p
        })
        .collect()
}

/// [`frag6_at`] with one cut: the first fragment carries `first` bytes of the payload.
pub fn frag6(full: &[u8], id: u32, first: usize) -> [Vec<u8>; 2] {
    let mut v = frag6_at(full, id, &[first]);
    let b = v.pop().unwrap_or_default();
    [v.pop().unwrap_or_default(), b]
}

/// [`frag4_at`] with one cut: the first fragment carries `first` bytes of the payload.
pub fn frag4(full: &[u8], id: u16, first: usize) -> [Vec<u8>; 2] {
    let mut v = frag4_at(full, id, &[first]);
    let b = v.pop().unwrap_or_default();
    [v.pop().unwrap_or_default(), b]
}
