//! `sixgate tunnel-config`: the OpenWrt and firewall formats, each checked by the tool that
//! reads it where that tool is installed (`nft -c`, `iptables-restore --test`,
//! `ip6tables-restore --test`, `radvd --configtest`; no Debian package provides OpenWrt's
//! `uci`, so the UCI output is checked by a parser of the UCI file syntax here), the one
//! TTL rule, routed prefixes and the endpoint checks.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};

fn sixgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sixgate")).args(args).output().expect("run sixgate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("UTF-8 stderr")
}

/// The broker tunnel of the examples (tunnelbroker.net's numbering).
const HE: &[&str] = &[
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
];

fn run_ok(args: &[&str]) -> String {
    let o = sixgate(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

fn he(extra: &[&str]) -> String {
    run_ok(&[HE, extra].concat())
}

/// Asserts a refusal: exit status 2, nothing on stdout, one line on stderr with every needle.
fn assert_refused(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err} stdout: {}", stdout(o));
    assert!(o.stdout.is_empty(), "stdout: {}", stdout(o));
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err:?}");
    }
}

/// The part of `text` from the line starting with `from` up to (not including) the line
/// starting with `to` (or the end).
fn section<'a>(text: &'a str, from: &str, to: Option<&str>) -> &'a str {
    let start = text.find(from).unwrap_or_else(|| panic!("{from:?} not in\n{text}"));
    let rest = &text[start..];
    match to.and_then(|t| rest[1..].find(t)) {
        Some(end) => &rest[..end + 1],
        None => rest,
    }
}

#[test]
fn one_ttl_rule_in_every_format_and_in_tunnel_run() {
    let all = he(&[]);
    for want in
        ["    ttl 64\n", "ttl 64\n", "TTL=64\n", "      ttl: 64\n", "\toption ttl '64'\n", "TTL 64: the IPv4 default"]
    {
        assert!(all.contains(want), "{want:?} missing in\n{all}");
    }
    assert!(!all.contains("255"), "a TTL of 255 is left somewhere:\n{all}");
    let sixtofour = run_ok(&["tunnel-config", "6to4", "--local", "74.207.254.16"]);
    assert!(sixtofour.contains("mode sit remote any local 74.207.254.16 ttl 64"), "{sixtofour}");
    assert!(!sixtofour.contains("ttl 255"), "{sixtofour}");
    // `tunnel run` applies the same default.
    let check = run_ok(&[
        "tunnel",
        "run",
        "--check",
        "--tun",
        "sit1",
        "--local",
        "74.207.254.16",
        "--remote",
        "216.66.80.26",
        "--address",
        "2001:470:1f0a:1234::2/64",
    ]);
    assert!(check.contains("TTL 64"), "{check}");
    let help = run_ok(&["tunnel-config", "6in4", "--help"]);
    assert!(help.contains("RFC 4213 §3.3") && help.contains("64"), "{help}");
}

