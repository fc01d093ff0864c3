//! Stateless IP/ICMP translation (SIIT, RFC 7915) without a device.
//!
//! An IPv4 UDP datagram is translated to IPv6 and its IPv6 answer back to IPv4, with one
//! host mapped by an Explicit Address Mapping (RFC 7757) and the rest of the IPv4
//! Internet under an RFC 6052 prefix; then a datagram whose TTL runs out at the
//! translator is answered with an ICMPv4 Time Exceeded (RFC 792), as a router would.
//!
//! `cargo run --example siit`

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate::core::checksum::{add, finish, pseudo_v4, pseudo_v6, sum};
use sixgate::prelude::*;

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn udp4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, mut u: Vec<u8>) -> Vec<u8> {
    let c = finish(add(pseudo_v4(src, dst, 17, u.len() as u16), sum(&u)));
    u[6..8].copy_from_slice(&c.to_be_bytes());
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + u.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 7, 0, 0, ttl, 17, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = finish(sum(&p));
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&u);
    p
}

fn udp6(src: Ipv6Addr, dst: Ipv6Addr, mut u: Vec<u8>) -> Vec<u8> {
    let c = finish(add(pseudo_v6(src, dst, 17, u.len() as u32), sum(&u)));
    u[6..8].copy_from_slice(&c.to_be_bytes());
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(u.len() as u16).to_be_bytes());
    p.extend_from_slice(&[17, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&u);
    p
}

fn v6(buf: &[u8], at: usize) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&buf[at..at + 16]).expect("16 bytes"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = SiitConfig::new("192.0.2.1".parse()?, "2001:db8:ff::1".parse()?);
    cfg.pool6 = Some("2001:db8:64::/96".parse()?);
    // The IPv6-only server 2001:db8:6::53 appears to IPv4 as 203.0.113.53.
    cfg.add_eam("2001:db8:6::/120", "203.0.113.0/24")?;
    let mut siit = Siit::new(cfg)?;
    let now = Instant::now();

    let (client, server4) = ("198.51.100.7".parse()?, "203.0.113.53".parse()?);
    let mut buf = PacketBuf::from_slice(&udp4(client, server4, 64, udp(5353, 53, b"query")));
    assert_eq!(siit.process(&mut buf, now), Verdict::Forward(Side::V6));
    let (src6, dst6) = (v6(&buf, 8), v6(&buf, 24));
    println!("4->6 {client}:5353 -> {server4}:53  became  [{src6}]:5353 -> [{dst6}]:53 (hop limit {})", buf[7]);
    assert_eq!(dst6, "2001:db8:6::35".parse::<Ipv6Addr>()?, "by the EAM");
    assert_eq!(src6, "2001:db8:64::c633:6407".parse::<Ipv6Addr>()?, "under pool6");

    // The answer, 6→4.
    let mut buf = PacketBuf::from_slice(&udp6(dst6, src6, udp(53, 5353, b"answer")));
    assert_eq!(siit.process(&mut buf, now), Verdict::Forward(Side::V4));
    let (s4, d4) =
        (Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]), Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]));
    println!("6->4 [{dst6}]:53 -> [{src6}]:5353  became  {s4}:53 -> {d4}:5353");
    assert_eq!((s4, d4), (server4, client));

    // TTL 1: the translator is a router (RFC 7915 §4.1), so it answers Time Exceeded.
    let mut buf = PacketBuf::from_slice(&udp4(client, server4, 1, udp(5353, 53, b"late")));
    assert_eq!(siit.process(&mut buf, now), Verdict::Reply(Side::V4));
    println!(
        "TTL 1 from {client}: ICMPv4 type {} code {} from {}",
        buf[20],
        buf[21],
        Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15])
    );
    assert_eq!((buf[20], buf[21]), (11, 0));
    let c = siit.counters();
    println!("counters: {} forwarded, {} replied", c.forwarded, c.replied);
    assert_eq!((c.forwarded, c.replied), (2, 1));
    Ok(())
}
