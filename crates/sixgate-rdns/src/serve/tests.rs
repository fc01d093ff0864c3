use super::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use proptest::prelude::*;

fn header() -> ZoneHeader {
    let mut h =
        ZoneHeader::new(vec!["ns1.example.net.".into(), "ns2.example.net.".into()], "hostmaster.example.net.".into());
    h.serial = 2026010100;
    h.ttl = 3600;
    h.minimum = 300;
    h
}

fn prefix(net: &str, template: &str) -> ServedPrefix {
    ServedPrefix { net: net.parse().unwrap(), template: Template::parse(template, None).unwrap() }
}

fn config() -> ServeConfig {
    let mut c = ServeConfig::new(header());
    c.forward_zone = Some("example.net.".into());
    c.prefixes.push(prefix("2001:db8:0:1::/64", "host-{dashed}.dyn.example.net."));
    c.prefixes.push(prefix("192.0.2.0/24", "v4-{dashed}.example.net."));
    c.prefixes.push(prefix("198.51.100.64/26", "c-{v4}.example.net."));
    c.prefixes.push(prefix("2001:db8:ff::/120", "{hex}.elsewhere.example.org."));
    c.records.push(Ptr { addr: "2001:db8:0:1::53".parse().unwrap(), name: "ns1.example.net.".into() });
    c.records.push(Ptr { addr: "192.0.2.53".parse().unwrap(), name: "ns1.example.net.".into() });
    c.records.push(Ptr { addr: "203.0.113.9".parse().unwrap(), name: "www.lab.example.net.".into() });
    c
}

fn auth() -> Authority {
    Authority::new(config()).unwrap()
}

/// A query built by hand (hickory's names refuse the '/' of RFC 2317 labels): `edns` is
/// (payload, version, DO).
fn query(name: &str, qtype: u16, edns: Option<(u16, u8, bool)>) -> Vec<u8> {
    let mut q = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())];
    for l in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if let Some((udp, version, d)) = edns {
        q.push(0);
        q.extend_from_slice(&41u16.to_be_bytes());
        q.extend_from_slice(&udp.to_be_bytes());
        q.extend_from_slice(&[0, version, if d { 0x80 } else { 0 }, 0, 0, 0]);
    }
    q
}

fn ask(a: &Authority, name: &str, qtype: u16) -> Message {
    Message::from_vec(&a.respond(&query(name, qtype, None), false).unwrap()).unwrap()
}

fn rcode(m: &Message) -> ResponseCode {
    m.metadata.response_code
}

fn ptrs(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .collect()
}

fn addrs(m: &Message) -> Vec<IpAddr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// A negative answer: AA, no answer, the zone's SOA with the negative TTL (RFC 2308 §3, §5).
fn assert_negative(m: &Message, code: ResponseCode, apex: &str) {
    assert_eq!(rcode(m), code, "{m}");
    assert!(m.metadata.authoritative, "{m}");
    assert!(m.answers.is_empty(), "{m}");
    assert_eq!(m.authorities.len(), 1, "{m}");
    let soa = &m.authorities[0];
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert_eq!(soa.name.to_ascii().replace("\\/", "/"), apex);
    assert_eq!(soa.ttl, 300, "min(TTL, SOA minimum)");
}

const HOST5: &str = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
const APEX6: &str = "1.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";

#[test]
fn synthesized_ptr_and_its_forward_name_agree() {
    let a = auth();
    let m = ask(&a, HOST5, 12);
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(m.metadata.authoritative && !m.metadata.recursion_available && m.metadata.recursion_desired);
    assert_eq!(ptrs(&m), ["host-2001-db8-0-1--5.dyn.example.net."]);
    assert_eq!(m.answers[0].ttl, 3600);
    // RFC 1912 §2.1: the name's AAAA is the address.
    let f = ask(&a, "HOST-2001-db8-0-1--5.dyn.example.net.", 28);
    assert_eq!(addrs(&f), ["2001:db8:0:1::5".parse::<IpAddr>().unwrap()]);
    assert!(f.metadata.authoritative);
    // The question's case is kept (RFC 4343 §4.1).
    assert_eq!(f.queries[0].name().to_ascii(), "HOST-2001-db8-0-1--5.dyn.example.net.");
    // The other family, another type: NODATA.
    assert_negative(&ask(&a, "host-2001-db8-0-1--5.dyn.example.net.", 1), ResponseCode::NoError, "example.net.");
    assert_negative(&ask(&a, HOST5, 28), ResponseCode::NoError, APEX6);
    // IPv4 both ways.
    assert_eq!(ptrs(&ask(&a, "7.2.0.192.in-addr.arpa.", 12)), ["v4-192-0-2-7.example.net."]);
    assert_eq!(addrs(&ask(&a, "v4-192-0-2-7.example.net.", 1)), ["192.0.2.7".parse::<IpAddr>().unwrap()]);
    // ANY at a host.
    assert_eq!(ptrs(&ask(&a, HOST5, 255)).len(), 1);
}

