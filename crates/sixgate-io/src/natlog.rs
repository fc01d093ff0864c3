//! The stateful NAT64's event log: BIB and session events
//! ([`sixgate_nat64::NatEvent`]) from the workers to one logging thread, which
//! writes them as JSON Lines to a file or as RFC 5424 syslog messages.
//!
//! The data path never waits for the log (RFC 6888 REQ-12 asks for logging; nothing asks
//! that it slow translation down): each worker's engine is wrapped in [`Logged`], which
//! after every call to the engine takes its events into the worker's batch and hands a
//! batch ([`BATCH`] events, or what there is at each publication of the worker's counters)
//! to a bounded channel with a non-blocking send; what the channel has no room for is
//! dropped and counted, event by event ([`NatLogStats::dropped`]). Each worker's events
//! keep their order. The logging thread runs at a lower priority (nice +10) and polls the
//! channel (so a send never has to wake it); it maps each event's `Instant` to wall-clock
//! time, formats it without allocating (the date worked out once a second) and writes it
//! (a file through a 256 KiB buffer); a file is reopened by path on [`NatLog::reopen`]
//! (SIGHUP, after logrotate moved it).
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
//! a batch of [`Record`]s is what the channel carries.
//!
//! A third sink, alone or besides one of those, sends the events as IPFIX NAT events
//! (RFC 7011 messages with RFC 8158's information elements, [`ipfix`]) over UDP to a
//! collector: the logging thread encodes them into messages of at most 512 bytes and
//! sends one whenever it is full or the channel is empty.

pub mod ipfix;

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Counters, Engine, Gauge, Side, Verdict};
use sixgate_core::text::{push_decimal, push_v4, push_v6};
use sixgate_core::Protocol;
use sixgate_nat64::{BlockEvent, BlockEventKind, Nat64, Nat64Handle, NatEvent};

/// Events waiting for the logging thread at most, by default; more are dropped and counted.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// Events a [`Logged`] engine gathers before it hands them over as one batch (it also
/// hands over what it holds at each publication of the worker's counters, at each timer
/// and when it is dropped). One channel operation per batch, not per event.
pub const BATCH: usize = 256;

/// How long the logging thread sleeps when the channel is empty: at 1,000,000 events a
/// second, 20,000 arrive meanwhile, well within [`DEFAULT_CAPACITY`].
const POLL: Duration = Duration::from_millis(20);

/// How long it sleeps instead when the round before took at least an eighth of the
/// capacity: the events come fast, the queue is given less time to fill.
const POLL_BUSY: Duration = Duration::from_millis(2);

/// Bytes the file sink gathers before a write(2) (and whenever the channel is empty).
const FILE_BUFFER: usize = 256 * 1024;

/// Where the log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// JSON Lines appended to this file (reopened by [`NatLog::reopen`]).
    File(PathBuf),
    /// RFC 5424 messages to the local syslog datagram socket at this path (`/dev/log`).
    SyslogLocal(PathBuf),
    /// RFC 5424 messages over UDP to this collector (RFC 5426).
    SyslogUdp(SocketAddr),
    /// IPFIX NAT events (RFC 7011, RFC 8158) over UDP to this collector.
    Ipfix {
        /// The collector.
        collector: SocketAddr,
        /// The Observation Domain ID of the messages (RFC 7011 §3.1).
        domain: u32,
    },
}

/// One event of a batch, as the channel carries it.
#[derive(Debug, Clone)]
pub enum Record {
    /// A BIB or session event.
    Nat(NatEvent),
    /// A port block allocated or released (port-block mode: one line per block).
    Block(BlockEvent),
}

/// What the channel carries: a worker's batch of events (in its order), or an order to
/// the logging thread.
#[derive(Debug)]
enum Msg {
    Batch(Vec<Record>),
    /// Reopen the file (sent by [`NatLog::reopen`], in order with the batches).
    Reopen,
    /// Stop once what came before is written ([`NatLog::shutdown`]).
    Stop,
}

