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

/// RFC 6147 §5.1.2 alone would treat an upstream SERVFAIL like an empty answer and
/// synthesize; but a validating upstream answers SERVFAIL exactly when the AAAA data did
/// not validate (bogus), and §5.5 says that data MUST NOT be the basis of synthesis
/// ("the vDNS64 MUST respond with RCODE=2"). BIND 9 passes the SERVFAIL on; so do we.
/// Other error RCODEs stay "treated as empty" (§5.1.2).
#[test]
fn servfail_on_aaaa_is_passed_on() {
    let d = d64("64:ff9b::/96");
    let m = synth(&d, (ResponseCode::ServFail, vec![], None), vec![a("a-only.example.", 60, "8.8.8.8")]);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert!(aaaas(&m).is_empty());
    let m = synth(&d, (ResponseCode::Refused, vec![], None), vec![a("a-only.example.", 60, "8.8.8.8")]);
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

/// An upstream answer to `q`, changed by `f` (flags, EDNS, sections).
fn answer_with(
    q: &[u8],
    rcode: ResponseCode,
    answers: Vec<Record>,
    soa: Option<(u32, u32)>,
    f: impl FnOnce(&mut Message),
) -> Vec<u8> {
    let mut m = Message::from_vec(&answer(q, rcode, answers, soa)).unwrap();
    f(&mut m);
    m.to_vec().unwrap()
}

/// An extended DNS error option (RFC 8914) in the answer's OPT record.
fn with_ede(m: &mut Message, info_code: u16) {
    use hickory_proto::rr::rdata::opt::EdnsOption;
    let mut e = m.edns.clone().unwrap_or_default();
    e.options_mut().insert(EdnsOption::Unknown(15, info_code.to_be_bytes().to_vec()));
    m.set_edns(e);
}

/// The AAAA query for `a-only.example.` (ID 0x4242) with this EDNS, to its A query.
fn to_a_query(d: &Dns64, edns: Option<(bool, u16)>, aaaa_up: impl FnOnce(&[u8]) -> Vec<u8>) -> Box<Pending> {
    let q = query(0x4242, "a-only.example.", RecordType::AAAA, edns, false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let up = aaaa_up(p.query());
    ask(d.handle_upstream(p, &up, now()))
}

#[test]
fn dnssec_extended_errors_block_synthesis() {
    let d = d64("64:ff9b::/96");
    // RFC 8914 code 6, DNSSEC Bogus, on a NODATA: the data did not validate (RFC 6147 §5.5).
    for code in [6u16, 7, 10] {
        let q = query(0x4242, "a-only.example.", RecordType::AAAA, Some((false, 1232)), false);
        let p = ask(d.handle_query(&q, Transport::Udp, now()));
        let up = answer_with(p.query(), ResponseCode::NoError, vec![], Some((60, 60)), |m| with_ede(m, code));
        let m = reply(d.handle_upstream(p, &up, now()));
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "EDE {code}");
    }
    // Code 1 (unsupported DNSKEY algorithm) means insecure, not bogus: synthesis goes on.
    let p = to_a_query(&d, Some((false, 1232)), |q| {
        answer_with(q, ResponseCode::NoError, vec![], Some((60, 60)), |m| with_ede(m, 1))
    });
    // A DNSSEC failure on the A answer: SERVFAIL too.
    let up = answer_with(p.query(), ResponseCode::NoError, vec![a("a-only.example.", 60, "8.8.8.8")], None, |m| {
        with_ede(m, 6)
    });
    let m = reply(d.handle_upstream(p, &up, now()));
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

/// The RCODE of a raw answer, extended by its OPT record (RFC 6891 §6.1.3), and the EDNS
/// version of that OPT.
fn extended_rcode(r: &[u8]) -> (u16, Option<u8>) {
    let m = Message::from_vec(r).unwrap();
    let low = u16::from(r[3] & 0x0f);
    match &m.edns {
        Some(e) => (low | u16::from(e.rcode_high()) << 4, Some(e.version())),
        None => (low, None),
    }
}

#[test]
fn edns_version_1_gets_badvers_and_is_never_forwarded() {
    let d = d64("64:ff9b::/96");
    for qt in [RecordType::AAAA, RecordType::A, RecordType::PTR] {
        let mut m = Message::from_vec(&query(3, "dual.example.", qt, Some((true, 1232)), false)).unwrap();
        let mut e = m.edns.clone().unwrap();
        e.set_version(1);
        m.set_edns(e);
        match d.handle_query(&m.to_vec().unwrap(), Transport::Udp, now()) {
            // RFC 6891 §6.1.3: RCODE BADVERS (16), an OPT of version 0.
            Action::Reply(r) => {
                assert_eq!(extended_rcode(&r), (16, Some(0)), "{qt}");
                let m = Message::from_vec(&r).unwrap();
                assert_eq!(m.metadata.id, 3);
                assert_eq!(m.queries.len(), 1);
                assert!(m.answers.is_empty());
                assert!(m.edns.unwrap().flags().dnssec_ok, "DO mirrored");
            }
            other => panic!("{qt}: expected BADVERS, got {other:?}"),
        }
    }
}

/// A DNAME record (RFC 6672), which hickory-proto keeps as opaque RDATA.
fn dname(n: &str, ttl: u32, target: &str) -> Record {
    use hickory_proto::rr::rdata::NULL;
    use hickory_proto::serialize::binary::BinEncodable;
    let rdata = NULL::with(name(target).to_bytes().unwrap());
    Record::from_rdata(name(n), ttl, RData::Unknown { code: RecordType::DNAME, rdata })
}

fn types(m: &Message) -> Vec<RecordType> {
    m.answers.iter().map(|r| r.record_type()).collect()
}

#[test]
fn dname_chain_kept() {
    let d = d64("64:ff9b::/96");
    // RFC 6147 §5.1.5: the DNAME and its CNAME of the AAAA answer come with the synthesized
    // AAAA; the A query asks for the target.
    let m = synth(
        &d,
        (
            ResponseCode::NoError,
            vec![dname("example.", 300, "other."), cname("a-only.example.", 300, "a-only.other.")],
            Some((100, 100)),
        ),
        vec![a("a-only.other.", 500, "9.9.9.9")],
    );
    assert_eq!(types(&m), [RecordType::DNAME, RecordType::CNAME, RecordType::AAAA], "{m:?}");
    assert_eq!(m.answers[0].name, name("example."));
    assert_eq!(aaaas(&m), vec![("a-only.other.".into(), 100, "64:ff9b::909:909".parse().unwrap())]);
    // A DNAME without its CNAME (an old server): the CNAME is made from it (RFC 6672 §3.1).
    let q = query(0x4242, "a-only.example.", RecordType::AAAA, None, false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let up = answer(p.query(), ResponseCode::NoError, vec![dname("example.", 300, "other.")], None);
    let p = ask(d.handle_upstream(p, &up, now()));
    assert_eq!(Message::from_vec(p.query()).unwrap().queries[0].name, name("a-only.other."));
    let up = answer(p.query(), ResponseCode::NoError, vec![a("a-only.other.", 500, "9.9.9.9")], None);
    let m = reply(d.handle_upstream(p, &up, now()));
    assert_eq!(types(&m), [RecordType::DNAME, RecordType::CNAME, RecordType::AAAA]);
    assert!(matches!(&m.answers[1].data, RData::CNAME(c) if c.0 == name("a-only.other.")));
    // A DNAME that the A answer carries (the AAAA answer had no chain): kept as well.
    let m = synth(
        &d,
        (ResponseCode::NoError, vec![], None),
        vec![
            dname("example.", 300, "other."),
            cname("a-only.example.", 300, "a-only.other."),
            a("a-only.other.", 60, "9.9.9.9"),
        ],
    );
    assert_eq!(types(&m), [RecordType::DNAME, RecordType::CNAME, RecordType::AAAA]);
    // A DNAME at the name itself does not apply to it (RFC 6672 §2.3): no chain.
    let m = synth(
        &d,
        (ResponseCode::NoError, vec![], None),
        vec![dname("a-only.example.", 300, "other."), a("a-only.example.", 60, "9.9.9.9")],
    );
    assert_eq!(types(&m), [RecordType::AAAA]);
}

/// Runs the AAAA NODATA → A exchange with this A answer RCODE.
fn a_fails(d: &Dns64, rcode: ResponseCode) -> Message {
    let p = to_a_query(d, None, |q| answer(q, ResponseCode::NoError, vec![], Some((60, 60))));
    let up = answer(p.query(), rcode, vec![], Some((30, 30)));
    reply(d.handle_upstream(p, &up, now()))
}

#[test]
fn a_lookup_failure_is_passed_on() {
    let d = d64("64:ff9b::/96");
    // RFC 6147 §5.1.6: the error of the A query is the basis of the answer, not a
    // cacheable NODATA.
    for rcode in [ResponseCode::ServFail, ResponseCode::Refused, ResponseCode::FormErr] {
        let m = a_fails(&d, rcode);
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{rcode}");
        assert!(m.answers.is_empty() && m.authorities.is_empty());
    }
    let m = a_fails(&d, ResponseCode::NXDomain);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities.len(), 1, "with the A answer's SOA");
    // A timeout of the A query: SERVFAIL.
    let p = to_a_query(&d, None, |q| answer(q, ResponseCode::NoError, vec![], None));
    let m = Message::from_vec(&d.handle_timeout(p)).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    // Garbage as the A answer: SERVFAIL.
    let p = to_a_query(&d, None, |q| answer(q, ResponseCode::NoError, vec![], None));
    let mut up = answer(p.query(), ResponseCode::NoError, vec![], None);
    up[7] = 1;
    up.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 3, 1, 2, 3]);
    let m = reply(d.handle_upstream(p, &up, now()));
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    // NOERROR without A records: the AAAA answer (its NODATA and SOA), §5.4.
    let m = a_fails(&d, ResponseCode::NoError);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.authorities[0].ttl, 60, "the AAAA answer's SOA");
}

