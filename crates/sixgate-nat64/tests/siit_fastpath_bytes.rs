//! The fast path (`Siit::fast_v4`/`fast_v6`) against the general path, byte for byte, on
//! packets built from arbitrary header fields: IPv4 options, DF/MF/reserved bits and fragment
//! offsets, TTL and hop limits 0-255, right and wrong header and transport checksums, zero
//! UDP checksums, lengths that do not match the buffer, addresses in forbidden blocks or equal
//! to the translator's own, other prefixes, other protocols, buffers without headroom, and
//! several configurations (pool6, MTUs, TOS policies). A denylist entry that never matches
//! (0.0.0.0/32 is forbidden anyway) turns the fast path off without changing behaviour; the
//! same packets then go through the general path. Two packets are sent to each pair so that
//! a difference in the IPv4 identification counter shows up too.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{add, finish, pseudo_v4, pseudo_v6, sum};
use sixgate_core::engine::Engine;
use sixgate_nat64::config::TosPolicy;
use sixgate_nat64::{Siit, SiitConfig};

/// Pools: a documentation prefix, the well-known prefix, a prefix whose words sum to 0xffff
/// (≡ 0 in one's complement, so the checksum update adds "negative zero"), a multicast
/// prefix (destinations in it are refused), and `::/96`.
const POOLS: [&str; 5] = ["2001:db8:64::/96", "64:ff9b::/96", "8000:7fff::/96", "ff0e::/96", "::/96"];

#[derive(Debug, Clone)]
struct Cfg {
    pool: usize,
    ipv4_mtu: u16,
    ipv6_mtu: u16,
    lowest_ipv6_mtu: u16,
    amend: bool,
    tc: u8,
    tos: u8,
    own6_in_pool: bool,
}

fn policy(x: u8) -> TosPolicy {
    match x % 3 {
        0 => TosPolicy::Copy,
        1 => TosPolicy::Zero,
        _ => TosPolicy::Force(x),
    }
}

fn pool_prefix(i: usize) -> u128 {
    let p: ipnet::Ipv6Net = POOLS[i].parse().unwrap();
    u128::from(p.network())
}

fn pair(c: &Cfg) -> (Siit, Siit) {
    let own6 = if c.own6_in_pool {
        Ipv6Addr::from(pool_prefix(c.pool) | u128::from(u32::from(Ipv4Addr::new(198, 51, 100, 2))))
    } else {
        "2001:db8::1".parse().unwrap()
    };
    let mut s = SiitConfig::new(Ipv4Addr::new(198, 51, 100, 1), own6);
    s.pool6 = Some(POOLS[c.pool].parse().unwrap());
    s.ipv4_mtu = c.ipv4_mtu;
    s.ipv6_mtu = c.ipv6_mtu;
    s.lowest_ipv6_mtu = c.lowest_ipv6_mtu;
    s.amend_udp_checksum_zero = c.amend;
    s.traffic_class = policy(c.tc);
    s.tos = policy(c.tos);
    let fast = Siit::new(s.clone()).unwrap();
    s.denylist4.push("0.0.0.0/32".parse().unwrap());
    (fast, Siit::new(s).unwrap())
}

fn cfg() -> impl Strategy<Value = Cfg> {
    (
        0..POOLS.len(),
        prop::sample::select(vec![68u16, 576, 1280, 1500, 9000]),
        prop::sample::select(vec![1280u16, 1500, 9000]),
        prop::sample::select(vec![1280u16, 1500]),
        any::<bool>(),
        any::<u8>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(pool, ipv4_mtu, ipv6_mtu, lowest_ipv6_mtu, amend, tc, tos, own6_in_pool)| Cfg {
            pool,
            ipv4_mtu,
            ipv6_mtu,
            lowest_ipv6_mtu,
            amend,
            tc,
            tos,
            own6_in_pool,
        })
}

/// An IPv4 address from a block the translator treats specially, or anywhere.
fn addr4(x: u32) -> u32 {
    match x % 8 {
        0 => x,
        1 => 0x0a00_0000 | (x >> 8),  // 10/8
        2 => 0xc000_0200 | (x >> 24), // 192.0.2/24
        3 => 0xc633_6401,             // the translator's own
        4 => [0, 0x7f00_0001, 0xa9fe_0101, 0xe000_0001, 0xffff_ffff, 0xf000_0001][(x >> 8) as usize % 6],
        5 => 0xc633_6402,            // own IPv6 address's low 32 bits (sometimes)
        _ => 0x4a00_0000 | (x >> 8), // global
    }
}

