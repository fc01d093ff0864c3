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
