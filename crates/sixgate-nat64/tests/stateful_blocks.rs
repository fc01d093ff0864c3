//! Port-block allocation in the stateful NAT64: a subscriber's first session takes a
//! block, its later ones share it, more blocks come (on the same address) when it is full
//! up to the limit, a block is given back after its last session plus the hold time, one
//! event per block, return traffic reaches the subscriber, sharding and reloads keep the
//! blocks whole; and a property test over random flows and times.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::{
    Allocation, BlockEvent, BlockEventKind, ConfigError, Nat64, Nat64Config, Nat64Drop, Nat64Shards, Pool4Range,
    PortBlocks,
};
use sixgate_testkit::packets::*;

const S: &str = "64:ff9b:1::cb00:7105"; // 203.0.113.5
const S4: &str = "203.0.113.5";

fn cfg(size: u16, max: u16, hold: u64, pool: &[(&str, u16, u16)]) -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = pool.iter().map(|&(p, a, b)| Pool4Range::new(p.parse().unwrap(), a, b)).collect();
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    let mut b = PortBlocks::new(size);
    b.max_per_subscriber = max;
    b.hold = Duration::from_secs(hold);
    c.allocation = Allocation::Blocks(b);
    c
}

struct T {
    e: Nat64,
    t0: Instant,
    events: Vec<BlockEvent>,
}

impl T {
    fn new(c: Nat64Config) -> Self {
        Self { e: Nat64::new(c).unwrap(), t0: Instant::now(), events: Vec::new() }
    }
    fn tick(&mut self, secs: f64) {
        let now = self.t0 + Duration::from_secs_f64(secs);
        while let Some(d) = self.e.poll_timeout() {
            if d > now {
                break;
            }
            self.e.handle_timeout(d);
        }
        self.e.handle_timeout(now);
        self.drain();
    }
    fn drain(&mut self) {
        while let Some(ev) = self.e.poll_block_event() {
            self.events.push(ev);
        }
        self.e.check_invariants().unwrap();
    }
    fn send(&mut self, p: &[u8], secs: f64) -> (Verdict<Nat64Drop>, Vec<u8>) {
        self.tick(secs);
        let mut b = PacketBuf::from_slice(p);
        let v = self.e.process(&mut b, self.t0 + Duration::from_secs_f64(secs));
        self.drain();
        (v, b.as_slice().to_vec())
    }
    /// A UDP flow from `c`:`port`: the pool address and port it got, if forwarded.
    fn udp(&mut self, c: &str, port: u16, secs: f64) -> Option<(Ipv4Addr, u16)> {
        let (v, o) = self.send(&udp6_ports(c, S, port, 53, b"q"), secs);
        (v == Verdict::Forward(Side::V4)).then(|| (v4(&o, 12), u16::from_be_bytes([o[20], o[21]])))
    }
}

fn v4(p: &[u8], o: usize) -> Ipv4Addr {
    Ipv4Addr::new(p[o], p[o + 1], p[o + 2], p[o + 3])
}

