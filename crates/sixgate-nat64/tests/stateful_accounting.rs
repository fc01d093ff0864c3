//! Accounting of the stateful NAT64, one engine and shards: every packet given to an
//! engine is counted once, as forwarded, replied (answered: an ICMP error, by reason),
//! dropped (silently, by reason) or waiting (a fragment kept for its first fragment,
//! until its fate is known), so `forwarded + replied + dropped + waiting = received` after
//! every call — for a shard handle, with the packets its own worker gave it, read at any
//! moment without a sync. Every packet that goes out is counted once too: as forwarded or
//! replied, as a further fragment (`extra_fragments`), or, when a timer made it (a probe
//! of an idle TCP session, the Port Unreachable for a held SYN), as `generated`.
//!
//! The traffic is every kind of packet the tables see (UDP, TCP with any flags, ICMP
//! queries, both directions, to bound and unbound pool ports, unsupported protocols,
//! truncated and malformed packets), packets the engine answers with an ICMP error (hop
//! limit or TTL 1, too big for the other side with DF, new flows over the session
//! limits), packets to destinations outside pool6, fragments in any order (a later one
//! before its first one waits), and time passing so that every timer runs.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{drive, drive_timeout, Counters, Engine, Reason, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::{IcmpRateLimit, Nat64, Nat64Config, Nat64Drop, Nat64Shards, Pool4Range};
use sixgate_testkit::packets::{
    echo4, echo6, echo_reply4, fix_ipv4_checksum, frag4_at, frag6_at, tcp4_flags, tcp6_flags, udp4_ports, udp6_ports,
};

const P4: &str = "198.51.100.1";
/// Client ports, and so (port preservation) the pool ports the IPv4 side is sent to.
const PORTS: [u16; 6] = [1024, 1025, 2000, 40000, 40001, 65535];

fn cfg() -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    // Low enough that new flows are refused (and answered) now and then.
    c.max_sessions = 20;
    c.max_sessions_per_source = 8;
    c.xlate.icmp_rate = IcmpRateLimit::new(0, 0);
    c
}

fn client(i: u8) -> String {
    format!("2001:db8::{:x}", u16::from(i) + 1)
}

fn remote4(i: u8) -> String {
    format!("203.0.113.{}", i + 1)
}

fn remote6(i: u8) -> String {
    format!("64:ff9b:1::cb00:71{:02x}", i + 1)
}

/// One packet of the traffic, and the truncation applied to it (0: none).
#[derive(Debug, Clone)]
enum Pkt {
    Udp6 {
        c: u8,
        sp: u8,
        r: u8,
        dp: u16,
    },
    Tcp6 {
        c: u8,
        sp: u8,
        r: u8,
        dp: u16,
        flags: u8,
    },
    Echo6 {
        c: u8,
        id: u8,
        r: u8,
    },
    Udp4 {
        r: u8,
        sp: u16,
        dp: u8,
    },
    Tcp4 {
        r: u8,
        sp: u16,
        dp: u8,
        flags: u8,
    },
    Echo4 {
        r: u8,
        id: u8,
        reply: bool,
    },
    /// An IPv6 packet of a protocol the stateful translator does not carry (GRE).
    Gre6 {
        c: u8,
        r: u8,
    },
    /// Bytes that are neither IPv4 nor IPv6.
    Junk(Vec<u8>),
    /// UDP from IPv6 with hop limit 1 (answered: Time Exceeded, RFC 7915 §5.1).
    Hop1 {
        c: u8,
        sp: u8,
        r: u8,
    },
    /// UDP from IPv4 with TTL 1 (answered: Time Exceeded, RFC 7915 §4.1).
    Ttl1 {
        r: u8,
        dp: u8,
    },
    /// UDP from IPv6 too big for the IPv4 side (answered: Packet Too Big, RFC 7915 §5.1).
    Big6 {
        c: u8,
        sp: u8,
        r: u8,
    },
    /// UDP from IPv4 too big for the IPv6 side: with DF answered (Fragmentation Needed,
    /// RFC 7915 §4.1), without it sent as two fragments (one of them `extra_fragments`).
    Big4 {
        r: u8,
        dp: u8,
        df: bool,
    },
    /// UDP from IPv6 to a destination outside pool6.
    Unknown6 {
        c: u8,
    },
    /// UDP from IPv6 in fragments (cut in `n + 1`), given rotated by `rot`.
    Frag6 {
        c: u8,
        sp: u8,
        r: u8,
        n: u8,
        rot: u8,
    },
    /// UDP from IPv4 to a pool port in fragments, given rotated by `rot`.
    Frag4 {
        r: u8,
        dp: u8,
        n: u8,
        rot: u8,
    },
    /// UDP from IPv6 to a pool transport address (hairpinning, RFC 6146 §3.8), small or
    /// too big for the way back.
    Hairpin {
        c: u8,
        sp: u8,
        dp: u8,
        big: bool,
    },
    /// Time passes (milliseconds) and the timers run.
    Wait(u64),
}