/// The log's counters, shared by the workers and the logging thread.
#[derive(Debug, Default)]
pub struct NatLogStats {
    /// Events written (by every sink; an IPFIX message that could not be sent counts its
    /// events as write errors too).
    pub logged: AtomicU64,
    /// Events dropped because the channel to the logging thread was full (a batch that
    /// did not fit counts each event it lost).
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

/// The bound on events in the channel, counted in events whatever the batches: room is
/// taken by a worker before it sends and given back by the logging thread once the
/// batch is written, so the memory held stays bounded by the capacity.
#[derive(Debug)]
struct Gate {
    queued: AtomicUsize,
    capacity: usize,
}

impl Gate {
    /// Takes room for up to `n` events: how many it got (the first ones of a batch).
    #[inline]
    fn reserve(&self, n: usize) -> usize {
        let mut got = 0;
        let _ = self.queued.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
            got = n.min(self.capacity.saturating_sub(q));
            (got > 0).then_some(q + got)
        });
        got
    }

    #[inline]
    fn release(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
    }
}

/// A worker's end of the channel: sends never block.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: SyncSender<Msg>,
    stats: Arc<NatLogStats>,
    gate: Arc<Gate>,
}

impl EventSender {
    /// Hands `e` to the logging thread, or drops and counts it when the channel is full
    /// (or the thread has gone). A batch of one: a worker with many events sends them
    /// with [`EventSender::send_batch`] (as [`Logged`] does).
    #[inline]
    pub fn send(&self, e: NatEvent) {
        self.send_batch(vec![Record::Nat(e)]);
    }

    /// Hands a port-block event to the logging thread, as [`EventSender::send`].
    #[inline]
    pub fn send_block(&self, e: BlockEvent) {
        self.send_batch(vec![Record::Block(e)]);
    }

    /// Hands `batch` to the logging thread, which writes its events in their order after
    /// those of the batches this sender sent before. As many of its first events as the
    /// channel has room for go; the rest are dropped and counted, one by one.
    pub fn send_batch(&self, mut batch: Vec<Record>) {
        let n = batch.len();
        if n == 0 {
            return;
        }
        let room = self.gate.reserve(n);
        if room < n {
            self.stats.dropped.fetch_add((n - room) as u64, Ordering::Relaxed);
            if room == 0 {
                return;
            }
            batch.truncate(room);
        }
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(Msg::Batch(batch)) {
            self.gate.release(room);
            self.stats.dropped.fetch_add(room as u64, Ordering::Relaxed);
        }
    }
}

/// Has the log file reopened ([`NatLog::reopener`]).
#[derive(Debug, Clone)]
pub struct Reopener(SyncSender<Msg>);

impl Reopener {
    /// As [`NatLog::reopen`].
    pub fn reopen(&self) {
        let _ = self.0.send(Msg::Reopen);
    }
}

/// The event log: the channel, its counters and (once started) the logging thread.
#[derive(Debug)]
pub struct NatLog {
    tx: Option<SyncSender<Msg>>,
    rx: Option<Receiver<Msg>>,
    out: Option<Vec<Out>>,
    stats: Arc<NatLogStats>,
    gate: Arc<Gate>,
    thread: Option<JoinHandle<()>>,
}

impl NatLog {
    /// Opens `sink` (so that a file that cannot be created or a socket that cannot be
    /// reached fails at start) with a channel of `capacity` events. Events sent before
    /// [`NatLog::start`] wait in the channel.
    pub fn open(sink: &Sink, capacity: usize) -> io::Result<Self> {
        Self::open_all(std::slice::from_ref(sink), capacity)
    }

