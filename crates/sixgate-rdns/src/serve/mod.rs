//! An authoritative server for reverse (and matching forward) names that needs no zone file:
//! PTR records for every address of a prefix, named by a [`Template`], and the A/AAAA records
//! of those names, so that forward and reverse agree (RFC 1912 §2.1). Sans-IO: bytes in,
//! bytes out ([`Authority::respond`]); the sockets are the server's (`sixgate_io`).
//!
//! * Zones: the zones of each prefix as [`plan`] cuts them (RFC 2317 child zones for IPv4
//!   longer than /24), and the forward zone, each with SOA and NS at its apex.
//! * Explicit records (hosts files, forward zone files, [`ServeConfig::records`]) take
//!   precedence over synthesis.
//! * A nibble or octet name above a host is an empty non-terminal: NOERROR/NODATA, never
//!   NXDOMAIN (RFC 8020 §2); negative answers carry the zone's SOA (RFC 2308 §3) with the TTL
//!   `min(SOA TTL, SOA minimum)` (RFC 2308 §5); answers from a zone set AA (RFC 1035 §4.1.1).
//! * Outside its zones the server answers REFUSED (it does not recurse); a malformed query
//!   gets FORMERR, an opcode other than QUERY NOTIMP, an EDNS version other than 0 BADVERS
//!   (RFC 6891 §6.1.3).
//! * UDP answers larger than the client's EDNS payload size (512 without EDNS, RFC 1035
//!   §4.2.1; capped by [`ServeConfig::max_udp_payload`]) are truncated (TC, no records) so the
//!   client retries over TCP.
//! * AXFR (TCP only) of a zone of at most [`ServeConfig::axfr_limit`] names; REFUSED otherwise.
//!   [`Authority::respond`] gives one message, so it transfers a zone that fits in one (up
//!   to about a thousand names, a /120 or a /24); [`Authority::respond_all`] gives the
//!   messages of any transfer within the limit, for a server that can send several.
//!
//! ```
//! use sixgate_rdns::serve::{Authority, ServeConfig, ServedPrefix};
//! use sixgate_rdns::template::Template;
//! use sixgate_rdns::zone::ZoneHeader;
//!
//! let header = ZoneHeader::new(vec!["ns1.example.net.".into()], "hostmaster.example.net.".into());
//! let mut cfg = ServeConfig::new(header);
//! cfg.forward_zone = Some("example.net.".into());
//! cfg.prefixes.push(ServedPrefix {
//!     net: "2001:db8::/64".parse().unwrap(),
//!     template: Template::parse("host-{dashed}.example.net.", None).unwrap(),
//! });
//! let auth = Authority::new(cfg).unwrap();
//! // A PTR query for 2001:db8::5 (RFC 1035 §4.1 wire format, built by hand).
//! let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
//! for l in "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa".split('.') {
//!     q.push(l.len() as u8);
//!     q.extend_from_slice(l.as_bytes());
//! }
//! q.extend_from_slice(&[0, 0, 12, 0, 1]);
//! let answer = auth.respond(&q, false).unwrap();
//! assert_eq!(&answer[..2], &[0x12, 0x34]);
//! assert_eq!(answer[3] & 0xf, 0); // NOERROR
//! assert!(answer.windows(17).any(|w| w == b"\x10host-2001-db8--5"));
//! ```

mod wire;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::RdnsError;
use crate::hostname::{check_absolute, MAX_NAME_LEN};
use crate::name::{parse_arpa, ReverseName};
use crate::plan::{plan, Zone};
use crate::template::{offset, AddrRange, Template};
use crate::zone::{Ptr, ZoneHeader};
use wire::{Msg, Query, Section, Verdict};

