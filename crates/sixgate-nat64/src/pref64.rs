//! The PREF64 router-advertisement option (RFC 8781): encoding, decoding, and a check that
//! the prefix a network announces, the prefix its DNS64 synthesizes under and the prefix its
//! translator translates are the same.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |    Length     |     Scaled Lifetime     | PLC |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |              Highest 96 bits of the Prefix (12 octets)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! ```
//! use sixgate_nat64::pref64::Pref64;
//!
//! let p = Pref64::new("64:ff9b::/96".parse().unwrap(), 1800).unwrap();
//! let wire = p.encode();
//! assert_eq!(wire[..4], [38, 2, 0x07, 0x08]); // 1800 s = 225 × 8 s: 225 << 3, PLC 0 (/96)
//! assert_eq!(Pref64::decode(&wire).unwrap(), p);
//! ```

use std::fmt;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

/// The option type (RFC 8781 §6, IANA "IPv6 Neighbor Discovery Option Formats").
pub const OPTION_TYPE: u8 = 38;

/// The option's size: Length 2, in units of 8 octets (RFC 8781 §4).
pub const OPTION_LEN: usize = 16;

/// The largest lifetime the option can carry: 8191 × 8 s (RFC 8781 §4).
pub const MAX_LIFETIME: u32 = 8191 * 8;

/// The prefix lengths by Prefix Length Code (RFC 8781 §4): PLC 0 is /96 … PLC 5 is /32.
const PLC_LENGTHS: [u8; 6] = [96, 64, 56, 48, 40, 32];

/// Errors of PREF64 encoding and decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Pref64Error {
    /// Fewer than 16 bytes.
    #[error("PREF64 option truncated: {0} bytes, need 16")]
    Truncated(usize),
    /// The type is not 38.
    #[error("not a PREF64 option: type {0}")]
    WrongType(u8),
    /// The Length field is not 2 (RFC 8781 §4: the receiver MUST ignore the option).
    #[error("PREF64 option length {0} (units of 8 octets), expected 2")]
    BadLength(u8),
    /// The Prefix Length Code is 6 or 7 (RFC 8781 §4: the receiver MUST ignore the option).
    #[error("PREF64 prefix length code {0} is not defined")]
    BadPlc(u8),
    /// The prefix length cannot be announced (only 32, 40, 48, 56, 64, 96).
    #[error("prefix length /{0} cannot be announced in PREF64 (32, 40, 48, 56, 64 or 96)")]
    BadPrefixLen(u8),
}

/// A decoded PREF64 option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pref64 {
    prefix: Ipv6Net,
    /// The lifetime in seconds, a multiple of 8.
    lifetime: u32,
}

impl Pref64 {
    /// An option for this prefix, with the lifetime rounded up to a multiple of 8 seconds
    /// and capped at [`MAX_LIFETIME`] (rounding up keeps the prefix valid for at least as
    /// long as asked, RFC 8781 §4 asks for a lifetime of at least 3 × MaxRtrAdvInterval).
    /// Host bits beyond the prefix length are cleared.
    pub fn new(prefix: Ipv6Net, lifetime_secs: u32) -> Result<Self, Pref64Error> {
        if !PLC_LENGTHS.contains(&prefix.prefix_len()) {
            return Err(Pref64Error::BadPrefixLen(prefix.prefix_len()));
        }
        let lifetime = lifetime_secs.min(MAX_LIFETIME).div_ceil(8) * 8;
        Ok(Self { prefix: prefix.trunc(), lifetime })
    }

    /// The announced prefix.
    pub fn prefix(&self) -> Ipv6Net {
        self.prefix
    }

    /// The lifetime in seconds (a multiple of 8; 0 means the prefix is withdrawn).
    pub fn lifetime(&self) -> u32 {
        self.lifetime
    }