fn pkt() -> impl Strategy<Value = (Pkt, usize)> {
    let idx = || 0u8..6;
    let p =
        prop_oneof![
            (0u8..4, idx(), 0u8..3, prop::sample::select(vec![53u16, 80, 443])).prop_map(|(c, sp, r, dp)| Pkt::Udp6 {
                c,
                sp,
                r,
                dp
            }),
            (0u8..4, idx(), 0u8..3, prop::sample::select(vec![80u16, 443]), any::<u8>())
                .prop_map(|(c, sp, r, dp, flags)| Pkt::Tcp6 { c, sp, r, dp, flags }),
            (0u8..4, idx(), 0u8..3).prop_map(|(c, id, r)| Pkt::Echo6 { c, id, r }),
            (0u8..3, prop::sample::select(vec![53u16, 80, 443]), idx()).prop_map(|(r, sp, dp)| Pkt::Udp4 { r, sp, dp }),
            (0u8..3, prop::sample::select(vec![80u16, 443]), idx(), any::<u8>())
                .prop_map(|(r, sp, dp, flags)| Pkt::Tcp4 { r, sp, dp, flags }),
            (0u8..3, idx(), any::<bool>()).prop_map(|(r, id, reply)| Pkt::Echo4 { r, id, reply }),
            (0u8..4, 0u8..3).prop_map(|(c, r)| Pkt::Gre6 { c, r }),
            // First nibble neither 4 nor 6.
            prop::collection::vec(any::<u8>(), 0..48).prop_map(|mut v| {
                if let Some(b) = v.first_mut() {
                    if matches!(*b >> 4, 4 | 6) {
                        *b ^= 0x80;
                    }
                }
                Pkt::Junk(v)
            }),
            (0u8..4, idx(), 0u8..3).prop_map(|(c, sp, r)| Pkt::Hop1 { c, sp, r }),
            (0u8..3, idx()).prop_map(|(r, dp)| Pkt::Ttl1 { r, dp }),
            (0u8..4, idx(), 0u8..3).prop_map(|(c, sp, r)| Pkt::Big6 { c, sp, r }),
            (0u8..3, idx(), any::<bool>()).prop_map(|(r, dp, df)| Pkt::Big4 { r, dp, df }),
            (0u8..4).prop_map(|c| Pkt::Unknown6 { c }),
            (0u8..4, idx(), 0u8..3, 1u8..4, 0u8..4).prop_map(|(c, sp, r, n, rot)| Pkt::Frag6 { c, sp, r, n, rot }),
            (0u8..3, idx(), 1u8..4, 0u8..4).prop_map(|(r, dp, n, rot)| Pkt::Frag4 { r, dp, n, rot }),
            (0u8..4, idx(), idx(), any::<bool>()).prop_map(|(c, sp, dp, big)| Pkt::Hairpin { c, sp, dp, big }),
            prop::sample::select(vec![1u64, 500, 2_500, 7_000, 130_000, 400_000, 7_500_000]).prop_map(Pkt::Wait),
        ];
    // One packet in eight cut short.
    (p, prop_oneof![7 => Just(0usize), 1 => 1usize..60])
}

