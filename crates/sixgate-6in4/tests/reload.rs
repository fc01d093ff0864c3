//! `SitTunnel::reconfigure`: settings change between two packets; learned path MTUs,
//! counters and the rate-limit bucket survive; the endpoint's identity (`local`, the
//! mode) needs a restart and is not applied; a bad configuration changes nothing.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use sixgate_6in4::{ConfigError, EcnMode, Mode, SitConfig, SitDrop, SitTunnel};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_testkit::packets::sit::{encap, frag_needed, udp6};

const A: &str = "192.0.2.1";
const B: &str = "198.51.100.1";
const C: &str = "198.51.100.9";

fn cfg() -> SitConfig {
    SitConfig::new_static(A.parse().unwrap(), B.parse().unwrap(), "2001:db8:ffff::1".parse().unwrap())
}

fn run(e: &mut SitTunnel, p: &[u8], now: Instant) -> (Verdict<SitDrop>, Vec<u8>) {
    let mut buf = PacketBuf::from_slice(p);
    let v = e.process(&mut buf, now);
    (v, buf.to_vec())
}

fn dst4(p: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(p[16], p[17], p[18], p[19])
}

/// Teaches `e` a path MTU of 1400 towards B.
fn learn(e: &mut SitTunnel, now: Instant) {
    let inner = udp6("2001:db8:a::2", "2001:db8:b::2", &[0u8; 1480 - 48]);
    let (v, _) = run(e, &frag_needed("203.0.113.1", A, 1400, &encap(A, B, 0, &inner), 548), now);
    assert_eq!(v, Verdict::Reply(Side::V6));
    assert_eq!(e.path_mtu(B.parse().unwrap(), now), Some(1400));
}

#[test]
fn settings_change_at_once_and_learned_path_mtus_and_counters_survive() {
    let t0 = Instant::now();
    let mut e = SitTunnel::new(cfg()).unwrap();
    learn(&mut e, t0);
    let forwarded = e.counters().forwarded;
    let mut n = cfg();
    n.ttl = 17;
    n.ecn = EcnMode::Compatibility;
    n.mtu = Some(1300);
    n.pmtu_expiry = Duration::from_secs(60);
    let r = e.reconfigure(n).unwrap();
    assert_eq!(r.changed, ["ttl", "ecn", "mtu", "pmtu_expiry"]);
    assert!(r.needs_restart.is_empty());
    assert_eq!(e.path_mtu(B.parse().unwrap(), t0), Some(1400), "the learned path MTU stays");
    assert_eq!(e.counters().answered(SitDrop::PathMtuLearned), 1, "counters stay");
    assert_eq!(e.counters().forwarded, forwarded);
    // The new TTL and tunnel MTU apply to the next packet: 1300 fits, 1301 does not.
    let (v, out) = run(&mut e, &udp6("2001:db8:a::2", "2001:db8:b::2", &[0u8; 1300 - 48]), t0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(out[8], 17);
    let (v, _) = run(&mut e, &udp6("2001:db8:a::2", "2001:db8:b::2", &[0u8; 1301 - 48]), t0);
    assert_eq!(v, Verdict::Reply(Side::V6), "Packet Too Big for the new tunnel MTU");
}

#[test]
fn a_new_remote_is_used_at_once_and_local_and_mode_need_a_restart() {
    let t0 = Instant::now();
    let mut e = SitTunnel::new(cfg()).unwrap();
    let mut n =
        SitConfig::new_static("192.0.2.7".parse().unwrap(), C.parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    n.ttl = 9;
    let r = e.reconfigure(n).unwrap();
    assert_eq!(r.needs_restart, ["local"]);
    assert_eq!(r.changed, ["remote", "ttl"]);
    let (v, out) = run(&mut e, &udp6("2001:db8:a::2", "2001:db8:b::2", b"x"), t0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(
        (Ipv4Addr::new(out[12], out[13], out[14], out[15]), dst4(&out), out[8]),
        (A.parse().unwrap(), C.parse().unwrap(), 9)
    );
    // Only the new remote is accepted now.
    let inner = udp6("2001:db8:b::2", "2001:db8:a::2", b"y");
    let (v, _) = run(&mut e, &encap(C, A, 0, &inner), t0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    let (v, _) = run(&mut e, &encap(B, A, 0, &inner), t0);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");

    // Static to 6to4: not applied.
    let mut n = cfg();
    n.mode = Mode::SixToFour { relay: None };
    n.local = "11.0.0.1".parse().unwrap();
    let r = e.reconfigure(n).unwrap();
    assert_eq!(r.needs_restart, ["local", "mode"]);
    let (v, out) = run(&mut e, &udp6("2001:db8:a::2", "2001:db8:b::2", b"x"), t0);
    assert_eq!((v, dst4(&out)), (Verdict::Forward(Side::V4), C.parse().unwrap()), "still the static tunnel to C");
}

#[test]
fn a_bad_configuration_changes_nothing() {
    let t0 = Instant::now();
    let mut a = SitTunnel::new(cfg()).unwrap();
    let mut b = SitTunnel::new(cfg()).unwrap();
    learn(&mut a, t0);
    learn(&mut b, t0);
    let mut bad = cfg();
    bad.ttl = 3;
    bad.mtu = Some(1279);
    assert_eq!(b.reconfigure(bad.clone()), Err(ConfigError::TunnelMtuTooSmall(1279)));
    bad.mtu = None;
    bad.pmtu_entries = 0;
    assert_eq!(b.reconfigure(bad), Err(ConfigError::ZeroPmtuEntries));
    for len in [60, 1380, 1381, 1480] {
        let p = udp6("2001:db8:a::2", "2001:db8:b::2", &vec![0u8; len - 48]);
        assert_eq!(run(&mut a, &p, t0), run(&mut b, &p, t0), "{len}");
    }
    assert!(a.counters() == b.counters());
}

#[test]
fn fewer_path_mtu_entries_let_go_of_those_expiring_first() {
    let t0 = Instant::now();
    let c = SitConfig::new_6to4("11.0.0.1".parse().unwrap(), None);
    let mut e = SitTunnel::new(c.clone()).unwrap();
    // Path MTUs towards three 6to4 sites (13.0.0.1-3), learned one second apart.
    for i in 1..=3u64 {
        let site = format!("13.0.0.{i}");
        let inner = udp6("2002:b00:1::2", &format!("2002:d00:{i}::1"), &[0u8; 1480 - 48]);
        let now = t0 + Duration::from_secs(i);
        let fne = frag_needed("13.0.0.254", "11.0.0.1", 1400, &encap("11.0.0.1", &site, 0, &inner), 548);
        let (v, _) = run(&mut e, &fne, now);
        assert_eq!(v, Verdict::Reply(Side::V6));
    }
    assert_eq!(e.path_mtu_entries(), 3);
    let mut c = c;
    c.pmtu_entries = 1;
    let r = e.reconfigure(c).unwrap();
    assert_eq!(r.changed, ["pmtu_entries"]);
    assert_eq!(e.path_mtu_entries(), 1);
    assert_eq!(e.path_mtu("13.0.0.3".parse().unwrap(), t0 + Duration::from_secs(3)), Some(1400));
}
