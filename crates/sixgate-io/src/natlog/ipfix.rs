//! IPFIX NAT event export: the stateful NAT64's BIB, session and port-block events as
//! IPFIX Messages (RFC 7011) carrying RFC 8158's information elements, for a collector
//! over UDP.
//!
//! Sans-IO: an [`Encoder`] takes events and the time and hands out finished messages
//! (bytes) to a callback; the logging thread sends them. Three templates (RFC 7011 §3.4),
//! one per kind of record:
//!
//! | template | natEvent (230) | fields, in order |
//! | --- | --- | --- |
//! | [`SESSION_TEMPLATE`] 256 | 6 NAT64 session create, 7 delete | observationTimeMilliseconds (323), natEvent (230), protocolIdentifier (4), sourceIPv6Address (27), sourceTransportPort (7), postNATSourceIPv4Address (225), postNAPTSourceTransportPort (227), destinationIPv6Address (28), postNATDestinationIPv4Address (226), destinationTransportPort (11), postNAPTDestinationTransportPort (228) |
//! | [`BIB_TEMPLATE`] 257 | 10 NAT64 BIB create, 11 delete | 323, 230, 4, 27, 7, 225, 227 |
//! | [`BLOCK_TEMPLATE`] 258 | 16 port block allocation, 17 de-allocation | 323, 230, sourceIPv6Address (27, the subscriber prefix), sourceIPv6PrefixLength (29), postNATSourceIPv4Address (225), portRangeStart (361), portRangeEnd (362), portRangeStepSize (363), portRangeNumPorts (364) |
//!
//! protocolIdentifier is the IPv4 side's protocol (ICMP queries: 1, whose identifier the
//! port fields carry, as in the JSON lines); the destination port is the same before and
//! after translation (a NAT64 rewrites only the source).
//!
//! The templates go in a message of their own at the first event and again every
//! [`TEMPLATE_REFRESH`] (RFC 7011 §8.4: over UDP, templates are re-sent periodically);
//! data records are gathered into messages of at most [`MAX_MESSAGE`] bytes, a data set
//! per run of records of one template, and a message goes when the next record does not
//! fit or at [`Encoder::finish`] (the logging thread calls it whenever its queue is empty).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sixgate_nat64::stateful::NatEventKind;
use sixgate_nat64::{BlockEvent, BlockEventKind, NatEvent};

use super::Record;

/// RFC 7011 §3.1: the Version Number of IPFIX Messages.
const VERSION: u16 = 10;
/// RFC 7011 §3.1: the Message Header's length.
const HEADER: usize = 16;
/// RFC 7011 §3.3.2: the Set ID of a Template Set.
const TEMPLATE_SET: u16 = 2;

/// RFC 7011 §10.3.3: without a known path MTU, an IPFIX Message over UDP SHOULD NOT
/// exceed 512 octets.
pub const MAX_MESSAGE: usize = 512;

/// How often the templates are sent again (RFC 7011 §8.4: over UDP the Exporting Process
/// re-sends them periodically, so that a collector that started late or lost them can
/// decode what follows).
pub const TEMPLATE_REFRESH: Duration = Duration::from_secs(60);

/// The Template ID of session records (RFC 7011 §3.4.1: IDs 0–255 are reserved).
pub const SESSION_TEMPLATE: u16 = 256;
/// The Template ID of BIB records.
pub const BIB_TEMPLATE: u16 = 257;
/// The Template ID of port-block records.
pub const BLOCK_TEMPLATE: u16 = 258;

