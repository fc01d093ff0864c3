//! The stateful NAT64 test harness: an engine on a simulated clock ([`T`]) that checks
//! every output's checksums and the tables' invariants after each step, the addresses the
//! tests use, and field accessors.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{add, finish, pseudo_v4, pseudo_v6, sum};
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_core::Protocol;
use sixgate_nat64::{Filtering, Nat64, Nat64Config, Nat64Drop, Pool4Range, TcpState};
use sixgate_testkit::packets::*;

pub const C: &str = "2001:db8::10";
pub const C2: &str = "2001:db8::20";
pub const S: &str = "64:ff9b:1::cb00:7105"; // 203.0.113.5
pub const S4: &str = "203.0.113.5";
pub const S2: &str = "64:ff9b:1::cb00:7106"; // 203.0.113.6
pub const S24: &str = "203.0.113.6";
pub const P4: &str = "198.51.100.1";

pub fn cfg(filtering: Filtering) -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.filtering = filtering;
    c
}

pub struct T {
    pub e: Nat64,
    pub t0: Instant,
}

impl T {
    pub fn new(c: Nat64Config) -> Self {
        Self { e: Nat64::new(c).unwrap(), t0: Instant::now() }
    }
    pub fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }
    /// Runs timers up to `secs`, then processes `pkt` at `secs`.
    pub fn send(&mut self, pkt: &[u8], secs: f64) -> (Verdict<Nat64Drop>, Vec<u8>) {
        self.tick(secs);
        let mut b = PacketBuf::from_slice(pkt);
        let v = self.e.process(&mut b, self.at(secs));
        if matches!(v, Verdict::Forward(_) | Verdict::Reply(_)) {
            check_sums(b.as_slice());
        }
        self.e.check_invariants().unwrap();
        (v, b.as_slice().to_vec())
    }
    pub fn tick(&mut self, secs: f64) {
        let now = self.at(secs);
        // Drive timers the way a driver does: only when poll_timeout says so.
        while let Some(d) = self.e.poll_timeout() {
            if d > now {
                break;
            }
            self.e.handle_timeout(d);
        }
        self.e.handle_timeout(now);
        self.e.check_invariants().unwrap();
    }
    /// The client's SYN from port 40000 to the server's port 80 at `syn`, the SYN+ACK
    /// back at `syn_ack`: an established session. Returns its pool port.
    pub fn establish(&mut self, syn: f64, syn_ack: f64) -> u16 {
        let (_, o) = self.send(&tcp6_flags(C, S, 40000, 80, SYN), syn);
        let p4 = port(&o, 20);
        let _ = self.send(&tcp4_flags(S4, P4, 80, p4, SYNACK), syn_ack);
        p4
    }
    pub fn tcp_state(&self, cport: u16, rport: u16) -> Option<TcpState> {
        self.e.session_state(Protocol::Tcp, C.parse().unwrap(), cport, S4.parse().unwrap(), rport)
    }
}

/// Every output must carry good checksums (IPv4 header; TCP, UDP, ICMP of both families).
pub fn check_sums(p: &[u8]) {
    if p[0] >> 4 == 4 {
        let ihl = usize::from(p[0] & 15) * 4;
        assert_eq!(finish(sum(&p[..ihl])), 0, "IPv4 header checksum");
        let (s, d) = (v4(p, 12), v4(p, 16));
        let l4 = &p[ihl..];
        let ps = match p[9] {
            6 | 17 => pseudo_v4(s, d, p[9], l4.len() as u16),
            _ => 0,
        };
        assert_eq!(finish(add(ps, sum(l4))), 0, "IPv4 transport checksum");
    } else {
        let (s, d) = (v6(p, 8), v6(p, 24));
        let l4 = &p[40..];
        assert_eq!(finish(add(pseudo_v6(s, d, p[6], l4.len() as u32), sum(l4))), 0, "IPv6 transport checksum");
    }
}

pub fn v4(p: &[u8], o: usize) -> Ipv4Addr {
    Ipv4Addr::new(p[o], p[o + 1], p[o + 2], p[o + 3])
}
pub fn v6(p: &[u8], o: usize) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&p[o..o + 16]).unwrap())
}
pub fn port(p: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([p[o], p[o + 1]])
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const FIN: u8 = 0x11;
pub const RST: u8 = 0x04;
pub const SYNACK: u8 = 0x12;

/// The packets waiting in `poll_transmit` that go to the IPv6 side (probes), checked for
/// good checksums; anything for the IPv4 side is returned in the second vector.
pub fn transmitted_by_side(t: &mut T) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut v6s, mut v4s) = (Vec::new(), Vec::new());
    let mut b = PacketBuf::new();
    while let Some(side) = t.e.poll_transmit(&mut b) {
        check_sums(b.as_slice());
        match side {
            Side::V6 => v6s.push(b.as_slice().to_vec()),
            Side::V4 => v4s.push(b.as_slice().to_vec()),
        }
    }
    (v6s, v4s)
}
