//! Batched TUN I/O with virtio-net offload: the kernel hands over TCP/UDP super-packets (GSO);
//! the NAT64 driver translates them whole (`sixgate_core::gso`), the tunnel driver has `tun-rs`
//! split them into MTU-sized packets; on write `tun-rs` coalesces packets of a flow
//! (GRO), so one syscall moves many packets.

use std::io;
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{drain_into, drive_into, settle_into, Engine, Origin, Outbox, Side};
use sixgate_core::gso::{self, SuperOutcome};
use tun_rs::{
    ExpandBuffer, GROTable, VirtioNetHdr, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6,
    VIRTIO_NET_HDR_GSO_UDP_L4, VIRTIO_NET_HDR_LEN as VH,
};

use crate::driver::{is_drained, wait_readable, Pump, Ready, WorkerStats, BURST};
use crate::tun::TunDevice;

/// Bytes in front of a received packet: room for the translator to grow headers, and for
/// the virtio-net header on write.
pub(crate) const RX_OFFSET: usize = sixgate_core::buf::DEFAULT_HEADROOM;

/// A [`PacketBuf`] seen by `tun-rs` through a window of its backing storage: on read the
/// whole storage (the packet lands at [`RX_OFFSET`]); on write the packet with the
/// virtio-net header space in front of it.
pub(crate) struct IoBuf {
    pub(crate) buf: PacketBuf,
    view: (usize, usize),
}

impl IoBuf {
    pub(crate) fn new() -> Self {
        let buf = PacketBuf::new();
        let len = buf.backing().len();
        Self { buf, view: (0, len) }
    }

    /// Window for a read: all of it.
    pub(crate) fn for_rx(&mut self) {
        self.view = (0, self.buf.backing().len());
    }

    /// After a read of `n` bytes at [`RX_OFFSET`]: the packet.
    pub(crate) fn received(&mut self, n: usize) {
        let _ = self.buf.set_bounds(RX_OFFSET, RX_OFFSET + n);
    }

    /// Window for a write: `hdr` bytes before the packet, then the packet. Returns false
    /// if the packet has less headroom than that.
    pub(crate) fn for_tx(&mut self, hdr: usize) -> bool {
        let (start, end) = self.buf.bounds();
        if start < hdr {
            return false;
        }
        self.view = (start - hdr, end);
        true
    }
}

impl std::borrow::Borrow<PacketBuf> for IoBuf {
    fn borrow(&self) -> &PacketBuf {
        &self.buf
    }
}

impl std::borrow::BorrowMut<PacketBuf> for IoBuf {
    fn borrow_mut(&mut self) -> &mut PacketBuf {
        &mut self.buf
    }
}

impl AsRef<[u8]> for IoBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf.backing()[self.view.0..self.view.1]
    }
}

impl AsMut<[u8]> for IoBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        let (a, b) = self.view;
        &mut self.buf.backing_mut()[a..b]
    }
}

impl ExpandBuffer for IoBuf {
    fn buf_capacity(&self) -> usize {
        self.buf.backing().len() - self.view.0
    }

    fn buf_resize(&mut self, new_len: usize, value: u8) {
        let cap = self.buf.backing().len();
        let end = (self.view.0 + new_len).min(cap);
        if end > self.view.1 {
            let old = self.view.1;
            self.buf.backing_mut()[old..end].fill(value);
        }
        self.view.1 = end;
    }

    fn buf_extend_from_slice(&mut self, src: &[u8]) {
        let cap = self.buf.backing().len();
        let start = self.view.1;
        let end = (start + src.len()).min(cap);
        let n = end - start;
        self.buf.backing_mut()[start..end].copy_from_slice(&src[..n]);
        self.view.1 = end;
    }
}