#[test]
fn a_subscriber_shares_its_block_and_gets_one_event() {
    let mut t = T::new(cfg(1024, 4, 60, &[("198.51.100.0/30", 1024, 65535)]));
    let (a, p) = t.udp("2001:db8:0:1::10", 40001, 0.0).unwrap();
    assert_eq!(t.events.len(), 1);
    let ev = t.events[0].clone();
    assert_eq!(ev.kind, BlockEventKind::Allocated);
    assert_eq!(ev.subscriber, "2001:db8::/56".parse().unwrap());
    assert_eq!(ev.ipv4, a);
    assert!(ev.ports.contains(&p) && ev.ports.len() == 1024 && (ev.ports.start() - 1024).is_multiple_of(1024));
    // RFC 4787 REQ-4: parity kept inside the block.
    assert_eq!(p % 2, 1);
    // Another host and another port of the same /56: the same block, no new event.
    let (a2, p2) = t.udp("2001:db8:0:ff::99", 5000, 1.0).unwrap();
    assert_eq!((a2, ev.ports.contains(&p2), p2 % 2), (a, true, 0));
    assert_eq!(t.events.len(), 1);
    // The client's own port is kept when it lies in the block.
    let own = *ev.ports.start() + 10;
    assert_eq!(t.udp("2001:db8:0:2::1", own, 1.5).unwrap(), (a, own));
    // Return traffic reaches the host through the block port.
    let (v, r) = t.send(&udp4_ports(S4, &a.to_string(), 53, p2, b"a"), 2.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!(
        Ipv6Addr::from(<[u8; 16]>::try_from(&r[24..40]).unwrap()),
        "2001:db8:0:ff::99".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(u16::from_be_bytes([r[42], r[43]]), 5000);
    // Another subscriber: its own block.
    let (_, p3) = t.udp("2001:db8:0:100::1", 40001, 3.0).unwrap();
    assert_eq!(t.events.len(), 2);
    assert_eq!(t.events[1].subscriber, "2001:db8:0:100::/56".parse().unwrap());
    assert!(t.events[1].ports.contains(&p3) && !(t.events[1].ipv4 == a && ev.ports.contains(&p3)));
    assert_eq!(t.e.block_stats(), (2, 2));
}

#[test]
fn more_blocks_on_the_same_address_up_to_the_limit() {
    let mut t = T::new(cfg(64, 2, 60, &[("198.51.100.0/30", 1024, 65535)]));
    let mut got = Vec::new();
    for i in 0..128u16 {
        got.push(t.udp("2001:db8::1", 2000 + i, 0.0).unwrap());
    }
    assert_eq!(t.events.len(), 2, "64 ports a block: two blocks");
    assert_eq!(t.events[0].ipv4, t.events[1].ipv4, "paired pooling: the second block on the first's address");
    assert!(got.iter().all(|(a, p)| *a == t.events[0].ipv4 && t.events.iter().any(|e| e.ports.contains(p))));
    // Both full, the limit reached: refused with an ICMPv6 Address Unreachable.
    let (v, o) = t.send(&udp6_ports("2001:db8::1", S, 9999, 53, b"q"), 0.5);
    assert_eq!(v, Verdict::Reply(Side::V6));
    assert_eq!((o[6], o[40], o[41]), (58, 1, 3));
    assert_eq!(t.e.counters().answered(Nat64Drop::BlockLimit), 1);
    // Another subscriber is not affected.
    assert!(t.udp("2001:db8:1::1", 9999, 0.6).is_some());
}

#[test]
fn a_block_goes_back_after_its_last_session_and_the_hold_time() {
    let mut t = T::new(cfg(1024, 4, 30, &[("198.51.100.0/30", 1024, 65535)]));
    let (_, p) = t.udp("2001:db8::1", 40000, 0.0).unwrap();
    // UDP sessions live 300 s; the block is held 30 s after that.
    t.tick(310.0);
    assert_eq!(t.e.stats().sessions, 0);
    assert_eq!(t.e.block_stats(), (1, 1), "held");
    assert_eq!(t.events.len(), 1);
    // A session within the hold time takes the same block again, with no event.
    let (_, p2) = t.udp("2001:db8::2", 40000, 320.0).unwrap();
    assert!(t.events[0].ports.contains(&p2));
    assert_eq!(t.events.len(), 1);
    let _ = p;
    t.tick(320.0 + 300.0 + 29.0);
    assert_eq!(t.e.block_stats(), (1, 1));
    t.tick(320.0 + 300.0 + 31.0);
    assert_eq!(t.e.block_stats(), (0, 0));
    assert_eq!(t.events.len(), 2);
    let rel = &t.events[1];
    assert_eq!(
        (rel.kind, rel.ipv4, rel.ports.clone()),
        (BlockEventKind::Released, t.events[0].ipv4, t.events[0].ports.clone())
    );
    assert_eq!(rel.subscriber, t.events[0].subscriber);
}

#[test]
fn the_pool_runs_out_of_blocks() {
    // One address, 4 blocks of 16 ports: the fifth subscriber finds none.
    let mut t = T::new(cfg(16, 1, 60, &[("198.51.100.1/32", 1024, 1087)]));
    for i in 0..4 {
        assert!(t.udp(&format!("2001:db8:{i}::1"), 5000, 0.0).is_some());
    }
    let (v, _) = t.send(&udp6_ports("2001:db8:9::1", S, 5000, 53, b"q"), 0.1);
    assert!(matches!(v, Verdict::Reply(Side::V6) | Verdict::Drop(Nat64Drop::PoolExhausted)));
    assert_eq!(t.e.counters().answered(Nat64Drop::PoolExhausted) + t.e.counters().dropped(Nat64Drop::PoolExhausted), 1);
    // A subscriber with room in its block is not refused because another found none.
    assert!(t.udp("2001:db8:0::2", 6000, 0.1).is_some());
    // The released block goes to the waiting subscriber once its hold time is over.
    t.tick(0.1 + 300.0 + 61.0);
    assert_eq!(t.e.block_stats(), (0, 0));
    assert!(t.udp("2001:db8:9::1", 5000, 362.0).is_some());
}

#[test]
fn configuration_errors() {
    let c = cfg(1000, 4, 60, &[("198.51.100.0/30", 1024, 65535)]);
    assert!(matches!(
        Nat64::new(c),
        Err(sixgate_nat64::Error::Config(ConfigError::BlockSizeNotDividing { size: 1000, .. }))
    ));
    let c = cfg(4096, 4, 60, &[("198.51.100.0/30", 20000, 21023)]);
    assert!(matches!(c.validate(), Err(ConfigError::BlockTooLarge { .. })));
    assert!(matches!(
        cfg(1024, 0, 60, &[("198.51.100.0/30", 1024, 65535)]).validate(),
        Err(ConfigError::ZeroLimit { field: "max_blocks_per_subscriber" })
    ));
    let mut c = cfg(1024, 4, 60, &[("198.51.100.0/30", 1024, 65535)]);
    if let Allocation::Blocks(b) = &mut c.allocation {
        b.prefix_len = 48;
    }
    let e = c.validate().unwrap_err();
    assert!(matches!(e, ConfigError::SubscriberPrefixLen { len: 48, .. }));
    assert!(e.to_string().contains("56 to 128"), "{e}");
}

#[test]
fn shards_keep_whole_blocks_and_reloads_keep_the_mode() {
    // 64,512 ports in blocks of 1,008: 3 shards get 21,504 ports each, 21 whole blocks.
    let c = cfg(1008, 4, 60, &[("198.51.100.0/30", 1024, 65535)]);
    for k in 0..3 {
        let s = c.shard(k, 3);
        s.validate().unwrap();
        assert!(s
            .pool4
            .iter()
            .all(|r| (r.first - 1024).is_multiple_of(1008) && (u32::from(r.last - r.first) + 1).is_multiple_of(1008)));
    }
    let sh = Nat64Shards::new(c.clone(), 3).unwrap();
    let mut hs = sh.clone().into_handles();
    let h = &mut hs[0];
    let t0 = Instant::now();
    for i in 0..30u16 {
        let mut b = PacketBuf::from_slice(&udp6_ports(&format!("2001:db8:{i:x}::1"), S, 4000, 53, b"q"));
        assert_eq!(h.process(&mut b, t0), Verdict::Forward(Side::V4));
    }
    // Each of the 30 subscribers got one block, in whichever shard its source hashed to.
    let mut n = 0;
    while let Some(ev) = sh.poll_block_event() {
        assert_eq!(ev.kind, BlockEventKind::Allocated);
        n += 1;
    }
    assert_eq!(n, 30);
    // A reload that changes the blocks, or pool4 under blocks, needs a restart.
    let mut e = Nat64::new(c.clone()).unwrap();
    let r = e.reconfigure(cfg(2016, 4, 60, &[("198.51.100.0/30", 1024, 65535)]), t0).unwrap();
    assert_eq!(r.needs_restart, vec!["port_block"]);
    let r = e.reconfigure(cfg(1008, 4, 60, &[("198.51.100.0/29", 1024, 65535)]), t0).unwrap();
    assert_eq!(r.needs_restart, vec!["pool4"]);
    assert!(e.reconfigure(c, t0).unwrap().is_unchanged());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Random UDP and TCP flows from hosts of a few subscribers at random times: the
    /// engine's self-check (every BIB entry in a block of its subscriber, the blocks'
    /// counts right, no subscriber over its limit) holds after every step, blocks
    /// allocated minus released are the blocks held, and a forwarded packet's source is
    /// in a block its subscriber was given and not yet given back.
    #[test]
    fn blocks_stay_consistent(steps in prop::collection::vec((0u8..6, 0u8..4, 1024u16..1100, 0u32..400, any::<bool>()), 1..120)) {
        let mut t = T::new(cfg(64, 2, 20, &[("198.51.100.0/31", 1024, 1535)]));
        let mut secs = 0.0;
        for (sub, host, port, dt, tcp) in steps {
            secs += f64::from(dt);
            let c = format!("2001:db8:{sub}::{host}");
            let p = if tcp { tcp6_flags(&c, S, port, 80, 0x02) } else { udp6_ports(&c, S, port, 53, b"q") };
            let (v, o) = t.send(&p, secs);
            if v == Verdict::Forward(Side::V4) {
                let (a, p4) = (v4(&o, 12), u16::from_be_bytes([o[20], o[21]]));
                let sub: ipnet::Ipv6Net = format!("2001:db8:{sub}::/56").parse().unwrap();
                let held = t.events.iter().filter(|e| e.subscriber == sub && e.ipv4 == a && e.ports.contains(&p4))
                    .fold(0i32, |n, e| if e.kind == BlockEventKind::Allocated { n + 1 } else { n - 1 });
                prop_assert_eq!(held, 1);
            }
            let alloc = t.events.iter().filter(|e| e.kind == BlockEventKind::Allocated).count();
            prop_assert_eq!(alloc - (t.events.len() - alloc), t.e.block_stats().0);
        }
    }
}
