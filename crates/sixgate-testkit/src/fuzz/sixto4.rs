//! The properties the fuzz targets check, shared with the corpus replay test so that
//! `cargo test` runs exactly the same checks on the stored corpus.
//!
//! Each function takes arbitrary bytes and **panics when a property fails**: that is how
//! a fuzzer reports a finding. They never panic on input the library handles correctly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv6Net};
use sixgate_core::class::classify;
use sixgate_core::rfc6052::{
    embed, extract, sixtofour_extract, sixtofour_prefix, Pool6, Rfc6052Error, ALLOWED_LENGTHS,
};
use sixgate_core::text::{parse_addr, parse_host_port, parse_prefix};

use sixgate_6to4::explain::{explain, explain_str, Carrier, Explanation};
use sixgate_6to4::sixrd::SixRd;
use sixgate_6to4::teredo;
use sixgate_6to4::{batch, parse_ipv4, push_prefix48, Scope};

/// Text parsing: the batch IPv4 parser agrees with std's; the 6to4 text formatter agrees
/// with `Display`; sixgate-core's address, host:port and prefix parsers accept what std
/// accepts and round-trip print→parse; batch mode agrees with std line by line.
pub fn text_parse(data: &[u8]) {
    // The hand-rolled IPv4 parser against std, on the raw bytes.
    let std_v4 = std::str::from_utf8(data).ok().and_then(|s| s.parse::<Ipv4Addr>().ok());
    assert_eq!(parse_ipv4(data), std_v4, "parse_ipv4 disagrees with std on {data:?}");
    if let Some(v4) = std_v4 {
        let mut out = Vec::new();
        push_prefix48(&mut out, v4);
        assert_eq!(out, sixtofour_prefix(v4).to_string().as_bytes(), "push_prefix48({v4})");
    }
    batch_agrees(data);
    let Ok(s) = std::str::from_utf8(data) else { return };

    if let Ok(a) = s.trim().parse::<IpAddr>() {
        let hp = parse_addr(s).unwrap_or_else(|e| panic!("std parses {s:?} but parse_addr refuses it: {e}"));
        assert_eq!((hp.addr, hp.zone.as_deref(), hp.port), (a, None, None), "{s:?}");
    }
    if let Ok(hp) = parse_addr(s) {
        let text = hp.to_string();
        assert_eq!(parse_addr(&text).ok(), Some(hp.clone()), "parse_addr round trip of {s:?} via {text:?}");
    }
    if let Ok(hp) = parse_host_port(s) {
        let text = hp.to_string();
        // Without a port an IPv6 address prints unbracketed, which host:port context reads
        // only through parse_addr (a trailing group could be a port).
        let back = if hp.port.is_none() && hp.addr.is_ipv6() { parse_addr(&text) } else { parse_host_port(&text) };
        assert_eq!(back.ok(), Some(hp), "parse_host_port round trip of {s:?} via {text:?}");
    }
    if let Ok(net) = parse_prefix(s) {
        let text = net.to_string();
        assert_eq!(text.parse::<IpNet>().ok(), Some(net), "{s:?}");
        assert_eq!(parse_prefix(&text).ok(), Some(net), "parse_prefix round trip of {s:?} via {text:?}");
    }
}

/// Batch mode against std, line by line: the output is the prefix of every line up to the
/// first line std cannot parse, where batch must stop with that line's number.
fn batch_agrees(data: &[u8]) {
    let mut want = String::new();
    let mut bad_line = None;
    let lines: Vec<&[u8]> = if data.is_empty() { Vec::new() } else { data.split(|&b| b == b'\n').collect() };
    let n = lines.len() - usize::from(data.ends_with(b"\n"));
    for (i, l) in lines.iter().take(n).enumerate() {
        let t = l.trim_ascii();
        if t.is_empty() {
            continue;
        }
        match std::str::from_utf8(t).ok().and_then(|s| s.parse::<Ipv4Addr>().ok()) {
            Some(v4) => want.push_str(&format!("{}\n", sixtofour_prefix(v4))),
            None => {
                bad_line = Some(i as u64 + 1);
                break;
            }
        }
    }
    let mut out = Vec::new();
    let r = batch(data, &mut out, Scope::AllowNonGlobal);
    match (r, bad_line) {
        (Ok(_), None) => {}
        (Err(sixgate_6to4::Error::Line { line, .. }), Some(b)) => {
            assert_eq!(line, b, "batch stopped at the wrong line")
        }
        (r, b) => panic!("batch returned {r:?}, expected a stop at line {b:?}"),
    }
    assert_eq!(String::from_utf8_lossy(&out), want, "batch output");
}

