//! `sixgate dns64` side by side with BIND 9's `dns64`, both in front of the same validating
//! resolver: a BIND 9 authoritative server serves the test zones (one of them DNSSEC-signed,
//! with two RRSIGs broken on purpose), unbound validates them (the signed zone's key is its
//! trust anchor), BIND 9 (validating too, the same anchor) runs `dns64` forwarding to
//! unbound, and `sixgate dns64` runs with unbound as its upstream; one such pair under
//! the well-known prefix `64:ff9b::/96`, one under `2001:db8:64::/96`. `dig` asks
//! both the same questions; status, the AA, AD and TC flags, the DO bit of the OPT record
//! and the answer sets (TTLs aside) must agree, except where the table says otherwise.
//!
//! # Intended differences
//!
//! | Query | BIND 9.18 | sixgate | Why |
//! |---|---|---|---|
//! | AAAA of a private IPv4 (10.1.2.3) | synthesizes `64:ff9b::a01:203` | NODATA | RFC 6052 §3.1: the well-known prefix MUST NOT carry non-global IPv4 |
//! | AAAA +dnssec (DO) of a validated A-only name | no synthesis (`break-dnssec no`), the signed NODATA | synthesized, AD set | RFC 6147 §5.5 item 2: synthesis MAY happen and AD SHOULD be set when both answers validated |
//! | PTR under the prefix | CNAME into `in-addr.arpa`, AA (§5.3.1 option 2) | the PTR rewritten to the `ip6.arpa` owner, no AA | stub resolvers that do not follow CNAMEs for PTR still get a name; the same PTR target is compared |
//! | negative PTR under the prefix | the CNAME, then the `in-addr.arpa` SOA | the SOA of the prefix's `ip6.arpa` zone | RFC 2308 §5 wants the SOA of the zone of the name asked |
//! | TTLs of local `ipv4only.arpa` data | 3600 (SOA 86400) | 600 | TTLs are not compared |
//!
//! Needs root, `named`, `dnssec-keygen` and `dnssec-signzone` (Debian `bind9`,
//! `bind9-utils`), `unbound` and `dig` (`bind9-dnsutils`); otherwise it prints why it skips
//! and passes. Every server is on a high port of 127.0.0.1, in a temporary directory,
//! killed on drop; every wait is bounded.

use std::path::Path;
use std::process::Command;

use sixgate_testkit::dns::{dig, free_port, is_root, missing_tool, parse_dig, spawn, wait_up, DigAnswer, Guard};

fn skip_reason() -> Option<String> {
    if !is_root() {
        return Some("not root".into());
    }
    missing_tool(&[
        ("named", &["-v"], "bind9"),
        ("dnssec-keygen", &["-h"], "bind9-utils"),
        ("dnssec-signzone", &["-h"], "bind9-utils"),
        ("unbound", &["-V"], "unbound"),
        ("dig", &["-v"], "bind9-dnsutils"),
    ])
}

const SOA: &str = "3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300";

fn example_zone() -> String {
    let mut z = format!(
        "$TTL 300\n@ {SOA}\n@ NS ns\nns A 8.8.8.1\na-only 3600 A 8.8.4.4\ntwo 100 A 8.8.4.5\n\
         two 100 A 8.8.4.6\ndual A 8.8.8.8\ndual AAAA 2001:db8::8\nalias CNAME a-only\n\
         mapped AAAA ::ffff:1.2.3.4\nmapped A 1.2.3.4\nprivate A 10.1.2.3\nv6only AAAA 2001:db8::6\n\
         moved DNAME elsewhere.test.\n"
    );
    // 40 A records: 40 synthesized AAAA do not fit 512 bytes.
    for i in 0..40 {
        z.push_str(&format!("big A 8.8.9.{}\n", i + 1));
    }
    z
}

/// The signed zone: `good` validates; the RRSIG over `bogus6`'s AAAA and the one over
/// `bogus4`'s A are broken after signing.
const SIGNED_ZONE: &str = "$TTL 300\n@ 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300\n\
     @ NS ns.example.test.\ngood A 8.8.5.5\nbogus6 A 8.8.5.6\nbogus6 AAAA 2001:db8::56\nbogus4 A 8.8.5.7\n";

