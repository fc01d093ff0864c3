//! `sixgate dns64` against real resolvers: Debian's `unbound` serves a local zone on
//! 127.0.0.1 (the upstream), `sixgate dns64` runs in front of it, and `dig` asks the
//! questions. The differential test asks the same questions of a second unbound with its
//! own `dns64` module in front of the same upstream and compares the AAAA sets.
//!
//! Needs `unbound` and `dig`, and root (unbound as root is simplest: no user switch, any
//! directory); otherwise each test prints why it skips and passes. Every server is on a
//! high port of 127.0.0.1, in a temporary directory, killed on drop; every wait is bounded.

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A child process killed on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const ZONE: &str = r#"
    local-zone: "example.test." static
    local-data: "example.test. 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300"
    local-data: "example.test. 3600 IN NS ns.example.test."
    local-data: "ns.example.test. 3600 IN A 8.8.8.1"
    local-data: "a-only.example.test. 3600 IN A 8.8.4.4"
    local-data: "two.example.test. 100 IN A 8.8.4.5"
    local-data: "two.example.test. 100 IN A 8.8.4.6"
    local-data: "dual.example.test. 300 IN A 8.8.8.8"
    local-data: "dual.example.test. 300 IN AAAA 2001:db8::8"
    local-data: "alias.example.test. 300 IN CNAME a-only.example.test."
    local-data: "mapped.example.test. 300 IN AAAA ::ffff:1.2.3.4"
    local-data: "mapped.example.test. 300 IN A 1.2.3.4"
    local-data: "private.example.test. 300 IN A 10.1.2.3"
    local-data: "v6only.example.test. 300 IN AAAA 2001:db8::6"
    local-zone: "8.8.in-addr.arpa." static
    local-data: "8.8.in-addr.arpa. 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300"
    local-data: "4.4.8.8.in-addr.arpa. 3600 IN PTR a-only.example.test."
"#;

/// Starts unbound on `port` with `body` under `server:`, waits until it answers.
fn unbound(dir: &Path, tag: &str, port: u16, body: &str, tail: &str) -> Guard {
    let conf = dir.join(format!("{tag}.conf"));
    let text = format!(
        "server:\n    interface: 127.0.0.1\n    port: {port}\n    do-ip6: no\n    do-daemonize: no\n    \
         use-syslog: no\n    logfile: \"\"\n    chroot: \"\"\n    username: \"\"\n    directory: \"{d}\"\n    \
         pidfile: \"{d}/{tag}.pid\"\n    access-control: 127.0.0.0/8 allow\n    verbosity: 0\n    \
         num-threads: 1\n{body}\n{tail}\nremote-control:\n    control-enable: no\n",
        d = dir.display()
    );
    std::fs::write(&conf, text).unwrap();
    let log = std::fs::File::create(dir.join(format!("{tag}.log"))).unwrap();
    let child = Command::new(UNBOUND)
        .args(["-d", "-c"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start unbound");
    let g = Guard(child);
    wait_up(port, &dir.join(format!("{tag}.log")));
    g
}

fn wait_up(port: u16, log: &Path) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        let o = dig(port, &["+tries=1", "+time=1", "ns.example.test.", "A"]);
        if o.contains("status: NOERROR") {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server on port {port} did not come up: {}", std::fs::read_to_string(log).unwrap_or_default());
}

fn dig(port: u16, args: &[&str]) -> String {
    let o = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+noall", "+answer", "+comments", "+tries=1", "+time=3"])
        .args(args)
        .output()
        .expect("dig");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The status and the answer records (name, ttl, type, data) of a dig output.
fn parse(out: &str) -> (String, Vec<(String, u32, String, String)>) {
    let status = out.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("NONE").to_string();
    let recs = out
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| (f[0].to_lowercase(), f[1].parse().unwrap_or(0), f[3].to_string(), f[4..].join(" ")))
        })
        .collect();
    (status, recs)
}

fn aaaa_set(out: &str) -> Vec<String> {
    let mut v: Vec<String> = parse(out).1.into_iter().filter(|r| r.2 == "AAAA").map(|r| r.3).collect();
    v.sort();
    v
}

struct Setup {
    _dir: tempfile::TempDir,
    _up: Guard,
    _sg: Guard,
    sg: u16,
    dir_path: std::path::PathBuf,
    up: u16,
}

