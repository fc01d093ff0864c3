use super::*;
use hickory_proto::op::MessageType;
use hickory_proto::rr::rdata::{A, CNAME, SOA};

fn now() -> Instant {
    Instant::now()
}

#[test]
fn the_default_configuration_is_the_well_known_prefix() {
    let c = Dns64Config::default();
    assert_eq!(c.prefix, Pool6::well_known());
    assert_eq!(c, Dns64Config::new("64:ff9b::/96".parse().unwrap()));
}

fn d64(prefix: &str) -> Dns64 {
    Dns64::new(Dns64Config::new(prefix.parse().unwrap())).unwrap()
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn query(id: u16, qname: &str, qt: RecordType, edns: Option<(bool, u16)>, cd: bool) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.checking_disabled = cd;
    m.add_query(Query::query(name(qname), qt));
    if let Some((dnssec_ok, payload)) = edns {
        let mut e = Edns::new();
        e.set_dnssec_ok(dnssec_ok);
        e.set_max_payload(payload);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

/// The upstream's answer to `q`.
fn answer(q: &[u8], rcode: ResponseCode, answers: Vec<Record>, soa: Option<(u32, u32)>) -> Vec<u8> {
    let qm = Message::from_vec(q).unwrap();
    let mut m = Message::new(qm.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_available = true;
    m.metadata.recursion_desired = true;
    m.metadata.response_code = rcode;
    m.add_query(qm.queries[0].clone());
    m.insert_answers(answers);
    if let Some((ttl, min)) = soa {
        let s = SOA::new(name("ns.example."), name("h.example."), 1, 2, 3, 4, min);
        m.add_authority(Record::from_rdata(name("example."), ttl, RData::SOA(s)));
    }
    m.to_vec().unwrap()
}

fn a(n: &str, ttl: u32, ip: &str) -> Record {
    Record::from_rdata(name(n), ttl, RData::A(A(ip.parse().unwrap())))
}

fn aaaa(n: &str, ttl: u32, ip: &str) -> Record {
    Record::from_rdata(name(n), ttl, RData::AAAA(AAAA(ip.parse().unwrap())))
}

fn cname(n: &str, ttl: u32, t: &str) -> Record {
    Record::from_rdata(name(n), ttl, RData::CNAME(CNAME(name(t))))
}

fn ask(a: Action) -> Box<Pending> {
    match a {
        Action::Ask(p) => p,
        other => panic!("expected Ask, got {other:?}"),
    }
}

fn reply(a: Action) -> Message {
    match a {
        Action::Reply(r) => Message::from_vec(&r).unwrap(),
        other => panic!("expected Reply, got {other:?}"),
    }
}

fn aaaas(m: &Message) -> Vec<(String, u32, Ipv6Addr)> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(a) => Some((r.name.to_ascii(), r.ttl, a.0)),
            _ => None,
        })
        .collect()
}

/// Runs the AAAA → A exchange: returns the client's answer.
fn synth(d: &Dns64, aaaa_ans: (ResponseCode, Vec<Record>, Option<(u32, u32)>), a_ans: Vec<Record>) -> Message {
    let q = query(0x4242, "a-only.example.", RecordType::AAAA, None, false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    assert_eq!(p.query(), &q[..], "the AAAA query goes upstream as is");
    let up = answer(p.query(), aaaa_ans.0, aaaa_ans.1, aaaa_ans.2);
    match d.handle_upstream(p, &up, now()) {
        Action::Ask(p2) => {
            let qm = Message::from_vec(p2.query()).unwrap();
            assert_eq!(qm.queries[0].query_type, RecordType::A);
            let up2 = answer(p2.query(), ResponseCode::NoError, a_ans, None);
            let m = reply(d.handle_upstream(p2, &up2, now()));
            assert_eq!(m.metadata.id, 0x4242);
            assert_eq!(m.queries[0].query_type, RecordType::AAAA);
            m
        }
        Action::Reply(r) => Message::from_vec(&r).unwrap(),
        Action::Drop => panic!("dropped"),
    }
}

#[test]
fn nodata_synthesizes_with_soa_ttl() {
    let d = d64("64:ff9b::/96");
    let m = synth(&d, (ResponseCode::NoError, vec![], Some((3600, 300))), vec![a("a-only.example.", 1000, "8.8.8.8")]);
    assert_eq!(aaaas(&m), vec![("a-only.example.".into(), 300, "64:ff9b::808:808".parse().unwrap())]);
    assert!(!m.metadata.authentic_data && !m.metadata.authoritative);
    // A TTL smaller than the SOA's wins; the SOA record's own TTL caps too (RFC 2308).
    let m = synth(&d, (ResponseCode::NoError, vec![], Some((3600, 300))), vec![a("a-only.example.", 60, "8.8.8.8")]);
    assert_eq!(aaaas(&m)[0].1, 60);
    let m = synth(&d, (ResponseCode::NoError, vec![], Some((30, 300))), vec![a("a-only.example.", 60, "8.8.8.8")]);
    assert_eq!(aaaas(&m)[0].1, 30);
}

#[test]
fn no_soa_caps_ttl_at_600() {
    let d = d64("2001:db8:64::/96");
    let m = synth(&d, (ResponseCode::NoError, vec![], None), vec![a("a-only.example.", 86400, "192.0.2.1")]);
    assert_eq!(aaaas(&m), vec![("a-only.example.".into(), 600, "2001:db8:64::c000:201".parse().unwrap())]);
}

#[test]
fn nxdomain_is_not_synthesized() {
    let d = d64("64:ff9b::/96");
    let m = synth(&d, (ResponseCode::NXDomain, vec![], Some((60, 60))), vec![a("a-only.example.", 60, "8.8.8.8")]);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.answers.is_empty());
    assert_eq!(m.metadata.id, 0x4242);
}