#[test]
fn do_bit_kept_on_truncation() {
    let d = d64("64:ff9b::/96");
    let q = query(5, "big.example.", RecordType::A, Some((true, 512)), false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let many: Vec<_> = (0..60).map(|i| a("big.example.", 60, &format!("8.8.{i}.1"))).collect();
    let up = answer(p.query(), ResponseCode::NoError, many, None);
    let m = reply(d.handle_upstream(p, &up, now()));
    // RFC 3225 §3: the DO bit of the query is copied into the answer, truncated or not.
    assert!(m.metadata.truncation);
    assert_eq!(m.queries.len(), 1, "the question stays");
    let e = m.edns.expect("the OPT stays");
    assert!(e.flags().dnssec_ok);
    assert_eq!(e.version(), 0);
    // Without DO in the query, none in the answer.
    let q = query(5, "big.example.", RecordType::A, Some((false, 512)), false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let m = reply(d.handle_upstream(p, &up, now()));
    assert!(m.metadata.truncation && !m.edns.unwrap().flags().dnssec_ok);
}

const Q6_NSP: &str = "1.0.2.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.4.6.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
const APEX_NSP: &str = "0.0.0.0.0.0.0.0.0.0.0.0.4.6.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";

fn soa_of(m: &Message) -> Option<(Name, u32, u32)> {
    m.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(s) => Some((r.name.clone(), r.ttl, s.minimum)),
        _ => None,
    })
}

