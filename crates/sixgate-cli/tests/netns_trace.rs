//! `--log-level trace`: the gateway logs each packet's outcome, a drop with its stable
//! reason name and the packet's addresses; at the default level it logs none of them.
//! Root only (a network namespace with the gateway's TUN device in it).

mod common;

use std::time::{Duration, Instant};

use common::Netns;

/// Starts the stateless gateway in a namespace of its own, sends it an IPv6 ping from an
/// address it has no mapping for (so it drops it), and returns its log after that.
fn run(level: Option<&str>) -> String {
    let mut t = Netns::new("sgtr", &["gw"]);
    let cfg = t.dir.path().join("nat64.toml");
    std::fs::write(&cfg, "tun = \"nat64\"\npool6 = \"64:ff9b::/96\"\nipv4 = \"192.0.2.1\"\nstats_interval = 0\n")
        .unwrap();
    let bin = env!("CARGO_BIN_EXE_sixgate");
    let mut args = vec![bin, "nat64", "run", "--config", cfg.to_str().unwrap()];
    if let Some(l) = level {
        args.extend(["--log-level", l]);
    }
    t.spawn("gw", &args, "gw.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !t.log("gw.log").contains("translating on nat64") {
        assert!(Instant::now() < deadline, "the gateway did not start: {}", t.log("gw.log"));
        std::thread::sleep(Duration::from_millis(50));
    }
    common::must(&["ip", "-n", &t.ns("gw"), "link", "set", "nat64", "up"]);
    t.addr("gw", "nat64", "2001:db8:1::1/64").route_dev("gw", "64:ff9b::/96", "nat64");
    // 2001:db8:1::1 is neither under pool6 nor in an EAM entry: untranslatable, dropped.
    let _ = t.exec("gw", &["ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", "64:ff9b::c000:202"]);
    // The counters at stop say what happened to it, whatever the level.
    let pid = t.children[0].id();
    common::must(&["kill", "-TERM", &pid.to_string()]);
    let _ = t.children[0].wait();
    t.log("gw.log")
}

#[test]
fn trace_level_logs_each_drop_with_reason_and_addresses_and_info_none() {
    if let Some(why) = common::netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let log = run(Some("trace"));
    let drop = log
        .lines()
        .find(|l| {
            l.contains("TRACE") && l.contains("drop ") && l.contains("IPv6 2001:db8:1::1 -> 64:ff9b::c000:202 icmpv6")
        })
        .unwrap_or_else(|| panic!("no trace line for the dropped ping in:\n{log}"));
    assert!(drop.contains("reason="), "{drop}");
    eprintln!("{drop}");
    let quiet = run(None);
    assert!(quiet.contains("final counters"), "{quiet}");
    assert!(!quiet.contains("TRACE") && !quiet.contains("drop "), "nothing per packet at info:\n{quiet}");
}
