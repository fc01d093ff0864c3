//! Stateful NAT64 (RFC 6146) without a device: an IPv6-only client opens a TCP connection
//! to an IPv4 server through the sans-IO [`Nat64`] engine.
//!
//! The client's SYN goes 6→4 and creates a binding (the client's IPv6 transport address ↔
//! an IPv4 pool transport address); the server's SYN-ACK comes back 4→6 through it. The
//! engine rewrites each packet in place and says where it goes; this program plays the
//! network on both sides.
//!
//! `cargo run --example stateful_nat64`

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate::core::checksum::{add, finish, pseudo_v4, pseudo_v6, sum};
use sixgate::core::rfc6052::{embed, Pool6};
use sixgate::prelude::*;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// A 20-byte TCP header with these ports, flags and sequence numbers (checksum unset).
fn tcp(sport: u16, dport: u16, flags: u8, seq: u32, ack: u32) -> Vec<u8> {
    let mut t = Vec::with_capacity(20);
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t
}

fn tcp6(src: Ipv6Addr, dst: Ipv6Addr, mut t: Vec<u8>) -> Vec<u8> {
    let c = finish(add(pseudo_v6(src, dst, 6, t.len() as u32), sum(&t)));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(t.len() as u16).to_be_bytes());
    p.extend_from_slice(&[6, 64]); // Next Header TCP, Hop Limit 64
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&t);
    p
}

fn tcp4(src: Ipv4Addr, dst: Ipv4Addr, mut t: Vec<u8>) -> Vec<u8> {
    let c = finish(add(pseudo_v4(src, dst, 6, t.len() as u16), sum(&t)));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let total = (20 + t.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]); // ID 1, DF, TTL 64, TCP
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = finish(sum(&p));
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&t);
    p
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A network-specific prefix: documentation IPv4 addresses are not global, and the
    // well-known 64:ff9b::/96 refuses non-global ones (RFC 6052 §3.1).
    let pool6: Pool6 = "2001:db8:64::/96".parse()?;
    let pool4 = vec![Pool4Range::new("198.51.100.0/30".parse()?, 1024, 65535)];
    let cfg = Nat64Config::new(pool6, pool4, "198.51.100.254".parse()?, "2001:db8:ff::1".parse()?);
    let mut nat64 = Nat64::new(cfg)?;
    let now = Instant::now();

    let client: Ipv6Addr = "2001:db8:1::10".parse()?;
    let server: Ipv4Addr = "203.0.113.5".parse()?;
    let server6 = embed(&pool6, server); // 2001:db8:64::cb00:7105

    // 1. The client's SYN, 6→4.
    let mut buf = PacketBuf::from_slice(&tcp6(client, server6, tcp(40000, 80, SYN, 1000, 0)));
    assert_eq!(nat64.process(&mut buf, now), Verdict::Forward(Side::V4));
    let src4 = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
    let sport4 = u16::from_be_bytes([buf[20], buf[21]]);
    println!("6->4 SYN   [{client}]:40000 -> [{server6}]:80  became  {src4}:{sport4} -> {server}:80");

    // 2. The binding it created (RFC 6146 §3.5.2.1), the same both ways.
    let (a4, p4) = nat64.binding(Protocol::Tcp, client, 40000).ok_or("no binding")?;
    assert_eq!((a4, p4), (src4, sport4));
    assert_eq!(nat64.binding_v4(Protocol::Tcp, a4, p4), Some((client, 40000)));
    println!("binding    TCP [{client}]:40000 <-> {a4}:{p4}");

    // 3. The server's SYN-ACK to the pool address, 4→6.
    let mut buf = PacketBuf::from_slice(&tcp4(server, a4, tcp(80, p4, SYN | ACK, 5000, 1001)));
    assert_eq!(nat64.process(&mut buf, now), Verdict::Forward(Side::V6));
    let dst6 = Ipv6Addr::from(<[u8; 16]>::try_from(&buf[24..40])?);
    let dport6 = u16::from_be_bytes([buf[42], buf[43]]);
    assert_eq!((dst6, dport6), (client, 40000));
    println!("4->6 SYN-ACK {server}:80 -> {a4}:{p4}  became  [{server6}]:80 -> [{dst6}]:{dport6}");

    let state = nat64.session_state(Protocol::Tcp, client, 40000, server, 80);
    let stats = nat64.stats();
    println!("session    {state:?}; {} BIB entry, {} session", stats.bib, stats.sessions);
    Ok(())
}