/// IANA IPFIX Information Element identifiers (RFC 7012, RFC 8158) and their lengths.
mod ie {
    pub(super) const PROTOCOL_IDENTIFIER: (u16, u16) = (4, 1);
    pub(super) const SOURCE_TRANSPORT_PORT: (u16, u16) = (7, 2);
    pub(super) const DESTINATION_TRANSPORT_PORT: (u16, u16) = (11, 2);
    pub(super) const SOURCE_IPV6_ADDRESS: (u16, u16) = (27, 16);
    pub(super) const DESTINATION_IPV6_ADDRESS: (u16, u16) = (28, 16);
    pub(super) const SOURCE_IPV6_PREFIX_LENGTH: (u16, u16) = (29, 1);
    pub(super) const POST_NAT_SOURCE_IPV4_ADDRESS: (u16, u16) = (225, 4);
    pub(super) const POST_NAT_DESTINATION_IPV4_ADDRESS: (u16, u16) = (226, 4);
    pub(super) const POST_NAPT_SOURCE_TRANSPORT_PORT: (u16, u16) = (227, 2);
    pub(super) const POST_NAPT_DESTINATION_TRANSPORT_PORT: (u16, u16) = (228, 2);
    pub(super) const NAT_EVENT: (u16, u16) = (230, 1);
    /// dateTimeMilliseconds (RFC 7011 §6.1.8): 64 bits, milliseconds since 1970.
    pub(super) const OBSERVATION_TIME_MILLISECONDS: (u16, u16) = (323, 8);
    pub(super) const PORT_RANGE_START: (u16, u16) = (361, 2);
    pub(super) const PORT_RANGE_END: (u16, u16) = (362, 2);
    pub(super) const PORT_RANGE_STEP_SIZE: (u16, u16) = (363, 2);
    pub(super) const PORT_RANGE_NUM_PORTS: (u16, u16) = (364, 2);
}

use ie::*;

const SESSION_FIELDS: [(u16, u16); 11] = [
    OBSERVATION_TIME_MILLISECONDS,
    NAT_EVENT,
    PROTOCOL_IDENTIFIER,
    SOURCE_IPV6_ADDRESS,
    SOURCE_TRANSPORT_PORT,
    POST_NAT_SOURCE_IPV4_ADDRESS,
    POST_NAPT_SOURCE_TRANSPORT_PORT,
    DESTINATION_IPV6_ADDRESS,
    POST_NAT_DESTINATION_IPV4_ADDRESS,
    DESTINATION_TRANSPORT_PORT,
    POST_NAPT_DESTINATION_TRANSPORT_PORT,
];

const BIB_FIELDS: [(u16, u16); 7] = [
    OBSERVATION_TIME_MILLISECONDS,
    NAT_EVENT,
    PROTOCOL_IDENTIFIER,
    SOURCE_IPV6_ADDRESS,
    SOURCE_TRANSPORT_PORT,
    POST_NAT_SOURCE_IPV4_ADDRESS,
    POST_NAPT_SOURCE_TRANSPORT_PORT,
];

const BLOCK_FIELDS: [(u16, u16); 9] = [
    OBSERVATION_TIME_MILLISECONDS,
    NAT_EVENT,
    SOURCE_IPV6_ADDRESS,
    SOURCE_IPV6_PREFIX_LENGTH,
    POST_NAT_SOURCE_IPV4_ADDRESS,
    PORT_RANGE_START,
    PORT_RANGE_END,
    PORT_RANGE_STEP_SIZE,
    PORT_RANGE_NUM_PORTS,
];

const TEMPLATES: [(u16, &[(u16, u16)]); 3] =
    [(SESSION_TEMPLATE, &SESSION_FIELDS), (BIB_TEMPLATE, &BIB_FIELDS), (BLOCK_TEMPLATE, &BLOCK_FIELDS)];

/// A record's length: the sum of its template's field lengths.
const fn record_len(fields: &[(u16, u16)]) -> usize {
    let (mut n, mut i) = (0, 0);
    while i < fields.len() {
        n += fields[i].1 as usize;
        i += 1;
    }
    n
}

/// natEvent values (RFC 8158 §4.1.1 Table 1, the IANA "NAT Event Type" registry; 1 and 2
/// are the historic NAT translation create/delete, 4 and 5 NAT44 sessions, 8 and 9 NAT44
/// BIB entries; older drafts numbered these differently).
pub mod nat_event {
    /// NAT64 session create.
    pub const NAT64_SESSION_CREATE: u8 = 6;
    /// NAT64 session delete.
    pub const NAT64_SESSION_DELETE: u8 = 7;
    /// NAT64 BIB create.
    pub const NAT64_BIB_CREATE: u8 = 10;
    /// NAT64 BIB delete.
    pub const NAT64_BIB_DELETE: u8 = 11;
    /// Port block allocation.
    pub const PORT_BLOCK_ALLOCATION: u8 = 16;
    /// Port block de-allocation.
    pub const PORT_BLOCK_DEALLOCATION: u8 = 17;
}

