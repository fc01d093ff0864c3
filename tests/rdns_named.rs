//! End to end with a real server: BIND's `named` serves zones written by sixgate-rdns on
//! 127.0.0.1 (high port, temporary directory) and `dig -x` must return every expected PTR,
//! follow RFC 2317 CNAMEs into a classless child zone, and give NXDOMAIN for an address
//! without a record. The server is killed by a Drop guard, even when an assertion fails;
//! every wait is bounded. Skips, with a printed reason, when `named` or `dig` is missing.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// Kills and reaps the server when dropped.
struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP at the time of asking.
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        if port > 1024 && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port")
}

fn header() -> ZoneHeader {
    let mut h = ZoneHeader::new(vec!["ns1.example.net.".into()], "hostmaster.example.net.".into());
    h.serial = 2026010100;
    h
}

fn write_zone(dir: &Path, file: &str, zone: Zone, fill: impl FnOnce(&mut ZoneWriter<Vec<u8>>), extra: &[String]) {
    let mut w = ZoneWriter::new(zone, &header(), Vec::new()).expect("header");
    fill(&mut w);
    let mut text = w.finish().expect("finish").0;
    for l in extra {
        text.extend_from_slice(l.as_bytes());
        text.push(b'\n');
    }
    std::fs::write(dir.join(file), text).expect("write zone");
}

