//! `sixgate doctor` in network namespaces: a broken host fails each check with a fix, the
//! fixes (run as printed) make every check pass; the DNS64 check asks `sixgate dns64` in
//! front of a tiny unbound serving `ipv4only.arpa` (RFC 7050). Needs root, `ip`, and for
//! the DNS64 test `unbound` and `dig`; otherwise each test prints why it skips and passes.

mod common;

use common::*;

use std::process::Output;
use std::time::{Duration, Instant};

const GATEWAY: &str = "tun = \"nat64\"\nmode = \"stateful\"\npool6 = \"2001:db8:64::/96\"\nipv4 = \"192.0.2.100\"\n\
ipv6 = \"2001:db8:ff::1\"\npool4 = [\"192.0.2.0/30\"]\nmtu = 1500\n";

fn doctor(t: &Netns, config: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let path = t.dir.path().join("doctor.toml");
    std::fs::write(&path, config).unwrap();
    let mut args = vec![env!("CARGO_BIN_EXE_sixgate"), "doctor", "--config", path.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let o = t.exec("rt", &args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (o, v)
}

/// `(check, status, detail, fix)` of every check.
fn checks(v: &serde_json::Value) -> Vec<(String, String, String, Option<String>)> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("").to_owned();
            (s("check"), s("status"), s("detail"), c["fix"].as_str().map(str::to_owned))
        })
        .collect()
}

fn status_of<'a>(cs: &'a [(String, String, String, Option<String>)], check: &str) -> Vec<&'a str> {
    cs.iter().filter(|c| c.0 == check).map(|c| c.1.as_str()).collect()
}