    /// [`NatLog::open`] with several sinks, each getting every event (a file or syslog,
    /// and IPFIX to a collector).
    pub fn open_all(sinks: &[Sink], capacity: usize) -> io::Result<Self> {
        if sinks.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no sink for the event log"));
        }
        let out = sinks.iter().map(Out::open).collect::<io::Result<Vec<_>>>()?;
        let capacity = capacity.max(1);
        // Every batch holds at least one event: as many slots as events never run out
        // first (but for the few orders a control thread sends, which wait for room).
        let (tx, rx) = mpsc::sync_channel(capacity);
        Ok(Self {
            tx: Some(tx),
            rx: Some(rx),
            out: Some(out),
            stats: Arc::default(),
            gate: Arc::new(Gate { queued: AtomicUsize::new(0), capacity }),
            thread: None,
        })
    }

    /// A sender for a worker.
    pub fn sender(&self) -> Option<EventSender> {
        Some(EventSender { tx: self.tx.clone()?, stats: Arc::clone(&self.stats), gate: Arc::clone(&self.gate) })
    }

    /// The counters.
    pub fn stats(&self) -> Arc<NatLogStats> {
        Arc::clone(&self.stats)
    }

    /// Starts the logging thread (once).
    pub fn start(&mut self) -> io::Result<()> {
        let (Some(rx), Some(out)) = (self.rx.take(), self.out.take()) else { return Ok(()) };
        let (stats, gate) = (Arc::clone(&self.stats), Arc::clone(&self.gate));
        self.thread = Some(std::thread::Builder::new().name("natlog".into()).spawn(move || {
            yield_to_workers();
            run(rx, out, &stats, &gate, false)
        })?);
        Ok(())
    }

    /// Has the file reopened by its path after the events sent so far (logrotate moved
    /// it; SIGHUP). Waits for room in the channel: call it from a control thread, not a
    /// worker. Nothing for syslog; an IPFIX collector gets the templates again. Events a worker still gathers for its next batch go
    /// to the new file.
    pub fn reopen(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Reopen);
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
            let _ = tx.send(Msg::Stop);
        }
        if self.thread.is_none() {
            // Never started: write what waits, here.
            if let (Some(rx), Some(out)) = (self.rx.take(), self.out.take()) {
                run(rx, out, &self.stats, &self.gate, true);
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

/// The logging thread: writes batches until told to stop or every sender has gone (with
/// `until_empty`, until the channel is empty), flushing whenever the channel is empty.
fn run(rx: Receiver<Msg>, mut outs: Vec<Out>, stats: &NatLogStats, gate: &Gate, until_empty: bool) {
    let mut line = Vec::with_capacity(512);
    let mut clock = Clock::now();
    let mut stamp = Stamp::default();
    // Events taken since the last sleep.
    let mut round = 0usize;
    loop {
        let m = match rx.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Empty) if !until_empty => {
                // Polled, never parked: a worker's send then never has to wake this thread
                // (a futex call per batch, on the data path).
                for out in &mut outs {
                    out.flush(stats);
                }
                let busy = round >= gate.capacity / 8;
                std::thread::sleep(if busy { POLL_BUSY } else { POLL });
                round = 0;
                clock = Clock::now();
                continue;
            }
            Err(_) => break,
        };
        match m {
            Msg::Batch(batch) => {
                let (mut ok, mut failed) = (0u64, 0u64);
                for r in &batch {
                    let (at, msgid) = match r {
                        Record::Nat(e) => (clock.wall(e.time), e.kind.name()),
                        Record::Block(b) => (clock.wall(b.time), block_name(b.kind)),
                    };
                    let mut good = true;
                    for out in &mut outs {
                        good &= out.put(r, at, msgid, &mut line, &mut stamp, stats).is_ok();
                    }
                    if good {
                        ok += 1;
                    } else {
                        failed += 1;
                    }
                }
                round += batch.len();
                gate.release(batch.len());
                stats.logged.fetch_add(ok, Ordering::Relaxed);
                if failed > 0 {
                    stats.write_errors.fetch_add(failed, Ordering::Relaxed);
                }
            }
            Msg::Reopen => {
                for out in &mut outs {
                    out.flush(stats);
                    if out.reopen().is_err() {
                        stats.write_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Msg::Stop => break,
        }
    }
    for out in &mut outs {
        out.flush(stats);
    }
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
    Unix { path: PathBuf, sock: UnixDatagram, tail: Vec<u8> },
    Udp { sock: UdpSocket, tail: Vec<u8> },
    Ipfix { sock: UdpSocket, enc: ipfix::Encoder },
}

/// A UDP socket connected to `to`.
fn udp_to(to: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = if to.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(any)?;
    sock.connect(to)?;
    Ok(sock)
}

/// Sends one IPFIX message; one that cannot go counts its `records` as write errors.
fn send_ipfix(sock: &UdpSocket, m: &[u8], records: u32, stats: &NatLogStats) {
    if sock.send(m).is_err() {
        stats.write_errors.fetch_add(u64::from(records), Ordering::Relaxed);
    }
}

/// A datagram socket connected to the local syslog socket at `path`.
fn local(path: &PathBuf) -> io::Result<UnixDatagram> {
    let sock = UnixDatagram::unbound()?;
    sock.connect(path)?;
    Ok(sock)
}

fn append(path: &PathBuf) -> io::Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(FILE_BUFFER, OpenOptions::new().create(true).append(true).open(path)?))
}

/// This host's name for syslog's HOSTNAME field (RFC 5424 §6.2.4: `-` when unknown).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "-".into())
}

