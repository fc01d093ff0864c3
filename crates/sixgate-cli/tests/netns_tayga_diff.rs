//! Differential test of the stateless translator (SIIT, RFC 7915) against TAYGA: the same
//! packets, crafted by scapy, go through TAYGA and through `sixgate nat64 run`, each in a
//! topology of its own, and what comes out is compared field by field. Needs root, `tayga`
//! and scapy; otherwise it prints why it skips and passes.
//!
//! ```text
//!  h [v6a] ── v6 link ── [v6b] rt [TUN nat64: TAYGA or sixgate] [v4b] ── v4 link ── [v4a] h
//!  /96 prefix 2001:db8:64::/96, EAM / map 2001:db8:6::/120 = 203.0.113.0/24,
//!  own addresses 192.0.2.1 and 2001:db8:64::c000:201
//! ```
//!
//! Both ends of the topology are one host namespace without addresses (so its kernel never
//! answers): the scapy script there writes each case to one veth and reads both, the far side
//! for the translated packet, the near side for errors the translator or the router send.
//! After each case it sends a probe the same way and waits for it on the far side, so a slow
//! machine does not cut a case short.
//!
//! `TAYGA_DIFF_CASES=a,b` runs only the named cases; `TAYGA_DIFF_DUMP=<dir>` writes each
//! translator's field list there (`Tayga.txt`, `Sixgate.txt`).

mod common;

use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

const SCRIPT: &str = include_str!("netns_tayga_diff.py");