#[test]
fn a_broken_gateway_host_fails_with_fixes_that_work() {
    if let Some(why) = netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let t = Netns::new("sgdr", &["rt"]);
    let rt = t.ns("rt");
    // Broken: no forwarding (a new namespace's default), a device with the wrong MTU and
    // no routes, strict rp_filter.
    must(&["ip", "netns", "exec", &rt, "sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"]);
    let (o, v) = doctor(&t, GATEWAY, &[]);
    assert!(!o.status.success(), "no device, yet the doctor passed: {}", text(&o));
    let cs = checks(&v);
    assert_eq!(status_of(&cs, "device"), ["fail"], "{cs:?}");
    assert_eq!(status_of(&cs, "routes"), ["skip"], "{cs:?}");

    must(&["ip", "-n", &rt, "tuntap", "add", "dev", "nat64", "mode", "tun", "multi_queue"]);
    must(&["ip", "-n", &rt, "link", "set", "nat64", "up", "mtu", "1400"]);
    must(&["ip", "netns", "exec", &rt, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"]);
    let (o, v) = doctor(&t, GATEWAY, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let cs = checks(&v);
    assert_eq!(status_of(&cs, "forwarding"), ["fail", "fail"], "{cs:?}");
    assert_eq!(status_of(&cs, "device"), ["pass"], "{cs:?}");
    // pool6, pool4, own IPv4 (outside pool4), own IPv6 (outside pool6): the list the
    // gateway prints.
    assert_eq!(status_of(&cs, "routes"), ["fail"; 4], "{cs:?}");
    assert_eq!(status_of(&cs, "mtu"), ["fail"], "{cs:?}");
    assert_eq!(status_of(&cs, "rp_filter"), ["fail"], "{cs:?}");
    assert_eq!(status_of(&cs, "dns64"), ["skip"], "{cs:?}");
    assert_eq!(v["failed"], 8, "{cs:?}");

    // Each fix, run as printed, repairs its check.
    for (check, status, detail, fix) in &cs {
        if status == "fail" {
            let fix = fix.as_deref().unwrap_or_else(|| panic!("{check}: {detail}: no fix"));
            must(&["ip", "netns", "exec", &rt, "sh", "-c", fix]);
        }
    }
    let (o, v) = doctor(&t, GATEWAY, &[]);
    let cs = checks(&v);
    assert!(o.status.success(), "{cs:?}");
    assert!(cs.iter().all(|c| c.1 == "pass" || c.0 == "dns64"), "{cs:?}");
    assert_eq!(status_of(&cs, "routes"), ["pass"; 4], "{cs:?}");

    // The text form: the same checks, one line each, the fix under each failure.
    must(&["ip", "-n", &rt, "link", "set", "nat64", "mtu", "1300"]);
    let path = t.dir.path().join("doctor.toml");
    let o = t.exec("rt", &[env!("CARGO_BIN_EXE_sixgate"), "doctor", "--config", path.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "FAIL  mtu: nat64 MTU 1300, the configuration says 1500\n      fix: ip link set dev nat64 mtu 1500"
        ),
        "{out}"
    );
    assert!(out.contains("pass  rp_filter:"), "{out}");
}

#[test]
fn a_tunnel_configuration_is_checked_against_its_device() {
    if let Some(why) = netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let t = Netns::new("sgdt", &["rt"]);
    let rt = t.ns("rt");
    let cfg = "tun = \"sit9\"\nlocal = \"192.0.2.1\"\nremote = \"198.51.100.1\"\naddress = \"2001:db8:ffff::1/64\"\n\
               link_mtu = 1400\n";
    must(&["ip", "-n", &rt, "tuntap", "add", "dev", "sit9", "mode", "tun"]);
    must(&["ip", "-n", &rt, "link", "set", "sit9", "up"]);
    must(&["ip", "netns", "exec", &rt, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"]);
    let (o, v) = doctor(&t, cfg, &[]);
    let cs = checks(&v);
    assert_eq!(o.status.code(), Some(1), "{cs:?}");
    assert_eq!(v["kind"], "tunnel");
    // A 6in4 endpoint forwards IPv6 only; rp_filter is IPv4's and the device carries IPv6.
    assert_eq!(status_of(&cs, "forwarding"), ["fail"], "{cs:?}");
    assert_eq!(status_of(&cs, "rp_filter"), ["skip"], "{cs:?}");
    assert_eq!(status_of(&cs, "routes"), ["fail"], "{cs:?}");
    let mtu = cs.iter().find(|c| c.0 == "mtu").unwrap();
    assert_eq!((mtu.1.as_str(), mtu.3.as_deref()), ("fail", Some("ip link set dev sit9 mtu 1380")), "{cs:?}");
    for (_, status, _, fix) in &cs {
        if status == "fail" {
            must(&["ip", "netns", "exec", &rt, "sh", "-c", fix.as_deref().unwrap()]);
        }
    }
    let (o, v) = doctor(&t, cfg, &[]);
    assert!(o.status.success(), "{:?}", checks(&v));
}

const UNBOUND: &str = "/usr/sbin/unbound";

/// Waits until `dig` in the namespace gets an answer for `qtype` from `port`.
fn wait_dns(t: &Netns, port: &str, qtype: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let o =
            t.exec("rt", &["dig", "@127.0.0.1", "-p", port, "ipv4only.arpa", qtype, "+short", "+time=1", "+tries=1"]);
        if o.status.success() && !o.stdout.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no DNS answer on port {port}");
}

#[test]
fn the_dns64_check_compares_the_rfc7050_prefix_with_pool6_and_pref64() {
    if let Some(why) = netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    if !std::path::Path::new(UNBOUND).exists() {
        eprintln!("skipping: {UNBOUND} missing (apt-get install unbound)");
        return;
    }
    skip_without!("dig");
    let mut t = Netns::new("sgdd", &["rt"]);
    let d = t.dir.path().display().to_string();
    // The upstream: a tiny unbound serving the RFC 7050 §2.2 records, on loopback in the
    // namespace.
    let conf = format!(
        "server:\n    interface: 127.0.0.1\n    port: 5301\n    do-ip6: no\n    do-daemonize: no\n    \
         use-syslog: no\n    logfile: \"\"\n    chroot: \"\"\n    username: \"\"\n    directory: \"{d}\"\n    \
         pidfile: \"{d}/u.pid\"\n    access-control: 127.0.0.0/8 allow\n    num-threads: 1\n    \
         local-zone: \"ipv4only.arpa.\" static\n    \
         local-data: \"ipv4only.arpa. 3600 IN SOA ns.ipv4only.arpa. h.ipv4only.arpa. 1 3600 600 86400 300\"\n    \
         local-data: \"ipv4only.arpa. 3600 IN A 192.0.0.170\"\n    local-data: \"ipv4only.arpa. 3600 IN A 192.0.0.171\"\n\
         remote-control:\n    control-enable: no\n"
    );
    let conf_path = t.dir.path().join("unbound.conf");
    std::fs::write(&conf_path, conf).unwrap();
    t.spawn("rt", &[UNBOUND, "-d", "-c", conf_path.to_str().unwrap()], "unbound.log");
    wait_dns(&t, "5301", "A");
    let bin = env!("CARGO_BIN_EXE_sixgate");
    let dns64 = |t: &mut Netns, port: &str, prefix: &str, log: &str| {
        let listen = format!("127.0.0.1:{port}");
        t.spawn("rt", &[bin, "dns64", "--listen", &listen, "--upstream", "127.0.0.1:5301", "--prefix", prefix], log);
        wait_dns(t, port, "AAAA");
    };
    dns64(&mut t, "5302", "2001:db8:64::/96", "good.log");
    dns64(&mut t, "5303", "64:ff9b::/96", "other.log");

    let with_pref64 = format!("{GATEWAY}pref64 = \"2001:db8:64::/96\"\n");
    let (_, v) = doctor(&t, &with_pref64, &["--resolver", "127.0.0.1:5302"]);
    let cs = checks(&v);
    assert_eq!(status_of(&cs, "dns64"), ["pass"], "{cs:?}");
    assert_eq!(status_of(&cs, "pref64"), ["pass"], "{cs:?}");

    // A DNS64 under another prefix fails, as does an announced PREF64 that is not its prefix.
    let (o, v) = doctor(&t, &with_pref64, &["--resolver", "127.0.0.1:5303"]);
    let cs = checks(&v);
    assert!(!o.status.success());
    let d = cs.iter().find(|c| c.0 == "dns64").unwrap();
    assert_eq!(d.1, "fail", "{cs:?}");
    assert!(d.2.contains("synthesizes under 64:ff9b::/96, pool6 is 2001:db8:64::/96"), "{cs:?}");
    assert_eq!(
        d.3.as_deref(),
        Some("run the DNS64 with the gateway's prefix: sixgate dns64 --prefix 2001:db8:64::/96 ...")
    );
    assert_eq!(status_of(&cs, "pref64"), ["fail"], "{cs:?}");

    // The plain resolver has no AAAA for ipv4only.arpa: not a DNS64.
    let (_, v) = doctor(&t, GATEWAY, &["--resolver", "127.0.0.1:5301"]);
    let cs = checks(&v);
    assert_eq!(status_of(&cs, "dns64"), ["fail"], "{cs:?}");
    // Nothing listening: a failure too, not a hang.
    let (_, v) = doctor(&t, GATEWAY, &["--resolver", "127.0.0.1:5309"]);
    assert_eq!(status_of(&checks(&v), "dns64"), ["fail"]);
}