/// Milliseconds since 1970 (0 before it).
fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The template and natEvent of a record.
fn kind(r: &Record) -> (u16, u8) {
    match r {
        Record::Nat(e) => match e.kind {
            NatEventKind::SessionCreated => (SESSION_TEMPLATE, nat_event::NAT64_SESSION_CREATE),
            NatEventKind::SessionDeleted => (SESSION_TEMPLATE, nat_event::NAT64_SESSION_DELETE),
            NatEventKind::BibCreated => (BIB_TEMPLATE, nat_event::NAT64_BIB_CREATE),
            NatEventKind::BibDeleted => (BIB_TEMPLATE, nat_event::NAT64_BIB_DELETE),
        },
        Record::Block(b) => match b.kind {
            BlockEventKind::Allocated => (BLOCK_TEMPLATE, nat_event::PORT_BLOCK_ALLOCATION),
            BlockEventKind::Released => (BLOCK_TEMPLATE, nat_event::PORT_BLOCK_DEALLOCATION),
        },
    }
}

/// A mapping's fields (BIB template; the session template starts with them).
fn push_mapping(out: &mut Vec<u8>, e: &NatEvent, at: SystemTime, event: u8) {
    out.extend_from_slice(&millis(at).to_be_bytes());
    out.push(event);
    out.push(e.protocol.number());
    out.extend_from_slice(&e.ipv6.octets());
    out.extend_from_slice(&e.ipv6_port.to_be_bytes());
    out.extend_from_slice(&e.pool4.octets());
    out.extend_from_slice(&e.pool4_port.to_be_bytes());
}

/// The remote side of a session: as the IPv6 client addressed it (pool6 + IPv4) and as
/// IPv4; the port is the same on both sides (a NAT64 translates only the source).
fn push_remote(out: &mut Vec<u8>, e: &NatEvent) {
    let (ipv6, ipv4, port) = e.remote.map_or(([0; 16], [0; 4], 0), |r| (r.ipv6.octets(), r.ipv4.octets(), r.port));
    out.extend_from_slice(&ipv6);
    out.extend_from_slice(&ipv4);
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&port.to_be_bytes());
}