/// Flips the first signature character of the RRSIG covering `covered` at `owner` in a
/// zone file written by `dnssec-signzone -O full` (one record per line).
fn break_rrsig(zone: &str, owner: &str, covered: &str) -> String {
    let mut broken = 0;
    let out: Vec<String> = zone
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() > 12 && f[0] == owner && f[3] == "RRSIG" && f[4] == covered {
                let i = l.rfind(f[12]).expect("field");
                let c = if l.as_bytes()[i] == b'A' { "B" } else { "A" };
                broken += 1;
                format!("{}{c}{}", &l[..i], &l[i + 1..])
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_eq!(broken, 1, "no RRSIG {covered} at {owner}");
    out.join("\n") + "\n"
}

fn run(dir: &Path, prog: &str, args: &[&str]) -> String {
    let o = Command::new(prog).current_dir(dir).args(args).output().expect(prog);
    assert!(o.status.success(), "{prog} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct World {
    _dir: tempfile::TempDir,
    _servers: Vec<Guard>,
    /// Per prefix (the well-known one first, then `2001:db8:64::/96`): the ports of BIND's
    /// dns64 and of `sixgate dns64`.
    pairs: Vec<(u16, u16)>,
}

/// The prefixes both DNS64s synthesize under, one pair of servers each.
const PREFIXES: [&str; 2] = ["64:ff9b::/96", "2001:db8:64::/96"];

/// The zones, the keys, the three servers and `sixgate dns64`.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    w("example.test.db", &example_zone());
    w("elsewhere.test.db", &format!("$TTL 300\n@ {SOA}\n@ NS ns.example.test.\nhost A 8.8.7.7\n"));
    w("8.8.in-addr.arpa.db", &format!("$TTL 300\n@ {SOA}\n@ NS ns.example.test.\n4.4 PTR a-only.example.test.\n"));
    w("signed.test.db", SIGNED_ZONE);
    let ksk = run(d, "dnssec-keygen", &["-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-n", "ZONE", "signed.test"]);
    run(d, "dnssec-keygen", &["-q", "-a", "ECDSAP256SHA256", "-n", "ZONE", "signed.test"]);
    run(
        d,
        "dnssec-signzone",
        &["-q", "-S", "-K", ".", "-O", "full", "-o", "signed.test", "-f", "signed.out", "signed.test.db"],
    );
    let signed = std::fs::read_to_string(d.join("signed.out")).unwrap();
    let signed = break_rrsig(&signed, "bogus6.signed.test.", "AAAA");
    let signed = break_rrsig(&signed, "bogus4.signed.test.", "A");
    w("signed.test.db.signed", &signed);
    // The KSK: "signed.test. IN DNSKEY 257 3 13 <key>" (comments first).
    let key_line = std::fs::read_to_string(d.join(format!("{}.key", ksk.trim())))
        .unwrap()
        .lines()
        .find(|l| l.contains("DNSKEY"))
        .expect("DNSKEY line")
        .to_string();
    w("anchor.key", &format!("{key_line}\n"));
    let f: Vec<&str> = key_line.split_whitespace().collect();
    let at = f.iter().position(|x| *x == "DNSKEY").unwrap();
    let (flags, proto, alg, key) = (f[at + 1], f[at + 2], f[at + 3], f[at + 4..].concat());

    let (auth, resolver) = (free_port(), free_port());
    let dd = d.display();
    let mut servers = Vec::new();

    w(
        "auth.conf",
        &format!(
            "options {{ directory \"{dd}\"; pid-file \"{dd}/auth.pid\"; listen-on port {auth} {{ 127.0.0.1; }};\n\
             listen-on-v6 {{ none; }}; recursion no; dnssec-validation no; allow-query {{ any; }}; }};\n\
             controls {{ }};\n\
             zone \"example.test\" {{ type primary; file \"example.test.db\"; }};\n\
             zone \"elsewhere.test\" {{ type primary; file \"elsewhere.test.db\"; }};\n\
             zone \"signed.test\" {{ type primary; file \"signed.test.db.signed\"; }};\n\
             zone \"8.8.in-addr.arpa\" {{ type primary; file \"8.8.in-addr.arpa.db\"; }};\n"
        ),
    );
    let conf = d.join("auth.conf");
    servers.push(spawn("named", &["-g", "-n", "1", "-c", conf.to_str().unwrap()], &d.join("auth.log")));
    wait_up(auth, "ns.example.test.", "A", &d.join("auth.log"));

    let zones = ["example.test.", "elsewhere.test.", "signed.test.", "8.8.in-addr.arpa."];
    let mut stubs = String::new();
    for z in zones {
        stubs.push_str(&format!("stub-zone:\n    name: \"{z}\"\n    stub-addr: 127.0.0.1@{auth}\n"));
    }
    w(
        "resolver.conf",
        &format!(
            "server:\n    interface: 127.0.0.1\n    port: {resolver}\n    do-ip6: no\n    do-daemonize: no\n    \
             use-syslog: no\n    logfile: \"\"\n    chroot: \"\"\n    username: \"\"\n    directory: \"{dd}\"\n    \
             pidfile: \"{dd}/resolver.pid\"\n    access-control: 127.0.0.0/8 allow\n    verbosity: 1\n    \
             num-threads: 1\n    do-not-query-localhost: no\n    module-config: \"validator iterator\"\n    \
             trust-anchor-file: \"{dd}/anchor.key\"\n    ede: yes\n    qname-minimisation: no\n    \
             local-zone: \"test.\" nodefault\n    local-zone: \"8.8.in-addr.arpa.\" nodefault\n    \
             domain-insecure: \"example.test.\"\n    domain-insecure: \"elsewhere.test.\"\n    \
             domain-insecure: \"8.8.in-addr.arpa.\"\n{stubs}remote-control:\n    control-enable: no\n"
        ),
    );
    let conf = d.join("resolver.conf");
    servers.push(spawn("unbound", &["-d", "-c", conf.to_str().unwrap()], &d.join("resolver.log")));
    wait_up(resolver, "ns.example.test.", "A", &d.join("resolver.log"));

    // Forward zones, not a global `forward only`: that would also turn off BIND's automatic
    // ipv4only.arpa zones (RFC 8880).
    let fwd = |z: &str| {
        format!("zone \"{z}\" {{ type forward; forward only; forwarders {{ 127.0.0.1 port {resolver}; }}; }};\n")
    };
    let mut pairs = Vec::new();
    for (i, prefix) in PREFIXES.iter().enumerate() {
        let (bind, sixgate) = (free_port(), free_port());
        // A directory each: named keeps its managed-keys files there.
        std::fs::create_dir(d.join(format!("bind{i}"))).unwrap();
        w(
            &format!("bind{i}.conf"),
            &format!(
                "options {{ directory \"{dd}/bind{i}\"; pid-file \"{dd}/bind{i}/pid\"; listen-on port {bind} {{ 127.0.0.1; }};\n\
                 listen-on-v6 {{ none; }}; recursion yes; allow-query {{ any; }}; allow-recursion {{ any; }};\n\
                 dnssec-validation yes; ipv4only-enable yes;\n\
                 dns64 {prefix} {{ clients {{ any; }}; }}; }};\n\
                 trust-anchors {{ signed.test. static-key {flags} {proto} {alg} \"{key}\"; }};\n\
                 controls {{ }};\n{}{}",
                fwd("test"),
                fwd("8.8.in-addr.arpa")
            ),
        );
        let conf = d.join(format!("bind{i}.conf"));
        let log = d.join(format!("bind{i}.log"));
        servers.push(spawn("named", &["-g", "-n", "1", "-c", conf.to_str().unwrap()], &log));
        wait_up(bind, "ns.example.test.", "A", &log);

        let listen = format!("127.0.0.1:{sixgate}");
        let upstream = format!("127.0.0.1:{resolver}");
        let log = d.join(format!("sixgate{i}.log"));
        servers.push(spawn(
            env!("CARGO_BIN_EXE_sixgate"),
            &["dns64", "--listen", &listen, "--upstream", &upstream, "--prefix", prefix, "--timeout-ms", "2500"],
            &log,
        ));
        wait_up(sixgate, "ns.example.test.", "A", &log);
        pairs.push((bind, sixgate));
    }
    World { _dir: dir, _servers: servers, pairs }
}

/// What is compared for a query.
#[derive(Clone, Copy)]
enum Compare {
    /// Status, AA, AD, TC, DO and the answer sets.
    All,
    /// Status, AA, AD, TC, DO, the answer sets and the authority section's types.
    WithAuthority,
    /// An intended difference: both answers are checked by the function instead.
    Differs(fn(&DigAnswer, &DigAnswer)),
}

fn same(q: &str, ours: &DigAnswer, theirs: &DigAnswer, authority: bool) {
    let flags = |a: &DigAnswer| (a.flag("aa"), a.flag("ad"), a.flag("tc"), a.dnssec_ok());
    assert_eq!(ours.status, theirs.status, "{q}: status (sixgate {ours:?}, BIND {theirs:?})");
    assert_eq!(flags(ours), flags(theirs), "{q}: AA, AD, TC, DO (sixgate {ours:?}, BIND {theirs:?})");
    assert_eq!(ours.answer_set(), theirs.answer_set(), "{q}: answers");
    if authority {
        assert_eq!(ours.authority_types(), theirs.authority_types(), "{q}: authority types");
    }
}

const WKP_AAAA_PRIVATE: &str = "64:ff9b::a01:203";

#[test]
fn differential_against_bind_dns64() {
    if let Some(r) = skip_reason() {
        eprintln!("skipping: {r}");
        return;
    }
    let w = world();
    let (bind, sixgate) = w.pairs[0];
    let cases: Vec<(&[&str], Compare)> = vec![
        // The ordinary cases.
        (&["a-only.example.test.", "AAAA"], Compare::All),
        (&["two.example.test.", "AAAA"], Compare::All),
        (&["dual.example.test.", "AAAA"], Compare::All),
        (&["v6only.example.test.", "AAAA"], Compare::All),
        (&["alias.example.test.", "AAAA"], Compare::All),
        (&["mapped.example.test.", "AAAA"], Compare::All),
        (&["nope.example.test.", "AAAA"], Compare::WithAuthority),
        (&["a-only.example.test.", "A"], Compare::All),
        (&["+tcp", "a-only.example.test.", "AAAA"], Compare::All),
        // RFC 6147 §5.1.5: the DNAME, its CNAME and the synthesized AAAA.
        (&["host.moved.example.test.", "AAAA"], Compare::All),
        // RFC 6147 §5.5: a bogus AAAA is not synthesized over; §5.1.6: a bogus A after a
        // validated NODATA is a SERVFAIL, not a NODATA.
        (&["bogus6.signed.test.", "AAAA"], Compare::All),
        (&["+dnssec", "bogus6.signed.test.", "AAAA"], Compare::All),
        (&["bogus4.signed.test.", "AAAA"], Compare::All),
        // §5.5: AD on a synthesized answer from validated data, for a client that asks (AD).
        (&["+adflag", "good.signed.test.", "AAAA"], Compare::All),
        (&["good.signed.test.", "AAAA"], Compare::All),
        // §5.5 item 3: DO and CD, no synthesis.
        (&["+dnssec", "+cdflag", "good.signed.test.", "AAAA"], Compare::WithAuthority),
        // RFC 6891 §6.1.3: EDNS version 1 gets BADVERS (dig must not retry with version 0).
        (&["+edns=1", "+noednsneg", "dual.example.test.", "AAAA"], Compare::All),
        (&["+edns=1", "+noednsneg", "a-only.example.test.", "AAAA"], Compare::All),
        // RFC 3225 §3: a truncated answer to a DO query keeps DO.
        (&["+dnssec", "+bufsize=512", "+ignore", "big.example.test.", "AAAA"], Compare::All),
        (&["+bufsize=512", "+ignore", "big.example.test.", "AAAA"], Compare::All),
        (&["+tcp", "big.example.test.", "AAAA"], Compare::All),
        // RFC 8880 §7: ipv4only.arpa and its reverse names, answered locally with AA.
        (&["ipv4only.arpa.", "AAAA"], Compare::All),
        (&["ipv4only.arpa.", "A"], Compare::All),
        (&["ipv4only.arpa.", "MX"], Compare::WithAuthority),
        (&["www.ipv4only.arpa.", "A"], Compare::WithAuthority),
        (&["-x", "192.0.0.170"], Compare::All),
        (&["-x", "192.0.0.171"], Compare::All),
        (&["-x", "64:ff9b::c000:aa"], Compare::All),
        // Intended differences (see the table above).
        (
            &["private.example.test.", "AAAA"],
            Compare::Differs(|ours, theirs| {
                assert_eq!(theirs.data_of("AAAA"), [WKP_AAAA_PRIVATE], "BIND synthesizes under the WKP");
                assert_eq!((ours.status.as_str(), ours.answer.len()), ("NOERROR", 0), "{ours:?}");
            }),
        ),
        (
            &["+dnssec", "good.signed.test.", "AAAA"],
            Compare::Differs(|ours, theirs| {
                assert!(theirs.data_of("AAAA").is_empty() && theirs.flag("ad"), "{theirs:?}");
                assert_eq!(ours.data_of("AAAA"), ["64:ff9b::808:505"], "{ours:?}");
                assert!(ours.flag("ad") && ours.dnssec_ok(), "{ours:?}");
            }),
        ),
        (
            &["-x", "64:ff9b::808:404"],
            Compare::Differs(|ours, theirs| {
                assert_eq!(theirs.data_of("PTR"), ["a-only.example.test."]);
                assert_eq!(ours.data_of("PTR"), ["a-only.example.test."]);
                assert_eq!(ours.answer.len(), 1, "one PTR at the ip6.arpa name: {ours:?}");
                assert!(ours.answer[0].name.ends_with(".ip6.arpa."));
            }),
        ),
        (
            &["-x", "64:ff9b::808:405"],
            Compare::Differs(|ours, theirs| {
                assert_eq!((ours.status.as_str(), theirs.status.as_str()), ("NXDOMAIN", "NXDOMAIN"));
                assert_eq!(theirs.authority_types(), ["SOA"]);
                // RFC 2308 §5: the SOA of the zone of the name asked.
                assert_eq!(ours.authority_types(), ["SOA"], "{ours:?}");
                assert_eq!(ours.authority[0].name, "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa.");
            }),
        ),
    ];
    for (args, cmp) in &cases {
        let q = args.join(" ");
        let ours = parse_dig(&dig(sixgate, args));
        let theirs = parse_dig(&dig(bind, args));
        assert_ne!(theirs.status, "NONE", "{q}: BIND did not answer");
        match cmp {
            Compare::All => same(&q, &ours, &theirs, false),
            Compare::WithAuthority => same(&q, &ours, &theirs, true),
            Compare::Differs(check) => check(&ours, &theirs),
        }
    }
    // The comparisons are not vacuous: synthesis, BADVERS, SERVFAIL, TC and DO were seen.
    let check = |args: &[&str], f: fn(&DigAnswer) -> bool, what: &str| {
        let a = parse_dig(&dig(sixgate, args));
        assert!(f(&a), "{what}: {a:?}");
    };
    check(&["a-only.example.test.", "AAAA"], |a| a.data_of("AAAA") == ["64:ff9b::808:404"], "synthesis");
    check(&["host.moved.example.test.", "AAAA"], |a| a.answer.iter().any(|r| r.rtype == "DNAME"), "DNAME kept");
    check(&["bogus6.signed.test.", "AAAA"], |a| a.status == "SERVFAIL", "bogus AAAA");
    check(&["bogus4.signed.test.", "AAAA"], |a| a.status == "SERVFAIL", "bogus A");
    check(&["+edns=1", "+noednsneg", "dual.example.test.", "AAAA"], |a| a.status == "BADVERS", "BADVERS");
    check(
        &["+dnssec", "+bufsize=512", "+ignore", "big.example.test.", "AAAA"],
        |a| a.flag("tc") && a.dnssec_ok(),
        "TC+DO",
    );
    check(&["+adflag", "good.signed.test.", "AAAA"], |a| a.flag("ad"), "AD");
    check(&["ipv4only.arpa.", "A"], |a| a.flag("aa") && a.data_of("A") == ["192.0.0.170", "192.0.0.171"], "ipv4only");
    // A network-specific prefix: no RFC 6052 §3.1 exception, so private IPv4 is
    // synthesized by both.
    let (bind, sixgate) = w.pairs[1];
    let nsp: [&[&str]; 11] = [
        &["a-only.example.test.", "AAAA"],
        &["two.example.test.", "AAAA"],
        &["dual.example.test.", "AAAA"],
        &["alias.example.test.", "AAAA"],
        &["mapped.example.test.", "AAAA"],
        &["private.example.test.", "AAAA"],
        &["host.moved.example.test.", "AAAA"],
        &["bogus6.signed.test.", "AAAA"],
        &["bogus4.signed.test.", "AAAA"],
        &["ipv4only.arpa.", "AAAA"],
        &["-x", "2001:db8:64::c000:ab"],
    ];
    for args in nsp {
        let q = format!("{} (2001:db8:64::/96)", args.join(" "));
        let ours = parse_dig(&dig(sixgate, args));
        let theirs = parse_dig(&dig(bind, args));
        same(&q, &ours, &theirs, false);
    }
    let a = parse_dig(&dig(sixgate, &["private.example.test.", "AAAA"]));
    assert_eq!(a.data_of("AAAA"), ["2001:db8:64::a01:203"], "{a:?}");
}
