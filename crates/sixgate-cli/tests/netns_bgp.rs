//! Scale-out with BGP (Debian's BIRD 2): the topology of `netns_ecmp`, but the router
//! learns its route to pool6 from the gateways. Each gateway namespace runs BIRD, which
//! learns the pool6 route `sixgate nat64 run` installs on its TUN device (`routes = true`)
//! from the kernel and announces it by eBGP; the router's BIRD merges the two equal paths
//! into one multipath kernel route (`merge paths`). Flows spread over both gateways,
//! intact; when one gateway's translator stops, its device and route go, its BIRD
//! withdraws the announcement, the router's route keeps only the survivor, and new flows
//! all go through it. Needs root and bird; otherwise it prints why it skips and passes.
//!
//! The second test runs the operator's loop, `dist/sixgate-bgp-health`, next to gateway 1's
//! BIRD: the gateway's TUN device loses its carrier while the translator keeps running, so
//! its pool6 route stays in the kernel (and BIRD alone goes on announcing it: checked
//! first, without the script) but `GET /health` answers 503; the script disables the BGP
//! session, the router's multipath route loses gateway 1 and new flows all go through
//! gateway 2; with the carrier back, the health check passes, the script enables the
//! session and the route has both gateways again. Needs curl and birdc too.

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

/// Why the BGP tests cannot run here (root, bird, and for the health script curl and birdc).
fn bgp_skip_reason(script: bool) -> Option<String> {
    if let Some(why) = skip_reason() {
        return Some(why);
    }
    if !std::path::Path::new(BIRD).exists() {
        return Some(format!("{BIRD} missing (Debian package bird2)"));
    }
    if script {
        return common::tools_skip_reason_in(std::ffi::OsStr::new(PATH), &["curl", "birdc"]);
    }
    None
}

/// What the health script runs with.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// BIRD in both gateways and the router (control sockets `bird-NS.ctl`).
fn start_birds(s: &mut Scale) {
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
}

#[test]
fn gateways_announce_pool6_by_bgp_and_a_stopped_one_is_withdrawn() {
    if let Some(why) = bgp_skip_reason(false) {
        eprintln!("skipping: {why}");
        return;
    }
    let mut s = Scale::new("sgbgp");
    s.start_gateway(1);
    s.start_gateway(2);
    start_birds(&mut s);
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

/// Sets the carrier of gateway `k`'s TUN device (the translator keeps running; its pool6
/// route stays, marked `linkdown`) and waits until `GET /health` answers `want`.
fn carrier(s: &Scale, k: usize, on: bool, want: u16) {
    let gw = ["gw1", "gw2"][k - 1];
    let o = s.t.exec(gw, &["ip", "link", "set", "nat64", "carrier", if on { "on" } else { "off" }]);
    assert!(o.status.success(), "{}", common::text(&o));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = s.health(k);
        if code == want {
            return;
        }
        assert!(Instant::now() < deadline, "gateway {k} health {code} {body}, want {want}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the health script's output holds `n` lines containing `needle`.
fn wait_script(s: &Scale, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = s.t.log("health-gw1.log");
        if log.lines().filter(|l| l.contains(needle)).count() >= n {
            return;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in the script's output:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_unhealthy_gateway_is_withdrawn_by_the_health_script_and_announced_again_once_healed() {
    if let Some(why) = bgp_skip_reason(true) {
        eprintln!("skipping: {why}");
        return;
    }
    let mut s = Scale::new("sgbgh");
    s.start_gateway(1);
    s.start_gateway(2);
    start_birds(&mut s);
    wait_route(&s, &[1, 2]);
    s.start_server();
    s.resolve_neighbours();

    // Without the script, an unhealthy gateway stays announced: its route is still in the
    // kernel. Two hold times later, the router still sends to it.
    carrier(&s, 1, false, 503);
    assert!(route(&s).contains("via 2001:db8:a1::2"));
    std::thread::sleep(Duration::from_secs(7));
    let r = route(&s);
    assert!(r.contains("via 2001:db8:a1::2") && r.contains("via 2001:db8:a2::2"), "{r}");
    carrier(&s, 1, true, 200);

    // The script next to gateway 1's BIRD.
    let dir = s.t.dir.path().display().to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dist/sixgate-bgp-health");
    let ctl = format!("{dir}/bird-gw1.ctl");
    s.t.spawn(
        "gw1",
        &[
            "env",
            &format!("PATH={PATH}"),
            "sh",
            "-c",
            "exec sh \"$0\" \"$@\" 1>&2",
            script,
            "--url",
            "http://127.0.0.1:9464/health",
            "--protocol",
            "uplink",
            "--interval",
            "0.5",
            "--fall",
            "2",
            "--rise",
            "2",
            "--socket",
            &ctl,
        ],
        "health-gw1.log",
    );
    wait_script(&s, "healthy (200 ok): enabled uplink", 1);
    let failed = s.flows();
    assert!(failed.is_empty(), "{failed:?}\nroute: {}", route(&s));
    let spread = Scale::spread(&s.peers());
    assert!(spread.get(&1).is_some_and(|&n| n > 0) && spread.get(&2).is_some_and(|&n| n > 0), "{spread:?}");

    // Unhealthy, the translator still running: the script withdraws gateway 1.
    carrier(&s, 1, false, 503);
    wait_script(&s, "unhealthy (503 unhealthy: nat64 is up but has no carrier): disabled uplink", 1);
    wait_route(&s, &[2]);
    let i = s.gw[0].unwrap();
    assert!(s.t.children[i].try_wait().unwrap().is_none(), "gateway 1's translator stopped");
    let before = s.peers().len();
    let failed = s.flows();
    assert!(failed.is_empty(), "{failed:?}\nroute: {}", route(&s));
    let after = s.peers();
    assert_eq!(Scale::spread(&after[before..]).into_iter().collect::<Vec<_>>(), vec![(2, 2 * CLIENTS)]);

    // Healed: announced again, and new flows take both gateways.
    carrier(&s, 1, true, 200);
    wait_script(&s, "healthy (200 ok): enabled uplink", 2);
    wait_route(&s, &[1, 2]);
    s.resolve_neighbours();
    let before = s.peers().len();
    let failed = s.flows();
    assert!(failed.is_empty(), "{failed:?}\nroute: {}", route(&s));
    let spread = Scale::spread(&s.peers()[before..]);
    assert!(spread.get(&1).is_some_and(|&n| n > 0) && spread.get(&2).is_some_and(|&n| n > 0), "{spread:?}");
}
