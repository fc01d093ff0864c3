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
    assert_eq!(printed, want, "name(parse(x)) != x");
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