/// The default largest UDP payload the server sends, and the size it advertises: 1232
/// octets, the DNS Flag Day 2020 value that fits an IPv6 minimum MTU without fragments.
pub const DEFAULT_UDP_PAYLOAD: u16 = 1232;
/// The default largest zone (in names) a zone transfer may enumerate.
pub const DEFAULT_AXFR_LIMIT: u64 = 65_536;
/// The largest DNS message (RFC 1035 §4.2.2: TCP's two-octet length).
const MAX_MESSAGE: usize = 65_535;

/// One prefix served by a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedPrefix {
    /// The prefix (host bits ignored): its zones are those [`plan`] gives.
    pub net: IpNet,
    /// The PTR target of each address; `{index}` counts from the prefix's first address.
    pub template: Template,
}

/// What an [`Authority`] serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// The synthesized prefixes (at least one).
    pub prefixes: Vec<ServedPrefix>,
    /// The forward zone (absolute) the server is authoritative for: the A/AAAA records of
    /// the synthesized names under it (and of explicit names under it) are served, with its
    /// SOA and NS. `None`: reverse only.
    pub forward_zone: Option<String>,
    /// SOA and NS of every zone; `ttl` is the TTL of the records.
    pub header: ZoneHeader,
    /// Explicit records (from hosts files and forward zone files): the PTR of the address and
    /// the A/AAAA of the name, in place of the synthesized ones.
    pub records: Vec<Ptr>,
    /// The largest zone, in names, that AXFR enumerates.
    pub axfr_limit: u64,
    /// The largest UDP answer, whatever the client offers (at least 512).
    pub max_udp_payload: u16,
}

