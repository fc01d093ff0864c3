//! The DNS64 server's sockets: UDP and TCP listeners and an upstream client with a
//! timeout, driving the sans-IO [`Dns64`] state machine.
//!
//! Bounded everywhere: UDP datagrams up to [`MAX_UDP_PAYLOAD`] bytes, handled by a fixed pool
//! of worker threads behind a bounded queue (a full queue drops the datagram, the client
//! retries); TCP messages up to 65535 bytes behind their two-byte length (RFC 1035 §4.2.2),
//! an idle timeout per connection and a cap on concurrent connections (beyond it, new
//! connections are closed at once); every upstream exchange ends by the state machine's
//! deadline. An upstream UDP answer with TC set is asked again over TCP (RFC 7766 §5).

use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sixgate_nat64::dns64::{Action, Dns64, Dns64Config, Dns64Error, Pending, Transport, MAX_UDP_PAYLOAD};
use sixgate_nat64::ReloadReport;

/// Server options.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Where to listen (UDP and TCP, same address).
    pub listen: SocketAddr,
    /// The upstream resolver (UDP, and TCP for truncated answers).
    pub upstream: SocketAddr,
    /// Threads answering UDP queries.
    pub udp_workers: usize,
    /// UDP queries waiting for a worker before new ones are dropped.
    pub udp_queue: usize,
    /// Concurrent TCP connections.
    pub max_tcp_connections: usize,
    /// A TCP connection with no complete query for this long is closed (RFC 7766 §6.2.3).
    pub tcp_idle_timeout: Duration,
}

