//! `--check` catches what a start would fail on, each with its fix: an interface name over
//! 15 bytes, a queue count over the TUN driver's 256, an existing device of another kind
//! under the TUN name (a veth, a TAP device; root), missing capabilities (root, run with
//! an empty bounding set through `setpriv`), and a `listen` address already taken.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Output};

fn sixgate(pre: &[&str], args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_sixgate");
    let mut c = match pre.split_first() {
        Some((p, rest)) => {
            let mut c = Command::new(p);
            c.args(rest).arg("--").arg(bin);
            c
        }
        None => Command::new(bin),
    };
    c.args(args).env_remove("RUST_LOG").output().unwrap()
}

/// Exit status 2 and every needle somewhere in standard error.
fn refused(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", common::text(o));
    for n in needles {
        assert!(err.contains(n), "no {n:?} in: {err}");
    }
}

fn nat64_conf(dir: &Path, extra: &str) -> String {
    let p = dir.join("nat64.toml");
    std::fs::write(&p, format!("pool6 = \"64:ff9b::/96\"\nipv4 = \"192.0.2.1\"\n{extra}")).unwrap();
    p.to_str().unwrap().to_owned()
}

fn tunnel_conf(dir: &Path, tun: &str) -> String {
    let p = dir.join("tunnel.toml");
    std::fs::write(
        &p,
        format!("tun = \"{tun}\"\nlocal = \"192.0.2.1\"\nremote = \"198.51.100.1\"\naddress = \"2001:db8::1/64\"\n"),
    )
    .unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn long_names_and_too_many_queues_are_refused_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = nat64_conf(dir.path(), "tun = \"a-very-long-tun-name-x\"\n");
    refused(&sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]), &["22 bytes", "at most 15", "shorter name"]);
    // Also at start, before any device is opened.
    refused(&sixgate(&[], &["nat64", "run", "--config", &cfg]), &["at most 15"]);
    let cfg = nat64_conf(dir.path(), "tun = \"nat64\"\nqueues = 100000\n");
    refused(&sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]), &["MAX_TAP_QUEUES = 256", "at most 256"]);
    let st = "tun = \"nat64\"\nqueues = 100000\nmode = \"stateful\"\npool4 = [\"198.51.100.0/30\"]\n";
    let cfg = nat64_conf(dir.path(), st);
    refused(&sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]), &["MAX_TAP_QUEUES"]);
    let cfg = tunnel_conf(dir.path(), "a-very-long-tun-name-x");
    refused(&sixgate(&[], &["tunnel", "run", "--check", "--config", &cfg]), &["at most 15"]);
}

#[test]
fn a_listen_address_in_use_is_named() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = udp.local_addr().unwrap().to_string();
    let o = sixgate(&[], &["dns64", "--check", "--listen", &addr, "--upstream", "127.0.0.1:53"]);
    refused(&o, &[&format!("listen {addr} (UDP)"), "ss -lunp"]);
    drop(udp);
    let tcp = TcpListener::bind(&addr).unwrap();
    let o = sixgate(&[], &["dns64", "--check", "--listen", &addr, "--upstream", "127.0.0.1:53"]);
    refused(&o, &["(TCP)", "ss -ltnp"]);
    drop(tcp);
    // A free address passes. Other programs on the machine may take a freed ephemeral
    // port at any moment: a fresh one each try.
    let free = (0..5).any(|_| {
        let addr = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
        sixgate(&[], &["dns64", "--check", "--listen", &addr, "--upstream", "127.0.0.1:53"]).status.success()
    });
    assert!(free, "a free address refused");
}

/// Deletes the named links when dropped.
struct Links(Vec<String>);

impl Drop for Links {
    fn drop(&mut self) {
        for l in &self.0 {
            let _ = common::sh(&["ip", "link", "del", l]);
        }
    }
}