impl ServeConfig {
    /// No prefix yet, no forward zone, the defaults for the rest.
    pub fn new(header: ZoneHeader) -> Self {
        Self {
            prefixes: Vec::new(),
            forward_zone: None,
            header,
            records: Vec::new(),
            axfr_limit: DEFAULT_AXFR_LIMIT,
            max_udp_payload: DEFAULT_UDP_PAYLOAD,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A bad SOA/NS setting or name.
    #[error(transparent)]
    Rdns(#[from] RdnsError),
    /// Nothing to serve.
    #[error("no prefix to serve: give at least one prefix with its template")]
    NoPrefix,
    /// Two prefixes give the same zone.
    #[error("{first} and {second} both give zone {origin}: serve each zone from one prefix")]
    DuplicateZone {
        /// The zone.
        origin: String,
        /// The first prefix.
        first: IpNet,
        /// The second prefix.
        second: IpNet,
    },
    /// A template that can render names longer than a host name may be.
    #[error("template {template} for {prefix} can give names of {len} characters, more than 253 (RFC 1035 §2.3.4); shorten its text")]
    TemplateTooLong {
        /// The template.
        template: String,
        /// The prefix.
        prefix: IpNet,
        /// The longest rendering.
        len: usize,
    },
    /// A template under the forward zone that gives several addresses the same name.
    #[error("template {template} gives several addresses of {prefix} the same name, so its names cannot be served forward (RFC 1912 §2.1); use {{dashed}}, {{hex}} or {{index}}")]
    NotInjective {
        /// The template.
        template: String,
        /// The prefix.
        prefix: IpNet,
    },
    /// A bad forward zone name.
    #[error("forward zone {0:?} is not a valid absolute domain name")]
    BadForwardZone(String),
    /// A UDP payload size below the minimum.
    #[error("max UDP payload {0} is below 512, the DNS minimum (RFC 1035 §4.2.1)")]
    UdpPayload(u16),
}

/// What a zone is.
#[derive(Debug, Clone, Copy)]
enum ZoneRole {
    /// A reverse zone of prefix `prefix` (index into `Authority::prefixes`).
    Reverse { zone: Zone, prefix: usize },
    /// The forward zone.
    Forward,
}

#[derive(Debug)]
struct ZoneEntry {
    /// Absolute lowercase origin.
    origin: String,
    /// Labels of the origin.
    labels: usize,
    role: ZoneRole,
}

#[derive(Debug)]
struct Prefix {
    net: IpNet,
    template: Template,
    /// The names are under the forward zone: served forward too.
    forward: bool,
}

/// The sans-IO authoritative server: built once from a [`ServeConfig`], then
/// [`Authority::respond`] answers each query (`&self`: shared by every worker thread).
pub struct Authority {
    /// Longest origin first, so the first match is the deepest zone.
    zones: Vec<ZoneEntry>,
    prefixes: Vec<Prefix>,
    /// Explicit PTR targets (wire form).
    ptr: HashMap<IpAddr, Vec<u8>>,
    /// Explicit forward names (lowercase, absolute) under the forward zone.
    names: HashMap<String, Vec<IpAddr>>,
    /// Empty non-terminals of the forward zone (RFC 8020): names above synthesized or
    /// explicit names.
    ents: HashSet<String>,
    soa: Vec<u8>,
    ns: Vec<Vec<u8>>,
    ttl: u32,
    negative_ttl: u32,
    axfr_limit: u64,
    max_udp: u16,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("zones", &self.zones.iter().map(|z| z.origin.as_str()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn labels_of(origin: &str) -> usize {
    if origin == "." {
        0
    } else {
        origin.matches('.').count()
    }
}

/// Whether `name` is `origin` or below it (both absolute, lowercase).
fn is_under(name: &str, origin: &str) -> bool {
    if origin == "." {
        return true;
    }
    name.len() >= origin.len()
        && name.ends_with(origin)
        && (name.len() == origin.len() || name.as_bytes()[name.len() - origin.len() - 1] == b'.')
}

/// The wire form of a name already checked as a host name.
fn wire_name(text: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(text.len() + 2);
    if !wire::push_name(text, &mut v) {
        v = vec![0];
    }
    v
}

impl Authority {
    /// Checks `config` and prepares the zones.
    pub fn new(config: ServeConfig) -> Result<Self, ServeError> {
        let h = &config.header;
        h.validate()?;
        if config.prefixes.is_empty() {
            return Err(ServeError::NoPrefix);
        }
        if config.max_udp_payload < 512 {
            return Err(ServeError::UdpPayload(config.max_udp_payload));
        }
        let forward_zone = match &config.forward_zone {
            Some(f) => {
                let f = if f.ends_with('.') { f.to_ascii_lowercase() } else { format!("{}.", f.to_ascii_lowercase()) };
                check_absolute(&f).map_err(|_| ServeError::BadForwardZone(f.clone()))?;
                Some(f)
            }
            None => None,
        };
        let mut zones: Vec<ZoneEntry> = Vec::new();
        let mut prefixes = Vec::new();
        let mut ents = HashSet::new();
        for (i, p) in config.prefixes.iter().enumerate() {
            let net = p.net.trunc();
            let len = p.template.max_len(net.addr().is_ipv6());
            if len > MAX_NAME_LEN + 1 {
                return Err(ServeError::TemplateTooLong { template: p.template.to_string(), prefix: net, len });
            }
            let mut sample = String::new();
            for a in [net.network(), net.broadcast()] {
                p.template.render(a, offset(net, a), &mut sample);
                check_absolute(&sample).map_err(|e| RdnsError::TemplateOutput {
                    template: p.template.to_string(),
                    addr: a,
                    source: Box::new(e),
                })?;
            }
            let forward = forward_zone.as_deref().is_some_and(|f| is_under(&sample.to_ascii_lowercase(), f));
            if forward {
                if !p.template.is_injective(net) {
                    return Err(ServeError::NotInjective { template: p.template.to_string(), prefix: net });
                }
                // RFC 8020: the names between the zone apex and the template's fixed labels
                // exist (they have names below them).
                let f = forward_zone.as_deref().unwrap_or(".");
                let suffix = p.template.literal_suffix().to_ascii_lowercase();
                if let Some((_, fixed)) = suffix.split_once('.') {
                    add_ents(&mut ents, fixed, f);
                }
            }
            for z in plan(net) {
                let origin = z.origin();
                if let Some(other) = zones.iter().find(|e| e.origin == origin) {
                    let first = match other.role {
                        ZoneRole::Reverse { prefix, .. } => config.prefixes[prefix].net,
                        ZoneRole::Forward => net,
                    };
                    return Err(ServeError::DuplicateZone { origin, first, second: net });
                }
                zones.push(ZoneEntry {
                    labels: labels_of(&origin),
                    origin,
                    role: ZoneRole::Reverse { zone: z, prefix: i },
                });
            }
            prefixes.push(Prefix { net, template: p.template.clone(), forward });
        }
        if let Some(f) = &forward_zone {
            zones.push(ZoneEntry { origin: f.clone(), labels: labels_of(f), role: ZoneRole::Forward });
        }
        zones.sort_by_key(|z| std::cmp::Reverse(z.labels));

        let mut ptr = HashMap::new();
        let mut names: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for r in &config.records {
            check_absolute(&r.name)?;
            if prefixes.iter().any(|p| p.net.contains(&r.addr)) {
                ptr.entry(r.addr).or_insert_with(|| wire_name(&r.name));
            }
            let lower = r.name.to_ascii_lowercase();
            if let Some(f) = &forward_zone {
                if is_under(&lower, f) && lower != *f {
                    if let Some((_, parent)) = lower.split_once('.') {
                        add_ents(&mut ents, parent, f);
                    }
                    let v = names.entry(lower).or_default();
                    if !v.contains(&r.addr) {
                        v.push(r.addr);
                    }
                }
            }
        }
        for n in names.keys() {
            ents.remove(n);
        }

        let mname = h.ns.first().map(String::as_str).unwrap_or(".");
        let mut soa = wire_name(mname);
        soa.extend_from_slice(&wire_name(&h.hostmaster));
        for v in [h.serial, h.refresh, h.retry, h.expire, h.minimum] {
            soa.extend_from_slice(&v.to_be_bytes());
        }
        let ns = h.ns.iter().map(|n| wire_name(n)).collect();
        Ok(Self {
            zones,
            prefixes,
            ptr,
            names,
            ents,
            soa,
            ns,
            ttl: h.ttl,
            negative_ttl: h.ttl.min(h.minimum),
            axfr_limit: config.axfr_limit,
            max_udp: config.max_udp_payload,
        })
    }

    /// The origins of the zones served, deepest first.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.zones.iter().map(|z| z.origin.as_str())
    }

    /// Answers one query (`tcp`: it came over TCP, so no truncation and AXFR allowed).
    /// `None` for a packet that gets no answer: shorter than a DNS header, or a response.
    pub fn respond(&self, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
        let q = match wire::parse(query) {
            Ok(q) => q,
            Err(Verdict::Drop) => return None,
            Err(Verdict::Error { id, flags, rcode, question }) => {
                let mut m = Msg::new(id, flags, false, rcode, 64);
                if let Some((a, b)) = question {
                    m.question(&query[a..b]);
                }
                return Some(m.finish());
            }
        };
        let mut messages = self.answer(&q, tcp, false);
        (messages.len() == 1).then(|| messages.pop()).flatten()
    }

    /// Answers one query with every message of the answer: one, except for a zone transfer
    /// (AXFR over TCP), whose records may fill several messages of up to 65,535 octets (RFC
    /// 5936 §2.2). For servers that can send several messages on one TCP connection; with
    /// [`Authority::respond`], a transfer that needs more than one message is REFUSED.
    pub fn respond_all(&self, query: &[u8], tcp: bool) -> Vec<Vec<u8>> {
        match wire::parse(query) {
            Ok(q) => self.answer(&q, tcp, true),
            Err(_) => self.respond(query, tcp).into_iter().collect(),
        }
    }

    /// An answer of the header, the question and the OPT record when the query had one.
    fn bare(&self, q: &Query<'_>, aa: bool, rcode: u16) -> Msg {
        let mut m = Msg::new(q.id, q.flags, aa, rcode, 512);
        m.question(q.question);
        m
    }

    fn finish(&self, q: &Query<'_>, mut m: Msg, rcode: u16, tcp: bool) -> Vec<u8> {
        let edns_len = if q.edns.is_some() { 11 } else { 0 };
        let limit = match q.edns {
            // RFC 6891 §6.2.5: a payload size below 512 is taken as 512.
            Some(e) => usize::from(e.udp.clamp(512, self.max_udp)),
            None => 512,
        };
        if !tcp && m.len() + edns_len > limit {
            // RFC 1035 §4.2.1 / RFC 2181 §9: too large for UDP: TC and no partial RRsets.
            let aa = m.buf[2] & 0x04 != 0;
            m = self.bare(q, aa, rcode);
            m.set_tc();
        }
        if let Some(e) = q.edns {
            m.opt(self.max_udp, rcode, e.dnssec_ok);
        }
        m.finish()
    }

    fn answer(&self, q: &Query<'_>, tcp: bool, all: bool) -> Vec<Vec<u8>> {
        if let Some(e) = q.edns {
            // RFC 6891 §6.1.3: a version we do not implement gets BADVERS, with our version
            // (0) in the OPT record.
            if e.version != 0 {
                let m = self.bare(q, false, wire::BADVERS);
                return vec![self.finish(q, m, wire::BADVERS, tcp)];
            }
        }
        let refused = || {
            let m = self.bare(q, false, wire::REFUSED);
            vec![self.finish(q, m, wire::REFUSED, tcp)]
        };
        if q.qclass != wire::CLASS_IN && q.qclass != wire::CLASS_ANY {
            return refused();
        }
        let Some(zone) = self.zones.iter().find(|z| is_under(&q.name, &z.origin)) else {
            return refused();
        };
        if matches!(q.qtype, wire::TYPE_AXFR | wire::TYPE_IXFR) {
            // RFC 5936 §4.2: zone transfers run over TCP; RFC 1995 §4: an IXFR may be answered
            // with the whole zone.
            if !tcp || q.name != zone.origin {
                return refused();
            }
            return match self.transfer(q, zone) {
                Some(msgs) if all || msgs.len() == 1 => msgs,
                _ => refused(),
            };
        }
        let node = self.node(q, zone);
        let apex_ptr = wire::pointer(q.suffix_offset(zone.labels));
        let owner = wire::pointer(12);
        let mut m = Msg::new(q.id, q.flags, true, wire::NOERROR, 512);
        m.question(q.question);
        let want = |t: u16| q.qtype == t || q.qtype == wire::TYPE_ANY;
        let mut rdata = Vec::with_capacity(128);
        let mut rcode = wire::NOERROR;
        match node {
            Node::Apex => {
                if want(wire::TYPE_SOA) {
                    m.rr(Section::Answer, &owner, wire::TYPE_SOA, self.ttl, &self.soa);
                }
                if want(wire::TYPE_NS) {
                    for n in &self.ns {
                        m.rr(Section::Answer, &owner, wire::TYPE_NS, self.ttl, n);
                    }
                }
            }
            Node::Host { addr, prefix } => {
                if want(wire::TYPE_PTR) {
                    let target = match self.ptr.get(&addr) {
                        Some(t) => t.as_slice(),
                        None => {
                            self.synthesize(prefix, addr, &mut rdata);
                            rdata.as_slice()
                        }
                    };
                    m.rr(Section::Answer, &owner, wire::TYPE_PTR, self.ttl, target);
                }
            }
            Node::Names(addrs) => {
                for a in addrs {
                    match a {
                        IpAddr::V4(v) if want(wire::TYPE_A) => {
                            m.rr(Section::Answer, &owner, wire::TYPE_A, self.ttl, &v.octets());
                        }
                        IpAddr::V6(v) if want(wire::TYPE_AAAA) => {
                            m.rr(Section::Answer, &owner, wire::TYPE_AAAA, self.ttl, &v.octets());
                        }
                        _ => {}
                    }
                }
            }
            Node::Ent => {}
            Node::NxDomain => rcode = wire::NXDOMAIN,
        }
        if rcode != wire::NOERROR {
            m.buf[3] |= rcode as u8;
        }
        if m.answer_count() == 0 {
            // RFC 2308 §3: NXDOMAIN and NODATA carry the SOA, with the TTL of RFC 2308 §5.
            m.rr(Section::Authority, &apex_ptr, wire::TYPE_SOA, self.negative_ttl, &self.soa);
        }
        vec![self.finish(q, m, rcode, tcp)]
    }

    /// Writes the synthesized PTR target of `addr` (wire form) into `out`.
    fn synthesize(&self, prefix: usize, addr: IpAddr, out: &mut Vec<u8>) {
        let p = &self.prefixes[prefix];
        p.template.render_bytes(addr, offset(p.net, addr), out);
        // The rendering is an absolute LDH name (checked at start for the longest one):
        // its wire form is the same bytes behind one length octet, each dot the length of
        // the label after it, the last dot the root (RFC 1035 §3.1).
        out.insert(0, b'.');
        let mut len_at = 0;
        for i in 1..out.len() {
            if out[i] == b'.' {
                out[len_at] = (i - len_at - 1) as u8;
                len_at = i;
            }
        }
        out[len_at] = 0;
    }

    /// What the question name is in `zone`.
    fn node(&self, q: &Query<'_>, zone: &ZoneEntry) -> Node {
        if q.name == zone.origin {
            return Node::Apex;
        }
        match zone.role {
            ZoneRole::Reverse { zone: z, prefix } => match parse_arpa(&q.name) {
                Ok(ReverseName::Addr(a)) if z.contains(a) => Node::Host { addr: a, prefix },
                // RFC 8020 §2: a nibble or octet name between the apex and the hosts has names
                // below it: it exists, with no records.
                Ok(ReverseName::Prefix(n)) if z.net().contains(&n) => Node::Ent,
                _ => Node::NxDomain,
            },
            ZoneRole::Forward => {
                if let Some(addrs) = self.names.get(&q.name) {
                    return Node::Names(addrs.clone());
                }
                for p in self.prefixes.iter().filter(|p| p.forward) {
                    if let Some(a) = p.template.address_of(&q.name, p.net) {
                        return Node::Names(vec![a]);
                    }
                }
                if self.ents.contains(&q.name) {
                    Node::Ent
                } else {
                    Node::NxDomain
                }
            }
        }
    }

    /// The names of a zone, for AXFR: `None` when there are more than the limit.
    fn zone_size(&self, zone: &ZoneEntry) -> Option<u64> {
        let size = |n: IpNet| 1u128.checked_shl(u32::from(n.max_prefix_len() - n.prefix_len())).unwrap_or(u128::MAX);
        let total: u128 = match zone.role {
            ZoneRole::Reverse { zone, .. } => size(zone.net()),
            ZoneRole::Forward => {
                self.prefixes.iter().filter(|p| p.forward).map(|p| size(p.net)).fold(0u128, u128::saturating_add)
                    + self.names.len() as u128
            }
        };
        u64::try_from(total).ok().filter(|&n| n <= self.axfr_limit)
    }

    /// A zone transfer (RFC 5936 §2.2): SOA, NS, every record, SOA, in messages of at most
    /// 65,535 octets, each with the question (so owners can point to the origin in it).
    fn transfer(&self, q: &Query<'_>, zone: &ZoneEntry) -> Option<Vec<Vec<u8>>> {
        self.zone_size(zone)?;
        let mut out = Vec::new();
        let new_msg = || {
            let mut m = Msg::new(q.id, q.flags, true, wire::NOERROR, 16 * 1024);
            m.question(q.question);
            m
        };
        let mut m = new_msg();
        let mut push = |owner: &[u8], t: u16, rdata: &[u8], m: &mut Msg| {
            if m.len() + owner.len() + 10 + rdata.len() + 11 > MAX_MESSAGE {
                let full = std::mem::replace(m, new_msg());
                out.push(self.finish(q, full, wire::NOERROR, true));
            }
            m.rr(Section::Answer, owner, t, self.ttl, rdata);
        };
        let apex = wire::pointer(12);
        push(&apex, wire::TYPE_SOA, &self.soa, &mut m);
        for n in &self.ns {
            push(&apex, wire::TYPE_NS, n, &mut m);
        }
        let mut owner = Vec::with_capacity(96);
        let mut rdata = Vec::with_capacity(96);
        let mut text = Vec::with_capacity(96);
        match zone.role {
            ZoneRole::Reverse { zone: z, prefix } => {
                let _ = AddrRange::from_net(z.net()).for_each_canonical(|a, _| {
                    text.clear();
                    z.push_relative_owner(a, &mut text);
                    owner.clear();
                    relative_owner(&text, &mut owner);
                    let target = match self.ptr.get(&a) {
                        Some(t) => t.as_slice(),
                        None => {
                            self.synthesize(prefix, a, &mut rdata);
                            rdata.as_slice()
                        }
                    };
                    push(&owner, wire::TYPE_PTR, target, &mut m);
                    Ok::<_, ()>(())
                });
            }
            ZoneRole::Forward => {
                let mut record = |name: &str, a: IpAddr, m: &mut Msg| {
                    owner.clear();
                    let rel = name.strip_suffix(zone.origin.as_str()).unwrap_or("");
                    relative_owner(rel.strip_suffix('.').unwrap_or(rel).as_bytes(), &mut owner);
                    match a {
                        IpAddr::V4(v) => push(&owner, wire::TYPE_A, &v.octets(), m),
                        IpAddr::V6(v) => push(&owner, wire::TYPE_AAAA, &v.octets(), m),
                    }
                };
                let mut sorted: Vec<(&String, &Vec<IpAddr>)> = self.names.iter().collect();
                sorted.sort();
                for (name, addrs) in sorted {
                    for &a in addrs {
                        record(name, a, &mut m);
                    }
                }
                for p in self.prefixes.iter().filter(|p| p.forward) {
                    let mut name = String::new();
                    let _ = AddrRange::from_net(p.net).for_each_canonical(|a, _| {
                        p.template.render(a, offset(p.net, a), &mut name);
                        let lower = name.to_ascii_lowercase();
                        // An explicit record of the same name was written above.
                        if !self.names.contains_key(&lower) {
                            record(&lower, a, &mut m);
                        }
                        Ok::<_, ()>(())
                    });
                }
            }
        }
        push(&apex, wire::TYPE_SOA, &self.soa, &mut m);
        out.push(self.finish(q, m, wire::NOERROR, true));
        Some(out)
    }
}

/// Appends `rel` (dotted labels relative to the origin, `@` or empty for the origin) and a
/// pointer to the origin at offset 12 (the question).
fn relative_owner(rel: &[u8], out: &mut Vec<u8>) {
    if !rel.is_empty() && rel != b"@" {
        for l in rel.split(|&c| c == b'.') {
            out.push(l.len() as u8);
            out.extend_from_slice(l);
        }
    }
    out.extend_from_slice(&wire::pointer(12));
}

/// Adds `name` and its ancestors strictly below `apex` to the empty non-terminals.
fn add_ents(ents: &mut HashSet<String>, name: &str, apex: &str) {
    let mut n = name;
    while n.len() > apex.len() && is_under(n, apex) {
        ents.insert(n.to_owned());
        match n.split_once('.') {
            Some((_, rest)) if !rest.is_empty() => n = rest,
            _ => break,
        }
    }
}

/// What a name is in its zone.
enum Node {
    Apex,
    Host { addr: IpAddr, prefix: usize },
    Names(Vec<IpAddr>),
    Ent,
    NxDomain,
}

#[cfg(test)]
mod tests;
