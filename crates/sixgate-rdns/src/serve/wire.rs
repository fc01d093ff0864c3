//! DNS messages on the wire (RFC 1035 §4), as far as an authoritative server needs them:
//! reading a query, writing an answer. Every read is bounds-checked; a query that cannot be
//! read gives a [`Verdict`], never a panic.

/// RR types and classes (RFC 1035 §3.2.2, §3.2.4; RFC 3596 §2.1; RFC 6891 §6.1.1; RFC 5936).
pub(crate) const TYPE_A: u16 = 1;
pub(crate) const TYPE_NS: u16 = 2;
pub(crate) const TYPE_SOA: u16 = 6;
pub(crate) const TYPE_PTR: u16 = 12;
pub(crate) const TYPE_AAAA: u16 = 28;
pub(crate) const TYPE_OPT: u16 = 41;
pub(crate) const TYPE_IXFR: u16 = 251;
pub(crate) const TYPE_AXFR: u16 = 252;
pub(crate) const TYPE_ANY: u16 = 255;
pub(crate) const CLASS_IN: u16 = 1;
pub(crate) const CLASS_ANY: u16 = 255;

/// Response codes (RFC 1035 §4.1.1, RFC 6891 §9 for BADVERS).
pub(crate) const NOERROR: u16 = 0;
pub(crate) const FORMERR: u16 = 1;
pub(crate) const NXDOMAIN: u16 = 3;
pub(crate) const NOTIMP: u16 = 4;
pub(crate) const REFUSED: u16 = 5;
pub(crate) const BADVERS: u16 = 16;

const HEADER: usize = 12;
/// A name is at most 255 octets on the wire (RFC 1035 §2.3.4), so at most 127 labels.
const MAX_LABELS: usize = 128;

/// The client's EDNS(0) OPT record (RFC 6891 §6.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edns {
    /// Requestor's UDP payload size.
    pub(crate) udp: u16,
    /// EDNS version.
    pub(crate) version: u8,
    /// The DO bit (RFC 3225 §3).
    pub(crate) dnssec_ok: bool,
}

/// A query read from the wire.
pub(crate) struct Query<'a> {
    pub(crate) id: u16,
    /// The header's flags word as received.
    pub(crate) flags: u16,
    /// The question as received (name, type, class), copied into the answer.
    pub(crate) question: &'a [u8],
    pub(crate) qtype: u16,
    pub(crate) qclass: u16,
    pub(crate) edns: Option<Edns>,
    /// Offsets (in the message) of the question name's labels, left to right.
    label_at: [u16; MAX_LABELS],
    labels: usize,
    /// The question name as lowercase text, absolute, `\DDD` for any byte outside
    /// `[a-z0-9-_/*]` (so a `.` in the text always separates labels).
    pub(crate) name: String,
}

impl Query<'_> {
    /// The number of labels of the question name (the root has none).
    #[cfg(test)]
    pub(crate) fn labels(&self) -> usize {
        self.labels
    }

    /// The offset in the message of the question name's suffix of `n` labels (the root's
    /// zero byte for 0), for a compression pointer (RFC 1035 §4.1.4).
    pub(crate) fn suffix_offset(&self, n: usize) -> u16 {
        if n == 0 || n > self.labels {
            // The root: the zero byte before QTYPE.
            return (HEADER + self.question.len() - 5) as u16;
        }
        self.label_at[self.labels - n]
    }
}

/// What to do with a query that cannot be answered normally.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not a query at all (too short for a header, or a response): no answer (RFC 1035
    /// §4.1.1 has no answer for a response; answering one invites loops).
    Drop,
    /// Answer with this RCODE: the header only, or with the question when it was read.
    Error { id: u16, flags: u16, rcode: u16, question: Option<(usize, usize)> },
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Skips a name in a section after the question (compression pointers allowed there):
/// the offset after it.
fn skip_name(b: &[u8], mut i: usize) -> Option<usize> {
    for _ in 0..MAX_LABELS {
        let len = *b.get(i)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(i + 1),
            0x00 => i += 1 + usize::from(len),
            0xc0 => return (i + 2 <= b.len()).then_some(i + 2),
            _ => return None,
        }
    }
    None
}

