//! A raw IPv4 socket through the `PacketIo` interface, on loopback: what we send with our
//! own header comes back whole. Needs root (CAP_NET_RAW); otherwise prints why and passes.

use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::checksum;
use sixgate_io::{PacketIo, RawIpv4};

#[test]
fn raw_socket_round_trip_on_loopback() {
    // Protocol 253 is reserved for experimentation (RFC 3692): nothing else answers it.
    let sock = match RawIpv4::open(253) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipping: cannot open a raw socket ({e}); needs root");
            return;
        }
    };
    let marker = format!("sixgate-{}", std::process::id());
    let mut pkt = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 253, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
    pkt.extend_from_slice(marker.as_bytes());
    let total = pkt.len() as u16;
    pkt[2..4].copy_from_slice(&total.to_be_bytes());
    let c = checksum(&pkt[..20]);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(sock.send_batch(&[&pkt]), 1, "send through the PacketIo batch interface");
    let mut bufs = vec![PacketBuf::new(), PacketBuf::new()];
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match sock.recv_batch(&mut bufs) {
            Ok(n) => {
                if let Some(b) = bufs[..n].iter().find(|b| b.ends_with(marker.as_bytes())) {
                    assert_eq!(b[9], 253);
                    assert_eq!(&b[12..20], &pkt[12..20]);
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("recv: {e}"),
        }
        assert!(Instant::now() < deadline, "our packet never came back");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// More packets than one `sendmmsg`/`recvmmsg` call takes, with a packet too short to
/// carry a destination in the middle: every other packet goes, in order, and comes back.
#[test]
fn raw_socket_batches_cross_the_mmsg_limit_in_order() {
    let sock = match RawIpv4::open(253) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipping: cannot open a raw socket ({e}); needs root");
            return;
        }
    };
    let n = 2 * sixgate_io::raw::MMSG_BATCH + 7;
    let tag = format!("batch-{}-", std::process::id());
    let pkts: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 253, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
            p.extend_from_slice(format!("{tag}{i:04}").as_bytes());
            let total = p.len() as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            let c = checksum(&p[..20]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            p
        })
        .collect();
    let short = [0x45u8, 0, 0, 12];
    let mut refs: Vec<&[u8]> = pkts.iter().map(|p| p.as_slice()).collect();
    refs.insert(n / 2, &short);
    assert_eq!(sock.send_batch(&refs), n, "all but the short packet");
    let mut bufs: Vec<PacketBuf> = (0..n + 8).map(|_| PacketBuf::new()).collect();
    let mut got: Vec<usize> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while got.len() < n {
        match sock.recv_batch(&mut bufs) {
            Ok(k) => {
                for b in &bufs[..k] {
                    let body = &b[20..];
                    if let Some(i) = body.strip_prefix(tag.as_bytes()) {
                        got.push(std::str::from_utf8(i).unwrap().parse().unwrap());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("recv: {e}"),
        }
        assert!(Instant::now() < deadline, "only {} of {n} came back", got.len());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "every packet once, in order");
}
