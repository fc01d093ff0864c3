//! The bidirectional copy: each direction reads what is ready into a buffer held only
//! while bytes flow (an idle connection holds no buffer), writes it on, and on end of
//! stream shuts the other side's write half (half-close: the other direction goes on).
//! A connection with no byte in either direction for the idle timeout is closed.

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::Stats;

/// Bytes read at once.
const CHUNK: usize = 64 * 1024;

/// Shuts the write half of `s` (FIN), ignoring errors (the peer may be gone).
pub(super) fn shutdown_write(s: &TcpStream) {
    let _ = super::sock(s).shutdown(Shutdown::Write);
}

/// Writes all of `data`, giving up after `idle` without progress.
pub(super) async fn write_all(to: &TcpStream, mut data: &[u8], idle: Duration) -> io::Result<()> {
    while !data.is_empty() {
        match to.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tokio::time::timeout(idle, to.writable())
                    .await
                    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The time of the last byte, in milliseconds since `epoch`, shared by both directions.
struct Activity<'a> {
    epoch: &'a Instant,
    last: AtomicU64,
}

impl Activity<'_> {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
    fn touch(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
    }
    /// Whether nothing moved for `idle`.
    fn idle_for(&self, idle: Duration) -> bool {
        self.now().saturating_sub(self.last.load(Ordering::Relaxed)) >= idle.as_millis() as u64
    }
}

/// Copies `from` → `to` until end of stream (then shuts `to`'s write half) or an error.
async fn pump(from: &TcpStream, to: &TcpStream, act: &Activity<'_>, idle: Duration, bytes: &AtomicU64) -> io::Result<()> {
    loop {
        // Wait for bytes; the idle timeout counts both directions' activity.
        loop {
            match tokio::time::timeout(idle, from.readable()).await {
                Ok(r) => {
                    r?;
                    break;
                }
                Err(_) if act.idle_for(idle) => return Err(io::ErrorKind::TimedOut.into()),
                Err(_) => {}
            }
        }
        let mut buf = Vec::with_capacity(CHUNK);
        loop {
            buf.clear();
            match from.try_read_buf(&mut buf) {
                Ok(0) => {
                    shutdown_write(to);
                    return Ok(());
                }
                Ok(n) => {
                    act.touch();
                    write_all(to, &buf, idle).await?;
                    bytes.fetch_add(n as u64, Ordering::Relaxed);
                    act.touch();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Copies both ways until both have ended; the first error (or the idle timeout,
/// `TimedOut`) ends both.
pub(super) async fn bidirectional(
    client: &TcpStream,
    backend: &TcpStream,
    idle: Duration,
    epoch: &Instant,
    stats: &Stats,
) -> io::Result<()> {
    let act = Activity { epoch, last: AtomicU64::new(0) };
    act.touch();
    tokio::try_join!(
        pump(client, backend, &act, idle, &stats.bytes_to_backend),
        pump(backend, client, &act, idle, &stats.bytes_to_client),
    )
    .map(|_| ())
}