#[test]
fn explicit_records_win() {
    let a = auth();
    let h53 = crate::name::reverse_name("2001:db8:0:1::53".parse().unwrap());
    assert_eq!(ptrs(&ask(&a, &h53, 12)), ["ns1.example.net."]);
    assert_eq!(ptrs(&ask(&a, "53.2.0.192.in-addr.arpa.", 12)), ["ns1.example.net."]);
    let mut both = addrs(&ask(&a, "ns1.example.net.", 255));
    both.sort();
    assert_eq!(both, ["192.0.2.53".parse::<IpAddr>().unwrap(), "2001:db8:0:1::53".parse().unwrap()]);
    assert_eq!(addrs(&ask(&a, "ns1.example.net.", 1)), ["192.0.2.53".parse::<IpAddr>().unwrap()]);
    // An explicit name outside every prefix is still served forward (its PTR is not ours).
    assert_eq!(addrs(&ask(&a, "www.lab.example.net.", 1)), ["203.0.113.9".parse::<IpAddr>().unwrap()]);
    assert_eq!(rcode(&ask(&a, "9.113.0.203.in-addr.arpa.", 12)), ResponseCode::Refused);
    // Its parent is an empty non-terminal.
    assert_negative(&ask(&a, "lab.example.net.", 1), ResponseCode::NoError, "example.net.");
}

#[test]
fn empty_non_terminals_and_nxdomain() {
    let a = auth();
    // RFC 8020: every nibble name between the apex and a host is an ENT.
    for k in 1..16 {
        let labels: Vec<&str> = HOST5.split('.').collect();
        let name = labels[k..].join(".");
        assert_negative(&ask(&a, &name, 12), ResponseCode::NoError, APEX6);
    }
    assert_negative(&ask(&a, "2.0.192.in-addr.arpa.", 12), ResponseCode::NoError, "2.0.192.in-addr.arpa.");
    // Below a host name, or not a nibble: nothing.
    assert_negative(&ask(&a, &format!("0.{HOST5}"), 12), ResponseCode::NXDomain, APEX6);
    assert_negative(&ask(&a, &format!("www.{APEX6}"), 12), ResponseCode::NXDomain, APEX6);
    assert_negative(&ask(&a, "1.7.2.0.192.in-addr.arpa.", 12), ResponseCode::NXDomain, "2.0.192.in-addr.arpa.");
    assert_negative(&ask(&a, "07.2.0.192.in-addr.arpa.", 12), ResponseCode::NXDomain, "2.0.192.in-addr.arpa.");
    // Forward: the template's fixed labels are an ENT; other names and non-canonical
    // spellings do not exist.
    assert_negative(&ask(&a, "dyn.example.net.", 28), ResponseCode::NoError, "example.net.");
    assert_negative(&ask(&a, "nothing.example.net.", 28), ResponseCode::NXDomain, "example.net.");
    assert_negative(&ask(&a, "host-2001-db8-0-1-0-0-0-5.dyn.example.net.", 28), ResponseCode::NXDomain, "example.net.");
    assert_negative(&ask(&a, "host-2001-db8-0-2--5.dyn.example.net.", 28), ResponseCode::NXDomain, "example.net.");
    // A name under a host name.
    assert_negative(&ask(&a, "x.v4-192-0-2-7.example.net.", 1), ResponseCode::NXDomain, "example.net.");
}

