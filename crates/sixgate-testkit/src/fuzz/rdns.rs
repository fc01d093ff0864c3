//! Property checks shared by the fuzz targets and the corpus replay test. Each function
//! panics when a property fails (that is how a fuzzer reports it); bad input alone never does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sixgate_rdns::hostname::check_absolute;
use sixgate_rdns::hosts::parse_hosts;
use sixgate_rdns::name::{parse_arpa, reverse_name, ReverseName};
use sixgate_rdns::plan::{canonical_key, Zone};
use sixgate_rdns::template::{AddrRange, Template};
use sixgate_rdns::zone::{PtrSet, ZoneHeader, ZoneWriter};

/// `arpa_parse`: whatever parses prints back to the lowercase absolute input, and reparses
/// to the same value (name(parse(x)) == x).
pub fn check_arpa(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(r) = parse_arpa(s) else { return };
    let printed = r.to_string();
    let mut want = s.to_ascii_lowercase();
    if !want.ends_with('.') {
        want.push('.');
    }
    // An owner inside an RFC 2317 child zone (`70.64/26.2.0.192.in-addr.arpa.`) stands for
    // an address, whose own name is the one in the parent zone.
    let child_owner = want.contains('/') && matches!(r, ReverseName::Addr(_));
    if !child_owner {
        assert_eq!(printed, want, "name(parse(x)) != x");
    }
    assert_eq!(parse_arpa(&printed).ok(), Some(r), "parse(name(parse(x))) != parse(x)");
    if let ReverseName::Addr(a) = r {
        assert_eq!(reverse_name(a), printed);
    }
}

fn header() -> ZoneHeader {
    let mut h = ZoneHeader::new(vec!["ns1.example.net.".into()], "hostmaster.example.net.".into());
    h.serial = 1;
    h
}

/// `hosts_parse`: every parsed entry prints as a hosts line that parses back to itself; the
/// records a [`PtrSet`] keeps are sorted, unique and accepted by the checking writer.
pub fn check_hosts(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (entries, problems) = parse_hosts(s);
    for e in &entries {
        let line = e.to_string();
        let (again, p) = parse_hosts(&line);
        assert!(p.is_empty(), "{line:?} reparsed with problems {p:?}");
        assert_eq!(again.len(), 1, "{line:?}");
        assert_eq!((again[0].addr, &again[0].name, &again[0].aliases), (e.addr, &e.name, &e.aliases));
    }
    for l in problems.iter().filter_map(|p| p.line) {
        assert!(l >= 1 && l <= s.lines().count(), "problem line {l} out of range");
    }
    for net in ["::/0", "0.0.0.0/0"] {
        let Ok(zone) = Zone::single(net.parse().expect("fixed prefix")) else { panic!("{net} is one zone") };
        let mut set = PtrSet::new(zone, Some("example.net".into()));
        set.add_hosts(s);
        let (ptrs, _) = set.finish();
        let Ok(mut w) = ZoneWriter::new(zone, &header(), Vec::new()) else { panic!("fixed header refused") };
        for p in &ptrs {
            if let Err(e) = w.ptr(p.addr, &p.name) {
                panic!("writer refused {p:?} from PtrSet: {e}");
            }
        }
    }
}

/// `template_parse`: the first line is a template, the second a range. A template prints
/// back to text that parses to the same template; rendering gives the same name twice and
/// never panics; a small range is visited once per address in strictly increasing canonical
/// order.
pub fn check_template(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let mut lines = s.lines();
    let tpl = lines.next().unwrap_or("");
    let range = lines.next().unwrap_or("");
    let probe: Vec<u8> = data.iter().rev().take(16).copied().collect();
    let mut b = [0u8; 16];
    b[..probe.len()].copy_from_slice(&probe);
    let addrs = [IpAddr::V6(Ipv6Addr::from(b)), IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))];
    if let Ok(t) = Template::parse(tpl, Some("example.net")) {
        let text = t.to_string();
        assert_eq!(Template::parse(&text, None).ok().as_ref(), Some(&t), "parse(print(t)) != t for {text:?}");
        for a in addrs {
            let (mut x, mut y) = (String::new(), String::new());
            t.render(a, 3, &mut x);
            t.render(a, 3, &mut y);
            assert_eq!(x, y);
            assert!(x.ends_with('.'), "{x:?} is not absolute");
            let _ = check_absolute(&x);
        }
    }
    if let Ok(r) = AddrRange::parse(range) {
        if r.len() <= 4096 {
            let mut prev = None;
            let mut n = 0u128;
            let res = r.for_each_canonical(|a, i| {
                let k = canonical_key(a);
                assert!(prev.is_none_or(|p| p < k), "not in canonical order at {a}");
                assert!(i < r.len());
                prev = Some(k);
                n += 1;
                Ok::<_, ()>(())
            });
            assert!(res.is_ok());
            assert_eq!(n, r.len());
        }
    }
}

