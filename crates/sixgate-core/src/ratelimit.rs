//! A token bucket driven by the caller's clock, for the ICMP errors engines generate
//! (RFC 4443 §2.4(f), RFC 1812 §4.3.2.8). Time is passed in, never read.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sixgate_core::ratelimit::TokenBucket;
//! let mut b = TokenBucket::default();
//! let t = Instant::now();
//! assert!(b.take(t, 10, 2) && b.take(t, 10, 2)); // the burst
//! assert!(!b.take(t, 10, 2));                     // empty at the same instant
//! assert!(b.take(t + Duration::from_millis(100), 10, 2)); // one token per 100 ms
//! ```

use std::time::Instant;

/// Tokens refill continuously at `per_second`, up to `burst`; the bucket starts full.
#[derive(Debug, Clone, Default)]
pub struct TokenBucket {
    /// Tokens × 1,000,000.
    micro: u64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// Takes one token at `now` if there is one. `per_second == 0` means no limit.
    pub fn take(&mut self, now: Instant, per_second: u32, burst: u32) -> bool {
        if per_second == 0 {
            return true;
        }
        let cap = u64::from(burst.max(1)) * 1_000_000;
        match self.last {
            None => self.micro = cap,
            Some(t) => {
                let us = now.saturating_duration_since(t).as_micros().min(u128::from(u64::MAX / 4)) as u64;
                self.micro = self.micro.saturating_add(us.saturating_mul(u64::from(per_second))).min(cap);
            }
        }
        // Time only moves on: a `now` older than the last one (workers sharing a bucket
        // read their clocks at different moments) credits nothing and is not kept, so
        // the same interval is never credited twice.
        self.last = Some(self.last.map_or(now, |t| t.max(now)));
        if self.micro >= 1_000_000 {
            self.micro -= 1_000_000;
            true
        } else {
            false
        }
    }
}

/// The configured limit on the ICMP errors an engine generates (RFC 4443 §2.4(f),
/// RFC 1812 §4.3.2.8): a [`TokenBucket`] refilled at `per_second`, holding at most
/// `burst` errors.
///
/// There is deliberately no `Default`: each engine has its own default, and a single
/// one would silently give the other engine a different limit. Use the engine's
/// constant ([`SIT_DEFAULT`](Self::SIT_DEFAULT), [`NAT64_DEFAULT`](Self::NAT64_DEFAULT))
/// or [`new`](Self::new); each engine's config `Default` uses its own.
///
/// ```
/// use sixgate_core::ratelimit::IcmpRateLimit;
/// assert_eq!(IcmpRateLimit::SIT_DEFAULT, IcmpRateLimit::new(100, 20));
/// assert_eq!(IcmpRateLimit::NAT64_DEFAULT, IcmpRateLimit::new(1000, 100));
/// assert_eq!((IcmpRateLimit::NAT64_DEFAULT.per_second, IcmpRateLimit::NAT64_DEFAULT.burst), (1000, 100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IcmpRateLimit {
    /// Errors per second in the long run; 0 disables the limit.
    pub per_second: u32,
    /// Burst size.
    pub burst: u32,
}

impl IcmpRateLimit {
    /// The 6in4/6to4 tunnel endpoint's default: 100 per second, bursts of 20. A tunnel
    /// endpoint generates only Packet Too Big (RFC 4213 §3.2), and only for its own
    /// senders while they learn the tunnel MTU: each sender needs one per path, so a
    /// low limit costs nothing and keeps a spoofed flood from being reflected.
    pub const SIT_DEFAULT: Self = Self::new(100, 20);

    /// The SIIT/NAT64 translator's default: 1000 per second, bursts of 100. A
    /// translator generates every kind of error (Time Exceeded, Destination
    /// Unreachable, Packet Too Big and Parameter Problem, RFC 7915 §4-5, RFC 6146 §3.5)
    /// in both families for all the hosts behind it, and traceroute and path MTU
    /// discovery through it depend on them, so its limit is ten times the tunnel's.
    pub const NAT64_DEFAULT: Self = Self::new(1000, 100);

    /// A limit of `per_second` errors in the long run (0: unlimited) in bursts of `burst`.
    pub const fn new(per_second: u32, burst: u32) -> Self {
        Self { per_second, burst }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_older_now_credits_nothing_twice() {
        let mut b = TokenBucket::default();
        let t = Instant::now();
        while b.take(t, 10, 1) {}
        let later = t + Duration::from_millis(100);
        assert!(b.take(later, 10, 1), "one token after 100 ms");
        // Interleaved older and newer clocks: no new token until time really passes.
        assert!(!b.take(t + Duration::from_millis(50), 10, 1));
        assert!(!b.take(later, 10, 1), "the 50–100 ms interval was not credited again");
        assert!(b.take(later + Duration::from_millis(100), 10, 1));
    }

    #[test]
    fn rate_and_burst() {
        let mut b = TokenBucket::default();
        let t = Instant::now();
        let n = (0..100).filter(|_| b.take(t, 1000, 5)).count();
        assert_eq!(n, 5, "burst");
        // One second later: refilled to the burst, not beyond.
        let t = t + Duration::from_secs(1);
        assert_eq!((0..100).filter(|_| b.take(t, 1000, 5)).count(), 5);
        // Unlimited.
        assert!((0..1000).all(|_| b.take(t, 0, 0)));
        // A clock that goes backwards adds nothing.
        assert!(!b.take(t - Duration::from_secs(5), 1000, 5));
    }
}