    /// The 16-byte option.
    pub fn encode(&self) -> [u8; OPTION_LEN] {
        let plc = PLC_LENGTHS.iter().position(|&l| l == self.prefix.prefix_len()).expect("checked in new") as u16;
        let field = ((self.lifetime / 8) as u16) << 3 | plc;
        let mut out = [0u8; OPTION_LEN];
        out[0] = OPTION_TYPE;
        out[1] = 2;
        out[2..4].copy_from_slice(&field.to_be_bytes());
        out[4..16].copy_from_slice(&self.prefix.addr().octets()[..12]);
        out
    }

    /// Decodes an option (the first 16 bytes of `b`).
    pub fn decode(b: &[u8]) -> Result<Self, Pref64Error> {
        if b.len() < OPTION_LEN {
            return Err(Pref64Error::Truncated(b.len()));
        }
        if b[0] != OPTION_TYPE {
            return Err(Pref64Error::WrongType(b[0]));
        }
        if b[1] != 2 {
            return Err(Pref64Error::BadLength(b[1]));
        }
        let field = u16::from_be_bytes([b[2], b[3]]);
        let plc = (field & 7) as u8;
        let len = *PLC_LENGTHS.get(usize::from(plc)).ok_or(Pref64Error::BadPlc(plc))?;
        let mut octets = [0u8; 16];
        octets[..12].copy_from_slice(&b[4..16]);
        // RFC 8781 §4: bits beyond the prefix length are ignored by the receiver.
        let prefix = Ipv6Net::new(Ipv6Addr::from(octets), len).expect("valid length").trunc();
        Ok(Self { prefix, lifetime: u32::from(field >> 3) * 8 })
    }
}

impl fmt::Display for Pref64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lifetime {}s", self.prefix, self.lifetime)
    }
}

/// One disagreement between the NAT64 prefixes of a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disagreement {
    /// DNS64 synthesizes under a prefix the translator does not translate: clients get
    /// addresses that go nowhere.
    Dns64VsPool6 {
        /// The DNS64 prefix.
        dns64: Ipv6Net,
        /// The translator's pool6.
        pool6: Ipv6Net,
    },
    /// The router announces (RFC 8781) a prefix the translator does not translate: hosts
    /// that synthesize themselves (464XLAT CLAT, RFC 8781 §1) send to the wrong prefix.
    Pref64VsPool6 {
        /// The announced prefix.
        pref64: Ipv6Net,
        /// The translator's pool6.
        pool6: Ipv6Net,
    },
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns64VsPool6 { dns64, pool6 } => {
                write!(f, "DNS64 prefix {dns64} differs from the translator's pool6 {pool6}")
            }
            Self::Pref64VsPool6 { pref64, pool6 } => {
                write!(f, "announced PREF64 {pref64} differs from the translator's pool6 {pool6}")
            }
        }
    }
}

