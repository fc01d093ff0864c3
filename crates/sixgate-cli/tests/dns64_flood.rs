//! `sixgate dns64` under the faults of a flood, in front of Debian's `unbound`:
//!
//! - a hung upstream (unbound stopped with SIGSTOP): every query still gets an answer —
//!   SERVFAIL by the per-query deadline for names it has to ask, the cached answer for
//!   names it knows — and a burst of uncached names does not hold up the cached ones;
//! - one client holding 70 TCP connections: it gets its share (the per-client cap), and a
//!   second client is still served over TCP;
//! - a burst of identical queries for a new name: asked upstream once (cache and request
//!   coalescing), every client answered.
//!
//! Needs `unbound` and `dig`, and root (unbound as root: no user switch); otherwise each
//! test prints why it skips and passes. Every server is on a high port of 127.0.0.1, killed
//! on drop; every wait is bounded.

mod svc_util;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use svc_util::Daemon;

const UNBOUND: &str = "/usr/sbin/unbound";

fn skip_reason() -> Option<String> {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    if !root {
        return Some("not root".into());
    }
    if !Path::new(UNBOUND).exists() {
        return Some(format!("{UNBOUND} missing (apt-get install unbound)"));
    }
    if Command::new("dig").arg("-v").output().is_err() {
        return Some("dig missing (apt-get install bind9-dnsutils)".into());
    }
    None
}