#[derive(Debug, Clone)]
struct L4 {
    proto: u8,
    len: usize,
    fill: u8,
    /// 0: correct, 1: zero, 2: corrupted, 3: arbitrary
    csum: u8,
    csum_val: u16,
}

fn l4() -> impl Strategy<Value = L4> {
    (
        prop::sample::select(vec![6u8, 17, 17, 6, 1, 58, 0, 44, 2, 59]),
        prop_oneof![
            0usize..40,
            0usize..1600,
            // Around the DF threshold (1260), the MTUs and the minimum lengths.
            prop::sample::select(vec![
                7usize, 8, 9, 10, 19, 20, 21, 535, 536, 537, 1219, 1220, 1221, 1239, 1240, 1241, 1259, 1260, 1261,
                1439, 1440, 1441, 1459, 1460, 1461, 1479, 1480, 1481,
            ]),
        ],
        any::<u8>(),
        0u8..4,
        prop_oneof![Just(0xffffu16), Just(0), Just(1), Just(0xfffe), any::<u16>()],
    )
        .prop_map(|(proto, len, fill, csum, csum_val)| L4 { proto, len, fill, csum, csum_val })
}

/// The transport bytes (a TCP or UDP header where they fit) and where the checksum is.
fn transport(l: &L4, pseudo: u32) -> Vec<u8> {
    let mut t: Vec<u8> = (0..l.len).map(|i| l.fill.wrapping_add(i as u8)).collect();
    let at = match l.proto {
        6 => 16,
        17 => 6,
        _ => return t,
    };
    if l.proto == 6 && t.len() > 12 {
        t[12] = 0x50;
    }
    if l.proto == 17 && t.len() >= 6 {
        t[4..6].copy_from_slice(&(l.len as u16).to_be_bytes());
    }
    if t.len() < at + 2 {
        return t;
    }
    t[at] = 0;
    t[at + 1] = 0;
    let mut c = finish(add(pseudo, sum(&t)));
    if l.proto == 17 && c == 0 {
        c = 0xffff;
    }
    let c = match l.csum {
        0 => c,
        1 => 0,
        2 => c ^ 0x0101,
        _ => l.csum_val,
    };
    t[at..at + 2].copy_from_slice(&c.to_be_bytes());
    t
}

#[derive(Debug, Clone)]
struct Pkt4 {
    ihl: u8,
    opts: Vec<u8>,
    tos: u8,
    flags: u16,
    id: u16,
    ttl: u8,
    src: u32,
    dst: u32,
    bad_hdr_csum: bool,
    /// Difference between the total length field and the bytes sent.
    extra: i8,
    l4: L4,
}

fn pkt4() -> impl Strategy<Value = Pkt4> {
    (
        prop_oneof![8 => Just(5u8), 1 => 0u8..16],
        prop::collection::vec(any::<u8>(), 40),
        any::<u8>(),
        prop_oneof![Just(0u16), Just(0x4000), Just(0x2000), Just(0x8000), any::<u16>()],
        any::<u16>(),
        prop_oneof![Just(64u8), Just(1), Just(2), Just(0), any::<u8>()],
        any::<u32>().prop_map(addr4),
        any::<u32>().prop_map(addr4),
        prop::bool::weighted(0.1),
        prop_oneof![6 => Just(0i8), 1 => -4i8..8],
        l4(),
    )
        .prop_map(|(ihl, opts, tos, flags, id, ttl, src, dst, bad_hdr_csum, extra, l4)| Pkt4 {
            ihl,
            opts,
            tos,
            flags,
            id,
            ttl,
            src,
            dst,
            bad_hdr_csum,
            extra,
            l4,
        })
}