#[test]
fn apex_soa_ns_and_refused_outside() {
    let a = auth();
    for apex in [APEX6, "2.0.192.in-addr.arpa.", "64/26.100.51.198.in-addr.arpa.", "example.net."] {
        let m = ask(&a, apex, 6);
        assert_eq!(m.answers.len(), 1, "{apex}: {m}");
        let RData::SOA(soa) = &m.answers[0].data else { panic!("{m}") };
        assert_eq!((soa.mname.to_ascii().as_str(), soa.serial, soa.minimum), ("ns1.example.net.", 2026010100, 300));
        let m = ask(&a, apex, 2);
        assert_eq!(m.answers.len(), 2, "{m}");
        assert_eq!(ask(&a, apex, 255).answers.len(), 3);
        assert_negative(&ask(&a, apex, 1), ResponseCode::NoError, apex);
    }
    for outside in
        ["example.org.", "8.b.d.0.1.0.0.2.ip6.arpa.", "ip6.arpa.", ".", "70.100.51.198.in-addr.arpa.", "net."]
    {
        let m = ask(&a, outside, 12);
        assert_eq!(rcode(&m), ResponseCode::Refused, "{outside}");
        assert!(!m.metadata.authoritative && m.answers.is_empty() && m.authorities.is_empty());
    }
    // The names under another domain are served in reverse only.
    let ff = &crate::name::reverse_name("2001:db8:ff::5".parse().unwrap());
    assert_eq!(ptrs(&ask(&a, ff, 12)), ["20010db800ff00000000000000000005.elsewhere.example.org."]);
    assert_eq!(rcode(&ask(&a, "20010db800ff00000000000000000005.elsewhere.example.org.", 28)), ResponseCode::Refused);
}

#[test]
fn rfc2317_child_zone() {
    let a = auth();
    let m = ask(&a, "70.64/26.100.51.198.in-addr.arpa.", 12);
    assert_eq!(ptrs(&m), ["c-198-51-100-70.example.net."]);
    assert_eq!(addrs(&ask(&a, "c-198-51-100-70.example.net.", 1)), ["198.51.100.70".parse::<IpAddr>().unwrap()]);
    // Outside the block, or not an octet: nothing there.
    let apex = "64/26.100.51.198.in-addr.arpa.";
    assert_negative(&ask(&a, "200.64/26.100.51.198.in-addr.arpa.", 12), ResponseCode::NXDomain, apex);
    assert_negative(&ask(&a, "x.64/26.100.51.198.in-addr.arpa.", 12), ResponseCode::NXDomain, apex);
    assert_negative(&ask(&a, "c-198-51-100-7.example.net.", 1), ResponseCode::NXDomain, "example.net.");
}

#[test]
fn edns_do_badvers_and_truncation() {
    let a = auth();
    let r = a.respond(&query(HOST5, 12, Some((4096, 0, true))), false).unwrap();
    let m = Message::from_vec(&r).unwrap();
    let e = m.edns.as_ref().expect("OPT in the answer");
    assert!(e.flags().dnssec_ok, "RFC 3225 §3: DO copied");
    assert_eq!(e.max_payload(), DEFAULT_UDP_PAYLOAD);
    assert_eq!(ptrs(&m).len(), 1);
    // No OPT in, none out (RFC 6891 §7).
    assert!(Message::from_vec(&a.respond(&query(HOST5, 12, None), false).unwrap()).unwrap().edns.is_none());
    // RFC 6891 §6.1.3: version 1 gets BADVERS (16: upper bits 1 in the OPT TTL, lower 0).
    let r = a.respond(&query(HOST5, 12, Some((1232, 1, false))), false).unwrap();
    assert_eq!(r[3] & 0xf, 0);
    assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0, "no answer");
    let opt_at = r.len() - 11;
    assert_eq!(&r[opt_at..opt_at + 3], &[0, 0, 41]);
    assert_eq!((r[opt_at + 5], r[opt_at + 6]), (1, 0), "extended RCODE 16, version 0");

    // Many long NS names: the NS answer does not fit 512 octets.
    let mut c = config();
    c.header.ns = (0..20).map(|i| format!("a-rather-long-name-server-name-{i:02}.example.net.")).collect();
    c.max_udp_payload = 4096;
    let a = Authority::new(c).unwrap();
    let r = a.respond(&query(APEX6, 2, None), false).unwrap();
    let m = Message::from_vec(&r).unwrap();
    assert!(m.metadata.truncation && m.answers.is_empty() && m.metadata.authoritative, "{m}");
    assert!(r.len() <= 512);
    // Over TCP, or with a large enough EDNS size: whole.
    let r = a.respond(&query(APEX6, 2, None), true).unwrap();
    let m = Message::from_vec(&r).unwrap();
    assert_eq!((m.metadata.truncation, m.answers.len()), (false, 20));
    let m = Message::from_vec(&a.respond(&query(APEX6, 2, Some((4096, 0, false))), false).unwrap()).unwrap();
    assert_eq!((m.metadata.truncation, m.answers.len()), (false, 20));
    let r = a.respond(&query(APEX6, 2, Some((600, 0, true))), false).unwrap();
    let m = Message::from_vec(&r).unwrap();
    assert!(m.metadata.truncation && r.len() <= 600);
    assert!(m.edns.unwrap().flags().dnssec_ok, "DO kept on truncation");
}

