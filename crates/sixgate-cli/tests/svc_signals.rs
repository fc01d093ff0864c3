//! No signal an operator sends ends a daemon silently: SIGHUP reloads (and keeps
//! running), SIGUSR1 prints the counters, SIGUSR2 is logged as ignored, SIGTERM stops with
//! the final counters and exit status 0. `sixgate dns64` on loopback needs no privileges;
//! `sixgate nat64 run` needs root and a TUN device (skipped with the reason otherwise).
//! Under systemd the same signals arrive as `READY=1`, `RELOADING=1`, `READY=1`,
//! `STOPPING=1` on `$NOTIFY_SOCKET`.

mod common;
mod svc_util;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use svc_util::{ask, start_dns64, Daemon};

#[test]
fn dns64_lives_through_hup_usr1_usr2_and_stops_with_final_counters() {
    let (mut d, addr) = start_dns64(&[]);
    assert_eq!(ask(&addr, "example.test."), (0x1234, 0));
    d.kill("-HUP");
    d.line("SIGHUP: no configuration file");
    d.kill("-USR1");
    let counters = d.line(" queries, ");
    assert!(counters.contains("1 queries"), "{counters}");
    d.kill("-USR2");
    d.line("SIGUSR2 ignored");
    assert!(d.alive(), "alive after SIGHUP, SIGUSR1 and SIGUSR2");
    assert_eq!(ask(&addr, "example.test."), (0x1234, 0), "still answers");
    d.kill("-TERM");
    let last = d.line("stopped; final counters:");
    assert!(last.contains("2 queries"), "{last}");
    assert!(d.wait_exit().success());
}

#[test]
fn systemd_notify_sequence_arrives_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let recv = || {
        let mut buf = [0u8; 1024];
        let n = sock.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let (mut d, addr) = start_dns64(&[("NOTIFY_SOCKET", path.to_str().unwrap())]);
    let ready = recv();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    // READY=1 means serving.
    assert_eq!(ask(&addr, "example.test.").1, 0);
    d.kill("-HUP");
    let reloading = recv();
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"), "{reloading:?}");
    let usec = lines.next().and_then(|l| l.strip_prefix("MONOTONIC_USEC=")).expect("MONOTONIC_USEC");
    assert!(usec.parse::<u64>().is_ok_and(|u| u > 0), "{reloading:?}");
    let ready = recv();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    d.kill("-TERM");
    assert_eq!(recv(), "STOPPING=1");
    assert!(d.wait_exit().success());
}

/// `nat64 run` on a TUN device: a changed valid file is applied live (a changed `tun`
/// needs a restart and is not applied), a bad one refused with its line, and the gateway
/// keeps running through both.
#[test]
fn nat64_reload_reports_and_refuses_and_keeps_running() {
    if !common::is_root() || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("skipping: needs root and /dev/net/tun");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nat64.toml");
    let tun = format!("sghup{}", std::process::id() % 100000);
    let good = format!("tun = \"{tun}\"\npool6 = \"64:ff9b::/96\"\nipv4 = \"192.0.2.1\"\nstats_interval = 0\n");
    std::fs::write(&cfg, &good).unwrap();
    let mut d = Daemon::spawn(&["nat64", "run", "--config", cfg.to_str().unwrap()], &[]);
    d.line("translating on");
    std::fs::write(&cfg, format!("{good}icmp_rate = 5\n")).unwrap();
    d.kill("-HUP");
    let l = d.line("SIGHUP: reload of");
    assert!(l.contains("applied: icmp_rate") && !l.contains("needs restart"), "{l}");
    std::fs::write(&cfg, format!("{}icmp_rate = 5\n", good.replace(&tun, "elsewhere0"))).unwrap();
    d.kill("-HUP");
    let l = d.line("SIGHUP: reload of");
    assert!(l.contains("changed: tun") && l.contains("needs restart"), "{l}");
    // Stateless to stateful needs a restart: nothing of the file is applied, and saying so
    // again names it once.
    let stateful = format!("{good}icmp_rate = 5\nmode = \"stateful\"\npool4 = [\"192.0.2.1/32\"]\n");
    std::fs::write(&cfg, stateful.replace("pool6 = \"64:ff9b::/96\"", "pool6 = \"2001:db8:64::/96\"")).unwrap();
    for _ in 0..2 {
        d.kill("-HUP");
        let l = d.line("SIGHUP: reload of");
        assert!(l.contains("changed: mode; needs restart") && !l.contains("valid; applied"), "{l}");
        assert_eq!(l.matches("mode").count(), 1, "{l}");
    }
    std::fs::write(&cfg, format!("{good}pool6 = \"64:ff9b::/95\"\n")).unwrap();
    d.kill("-HUP");
    let l = d.line("SIGHUP: reload of");
    assert!(l.contains("refused") && l.contains("nat64.toml:"), "{l}");
    d.kill("-USR1");
    d.line("received=");
    assert!(d.alive(), "alive after two reloads");
    assert!(std::path::Path::new(&format!("/sys/class/net/{tun}")).exists(), "the TUN device stays");
    d.kill("-TERM");
    d.line("final counters");
    assert!(d.wait_exit().success());
}

/// `tunnel run` (TUN device and raw sockets): SIGHUP with a changed TTL applies it, a bad
/// file is refused, the endpoint keeps running, SIGTERM stops it.
#[test]
fn tunnel_reload_reports_and_keeps_running() {
    if !common::is_root() || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("skipping: needs root and /dev/net/tun");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tunnel.toml");
    let tun = format!("sghupt{}", std::process::id() % 10000);
    let good = format!(
        "tun = \"{tun}\"\nlocal = \"192.0.2.1\"\nremote = \"198.51.100.1\"\naddress = \"2001:db8:ffff::1/64\"\nstats_interval = 0\n"
    );
    std::fs::write(&cfg, &good).unwrap();
    let mut d = Daemon::spawn(&["tunnel", "run", "--config", cfg.to_str().unwrap()], &[]);
    d.line("tunnel up");
    std::fs::write(&cfg, format!("{good}ttl = 9\n")).unwrap();
    d.kill("-HUP");
    let l = d.line("SIGHUP: reload of");
    assert!(l.contains("applied: ttl") && !l.contains("needs restart"), "{l}");
    std::fs::write(&cfg, format!("{good}mode = \"gre\"\n")).unwrap();
    d.kill("-HUP");
    let l = d.line("SIGHUP: reload of");
    assert!(l.contains("refused"), "{l}");
    assert!(d.alive());
    d.kill("-TERM");
    d.line("final counters");
    assert!(d.wait_exit().success());
}