fn build4(p: &Pkt4) -> Vec<u8> {
    let ihl = usize::from(p.ihl.max(5)) * 4;
    let (s, d) = (Ipv4Addr::from(p.src), Ipv4Addr::from(p.dst));
    let t = transport(&p.l4, pseudo_v4(s, d, p.l4.proto, p.l4.len as u16));
    let total = (ihl + t.len()) as i64 + i64::from(p.extra);
    let mut h = vec![0u8; ihl];
    h[0] = 0x40 | p.ihl;
    h[1] = p.tos;
    h[2..4].copy_from_slice(&(total.clamp(0, 0xffff) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&p.id.to_be_bytes());
    h[6..8].copy_from_slice(&p.flags.to_be_bytes());
    h[8] = p.ttl;
    h[9] = p.l4.proto;
    h[12..16].copy_from_slice(&s.octets());
    h[16..20].copy_from_slice(&d.octets());
    h[20..].copy_from_slice(&p.opts[..ihl - 20]);
    let mut c = finish(sum(&h));
    if p.bad_hdr_csum {
        c ^= 0x0010;
    }
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(&t);
    h
}

#[derive(Debug, Clone)]
struct Pkt6 {
    version: u8,
    tc: u8,
    flow: u32,
    hop: u8,
    src: u32,
    dst: u32,
    /// 0: both in the configured pool, 1: source elsewhere, 2: destination elsewhere.
    where_: u8,
    extra: i8,
    l4: L4,
}

fn pkt6() -> impl Strategy<Value = Pkt6> {
    (
        prop_oneof![8 => Just(6u8), 1 => 0u8..16],
        any::<u8>(),
        prop_oneof![Just(0u32), any::<u32>()],
        prop_oneof![Just(64u8), Just(1), Just(2), Just(0), any::<u8>()],
        any::<u32>().prop_map(addr4),
        any::<u32>().prop_map(addr4),
        prop_oneof![6 => Just(0u8), 1 => 1u8..3],
        prop_oneof![6 => Just(0i8), 1 => -4i8..8],
        l4(),
    )
        .prop_map(|(version, tc, flow, hop, src, dst, where_, extra, l4)| Pkt6 {
            version,
            tc,
            flow,
            hop,
            src,
            dst,
            where_,
            extra,
            l4,
        })
}

fn build6(p: &Pkt6, pool: usize) -> Vec<u8> {
    let pre = pool_prefix(pool);
    let other = pool_prefix((pool + 1) % POOLS.len()) ^ (1 << 40);
    let s = Ipv6Addr::from(if p.where_ == 1 { other } else { pre } | u128::from(p.src));
    let d = Ipv6Addr::from(if p.where_ == 2 { other } else { pre } | u128::from(p.dst));
    let t = transport(&p.l4, pseudo_v6(s, d, p.l4.proto, p.l4.len as u32));
    let plen = t.len() as i64 + i64::from(p.extra);
    let mut h = vec![0u8; 40];
    let w = (u32::from(p.version & 0xf) << 28) | (u32::from(p.tc) << 20) | (p.flow & 0xf_ffff);
    h[0..4].copy_from_slice(&w.to_be_bytes());
    h[4..6].copy_from_slice(&(plen.clamp(0, 0xffff) as u16).to_be_bytes());
    h[6] = p.l4.proto;
    h[7] = p.hop;
    h[8..24].copy_from_slice(&s.octets());
    h[24..40].copy_from_slice(&d.octets());
    h.extend_from_slice(&t);
    h
}

/// Verdict, every packet out (first and queued fragments), for each of two sends.
fn run(s: &mut Siit, pkt: &[u8], headroom: usize) -> Vec<(String, Vec<Vec<u8>>)> {
    (0..2)
        .map(|_| {
            let mut b = PacketBuf::with_capacity(headroom, 2048);
            b.set(pkt).unwrap();
            let v = s.process(&mut b, Instant::now());
            let mut out = vec![b.to_vec()];
            while s.poll_transmit(&mut b).is_some() {
                out.push(b.to_vec());
            }
            (format!("{v:?}"), out)
        })
        .collect()
}

fn compare(c: &Cfg, pkt: &[u8], headroom: usize) -> Result<(), TestCaseError> {
    let (mut fast, mut general) = pair(c);
    let a = run(&mut fast, pkt, headroom);
    let b = run(&mut general, pkt, headroom);
    prop_assert_eq!(&a, &b, "packet {:02x?}", pkt);
    prop_assert_eq!(format!("{}", fast.counters()), format!("{}", general.counters()));
    prop_assert_eq!(fast.icmp_suppressed(), general.icmp_suppressed());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn v4_fast_equals_general(c in cfg(), p in pkt4(), small_headroom in prop::bool::weighted(0.05)) {
        compare(&c, &build4(&p), if small_headroom { 12 } else { 128 })?;
    }

    #[test]
    fn v6_fast_equals_general(c in cfg(), p in pkt6(), small_headroom in prop::bool::weighted(0.05)) {
        compare(&c, &build6(&p, c.pool), if small_headroom { 12 } else { 128 })?;
    }
}

/// The common TCP and UDP cases against packets built independently, both ways, with the
/// payload left where it was.
#[test]
fn common_udp_and_tcp_translate_to_known_bytes() {
    let c = Cfg {
        pool: 0,
        ipv4_mtu: 1500,
        ipv6_mtu: 1500,
        lowest_ipv6_mtu: 1280,
        amend: false,
        tc: 0,
        tos: 0,
        own6_in_pool: false,
    };
    for proto in [6u8, 17] {
        let l = L4 { proto, len: 64, fill: 3, csum: 0, csum_val: 0 };
        let p = Pkt4 {
            ihl: 5,
            opts: vec![0; 40],
            tos: 0xb8,
            flags: 0x4000,
            id: 7,
            ttl: 9,
            src: 0xc000_020a,
            dst: 0xc633_6414,
            bad_hdr_csum: false,
            extra: 0,
            l4: l.clone(),
        };
        let (mut fast, _) = pair(&c);
        let mut b = PacketBuf::from_slice(&build4(&p));
        let payload_at = b.as_slice()[20..].as_ptr();
        assert!(matches!(fast.process(&mut b, Instant::now()), sixgate_core::engine::Verdict::Forward(_)));
        assert_eq!(b.as_slice()[40..].as_ptr(), payload_at, "the payload must not move");
        // The expected IPv6 packet: same transport bytes with a checksum over the IPv6 pseudo-header.
        let q = Pkt6 { version: 6, tc: 0xb8, flow: 0, hop: 8, src: p.src, dst: p.dst, where_: 0, extra: 0, l4: l };
        assert_eq!(b.as_slice(), &build6(&q, 0)[..]);
        // And back.
        assert!(matches!(fast.process(&mut b, Instant::now()), sixgate_core::engine::Verdict::Forward(_)));
        let back = b.to_vec();
        assert_eq!(&back[20..], &build4(&p)[20..], "transport bytes restored");
        assert_eq!(back[8], 7, "TTL decremented twice");
        assert_eq!(finish(sum(&back[..20])), 0, "IPv4 header checksum valid");
        assert_eq!(&back[12..20], &build4(&p)[12..20]);
    }
}

/// The corner the random cases rarely reach: a pool whose words sum to 0xffff and a TCP
/// checksum field of 0xffff (one's-complement "negative zero"), both ways, with every pool
/// (the multicast one included, whose destinations the general path refuses).
#[test]
fn negative_zero_checksums_and_multicast_pool() {
    for pool in 0..POOLS.len() {
        let c = Cfg {
            pool,
            ipv4_mtu: 1500,
            ipv6_mtu: 1500,
            lowest_ipv6_mtu: 1280,
            amend: false,
            tc: 0,
            tos: 0,
            own6_in_pool: false,
        };
        for proto in [6u8, 17] {
            for csum_val in [0xffffu16, 0, 1, 0xfffe] {
                let l4 = L4 { proto, len: 40, fill: 1, csum: 3, csum_val };
                let p6 = Pkt6 {
                    version: 6,
                    tc: 0,
                    flow: 0,
                    hop: 64,
                    src: 0xc633_6402,
                    dst: 0x0a00_6911,
                    where_: 0,
                    extra: 0,
                    l4: l4.clone(),
                };
                compare(&c, &build6(&p6, pool), 128).unwrap();
                let p4 = Pkt4 {
                    ihl: 5,
                    opts: vec![0; 40],
                    tos: 0,
                    flags: 0,
                    id: 1,
                    ttl: 64,
                    src: 0xc633_6402,
                    dst: 0x0a00_6911,
                    bad_hdr_csum: false,
                    extra: 0,
                    l4,
                };
                compare(&c, &build4(&p4), 128).unwrap();
            }
        }
    }
}
