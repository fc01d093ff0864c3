//! Checks of the fuzz target `stateful`: packet sequences through the stateful NAT64.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
// Only the registry numbers: the checks read the header fields themselves.
use sixgate_core::wire::{icmpv4, proto, tcp};

/// Fuzz check of the stateful NAT64 (`fuzz/fuzz_targets/stateful.rs`): a sequence of
/// packets from both sides and time steps through one [`sixgate_nat64::Nat64`].
///
/// Byte 0 configures (bit 0 endpoint-independent filtering, bit 1 a small pool of 2
/// addresses × 12 ports, bit 2 small session limits, bit 3 two shards; bits 4–5 the port
/// allocation: 1 port blocks — 4 ports (small pool) or 1,008, subscribers /127, 2 blocks
/// each, held 1 s —, 2 the RFC 7422 deterministic mapping — the 4 clients are 4 /128
/// subscribers of 3 or 1,024 ports —, else dynamic). Then records, by the low two bits
/// of a tag byte `t`:
/// - 0: time passes, `b << (t >> 2 & 15)` milliseconds for the next byte `b`; timers run
///   the way a driver runs them (at each [`Engine::poll_timeout`] deadline);
/// - 1: a valid IPv6 packet from one of 4 clients to one of 3 servers (5 bytes: client,
///   server, protocol, ports, TCP flags), or (by the protocol byte's top bits) its first or
///   second fragment, split after 8 bytes of payload;
/// - 2: a valid IPv4 packet from a server to a pool transport address (5 bytes), or (by
///   the last byte's top bits) its first or second fragment;
/// - 3: raw bytes (length byte, then the bytes; bit 2 of `t` picks the family, bit 3
///   repairs the length fields and IPv4 header checksum); with bit 4, instead, an ICMP
///   error about the last packet the engine forwarded, sent back from where it went.
///
/// Checked: no panic; the tables' invariants ([`sixgate_nat64::Nat64::check_invariants`]) after
/// every step; outputs are of their side's family; a forwarded packet made from a valid
/// input has valid checksums; after timers ran, the next deadline is in the future and
/// the Port Unreachable errors for held SYNs and the probes of idle TCP sessions are well
/// formed.
pub fn stateful(data: &[u8]) {
    use crate::packets;
    use sixgate_core::rfc6052::Pool6;
    use sixgate_nat64::stateful::{Filtering, Nat64, Nat64Config, Pool4Range};

    let Some((&c0, mut rest)) = data.split_first() else { return };
    let Ok(pool6) = Pool6::new("64:ff9b:1::/96".parse().expect("literal")) else { return };
    let pool4 = if c0 & 2 != 0 {
        vec![Pool4Range::new("198.51.100.0/31".parse().expect("literal"), 1000, 1011)]
    } else {
        vec![Pool4Range::new("198.51.100.0/32".parse().expect("literal"), 1024, 65535)]
    };
    let mut cfg = Nat64Config::new(
        pool6,
        pool4,
        "192.0.2.1".parse().expect("literal"),
        "2001:db8:ffff::1".parse().expect("literal"),
    );
    if c0 & 1 != 0 {
        cfg.filtering = Filtering::EndpointIndependent;
    }
    if c0 & 4 != 0 {
        cfg.max_sessions = 6;
        cfg.max_sessions_per_source = 3;
    }
    let small = c0 & 2 != 0;
    cfg.allocation = match (c0 >> 4) & 3 {
        1 => {
            let mut b = sixgate_nat64::PortBlocks::new(if small { 4 } else { 1008 });
            b.prefix_len = 127;
            b.max_per_subscriber = 2;
            b.hold = Duration::from_secs(1);
            sixgate_nat64::Allocation::Blocks(b)
        }
        2 => sixgate_nat64::Allocation::Deterministic(sixgate_nat64::Deterministic::new(
            "2001:db8:9::/126".parse().expect("literal"),
            128,
            if small { 3 } else { 1024 },
        )),
        _ => sixgate_nat64::Allocation::Dynamic,
    };
    // With bit 3 of the first byte, the tables are cut into two shards and each packet
    // goes in through the worker that bit 7 of its step byte names.
    let mut eng = if c0 & 8 != 0 {
        let Ok(s) = sixgate_nat64::Nat64Shards::new(cfg, 2) else { return };
        let h = s.clone().into_handles();
        Eng::Shards(s, h)
    } else {
        let Ok(e) = Nat64::new(cfg) else { return };
        Eng::One(Box::new(e))
    };
    let t0 = Instant::now();
    let mut now = t0;
    let mut last: Option<(Side, Vec<u8>)> = None;
    let servers4 = ["203.0.113.1", "203.0.113.2", "198.51.100.0"];
    let servers6 = ["64:ff9b:1::cb00:7101", "64:ff9b:1::cb00:7102", "64:ff9b:1::c633:6400"];
    let flags = [0x02u8, 0x12, 0x10, 0x11, 0x04, 0x01, 0x18, 0x00];
    let take = |rest: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        if rest.len() < n {
            return None;
        }
        let (a, b) = rest.split_at(n);
        *rest = b;
        Some(a.to_vec())
    };
    while let Some((&t, r)) = rest.split_first() {
        rest = r;
        let (pkt, valid) = match t & 3 {
            0 => {
                let Some(b) = take(&mut rest, 1) else { break };
                now += Duration::from_millis(u64::from(b[0]) << ((t >> 2) & 15));
                for w in 0..eng.workers() {
                    let e = eng.get(w);
                    let mut guard = 0;
                    while let Some(d) = e.poll_timeout() {
                        if d > now || guard > 100_000 {
                            break;
                        }
                        e.handle_timeout(d);
                        guard += 1;
                    }
                    e.handle_timeout(now);
                    assert!(e.poll_timeout().is_none_or(|d| d > now), "a deadline left in the past");
                    // Port Unreachable errors for held SYNs whose time ran out (IPv4), probes
                    // of idle established TCP sessions (IPv6).
                    let mut b = PacketBuf::new();
                    while let Some(side) = e.poll_transmit(&mut b) {
                        let o = b.as_slice();
                        if side == Side::V6 {
                            assert!(o.len() == 60 && o[0] >> 4 == 6 && o[6] == proto::TCP, "probe: IPv6 TCP, no data");
                            assert!(
                                o[44..52].iter().all(|&x| x == 0) && o[53] == tcp::ACK,
                                "probe: SEQ 0, ACK 0, only ACK"
                            );
                            stateful_sums_ok(o);
                            continue;
                        }
                        assert!(
                            o.len() >= 48
                                && o[0] == 0x45
                                && o[9] == proto::ICMP
                                && o[20] == icmpv4::DEST_UNREACHABLE
                                && o[21] == icmpv4::code::PORT_UNREACHABLE,
                            "held-SYN error"
                        );
                        assert_eq!(sixgate_core::checksum::checksum(&o[..20]), 0, "held-SYN error header checksum");
                        assert_eq!(sixgate_core::checksum::checksum(&o[20..]), 0, "held-SYN error ICMP checksum");
                    }
                }
                if let Err(m) = eng.check() {
                    panic!("{m}");
                }
                continue;
            }
            1 => {
                let Some(b) = take(&mut rest, 5) else { break };
                let c = format!("2001:db8:9::{}", b[0] & 3);
                let s = servers6[usize::from(b[1]) % 3];
                let (sp, dp) = (1000 + u16::from(b[3] & 15), 1 + u16::from(b[3] >> 4));
                let p = match b[2] % 3 {
                    0 => packets::tcp6_flags(&c, s, sp, dp, flags[usize::from(b[4] & 7)]),
                    1 => packets::udp6_ports(&c, s, sp, dp, &b[4..]),
                    _ => packets::echo6(&c, s, sp, u16::from(b[4]), b"x"),
                };
                match b[2] >> 6 {
                    w @ (1 | 2) => (fragment6(&p, u32::from(b[0] >> 2), w == 1), false),
                    _ => (p, true),
                }
            }
            2 => {
                let Some(b) = take(&mut rest, 5) else { break };
                let s = servers4[usize::from(b[0]) % 3];
                let dst = if b[4] & 8 != 0 { "198.51.100.1" } else { "198.51.100.0" };
                let pp = u16::from_be_bytes([b[2], b[3]]);
                let pp = if b[4] & 16 != 0 { 1000 + (pp % 12) } else { pp };
                let sp = 1 + u16::from(b[1] >> 4);
                let p = match b[1] % 3 {
                    0 => packets::tcp4_flags(s, dst, sp, pp, flags[usize::from(b[4] & 7)]),
                    1 => packets::udp4_ports(s, dst, sp, pp, b"y"),
                    _ => packets::echo_reply4(s, dst, pp, 1, b"y"),
                };
                match b[4] >> 5 {
                    w @ (1 | 2) => (fragment4(&p, u16::from(b[0] >> 2), w == 1), false),
                    _ => (p, true),
                }
            }
            _ if t & 16 != 0 => {
                let Some(b) = take(&mut rest, 1) else { break };
                let Some((side, out)) = last.clone() else { continue };
                let p = if side == Side::V4 {
                    let to = Ipv4Addr::new(out[12], out[13], out[14], out[15]);
                    let (typ, code) = [(3u8, 3u8), (3, 1), (11, 0), (3, 4), (12, 0)][usize::from(b[0]) % 5];
                    let mut rest4 = [0u8; 4];
                    rest4[3] = b[0];
                    packets::icmp4("192.0.2.99", &to.to_string(), typ, code, rest4, &out[..out.len().min(548)])
                } else {
                    let to = Ipv6Addr::from(<[u8; 16]>::try_from(&out[8..24]).unwrap_or_default());
                    let (typ, code) = [(1u8, 4u8), (1, 0), (3, 0), (2, 0), (4, 0)][usize::from(b[0]) % 5];
                    packets::icmp6(
                        &to.to_string(),
                        "64:ff9b:1::cb00:7101",
                        typ,
                        code,
                        [0, 0, 5, b[0]],
                        &out[..out.len().min(1232)],
                    )
                };
                (p, true)
            }
            _ => {
                let Some(n) = take(&mut rest, 1) else { break };
                let Some(mut p) = take(&mut rest, usize::from(n[0])) else { break };
                if let Some(b) = p.first_mut() {
                    *b = (*b & 0x0f) | if t & 4 != 0 { 0x60 } else { 0x40 };
                }
                if t & 8 != 0 {
                    if t & 4 != 0 && p.len() >= 40 {
                        let l = (p.len() - 40) as u16;
                        p[4..6].copy_from_slice(&l.to_be_bytes());
                    } else if t & 4 == 0 && p.len() >= 20 {
                        p[0] = 0x45;
                        let l = p.len() as u16;
                        p[2..4].copy_from_slice(&l.to_be_bytes());
                        packets::fix_ipv4_checksum(&mut p);
                    }
                }
                (p, false)
            }
        };
        let mut buf = PacketBuf::from_slice(&pkt);
        let e = eng.get(usize::from(t >> 7));
        let v = e.process(&mut buf, now);
        let out = buf.as_slice();
        match v {
            Verdict::Forward(side) | Verdict::Reply(side) => {
                let fam = if side == Side::V4 { 4 } else { 6 };
                assert_eq!(out.first().map(|b| b >> 4), Some(fam), "{v:?} of the wrong family");
                if valid && matches!(v, Verdict::Forward(_)) {
                    stateful_sums_ok(out);
                }
                if matches!(v, Verdict::Forward(_)) {
                    last = Some((side, out.to_vec()));
                }
            }
            Verdict::Drop(_) => {}
        }
        while e.poll_transmit(&mut buf).is_some() {}
        if let Err(m) = eng.check() {
            panic!("{m}");
        }
    }
}

