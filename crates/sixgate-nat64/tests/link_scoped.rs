//! Link-scoped IPv6 — what the host's own stack sends on the TUN device the moment it comes
//! up (router solicitations, MLD reports) — is dropped and counted as `link-local`, by both
//! translators: routers never forward it (RFC 4291 §2.5.6, §2.7).

use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::{Nat64, Nat64Config, Nat64Drop, Pool4Range, Siit, SiitConfig, SiitDrop};
use sixgate_testkit::packets::{icmp6, ipv6_header, udp6};

/// What Linux sends on a new TUN device: a router solicitation, an MLDv2 report (behind a
/// hop-by-hop header with Router Alert, from `::` before the device has an address), and a
/// datagram from a link-local source to a translatable destination.
fn own_traffic() -> Vec<Vec<u8>> {
    let rs = icmp6("fe80::3dfc:a4eb:d786:f339", "ff02::2", 133, 0, [0; 4], &[]);
    // MLDv2 report: type 143, one record (change to exclude, ff02::fb).
    let mut mld = vec![143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0];
    mld.extend_from_slice(&"ff02::fb".parse::<std::net::Ipv6Addr>().unwrap().octets());
    let hbh = [58, 0, 5, 2, 0, 0, 1, 0];
    let mut report = ipv6_header("::".parse().unwrap(), "ff02::16".parse().unwrap(), 0, 8 + mld.len(), 1).to_vec();
    report.extend_from_slice(&hbh);
    report.extend_from_slice(&mld);
    let ll = udp6("fe80::1", "64:ff9b::c633:6402", 53, b"x");
    vec![rs, report, ll]
}

#[test]
fn siit_counts_the_hosts_own_link_traffic_as_link_local() {
    let mut c = SiitConfig::new("192.0.2.1".parse().unwrap(), "64:ff9b::c000:201".parse().unwrap());
    c.pool6 = Some("64:ff9b::/96".parse().unwrap());
    let mut s = Siit::new(c).unwrap();
    for p in own_traffic() {
        let v = s.process(&mut PacketBuf::from_slice(&p), Instant::now());
        assert_eq!(v, Verdict::Drop(SiitDrop::LinkLocal), "{p:02x?}");
    }
    assert_eq!(s.counters().dropped(SiitDrop::LinkLocal), 3);
    assert_eq!(s.counters().dropped(SiitDrop::ForbiddenAddress), 0);
    // Site-scoped multicast is still refused as a forbidden address.
    let v = s.process(&mut PacketBuf::from_slice(&udp6("64:ff9b::c633:6402", "ff05::2", 53, b"x")), Instant::now());
    assert_eq!(v, Verdict::Drop(SiitDrop::ForbiddenAddress));
}

#[test]
fn stateful_counts_the_hosts_own_link_traffic_as_link_local() {
    let pool6 = Pool6::new("64:ff9b::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    let c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    let mut e = Nat64::new(c).unwrap();
    for p in own_traffic() {
        let v = e.process(&mut PacketBuf::from_slice(&p), Instant::now());
        assert_eq!(v, Verdict::Drop(Nat64Drop::Xlate(SiitDrop::LinkLocal)), "{p:02x?}");
    }
    assert_eq!(e.counters().dropped(Nat64Drop::Xlate(SiitDrop::LinkLocal)), 3);
}
