//! The stateful NAT64's event log: BIB and session events
//! ([`sixgate_nat64::NatEvent`]) from the workers to one logging thread, which
//! writes them as JSON Lines to a file or as RFC 5424 syslog messages.
//!
//! The data path never waits for the log (RFC 6888 REQ-12 asks for logging; nothing asks
//! that it slow translation down): each worker's engine is wrapped in [`Logged`], which
//! after every call to the engine moves its events into a bounded channel with a
//! non-blocking send; when the channel is full the event is dropped and counted
//! ([`NatLogStats::dropped`]). The logging thread runs at a lower priority (nice +10) and
//! polls the channel (so a send never has to wake it); it maps each event's `Instant` to
//! wall-clock time, formats it and writes it; a file is reopened by path on
//! [`NatLog::reopen`] (SIGHUP, after logrotate moved it).
//!
//! One JSON object per event, the fields of RFC 6888 REQ-12 and of Jool's BIB and session
//! logs (session events also name the remote side, as the IPv6 client addressed it and as
//! IPv4):
//!
//! ```text
//! {"time":"2026-01-02T14:02:03.456Z","event":"session-add","proto":"tcp","src6":"2001:db8::10","sport6":40000,"pool4":"198.51.100.1","port4":40123,"dst6":"64:ff9b:1::cb00:7105","dst4":"203.0.113.5","dport":443}
//! ```
//!
//! As syslog (RFC 5424, facility local0, severity info, app-name `sixgate`, msgid the
//! event's name) the message is that JSON object, over the local `/dev/log` datagram
//! socket or UDP to a collector.
//!
//! Port-block events (one line per block) take the same way once the engine records them:
//! a [`Record`] is what the channel carries.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Counters, Engine, Gauge, Side, Verdict};
use sixgate_core::Protocol;
use sixgate_nat64::{BlockEvent, BlockEventKind, Nat64, Nat64Handle, NatEvent};

/// Events waiting for the logging thread at most, by default; more are dropped and counted.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// How long the logging thread sleeps when the channel is empty: at 1,000,000 events a
/// second, 20,000 arrive meanwhile, well within [`DEFAULT_CAPACITY`].
const POLL: Duration = Duration::from_millis(20);

/// Where the log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// JSON Lines appended to this file (reopened by [`NatLog::reopen`]).
    File(PathBuf),
    /// RFC 5424 messages to the local syslog datagram socket at this path (`/dev/log`).
    SyslogLocal(PathBuf),
    /// RFC 5424 messages over UDP to this collector (RFC 5426).
    SyslogUdp(SocketAddr),
}

/// What the channel carries: an engine's event, or an order to the logging thread.
#[derive(Debug, Clone)]
pub enum Record {
    /// A BIB or session event.
    Nat(NatEvent),
    /// A port block allocated or released (port-block mode: one line per block).
    Block(BlockEvent),
    /// Reopen the file (sent by [`NatLog::reopen`], in order with the events).
    Reopen,
    /// Stop once what came before is written ([`NatLog::shutdown`]).
    Stop,
}

/// The log's counters, shared by the workers and the logging thread.
#[derive(Debug, Default)]
pub struct NatLogStats {
    /// Events written.
    pub logged: AtomicU64,
    /// Events dropped because the channel to the logging thread was full.
    pub dropped: AtomicU64,
    /// Events the sink refused (a write error; the thread goes on with the next one).
    pub write_errors: AtomicU64,
}

impl NatLogStats {
    /// (logged, dropped, write errors) now.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.logged.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
            self.write_errors.load(Ordering::Relaxed),
        )
    }
}

/// A worker's end of the channel: sends never block.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: SyncSender<Record>,
    stats: Arc<NatLogStats>,
}

impl EventSender {
    /// Hands `e` to the logging thread, or drops and counts it when the channel is full
    /// (or the thread has gone).
    #[inline]
    pub fn send(&self, e: NatEvent) {
        self.record(Record::Nat(e));
    }