/// Where TAYGA and sixgate differ on purpose: (case glob, `iface#n/field` glob, glob of
/// TAYGA's value, reason). TAYGA 0.9.2 is the reference; where it departs from RFC 7915 the
/// RFC is cited. `*` stands for any run of characters; TAYGA's value is `-` where it sent
/// no such packet.
const INTENDED: &[(&str, &str, &str, &str)] = &[
    (
        "*",
        "v4a#*/0.IP.flags",
        "2",
        "DF of IPv6 → IPv4 translations: TAYGA sets it on every packet; RFC 7915 §5.1 sets it \
         only above 1260 bytes",
    ),
    ("*", "v4a#*/2.IPerror.flags", "2", "DF of the quoted header, translated like an outer one (RFC 7915 §5.3, §5.1)"),
    (
        "*",
        "v4a#*/0.IP.id",
        "0",
        "IPv4 Identification without a Fragment Header: TAYGA writes 0, sixgate takes one from \
         its generator (RFC 7915 §5.1); also the ID of the errors each translator originates",
    ),
    ("4to6-ttl-1", "v4a#0/0.IP.id", "*", "the router's kernel answers TTL 1 itself and picks a random ID"),
    (
        "4to6-*",
        "v4a#0/0.IP.tos",
        "0",
        "TOS of the ICMPv4 errors the translator originates: precedence 6, 0xc0 (RFC 1812 §4.3.2.5, \
         as Linux does); TAYGA sends 0",
    ),
    (
        "*rfc4884*",
        "*/length",
        "*",
        "RFC 4884 extension: TAYGA drops it (and the padding); sixgate keeps it behind the quote \
         padded to 128 bytes (RFC 4884 §4) and sets the length attribute (RFC 7915 §4.3, §5.3)",
    ),
    ("*rfc4884*", "*/0.IP.len", "*", "the RFC 4884 extension kept (see above)"),
    ("*rfc4884*", "*/0.IPv6.plen", "*", "the RFC 4884 extension kept (see above)"),
    ("*rfc4884*", "*/1.ICMP*.length", "0", "the RFC 4884 length attribute: TAYGA zeroes it"),
    ("*rfc4884*", "*/*.Padding.load", "-", "the padded quote and the extension that TAYGA drops"),
    (
        "*rfc4884-too-big",
        "*",
        "*",
        "an RFC 4884 error whose translation exceeds 576 / 1280 bytes: the quote is trimmed to make \
         room for the extension (RFC 4884 §4, never below 128 bytes); TAYGA drops the extension",
    ),
    (
        "6to4-err-unreach-3",
        "*",
        "*",
        "TAYGA drops Destination Unreachable code 3; RFC 7915 §5.2 makes it code 1 (host unreachable)",
    ),
    (
        "6to4-err-param-problem-ptr-*",
        "*",
        "*",
        "TAYGA drops ICMPv6 Parameter Problem code 0; RFC 7915 §5.2 makes it type 12 code 0 with \
         the pointer mapped by its Figure 6",
    ),
    (
        "4to6-err-param-problem-*",
        "*",
        "*",
        "TAYGA drops ICMPv4 Parameter Problem; RFC 7915 §4.2 makes codes 0 and 2 ICMPv6 type 4 \
         code 0 with the pointer mapped by its Figure 3",
    ),
    (
        "*-err-quoting-echo",
        "*",
        "*",
        "TAYGA drops an error that quotes an ICMP message; RFC 7915 §4.3 and §5.3 translate the \
         quoted ICMP header too",
    ),
    (
        "4to6-err-quoting-fragment",
        "*",
        "*",
        "a quoted IPv4 fragment gets a Fragment Header, the inner header being translated like an \
         outer one (RFC 7915 §4.3, §4.1); TAYGA leaves it out",
    ),
    (
        "6to4-err-unmapped-router",
        "*",
        "*",
        "an ICMPv6 error from an address no mapping covers: TAYGA drops it, sixgate sends it from \
         its own IPv4 address (RFC 7915 §5.1 with RFC 6791; no rfc6791_v4 pool configured)",
    ),
    (
        "6to4-routing-segments-left-1*",
        "*",
        "*",
        "TAYGA translates past a Routing header with Segments Left > 0; RFC 7915 §5.1 forbids it and \
         asks for Parameter Problem pointing at Segments Left",
    ),
    (
        "6to4-fragment-1500",
        "*",
        "*",
        "TAYGA drops a 1500-byte IPv6 fragment (a 1400-byte one passes); RFC 7915 §5.1.1 makes it \
         a 1472-byte IPv4 fragment, which fits the 1500-byte MTU",
    ),
    (
        "4to6-options-lsrr-unexpired",
        "*",
        "*",
        "an unexpired source route: TAYGA translates the packet; RFC 7915 §4.1 discards it and \
         sends Destination Unreachable code 5 (source route failed)",
    ),
    (
        "6to4-extension-after-fragment",
        "*",
        "*",
        "a Destination Options header after the Fragment Header: TAYGA passes it on as IPv4 \
         Protocol 60; sixgate drops it (RFC 7915 §5.1.1: an extension header other than ESP after \
         the Fragment Header SHOULD be dropped and logged) and sends Destination Unreachable code 1 \
         (administratively prohibited, RFC 7915 §5.4), as Jool does",
    ),
    (
        "6to4-ah-after-fragment",
        "*",
        "*",
        "an Authentication Header after the Fragment Header: TAYGA translates it as IPv4 Protocol \
         51; RFC 7915 §5.1.1 (\"except ESP, but including the Authentication Header (AH)\") drops \
         it, and sixgate answers Destination Unreachable code 1 (RFC 7915 §5.4). ESP after the \
         Fragment Header (6to4-esp-after-fragment) is translated by both",
    ),
    (
        "6to4-hairpin",
        "*",
        "*",
        "an IPv6 packet to an address that maps back into IPv6: TAYGA refuses it with an ICMPv6 \
         error; sixgate hairpins it, the source built with pool6 (RFC 7757 §4)",
    ),
    (
        "4to6-udp-zero-checksum*",
        "*",
        "*",
        "IPv4 UDP with checksum 0, not amended (RFC 7915 §4.5 leaves it to configuration): both drop \
         it, sixgate also answers Destination Unreachable code 13",
    ),
];

/// Cases that differ because of a known sixgate defect still to be fixed, with a note of the
/// defect: not compared, and the test says so once one matches. Empty: every defect found by
/// this comparison (extension header after a Fragment Header, Payload Length 0, the
/// Identification of a translated error, errors quoting the packet as received, hairpinning
/// with EAM) is fixed, and the two cases that still differ by design are in [`INTENDED`].
const KNOWN_DEFECTS: &[(&str, u8)] = &[];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Xlat {
    Tayga,
    Sixgate,
}

/// Why this test cannot run here, if it cannot.
fn skip_reason() -> Option<String> {
    if let Some(why) = netns_skip_reason() {
        return Some(why);
    }
    if Command::new("tayga").arg("--help").output().is_err() {
        return Some("tayga not installed".into());
    }
    scapy_skip_reason()
}