fn setup(prefix: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let up = free_port();
    let upg = unbound(dir.path(), "upstream", up, ZONE, "");
    let sg = free_port();
    let log = dir.path().join("sixgate.log");
    let child = Command::new(env!("CARGO_BIN_EXE_sixgate"))
        .args(["dns64", "--listen", &format!("127.0.0.1:{sg}"), "--upstream", &format!("127.0.0.1:{up}")])
        .args(["--prefix", prefix, "--timeout-ms", "1500"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start sixgate dns64");
    let sgg = Guard(child);
    wait_up(sg, &log);
    Setup { dir_path: dir.path().to_path_buf(), _dir: dir, _up: upg, _sg: sgg, sg, up }
}

#[test]
fn dns64_answers() {
    if let Some(r) = skip_reason() {
        eprintln!("skipping: {r}");
        return;
    }
    let s = setup("64:ff9b::/96");
    let q = |name: &str, t: &str| parse(&dig(s.sg, &[name, t]));

    // A only: synthesized; TTL = min(A 3600, SOA negative TTL min(3600, 300)) (RFC 6147 §5.1.7).
    let (st, r) = q("a-only.example.test.", "AAAA");
    assert_eq!(st, "NOERROR");
    assert_eq!(r, vec![("a-only.example.test.".into(), 300, "AAAA".into(), "64:ff9b::808:404".into())]);
    // Two A records: two AAAA, TTL = min(100, 300).
    let (_, r) = q("two.example.test.", "AAAA");
    let mut got: Vec<_> = r.iter().map(|x| (x.1, x.3.clone())).collect();
    got.sort();
    assert_eq!(got, vec![(100, "64:ff9b::808:405".to_string()), (100, "64:ff9b::808:406".to_string())]);
    // A and AAAA: the real AAAA only.
    assert_eq!(aaaa_set(&dig(s.sg, &["dual.example.test.", "AAAA"])), vec!["2001:db8::8"]);
    // CNAME to an A-only name: the CNAME, then the synthesized AAAA of the target.
    let (_, r) = q("alias.example.test.", "AAAA");
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0].2, "CNAME");
    assert_eq!((r[1].0.as_str(), r[1].3.as_str()), ("a-only.example.test.", "64:ff9b::808:404"));
    // An AAAA in ::ffff:0:0/96 only: excluded, synthesized from the A (RFC 6147 §5.1.4).
    assert_eq!(aaaa_set(&dig(s.sg, &["mapped.example.test.", "AAAA"])), vec!["64:ff9b::102:304"]);
    // A private IPv4 under the well-known prefix: not synthesized (RFC 6052 §3.1): NODATA.
    let (st, r) = q("private.example.test.", "AAAA");
    assert_eq!((st.as_str(), r.len()), ("NOERROR", 0));
    // NXDOMAIN stays NXDOMAIN.
    let (st, r) = q("nope.example.test.", "AAAA");
    assert_eq!((st.as_str(), r.len()), ("NXDOMAIN", 0));
    // Other types pass through.
    assert_eq!(q("a-only.example.test.", "A").1[0].3, "8.8.4.4");
    // Over TCP too.
    assert_eq!(aaaa_set(&dig(s.sg, &["+tcp", "a-only.example.test.", "AAAA"])), vec!["64:ff9b::808:404"]);
    // RFC 7050: ipv4only.arpa.
    assert_eq!(aaaa_set(&dig(s.sg, &["ipv4only.arpa.", "AAAA"])), vec!["64:ff9b::c000:aa", "64:ff9b::c000:ab"]);
    // RFC 6147 §5.3.1: PTR under the prefix answered from in-addr.arpa, owner rewritten.
    let (st, r) = q("-x", "64:ff9b::808:404");
    assert_eq!(st, "NOERROR");
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].0.ends_with(".ip6.arpa.") && r[0].2 == "PTR" && r[0].3 == "a-only.example.test.", "{r:?}");
    // DO + CD: no synthesis (RFC 6147 §5.5).
    let o = dig(s.sg, &["+dnssec", "+cdflag", "a-only.example.test.", "AAAA"]);
    assert!(aaaa_set(&o).is_empty(), "{o}");
    let _ = (&s.dir_path, s.up);
}