impl ServerOptions {
    /// Defaults: 8 UDP workers, a queue of 256, 64 TCP connections, 10 s idle timeout.
    pub fn new(listen: SocketAddr, upstream: SocketAddr) -> Self {
        Self {
            listen,
            upstream,
            udp_workers: 8,
            udp_queue: 256,
            max_tcp_connections: 64,
            tcp_idle_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of a running server.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Queries received (UDP and TCP).
    pub queries: AtomicUsize,
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
    /// UDP queries dropped because every worker was busy.
    pub udp_dropped: AtomicUsize,
    /// TCP connections refused over the cap.
    pub tcp_refused: AtomicUsize,
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

/// A bound DNS64 server; [`Dns64Server::run`] serves until the stop flag is set.
#[derive(Debug)]
pub struct Dns64Server {
    udp: UdpSocket,
    tcp: TcpListener,
    opts: ServerOptions,
    live: LiveSettings,
    stats: Arc<ServerStats>,
}

/// The settings a running server can take live: its DNS64 and its upstream resolver.
/// Every query reads them once, when it arrives, and runs to its end with what it read:
/// a change applies to the queries that arrive after it, never to one in flight.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    current: Arc<Mutex<Arc<(Dns64, SocketAddr)>>>,
}

impl LiveSettings {
    fn new(dns64: Dns64, upstream: SocketAddr) -> Self {
        Self { current: Arc::new(Mutex::new(Arc::new((dns64, upstream)))) }
    }

    /// The settings in force now: the DNS64 and the upstream.
    pub fn get(&self) -> Arc<(Dns64, SocketAddr)> {
        Arc::clone(&self.current.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes `cfg` and `upstream` live for the queries that arrive from now on; what
    /// changed, by name (the DNS64's settings and `upstream`). A `cfg` that fails changes
    /// nothing.
    pub fn reconfigure(&self, cfg: Dns64Config, upstream: SocketAddr) -> Result<ReloadReport, Dns64Error> {
        let mut slot = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let (mut dns64, old_upstream) = (slot.0.clone(), slot.1);
        let mut r = dns64.reconfigure(cfg)?;
        r.mark_changed_where([("upstream", old_upstream != upstream)]);
        *slot = Arc::new((dns64, upstream));
        Ok(r)
    }
}

/// How often the listeners look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

impl Dns64Server {
    /// Binds the UDP socket and the TCP listener (port 0 picks one, see
    /// [`Dns64Server::local_addr`]; UDP and TCP then share the port UDP got).
    pub fn bind(dns64: Dns64, opts: ServerOptions) -> io::Result<Self> {
        let udp = UdpSocket::bind(opts.listen)?;
        let tcp = TcpListener::bind(udp.local_addr()?)?;
        let live = LiveSettings::new(dns64, opts.upstream);
        Ok(Self { udp, tcp, opts, live, stats: Arc::default() })
    }

    /// The settings the server takes live ([`LiveSettings::reconfigure`]); the handle
    /// stays valid while the server runs.
    pub fn live(&self) -> LiveSettings {
        self.live.clone()
    }

    /// The address both listeners are bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// The server's counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        Arc::clone(&self.stats)
    }

    /// Serves until `stop` is set (checked every 100 ms), then returns once the listeners
    /// are closed (connections in progress finish on their own threads).
    pub fn run(self, stop: Arc<AtomicBool>) -> io::Result<()> {
        let (tx, rx) = sync_channel::<(Vec<u8>, SocketAddr)>(self.opts.udp_queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::new();
        for _ in 0..self.opts.udp_workers.max(1) {
            let (rx, sock) = (Arc::clone(&rx), self.udp.try_clone()?);
            let (live, stats) = (self.live.clone(), Arc::clone(&self.stats));
            workers.push(thread::spawn(move || udp_worker(&rx, &sock, &live, &stats)));
        }
        let tcp = {
            let listener = self.tcp.try_clone()?;
            let (live, stats, opts, stop) =
                (self.live.clone(), Arc::clone(&self.stats), self.opts.clone(), Arc::clone(&stop));
            thread::spawn(move || tcp_accept(&listener, &live, &stats, &opts, &stop))
        };
        self.udp.set_read_timeout(Some(POLL))?;
        let mut buf = vec![0u8; MAX_UDP_PAYLOAD];
        while !stop.load(Ordering::Relaxed) {
            match self.udp.recv_from(&mut buf) {
                Ok((n, peer)) => {
                    self.stats.queries.fetch_add(1, Ordering::Relaxed);
                    match tx.try_send((buf[..n].to_vec(), peer)) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            self.stats.udp_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(TrySendError::Disconnected(_)) => break,
                    }
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                // ICMP errors from earlier sends surface here on Linux; keep serving.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
        }
        drop(tx);
        for w in workers {
            let _ = w.join();
        }
        let _ = tcp.join();
        Ok(())
    }
}

fn udp_worker(rx: &Mutex<Receiver<(Vec<u8>, SocketAddr)>>, sock: &UdpSocket, live: &LiveSettings, stats: &ServerStats) {
    loop {
        let next = rx.lock().map_err(|_| ()).and_then(|r| r.recv().map_err(|_| ()));
        let Ok((query, peer)) = next else { return };
        let now = live.get();
        if let Some(answer) = answer(&now.0, stats, &query, Transport::Udp, now.1) {
            let _ = sock.send_to(&answer, peer);
        }
    }
}

fn tcp_accept(
    listener: &TcpListener,
    live: &LiveSettings,
    stats: &Arc<ServerStats>,
    opts: &ServerOptions,
    stop: &AtomicBool,
) {
    let active = Arc::new(AtomicUsize::new(0));
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                if active.load(Ordering::Relaxed) >= opts.max_tcp_connections {
                    stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                    continue; // dropping `conn` closes it
                }
                active.fetch_add(1, Ordering::Relaxed);
                let (live, stats, active) = (live.clone(), Arc::clone(stats), Arc::clone(&active));
                let idle = opts.tcp_idle_timeout;
                thread::spawn(move || {
                    let _ = tcp_conn(conn, &live, &stats, idle);
                    active.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(20)),
            Err(_) => thread::sleep(POLL),
        }
    }
}

/// One TCP connection: length-prefixed queries, answered in order, until EOF, an error or
/// the idle timeout.
fn tcp_conn(mut conn: TcpStream, live: &LiveSettings, stats: &ServerStats, idle: Duration) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_write_timeout(Some(idle))?;
    loop {
        // The whole message must arrive within the idle timeout: a client trickling bytes
        // cannot hold a connection slot for long.
        let Some(query) = read_framed(&mut Deadlined { conn: &mut conn, deadline: Instant::now() + idle })? else {
            return Ok(());
        };
        stats.queries.fetch_add(1, Ordering::Relaxed);
        let now = live.get();
        match answer(&now.0, stats, &query, Transport::Tcp, now.1) {
            Some(a) => write_framed(&mut conn, &a)?,
            // A query we will not answer (a response, or no header): close (RFC 7766 §6.2.4).
            None => return Ok(()),
        }
    }
}

/// A TCP stream whose reads fail once a deadline has passed.
struct Deadlined<'a> {
    conn: &'a mut TcpStream,
    deadline: Instant,
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
        let left = left.ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "TCP read deadline"))?;
        self.conn.set_read_timeout(Some(left))?;
        self.conn.read(buf)
    }
}