/// The offload pump of a TUN device whose both sides are the device (NAT64, SIIT). Each
/// read returns one packet or one TCP/UDP super-packet (GSO) with its virtio-net header. A
/// super-packet is translated whole when the engine allows it
/// ([`sixgate_core::gso::process_super`]: headers rewritten once, payload untouched, the
/// checksum left partial for the kernel to finish per segment) and written back as one
/// super-packet; otherwise it is cut into segments and each goes through the engine.
/// Single packets are batched and written with `send_multiple`, which coalesces TCP and
/// UDP segments of one flow (GRO).
pub(crate) struct OffloadTun<'a> {
    dev: &'a TunDevice,
    rx: IoBuf,
    probe: IoBuf,
    out: TxBatch,
    split: Vec<IoBuf>,
    sizes: Vec<usize>,
    /// When the last wake-up came.
    last_wake: Instant,
}

impl<'a> OffloadTun<'a> {
    /// For `dev`, which must be non-blocking.
    pub(crate) fn new(dev: &'a TunDevice) -> Self {
        Self {
            dev,
            rx: IoBuf::new(),
            probe: IoBuf::new(),
            out: TxBatch {
                tx: Vec::with_capacity(IDEAL_BATCH_SIZE * 2),
                free: (0..IDEAL_BATCH_SIZE).map(|_| IoBuf::new()).collect(),
                gro: GROTable::default(),
            },
            split: Vec::new(),
            sizes: vec![0usize; IDEAL_BATCH_SIZE],
            last_wake: Instant::now(),
        }
    }
}