    /// Hands a port-block event to the logging thread, as [`EventSender::send`].
    #[inline]
    pub fn send_block(&self, e: BlockEvent) {
        self.record(Record::Block(e));
    }

    #[inline]
    fn record(&self, r: Record) {
        match self.tx.try_send(r) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Has the log file reopened ([`NatLog::reopener`]).
#[derive(Debug, Clone)]
pub struct Reopener(SyncSender<Record>);

impl Reopener {
    /// As [`NatLog::reopen`].
    pub fn reopen(&self) {
        let _ = self.0.send(Record::Reopen);
    }
}

/// The event log: the channel, its counters and (once started) the logging thread.
#[derive(Debug)]
pub struct NatLog {
    tx: Option<SyncSender<Record>>,
    rx: Option<Receiver<Record>>,
    out: Option<Out>,
    stats: Arc<NatLogStats>,
    thread: Option<JoinHandle<()>>,
}

impl NatLog {
    /// Opens `sink` (so that a file that cannot be created or a socket that cannot be
    /// reached fails at start) with a channel of `capacity` events. Events sent before
    /// [`NatLog::start`] wait in the channel.
    pub fn open(sink: &Sink, capacity: usize) -> io::Result<Self> {
        let out = Out::open(sink)?;
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        Ok(Self { tx: Some(tx), rx: Some(rx), out: Some(out), stats: Arc::default(), thread: None })
    }

    /// A sender for a worker.
    pub fn sender(&self) -> Option<EventSender> {
        Some(EventSender { tx: self.tx.clone()?, stats: Arc::clone(&self.stats) })
    }

    /// The counters.
    pub fn stats(&self) -> Arc<NatLogStats> {
        Arc::clone(&self.stats)
    }

    /// Starts the logging thread (once).
    pub fn start(&mut self) -> io::Result<()> {
        let (Some(rx), Some(out)) = (self.rx.take(), self.out.take()) else { return Ok(()) };
        let stats = Arc::clone(&self.stats);
        self.thread = Some(std::thread::Builder::new().name("natlog".into()).spawn(move || {
            yield_to_workers();
            run(rx, out, &stats, false)
        })?);
        Ok(())
    }

    /// Has the file reopened by its path after the events sent so far (logrotate moved
    /// it; SIGHUP). Waits for room in the channel: call it from a control thread, not a
    /// worker. Nothing for syslog.
    pub fn reopen(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Record::Reopen);
        }
    }

    /// A handle that does [`NatLog::reopen`] from another thread (the signal handler's).
    /// The thread ends only once it has gone too.
    pub fn reopener(&self) -> Option<Reopener> {
        self.tx.clone().map(Reopener)
    }