#[test]
fn endpoints_in_special_blocks_are_refused() {
    let bad = |local: &str, remote: &str, client: &str, server: &str, extra: &[&str]| {
        let mut a =
            vec!["tunnel-config", "6in4", "--local", local, "--remote", remote, "--client", client, "--server", server];
        a.extend_from_slice(extra);
        sixgate(&a)
    };
    // The report's example: every value is wrong, the first is named with its rule and fix.
    let o = bad("127.0.0.1", "224.0.0.1", "ff02::2/64", "ff02::1", &[]);
    assert_refused(&o, &["local IPv4 address 127.0.0.1", "loopback", "RFC 1812 §5.3.7", "give this host's own"]);
    // --allow-non-global never makes these usable.
    let o = bad("127.0.0.1", "224.0.0.1", "ff02::2/64", "ff02::1", &["--allow-non-global"]);
    assert_refused(&o, &["127.0.0.1", "loopback"]);
    let o = bad("74.207.254.16", "224.0.0.1", "2001:470:1f0a:1234::2/64", "2001:470:1f0a:1234::1", &[]);
    assert_refused(&o, &["remote IPv4 address 224.0.0.1", "multicast", "broker's tunnel server"]);
    for extra in [&[][..], &["--allow-non-global"][..]] {
        let o = bad("74.207.254.16", "255.255.255.255", "2001:470:1f0a:1234::2/64", "2001:470:1f0a:1234::1", extra);
        assert_refused(&o, &["255.255.255.255", "limited broadcast", "unicast"]);
    }
    let o = bad("74.207.254.16", "216.66.80.26", "ff02::2/64", "ff02::1", &["--allow-non-global"]);
    assert_refused(&o, &["client IPv6 address ff02::2", "multicast", "RFC 4291"]);
    let o = bad("74.207.254.16", "216.66.80.26", "fe80::2/64", "fe80::1", &[]);
    assert_refused(&o, &["fe80::2", "link-local"]);
    // A private local address: refused with the NAT case named, accepted with the flag and
    // then explained in the output.
    let o = bad("192.168.1.2", "216.66.80.26", "2001:470:1f0a:1234::2/64", "2001:470:1f0a:1234::1", &[]);
    assert_refused(&o, &["192.168.1.2", "RFC 1918", "behind NAT", "--allow-non-global"]);
    let o = bad(
        "192.168.1.2",
        "216.66.80.26",
        "2001:470:1f0a:1234::2/64",
        "2001:470:1f0a:1234::1",
        &["--allow-non-global", "--format", "iproute2"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("NAT case") && out.contains("protocol 41") && out.contains("public address"), "{out}");
    // Documentation addresses are a lab's: refused unless allowed.
    let o = bad("192.0.2.10", "198.51.100.1", "2001:db8:1::2/64", "2001:db8:1::1", &[]);
    assert_refused(&o, &["192.0.2.10", "documentation", "--allow-non-global"]);
    let o = bad("192.0.2.10", "198.51.100.1", "2001:db8:1::2/64", "2001:db8:1::1", &["--allow-non-global"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // 6to4 with --allow-non-global still refuses loopback.
    let o = sixgate(&["tunnel-config", "6to4", "--local", "127.0.0.1", "--allow-non-global"]);
    assert_refused(&o, &["127.0.0.1", "loopback"]);
}

/// One UCI statement: (keyword, name, value).
type Stmt = (String, String, Option<String>);

/// One UCI section: (type, name, statements).
type Section = (String, Option<String>, Vec<Stmt>);

/// Parses the UCI file syntax (libuci's `config`/`option`/`list` lines, `#` comments,
/// single-quoted values): returns the sections as (type, name, statements), or the first
/// line that does not parse.
fn parse_uci(text: &str) -> Result<Vec<Section>, String> {
    fn word(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }
    fn unquote(s: &str) -> Option<&str> {
        let v = s.strip_prefix('\'')?.strip_suffix('\'')?;
        (!v.contains('\'')).then_some(v)
    }
    let mut sections: Vec<Section> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let bad = || format!("line {}: {line:?}", i + 1);
        let (kw, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
        let rest = rest.trim();
        match kw {
            "config" => {
                let (ty, name) =
                    rest.split_once(char::is_whitespace).map_or((rest, None), |(a, b)| (a, Some(b.trim())));
                if !word(ty) {
                    return Err(bad());
                }
                let name = match name {
                    Some(n) => Some(unquote(n).filter(|n| word(n)).ok_or_else(bad)?.to_owned()),
                    None => None,
                };
                sections.push((ty.to_owned(), name, Vec::new()));
            }
            "option" | "list" => {
                let (name, value) = rest.split_once(char::is_whitespace).ok_or_else(bad)?;
                let value = unquote(value.trim()).ok_or_else(bad)?;
                if !word(name) {
                    return Err(bad());
                }
                let s = sections.last_mut().ok_or_else(bad)?;
                s.2.push((kw.to_owned(), name.to_owned(), Some(value.to_owned())));
            }
            _ => return Err(bad()),
        }
    }
    Ok(sections)
}

/// Checks UCI output against what OpenWrt reads: the syntax, and for each section type the
/// options netifd's 6in4/6to4 protocol handlers (`proto_config_add_*` in 6in4.sh/6to4.sh,
/// plus netifd's common interface options) and fw4 know.
fn check_uci(text: &str) -> BTreeMap<String, Vec<Stmt>> {
    let sections = parse_uci(text).unwrap_or_else(|e| panic!("UCI syntax: {e}\n{text}"));
    let mut by_name = BTreeMap::new();
    for (ty, name, stmts) in sections {
        let known: &[&str] = match (ty.as_str(), stmts.iter().find(|s| s.1 == "proto").and_then(|s| s.2.as_deref())) {
            ("interface", Some("6in4")) => &[
                "proto",
                "ipaddr",
                "ip6addr",
                "ip6prefix",
                "peeraddr",
                "tunlink",
                "tunnelid",
                "username",
                "password",
                "updatekey",
                "mtu",
                "ttl",
                "tos",
            ],
            ("interface", Some("6to4")) => &["proto", "ipaddr", "mtu", "ttl"],
            ("zone", _) => &["name", "network", "family", "input", "output", "forward", "masq", "mtu_fix"],
            ("forwarding", _) => &["src", "dest"],
            ("rule", _) => &["name", "src", "dest", "family", "proto", "src_ip", "dest_ip", "icmp_type", "target"],
            other => panic!("unexpected section {other:?}"),
        };
        for (kw, opt, _) in &stmts {
            assert!(known.contains(&opt.as_str()), "{ty}: unknown {kw} {opt}");
            let lists = ["ip6prefix", "network", "icmp_type"];
            assert_eq!(kw == "list", lists.contains(&opt.as_str()), "{ty}: {kw} {opt}");
        }
        if ty == "zone" {
            let zone = stmts.iter().find(|s| s.1 == "name").and_then(|s| s.2.clone()).expect("zone name");
            assert!(zone.len() <= 11, "fw4 zone names are at most 11 characters: {zone}");
        }
        let key = name.unwrap_or_else(|| {
            format!("{ty}:{}", stmts.iter().find(|s| s.1 == "name").and_then(|s| s.2.clone()).unwrap_or_default())
        });
        by_name.insert(key, stmts);
    }
    by_name
}

fn opt<'a>(s: &'a [Stmt], name: &str) -> Vec<&'a str> {
    s.iter().filter(|x| x.1 == name).filter_map(|x| x.2.as_deref()).collect()
}

#[test]
fn uci_for_6in4_with_routed_prefix_and_6to4() {
    let out =
        he(&["--format", "uci", "--routed", "2001:470:1f0b::/48", "--tunnel-id", "123456", "--username", "hebob"]);
    let s = check_uci(&out);
    let i = &s["he_ipv6"];
    assert_eq!(opt(i, "proto"), ["6in4"]);
    assert_eq!(opt(i, "peeraddr"), ["216.66.80.26"]);
    assert_eq!(opt(i, "ipaddr"), ["74.207.254.16"]);
    assert_eq!(opt(i, "ip6addr"), ["2001:470:1f0a:1234::2/64"]);
    assert_eq!(opt(i, "ip6prefix"), ["2001:470:1f0b::/48"]);
    assert_eq!((opt(i, "tunnelid"), opt(i, "username")), (vec!["123456"], vec!["hebob"]));
    assert_eq!((opt(i, "mtu"), opt(i, "ttl")), (vec!["1480"], vec!["64"]));
    let rule = &s["rule:Allow-6in4-he_ipv6"];
    assert_eq!((opt(rule, "proto"), opt(rule, "src_ip")), (vec!["41"], vec!["216.66.80.26"]));
    let zone = &s["zone:he_ipv6"];
    assert_eq!(
        (opt(zone, "input"), opt(zone, "forward"), opt(zone, "mtu_fix")),
        (vec!["DROP"], vec!["DROP"], vec!["1"])
    );
    assert_eq!(opt(&s["forwarding:"], "dest"), ["he_ipv6"]);
    let icmp = opt(&s["rule:he_ipv6-ICMPv6-forward"], "icmp_type");
    assert_eq!(
        icmp,
        [
            "destination-unreachable",
            "packet-too-big",
            "ttl-zero-during-transit",
            "unknown-header-type",
            "unknown-option",
            "echo-request",
            "echo-reply"
        ]
    );
    assert!(out.contains("uci set network.lan.ip6assign='64'"), "{out}");
    assert!(out.contains("b.0.f.1.0.7.4.0.1.0.0.2.ip6.arpa."), "reverse zone of the /48:\n{out}");

    let out = run_ok(&["tunnel-config", "6to4", "--local", "74.207.254.16", "--format", "uci"]);
    let s = check_uci(&out);
    assert_eq!(opt(&s["tun6to4"], "proto"), ["6to4"]);
    let rule = &s["rule:Allow-6to4-tun6to4"];
    assert!(opt(rule, "src_ip").is_empty() && opt(rule, "proto") == ["41"], "{out}");
    assert!(out.contains("RFC 3964"), "{out}");
}

#[test]
fn broker_account_values_cannot_break_uci_quoting() {
    for bad in ["12'3", "a b", "x\\y", ""] {
        let o = sixgate(&[HE, &["--format", "uci", "--tunnel-id", bad]].concat());
        assert_refused(&o, &["tunnel id", "printable"]);
    }
    let o = sixgate(&[HE, &["--format", "uci", "--tunnel-id", "1", "--username", "o'brien"]].concat());
    assert_refused(&o, &["user name", "o'brien"]);
}

#[test]
fn uci_syntax_check_catches_errors() {
    assert!(parse_uci("config interface 'a'\n\toption proto '6in4'\n").is_ok());
    for bad in ["option proto '6in4'\n", "config interface 'a-b'\n", "config interface 'a'\n\toption x y\n", "set x\n"]
    {
        assert!(parse_uci(bad).is_err(), "{bad:?}");
    }
}

fn nft_check(text: &str) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("fw.nft");
    std::fs::write(&file, text).expect("write rules");
    let check = Command::new("nft").arg("-c").arg("-f").arg(&file).output().expect("run nft");
    let err = String::from_utf8_lossy(&check.stderr);
    if err.contains("Operation not permitted") {
        eprintln!("skipping: nft -c needs CAP_NET_ADMIN here: {err}");
        return;
    }
    assert!(check.status.success(), "nft -c refuses the rules: {err}\n{text}");
}

