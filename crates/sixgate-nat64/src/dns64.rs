//! A sans-IO DNS64 (RFC 6147): AAAA synthesis from A records, PTR queries under the
//! translation prefix answered from `in-addr.arpa`, and the RFC 7050 `ipv4only.arpa` name.
//!
//! [`Dns64`] never touches a socket or a clock. The I/O layer gives it a client's query
//! ([`Dns64::handle_query`]) and gets an [`Action`]: answer these bytes, drop, or ask the
//! upstream resolver a query. Asking returns a [`Pending`] continuation that the I/O layer
//! keeps; the upstream's answer goes back in with [`Dns64::handle_upstream`] (which may ask
//! again: after an AAAA query with no usable AAAA, the A query), and an upstream that did
//! not answer by [`Pending::deadline`] with [`Dns64::handle_timeout`] (SERVFAIL).
//!
//! ```
//! use std::time::Instant;
//! use sixgate_nat64::dns64::{Action, Dns64, Dns64Config, Transport};
//!
//! let dns64 = Dns64::new(Dns64Config::new("64:ff9b::/96".parse().unwrap())).unwrap();
//! // Twelve bytes of nonsense with the QR bit clear: FORMERR, never a panic.
//! let bad = [0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff];
//! match dns64.handle_query(&bad, Transport::Udp, Instant::now()) {
//!     Action::Reply(r) => assert_eq!(r[3] & 0x0f, 1), // RCODE 1, FORMERR
//!     _ => unreachable!(),
//! }
//! ```
//!
//! # Choices
//! - The A query after an AAAA answer without AAAA is asked for the last name of that
//!   answer's CNAME chain (the QNAME when there is none); the CNAMEs of both answers are
//!   kept in front of the synthesized AAAA records, in chain order.
//! - PTR under the prefix (§5.3.1): the answer is the upstream's PTR records for the
//!   `in-addr.arpa` name, *rewritten* to the `ip6.arpa` owner name (not a CNAME), so that
//!   stub resolvers which do not follow CNAMEs for PTR still work. Its RCODE is the
//!   upstream's; the `in-addr.arpa` authority section is dropped.
//! - Upstream answers are passed to the client byte for byte (ID restored) unless a record
//!   had to be removed or synthesized.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sixgate_core::class::is_global_v4;
use sixgate_core::rfc6052::{embed, extract, Pool6};

/// The TTL cap of a synthesized AAAA when the negative AAAA answer carried no SOA
/// (RFC 6147 §5.1.7).
pub const DEFAULT_NEGATIVE_TTL: u32 = 600;

/// Largest DNS message over UDP we accept or send (the EDNS payload size we advertise
/// upstream, RFC 9715's 1232 would also do; larger client buffers are capped here).
pub const MAX_UDP_PAYLOAD: usize = 4096;

/// EDNS payload size advertised on queries sixgate builds itself.
pub const EDNS_PAYLOAD: u16 = 1232;

/// The RFC 7050 well-known name.
pub const IPV4ONLY_ARPA: &str = "ipv4only.arpa.";

/// The well-known IPv4 addresses of `ipv4only.arpa` (RFC 7050 §2.1, 192.0.0.170/171).
pub const IPV4ONLY_ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 0, 170), Ipv4Addr::new(192, 0, 0, 171)];

/// DNS64 configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dns64Config {
    /// The RFC 6052 prefix synthesized addresses are made under.
    pub prefix: Pool6,
    /// AAAA records in these ranges are treated as absent (RFC 6147 §5.1.4); by default
    /// `::ffff:0:0/96`, the IPv4-mapped addresses.
    pub exclude_aaaa: Vec<Ipv6Net>,
    /// A records in these ranges are never synthesized (RFC 6147 §5.1.4 lets an operator
    /// exclude IPv4 ranges too). Empty by default.
    pub exclude_a: Vec<Ipv4Net>,
    /// Answer PTR queries under the prefix from `in-addr.arpa` (RFC 6147 §5.3.1).
    pub synthesize_ptr: bool,
    /// How long the I/O layer waits for each upstream answer.
    pub upstream_timeout: Duration,
}

impl Dns64Config {
    /// The defaults around a prefix: exclude `::ffff:0:0/96`, PTR synthesis on, 2 s
    /// upstream timeout.
    pub fn new(prefix: Pool6) -> Self {
        Self {
            prefix,
            exclude_aaaa: vec![Ipv6Net::new(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96).expect("valid")],
            exclude_a: Vec::new(),
            synthesize_ptr: true,
            upstream_timeout: Duration::from_secs(2),
        }
    }
}

