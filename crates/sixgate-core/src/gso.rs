//! Super-packets: one IP and TCP/UDP header in front of a payload that the kernel (or a
//! NIC) cuts into segments of `seg` bytes on the way out — what Linux calls GSO and hands
//! to a TUN device opened with virtio-net headers.
//!
//! An engine that translates or encapsulates packets one at a time can still move
//! super-packets whole: [`process_super`] builds the first segment (a real, complete
//! packet with a correct checksum), runs it through the engine, and when the engine simply
//! forwarded it, applies the same header rewrite to the super-packet. The payload is never
//! touched or summed; the transport checksum stays *partial* (the pseudo-header sum the
//! segmenter finishes per segment) and moves by the same one's-complement difference the
//! engine applied to the first segment (RFC 1624). Anything else — a reply, a drop, a
//! fragment, a SYN/FIN/RST, an IPv4 result without DF — is left to the caller, who runs
//! the remaining segments through the engine one by one ([`segment`]), so the engine sees
//! exactly the packets the kernel would have produced.
//!
//! ```
//! use sixgate_core::gso::{layout, segment, segments};
//! use sixgate_core::wire::{proto, Ipv4Repr, UdpPacket};
//! use sixgate_core::PacketBuf;
//! // An IPv4/UDP super-packet: 20 + 8 header bytes, 3000 payload bytes, 1400 per segment.
//! let mut pkt = vec![0u8; 3028];
//! let ip = Ipv4Repr {
//!     tos: 0,
//!     total_len: 3028,
//!     ident: 0,
//!     frag_field: 0,
//!     ttl: 64,
//!     protocol: proto::UDP,
//!     src_addr: "192.0.2.1".parse().unwrap(),
//!     dst_addr: "198.51.100.2".parse().unwrap(),
//! };
//! ip.emit_into(&mut pkt).unwrap();
//! UdpPacket::new_checked(&mut pkt[20..]).unwrap().set_len(3008);
//! let l = layout(&pkt).unwrap();
//! assert_eq!(segments(&l, 1400), 3);
//! let mut out = PacketBuf::new();
//! segment(&pkt, &l, 1400, 2, &mut out).unwrap();
//! assert_eq!(out.len(), 20 + 8 + 200); // the last one carries the rest
//! ```

use std::time::Instant;

use crate::buf::PacketBuf;
use crate::checksum::{add, fold, pseudo_v4, pseudo_v6, sum, udp_field};
use crate::engine::{Engine, Side, Verdict};
use crate::wire::{be16, ipv4, ipv6, proto, tcp, udp, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};

/// The end of the two ports, which TCP and UDP place alike.
const PORTS_END: usize = udp::DST_PORT_AT + 2;
const _: () = assert!(tcp::SRC_PORT_AT == udp::SRC_PORT_AT && tcp::DST_PORT_AT == udp::DST_PORT_AT);

/// Where the headers of a super-packet (or of an ordinary packet) are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// Length of the IP header (IPv4 with options; IPv6 without extension headers).
    pub l3: usize,
    /// [`proto::TCP`] or [`proto::UDP`].
    pub proto: u8,
    /// Length of the transport header (TCP data offset × 4, or 8).
    pub l4: usize,
    /// Payload bytes after the transport header.
    pub payload: usize,
}

impl Layout {
    /// Offset of the transport checksum within the transport header.
    pub fn csum_offset(&self) -> usize {
        if self.proto == proto::TCP {
            tcp::CHECKSUM_AT
        } else {
            udp::CHECKSUM_AT
        }
    }

    /// Length of all headers (IP and transport).
    pub fn headers(&self) -> usize {
        self.l3 + self.l4
    }
}

/// Why a super-packet cannot be handled here (the caller falls back to splitting it some
/// other way, or drops it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GsoError {
    /// Not an unfragmented IPv4/IPv6 TCP or UDP packet with consistent lengths (IPv6
    /// extension headers included).
    #[error("not a plain TCP/UDP packet")]
    Layout,
    /// A segment size of zero.
    #[error("segment size 0")]
    SegmentSize,
    /// Asked for a segment past the end.
    #[error("no such segment")]
    NoSegment,
    /// The output buffer is too small.
    #[error("no room")]
    NoRoom,
}

