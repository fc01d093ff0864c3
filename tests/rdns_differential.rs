//! Reverse names agree with two independent implementations on random addresses: Python's
//! `ipaddress` (`reverse_pointer`, stdlib) and `ipv6calc --out revnibbles.arpa` /
//! `--out revipv4`. Each tool runs once over a batch. The seed changes per run and is
//! printed (set SIXGATE_SEED to replay). Skips, with a printed reason, when a tool is missing.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use sixgate::rdns::{parse_arpa, reverse_name, ReverseName};

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn seed() -> u64 {
    let s = std::env::var("SIXGATE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    println!("SIXGATE_SEED={s}");
    s
}

/// SplitMix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Random addresses with many zero runs (the shapes text forms get wrong), plus edge cases.
fn addresses(seed: u64) -> (Vec<Ipv6Addr>, Vec<Ipv4Addr>) {
    let mut r = Rng(seed);
    let mut v6: Vec<Ipv6Addr> =
        ["::", "::1", "::ffff:192.0.2.1", "2002:4acf:fe10::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
            .iter()
            .map(|s| s.parse().expect("addr"))
            .collect();
    let mut v4: Vec<Ipv4Addr> =
        ["0.0.0.0", "255.255.255.255", "192.0.2.1", "10.0.0.10"].iter().map(|s| s.parse().expect("addr")).collect();
    for _ in 0..3000 {
        let mask = r.next() as u8;
        let mut g = [0u16; 8];
        for (i, s) in g.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *s = r.next() as u16;
            }
        }
        v6.push(Ipv6Addr::from(g));
        v4.push(Ipv4Addr::from(r.next() as u32));
    }
    (v6, v4)
}

fn run(tool: &PathBuf, args: &[&str], input: &str) -> Vec<String> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tool");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("tool output");
    writer.join().expect("writer thread").expect("write stdin");
    assert!(out.status.success(), "{tool:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").lines().map(str::to_owned).collect()
}

fn lines<T: ToString>(v: &[T]) -> String {
    v.iter().map(|a| a.to_string() + "\n").collect()
}

#[test]
fn agrees_with_python_ipaddress() {
    let Some(py) = find_tool("python3") else {
        eprintln!("SKIP: python3 not found");
        return;
    };
    let (v6, v4) = addresses(seed());
    let all: Vec<IpAddr> = v6.iter().map(|&a| IpAddr::V6(a)).chain(v4.iter().map(|&a| IpAddr::V4(a))).collect();
    let script =
        "import sys, ipaddress\nfor l in sys.stdin:\n    print(ipaddress.ip_address(l.strip()).reverse_pointer)\n";
    let theirs = run(&py, &["-c", script], &lines(&all));
    assert_eq!(theirs.len(), all.len());
    for (a, t) in all.iter().zip(&theirs) {
        // Python omits the root's trailing dot.
        assert_eq!(reverse_name(*a), format!("{t}."), "{a}");
        assert_eq!(parse_arpa(t).expect("parse python's name"), ReverseName::Addr(*a));
    }
}

#[test]
fn agrees_with_ipv6calc() {
    let Some(calc) = find_tool("ipv6calc") else {
        eprintln!("SKIP: ipv6calc not found (Debian package ipv6calc)");
        return;
    };
    let (v6, v4) = addresses(seed());
    let theirs = run(&calc, &["-q", "--in", "ipv6addr", "--out", "revnibbles.arpa"], &lines(&v6));
    assert_eq!(theirs.len(), v6.len());
    for (a, t) in v6.iter().zip(&theirs) {
        assert_eq!(&reverse_name(IpAddr::V6(*a)), t, "{a}");
        assert_eq!(parse_arpa(t).expect("parse ipv6calc's name"), ReverseName::Addr(IpAddr::V6(*a)));
    }
    let theirs = run(&calc, &["-q", "--in", "ipv4addr", "--out", "revipv4"], &lines(&v4));
    assert_eq!(theirs.len(), v4.len());
    for (a, t) in v4.iter().zip(&theirs) {
        assert_eq!(&reverse_name(IpAddr::V4(*a)), t, "{a}");
    }
}

/// A whole template zone body (owners relative to a /64 origin, `{dashed}` names) equals what
/// a Python `ipaddress` script writes for the same range.
#[test]
fn template_zone_body_agrees_with_python() {
    use sixgate::rdns::plan::Zone;
    use sixgate::rdns::template::{AddrRange, Template};
    use sixgate::rdns::zone::{write_template, ZoneHeader, ZoneWriter};

    let Some(py) = find_tool("python3") else {
        eprintln!("SKIP: python3 not found");
        return;
    };
    let mut r = Rng(seed());
    // Start somewhere in the /64 with some zero groups, so RFC 5952 compression varies.
    let g = [0x2001, 0xdb8, 0, 0, (r.next() as u16) & 0x1, 0, (r.next() as u16) & 0xff, r.next() as u16];
    let first = Ipv6Addr::from(g);
    let count = 3000u128;
    let last = Ipv6Addr::from(u128::from(first) + count - 1);
    let zone = Zone::single("2001:db8::/64".parse().expect("prefix")).expect("zone");
    let header = ZoneHeader::new(vec!["ns1.example.net.".into()], "hostmaster.example.net.".into());
    let mut w = ZoneWriter::new(zone, &header, Vec::new()).expect("header");
    let t = Template::parse("host-{dashed}.example.net.", None).expect("template");
    let range = AddrRange::new(IpAddr::V6(first), IpAddr::V6(last)).expect("range");
    write_template(&mut w, &t, &range, 1 << 20).expect("write");
    let ours = String::from_utf8(w.finish().expect("finish").0).expect("utf-8");
    let ours: Vec<&str> = ours.lines().filter(|l| l.contains("\tPTR\t")).collect();

    let script = "import sys, ipaddress\n\
                  first, n = int(ipaddress.IPv6Address(sys.argv[1])), int(sys.argv[2])\n\
                  for i in range(n):\n    a = ipaddress.IPv6Address(first + i)\n    \
                  d = str(a).replace(':', '-')\n    d = ('0' + d) if d.startswith('-') else d\n    \
                  d = (d + '0') if d.endswith('-') else d\n    \
                  print(f'{a.reverse_pointer[:31]}\\tIN\\tPTR\\thost-{d}.example.net.')\n";
    let theirs = run(&py, &["-c", script, &first.to_string(), &count.to_string()], "");
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o, t, "range starting at {first}");
    }
}