#[test]
fn bad_queries() {
    let a = auth();
    let good = query(HOST5, 12, None);
    // Too short or a response: no answer.
    assert!(a.respond(&good[..11], false).is_none());
    let mut resp = good.clone();
    resp[2] |= 0x80;
    assert!(a.respond(&resp, false).is_none());
    let code = |q: &[u8]| a.respond(q, false).map(|r| (r[3] & 0xf, r[2] & 0x80 != 0, [r[0], r[1]]));
    // Cut inside the question, two questions, no question: FORMERR.
    assert_eq!(code(&good[..good.len() - 2]), Some((1, true, [0xab, 0xcd])));
    let mut two = good.clone();
    two[5] = 2;
    assert_eq!(code(&two).unwrap().0, 1);
    let mut none = good[..12].to_vec();
    none[5] = 0;
    assert_eq!(code(&none).unwrap().0, 1);
    // Two OPT records, an OPT not owned by the root, a record running past the end.
    let mut q = query(HOST5, 12, Some((1232, 0, false)));
    let opt = q[q.len() - 11..].to_vec();
    q.extend_from_slice(&opt);
    q[11] = 2;
    assert_eq!(code(&q).unwrap().0, 1);
    let mut q = query(HOST5, 12, Some((1232, 0, false)));
    let n = q.len();
    q[n - 11] = 0xc0;
    q.insert(n - 10, 12);
    assert_eq!(code(&q).unwrap().0, 1);
    let mut q = query(HOST5, 12, None);
    q[11] = 1;
    assert_eq!(code(&q).unwrap().0, 1);
    // NOTIFY and UPDATE: NOTIMP.
    for op in [4u8, 5] {
        let mut q = good.clone();
        q[2] = op << 3;
        assert_eq!(code(&q).unwrap().0, 4);
    }
    // Class CHAOS: REFUSED.
    let mut q = good.clone();
    let n = q.len();
    q[n - 1] = 3;
    assert_eq!(code(&q).unwrap().0, 5);
}

#[test]
fn zone_transfers() {
    let a = auth();
    // UDP: refused; a /64: far more than the limit.
    assert_eq!(rcode(&ask(&a, "2.0.192.in-addr.arpa.", 252)), ResponseCode::Refused);
    let r = a.respond(&query(APEX6, 252, None), true).unwrap();
    assert_eq!(r[3] & 0xf, 5);
    // A /24 over TCP: SOA, 2 NS, 256 PTR, SOA, explicit records first.
    let r = a.respond(&query("2.0.192.in-addr.arpa.", 252, None), true).unwrap();
    let m = Message::from_vec(&r).unwrap();
    assert_eq!(m.answers.len(), 260);
    assert_eq!(m.answers[0].record_type(), RecordType::SOA);
    assert_eq!(m.answers[259].record_type(), RecordType::SOA);
    let owners: Vec<String> = m.answers.iter().map(|r| r.name.to_ascii()).collect();
    assert_eq!(owners[3], "0.2.0.192.in-addr.arpa.");
    assert!(owners.contains(&"255.2.0.192.in-addr.arpa.".to_owned()));
    let targets = ptrs(&m);
    assert!(targets.contains(&"ns1.example.net.".to_owned()));
    assert!(targets.contains(&"v4-192-0-2-9.example.net.".to_owned()));
    // Several messages for a larger zone: respond() refuses, respond_all() streams it.
    let mut c = config();
    c.prefixes = vec![prefix("2001:db8::/116", "a-long-name-for-every-host-{dashed}.example.net.")];
    let a = Authority::new(c).unwrap();
    let apex = &crate::name::prefix_name("2001:db8::/116".parse().unwrap());
    assert_eq!(a.respond(&query(apex, 252, None), true).unwrap()[3] & 0xf, 5);
    let all = a.respond_all(&query(apex, 252, None), true);
    assert!(all.len() > 1);
    let mut n = 0;
    for r in &all {
        assert!(r.len() <= 65_535);
        n += Message::from_vec(r).unwrap().answers.len();
    }
    assert_eq!(n, 4096 + 4);
    // The forward zone: every synthesized name plus the three explicit records.
    let fwd = a.respond_all(&query("example.net.", 252, None), true);
    let n: usize = fwd.iter().map(|r| Message::from_vec(r).unwrap().answers.len()).sum();
    assert_eq!(n, 4096 + 4 + 3);
}

