//! Differential check of the translator against independent implementations: a varied
//! set of packets (TCP, UDP, echo, fragments both ways, DF-clear packets the translator
//! fragments, extension headers, every ICMP error type/code the RFC 7915 tables
//! translate, RFC 4884 extensions, and the errors the translator generates itself) is
//! translated; inputs and outputs are written to pcap files (LINKTYPE_RAW) and
//! - `tshark` re-dissects them with IPv4/TCP/UDP checksum validation on (ICMP and ICMPv6
//!   checksums are always validated). Asserted: no frame is malformed, and the *outer*
//!   IPv4 header checksum and the *outer* transport checksum of every frame are not
//!   "Bad" (for fragments tshark checks the reassembled datagram in its last frame).
//!   Checksum statuses of the packets quoted inside ICMP errors are not asserted: the
//!   quotes are truncated by design (RFC 792 / RFC 4443 §2.4(c)), so tshark cannot verify
//!   them; the outer ICMP checksum, which covers the quote, is asserted.
//! - scapy (`/usr/bin/python3`) parses every output and checks addresses, protocol, ICMP
//!   type/code, MTU and pointer against expectations written by this test from the RFC
//!   tables (not taken from the translator), and recomputes every outer checksum,
//!   comparing it to ours.
//!
//! Both skip (and pass) with a message when the tool is missing; CI installs them.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use sixgate_core::engine::{Side, Verdict};
use sixgate_nat64::{Siit, SiitConfig};
use sixgate_testkit::packets::*;

/// What an output frame must look like.
#[derive(Default, Clone)]
struct Expect {
    src: String,
    dst: String,
    /// "tcp", "udp", "icmp" (either family), or "frag" for a non-first fragment.
    proto: &'static str,
    icmp: Option<(u8, u8)>,
    mtu: Option<u32>,
    ptr: Option<u32>,
}

struct Case {
    name: String,
    input: Vec<u8>,
    cfg: SiitConfig,
    /// Expected outputs in order; the verdict kind is checked too.
    verdict: Verdict<sixgate_nat64::SiitDrop>,
    expect: Vec<Expect>,
}

const A4: &str = "192.0.2.10"; // IPv4 host
const A6: &str = "2001:db8:64::c000:20a";
const B4: &str = "198.51.100.20"; // the other IPv4 host (reached from IPv6)
const B6: &str = "2001:db8:64::c633:6414";
const R4: &str = "203.0.113.1"; // an IPv4 router
const R6: &str = "2001:db8:64::cb00:7101";
const OWN4: &str = "198.51.100.1";
const OWN6: &str = "2001:db8::1";

fn e(src: &str, dst: &str, proto: &'static str) -> Expect {
    Expect { src: src.into(), dst: dst.into(), proto, ..Default::default() }
}
fn ei(src: &str, dst: &str, t: u8, c: u8) -> Expect {
    Expect { icmp: Some((t, c)), ..e(src, dst, "icmp") }
}

fn with_ttl4(mut p: Vec<u8>, ttl: u8) -> Vec<u8> {
    p[8] = ttl;
    fix_ipv4_checksum(&mut p);
    p
}

fn df_clear(mut p: Vec<u8>) -> Vec<u8> {
    p[6] = 0;
    fix_ipv4_checksum(&mut p);
    p
}

/// Inserts IPv6 extension headers (already chained to the packet's upper layer by the
/// caller's `first` next-header value).
fn ext6(mut p: Vec<u8>, first: u8, ext: &[u8]) -> Vec<u8> {
    let n = p.len() - 40 + ext.len();
    p.splice(40..40, ext.iter().copied());
    p[6] = first;
    p[4..6].copy_from_slice(&(n as u16).to_be_bytes());
    p
}

/// A table row: ICMP type, code and rest of header in; type, code, MTU, pointer out.
type Row = (u8, u8, [u8; 4], u8, u8, Option<u32>, Option<u32>);

/// An RFC 4884 extension structure (version 2) with one object and a valid checksum.
fn rfc4884_ext() -> Vec<u8> {
    let mut x = vec![0x20, 0, 0, 0, 0, 8, 1, 1, 0, 0, 0, 7];
    let c = naive_sum(&[&x]);
    x[2..4].copy_from_slice(&c.to_be_bytes());
    x
}