/// A port block: the subscriber prefix, the pool4 address and the ports, contiguous
/// (step 1).
fn push_block(out: &mut Vec<u8>, b: &BlockEvent, at: SystemTime, event: u8) {
    let (start, end) = (*b.ports.start(), *b.ports.end());
    out.extend_from_slice(&millis(at).to_be_bytes());
    out.push(event);
    out.extend_from_slice(&b.subscriber.addr().octets());
    out.push(b.subscriber.prefix_len());
    out.extend_from_slice(&b.ipv4.octets());
    out.extend_from_slice(&start.to_be_bytes());
    out.extend_from_slice(&end.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    // 65536 ports (a block of every port) do not fit portRangeNumPorts: at most 65535.
    let n = u32::from(end.saturating_sub(start)) + 1;
    out.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
}

/// Appends `r`'s data record (the fields of its template, in order).
pub fn encode_record(out: &mut Vec<u8>, r: &Record, at: SystemTime) {
    let (_, event) = kind(r);
    match r {
        Record::Nat(e) => {
            push_mapping(out, e, at, event);
            if matches!(e.kind, NatEventKind::SessionCreated | NatEventKind::SessionDeleted) {
                push_remote(out, e);
            }
        }
        Record::Block(b) => push_block(out, b, at, event),
    }
}

/// Appends a Template Set holding the three templates (RFC 7011 §3.3.2, §3.4.1: each a
/// Template Record Header — Template ID, Field Count — and its Field Specifiers, IANA
/// elements with the Enterprise bit clear).
pub fn encode_templates(out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&TEMPLATE_SET.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    for (id, fields) in TEMPLATES {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        for (element, len) in fields {
            out.extend_from_slice(&element.to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    let len = (out.len() - start) as u16;
    out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Builds IPFIX Messages of one Observation Domain from events: sans-IO, the time given
/// with each call, each finished message handed to `emit` with its count of data records.
#[derive(Debug)]
pub struct Encoder {
    domain: u32,
    /// RFC 7011 §3.1: data records sent so far in this stream, modulo 2³² (template
    /// records do not count).
    sequence: u32,
    /// The message being filled (empty: none).
    msg: Vec<u8>,
    /// The open data set: its Set ID and where its header is.
    set: Option<(u16, usize)>,
    /// Data records in `msg`.
    records: u32,
    /// When the templates were sent last (none yet).
    templates_at: Option<SystemTime>,
}

impl Encoder {
    /// An encoder for Observation Domain `domain` (RFC 7011 §3.1), nothing sent yet.
    pub fn new(domain: u32) -> Self {
        Self { domain, sequence: 0, msg: Vec::with_capacity(MAX_MESSAGE), set: None, records: 0, templates_at: None }
    }

    /// Adds the data record of `r` (at wall-clock time `at`); `now` is the time messages
    /// leave. The templates go first at the first record and when they are due again
    /// ([`TEMPLATE_REFRESH`], or the clock went back); a message goes when `r` does not
    /// fit in it.
    pub fn push(&mut self, r: &Record, at: SystemTime, now: SystemTime, emit: &mut dyn FnMut(&[u8], u32)) {
        let due = match self.templates_at {
            None => true,
            Some(t) => now.duration_since(t).map_or(true, |d| d >= TEMPLATE_REFRESH),
        };
        if due {
            self.finish(now, emit);
            self.start();
            encode_templates(&mut self.msg);
            self.finish(now, emit);
            self.templates_at = Some(now);
        }
        let (template, _) = kind(r);
        let len = match template {
            SESSION_TEMPLATE => record_len(&SESSION_FIELDS),
            BIB_TEMPLATE => record_len(&BIB_FIELDS),
            _ => record_len(&BLOCK_FIELDS),
        };
        let new_set = self.set.is_none_or(|(id, _)| id != template);
        if !self.msg.is_empty() && self.msg.len() + len + if new_set { 4 } else { 0 } > MAX_MESSAGE {
            self.finish(now, emit);
        }
        if self.msg.is_empty() {
            self.start();
        }
        if self.set.is_none_or(|(id, _)| id != template) {
            self.close_set();
            self.set = Some((template, self.msg.len()));
            self.msg.extend_from_slice(&template.to_be_bytes());
            self.msg.extend_from_slice(&[0, 0]);
        }
        encode_record(&mut self.msg, r, at);
        self.records += 1;
    }

    /// Hands out the message being filled, if any (`now`: its Export Time).
    pub fn finish(&mut self, now: SystemTime, emit: &mut dyn FnMut(&[u8], u32)) {
        if self.msg.is_empty() {
            return;
        }
        self.close_set();
        // RFC 7011 §3.1: Version, Length, Export Time (seconds since 1970), Sequence
        // Number (data records before this message), Observation Domain ID.
        let len = self.msg.len() as u16;
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32);
        self.msg[0..2].copy_from_slice(&VERSION.to_be_bytes());
        self.msg[2..4].copy_from_slice(&len.to_be_bytes());
        self.msg[4..8].copy_from_slice(&secs.to_be_bytes());
        self.msg[8..12].copy_from_slice(&self.sequence.to_be_bytes());
        self.msg[12..16].copy_from_slice(&self.domain.to_be_bytes());
        emit(&self.msg, self.records);
        self.sequence = self.sequence.wrapping_add(self.records);
        self.msg.clear();
        self.records = 0;
    }

    /// Makes the templates due again at the next record (the collector may have lost them).
    pub fn resend_templates(&mut self) {
        self.templates_at = None;
    }

    fn start(&mut self) {
        self.msg.clear();
        self.msg.resize(HEADER, 0);
        self.set = None;
    }

    /// Writes the open data set's length (RFC 7011 §3.3.2: the Set Header's Length
    /// counts the header, the records and any padding; no padding here).
    fn close_set(&mut self) {
        if let Some((_, at)) = self.set.take() {
            let len = (self.msg.len() - at) as u16;
            self.msg[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sixgate_core::Protocol;
    use sixgate_nat64::stateful::Remote;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Instant;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join("")
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn session(kind: NatEventKind) -> Record {
        Record::Nat(NatEvent {
            kind,
            time: Instant::now(),
            protocol: Protocol::Tcp,
            ipv6: "2001:db8::10".parse().unwrap(),
            ipv6_port: 40000,
            pool4: Ipv4Addr::new(198, 51, 100, 1),
            pool4_port: 40123,
            remote: Some(Remote {
                ipv6: "64:ff9b::cb00:7105".parse().unwrap(),
                ipv4: Ipv4Addr::new(203, 0, 113, 5),
                port: 443,
            }),
        })
    }

    fn bib() -> Record {
        let Record::Nat(mut e) = session(NatEventKind::BibCreated) else { unreachable!() };
        e.remote = None;
        e.protocol = Protocol::Udp;
        Record::Nat(e)
    }

    fn block(kind: BlockEventKind) -> Record {
        Record::Block(BlockEvent {
            kind,
            time: Instant::now(),
            subscriber: ipnet::Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x100, 0, 0, 0, 0), 56).unwrap(),
            ipv4: Ipv4Addr::new(192, 0, 2, 7),
            ports: 2016..=4031,
        })
    }

    /// 2026-01-02T14:02:03.456Z.
    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_767_362_523_456)
    }

    fn messages(f: impl FnOnce(&mut Encoder, &mut dyn FnMut(&[u8], u32))) -> Vec<(Vec<u8>, u32)> {
        let mut enc = Encoder::new(7);
        let mut out = Vec::new();
        f(&mut enc, &mut |m, n| out.push((m.to_vec(), n)));
        out
    }

    #[test]
    fn the_template_set_is_byte_for_byte_rfc7011() {
        let mut t = Vec::new();
        encode_templates(&mut t);
        let want = unhex(
            "0002 007c
             0100 000b  0143 0008  00e6 0001  0004 0001  001b 0010  0007 0002  00e1 0004  00e3 0002
                        001c 0010  00e2 0004  000b 0002  00e4 0002
             0101 0007  0143 0008  00e6 0001  0004 0001  001b 0010  0007 0002  00e1 0004  00e3 0002
             0102 0009  0143 0008  00e6 0001  001b 0010  001d 0001  00e1 0004  0169 0002  016a 0002
                        016b 0002  016c 0002",
        );
        assert_eq!(hex(&t), hex(&want));
        assert_eq!(t.len(), 4 + 3 * 4 + (11 + 7 + 9) * 4);
    }

    #[test]
    fn records_are_byte_for_byte_the_template_fields() {
        let t = at();
        let mut s = Vec::new();
        encode_record(&mut s, &session(NatEventKind::SessionCreated), t);
        let want = unhex(
            "0000019b7f03f140 06 06 20010db8000000000000000000000010 9c40 c6336401 9cbb
             0064ff9b0000000000000000cb007105 cb007105 01bb 01bb",
        );
        assert_eq!(hex(&s), hex(&want));
        assert_eq!(s.len(), record_len(&SESSION_FIELDS));

        s.clear();
        encode_record(&mut s, &bib(), t);
        assert_eq!(hex(&s), hex(&unhex("0000019b7f03f140 0a 11 20010db8000000000000000000000010 9c40 c6336401 9cbb")));
        assert_eq!(s.len(), record_len(&BIB_FIELDS));

        s.clear();
        encode_record(&mut s, &block(BlockEventKind::Released), t);
        assert_eq!(
            hex(&s),
            hex(&unhex("0000019b7f03f140 11 20010db8000001000000000000000000 38 c0000207 07e0 0fbf 0001 07e0"))
        );
        assert_eq!(s.len(), record_len(&BLOCK_FIELDS));
    }

    #[test]
    fn templates_first_then_data_sets_with_header_and_sequence() {
        let now = at() + Duration::from_millis(544); // export time 1767362524
        let out = messages(|enc, emit| {
            enc.push(&session(NatEventKind::SessionCreated), at(), now, emit);
            enc.push(&session(NatEventKind::SessionDeleted), at(), now, emit);
            enc.push(&block(BlockEventKind::Allocated), at(), now, emit);
            enc.finish(now, emit);
            enc.push(&bib(), at(), now, emit);
            enc.finish(now, emit);
            enc.finish(now, emit); // nothing left: no message
        });
        assert_eq!(out.len(), 3, "templates, then two data messages");
        let (tpl, n) = &out[0];
        assert_eq!(*n, 0);
        // Version 10, length 16 + 124, export time, sequence 0, domain 7.
        assert_eq!(hex(&tpl[..16]), "000a008c6957cfdc0000000000000007");
        assert_eq!(tpl.len(), 0x8c);

        let (m, n) = &out[1];
        assert_eq!(*n, 3);
        // One set of two session records (4 + 2 × 58), one of a block record (4 + 38).
        assert_eq!(m.len(), 16 + 4 + 2 * 58 + 4 + 38);
        assert_eq!(hex(&m[..16]), format!("000a{:04x}6957cfdc0000000000000007", m.len()));
        assert_eq!(hex(&m[16..20]), format!("0100{:04x}", 4 + 2 * 58));
        assert_eq!(m[16 + 4 + 8], nat_event::NAT64_SESSION_CREATE);
        assert_eq!(m[16 + 4 + 58 + 8], nat_event::NAT64_SESSION_DELETE);
        let b = 16 + 4 + 2 * 58;
        assert_eq!(hex(&m[b..b + 4]), format!("0102{:04x}", 4 + 38));
        assert_eq!(m[b + 4 + 8], nat_event::PORT_BLOCK_ALLOCATION);

        // The next message's sequence number counts the three data records before it.
        let (m, n) = &out[2];
        assert_eq!(*n, 1);
        assert_eq!(hex(&m[8..12]), "00000003");
        assert_eq!(hex(&m[16..20]), format!("0101{:04x}", 4 + 34));
        assert_eq!(m.len(), 16 + 4 + 34);
    }

    #[test]
    fn messages_stay_within_512_bytes_and_templates_are_resent() {
        let t0 = at();
        let mut enc = Encoder::new(1);
        let mut out: Vec<(Vec<u8>, u32)> = Vec::new();
        let mut emit = |m: &[u8], n: u32| out.push((m.to_vec(), n));
        for _ in 0..20 {
            enc.push(&session(NatEventKind::SessionCreated), t0, t0, &mut emit);
        }
        // Not yet due: no second template message.
        enc.push(&bib(), t0, t0 + TEMPLATE_REFRESH - Duration::from_millis(1), &mut emit);
        enc.push(&bib(), t0, t0 + TEMPLATE_REFRESH, &mut emit);
        enc.finish(t0 + TEMPLATE_REFRESH, &mut emit);
        let templates: Vec<usize> =
            out.iter().enumerate().filter(|(_, (m, _))| m[16..18] == [0, 2]).map(|(i, _)| i).collect();
        assert_eq!(templates.len(), 2, "{templates:?}");
        assert_eq!(templates[0], 0);
        // 8 session records fit in 512 bytes (16 + 4 + 8 × 58 = 484).
        let data: Vec<u32> = out.iter().map(|(_, n)| *n).filter(|&n| n > 0).collect();
        assert_eq!(data, vec![8, 8, 5, 1], "{data:?}");
        let mut seq = 0u32;
        for (m, n) in &out {
            assert!(m.len() <= MAX_MESSAGE);
            assert_eq!(usize::from(u16::from_be_bytes([m[2], m[3]])), m.len());
            assert_eq!(u32::from_be_bytes([m[8], m[9], m[10], m[11]]), seq);
            seq += n;
        }
        assert_eq!(seq, 22);
    }

    #[test]
    fn resend_templates_makes_them_go_before_the_next_record() {
        let out = messages(|enc, emit| {
            enc.push(&bib(), at(), at(), emit);
            enc.resend_templates();
            enc.push(&bib(), at(), at(), emit);
            enc.finish(at(), emit);
        });
        let sets: Vec<u16> = out.iter().map(|(m, _)| u16::from_be_bytes([m[16], m[17]])).collect();
        assert_eq!(sets, [2, BIB_TEMPLATE, 2, BIB_TEMPLATE]);
        // The data record before the second templates went first; the count goes on.
        assert_eq!(out[2].0[8..12], 1u32.to_be_bytes());
        assert_eq!(out[3].0[8..12], 1u32.to_be_bytes());
    }

    #[test]
    fn a_clock_gone_back_resends_the_templates_and_early_times_do_not_panic() {
        let out = messages(|enc, emit| {
            enc.push(&bib(), at(), at(), emit);
            enc.push(&bib(), UNIX_EPOCH, at() - Duration::from_secs(1), emit);
            enc.finish(UNIX_EPOCH - Duration::from_secs(5), emit);
        });
        let templates = out.iter().filter(|(m, _)| m[16..18] == [0, 2]).count();
        assert_eq!(templates, 2);
        let last = &out.last().unwrap().0;
        assert_eq!(hex(&last[4..8]), "00000000");
        assert_eq!(hex(&last[20..28]), "0000000000000000");
    }
}