/// The part of a syslog header after the timestamp that is the same for every message:
/// ` HOSTNAME APP-NAME PROCID ` (RFC 5424 §6.2.4–§6.2.6).
fn syslog_tail(host: &str) -> Vec<u8> {
    format!(" {host} sixgate {} ", std::process::id()).into_bytes()
}

impl Out {
    fn open(sink: &Sink) -> io::Result<Self> {
        Ok(match sink {
            Sink::File(path) => Self::File { path: path.clone(), w: append(path)? },
            Sink::SyslogLocal(path) => {
                Self::Unix { path: path.clone(), sock: local(path)?, tail: syslog_tail(&hostname()) }
            }
            Sink::SyslogUdp(to) => Self::Udp { sock: udp_to(*to)?, tail: syslog_tail(&hostname()) },
            Sink::Ipfix { collector, domain } => {
                Self::Ipfix { sock: udp_to(*collector)?, enc: ipfix::Encoder::new(*domain) }
            }
        })
    }

    fn is_syslog(&self) -> bool {
        matches!(self, Self::Unix { .. } | Self::Udp { .. })
    }

    /// The constant part of the syslog header (empty for a file).
    fn tail(&self) -> &[u8] {
        match self {
            Self::File { .. } | Self::Ipfix { .. } => &[],
            Self::Unix { tail, .. } | Self::Udp { tail, .. } => tail,
        }
    }

    /// Formats and writes one event (`line` and `stamp` are the thread's, reused): a JSON
    /// line or syslog message, or a data record into the IPFIX message being filled.
    fn put(
        &mut self,
        r: &Record,
        at: SystemTime,
        msgid: &str,
        line: &mut Vec<u8>,
        stamp: &mut Stamp,
        stats: &NatLogStats,
    ) -> io::Result<()> {
        if let Self::Ipfix { sock, enc } = self {
            enc.push(r, at, SystemTime::now(), &mut |m, n| send_ipfix(sock, m, n, stats));
            return Ok(());
        }
        line.clear();
        if self.is_syslog() {
            syslog_head(line, stamp, at, self.tail(), msgid);
        }
        match r {
            Record::Nat(e) => json(line, stamp, e, at),
            Record::Block(b) => json_block(line, stamp, b, at),
        }
        self.write(line)
    }