/// Finds the headers of an unfragmented IPv4 or IPv6 TCP/UDP packet whose length fields
/// agree with `pkt.len()`.
pub fn layout(pkt: &[u8]) -> Option<Layout> {
    let (v6, l3, protocol) = match pkt.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(pkt).ok()?;
            let frag = ip.frag_field() & (ipv4::MF | ipv4::OFFSET_MASK);
            if usize::from(ip.total_len()) != pkt.len() || frag != 0 {
                return None;
            }
            (false, ip.header_len(), ip.protocol())
        }
        6 => {
            let ip = Ipv6Packet::new_checked(pkt).ok()?;
            if ipv6::HEADER_LEN + usize::from(ip.payload_len()) != pkt.len() {
                return None;
            }
            (true, ipv6::HEADER_LEN, ip.next_header())
        }
        _ => return None,
    };
    // Within the buffer: checked by the IP view.
    let rest = &pkt[l3..];
    let l4 = match protocol {
        proto::TCP => TcpPacket::new_checked(rest).ok()?.header_len(),
        proto::UDP => UdpPacket::new_checked(rest).ok().map(|_| udp::HEADER_LEN)?,
        _ => return None,
    };
    Some(Layout { v6, l3, proto: protocol, l4, payload: pkt.len() - l3 - l4 })
}

/// How many segments of `seg` payload bytes the packet makes (at least one).
pub fn segments(l: &Layout, seg: u16) -> usize {
    if seg == 0 {
        return 1;
    }
    l.payload.div_ceil(usize::from(seg)).max(1)
}

/// Builds segment `i` (from 0) of the super-packet `pkt` into `out`, as Linux's segmentation
/// does: headers copied; IPv4 total length, identification + i and header checksum; IPv6
/// payload length; TCP sequence number advanced by `i × seg`, FIN and PSH kept on the last
/// segment only and CWR on the first only; UDP length; and a complete transport checksum
/// computed over the segment (0 sent as 0xffff for UDP, RFC 768).
pub fn segment(pkt: &[u8], l: &Layout, seg: u16, i: usize, out: &mut PacketBuf) -> Result<(), GsoError> {
    if seg == 0 {
        return Err(GsoError::SegmentSize);
    }
    let n = segments(l, seg);
    if i >= n {
        return Err(GsoError::NoSegment);
    }
    let seg = usize::from(seg);
    let hl = l.headers();
    let from = hl + i * seg;
    let to = (from + seg).min(pkt.len());
    let len = hl + (to - from);
    out.clear();
    let b = out.extend_back(len).map_err(|_| GsoError::NoRoom)?;
    b[..hl].copy_from_slice(&pkt[..hl]);
    b[hl..].copy_from_slice(&pkt[from..to]);
    let ulen = len - l.l3;
    // `b` holds the headers `l` describes, so the views' fixed headers are there.
    let pseudo = if l.v6 {
        let mut ip = Ipv6Packet::new_unchecked(&mut *b);
        ip.set_payload_len(ulen as u16);
        pseudo_v6(ip.src_addr(), ip.dst_addr(), l.proto, ulen as u32)
    } else {
        let mut ip = Ipv4Packet::new_unchecked(&mut *b);
        ip.set_total_len(len as u16);
        ip.set_ident(ip.ident().wrapping_add(i as u16));
        ip.fill_checksum();
        pseudo_v4(ip.src_addr(), ip.dst_addr(), l.proto, ulen as u16)
    };
    let l4 = &mut b[l.l3..];
    if l.proto == proto::TCP {
        let mut t = TcpPacket::new_unchecked(&mut *l4);
        t.set_seq_number(t.seq_number().wrapping_add((i * seg) as u32));
        if i + 1 < n {
            t.set_flags(t.flags() & !(tcp::FIN | tcp::PSH));
        }
        if i > 0 {
            t.set_flags(t.flags() & !tcp::CWR);
        }
        t.set_checksum(0);
        let c = !fold(add(pseudo, sum(l4)));
        TcpPacket::new_unchecked(l4).set_checksum(c);
    } else {
        let mut u = UdpPacket::new_unchecked(&mut *l4);
        u.set_len(ulen as u16);
        u.set_checksum(0);
        let c = udp_field(!fold(add(pseudo, sum(l4))));
        UdpPacket::new_unchecked(l4).set_checksum(c);
    }
    Ok(())
}