#[test]
fn nftables_firewall_passes_nft_check() {
    skip_without!("nft");
    let out = he(&["--format", "nftables", "--routed", "2001:470:1f0b::/48", "--lan-if", "br-lan"]);
    nft_check(&out);
    for want in [
        "ip protocol 41 ip saddr 216.66.80.26 ip daddr 74.207.254.16 accept",
        "ip protocol 41 counter drop",
        "iifname \"he-ipv6\" jump from_tunnel",
        "ct state established,related accept",
        "icmpv6 type { destination-unreachable, packet-too-big, echo-request, echo-reply } accept",
        "icmpv6 type time-exceeded icmpv6 code 0 accept",
        "icmpv6 type parameter-problem icmpv6 code { 1, 2 } accept",
        "counter drop comment \"nothing else is open from he-ipv6\"",
        "iifname \"br-lan\" oifname \"he-ipv6\" ip6 saddr != 2001:470:1f0b::/48 counter drop",
        "tcp option maxseg size set 1420",
    ] {
        assert!(out.contains(want), "{want:?} missing in\n{out}");
    }
    let out = run_ok(&["tunnel-config", "6to4", "--local", "74.207.254.16", "--format", "nftables"]);
    nft_check(&out);
    for want in
        ["10.0.0.0/8", "192.168.0.0/16", "224.0.0.0/3", "2002:a00::/24", "ip protocol 41 ip daddr != 74.207.254.16"]
    {
        assert!(out.contains(want), "{want:?} missing in\n{out}");
    }
    assert!(out.contains("RFC 3964 §5.1") && out.contains("`sixgate tunnel run --mode 6to4`"), "{out}");
}

