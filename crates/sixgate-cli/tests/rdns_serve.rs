//! `sixgate rdns serve` against real tools: `dig +norec` checks of SOA, NS, synthesized PTR
//! and AAAA/A, empty non-terminals (RFC 8020), NXDOMAIN and NODATA with the SOA (RFC 2308),
//! REFUSED outside the zones, BADVERS, TC and the retry over TCP; `named-checkzone` on the
//! AXFR of small zones (and AXFR refused for a /64); the same questions asked of Knot DNS's
//! `synthrecord` module for the same configuration, answers compared; SIGHUP reload of a
//! hosts file while serving; SIGTERM with the final counters.
//!
//! Needs `dig` (Debian `bind9-dnsutils`), `named-checkzone` (`bind9-utils`) and `knotd`
//! (`knot`); each test prints why it skips when one is missing. Every server listens on a
//! high port of 127.0.0.1, in a temporary directory, and is killed on drop; every wait is
//! bounded.

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SIXGATE: &str = env!("CARGO_BIN_EXE_sixgate");

/// Why a test needing `tools` cannot run here.
fn missing(tools: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<_> = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]).collect();
    tools
        .iter()
        .find(|t| !dirs.iter().any(|d| d.join(t).is_file()))
        .map(|t| format!("{t} not installed (apt-get install bind9-dnsutils bind9-utils knot)"))
}