fn cases() -> Vec<Case> {
    let c = config;
    let mut v = Vec::new();
    let mut add = |name: &str, input: Vec<u8>, cfg: SiitConfig, verdict, expect: Vec<Expect>| {
        v.push(Case { name: name.into(), input, cfg, verdict, expect });
    };
    let rep4 = Verdict::Reply(Side::V4);
    let rep6 = Verdict::Reply(Side::V6);

    // ---- 4→6 ordinary traffic
    add("udp4", udp4(A4, B4, 9, b"query"), c(), FWD6, vec![e(A6, B6, "udp")]);
    add("tcp4", tcp4(A4, B4, 80, &[1; 300]), c(), FWD6, vec![e(A6, B6, "tcp")]);
    add("echo4", echo4(A4, B4, 7, 1, b"ping"), c(), FWD6, vec![ei(A6, B6, 128, 0)]);
    let mut reply = icmp4(A4, B4, 0, 0, [0, 7, 0, 1], b"pong");
    reply[6] = 0x40;
    fix_ipv4_checksum(&mut reply);
    add("echo-reply4", reply, c(), FWD6, vec![ei(A6, B6, 129, 0)]);
    // DF clear, 1420 bytes: fragmented into IPv6 fragments of at most 1280 (§4.1).
    add(
        "tcp4-df-clear-big",
        df_clear(tcp4(A4, B4, 80, &[2; 1380])),
        c(),
        FWD6,
        vec![e(A6, B6, "tcp"), e(A6, B6, "frag")],
    );
    // IPv4 fragments: first and last of a UDP datagram.
    let big = udp4(A4, B4, 9, &[3; 200]);
    let mut f1 = big[..20 + 104].to_vec();
    f1[2..4].copy_from_slice(&(124u16).to_be_bytes());
    f1[6] = 0x20;
    fix_ipv4_checksum(&mut f1);
    let mut f2 = big[..20].to_vec();
    f2.extend_from_slice(&big[124..]);
    let n = f2.len() as u16;
    f2[2..4].copy_from_slice(&n.to_be_bytes());
    f2[6] = 0;
    f2[7] = 13;
    fix_ipv4_checksum(&mut f2);
    add("udp4-frag1", f1, c(), FWD6, vec![e(A6, B6, "udp")]);
    add("udp4-frag2", f2, c(), FWD6, vec![e(A6, B6, "frag")]);

    // ---- 4→6 ICMP errors about a packet from the IPv6 side (B6 → A6 became B4 → A4),
    // every row of RFC 7915 §4.2 that translates.
    let inner = udp4(B4, A4, 9, b"the original datagram");
    let inner_tcp = tcp4(B4, A4, 443, &[9; 64]);
    let t42: &[Row] = &[
        (3, 0, [0; 4], 1, 0, None, None),
        (3, 1, [0; 4], 1, 0, None, None),
        (3, 2, [0; 4], 4, 1, None, Some(6)),
        (3, 3, [0; 4], 1, 4, None, None),
        (3, 4, [0, 0, 0x05, 0x78], 2, 0, Some(1420), None),
        (3, 5, [0; 4], 1, 0, None, None),
        (3, 6, [0; 4], 1, 0, None, None),
        (3, 7, [0; 4], 1, 0, None, None),
        (3, 8, [0; 4], 1, 0, None, None),
        (3, 9, [0; 4], 1, 1, None, None),
        (3, 10, [0; 4], 1, 1, None, None),
        (3, 11, [0; 4], 1, 0, None, None),
        (3, 12, [0; 4], 1, 0, None, None),
        (3, 13, [0; 4], 1, 1, None, None),
        (3, 15, [0; 4], 1, 1, None, None),
        (11, 0, [0; 4], 3, 0, None, None),
        (11, 1, [0; 4], 3, 1, None, None),
        (12, 0, [0, 0, 0, 0], 4, 0, None, Some(0)),
        (12, 0, [1, 0, 0, 0], 4, 0, None, Some(1)),
        (12, 0, [2, 0, 0, 0], 4, 0, None, Some(4)),
        (12, 0, [8, 0, 0, 0], 4, 0, None, Some(7)),
        (12, 0, [9, 0, 0, 0], 4, 0, None, Some(6)),
        (12, 0, [12, 0, 0, 0], 4, 0, None, Some(8)),
        (12, 2, [16, 0, 0, 0], 4, 0, None, Some(24)),
    ];
    for &(t4, c4, rest, t6, c6, mtu, ptr) in t42 {
        for (what, q) in [("udp", &inner[..]), ("tcp-truncated", &inner_tcp[..48])] {
            let want = Expect { mtu, ptr, ..ei(R6, A6, t6, c6) };
            add(&format!("icmp4-{t4}-{c4}-{what}"), icmp4(R4, A4, t4, c4, rest, q), c(), FWD6, vec![want]);
        }
    }
    // Fragmentation Needed with MTU 0 (pre-RFC 1191 router): plateau below the quoted
    // Total Length 1400 is 1006, + 20 = 1026, raised to the IPv6 minimum 1280.
    let mut long = udp4(B4, A4, 9, &[0; 8]);
    long[2..4].copy_from_slice(&1400u16.to_be_bytes());
    fix_ipv4_checksum(&mut long);
    add(
        "icmp4-frag-needed-mtu0",
        icmp4(R4, A4, 3, 4, [0; 4], &long),
        c(),
        FWD6,
        vec![Expect { mtu: Some(1280), ..ei(R6, A6, 2, 0) }],
    );
    // RFC 4884: Time Exceeded with a 128-byte original datagram and an extension.
    let mut orig = inner.clone();
    orig.resize(128, 0);
    orig.extend_from_slice(&rfc4884_ext());
    add("icmp4-rfc4884", icmp4(R4, A4, 11, 0, [0, 32, 0, 0], &orig), c(), FWD6, vec![ei(R6, A6, 3, 0)]);

    // ---- errors the translator generates for IPv4 packets.
    add("ttl1-4", with_ttl4(udp4(A4, B4, 9, b"x"), 1), c(), rep4, vec![ei(OWN4, A4, 11, 0)]);
    let mut small6 = c();
    small6.ipv6_mtu = 1280;
    add(
        "frag-needed",
        tcp4(A4, B4, 80, &[4; 1300]),
        small6,
        rep4,
        vec![Expect { mtu: Some(1260), ..ei(OWN4, A4, 3, 4) }],
    );
    let mut lsrr = udp4(A4, B4, 9, b"routed");
    // Unexpired loose source route whose last hop is the destination itself (checksum
    // verifiers use the route's final address in the pseudo-header).
    lsrr.splice(20..20, [131, 7, 4, 198, 51, 100, 20, 1]);
    lsrr[0] = 0x47;
    let n = lsrr.len() as u16;
    lsrr[2..4].copy_from_slice(&n.to_be_bytes());
    fix_ipv4_checksum(&mut lsrr);
    add("source-route", lsrr, c(), rep4, vec![ei(OWN4, A4, 3, 5)]);
    let mut zero = udp4(A4, B4, 9, b"no checksum");
    zero[26] = 0;
    zero[27] = 0;
    add("udp-zero-checksum", zero, c(), rep4, vec![ei(OWN4, A4, 3, 13)]);

    // ---- 6→4 ordinary traffic
    add("udp6", udp6(A6, B6, 9, b"query"), c(), FWD4, vec![e(A4, B4, "udp")]);
    add("tcp6", tcp6(A6, B6, 80, &[5; 1300]), c(), FWD4, vec![e(A4, B4, "tcp")]);
    add("echo6", echo6(A6, B6, 9, 2, b"ping"), c(), FWD4, vec![ei(A4, B4, 8, 0)]);
    let hbh_dst = [60, 0, 1, 4, 0, 0, 0, 0, 17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    add("udp6-hbh-dstopts", ext6(udp6(A6, B6, 9, b"options"), 0, &hbh_dst), c(), FWD4, vec![e(A4, B4, "udp")]);
    let u = udp6(A6, B6, 9, &[6; 300]);
    let fh = |off: u16, m: bool| {
        let mut h = vec![17, 0];
        h.extend_from_slice(&(off | u16::from(m)).to_be_bytes());
        h.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        h
    };
    let mut g1 = u[..40].to_vec();
    g1.extend_from_slice(&u[40..40 + 160]);
    let g1 = ext6(g1, 44, &fh(0, true));
    let mut g2 = u[..40].to_vec();
    g2.extend_from_slice(&u[200..]);
    let g2 = ext6(g2, 44, &fh(160, false));
    add("udp6-frag1", g1, c(), FWD4, vec![e(A4, B4, "udp")]);
    add("udp6-frag2", g2, c(), FWD4, vec![e(A4, B4, "frag")]);
    // Small IPv4 MTU: a DF-clear (≤ 1260 bytes) IPv6 packet is fragmented for IPv4.
    let mut mtu576 = c();
    mtu576.ipv4_mtu = 576;
    add(
        "udp6-to-small-ipv4-mtu",
        udp6(A6, B6, 9, &[7; 1000]),
        mtu576.clone(),
        FWD4,
        vec![e(A4, B4, "udp"), e(A4, B4, "frag")],
    );

    // ---- 6→4 ICMPv6 errors about a packet from the IPv4 side, RFC 7915 §5.2.
    let inner6 = udp6(B6, A6, 9, b"the original datagram");
    let inner6_tcp = tcp6(B6, A6, 443, &[9; 64]);
    let t52: &[Row] = &[
        (1, 0, [0; 4], 3, 1, None, None),
        (1, 1, [0; 4], 3, 10, None, None),
        (1, 2, [0; 4], 3, 1, None, None),
        (1, 3, [0; 4], 3, 1, None, None),
        (1, 4, [0; 4], 3, 3, None, None),
        (2, 0, [0, 0, 0x05, 0x78], 3, 4, Some(1380), None),
        (3, 0, [0; 4], 11, 0, None, None),
        (3, 1, [0; 4], 11, 1, None, None),
        (4, 0, [0, 0, 0, 0], 12, 0, None, Some(0)),
        (4, 0, [0, 0, 0, 1], 12, 0, None, Some(1)),
        (4, 0, [0, 0, 0, 4], 12, 0, None, Some(2)),
        (4, 0, [0, 0, 0, 6], 12, 0, None, Some(9)),
        (4, 0, [0, 0, 0, 7], 12, 0, None, Some(8)),
        (4, 0, [0, 0, 0, 8], 12, 0, None, Some(12)),
        (4, 0, [0, 0, 0, 24], 12, 0, None, Some(16)),
        (4, 1, [0, 0, 0, 6], 3, 2, None, None),
    ];
    for &(t6, c6, rest, t4, c4, mtu, ptr) in t52 {
        for (what, q) in [("udp", &inner6[..]), ("tcp-truncated", &inner6_tcp[..68])] {
            let want = Expect { mtu, ptr, ..ei(R4, A4, t4, c4) };
            add(&format!("icmp6-{t6}-{c6}-{what}"), icmp6(R6, A6, t6, c6, rest, q), c(), FWD4, vec![want]);
        }
    }
    let mut orig6 = inner6.clone();
    orig6.resize(128, 0);
    orig6.extend_from_slice(&rfc4884_ext());
    add("icmp6-rfc4884", icmp6(R6, A6, 3, 0, [16, 0, 0, 0], &orig6), c(), FWD4, vec![ei(R4, A4, 11, 0)]);

    // ---- errors the translator generates for IPv6 packets.
    let mut h1 = udp6(A6, B6, 9, b"x");
    h1[7] = 1;
    add("hop1-6", h1, c(), rep6, vec![ei(OWN6, A6, 3, 0)]);
    let rh = [17, 0, 0, 1, 0, 0, 0, 0];
    add(
        "routing-header",
        ext6(udp6(A6, B6, 9, b"routed"), 43, &rh),
        c(),
        rep6,
        vec![Expect { ptr: Some(43), ..ei(OWN6, A6, 4, 0) }],
    );
    let mut v4small = c();
    v4small.ipv4_mtu = 1400;
    add(
        "packet-too-big",
        tcp6(A6, B6, 80, &[8; 1400]),
        v4small,
        rep6,
        vec![Expect { mtu: Some(1420), ..ei(OWN6, A6, 2, 0) }],
    );
    v
}

/// A pcap file with LINKTYPE_RAW (101): every packet starts with its IP header.
fn write_pcap(path: &Path, pkts: &[Vec<u8>]) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0i32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&101u32.to_le_bytes());
    for (i, p) in pkts.iter().enumerate() {
        f.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(p);
    }
    std::fs::write(path, f).unwrap();
}

