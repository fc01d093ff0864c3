//! The proxy's I/O (feature `server`, Linux): tokio listeners, the first bytes read under
//! a deadline and parsed by the sans-IO parsers, the route decided by [`Routes`], a DNS
//! lookup (hickory-resolver) in DNS mode, the connection to the IPv6 backend (with a PROXY
//! header or from a NAT46 source; in DNS mode up to three of the name's addresses in turn,
//! [`Routes::candidates`], all within the connect timeout), then a bidirectional copy with
//! half-close and an idle timeout.
//!
//! NAT46 sources need the host to accept the prefix as local: `ip -6 route add local
//! PREFIX dev lo` (the outgoing sockets also set `IPV6_FREEBIND`); [`check_nat46`] tells.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use sixgate_core::rfc6052::Pool6;
use socket2::{Domain, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use crate::proxy_protocol::{encode_v1, encode_v2, Tlv};
use crate::route::{attempt_budget, nat46_source, Backend, Decision, Refusal, Routes, SendProxy};
use crate::{http, tls, Peek};

mod copy;

/// `PP2_TYPE_AUTHORITY`: the host name the client asked for (PROXY protocol §2.2.1).
const PP2_TYPE_AUTHORITY: u8 = 0x02;

/// What a listener speaks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TLS: routed by the ClientHello's server name (SNI).
    Tls,
    /// HTTP/1.x: routed by the request's Host.
    Http,
}

/// One listening address and its routes.
#[derive(Debug, Clone)]
pub struct ListenerSpec {
    /// Where to listen (an IPv6 address listens IPv6 only).
    pub listen: SocketAddr,
    /// TLS or HTTP.
    pub protocol: Protocol,
    /// Where each name goes.
    pub routes: Routes,
}

/// Timeouts and limits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The time a client has to send its whole ClientHello or request head.
    pub hello_timeout: Duration,
    /// A connection with no byte in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// The time a backend has to accept the connection.
    pub connect_timeout: Duration,
    /// Connections at once, all listeners together; more are closed at once.
    pub max_connections: usize,
    /// Connections at once from one client address.
    pub max_per_source: usize,
    /// The DNS server for DNS mode; `None`: the system's (`/etc/resolv.conf`).
    pub resolver: Option<SocketAddr>,
    /// Threads running connections; 0: one per CPU.
    pub workers: usize,
    /// Copy with splice(2) (socket → pipe → socket, no copy to user space; the default:
    /// less than half the CPU time per GB of the buffered copy) instead of read/write
    /// through a buffer.
    pub splice: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            hello_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(5),
            max_connections: 20_000,
            max_per_source: 512,
            resolver: None,
            workers: 0,
            splice: true,
        }
    }
}

/// Connections by outcome, and bytes; read at any time.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connected to a backend.
    pub routed: AtomicU64,
    /// No route for the name (or no name) and no default.
    pub unknown_name: AtomicU64,
    /// DNS mode: the name's addresses all outside the backend prefixes.
    pub refused_prefix: AtomicU64,
    /// The ClientHello or request head did not arrive in time.
    pub timeout: AtomicU64,
    /// The backend refused the connection (RST); in DNS mode, the last address tried did.
    pub backend_refused: AtomicU64,
    /// The backend did not answer in time, or could not be reached; in DNS mode, the last
    /// address tried.
    pub backend_unreachable: AtomicU64,
    /// Closed at once: a connection limit was reached.
    pub limit: AtomicU64,
    /// Not a ClientHello or request head, or closed before one was complete.
    pub bad_input: AtomicU64,
    /// Routed connections closed by the idle timeout.
    pub idle_closed: AtomicU64,
    /// Bytes copied from clients to backends (the first bytes and PROXY headers included).
    pub bytes_to_backend: AtomicU64,
    /// Bytes copied from backends to clients.
    pub bytes_to_client: AtomicU64,
    /// Connections open now.
    pub active: AtomicUsize,
}