/// Splits the iptables output into its IPv4 and IPv6 files.
fn iptables_files(out: &str) -> (String, String) {
    let v4 = section(out, "# /etc/iptables/", Some("\n# /etc/iptables/"));
    let v6 = section(out, ".v6 (ip6tables-restore", None);
    (v4.to_owned(), v6.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n")
}

fn restore_test(tool: &str, text: &str) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("rules");
    std::fs::write(&file, text).expect("write rules");
    let o = Command::new(tool).args(["--noflush", "--test"]).arg(&file).output().expect("run restore");
    let err = String::from_utf8_lossy(&o.stderr);
    if err.contains("Permission denied") || err.contains("Operation not permitted") {
        eprintln!("skipping: {tool} --test needs CAP_NET_ADMIN here: {err}");
        return;
    }
    assert!(o.status.success(), "{tool} --test refuses:\n{err}\n{text}");
}

#[test]
fn iptables_firewall_passes_restore_test() {
    skip_without!("iptables-restore", "ip6tables-restore");
    let out = he(&["--format", "iptables", "--routed", "2001:470:1f0b:1234::/64"]);
    let (v4, v6) = iptables_files(&out);
    assert!(v4.contains("-A sixgate-he-ipv6-41 -s 216.66.80.26/32 -d 74.207.254.16/32 -j ACCEPT"), "{v4}");
    assert!(v4.contains("-A sixgate-he-ipv6-41 -j DROP") && !v4.contains("ip6"), "{v4}");
    for want in [
        "*filter\n",
        "--icmpv6-type 3/0",
        "--icmpv6-type 4/2",
        "--ctstate RELATED,ESTABLISHED",
        "TCPMSS --set-mss 1420",
    ] {
        assert!(v6.contains(want), "{want:?} missing in\n{v6}");
    }
    assert!(v6.contains("-I FORWARD -i eth1 -o he-ipv6 ! -s 2001:470:1f0b:1234::/64 -j DROP"), "{v6}");
    restore_test("iptables-restore", &v4);
    restore_test("ip6tables-restore", &v6);
    let out = run_ok(&["tunnel-config", "6to4", "--local", "74.207.254.16", "--format", "iptables"]);
    let (v4, v6) = iptables_files(&out);
    assert!(v4.contains("-s 10.0.0.0/8 -j DROP") && v4.contains("-d 74.207.254.16/32 -j ACCEPT"), "{v4}");
    assert!(v6.contains("-s 2002:c0a8::/32 -j DROP"), "{v6}");
    restore_test("iptables-restore", &v4);
    restore_test("ip6tables-restore", &v6);
}