struct Run {
    dir: PathBuf,
    inputs: Vec<Vec<u8>>,
    outputs: Vec<Vec<u8>>,
    expect: Vec<(String, Expect)>,
}

fn translate_all(tag: &str) -> Run {
    let mut r = Run {
        dir: std::env::temp_dir().join(format!("sixgate-siit-{tag}-{}", std::process::id())),
        inputs: Vec::new(),
        outputs: Vec::new(),
        expect: Vec::new(),
    };
    std::fs::create_dir_all(&r.dir).unwrap();
    for case in cases() {
        let mut s = Siit::new(case.cfg.clone()).unwrap();
        let (v, outs) = run_all(&mut s, &case.input);
        sixgate_testkit::fuzz::nat64::check(&case.cfg, &case.input, v, &outs);
        assert_eq!(v, case.verdict, "{}: verdict", case.name);
        assert_eq!(outs.len(), case.expect.len(), "{}: number of output packets", case.name);
        r.inputs.push(case.input.clone());
        for (o, e) in outs.into_iter().zip(case.expect) {
            r.outputs.push(o);
            r.expect.push((case.name.clone(), e));
        }
    }
    write_pcap(&r.dir.join("in.pcap"), &r.inputs);
    write_pcap(&r.dir.join("out.pcap"), &r.outputs);
    r
}

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).output().is_ok_and(|o| o.status.success())
}