impl Stats {
    /// The outcome counters by their stable names.
    pub fn outcomes(&self) -> [(&'static str, u64); 9] {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("routed", g(&self.routed)),
            ("unknown_name", g(&self.unknown_name)),
            ("refused_prefix", g(&self.refused_prefix)),
            ("timeout", g(&self.timeout)),
            ("backend_refused", g(&self.backend_refused)),
            ("backend_unreachable", g(&self.backend_unreachable)),
            ("limit", g(&self.limit)),
            ("bad_input", g(&self.bad_input)),
            ("idle_closed", g(&self.idle_closed)),
        ]
    }
}

/// Replaces listeners' routes while the proxy runs: connections in progress keep the
/// routes they started with.
#[derive(Debug, Clone)]
pub struct LiveRoutes(Vec<Arc<RwLock<Arc<Routes>>>>);

impl LiveRoutes {
    /// The number of listeners.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no listener.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Gives listener `i` (in the order of the specs) new routes; `false` if there is no such listener.
    pub fn set(&self, i: usize, routes: Routes) -> bool {
        let Some(slot) = self.0.get(i) else { return false };
        let mut w = slot.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *w = Arc::new(routes);
        true
    }
}

struct Listener {
    socket: std::net::TcpListener,
    protocol: Protocol,
    routes: Arc<RwLock<Arc<Routes>>>,
}

/// A bound proxy, ready to [`Proxy::run`].
pub struct Proxy {
    listeners: Vec<Listener>,
    opts: Options,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("listeners", &self.local_addrs()).finish_non_exhaustive()
    }
}

/// Listens on `addr` (IPv6 only for an IPv6 address), address reuse on, a long backlog.
fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.set_tcp_nodelay(true)?;
    s.bind(&addr.into())?;
    s.listen(4096)?;
    Ok(s.into())
}

/// Checks that the host takes addresses under `prefix` as local, as NAT46 sources need:
/// a listener bound (with `IPV6_FREEBIND`) to an address under it must be reachable from
/// this host, which only a local route for the prefix gives (binding alone always works
/// with `IPV6_FREEBIND`; without the route the backends' answers would never come back).
pub fn check_nat46(prefix: &Pool6) -> Result<(), String> {
    let probe = sixgate_core::rfc6052::embed(prefix, Ipv4Addr::new(192, 0, 2, 1));
    let fail = |why: String| {
        format!(
            "nat46_prefix {prefix}: {why}: add a local route for the prefix, `ip -6 route add local {} dev lo`, \
             and route it from the backends to this host",
            prefix.net()
        )
    };
    let l = Socket::new(Domain::IPV6, Type::STREAM, None).map_err(|e| fail(format!("cannot open a socket: {e}")))?;
    l.set_freebind_v6(true).map_err(|e| fail(format!("IPV6_FREEBIND: {e}")))?;
    l.bind(&SocketAddr::V6(SocketAddrV6::new(probe, 0, 0, 0)).into())
        .and_then(|()| l.listen(1))
        .map_err(|e| fail(format!("cannot bind {probe}: {e}")))?;
    let at = l.local_addr().ok().and_then(|a| a.as_socket()).ok_or_else(|| fail("no local address".into()))?;
    match std::net::TcpStream::connect_timeout(&at, Duration::from_secs(1)) {
        Ok(_) => Ok(()),
        Err(e) => Err(fail(format!("{probe} is not local to this host ({e})"))),
    }
}

impl Proxy {
    /// Binds every listener; raises the soft limit on open files to the hard one (each
    /// connection holds two descriptors).
    pub fn bind(specs: Vec<ListenerSpec>, opts: Options) -> io::Result<Self> {
        raise_nofile();
        let mut listeners = Vec::with_capacity(specs.len());
        for s in specs {
            let socket = listen(s.listen)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {}: {e}", s.listen)))?;
            listeners.push(Listener {
                socket,
                protocol: s.protocol,
                routes: Arc::new(RwLock::new(Arc::new(s.routes))),
            });
        }
        Ok(Self { listeners, opts, stats: Arc::new(Stats::default()) })
    }