    /// Writes one formatted record: a file gets it with a newline into its buffer, a
    /// syslog socket one datagram.
    fn write(&mut self, m: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Self::File { w, .. } => {
                m.push(b'\n');
                w.write_all(m)
            }
            Self::Unix { path, sock, .. } => {
                if sock.send(m).is_ok() {
                    return Ok(());
                }
                // The syslog daemon restarted (a new socket at the path): connect again, once.
                *sock = local(path)?;
                sock.send(m).map(drop)
            }
            Self::Udp { sock, .. } => sock.send(m).map(drop),
            // Records go into messages (`put`).
            Self::Ipfix { .. } => Ok(()),
        }
    }

    fn flush(&mut self, stats: &NatLogStats) {
        match self {
            Self::File { w, .. } => {
                if w.flush().is_err() {
                    stats.write_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Self::Ipfix { sock, enc } => enc.finish(SystemTime::now(), &mut |m, n| send_ipfix(sock, m, n, stats)),
            Self::Unix { .. } | Self::Udp { .. } => {}
        }
    }

    /// A file is opened again by its path; an IPFIX collector gets the templates again
    /// with the next event (SIGHUP after a collector restart).
    fn reopen(&mut self) -> io::Result<()> {
        match self {
            Self::File { path, w } => *w = append(path)?,
            Self::Ipfix { enc, .. } => enc.resend_templates(),
            Self::Unix { .. } | Self::Udp { .. } => {}
        }
        Ok(())
    }
}

/// The header of an RFC 5424 message (§6): `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID
/// MSGID - ` (the MSG follows), with facility local0 (16) and severity informational (6):
/// PRI 134. `tail` is [`syslog_tail`].
fn syslog_head(s: &mut Vec<u8>, stamp: &mut Stamp, at: SystemTime, tail: &[u8], msgid: &str) {
    s.extend_from_slice(b"<134>1 ");
    stamp.push(s, at);
    s.extend_from_slice(tail);
    s.extend_from_slice(msgid.as_bytes());
    s.extend_from_slice(b" - ");
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
fn json(s: &mut Vec<u8>, stamp: &mut Stamp, e: &NatEvent, at: SystemTime) {
    s.extend_from_slice(b"{\"time\":\"");
    stamp.push(s, at);
    s.extend_from_slice(b"\",\"event\":\"");
    s.extend_from_slice(e.kind.name().as_bytes());
    s.extend_from_slice(b"\",\"proto\":\"");
    s.extend_from_slice(proto_name(e.protocol).as_bytes());
    s.extend_from_slice(b"\",\"src6\":\"");
    push_v6(s, e.ipv6);
    s.extend_from_slice(b"\",\"sport6\":");
    push_decimal(s, u64::from(e.ipv6_port));
    s.extend_from_slice(b",\"pool4\":\"");
    push_v4(s, e.pool4);
    s.extend_from_slice(b"\",\"port4\":");
    push_decimal(s, u64::from(e.pool4_port));
    if let Some(r) = e.remote {
        s.extend_from_slice(b",\"dst6\":\"");
        push_v6(s, r.ipv6);
        s.extend_from_slice(b"\",\"dst4\":\"");
        push_v4(s, r.ipv4);
        s.extend_from_slice(b"\",\"dport\":");
        push_decimal(s, u64::from(r.port));
    }
    s.push(b'}');
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
fn json_block(s: &mut Vec<u8>, stamp: &mut Stamp, e: &BlockEvent, at: SystemTime) {
    s.extend_from_slice(b"{\"time\":\"");
    stamp.push(s, at);
    s.extend_from_slice(b"\",\"event\":\"");
    s.extend_from_slice(block_name(e.kind).as_bytes());
    s.extend_from_slice(b"\",\"subscriber\":\"");
    push_v6(s, e.subscriber.addr());
    s.push(b'/');
    push_decimal(s, u64::from(e.subscriber.prefix_len()));
    s.extend_from_slice(b"\",\"pool4\":\"");
    push_v4(s, e.ipv4);
    s.extend_from_slice(b"\",\"ports\":\"");
    push_decimal(s, u64::from(*e.ports.start()));
    s.push(b'-');
    push_decimal(s, u64::from(*e.ports.end()));
    s.extend_from_slice(b"\"}");
}

/// RFC 3339 timestamps, the text up to the second kept from the event before (events come
/// thousands a second: the date is worked out once a second).
#[derive(Debug, Default)]
struct Stamp {
    /// The second `text` is of (none yet).
    secs: Option<u64>,
    /// `2026-01-02T14:02:03.`
    text: Vec<u8>,
}

impl Stamp {
    /// Appends `at` as RFC 3339 UTC with milliseconds (`2026-01-02T14:02:03.456Z`).
    fn push(&mut self, s: &mut Vec<u8>, at: SystemTime) {
        let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        if self.secs != Some(d.as_secs()) {
            self.secs = Some(d.as_secs());
            self.text.clear();
            date_time(&mut self.text, d.as_secs());
        }
        s.extend_from_slice(&self.text);
        let ms = d.subsec_millis();
        s.extend_from_slice(&[b'0' + (ms / 100) as u8, b'0' + (ms / 10 % 10) as u8, b'0' + (ms % 10) as u8, b'Z']);
    }
}

/// `secs` since 1970 as `YYYY-MM-DDTHH:MM:SS.` (RFC 3339 §5.6, UTC).
fn date_time(s: &mut Vec<u8>, secs: u64) {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (year, month, day) = sixgate_core::text::civil_from_days(days);
    let year = year.max(0) as u64;
    for _ in (year.max(1).ilog10() + 1)..4 {
        s.push(b'0');
    }
    push_decimal(s, year);
    for (sep, v) in
        [(b'-', month as u64), (b'-', day as u64), (b'T', rem / 3600), (b':', rem / 60 % 60), (b':', rem % 60)]
    {
        s.extend_from_slice(&[sep, b'0' + (v / 10) as u8, b'0' + (v % 10) as u8]);
    }
    s.push(b'.');
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
/// [`Engine::handle_timeout`], what the engine recorded is taken into the worker's batch,
/// which goes to the logging thread (never waiting) once it holds [`BATCH`] events, and at
/// each timer, each publication of the worker's counters ([`Engine::sync_counters`], at
/// least every 100 ms) and when the engine is dropped. Without a sender it is the engine
/// alone (one branch per call). With a [`Heartbeat`], each publication of the worker's
/// counters beats it.
#[derive(Debug)]
pub struct Logged<E> {
    engine: E,
    log: Option<Batcher>,
    beat: Option<Heartbeat>,
}

/// A worker's batch in the making.
#[derive(Debug)]
struct Batcher {
    tx: EventSender,
    pending: Vec<Record>,
}

impl Batcher {
    #[inline]
    fn push(&mut self, r: Record) {
        if self.pending.capacity() == 0 {
            self.pending.reserve_exact(BATCH);
        }
        self.pending.push(r);
        if self.pending.len() >= BATCH {
            self.flush();
        }
    }

    /// Sends what the batch holds: a full one as it is, a part of one in a buffer of its
    /// size (what the channel holds stays bounded by its events, not by batch buffers).
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = if self.pending.len() == self.pending.capacity() {
            std::mem::take(&mut self.pending)
        } else {
            let b = self.pending.clone();
            self.pending.clear();
            b
        };
        self.tx.send_batch(batch);
    }
}

impl<E> Drop for Logged<E> {
    fn drop(&mut self) {
        if let Some(b) = &mut self.log {
            b.flush();
        }
    }
}

impl<E: Engine + EventSource> Logged<E> {
    /// `engine`, its events sent to `log` (none: not logged).
    pub fn new(engine: E, log: Option<EventSender>) -> Self {
        Self { engine, log: log.map(|tx| Batcher { tx, pending: Vec::new() }), beat: None }
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
        if let Some(log) = &mut self.log {
            while let Some(e) = self.engine.poll_event() {
                log.push(Record::Nat(e));
            }
        }
    }

    /// Port-block events, rarer than packets: taken at each counter publication and
    /// timer (a sharded engine locks its shards for them); then the batch goes.
    fn drain_blocks(&mut self) {
        if let Some(log) = &mut self.log {
            while let Some(e) = self.engine.poll_block_event() {
                log.push(Record::Block(e));
            }
            log.flush();
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
    use proptest::prelude::*;
    use sixgate_nat64::stateful::{NatEventKind, Remote};
    use std::fmt::Write as _;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn text(f: impl FnOnce(&mut Vec<u8>, &mut Stamp)) -> String {
        let mut v = Vec::new();
        f(&mut v, &mut Stamp::default());
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn rfc3339_dates() {
        let t = |at| text(|s, st| st.push(s, at));
        assert_eq!(t(UNIX_EPOCH + Duration::from_millis(1_767_362_523_456)), "2026-01-02T14:02:03.456Z");
        assert_eq!(t(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z"); // a leap day
        assert_eq!(t(UNIX_EPOCH + Duration::from_millis(1_767_225_599_007)), "2025-12-31T23:59:59.007Z");
        // The second kept from the event before, the milliseconds not.
        let mut st = Stamp::default();
        let mut v = Vec::new();
        for ms in [1_767_362_523_456, 1_767_362_523_999, 1_767_362_524_000, 1_767_362_523_001] {
            st.push(&mut v, UNIX_EPOCH + Duration::from_millis(ms));
            v.push(b' ');
        }
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "2026-01-02T14:02:03.456Z 2026-01-02T14:02:03.999Z 2026-01-02T14:02:04.000Z 2026-01-02T14:02:03.001Z "
        );
    }

    #[test]
    fn syslog_header_is_rfc5424() {
        let m = text(|s, st| {
            syslog_head(s, st, UNIX_EPOCH, &syslog_tail("gw1"), "bib-add");
            s.extend_from_slice(b"{}");
        });
        assert_eq!(m, format!("<134>1 1970-01-01T00:00:00.000Z gw1 sixgate {} bib-add - {{}}", std::process::id()));
    }

    /// The formatting of the log's first version (`fmt`, a `String` per event): what the
    /// lines must stay, byte for byte.
    mod reference {
        use super::*;

        pub(super) fn rfc3339(s: &mut String, at: SystemTime) {
            let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
            let secs = d.as_secs();
            let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
            let (year, month, day) = sixgate_core::text::civil_from_days(days);
            let _ = write!(
                s,
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                rem / 3600,
                rem / 60 % 60,
                rem % 60,
                d.subsec_millis()
            );
        }

        pub(super) fn json(e: &NatEvent, at: SystemTime) -> String {
            let mut s = String::from("{\"time\":\"");
            rfc3339(&mut s, at);
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
            s
        }

        pub(super) fn json_block(e: &BlockEvent, at: SystemTime) -> String {
            let mut s = String::from("{\"time\":\"");
            rfc3339(&mut s, at);
            let _ = write!(
                s,
                "\",\"event\":\"{}\",\"subscriber\":\"{}\",\"pool4\":\"{}\",\"ports\":\"{}-{}\"}}",
                block_name(e.kind),
                e.subscriber,
                e.ipv4,
                e.ports.start(),
                e.ports.end()
            );
            s
        }

        pub(super) fn syslog(host: &str, msgid: &str, at: SystemTime, msg: &str) -> String {
            let mut s = String::from("<134>1 ");
            rfc3339(&mut s, at);
            s.push_str(&format!(" {host} sixgate {} {msgid} - {msg}", std::process::id()));
            s
        }
    }

    fn v6() -> impl Strategy<Value = Ipv6Addr> {
        prop_oneof![
            proptest::array::uniform8(prop_oneof![Just(0u16), any::<u16>()]).prop_map(Ipv6Addr::from),
            any::<[u8; 4]>().prop_map(|a| Ipv4Addr::from(a).to_ipv6_mapped()),
        ]
    }

    fn kind() -> impl Strategy<Value = NatEventKind> {
        prop_oneof![
            Just(NatEventKind::BibCreated),
            Just(NatEventKind::BibDeleted),
            Just(NatEventKind::SessionCreated),
            Just(NatEventKind::SessionDeleted)
        ]
    }

    proptest! {
        /// Any event, at any time from 1970 to the year 9999, prints byte for byte as the
        /// first version printed it, as a JSON line and inside a syslog message; a stamp
        /// kept from an earlier event changes nothing.
        #[test]
        fn lines_are_byte_identical_to_the_first_version(
            k in kind(), proto in prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp), Just(Protocol::Icmp)],
            ipv6 in v6(), ipv6_port in any::<u16>(), pool4 in any::<[u8; 4]>(), pool4_port in any::<u16>(),
            remote in proptest::option::of((v6(), any::<[u8; 4]>(), any::<u16>())),
            ms in 0u64..253_402_300_800_000, before in 0u64..2_000,
            sub in v6(), len in 0u8..=128, lo in any::<u16>(), hi in any::<u16>(), alloc in any::<bool>(),
        ) {
            let e = NatEvent {
                kind: k, time: Instant::now(), protocol: proto, ipv6, ipv6_port, pool4: pool4.into(), pool4_port,
                remote: remote.map(|(ipv6, v4, port)| Remote { ipv6, ipv4: v4.into(), port }),
            };
            let at = UNIX_EPOCH + Duration::from_millis(ms);
            let mut st = Stamp::default();
            let mut s = Vec::new();
            st.push(&mut s, UNIX_EPOCH + Duration::from_millis(ms.saturating_sub(before)));
            s.clear();
            json(&mut s, &mut st, &e, at);
            prop_assert_eq!(std::str::from_utf8(&s).unwrap(), reference::json(&e, at));

            let mut m = Vec::new();
            syslog_head(&mut m, &mut st, at, &syslog_tail("gw1"), e.kind.name());
            m.extend_from_slice(&s);
            let want = reference::syslog("gw1", e.kind.name(), at, &reference::json(&e, at));
            prop_assert_eq!(std::str::from_utf8(&m).unwrap(), want);

            let b = BlockEvent {
                kind: if alloc { BlockEventKind::Allocated } else { BlockEventKind::Released },
                time: Instant::now(),
                subscriber: ipnet::Ipv6Net::new(sub, len).unwrap(),
                ipv4: pool4.into(),
                ports: lo..=hi,
            };
            s.clear();
            json_block(&mut s, &mut st, &b, at);
            prop_assert_eq!(std::str::from_utf8(&s).unwrap(), reference::json_block(&b, at));
        }
    }
}