#[test]
fn routed_prefix_lan_side_in_every_format() {
    let all = he(&["--routed", "2001:470:1f0b::/48"]);
    for want in [
        "iface eth1 inet6 static\n    address 2001:470:1f0b::1\n    netmask 64",
        "ip -6 addr add 2001:470:1f0b::1/64 dev eth1",
        "[IPv6Prefix]\nPrefix=2001:470:1f0b::/64",
        "IPv6SendRA=yes",
        "  ethernets:\n    eth1:\n      addresses:\n        - \"2001:470:1f0b::1/64\"",
        "list ip6prefix '2001:470:1f0b::/48'",
        "interface eth1 {\n    AdvSendAdvert on;\n    prefix 2001:470:1f0b::/64 {",
        "the other /64s of 2001:470:1f0b::/48 are yours",
        "#   b.0.f.1.0.7.4.0.1.0.0.2.ip6.arpa.",
    ] {
        assert!(all.contains(want), "{want:?} missing in\n{all}");
    }
    assert_eq!(all.matches("# /etc/radvd.conf").count(), 1, "radvd.conf once in --format all");
    // A single format carries its announcement with it.
    let ifupdown = he(&["--routed", "2001:470:1f0b::/48", "--format", "ifupdown", "--lan-if", "br0"]);
    assert!(ifupdown.contains("iface br0 inet6 static") && ifupdown.contains("interface br0 {"), "{ifupdown}");
    // Refusals name the value, the rule and the fix.
    assert_refused(
        &sixgate(&[HE, &["--routed", "2001:470:1f0b:1234::1/64"]].concat()),
        &["host bits", "2001:470:1f0b:1234::/64"],
    );
    assert_refused(
        &sixgate(&[HE, &["--routed", "2001:470:1f0b:1234::/80"]].concat()),
        &["/80", "longer than /64", "RFC 4862"],
    );
    assert_refused(
        &sixgate(&[HE, &["--routed", "2001:470:1f0a::/48"]].concat()),
        &["overlaps", "2001:470:1f0a:1234::/64"],
    );
    assert_refused(&sixgate(&[HE, &["--routed", "fd00:1::/48"]].concat()), &["fd00:1::", "unique local"]);
    assert_refused(&sixgate(&[HE, &["--format", "radvd"]].concat()), &["--routed"]);
}