#[test]
fn servfail_on_aaaa_is_treated_as_empty() {
    let d = d64("64:ff9b::/96");
    let m = synth(&d, (ResponseCode::ServFail, vec![], None), vec![a("a-only.example.", 60, "8.8.8.8")]);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(aaaas(&m).len(), 1);
}

#[test]
fn real_aaaa_passes_untouched() {
    let d = d64("64:ff9b::/96");
    let m = synth(&d, (ResponseCode::NoError, vec![aaaa("a-only.example.", 77, "2001:db8::1")], None), vec![]);
    assert_eq!(aaaas(&m), vec![("a-only.example.".into(), 77, "2001:db8::1".parse().unwrap())]);
}

#[test]
fn mapped_aaaa_is_excluded() {
    let d = d64("64:ff9b::/96");
    // Only a ::ffff:0:0/96 AAAA: treated as none, synthesized from A (§5.1.4).
    let m = synth(
        &d,
        (ResponseCode::NoError, vec![aaaa("a-only.example.", 77, "::ffff:1.2.3.4")], None),
        vec![a("a-only.example.", 60, "1.2.3.4")],
    );
    assert_eq!(aaaas(&m), vec![("a-only.example.".into(), 60, "64:ff9b::102:304".parse().unwrap())]);
    // A mix: the mapped one is removed, the real one kept, nothing synthesized.
    let m = synth(
        &d,
        (
            ResponseCode::NoError,
            vec![aaaa("a-only.example.", 77, "::ffff:1.2.3.4"), aaaa("a-only.example.", 77, "2001:db8::5")],
            None,
        ),
        vec![],
    );
    assert_eq!(aaaas(&m), vec![("a-only.example.".into(), 77, "2001:db8::5".parse().unwrap())]);
}

#[test]
fn cname_chain_kept() {
    let d = d64("64:ff9b::/96");
    let m = synth(
        &d,
        (ResponseCode::NoError, vec![cname("a-only.example.", 300, "t.example.")], Some((100, 100))),
        vec![cname("a-only.example.", 300, "t.example."), a("t.example.", 500, "9.9.9.9"), a("x.other.", 5, "1.1.1.1")],
    );
    assert_eq!(m.answers.len(), 2, "{m:?}");
    assert!(matches!(m.answers[0].data, RData::CNAME(_)));
    assert_eq!(aaaas(&m), vec![("t.example.".into(), 100, "64:ff9b::909:909".parse().unwrap())]);
}

#[test]
fn non_global_refused_under_well_known_prefix() {
    let d = d64("64:ff9b::/96");
    let m = synth(&d, (ResponseCode::NoError, vec![], None), vec![a("a-only.example.", 60, "10.1.2.3")]);
    assert!(aaaas(&m).is_empty());
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    // A network-specific prefix may carry them.
    let d = d64("2001:db8:64::/96");
    let m = synth(&d, (ResponseCode::NoError, vec![], None), vec![a("a-only.example.", 60, "10.1.2.3")]);
    assert_eq!(aaaas(&m).len(), 1);
}

#[test]
fn no_a_returns_the_aaaa_answer() {
    let d = d64("64:ff9b::/96");
    let m = synth(&d, (ResponseCode::NoError, vec![], Some((60, 60))), vec![]);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1, "the original NODATA with its SOA");
}

