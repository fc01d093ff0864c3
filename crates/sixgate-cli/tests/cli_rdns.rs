//! `sixgate rdns …` end to end through the binary.

use std::process::{Command, Output};

fn sixgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sixgate")).args(args).output().expect("run sixgate")
}

fn ok(args: &[&str]) -> String {
    let o = sixgate(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).expect("utf-8 output")
}

/// Runs a command that must fail with exit 2 and one stderr line; returns that line.
fn bad(args: &[&str]) -> String {
    let o = sixgate(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8(o.stderr).expect("utf-8 stderr");
    assert!(err.starts_with("sixgate: ") && err.lines().count() == 1, "{err}");
    err
}

#[test]
fn name_and_parse() {
    assert_eq!(
        ok(&["rdns", "name", "2002:4acf:fe10::1"]),
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa.\n"
    );
    assert_eq!(ok(&["rdns", "name", "192.0.2.1"]), "1.2.0.192.in-addr.arpa.\n");
    assert_eq!(ok(&["rdns", "name", "2002:4acf:fe10::/48"]), "0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa.\n");
    assert_eq!(ok(&["rdns", "parse", "0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa."]), "2002:4acf:fe10::/48\n");
    assert_eq!(ok(&["rdns", "parse", "1.2.0.192.IN-ADDR.ARPA"]), "192.0.2.1\n");
    assert!(ok(&["rdns", "parse", "0/25.2.0.192.in-addr.arpa."]).starts_with("192.0.2.0/25 "));
    assert!(bad(&["rdns", "parse", "1.g.ip6.arpa."]).contains("\"g\""));
    assert!(bad(&["rdns", "parse", "1.2.0.192.example."]).contains("1.2.0.192.example."));
    assert!(bad(&["rdns", "name", "fe80::1%eth0"]).contains("zone index"));
    assert!(bad(&["rdns", "name", "2001:db8::/200"]).contains("2001:db8::/200"));
}

#[test]
fn zones_and_delegations() {
    let z = ok(&["rdns", "zones", "2001:db8::/50"]);
    assert_eq!(z.lines().count(), 4);
    assert!(z.starts_with("0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.\t2001:db8::/52\n"), "{z}");
    assert_eq!(ok(&["rdns", "zones", "2001:db8::/127"]).lines().count(), 2);
    let d = ok(&["rdns", "zones", "192.0.2.128/25", "--ns", "ns1", "--domain", "example.net"]);
    assert_eq!(d.lines().count(), 1 + 128);
    assert!(d.starts_with("128/25.2.0.192.in-addr.arpa.\tIN\tNS\tns1.example.net.\n"), "{d}");
    assert!(d.contains("\n200.2.0.192.in-addr.arpa.\tIN\tCNAME\t200.128/25.2.0.192.in-addr.arpa.\n"));
    assert!(bad(&["rdns", "zones", "192.0.2.0/24", "--ns", "ns1"]).contains("relative"));
}

const ZONE: &[&str] =
    &["rdns", "zone", "--ns", "ns1.example.net.", "--hostmaster", "hostmaster@example.net", "--serial", "2026010101"];

fn zone(extra: &[&str]) -> Output {
    let args: Vec<&str> = ZONE.iter().chain(extra).copied().collect();
    sixgate(&args)
}

#[test]
fn zone_from_hosts_with_warnings_and_strict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        "# lab\n2001:db8::2 two\n2001:db8::1 one.example.net.\n2001:db9::1 away\n2001:db8::1 other\n",
    )
    .expect("write hosts");
    let h = hosts.to_str().expect("utf-8 path");
    let o = zone(&["2001:db8::/64", "--domain", "example.net", "--hosts", h]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).expect("utf-8");
    let ptrs: Vec<&str> = text.lines().filter(|l| l.contains("\tPTR\t")).collect();
    assert_eq!(
        ptrs,
        [
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0\tIN\tPTR\tone.example.net.",
            "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0\tIN\tPTR\ttwo.example.net."
        ]
    );
    let err = String::from_utf8(o.stderr).expect("utf-8");
    assert!(err.contains(&format!("warning: {h}:4: 2001:db9::1 is outside zone")), "{err}");
    assert!(err.contains(&format!("warning: {h}:5: 2001:db8::1 already has name one.example.net. ({h}:3)")), "{err}");
    // --strict: the same input is refused, nothing is written.
    let out = dir.path().join("z.zone");
    let o = zone(&[
        "2001:db8::/64",
        "--domain",
        "example.net",
        "--hosts",
        h,
        "--strict",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 problem(s)"));
}

#[test]
fn zone_refusals() {
    let refused = |extra: &[&str], needle: &str| {
        let o = zone(extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{extra:?}: {err}");
    };
    refused(&["2001:db8::/50"], "covered by 4 zones");
    refused(&["2001:db8::/64", "--template", "h-{dashed}.x.", "--limit", "1000"], "more than the limit of 1000");
    refused(&["2001:db8::/120", "--template", "h-{bogus}.x."], "unknown placeholder {bogus}");
    refused(&["2001:db8::/120", "--template", "h-{dashed}"], "relative");
    refused(&["2001:db8::/120", "--template", "h-{dashed}.x.", "--range", "2001:db9::/120"], "not inside zone");
    refused(&["2001:db8::/120", "--hosts", "/nonexistent/hosts"], "cannot read");
    refused(&["2001:db8::/120", "--retry", "90000"], "retry < refresh < expire");
}

#[test]
fn zone_from_template_and_forward_zone() {
    let o = zone(&["192.0.2.0/24", "--template", "host-{dashed}.example.net.", "--range", "192.0.2.8-192.0.2.11"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).expect("utf-8");
    let owners: Vec<&str> =
        text.lines().filter(|l| l.contains("\tPTR\t")).filter_map(|l| l.split('\t').next()).collect();
    // RFC 4034 §6.1 order of the labels "10" "11" "8" "9".
    assert_eq!(owners, ["10", "11", "8", "9"]);
    assert!(text.contains("$ORIGIN 2.0.192.in-addr.arpa.\n") && text.contains("2026010101\t; serial"));

    let dir = tempfile::tempdir().expect("tempdir");
    let fwd = dir.path().join("example.net.zone");
    std::fs::write(&fwd, "$TTL 300\n@ IN SOA ns1 hm 1 2 3 4 5\nwww IN AAAA 2001:db8::80\nwww IN A 192.0.2.80\n")
        .expect("write zone");
    let o = zone(&["2001:db8::/64", "--domain", "example.net", "--forward-zone", fwd.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).expect("utf-8");
    assert!(text.contains("0.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0\tIN\tPTR\twww.example.net.\n"), "{text}");

    // -o: the file is written whole, and no temporary file is left behind.
    let out = dir.path().join("rev.zone");
    let o = zone(&["192.0.2.0/24", "--template", "h{v4}.example.net.", "-o", out.to_str().expect("utf-8")]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrote 256 PTR record(s)"));
    let text = std::fs::read_to_string(&out).expect("zone written");
    assert_eq!(text.lines().filter(|l| l.contains("\tPTR\t")).count(), 256);
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).expect("dir").filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

/// Whether `tool` is on PATH.
fn common_tool(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| d.join(tool).is_file())
}

/// The zone command without a fixed serial.
fn zone_no_serial(extra: &[&str]) -> Output {
    let args: Vec<&str> = ZONE[..ZONE.len() - 2].iter().chain(extra).copied().collect();
    sixgate(&args)
}

fn serial_of(path: &std::path::Path) -> u32 {
    let text = std::fs::read_to_string(path).expect("zone");
    let line = text.lines().find(|l| l.contains("; serial")).expect("serial line");
    line.split_whitespace().next().and_then(|n| n.parse().ok()).expect("serial")
}

/// With several hosts files, warnings say FILE:LINE; a hosts name that already has a dot is
/// not qualified again; a long value is cut, never the message.
#[test]
fn zone_hosts_files_named_dotted_names_and_whole_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a.hosts"), dir.path().join("b.hosts"));
    std::fs::write(&a, "2001:db8::1 hyosine.example.net hyosine\n2001:db8::2 two\n").expect("write");
    let long = "x".repeat(300);
    // 208 characters, with a dot (so fully qualified), and an underscore at the end.
    let dotted = format!("{}a_b", format!("{}.", "x".repeat(40)).repeat(5));
    std::fs::write(&b, format!("# b\n2001:db8::1 other\n2001:db8::3 {dotted}\n")).expect("write");
    let (ha, hb) = (a.to_str().expect("utf-8"), b.to_str().expect("utf-8"));
    let o = zone(&["2001:db8::/64", "--domain", "example.net", "--hosts", ha, "--hosts", hb]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).expect("utf-8");
    assert!(text.contains("\tPTR\thyosine.example.net.\n"), "{text}");
    assert!(!text.contains("example.net.example.net"), "{text}");
    let err = String::from_utf8(o.stderr).expect("utf-8");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].contains(&format!("{hb}:2: 2001:db8::1 already has name hyosine.example.net. ({ha}:1)")), "{err}");
    assert!(lines[1].contains(&format!("{hb}:3: ")), "{err}");
    assert!(lines[1].ends_with("only letters, digits and hyphens are allowed (RFC 1035 §2.3.1)"), "{err}");
    assert!(lines[1].len() < 300 && lines[1].contains('…'), "{err}");
    // A single label without --domain: the whole message, the value cut.
    std::fs::write(&b, format!("2001:db8::9 {long}\n")).expect("write");
    let o = zone(&["2001:db8::/64", "--hosts", hb]);
    let err = String::from_utf8(o.stderr).expect("utf-8");
    assert!(err.trim_end().ends_with("and no domain was given to qualify it"), "{err}");
}

/// Rewriting a zone with -o bumps the existing file's serial (RFC 1982): date serials stay
/// date serials, others count up; a --serial that goes backwards is warned about.
#[test]
fn zone_rewrite_bumps_the_serial() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("rev.zone");
    let o_ = out.to_str().expect("utf-8");
    let args = ["192.0.2.0/24", "--template", "h{v4}.example.net.", "--range", "192.0.2.1-192.0.2.2", "-o", o_];
    let o = zone_no_serial(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = serial_of(&out);
    assert_eq!(first % 100, 0, "a new zone gets YYYYMMDD00: {first}");
    let o = zone_no_serial(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(serial_of(&out), first + 1, "the same day's rewrite must bump the serial");
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("after {first} in")));
    // BIND loads the rewritten zone with the new serial.
    if common_tool("named-checkzone") {
        let o = Command::new("named-checkzone").args(["2.0.192.in-addr.arpa", o_]).output().expect("named-checkzone");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && out.contains(&format!("loaded serial {}", first + 1)), "{out}");
    } else {
        eprintln!("skipping the named-checkzone part: named-checkzone not installed");
    }
    // An RFC 2317 child zone ('/' in its name) is rewritten the same way.
    let child = dir.path().join("child.zone");
    let c_ = child.to_str().expect("utf-8");
    let child_args =
        ["192.0.2.128/25", "--template", "h{v4}.example.net.", "--range", "192.0.2.129-192.0.2.130", "-o", c_];
    assert!(zone_no_serial(&child_args).status.success());
    let c1 = serial_of(&child);
    let o = zone_no_serial(&child_args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(serial_of(&child), c1 + 1);
    // A counter serial counts up.
    let text =
        std::fs::read_to_string(&out).expect("zone").replace(&format!("{}\t; serial", first + 1), "41\t; serial");
    std::fs::write(&out, text).expect("write");
    assert!(zone_no_serial(&args).status.success());
    assert_eq!(serial_of(&out), 42);
    // An explicit serial that is not after the existing one: written, with a warning.
    let mut with_serial = args.to_vec();
    with_serial.extend(["--serial", "7"]);
    let o = zone_no_serial(&with_serial);
    assert!(o.status.success());
    assert_eq!(serial_of(&out), 7);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not after the serial 42"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // An unreadable existing file is not silently replaced.
    std::fs::write(&out, "@ IN SOA ((( garbage\n").expect("write");
    let o = zone_no_serial(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read the SOA serial"));
    assert_eq!(std::fs::read_to_string(&out).expect("kept"), "@ IN SOA ((( garbage\n");
}

/// -o never overwrites an input file, also through a symbolic link.
#[test]
fn zone_output_is_never_an_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hosts = dir.path().join("hosts");
    let body = "2001:db8::1 one.example.net.\n";
    std::fs::write(&hosts, body).expect("write");
    let link = dir.path().join("link.zone");
    std::os::unix::fs::symlink(&hosts, &link).expect("symlink");
    let h = hosts.to_str().expect("utf-8");
    for out in [h, link.to_str().expect("utf-8")] {
        let e = bad(&[ZONE, &["2001:db8::/64", "--hosts", h, "-o", out]].concat());
        assert!(e.contains("is the input file") && e.contains(h), "{e}");
        assert_eq!(std::fs::read_to_string(&hosts).expect("hosts"), body);
    }
}

#[test]
fn reversed_range_says_first_after_last() {
    let e = bad(&[ZONE, &["192.0.2.0/24", "--template", "h{v4}.x.", "--range", "192.0.2.9-192.0.2.1"]].concat());
    assert!(e.contains("first > last") && e.contains("192.0.2.1-192.0.2.9"), "{e}");
}
