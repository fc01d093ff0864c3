//! The stateful translator's BIB and session events ([`sixgate_nat64::NatEvent`]) under
//! arbitrary traffic: the event stream must replay into the engine's tables.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::Engine;
use sixgate_core::Protocol;

/// (protocol, IPv6 address and port, remote IPv4 address and port).
type SessionKey = (u8, Ipv6Addr, u16, Ipv4Addr, u16);

/// Fuzz target `stateful_events`. Byte 0: bit 0 endpoint-independent filtering, bit 1 a
/// pool of 12 ports (exhaustion), bit 2 small session limits, bit 3 `bib` level instead
/// of `session`. Then steps of two bytes `t`, `a`: `t & 3` is 0 — time passes (`a`
/// seconds, timers run); 1 — a UDP packet, 2 — a TCP SYN, 3 — a TCP RST, from client
/// `a & 7` port `4000 + (a >> 3 & 7)` to server `t >> 2 & 3`; and with `t & 0x80` an IPv4
/// answer to the last mapping instead.
///
/// Checked: every creation event is of something not there yet, every deletion of
/// something there with the same mapping; a session's BIB entry exists; what the events
/// leave alive is what the tables hold ([`sixgate_nat64::Nat64::stats`],
/// [`sixgate_nat64::Nat64::binding`]); no event is lost.
pub fn stateful_events(data: &[u8]) {
    use crate::packets;
    use sixgate_core::rfc6052::Pool6;
    use sixgate_nat64::stateful::{EventLevel, Filtering, Nat64, Nat64Config, NatEventKind, Pool4Range};

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
    let session = c0 & 8 == 0;
    cfg.events = if session { EventLevel::Session } else { EventLevel::Bib };
    let Ok(mut e) = Nat64::new(cfg) else { return };
    let mut now = Instant::now();
    let mut bib: BTreeMap<(u8, Ipv6Addr, u16), (Ipv4Addr, u16)> = BTreeMap::new();
    let mut sess: BTreeMap<SessionKey, (Ipv4Addr, u16)> = BTreeMap::new();
    let servers = ["203.0.113.1", "203.0.113.2", "198.51.100.7", "203.0.113.3"];
    let mut last: Option<(u8, String, Ipv4Addr, u16)> = None;
    while rest.len() >= 2 {
        let (t, a) = (rest[0], rest[1]);
        rest = &rest[2..];
        let kind = t & 3;
        if kind == 0 {
            now += Duration::from_secs(u64::from(a));
            let mut guard = 0;
            while e.poll_timeout().is_some_and(|d| d <= now) && guard < 100_000 {
                e.handle_timeout(now);
                guard += 1;
            }
        } else if t & 0x80 != 0 {
            let Some((proto, server, p4, port4)) = &last else { continue };
            let p = match proto {
                17 => packets::udp4_ports(server, &p4.to_string(), 53, *port4, b"a"),
                _ => packets::tcp4_flags(server, &p4.to_string(), 80, *port4, 0x12),
            };
            let _ = e.process(&mut PacketBuf::from_slice(&p), now);
        } else {
            let client = format!("2001:db8::{}", 0x10 + (a & 7));
            let server = servers[usize::from(t >> 2 & 3)];
            let dst = sixgate_core::rfc6052::embed(&pool6, server.parse().expect("literal")).to_string();
            let sport = 4000 + u16::from(a >> 3 & 7);
            let (p, proto) = match kind {
                1 => (packets::udp6_ports(&client, &dst, sport, 53, b"q"), 17),
                2 => (packets::tcp6_flags(&client, &dst, sport, 80, 0x02), 6),
                _ => (packets::tcp6_flags(&client, &dst, sport, 80, 0x04), 6),
            };
            let mut b = PacketBuf::from_slice(&p);
            let _ = e.process(&mut b, now);
            let proto_v = if proto == 6 { Protocol::Tcp } else { Protocol::Udp };
            if let Some((p4, port4)) = e.binding(proto_v, client.parse().expect("literal"), sport) {
                last = Some((proto, server.to_owned(), p4, port4));
            }
        }
        while let Some(ev) = e.poll_event() {
            let proto = u8::from(ev.protocol);
            let v4 = (ev.pool4, ev.pool4_port);
            assert!(ev.time <= now, "an event from the future");
            match (ev.kind, ev.remote) {
                (NatEventKind::BibCreated, None) => {
                    assert!(
                        bib.insert((proto, ev.ipv6, ev.ipv6_port), v4).is_none(),
                        "BIB entry created twice: {ev:?}"
                    );
                }
                (NatEventKind::BibDeleted, None) => {
                    assert_eq!(bib.remove(&(proto, ev.ipv6, ev.ipv6_port)), Some(v4), "BIB deletion: {ev:?}");
                }
                (NatEventKind::SessionCreated, Some(r)) if session => {
                    assert_eq!(bib.get(&(proto, ev.ipv6, ev.ipv6_port)), Some(&v4), "session without BIB: {ev:?}");
                    let k = (proto, ev.ipv6, ev.ipv6_port, r.ipv4, r.port);
                    assert!(sess.insert(k, v4).is_none(), "session created twice: {ev:?}");
                }
                (NatEventKind::SessionDeleted, Some(r)) if session => {
                    let k = (proto, ev.ipv6, ev.ipv6_port, r.ipv4, r.port);
                    assert_eq!(sess.remove(&k), Some(v4), "session deletion: {ev:?}");
                }
                _ => panic!("unexpected event {ev:?}"),
            }
        }
        let st = e.stats();
        assert_eq!(st.bib, bib.len(), "BIB entries: tables and events disagree");
        if session {
            assert_eq!(st.sessions, sess.len(), "sessions: tables and events disagree");
        }
        for (&(p, addr, port), &v4) in &bib {
            let proto = if p == 6 { Protocol::Tcp } else { Protocol::Udp };
            assert_eq!(e.binding(proto, addr, port), Some(v4), "BIB entry of the events not in the tables");
        }
        assert_eq!(e.events_lost(), 0);
    }
}

/// Seeds: UDP and TCP from a few clients, answers, time passing past the timers.
pub fn seeds_stateful_events() -> Vec<Vec<u8>> {
    vec![
        vec![0, 1, 0, 2, 9, 0x81, 0, 0, 200, 0, 200],
        vec![1, 1, 1, 5, 2, 1, 3, 0x82, 0, 3, 2, 0, 255, 0, 255],
        vec![2, 1, 0, 1, 8, 1, 16, 1, 24, 1, 32, 1, 40, 1, 48, 1, 56, 1, 1, 1, 2, 0, 250, 0, 250],
        vec![4, 2, 0, 2, 1, 2, 2, 2, 3, 6, 0, 0, 10, 0, 250],
        vec![8, 1, 0, 5, 0, 9, 0, 0, 100, 0, 250, 0, 250],
    ]
}