/// A port free for both UDP and TCP on 127.0.0.1.
fn free_port() -> u16 {
    for _ in 0..100 {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// unbound, continued (if stopped) and killed on drop.
struct Unbound {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Unbound {
    /// An upstream serving `n0.flood.test.` … `n999.flood.test.` (A only, with an SOA).
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut text = format!(
            "server:\n    interface: 127.0.0.1\n    port: {port}\n    do-ip6: no\n    do-daemonize: no\n    \
             use-syslog: no\n    logfile: \"\"\n    chroot: \"\"\n    username: \"\"\n    directory: \"{d}\"\n    \
             pidfile: \"\"\n    access-control: 127.0.0.0/8 allow\n    verbosity: 0\n    num-threads: 1\n    \
             local-zone: \"flood.test.\" static\n    \
             local-data: \"flood.test. 3600 IN SOA ns.flood.test. h.flood.test. 1 3600 600 86400 300\"\n",
            d = dir.path().display()
        );
        for i in 0..1000 {
            text.push_str(&format!("    local-data: \"n{i}.flood.test. 300 IN A 8.8.8.{}\"\n", i % 250 + 1));
        }
        text.push_str("remote-control:\n    control-enable: no\n");
        let conf = dir.path().join("up.conf");
        std::fs::write(&conf, text).unwrap();
        let child = Command::new(UNBOUND)
            .args(["-d", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start unbound");
        let u = Self { child, port, _dir: dir };
        let t0 = Instant::now();
        while !dig(port, &["n0.flood.test.", "A"]).contains("status: NOERROR") {
            assert!(t0.elapsed() < Duration::from_secs(10), "unbound did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        u
    }

    fn signal(&self, sig: &str) {
        let o = Command::new("kill").args([sig, &self.child.id().to_string()]).output().unwrap();
        assert!(o.status.success());
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dig(port: u16, args: &[&str]) -> String {
    let o = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+noall", "+answer", "+comments", "+tries=1", "+time=3"])
        .args(args)
        .output()
        .expect("dig");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn dns64(upstream: u16, extra: &[&str]) -> (Daemon, SocketAddr) {
    let up = format!("127.0.0.1:{upstream}");
    let mut args = vec!["dns64", "--listen", "127.0.0.1:0", "--upstream", &up, "--workers", "2"];
    args.extend_from_slice(extra);
    let mut d = Daemon::spawn(&args, &[]);
    let l = d.line("listening on ");
    let addr = l.split("listening on ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    (d, addr)
}

/// An AAAA query for `name` with ID `id`.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 28, 0, 1]);
    q
}

/// Sends every query at once (25 a socket, so that no socket's receive buffer overflows
/// when the answers come at once); the answers by ID (RCODE, answer count), waiting at most
/// `limit` for them all.
fn burst(server: SocketAddr, queries: &[Vec<u8>], limit: Duration) -> std::collections::HashMap<u16, (u8, u16)> {
    let socks: Vec<(UdpSocket, usize)> = queries
        .chunks(25)
        .map(|chunk| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            for q in chunk {
                s.send_to(q, server).unwrap();
            }
            (s, chunk.len())
        })
        .collect();
    let mut got = std::collections::HashMap::new();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1500];
    for (s, n) in socks {
        for _ in 0..n {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
            s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            let Ok(len) = s.recv(&mut buf) else { break };
            if len >= 12 {
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                got.insert(id, (buf[3] & 0x0f, u16::from_be_bytes([buf[6], buf[7]])));
            }
        }
    }
    got
}

#[test]
fn a_hung_upstream_costs_a_servfail_not_the_service() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let up = Unbound::start();
    let (mut d, addr) = dns64(up.port, &["--timeout-ms", "400"]);
    let port = addr.port();
    let known = dig(port, &["n1.flood.test.", "AAAA"]);
    assert!(known.contains("64:ff9b::808:802"), "{known}");

    up.signal("-STOP");
    // 300 names the server must ask: all answered, SERVFAIL, within the client's patience
    // (5 s; the deadline is 400 ms for each of the AAAA and A questions).
    let queries: Vec<Vec<u8>> = (0..300).map(|i| query(i, &format!("n{}.flood.test.", 100 + i))).collect();
    let flood = std::thread::spawn(move || burst(addr, &queries, Duration::from_secs(5)));
    // Meanwhile the known name is answered from the cache.
    for _ in 0..5 {
        let again = dig(port, &["n1.flood.test.", "AAAA"]);
        assert!(again.contains("status: NOERROR") && again.contains("64:ff9b::808:802"), "{again}");
    }
    let got = flood.join().unwrap();
    assert_eq!(got.len(), 300, "every query answered");
    assert!(got.values().all(|&(rcode, an)| rcode == 2 && an == 0), "SERVFAIL: {got:?}");
    up.signal("-CONT");
    // The upstream is back: new names are answered again.
    let back = dig(port, &["n999.flood.test.", "AAAA"]);
    assert!(back.contains("64:ff9b::808:8fa"), "{back}");
    d.kill("-TERM");
    let l = d.line("final counters");
    assert!(l.contains("upstream failures"), "{l}");
    assert!(d.wait_exit().success());
}

#[test]
fn one_client_with_70_tcp_connections_does_not_deny_tcp_to_others() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let up = Unbound::start();
    let (_d, addr) = dns64(up.port, &["--max-tcp", "64", "--max-tcp-per-client", "16"]);
    let mut hog: Vec<TcpStream> = (0..70).filter_map(|_| TcpStream::connect(addr).ok()).collect();
    assert_eq!(hog.len(), 70, "the kernel accepts them all");
    // Past its 16, the hog's connections are closed by the server.
    std::thread::sleep(Duration::from_millis(300));
    let mut closed = 0;
    for c in &mut hog {
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        if matches!(c.read(&mut [0u8; 1]), Ok(0)) {
            closed += 1;
        }
    }
    assert_eq!(closed, 70 - 16, "the hog keeps exactly its share");
    // Another client (another address) is served over TCP.
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &addr.port().to_string(), "-b", "127.0.0.2", "+tcp", "+tries=1", "+time=3"])
        .args(["+noall", "+answer", "+comments", "n7.flood.test.", "AAAA"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("status: NOERROR") && out.contains("64:ff9b::808:808"), "{out}");
    drop(up);
}

#[test]
fn identical_queries_are_asked_upstream_once() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let up = Unbound::start();
    let (mut d, addr) = dns64(up.port, &[]);
    let queries: Vec<Vec<u8>> = (0..100).map(|i| query(i, "n42.flood.test.")).collect();
    let got = burst(addr, &queries, Duration::from_secs(5));
    assert_eq!(got.len(), 100);
    assert!(got.values().all(|&(rcode, an)| rcode == 0 && an == 1), "{got:?}");
    d.kill("-TERM");
    let l = d.line("final counters");
    // The AAAA question (NODATA) and the A question, once each.
    assert!(l.contains(" 2 upstream queries"), "{l}");
    assert!(d.wait_exit().success());
}
