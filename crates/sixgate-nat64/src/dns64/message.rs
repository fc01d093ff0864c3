//! The DNS messages the DNS64 reads and writes itself: the header and question check of
//! an upstream answer, alias (CNAME and DNAME) chains, extended DNS errors, the reverse
//! names, its own queries and answers, and fitting an answer to the client's transport
//! (RFC 1035 §4.1, §4.2.1; RFC 6891 §7; RFC 6147 §5.5).

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{CNAME, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
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

/// An alias chain in an answer section: the names from the start name to the last alias
/// target, and the CNAME and DNAME records that make it, in chain order.
pub(super) struct Chain {
    /// The names of the chain, the start name first.
    pub(super) names: Vec<Name>,
    /// The alias records, in order: for a DNAME link the DNAME, then the CNAME
    /// synthesized from it.
    pub(super) records: Vec<Record>,
}

impl Chain {
    /// Whether `name` is one of the chain's names.
    pub(super) fn has(&self, name: &Name) -> bool {
        self.names.iter().any(|n| n.eq_ignore_root(name))
    }

    /// The last name of the chain (the start name when there is no alias).
    pub(super) fn last(&self) -> &Name {
        self.names.last().expect("non-empty")
    }
}

/// The target of a DNAME record (RFC 6672 §2.1), which hickory-proto keeps as opaque
/// RDATA. RFC 6672 §2.5 forbids compressing it, so it decodes on its own.
fn dname_target(r: &Record) -> Option<Name> {
    match &r.data {
        RData::Unknown { code: RecordType::DNAME, rdata } => {
            let mut d = BinDecoder::new(&rdata.anything);
            let n = Name::read(&mut d).ok()?;
            d.is_empty().then_some(n)
        }
        _ => None,
    }
}

/// `name` with its `owner` suffix replaced by `target` (RFC 6672 §2.2).
fn dname_substitute(name: &Name, owner: &Name, target: &Name) -> Option<Name> {
    let keep = usize::from(name.num_labels().checked_sub(owner.num_labels())?);
    let prefix = Name::from_labels(name.iter().take(keep)).ok()?;
    prefix.append_name(target).ok()
}

/// The alias chain from `start` in the answer section of `m`: CNAMEs, and DNAMEs whose
/// owner is a proper ancestor of the name reached (RFC 6147 §5.1.5: the chain is followed
/// and kept in the answer). Bounded by the number of answers (a loop ends it).
pub(super) fn alias_chain(m: &Message, start: &Name) -> Chain {
    let mut chain = Chain { names: vec![start.clone()], records: Vec::new() };
    for _ in 0..m.answers.len() {
        let last = chain.last().clone();
        let cname = m.answers.iter().find(|r| matches!(&r.data, RData::CNAME(_)) && r.name.eq_ignore_root(&last));
        let dname = m.answers.iter().find_map(|r| {
            let target = dname_target(r)?;
            (r.name.num_labels() < last.num_labels() && r.name.zone_of(&last))
                .then(|| dname_substitute(&last, &r.name, &target).map(|n| (r, n)))
                .flatten()
        });
        let next = match (dname, cname) {
            // RFC 6672 §3.1: a DNAME comes with a CNAME synthesized from it, with the
            // DNAME's TTL; an upstream that sent none gets one made here.
            (Some((d, n)), c) => {
                chain.records.push(d.clone());
                match c {
                    Some(c) if matches!(&c.data, RData::CNAME(t) if t.0.eq_ignore_root(&n)) => {
                        chain.records.push(c.clone())
                    }
                    _ => chain.records.push(Record::from_rdata(last.clone(), d.ttl, RData::CNAME(CNAME(n.clone())))),
                }
                n
            }
            (None, Some(c)) => {
                chain.records.push(c.clone());
                match &c.data {
                    RData::CNAME(t) => t.0.clone(),
                    _ => break,
                }
            }
            (None, None) => break,
        };
        if chain.has(&next) {
            break;
        }
        chain.names.push(next);
    }
    chain
}

/// Whether the answer carries an extended DNS error saying DNSSEC validation failed
/// (RFC 8914 §4: 5 DNSSEC Indeterminate, 6 DNSSEC Bogus, 7 Signature Expired, 8 Signature
/// Not Yet Valid, 9 DNSKEY Missing, 10 RRSIGs Missing, 11 No Zone Key Bit Set, 12 NSEC
/// Missing). Codes 1 and 2 (unsupported algorithms) mean the data is insecure, not bogus.
pub(super) fn dnssec_failed(m: &Message) -> bool {
    m.edns.as_ref().is_some_and(|e| {
        e.options().options.iter().any(|(code, opt)| match (code, opt) {
            (EdnsCode::Unknown(15), EdnsOption::Unknown(15, data)) => {
                data.len() >= 2 && (5..=12).contains(&u16::from_be_bytes([data[0], data[1]]))
            }
            _ => false,
        })
    })
}

/// `d.c.b.a.in-addr.arpa.`
pub(super) fn in_addr_arpa(a: Ipv4Addr) -> Name {
    let [x, y, z, w] = a.octets();
    Name::from_ascii(format!("{w}.{z}.{y}.{x}.in-addr.arpa.")).expect("valid name")
}

/// The SOA of a zone the DNS64 answers for itself, in the form RFC 6303 §3 gives locally
/// served zones (`@ SOA @ nobody.invalid. 1 3600 1200 604800 <negative TTL>`), with TTL
/// and MINIMUM both `ttl`, so that a negative answer carrying it is cached for `ttl`
/// seconds (RFC 2308 §5).
pub(super) fn local_soa(apex: &Name, ttl: u32) -> Record {
    let rname = Name::from_ascii("nobody.invalid.").expect("valid name");
    Record::from_rdata(apex.clone(), ttl, RData::SOA(SOA::new(apex.clone(), rname, 1, 3600, 1200, 604_800, ttl)))
}

/// The negative-caching TTL of an answer (RFC 2308 §5: the smaller of its SOA's TTL and
/// MINIMUM), if it carries an SOA.
pub(super) fn negative_ttl(m: &Message) -> Option<u32> {
    m.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
        _ => None,
    })
}