    /// The bound addresses, in the order of the specs.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.socket.local_addr().ok()).collect()
    }

    /// The counters.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// The handle that replaces routes while running.
    pub fn live(&self) -> LiveRoutes {
        LiveRoutes(self.listeners.iter().map(|l| Arc::clone(&l.routes)).collect())
    }

    /// Serves until `stop` is set (looked at every 100 ms); then closes the listeners and
    /// every connection.
    pub fn run(self, stop: Arc<AtomicBool>) -> io::Result<()> {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if self.opts.workers > 0 {
            b.worker_threads(self.opts.workers);
        }
        let rt = b.enable_io().enable_time().thread_name("sixgate-proxy").build()?;
        let r = rt.block_on(self.serve(stop));
        rt.shutdown_timeout(Duration::from_millis(100));
        r
    }

    async fn serve(self, stop: Arc<AtomicBool>) -> io::Result<()> {
        let resolver = match self.listeners.iter().any(|l| read(&l.routes).dns().is_some()) {
            true => Some(Arc::new(resolver(self.opts.resolver)?)),
            false => None,
        };
        let shared = Arc::new(Shared {
            opts: self.opts,
            stats: self.stats,
            per_source: Mutex::new(HashMap::new()),
            resolver,
            epoch: Instant::now(),
        });
        let mut tasks = Vec::new();
        for l in self.listeners {
            let socket = TcpListener::from_std(l.socket)?;
            let shared = Arc::clone(&shared);
            tasks.push(tokio::spawn(accept_loop(socket, l.protocol, l.routes, shared)));
        }
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for t in tasks {
            t.abort();
        }
        Ok(())
    }
}

/// The soft `RLIMIT_NOFILE` up to the hard limit; left as it is when that fails.
fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

fn read(routes: &RwLock<Arc<Routes>>) -> Arc<Routes> {
    Arc::clone(&routes.read().unwrap_or_else(std::sync::PoisonError::into_inner))
}

fn resolver(server: Option<SocketAddr>) -> io::Result<TokioResolver> {
    let provider = TokioRuntimeProvider::default();
    let builder = match server {
        Some(s) => {
            let mut udp = ConnectionConfig::udp();
            udp.port = s.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = s.port();
            let ns = NameServerConfig::new(s.ip(), true, vec![udp, tcp]);
            TokioResolver::builder_with_config(ResolverConfig::from_name_servers(vec![ns]), provider)
        }
        None => TokioResolver::builder(provider).map_err(|e| io::Error::other(format!("system resolver: {e}")))?,
    };
    builder.build().map_err(|e| io::Error::other(format!("resolver: {e}")))
}

struct Shared {
    opts: Options,
    stats: Arc<Stats>,
    per_source: Mutex<HashMap<IpAddr, usize>>,
    resolver: Option<Arc<TokioResolver>>,
    epoch: Instant,
}

/// A connection's place under the limits, given back on drop.
struct Slot<'a> {
    shared: &'a Shared,
    source: IpAddr,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.shared.stats.active.fetch_sub(1, Ordering::Relaxed);
        let mut m = self.shared.per_source.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.source);
            }
        }
    }
}

impl Shared {
    fn admit(&self, source: IpAddr) -> Option<Slot<'_>> {
        if self.stats.active.fetch_add(1, Ordering::Relaxed) >= self.opts.max_connections {
            self.stats.active.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let mut m = self.per_source.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(source).or_insert(0);
        if *n >= self.opts.max_per_source {
            drop(m);
            self.stats.active.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        *n += 1;
        Some(Slot { shared: self, source })
    }
}

async fn accept_loop(l: TcpListener, protocol: Protocol, routes: Arc<RwLock<Arc<Routes>>>, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and the like: wait a little rather than spin.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let routes = read(&routes);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let Some(_slot) = shared.admit(peer.ip()) else {
                shared.stats.limit.fetch_add(1, Ordering::Relaxed);
                if protocol == Protocol::Http {
                    let _ = stream.try_write(&http::error_response(503));
                }
                return;
            };
            let local = stream.local_addr().unwrap_or(peer);
            connection(stream, peer, local, protocol, &routes, &shared).await;
        });
    }
}