#[test]
fn negative_ptr_answers_carry_an_soa() {
    let d = d64("2001:db8:64::/96");
    for (rcode, answers) in [
        (ResponseCode::NXDomain, vec![]),
        (ResponseCode::NoError, vec![]),
        // A CNAME (RFC 2317) to a name with no PTR: still negative.
        (ResponseCode::NoError, vec![cname("1.2.0.192.in-addr.arpa.", 60, "1.0-25.2.0.192.in-addr.arpa.")]),
    ] {
        let q = query(11, Q6_NSP, RecordType::PTR, None, false);
        let p = ask(d.handle_query(&q, Transport::Udp, now()));
        let up = answer(p.query(), rcode, answers, Some((3600, 45)));
        let m = reply(d.handle_upstream(p, &up, now()));
        assert_eq!(m.metadata.response_code, rcode);
        assert!(m.answers.is_empty());
        // RFC 2308 §5: the SOA of the zone the name is in (the prefix's reverse zone),
        // with the upstream's negative TTL.
        assert_eq!(soa_of(&m), Some((name(APEX_NSP), 45, 45)), "{m:?}");
    }
    // No SOA upstream: 600 s.
    let q = query(11, Q6_NSP, RecordType::PTR, None, false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let up = answer(p.query(), ResponseCode::NXDomain, vec![], None);
    assert_eq!(soa_of(&reply(d.handle_upstream(p, &up, now()))), Some((name(APEX_NSP), 600, 600)));
    // An upstream SERVFAIL is passed on.
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let up = answer(p.query(), ResponseCode::ServFail, vec![], None);
    assert_eq!(reply(d.handle_upstream(p, &up, now())).metadata.response_code, ResponseCode::ServFail);
    // The well-known prefix's zone.
    let d = d64("64:ff9b::/96");
    let q6 = "4.0.4.0.8.0.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa.";
    let p = ask(d.handle_query(&query(1, q6, RecordType::PTR, None, false), Transport::Udp, now()));
    let up = answer(p.query(), ResponseCode::NXDomain, vec![], None);
    let soa = soa_of(&reply(d.handle_upstream(p, &up, now()))).unwrap();
    assert_eq!(soa.0, name("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa."));
}

fn local(d: &Dns64, qname: &str, qt: RecordType) -> Message {
    let m = reply(d.handle_query(&query(9, qname, qt, None, false), Transport::Udp, now()));
    // RFC 8880 §7.1/§7.2: answered locally and authoritatively.
    assert!(m.metadata.authoritative, "{qname} {qt}: AA");
    assert!(!m.metadata.authentic_data);
    m
}

fn ptrs(m: &Message) -> Vec<Name> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn ipv4only_arpa_is_answered_locally() {
    let d = d64("2001:db8:64::/96");
    let m = local(&d, "ipv4only.arpa.", RecordType::A);
    let got: Vec<_> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    assert_eq!(got, IPV4ONLY_ADDRS);
    assert_eq!(aaaas(&local(&d, "ipv4only.arpa.", RecordType::AAAA)).len(), 2);
    // Other types: NODATA with the zone's SOA; names below it: NXDOMAIN.
    let m = local(&d, "ipv4only.arpa.", RecordType::MX);
    assert_eq!((m.metadata.response_code, m.answers.len()), (ResponseCode::NoError, 0));
    assert_eq!(soa_of(&m).unwrap().0, name("ipv4only.arpa."));
    let m = local(&d, "www.ipv4only.arpa.", RecordType::AAAA);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(soa_of(&m).is_some());
    // The reverse names of 192.0.0.170/171 and of their synthesized addresses.
    for n in [
        "170.0.0.192.in-addr.arpa.",
        "171.0.0.192.in-addr.arpa.",
        "a.a.0.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.4.6.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
        "B.A.0.0.0.0.0.C.0.0.0.0.0.0.0.0.0.0.0.0.4.6.0.0.8.B.D.0.1.0.0.2.ip6.arpa.",
    ] {
        assert_eq!(ptrs(&local(&d, n, RecordType::PTR)), [name("ipv4only.arpa.")], "{n}");
        let m = local(&d, n, RecordType::TXT);
        assert!(m.answers.is_empty() && soa_of(&m).is_some(), "{n}");
    }
    // Their neighbours go upstream.
    for n in ["172.0.0.192.in-addr.arpa.", "c.a.0.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.4.6.0.0.8.b.d.0.1.0.0.2.ip6.arpa."]
    {
        assert!(matches!(
            d.handle_query(&query(9, n, RecordType::PTR, None, false), Transport::Udp, now()),
            Action::Ask(_)
        ));
    }
}

#[test]
fn ad_bit_rests_on_both_validated_answers() {
    let d = d64("64:ff9b::/96");
    let run = |edns: Option<(bool, u16)>, client_ad: bool, aaaa_ad: bool, a_ad: bool| {
        let mut q = Message::from_vec(&query(0x4242, "a-only.example.", RecordType::AAAA, edns, false)).unwrap();
        q.metadata.authentic_data = client_ad;
        let p = ask(d.handle_query(&q.to_vec().unwrap(), Transport::Udp, now()));
        let up = answer_with(p.query(), ResponseCode::NoError, vec![], Some((60, 60)), |m| {
            m.metadata.authentic_data = aaaa_ad
        });
        let p = ask(d.handle_upstream(p, &up, now()));
        // The A query asks for AD when the client asked for DNSSEC (RFC 6840 §5.7).
        let qa = Message::from_vec(p.query()).unwrap();
        assert_eq!(qa.metadata.authentic_data, edns.is_some_and(|e| e.0) || client_ad);
        let up = answer_with(p.query(), ResponseCode::NoError, vec![a("a-only.example.", 60, "8.8.8.8")], None, |m| {
            m.metadata.authentic_data = a_ad
        });
        let m = reply(d.handle_upstream(p, &up, now()));
        assert_eq!(aaaas(&m).len(), 1);
        m.metadata.authentic_data
    };
    // RFC 6147 §5.5 item 2: DO, both validated: AD.
    assert!(run(Some((true, 1232)), false, true, true));
    // The client's AD bit asks as well (RFC 6840 §5.7).
    assert!(run(None, true, true, true));
    // One of them not validated: no AD.
    assert!(!run(Some((true, 1232)), false, true, false));
    assert!(!run(Some((true, 1232)), false, false, true));
    // §5.5 item 1: neither DO nor AD: never AD.
    assert!(!run(Some((false, 1232)), false, true, true));
    assert!(!run(None, false, true, true));
}

#[test]
fn synthesized_answer_takes_the_a_answers_sections() {
    use hickory_proto::rr::rdata::NS;
    let d = d64("64:ff9b::/96");
    let p = to_a_query(&d, None, |q| answer(q, ResponseCode::NoError, vec![], Some((60, 60))));
    let up = answer_with(p.query(), ResponseCode::NoError, vec![a("a-only.example.", 60, "8.8.8.8")], None, |m| {
        m.add_authority(Record::from_rdata(name("example."), 300, RData::NS(NS(name("ns.example.")))));
        m.add_additional(a("ns.example.", 300, "8.8.8.1"));
    });
    let m = reply(d.handle_upstream(p, &up, now()));
    // RFC 6147 §5.4: authority and additional from the final query's answer; §5.3.2: the
    // additional section unchanged (its A record is not synthesized).
    assert_eq!(aaaas(&m).len(), 1);
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].record_type(), RecordType::NS);
    assert_eq!(m.additionals.len(), 1);
    assert_eq!(m.additionals[0].record_type(), RecordType::A);
}