/// A query of our own for the client: its RD and CD bits, EDNS without DO (we strip
/// DNSSEC records from what we synthesize anyway). AD is set when the client asked for
/// DNSSEC, so that the upstream tells whether the data validated (RFC 6840 §5.7), which
/// the AD bit of the synthesized answer rests on (RFC 6147 §5.5).
pub(super) fn build_query(client: &Client, q: Query) -> Vec<u8> {
    let mut m = Message::new(client.id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = client.rd;
    m.metadata.checking_disabled = client.cd;
    m.metadata.authentic_data = client.wants_dnssec();
    m.add_query(q);
    let mut e = Edns::new();
    e.set_max_payload(EDNS_PAYLOAD);
    m.set_edns(e);
    m.to_vec().unwrap_or_default()
}

/// The parts of an answer of our own besides the header the client's query fixes.
pub(super) struct Reply {
    pub(super) rcode: ResponseCode,
    /// AA: set only on the names the DNS64 answers for itself.
    pub(super) aa: bool,
    pub(super) ra: bool,
    pub(super) ad: bool,
    /// TC: the answer is truncated (and carries no records).
    pub(super) tc: bool,
    pub(super) answers: Vec<Record>,
    pub(super) authorities: Vec<Record>,
    pub(super) additionals: Vec<Record>,
}

impl Reply {
    /// An answer with this RCODE, RA set, nothing else.
    pub(super) fn new(rcode: ResponseCode) -> Self {
        Self {
            rcode,
            aa: false,
            ra: true,
            ad: false,
            tc: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }

    /// The answer to `client`: its ID, RD, CD and question; its EDNS mirrored (RFC 6891
    /// §6.1.1: version 0, our payload size, the query's DO bit, RFC 3225 §3; none of its
    /// options echoed); fitted to its transport.
    pub(super) fn build(self, client: &Client) -> Vec<u8> {
        let mut m = Message::new(client.id, MessageType::Response, OpCode::Query);
        m.metadata.recursion_desired = client.rd;
        m.metadata.checking_disabled = client.cd;
        m.metadata.recursion_available = self.ra;
        m.metadata.authoritative = self.aa;
        m.metadata.authentic_data = self.ad;
        m.metadata.truncation = self.tc;
        m.metadata.response_code = self.rcode;
        m.add_query(client.query.clone());
        m.insert_answers(self.answers);
        m.insert_authorities(self.authorities);
        m.insert_additionals(self.additionals);
        m.edns = client_edns(client);
        finish(client, m.to_vec().ok())
    }
}

/// An error answer with the client's question (RA set).
pub(super) fn error(client: &Client, rcode: ResponseCode) -> Vec<u8> {
    Reply::new(rcode).build(client)
}

/// The OPT record of our answers to `client`, if its query had one.
fn client_edns(client: &Client) -> Option<Edns> {
    client.edns.as_ref().map(|_| {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        e.set_dnssec_ok(client.dnssec_ok);
        e
    })
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
/// and question with TC set (RFC 1035 §4.2.1, RFC 6891 §7), and the OPT record with the
/// query's DO bit (RFC 3225 §3: the DO bit of the query is copied into the answer, also
/// a truncated one); unencodable, SERVFAIL.
pub(super) fn finish(client: &Client, bytes: Option<Vec<u8>>) -> Vec<u8> {
    match bytes {
        Some(b) if b.len() <= client.limit => b,
        Some(b) => {
            let mut m = Message::new(client.id, MessageType::Response, OpCode::Query);
            m.metadata.recursion_desired = client.rd;
            m.metadata.checking_disabled = client.cd;
            m.metadata.authoritative = b.get(2).is_some_and(|f| f & 0x04 != 0);
            m.metadata.recursion_available = b.get(3).is_some_and(|f| f & 0x80 != 0);
            m.metadata.truncation = true;
            m.metadata.response_code = ResponseCode::from_low(b.get(3).map_or(0, |f| f & 0x0f));
            m.add_query(client.query.clone());
            m.edns = client_edns(client);
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
