//! A 6in4 tunnel (RFC 4213) between two sans-IO endpoints, without a device.
//!
//! The left endpoint encapsulates an IPv6 packet in IPv4 (protocol 41) towards the right
//! one, which checks the outer source and decapsulates it, the inner packet untouched.
//! An IPv6 packet too big for the tunnel MTU (1480 on a 1500-byte link) is answered with
//! an ICMPv6 Packet Too Big (RFC 4213 §3.2, RFC 4443 §3.2) carrying that MTU.
//!
//! `cargo run --example sit_endpoint`

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate::prelude::*;

/// An IPv6 packet with `len` bytes of payload of Next Header 59 (no next header).
fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p.extend_from_slice(&[59, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.resize(40 + len, 0xab);
    p
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (a, b): (Ipv4Addr, Ipv4Addr) = ("192.0.2.1".parse()?, "198.51.100.1".parse()?);
    let mut left = SitTunnel::new(SitConfig::new_static(a, b, "2001:db8:ffff::1".parse()?))?;
    let mut right = SitTunnel::new(SitConfig::new_static(b, a, "2001:db8:ffff::2".parse()?))?;
    let now = Instant::now();

    let (h1, h2) = ("2001:db8:a::2".parse()?, "2001:db8:b::2".parse()?);
    let inner = ipv6(h1, h2, 100);
    let mut buf = PacketBuf::from_slice(&inner);
    assert_eq!(left.process(&mut buf, now), Verdict::Forward(Side::V4));
    println!(
        "encapsulated: {} bytes, IPv4 {} -> {}, protocol {}",
        buf.len(),
        Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]),
        Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]),
        buf[9]
    );
    assert_eq!(right.process(&mut buf, now), Verdict::Forward(Side::V6));
    assert_eq!(&buf[..], &inner[..]);
    println!("decapsulated: the {}-byte IPv6 packet, byte for byte", buf.len());

    // 1481 bytes do not fit the 1480-byte tunnel MTU.
    let mut buf = PacketBuf::from_slice(&ipv6(h1, h2, 1481 - 40));
    assert_eq!(left.process(&mut buf, now), Verdict::Reply(Side::V6));
    let mtu = u32::from_be_bytes([buf[44], buf[45], buf[46], buf[47]]);
    println!("too big: ICMPv6 type {} (Packet Too Big), MTU {mtu}", buf[40]);
    assert_eq!((buf[40], mtu), (2, 1480));
    Ok(())
}