#[test]
fn answer_opt_mirrors_do_and_echoes_no_options() {
    use hickory_proto::rr::rdata::opt::EdnsOption;
    let d = d64("64:ff9b::/96");
    let mut q =
        Message::from_vec(&query(0x4242, "a-only.example.", RecordType::AAAA, Some((true, 65000)), false)).unwrap();
    let mut e = q.edns.clone().unwrap();
    e.options_mut().insert(EdnsOption::Unknown(65001, vec![1, 2, 3]));
    q.set_edns(e);
    let q = q.to_vec().unwrap();
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let up = answer(p.query(), ResponseCode::NoError, vec![], None);
    let p = ask(d.handle_upstream(p, &up, now()));
    // Our own query: no DO, no foreign options.
    let qa = Message::from_vec(p.query()).unwrap();
    let qe = qa.edns.unwrap();
    assert!(!qe.flags().dnssec_ok && qe.options().options.is_empty());
    let up = answer(p.query(), ResponseCode::NoError, vec![a("a-only.example.", 60, "8.8.8.8")], None);
    let m = reply(d.handle_upstream(p, &up, now()));
    let e = m.edns.unwrap();
    assert!(e.flags().dnssec_ok);
    assert!(e.options().options.is_empty(), "{e:?}");
    assert_eq!(e.version(), 0);
    assert_eq!(e.max_payload(), EDNS_PAYLOAD, "our payload size, not the client's");
}

