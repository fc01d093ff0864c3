//! DNS servers: one set of UDP and TCP listeners (the server core) that an authoritative
//! [`AuthServer`] and, with feature `dns64`, the DNS64 server (`Dns64Server`) both run on.
//!
//! The core ([`AuthServer`], feature `dns`) knows nothing of DNS64 or zones: it reads
//! queries, hands them to a [`Responder`] and writes the answers back.
//!
//! - **UDP**: one socket per worker, all bound to the same address with `SO_REUSEPORT`, so
//!   the kernel spreads the clients over the workers and no lock is shared between them;
//!   each socket has its own thread, blocked in the kernel until a datagram comes; it then
//!   reads every datagram waiting with one `recvmmsg` and sends the answers ready with one
//!   `sendmmsg`. An answer that must wait (the DNS64's upstream) is a task of a runtime, so
//!   it never holds up the next query.
//! - **TCP** (RFC 7766): two-byte length framing (RFC 1035 §4.2.2), an idle timeout that
//!   also bounds the time a whole message may take to arrive (§6.2.3), a cap on the
//!   connections of one client (an IPv4 address, an IPv6 /64) and on all of them; when all are taken, the
//!   connection idle for longest is closed for the new one (§6.2.3 lets a server close idle
//!   connections at any time), and only if none is idle is the new one refused.
//!
//! Bounded everywhere: UDP datagrams up to 65535 bytes, TCP messages up to 65535 bytes.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

mod mmsg;
mod server;
pub use server::{AuthServer, ListenOptions, Responder, ResponderHandle};

#[cfg(feature = "dns64")]
mod dns64;
#[cfg(feature = "dns64")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns64")))]
pub use dns64::{Dns64Server, LiveSettings, ServerOptions};
#[cfg(feature = "dns64")]
mod upstream;

/// Counters of a running server (authoritative or DNS64: the counters of the other kind
/// stay at zero).
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Queries received (UDP and TCP).
    pub queries: AtomicUsize,
    /// Answers sent.
    pub answered: AtomicUsize,
    /// Queries not answered (the responder dropped them: a response, no header).
    pub dropped: AtomicUsize,
    /// Answers carrying AAAA records the server synthesized under its prefix (RFC 6147
    /// §5.1.7, and `ipv4only.arpa`, RFC 7050 §3).
    pub synthesized: AtomicUsize,
    /// Upstream exchanges that timed out or failed (answered SERVFAIL).
    pub upstream_failures: AtomicUsize,
    /// The part of [`ServerStats::upstream_failures`] that ran out of time (the upstream
    /// did not answer by the deadline).
    pub upstream_timeouts: AtomicUsize,
    /// Time from a query read to its answer ready, for every query answered.
    pub response_time: ResponseTimes,
    /// Queries answered SERVFAIL at once because too many were waiting for the upstream.
    pub udp_dropped: AtomicUsize,
    /// TCP connections refused (over the per-client cap, or all taken and none idle).
    pub tcp_refused: AtomicUsize,
    /// Idle TCP connections closed to make room for a new one.
    pub tcp_evicted: AtomicUsize,
    /// Answers served from the cache (whole answers, or upstream answers).
    pub cache_hits: AtomicUsize,
    /// Cache lookups that found nothing usable.
    pub cache_misses: AtomicUsize,
    /// Live cached answers removed to make room for new ones.
    pub cache_evictions: AtomicUsize,
    /// Upstream questions that waited for an identical one already asked, instead of being
    /// asked again.
    pub coalesced: AtomicUsize,
    /// Upstream queries sent over UDP (each attempt, after the cache and coalescing; a
    /// retry over TCP after a truncated answer is not counted again).
    pub upstream_queries: AtomicUsize,
}

/// The number of bounded buckets of [`ResponseTimes`].
const BUCKETS: usize = 12;

/// A histogram of response times with fixed buckets, kept in atomics so that the
/// threads answering queries never wait for a reader.
#[derive(Debug, Default)]
pub struct ResponseTimes {
    /// Per bucket of [`ResponseTimes::BOUNDS_MS`]: answers that took at most that long
    /// and more than the bucket before (not cumulative); the last one counts the rest.
    counts: [AtomicU64; BUCKETS + 1],
    sum_micros: AtomicU64,
}

impl ResponseTimes {
    /// The buckets' upper bounds in milliseconds.
    pub const BOUNDS_MS: [u64; BUCKETS] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

    /// Counts one answer that took `d`.
    pub fn observe(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = Self::BOUNDS_MS.iter().position(|&b| micros <= b * 1000).unwrap_or(Self::BOUNDS_MS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The sum in seconds, the count, and the cumulative count at each bound in seconds
    /// (the Prometheus histogram form, without the `+Inf` bucket, which is the count).
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(Self::BOUNDS_MS.len());
        for (i, &b) in Self::BOUNDS_MS.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            buckets.push((b as f64 / 1000.0, cumulative));
        }
        let count = cumulative + self.counts[Self::BOUNDS_MS.len()].load(Ordering::Relaxed);
        (self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6, count, buckets)
    }
}

/// Reads one length-prefixed message (RFC 1035 §4.2.2); `None` at a clean EOF before the
/// length.
pub(crate) async fn read_framed<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 2];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    r.read_exact(&mut msg).await?;
    Ok(Some(msg))
}

/// `msg` behind its two-byte length; an error over 65535 bytes.
pub(crate) fn framed(msg: &[u8]) -> io::Result<Vec<u8>> {
    let len =
        u16::try_from(msg.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "message over 65535 bytes"))?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_time_buckets() {
        let h = ResponseTimes::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_millis(7));
        h.observe(Duration::from_secs(9));
        let (sum, count, b) = h.snapshot();
        assert_eq!(count, 4);
        assert!((sum - 9.0085).abs() < 1e-9, "{sum}");
        assert_eq!(b[0], (0.001, 2));
        assert_eq!(b[3], (0.01, 3));
        assert_eq!(b[11], (5.0, 3));
    }

    #[test]
    fn framing() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let v = framed(b"abc").unwrap();
        assert_eq!(v, [0, 3, b'a', b'b', b'c']);
        rt.block_on(async {
            assert_eq!(read_framed(&mut &v[..]).await.unwrap().unwrap(), b"abc");
            assert!(read_framed(&mut &b""[..]).await.unwrap().is_none());
            assert!(read_framed(&mut &[0u8, 5, 1][..]).await.is_err());
        });
        assert!(framed(&vec![0; 70000]).is_err());
    }
}