/// The packets one step gives the engine (none for [`Pkt::Wait`]).
fn inputs(p: &Pkt, cut: usize) -> Vec<Vec<u8>> {
    let port = |i: u8| PORTS[usize::from(i)];
    let rotated = |mut v: Vec<Vec<u8>>, rot: u8| {
        let r = usize::from(rot) % v.len();
        v.rotate_left(r);
        v
    };
    let cuts = |n: u8| (1..=usize::from(n)).map(|k| k * 200).collect::<Vec<_>>();
    let v = match p {
        Pkt::Hop1 { c, sp, r } => {
            let mut v = udp6_ports(&client(*c), &remote6(*r), port(*sp), 53, b"hop");
            v[7] = 1;
            v
        }
        Pkt::Ttl1 { r, dp } => {
            let mut v = udp4_ports(&remote4(*r), P4, 53, port(*dp), b"ttl");
            v[8] = 1;
            fix_ipv4_checksum(&mut v);
            v
        }
        Pkt::Big6 { c, sp, r } => udp6_ports(&client(*c), &remote6(*r), port(*sp), 53, &[6; 1480]),
        Pkt::Big4 { r, dp, df } => {
            let mut v = udp4_ports(&remote4(*r), P4, 53, port(*dp), &[4; 1472]);
            // The builder sets DF.
            if !*df {
                v[6] &= !0x40;
            }
            fix_ipv4_checksum(&mut v);
            v
        }
        Pkt::Unknown6 { c } => udp6_ports(&client(*c), "2001:db8:77::1", 4000, 53, b"where"),
        Pkt::Frag6 { c, sp, r, n, rot } => {
            let full = udp6_ports(&client(*c), &remote6(*r), port(*sp), 53, &[5; 900]);
            return rotated(frag6_at(&full, 0x6000 + u32::from(*rot), &cuts(*n)), *rot);
        }
        Pkt::Frag4 { r, dp, n, rot } => {
            let full = udp4_ports(&remote4(*r), P4, 53, port(*dp), &[3; 900]);
            return rotated(frag4_at(&full, 0x4000 + u16::from(*rot), &cuts(*n)), *rot);
        }
        Pkt::Hairpin { c, sp, dp, big } => {
            let data: &[u8] = if *big { &[8; 1472] } else { b"hairpin" };
            udp6_ports(&client(*c), "64:ff9b:1::c633:6401", port(*sp), port(*dp), data)
        }
        Pkt::Wait(_) => return Vec::new(),
        _ => bytes(p, cut),
    };
    vec![v]
}

fn bytes(p: &Pkt, cut: usize) -> Vec<u8> {
    let port = |i: u8| PORTS[usize::from(i)];
    let mut v = match p {
        Pkt::Udp6 { c, sp, r, dp } => udp6_ports(&client(*c), &remote6(*r), port(*sp), *dp, b"payload"),
        Pkt::Tcp6 { c, sp, r, dp, flags } => tcp6_flags(&client(*c), &remote6(*r), port(*sp), *dp, *flags),
        Pkt::Echo6 { c, id, r } => echo6(&client(*c), &remote6(*r), port(*id), 1, b"ping"),
        Pkt::Udp4 { r, sp, dp } => udp4_ports(&remote4(*r), P4, *sp, port(*dp), b"answer"),
        Pkt::Tcp4 { r, sp, dp, flags } => tcp4_flags(&remote4(*r), P4, *sp, port(*dp), *flags),
        Pkt::Echo4 { r, id, reply: false } => echo4(&remote4(*r), P4, port(*id), 1, b"ping"),
        Pkt::Echo4 { r, id, reply: true } => echo_reply4(&remote4(*r), P4, port(*id), 1, b"pong"),
        Pkt::Gre6 { c, r } => {
            let mut v = udp6_ports(&client(*c), &remote6(*r), 1, 1, b"gre");
            v[6] = 47;
            v
        }
        Pkt::Junk(v) => v.clone(),
        _ => return Vec::new(),
    };
    if cut > 0 {
        v.truncate(v.len().saturating_sub(cut));
    }
    v
}