/// What the first bytes said.
struct First {
    name: Option<String>,
    record_version: u16,
}

enum FirstError {
    Timeout,
    Bad,
    /// HTTP without a usable Host.
    NoHost,
}

/// Reads until the parser has a ClientHello or a request head, under the hello deadline.
async fn first_bytes(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
    protocol: Protocol,
    limit: usize,
) -> Result<First, FirstError> {
    loop {
        let parsed = match protocol {
            Protocol::Tls => match tls::peek_client_hello(buf, limit) {
                Ok(Peek::Done(h)) => Some(First { name: h.server_name, record_version: h.record_version }),
                Ok(Peek::NeedMore) => None,
                Err(_) => return Err(FirstError::Bad),
            },
            Protocol::Http => match http::peek_request_head(buf, limit) {
                Ok(Peek::Done(h)) => Some(First { name: Some(h.host), record_version: 0 }),
                Ok(Peek::NeedMore) => None,
                Err(http::HttpError::BadHost(_)) => return Err(FirstError::NoHost),
                Err(_) => return Err(FirstError::Bad),
            },
        };
        if let Some(f) = parsed {
            return Ok(f);
        }
        if buf.len() >= limit {
            return Err(FirstError::Bad);
        }
        buf.reserve(4096.min(limit - buf.len()));
        stream.readable().await.map_err(|_| FirstError::Bad)?;
        match stream.try_read_buf(buf) {
            Ok(0) => return Err(FirstError::Bad),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Err(FirstError::Bad),
        }
    }
}

