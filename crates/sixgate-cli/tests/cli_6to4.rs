//! CLI tests of `sixgate 6to4`, `6rd`, `addr` and `tunnel-config`, run against the built
//! binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn sixgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sixgate")).args(args).output().expect("run sixgate")
}

fn sixgate_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sixgate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sixgate");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    // Write from a thread: the child's stdout pipe fills while we are still writing.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait");
    // The child may stop reading early (it stops at a bad line): a broken pipe is fine.
    let _ = writer.join();
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("UTF-8 stderr")
}

/// Asserts a refusal: exit status 2, nothing on stdout, exactly one line on stderr
/// containing every one of `needles`.
fn assert_refused(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(o.stdout.is_empty(), "stdout: {}", stdout(o));
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err:?}");
    }
}

#[test]
fn sixtofour_single() {
    let o = sixgate(&["6to4", "74.207.254.16"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in ["2002:4acf:fe10::/48", "2002:4acf:fe10::1", "65536", "0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa."] {
        assert!(out.contains(want), "{want:?} not in\n{out}");
    }
    assert_eq!(out.matches("RFC 7526").count(), 1, "{out}");
}

#[test]
fn sixtofour_json() {
    let o = sixgate(&["6to4", "--json", "74.207.254.16"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["prefix"], "2002:4acf:fe10::/48");
    assert_eq!(v["first_host"], "2002:4acf:fe10::1");
    assert_eq!(v["subnets_64"], 65536);
    assert_eq!(v["reverse_zone"], "0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa.");
    assert_eq!(v["class"]["global"], true);
}

#[test]
fn sixtofour_refuses_non_global() {
    for (a, class, rfc) in [
        ("10.1.2.3", "private-use", "RFC 1918"),
        ("100.64.0.1", "shared address space", "RFC 6598"),
        ("192.0.2.1", "documentation", "RFC 5737"),
    ] {
        assert_refused(&sixgate(&["6to4", a]), &[a, class, rfc, "--allow-non-global"]);
        let o = sixgate(&["6to4", "--allow-non-global", a]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(
        stdout(&sixgate(&["6to4", "--allow-non-global", "10.1.2.3"])).lines().nth(1),
        Some("6to4 prefix    2002:a01:203::/48")
    );
}

#[test]
fn bad_input_is_one_line_exit_2() {
    assert_refused(&sixgate(&["6to4", "74.207.254.300"]), &["\"74.207.254.300\"", "not an IPv4 address"]);
    assert_refused(&sixgate(&["6to4", "2001:db8::1"]), &["2001:db8::1", "IPv6"]);
    assert_refused(&sixgate(&["addr", "nonsense"]), &["\"nonsense\""]);
    assert_refused(
        &sixgate(&["6rd", "--prefix", "2001:db8::1/32", "--ipv4-mask-len", "8", "10.1.1.1"]),
        &["2001:db8::1/32", "host bits"],
    );
    assert_refused(&sixgate(&["6rd", "--prefix", "2001:db8::/40", "10.1.1.1"]), &["/72", "RFC 5969"]);
    assert_refused(&sixgate(&["6rd", "--prefix", "2001:db8::/32", "--ipv4-mask-len", "33", "10.1.1.1"]), &["33"]);
}

#[test]
fn batch_mode() {
    let o = sixgate_stdin(&["6to4", "-"], b"74.207.254.16\n8.8.8.8\r\n\n1.0.0.1\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "2002:4acf:fe10::/48\n2002:808:808::/48\n2002:100:1::/48\n");
    assert!(o.stderr.is_empty());

    let o = sixgate_stdin(&["6to4", "-"], b"8.8.8.8\n10.0.0.1\n1.1.1.1\n");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "2002:808:808::/48\n2002:101:101::/48\n");
    let err = stderr(&o);
    assert!(err.contains("line 2") && err.contains("10.0.0.1") && err.contains("RFC 1918"), "{err}");

    let o = sixgate_stdin(&["6to4", "--allow-non-global", "-"], b"10.0.0.1\n");
    assert_eq!(stdout(&o), "2002:a00:1::/48\n");
}

/// Batch mode goes on past bad lines (each reported with its number, the value cut short and
/// escaped), skips comments and blank lines, and says in its exit status that some failed.
#[test]
fn batch_mode_reports_every_bad_line_and_goes_on() {
    let mut input = b"# resolvers\n8.8.8.8\n\n10.1.1.1\n".to_vec();
    input.extend(std::iter::repeat_n(0x1bu8, 5000));
    input.extend_from_slice(b"\xff\n1.1.1.1   # cloudflare\n");
    let o = sixgate_stdin(&["6to4", "-"], &input);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stdout(&o), "2002:808:808::/48\n2002:101:101::/48\n");
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].contains("line 4: 10.1.1.1 is private-use"), "{err}");
    assert!(lines[1].contains("line 5: \"\\u{1b}\\u{1b}") && lines[1].contains("…\" is not an IPv4 address"), "{err}");
    assert!(lines[1].len() < 500 && !lines[1].contains('\u{1b}'), "not cut or not escaped: {err:?}");
    assert!(lines[2].contains("2 of 4") && lines[2].contains("--allow-non-global"), "{err}");
    // All good: exit 0, nothing on stderr.
    let o = sixgate_stdin(&["6to4", "-"], b"# only a comment\n\n8.8.8.8 # trailing\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "2002:808:808::/48\n");
    assert!(o.stderr.is_empty());
}

/// `--json` in batch mode writes JSON Lines: one object per good line, with its line number.
#[test]
fn batch_mode_json_lines() {
    let o = sixgate_stdin(&["6to4", "--json", "-"], b"8.8.8.8\nnope\n1.1.1.1\n");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let objs: Vec<serde_json::Value> =
        stdout(&o).lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(objs.len(), 2);
    assert_eq!((objs[0]["line"].as_u64(), objs[0]["prefix"].as_str()), (Some(1), Some("2002:808:808::/48")));
    assert_eq!((objs[1]["line"].as_u64(), objs[1]["prefix"].as_str()), (Some(3), Some("2002:101:101::/48")));
    assert!(stderr(&o).contains("line 2: \"nope\" is not an IPv4 address"), "{}", stderr(&o));
}

#[test]
fn batch_mode_large_input_crosses_buffers() {
    let n = 100_000u32;
    let mut input = String::new();
    let mut want = String::new();
    for i in 0..n {
        let a = std::net::Ipv4Addr::from(0x0800_0000u32 + i * 97);
        input.push_str(&format!("{a}\n"));
        let o = a.octets();
        let (hi, lo) = (u16::from_be_bytes([o[0], o[1]]), u16::from_be_bytes([o[2], o[3]]));
        want.push_str(&if lo == 0 { format!("2002:{hi:x}::/48\n") } else { format!("2002:{hi:x}:{lo:x}::/48\n") });
    }
    let o = sixgate_stdin(&["6to4", "-"], input.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o) == want, "batch output differs");
}

#[test]
fn sixrd_forward_and_reverse() {
    let o = sixgate(&["6rd", "--prefix", "2001:db8::/32", "--ipv4-mask-len", "8", "10.100.100.1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("2001:db8:6464:100::/56"), "{}", stdout(&o));

    let o = sixgate(&[
        "6rd",
        "--prefix",
        "2001:db8::/32",
        "--ipv4-mask-len",
        "8",
        "--relay",
        "10.0.0.0/8",
        "--json",
        "2001:db8:64c8:200::/56",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["ce_ipv4"], "10.100.200.2");
    assert_eq!(v["delegated_prefix"], "2001:db8:64c8:200::/56");

    // Reverse without the common IPv4 bits is refused, naming what is missing.
    assert_refused(
        &sixgate(&["6rd", "--prefix", "2001:db8::/32", "--ipv4-mask-len", "8", "2001:db8:6464:100::1"]),
        &["relay prefix"],
    );
    // A CE outside the relay prefix.
    assert_refused(
        &sixgate(&["6rd", "--prefix", "2001:db8::/32", "--ipv4-mask-len", "8", "--relay", "10.0.0.1", "11.1.1.1"]),
        &["11.1.1.1", "10.0.0.0/8"],
    );
}

#[test]
fn addr_explains_teredo_and_friends() {
    let o = sixgate(&["addr", "2001:0:4136:e378:8000:63bf:3fff:fdd2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in ["Teredo", "65.54.227.120", "192.0.2.45", "port 40000", "cone"] {
        assert!(out.contains(want), "{want:?} not in\n{out}");
    }
    let o = sixgate(&["addr", "--json", "fe80::200:5efe:c000:201"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["embedded"][0]["carrier"], "isatap");
    assert_eq!(v["embedded"][0]["ipv4"], "192.0.2.1");
    let out = stdout(&sixgate(&["addr", "64:ff9b::c000:221"]));
    assert!(out.contains("192.0.2.33") && out.contains("NAT64"), "{out}");
    let out = stdout(&sixgate(&["addr", "2002:4acf:fe10::1"]));
    assert!(out.contains("74.207.254.16") && out.contains("RFC 7526"), "{out}");
    let out = stdout(&sixgate(&["addr", "::ffff:192.0.2.1"]));
    assert!(out.contains("IPv4-mapped") && out.contains("192.0.2.1"), "{out}");
}

#[test]
fn tunnel_config_6in4_pppoe() {
    let o = sixgate(&[
        "tunnel-config",
        "6in4",
        "--local",
        "74.207.254.16",
        "--remote",
        "216.66.80.26",
        "--client",
        "2001:470:1f0a:1234::2/64",
        "--server",
        "2001:470:1f0a:1234::1",
        "--name",
        "he-ipv6",
        "--link-mtu",
        "1492",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        "iface he-ipv6 inet6 v4tunnel",
        "ip tunnel add he-ipv6 mode sit remote 216.66.80.26 local 74.207.254.16 ttl 64",
        "[NetDev]",
        "tunnels:",
        "tcp option maxseg size set 1412",
        "mtu 1472",
        "DF",
    ] {
        assert!(out.contains(want), "{want:?} not in\n{out}");
    }
    let o = sixgate(&[
        "tunnel-config",
        "6in4",
        "--local",
        "74.207.254.16",
        "--remote",
        "216.66.80.26",
        "--client",
        "2001:470:1f0a:1234::2/64",
        "--server",
        "2001:470:1f0a:1234::1",
        "--format",
        "iproute2",
    ]);
    let out = stdout(&o);
    assert!(out.starts_with("# iproute2") && !out.contains("[NetDev]"), "{out}");
}

#[test]
fn tunnel_config_6to4() {
    let o = sixgate(&["tunnel-config", "6to4", "--local", "74.207.254.16"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("ip tunnel add tun6to4 mode sit remote any local 74.207.254.16 ttl 64"), "{out}");
    assert!(out.contains("2002:4acf:fe10::1/16") && out.contains("mtu 1480"), "{out}");
    assert_eq!(out.matches("RFC 7526").count(), 1, "{out}");
    for format in ["ifupdown", "iproute2", "networkd", "netplan", "nftables"] {
        let out = stdout(&sixgate(&["tunnel-config", "6to4", "--local", "74.207.254.16", "--format", format]));
        assert_eq!(out.matches("RFC 7526").count(), 1, "{format}: {out}");
    }
    assert_refused(&sixgate(&["tunnel-config", "6to4", "--local", "192.168.1.1"]), &["192.168.1.1", "RFC 1918"]);
    assert_refused(
        &sixgate(&["tunnel-config", "6to4", "--local", "74.207.254.16", "--link-mtu", "1200"]),
        &["1200", "1280"],
    );
}

/// The nftables rules pass `nft -c` (a check that changes nothing) when nft is installed.
#[test]
fn nftables_rules_pass_nft_check() {
    if Command::new("nft").arg("--version").output().is_err() {
        println!("SKIPPED: nft is not installed (Debian package nftables)");
        return;
    }
    for name in ["he-ipv6", "tun@x+1"] {
        let o = sixgate(&[
            "tunnel-config",
            "6in4",
            "--local",
            "192.0.2.10",
            "--remote",
            "198.51.100.1",
            "--client",
            "2001:db8:1::2/64",
            "--server",
            "2001:db8:1::1",
            "--name",
            name,
            "--format",
            "nftables",
            "--allow-non-global",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("mss.nft");
        std::fs::write(&file, &o.stdout).expect("write rules");
        let check = Command::new("nft").arg("-c").arg("-f").arg(&file).output().expect("run nft");
        let err = String::from_utf8_lossy(&check.stderr);
        if err.contains("Operation not permitted") {
            println!("SKIPPED: nft -c needs CAP_NET_ADMIN here: {err}");
            return;
        }
        assert!(check.status.success(), "nft -c refuses the rules for {name:?}: {err}\n{}", stdout(&o));
    }
}

/// A long argument is cut in the message (the message is whole), control characters escaped.
#[test]
fn long_bad_argument_is_cut_in_the_message() {
    let long = format!("{}\u{1b}[2J", "x".repeat(3000));
    for args in [&["6to4", long.as_str()][..], &["addr", long.as_str()][..], &["fmt", long.as_str()][..]] {
        let o = sixgate(args);
        assert_refused(&o, &["…", "is not an"]);
        let err = stderr(&o);
        assert!(err.len() < 200 && !err.contains('\u{1b}'), "{args:?}: {err:?}");
    }
}