impl Default for Dns64Config {
    /// The defaults around the well-known prefix `64:ff9b::/96` (RFC 6052 §2.1).
    fn default() -> Self {
        Self::new(Pool6::well_known())
    }
}

/// Errors of the DNS64 configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Dns64Error {
    /// The upstream timeout is zero.
    #[error("the upstream timeout must not be zero")]
    ZeroTimeout,
}

/// How the client's query came in: it bounds the size of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: answers larger than the client's buffer (512 bytes, or its EDNS payload size)
    /// are truncated (TC set).
    Udp,
    /// TCP: up to 65535 bytes.
    Tcp,
}

/// What the I/O layer does next.
#[derive(Debug)]
pub enum Action {
    /// Send these bytes to the client.
    Reply(Vec<u8>),
    /// Send [`Pending::query`] to the upstream resolver; give its answer to
    /// [`Dns64::handle_upstream`] with this continuation.
    Ask(Box<Pending>),
    /// Send nothing (the input was not a query one can answer: too short, or a response).
    Drop,
}

/// What the client asked, remembered to build the answer.
#[derive(Debug, Clone)]
struct Client {
    id: u16,
    rd: bool,
    cd: bool,
    query: Query,
    /// The client's EDNS: mirrored in the answers we build (RFC 6891 §6.1.1).
    edns: Option<Edns>,
    /// Largest answer the client takes.
    limit: usize,
}

#[derive(Debug)]
enum Step {
    /// Relay the upstream's answer.
    Forward,
    /// The AAAA query: synthesize if it has no usable AAAA.
    Aaaa,
    /// The A query after an AAAA answer without usable AAAA.
    A {
        /// The AAAA answer (returned if there is nothing to synthesize).
        aaaa_answer: Vec<u8>,
        /// The CNAMEs of the AAAA answer from the QNAME to the name asked, in order.
        cnames: Vec<Record>,
        /// Cap of the synthesized TTL (RFC 6147 §5.1.7).
        ttl_cap: u32,
    },
    /// The `in-addr.arpa` PTR query for a PTR under the prefix.
    Ptr {
        /// The `in-addr.arpa` name asked.
        v4_name: Name,
    },
}

/// A query waiting for the upstream's answer: the continuation of [`Action::Ask`].
#[derive(Debug)]
pub struct Pending {
    query: Vec<u8>,
    asked: Query,
    step: Step,
    client: Client,
    deadline: Instant,
}

impl Pending {
    /// The query to send upstream (wire format).
    pub fn query(&self) -> &[u8] {
        &self.query
    }

    /// Sets the ID of the upstream query (the I/O layer picks an unpredictable one).
    pub fn set_upstream_id(&mut self, id: u16) {
        self.query[..2].copy_from_slice(&id.to_be_bytes());
    }

    /// The ID of the upstream query.
    pub fn upstream_id(&self) -> u16 {
        u16::from_be_bytes([self.query[0], self.query[1]])
    }

    /// When to give up on the upstream ([`Dns64::handle_timeout`]).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether `bytes` looks like the upstream's answer to this query: same ID, QR set.
    /// The I/O layer ignores datagrams that do not (RFC 5452 §9.1 spoofing defence); the
    /// question is checked by [`Dns64::handle_upstream`].
    pub fn is_answer(&self, bytes: &[u8]) -> bool {
        bytes.len() >= 12 && bytes[..2] == self.query[..2] && bytes[2] & 0x80 != 0
    }
}

/// The DNS64 state machine. Stateless between queries (every query's state is in its
/// [`Pending`]), so one `Dns64` can be shared by any number of threads.
#[derive(Debug, Clone)]
pub struct Dns64 {
    config: Dns64Config,
    ipv4only: Name,
}

impl Dns64 {
    /// A DNS64 with this configuration.
    pub fn new(config: Dns64Config) -> Result<Self, Dns64Error> {
        if config.upstream_timeout.is_zero() {
            return Err(Dns64Error::ZeroTimeout);
        }
        let ipv4only = Name::from_ascii(IPV4ONLY_ARPA).expect("valid name");
        Ok(Self { config, ipv4only })
    }

    /// The configuration.
    pub fn config(&self) -> &Dns64Config {
        &self.config
    }

