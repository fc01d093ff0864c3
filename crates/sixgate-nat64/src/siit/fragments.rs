//! Fragmenting a translated packet to fit the next hop (RFC 7915 §4.1: DF-clear IPv4
//! packets to the lowest IPv6 MTU; §1.4 and §5.1: IPv6 packets to the IPv4 MTU): the first
//! fragment stays in the buffer, the rest wait in [`Pending`] for `poll_transmit`.

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::Side;
use sixgate_core::wire::ipv4::{self, MF};
use sixgate_core::wire::{fragment, ipv6, proto, FragmentHeader, Ipv4Packet, Ipv6Packet};

use super::Siit;

/// The headers of an IPv6 fragment: the IPv6 header and the Fragment Header.
const V6_FRAG_HDRS: usize = ipv6::HEADER_LEN + fragment::HEADER_LEN;

/// Fragments still to be sent for the packet last processed.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub(super) active: bool,
    pub(super) v6: bool,
    pub(super) hdr: [u8; V6_FRAG_HDRS],
    pub(super) data: Vec<u8>,
    pub(super) pos: usize,
    pub(super) chunk: usize,
    /// Fragment offset (bytes) of `data[0]` in the original datagram.
    pub(super) base: usize,
    /// The MF flag the last fragment carries (set when the original was itself a fragment).
    pub(super) last_mf: bool,
}

impl Siit {
    /// Splits the IPv6 packet in `buf` into fragments of at most `mtu` bytes: the first
    /// stays in `buf`, the rest wait in `pending` for `poll_transmit`. `buf` holds a
    /// translation just built (an IPv6 header, then a Fragment Header or the upper layer).
    pub(super) fn split_v6(&mut self, buf: &mut PacketBuf, mtu: usize, id16: u16) {
        let p = buf.as_slice();
        let ip = Ipv6Packet::new_unchecked(p);
        let frag =
            (ip.next_header() == proto::FRAGMENT).then(|| FragmentHeader::new_checked(ip.payload()).ok()).flatten();
        let (nh, base, last_mf, id, hlen) = match frag {
            Some(f) => (f.next_header(), f.frag_offset(), f.more_frags(), f.ident(), V6_FRAG_HDRS),
            None => (ip.next_header(), 0, false, u32::from(id16), ipv6::HEADER_LEN),
        };
        let chunk = (mtu - V6_FRAG_HDRS) / 8 * 8;
        if p.len() - hlen <= chunk {
            return;
        }
        let pd = &mut self.pending;
        pd.hdr[..ipv6::HEADER_LEN].copy_from_slice(&p[..ipv6::HEADER_LEN]);
        Ipv6Packet::new_unchecked(&mut pd.hdr[..]).set_next_header(proto::FRAGMENT);
        let mut fh = FragmentHeader::new_unchecked(&mut pd.hdr[ipv6::HEADER_LEN..]);
        fh.set_next_header(nh);
        fh.set_offset_word(0);
        fh.set_ident(id);
        pd.data.clear();
        pd.data.extend_from_slice(&p[hlen + chunk..]);
        pd.pos = 0;
        pd.chunk = chunk;
        pd.base = base + chunk;
        pd.last_mf = last_mf;
        pd.v6 = true;
        pd.active = true;
        if hlen == ipv6::HEADER_LEN {
            // Make room for the fragment header; the payload does not move.
            if buf.replace_front(ipv6::HEADER_LEN, V6_FRAG_HDRS).is_err() {
                pd.active = false;
                return;
            }
        }
        buf.truncate(V6_FRAG_HDRS + chunk);
        let Some(h) = buf.as_mut_slice().get_mut(..V6_FRAG_HDRS) else { return };
        h.copy_from_slice(&pd.hdr);
        Ipv6Packet::new_unchecked(&mut *h).set_payload_len((fragment::HEADER_LEN + chunk) as u16);
        FragmentHeader::new_unchecked(&mut h[ipv6::HEADER_LEN..]).set_offset_word((base as u16) | fragment::M);
    }

    /// Splits the IPv4 packet in `buf` (20-byte header) into fragments of at most `mtu`.
    pub(super) fn split_v4(&mut self, buf: &mut PacketBuf, mtu: usize) {
        let p = buf.as_slice();
        let ip = Ipv4Packet::new_unchecked(p);
        let base = ip.frag_offset();
        let more = ip.more_frags();
        let chunk = (mtu - ipv4::HEADER_LEN) / 8 * 8;
        if p.len() - ipv4::HEADER_LEN <= chunk {
            return;
        }
        let pd = &mut self.pending;
        pd.hdr[..ipv4::HEADER_LEN].copy_from_slice(&p[..ipv4::HEADER_LEN]);
        pd.data.clear();
        pd.data.extend_from_slice(&p[ipv4::HEADER_LEN + chunk..]);
        pd.pos = 0;
        pd.chunk = chunk;
        pd.base = base + chunk;
        pd.last_mf = more;
        pd.v6 = false;
        pd.active = true;
        buf.truncate(ipv4::HEADER_LEN + chunk);
        let mut h = Ipv4Packet::new_unchecked(buf.as_mut_slice());
        h.set_total_len((ipv4::HEADER_LEN + chunk) as u16);
        h.set_frag_field(MF | (base / 8) as u16);
        h.fill_checksum();
    }

    /// The next fragment waiting in `pending`, if any (`Engine::poll_transmit`).
    pub(super) fn next_fragment(&mut self, buf: &mut PacketBuf) -> Option<Side> {
        let pd = &mut self.pending;
        if !pd.active {
            return None;
        }
        let remaining = pd.data.len() - pd.pos;
        let n = remaining.min(pd.chunk);
        let last = n == remaining;
        let offset = pd.base + pd.pos;
        let hlen = if pd.v6 { V6_FRAG_HDRS } else { ipv4::HEADER_LEN };
        buf.clear();
        let Ok(out) = buf.extend_back(hlen + n) else {
            pd.active = false;
            return None;
        };
        out[..hlen].copy_from_slice(&pd.hdr[..hlen]);
        out[hlen..].copy_from_slice(&pd.data[pd.pos..pd.pos + n]);
        let mf = !last || pd.last_mf;
        if pd.v6 {
            Ipv6Packet::new_unchecked(&mut *out).set_payload_len((fragment::HEADER_LEN + n) as u16);
            FragmentHeader::new_unchecked(&mut out[ipv6::HEADER_LEN..])
                .set_offset_word((offset as u16) | if mf { fragment::M } else { 0 });
        } else {
            let mut h = Ipv4Packet::new_unchecked(&mut *out);
            h.set_total_len((ipv4::HEADER_LEN + n) as u16);
            h.set_frag_field((if mf { MF } else { 0 }) | (offset / 8) as u16);
            h.fill_checksum();
        }
        pd.pos += n;
        if last {
            pd.active = false;
        }
        // The packet was counted as forwarded with its first fragment.
        self.counters.extra_fragments += 1;
        Some(if pd.v6 { Side::V6 } else { Side::V4 })
    }
}
