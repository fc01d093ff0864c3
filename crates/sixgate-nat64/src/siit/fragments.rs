//! Fragmenting a translated packet to fit the next hop (RFC 7915 §4.1: DF-clear IPv4
//! packets to the lowest IPv6 MTU; §1.4 and §5.1: IPv6 packets to the IPv4 MTU): the first
//! fragment stays in the buffer, the rest wait in [`Pending`] for `poll_transmit`.

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{finish, sum};
use sixgate_core::engine::Side;
use sixgate_core::wire::{be16, be32, put16};

use super::Siit;

/// Fragments still to be sent for the packet last processed.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub(super) active: bool,
    pub(super) v6: bool,
    pub(super) hdr: [u8; 48],
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
    /// stays in `buf`, the rest wait in `pending` for [`Engine::poll_transmit`].
    pub(super) fn split_v6(&mut self, buf: &mut PacketBuf, mtu: usize, id16: u16) {
        let p = buf.as_slice();
        let (nh, base, last_mf, id, hlen) = if p[6] == 44 {
            (p[40], usize::from(be16(p, 42) & 0xfff8), be16(p, 42) & 1 == 1, be32(p, 44), 48)
        } else {
            (p[6], 0, false, u32::from(id16), 40)
        };
        let chunk = (mtu - 48) / 8 * 8;
        if p.len() - hlen <= chunk {
            return;
        }
        let pd = &mut self.pending;
        pd.hdr[..40].copy_from_slice(&p[..40]);
        pd.hdr[6] = 44;
        pd.hdr[40] = nh;
        pd.hdr[41] = 0;
        pd.hdr[44..48].copy_from_slice(&id.to_be_bytes());
        pd.data.clear();
        pd.data.extend_from_slice(&p[hlen + chunk..]);
        pd.pos = 0;
        pd.chunk = chunk;
        pd.base = base + chunk;
        pd.last_mf = last_mf;
        pd.v6 = true;
        pd.active = true;
        if hlen == 40 {
            // Make room for the fragment header; the payload does not move.
            if buf.replace_front(40, 48).is_err() {
                pd.active = false;
                return;
            }
        }
        buf.truncate(48 + chunk);
        let h = &mut buf.as_mut_slice()[..48];
        h.copy_from_slice(&pd.hdr);
        put16(h, 4, (8 + chunk) as u16);
        put16(h, 42, (base as u16) | 1);
    }

    /// Splits the IPv4 packet in `buf` (20-byte header) into fragments of at most `mtu`.
    pub(super) fn split_v4(&mut self, buf: &mut PacketBuf, mtu: usize) {
        let p = buf.as_slice();
        let ff = be16(p, 6);
        let base = usize::from(ff & 0x1fff) * 8;
        let chunk = (mtu - 20) / 8 * 8;
        if p.len() - 20 <= chunk {
            return;
        }
        let pd = &mut self.pending;
        pd.hdr[..20].copy_from_slice(&p[..20]);
        pd.data.clear();
        pd.data.extend_from_slice(&p[20 + chunk..]);
        pd.pos = 0;
        pd.chunk = chunk;
        pd.base = base + chunk;
        pd.last_mf = ff & 0x2000 != 0;
        pd.v6 = false;
        pd.active = true;
        buf.truncate(20 + chunk);
        let h = &mut buf.as_mut_slice()[..20];
        put16(h, 2, (20 + chunk) as u16);
        put16(h, 6, 0x2000 | (base / 8) as u16);
        h[10] = 0;
        h[11] = 0;
        let c = finish(sum(h));
        put16(h, 10, c);
    }

    /// The next fragment waiting in `pending`, if any ([`Engine::poll_transmit`](sixgate_core::engine::Engine::poll_transmit)).
    pub(super) fn next_fragment(&mut self, buf: &mut PacketBuf) -> Option<Side> {
        let pd = &mut self.pending;
        if !pd.active {
            return None;
        }
        let remaining = pd.data.len() - pd.pos;
        let n = remaining.min(pd.chunk);
        let last = n == remaining;
        let offset = pd.base + pd.pos;
        let hlen = if pd.v6 { 48 } else { 20 };
        buf.clear();
        let Ok(out) = buf.extend_back(hlen + n) else {
            pd.active = false;
            return None;
        };
        out[..hlen].copy_from_slice(&pd.hdr[..hlen]);
        out[hlen..].copy_from_slice(&pd.data[pd.pos..pd.pos + n]);
        let mf = !last || pd.last_mf;
        if pd.v6 {
            put16(out, 4, (8 + n) as u16);
            put16(out, 42, (offset as u16) | u16::from(mf));
        } else {
            put16(out, 2, (20 + n) as u16);
            put16(out, 6, (u16::from(mf) << 13) | (offset / 8) as u16);
            out[10] = 0;
            out[11] = 0;
            let c = finish(sum(&out[..20]));
            put16(out, 10, c);
        }
        pd.pos += n;
        if last {
            pd.active = false;
        }
        self.counters.forwarded += 1;
        Some(if pd.v6 { Side::V6 } else { Side::V4 })
    }
}