    /// A client's query. `now` starts the upstream timeout.
    pub fn handle_query(&self, bytes: &[u8], transport: Transport, now: Instant) -> Action {
        if bytes.len() < 12 || bytes[2] & 0x80 != 0 {
            // No header to answer with, or a response: never answer those (loops).
            return Action::Drop;
        }
        let id = u16::from_be_bytes([bytes[0], bytes[1]]);
        let Ok(msg) = Message::from_vec(bytes) else {
            return Action::Reply(bare_error(id, bytes, ResponseCode::FormErr));
        };
        if msg.metadata.op_code != OpCode::Query {
            return Action::Reply(bare_error(id, bytes, ResponseCode::NotImp));
        }
        if msg.queries.len() != 1 || !msg.answers.is_empty() || !msg.authorities.is_empty() {
            return Action::Reply(bare_error(id, bytes, ResponseCode::FormErr));
        }
        let limit = match transport {
            Transport::Tcp => 65535,
            Transport::Udp => {
                msg.edns.as_ref().map_or(512, |e| usize::from(e.max_payload()).clamp(512, MAX_UDP_PAYLOAD))
            }
        };
        let query = msg.queries[0].clone();
        let client = Client {
            id,
            rd: msg.metadata.recursion_desired,
            cd: msg.metadata.checking_disabled,
            query: query.clone(),
            edns: msg.edns.clone(),
            limit,
        };
        let deadline = now + self.config.upstream_timeout;
        let forward = |step| {
            Action::Ask(Box::new(Pending {
                query: bytes.to_vec(),
                asked: query.clone(),
                step,
                client: client.clone(),
                deadline,
            }))
        };
        if query.query_class != DNSClass::IN {
            return forward(Step::Forward);
        }
        let dnssec_ok = msg.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        match query.query_type {
            // RFC 7050 §3: the DNS64 synthesizes ipv4only.arpa's AAAA from its well-known
            // A records, so that hosts can learn the prefix. Answered locally (RFC 8880 §7.2
            // asks resolvers not to send ipv4only.arpa queries out), and exempt from the
            // RFC 6052 §3.1 rule below: 192.0.0.170/171 are not global but are the point.
            RecordType::AAAA if query.name.eq_ignore_root(&self.ipv4only) => {
                let answers = IPV4ONLY_ADDRS
                    .iter()
                    .map(|&a| {
                        let aaaa = RData::AAAA(AAAA(embed(&self.config.prefix, a)));
                        Record::from_rdata(query.name.clone(), DEFAULT_NEGATIVE_TTL, aaaa)
                    })
                    .collect();
                Action::Reply(build_answer(&client, ResponseCode::NoError, true, answers))
            }
            // RFC 6147 §5.5: a DNSSEC-aware client that validates itself (DO and CD set)
            // gets the upstream's answer untouched: a synthesized AAAA would fail its
            // validation.
            RecordType::AAAA if dnssec_ok && client.cd => forward(Step::Forward),
            RecordType::AAAA => forward(Step::Aaaa),
            RecordType::PTR if self.config.synthesize_ptr => match self.ptr_target(&query.name) {
                Some(v4) => {
                    let v4_name = in_addr_arpa(v4);
                    let asked = Query::query(v4_name.clone(), RecordType::PTR);
                    Action::Ask(Box::new(Pending {
                        query: build_query(&client, asked.clone()),
                        asked,
                        step: Step::Ptr { v4_name },
                        client,
                        deadline,
                    }))
                }
                None => forward(Step::Forward),
            },
            _ => forward(Step::Forward),
        }
    }

    /// The IPv4 address of an `ip6.arpa` name for a full address under the prefix
    /// (RFC 6147 §5.3.1), if it is one.
    fn ptr_target(&self, name: &Name) -> Option<Ipv4Addr> {
        match name.parse_arpa_name().ok()? {
            IpNet::V6(n) if n.prefix_len() == 128 && self.config.prefix.contains(n.addr()) => {
                extract(&self.config.prefix, n.addr()).ok()
            }
            _ => None,
        }
    }