/// What [`process_super`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuperOutcome<R> {
    /// The super-packet in `buf` was rewritten whole and goes out of `side`; its headers
    /// are now laid out as `layout`, and its transport checksum is still partial (the
    /// segmenter completes it). Segment size unchanged. Its payload may be one segment or
    /// less (`segments(&layout, seg) == 1`, e.g. two segments with the short last one cut
    /// off as `tail`): that is a plain packet, which must not be handed on as a
    /// super-packet (Linux's segmentation refuses one no longer than a segment), so the
    /// caller completes its checksum and sends it as such.
    Whole {
        /// Where it goes.
        side: Side,
        /// The new header layout.
        layout: Layout,
        /// The last segment was cut off and left, untranslated, in the probe buffer: the
        /// caller sends `buf` first, then runs the probe through the engine as an ordinary
        /// packet. This happens when the super-packet becomes IPv4 and its last segment is
        /// 1260 bytes or less: RFC 7915 §5.1 wants DF clear on that one (and an
        /// identification of its own), while segmentation copies DF to every segment.
        tail: bool,
    },
    /// The engine did something other than forward the first segment as one packet. The
    /// probe buffer holds segment 0's result, with this verdict (and the engine may have
    /// more to [`Engine::poll_transmit`]); segments `1..count` are still to be built with
    /// [`segment`] and processed one by one, from the unchanged `buf`.
    Segmented {
        /// The engine's verdict on segment 0.
        verdict: Verdict<R>,
        /// The header layout of the (unchanged) super-packet.
        layout: Layout,
        /// How many segments the super-packet makes.
        count: usize,
    },
}

