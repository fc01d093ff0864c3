//! The bidirectional copy: each direction reads what is ready into a buffer held only
//! while bytes flow (an idle connection holds no buffer), writes it on, and on end of
//! stream shuts the other side's write half (half-close: the other direction goes on).
//! A connection with no byte in either direction for the idle timeout is closed.

use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::Interest;
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
async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    act: &Activity<'_>,
    idle: Duration,
    bytes: &AtomicU64,
) -> io::Result<()> {
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

/// Waits until `s` is ready for `interest`, giving up after `idle` of no activity on the
/// connection.
async fn ready(s: &TcpStream, interest: Interest, act: &Activity<'_>, idle: Duration) -> io::Result<()> {
    loop {
        match tokio::time::timeout(idle, s.ready(interest)).await {
            Ok(r) => return r.map(drop),
            Err(_) if act.idle_for(idle) => return Err(io::ErrorKind::TimedOut.into()),
            Err(_) => {}
        }
    }
}

/// Empty pipes for the splice copy, shared by all connections: a connection takes one
/// for a burst and gives it back empty, so idle connections hold no pipe (a pipe is two
/// descriptors).
static PIPES: std::sync::Mutex<Vec<(OwnedFd, OwnedFd)>> = std::sync::Mutex::new(Vec::new());

/// The most empty pipes kept for reuse.
const POOLED_PIPES: usize = 256;

fn take_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::OFlag;
    if let Some(p) = PIPES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop() {
        return Ok(p);
    }
    nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).map_err(io::Error::from)
}

fn give_pipe(p: (OwnedFd, OwnedFd)) {
    let mut pool = PIPES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if pool.len() < POOLED_PIPES {
        pool.push(p);
    }
}

/// [`pump`] with splice(2): socket → pipe → socket, the bytes never copied to user space.
/// A pipe is held only while a burst is in flight (see [`PIPES`]).
async fn pump_splice(
    from: &TcpStream,
    to: &TcpStream,
    act: &Activity<'_>,
    idle: Duration,
    bytes: &AtomicU64,
) -> io::Result<()> {
    use nix::fcntl::{splice, SpliceFFlags};
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    loop {
        ready(from, Interest::READABLE, act, idle).await?;
        let (pr, pw) = take_pipe()?;
        // The pipe is empty here: EAGAIN can only mean the socket has nothing.
        let n = match from
            .try_io(Interest::READABLE, || splice(from, None, &pw, None, CHUNK, flags).map_err(io::Error::from))
        {
            Ok(0) => {
                give_pipe((pr, pw));
                shutdown_write(to);
                return Ok(());
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                give_pipe((pr, pw));
                continue;
            }
            Err(e) => return Err(e),
        };
        act.touch();
        let mut left = n;
        while left > 0 {
            // On an error the pipe (not empty) is closed with the connection.
            match to.try_io(Interest::WRITABLE, || splice(&pr, None, to, None, left, flags).map_err(io::Error::from)) {
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready(to, Interest::WRITABLE, act, idle).await?,
                Err(e) => return Err(e),
            }
        }
        give_pipe((pr, pw));
        bytes.fetch_add(n as u64, Ordering::Relaxed);
        act.touch();
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
    zero_copy: bool,
) -> io::Result<()> {
    let act = Activity { epoch, last: AtomicU64::new(0) };
    act.touch();
    if zero_copy {
        return tokio::try_join!(
            pump_splice(client, backend, &act, idle, &stats.bytes_to_backend),
            pump_splice(backend, client, &act, idle, &stats.bytes_to_client),
        )
        .map(|_| ());
    }
    tokio::try_join!(
        pump(client, backend, &act, idle, &stats.bytes_to_backend),
        pump(backend, client, &act, idle, &stats.bytes_to_client),
    )
    .map(|_| ())
}