#[test]
fn no_synthesis_from_a_truncated_answer() {
    let d = d64("64:ff9b::/96");
    let tc = |m: &mut Message| m.metadata.truncation = true;
    // A truncated NODATA to the AAAA query is no proof of "no AAAA" (RFC 2181 §9).
    let q = query(0x4242, "a-only.example.", RecordType::AAAA, Some((true, 1232)), false);
    let p = ask(d.handle_query(&q, Transport::Udp, now()));
    let up = answer_with(p.query(), ResponseCode::NoError, vec![], None, tc);
    let m = reply(d.handle_upstream(p, &up, now()));
    assert!(m.metadata.truncation && m.answers.is_empty());
    assert!(m.edns.unwrap().flags().dnssec_ok);
    // A truncated A answer: TC over UDP, SERVFAIL over TCP.
    let p = to_a_query(&d, None, |q| answer(q, ResponseCode::NoError, vec![], None));
    let up = answer_with(p.query(), ResponseCode::NoError, vec![a("a-only.example.", 60, "8.8.8.8")], None, tc);
    let m = reply(d.handle_upstream(p, &up, now()));
    assert!(m.metadata.truncation && m.answers.is_empty());
    let q = query(0x4242, "a-only.example.", RecordType::AAAA, None, false);
    let p = ask(d.handle_query(&q, Transport::Tcp, now()));
    let up = answer_with(p.query(), ResponseCode::NoError, vec![], None, tc);
    let m = reply(d.handle_upstream(p, &up, now()));
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every synthesized AAAA maps back (RFC 6052 §2.3) to a global A record of the
        /// answer, with a TTL of at most that record's and the negative TTL (RFC 6147
        /// §5.1.7); AD is set only when the client asked and both answers had it (§5.5).
        #[test]
        fn synthesis_round_trips(
            addrs in proptest::collection::vec((any::<u32>(), 0u32..100_000), 1..12),
            neg in proptest::option::of((0u32..10_000, 0u32..10_000)),
            dnssec_ok in any::<bool>(),
            ads in (any::<bool>(), any::<bool>()),
        ) {
            let d = d64("64:ff9b::/96");
            let recs: Vec<Record> = addrs
                .iter()
                .map(|&(ip, ttl)| Record::from_rdata(name("a-only.example."), ttl, RData::A(A(Ipv4Addr::from(ip)))))
                .collect();
            let q = query(0x4242, "a-only.example.", RecordType::AAAA, Some((dnssec_ok, 1232)), false);
            let p = ask(d.handle_query(&q, Transport::Tcp, now()));
            let up = answer_with(p.query(), ResponseCode::NoError, vec![], neg, |m| m.metadata.authentic_data = ads.0);
            let p = ask(d.handle_upstream(p, &up, now()));
            let up = answer_with(p.query(), ResponseCode::NoError, recs, None, |m| m.metadata.authentic_data = ads.1);
            let m = reply(d.handle_upstream(p, &up, now()));
            let cap = neg.map_or(DEFAULT_NEGATIVE_TTL, |(t, min)| t.min(min));
            let globals: Vec<_> = addrs.iter().filter(|(ip, _)| is_global_v4(Ipv4Addr::from(*ip))).collect();
            prop_assert_eq!(aaaas(&m).len(), globals.len());
            for (_, ttl, v6) in aaaas(&m) {
                let v4 = extract(&Pool6::well_known(), v6).unwrap();
                let a_ttl = addrs.iter().filter(|(ip, _)| Ipv4Addr::from(*ip) == v4).map(|x| x.1).max();
                prop_assert!(a_ttl.is_some_and(|t| ttl <= t.min(cap)));
            }
            if !globals.is_empty() {
                prop_assert_eq!(m.metadata.authentic_data, dnssec_ok && ads.0 && ads.1);
            }
        }

        /// Any EDNS version but 0 gets BADVERS, never a query upstream (RFC 6891 §6.1.3).
        #[test]
        fn edns_versions(version in any::<u8>(), qt in prop_oneof![Just(RecordType::AAAA), Just(RecordType::A), Just(RecordType::PTR)]) {
            let d = d64("64:ff9b::/96");
            let mut m = Message::from_vec(&query(1, "x.example.", qt, Some((false, 1232)), false)).unwrap();
            let mut e = m.edns.clone().unwrap();
            e.set_version(version);
            m.set_edns(e);
            match d.handle_query(&m.to_vec().unwrap(), Transport::Udp, now()) {
                Action::Reply(r) => {
                    prop_assert!(version != 0);
                    prop_assert_eq!(extended_rcode(&r), (16, Some(0)));
                }
                Action::Ask(_) => prop_assert_eq!(version, 0),
                Action::Drop => prop_assert!(false, "dropped"),
            }
        }
    }
}
