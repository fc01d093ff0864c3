//! Checks of the fuzz target `dns64`: the DNS64 state machine and the PREF64 decoder.

use std::net::Ipv4Addr;
use std::time::Instant;

/// Fuzz target `dns64` (`fuzz/fuzz_targets/dns64.rs`): a client query and up to three
/// upstream answers through [`sixgate_nat64::dns64::Dns64`], plus the same bytes through the PREF64
/// decoder.
///
/// # Input format
///
/// Byte 0 is a mode: bit 0 TCP (else UDP), bit 1 the network-specific prefix
/// `2001:db8:64::/96` (else `64:ff9b::/96`), bit 2 *repair* the upstream answers (each is
/// parsed as a DNS message and given the ID and question of the pending query, so the fuzzer
/// reaches the synthesis paths without guessing IDs). Then a two-byte length and the client
/// query, then upstream answers, each behind a two-byte length (a missing one is a timeout).
///
/// # Properties checked
///
/// Every answer sent to the client is at least a DNS header with QR set and the client's
/// ID; over UDP it fits the client's buffer ([`sixgate_nat64::dns64::MAX_UDP_PAYLOAD`] at most); a
/// query that is a response or shorter than a header is never answered; no step panics.
/// A PREF64 option that decodes re-encodes to the same option.
pub fn dns64(data: &[u8]) {
    use sixgate_nat64::dns64::{Action, Dns64, Dns64Config, Transport, MAX_UDP_PAYLOAD};

    if let Ok(p) = sixgate_nat64::pref64::Pref64::decode(data) {
        assert_eq!(sixgate_nat64::pref64::Pref64::decode(&p.encode()), Ok(p));
    }
    let Some((&mode, rest)) = data.split_first() else { return };
    let transport = if mode & 1 != 0 { Transport::Tcp } else { Transport::Udp };
    let prefix = if mode & 2 != 0 { "2001:db8:64::/96" } else { "64:ff9b::/96" };
    let repair = mode & 4 != 0;
    let mut chunks = Chunks(rest);
    let Some(query) = chunks.next() else { return };
    let d = Dns64::new(Dns64Config::new(prefix.parse().expect("valid prefix"))).expect("valid config");
    let now = Instant::now();
    let check_reply = |r: &[u8]| {
        assert!(r.len() >= 12, "answer shorter than a header: {r:?}");
        assert!(r[2] & 0x80 != 0, "answer without QR");
        assert_eq!(r[..2], query[..2], "answer with another ID");
        if transport == Transport::Udp {
            assert!(r.len() <= MAX_UDP_PAYLOAD, "UDP answer of {} bytes", r.len());
        }
    };
    let mut action = d.handle_query(query, transport, now);
    if query.len() < 12 || query[2] & 0x80 != 0 {
        assert!(matches!(action, Action::Drop), "answered a non-query");
        return;
    }
    for _ in 0..4 {
        match action {
            Action::Drop => return,
            Action::Reply(r) => return check_reply(&r),
            Action::Ask(p) => {
                assert!(p.query().len() >= 12);
                let Some(up) = chunks.next() else {
                    return check_reply(&d.handle_timeout(p));
                };
                let up = if repair { repair_answer(p.query(), up) } else { up.to_vec() };
                action = d.handle_upstream(p, &up, now);
            }
        }
    }
    if let Action::Ask(p) = action {
        check_reply(&d.handle_timeout(p));
    }
}

/// Length-prefixed chunks.
struct Chunks<'a>(&'a [u8]);

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.0.split_first_chunk::<2>()?;
        let n = usize::from(u16::from_be_bytes(*len)).min(rest.len());
        let (chunk, rest) = rest.split_at(n);
        self.0 = rest;
        Some(chunk)
    }
}

/// `answer` parsed as a DNS message and made the response to `query` (its ID and question).
fn repair_answer(query: &[u8], answer: &[u8]) -> Vec<u8> {
    use hickory_proto::op::{Message, MessageType};
    let (Ok(q), Ok(mut a)) = (Message::from_vec(query), Message::from_vec(answer)) else {
        return answer.to_vec();
    };
    a.metadata.id = q.metadata.id;
    a.metadata.message_type = MessageType::Response;
    a.queries = q.queries;
    a.to_vec().unwrap_or_else(|_| answer.to_vec())
}