macro_rules! skip_without {
    ($($tool:literal),+) => {
        if let Some(why) = missing(&[$($tool),+]) {
            eprintln!("skipping: {why}");
            return;
        }
    };
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
struct Guard(Option<Child>);

impl Guard {
    /// SIGTERM, then the process's standard error once it exits (at most 5 s).
    fn term(&mut self) -> String {
        let mut c = self.0.take().unwrap();
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let o = c.wait_with_output().unwrap();
        String::from_utf8_lossy(&o.stderr).into_owned()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `dig +norec` at 127.0.0.1:`port`.
fn dig(port: u16, args: &[&str]) -> String {
    let o = Command::new("dig")
        .args(["+norec", "+time=2", "+tries=2", "-p", &port.to_string(), "@127.0.0.1"])
        .args(args)
        .output()
        .expect("dig");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What a dig output says: status, flags, and each section's records (whitespace
/// normalized, `\/` unescaped).
#[derive(Debug, PartialEq, Eq, Clone)]
struct Answer {
    status: String,
    flags: Vec<String>,
    answer: Vec<String>,
    authority: Vec<String>,
}

fn parse(out: &str) -> Answer {
    let status = out.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("none").to_owned();
    let flags = out
        .split(";; flags: ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .map(|f| f.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let section = |title: &str| -> Vec<String> {
        let Some(rest) = out.split(&format!(";; {title} SECTION:\n")).nth(1) else { return Vec::new() };
        let mut v: Vec<String> = rest
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ").replace("\\/", "/"))
            .collect();
        v.sort();
        v
    };
    Answer { status, flags, answer: section("ANSWER"), authority: section("AUTHORITY") }
}

fn ask(port: u16, args: &[&str]) -> Answer {
    parse(&dig(port, args))
}

/// Waits until the server at `port` answers `name SOA`.
fn wait_up(port: u16, name: &str, c: &mut Guard) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if ask(port, &["+time=1", "+tries=1", name, "SOA"]).status == "NOERROR" {
            return;
        }
        if let Some(Ok(Some(st))) = c.0.as_mut().map(Child::try_wait) {
            panic!("the server exited: {st}");
        }
        assert!(Instant::now() < deadline, "no answer from port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const APEX6: &str = "0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
const SMALL6: &str = "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";

/// The configuration the tests serve.
fn config(port: u16, ns: &[&str], hosts: &Path) -> String {
    let ns: Vec<String> = ns.iter().map(|n| format!("{n:?}")).collect();
    format!(
        "listen = \"127.0.0.1:{port}\"\ndomain = \"example.net.\"\nns = [{}]\nhostmaster = \"hostmaster@example.net\"\n\
         ttl = 3600\nminimum = 3600\nserial = 2026010100\nhosts = [{:?}]\nworkers = 2\n\n\
         [[prefix]]\nnet = \"2001:db8:1::/64\"\ntemplate = \"host-{{dashed}}\"\n\n\
         [[prefix]]\nnet = \"192.0.2.0/24\"\ntemplate = \"v4-{{dashed}}\"\n\n\
         [[prefix]]\nnet = \"198.51.100.64/26\"\ntemplate = \"c-{{v4}}\"\n\n\
         [[prefix]]\nnet = \"2001:db8:2::/120\"\ntemplate = \"s-{{hex}}\"\n",
        ns.join(", "),
        hosts.display().to_string(),
    )
}

fn sixgate(dir: &Path, ns: &[&str]) -> (Guard, u16) {
    sixgate_with(dir, ns, "")
}

/// [`sixgate`] with `extra` keys in the file.
fn sixgate_with(dir: &Path, ns: &[&str], extra: &str) -> (Guard, u16) {
    sixgate_full(dir, ns, extra, "")
}

/// [`sixgate`] with `extra` keys at the top of the file and `tail` (tables) at its end.
fn sixgate_full(dir: &Path, ns: &[&str], extra: &str, tail: &str) -> (Guard, u16) {
    let port = free_port();
    let hosts = dir.join("hosts");
    if !hosts.exists() {
        std::fs::write(&hosts, "2001:db8:1::53 ns1\n192.0.2.53 ns1\n").unwrap();
    }
    let conf = dir.join("rdns.toml");
    std::fs::write(&conf, format!("{extra}{}{tail}", config(port, ns, &hosts))).unwrap();
    let child = Command::new(SIXGATE)
        .args(["rdns", "serve", "--config"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sixgate");
    let mut g = Guard(Some(child));
    wait_up(port, APEX6, &mut g);
    (g, port)
}

#[test]
fn classless_owner_names_parse_back() {
    let o = Command::new(SIXGATE).args(["rdns", "parse", "70.64/26.2.0.192.in-addr.arpa."]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "192.0.2.70");
    let o = Command::new(SIXGATE).args(["rdns", "parse", "200.64/26.2.0.192.in-addr.arpa."]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an address of the RFC 2317 block 192.0.2.64/26"));
}

#[test]
fn check_flag_and_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "").unwrap();
    let conf = dir.path().join("rdns.toml");
    std::fs::write(&conf, config(free_port(), &["ns1"], &hosts)).unwrap();
    let o = Command::new(SIXGATE).args(["rdns", "serve", "--check", "--config"]).arg(&conf).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("ok: listen 127.0.0.1:"));
    let o = Command::new(SIXGATE)
        .args([
            "rdns",
            "serve",
            "--check",
            "--listen",
            "127.0.0.1:5300",
            "--ns",
            "ns1.example.",
            "--hostmaster",
            "h.example.",
        ])
        .args(["--prefix", "2001:db8::/64=h-{nope}.example."])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--prefix") && err.contains("unknown placeholder {nope}"), "{err}");
}

#[test]
fn dig_norec_checks() {
    skip_without!("dig");
    let dir = tempfile::tempdir().unwrap();
    let (mut s, p) = sixgate(dir.path(), &["ns1.example.net.", "ns2.example.net."]);
    // SOA and NS at each apex, AA set, no recursion offered.
    for apex in [APEX6, "2.0.192.in-addr.arpa.", "64/26.100.51.198.in-addr.arpa.", "example.net.", SMALL6] {
        let a = ask(p, &[apex, "SOA"]);
        assert_eq!(a.status, "NOERROR", "{apex}: {a:?}");
        assert!(a.flags.contains(&"aa".into()) && !a.flags.contains(&"ra".into()), "{a:?}");
        assert_eq!(a.answer.len(), 1);
        assert!(a.answer[0].contains("SOA ns1.example.net. hostmaster.example.net. 2026010100"), "{a:?}");
        assert_eq!(ask(p, &[apex, "NS"]).answer.len(), 2);
    }
    // Synthesized PTR and its forward name.
    let a = ask(p, &["-x", "2001:db8:1::abcd"]);
    assert_eq!(a.answer.len(), 1, "{a:?}");
    assert!(a.answer[0].ends_with("IN PTR host-2001-db8-1--abcd.example.net."), "{a:?}");
    let a = ask(p, &["host-2001-db8-1--abcd.example.net.", "AAAA"]);
    assert_eq!(a.answer, ["host-2001-db8-1--abcd.example.net. 3600 IN AAAA 2001:db8:1::abcd"]);
    assert_eq!(ask(p, &["v4-192-0-2-9.example.net.", "A"]).answer, ["v4-192-0-2-9.example.net. 3600 IN A 192.0.2.9"]);
    // The hosts file wins over synthesis.
    assert_eq!(ask(p, &["-x", "192.0.2.53"]).answer, ["53.2.0.192.in-addr.arpa. 3600 IN PTR ns1.example.net."]);
    // RFC 2317: the owner inside the child zone.
    let a = ask(p, &["70.64/26.100.51.198.in-addr.arpa.", "PTR"]);
    assert_eq!(a.answer, ["70.64/26.100.51.198.in-addr.arpa. 3600 IN PTR c-198-51-100-70.example.net."]);
    // An empty non-terminal: NOERROR, no answer, the SOA (RFC 8020, RFC 2308 §2.2).
    let soa6 =
        format!("{APEX6} 3600 IN SOA ns1.example.net. hostmaster.example.net. 2026010100 86400 7200 3600000 3600");
    let ent = ask(p, &["0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR"]);
    assert_eq!((ent.status.as_str(), ent.answer.len()), ("NOERROR", 0), "{ent:?}");
    assert_eq!(ent.authority, std::slice::from_ref(&soa6));
    // NODATA at a host.
    let nodata = ask(p, &["5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "TXT"]);
    assert_eq!(
        (nodata.status.as_str(), nodata.answer.len(), nodata.authority.clone()),
        ("NOERROR", 0, vec![soa6.clone()])
    );
    // NXDOMAIN below a host, with the SOA.
    let nx = ask(p, &["x.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR"]);
    assert_eq!((nx.status.as_str(), nx.authority.clone()), ("NXDOMAIN", vec![soa6]));
    assert!(nx.flags.contains(&"aa".into()));
    assert_eq!(ask(p, &["nothing.example.net.", "AAAA"]).status, "NXDOMAIN");
    // Outside the zones: REFUSED, not authoritative.
    for outside in ["example.org.", "8.b.d.0.1.0.0.2.ip6.arpa.", "70.100.51.198.in-addr.arpa."] {
        let a = ask(p, &[outside, "A"]);
        assert_eq!(a.status, "REFUSED", "{outside}: {a:?}");
        assert!(!a.flags.contains(&"aa".into()));
    }
    // EDNS version 1: BADVERS (RFC 6891 §6.1.3).
    let out = dig(p, &["+edns=1", "+noednsneg", APEX6, "SOA"]);
    assert!(out.contains("status: BADVERS"), "{out}");
    s.term();
}

#[test]
fn truncated_over_udp_then_whole_over_tcp() {
    skip_without!("dig");
    let dir = tempfile::tempdir().unwrap();
    let ns: Vec<String> = (0..20).map(|i| format!("a-rather-long-name-server-name-{i:02}.example.net.")).collect();
    let ns: Vec<&str> = ns.iter().map(String::as_str).collect();
    let (mut s, p) = sixgate(dir.path(), &ns);
    let a = ask(p, &["+noedns", "+ignore", APEX6, "NS"]);
    assert!(a.flags.contains(&"tc".into()), "{a:?}");
    assert!(a.answer.is_empty());
    // dig retries over TCP by itself.
    let a = ask(p, &["+noedns", APEX6, "NS"]);
    assert!(!a.flags.contains(&"tc".into()) && a.answer.len() == 20, "{a:?}");
    assert_eq!(ask(p, &["+tcp", APEX6, "NS"]).answer.len(), 20);
    s.term();
}

#[test]
fn axfr_of_small_zones_passes_named_checkzone() {
    skip_without!("dig", "named-checkzone");
    let dir = tempfile::tempdir().unwrap();
    let (mut s, p) = sixgate(dir.path(), &["ns1.example.net."]);
    for (zone, names) in [(SMALL6, 256), ("2.0.192.in-addr.arpa.", 256), ("64/26.100.51.198.in-addr.arpa.", 64)] {
        let out = dig(p, &["AXFR", zone]);
        let records: Vec<&str> = out.lines().filter(|l| !l.starts_with(';') && !l.trim().is_empty()).collect();
        // SOA, NS, every name, SOA.
        assert_eq!(records.len(), names + 3, "{zone}: {out}");
        let file = dir.path().join("axfr.zone");
        std::fs::write(&file, records.join("\n") + "\n").unwrap();
        let o = Command::new("named-checkzone").arg(zone).arg(&file).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && text.contains("OK"), "{zone}: {text}{}", String::from_utf8_lossy(&o.stderr));
        assert!(text.contains("loaded serial 2026010100"), "{text}");
    }
    // A /64 cannot be enumerated: refused.
    let out = dig(p, &["AXFR", APEX6]);
    assert!(out.contains("Transfer failed") || out.contains("REFUSED"), "{out}");
    s.term();
}

/// A zone whose transfer fills several TCP messages (RFC 5936 §2.2): 4,096 PTR records.
#[test]
fn axfr_of_several_messages() {
    skip_without!("dig", "named-checkzone");
    const ZONE: &str = "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
    let dir = tempfile::tempdir().unwrap();
    let tail = "\n[[prefix]]\nnet = \"2001:db8:3::/116\"\ntemplate = \"m-{hex}\"\n";
    let (mut s, p) = sixgate_full(dir.path(), &["ns1.example.net."], "", tail);
    let out = dig(p, &["AXFR", ZONE]);
    let records: Vec<&str> = out.lines().filter(|l| !l.starts_with(';') && !l.trim().is_empty()).collect();
    assert_eq!(records.len(), 4096 + 3, "{}", &out[out.len().saturating_sub(2000)..]);
    let messages: Vec<&str> = out.lines().filter(|l| l.starts_with(";; XFR size")).collect();
    assert!(messages.iter().any(|l| !l.contains("messages 1,")), "one message only: {messages:?}");
    let file = dir.path().join("axfr.zone");
    std::fs::write(&file, records.join("\n") + "\n").unwrap();
    let o = Command::new("named-checkzone").arg(ZONE).arg(&file).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    s.term();
}

#[test]
fn sighup_reloads_the_hosts_file_and_sigterm_prints_counters() {
    skip_without!("dig");
    let dir = tempfile::tempdir().unwrap();
    let metrics = free_port();
    let (mut s, p) =
        sixgate_with(dir.path(), &["ns1.example.net."], &format!("metrics_listen = \"127.0.0.1:{metrics}\"\n"));
    let ptr = |p| ask(p, &["-x", "192.0.2.53"]).answer;
    assert_eq!(ptr(p), ["53.2.0.192.in-addr.arpa. 3600 IN PTR ns1.example.net."]);
    std::fs::write(dir.path().join("hosts"), "192.0.2.53 resolver\n").unwrap();
    let pid = s.0.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while ptr(p) != ["53.2.0.192.in-addr.arpa. 3600 IN PTR resolver.example.net."] {
        assert!(Instant::now() < deadline, "reload not applied: {:?}", ptr(p));
        std::thread::sleep(Duration::from_millis(100));
    }
    // The serial counts up only when it is not set: here it is.
    let soa = ask(p, &["2.0.192.in-addr.arpa.", "SOA"]).answer;
    assert!(soa[0].contains(" 2026010100 "), "{soa:?}");
    // Synthesis goes on.
    assert_eq!(ask(p, &["-x", "192.0.2.7"]).answer, ["7.2.0.192.in-addr.arpa. 3600 IN PTR v4-192-0-2-7.example.net."]);
    // The metrics: queries counted, the reload applied.
    let scrape = {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", metrics)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut body = String::new();
        let _ = c.read_to_string(&mut body);
        body
    };
    let queries: u64 = scrape
        .lines()
        .find_map(|l| l.strip_prefix("sixgate_rdns_queries_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{scrape}"));
    assert!(queries >= 4, "{scrape}");
    assert!(scrape.contains("sixgate_reloads_total{result=\"applied\"} 1"), "{scrape}");
    assert!(scrape.contains("sixgate_rdns_response_seconds_count"), "{scrape}");
    let log = s.term();
    assert!(log.contains("reload of") && log.contains("applied: zones"), "{log}");
    assert!(log.contains("stopped; final counters:") && log.contains("queries"), "{log}");
}

/// Knot DNS with `mod-synthrecord` for the same prefixes, on `port`.
fn knot(dir: &Path, port: u16) -> Guard {
    let soa =
        "@ SOA ns1.example.net. hostmaster.example.net. 2026010100 86400 7200 3600000 3600\n@ NS ns1.example.net.\n";
    for (file, origin) in [("z6", APEX6), ("z4", "2.0.192.in-addr.arpa."), ("fwd", "example.net.")] {
        std::fs::write(dir.join(file), format!("$ORIGIN {origin}\n$TTL 3600\n{soa}")).unwrap();
    }
    let d = dir.display();
    let conf = format!(
        "server:\n    listen: 127.0.0.1@{port}\n    rundir: {d}\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
         log:\n  - target: stderr\n    any: error\n\
         database:\n    storage: {d}/db\n\
         mod-synthrecord:\n\
         \x20 - id: rev6\n    type: reverse\n    prefix: host-\n    origin: example.net\n    network: 2001:db8:1::/64\n    ttl: 3600\n\
         \x20 - id: rev4\n    type: reverse\n    prefix: v4-\n    origin: example.net\n    network: 192.0.2.0/24\n    ttl: 3600\n\
         \x20 - id: fwd6\n    type: forward\n    prefix: host-\n    network: 2001:db8:1::/64\n    ttl: 3600\n\
         \x20 - id: fwd4\n    type: forward\n    prefix: v4-\n    network: 192.0.2.0/24\n    ttl: 3600\n\
         zone:\n\
         \x20 - domain: {APEX6}\n    file: {d}/z6\n    module: mod-synthrecord/rev6\n\
         \x20 - domain: 2.0.192.in-addr.arpa.\n    file: {d}/z4\n    module: mod-synthrecord/rev4\n\
         \x20 - domain: example.net.\n    file: {d}/fwd\n    module: [mod-synthrecord/fwd6, mod-synthrecord/fwd4]\n"
    );
    let path = dir.join("knot.conf");
    std::fs::write(&path, conf).unwrap();
    let knotd = if Path::new("/usr/sbin/knotd").exists() { "/usr/sbin/knotd" } else { "knotd" };
    let child = Command::new(knotd)
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("knotd");
    let mut g = Guard(Some(child));
    wait_up(port, APEX6, &mut g);
    g
}

#[test]
fn same_answers_as_knot_synthrecord() {
    skip_without!("dig", "knotd");
    let dir = tempfile::tempdir().unwrap();
    // No explicit records here: Knot's synthrecord has none.
    std::fs::write(dir.path().join("hosts"), "").unwrap();
    let (mut s, sg) = sixgate(dir.path(), &["ns1.example.net."]);
    let kdir = dir.path().join("knot");
    std::fs::create_dir(&kdir).unwrap();
    let kp = free_port();
    let _k = knot(&kdir, kp);
    let same: &[&[&str]] = &[
        &["-x", "2001:db8:1::5"],
        &["-x", "2001:db8:1::"],
        &["-x", "2001:db8:1:0:1::"],
        &["-x", "2001:db8:1:0:ffff:ffff:ffff:ffff"],
        &["-x", "2001:db8:1::1:0:0:1"],
        &["-x", "192.0.2.0"],
        &["-x", "192.0.2.255"],
        &["host-2001-db8-1--5.example.net.", "AAAA"],
        &["host-2001-db8-1-0-ffff-ffff-ffff-ffff.example.net.", "AAAA"],
        &["HOST-2001-DB8-1--A.example.net.", "AAAA"],
        &["v4-192-0-2-7.example.net.", "A"],
        &["host-2001-db8-2--5.example.net.", "AAAA"],
        &["v4-192-0-3-7.example.net.", "A"],
        &["nothing.example.net.", "AAAA"],
        // An empty non-terminal of the reverse zone, and names below a host.
        &["0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR"],
        &["x.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR"],
        &["1.7.2.0.192.in-addr.arpa.", "PTR"],
        // The apexes.
        &[APEX6, "SOA"],
        &["2.0.192.in-addr.arpa.", "NS"],
        &["example.net.", "SOA"],
        // Outside every zone.
        &["example.org.", "A"],
    ];
    for q in same {
        let (a, b) = (ask(sg, q), ask(kp, q));
        assert_eq!((&a.status, &a.answer), (&b.status, &b.answer), "{q:?}: sixgate {a:?}, knot {b:?}");
        if a.status != "REFUSED" {
            assert!(a.flags.contains(&"aa".into()) && b.flags.contains(&"aa".into()), "{q:?}");
        }
        if a.answer.is_empty() && a.status != "REFUSED" {
            // A negative answer: both carry the zone's SOA.
            assert_eq!(a.authority, b.authority, "{q:?}");
        }
    }
    // Intended differences:
    // 1. Knot reads any spelling of an address in a forward name (`host-2001-db8-1-0-0-0-0-5`
    //    as well as `host-2001-db8-1--5`); sixgate answers only the canonical name it gives
    //    in the PTR (one name per address, so forward and reverse agree, RFC 1912 §2.1).
    let q = ["host-2001-db8-1-0-0-0-0-5.example.net.", "AAAA"];
    assert_eq!(ask(kp, &q).status, "NOERROR");
    assert_eq!(ask(sg, &q).status, "NXDOMAIN");
    // 2. A name above the prefix but in an ip6.arpa zone sixgate does not serve: REFUSED by
    //    both (nothing to compare); the RFC 2317 child zone and the /120 are sixgate's only.
    assert_eq!(ask(sg, &["70.64/26.100.51.198.in-addr.arpa.", "PTR"]).answer.len(), 1);
    s.term();
}
