//! The common-case fast path must produce exactly what the general path produces: same
//! verdicts, same bytes, same counters. A denylist entry that can never match (0.0.0.0/32
//! is forbidden anyway) turns the fast path off without changing behaviour, which gives
//! the general path to compare with.

use std::time::Instant;

use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::Engine;
use sixgate_nat64::{Siit, SiitConfig};
use sixgate_testkit::packets::{fix_ipv4_checksum, tcp4, tcp6, udp4, udp6};

fn pair(pool: &str, ipv4_mtu: u16) -> (Siit, Siit) {
    let mut c = SiitConfig::new("198.51.100.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
    c.pool6 = Some(pool.parse().unwrap());
    c.ipv4_mtu = ipv4_mtu;
    let fast = Siit::new(c.clone()).unwrap();
    c.denylist4.push("0.0.0.0/32".parse().unwrap());
    (fast, Siit::new(c).unwrap())
}

fn run(s: &mut Siit, pkt: &[u8]) -> (String, Vec<Vec<u8>>) {
    let mut b = PacketBuf::from_slice(pkt);
    let v = s.process(&mut b, Instant::now());
    let mut out = vec![b.to_vec()];
    while s.poll_transmit(&mut b).is_some() {
        out.push(b.to_vec());
    }
    (format!("{v:?}"), out)
}

fn v4addr(x: u32) -> String {
    std::net::Ipv4Addr::from(x).to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn fast_path_equals_general_path(
        wkp in any::<bool>(), v6 in any::<bool>(), tcp in any::<bool>(),
        src in any::<u32>(), dst in any::<u32>(), len in 0usize..1500, tos in any::<u8>(), ttl in any::<u8>(),
        df in any::<bool>(), zero_csum in any::<bool>(), bad_csum in any::<bool>(), small_mtu in any::<bool>(),
    ) {
        let pool = if wkp { "64:ff9b::/96" } else { "2001:db8:64::/96" };
        let (mut fast, mut general) = pair(pool, if small_mtu { 1280 } else { 1500 });
        let payload = vec![0xa5u8; len];
        // Addresses from a few interesting blocks as well as anywhere.
        let pick = |x: u32| match x % 4 { 0 => x, 1 => 0x0a00_0000 | (x >> 8), 2 => 0xc000_0200 | (x & 0xff), _ => 0x4a00_0000 | (x >> 8) };
        let (s4, d4) = (v4addr(pick(src)), v4addr(pick(dst)));
        let mut pkt = if v6 {
            let p6 = |a: &str| format!("{}{}", if wkp { "64:ff9b::" } else { "2001:db8:64::" }, a);
            if tcp { tcp6(&p6(&s4), &p6(&d4), 80, &payload) } else { udp6(&p6(&s4), &p6(&d4), 53, &payload) }
        } else if tcp { tcp4(&s4, &d4, 80, &payload) } else { udp4(&s4, &d4, 53, &payload) };
        let (l3, at) = if v6 { (40, if tcp { 16 } else { 6 }) } else { (20, if tcp { 16 } else { 6 }) };
        if zero_csum { pkt[l3 + at] = 0; pkt[l3 + at + 1] = 0; }
        if bad_csum { pkt[l3 + at] ^= 0x40; }
        if v6 {
            pkt[7] = ttl;
            pkt[1] = (pkt[1] & 0x0f) | (tos << 4);
            pkt[0] = 0x60 | (tos >> 4);
        } else {
            pkt[8] = ttl;
            pkt[1] = tos;
            pkt[6] = if df { 0x40 } else { 0 };
            fix_ipv4_checksum(&mut pkt);
        }
        let a = run(&mut fast, &pkt);
        let b = run(&mut general, &pkt);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(format!("{}", fast.counters()), format!("{}", general.counters()));
    }
}