/// Compares the prefix announced in router advertisements, the DNS64 prefix and the
/// translator's pool6; every mismatch with pool6 is reported (prefixes are compared after
/// clearing host bits, so `64:ff9b::1/96` agrees with `64:ff9b::/96`).
pub fn check_agreement(pref64: Option<Ipv6Net>, dns64: Option<Ipv6Net>, pool6: Ipv6Net) -> Vec<Disagreement> {
    let pool6 = pool6.trunc();
    let mut out = Vec::new();
    if let Some(d) = dns64.map(|d| d.trunc()).filter(|d| *d != pool6) {
        out.push(Disagreement::Dns64VsPool6 { dns64: d, pool6 });
    }
    if let Some(p) = pref64.map(|p| p.trunc()).filter(|p| *p != pool6) {
        out.push(Disagreement::Pref64VsPool6 { pref64: p, pool6 });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Ipv6Net {
        s.parse().unwrap()
    }

    /// Vectors built by hand from the RFC 8781 §4 figure and PLC table.
    #[test]
    fn vectors() {
        let cases: [(&str, u32, [u8; 16]); 4] = [
            // 64:ff9b::/96, 600 s = 75 × 8: 75 << 3 | 0 = 0x0258.
            ("64:ff9b::/96", 600, [38, 2, 0x02, 0x58, 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]),
            // 2001:db8::/32, max lifetime: 8191 << 3 | 5 = 0xfffd.
            ("2001:db8::/32", 65528, [38, 2, 0xff, 0xfd, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0]),
            // 2001:db8:122:300::/56, 8 s: 1 << 3 | 2 = 0x000a.
            ("2001:db8:122:300::/56", 8, [38, 2, 0x00, 0x0a, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x22, 0x03, 0, 0, 0, 0, 0]),
            // 2001:db8:122:344::/64, 0 s (withdrawn): PLC 1.
            (
                "2001:db8:122:344::/64",
                0,
                [38, 2, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x22, 0x03, 0x44, 0, 0, 0, 0],
            ),
        ];
        for (p, lt, wire) in cases {
            let o = Pref64::new(net(p), lt).unwrap();
            assert_eq!(o.encode(), wire, "{p}");
            assert_eq!(Pref64::decode(&wire).unwrap(), o, "{p}");
        }
    }

    #[test]
    fn lifetime_rounds_up_and_caps() {
        assert_eq!(Pref64::new(net("64:ff9b::/96"), 1).unwrap().lifetime(), 8);
        assert_eq!(Pref64::new(net("64:ff9b::/96"), 100_000).unwrap().lifetime(), MAX_LIFETIME);
    }

    #[test]
    fn bad_options_refused() {
        let good = Pref64::new(net("64:ff9b::/96"), 600).unwrap().encode();
        assert_eq!(Pref64::decode(&good[..15]), Err(Pref64Error::Truncated(15)));
        let mut b = good;
        b[0] = 3;
        assert_eq!(Pref64::decode(&b), Err(Pref64Error::WrongType(3)));
        let mut b = good;
        b[1] = 3;
        assert_eq!(Pref64::decode(&b), Err(Pref64Error::BadLength(3)));
        for plc in [6u8, 7] {
            let mut b = good;
            b[3] = (b[3] & !7) | plc;
            assert_eq!(Pref64::decode(&b), Err(Pref64Error::BadPlc(plc)));
        }
        assert_eq!(Pref64::new(net("2001:db8::/60"), 8), Err(Pref64Error::BadPrefixLen(60)));
    }

    #[test]
    fn bits_beyond_the_length_ignored() {
        let mut b = Pref64::new(net("2001:db8::/32"), 600).unwrap().encode();
        b[8] = 0xff;
        assert_eq!(Pref64::decode(&b).unwrap().prefix(), net("2001:db8::/32"));
    }

    #[test]
    fn agreement() {
        let wk = net("64:ff9b::/96");
        assert!(check_agreement(Some(wk), Some(wk), wk).is_empty());
        assert!(check_agreement(None, None, wk).is_empty());
        let other = net("2001:db8:64::/96");
        let d = check_agreement(Some(other), Some(other), wk);
        assert_eq!(d.len(), 2);
        assert!(d[0].to_string().contains("DNS64 prefix 2001:db8:64::/96"));
        assert!(d[1].to_string().contains("PREF64"));
    }

    proptest! {
        #[test]
        fn roundtrip(addr in any::<u128>(), li in 0usize..6, lt in 0u32..70_000) {
            let p = Pref64::new(Ipv6Net::new(Ipv6Addr::from(addr), PLC_LENGTHS[li]).unwrap(), lt).unwrap();
            let back = Pref64::decode(&p.encode()).unwrap();
            prop_assert_eq!(back, p);
            prop_assert!(p.lifetime() >= lt.min(MAX_LIFETIME) && p.lifetime().is_multiple_of(8));
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Ok(p) = Pref64::decode(&b) {
                prop_assert_eq!(Pref64::decode(&p.encode()).unwrap(), p);
            }
        }
    }
}