    /// The upstream's answer to `pending`. `now` restarts the timeout if another query is
    /// needed.
    pub fn handle_upstream(&self, pending: Box<Pending>, bytes: &[u8], now: Instant) -> Action {
        let client = &pending.client;
        let servfail = || Action::Reply(build_answer(client, ResponseCode::ServFail, false, Vec::new()));
        // Garbage, or the answer to another question: the upstream failed us.
        if !header_answers(bytes, &pending.asked) {
            return servfail();
        }
        let Ok(msg) = Message::from_vec(bytes) else {
            // A well-formed header and question but records hickory-proto cannot decode: no
            // synthesis is possible; relay what can be relayed.
            return match pending.step {
                Step::Forward | Step::Aaaa => Action::Reply(relay(client, bytes)),
                Step::A { aaaa_answer, .. } => Action::Reply(relay(client, &aaaa_answer)),
                Step::Ptr { .. } => servfail(),
            };
        };
        match pending.step {
            Step::Forward => Action::Reply(relay(client, bytes)),
            Step::Aaaa => self.after_aaaa(pending.client, msg, bytes, now),
            Step::A { aaaa_answer, cnames, ttl_cap } => {
                Action::Reply(self.after_a(client, &pending.asked.name, cnames, &msg, &aaaa_answer, ttl_cap))
            }
            Step::Ptr { v4_name } => {
                let chain = cname_chain(&msg, &v4_name);
                let answers = msg
                    .answers
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::PTR(p) if chain.iter().any(|n| n.eq_ignore_root(&r.name)) => {
                            Some(Record::from_rdata(client.query.name.clone(), r.ttl, RData::PTR(PTR(p.0.clone()))))
                        }
                        _ => None,
                    })
                    .collect();
                Action::Reply(build_answer(
                    client,
                    msg.metadata.response_code,
                    msg.metadata.recursion_available,
                    answers,
                ))
            }
        }
    }

    /// RFC 6147 §5.1: the answer to the AAAA query.
    fn after_aaaa(&self, client: Client, msg: Message, bytes: &[u8], now: Instant) -> Action {
        let rcode = msg.metadata.response_code;
        // §5.1.2: NXDOMAIN (RCODE 3) means the name does not exist: never synthesize.
        if rcode == ResponseCode::NXDomain {
            return Action::Reply(relay(&client, bytes));
        }
        // §5.1.2: any other error RCODE is treated as an empty answer (synthesis is tried).
        if rcode == ResponseCode::NoError {
            let chain = cname_chain(&msg, &client.query.name);
            let in_chain = |r: &Record| chain.iter().any(|n| n.eq_ignore_root(&r.name));
            let (mut usable, mut excluded) = (0, 0);
            for r in msg.answers.iter().filter(|r| in_chain(r)) {
                if let RData::AAAA(a) = &r.data {
                    // §5.1.4: AAAA records in excluded ranges (by default ::ffff:0:0/96)
                    // are treated as absent.
                    if self.config.exclude_aaaa.iter().any(|n| n.contains(&a.0)) {
                        excluded += 1;
                    } else {
                        usable += 1;
                    }
                }
            }
            // §5.1.1: a real AAAA is returned as is.
            if usable > 0 && excluded == 0 {
                return Action::Reply(relay(&client, bytes));
            }
            if usable > 0 {
                let mut m = msg;
                m.metadata.id = client.id;
                m.answers.retain(|r| match &r.data {
                    RData::AAAA(a) => !self.config.exclude_aaaa.iter().any(|n| n.contains(&a.0)),
                    _ => true,
                });
                return Action::Reply(finish(&client, m.to_vec().ok()));
            }
        }
        // §5.1.7: the synthesized TTL is at most the negative-caching TTL of the AAAA
        // answer (RFC 2308 §5: the smaller of the SOA's TTL and its MINIMUM), or 600 s
        // when the answer had no SOA.
        let ttl_cap = msg
            .authorities
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })
            .unwrap_or(DEFAULT_NEGATIVE_TTL);
        // RFC 6147 §5.1 (CNAME chains): the chain is followed to its end; the A query asks
        // for the last name of the AAAA answer's chain, so that an upstream that did not
        // chase the chain (an authoritative server) still gets the A question right.
        let chain = cname_chain(&msg, &client.query.name);
        let cnames = chain_records(&msg, &chain);
        let target = chain.last().cloned().unwrap_or_else(|| client.query.name.clone());
        let asked = Query::query(target, RecordType::A);
        Action::Ask(Box::new(Pending {
            query: build_query(&client, asked.clone()),
            asked,
            step: Step::A { aaaa_answer: bytes.to_vec(), cnames, ttl_cap },
            deadline: now + self.config.upstream_timeout,
            client,
        }))
    }

    /// RFC 6147 §5.1.7: synthesize from the A answer, or return the AAAA answer.
    fn after_a(
        &self,
        client: &Client,
        asked: &Name,
        cnames: Vec<Record>,
        msg: &Message,
        aaaa_answer: &[u8],
        ttl_cap: u32,
    ) -> Vec<u8> {
        if msg.metadata.response_code != ResponseCode::NoError {
            return relay(client, aaaa_answer);
        }
        let chain = cname_chain(msg, asked);
        // The CNAMEs from the QNAME to the name asked come first.
        let mut answers = cnames;
        let mut synthesized = 0;
        for r in &msg.answers {
            if !chain.iter().any(|n| n.eq_ignore_root(&r.name)) {
                continue;
            }
            match &r.data {
                // RFC 6147 §5.1: the CNAMEs of the chain come with the synthesized records.
                RData::CNAME(_) => answers.push(r.clone()),
                RData::A(a) if self.synthesizable(a.0) => {
                    let v6 = embed(&self.config.prefix, a.0);
                    // §5.1.7: TTL = min(A TTL, negative TTL of the AAAA answer).
                    answers.push(Record::from_rdata(r.name.clone(), r.ttl.min(ttl_cap), RData::AAAA(AAAA(v6))));
                    synthesized += 1;
                }
                _ => {}
            }
        }
        if synthesized == 0 {
            // Nothing to synthesize: the client gets the AAAA answer.
            return relay(client, aaaa_answer);
        }
        build_answer(client, ResponseCode::NoError, msg.metadata.recursion_available, answers)
    }

    /// Whether an A record may be synthesized into an AAAA.
    fn synthesizable(&self, a: Ipv4Addr) -> bool {
        // RFC 6052 §3.1: the well-known prefix MUST NOT be used with non-global IPv4
        // addresses (a translator would refuse the packets anyway).
        if self.config.prefix.is_well_known() && !is_global_v4(a) {
            return false;
        }
        // RFC 6147 §5.1.4: operator-excluded IPv4 ranges.
        !self.config.exclude_a.iter().any(|n| n.contains(&a))
    }

    /// The upstream did not answer by the deadline (or could not be reached): SERVFAIL.
    pub fn handle_timeout(&self, pending: Box<Pending>) -> Vec<u8> {
        build_answer(&pending.client, ResponseCode::ServFail, false, Vec::new())
    }
}