/// Reads one length-prefixed message; `None` at a clean EOF before the length.
fn read_framed(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    r.read_exact(&mut msg)?;
    Ok(Some(msg))
}

fn write_framed(w: &mut impl Write, msg: &[u8]) -> io::Result<()> {
    let len =
        u16::try_from(msg.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "message over 65535 bytes"))?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    w.write_all(&out)
}

/// Runs one client query to its end: the answer to send, if any.
fn answer(
    dns64: &Dns64,
    stats: &ServerStats,
    query: &[u8],
    transport: Transport,
    upstream: SocketAddr,
) -> Option<Vec<u8>> {
    let start = Instant::now();
    let mut action = dns64.handle_query(query, transport, start);
    // Whether an A query went upstream (or none at all): only then can AAAA records under
    // the prefix in the answer be the server's own.
    let (mut asked, mut asked_a) = (false, false);
    let reply = loop {
        match action {
            Action::Reply(r) => break r,
            Action::Drop => return None,
            Action::Ask(mut p) => {
                p.set_upstream_id(random_id());
                asked = true;
                asked_a |= question_type(p.query()) == Some(TYPE_A);
                match exchange(&p, upstream) {
                    Ok(bytes) => action = dns64.handle_upstream(p, &bytes, Instant::now()),
                    Err(e) => {
                        stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
                        if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) {
                            stats.upstream_timeouts.fetch_add(1, Ordering::Relaxed);
                        }
                        break dns64.handle_timeout(p);
                    }
                }
            }
        }
    };
    if (asked_a || !asked) && has_aaaa_under(&reply, |a| dns64.config().prefix.contains(a)) {
        stats.synthesized.fetch_add(1, Ordering::Relaxed);
    }
    stats.response_time.observe(start.elapsed());
    Some(reply)
}

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

/// Skips a (possibly compressed) name at `at`; the offset after it.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

/// The type of a message's first question.
fn question_type(msg: &[u8]) -> Option<u16> {
    let at = skip_name(msg, 12)?;
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

/// Whether the answer section holds an AAAA record whose address `under` accepts.
fn has_aaaa_under(msg: &[u8], under: impl Fn(std::net::Ipv6Addr) -> bool) -> bool {
    let field = |at: usize| Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]));
    let walk = || -> Option<bool> {
        let (qd, an) = (field(4)?, field(6)?);
        let mut at = 12;
        for _ in 0..qd {
            at = skip_name(msg, at)? + 4;
        }
        for _ in 0..an {
            at = skip_name(msg, at)?;
            let (ty, rdlen) = (field(at)?, usize::from(field(at + 8)?));
            let rdata = msg.get(at + 10..at + 10 + rdlen)?;
            if ty == TYPE_AAAA {
                if let Ok(a) = <[u8; 16]>::try_from(rdata) {
                    if under(a.into()) {
                        return Some(true);
                    }
                }
            }
            at += 10 + rdlen;
        }
        Some(false)
    };
    walk().unwrap_or(false)
}

