//! The DNS messages the DNS64 reads and writes itself: the header and question check of
//! an upstream answer, CNAME chains, the `in-addr.arpa` name, its own queries and answers,
//! and fitting an answer to the client's transport (RFC 1035 §4.1, §4.2.1; RFC 6891 §7;
//! RFC 6147 §5.5).

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::{Client, EDNS_PAYLOAD};

/// Whether `bytes` starts with a response header with one question, `q` (names compared
/// case-insensitively, RFC 4343). Only the header and the question are decoded.
pub(super) fn header_answers(bytes: &[u8], q: &Query) -> bool {
    let mut d = BinDecoder::new(bytes);
    let (Ok(h), Ok(got)) = (Header::read(&mut d), Query::read(&mut d)) else {
        return false;
    };
    h.metadata.message_type == MessageType::Response
        && h.counts.queries == 1
        && got.query_type == q.query_type
        && got.query_class == q.query_class
        && got.name.eq_ignore_root(&q.name)
}

/// The names of the CNAME chain from `start` in the answer section, `start` first. Bounded
/// by the number of answers (a loop ends it).
pub(super) fn cname_chain(m: &Message, start: &Name) -> Vec<Name> {
    let mut chain = vec![start.clone()];
    for _ in 0..m.answers.len() {
        let last = chain.last().expect("non-empty");
        let next = m.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name.eq_ignore_root(last) => Some(c.0.clone()),
            _ => None,
        });
        match next {
            Some(n) if !chain.iter().any(|c| c.eq_ignore_root(&n)) => chain.push(n),
            _ => break,
        }
    }
    chain
}

/// The CNAME records of `chain` in the answer section, in chain order.
pub(super) fn chain_records(m: &Message, chain: &[Name]) -> Vec<Record> {
    chain
        .windows(2)
        .filter_map(|w| {
            m.answers.iter().find(
                |r| matches!(&r.data, RData::CNAME(c) if r.name.eq_ignore_root(&w[0]) && c.0.eq_ignore_root(&w[1])),
            )
        })
        .cloned()
        .collect()
}

/// `d.c.b.a.in-addr.arpa.`
pub(super) fn in_addr_arpa(a: Ipv4Addr) -> Name {
    let [x, y, z, w] = a.octets();
    Name::from_ascii(format!("{w}.{z}.{y}.{x}.in-addr.arpa.")).expect("valid name")
}

/// A query of our own for the client: its RD and CD bits, EDNS without DO (we strip
/// DNSSEC records from what we synthesize anyway).
pub(super) fn build_query(client: &Client, q: Query) -> Vec<u8> {
    let mut m = Message::new(client.id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = client.rd;
    m.metadata.checking_disabled = client.cd;
    m.add_query(q);
    let mut e = Edns::new();
    e.set_max_payload(EDNS_PAYLOAD);
    m.set_edns(e);
    m.to_vec().unwrap_or_default()
}

/// An answer of our own: the client's question, these answers, its EDNS mirrored.
pub(super) fn build_answer(client: &Client, rcode: ResponseCode, ra: bool, answers: Vec<Record>) -> Vec<u8> {
    let mut m = Message::new(client.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = client.rd;
    m.metadata.checking_disabled = client.cd;
    m.metadata.recursion_available = ra;
    // RFC 6147 §5.5: synthesized data is never Authentic Data; AA stays clear too.
    m.metadata.response_code = rcode;
    m.add_query(client.query.clone());
    m.insert_answers(answers);
    if let Some(ce) = &client.edns {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        e.set_dnssec_ok(ce.flags().dnssec_ok);
        m.set_edns(e);
    }
    finish(client, m.to_vec().ok())
}

/// The upstream's answer with the client's ID.
pub(super) fn relay(client: &Client, bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    if v.len() >= 2 {
        v[..2].copy_from_slice(&client.id.to_be_bytes());
    }
    finish(client, Some(v))
}

/// Fits an answer to the client's transport: too large for its UDP buffer, the header
/// and question with TC set (RFC 1035 §4.2.1, RFC 6891 §7); unencodable, SERVFAIL.
pub(super) fn finish(client: &Client, bytes: Option<Vec<u8>>) -> Vec<u8> {
    match bytes {
        Some(b) if b.len() <= client.limit => b,
        Some(b) => {
            let mut m = Message::new(client.id, MessageType::Response, OpCode::Query);
            m.metadata.recursion_desired = client.rd;
            m.metadata.checking_disabled = client.cd;
            m.metadata.recursion_available = b.get(3).is_some_and(|f| f & 0x80 != 0);
            m.metadata.truncation = true;
            m.metadata.response_code = ResponseCode::from_low(b.get(3).map_or(0, |f| f & 0x0f));
            m.add_query(client.query.clone());
            if client.edns.is_some() {
                let mut e = Edns::new();
                e.set_max_payload(EDNS_PAYLOAD);
                m.set_edns(e);
            }
            m.to_vec().unwrap_or_else(|_| header_only(client.id, ResponseCode::ServFail, true))
        }
        None => header_only(client.id, ResponseCode::ServFail, false),
    }
}

/// An error answer to a query we could not parse (or will not serve): the header of the
/// query with QR set, this RCODE, and no sections.
pub(super) fn bare_error(id: u16, query: &[u8], rcode: ResponseCode) -> Vec<u8> {
    let mut h = header_only(id, rcode, false);
    // Keep the opcode and RD of the query (RFC 1035 §4.1.1).
    h[2] |= query[2] & 0x79;
    h
}

pub(super) fn header_only(id: u16, rcode: ResponseCode, tc: bool) -> Vec<u8> {
    let [a, b] = id.to_be_bytes();
    vec![a, b, 0x80 | if tc { 0x02 } else { 0 }, rcode.low(), 0, 0, 0, 0, 0, 0, 0, 0]
}
