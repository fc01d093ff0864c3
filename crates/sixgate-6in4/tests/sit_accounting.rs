//! Accounting of the 6in4 endpoint: every packet given to `process` is counted exactly
//! once — forwarded, replied (refused and answered with an ICMP error, by reason) or
//! dropped silently, by reason — so `forwarded + replied + dropped = received` after every
//! call, for every kind of seed packet of the fuzz corpus in every configuration
//! (encapsulation, decapsulation, 6to4, too big for the link or the learned path MTU,
//! Fragmentation Needed messages that teach a path MTU, bad sources), also truncated or
//! with bytes flipped, with timers run between them; and every packet that goes out is
//! counted once (the fragments after the first of an outer packet the endpoint split as
//! `extra_fragments`).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use sixgate_6in4::{SitDrop, SitTunnel};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{drive, drive_timeout, Counters, Engine, Reason, Verdict};
use sixgate_testkit::fuzz::sit as fuzz;

/// A seed as `sit_decap` prepares it: (configuration, packet).
fn prepare(s: &[u8]) -> Option<(u8, Vec<u8>)> {
    let (&mode, rest) = s.split_first()?;
    let mut p = rest.to_vec();
    let encap = mode & 0x10 != 0;
    if let Some(b) = p.first_mut() {
        *b = (*b & 0x0f) | if encap { 0x60 } else { 0x40 };
    }
    if mode & 1 != 0 && !encap && p.len() >= 20 {
        let l = p.len().min(0xffff) as u16;
        p[2..4].copy_from_slice(&l.to_be_bytes());
    }
    if mode & 2 != 0 && !encap && p.len() >= 20 {
        sixgate_testkit::packets::fix_ipv4_checksum(&mut p);
    }
    Some(((mode >> 2) & 3, p))
}

#[derive(Debug, Default)]
struct Tally {
    received: u64,
    forwarded: u64,
    replied: u64,
    dropped: u64,
    out: u64,
}

fn agree(c: &Counters<SitDrop>, t: &Tally) -> Result<(), TestCaseError> {
    prop_assert_eq!(c.forwarded + c.replied + c.dropped_total(), t.received, "{}", c);
    prop_assert_eq!(c.received(), t.received, "{}", c);
    prop_assert_eq!((c.forwarded, c.replied, c.dropped_total()), (t.forwarded, t.replied, t.dropped), "{}", c);
    prop_assert_eq!(c.forwarded + c.replied + c.extra_fragments + c.generated, t.out, "{}", c);
    prop_assert!(c.answered_total() <= c.replied, "{}", c);
    prop_assert_eq!(c.waiting, 0, "{}", c);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_packet_is_counted_once(
        cfg in 0u8..4,
        steps in prop::collection::vec(
            (any::<usize>(), prop::collection::vec((any::<u16>(), any::<u8>()), 0..3), 0usize..3, 0u64..3),
            1..60,
        ),
    ) {
        let mut seeds: Vec<Vec<u8>> =
            fuzz::seeds().iter().filter_map(|s| prepare(s)).filter(|s| s.0 == cfg).map(|s| s.1).collect();
        // An inner packet of 1280 bytes: sent as fragments once a path MTU below 1300 is
        // learned (RFC 4213 §3.2).
        seeds.push(sixgate_testkit::packets::sit::udp6("2001:db8:a::2", "2001:db8:b::2", &[7; 1232]));
        let mut e = SitTunnel::new(fuzz::config(cfg)).unwrap();
        let mut now = Instant::now();
        let mut t = Tally::default();
        for (i, flips, cut, wait) in steps {
            let mut p = seeds[i % seeds.len()].clone();
            // One in three packets changed: bytes flipped (not the version nibble), or cut.
            if i % 3 == 1 {
                for (at, x) in &flips {
                    let k = usize::from(*at) % p.len().max(1);
                    if k > 0 {
                        p[k] ^= x;
                    }
                }
            } else if i % 3 == 2 && cut > 0 {
                p.truncate(p.len().saturating_sub(cut * 7));
            }
            let before = e.counters().clone();
            let mut buf = PacketBuf::from_slice(&p);
            let mut out = 0;
            let v = drive(&mut e, &mut buf, now, |_, _, _| {
                out += 1;
                Ok::<(), ()>(())
            })
            .unwrap();
            t.received += 1;
            t.out += out;
            match v {
                Verdict::Forward(_) => t.forwarded += 1,
                Verdict::Reply(_) => {
                    t.replied += 1;
                    let moved: u64 = SitDrop::ALL.iter().map(|&r| e.counters().answered(r) - before.answered(r)).sum();
                    prop_assert_eq!(moved, 1, "a reply answers a refusal: {}", e.counters());
                }
                Verdict::Drop(r) => {
                    t.dropped += 1;
                    prop_assert_eq!(e.counters().dropped(r), before.dropped(r) + 1);
                }
            }
            agree(e.counters(), &t)?;
            // Time passes, sometimes past the path MTU's expiry; timers run.
            now += Duration::from_secs(wait * 400);
            let mut tb = PacketBuf::new();
            drive_timeout(&mut e, &mut tb, now, |_, _, _| {
                t.out += 1;
                Ok::<(), ()>(())
            })
            .unwrap();
            agree(e.counters(), &t)?;
        }
    }
}

/// A packet the endpoint sends as several outer fragments (RFC 4213 §3.2: an inner packet
/// of at most 1280 bytes over a path MTU below 1300) counts once as forwarded; its
/// further fragments as `extra_fragments`.
#[test]
fn a_fragmented_packet_is_forwarded_once() {
    let seeds: Vec<Vec<u8>> =
        fuzz::seeds().iter().filter_map(|s| prepare(s)).filter(|s| s.0 == 0).map(|s| s.1).collect();
    let mut e = SitTunnel::new(fuzz::config(0)).unwrap();
    let now = Instant::now();
    // Fragmentation Needed, MTU 600, then each 1280-byte inner packet.
    let fne = seeds.iter().find(|p| p[0] >> 4 == 4 && p[9] == 1 && p.len() > 100 && p[26..28] == 600u16.to_be_bytes());
    let mut b = PacketBuf::from_slice(fne.expect("the MTU 600 seed"));
    let _ = e.process(&mut b, now);
    let inner = sixgate_testkit::packets::sit::udp6("2001:db8:a::2", "2001:db8:b::2", &[7; 1232]);
    assert_eq!(inner.len(), 1280);
    let mut b = PacketBuf::from_slice(&inner);
    let mut out = 0;
    let v = drive(&mut e, &mut b, now, |_, _, _| {
        out += 1;
        Ok::<(), ()>(())
    })
    .unwrap();
    let c = e.counters();
    assert!(matches!(v, Verdict::Forward(_)), "{v:?} {c}");
    assert!(out > 1, "sent as {out} fragments");
    assert_eq!((c.forwarded, c.extra_fragments), (1, out - 1), "{c}");
    assert_eq!(c.received(), 2, "{c}");
}