/// An unpredictable query ID (RFC 5452 §9.2), from the standard library's randomly keyed
/// hasher.
fn random_id() -> u16 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish() as u16
}

/// Asks the upstream `p`'s query over UDP (and again over TCP if the answer is truncated),
/// by `p`'s deadline. Datagrams that are not the answer (wrong ID) are ignored.
fn exchange(p: &Pending, upstream: SocketAddr) -> io::Result<Vec<u8>> {
    let left = |p: &Pending| {
        p.deadline()
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "upstream timed out"))
    };
    let bind: SocketAddr = if upstream.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(upstream)?;
    sock.send(p.query())?;
    let mut buf = vec![0u8; MAX_UDP_PAYLOAD];
    let answer = loop {
        sock.set_read_timeout(Some(left(p)?))?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "upstream timed out"))
            }
            Err(e) => return Err(e),
        };
        if p.is_answer(&buf[..n]) {
            break buf[..n].to_vec();
        }
    };
    if answer[2] & 0x02 == 0 {
        return Ok(answer);
    }
    // TC: the same question over TCP.
    let mut conn = TcpStream::connect_timeout(&upstream, left(p)?)?;
    conn.set_read_timeout(Some(left(p)?))?;
    conn.set_write_timeout(Some(left(p)?))?;
    write_framed(&mut conn, p.query())?;
    match read_framed(&mut conn)? {
        Some(a) if p.is_answer(&a) => Ok(a),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "bad TCP answer from upstream")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    use sixgate_nat64::dns64::Dns64Config;

    /// A fake upstream on 127.0.0.1 (UDP and TCP): NODATA for AAAA; for A, 40 A records
    /// (over 512 bytes: truncated over UDP, whole over TCP) for `big.test.`, one otherwise;
    /// never answers `slow.test.`.
    fn fake_upstream() -> SocketAddr {
        fn answer(q: &[u8], udp: bool) -> Option<Vec<u8>> {
            let q = Message::from_vec(q).ok()?;
            let query = q.queries.first()?.clone();
            if query.name == Name::from_ascii("slow.test.").ok()? {
                return None;
            }
            let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
            m.metadata.response_code = ResponseCode::NoError;
            m.add_query(query.clone());
            if query.query_type == RecordType::A {
                let n = if query.name == Name::from_ascii("big.test.").ok()? { 40 } else { 1 };
                if n > 1 && udp {
                    m.metadata.truncation = true;
                } else {
                    for i in 0..n {
                        m.add_answer(Record::from_rdata(query.name.clone(), 60, RData::A(A([8, 8, 8, i].into()))));
                    }
                }
            }
            m.to_vec().ok()
        }
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(addr).unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, peer)) = udp.recv_from(&mut buf) {
                if let Some(a) = answer(&buf[..n], true) {
                    let _ = udp.send_to(&a, peer);
                }
            }
        });
        thread::spawn(move || {
            for mut c in tcp.incoming().flatten() {
                while let Ok(Some(q)) = read_framed(&mut c) {
                    if let Some(a) = answer(&q, false) {
                        let _ = write_framed(&mut c, &a);
                    }
                }
            }
        });
        addr
    }

    fn ask(server: SocketAddr, name: &str, tcp: bool) -> Message {
        let mut m = Message::new(0x5151, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::AAAA));
        let q = m.to_vec().unwrap();
        let bytes = if tcp {
            let mut c = TcpStream::connect(server).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            write_framed(&mut c, &q).unwrap();
            read_framed(&mut c).unwrap().unwrap()
        } else {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.send_to(&q, server).unwrap();
            let mut buf = [0u8; 4096];
            let n = s.recv(&mut buf).unwrap();
            buf[..n].to_vec()
        };
        let m = Message::from_vec(&bytes).unwrap();
        assert_eq!(m.metadata.id, 0x5151);
        m
    }

    #[test]
    fn serves_udp_and_tcp_with_fallback_and_timeout() {
        let upstream = fake_upstream();
        let mut cfg = Dns64Config::new("2001:db8:64::/96".parse().unwrap());
        cfg.upstream_timeout = Duration::from_millis(300);
        let dns64 = Dns64::new(cfg).unwrap();
        let server = Dns64Server::bind(dns64, ServerOptions::new("127.0.0.1:0".parse().unwrap(), upstream)).unwrap();
        let addr = server.local_addr().unwrap();
        let stats = server.stats();
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || server.run(stop))
        };
        for tcp in [false, true] {
            let m = ask(addr, "one.test.", tcp);
            assert_eq!(m.answers.len(), 1);
            assert!(
                matches!(&m.answers[0].data, RData::AAAA(a) if a.0 == "2001:db8:64::808:800".parse::<std::net::Ipv6Addr>().unwrap())
            );
        }
        // The A answer is truncated upstream over UDP: asked again over TCP. 40 AAAA do not
        // fit the client's 512 bytes over UDP (TC), and do over TCP.
        let m = ask(addr, "big.test.", false);
        assert!(m.metadata.truncation && m.answers.is_empty());
        assert_eq!(ask(addr, "big.test.", true).answers.len(), 40);
        // No answer upstream: SERVFAIL after the timeout.
        let t0 = Instant::now();
        assert_eq!(ask(addr, "slow.test.", false).metadata.response_code, ResponseCode::ServFail);
        assert!(t0.elapsed() >= Duration::from_millis(300));
        assert!(stats.upstream_failures.load(Ordering::Relaxed) >= 1);
        stop.store(true, Ordering::Relaxed);
        runner.join().unwrap().unwrap();
    }

    /// A query reads the settings once, when it arrives: one whose upstream answer is held
    /// back while the prefix changes is answered under the prefix it started with, the
    /// next under the new one; a config the engine refuses changes nothing.
    #[test]
    fn a_query_in_flight_finishes_with_the_settings_it_started_with() {
        let (arrived_tx, arrived) = std::sync::mpsc::channel::<()>();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let up = UdpSocket::bind("127.0.0.1:0").unwrap();
        let upstream = up.local_addr().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, peer)) = up.recv_from(&mut buf) {
                let Ok(q) = Message::from_vec(&buf[..n]) else { continue };
                let query = q.queries[0].clone();
                let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
                m.add_query(query.clone());
                if query.query_type == RecordType::A {
                    if query.name == Name::from_ascii("held.test.").unwrap() {
                        arrived_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                    }
                    m.add_answer(Record::from_rdata(query.name.clone(), 60, RData::A(A([8, 8, 4, 4].into()))));
                }
                let _ = up.send_to(&m.to_vec().unwrap(), peer);
            }
        });
        let dns64 = Dns64::new(Dns64Config::new("2001:db8:1::/96".parse().unwrap())).unwrap();
        let server = Dns64Server::bind(dns64, ServerOptions::new("127.0.0.1:0".parse().unwrap(), upstream)).unwrap();
        let (addr, live) = (server.local_addr().unwrap(), server.live());
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || server.run(stop))
        };
        let aaaa = |m: &Message| match &m.answers[..] {
            [r] => match &r.data {
                RData::AAAA(a) => a.0,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        let held = thread::spawn(move || ask(addr, "held.test.", false));
        arrived.recv().unwrap();
        let mut bad = Dns64Config::new("2001:db8:2::/96".parse().unwrap());
        bad.upstream_timeout = Duration::ZERO;
        assert!(live.reconfigure(bad, upstream).is_err());
        let r = live.reconfigure(Dns64Config::new("2001:db8:2::/96".parse().unwrap()), upstream).unwrap();
        assert_eq!(r.changed, ["prefix"]);
        release.send(()).unwrap();
        assert_eq!(aaaa(&held.join().unwrap()), "2001:db8:1::808:404".parse::<std::net::Ipv6Addr>().unwrap());
        assert_eq!(aaaa(&ask(addr, "next.test.", false)), "2001:db8:2::808:404".parse::<std::net::Ipv6Addr>().unwrap());
        assert_eq!(live.get().1, upstream);
        stop.store(true, Ordering::Relaxed);
        runner.join().unwrap().unwrap();
    }

    #[test]
    fn counts_synthesized_answers_timeouts_and_response_times() {
        let upstream = fake_upstream();
        let mut cfg = Dns64Config::new("64:ff9b::/96".parse().unwrap());
        cfg.upstream_timeout = Duration::from_millis(200);
        let server =
            Dns64Server::bind(Dns64::new(cfg).unwrap(), ServerOptions::new("127.0.0.1:0".parse().unwrap(), upstream))
                .unwrap();
        let addr = server.local_addr().unwrap();
        let stats = server.stats();
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || server.run(stop))
        };
        // Synthesized from the A answer, over UDP and TCP; ipv4only.arpa without upstream.
        assert_eq!(ask(addr, "one.test.", false).answers.len(), 1);
        assert_eq!(ask(addr, "one.test.", true).answers.len(), 1);
        assert_eq!(ask(addr, "ipv4only.arpa.", false).answers.len(), 2);
        // Truncated: no record, nothing synthesized that the client sees.
        assert!(ask(addr, "big.test.", false).answers.is_empty());
        // No answer upstream: a timeout, one of the failures.
        assert_eq!(ask(addr, "slow.test.", false).metadata.response_code, ResponseCode::ServFail);
        stop.store(true, Ordering::Relaxed);
        runner.join().unwrap().unwrap();
        assert_eq!(stats.synthesized.load(Ordering::Relaxed), 3);
        assert_eq!(stats.upstream_timeouts.load(Ordering::Relaxed), 1);
        assert_eq!(stats.upstream_failures.load(Ordering::Relaxed), 1);
        let (sum, count, buckets) = stats.response_time.snapshot();
        assert_eq!(count, 5);
        assert!(sum >= 0.2, "the timeout alone took 200 ms: {sum}");
        assert_eq!(buckets.len(), ResponseTimes::BOUNDS_MS.len());
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative");
        // The 200 ms timeout is above the 100 ms bound.
        assert!(buckets.iter().find(|b| b.0 == 0.1).unwrap().1 <= 4);
    }

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
    fn tcp_cap_and_idle_timeout() {
        let upstream = fake_upstream();
        let dns64 = Dns64::new(Dns64Config::new("64:ff9b::/96".parse().unwrap())).unwrap();
        let mut opts = ServerOptions::new("127.0.0.1:0".parse().unwrap(), upstream);
        opts.max_tcp_connections = 1;
        opts.tcp_idle_timeout = Duration::from_millis(500);
        let server = Dns64Server::bind(dns64, opts).unwrap();
        let addr = server.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || server.run(stop))
        };
        let mut first = TcpStream::connect(addr).unwrap();
        first.write_all(&[0]).unwrap(); // half a length prefix, then nothing
        thread::sleep(Duration::from_millis(150));
        // Over the cap: closed at once.
        let mut second = TcpStream::connect(addr).unwrap();
        second.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(second.read(&mut [0u8; 4]).unwrap_or(0), 0);
        // The trickling first connection is closed by the deadline.
        first.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let t0 = Instant::now();
        assert_eq!(first.read(&mut [0u8; 4]).unwrap_or(0), 0);
        assert!(t0.elapsed() < Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
        runner.join().unwrap().unwrap();
    }

    #[test]
    fn framing() {
        let mut v = Vec::new();
        write_framed(&mut v, b"abc").unwrap();
        assert_eq!(v, [0, 3, b'a', b'b', b'c']);
        assert_eq!(read_framed(&mut &v[..]).unwrap().unwrap(), b"abc");
        assert!(read_framed(&mut &b""[..]).unwrap().is_none());
        assert!(read_framed(&mut &[0u8, 5, 1][..]).is_err());
        assert!(write_framed(&mut Vec::new(), &vec![0; 70000]).is_err());
    }
}
