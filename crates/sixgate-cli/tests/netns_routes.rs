//! `routes = true`: `sixgate nat64 run` installs the routes it prints through rtnetlink and
//! removes exactly those on SIGTERM; a route that was there before stays. Needs root;
//! otherwise each test prints why it skips and passes.

mod common;

use common::*;

use std::time::{Duration, Instant};

/// `dst dev` pairs of `ip [-6] -j route` in namespace `ns`.
fn routes(t: &Netns, v6: bool) -> Vec<(String, String)> {
    let o = if v6 { t.exec("rt", &["ip", "-6", "-j", "route"]) } else { t.exec("rt", &["ip", "-j", "route"]) };
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| (r["dst"].as_str().unwrap_or("").to_owned(), r["dev"].as_str().unwrap_or("").to_owned()))
        .collect()
}

fn has(list: &[(String, String)], dst: &str) -> bool {
    list.iter().any(|(d, dev)| d == dst && dev == "nat64")
}

/// Waits until the gateway's log contains `what`.
fn wait_log(t: &Netns, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if t.log("gw.log").contains(what) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no {what:?} in the log:\n{}", t.log("gw.log"));
}

const CONFIG: &str = "tun = \"nat64\"\nmode = \"stateful\"\npool6 = \"2001:db8:64::/96\"\nipv4 = \"192.0.2.100\"\n\
ipv6 = \"2001:db8:ff::1\"\npool4 = [\"192.0.2.0/30 1024-65535\"]\nstats_interval = 0\n";

fn start(t: &mut Netns, extra: &str, flags: &[&str]) -> u32 {
    let cfg = t.dir.path().join("gw.toml");
    std::fs::write(&cfg, format!("{CONFIG}{extra}")).unwrap();
    let mut args = vec![env!("CARGO_BIN_EXE_sixgate"), "nat64", "run", "--config", cfg.to_str().unwrap()];
    args.extend_from_slice(flags);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    t.spawn("rt", &args, "gw.log")
}

fn stop(t: &mut Netns) -> std::process::ExitStatus {
    let c = &mut t.children[0];
    must(&["kill", "-TERM", &c.id().to_string()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "the gateway did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn routes_are_installed_and_exactly_those_removed() {
    if let Some(why) = netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut t = Netns::new("sgrt", &["rt"]);
    let rt = t.ns("rt");
    // A persistent device, up, already holding the pool6 route and an unrelated one: both
    // must survive the gateway.
    must(&["ip", "-n", &rt, "tuntap", "add", "dev", "nat64", "mode", "tun", "multi_queue"]);
    must(&["ip", "-n", &rt, "link", "set", "nat64", "up"]);
    must(&["ip", "-n", &rt, "-6", "route", "add", "2001:db8:64::/96", "dev", "nat64"]);
    must(&["ip", "-n", &rt, "route", "add", "10.9.0.0/16", "dev", "nat64"]);

    start(&mut t, "routes = true\n", &[]);
    wait_log(&t, "route 2001:db8:ff::1/128 dev nat64 added");
    let log = t.log("gw.log");
    assert!(
        log.contains("route 2001:db8:64::/96 dev nat64 already present: left in place, not removed on exit"),
        "{log}"
    );
    let (v4, v6) = (routes(&t, false), routes(&t, true));
    assert!(has(&v4, "192.0.2.0/30"), "pool4 route missing: {v4:?}");
    assert!(has(&v4, "192.0.2.100"), "own IPv4 route missing: {v4:?}");
    assert!(has(&v6, "2001:db8:ff::1"), "own IPv6 route missing: {v6:?}");
    assert!(has(&v6, "2001:db8:64::/96"), "pool6 route missing: {v6:?}");

    let st = stop(&mut t);
    assert!(st.success(), "exit {st:?}: {}", t.log("gw.log"));
    let log = t.log("gw.log");
    assert!(log.contains("route 192.0.2.0/30 dev nat64 removed"), "{log}");
    let (v4, v6) = (routes(&t, false), routes(&t, true));
    assert!(!has(&v4, "192.0.2.0/30"), "pool4 route left behind: {v4:?}");
    assert!(!has(&v4, "192.0.2.100"), "own IPv4 route left behind: {v4:?}");
    assert!(!has(&v6, "2001:db8:ff::1"), "own IPv6 route left behind: {v6:?}");
    assert!(has(&v6, "2001:db8:64::/96"), "the pre-existing pool6 route was removed: {v6:?}");
    assert!(has(&v4, "10.9.0.0/16"), "an unrelated route was removed: {v4:?}");
}

#[test]
fn the_flag_installs_routes_and_the_default_does_not() {
    if let Some(why) = netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut t = Netns::new("sgrf", &["rt"]);
    start(&mut t, "", &[]);
    wait_log(&t, "it needs these routes");
    // Give a gateway that wrongly installs routes the time to do so.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!has(&routes(&t, false), "192.0.2.0/30"), "routes installed without routes = true");
    assert!(stop(&mut t).success());
    t.children.clear();

    start(&mut t, "", &["--routes"]);
    wait_log(&t, "route 192.0.2.0/30 dev nat64 added");
    assert!(has(&routes(&t, false), "192.0.2.0/30"));
    assert!(has(&routes(&t, true), "2001:db8:64::/96"));
    assert!(stop(&mut t).success(), "{}", t.log("gw.log"));
    assert!(t.log("gw.log").contains("route 2001:db8:64::/96 dev nat64 removed"), "{}", t.log("gw.log"));
}

#[test]
fn a_route_the_kernel_refuses_takes_the_ones_added_before_it_away() {
    if let Some(why) = netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let t = Netns::new("sgre", &["rt"]);
    let rt = t.ns("rt");
    // IPv6 off on the device: the IPv4 routes go in first, then the IPv6 one is refused.
    must(&["ip", "-n", &rt, "tuntap", "add", "dev", "nat64", "mode", "tun", "multi_queue"]);
    must(&["ip", "-n", &rt, "link", "set", "nat64", "up"]);
    must(&["ip", "netns", "exec", &rt, "sysctl", "-qw", "net.ipv6.conf.nat64.disable_ipv6=1"]);
    let cfg = t.dir.path().join("gw.toml");
    std::fs::write(
        &cfg,
        "tun = \"nat64\"\nipv4 = \"192.0.2.1\"\nipv6 = \"2001:db8:ff::1\"\nstats_interval = 0\nroutes = true\n\
         [[eam]]\nipv6 = \"2001:db8:6::/120\"\nipv4 = \"203.0.113.0/24\"\n",
    )
    .unwrap();
    let o = t.exec("rt", &[env!("CARGO_BIN_EXE_sixgate"), "nat64", "run", "--config", cfg.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("cannot install the routes: route 2001:db8:ff::1/128 dev nat64"), "{out}");
    let v4 = routes(&t, false);
    assert!(!has(&v4, "203.0.113.0/24") && !has(&v4, "192.0.2.1"), "routes left after a failed start: {v4:?}");
}