/// Appends a label byte to the lowercase text form.
fn push_text_byte(c: u8, out: &mut String) {
    let c = c.to_ascii_lowercase();
    if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'/' | b'*') {
        out.push(char::from(c));
    } else {
        out.push('\\');
        out.push(char::from(b'0' + c / 100));
        out.push(char::from(b'0' + (c / 10) % 10));
        out.push(char::from(b'0' + c % 10));
    }
}

/// Reads a query: header, one question (RFC 1035 §4.1.2, no compression inside it: nothing
/// precedes it to point to), the answer and authority sections skipped, the additional
/// section searched for one OPT record (RFC 6891 §6.1.1).
pub(crate) fn parse(b: &[u8]) -> Result<Query<'_>, Verdict> {
    if b.len() < HEADER {
        return Err(Verdict::Drop);
    }
    let id = u16::from_be_bytes([b[0], b[1]]);
    let flags = u16::from_be_bytes([b[2], b[3]]);
    if flags & 0x8000 != 0 {
        return Err(Verdict::Drop);
    }
    let err = |rcode, question| Verdict::Error { id, flags, rcode, question };
    // RFC 1035 §4.1.1: OPCODE 0 is a standard query; the others (IQUERY is obsolete, STATUS,
    // NOTIFY, UPDATE) are not implemented here.
    if (flags >> 11) & 0xf != 0 {
        return Err(err(NOTIMP, None));
    }
    let count = |i: usize| u16::from_be_bytes([b[4 + 2 * i], b[5 + 2 * i]]);
    let (qd, an, ns, ar) = (count(0), count(1), count(2), count(3));
    if qd != 1 {
        return Err(err(FORMERR, None));
    }
    let mut label_at = [0u16; MAX_LABELS];
    let mut labels = 0;
    let mut name = String::with_capacity(80);
    let mut i = HEADER;
    loop {
        let Some(&len) = b.get(i) else { return Err(err(FORMERR, None)) };
        if len == 0 {
            i += 1;
            break;
        }
        // RFC 1035 §4.1.4: no pointer can lead into the question from inside it; the 01 and
        // 10 label types are unassigned (RFC 6891 §5 retired the extended ones).
        if len & 0xc0 != 0 || labels == MAX_LABELS - 1 || i + 1 + usize::from(len) > b.len() {
            return Err(err(FORMERR, None));
        }
        label_at[labels] = i as u16;
        labels += 1;
        for &c in &b[i + 1..i + 1 + usize::from(len)] {
            push_text_byte(c, &mut name);
        }
        name.push('.');
        i += 1 + usize::from(len);
        // RFC 1035 §2.3.4: 255 octets at most, the root's zero octet included.
        if i - HEADER + 1 > 255 {
            return Err(err(FORMERR, None));
        }
    }
    if labels == 0 {
        name.push('.');
    }
    let (Some(qtype), Some(qclass)) = (u16_at(b, i), u16_at(b, i + 2)) else { return Err(err(FORMERR, None)) };
    let qend = i + 4;
    let question = &b[HEADER..qend];
    let qerr = |rcode| Verdict::Error { id, flags, rcode, question: Some((HEADER, qend)) };
    // The answer and authority sections of a query are skipped (an IXFR query carries the
    // client's SOA in its authority section, RFC 1995 §3).
    let mut at = qend;
    for _ in 0..u32::from(an) + u32::from(ns) {
        at = skip_name(b, at).ok_or_else(|| qerr(FORMERR))?;
        let rdlen = u16_at(b, at + 8).ok_or_else(|| qerr(FORMERR))?;
        at += 10 + usize::from(rdlen);
        if at > b.len() {
            return Err(qerr(FORMERR));
        }
    }
    let mut edns = None;
    for _ in 0..ar {
        let owner = at;
        at = skip_name(b, at).ok_or_else(|| qerr(FORMERR))?;
        let (Some(rtype), Some(class), Some(rdlen)) = (u16_at(b, at), u16_at(b, at + 2), u16_at(b, at + 8)) else {
            return Err(qerr(FORMERR));
        };
        if rtype == TYPE_OPT {
            // RFC 6891 §6.1.1: one OPT at most, owned by the root; otherwise FORMERR.
            if edns.is_some() || b[owner] != 0 {
                return Err(qerr(FORMERR));
            }
            edns = Some(Edns { udp: class, version: b[at + 5], dnssec_ok: b[at + 6] & 0x80 != 0 });
        }
        at += 10 + usize::from(rdlen);
        if at > b.len() {
            return Err(qerr(FORMERR));
        }
    }
    Ok(Query { id, flags, question, qtype, qclass, edns, label_at, labels, name })
}

