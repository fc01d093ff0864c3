//! Scale-out on the network's own machinery: two stateful gateways (`instance = "1/2"`,
//! `"2/2"`, one pool6, disjoint halves of pool4) behind a router with a Linux ECMP route
//! (L4 hash) to both. 32 IPv6 sources open TCP and UDP flows: the flows spread over both
//! gateways (the server sees both halves of pool4; each gateway counts packets and logs
//! only sessions on its own half, in JSON Lines and as IPFIX NAT events to a collector)
//! and every byte arrives intact. Then one gateway's
//! health check fails (its TUN device down), it is stopped and its route withdrawn: new
//! flows all go through the survivor, intact. Needs root; otherwise it prints why it
//! skips and passes.

mod common;
mod scaleout;

use common::*;
use scaleout::*;

#[test]
fn flows_spread_over_two_instances_and_move_to_the_survivor_when_one_is_withdrawn() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut s = Scale::new("sgecmp");
    s.start_gateway(1);
    s.start_gateway(2);
    assert_eq!(s.health(1), (200, "ok".to_owned()));
    let rt = s.t.ns("rt");
    must(&[
        "ip",
        "-n",
        &rt,
        "-6",
        "route",
        "add",
        POOL6,
        "nexthop",
        "via",
        "2001:db8:a1::2",
        "nexthop",
        "via",
        "2001:db8:a2::2",
    ]);
    s.start_server();
    s.resolve_neighbours();

    // 1. Both gateways carry flows; every flow completes intact.
    let failed = s.flows();
    assert!(failed.is_empty(), "{failed:?}\ngw1: {}\ngw2: {}", s.t.log("gw1.log"), s.t.log("gw2.log"));
    let peers = s.peers();
    assert_eq!(peers.len(), 2 * CLIENTS, "{peers:?}");
    let spread = Scale::spread(&peers);
    assert!(spread.get(&1).is_some_and(|&n| n > 0) && spread.get(&2).is_some_and(|&n| n > 0), "{spread:?}");
    for k in 1..=2 {
        let line = s.counters(k);
        let received: u64 =
            line.split_whitespace().find_map(|w| w.strip_prefix("received=")).and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(received > 0, "gateway {k}: {line}");
        // Its log names only sessions on its own half of pool4, as many as reached it.
        let adds = s.session_adds(k, spread[&k]);
        assert_eq!(adds.len(), spread[&k], "gateway {k} logged {adds:?}");
        assert!(adds.iter().all(|e| owner(e["pool4"].as_str().unwrap()) == k), "{adds:?}");
        assert!(adds.iter().all(|e| e["dst4"] == SERVER4), "{adds:?}");
        // The same sessions as IPFIX NAT events (RFC 8158) to the gateway's collector.
        let mut ipfix = s.ipfix_sessions(k, adds.len());
        let mut json: Vec<(String, u16)> = adds
            .iter()
            .map(|e| (e["pool4"].as_str().unwrap().to_owned(), e["port4"].as_u64().unwrap() as u16))
            .collect();
        ipfix.sort();
        json.sort();
        assert_eq!(ipfix, json, "gateway {k}: IPFIX and JSON Lines disagree");
        let m = s.metrics(k);
        assert!(m.contains("sixgate_nat64_events_dropped_total 0"), "{m}");
        assert!(m.lines().any(|l| l.starts_with("sixgate_nat64_events_logged_total ")), "{m}");
    }

    // 2. Gateway 1 fails its health check (as a routing daemon polling it would see), is
    //    stopped and its route withdrawn: new flows all go through gateway 2, intact.
    must(&["ip", "-n", &s.t.ns("gw1"), "link", "set", "nat64", "down"]);
    let (code, body) = s.health(1);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("nat64 is down"), "{body}");
    assert_eq!(s.health(2).0, 200);
    let log = s.stop_gateway(1);
    assert!(log.contains("final counters"), "{log}");
    must(&["ip", "-n", &rt, "-6", "route", "replace", POOL6, "via", "2001:db8:a2::2"]);
    // logrotate on gateway 2: the log moved, SIGHUP; what follows goes to a new file.
    let dir = s.t.dir.path().to_owned();
    std::fs::rename(dir.join("gw2.jsonl"), dir.join("gw2.jsonl.1")).unwrap();
    let logged_before = s.t.log("gw2.jsonl.1").lines().count();
    let gw2 = s.gw[1].unwrap();
    must(&["kill", "-HUP", &s.t.children[gw2].id().to_string()]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !dir.join("gw2.jsonl").exists() {
        assert!(std::time::Instant::now() < deadline, "no new log after SIGHUP: {}", s.t.log("gw2.log"));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let before = s.peers().len();
    let failed = s.flows();
    assert!(failed.is_empty(), "{failed:?}\ngw2: {}", s.t.log("gw2.log"));
    let after = s.peers();
    assert_eq!(after.len(), before + 2 * CLIENTS);
    let spread = Scale::spread(&after[before..]);
    assert_eq!(spread.into_iter().collect::<Vec<_>>(), vec![(2, 2 * CLIENTS)]);
    // The new file has the new sessions, the moved one only the old.
    let log = s.stop_gateway(2);
    assert!(log.contains("events_logged="), "{log}");
    assert_eq!(s.t.log("gw2.jsonl.1").lines().count(), logged_before);
    assert_eq!(s.session_adds(2, 2 * CLIENTS).len(), 2 * CLIENTS);
}
