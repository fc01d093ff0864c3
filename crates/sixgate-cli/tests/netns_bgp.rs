//! Scale-out with BGP (Debian's BIRD 2): the topology of `netns_ecmp`, but the router
//! learns its route to pool6 from the gateways. Each gateway namespace runs BIRD, which
//! learns the pool6 route `sixgate nat64 run` installs on its TUN device (`routes = true`)
//! from the kernel and announces it by eBGP; the router's BIRD merges the two equal paths
//! into one multipath kernel route (`merge paths`). Flows spread over both gateways,
//! intact; when one gateway's translator stops, its device and route go, its BIRD
//! withdraws the announcement, the router's route keeps only the survivor, and new flows
//! all go through it. Needs root and bird; otherwise it prints why it skips and passes.

mod common;
mod scaleout;

use std::time::{Duration, Instant};

use scaleout::*;

const BIRD: &str = "/usr/sbin/bird";

/// BIRD in gateway `k`: the kernel's pool6 route (the translator's) announced to the router.
fn gateway_bird(k: usize) -> String {
    format!(
        "router id 10.0.0.{k};\nlog stderr all;\nprotocol device {{ scan time 1; }}\n\
         protocol kernel {{ ipv6 {{ import where net = {POOL6}; export none; }}; learn; scan time 1; }}\n\
         protocol bgp uplink {{\n  local 2001:db8:a{k}::2 as 6450{k};\n  neighbor 2001:db8:a{k}::1 as 64500;\n  \
         hold time 3; keepalive time 1; connect retry time 1;\n  \
         ipv6 {{ import none; export where net = {POOL6}; next hop self; }};\n}}\n"
    )
}

/// BIRD in the router: both gateways' announcements merged into one multipath route.
fn router_bird() -> String {
    let mut s = "router id 10.0.0.100;\nlog stderr all;\nprotocol device { scan time 1; }\n\
                 protocol kernel { ipv6 { import none; export all; }; merge paths on; scan time 1; }\n"
        .to_owned();
    for k in 1..=2 {
        s.push_str(&format!(
            "protocol bgp gw{k} {{\n  local 2001:db8:a{k}::1 as 64500;\n  neighbor 2001:db8:a{k}::2 as 6450{k};\n  \
             hold time 3; keepalive time 1; connect retry time 1;\n  ipv6 {{ import all; export none; }};\n}}\n"
        ));
    }
    s
}

/// The router's route to pool6, as `ip -6 route` shows it.
fn route(s: &Scale) -> String {
    String::from_utf8_lossy(&s.t.exec("rt", &["ip", "-6", "route", "show", POOL6]).stdout).into_owned()
}

/// Waits until the router's pool6 route goes through exactly the gateways `want`.
fn wait_route(s: &Scale, want: &[usize]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = route(s);
        let via: Vec<usize> = (1..=2).filter(|k| r.contains(&format!("via 2001:db8:a{k}::2"))).collect();
        if via == want && r.contains("proto bird") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "router route {r:?}, want via {want:?}\nrouter: {}\ngw1: {}\ngw2: {}",
            s.t.log("bird-rt.log"),
            s.t.log("bird-gw1.log"),
            s.t.log("bird-gw2.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn gateways_announce_pool6_by_bgp_and_a_stopped_one_is_withdrawn() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    if !std::path::Path::new(BIRD).exists() {
        eprintln!("skipping: {BIRD} missing (Debian package bird2)");
        return;
    }
    let mut s = Scale::new("sgbgp");
    s.start_gateway(1);
    s.start_gateway(2);
    let dir = s.t.dir.path().display().to_string();
    for (ns, conf) in [("gw1", gateway_bird(1)), ("gw2", gateway_bird(2)), ("rt", router_bird())] {
        let path = format!("{dir}/bird-{ns}.conf");
        std::fs::write(&path, conf).unwrap();
        let ctl = format!("{dir}/bird-{ns}.ctl");
        s.t.spawn(
            ns,
            &[BIRD, "-f", "-c", &path, "-s", &ctl, "-P", &format!("{dir}/bird-{ns}.pid")],
            &format!("bird-{ns}.log"),
        );
    }
    wait_route(&s, &[1, 2]);
    s.start_server();
    s.resolve_neighbours();

    let failed = s.flows();
    assert!(failed.is_empty(), "{failed:?}\nroute: {}", route(&s));
    let spread = Scale::spread(&s.peers());
    assert!(spread.get(&1).is_some_and(|&n| n > 0) && spread.get(&2).is_some_and(|&n| n > 0), "{spread:?}");

    // Gateway 1's translator stops: its device and pool6 route go, BIRD withdraws it.
    s.stop_gateway(1);
    wait_route(&s, &[2]);
    let before = s.peers().len();
    let failed = s.flows();
    assert!(failed.is_empty(), "{failed:?}\nroute: {}", route(&s));
    let after = s.peers();
    assert_eq!(Scale::spread(&after[before..]).into_iter().collect::<Vec<_>>(), vec![(2, 2 * CLIENTS)]);
}
