//! End to end: `sixgate tunnel run --mode 6to4` on two sites joined only by IPv4 through a
//! middle router, with an IPv6 host behind each site. The far end of every packet comes
//! from the IPv4 address its 2002::/16 destination embeds (RFC 3056 §2); no remote is
//! configured. Then the RFC 3964 §5.1 source checks against protocol-41 packets crafted
//! with scapy on the middle router, which also plays the 6to4 relay. Needs root (CI is
//! root); otherwise each test prints why it skips and passes.
//!
//! 6to4 refuses non-global IPv4 addresses (RFC 3964 §5.1), so the sites use global-looking
//! unicast addresses; the traffic never leaves the namespaces.
//!
//! ```text
//!  ha 2002:b00:1:1::2 ─ sa [TUN: sixgate 6to4 11.0.0.1] ─ md (IPv4 router, relay 13.0.0.1) ─ sb [TUN: sixgate 6to4 12.0.0.1] ─ hb 2002:c00:1:1::2
//!                       11.0.0.1/24 ── m1 11.0.0.254    m2 12.0.0.254 ── 12.0.0.1/24
//! ```

mod common;

use common::*;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The 6to4 relay, an address of the middle router (RFC 3056 §5.2).
const RELAY: &str = "13.0.0.1";
const HA: &str = "2002:b00:1:1::2";
const HB: &str = "2002:c00:1:1::2";