/// Seeds for the `dns64` target: the exchanges of the unit tests, in the input format of
/// [`dns64`].
pub fn seeds_dns64() -> Vec<Vec<u8>> {
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::opt::EdnsOption;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, NULL, PTR, SOA};
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    use hickory_proto::serialize::binary::BinEncodable;

    let name = |s: &str| Name::from_ascii(s).expect("valid name");
    let query = |qname: &str, qt: RecordType, edns: bool| {
        let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(name(qname), qt));
        if edns {
            let mut e = Edns::new();
            e.set_max_payload(1232);
            m.set_edns(e);
        }
        m
    };
    let answer = |q: &Message, rcode: ResponseCode, answers: Vec<Record>, soa: bool| {
        let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.queries = q.queries.clone();
        m.insert_answers(answers);
        if soa {
            let s = SOA::new(name("ns.example."), name("h.example."), 1, 2, 3, 4, 300);
            m.add_authority(Record::from_rdata(name("example."), 3600, RData::SOA(s)));
        }
        m.to_vec().expect("encodes")
    };
    let frame = |mode: u8, parts: &[Vec<u8>]| {
        let mut v = vec![mode];
        for p in parts {
            v.extend_from_slice(&(p.len() as u16).to_be_bytes());
            v.extend_from_slice(p);
        }
        v
    };
    let a = |n: &str, ip: [u8; 4]| Record::from_rdata(name(n), 600, RData::A(A(Ipv4Addr::from(ip))));
    let mut out = Vec::new();
    for mode in [0u8, 1, 2, 4, 6, 7] {
        let q = query("a.example.", RecordType::AAAA, mode & 1 == 0);
        let q_a = query("a.example.", RecordType::A, true);
        out.push(frame(
            mode,
            &[
                q.to_vec().expect("encodes"),
                answer(&q, ResponseCode::NoError, vec![], true),
                answer(
                    &q_a,
                    ResponseCode::NoError,
                    vec![a("a.example.", [8, 8, 4, 4]), a("a.example.", [10, 0, 0, 1])],
                    false,
                ),
            ],
        ));
        let t = query("t.example.", RecordType::A, true);
        out.push(frame(
            mode,
            &[
                q.to_vec().expect("encodes"),
                answer(
                    &q,
                    ResponseCode::NoError,
                    vec![Record::from_rdata(name("a.example."), 60, RData::CNAME(CNAME(name("t.example."))))],
                    true,
                ),
                answer(&t, ResponseCode::NoError, vec![a("t.example.", [9, 9, 9, 9])], false),
            ],
        ));
        let mapped =
            Record::from_rdata(name("a.example."), 60, RData::AAAA(AAAA("::ffff:1.2.3.4".parse().expect("addr"))));
        out.push(frame(mode, &[q.to_vec().expect("encodes"), answer(&q, ResponseCode::NoError, vec![mapped], false)]));
        out.push(frame(mode, &[q.to_vec().expect("encodes"), answer(&q, ResponseCode::NXDomain, vec![], true)]));
        out.push(frame(mode, &[q.to_vec().expect("encodes")]));
        let ip4 = query("ipv4only.arpa.", RecordType::AAAA, false);
        out.push(frame(mode, &[ip4.to_vec().expect("encodes")]));
        let pname = if mode & 2 != 0 {
            "4.0.4.0.8.0.8.0.0.0.0.0.0.0.0.0.0.0.0.0.4.6.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
        } else {
            "4.0.4.0.8.0.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa."
        };
        let p = query(pname, RecordType::PTR, true);
        let p4 = query("4.4.8.8.in-addr.arpa.", RecordType::PTR, true);
        let ptr = Record::from_rdata(name("4.4.8.8.in-addr.arpa."), 60, RData::PTR(PTR(name("a.example."))));
        out.push(frame(mode, &[p.to_vec().expect("encodes"), answer(&p4, ResponseCode::NoError, vec![ptr], false)]));
        let mx = query("a.example.", RecordType::MX, false);
        out.push(frame(mode, &[mx.to_vec().expect("encodes"), answer(&mx, ResponseCode::NoError, vec![], true)]));
        // A negative PTR under the prefix (the answer gets an SOA).
        out.push(frame(mode, &[p.to_vec().expect("encodes"), answer(&p4, ResponseCode::NXDomain, vec![], true)]));
        // EDNS version 1: BADVERS, never forwarded.
        let mut v1 = query("a.example.", RecordType::AAAA, true);
        if let Some(mut e) = v1.edns.clone() {
            e.set_version(1);
            v1.set_edns(e);
        }
        out.push(frame(mode, &[v1.to_vec().expect("encodes")]));
        // SERVFAIL to the AAAA query (passed on); NODATA then SERVFAIL to the A query.
        out.push(frame(mode, &[q.to_vec().expect("encodes"), answer(&q, ResponseCode::ServFail, vec![], false)]));
        out.push(frame(
            mode,
            &[
                q.to_vec().expect("encodes"),
                answer(&q, ResponseCode::NoError, vec![], true),
                answer(&q_a, ResponseCode::ServFail, vec![], false),
            ],
        ));
        // A NODATA with an extended DNS error 6 (DNSSEC Bogus, RFC 8914).
        let mut bogus = Message::from_vec(&answer(&q, ResponseCode::NoError, vec![], true)).expect("decodes");
        let mut e = Edns::new();
        e.options_mut().insert(EdnsOption::Unknown(15, vec![0, 6]));
        bogus.set_edns(e);
        out.push(frame(mode, &[q.to_vec().expect("encodes"), bogus.to_vec().expect("encodes")]));
        // A DNAME and its CNAME, then the A of the target.
        let target = query("a.other.", RecordType::A, true);
        let dname = Record::from_rdata(
            name("example."),
            60,
            RData::Unknown { code: RecordType::DNAME, rdata: NULL::with(name("other.").to_bytes().expect("encodes")) },
        );
        let alias = Record::from_rdata(name("a.example."), 60, RData::CNAME(CNAME(name("a.other."))));
        out.push(frame(
            mode,
            &[
                q.to_vec().expect("encodes"),
                answer(&q, ResponseCode::NoError, vec![dname, alias], false),
                answer(&target, ResponseCode::NoError, vec![a("a.other.", [9, 9, 9, 9])], false),
            ],
        ));
        // ipv4only.arpa A and the reverse names, answered locally.
        for (n, t) in [("ipv4only.arpa.", RecordType::A), ("170.0.0.192.in-addr.arpa.", RecordType::PTR)] {
            out.push(frame(mode, &[query(n, t, true).to_vec().expect("encodes")]));
        }
        // A DO query whose answer does not fit 512 bytes (TC, DO kept).
        let mut big = query("big.example.", RecordType::A, true);
        if let Some(mut e) = big.edns.clone() {
            e.set_dnssec_ok(true);
            e.set_max_payload(512);
            big.set_edns(e);
        }
        let many: Vec<_> = (0..60u8).map(|i| a("big.example.", [8, 8, i, 1])).collect();
        out.push(frame(mode, &[big.to_vec().expect("encodes"), answer(&big, ResponseCode::NoError, many, false)]));
    }
    out.push(vec![0, 0, 3, 1, 2, 3]);
    out
}