/// One client connection, from its first byte to its close.
async fn connection(
    client: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    protocol: Protocol,
    routes: &Routes,
    shared: &Shared,
) {
    let stats = &shared.stats;
    let limit = match protocol {
        Protocol::Tls => tls::DEFAULT_LIMIT,
        Protocol::Http => http::DEFAULT_LIMIT,
    };
    let mut buf = Vec::with_capacity(2048);
    let first =
        tokio::time::timeout(shared.opts.hello_timeout, Box::pin(first_bytes(&client, &mut buf, protocol, limit)))
            .await
            .unwrap_or(Err(FirstError::Timeout));
    let first = match first {
        Ok(f) => f,
        Err(e) => {
            let counter = match e {
                FirstError::Timeout => &stats.timeout,
                FirstError::Bad | FirstError::NoHost => &stats.bad_input,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if protocol == Protocol::Http && !matches!(e, FirstError::Timeout) {
                let _ = copy::write_all(&client, &http::error_response(400), shared.opts.hello_timeout).await;
            }
            return;
        }
    };
    let mut decision = routes.route(first.name.as_deref());
    let mut tries = Vec::new();
    if let Decision::Resolve { name } = &decision {
        // Boxed: the resolver's future is large, and would otherwise enlarge every
        // connection's task for its whole life.
        let addrs = Box::pin(lookup(shared, name)).await;
        tries = routes.candidates(&addrs);
        decision = routes.admit(&addrs);
    }
    match decision {
        Decision::Connect(b) if tries.is_empty() => tries.push(b),
        Decision::Connect(_) => {}
        Decision::Resolve { .. } => return,
        Decision::Refuse(r) => {
            match r {
                Refusal::UnknownName => &stats.unknown_name,
                Refusal::RefusedPrefix => &stats.refused_prefix,
            }
            .fetch_add(1, Ordering::Relaxed);
            let answer = match protocol {
                Protocol::Tls => tls::unrecognized_name_alert(first.record_version).to_vec(),
                Protocol::Http => http::error_response(421),
            };
            let _ = copy::write_all(&client, &answer, shared.opts.hello_timeout).await;
            copy::shutdown_write(&client);
            return;
        }
    }
    let source = routes.nat46().and_then(|p| nat46_source(&p, peer.ip()));
    let (upstream, backend) = match Box::pin(connect_any(&tries, source, shared.opts.connect_timeout)).await {
        Ok(x) => x,
        Err(failure) => {
            tracing::debug!("{peer}: no backend of {} accepted: {failure:?}", tries.len());
            let (counter, status) = match failure {
                Failure::Refused => (&stats.backend_refused, 502),
                Failure::Unreachable => (&stats.backend_unreachable, 502),
                Failure::TimedOut => (&stats.backend_unreachable, 504),
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if protocol == Protocol::Http {
                let _ = copy::write_all(&client, &http::error_response(status), shared.opts.hello_timeout).await;
            }
            copy::shutdown_write(&client);
            return;
        }
    };
    stats.routed.fetch_add(1, Ordering::Relaxed);
    let mut head = match backend.send_proxy {
        Some(SendProxy::V1) => encode_v1(peer, local),
        Some(SendProxy::V2) => {
            let tlvs: Vec<Tlv> =
                first.name.iter().map(|n| Tlv { kind: PP2_TYPE_AUTHORITY, value: n.as_bytes().to_vec() }).collect();
            encode_v2(peer, local, &tlvs)
        }
        None => Vec::new(),
    };
    head.extend_from_slice(&buf);
    drop(buf);
    let idle = shared.opts.idle_timeout;
    if copy::write_all(&upstream, &head, idle).await.is_err() {
        return;
    }
    stats.bytes_to_backend.fetch_add(head.len() as u64, Ordering::Relaxed);
    drop(head);
    match copy::bidirectional(&client, &upstream, idle, &shared.epoch, stats, shared.opts.splice).await {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            stats.idle_closed.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {}
    }
}

/// The AAAA records of `name`; none on any failure (the routes then fall back).
async fn lookup(shared: &Shared, name: &str) -> Vec<Ipv6Addr> {
    let Some(r) = &shared.resolver else { return Vec::new() };
    let fqdn = format!("{name}.");
    match tokio::time::timeout(shared.opts.connect_timeout, r.ipv6_lookup(fqdn.as_str())).await {
        Ok(Ok(l)) => l
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::AAAA(a) => Some(a.0),
                _ => None,
            })
            .collect(),
        Ok(Err(e)) => {
            tracing::debug!("AAAA {name}: {e}");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}

/// Why no backend of a connection could be reached: the last attempt's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Refused (RST).
    Refused,
    /// No route, or an ICMPv6 error.
    Unreachable,
    /// No answer within the attempt's share of the connect timeout.
    TimedOut,
}

/// The first of `tries` that accepts, tried in turn, all within `timeout` (each attempt
/// gets its share, [`attempt_budget`]); the backend that accepted, or the last failure.
async fn connect_any(
    tries: &[Backend],
    source: Option<Ipv6Addr>,
    timeout: Duration,
) -> Result<(TcpStream, Backend), Failure> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = Failure::TimedOut;
    for (i, backend) in tries.iter().enumerate() {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            return Err(Failure::TimedOut);
        }
        let budget = attempt_budget(remaining, tries.len() - i);
        last = match tokio::time::timeout(budget, connect(backend, source)).await {
            Ok(Ok(s)) => return Ok((s, *backend)),
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::debug!("backend {}: {e}", backend.addr);
                Failure::Refused
            }
            Ok(Err(e)) => {
                tracing::debug!("backend {}: {e}", backend.addr);
                Failure::Unreachable
            }
            Err(_) => {
                tracing::debug!("backend {}: no answer within {budget:?}", backend.addr);
                Failure::TimedOut
            }
        };
    }
    Err(last)
}

/// A TCP connection to `backend`, from `source` (any port) when given.
async fn connect(backend: &Backend, source: Option<Ipv6Addr>) -> io::Result<TcpStream> {
    let s = Socket::new(Domain::IPV6, Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_nonblocking(true)?;
    s.set_tcp_nodelay(true)?;
    if let Some(src) = source {
        s.set_freebind_v6(true)?;
        s.bind(&SocketAddr::V6(SocketAddrV6::new(src, 0, 0, 0)).into())?;
    }
    let socket = tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(s));
    socket.connect(SocketAddr::V6(backend.addr)).await
}

/// `SockRef` for the copy module.
fn sock(s: &TcpStream) -> SockRef<'_> {
    SockRef::from(s)
}