/// Whether `bytes` starts with a response header with one question, `q` (names compared
/// case-insensitively, RFC 4343). Only the header and the question are decoded.
fn header_answers(bytes: &[u8], q: &Query) -> bool {
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
fn cname_chain(m: &Message, start: &Name) -> Vec<Name> {
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
fn chain_records(m: &Message, chain: &[Name]) -> Vec<Record> {
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
fn in_addr_arpa(a: Ipv4Addr) -> Name {
    let [x, y, z, w] = a.octets();
    Name::from_ascii(format!("{w}.{z}.{y}.{x}.in-addr.arpa.")).expect("valid name")
}

/// A query of our own for the client: its RD and CD bits, EDNS without DO (we strip
/// DNSSEC records from what we synthesize anyway).
fn build_query(client: &Client, q: Query) -> Vec<u8> {
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
fn build_answer(client: &Client, rcode: ResponseCode, ra: bool, answers: Vec<Record>) -> Vec<u8> {
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
fn relay(client: &Client, bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    if v.len() >= 2 {
        v[..2].copy_from_slice(&client.id.to_be_bytes());
    }
    finish(client, Some(v))
}

/// Fits an answer to the client's transport: too large for its UDP buffer, the header
/// and question with TC set (RFC 1035 §4.2.1, RFC 6891 §7); unencodable, SERVFAIL.
fn finish(client: &Client, bytes: Option<Vec<u8>>) -> Vec<u8> {
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
fn bare_error(id: u16, query: &[u8], rcode: ResponseCode) -> Vec<u8> {
    let mut h = header_only(id, rcode, false);
    // Keep the opcode and RD of the query (RFC 1035 §4.1.1).
    h[2] |= query[2] & 0x79;
    h
}

fn header_only(id: u16, rcode: ResponseCode, tc: bool) -> Vec<u8> {
    let [a, b] = id.to_be_bytes();
    vec![a, b, 0x80 | if tc { 0x02 } else { 0 }, rcode.low(), 0, 0, 0, 0, 0, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let m =
            synth(&d, (ResponseCode::NoError, vec![], Some((3600, 300))), vec![a("a-only.example.", 1000, "8.8.8.8")]);
        assert_eq!(aaaas(&m), vec![("a-only.example.".into(), 300, "64:ff9b::808:808".parse().unwrap())]);
        assert!(!m.metadata.authentic_data && !m.metadata.authoritative);
        // A TTL smaller than the SOA's wins; the SOA record's own TTL caps too (RFC 2308).
        let m =
            synth(&d, (ResponseCode::NoError, vec![], Some((3600, 300))), vec![a("a-only.example.", 60, "8.8.8.8")]);
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
            vec![
                cname("a-only.example.", 300, "t.example."),
                a("t.example.", 500, "9.9.9.9"),
                a("x.other.", 5, "1.1.1.1"),
            ],
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
}