impl Pump for OffloadTun<'_> {
    type Out = TxBatch;

    fn wait(&mut self, timeout: Duration) -> io::Result<Ready> {
        wait_readable([self.dev.fd()], timeout)
    }

    fn outbox(&mut self) -> &mut TxBatch {
        &mut self.out
    }

    fn burst<E: Engine, C>(
        &mut self,
        engine: &mut E,
        ready: Ready,
        now: Instant,
        stats: &mut WorkerStats<C>,
    ) -> io::Result<()> {
        let Self { dev, rx, probe, out, split, sizes, last_wake } = self;
        let dev = *dev;
        // Idle for a while before this wake-up: a low rate.
        let lone = now.duration_since(*last_wake) >= Duration::from_micros(200);
        *last_wake = now;
        // Drain the device without blocking, then write the single packets in one batch
        // (in `flush`): one poll per burst, not per packet.
        let mut reads = 0;
        while ready.any() && reads < BURST {
            reads += 1;
            rx.for_rx();
            let n = match dev.recv(&mut rx.buf.backing_mut()[RX_OFFSET - VH..]) {
                Ok(n) => n,
                Err(e) if is_drained(&e) => break,
                Err(e) => return Err(e),
            };
            stats.received += 1;
            let Some(hdr) =
                (n > VH).then(|| VirtioNetHdr::decode(&rx.buf.backing()[RX_OFFSET - VH..RX_OFFSET]).ok()).flatten()
            else {
                continue;
            };
            rx.received(n - VH);
            let kind = hdr.gso_type & !GSO_ECN;
            if kind == 0 {
                // One packet. A partial checksum (CHECKSUM_PARTIAL: the kernel left it to
                // the "hardware") is finished here, so the engine sees a complete packet.
                if hdr.flags & NEEDS_CSUM != 0
                    && !finish_checksum(rx.buf.as_mut_slice(), hdr.csum_start, hdr.csum_offset)
                {
                    continue;
                }
                let _ = drive_into(engine, rx, now, out);
            } else if kind == VIRTIO_NET_HDR_GSO_TCPV4
                || kind == VIRTIO_NET_HDR_GSO_TCPV6
                || kind == VIRTIO_NET_HDR_GSO_UDP_L4
            {
                // Whole translation needs the checksum partial at the transport header, as
                // Linux hands GSO packets over; anything else is cut up by tun-rs below.
                let partial = hdr.flags & NEEDS_CSUM != 0
                    && gso::layout(rx.buf.as_slice()).is_some_and(|l| {
                        usize::from(hdr.csum_start) == l.l3 && usize::from(hdr.csum_offset) == l.csum_offset()
                    });
                let outcome = if partial {
                    gso::process_super(engine, &mut rx.buf, hdr.gso_size, &mut probe.buf, now)
                } else {
                    Err(gso::GsoError::Layout)
                };
                match outcome {
                    Ok(SuperOutcome::Whole { layout, tail, .. }) => {
                        // Keep the order of a flow: what is queued goes first.
                        if !out.tx.is_empty() {
                            out.flush(dev, &mut stats.write_errors);
                        }
                        let vhdr = whole_header(rx.buf.as_mut_slice(), &layout, hdr.gso_size, hdr.gso_type & GSO_ECN);
                        let (start, end) = rx.buf.bounds();
                        let sent = start >= VH
                            && vhdr.encode(&mut rx.buf.backing_mut()[start - VH..start]).is_ok()
                            && dev.send(&rx.buf.backing()[start - VH..end]).is_ok();
                        if sent {
                            stats.whole += 1;
                        } else {
                            stats.write_errors += 1;
                        }
                        // Anything the engine queued while forwarding it.
                        drain_into(engine, out);
                        if tail {
                            let _ = drive_into(engine, probe, now, out);
                        }
                    }
                    Ok(SuperOutcome::Segmented { verdict, layout, count }) => {
                        settle_into(engine, verdict, probe, out);
                        for i in 1..count {
                            let mut b = out.spare();
                            if gso::segment(rx.buf.as_slice(), &layout, hdr.gso_size, i, &mut b.buf).is_err() {
                                out.recycle(b);
                                break;
                            }
                            let _ = drive_into(engine, &mut b, now, out);
                            out.recycle(b);
                            if out.tx.len() >= IDEAL_BATCH_SIZE {
                                out.flush(dev, &mut stats.write_errors);
                            }
                        }
                    }
                    Err(_) => {
                        // Not a plain TCP/UDP super-packet (IPv6 extension headers, say):
                        // tun-rs cuts it into packets, each goes through the engine.
                        // One buffer per segment (a small MSS makes more than a batch).
                        let len = rx.buf.len();
                        let hl = usize::from(hdr.hdr_len).min(len);
                        let need = (len - hl).div_ceil(usize::from(hdr.gso_size.max(1))).max(1);
                        while split.len() < need {
                            split.push(IoBuf::new());
                        }
                        if sizes.len() < split.len() {
                            sizes.resize(split.len(), 0);
                        }
                        for b in split.iter_mut() {
                            b.for_rx();
                        }
                        let v6 = rx.buf.as_slice().first().is_some_and(|b| b >> 4 == 6);
                        let Ok(k) = tun_rs::gso_split(rx.buf.as_mut_slice(), hdr, split, sizes, RX_OFFSET, v6) else {
                            continue;
                        };
                        for (b, &size) in split.iter_mut().zip(sizes.iter()).take(k) {
                            b.received(size);
                            let _ = drive_into(engine, b, now, out);
                        }
                    }
                }
            }
            // After an idle spell (≥ 200 µs since the last wake-up) the first packet of a
            // wake-up goes out at once, before the read that finds the device empty: a
            // lone packet (a ping, a request) waits for one syscall fewer. Under load
            // packets stay batched, so that the write coalesces them (UDP GRO) and the
            // kernel forwards one super-packet: writing the first alone whenever a
            // wake-up found one packet cost ~20 % of the 64-byte UDP rate at overload.
            if out.tx.len() >= IDEAL_BATCH_SIZE || (lone && reads == 1 && !out.tx.is_empty()) {
                out.flush(dev, &mut stats.write_errors);
            }
        }
        Ok(())
    }

    fn flush<C>(&mut self, stats: &mut WorkerStats<C>) {
        if !self.out.tx.is_empty() {
            self.out.flush(self.dev, &mut stats.write_errors);
        }
    }
}