#[test]
fn configurations_refused() {
    let mut c = config();
    c.prefixes.clear();
    assert!(matches!(Authority::new(c), Err(ServeError::NoPrefix)));
    let mut c = config();
    c.prefixes.push(prefix("192.0.2.0/24", "other-{hex}.example.net."));
    assert!(matches!(Authority::new(c), Err(ServeError::DuplicateZone { .. })));
    let mut c = config();
    c.prefixes.push(prefix("2001:db8:5::/64", "{v4}.example.net."));
    let e = Authority::new(c).unwrap_err();
    assert!(matches!(e, ServeError::NotInjective { .. }), "{e}");
    let mut c = config();
    c.prefixes.push(prefix(
        "2001:db8:6::/64",
        &format!(
            "{}.{}.{}.{}.x{{dashed}}.example.net.",
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(30)
        ),
    ));
    assert!(matches!(Authority::new(c), Err(ServeError::TemplateTooLong { .. })));
    let mut c = config();
    c.max_udp_payload = 100;
    assert!(matches!(Authority::new(c), Err(ServeError::UdpPayload(100))));
    let mut c = config();
    c.header.ns.clear();
    assert!(matches!(Authority::new(c), Err(ServeError::Rdns(_))));
}

proptest! {
    /// Any bytes: no panic, and an answer is a response to the same ID.
    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), tcp in any::<bool>()) {
        let a = auth();
        if let Some(r) = a.respond(&bytes, tcp) {
            prop_assert!(r.len() >= 12);
            prop_assert_eq!(&r[..2], &bytes[..2]);
            prop_assert!(r[2] & 0x80 != 0);
        }
    }

    /// A valid query with some bytes changed: still no panic, and every UDP answer fits.
    #[test]
    fn mutated_queries(edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6), which in 0usize..4) {
        let a = auth();
        let names = [HOST5, "7.2.0.192.in-addr.arpa.", "host-2001-db8-0-1--5.dyn.example.net.", "70.64/26.100.51.198.in-addr.arpa."];
        let mut q = query(names[which], 12, Some((1232, 0, true)));
        for (at, v) in edits {
            let n = q.len();
            q[usize::from(at) % n] = v;
        }
        if let Some(r) = a.respond(&q, false) {
            prop_assert!(r.len() <= usize::from(DEFAULT_UDP_PAYLOAD));
            prop_assert!(Message::from_vec(&r).is_ok() || r[3] & 0xf != 0);
        }
    }

    /// Every address of a prefix: its PTR's target's A/AAAA is the address.
    #[test]
    fn forward_and_reverse_agree(host in any::<u64>(), v4 in any::<u8>()) {
        let a = auth();
        let addr = IpAddr::V6(std::net::Ipv6Addr::from((0x2001_0db8_0000_0001u128 << 64) | u128::from(host)));
        for addr in [addr, IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, v4))] {
            if a.ptr.contains_key(&addr) { continue; }
            let m = ask(&a, &crate::name::reverse_name(addr), 12);
            let target = ptrs(&m).pop().unwrap();
            let f = ask(&a, &target, if addr.is_ipv4() { 1 } else { 28 });
            prop_assert_eq!(addrs(&f), vec![addr]);
        }
    }
}