macro_rules! skip_unless_able {
    () => {
        if let Some(why) = netns_skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// The namespaces ([`Netns::two_sites`]) and both endpoints; torn down on drop, even
/// when a test fails.
struct Topo {
    net: Netns,
    /// (namespace, endpoint, its log); `None` once stopped.
    eps: Vec<(&'static str, Option<Child>, PathBuf)>,
}

impl std::ops::Deref for Topo {
    type Target = Netns;
    fn deref(&self) -> &Netns {
        &self.net
    }
}

impl Topo {
    fn new(tag: &str) -> Self {
        let mut t = Self { net: Netns::two_sites(&format!("s64{tag}")), eps: Vec::new() };
        for (n, dev, a) in [
            ("sa", "e4", "11.0.0.1/24"),
            ("md", "m1", "11.0.0.254/24"),
            ("md", "m2", "12.0.0.254/24"),
            ("md", "lo", "13.0.0.1/32"),
            ("sb", "e4", "12.0.0.1/24"),
        ] {
            t.addr(n, dev, a);
        }
        // The sites reach the other site and the relay through the router.
        t.route("sa", "default", "11.0.0.254").route("sb", "default", "12.0.0.254");
        t.sysctl("md", &["net.ipv4.ip_forward=1"]);
        for (h, s, site) in [("ha", "sa", "b00"), ("hb", "sb", "c00")] {
            // Each site's LAN is subnet 1 of its 6to4 prefix 2002:V4ADDR::/48.
            let lan = format!("2002:{site}:1:1::");
            t.addr(h, "e0", &format!("{lan}2/64")).route(h, "default", &format!("{lan}1"));
            t.addr(s, "e6", &format!("{lan}1/64")).sysctl(s, &["net.ipv6.conf.all.forwarding=1"]);
        }
        t.endpoint("sa", "11.0.0.1");
        t.endpoint("sb", "12.0.0.1");
        // Native IPv6 destinations go through the tunnel, hence to the relay.
        must(&["ip", "-n", &t.ns("sa"), "-6", "route", "add", "default", "dev", "sit0x"]);
        t
    }

    /// A 6to4 endpoint: no remote; the TUN device gets 2002:LOCAL::1/16 and with it the
    /// route to all of 2002::/16.
    fn endpoint(&mut self, n: &'static str, local: &str) {
        let ns = self.ns(n);
        let log = self.dir.path().join(format!("{n}.log"));
        let child = Command::new("ip")
            .args(["netns", "exec", &ns, env!("CARGO_BIN_EXE_sixgate"), "tunnel", "run", "--tun", "sit0x"])
            .args(["--mode", "6to4", "--local", local, "--relay", RELAY, "--stats-interval", "0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        self.eps.push((n, Some(child), log));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.exec(n, &["ip", "-6", "addr", "show", "dev", "sit0x"]).stdout.windows(4).any(|w| w == b"inet") {
            assert!(Instant::now() < deadline, "TUN device never came up: {}", self.log(n));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ep(&self, n: &str) -> &(&'static str, Option<Child>, PathBuf) {
        self.eps.iter().find(|e| e.0 == n).unwrap_or_else(|| panic!("no endpoint in {n}"))
    }

    fn log(&self, n: &str) -> String {
        std::fs::read_to_string(&self.ep(n).2).unwrap_or_default()
    }

    fn pid(&self, n: &str) -> String {
        self.ep(n).1.as_ref().map(|c| c.id().to_string()).unwrap_or_else(|| panic!("{n} already stopped"))
    }

    /// Counters of endpoint `n` as printed on SIGUSR1.
    fn counters(&self, n: &str) -> String {
        // The worker publishes its counters at least every 100 ms.
        std::thread::sleep(Duration::from_millis(300));
        let before = self.log(n).lines().count();
        let _ = sh(&["kill", "-USR1", &self.pid(n)]);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.log(n);
            if let Some(l) = text.lines().skip(before).find(|l| l.contains("received=")) {
                return l.to_owned();
            }
            assert!(Instant::now() < deadline, "no counters after SIGUSR1: {text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops endpoint `n` with SIGINT and returns its final counter line.
    fn stop(&mut self, n: &str) -> String {
        std::thread::sleep(Duration::from_millis(300));
        let _ = sh(&["kill", "-INT", &self.pid(n)]);
        let i = self.eps.iter().position(|e| e.0 == n).unwrap_or_else(|| panic!("no endpoint in {n}"));
        let child = self.eps[i].1.take().unwrap_or_else(|| panic!("{n} already stopped"));
        let o = wait_output(child, Duration::from_secs(10));
        assert!(o.status.success(), "{n} exit status {:?}: {}", o.status, self.log(n));
        let log = self.log(n);
        log.lines()
            .find_map(|l| l.split_once("final counters: ").map(|(_, c)| c.to_owned()))
            .unwrap_or_else(|| panic!("no final counters: {log}"))
    }

    fn ping(&self, from: &str, to: &str) -> Output {
        self.exec(from, &["ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", to])
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        // The endpoints first; the namespaces go with `net`.
        stop_all(self.eps.iter_mut().filter_map(|(_, c, _)| c.as_mut()));
    }
}

/// The value of `key=N` in a counter line (0 when absent: only non-zero reasons print).
fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .map_or(0, |v| v.parse().unwrap_or_else(|_| panic!("bad {key} in {line}")))
}

/// A TCP transfer of `n` random bytes from ha to hb; returns (sent, received) as "LEN SHA256".
fn tcp_transfer(t: &Topo, n: usize) -> (String, String) {
    t.tcp_upload("ha", "hb", HB, HB, n)
}

#[test]
fn two_6to4_sites_ping_and_tcp() {
    skip_unless_able!();
    let mut t = Topo::new("a");
    // ha → hb: sa sends to 12.0.0.1, the IPv4 address in hb's 2002:c00:1::/48.
    let o = t.ping("ha", HB);
    assert!(o.status.success(), "ping6 between the 6to4 sites: {}\n{}", text(&o), t.log("sa"));
    let o = t.ping("hb", HA);
    assert!(o.status.success(), "ping6 back: {}\n{}", text(&o), t.log("sb"));
    let (sent, got) = tcp_transfer(&t, 1_000_000);
    assert!(sent.starts_with("1000000 "), "{sent}");
    assert_eq!(sent, got, "bytes through 6to4");
    let a = t.stop("sa");
    let b = t.stop("sb");
    eprintln!("sa: {a}\nsb: {b}");
    // 1 MB one way is at least 700 segments (MSS 1420 under the 1480-byte tunnel MTU).
    assert!(field(&a, "forwarded") > 700, "{a}");
    assert!(field(&b, "forwarded") > 700, "{b}");
    for c in [&a, &b] {
        for r in ["spoofed-6to4", "non-global-6to4", "not-from-relay", "forbidden-inner-source"] {
            assert_eq!(field(c, r), 0, "{r} in {c}");
        }
        // A raw socket may refuse a burst (ENOBUFS) on a loaded machine: a trace at most.
        assert!(field(c, "write_errors") * 100 <= field(c, "forwarded"), "{c}");
    }
}

/// The drop reasons of the outer-side checks of decapsulation. (ICMPv4 errors from the
/// router's own kernel about packets to the relay, rate limited, may add other reasons.)
const CHECKS: [&str; 8] = [
    "spoofed-6to4",
    "forbidden-inner-source",
    "non-global-6to4",
    "not-from-relay",
    "inner-destination-not-ours",
    "inner-malformed",
    "wrong-outer-destination",
    "ipv4-header-checksum",
];

/// Scapy on the middle router sends `count` copies of each packet given as a Python
/// expression (scapy's names in scope) and prints OK.
fn scapy_send(t: &Topo, packets: &[(&str, u32)]) {
    let mut script =
        String::from("from scapy.all import IP, IPv6, ICMPv6EchoRequest, Raw, send, conf\nconf.verb = 0\n");
    for (p, count) in packets {
        script.push_str(&format!("send({p}, count={count})\n"));
    }
    script.push_str("print('OK')\n");
    let o = wait_output(t.python("md", &script), Duration::from_secs(30));
    assert!(o.status.success() && text(&o).contains("OK"), "scapy: {}", text(&o));
}

#[test]
fn rfc3964_source_checks_against_spoofed_packets_scapy() {
    skip_unless_able!();
    skip_without!(scapy);
    let mut t = Topo::new("b");
    let o = t.ping("ha", HB);
    assert!(o.status.success(), "ping6 between the 6to4 sites: {}\n{}", text(&o), t.log("sa"));
    let base = t.counters("sa");
    eprintln!("sa before: {base}");
    let echo = |src: &str| format!("IPv6(src='{src}', dst='{HA}')/ICMPv6EchoRequest(data=b'spoof')");
    // Each kind in its own round, so that the counter each one moves is seen moving alone.
    // (a) A 6to4 source embedding 12.0.0.1 (site B) sent from 11.0.0.254 (RFC 3964 §5.1).
    let a = format!("IP(src='11.0.0.254', dst='11.0.0.1')/{}", echo("2002:c00:1:1::66"));
    // (b) An IPv4-compatible source (::11.0.0.254).
    let b = format!("IP(src='11.0.0.254', dst='11.0.0.1')/{}", echo("::b00:fe"));
    // (c) Loopback and multicast sources, each from the relay itself (no source passes).
    let c1 = format!("IP(src='{RELAY}', dst='11.0.0.1')/{}", echo("::1"));
    let c2 = format!("IP(src='{RELAY}', dst='11.0.0.1')/{}", echo("ff02::1"));
    // (d) 6to4 sources embedding non-global IPv4 addresses: private (sent from that very
    // address, so only the non-global rule is broken), RFC 1918 192.168/16 and loopback.
    let d1 = format!("IP(src='10.0.0.1', dst='11.0.0.1')/{}", echo("2002:a00:1::1"));
    let d2 = format!("IP(src='11.0.0.254', dst='11.0.0.1')/{}", echo("2002:c0a8:101::1"));
    let d3 = format!("IP(src='11.0.0.254', dst='11.0.0.1')/{}", echo("2002:7f00:1::1"));
    // A native source from a node that is not the relay.
    let n = format!("IP(src='11.0.0.254', dst='11.0.0.1')/{}", echo("2001:db8:99::1"));
    let rounds = [
        ("a", vec![(a.as_str(), 2)], "spoofed-6to4", 2),
        ("b", vec![(b.as_str(), 3)], "forbidden-inner-source", 3),
        ("c", vec![(c1.as_str(), 2), (c2.as_str(), 2)], "forbidden-inner-source", 4),
        ("d", vec![(d1.as_str(), 1), (d2.as_str(), 2), (d3.as_str(), 2)], "non-global-6to4", 5),
        ("native", vec![(n.as_str(), 3)], "not-from-relay", 3),
    ];
    let mut prev = base.clone();
    for (kind, packets, reason, want) in &rounds {
        scapy_send(&t, packets);
        let now = t.counters("sa");
        eprintln!("sa after ({kind}): {now}");
        for r in CHECKS {
            let moved = field(&now, r) - field(&prev, r);
            assert_eq!(moved, if r == *reason { *want } else { 0u64 }, "({kind}) {r}: {prev} -> {now}");
        }
        prev = now;
    }
    // (e) From the configured relay, a native source: delivered to ha, whose echo reply goes
    // back into the tunnel and, its destination being native, to the relay.
    let script = format!(
        r#"
import sys, time
from scapy.all import IP, IPv6, ICMPv6EchoRequest, ICMPv6EchoReply, AsyncSniffer, send, conf
conf.verb = 0
sn = AsyncSniffer(iface="m1", timeout=6, count=2, lfilter=lambda p: IP in p and p[IP].src == "11.0.0.1"
    and p[IP].dst == "{RELAY}" and p[IP].proto == 41 and ICMPv6EchoReply in p and p[ICMPv6EchoReply].id == 0x6464)
sn.start(); time.sleep(0.5)
for seq in (1, 2):
    send(IP(src="{RELAY}", dst="11.0.0.1")/IPv6(src="2001:db8:99::1", dst="{HA}")/ICMPv6EchoRequest(id=0x6464, seq=seq, data=b"via-relay"))
    time.sleep(0.2)
sn.join()
seqs = sorted(p[ICMPv6EchoReply].seq for p in sn.results)
if seqs != [1, 2]:
    print("echo replies to the relay:", seqs); sys.exit(1)
for p in sn.results:
    assert p[IPv6].src == "{HA}" and p[IPv6].dst == "2001:db8:99::1" and p[ICMPv6EchoReply].data == b"via-relay"
print("OK")
"#
    );
    let o = wait_output(t.python("md", &script), Duration::from_secs(30));
    assert!(o.status.success() && text(&o).contains("OK"), "relay round trip: {}", text(&o));
    let fin = t.stop("sa");
    eprintln!("sa final: {fin}");
    // Exact totals in the final counters: this test's packets plus the baseline.
    for (reason, n) in
        [("spoofed-6to4", 2), ("forbidden-inner-source", 7), ("non-global-6to4", 5), ("not-from-relay", 3)]
    {
        assert_eq!(field(&fin, reason) - field(&base, reason), n, "{reason}: {base} -> {fin}");
        assert_eq!(field(&base, reason), 0, "{reason} before the test: {base}");
    }
    for r in CHECKS {
        assert_eq!(field(&fin, r), field(&prev, r), "(e) moved {r}: {prev} -> {fin}");
    }
    // (e): two requests decapsulated, two replies encapsulated.
    assert!(field(&fin, "forwarded") - field(&prev, "forwarded") >= 4, "{prev} -> {fin}");
}