    /// Writes what the channel holds (stop the workers first: what they send later is
    /// dropped and counted) and stops the thread.
    pub fn shutdown(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let (Some(tx), Some(_)) = (self.tx.take(), &self.thread) {
            // Senders may remain (a reopener): the thread is told to stop.
            let _ = tx.send(Record::Stop);
        }
        if self.thread.is_none() {
            // Never started: write what waits, here.
            if let (Some(rx), Some(out)) = (self.rx.take(), self.out.take()) {
                run(rx, out, &self.stats, true);
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for NatLog {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The logging thread: writes records until told to stop or every sender has gone (with
/// `until_empty`, until the channel is empty), flushing whenever the channel is empty.
fn run(rx: Receiver<Record>, mut out: Out, stats: &NatLogStats, until_empty: bool) {
    let mut line = String::with_capacity(256);
    let mut clock = Clock::now();
    loop {
        let r = match rx.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) if !until_empty => {
                // Polled, never parked: a worker's send then never has to wake this thread
                // (a futex call per event, on the data path).
                out.flush(stats);
                std::thread::sleep(POLL);
                clock = Clock::now();
                continue;
            }
            Err(_) => break,
        };
        match r {
            Record::Nat(e) => {
                line.clear();
                let at = clock.wall(e.time);
                json(&mut line, &e, at);
                match out.write(&line, e.kind.name(), at) {
                    Ok(()) => stats.logged.fetch_add(1, Ordering::Relaxed),
                    Err(_) => stats.write_errors.fetch_add(1, Ordering::Relaxed),
                };
            }
            Record::Block(b) => {
                line.clear();
                let at = clock.wall(b.time);
                json_block(&mut line, &b, at);
                match out.write(&line, block_name(b.kind), at) {
                    Ok(()) => stats.logged.fetch_add(1, Ordering::Relaxed),
                    Err(_) => stats.write_errors.fetch_add(1, Ordering::Relaxed),
                };
            }
            Record::Reopen => {
                out.flush(stats);
                if out.reopen().is_err() {
                    stats.write_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Record::Stop => break,
        }
    }
    out.flush(stats);
}

/// Lowers the calling thread's scheduling priority (nice +10): on a machine short of CPU
/// the workers come first, and the log falls behind (and drops, counted) instead.
fn yield_to_workers() {
    #[allow(unsafe_code)]
    // SAFETY: setpriority(2) takes plain integers and touches no memory of ours; on Linux
    // `PRIO_PROCESS` with id 0 means the calling thread. Failure (EACCES) leaves the
    // priority as it was, which is harmless.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
}

/// `Instant` → wall-clock time, from one reading of both clocks.
#[derive(Debug, Clone, Copy)]
struct Clock {
    mono: Instant,
    wall: SystemTime,
}

impl Clock {
    fn now() -> Self {
        Self { mono: Instant::now(), wall: SystemTime::now() }
    }
    fn wall(&self, t: Instant) -> SystemTime {
        match t.checked_duration_since(self.mono) {
            Some(d) => self.wall + d,
            None => self.wall - self.mono.duration_since(t),
        }
    }
}

/// An open sink.
#[derive(Debug)]
enum Out {
    File { path: PathBuf, w: BufWriter<File> },
    Unix { path: PathBuf, sock: UnixDatagram, host: String },
    Udp { sock: UdpSocket, host: String },
}

/// A datagram socket connected to the local syslog socket at `path`.
fn local(path: &PathBuf) -> io::Result<UnixDatagram> {
    let sock = UnixDatagram::unbound()?;
    sock.connect(path)?;
    Ok(sock)
}

fn append(path: &PathBuf) -> io::Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(64 * 1024, OpenOptions::new().create(true).append(true).open(path)?))
}

/// This host's name for syslog's HOSTNAME field (RFC 5424 §6.2.4: `-` when unknown).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "-".into())
}

impl Out {
    fn open(sink: &Sink) -> io::Result<Self> {
        Ok(match sink {
            Sink::File(path) => Self::File { path: path.clone(), w: append(path)? },
            Sink::SyslogLocal(path) => Self::Unix { path: path.clone(), sock: local(path)?, host: hostname() },
            Sink::SyslogUdp(to) => {
                let any: SocketAddr = if to.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let sock = UdpSocket::bind(any)?;
                sock.connect(to)?;
                Self::Udp { sock, host: hostname() }
            }
        })
    }

    fn write(&mut self, json: &str, msgid: &str, at: SystemTime) -> io::Result<()> {
        match self {
            Self::File { w, .. } => {
                w.write_all(json.as_bytes())?;
                w.write_all(b"\n")
            }
            Self::Unix { path, sock, host } => {
                let m = syslog(host, msgid, at, json);
                if sock.send(m.as_bytes()).is_ok() {
                    return Ok(());
                }
                // The syslog daemon restarted (a new socket at the path): connect again, once.
                *sock = local(path)?;
                sock.send(m.as_bytes()).map(drop)
            }
            Self::Udp { sock, host } => sock.send(syslog(host, msgid, at, json).as_bytes()).map(drop),
        }
    }

    fn flush(&mut self, stats: &NatLogStats) {
        if let Self::File { w, .. } = self {
            if w.flush().is_err() {
                stats.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn reopen(&mut self) -> io::Result<()> {
        if let Self::File { path, w } = self {
            *w = append(path)?;
        }
        Ok(())
    }
}

/// An RFC 5424 message (§6): `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`, with
/// facility local0 (16) and severity informational (6): PRI 134.
fn syslog(host: &str, msgid: &str, at: SystemTime, msg: &str) -> String {
    let mut s = String::with_capacity(msg.len() + 80);
    s.push_str("<134>1 ");
    rfc3339(&mut s, at);
    s.push_str(&format!(" {host} sixgate {} {msgid} - {msg}", std::process::id()));
    s
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        _ => "icmp",
    }
}

/// The event as one JSON object (every value is an address, a number or a fixed name:
/// nothing to escape).
fn json(s: &mut String, e: &NatEvent, at: SystemTime) {
    use std::fmt::Write as _;
    s.push_str("{\"time\":\"");
    rfc3339(s, at);
    let _ = write!(
        s,
        "\",\"event\":\"{}\",\"proto\":\"{}\",\"src6\":\"{}\",\"sport6\":{},\"pool4\":\"{}\",\"port4\":{}",
        e.kind.name(),
        proto_name(e.protocol),
        e.ipv6,
        e.ipv6_port,
        e.pool4,
        e.pool4_port
    );
    if let Some(r) = e.remote {
        let _ = write!(s, ",\"dst6\":\"{}\",\"dst4\":\"{}\",\"dport\":{}", r.ipv6, r.ipv4, r.port);
    }
    s.push('}');
}

/// The stable name of a port-block event (the JSON `event` and the syslog MSGID).
fn block_name(k: BlockEventKind) -> &'static str {
    match k {
        BlockEventKind::Allocated => "block-add",
        BlockEventKind::Released => "block-del",
    }
}

/// A port-block event as one JSON object: who (the subscriber prefix) held which pool4
/// address and ports from when to when (RFC 7422 §1, RFC 6888 REQ-12).
fn json_block(s: &mut String, e: &BlockEvent, at: SystemTime) {
    use std::fmt::Write as _;
    s.push_str("{\"time\":\"");
    rfc3339(s, at);
    let _ = write!(
        s,
        "\",\"event\":\"{}\",\"subscriber\":\"{}\",\"pool4\":\"{}\",\"ports\":\"{}-{}\"}}",
        block_name(e.kind),
        e.subscriber,
        e.ipv4,
        e.ports.start(),
        e.ports.end()
    );
}

/// `at` as RFC 3339 UTC with milliseconds (`2026-01-02T14:02:03.456Z`).
fn rfc3339(s: &mut String, at: SystemTime) {
    use std::fmt::Write as _;
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        s,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    );
}

/// An engine that records BIB and session events.
pub trait EventSource {
    /// The oldest event not yet taken.
    fn poll_event(&mut self) -> Option<NatEvent>;

    /// The oldest port-block event not yet taken (none by default: no port blocks).
    fn poll_block_event(&mut self) -> Option<BlockEvent> {
        None
    }
}

impl EventSource for Nat64 {
    #[inline]
    fn poll_event(&mut self) -> Option<NatEvent> {
        Self::poll_event(self)
    }

    fn poll_block_event(&mut self) -> Option<BlockEvent> {
        Self::poll_block_event(self)
    }
}

impl EventSource for Nat64Handle {
    #[inline]
    fn poll_event(&mut self) -> Option<NatEvent> {
        Self::poll_event(self)
    }

    fn poll_block_event(&mut self) -> Option<BlockEvent> {
        Self::poll_block_event(self)
    }
}

/// A worker's sign of life: the time of its latest publication of counters (the worker
/// loop publishes at least every 100 ms, busy or idle), for a health check.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat(Arc<AtomicU64>);

/// The time base of heartbeats (the first use).
fn beat_base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

impl Heartbeat {
    /// A heartbeat that has not beaten yet.
    pub fn new() -> Self {
        beat_base();
        Self::default()
    }

    /// Now.
    pub fn beat(&self) {
        let ms = beat_base().elapsed().as_millis() as u64;
        self.0.store(ms.max(1), Ordering::Relaxed);
    }

    /// Time since the latest beat (none: it never beat).
    pub fn age(&self) -> Option<Duration> {
        let at = self.0.load(Ordering::Relaxed);
        (at != 0).then(|| beat_base().elapsed().saturating_sub(Duration::from_millis(at)))
    }
}

/// The stateless translator records nothing.
impl EventSource for sixgate_nat64::Siit {
    #[inline]
    fn poll_event(&mut self) -> Option<NatEvent> {
        None
    }
}

/// An engine whose events go to the log: after each [`Engine::process`] and
/// [`Engine::handle_timeout`], what the engine recorded is handed to the logging thread
/// (never waiting). Without a sender it is the engine alone (one branch per call). With a
/// [`Heartbeat`], each publication of the worker's counters beats it.
#[derive(Debug)]
pub struct Logged<E> {
    engine: E,
    log: Option<EventSender>,
    beat: Option<Heartbeat>,
}

impl<E: Engine + EventSource> Logged<E> {
    /// `engine`, its events sent to `log` (none: not logged).
    pub fn new(engine: E, log: Option<EventSender>) -> Self {
        Self { engine, log, beat: None }
    }

    /// Beats `beat` at each publication of the worker's counters.
    pub fn with_heartbeat(mut self, beat: Heartbeat) -> Self {
        self.beat = Some(beat);
        self
    }

    /// The engine (to reconfigure it on a reload).
    pub fn get_mut(&mut self) -> &mut E {
        &mut self.engine
    }

    #[inline]
    fn drain(&mut self) {
        if let Some(log) = &self.log {
            while let Some(e) = self.engine.poll_event() {
                log.send(e);
            }
        }
    }

    /// Port-block events, rarer than packets: taken at each counter publication and
    /// timer (a sharded engine locks its shards for them).
    fn drain_blocks(&mut self) {
        if let Some(log) = &self.log {
            while let Some(e) = self.engine.poll_block_event() {
                log.send_block(e);
            }
        }
    }
}

impl<E: Engine + EventSource> Engine for Logged<E> {
    type Reason = E::Reason;

    #[inline(always)]
    fn process(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<E::Reason> {
        let v = self.engine.process(buf, now);
        self.drain();
        v
    }

    #[inline]
    fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
        self.engine.poll_transmit(buf)
    }

    #[inline]
    fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    #[inline]
    fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
        self.drain();
        self.drain_blocks();
    }

    #[inline]
    fn counters(&self) -> &Counters<E::Reason> {
        self.engine.counters()
    }

    fn sync_counters(&mut self) {
        self.engine.sync_counters();
        // Events a transmit-time hairpin recorded.
        self.drain();
        self.drain_blocks();
        if let Some(b) = &self.beat {
            b.beat();
        }
    }

    fn gauges(&self, out: &mut Vec<Gauge>) {
        self.engine.gauges(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        let mut s = String::new();
        rfc3339(&mut s, UNIX_EPOCH + Duration::from_millis(1_767_362_523_456));
        assert_eq!(s, "2026-01-02T14:02:03.456Z");
        s.clear();
        rfc3339(&mut s, UNIX_EPOCH + Duration::from_secs(951_782_400)); // a leap day
        assert_eq!(s, "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn syslog_header_is_rfc5424() {
        let m = syslog("gw1", "bib-add", UNIX_EPOCH, "{}");
        assert_eq!(m, format!("<134>1 1970-01-01T00:00:00.000Z gw1 sixgate {} bib-add - {{}}", std::process::id()));
    }
}
