//! `sixgate dns64 --config FILE` reloads on SIGHUP: a new prefix and a new upstream take
//! effect for the next query, a bad file is refused with its `FILE:LINE` and the running
//! configuration stays, keys that need a restart are reported and not applied, and the
//! service manager sees `READY=1`, `RELOADING=1`, `READY=1`. All on loopback, no
//! privileges needed.

mod svc_util;

use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use svc_util::Daemon;

/// A resolver on 127.0.0.1 that answers A queries with `a` and every other query with an
/// empty NOERROR response (so the DNS64 synthesizes the AAAA from `a`). `a` is a global
/// address: the Well-Known Prefix is not used for non-global ones (RFC 6052 §3.1).
fn upstream(a: Ipv4Addr) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            let q = &buf[..n];
            // The question: the name's labels, then QTYPE and QCLASS.
            let mut i = 12;
            while i < n && q[i] != 0 {
                i += usize::from(q[i]) + 1;
            }
            if i + 5 > n {
                continue;
            }
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            let is_a = qtype == 1;
            let mut r = Vec::from(&q[..2]);
            r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, u8::from(is_a), 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..i + 5]);
            if is_a {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                r.extend_from_slice(&a.octets());
            }
            let _ = sock.send_to(&r, peer);
        }
    });
    addr
}

/// Asks `server` for the AAAA of `name` over UDP: the one synthesized address.
fn aaaa(server: &str, name: &str) -> Ipv6Addr {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 28, 0, 1]);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.send_to(&q, server).unwrap();
    let mut buf = [0u8; 1500];
    let n = s.recv(&mut buf).expect("the daemon answers");
    let r = &buf[..n];
    assert!(n >= 12 && r[2] & 0x80 != 0 && r[3] & 0x0f == 0, "a NOERROR response: {r:?}");
    assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer: {r:?}");
    assert_eq!(u16::from_be_bytes([r[10], r[11]]), 0, "no additional records: {r:?}");
    // The only answer is the last record: its RDATA is the response's last 16 bytes.
    let rdata: [u8; 16] = r[n - 16..].try_into().unwrap();
    Ipv6Addr::from(rdata)
}

fn start(cfg: &Path, env: &[(&str, &str)]) -> (Daemon, String) {
    let mut d = Daemon::spawn(&["dns64", "--config", cfg.to_str().unwrap()], env);
    let l = d.line("listening on ");
    let addr = l.split("listening on ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    (d, addr)
}

fn file(upstream: &str, prefix: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nprefix = \"{prefix}\"\nworkers = 1\ntimeout_ms = 1000\n"
    )
}

#[test]
fn a_new_prefix_is_applied_a_bad_file_refused_and_a_new_upstream_taken() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dns64.toml");
    let (up1, up2) = (upstream(Ipv4Addr::new(8, 8, 4, 4)), upstream(Ipv4Addr::new(1, 0, 0, 1)));
    std::fs::write(&cfg, file(&up1, "64:ff9b::/96")).unwrap();
    let (mut d, addr) = start(&cfg, &[]);
    assert_eq!(aaaa(&addr, "a.test."), "64:ff9b::808:404".parse::<Ipv6Addr>().unwrap());

    std::fs::write(&cfg, file(&up1, "2001:db8:64::/96")).unwrap();
    d.kill("-HUP");
    let l = d.line("SIGHUP: reload of");
    assert!(l.contains("applied: prefix") && !l.contains("needs restart"), "{l}");
    assert_eq!(aaaa(&addr, "a.test."), "2001:db8:64::808:404".parse::<Ipv6Addr>().unwrap());

    // A bad prefix (line 3): refused with the file's name and line; answers stay under B.
    std::fs::write(&cfg, file(&up1, "2001:db8:65::/95")).unwrap();
    d.kill("-HUP");
    let l = d.line("SIGHUP: reload of");
    assert!(l.contains("refused") && l.contains("dns64.toml:3: prefix"), "{l}");
    assert_eq!(aaaa(&addr, "a.test."), "2001:db8:64::808:404".parse::<Ipv6Addr>().unwrap());

    // A second upstream: its A record is the one synthesized from now on.
    std::fs::write(&cfg, file(&up2, "2001:db8:64::/96")).unwrap();
    d.kill("-HUP");
    let l = d.line("SIGHUP: reload of");
    assert!(l.contains("applied: upstream") && !l.contains("needs restart"), "{l}");
    assert_eq!(aaaa(&addr, "a.test."), "2001:db8:64::100:1".parse::<Ipv6Addr>().unwrap());

    // `workers` and `listen` need a restart: reported, not applied; a live key next to
    // them is applied.
    let moved = file(&up2, "64:ff9b::/96").replace("workers = 1", "workers = 3").replace(":0\"", ":1\"");
    std::fs::write(&cfg, moved).unwrap();
    d.kill("-HUP");
    let l = d.line("SIGHUP: reload of");
    assert!(l.contains("applied: prefix") && l.contains("needs restart (not applied): listen, workers"), "{l}");
    assert_eq!(aaaa(&addr, "a.test."), "64:ff9b::100:1".parse::<Ipv6Addr>().unwrap());
    assert!(d.alive());
    d.kill("-TERM");
    d.line("final counters");
    assert!(d.wait_exit().success());
}

#[test]
fn check_validates_the_file_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dns64.toml");
    std::fs::write(&cfg, format!("{}bogus = 1\n", file("127.0.0.1:53", "64:ff9b::/96"))).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sixgate"))
        .args(["dns64", "--check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("dns64.toml:6:"), "{err}");
    std::fs::write(&cfg, file("127.0.0.1:53", "64:ff9b::/96")).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sixgate"))
        .args(["dns64", "--check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains("upstream 127.0.0.1:53"), "{out}");
}

#[test]
fn reload_notifies_reloading_then_ready() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let recv = || {
        let mut buf = [0u8; 1024];
        let n = sock.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let cfg = dir.path().join("dns64.toml");
    let up = upstream(Ipv4Addr::new(8, 8, 4, 4));
    std::fs::write(&cfg, file(&up, "64:ff9b::/96")).unwrap();
    let (mut d, addr) = start(&cfg, &[("NOTIFY_SOCKET", path.to_str().unwrap())]);
    assert!(recv().lines().any(|l| l == "READY=1"));
    std::fs::write(&cfg, file(&up, "2001:db8:64::/96")).unwrap();
    d.kill("-HUP");
    assert_eq!(recv().lines().next(), Some("RELOADING=1"));
    let ready = recv();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(ready.contains("applied: prefix"), "the status says what was applied: {ready:?}");
    assert_eq!(aaaa(&addr, "a.test."), "2001:db8:64::808:404".parse::<Ipv6Addr>().unwrap());
    d.kill("-TERM");
    assert_eq!(recv(), "STOPPING=1");
    assert!(d.wait_exit().success());
}