#[test]
fn malformed_and_unreachable() {
    if let Some(r) = skip_reason() {
        eprintln!("skipping: {r}");
        return;
    }
    let s = setup("2001:db8:64::/96");
    // Garbage with a query header: FORMERR; the server keeps serving.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    sock.send_to(&[0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 1, 2], ("127.0.0.1", s.sg)).unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = sock.recv_from(&mut buf).expect("a FORMERR answer");
    assert!(n >= 12 && buf[..2] == [0xab, 0xcd] && buf[2] & 0x80 != 0 && buf[3] & 0xf == 1, "{:?}", &buf[..n]);
    // A network-specific prefix carries private IPv4 addresses.
    assert_eq!(aaaa_set(&dig(s.sg, &["private.example.test.", "AAAA"])), vec!["2001:db8:64::a01:203"]);

    // An upstream that never answers: SERVFAIL within the timeout.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap(); // bound, never read
    let port = free_port();
    let log = s.dir_path.join("dead.log");
    let child = Command::new(env!("CARGO_BIN_EXE_sixgate"))
        .args(["dns64", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--upstream", &dead.local_addr().unwrap().to_string(), "--timeout-ms", "500"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _g = Guard(child);
    let t0 = Instant::now();
    let mut st = String::new();
    while t0.elapsed() < Duration::from_secs(10) {
        st = parse(&dig(port, &["x.example.test.", "AAAA"])).0;
        if st != "NONE" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(st, "SERVFAIL");
}

#[test]
fn differential_against_unbound_dns64() {
    if let Some(r) = skip_reason() {
        eprintln!("skipping: {r}");
        return;
    }
    let mut compared = 0;
    for prefix in ["64:ff9b::/96", "2001:db8:64::/96"] {
        let s = setup(prefix);
        let refp = free_port();
        let body = format!(
            "    module-config: \"dns64 iterator\"\n    local-zone: \"test.\" nodefault\n    dns64-prefix: {prefix}\n    do-not-query-localhost: no\n");
        let tail = format!("forward-zone:\n    name: \".\"\n    forward-addr: 127.0.0.1@{}\n", s.up);
        let _reference = unbound(&s.dir_path, "reference", refp, &body, &tail);
        for name in ["a-only", "two", "dual", "alias", "mapped", "private", "v6only", "nope"] {
            let n = format!("{name}.example.test.");
            let ours = aaaa_set(&dig(s.sg, &[&n, "AAAA"]));
            let theirs = aaaa_set(&dig(refp, &[&n, "AAAA"]));
            // Only the AAAA sets are compared: TTLs differ on purpose (unbound gives the
            // synthesized AAAA the A record's TTL; sixgate caps it with the negative TTL of
            // the AAAA answer, RFC 6147 §5.1.7), and so may record order.
            let expected_difference: Option<Vec<String>> = match (name, prefix) {
                // Intended: RFC 6052 §3.1 forbids the well-known prefix for non-global IPv4;
                // unbound synthesizes anyway.
                ("private", "64:ff9b::/96") => Some(vec![]),
                // Intended: RFC 6147 §5.1.4 excludes ::ffff:0:0/96 AAAA records by default and
                // synthesizes instead; unbound 1.17 has no range exclusion (only
                // dns64-ignore-aaaa by name) and returns the IPv4-mapped AAAA.
                ("mapped", "64:ff9b::/96") => Some(vec!["64:ff9b::102:304".into()]),
                ("mapped", _) => Some(vec!["2001:db8:64::102:304".into()]),
                _ => None,
            };
            match expected_difference {
                Some(e) => assert_eq!(ours, e, "{name} under {prefix} (unbound: {theirs:?})"),
                None => assert_eq!(ours, theirs, "{name} under {prefix}: sixgate vs unbound dns64"),
            }
            compared += 1;
        }
        // The reference really synthesizes (a differential against a dead server proves nothing).
        let theirs = aaaa_set(&dig(refp, &["a-only.example.test.", "AAAA"]));
        assert_eq!(theirs.len(), 1, "unbound dns64 synthesized nothing under {prefix}");
    }
    assert_eq!(compared, 16);
}

/// An IPv6 client: `sixgate dns64` listens on `[::1]`, its upstream is the IPv4 unbound.
#[test]
fn ipv6_client() {
    if let Some(r) = skip_reason() {
        eprintln!("skipping: {r}");
        return;
    }
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipping: no ::1");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let up = free_port();
    let _up = unbound(dir.path(), "upstream", up, ZONE, "");
    let sock = UdpSocket::bind("[::1]:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    drop(sock);
    let child = Command::new(env!("CARGO_BIN_EXE_sixgate"))
        .args(["dns64", "--listen", &format!("[::1]:{port}"), "--upstream", &format!("127.0.0.1:{up}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _g = Guard(child);
    let t0 = Instant::now();
    let mut got = Vec::new();
    while t0.elapsed() < Duration::from_secs(10) && got.is_empty() {
        let o = Command::new("dig")
            .args(["@::1", "-p", &port.to_string(), "+short", "+tries=1", "+time=2", "a-only.example.test.", "AAAA"])
            .output()
            .unwrap();
        got = String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect();
        if got.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert_eq!(got, vec!["64:ff9b::808:404"]);
}
