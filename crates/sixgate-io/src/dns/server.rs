//! The server core: UDP sockets (one per worker, `SO_REUSEPORT`) and a TCP listener with
//! per-client and total connection caps, driving a [`Service`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::AsyncWriteExt;

use super::mmsg::{self, Batch, Peer};
use super::{framed, read_framed, ServerStats};

/// A responder that answers every query itself, at once (an authoritative server).
pub trait Responder: Send + Sync + 'static {
    /// The answer to `query` (a whole DNS message) received over TCP (`tcp`) or UDP; `None` drops it.
    /// The responder truncates UDP answers itself (it knows the client's EDNS size).
    fn respond(&self, query: &[u8], tcp: bool) -> Option<Vec<u8>>;

    /// Every message of the answer to `query` received over TCP, sent in order on the
    /// connection: one, except for a zone transfer, whose records may fill several
    /// messages (RFC 5936 §2.2). Empty drops the query. By default, [`Responder::respond`].
    fn respond_stream(&self, query: &[u8]) -> Vec<Vec<u8>> {
        self.respond(query, true).into_iter().collect()
    }
}

impl<F: Fn(&[u8], bool) -> Option<Vec<u8>> + Send + Sync + 'static> Responder for F {
    fn respond(&self, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
        self(query, tcp)
    }
}

/// Where and how the listeners listen.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListenOptions {
    /// Where to listen (UDP and TCP, same address; port 0 picks one).
    pub listen: SocketAddr,
    /// UDP sockets (`SO_REUSEPORT`), each read by its own thread, and the threads of the
    /// runtime that serves TCP and the answers that must wait.
    pub workers: usize,
    /// TCP connections in all; when all are taken, the one idle for longest is closed for
    /// a new one.
    pub max_tcp_connections: usize,
    /// TCP connections of one client (an IPv4 address, an IPv6 /64); beyond it new ones
    /// are closed at once.
    pub max_tcp_per_client: usize,
    /// A TCP connection with no complete query for this long is closed (RFC 7766 §6.2.3).
    pub tcp_idle_timeout: Duration,
}

impl ListenOptions {
    /// Defaults: one worker per CPU, 1024 TCP connections in all and 16 per client address,
    /// 10 s idle timeout.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_tcp_connections: 1024,
            max_tcp_per_client: 16,
            tcp_idle_timeout: Duration::from_secs(10),
        }
    }
}

/// An answer that is ready, or one to wait for.
pub(crate) enum Answer {
    /// Send this (or nothing).
    Now(Option<Vec<u8>>),
    /// Send what this gives, when it does; the next queries are read meanwhile.
    #[cfg_attr(not(feature = "dns64"), allow(dead_code))]
    Later(Pin<Box<dyn Future<Output = Option<Vec<u8>>> + Send>>),
    /// Send these messages in order (TCP only: a zone transfer).
    Many(Vec<Vec<u8>>),
}

/// What the listeners drive: an authoritative responder, or the DNS64.
pub(crate) trait Service: Send + Sync + 'static {
    /// State each UDP worker and TCP connection keeps for itself (no lock shared).
    type Local: Send + 'static;
    /// Called once inside the runtime, before the first query.
    fn start(&self) {}
    /// A new worker's state.
    fn local(&self) -> Self::Local;
    /// The answer to `query`.
    fn serve(&self, local: &mut Self::Local, query: &[u8], tcp: bool) -> Answer;
}

/// A value that is read on every query and replaced rarely (a reload): readers keep their
/// own copy and look at one shared counter, so they never take a lock unless it changed.
pub(crate) struct Swap<T: ?Sized> {
    generation: AtomicU64,
    current: Mutex<Arc<T>>,
}

impl<T: ?Sized> Swap<T> {
    pub(crate) fn new(v: Arc<T>) -> Self {
        Self { generation: AtomicU64::new(0), current: Mutex::new(v) }
    }

    /// The value now.
    pub(crate) fn get(&self) -> Arc<T> {
        Arc::clone(&self.current.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the value with what `f` makes of the current one (or keeps it on error);
    /// the old value on success.
    pub(crate) fn update<E>(&self, f: impl FnOnce(&Arc<T>) -> Result<Arc<T>, E>) -> Result<Arc<T>, E> {
        let mut slot = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let new = f(&slot)?;
        let old = std::mem::replace(&mut *slot, new);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(old)
    }

    /// A reader's copy: `(generation, value)`, read together (the generation changes only
    /// under the lock).
    pub(crate) fn local(&self) -> (u64, Arc<T>) {
        let slot = self.current.lock().unwrap_or_else(|e| e.into_inner());
        (self.generation.load(Ordering::Acquire), Arc::clone(&slot))
    }

    /// Refreshes a reader's copy if the value changed since.
    pub(crate) fn refresh<'a>(&self, local: &'a mut (u64, Arc<T>)) -> &'a Arc<T> {
        if self.generation.load(Ordering::Acquire) != local.0 {
            *local = self.local();
        }
        &local.1
    }
}