#[test]
fn tshark_finds_no_bad_checksum_and_no_malformed_frame() {
    let r = translate_all("tshark");
    if !have("tshark", &["--version"]) {
        eprintln!("SKIPPED: tshark is not installed");
        return;
    }
    for file in ["in.pcap", "out.pcap"] {
        let path = r.dir.join(file);
        let out = Command::new("tshark")
            .args(["-n", "-r"])
            .arg(&path)
            .args(["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"])
            .args(["-T", "fields", "-E", "separator=|", "-E", "occurrence=f"])
            .args(["-e", "frame.number", "-e", "_ws.malformed", "-e", "ip.checksum.status"])
            .args(["-e", "tcp.checksum.status", "-e", "udp.checksum.status"])
            .args(["-e", "icmp.checksum.status", "-e", "icmpv6.checksum.status", "-e", "frame.protocols"])
            .args(["-e", "_ws.expert.message"])
            .output()
            .expect("run tshark");
        assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let names: Vec<&str> = if file == "in.pcap" {
            // one input per case
            cases_names()
        } else {
            r.expect.iter().map(|(n, _)| n.as_str()).collect()
        };
        let mut frames = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split('|').collect();
            assert_eq!(f.len(), 9, "{line}");
            frames += 1;
            let name = names.get(frames - 1).copied().unwrap_or("?");
            assert!(f[1].is_empty(), "{file} frame {} ({name}): malformed: {line}", f[0]);
            // Checksum status: 0 Bad, 1 Good, 2 Unverified; occurrence=f prints the first
            // (outermost) one. The outer transport is the first protocol after the IP
            // header and its extension headers (frame.protocols, e.g. "raw:ip:icmp:ip:tcp");
            // statuses of what an ICMP error quotes are not asserted (see the top).
            let outer = f[7]
                .split(':')
                .find(|p| !(matches!(*p, "raw" | "ip" | "ipv6") || p.starts_with("ipv6.")))
                .unwrap_or("");
            let (i, what) = match outer {
                "tcp" => (3, "TCP"),
                "udp" => (4, "UDP"),
                "icmp" => (5, "ICMP"),
                "icmpv6" => (6, "ICMPv6"),
                _ => (2, "IPv4 header"), // a non-first fragment: nothing more to check
            };
            assert_ne!(f[2], "0", "{file} frame {} ({name}): bad IPv4 header checksum: {line}", f[0]);
            assert_ne!(f[i], "0", "{file} frame {} ({name}): bad {what} checksum: {line}", f[0]);
            if !(f[7].contains(":icmp:") || f[7].contains(":icmpv6:") || f[7].ends_with("data")) {
                // Not an ICMP error or a fragment: the outer transport is fully present
                // and tshark verified it (not just "Unverified").
                assert_eq!(f[i], "1", "{file} frame {} ({name}): {what} checksum not verified: {line}", f[0]);
            }
        }
        assert_eq!(frames, names.len(), "{file}: frame count");
    }
    if std::env::var_os("SIXGATE_KEEP_PCAP").is_none() {
        let _ = std::fs::remove_dir_all(&r.dir);
    }
}