/// The stateful engine under [`stateful`]: one, or two shards with a handle each.
enum Eng {
    One(Box<sixgate_nat64::Nat64>),
    Shards(sixgate_nat64::Nat64Shards, Vec<sixgate_nat64::Nat64Handle>),
}

impl Eng {
    fn workers(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Shards(_, h) => h.len(),
        }
    }

    fn get(&mut self, w: usize) -> &mut dyn Engine<Reason = sixgate_nat64::Nat64Drop> {
        match self {
            Self::One(e) => &mut **e,
            Self::Shards(_, h) => {
                let n = h.len();
                &mut h[w % n]
            }
        }
    }

    fn check(&self) -> Result<(), String> {
        match self {
            Self::One(e) => e.check_invariants(),
            Self::Shards(s, _) => {
                (0..s.len()).try_for_each(|k| s.with_shard(k, |e| e.check_invariants()).unwrap_or(Ok(())))
            }
        }
    }
}

/// The first (`first`) or second fragment of an IPv6 packet without extension headers,
/// split after 8 bytes of payload, with identification `id`.
fn fragment6(p: &[u8], id: u32, first: bool) -> Vec<u8> {
    let (off, chunk) = if first { (0, &p[40..48]) } else { (8, &p[48..]) };
    let mut f = p[..40].to_vec();
    f[6] = proto::FRAGMENT;
    f[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[p[6], 0]);
    f.extend_from_slice(&(off | u16::from(first)).to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(chunk);
    f
}

/// The first or second fragment of an IPv4 packet (20-byte header), split after 8 bytes.
fn fragment4(p: &[u8], id: u16, first: bool) -> Vec<u8> {
    let (ff, chunk) = if first { (0x2000u16, &p[20..28]) } else { (1, &p[28..]) };
    let mut f = p[..20].to_vec();
    f[2..4].copy_from_slice(&((20 + chunk.len()) as u16).to_be_bytes());
    f[4..6].copy_from_slice(&id.to_be_bytes());
    f[6..8].copy_from_slice(&ff.to_be_bytes());
    f.extend_from_slice(chunk);
    crate::packets::fix_ipv4_checksum(&mut f);
    f
}

/// Transport checksums of an unfragmented output verify (naive sums, as above).
fn stateful_sums_ok(p: &[u8]) {
    fn s(d: &[u8]) -> u32 {
        let mut a = 0u32;
        for c in d.chunks(2) {
            a += u32::from(c[0]) << 8 | u32::from(c.get(1).copied().unwrap_or(0));
        }
        a
    }
    fn ok(mut a: u32) -> bool {
        while a > 0xffff {
            a = (a & 0xffff) + (a >> 16);
        }
        a == 0xffff
    }
    if p[0] >> 4 == 4 {
        let ihl = usize::from(p[0] & 15) * 4;
        assert!(ok(s(&p[..ihl])), "IPv4 header checksum");
        if u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0 {
            return;
        }
        let l4 = &p[ihl..];
        let ps = if p[9] == proto::ICMP { 0 } else { s(&p[12..20]) + u32::from(p[9]) + l4.len() as u32 };
        assert!(ok(ps + s(l4)), "IPv4 transport checksum of {p:02x?}");
    } else if p[6] != proto::FRAGMENT {
        let l4 = &p[40..];
        let ps = s(&p[8..40]) + u32::from(p[6]) + l4.len() as u32;
        assert!(ok(ps + s(l4)), "IPv6 transport checksum of {p:02x?}");
    }
}

/// Seed inputs for [`stateful`]: handshakes, exchanges, errors, floods and time steps.
pub fn seeds_stateful() -> Vec<Vec<u8>> {
    // Records: [1, client, server, proto, ports, flags] IPv6; [2, server, proto|sport,
    // port hi, port lo, flags] IPv4; [t, b] time; [0x13, b] ICMP error about the last.
    let tcp_open = [1u8, 0, 0, 0, 0x10, 0, 2, 0, 0x10, 0x03, 0xe8, 1 | 16];
    let mut out = Vec::new();
    // Bit 3 of `cfg`: two shards; a step byte with bit 7 goes in through worker 1.
    // Bits 4–5: port blocks, deterministic mapping.
    for cfg in (0u8..16).chain([0x10, 0x12, 0x15, 0x16, 0x18, 0x20, 0x22, 0x25, 0x26]) {
        let mut s = vec![cfg];
        s.extend_from_slice(&tcp_open);
        if cfg & 8 != 0 {
            // The answer comes in on the other worker.
            let mut x = s.clone();
            x[7] = 0x82;
            out.push(x);
        }
        s.extend_from_slice(&[1, 0, 0, 0, 0x10, 2, 1, 0, 0, 0x10, 3, 2, 0, 0x10, 0x03, 0xe8, 3 | 16]);
        s.extend_from_slice(&[0x30, 200, 0x3c, 255, 0x3c, 255]);
        out.push(s);
        let mut s = vec![cfg];
        for i in 0..8u8 {
            s.extend_from_slice(&[1, i & 3, i % 3, 1, i, b'q']);
            s.extend_from_slice(&[2, i % 3, 1 | 0x10, 0x03, 0xe8 + i, 16]);
            s.extend_from_slice(&[0x13, i]);
        }
        s.extend_from_slice(&[0x28, 255, 0x28, 255]);
        out.push(s);
        let mut s = vec![cfg];
        for i in 0..6u8 {
            s.extend_from_slice(&[1, i & 3, 2, 2, i, i]);
            s.extend_from_slice(&[0x13, i]);
            s.extend_from_slice(&[2, i, 2, 0x03, 0xe8 + i, 16]);
        }
        s.extend_from_slice(&[0x20, 255, 0x24, 255]);
        out.push(s);
        // Fragments: a UDP datagram's second fragment before its first, then the reply's
        // fragments in both orders to both pool addresses, then time for them to expire.
        let mut s = vec![cfg, 1, 0, 0, 0x82, 0x10, b'q', 1, 0, 0, 0x40, 0x10, b'q'];
        for last in [0x40u8, 0x20, 0x28, 0x48] {
            s.extend_from_slice(&[2, 0, 0x10, 0, 0, 16 | last]);
        }
        s.extend_from_slice(&[0x2c, 255]);
        out.push(s);
        // Hairpin: a client to the pool's own addresses (server index 2).
        let mut s = vec![cfg, 1, 1, 0, 1, 0x21, 0, 1, 0, 2, 1, 0x12, 0];
        s.extend_from_slice(&[2, 2, 1, 0x03, 0xe8, 16]);
        out.push(s);
        // Raw bytes of both families.
        let mut s = vec![cfg, 0x0b, 28];
        s.extend_from_slice(&crate::packets::udp4_ports("203.0.113.1", "198.51.100.0", 53, 1024, b""));
        s.extend_from_slice(&[0x0f, 48]);
        s.extend_from_slice(&crate::packets::udp6_ports("2001:db8:9::1", "64:ff9b:1::cb00:7101", 1000, 53, b""));
        out.push(s);
    }
    // A TCP handshake on the small pool (to either pool address), then idle past TCP_EST:
    // the session is probed (RFC 6146 §3.5.2.2).
    for dst in [0u8, 8] {
        out.push(vec![2, 1, 0, 0, 0, 0x10, 0, 2, 0, 0x12, 0x03, 0xe8, 1 | dst, 0x3c, 255]);
    }
    out
}
