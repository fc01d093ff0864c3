//! Accounting of the stateful NAT64, one engine and shards: every packet given to an
//! engine is counted once, as forwarded, replied or dropped, and the counters agree with
//! the verdicts returned — for a shard handle, with the verdicts of the packets its own
//! worker gave it, read at any moment without a sync.
//!
//! The traffic is every kind of packet the tables see (UDP, TCP with any flags, ICMP
//! queries, both directions, to bound and unbound pool ports, unsupported protocols,
//! truncated and malformed packets), but none that makes the engine answer with an ICMP
//! error or send more than one packet: such a drop is counted as a reply and under its
//! reason (`SiitDrop`'s contract), and fragments or timers send packets no input
//! matches, so `forwarded + replied + dropped = received` is the identity for this
//! traffic; the tests on those cases are in `stateful.rs` and `sharded.rs`.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Counters, Engine, Reason, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::{Nat64, Nat64Config, Nat64Drop, Nat64Shards, Pool4Range};
use sixgate_testkit::packets::{echo4, echo6, echo_reply4, tcp4_flags, tcp6_flags, udp4_ports, udp6_ports};

const P4: &str = "198.51.100.1";
/// Client ports, and so (port preservation) the pool ports the IPv4 side is sent to.
const PORTS: [u16; 6] = [1024, 1025, 2000, 40000, 40001, 65535];

fn cfg() -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap())
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
        ];
    // One packet in eight cut short.
    (p, prop_oneof![7 => Just(0usize), 1 => 1usize..60])
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
    };
    if cut > 0 {
        v.truncate(v.len().saturating_sub(cut));
    }
    v
}

/// What the verdicts said, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    received: u64,
    forwarded: u64,
    replied: u64,
    dropped: u64,
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

/// Runs `pkt` through `e`, drains what it queued (nothing, for this traffic), tallies.
fn run(e: &mut impl Engine<Reason = Nat64Drop>, pkt: &[u8], now: Instant, t: &mut Tally) {
    let mut b = PacketBuf::from_slice(pkt);
    let v = e.process(&mut b, now);
    t.add(v);
    let mut x = PacketBuf::new();
    assert!(e.poll_transmit(&mut x).is_none(), "nothing queued for {pkt:02x?}");
}

/// The counters agree with the verdicts, and add up to what was received.
fn agree(c: &Counters<Nat64Drop>, t: &Tally) -> Result<(), TestCaseError> {
    prop_assert_eq!((c.forwarded, c.replied, c.dropped_total()), (t.forwarded, t.replied, t.dropped), "{}", c);
    prop_assert_eq!(c.forwarded + c.replied + c.dropped_total(), t.received);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// One engine: forwarded + replied + dropped = received, packet by packet.
    #[test]
    fn one_engine_counts_every_packet_once(pkts in prop::collection::vec(pkt(), 1..120)) {
        let mut e = Nat64::new(cfg()).unwrap();
        let t0 = Instant::now();
        let mut t = Tally::default();
        for (i, (p, cut)) in pkts.iter().enumerate() {
            run(&mut e, &bytes(p, *cut), t0 + Duration::from_millis(i as u64), &mut t);
            agree(e.counters(), &t)?;
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
        let t0 = Instant::now();
        let mut per = vec![Tally::default(); n];
        for (i, ((p, cut), w)) in pkts.iter().enumerate() {
            let w = w % n;
            run(&mut h[w], &bytes(p, *cut), t0 + Duration::from_millis(i as u64), &mut per[w]);
            for (k, hk) in h.iter().enumerate() {
                agree(hk.counters(), &per[k])?;
            }
        }
        let mut all = Counters::<Nat64Drop>::new();
        for hk in &h {
            all.merge(hk.counters());
        }
        let received: u64 = per.iter().map(|t| t.received).sum();
        prop_assert_eq!(all.forwarded + all.replied + all.dropped_total(), received);
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
    let names: Vec<&str> = all.iter().take(14).map(|r| r.name()).collect();
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
        ]
    );
    let xlate = Nat64Drop::Xlate(sixgate_nat64::SiitDrop::Malformed);
    assert_eq!((xlate.name(), all[14 + sixgate_nat64::SiitDrop::Malformed.index()]), ("malformed", xlate));
    assert_eq!(all.len(), 14 + sixgate_nat64::SiitDrop::ALL.len());
}