fn cases_names() -> Vec<&'static str> {
    // Leaked once per test run: names for messages only.
    cases().into_iter().map(|c| &*Box::leak(c.name.into_boxed_str())).collect()
}

const SCAPY_CHECK: &str = r#"
import json, sys
from scapy.all import rdpcap, IP, IPv6
from scapy.utils import checksum
from scapy.layers.inet import in4_chksum
from scapy.layers.inet6 import in6_chksum
pkts = rdpcap(sys.argv[1])
expect = json.load(open(sys.argv[2]))
assert len(pkts) == len(expect), (len(pkts), len(expect))
bad = []
def fail(i, e, msg):
    bad.append("frame %d (%s): %s" % (i + 1, e["name"], msg))
for i, (p, e) in enumerate(zip(pkts, expect)):
    raw = bytes(p)
    v4 = raw[0] >> 4 == 4
    pkt = IP(raw) if v4 else IPv6(raw)
    if pkt.src != e["src"] or pkt.dst != e["dst"]:
        fail(i, e, "addresses %s -> %s" % (pkt.src, pkt.dst))
    # Lengths as scapy rebuilds them.
    if v4:
        if pkt.len != len(raw) or pkt.ihl != 5: fail(i, e, "IPv4 length/ihl")
        c = pkt.chksum
        q = pkt.copy(); del q.chksum
        if IP(bytes(q)).chksum != c: fail(i, e, "IPv4 header checksum %#x" % c)
        frag = pkt.frag != 0
        l4 = pkt.payload
    else:
        if pkt.plen != len(raw) - 40: fail(i, e, "IPv6 payload length")
        l4 = pkt.payload
        frag = False
        if pkt.nh == 44:
            frag = l4.offset != 0
            l4 = l4.payload
    proto = e["proto"]
    if proto == "frag":
        if not frag: fail(i, e, "expected a non-first fragment")
        continue
    if frag: fail(i, e, "unexpected non-first fragment")
    names = {"tcp": "TCP", "udp": "UDP"}
    if proto in names and l4.name != names[proto]: fail(i, e, "protocol %s" % l4.name)
    if proto == "icmp":
        if (l4.type, l4.code) != tuple(e["icmp"]): fail(i, e, "ICMP type/code %d/%d" % (l4.type, l4.code))
        if e.get("mtu") is not None:
            mtu = l4.nexthopmtu if v4 else l4.mtu
            if mtu != e["mtu"]: fail(i, e, "MTU %d" % mtu)
        if e.get("ptr") is not None and l4.ptr != e["ptr"]: fail(i, e, "pointer %d" % l4.ptr)
    # Recompute the outer transport checksum of unfragmented packets with scapy's
    # checksum routines over the raw bytes (a rebuild would re-encode some ICMP layers).
    more = (pkt.flags.MF if v4 else (pkt.nh == 44 and pkt.payload.m == 1))
    if not more:
        off = 20 if v4 else (48 if pkt.nh == 44 else 40)
        nh = raw[9] if v4 else (raw[40] if pkt.nh == 44 else raw[6])
        at = {6: 16, 17: 6, 1: 2, 58: 2}[nh]
        l4raw = bytearray(raw[off:])
        ours = int.from_bytes(l4raw[at:at + 2], "big")
        l4raw[at:at + 2] = b"\0\0"
        if v4 and nh == 1:
            again = checksum(bytes(l4raw))
        elif v4:
            again = in4_chksum(nh, pkt, bytes(l4raw))
        else:
            again = in6_chksum(nh, pkt, bytes(l4raw))
        if nh == 17 and again == 0: again = 0xffff
        if again != ours: fail(i, e, "%s checksum ours %#x scapy %#x" % (l4.name, ours, again))