/// `flags`: the transport checksum is partial (`VIRTIO_NET_HDR_F_NEEDS_CSUM`).
const NEEDS_CSUM: u8 = 1;
/// `gso_type` bit: the super-packet carries ECN CWR (`VIRTIO_NET_HDR_GSO_ECN`).
const GSO_ECN: u8 = 0x80;

/// The virtio-net header for a super-packet translated whole ([`SuperOutcome::Whole`]),
/// `pkt` holding it with its partial transport checksum at the place `layout` says.
///
/// One that needs no cutting — a payload of at most `gso_size`, as when the short last
/// segment was split off to go on its own — is no super-packet: Linux's segmentation
/// refuses a GSO packet no longer than one segment (`tcp_gso_segment`,
/// `__udp_gso_segment`: `len <= mss` → `-EINVAL`) and drops it silently on the way out
/// (`validate_xmit_skb`, counted as a TX drop of the egress device). (The TUN device takes
/// the GSO type at its word when the packet is longer than one segment past a bare 20-byte
/// TCP or 8-byte UDP header, `virtio_net_hdr_to_skb`: so TCP with options — timestamps, on
/// by default — passes as GSO and is then dropped.) So it goes out as a
/// plain packet: GSO type NONE, its checksum completed here. Otherwise the GSO type of
/// its new shape (keeping the ECN bit `ecn`), the checksum left partial.
///
/// [`SuperOutcome::Whole`]: sixgate_core::gso::SuperOutcome::Whole
fn whole_header(pkt: &mut [u8], layout: &gso::Layout, gso_size: u16, ecn: u8) -> VirtioNetHdr {
    if gso::segments(layout, gso_size) <= 1 {
        // Cannot fail: the layout was read from this packet.
        let _ = finish_checksum(pkt, layout.l3 as u16, layout.csum_offset() as u16);
        return VirtioNetHdr::default();
    }
    VirtioNetHdr {
        flags: NEEDS_CSUM,
        gso_type: match (layout.proto, layout.v6) {
            (6, false) => VIRTIO_NET_HDR_GSO_TCPV4,
            (6, true) => VIRTIO_NET_HDR_GSO_TCPV6,
            _ => VIRTIO_NET_HDR_GSO_UDP_L4,
        } | ecn,
        hdr_len: layout.headers() as u16,
        gso_size,
        csum_start: layout.l3 as u16,
        csum_offset: layout.csum_offset() as u16,
    }
}