/// The authority `rdns_serve` answers from: IPv6, IPv4 and RFC 2317 prefixes with a forward
/// zone, and explicit records.
fn serve_authority() -> &'static sixgate_rdns::serve::Authority {
    use sixgate_rdns::serve::{Authority, ServeConfig, ServedPrefix};
    static AUTH: std::sync::OnceLock<Authority> = std::sync::OnceLock::new();
    AUTH.get_or_init(|| {
        let mut c = ServeConfig::new(header());
        c.forward_zone = Some("example.net.".into());
        for (net, t) in [
            ("2001:db8::/64", "host-{dashed}.dyn.example.net."),
            ("2001:db8:1::/120", "{hex}-{index}.example.net."),
            ("192.0.2.0/24", "v4-{dashed}.example.net."),
            ("198.51.100.64/26", "c-{v4}.example.net."),
        ] {
            let template = Template::parse(t, None).expect("fixed template");
            c.prefixes.push(ServedPrefix { net: net.parse().expect("fixed prefix"), template });
        }
        c.records.push(sixgate_rdns::zone::Ptr {
            addr: "2001:db8::53".parse().expect("fixed"),
            name: "ns1.example.net.".into(),
        });
        Authority::new(c).expect("fixed configuration")
    })
}

/// `rdns_serve`: byte 0 is a mode (bit 0: the query came over TCP), the rest a DNS query for
/// [`sixgate_rdns::serve::Authority`]. Properties: no panic; a packet shorter than a header
/// or with QR set gets no answer; every answer is a DNS message hickory-proto reads, a
/// response (QR) with the query's ID; over UDP it fits 1232 octets (512 without an OPT
/// record in the query, unless it is a header-only error); every message of a transfer fits
/// 65,535 octets.
pub fn check_serve(data: &[u8]) {
    let Some((&mode, query)) = data.split_first() else { return };
    let tcp = mode & 1 != 0;
    let auth = serve_authority();
    let answer = auth.respond(query, tcp);
    if query.len() < 12 || query[2] & 0x80 != 0 {
        assert!(answer.is_none(), "answered a non-query");
        return;
    }
    let Some(r) = answer else { panic!("no answer to a query") };
    assert!(r.len() >= 12 && r[2] & 0x80 != 0 && r[..2] == query[..2], "not a response to the query: {r:?}");
    if let Err(e) = hickory_proto::op::Message::from_vec(&r) {
        panic!("unreadable answer {r:?}: {e}");
    }
    if !tcp {
        let has_opt = u16::from_be_bytes([r[10], r[11]]) > 0;
        assert!(r.len() <= if has_opt { 1232 } else { 512 }, "UDP answer of {} octets", r.len());
    }
    if tcp && query.len() > 12 && query.len() < 400 {
        for m in auth.respond_all(query, tcp) {
            assert!(m.len() <= 65_535);
        }
    }
}

/// Seeds for `rdns_serve`: a PTR, a forward AAAA and A, an RFC 2317 child owner, an empty
/// non-terminal, an EDNS query with DO, an EDNS version 1 query, an AXFR over TCP, a NOTIFY.
pub fn seeds_serve() -> Vec<Vec<u8>> {
    fn q(mode: u8, flags: u8, name: &str, qtype: u16, edns: Option<u8>) -> Vec<u8> {
        let mut v = vec![mode, 0x12, 0x34, flags, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())];
        for l in name.split('.').filter(|l| !l.is_empty()) {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.push(0);
        v.extend_from_slice(&qtype.to_be_bytes());
        v.extend_from_slice(&[0, 1]);
        if let Some(version) = edns {
            v.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, version, 0x80, 0, 0, 0]);
        }
        v
    }
    let host = reverse_name("2001:db8::5".parse().expect("fixed"));
    vec![
        q(0, 1, &host, 12, None),
        q(0, 1, "host-2001-db8--5.dyn.example.net.", 28, None),
        q(0, 1, "v4-192-0-2-7.example.net.", 1, Some(0)),
        q(0, 1, "70.64/26.100.51.198.in-addr.arpa.", 12, None),
        q(0, 0, "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", 12, None),
        q(0, 1, &host, 12, Some(0)),
        q(0, 1, &host, 12, Some(1)),
        q(1, 0, "2.0.192.in-addr.arpa.", 252, None),
        q(0, 0x20, "example.net.", 6, None),
    ]
}