/// Bound sockets, not yet served.
pub(crate) struct Listeners {
    udp: Vec<std::net::UdpSocket>,
    tcp: std::net::TcpListener,
    opts: ListenOptions,
    stats: Arc<ServerStats>,
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners").field("udp", &self.udp.len()).field("tcp", &self.tcp).finish()
    }
}

fn reuseport_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true)?;
    // Room for a burst while a worker is busy; the kernel caps it at rmem_max.
    let _ = s.set_recv_buffer_size(4 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// How often the UDP workers look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

impl Listeners {
    /// Binds `opts.workers` UDP sockets and the TCP listener, all on one port (the one the
    /// first socket got, for port 0).
    pub(crate) fn bind(opts: ListenOptions) -> io::Result<Self> {
        let first = reuseport_udp(opts.listen)?;
        let addr = first.local_addr()?;
        let mut udp = vec![first];
        for _ in 1..opts.workers.max(1) {
            udp.push(reuseport_udp(addr)?);
        }
        let tcp = std::net::TcpListener::bind(addr)?;
        tcp.set_nonblocking(true)?;
        Ok(Self { udp, tcp, opts, stats: Arc::default() })
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp[0].local_addr()
    }

    pub(crate) fn stats(&self) -> Arc<ServerStats> {
        Arc::clone(&self.stats)
    }

    /// Serves `service` until `stop` is set (checked every 100 ms); answers still being
    /// waited for are abandoned after a second.
    pub(crate) fn run<S: Service>(self, service: Arc<S>, stop: Arc<AtomicBool>) -> io::Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.opts.workers.max(1))
            .thread_name("sixgate-dns")
            .enable_io()
            .enable_time()
            .build()?;
        let Self { udp, tcp, opts, stats } = self;
        rt.block_on(async {
            service.start();
            let tcp = tokio::net::TcpListener::from_std(tcp)?;
            tokio::spawn(tcp_accept(tcp, Arc::clone(&service), opts, Arc::clone(&stats)));
            io::Result::Ok(())
        })?;
        // UDP: one thread per socket, blocked in the kernel until a datagram comes (no
        // readiness round trip per query); an answer that must wait is a task of the
        // runtime, so the thread goes on reading.
        let mut workers = Vec::new();
        for sock in udp {
            sock.set_nonblocking(false)?;
            sock.set_read_timeout(Some(POLL))?;
            // A full send buffer holds a sender this long at most (then the answer is
            // dropped, as a congested network would: the client asks again).
            sock.set_write_timeout(Some(Duration::from_millis(10)))?;
            let (service, stats, stop, rt) =
                (Arc::clone(&service), Arc::clone(&stats), Arc::clone(&stop), rt.handle().clone());
            let w = std::thread::Builder::new()
                .name("sixgate-dns-udp".into())
                .spawn(move || udp_worker(Arc::new(sock), &service, &stats, &stop, &rt))?;
            workers.push(w);
        }
        for w in workers {
            let _ = w.join();
        }
        rt.shutdown_timeout(Duration::from_secs(1));
        Ok(())
    }
}

