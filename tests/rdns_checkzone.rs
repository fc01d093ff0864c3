//! Every zone shape sixgate-rdns writes is loaded by BIND's `named-checkzone`, and the
//! canonical (DNSSEC-order) dump BIND prints lists our PTR owners in exactly the order we
//! wrote them: proof that the output is sorted in RFC 4034 §6.1 order.
//! Skips, with a printed reason, when `named-checkzone` is not installed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Command;

use sixgate::rdns::plan::{delegations, Zone};
use sixgate::rdns::template::{AddrRange, Template};
use sixgate::rdns::zone::{write_template, PtrSet, ZoneHeader, ZoneWriter};

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn header() -> ZoneHeader {
    let mut h =
        ZoneHeader::new(vec!["ns1.example.net.".into(), "ns2.example.org.".into()], "hostmaster.example.net.".into());
    h.serial = 2026010100;
    h
}

/// Tiny deterministic generator (SplitMix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn in_net(&mut self, net: ipnet::IpNet) -> IpAddr {
        let r = (u128::from(self.next()) << 64) | u128::from(self.next());
        match net {
            ipnet::IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | (r & u128::from(n.hostmask())))),
            ipnet::IpNet::V4(n) => {
                IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | (r as u32 & u32::from(n.hostmask()))))
            }
        }
    }
}

struct Checker {
    tool: PathBuf,
    dir: tempfile::TempDir,
    n: usize,
}

impl Checker {
    fn new() -> Option<Self> {
        let Some(tool) = find_tool("named-checkzone") else {
            eprintln!("SKIP: named-checkzone not found (Debian package bind9-utils)");
            return None;
        };
        Some(Self { tool, dir: tempfile::tempdir().expect("tempdir"), n: 0 })
    }

    /// Loads `text` as zone `origin`; asserts BIND accepts it and dumps exactly `expected`
    /// PTR owners (absolute), in this order. Returns the dump.
    fn check(&mut self, origin: &str, text: &str, expected: &[String]) -> String {
        self.n += 1;
        let path = self.dir.path().join(format!("z{}.zone", self.n));
        std::fs::write(&path, text).expect("write zone");
        let out = Command::new(&self.tool)
            .args(["-k", "fail", "-D", "-o", "-", origin])
            .arg(&path)
            .output()
            .expect("run named-checkzone");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "named-checkzone refused zone {origin}:\n{}\n{stdout}\n--- zone ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            text.lines().take(40).collect::<Vec<_>>().join("\n")
        );
        let owners: Vec<String> = stdout
            .lines()
            .filter(|l| l.split_whitespace().nth(3) == Some("PTR"))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect();
        assert_eq!(owners.len(), expected.len(), "PTR count in zone {origin}");
        assert!(owners == expected, "zone {origin}: BIND's canonical order differs from ours");
        stdout
    }
}

/// Writes a zone from hosts text; returns the text and the absolute PTR owners written.
fn from_hosts(zone: Zone, hosts: &str, header: &ZoneHeader) -> (String, Vec<String>) {
    let mut set = PtrSet::new(zone, Some("example.net".into()));
    set.add_hosts(hosts);
    let (ptrs, _) = set.finish();
    let mut w = ZoneWriter::new(zone, header, Vec::new()).expect("header");
    for p in &ptrs {
        w.ptr(p.addr, &p.name).expect("ptr");
    }
    let owners = ptrs.iter().map(|p| owner(zone, p.addr)).collect();
    (String::from_utf8(w.finish().expect("finish").0).expect("utf-8"), owners)
}

fn owner(zone: Zone, a: IpAddr) -> String {
    match zone.relative_owner(a).as_str() {
        "@" => zone.origin(),
        rel => format!("{rel}.{}", zone.origin()),
    }
}

fn from_template(zone: Zone, template: &str, range: &str) -> (String, Vec<String>) {
    let t = Template::parse(template, Some("example.net")).expect("template");
    let r = AddrRange::parse(range).expect("range");
    let mut w = ZoneWriter::new(zone, &header(), Vec::new()).expect("header");
    let n = write_template(&mut w, &t, &r, 1 << 20).expect("template zone");
    assert_eq!(u128::from(n), r.len());
    let mut owners = Vec::new();
    r.for_each_canonical(|a, _| {
        owners.push(owner(zone, a));
        Ok::<_, ()>(())
    })
    .expect("walk");
    (String::from_utf8(w.finish().expect("finish").0).expect("utf-8"), owners)
}

fn rtype_count(dump: &str, rtype: &str) -> usize {
    dump.lines().filter(|l| l.split_whitespace().nth(3) == Some(rtype)).count()
}

fn zone(p: &str) -> Zone {
    Zone::single(p.parse().expect("prefix")).expect("one zone")
}

