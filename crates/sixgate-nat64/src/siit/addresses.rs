//! RFC 7915 §4.1 and §5.1 address translation: the stateful override, RFC 7757 EAM, RFC
//! 6052 with pool6, the forbidden, denylisted and well-known-prefix checks, and the RFC
//! 6791 pools for ICMP errors from untranslatable routers.
use std::net::{Ipv4Addr, Ipv6Addr};

use sixgate_core::class::{is_forbidden_v4, is_global_v4};
use sixgate_core::rfc6052;

use crate::reason::SiitDrop;

use SiitDrop as R;

use super::Siit;

impl Siit {
    /// RFC 7915 §4.1 address translation IPv4 → IPv6: EAM first (RFC 7757 §3.3), then
    /// RFC 6052 with pool6.
    #[inline(always)]
    pub(super) fn map46(&self, a: Ipv4Addr, untranslatable: SiitDrop) -> Result<Ipv6Addr, SiitDrop> {
        if let Some((x6, x4)) = self.over {
            if a == x4 {
                return Ok(x6);
            }
        }
        self.map46_plain(a, untranslatable)
    }

    /// [`Siit::map46`] without the stateful override: the source of a packet from the IPv4
    /// side is never a NAT64 client (a hairpinned packet's pool source maps with pool6).
    pub(super) fn map46_plain(&self, a: Ipv4Addr, untranslatable: SiitDrop) -> Result<Ipv6Addr, SiitDrop> {
        // RFC 7915 §4.1: an illegal address is dropped (sixgate_core::class::is_forbidden_v4).
        if is_forbidden_v4(a) {
            return Err(R::ForbiddenAddress);
        }
        if let Some(x) = self.cfg.eamt.v4_to_v6(a) {
            return Ok(x);
        }
        self.map46_rfc6052(a, untranslatable)
    }

    /// The source of a hairpinned packet (and the quoted destination of a hairpinned ICMP
    /// error): RFC 7757 §4 builds it with the RFC 6052 prefix (pool6), never through the
    /// EAMT, so that the receiver's reply (and the quote the sender gets back) goes through
    /// the translator and matches what the sender addressed (RFC 7757 Appendix B). Neither
    /// the stateful override: RFC 6146 §3.8 gives a hairpinned packet the IPv6
    /// representation of its pool source, which is pool6 too.
    pub(super) fn map46_hairpin(&self, a: Ipv4Addr, untranslatable: SiitDrop) -> Result<Ipv6Addr, SiitDrop> {
        if is_forbidden_v4(a) {
            return Err(R::ForbiddenAddress);
        }
        self.map46_rfc6052(a, untranslatable)
    }

    /// RFC 6052 embedding with pool6 (after the forbidden check and EAM, which the callers
    /// do), with the denylist and the well-known prefix's restriction.
    pub(super) fn map46_rfc6052(&self, a: Ipv4Addr, untranslatable: SiitDrop) -> Result<Ipv6Addr, SiitDrop> {
        let Some(pool) = self.cfg.pool6.as_ref() else { return Err(untranslatable) };
        if self.cfg.denylist4.iter().any(|n| n.contains(&a)) {
            return Err(R::DenylistedAddress);
        }
        // RFC 6052 §3.1: the well-known prefix never carries a non-global IPv4 address.
        if pool.is_well_known() && !is_global_v4(a) {
            return Err(R::WellKnownPrefixNonGlobal);
        }
        Ok(rfc6052::embed(pool, a))
    }

    /// RFC 7915 §5.1 address translation IPv6 → IPv4.
    #[inline(always)]
    pub(super) fn map64(&self, a: Ipv6Addr, untranslatable: SiitDrop) -> Result<Ipv4Addr, SiitDrop> {
        if let Some((x6, x4)) = self.over {
            if a == x6 {
                return Ok(x4);
            }
        }
        if let Some(x) = self.cfg.eamt.v6_to_v4(a) {
            // RFC 7915 §5.1: an illegal translated address is dropped.
            return if is_forbidden_v4(x) { Err(R::ForbiddenAddress) } else { Ok(x) };
        }
        let Some(pool) = self.cfg.pool6.as_ref() else { return Err(untranslatable) };
        if !pool.contains(a) {
            return Err(untranslatable);
        }
        let x = rfc6052::extract(pool, a).map_err(|_| untranslatable)?;
        if is_forbidden_v4(x) {
            return Err(R::ForbiddenAddress);
        }
        if self.cfg.denylist4.iter().any(|n| n.contains(&x)) {
            return Err(R::DenylistedAddress);
        }
        if pool.is_well_known() && !is_global_v4(x) {
            return Err(R::WellKnownPrefixNonGlobal);
        }
        Ok(x)
    }

    /// RFC 6791: an IPv4 source for a translated ICMPv6 error whose IPv6 source has no
    /// translation; chosen from the pool by a hash of that source, or the own address.
    pub(super) fn rfc6791_v4(&self, a: Ipv6Addr) -> Ipv4Addr {
        match self.cfg.rfc6791_v4 {
            None => self.cfg.own_ipv4,
            Some(p) => {
                let x = u128::from(a);
                let h = (x as u32) ^ ((x >> 32) as u32) ^ ((x >> 64) as u32) ^ ((x >> 96) as u32);
                let bits = 32 - u32::from(p.prefix_len());
                let off = if bits == 0 { 0 } else { h & (u32::MAX >> (32 - bits)) };
                Ipv4Addr::from(u32::from(p.network()) | off)
            }
        }
    }

    /// The IPv6 counterpart of [`Siit::rfc6791_v4`] for translated ICMPv4 errors.
    pub(super) fn rfc6791_v6(&self, a: Ipv4Addr) -> Ipv6Addr {
        match self.cfg.rfc6791_v6 {
            None => self.cfg.own_ipv6,
            Some(p) => {
                let bits = 128 - u32::from(p.prefix_len());
                let h = u128::from(u32::from(a).wrapping_mul(0x9e37_79b9));
                let off = if bits == 0 {
                    0
                } else if bits >= 32 {
                    h
                } else {
                    h & ((1u128 << bits) - 1)
                };
                Ipv6Addr::from(u128::from(p.network()) | off)
            }
        }
    }
}