fn done(stats: &ServerStats, start: Instant, answered: bool) {
    if answered {
        stats.answered.fetch_add(1, Ordering::Relaxed);
        stats.response_time.observe(start.elapsed());
    } else {
        stats.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// One UDP socket until `stop` is set: every query waiting is read by one `recvmmsg`, the
/// answers ready at once go back by one `sendmmsg` (see [`super::mmsg`]), and an answer
/// that must wait is sent by its task when it is ready.
fn udp_worker<S: Service>(
    sock: Arc<std::net::UdpSocket>,
    service: &Arc<S>,
    stats: &Arc<ServerStats>,
    stop: &AtomicBool,
    rt: &tokio::runtime::Handle,
) {
    let mut batch = Batch::new();
    let mut ready: Vec<(Vec<u8>, Peer)> = Vec::with_capacity(mmsg::BATCH);
    let mut local = service.local();
    while !stop.load(Ordering::Relaxed) {
        let n = match batch.recv(&sock) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            // ICMP errors from earlier sends surface here on Linux; keep serving.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        stats.queries.fetch_add(n, Ordering::Relaxed);
        let start = Instant::now();
        for i in 0..n {
            let (query, peer) = batch.get(i);
            match service.serve(&mut local, query, false) {
                Answer::Now(Some(a)) => ready.push((a, peer)),
                // Several messages are a TCP answer; a UDP query never gets one.
                Answer::Now(None) | Answer::Many(_) => done(stats, start, false),
                Answer::Later(f) => {
                    let Some(peer) = peer.socket_addr() else {
                        done(stats, start, false);
                        continue;
                    };
                    let (sock, stats) = (Arc::clone(&sock), Arc::clone(stats));
                    rt.spawn(async move {
                        let a = f.await;
                        if let Some(a) = &a {
                            // Bounded by the socket's send timeout (10 ms).
                            let _ = sock.send_to(a, peer);
                        }
                        done(&stats, start, a.is_some());
                    });
                }
            }
        }
        if !ready.is_empty() {
            mmsg::send_all(&sock, &mut ready);
            for _ in 0..ready.len() {
                done(stats, start, true);
            }
            ready.clear();
        }
    }
}

/// One TCP connection, as the accept loop sees it.
struct Conn {
    ip: IpAddr,
    /// A query is being answered: not idle, never closed for another.
    busy: AtomicBool,
    /// When the connection last finished an answer (or was opened).
    last: Mutex<Instant>,
    close: tokio::sync::Notify,
}

#[derive(Default)]
struct Conns {
    next: u64,
    open: HashMap<u64, Arc<Conn>>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Conns {
    fn remove(&mut self, id: u64) -> Option<Arc<Conn>> {
        let c = self.open.remove(&id)?;
        if let Some(n) = self.per_ip.get_mut(&c.ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&c.ip);
            }
        }
        Some(c)
    }

    /// Room for a connection from `ip`: its id, or `None` (refused).
    fn admit(&mut self, ip: IpAddr, opts: &ListenOptions, stats: &ServerStats) -> Option<(u64, Arc<Conn>)> {
        if self.per_ip.get(&ip).copied().unwrap_or(0) >= opts.max_tcp_per_client.max(1) {
            return None;
        }
        if self.open.len() >= opts.max_tcp_connections.max(1) {
            let lru = |c: &Arc<Conn>| *c.last.lock().unwrap_or_else(|e| e.into_inner());
            let victim = self.open.iter().filter(|(_, c)| !c.busy.load(Ordering::Relaxed)).min_by_key(|(_, c)| lru(c));
            let id = *victim?.0;
            if let Some(c) = self.remove(id) {
                c.close.notify_one();
                stats.tcp_evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        let id = self.next;
        self.next += 1;
        let c = Arc::new(Conn {
            ip,
            busy: AtomicBool::new(false),
            last: Mutex::new(Instant::now()),
            close: tokio::sync::Notify::new(),
        });
        self.open.insert(id, Arc::clone(&c));
        *self.per_ip.entry(ip).or_default() += 1;
        Some((id, c))
    }
}

/// The client a connection counts against: its IPv4 address, or the /64 of its IPv6
/// address (one host is given a whole /64 with SLAAC and can pick any address in it,
/// RFC 4862 §5.5.3).
fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
        v4 => v4,
    }
}

async fn tcp_accept<S: Service>(
    listener: tokio::net::TcpListener,
    service: Arc<S>,
    opts: ListenOptions,
    stats: Arc<ServerStats>,
) {
    let conns = Arc::new(Mutex::new(Conns::default()));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Out of descriptors, most likely: give the connections time to close.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let admitted = conns.lock().unwrap_or_else(|e| e.into_inner()).admit(client_of(peer.ip()), &opts, &stats);
        let Some((id, conn)) = admitted else {
            stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
            continue; // dropping `stream` closes it
        };
        let (service, stats, conns) = (Arc::clone(&service), Arc::clone(&stats), Arc::clone(&conns));
        let idle = opts.tcp_idle_timeout;
        tokio::spawn(async move {
            tcp_conn(stream, &*service, &conn, idle, &stats).await;
            conns.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        });
    }
}

