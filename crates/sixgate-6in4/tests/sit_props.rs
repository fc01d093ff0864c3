//! Properties: encapsulation then decapsulation is the identity on the inner packet, and
//! no input makes the engine panic.

use std::time::Instant;

use proptest::prelude::*;
use sixgate_6in4::{SitConfig, SitTunnel};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_testkit::packets::sit::ipv6;

fn pair() -> (SitTunnel, SitTunnel) {
    let (a, b) = ("192.0.2.1".parse().unwrap(), "198.51.100.1".parse().unwrap());
    (
        SitTunnel::new(SitConfig::new_static(a, b, "2001:db8:ffff::1".parse().unwrap())).unwrap(),
        SitTunnel::new(SitConfig::new_static(b, a, "2001:db8:ffff::2".parse().unwrap())).unwrap(),
    )
}

proptest! {
    #[test]
    fn encap_decap_round_trip(
        src in any::<u128>(), dst in any::<u128>(), tc in any::<u8>(), nh in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..1440),
    ) {
        // A unicast source under 2001:db8::/32 passes the source checks.
        let src = (0x2001_0db8u128 << 96) | (src >> 32);
        let inner = ipv6(src.into(), dst.into(), nh, tc, &payload);
        let (mut a, mut b) = pair();
        let now = Instant::now();
        let mut buf = PacketBuf::from_slice(&inner);
        prop_assert_eq!(a.process(&mut buf, now), Verdict::Forward(Side::V4));
        prop_assert_eq!(buf.len(), inner.len() + 20);
        prop_assert_eq!(b.process(&mut buf, now), Verdict::Forward(Side::V6));
        prop_assert_eq!(buf.as_slice(), &inner[..]);
    }

    #[test]
    fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..1600)) {
        sixgate_testkit::fuzz::sit::sit_decap(&data);
    }

    #[test]
    fn never_panics_on_near_valid(mode in any::<u8>(), seed in 0usize..40, flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..4)) {
        let seeds = sixgate_testkit::fuzz::sit::seeds();
        let mut s = seeds[seed % seeds.len()].clone();
        s[0] = mode;
        for (at, x) in flips {
            let i = usize::from(at) % s.len();
            s[i] ^= x;
        }
        sixgate_testkit::fuzz::sit::sit_decap(&s);
    }
}