/// `addr` explanation: every IPv4 address found re-embeds to the same address; the
/// classification, texts, /64 and reverse name are consistent with the address. The input
/// is 16 raw bytes (an IPv6 address) or address text.
pub fn addr_explain(data: &[u8]) {
    let e = if let Ok(b) = <[u8; 16]>::try_from(data) {
        explain(IpAddr::V6(Ipv6Addr::from(b)))
    } else {
        let Ok(s) = std::str::from_utf8(data) else { return };
        match explain_str(s) {
            Ok(e) => e,
            Err(_) => {
                assert!(parse_addr(s).is_err(), "parse_addr accepts {s:?} but explain_str refuses it");
                return;
            }
        }
    };
    check_explanation(&e);
}

fn check_explanation(e: &Explanation) {
    let a = e.address;
    assert_eq!(e.class, classify(a), "{a}");
    assert_eq!(e.canonical.parse::<IpAddr>().ok(), Some(a), "canonical text of {a}");
    assert_eq!(reverse_to_addr(&e.reverse_name), Some(a), "reverse name {}", e.reverse_name);
    let _ = e.to_string();
    let IpAddr::V6(v6) = a else {
        assert!(e.embedded.is_empty());
        if let Some(p) = e.sixtofour_prefix {
            assert!(e.class.global);
            assert_eq!(
                p,
                sixtofour_prefix(match a {
                    IpAddr::V4(v4) => v4,
                    IpAddr::V6(_) => unreachable!(),
                })
            );
        }
        return;
    };
    assert_eq!(e.expanded.as_deref().and_then(|x| x.parse::<Ipv6Addr>().ok()), Some(v6), "expanded text");
    if let Some(p) = e.prefix64 {
        assert!(p.prefix_len() == 64 && p.contains(&v6), "{p} does not hold {v6}");
    }
    for m in &e.embedded {
        let v4 = m.ipv4;
        assert_eq!(m.class, classify(IpAddr::V4(v4)));
        let ok = match m.carrier {
            Carrier::SixToFour => sixtofour_prefix(v4).contains(&v6) && sixtofour_extract(v6) == Some(v4),
            Carrier::Nat64WellKnown => embed(&Pool6::well_known(), v4) == v6,
            Carrier::Ipv4Mapped => v4.to_ipv6_mapped() == v6,
            Carrier::Ipv4Compatible => v4.to_ipv6_compatible() == v6,
            Carrier::Isatap => {
                let x = u128::from(v6);
                x as u32 == u32::from(v4) && matches!((x >> 32) as u32, 0x0000_5efe | 0x0200_5efe)
            }
            Carrier::TeredoServer | Carrier::TeredoClient => {
                let t = e.teredo.unwrap_or_else(|| panic!("{v6}: Teredo carrier without Teredo fields"));
                teredo::encode(&t) == v6 && (if m.carrier == Carrier::TeredoServer { t.server } else { t.client }) == v4
            }
            // `Carrier` is non-exhaustive: a new carrier must get its re-embedding check here.
            other => panic!("{v6}: no re-embedding check for carrier {}", other.name()),
        };
        assert!(ok, "{v6}: {} address {v4} does not re-embed to it", m.carrier.name());
    }
}