/// One TCP connection: length-prefixed queries, answered in order, until EOF, an error,
/// the idle timeout or the accept loop closes it for another.
async fn tcp_conn<S: Service>(
    stream: tokio::net::TcpStream,
    service: &S,
    conn: &Conn,
    idle: Duration,
    stats: &ServerStats,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut local = service.local();
    loop {
        // The whole message must arrive within the idle timeout: a client trickling bytes
        // cannot hold a connection for long.
        let query = tokio::select! {
            // Closed for another: even if a query is waiting too.
            biased;
            () = conn.close.notified() => return,
            r = tokio::time::timeout(idle, read_framed(&mut rd)) => match r {
                Ok(Ok(Some(q))) => q,
                _ => return,
            },
        };
        conn.busy.store(true, Ordering::Relaxed);
        stats.queries.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let answers = match service.serve(&mut local, &query, true) {
            Answer::Now(a) => a.into_iter().collect(),
            Answer::Later(f) => f.await.into_iter().collect(),
            Answer::Many(v) => v,
        };
        done(stats, start, !answers.is_empty());
        // A query we will not answer (a response, or no header): close (RFC 7766 §6.2.4).
        let mut out = Vec::new();
        for a in &answers {
            match framed(a) {
                Ok(f) => out.extend_from_slice(&f),
                Err(_) => return,
            }
        }
        if out.is_empty() {
            return;
        }
        // Idle from the moment the answer is ready: the client may send its next query on
        // another connection as soon as it reads this one.
        *conn.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        conn.busy.store(false, Ordering::Relaxed);
        if !matches!(tokio::time::timeout(idle, wr.write_all(&out)).await, Ok(Ok(()))) {
            return;
        }
    }
}

/// Replaces the responder of a running [`AuthServer`] (a reload): queries read after the
/// swap get the new one, a query being answered finishes with the old one.
#[derive(Clone)]
pub struct ResponderHandle {
    swap: Arc<Swap<dyn Responder>>,
}

impl fmt::Debug for ResponderHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponderHandle").finish_non_exhaustive()
    }
}

impl ResponderHandle {
    /// Puts `responder` in force; the one it replaces.
    pub fn swap(&self, responder: Arc<dyn Responder>) -> Arc<dyn Responder> {
        match self.swap.update::<()>(|_| Ok(responder)) {
            Ok(old) => old,
            Err(()) => unreachable!("the update never fails"),
        }
    }

    /// The responder in force.
    pub fn current(&self) -> Arc<dyn Responder> {
        self.swap.get()
    }
}

impl Service for ResponderHandle {
    type Local = (u64, Arc<dyn Responder>);

    fn local(&self) -> Self::Local {
        self.swap.local()
    }

    fn serve(&self, local: &mut Self::Local, query: &[u8], tcp: bool) -> Answer {
        let responder = self.swap.refresh(local);
        if !tcp {
            return Answer::Now(responder.respond(query, false));
        }
        let mut all = responder.respond_stream(query);
        if all.len() > 1 {
            Answer::Many(all)
        } else {
            Answer::Now(all.pop())
        }
    }
}

/// An authoritative server: the listeners around a [`Responder`].
#[derive(Debug)]
pub struct AuthServer {
    listeners: Listeners,
    handle: ResponderHandle,
}

impl AuthServer {
    /// Binds the UDP sockets and the TCP listener (port 0 picks one, see
    /// [`AuthServer::local_addr`]; UDP and TCP then share the port UDP got).
    pub fn bind(responder: Arc<dyn Responder>, opts: ListenOptions) -> io::Result<Self> {
        let listeners = Listeners::bind(opts)?;
        Ok(Self { listeners, handle: ResponderHandle { swap: Arc::new(Swap::new(responder)) } })
    }