#[test]
fn radvd_conf_passes_configtest() {
    skip_without!("radvd");
    let out = he(&["--routed", "2001:470:1f0b::/48", "--format", "radvd"]);
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("radvd.conf");
    std::fs::write(&file, &out).expect("write radvd.conf");
    let o = Command::new("radvd").arg("--configtest").arg("-C").arg(&file).output().expect("run radvd");
    assert!(o.status.success(), "radvd --configtest refuses:\n{}\n{out}", String::from_utf8_lossy(&o.stderr));
}

/// Waits until `f` holds, for at most 10 s (a readiness wait, not a timing assertion).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The nftables firewall loaded in a network namespace in front of a real 6in4 endpoint
/// (`sixgate tunnel run`: the kernel here may have no sit module): ICMPv6 echo passes,
/// a connection opened from the far side does not, one opened from this side does, and
/// protocol 41 from another source than the broker is dropped by its rule.
#[test]
fn nftables_firewall_filters_real_traffic() {
    if let Some(why) = common::netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    skip_without!("nft", "nc");
    firewall_filters_real_traffic("nftables");
}

/// The same with the iptables/ip6tables firewall, loaded with `--noflush`.
#[test]
fn iptables_firewall_filters_real_traffic() {
    if let Some(why) = common::netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    skip_without!("iptables-restore", "ip6tables-restore", "iptables", "ip6tables", "nc");
    firewall_filters_real_traffic("iptables");
}