/// Inverts [`sixgate_6to4::explain::reverse_name`].
fn reverse_to_addr(name: &str) -> Option<IpAddr> {
    if let Some(r) = name.strip_suffix(".in-addr.arpa.") {
        let o: Vec<u8> = r.split('.').map(str::parse).collect::<Result<_, _>>().ok()?;
        let o: [u8; 4] = o.try_into().ok()?;
        return Some(IpAddr::V4(Ipv4Addr::new(o[3], o[2], o[1], o[0])));
    }
    let r = name.strip_suffix(".ip6.arpa.")?;
    let mut x: u128 = 0;
    let nibbles: Vec<&str> = r.split('.').collect();
    if nibbles.len() != 32 {
        return None;
    }
    for n in nibbles.iter().rev() {
        x = (x << 4) | u128::from(u8::from_str_radix(n, 16).ok()?);
    }
    Some(IpAddr::V6(Ipv6Addr::from(x)))
}

/// RFC 6052 extraction (and 6to4, 6rd): from bytes, a pool6 of each allowed length, an
/// address and an IPv4 address. embed→extract gives the IPv4 back; extract→embed gives
/// back every significant bit of the address; extraction refuses exactly what §2.2 says.
pub fn rfc6052_extract(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let mut b = [0u8; 36];
    for (d, s) in b.iter_mut().zip(rest) {
        *d = *s;
    }
    let len = ALLOWED_LENGTHS[usize::from(sel % 6)];
    let mut p: [u8; 16] = b[..16].try_into().unwrap_or_default();
    p[8] = 0;
    let net = Ipv6Net::new(Ipv6Addr::from(p), len).map(|n| n.trunc());
    let Ok(net) = net else { unreachable!("allowed lengths are valid") };
    let pool = Pool6::new(net).unwrap_or_else(|e| panic!("{net} refused: {e}"));
    assert_eq!(net.to_string().parse::<Pool6>().ok(), Some(pool), "Pool6 text round trip");
    let addr = Ipv6Addr::from(<[u8; 16]>::try_from(&b[16..32]).unwrap_or_default());
    let v4 = Ipv4Addr::new(b[32], b[33], b[34], b[35]);

    let e = embed(&pool, v4);
    assert!(pool.contains(e) && (len == 96 || e.octets()[8] == 0), "embed({pool}, {v4}) = {e}");
    assert_eq!(extract(&pool, e), Ok(v4), "extract(embed({pool}, {v4}))");

    match extract(&pool, addr) {
        Ok(got) => {
            // Every byte the prefix, the IPv4 address and the u-octet occupy must agree.
            let back = embed(&pool, got).octets();
            let o = addr.octets();
            let significant = usize::from(len / 8) + 4 + usize::from(len < 64);
            for i in 0..significant.min(16) {
                assert_eq!(back[i], o[i], "extract({pool}, {addr}) = {got}: byte {i} differs after embedding");
            }
        }
        Err(Rfc6052Error::NotInPrefix { .. }) => assert!(!pool.contains(addr)),
        Err(Rfc6052Error::UOctet(_)) => assert!(pool.contains(addr) && len < 96 && addr.octets()[8] != 0),
        Err(err) => panic!("extract({pool}, {addr}): unexpected {err}"),
    }

    // 6to4.
    let low = u128::from(addr) & ((1u128 << 80) - 1);
    assert_eq!(sixtofour_extract(Ipv6Addr::from(u128::from(sixtofour_prefix(v4).addr()) | low)), Some(v4));

    // 6rd: a domain from the same bytes; every CE in it round-trips.
    let plen = b[0] % 65;
    let mask = b[1] % 33;
    let prefix = Ipv6Net::new(addr, plen).map(|n| n.trunc());
    if let Ok(prefix) = prefix {
        if let Ok(dom) = SixRd::new(prefix, mask) {
            let dom = dom.with_relay(v4);
            let d = dom.delegated_prefix(v4).unwrap_or_else(|e| panic!("{prefix} /{mask} {v4}: {e}"));
            assert_eq!(dom.ce_ipv4_from_prefix(d).ok(), Some(v4), "6rd {prefix} IPv4MaskLen {mask}: {d}");
        } else {
            assert!(u16::from(plen) + 32 - u16::from(mask) > 64);
        }
    }
}