/// What the verdicts said, by kind, and how many packets came out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    received: u64,
    forwarded: u64,
    replied: u64,
    dropped: u64,
    /// Packets handed out: the processed one when forwarded or replied, everything queued.
    out: u64,
}

impl Tally {
    fn add(&mut self, v: Verdict<Nat64Drop>) {
        self.received += 1;
        match v {
            Verdict::Forward(_) => self.forwarded += 1,
            Verdict::Reply(_) => self.replied += 1,
            Verdict::Drop(_) => self.dropped += 1,
        }
    }
}

/// Runs one step: each of its packets through `e` and everything it queued drained
/// (tallied), or time passing and the timers run (as often as they say they are due).
fn run(e: &mut impl Engine<Reason = Nat64Drop>, p: &Pkt, cut: usize, now: Instant, t: &mut Tally) {
    let mut out = 0;
    let mut emit = |_, _, _: &PacketBuf| {
        out += 1;
        Ok::<(), ()>(())
    };
    if matches!(p, Pkt::Wait(_)) {
        let mut b = PacketBuf::new();
        for _ in 0..64 {
            if !drive_timeout(e, &mut b, now, &mut emit).unwrap() {
                break;
            }
        }
    }
    for pkt in inputs(p, cut) {
        let mut b = PacketBuf::from_slice(&pkt);
        t.add(drive(e, &mut b, now, &mut emit).unwrap());
    }
    t.out += out;
}