/// Appends the wire form of an absolute text name (`\.` and `\DDD` escapes as RFC 1035
/// §5.1): `false` (with `out` cut back) for a name that is too long or has an empty label.
pub(crate) fn push_name(text: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let t = text.as_bytes();
    if t == b"." {
        out.push(0);
        return true;
    }
    let mut i = 0;
    let mut len_at = out.len();
    out.push(0);
    while i < t.len() {
        let c = t[i];
        if c == b'.' {
            let len = out.len() - len_at - 1;
            if len == 0 || len > 63 {
                out.truncate(start);
                return false;
            }
            out[len_at] = len as u8;
            len_at = out.len();
            out.push(0);
            i += 1;
            continue;
        }
        if c == b'\\' {
            let d = t.get(i + 1..i + 4).filter(|d| d.iter().all(u8::is_ascii_digit));
            if let Some(d) = d {
                let v = u32::from(d[0] - b'0') * 100 + u32::from(d[1] - b'0') * 10 + u32::from(d[2] - b'0');
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            } else if let Some(&n) = t.get(i + 1) {
                out.push(n);
                i += 2;
            } else {
                out.truncate(start);
                return false;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    // A name without its trailing dot is taken as absolute all the same.
    if out.len() - len_at > 1 {
        let len = out.len() - len_at - 1;
        if len > 63 {
            out.truncate(start);
            return false;
        }
        out[len_at] = len as u8;
        out.push(0);
    }
    if out.len() - start > 255 {
        out.truncate(start);
        return false;
    }
    true
}

/// A compression pointer to `offset` (RFC 1035 §4.1.4).
pub(crate) fn pointer(offset: u16) -> [u8; 2] {
    (0xc000 | offset).to_be_bytes()
}

/// Message sections, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Section {
    Answer = 1,
    Authority = 2,
}

/// An answer being written: header, question, then records section by section.
pub(crate) struct Msg {
    pub(crate) buf: Vec<u8>,
    counts: [u16; 4],
}

impl Msg {
    /// A response header for query `id` with the query's `flags`: QR set, OPCODE, RD and CD
    /// copied (RFC 1035 §4.1.1; RFC 4035 §3.1.6 for CD), AA as given, RA clear (no
    /// recursion), `rcode`'s low 4 bits (the rest go in the OPT record).
    pub(crate) fn new(id: u16, flags: u16, aa: bool, rcode: u16, capacity: usize) -> Self {
        let mut f = 0x8000 | (flags & 0x7900) | (flags & 0x0010) | (rcode & 0xf);
        if aa {
            f |= 0x0400;
        }
        let mut buf = Vec::with_capacity(capacity);
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&f.to_be_bytes());
        buf.extend_from_slice(&[0; 8]);
        Self { buf, counts: [0; 4] }
    }

    /// Appends the question.
    pub(crate) fn question(&mut self, q: &[u8]) {
        self.buf.extend_from_slice(q);
        self.counts[0] += 1;
    }

    /// Appends a record: `owner` in wire form (may end in a pointer), class IN.
    pub(crate) fn rr(&mut self, section: Section, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) {
        self.buf.extend_from_slice(owner);
        self.buf.extend_from_slice(&rtype.to_be_bytes());
        self.buf.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        self.buf.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(rdata);
        self.counts[section as usize] += 1;
    }

    /// Appends the OPT record of the answer (RFC 6891 §6.1.2): our UDP payload size, the
    /// upper 8 bits of the RCODE, version 0, DO copied from the query (RFC 3225 §3).
    pub(crate) fn opt(&mut self, udp: u16, rcode: u16, dnssec_ok: bool) {
        self.buf.push(0);
        self.buf.extend_from_slice(&TYPE_OPT.to_be_bytes());
        self.buf.extend_from_slice(&udp.to_be_bytes());
        self.buf.push((rcode >> 4) as u8);
        self.buf.push(0);
        self.buf.push(if dnssec_ok { 0x80 } else { 0 });
        self.buf.extend_from_slice(&[0, 0, 0]);
        self.counts[3] += 1;
    }

    /// Sets TC (RFC 1035 §4.1.1).
    pub(crate) fn set_tc(&mut self) {
        self.buf[2] |= 0x02;
    }

    /// The message bytes, counts filled in.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        for (i, c) in self.counts.iter().enumerate() {
            self.buf[4 + 2 * i..6 + 2 * i].copy_from_slice(&c.to_be_bytes());
        }
        self.buf
    }

    /// Records in the answer section so far.
    pub(crate) fn answer_count(&self) -> u16 {
        self.counts[1]
    }

    /// The length so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_to_wire() {
        let mut v = Vec::new();
        assert!(push_name("a.bc.", &mut v));
        assert_eq!(v, b"\x01a\x02bc\x00");
        v.clear();
        assert!(push_name(".", &mut v));
        assert_eq!(v, b"\x00");
        v.clear();
        assert!(push_name("first\\.last.example.", &mut v));
        assert_eq!(v, b"\x0afirst.last\x07example\x00");
        v.clear();
        assert!(push_name("x\\046y.z", &mut v));
        assert_eq!(v, b"\x03x.y\x01z\x00");
        v.clear();
        assert!(!push_name("a..b.", &mut v) && v.is_empty());
        assert!(!push_name(&format!("{}.", "a".repeat(64)), &mut v) && v.is_empty());
        assert!(!push_name(&"a.".repeat(128), &mut v) && v.is_empty());
    }

    #[test]
    fn short_and_response_packets_are_dropped() {
        assert!(matches!(parse(&[0; 11]), Err(Verdict::Drop)));
        let mut q = vec![0u8; 12];
        q[2] = 0x80;
        assert!(matches!(parse(&q), Err(Verdict::Drop)));
        q[2] = 0;
        assert!(matches!(parse(&q), Err(Verdict::Error { rcode: FORMERR, .. })), "no question");
        q[5] = 1;
        q.extend_from_slice(b"\x01A\x01B\x00\x00\x0c\x00\x01");
        let p = parse(&q).unwrap();
        assert_eq!((p.name.as_str(), p.qtype, p.labels()), ("a.b.", TYPE_PTR, 2));
        assert_eq!(p.suffix_offset(1), 14);
        assert_eq!(p.suffix_offset(0), 16);
        q[12] = 0xc0;
        assert!(matches!(parse(&q), Err(Verdict::Error { rcode: FORMERR, .. })), "pointer in the question");
        // 255 octets with the root: read; 256: FORMERR (found by the fuzzer).
        for (labels, ok) in [(128, false), (127, true)] {
            let mut q = vec![0u8; 12];
            q[5] = 1;
            let name: Vec<u8> = (0..labels).flat_map(|_| [1u8, b'0']).chain([0]).collect();
            let n = name.len();
            q.extend_from_slice(&name);
            q.extend_from_slice(&[0, 12, 0, 1]);
            assert_eq!(parse(&q).is_ok(), ok, "{n} octets");
        }
        let mut q = vec![0u8; 12];
        q[5] = 1;
        q.extend_from_slice(&[63; 1]);
        q.extend_from_slice(&[b'a'; 63]);
        q.extend_from_slice(&[63; 1]);
        q.extend_from_slice(&[b'a'; 63]);
        q.extend_from_slice(&[63; 1]);
        q.extend_from_slice(&[b'a'; 63]);
        q.extend_from_slice(&[61; 1]);
        q.extend_from_slice(&[b'a'; 61]);
        q.extend_from_slice(&[0, 0, 12, 0, 1]);
        assert!(parse(&q).is_ok(), "255 octets");
    }
}
