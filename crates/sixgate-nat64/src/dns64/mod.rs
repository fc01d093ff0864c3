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

use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sixgate_core::class::is_global_v4;
use sixgate_core::rfc6052::{embed, extract, Pool6};

pub mod cache;
pub use cache::{Cache, CacheConfig, Insert};
mod message;
use message::{
    bare_error, build_answer, build_query, chain_records, cname_chain, finish, header_answers, in_addr_arpa, relay,
};

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

#[cfg(test)]
mod tests;
