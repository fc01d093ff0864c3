//! The sharded stateful NAT64 test harness: the workers' handles over one
//! `Nat64Shards` on a simulated clock ([`W`]), checking every shard's invariants after each
//! packet, and the addresses the tests use.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Counters, Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_core::Protocol;
use sixgate_nat64::{Nat64Config, Nat64Drop, Nat64Handle, Nat64Shards, Pool4Range};
use sixgate_testkit::packets::udp6_ports;

pub const P4: &str = "198.51.100.1";

pub fn cfg() -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap())
}

/// `203.0.113.x` under the NAT64 prefix.
pub fn remote6(x: u8) -> String {
    format!("64:ff9b:1::cb00:71{x:02x}")
}

/// The IPv6 client `2001:db8::i`.
pub fn client(i: u32) -> String {
    Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 | u128::from(i)).to_string()
}

pub fn port(p: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([p[o], p[o + 1]])
}

/// A verdict, the packet, and what the worker sent after it.
pub type Sent = (Verdict<Nat64Drop>, Vec<u8>, Vec<(Side, Vec<u8>)>);

pub struct W {
    pub shards: Nat64Shards,
    pub h: Vec<Nat64Handle>,
    pub t0: Instant,
}

impl W {
    pub fn new(c: Nat64Config, n: usize) -> Self {
        let shards = Nat64Shards::new(c, n).unwrap();
        let h = shards.clone().into_handles();
        Self { shards, h, t0: Instant::now() }
    }
    /// The handles' counters summed: the whole engine's.
    pub fn counters(&self) -> Counters<Nat64Drop> {
        let mut sum = Counters::new();
        for h in &self.h {
            sum.merge(h.counters());
        }
        sum
    }
    pub fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }
    /// Processes `pkt` on worker `w`; returns the verdict, the packet and whatever the
    /// worker had to send after it.
    pub fn send(&mut self, w: usize, pkt: &[u8], secs: f64) -> Sent {
        let now = self.at(secs);
        let mut b = PacketBuf::from_slice(pkt);
        let v = self.h[w].process(&mut b, now);
        let mut more = Vec::new();
        let mut x = PacketBuf::new();
        while let Some(side) = self.h[w].poll_transmit(&mut x) {
            more.push((side, x.as_slice().to_vec()));
        }
        for k in 0..self.shards.len() {
            self.shards.with_shard(k, |e| e.check_invariants()).unwrap().unwrap();
        }
        (v, b.as_slice().to_vec(), more)
    }
    /// Every worker runs its timers up to `secs`.
    pub fn tick(&mut self, secs: f64) {
        let now = self.at(secs);
        for h in &mut self.h {
            while h.poll_timeout().is_some_and(|d| d <= now) {
                h.handle_timeout(now);
            }
        }
    }
    /// The shard holding the BIB entry of UDP `addr:port`.
    pub fn bib_shard(&self, addr: &str, port: u16) -> Vec<usize> {
        (0..self.shards.len())
            .filter(|&k| {
                self.shards.with_shard(k, |e| e.binding(Protocol::Udp, addr.parse().unwrap(), port)).unwrap().is_some()
            })
            .collect()
    }
}

/// Two clients whose sessions live in different shards (of 2).
pub fn clients_in_two_shards(w: &mut W) -> (String, String) {
    let mut seen: [Option<String>; 2] = [None, None];
    for i in 1..64 {
        let c = client(i);
        let (v, _, _) = w.send(0, &udp6_ports(&c, &remote6(1), 7000, 9, b"x"), 0.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
        let k = w.bib_shard(&c, 7000);
        assert_eq!(k.len(), 1, "one BIB entry, in one shard");
        seen[k[0]].get_or_insert(c);
        if let [Some(a), Some(b)] = &seen {
            return (a.clone(), b.clone());
        }
    }
    panic!("63 clients all hashed to one shard");
}

/// Two workers over shards with endpoint-independent filtering, two clients `a` and `b`
/// in different shards ([`clients_in_two_shards`]), and `pb`, the pool port of `b`'s UDP
/// port 7000: what `a` sends to `P4` port `pb` (as `64:ff9b:1::c633:6401`) hairpins to `b`.
pub fn hairpin_pair() -> (W, String, String, u16) {
    let mut c = cfg();
    c.filtering = sixgate_nat64::Filtering::EndpointIndependent;
    let mut w = W::new(c, 2);
    let (a, b) = clients_in_two_shards(&mut w);
    let pb = w
        .shards
        .with_shard(w.bib_shard(&b, 7000)[0], |e| e.binding(Protocol::Udp, b.parse().unwrap(), 7000))
        .unwrap()
        .unwrap()
        .1;
    (w, a, b, pb)
}