#[test]
fn an_existing_device_of_another_kind_is_named() {
    if let Some(why) = common::netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let n = std::process::id() % 10000;
    let (veth, tap, tun1) = (format!("sgv{n}"), format!("sgtap{n}"), format!("sgtun{n}"));
    let _links = Links(vec![veth.clone(), tap.clone(), tun1.clone()]);
    common::must(&["ip", "link", "add", &veth, "type", "veth", "peer", "name", &format!("sgvp{n}")]);
    common::must(&["ip", "tuntap", "add", "dev", &tap, "mode", "tap"]);
    common::must(&["ip", "tuntap", "add", "dev", &tun1, "mode", "tun"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = nat64_conf(dir.path(), &format!("tun = \"{veth}\"\n"));
    refused(
        &sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]),
        &["not a TUN device", "Ethernet", &format!("ip link del {veth}")],
    );
    let cfg = tunnel_conf(dir.path(), &veth);
    refused(&sixgate(&[], &["tunnel", "run", "--check", "--config", &cfg]), &["not a TUN device"]);
    let cfg = nat64_conf(dir.path(), &format!("tun = \"{tap}\"\n"));
    refused(&sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]), &["TAP"]);
    // A plain TUN device takes one queue, not two.
    let cfg = nat64_conf(dir.path(), &format!("tun = \"{tun1}\"\n"));
    let o = sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]);
    assert!(o.status.success(), "{}", common::text(&o));
    let cfg = nat64_conf(dir.path(), &format!("tun = \"{tun1}\"\nqueues = 2\n"));
    refused(
        &sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]),
        &["without multi_queue", "mode tun multi_queue"],
    );
}

#[test]
fn missing_capabilities_are_named() {
    if !common::is_root() {
        eprintln!("skipping: not root (the test drops capabilities it has)");
        return;
    }
    skip_without!("setpriv");
    let drop_all = ["setpriv", "--bounding-set=-all"];
    let dir = tempfile::tempdir().unwrap();
    let cfg = nat64_conf(dir.path(), "tun = \"sgcaps0\"\n");
    let o = sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]);
    assert!(o.status.success(), "with the capabilities: {}", common::text(&o));
    refused(
        &sixgate(&drop_all, &["nat64", "run", "--check", "--config", &cfg]),
        &["missing capability CAP_NET_ADMIN", "setcap"],
    );
    let cfg = tunnel_conf(dir.path(), "sgcaps1");
    refused(
        &sixgate(&drop_all, &["tunnel", "run", "--check", "--config", &cfg]),
        &["CAP_NET_ADMIN", "missing capability CAP_NET_RAW"],
    );
    let start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    if start > 53 {
        let o = sixgate(&drop_all, &["dns64", "--check", "--listen", "127.0.0.1:53", "--upstream", "127.0.0.1:5353"]);
        refused(&o, &["missing capability CAP_NET_BIND_SERVICE"]);
    } else {
        eprintln!("ip_unprivileged_port_start is {start}: port 53 needs no capability here");
    }
}

#[test]
fn the_fast_path_keys_are_checked_and_check_says_whether_the_kernel_takes_the_programs() {
    let dir = tempfile::tempdir().unwrap();
    let st = "tun = \"nat64\"\nmode = \"stateful\"\npool4 = [\"198.51.100.0/30\"]\nfast_path = \"bpf\"\nfast_path_interfaces = [\"eth0\"]\n";
    let cfg = nat64_conf(dir.path(), st);
    refused(
        &sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]),
        &["fast_path", "stateless mode (SIIT) only"],
    );
    let cfg = nat64_conf(dir.path(), "tun = \"nat64\"\nfast_path = \"bpf\"\n");
    refused(&sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]), &["needs fast_path_interfaces"]);
    let cfg = nat64_conf(dir.path(), "tun = \"nat64\"\nfast_path = \"xdp\"\nfast_path_interfaces = [\"eth0\"]\n");
    refused(
        &sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]),
        &["\"xdp\"", "expected \"bpf\" or \"none\""],
    );
    let tun = tunnel_conf(dir.path(), "sit9");
    let o = sixgate(&[], &["tunnel", "run", "--check", "--config", &tun, "--fast-path", "bpf"]);
    refused(&o, &["needs fast_path_interfaces"]);

    // A good file: --check names the interfaces and what this binary and kernel can do.
    let cfg =
        nat64_conf(dir.path(), "tun = \"nat64\"\nfast_path = \"bpf\"\nfast_path_interfaces = [\"eth0\", \"eth1\"]\n");
    let o = sixgate(&[], &["nat64", "run", "--check", "--config", &cfg]);
    let out = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        // Without root the TUN preflight refuses first; that is checked elsewhere.
        eprintln!("skipped the good-file half: --check refused for another reason: {}", common::text(&o));
        return;
    }
    assert!(out.contains("fast path bpf on eth0, eth1: "), "{out}");
    if cfg!(feature = "bpf") {
        assert!(!out.contains("built without BPF programs"), "{out}");
    } else {
        assert!(out.contains("built without BPF programs") && out.contains("the TUN path alone would run"), "{out}");
    }
}
