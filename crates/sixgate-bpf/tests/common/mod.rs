//! Helpers of the SIIT fast-path tests: loading the program (or saying why the test skips),
//! building packets, running one packet through the program and through the engine.
#![allow(dead_code)] // each test file uses its own part

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate_bpf::{BpfError, SiitFastPath, TestOutcome};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_nat64::{Siit, SiitConfig, SiitDrop};

/// Whether this process runs as root.
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// Loads the program in test mode for `cfg`; `None` (after printing why) when this process
/// or this kernel cannot load BPF programs. Any other failure (the verifier refusing the
/// program above all) fails the test.
pub(crate) fn load_or_skip(cfg: &SiitConfig) -> Option<SiitFastPath> {
    if !is_root() {
        eprintln!("skipped: loading BPF programs needs root (CAP_BPF)");
        return None;
    }
    if let Err(e) = sixgate_bpf::probe() {
        eprintln!("skipped: the kernel refuses BPF programs: {e}");
        return None;
    }
    match SiitFastPath::load_test(cfg) {
        Ok(f) => Some(f),
        Err(e @ BpfError::Unsupported(_)) => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// An Ethernet frame around `packet`, its EtherType from the version nibble.
pub(crate) fn frame(packet: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    let ty: u16 = if packet.first().map(|b| b >> 4) == Some(6) { 0x86dd } else { 0x0800 };
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(packet);
    f
}

/// A naive RFC 1071 sum over the concatenation of `chunks`, folded.
pub(crate) fn sum16(chunks: &[&[u8]]) -> u16 {
    let mut all = Vec::new();
    for c in chunks {
        all.extend_from_slice(c);
    }
    if all.len() % 2 == 1 {
        all.push(0);
    }
    let mut s: u64 = all.chunks(2).map(|w| u64::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The IPv4 header checksum of `h` (its checksum field taken as zero).
pub(crate) fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut h = h.to_vec();
    h[10] = 0;
    h[11] = 0;
    !sum16(&[&h])
}

/// The fields a generated packet has.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// 4 or 6.
    pub(crate) version: u8,
    /// Addresses: 4 or 16 bytes each.
    pub(crate) src: Vec<u8>,
    pub(crate) dst: Vec<u8>,
    /// 6 TCP, 17 UDP, 1/58 ICMP, or anything.
    pub(crate) proto: u8,
    pub(crate) ttl: u8,
    pub(crate) tos: u8,
    /// IPv6 flow label (20 bits).
    pub(crate) flow: u32,
    pub(crate) df: bool,
    pub(crate) id: u16,
    /// IPv4 fragment field (MF and offset) / an IPv6 Fragment Header when non-zero.
    pub(crate) frag: u16,
    /// IPv4 option bytes (a multiple of 4) / an IPv6 Hop-by-Hop header when non-empty.
    pub(crate) options: Vec<u8>,
    /// ICMP type and code.
    pub(crate) icmp: (u8, u8),
    /// TCP data offset in words (5..=15).
    pub(crate) tcp_words: u8,
    pub(crate) payload: Vec<u8>,
    /// Write a zero UDP checksum.
    pub(crate) udp_zero: bool,
    /// Corrupt the transport checksum by this much (0: correct).
    pub(crate) csum_delta: u16,
    /// Corrupt the IPv4 header checksum.
    pub(crate) bad_header_checksum: bool,
    /// Bytes after the packet (link-layer padding).
    pub(crate) trailer: usize,
}

/// Builds the packet `s` describes, with correct lengths and checksums unless it asks
/// otherwise.
pub(crate) fn build(s: &Spec) -> Vec<u8> {
    let icmp_proto = if s.version == 4 { 1 } else { 58 };
    let mut l4 = match s.proto {
        6 => {
            let words = s.tcp_words.clamp(5, 15);
            let mut t = vec![0u8; usize::from(words) * 4];
            t[0..2].copy_from_slice(&40000u16.to_be_bytes());
            t[2..4].copy_from_slice(&443u16.to_be_bytes());
            t[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
            t[12] = words << 4;
            t[13] = 0x18;
            t[14..16].copy_from_slice(&64240u16.to_be_bytes());
            for (i, b) in t.iter_mut().enumerate().skip(20) {
                *b = if i % 4 == 0 { 1 } else { i as u8 };
            }
            t.extend_from_slice(&s.payload);
            t
        }
        17 => {
            let mut u = vec![0u8; 8];
            u[0..2].copy_from_slice(&5353u16.to_be_bytes());
            u[2..4].copy_from_slice(&53u16.to_be_bytes());
            u[4..6].copy_from_slice(&((8 + s.payload.len()) as u16).to_be_bytes());
            u.extend_from_slice(&s.payload);
            u
        }
        p if p == icmp_proto => {
            let mut m = vec![s.icmp.0, s.icmp.1, 0, 0, 0x12, 0x34, 0, 7];
            m.extend_from_slice(&s.payload);
            m
        }
        _ => s.payload.clone(),
    };
    let ulen = l4.len();
    // The transport checksum over the pseudo-header (none for ICMPv4).
    let pseudo = |nh: u8| -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&s.src);
        p.extend_from_slice(&s.dst);
        if s.version == 4 {
            p.extend_from_slice(&[0, nh]);
            p.extend_from_slice(&(ulen as u16).to_be_bytes());
        } else {
            p.extend_from_slice(&(ulen as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, nh]);
        }
        p
    };
    let at = match s.proto {
        6 => Some(16),
        17 => Some(6),
        p if p == icmp_proto => Some(2),
        _ => None,
    };
    if let Some(at) = at {
        let c = if s.proto == 1 && s.version == 4 {
            !sum16(&[&l4])
        } else {
            let c = !sum16(&[&pseudo(s.proto), &l4]);
            if s.proto == 17 && c == 0 {
                0xffff
            } else {
                c
            }
        };
        let c = c.wrapping_add(s.csum_delta);
        let c = if s.proto == 17 && s.udp_zero { 0 } else { c };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut p = Vec::new();
    if s.version == 4 {
        let ihl = 5 + s.options.len() / 4;
        let total = ihl * 4 + ulen;
        p.push(0x40 | ihl as u8);
        p.push(s.tos);
        p.extend_from_slice(&(total as u16).to_be_bytes());
        p.extend_from_slice(&s.id.to_be_bytes());
        let flags = if s.df { 0x4000 } else { 0 } | s.frag;
        p.extend_from_slice(&flags.to_be_bytes());
        p.push(s.ttl);
        p.push(s.proto);
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&s.src);
        p.extend_from_slice(&s.dst);
        p.extend_from_slice(&s.options);
        let c = ipv4_checksum(&p);
        let c = if s.bad_header_checksum { c ^ 0x0101 } else { c };
        p[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        let mut ext = Vec::new();
        let mut nh = s.proto;
        if s.frag != 0 {
            // Fragment Header: offset and M from `frag` (IPv4 layout), identification.
            let off = (s.frag & 0x1fff) << 3 | (s.frag >> 13 & 1);
            let mut f = vec![nh, 0];
            f.extend_from_slice(&off.to_be_bytes());
            f.extend_from_slice(&0xabcd_0001u32.to_be_bytes());
            ext = f;
            nh = 44;
        }
        if !s.options.is_empty() {
            // Hop-by-Hop Options: PadN filling to a multiple of 8.
            let mut h = vec![nh, 0, 1, 4, 0, 0, 0, 0];
            h.extend_from_slice(&ext);
            ext = h;
            nh = 0;
        }
        let plen = ext.len() + ulen;
        let v0 = (6u32 << 28) | (u32::from(s.tos) << 20) | (s.flow & 0xfffff);
        p.extend_from_slice(&v0.to_be_bytes());
        p.extend_from_slice(&(plen as u16).to_be_bytes());
        p.push(nh);
        p.push(s.ttl);
        p.extend_from_slice(&s.src);
        p.extend_from_slice(&s.dst);
        p.extend_from_slice(&ext);
    }
    p.extend_from_slice(&l4);
    p.extend(std::iter::repeat_n(0u8, s.trailer));
    p
}

/// What the engine did with one packet: its verdict and every packet it sent.
pub(crate) struct EngineOut {
    pub(crate) verdict: Verdict<SiitDrop>,
    pub(crate) outs: Vec<Vec<u8>>,
}

/// Runs `packet` through a fresh engine (whose first IPv4 Identification is 2).
pub(crate) fn engine(cfg: &SiitConfig, packet: &[u8]) -> EngineOut {
    let mut siit = Siit::new(cfg.clone()).expect("valid configuration");
    let mut buf = PacketBuf::from_slice(packet);
    let verdict = siit.process(&mut buf, Instant::now());
    let mut outs = vec![buf.to_vec()];
    while siit.poll_transmit(&mut buf).is_some() {
        outs.push(buf.to_vec());
    }
    EngineOut { verdict, outs }
}

/// The IPv4 Identification a fresh engine gives its first translated packet.
pub(crate) const ENGINE_FIRST_ID: u16 = 2;

/// The largest frame `BPF_PROG_TEST_RUN` takes for a TC program here: a page less the
/// kernel's headroom and its `skb_shared_info`.
pub(crate) const MAX_TEST_FRAME: usize = 3000;

/// Runs `packet` through the program (Identification set to the engine's).
pub(crate) fn program(f: &mut SiitFastPath, packet: &[u8]) -> TestOutcome {
    f.set_next_ipv4_id(ENGINE_FIRST_ID).expect("set the next identification");
    f.test_run(&frame(packet)).unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN over {} bytes: {e}", packet.len()))
}

/// Whether the packet is one the fast path must translate, given what the engine did: the
/// engine forwarded it, as one packet, to the other side, and it is an unfragmented TCP,
/// UDP (with a checksum) or ICMP echo packet without IPv4 options or IPv6 extension
/// headers.
pub(crate) fn fast_class(packet: &[u8], e: &EngineOut) -> bool {
    let Some(&b0) = packet.first() else { return false };
    let (want, simple) = match b0 >> 4 {
        4 if packet.len() >= 28 => {
            let proto = packet[9];
            let udp_zero = proto == 17 && packet[26] == 0 && packet[27] == 0;
            let frag = u16::from_be_bytes([packet[6], packet[7]]) & 0x3fff != 0;
            let echo = proto != 1 || matches!(packet[20], 0 | 8);
            (Side::V6, b0 == 0x45 && !frag && matches!(proto, 1 | 6 | 17) && !udp_zero && echo)
        }
        6 if packet.len() >= 41 => {
            let nh = packet[6];
            (Side::V4, matches!(nh, 6 | 17) || (nh == 58 && matches!(packet[40], 128 | 129)))
        }
        _ => return false,
    };
    simple && e.verdict == Verdict::Forward(want) && e.outs.len() == 1
}

/// Checks one packet: the program translates exactly the packets of the fast path's
/// classes, byte for byte as the engine does (whole IP packet, nothing masked), and punts
/// every other one unchanged. Returns whether it translated.
pub(crate) fn check_equal(f: &mut SiitFastPath, cfg: &SiitConfig, packet: &[u8]) -> Result<bool, String> {
    let e = engine(cfg, packet);
    let b = program(f, packet);
    let input = frame(packet);
    let fast = fast_class(packet, &e);
    match b.action {
        sixgate_bpf::TC_ACT_OK => {
            if !fast {
                return Err(format!(
                    "the program translated a packet the engine did not forward alone to the other side \
                     (engine: {:?}, {} packets)\n in:  {}\n bpf: {}",
                    e.verdict,
                    e.outs.len(),
                    hex(packet),
                    hex(&b.data)
                ));
            }
            if b.data.len() < 14 || b.data[..12] != input[..12] {
                return Err("the program changed the MAC addresses in test mode".to_string());
            }
            let ty = u16::from_be_bytes([b.data[12], b.data[13]]);
            let want_ty = if e.outs[0].first().map(|x| x >> 4) == Some(6) { 0x86dd } else { 0x0800 };
            if ty != want_ty {
                return Err(format!("EtherType {ty:#06x}, not {want_ty:#06x}"));
            }
            if b.data[14..] != e.outs[0][..] {
                return Err(format!(
                    "translations differ\n in:     {}\n engine: {}\n bpf:    {}",
                    hex(packet),
                    hex(&e.outs[0]),
                    hex(&b.data[14..])
                ));
            }
            Ok(true)
        }
        sixgate_bpf::TC_ACT_REDIRECT => {
            if fast {
                return Err(format!(
                    "the program punted a packet of its classes (engine: {:?})\n in: {}",
                    e.verdict,
                    hex(packet)
                ));
            }
            if b.data != input {
                return Err(format!("a punted packet changed\n in:  {}\n out: {}", hex(&input), hex(&b.data)));
            }
            Ok(false)
        }
        a => Err(format!("action {a} for {}", hex(packet))),
    }
}

/// Hex of `p`.
pub(crate) fn hex(p: &[u8]) -> String {
    p.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses an address literal.
pub(crate) fn a4(s: &str) -> Vec<u8> {
    s.parse::<Ipv4Addr>().expect("literal").octets().to_vec()
}

/// Parses an address literal.
pub(crate) fn a6(s: &str) -> Vec<u8> {
    s.parse::<Ipv6Addr>().expect("literal").octets().to_vec()
}