/// Runs a super-packet through `engine` (see the module documentation). `buf` holds the
/// super-packet with a *partial* transport checksum (the pseudo-header sum, as a
/// virtio-net header with `NEEDS_CSUM` describes it); `seg` is the payload bytes per
/// segment; `probe` is scratch space for the first segment.
///
/// Errors (a packet that is not plain TCP/UDP, a zero segment size, less than 20 bytes of
/// front room in `buf`) leave `buf` untouched and the engine uncalled.
pub fn process_super<E: Engine>(
    engine: &mut E,
    buf: &mut PacketBuf,
    seg: u16,
    probe: &mut PacketBuf,
    now: Instant,
) -> Result<SuperOutcome<E::Reason>, GsoError> {
    let l = layout(buf.as_slice()).ok_or(GsoError::Layout)?;
    if seg == 0 {
        return Err(GsoError::SegmentSize);
    }
    // Room for the largest header growth (IPv4 → IPv6: 20 bytes), checked before the engine
    // sees anything, so an error leaves both untouched.
    if buf.front_room() < ipv6::HEADER_LEN - ipv4::HEADER_LEN {
        return Err(GsoError::NoRoom);
    }
    let count = segments(&l, seg);
    segment(buf.as_slice(), &l, seg, 0, probe)?;
    let at_in = l.l3 + l.csum_offset();
    let c_in = be16(probe.as_slice(), at_in);
    // Segment 0's transport header as built, to check below that the engine changed
    // nothing in it but the ports and the checksum.
    let mut l4_in = [0u8; 60];
    l4_in[..l.l4].copy_from_slice(&probe.as_slice()[l.l3..l.l3 + l.l4]);
    // SYN, FIN and RST move connection state (RFC 6146 §3.5.2): the engine must see the
    // segment that carries them, so such super-packets go segment by segment.
    let tcp_flags = match buf.as_slice().get(l.l3..) {
        Some(t) if l.proto == proto::TCP => TcpPacket::new_unchecked(t).flags() & (tcp::FIN | tcp::SYN | tcp::RST),
        _ => 0,
    };
    let verdict = engine.process(probe, now);
    let segmented = SuperOutcome::Segmented { verdict, layout: l, count };
    let Verdict::Forward(side) = verdict else {
        return Ok(segmented);
    };
    if tcp_flags != 0 {
        return Ok(segmented);
    }
    // The first segment must have come out as one plain packet of the same shape.
    let Some(o) = layout(probe.as_slice()) else {
        return Ok(segmented);
    };
    if o.proto != l.proto || o.l4 != l.l4 || o.payload != l.payload.min(usize::from(seg)) {
        return Ok(segmented);
    }
    // Only the ports and the checksum may differ: any other rewrite of the transport header
    // (an MSS clamp, say) would not carry over to the partial checksum.
    let co = l.csum_offset();
    let l4_out = &probe.as_slice()[o.l3..o.l3 + o.l4];
    if l4_out[PORTS_END..co] != l4_in[PORTS_END..co] || l4_out[co + 2..] != l4_in[co + 2..l.l4] {
        return Ok(segmented);
    }
    // RFC 7915 §5.1: as IPv4, a segment of 1260 bytes or less goes without DF. Only the last
    // segment can be that small here (the first one has DF, or we went segment by segment).
    let last = l.payload - (count - 1) * usize::from(seg);
    let tail = !o.v6 && count > 1 && o.l3 + o.l4 + last <= 1260;
    let payload = if tail { l.payload - last } else { l.payload };
    let p = probe.as_slice();
    let total = o.l3 + o.l4 + payload;
    if o.v6 {
        if total - ipv6::HEADER_LEN > usize::from(u16::MAX) {
            return Ok(segmented);
        }
    } else if total > usize::from(u16::MAX) || (count > 1 && !Ipv4Packet::new_unchecked(p).dont_frag()) {
        // Without DF, every segment needs an identification of its own from the engine.
        return Ok(segmented);
    }
    let at_out = o.l3 + o.csum_offset();
    let c_out = be16(p, at_out);
    let mut l3 = [0u8; 60];
    l3[..o.l3].copy_from_slice(&p[..o.l3]);
    let mut ports = [0u8; PORTS_END];
    ports.copy_from_slice(&p[o.l3..o.l3 + PORTS_END]);
    if tail && segment(buf.as_slice(), &l, seg, count - 1, probe).is_err() {
        // (Cannot happen with a probe buffer that held segment 0.) The probe no longer
        // holds segment 0's result, so say so rather than pretend.
        return Err(GsoError::NoRoom);
    }
    let s = buf.as_slice();
    let ulen_in = l.l4 + l.payload;
    let ulen = l.l4 + payload;
    // The engine moved the complete checksum of segment 0 from c_in to c_out, i.e. the
    // summed words by ~c_out - ~c_in; the partial field moves by the same (RFC 1624).
    // Cutting off the tail changes the pseudo-header length: ulen_in → ulen.
    let f_in = be16(s, at_in);
    let mut f = add(add(u32::from(f_in), u32::from(!c_out)), u32::from(c_in));
    if tail {
        f = add(add(f, u32::from(!(ulen_in as u16))), ulen as u32);
    }
    let mut l4 = [0u8; 60];
    l4[..l.l4].copy_from_slice(&s[l.l3..l.l3 + l.l4]);
    // Ports as the engine left them (a stateful translator rewrites them). The segmenter
    // sums the transport header itself, so the partial field keeps only the pseudo-header
    // part of the engine's change: take the ports' own change back out.
    f = add(add(f, u32::from(!fold(sum(&ports)))), sum(&l4[..PORTS_END]));
    l4[..PORTS_END].copy_from_slice(&ports);
    if l.proto == proto::UDP {
        UdpPacket::new_unchecked(&mut l4[..]).set_len(ulen as u16);
    } else if tail {
        // PSH belongs to the last segment, which is now the tail (FIN never gets here).
        let mut t = TcpPacket::new_unchecked(&mut l4[..]);
        t.set_flags(t.flags() & !tcp::PSH);
    }
    let f_out = fold(f);
    if tail {
        buf.truncate(l.l3 + ulen);
    }
    // Cannot fail: the front room was checked above.
    let h = buf.replace_front(l.l3 + l.l4, o.l3 + o.l4).map_err(|_| GsoError::NoRoom)?;
    h[..o.l3].copy_from_slice(&l3[..o.l3]);
    h[o.l3..o.l3 + o.l4].copy_from_slice(&l4[..o.l4]);
    if o.v6 {
        Ipv6Packet::new_unchecked(&mut *h).set_payload_len((total - ipv6::HEADER_LEN) as u16);
    } else {
        let mut ip = Ipv4Packet::new_unchecked(&mut *h);
        ip.set_total_len(total as u16);
        ip.fill_checksum();
    }
    h[o.l3 + o.csum_offset()..o.l3 + o.csum_offset() + 2].copy_from_slice(&f_out.to_be_bytes());
    Ok(SuperOutcome::Whole { side, layout: Layout { payload, ..o }, tail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sixgate_testkit::packets::transport_checksum_ok;

    fn pkt(v6: bool, tcp: bool, payload: &[u8], flags: u8) -> Vec<u8> {
        let l4 = if tcp { 20 } else { 8 };
        let ulen = l4 + payload.len();
        let mut p = if v6 {
            let mut h = vec![0x60, 0, 0, 0, 0, 0, if tcp { 6 } else { 17 }, 64];
            h[4..6].copy_from_slice(&(ulen as u16).to_be_bytes());
            h.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            h.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
            h
        } else {
            let mut h = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, if tcp { 6 } else { 17 }, 0, 0];
            h[2..4].copy_from_slice(&((20 + ulen) as u16).to_be_bytes());
            h.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 2]);
            h
        };
        if tcp {
            p.extend_from_slice(&[
                0x30, 0x39, 0, 80, 0xff, 0xff, 0xff, 0x00, 0, 0, 0, 1, 0x50, flags, 1, 0, 0, 0, 0, 0,
            ]);
        } else {
            p.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 0, 0, 0]);
        }
        p.extend_from_slice(payload);
        p
    }

    proptest! {
        #[test]
        fn segments_tile_the_payload_with_valid_headers(
            v6 in any::<bool>(),
            tcp in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..6000),
            seg in 1u16..2000,
            flags in any::<u8>(),
        ) {
            let p = pkt(v6, tcp, &payload, flags);
            let l = layout(&p).unwrap();
            let n = segments(&l, seg);
            prop_assert_eq!(n, payload.len().div_ceil(seg as usize).max(1));
            let mut out = PacketBuf::new();
            let mut joined = Vec::new();
            for i in 0..n {
                segment(&p, &l, seg, i, &mut out).unwrap();
                let s = out.as_slice();
                let sl = layout(s).unwrap();
                prop_assert_eq!(sl.l3 + sl.l4, l.l3 + l.l4);
                prop_assert!(transport_checksum_ok(s), "segment {} checksum", i);
                if !v6 {
                    prop_assert_eq!(fold(sum(&s[..20])), 0xffff, "IPv4 header checksum");
                    prop_assert_eq!(u16::from_be_bytes([s[4], s[5]]), 0x1234u16.wrapping_add(i as u16));
                }
                if tcp {
                    let t = sl.l3;
                    let seq = u32::from_be_bytes([s[t + 4], s[t + 5], s[t + 6], s[t + 7]]);
                    prop_assert_eq!(seq, 0xffff_ff00u32.wrapping_add((i * seg as usize) as u32));
                    let last = i + 1 == n;
                    prop_assert_eq!(s[t + 13] & 0x09, if last { flags & 0x09 } else { 0 });
                    prop_assert_eq!(s[t + 13] & 0x80, if i == 0 { flags & 0x80 } else { 0 });
                    prop_assert_eq!(s[t + 13] & 0x76, flags & 0x76);
                }
                joined.extend_from_slice(&s[sl.l3 + sl.l4..]);
            }
            prop_assert_eq!(joined, payload);
            prop_assert_eq!(segment(&p, &l, seg, n, &mut out), Err(GsoError::NoSegment));
        }

        #[test]
        fn layout_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = layout(&bytes);
        }
    }
}