/// Finishes a partial transport checksum in place: the field holds the pseudo-header sum;
/// the checksum covers everything from `start` (RFC 1071). False if the offsets do not fit.
fn finish_checksum(pkt: &mut [u8], start: u16, offset: u16) -> bool {
    use sixgate_core::checksum::{add, finish, sum};
    let (start, at) = (usize::from(start), usize::from(start) + usize::from(offset));
    if at + 2 > pkt.len() || start > at {
        return false;
    }
    let initial = u32::from(u16::from_be_bytes([pkt[at], pkt[at + 1]]));
    pkt[at..at + 2].copy_from_slice(&[0, 0]);
    // 0 and 0xffff verify alike; 0xffff is also right for UDP, where 0 means "none".
    let c = sixgate_core::checksum::udp_field(finish(add(sum(&pkt[start..]), initial)));
    pkt[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// The offload pump's output: one batch for the device (both sides are the same TUN
/// device) and the spare buffers that take the place of those that move into it.
pub(crate) struct TxBatch {
    tx: Vec<IoBuf>,
    free: Vec<IoBuf>,
    gro: GROTable,
}

impl Outbox for TxBatch {
    type Buf = IoBuf;

    fn spare(&mut self) -> Self::Buf {
        self.free.pop().unwrap_or_else(IoBuf::new)
    }

    fn recycle(&mut self, buf: Self::Buf) {
        self.free.push(buf);
    }

    fn push(&mut self, _side: Side, _origin: Origin, buf: Self::Buf) {
        self.tx.push(buf);
    }
}

impl TxBatch {
    /// Writes the batch (coalescing TCP/UDP segments where the device allows) and
    /// recycles the buffers.
    fn flush(&mut self, dev: &TunDevice, errors: &mut u64) {
        self.tx.retain_mut(|b| b.for_tx(VH));
        if let [b] = self.tx.as_mut_slice() {
            // One packet (the common case at low rates): nothing to coalesce, so no GRO
            // pass (which copies the packet and sums it again); a zeroed virtio header (no
            // GSO, checksum complete) and one write.
            b.as_mut()[..VH].fill(0);
            if dev.send(b.as_ref()).is_err() {
                *errors += 1;
            }
        } else if dev.dev().send_multiple(&mut self.gro, &mut self.tx, VH).is_err() {
            *errors += 1;
        }
        self.free.append(&mut self.tx);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Instant;

    use sixgate_core::checksum::{fold, pseudo_v4, pseudo_v6};
    use sixgate_core::gso::{layout, process_super, SuperOutcome};
    use sixgate_core::PacketBuf;
    use sixgate_nat64::{Siit, SiitConfig};
    use sixgate_testkit::packets::transport_checksum_ok;
    use tun_rs::{VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP_L4};

    use super::{whole_header, GSO_ECN, NEEDS_CSUM};

    const H6: &str = "2001:db8:6::2";
    const H4_V6: &str = "2001:db8:64::c633:6402";

    fn siit() -> Siit {
        let mut c = SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8:64::c000:201".parse().unwrap());
        c.pool6 = Some("2001:db8:64::/96".parse().unwrap());
        c.add_eam("2001:db8:6::/120", "203.0.113.0/24").unwrap();
        Siit::new(c).unwrap()
    }

    /// A TCP (with the 12 bytes of a timestamp option, as Linux sends by default) or UDP
    /// super-packet, IPv6 from the EAM host to 198.51.100.2 or IPv4 the other way (DF set),
    /// with the partial checksum Linux hands over for GSO.
    fn super_packet(v6: bool, tcp: bool, payload: usize) -> Vec<u8> {
        let l4 = if tcp { 32 } else { 8 };
        let ulen = l4 + payload;
        let proto = if tcp { 6 } else { 17 };
        let (s6, d6): (Ipv6Addr, Ipv6Addr) = (H6.parse().unwrap(), H4_V6.parse().unwrap());
        let (s4, d4): (Ipv4Addr, Ipv4Addr) = ("198.51.100.2".parse().unwrap(), "203.0.113.2".parse().unwrap());
        let mut p = Vec::new();
        if v6 {
            p.extend_from_slice(&[0x60, 0, 0, 0]);
            p.extend_from_slice(&(ulen as u16).to_be_bytes());
            p.extend_from_slice(&[proto, 64]);
            p.extend_from_slice(&s6.octets());
            p.extend_from_slice(&d6.octets());
        } else {
            p.extend_from_slice(&[0x45, 0]);
            p.extend_from_slice(&((20 + ulen) as u16).to_be_bytes());
            p.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, proto, 0, 0]);
            p.extend_from_slice(&s4.octets());
            p.extend_from_slice(&d4.octets());
            let c = sixgate_core::checksum::checksum(&p[..20]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let partial =
            if v6 { fold(pseudo_v6(s6, d6, proto, ulen as u32)) } else { fold(pseudo_v4(s4, d4, proto, ulen as u16)) };
        p.extend_from_slice(&[0x30, 0x39, 0x14, 0x51]);
        if tcp {
            p.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0, 7, 0x80, 0x10, 0x01, 0xf5]);
            p.extend_from_slice(&partial.to_be_bytes());
            p.extend_from_slice(&[0, 0, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        } else {
            p.extend_from_slice(&(ulen as u16).to_be_bytes());
            p.extend_from_slice(&partial.to_be_bytes());
        }
        p.extend((0..payload).map(|i| (i * 7) as u8));
        p
    }

    /// The super-packet translated whole, then its virtio-net header as the worker writes it.
    fn translate_whole(v6: bool, tcp: bool, payload: usize, seg: u16) -> (PacketBuf, tun_rs::VirtioNetHdr, bool) {
        let mut e = siit();
        let mut buf = PacketBuf::from_slice(&super_packet(v6, tcp, payload));
        let mut probe = PacketBuf::new();
        let out = process_super(&mut e, &mut buf, seg, &mut probe, Instant::now());
        let Ok(SuperOutcome::Whole { layout: l, tail, .. }) = out else {
            panic!("not translated whole: {out:?}");
        };
        let h = whole_header(buf.as_mut_slice(), &l, seg, 0);
        (buf, h, tail)
    }

    #[test]
    fn a_short_last_segment_split_off_leaves_a_plain_packet_with_a_complete_checksum() {
        // IPv6 → IPv4, two segments of 1428 (1500-byte IPv6 packets, timestamps on) and a
        // last one of 100: as IPv4 the last goes alone without DF (RFC 7915 §5.1), and what
        // remains is one segment of exactly gso_size.
        for tcp in [true, false] {
            let seg = if tcp { 1428 } else { 1452 };
            let (buf, h, tail) = translate_whole(true, tcp, usize::from(seg) + 100, seg);
            assert!(tail, "the short last segment is split off");
            assert_eq!(layout(buf.as_slice()).unwrap().payload, usize::from(seg));
            assert_eq!((h.gso_type, h.flags), (0, 0), "tcp {tcp}: one segment written as a super-packet");
            assert!(transport_checksum_ok(buf.as_slice()), "tcp {tcp}: checksum not completed");
        }
    }

    #[test]
    fn a_super_packet_of_one_segment_goes_out_plain_both_ways() {
        for (v6, tcp) in [(true, true), (true, false), (false, true), (false, false)] {
            let (buf, h, _) = translate_whole(v6, tcp, 1000, 1400);
            assert_eq!((h.gso_type, h.flags), (0, 0), "v6 {v6} tcp {tcp}");
            assert!(transport_checksum_ok(buf.as_slice()), "v6 {v6} tcp {tcp}");
        }
    }

    #[test]
    fn two_segments_or_more_stay_a_super_packet_with_a_partial_checksum() {
        for (v6, tcp, want) in [
            (true, true, VIRTIO_NET_HDR_GSO_TCPV4),
            (true, false, VIRTIO_NET_HDR_GSO_UDP_L4),
            (false, true, VIRTIO_NET_HDR_GSO_TCPV6),
            (false, false, VIRTIO_NET_HDR_GSO_UDP_L4),
        ] {
            // Three full segments (over 1280 bytes as IPv6, so with DF as IPv4, RFC 7915
            // §5.1): nothing split off.
            let (buf, h, tail) = translate_whole(v6, tcp, 3 * 1300, 1300);
            assert!(!tail);
            let l = layout(buf.as_slice()).unwrap();
            assert_eq!(h.gso_type, want, "v6 {v6} tcp {tcp}");
            assert_eq!(h.flags, NEEDS_CSUM);
            assert_eq!((h.gso_size, h.hdr_len), (1300, l.headers() as u16));
            assert_eq!((usize::from(h.csum_start), usize::from(h.csum_offset)), (l.l3, l.csum_offset()));
            let mut b = buf.as_slice().to_vec();
            assert_eq!(whole_header(&mut b, &l, 1300, GSO_ECN).gso_type, want | GSO_ECN, "ECN kept");
        }
        // IPv6 → IPv4 with a short last segment split off, two full ones left: still GSO.
        let (_, h, tail) = translate_whole(true, true, 2 * 1428 + 100, 1428);
        assert!(tail);
        assert_eq!((h.gso_type, h.flags), (VIRTIO_NET_HDR_GSO_TCPV4, NEEDS_CSUM));
    }
}