fn firewall_filters_real_traffic(format: &str) {
    let mut t = common::Netns::new(if format == "iptables" { "sgip" } else { "sgnf" }, &["l", "r"]);
    let (l, r) = (t.ns("l"), t.ns("r"));
    common::must(&["ip", "link", "add", "e0", "netns", &l, "type", "veth", "peer", "name", "e0", "netns", &r]);
    for (ns, addrs) in [(&l, &["192.0.2.1/24"][..]), (&r, &["192.0.2.2/24", "192.0.2.3/24"][..])] {
        common::must(&["ip", "-n", ns, "link", "set", "e0", "up"]);
        for a in addrs {
            common::must(&["ip", "-n", ns, "addr", "add", a, "dev", "e0"]);
        }
    }
    let bin = env!("CARGO_BIN_EXE_sixgate");
    for (n, local, remote, addr) in
        [("l", "192.0.2.1", "192.0.2.2", "2001:db8:1::2/64"), ("r", "192.0.2.2", "192.0.2.1", "2001:db8:1::1/64")]
    {
        let args = ["tunnel", "run", "--tun", "t6", "--local", local, "--remote", remote, "--address", addr];
        t.spawn(n, &[&[bin][..], &args, &["--stats-interval", "0"]].concat(), &format!("{n}.log"));
        eventually(&format!("the TUN device in {n}: {}", t.log(&format!("{n}.log"))), || {
            t.exec(n, &["ip", "-6", "addr", "show", "dev", "t6"]).stdout.windows(4).any(|w| w == b"inet")
        });
    }
    let ping = |t: &common::Netns| t.exec("r", &["ping", "-6", "-c", "1", "-W", "2", "2001:db8:1::2"]).status.success();
    let connect = |t: &common::Netns, from: &str, to: &str, port: &str| {
        t.exec(from, &["nc", "-6", "-z", "-w", "2", to, port]).status.success()
    };
    t.spawn("l", &["nc", "-6", "-l", "-k", "8080"], "nc-l.log");
    t.spawn("r", &["nc", "-6", "-l", "-k", "8081"], "nc-r.log");
    // Without the firewall, everything goes through.
    eventually("ping through the tunnel", || ping(&t));
    eventually("a connection from the far side before the firewall", || connect(&t, "r", "2001:db8:1::2", "8080"));

    let rules = run_ok(&[
        "tunnel-config",
        "6in4",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--client",
        "2001:db8:1::2/64",
        "--server",
        "2001:db8:1::1",
        "--name",
        "t6",
        "--allow-non-global",
        "--format",
        format,
    ]);
    let load = |t: &common::Netns| {
        if format == "nftables" {
            let file = t.dir.path().join("fw.nft");
            std::fs::write(&file, &rules).unwrap();
            let o = t.exec("l", &["nft", "-f", file.to_str().unwrap()]);
            assert!(o.status.success(), "nft -f: {}", common::text(&o));
        } else {
            let (v4, v6) = iptables_files(&rules);
            for (tool, text) in [("iptables-restore", v4), ("ip6tables-restore", v6)] {
                let file = t.dir.path().join(tool);
                std::fs::write(&file, text).unwrap();
                let o = t.exec("l", &[tool, "--noflush", file.to_str().unwrap()]);
                assert!(o.status.success(), "{tool}: {}", common::text(&o));
            }
        }
    };
    load(&t);
    if format == "nftables" {
        // Loading it again replaces the table (no duplicate rules, no error).
        load(&t);
    }

    assert!(ping(&t), "ICMPv6 echo (RFC 4890 §4.3.1) is dropped by the firewall");
    assert!(!connect(&t, "r", "2001:db8:1::2", "8080"), "a connection from the tunnel went through the firewall");
    assert!(connect(&t, "l", "2001:db8:1::1", "8081"), "replies to a connection from this side are dropped");

    // Protocol 41 from 192.0.2.3, not the broker: dropped by its own rule.
    let script = "import socket\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 41)\n\
        s.bind(('192.0.2.3', 0))\n\
        inner = bytes.fromhex('6000000000083a40' + '20010db8000100000000000000000001' + '20010db8000100000000000000000002') + bytes([128, 0, 0, 0, 0, 1, 0, 1])\n\
        s.sendto(inner, ('192.0.2.1', 0))\n";
    let o = t.python("r", script).wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The counters of the rule dropping protocol 41 from elsewhere, and of the final drop.
    let (spoof_rule, closed_rule, show): (&str, &str, &[&str]) = if format == "nftables" {
        ("not from 192.0.2.2", "nothing else is open from t6", &["nft", "list", "ruleset"])
    } else {
        (
            "sixgate-t6-41",
            "sixgate-t6-in",
            &["sh", "-c", "iptables -w -v -x -n -L sixgate-t6-41; ip6tables -w -v -x -n -L sixgate-t6-in"],
        )
    };
    let list = |t: &common::Netns| String::from_utf8_lossy(&t.exec("l", show).stdout).into_owned();
    let count = |text: &str, rule: &str| -> Option<u64> {
        if format == "nftables" {
            let line = text.lines().find(|x| x.contains(rule))?;
            line.split("counter packets ").nth(1)?.split_whitespace().next()?.parse().ok()
        } else {
            // The chain ends with the DROP that counts what nothing above admitted.
            let chain = text.split("Chain ").find(|c| c.starts_with(rule))?;
            let line = chain.lines().rfind(|l| l.contains("DROP"))?;
            line.split_whitespace().next()?.parse().ok()
        }
    };
    eventually("the spoofed protocol 41 packet counted", || count(&list(&t), spoof_rule) == Some(1));
    let ruleset = list(&t);
    assert!(count(&ruleset, closed_rule).is_some_and(|n| n > 0), "the refused connection was not counted: {ruleset}");
}