#[test]
fn do_and_cd_are_not_synthesized() {
    let d = d64("64:ff9b::/96");
    let q = query(7, "a-only.example.", RecordType::AAAA, Some((true, 1232)), true);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let up = answer(p.query(), ResponseCode::NoError, vec![], None);
    let m = reply(d.handle_upstream(p, &up, now()));
    assert!(m.answers.is_empty());
    // DO alone: synthesized.
    let q = query(7, "a-only.example.", RecordType::AAAA, Some((true, 1232)), false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let up = answer(p.query(), ResponseCode::NoError, vec![], None);
    assert!(matches!(d.handle_upstream(p, &up, now()), Action::Ask(_)));
}

#[test]
fn ipv4only_arpa() {
    let d = d64("2001:db8:64::/96");
    let q = query(9, "IPv4only.arpa.", RecordType::AAAA, None, false);
    let m = reply(d.handle_query(&q, Transport::Udp, now()));
    let got: Vec<_> = aaaas(&m).into_iter().map(|x| x.2).collect();
    assert_eq!(got, ["2001:db8:64::c000:aa".parse::<Ipv6Addr>().unwrap(), "2001:db8:64::c000:ab".parse().unwrap()]);
}

#[test]
fn ptr_under_prefix_is_rewritten() {
    let d = d64("2001:db8:64::/96");
    let q6 = "1.0.2.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.4.6.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
    let q = query(11, q6, RecordType::PTR, None, false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let qm = Message::from_vec(p.query()).unwrap();
    assert_eq!(qm.queries[0].name, name("1.2.0.192.in-addr.arpa."));
    let ptr = Record::from_rdata(name("1.2.0.192.in-addr.arpa."), 99, RData::PTR(PTR(name("host.example."))));
    let up = answer(p.query(), ResponseCode::NoError, vec![ptr], None);
    let m = reply(d.handle_upstream(p, &up, now()));
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].name, name(q6));
    assert_eq!(m.answers[0].ttl, 99);
    // Outside the prefix: forwarded as is.
    let q = query(
        12,
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
        RecordType::PTR,
        None,
        false,
    );
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    assert_eq!(p.query(), &q[..]);
}

#[test]
fn malformed_and_odd_queries() {
    let d = d64("64:ff9b::/96");
    assert!(matches!(d.handle_query(&[1, 2, 3], Transport::Udp, now()), Action::Drop));
    let mut q = query(5, "x.example.", RecordType::AAAA, None, false);
    q.truncate(q.len() - 3);
    match d.handle_query(&q, Transport::Udp, now()) {
        Action::Reply(r) => {
            assert_eq!(&r[..2], &[0, 5]);
            assert_eq!(r[3] & 0xf, 1);
        }
        other => panic!("{other:?}"),
    }
    // A response sent to us is dropped.
    let q = query(5, "x.example.", RecordType::AAAA, None, false);
    let up = answer(&q, ResponseCode::NoError, vec![], None);
    assert!(matches!(d.handle_query(&up, Transport::Udp, now()), Action::Drop));
}

#[test]
fn upstream_garbage_timeout_and_wrong_question_servfail() {
    let d = d64("64:ff9b::/96");
    let q = query(5, "x.example.", RecordType::AAAA, None, false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let m = reply(d.handle_upstream(p, b"garbage garbage", now()));
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let other = query(5, "y.example.", RecordType::AAAA, None, false);
    let up = answer(&other, ResponseCode::NoError, vec![aaaa("y.example.", 1, "2001:db8::1")], None);
    let m = reply(d.handle_upstream(p, &up, now()));
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let m = Message::from_vec(&d.handle_timeout(p)).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(m.metadata.id, 5);
}

#[test]
fn undecodable_records_are_relayed() {
    let d = d64("64:ff9b::/96");
    let q = query(5, "x.example.", RecordType::AAAA, None, false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let mut up = answer(p.query(), ResponseCode::NoError, vec![], None);
    up[7] = 1; // ANCOUNT 1: an A record with a 3-byte address
    up.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 3, 1, 2, 3]);
    assert!(Message::from_vec(&up).is_err());
    match d.handle_upstream(p, &up, now()) {
        Action::Reply(r) => assert_eq!(r, up),
        other => panic!("{other:?}"),
    }
}

#[test]
fn large_answer_truncated_for_udp() {
    let d = d64("64:ff9b::/96");
    let q = query(5, "big.example.", RecordType::A, None, false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let many: Vec<_> = (0..60).map(|i| a("big.example.", 60, &format!("8.8.{i}.1"))).collect();
    let up = answer(p.query(), ResponseCode::NoError, many, None);
    assert!(up.len() > 512);
    let m = reply(d.handle_upstream(p, &up, now()));
    assert!(m.metadata.truncation && m.answers.is_empty());
    let p = ask(d.handle_query(&q, Transport::Tcp, now()));
    let m = reply(d.handle_upstream(p, &up, now()));
    assert_eq!(m.answers.len(), 60);
}
