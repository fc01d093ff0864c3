//! Fixed vectors for translator bugs found by the fuzzers and property tests
//! (`fuzz/corpus/siit_*/regress-*` hold the raw fuzz inputs).

mod common;

use common::*;
use sixgate_core::engine::Verdict;
use sixgate_nat64::testpkt::*;
use sixgate_nat64::DropReason as R;

/// An IPv6 packet whose ICMPv6 message is shorter than the 8-byte header: the translator
/// read the header past the end of the packet (panic). RFC 4443 §2.1: every ICMPv6
/// message has at least type, code, checksum and 4 more bytes; it is malformed.
#[test]
fn short_icmpv6_message_is_malformed() {
    for n in 0..8 {
        let mut p = echo6("2001:db8:64::808:808", "2001:db8:64::909:909", 1, 1, b"");
        p.truncate(40 + n);
        p[4..6].copy_from_slice(&(n as u16).to_be_bytes());
        let mut s = siit();
        let (v, _) = run(&mut s, &p);
        assert_eq!(v, Verdict::Drop(R::Malformed), "{n}-byte ICMPv6 message");
    }
}