/// One topology: the host namespace `h` and the router `rt` with the translator on its TUN.
fn topology(prefix: &str, xlat: Xlat) -> Netns {
    let mut t = Netns::new(prefix, &["h", "rt"]);
    let (h, rt) = (t.ns("h"), t.ns("rt"));
    for (a, b) in [("v6a", "v6b"), ("v4a", "v4b")] {
        let (ma, mb) = (mac(a), mac(b));
        must(&[
            "ip", "link", "add", a, "netns", &h, "address", &ma, "type", "veth", "peer", "name", b, "netns", &rt,
            "address", &mb,
        ]);
    }
    // The host side: no addresses, no IPv6 stack on its links (no MLD, no answers).
    let o = t.exec("h", &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]);
    assert!(o.status.success(), "{}", text(&o));
    for d in ["v6a", "v4a"] {
        must(&["ip", "-n", &h, "link", "set", d, "up"]);
    }
    let o = t.exec("rt", &["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
    assert!(o.status.success(), "{}", text(&o));
    // Source-routed IPv4 reaches the translator (which must refuse it, RFC 7915 §4.1).
    let o = t.exec(
        "rt",
        &[
            "sysctl",
            "-qw",
            "net.ipv6.conf.v4b.disable_ipv6=1",
            "net.ipv4.conf.all.accept_source_route=1",
            "net.ipv4.conf.v4b.accept_source_route=1",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    must(&["ip", "-n", &rt, "-6", "addr", "add", "2001:db8:6::1/64", "dev", "v6b", "nodad"]);
    must(&["ip", "-n", &rt, "addr", "add", "198.51.100.1/24", "dev", "v4b"]);
    for d in ["v6b", "v4b"] {
        must(&["ip", "-n", &rt, "link", "set", d, "up"]);
    }
    // Static neighbours: no ARP or neighbour discovery on the wire.
    for (addr, dev, peer) in [
        ("2001:db8:6::2", "v6b", "v6a"),
        ("2001:db8:6::fe", "v6b", "v6a"),
        ("198.51.100.2", "v4b", "v4a"),
        ("198.51.100.254", "v4b", "v4a"),
    ] {
        must(&["ip", "-n", &rt, "neigh", "replace", addr, "lladdr", &mac(peer), "dev", dev, "nud", "permanent"]);
    }
    match xlat {
        Xlat::Tayga => {
            let cfg = t.dir.path().join("tayga.conf");
            std::fs::write(
                &cfg,
                "tun-device nat64\nipv4-addr 192.0.2.1\nprefix 2001:db8:64::/96\nmap 203.0.113.0/24 2001:db8:6::/120\n",
            )
            .unwrap();
            let cfg = cfg.display().to_string();
            t.spawn("rt", &["tayga", "--nodetach", "-c", &cfg], "xlat.log");
        }
        Xlat::Sixgate => {
            let cfg = t.dir.path().join("gw.toml");
            std::fs::write(
                &cfg,
                "tun = \"nat64\"\npool6 = \"2001:db8:64::/96\"\nipv4 = \"192.0.2.1\"\nipv6 = \"2001:db8:64::c000:201\"\n\
                 mtu = 1500\nicmp_rate = 0\nstats_interval = 0\n\
                 [[eam]]\nipv6 = \"2001:db8:6::/120\"\nipv4 = \"203.0.113.0/24\"\n",
            )
            .unwrap();
            let cfg = cfg.display().to_string();
            t.spawn("rt", &[env!("CARGO_BIN_EXE_sixgate"), "nat64", "run", "--config", &cfg], "xlat.log");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sh(&["ip", "-n", &rt, "link", "show", "nat64"]).status.success() {
        assert!(Instant::now() < deadline, "{xlat:?}: TUN device never appeared: {}", t.log("xlat.log"));
        std::thread::sleep(Duration::from_millis(50));
    }
    must(&["ip", "-n", &rt, "link", "set", "nat64", "up", "mtu", "1500"]);
    must(&["ip", "-n", &rt, "-6", "route", "add", "2001:db8:64::/96", "dev", "nat64"]);
    must(&["ip", "-n", &rt, "route", "add", "203.0.113.0/24", "dev", "nat64"]);
    must(&["ip", "-n", &rt, "route", "add", "192.0.2.1/32", "dev", "nat64"]);
    t
}

/// The fixed link-layer address of veth end `dev` (the script knows them too).
fn mac(dev: &str) -> String {
    let b = dev.as_bytes();
    format!("02:00:00:00:0{}:0{}", b[1] as char, b[2] as char)
}

/// What one translator made of every case: case → (`iface#n/field` → value).
type Seen = BTreeMap<String, BTreeMap<String, String>>;

/// Runs the scapy script through one translator.
fn run(prefix: &str, xlat: Xlat) -> Seen {
    let t = topology(prefix, xlat);
    let only: Vec<String> = std::env::var("TAYGA_DIFF_CASES")
        .map(|v| v.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let ns = t.ns("h");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns, PY, "-c", SCRIPT]).args(&only);
    // Its output goes to a file: a pipe nobody reads while it runs would fill up.
    let out = t.dir.path().join("fields.txt");
    let child = cmd.stdout(std::fs::File::create(&out).unwrap()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let o = wait_output(child, Duration::from_secs(120));
    assert!(o.status.success(), "{xlat:?}: the scapy script failed: {}\n{}", text(&o), t.log("xlat.log"));
    eprint!("{}", String::from_utf8_lossy(&o.stderr));
    let stdout = std::fs::read(&out).unwrap();
    let mut seen = Seen::new();
    for line in String::from_utf8_lossy(&stdout).lines() {
        let f: Vec<&str> = line.splitn(4, '\t').collect();
        assert_eq!(f.len(), 4, "{xlat:?}: odd line {line:?}");
        seen.entry(f[0].to_owned()).or_default().insert(format!("{}/{}", f[1], f[2]), f[3].to_owned());
    }
    if let Ok(dir) = std::env::var("TAYGA_DIFF_DUMP") {
        std::fs::write(format!("{dir}/{xlat:?}.txt"), &stdout).unwrap();
    }
    seen
}

/// `pat` matches `s`, `*` standing for any run of characters.
fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((head, rest)) => {
            let Some(s) = s.strip_prefix(head) else { return false };
            (0..=s.len()).filter(|&i| s.is_char_boundary(i)).any(|i| glob(rest, &s[i..]))
        }
    }
}

#[test]
fn siit_matches_tayga_field_by_field() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let (tayga, sixgate) = std::thread::scope(|s| {
        let a = s.spawn(|| run("tgt", Xlat::Tayga));
        let b = s.spawn(|| run("tgs", Xlat::Sixgate));
        (a.join().unwrap(), b.join().unwrap())
    });
    // The topologies work at all: plain UDP crosses both ways, one packet each.
    for (name, seen) in [("TAYGA", &tayga), ("sixgate", &sixgate)] {
        // ESP after a Fragment Header is translated by both (RFC 7915 §5.1.1 refuses every
        // other extension header there).
        for (case, far) in [("6to4-udp", "v4a#0"), ("4to6-udp", "v6a#0"), ("6to4-esp-after-fragment", "v4a#0")] {
            let c = seen.get(case).unwrap_or_else(|| panic!("{name}: no {case}"));
            assert_eq!(c.get("-/count").map(String::as_str), Some("1"), "{name}: {case}: {c:?}");
            assert!(c.contains_key(&format!("{far}/length")), "{name}: {case} did not arrive: {c:?}");
        }
    }
    let cases: BTreeSet<&String> = tayga.keys().chain(sixgate.keys()).collect();
    let empty = BTreeMap::new();
    let mut unexplained = Vec::new();
    let mut intended_hits = vec![0usize; INTENDED.len()];
    let mut fixed = Vec::new();
    let (mut same, mut differ) = (0, 0);
    for case in cases {
        let (t, s) = (tayga.get(case).unwrap_or(&empty), sixgate.get(case).unwrap_or(&empty));
        let fields: BTreeSet<&String> = t.keys().chain(s.keys()).collect();
        let diffs: Vec<(&String, Option<&String>, Option<&String>)> =
            fields.into_iter().map(|f| (f, t.get(f), s.get(f))).filter(|(_, a, b)| a != b).collect();
        if diffs.is_empty() {
            same += 1;
        } else {
            differ += 1;
        }
        if let Some((_, d)) = KNOWN_DEFECTS.iter().find(|(c, _)| c == case) {
            if diffs.is_empty() {
                fixed.push(format!("{case} (defect {d})"));
            } else {
                eprintln!("{case}: known defect ({d}), {} fields differ", diffs.len());
            }
            continue;
        }
        for (field, a, b) in diffs {
            let tv = a.map_or("-", String::as_str);
            let hit = INTENDED.iter().position(|(c, f, v, _)| glob(c, case) && glob(f, field) && glob(v, tv));
            match hit {
                Some(i) => intended_hits[i] += 1,
                None => unexplained.push(format!(
                    "{case} {field}: tayga {} sixgate {}",
                    a.map_or("-", String::as_str),
                    b.map_or("-", String::as_str)
                )),
            }
        }
    }
    eprintln!("{same} cases identical, {differ} differ");
    for ((c, f, _, why), n) in INTENDED.iter().zip(&intended_hits) {
        eprintln!("intended: {c} {f}: {n} fields ({why})");
    }
    for f in &fixed {
        eprintln!("KNOWN_DEFECTS entry now matches TAYGA; remove it: {f}");
    }
    assert!(unexplained.is_empty(), "{} unexplained differences:\n{}", unexplained.len(), unexplained.join("\n"));
}