/// The counters add up to what was received and to what came out, and agree with the
/// verdicts (a forward or a reply is counted as such at once; a `Drop` verdict is a
/// silent drop, or a fragment that waits and is counted later — by the handle that lets
/// it go, which for shards may be another one, so only the sums hold there).
fn agree(c: &Counters<Nat64Drop>, t: &Tally, one_engine: bool) -> Result<(), TestCaseError> {
    prop_assert_eq!(c.received(), t.received, "{}", c);
    prop_assert_eq!((c.forwarded + c.replied + c.dropped_total()) as i64 + c.waiting, t.received as i64, "{}", c);
    prop_assert_eq!(c.forwarded + c.replied + c.extra_fragments + c.generated, t.out, "{}", c);
    prop_assert!(c.answered_total() <= c.replied, "{}", c);
    if one_engine {
        prop_assert!(c.forwarded >= t.forwarded && c.replied >= t.replied && c.dropped_total() <= t.dropped, "{}", c);
        prop_assert!(c.waiting >= 0, "{}", c);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// One engine: forwarded + replied + dropped = received, packet by packet.
    #[test]
    fn one_engine_counts_every_packet_once(pkts in prop::collection::vec(pkt(), 1..120)) {
        let mut e = Nat64::new(cfg()).unwrap();
        let mut now = Instant::now();
        let mut t = Tally::default();
        for (p, cut) in &pkts {
            now += Duration::from_millis(if let Pkt::Wait(ms) = p { *ms } else { 1 });
            run(&mut e, p, *cut, now, &mut t);
            agree(e.counters(), &t, true)?;
        }
        e.check_invariants().map_err(TestCaseError::fail)?;
    }

    /// Shards: each packet on a random worker; every worker's handle counts exactly the
    /// packets its worker gave it (read at once, never synced), and the handles together
    /// count everything.
    #[test]
    fn every_handle_counts_its_own_packets(
        n in 1usize..=4,
        pkts in prop::collection::vec((pkt(), 0usize..4), 1..120),
    ) {
        let shards = Nat64Shards::new(cfg(), n).unwrap();
        let mut h = shards.clone().into_handles();
        prop_assert_eq!(h.len(), n);
        let mut now = Instant::now();
        let mut per = vec![Tally::default(); n];
        for ((p, cut), w) in &pkts {
            let w = w % n;
            now += Duration::from_millis(if let Pkt::Wait(ms) = p { *ms } else { 1 });
            run(&mut h[w], p, *cut, now, &mut per[w]);
            for (k, hk) in h.iter().enumerate() {
                agree(hk.counters(), &per[k], false)?;
            }
        }
        let mut all = Counters::<Nat64Drop>::new();
        for hk in &h {
            all.merge(hk.counters());
        }
        let received: u64 = per.iter().map(|t| t.received).sum();
        prop_assert_eq!(all.received(), received, "{}", all);
        for k in 0..n {
            shards.with_shard(k, |e| e.check_invariants()).unwrap().map_err(TestCaseError::fail)?;
            // The shards' own counters stay empty: the handles count.
            prop_assert_eq!(shards.with_shard(k, |e| e.counters().dropped_total() + e.counters().forwarded), Some(0));
        }
    }
}

/// The handles are made once: a second call (on a clone) makes none, so no shard's
/// timers run twice and no counter is reported twice.
#[test]
fn handles_are_made_once() {
    let shards = Nat64Shards::new(cfg(), 3).unwrap();
    assert_eq!(shards.clone().into_handles().len(), 3);
    assert!(shards.clone().into_handles().is_empty());
    assert_eq!(shards.with_shard(3, |_| ()), None, "no shard 3: None, not a panic");
}

/// The stable names did not move with the macro: the CLI and the logs print them.
#[test]
fn drop_reason_names_and_indices() {
    let all = Nat64Drop::ALL;
    assert_eq!(&all[..3], &[Nat64Drop::NoBinding, Nat64Drop::Filtered, Nat64Drop::IncomingSyn]);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.index(), i, "{r:?}");
    }
    let names: Vec<&str> = all.iter().take(17).map(|r| r.name()).collect();
    assert_eq!(
        names,
        [
            "no-binding",
            "filtered",
            "incoming-syn",
            "incoming-syn-held",
            "tcp-not-syn",
            "no-session",
            "session-limit",
            "source-limit",
            "pool-exhausted",
            "fragment",
            "fragment-held",
            "fragment-timeout",
            "unsupported-protocol",
            "new-flow-budget",
            "block-limit",
            "subscriber-ports",
            "not-subscriber",
        ]
    );
    let xlate = Nat64Drop::Xlate(sixgate_nat64::SiitDrop::Malformed);
    assert_eq!((xlate.name(), all[17 + sixgate_nat64::SiitDrop::Malformed.index()]), ("malformed", xlate));
    assert_eq!(all.len(), 17 + sixgate_nat64::SiitDrop::ALL.len());
}

/// A reload that lowers the bounds lets held SYNs and waiting fragments go: each still
/// counted once (a held SYN was counted as `incoming-syn-held` when it came; a waiting
/// fragment leaves `waiting` for `fragment`).
#[test]
fn a_reload_that_lowers_the_bounds_counts_nothing_twice() {
    let mut e = Nat64::new(cfg()).unwrap();
    let t0 = Instant::now();
    let mut t = Tally::default();
    for dp in 0..3 {
        run(&mut e, &Pkt::Tcp4 { r: 0, sp: 80, dp, flags: 0x02 }, 0, t0, &mut t);
    }
    // The later fragments of a datagram whose first one does not come: they wait.
    run(&mut e, &Pkt::Frag4 { r: 1, dp: 0, n: 3, rot: 1 }, 0, t0, &mut t);
    let c = e.counters();
    assert_eq!(c.dropped(Nat64Drop::SynHeld), 3, "{c}");
    assert!(c.waiting > 0, "{c}");
    agree(c, &t, true).unwrap();
    let mut lower = cfg();
    lower.max_held_syns = 1;
    lower.max_fragment_bytes = 0;
    e.reconfigure(lower, t0).unwrap();
    let c = e.counters();
    assert_eq!(e.stats().held_syns, 1);
    assert_eq!((c.waiting, c.dropped(Nat64Drop::IncomingSyn)), (0, 0), "{c}");
    agree(c, &t, true).unwrap();
    e.check_invariants().unwrap();
}