#[test]
fn template_zones_load_in_bind() {
    let Some(mut c) = Checker::new() else { return };
    for (prefix, template, range) in [
        ("2001:db8:1::/48", "host-{dashed}", "2001:db8:1::f0-2001:db8:1::21b"),
        ("2001:db8::/120", "h-{hex}.example.net.", "2001:db8::/120"),
        ("2001:db8::5/128", "{dashed}.example.net.", "2001:db8::5/128"),
        ("::/0", "x{index}-{dashed}", "::-::3"),
        ("64:ff9b::/96", "nat64-{v4}", "64:ff9b::c000:200/124"),
        ("192.0.2.0/24", "host-{dashed}", "192.0.2.0/24"),
        ("10.0.0.0/16", "h{v4}.example.net.", "10.0.0.250-10.0.3.10"),
        ("10.0.0.0/8", "n{index}", "10.0.255.200-10.1.0.50"),
        ("192.0.2.128/25", "c-{dashed}", "192.0.2.128/25"),
        ("192.0.2.64/26", "c-{dashed}", "192.0.2.90-192.0.2.110"),
        ("198.51.100.7/32", "single-{dashed}", "198.51.100.7-198.51.100.7"),
    ] {
        let z = zone(prefix);
        let (text, owners) = from_template(z, template, range);
        c.check(&z.origin(), &text, &owners);
    }
}

#[test]
fn hosts_zones_load_in_bind() {
    let Some(mut c) = Checker::new() else { return };
    let mut rng = Rng(0x5158_6a7e);
    for prefix in [
        "2001:db8:aa::/48",
        "2001:db8::/64",
        "2002:4acf:fe10::/48",
        "::/0",
        "192.0.2.0/24",
        "10.0.0.0/8",
        "0.0.0.0/0",
        "192.0.2.96/27",
    ] {
        let z = zone(prefix);
        let mut hosts = String::from("# generated\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n");
        for i in 0..300 {
            let a = rng.in_net(z.net());
            hosts.push_str(&format!("{a} host{i} alias{i}\n"));
            if i % 50 == 0 {
                hosts.push_str(&format!("{a} host{i}.example.net.\n")); // exact duplicate
                hosts.push_str(&format!("{a} other{i}\n")); // conflicting duplicate
            }
        }
        let (text, owners) = from_hosts(z, &hosts, &header());
        assert!(owners.len() > 10, "{prefix}");
        c.check(&z.origin(), &text, &owners);
    }
}

#[test]
fn forward_zone_and_custom_header_load_in_bind() {
    let Some(mut c) = Checker::new() else { return };
    let fwd = "$ORIGIN example.net.\n$TTL 300\n@ IN SOA ns1 hostmaster ( 1 7200 3600 1209600 300 )\n\
               @ IN NS ns1\nns1 IN AAAA 2001:db8::53\nns1 IN A 192.0.2.53\nwww 600 IN AAAA 2001:db8::80\n\
               www IN A 192.0.2.80\nmail IN AAAA 2001:db8::25\nmail IN A 192.0.2.25\nfar IN AAAA 2001:db9::1\n";
    let mut h = header();
    h.hostmaster = sixgate::rdns::hostname::rname("first.last@example.net", None).expect("rname");
    (h.ttl, h.refresh, h.retry, h.expire, h.minimum) = (600, 3600, 600, 1_209_600, 60);
    for prefix in ["2001:db8::/64", "192.0.2.0/24", "192.0.2.0/25"] {
        let z = zone(prefix);
        let mut set = PtrSet::new(z, None);
        set.add_forward_zone(fwd, None).expect("forward zone");
        let (ptrs, _) = set.finish();
        assert_eq!(ptrs.len(), 3, "{prefix}");
        let mut w = ZoneWriter::new(z, &h, Vec::new()).expect("header");
        for p in &ptrs {
            w.ptr(p.addr, &p.name).expect("ptr");
        }
        let text = String::from_utf8(w.finish().expect("finish").0).expect("utf-8");
        let owners: Vec<String> = ptrs.iter().map(|p| owner(z, p.addr)).collect();
        let dump = c.check(&z.origin(), &text, &owners);
        assert!(dump.contains("first\\.last.example.net. 2026010100 3600 600 1209600 60"), "{dump}");
    }
}

#[test]
fn parent_zones_with_delegations_load_in_bind() {
    let Some(mut c) = Checker::new() else { return };
    let ns = ["ns1.example.net.".to_owned(), "ns2.example.org.".to_owned()];
    // An IPv4 /24 parent delegating two RFC 2317 children, and keeping PTRs for the rest.
    let parent = zone("192.0.2.0/24");
    let mut text = String::from_utf8(ZoneWriter::new(parent, &header(), Vec::new()).expect("h").finish().expect("f").0)
        .expect("utf-8");
    for child in ["192.0.2.64/26", "192.0.2.128/25"] {
        for line in delegations(child.parse().expect("prefix"), &ns) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text.push_str("1\tIN\tPTR\tgw.example.net.\n");
    let dump = c.check(&parent.origin(), &text, &["1.2.0.192.in-addr.arpa.".to_owned()]);
    assert_eq!(rtype_count(&dump, "CNAME"), 64 + 128);
    assert_eq!(rtype_count(&dump, "NS"), 2 + 2 * 2);
    // An IPv6 /48 parent delegating the four /52s of a /50.
    let parent = zone("2001:db8::/48");
    let mut text = String::from_utf8(ZoneWriter::new(parent, &header(), Vec::new()).expect("h").finish().expect("f").0)
        .expect("utf-8");
    for line in delegations("2001:db8::/50".parse().expect("prefix"), &ns) {
        text.push_str(&line);
        text.push('\n');
    }
    let dump = c.check(&parent.origin(), &text, &[]);
    assert_eq!(rtype_count(&dump, "NS"), 2 + 4 * 2);
}