fn dig(dig: &Path, port: u16, extra: &[&str]) -> String {
    let out = Command::new(dig)
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=2", "+tries=2"])
        .args(extra)
        .output()
        .expect("run dig");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn named_serves_generated_zones() {
    let (Some(named), Some(dig_bin)) = (find_tool("named"), find_tool("dig")) else {
        eprintln!("SKIP: named or dig not found (Debian packages bind9, bind9-dnsutils)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();

    // Zone 1: an IPv6 /64 from a hosts file (the 6to4 example among them).
    let z6 = Zone::single("2002:4acf:fe10::/64".parse().expect("prefix")).expect("zone");
    let mut expected: BTreeMap<IpAddr, String> = BTreeMap::new();
    let mut hosts = String::from("2002:4acf:fe10::1 host.example.net.\n");
    expected.insert("2002:4acf:fe10::1".parse().expect("addr"), "host.example.net.".into());
    let base = u128::from("2002:4acf:fe10::".parse::<Ipv6Addr>().expect("addr"));
    for i in 1..40u128 {
        let a = IpAddr::V6(Ipv6Addr::from(base | (i * 0x1_0000_0001)));
        hosts.push_str(&format!("{a} h{i}\n"));
        expected.insert(a, format!("h{i}.example.net."));
    }
    let mut set = PtrSet::new(z6, Some("example.net".into()));
    set.add_hosts(&hosts);
    let (ptrs, problems) = set.finish();
    assert!(problems.is_empty(), "{problems:?}");
    write_zone(d, "v6.zone", z6, |w| ptrs.iter().for_each(|p| w.ptr(p.addr, &p.name).expect("ptr")), &[]);

    // Zone 2: a /24 parent with an RFC 2317 delegation of .64/26 and one PTR of its own.
    let parent = Zone::single("192.0.2.0/24".parse().expect("prefix")).expect("zone");
    let child = Zone::single("192.0.2.64/26".parse().expect("prefix")).expect("zone");
    let deleg = delegations(child.net(), &["ns1.example.net.".into()]);
    write_zone(
        d,
        "v4.zone",
        parent,
        |w| w.ptr("192.0.2.1".parse().expect("a"), "gw.example.net.").expect("ptr"),
        &deleg,
    );
    expected.insert("192.0.2.1".parse().expect("addr"), "gw.example.net.".into());
    // Zone 3: the classless child, from a template over .64-.79.
    let t = Template::parse("c-{dashed}.example.net.", None).expect("template");
    let range = AddrRange::parse("192.0.2.64-192.0.2.79").expect("range");
    write_zone(
        d,
        "child.zone",
        child,
        |w| {
            write_template(w, &t, &range, 64).expect("template");
        },
        &[],
    );
    for i in 64..80u8 {
        expected.insert(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)), format!("c-192-0-2-{i}.example.net."));
    }

    let port = free_port();
    let conf = format!(
        "options {{\n  directory \"{dir}\";\n  pid-file none;\n  listen-on port {port} {{ 127.0.0.1; }};\n  \
         listen-on-v6 {{ none; }};\n  recursion no;\n  dnssec-validation no;\n  notify no;\n}};\n\
         controls {{ }};\n\
         zone \"{z6}\" {{ type primary; file \"v6.zone\"; }};\n\
         zone \"{zp}\" {{ type primary; file \"v4.zone\"; }};\n\
         zone \"{zc}\" {{ type primary; file \"child.zone\"; }};\n",
        dir = d.display(),
        z6 = z6.origin(),
        zp = parent.origin(),
        zc = child.origin(),
    );
    std::fs::write(d.join("named.conf"), conf).expect("write conf");
    // -g: foreground, log to stderr, no daemon (and as root, no privilege drop is needed
    // for a high port).
    let server = Server(
        Command::new(&named)
            .arg("-g")
            .arg("-c")
            .arg(d.join("named.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("named.log")).expect("log file"))
            .spawn()
            .expect("start named"),
    );
    let log = || std::fs::read_to_string(d.join("named.log")).unwrap_or_default();

    // Wait (bounded) until the server answers for the v6 zone's SOA.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if dig(&dig_bin, port, &["+short", "+time=1", "+tries=1", "SOA", &z6.origin()]).contains("ns1.example.net.") {
            break;
        }
        assert!(Instant::now() < deadline, "named did not come up:\n{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }

    // One dig run, one -x query per expected address.
    let mut args: Vec<String> = vec!["+noall".into(), "+answer".into()];
    for a in expected.keys() {
        args.push("-x".into());
        args.push(a.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let answer = dig(&dig_bin, port, &args);
    let records = |text: &str, rtype: &str| -> BTreeMap<String, String> {
        text.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() == 5 && f[3] == rtype)
            .map(|f| (f[0].to_owned(), f[4].to_owned()))
            .collect()
    };
    let got = records(&answer, "PTR");
    let cnames = records(&answer, "CNAME");
    // The classless child's PTRs are reached through the parent's CNAMEs (RFC 2317 §4); an
    // authoritative-only server answers with the CNAME and the resolver follows it, so we
    // follow it here with a second query.
    let mut child_owners = Vec::new();
    for (a, name) in &expected {
        let rev = sixgate::rdns::reverse_name(*a);
        match a {
            IpAddr::V4(v) if child.contains(*a) => {
                let owner = format!("{}.{}", v.octets()[3], child.origin());
                assert_eq!(cnames.get(&rev), Some(&owner), "CNAME for {a}; dig said:\n{answer}");
                child_owners.push((owner, name));
            }
            _ => assert_eq!(got.get(&rev), Some(name), "PTR for {a} ({rev}); dig said:\n{answer}"),
        }
    }
    assert_eq!(cnames.len(), 16, "{answer}");
    let mut args: Vec<&str> = vec!["+noall", "+answer"];
    for (owner, _) in &child_owners {
        args.extend([owner.as_str(), "PTR"]);
    }
    let answer = dig(&dig_bin, port, &args);
    let got = records(&answer, "PTR");
    for (owner, name) in &child_owners {
        assert_eq!(got.get(owner), Some(*name), "PTR {owner}; dig said:\n{answer}");
    }

    // Addresses without a record: NXDOMAIN.
    for a in ["2002:4acf:fe10::dead", "192.0.2.2", "192.0.2.200"] {
        let out = dig(&dig_bin, port, &["+noall", "+comments", "-x", a]);
        assert!(out.contains("status: NXDOMAIN"), "{a}: {out}");
    }
    // 192.0.2.80 is in the child's block (so the parent has its CNAME) but has no PTR there.
    let owner80 = format!("80.{}", child.origin());
    let out = dig(&dig_bin, port, &["+noall", "+comments", &owner80, "PTR"]);
    assert!(out.contains("status: NXDOMAIN"), "{owner80}: {out}");
    drop(server);
}