    /// The address the listeners are bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listeners.local_addr()
    }

    /// The server's counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.listeners.stats()
    }

    /// The handle that replaces the responder while the server runs.
    pub fn responder_handle(&self) -> ResponderHandle {
        self.handle.clone()
    }

    /// Serves until `stop` is set (checked every 100 ms), then returns.
    pub fn run(self, stop: Arc<AtomicBool>) -> io::Result<()> {
        self.listeners.run(Arc::new(self.handle), stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{Read, Write};
    use std::net::{TcpStream, UdpSocket};

    /// The query back with QR set and `tag` as its first answer-count byte; nothing for
    /// a message under 12 bytes.
    fn echo(tag: u8) -> Arc<dyn Responder> {
        Arc::new(move |q: &[u8], tcp: bool| {
            (q.len() >= 12).then(|| {
                let mut a = q.to_vec();
                a[2] |= 0x80;
                a[6] = tag;
                a[7] = u8::from(tcp);
                a
            })
        })
    }

    fn udp(server: SocketAddr, q: &[u8]) -> Option<Vec<u8>> {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        s.send_to(q, server).unwrap();
        let mut buf = [0u8; 512];
        s.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
    }

    fn tcp(c: &mut TcpStream, q: &[u8]) -> io::Result<Vec<u8>> {
        c.write_all(&framed(q)?)?;
        let mut len = [0u8; 2];
        c.read_exact(&mut len)?;
        let mut a = vec![0u8; usize::from(u16::from_be_bytes(len))];
        c.read_exact(&mut a)?;
        Ok(a)
    }

    fn start(server: AuthServer) -> (Arc<AtomicBool>, std::thread::JoinHandle<io::Result<()>>) {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        (stop, std::thread::spawn(move || server.run(s)))
    }

    #[test]
    fn answers_udp_and_tcp_counts_and_swaps_the_responder() {
        let mut opts = ListenOptions::new("127.0.0.1:0".parse().unwrap());
        opts.workers = 3;
        let server = AuthServer::bind(echo(1), opts).unwrap();
        let (addr, stats, handle) = (server.local_addr().unwrap(), server.stats(), server.responder_handle());
        let (stop, runner) = start(server);
        let q = [0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        // Many clients, so that every worker's socket gets some.
        for _ in 0..20 {
            let a = udp(addr, &q).unwrap();
            assert_eq!((a[0], a[1], a[2], a[6], a[7]), (0xab, 0xcd, 0x81, 1, 0));
        }
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(tcp(&mut c, &q).unwrap()[6..8], [1, 1]);
        // Dropped: no answer; the TCP connection is closed.
        assert!(udp(addr, &q[..5]).is_none());
        let old = handle.swap(echo(2));
        assert_eq!(old.respond(&q, false).unwrap()[6], 1);
        assert_eq!(udp(addr, &q).unwrap()[6], 2);
        assert_eq!(tcp(&mut c, &q).unwrap()[6], 2);
        assert!(tcp(&mut c, &q[..5]).is_err());
        stop.store(true, Ordering::Relaxed);
        runner.join().unwrap().unwrap();
        assert_eq!(stats.queries.load(Ordering::Relaxed), 25);
        assert_eq!(stats.answered.load(Ordering::Relaxed), 23);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(stats.response_time.snapshot().1, 23);
    }

    /// One client holding all its connections cannot keep another out: its own are
    /// capped, and when every connection is taken the one idle for longest is closed for
    /// the newcomer; connections busy with nothing are all idle, so none is refused then.
    #[test]
    fn an_ipv6_client_is_its_64() {
        let c = |s: &str| client_of(s.parse().unwrap());
        assert_eq!(c("2001:db8:1:2:aaaa::1"), c("2001:db8:1:2:bbbb::2"));
        assert_ne!(c("2001:db8:1:2::1"), c("2001:db8:1:3::1"));
        assert_eq!(c("::ffff:192.0.2.1"), c("192.0.2.1"));
        assert_ne!(c("192.0.2.1"), c("192.0.2.2"));
    }

    #[test]
    fn tcp_per_client_cap_and_oldest_idle_closed_first() {
        let mut opts = ListenOptions::new("127.0.0.1:0".parse().unwrap());
        opts.max_tcp_connections = 4;
        opts.max_tcp_per_client = 3;
        let server = AuthServer::bind(echo(1), opts).unwrap();
        let (addr, stats) = (server.local_addr().unwrap(), server.stats());
        let (stop, runner) = start(server);
        let q = [0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        let connect = |from: [u8; 4]| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.bind(&SocketAddr::from((from, 0)).into()).unwrap();
            s.connect(&addr.into()).unwrap();
            let c: TcpStream = s.into();
            c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            c
        };
        let mut hog: Vec<TcpStream> = (0..3).map(|_| connect([127, 0, 0, 1])).collect();
        for c in &mut hog {
            assert!(tcp(c, &q).is_ok());
        }
        // The fourth of the same client: over its cap, closed at once.
        let mut fourth = connect([127, 0, 0, 1]);
        assert!(tcp(&mut fourth, &q).is_err());
        // Two others: the first fits, the second closes the hog's oldest idle connection.
        let mut other = connect([127, 0, 0, 2]);
        assert!(tcp(&mut other, &q).is_ok());
        let mut third = connect([127, 0, 0, 3]);
        assert!(tcp(&mut third, &q).is_ok());
        assert!(tcp(&mut hog[0], &q).is_err(), "the oldest idle connection is closed");
        assert!(tcp(&mut hog[1], &q).is_ok() && tcp(&mut other, &q).is_ok());
        stop.store(true, Ordering::Relaxed);
        runner.join().unwrap().unwrap();
        assert_eq!(stats.tcp_refused.load(Ordering::Relaxed), 1);
        assert_eq!(stats.tcp_evicted.load(Ordering::Relaxed), 1);
    }
}