print("\n".join(bad))
print("checked %d frames" % len(pkts), file=sys.stderr)
sys.exit(1 if bad else 0)
"#;

#[test]
fn scapy_agrees_on_fields_and_checksums() {
    let r = translate_all("scapy");
    if !have("/usr/bin/python3", &["-c", "import scapy.all"]) {
        eprintln!("SKIPPED: /usr/bin/python3 with scapy is not installed");
        return;
    }
    let mut json = String::from("[");
    for (i, (name, e)) in r.expect.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let opt = |x: Option<u32>| x.map_or("null".to_string(), |v| v.to_string());
        let icmp = e.icmp.map_or("null".to_string(), |(t, c)| format!("[{t},{c}]"));
        write!(
            json,
            r#"{{"name":"{name}","src":"{}","dst":"{}","proto":"{}","icmp":{icmp},"mtu":{},"ptr":{}}}"#,
            e.src,
            e.dst,
            e.proto,
            opt(e.mtu),
            opt(e.ptr)
        )
        .unwrap();
    }
    json.push(']');
    let script = r.dir.join("check.py");
    std::fs::write(&script, SCAPY_CHECK).unwrap();
    std::fs::write(r.dir.join("expect.json"), json).unwrap();
    let out = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(r.dir.join("out.pcap"))
        .arg(r.dir.join("expect.json"))
        .output()
        .expect("run scapy");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scapy disagrees:\n{stdout}\n{stderr}");
    assert!(stderr.contains(&format!("checked {} frames", r.outputs.len())), "{stderr}");
    if std::env::var_os("SIXGATE_KEEP_PCAP").is_none() {
        let _ = std::fs::remove_dir_all(&r.dir);
    }
}
