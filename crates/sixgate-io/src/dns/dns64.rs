//! The DNS64 server: the listeners of [`super::AuthServer`] around the sans-IO [`Dns64`],
//! with an answer cache, request coalescing and a hardened upstream client.
//!
//! - **Cache** ([`sixgate_nat64::dns64::Cache`]): whole answers keyed by the client's query
//!   but its ID and EDNS options (a repeated query is answered without touching the DNS64
//!   engine), and the upstream's
//!   answers keyed by question, RD, DO and CD (what the upstream said, given back to
//!   [`Dns64::handle_upstream`] as if it had just said it, so the rules stay in one place).
//!   Upstream queries go without the client's EDNS options (RFC 6891 §6.1.1, see
//!   [`upstream_query`]), so that one client's cookie is never answered to another.
//!   A reload keeps the cache, but forgets the whole answers when a DNS64 setting changed
//!   (they were made under the old settings), and everything when the upstreams changed
//!   (the operator asked for another resolver's answers).
//! - **Coalescing**: while an upstream question is being asked, an identical one waits for
//!   its answer instead of being asked again.
//! - **Bounded**: every query waiting for the upstream ends by its deadline (SERVFAIL, from
//!   [`Dns64::handle_timeout`]); beyond [`ServerOptions::max_pending`] such queries, new
//!   ones are answered SERVFAIL at once, so a hung upstream costs the server neither memory
//!   nor the answers it has in its cache.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sixgate_nat64::dns64::cache::{client_key, upstream_key, upstream_query};
use sixgate_nat64::dns64::{Action, Cache, CacheConfig, Dns64, Dns64Config, Dns64Error, Insert, Pending, Transport};
use sixgate_nat64::ReloadReport;
use tokio::sync::oneshot;

use super::server::{Answer, ListenOptions, Listeners, Service, Swap};
use super::upstream::{Failure, Resolver, Upstreams};
use super::ServerStats;

/// DNS64 server options.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The listeners: address, workers, TCP limits.
    pub listen: ListenOptions,
    /// The upstream resolvers, tried in order (the ones that failed lately last).
    pub upstreams: Vec<SocketAddr>,
    /// The answer caches (each holds up to `max_entries`; 0 disables both).
    pub cache: CacheConfig,
    /// Queries waiting for the upstream at most; beyond, new ones are answered SERVFAIL.
    pub max_pending: usize,
}

impl ServerOptions {
    /// Defaults around one upstream: [`ListenOptions::new`], [`CacheConfig::default`],
    /// 10,000 pending queries.
    pub fn new(listen: SocketAddr, upstream: SocketAddr) -> Self {
        Self {
            listen: ListenOptions::new(listen),
            upstreams: vec![upstream],
            cache: CacheConfig::default(),
            max_pending: 10_000,
        }
    }
}

/// What a query reads once, when it arrives.
#[derive(Debug)]
struct Settings {
    dns64: Dns64,
    resolvers: Vec<Resolver>,
}

/// The settings a running server can take live: its DNS64 and its upstream resolvers.
/// Every query reads them once, when it arrives, and runs to its end with what it read:
/// a change applies to the queries that arrive after it, never to one in flight.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    swap: Arc<Swap<Settings>>,
    answers: Arc<Cache>,
    upstream_cache: Arc<Cache>,
}

impl std::fmt::Debug for Swap<Settings> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Swap").finish_non_exhaustive()
    }
}

impl LiveSettings {
    /// The DNS64 in force now.
    pub fn dns64(&self) -> Dns64 {
        self.swap.get().dns64.clone()
    }

    /// The upstream resolvers in force now.
    pub fn upstreams(&self) -> Vec<SocketAddr> {
        self.swap.get().resolvers.iter().map(|r| r.addr).collect()
    }

    /// Takes `cfg` and `upstreams` live for the queries that arrive from now on; what
    /// changed, by name (the DNS64's settings and `upstream`). A `cfg` that fails changes
    /// nothing. When a DNS64 setting changed, the cached whole answers are forgotten;
    /// when the upstreams changed, the cached upstream answers too.
    pub fn reconfigure(&self, cfg: Dns64Config, upstreams: Vec<SocketAddr>) -> Result<ReloadReport, Dns64Error> {
        let mut report = None;
        self.swap.update(|old| {
            let mut dns64 = old.dns64.clone();
            let mut r = dns64.reconfigure(cfg)?;
            let same = old.resolvers.iter().map(|r| r.addr).eq(upstreams.iter().copied());
            r.mark_changed_where([("upstream", !same)]);
            let resolvers = upstreams.iter().map(|&a| Resolver::new(a)).collect();
            report = Some(r);
            Ok(Arc::new(Settings { dns64, resolvers }))
        })?;
        let report = report.expect("set by the update");
        if !report.changed.is_empty() {
            self.answers.clear();
        }
        if report.changed.contains(&"upstream") {
            self.upstream_cache.clear();
        }
        Ok(report)
    }
}

/// The meta byte of a cached whole answer: it carries synthesized AAAA records.
const SYNTHESIZED: u8 = 1;

type Waiters = Vec<oneshot::Sender<Result<Vec<u8>, Failure>>>;
/// Upstream questions in flight, by key, with the queries waiting for their answer.
type Inflight = Mutex<HashMap<Vec<u8>, Waiters>>;

struct Inner {
    live: LiveSettings,
    upstreams: Upstreams,
    inflight: Box<[Inflight]>,
    hasher: std::collections::hash_map::RandomState,
    pending: AtomicUsize,
    max_pending: usize,
    stats: Arc<ServerStats>,
}

/// The DNS64 as a [`Service`] of the listeners.
#[derive(Clone)]
struct Dns64Service(Arc<Inner>);

/// A bound DNS64 server; [`Dns64Server::run`] serves until the stop flag is set.
#[derive(Debug)]
pub struct Dns64Server {
    listeners: Listeners,
    live: LiveSettings,
    opts: ServerOptions,
}

impl Dns64Server {
    /// Binds the UDP sockets and the TCP listener (port 0 picks one, see
    /// [`Dns64Server::local_addr`]; UDP and TCP then share the port UDP got).
    pub fn bind(dns64: Dns64, opts: ServerOptions) -> io::Result<Self> {
        let listeners = Listeners::bind(opts.listen.clone())?;
        let resolvers = opts.upstreams.iter().map(|&a| Resolver::new(a)).collect();
        let shards = opts.listen.workers.max(1) * 16;
        let live = LiveSettings {
            swap: Arc::new(Swap::new(Arc::new(Settings { dns64, resolvers }))),
            answers: Arc::new(Cache::new(opts.cache, shards)),
            upstream_cache: Arc::new(Cache::new(opts.cache, shards)),
        };
        Ok(Self { listeners, live, opts })
    }

    /// The settings the server takes live ([`LiveSettings::reconfigure`]); the handle
    /// stays valid while the server runs.
    pub fn live(&self) -> LiveSettings {
        self.live.clone()
    }

    /// The address the listeners are bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listeners.local_addr()
    }

    /// The server's counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.listeners.stats()
    }

    /// Serves until `stop` is set (checked every 100 ms), then returns.
    pub fn run(self, stop: Arc<AtomicBool>) -> io::Result<()> {
        let shards = self.opts.listen.workers.max(1) * 16;
        let inner = Inner {
            live: self.live,
            upstreams: Upstreams::default(),
            inflight: (0..shards).map(|_| Mutex::default()).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            pending: AtomicUsize::new(0),
            max_pending: self.opts.max_pending.max(1),
            stats: self.listeners.stats(),
        };
        self.listeners.run(Arc::new(Dns64Service(Arc::new(inner))), stop)
    }
}

impl Service for Dns64Service {
    type Local = (u64, Arc<Settings>);

    fn start(&self) {
        self.0.upstreams.start();
    }

    fn local(&self) -> Self::Local {
        self.0.live.swap.local()
    }

    fn serve(&self, local: &mut Self::Local, query: &[u8], tcp: bool) -> Answer {
        let inner = &self.0;
        let now = Instant::now();
        let answers = &inner.live.answers;
        inner.live.swap.refresh(local);
        // The settings' generation leads the key: an answer made under settings since
        // replaced (a query in flight across a reload) is never found.
        let key = if answers.enabled() {
            client_key(query, tcp).map(|k| [&local.0.to_be_bytes()[..], &k].concat())
        } else {
            None
        };
        if let Some(k) = &key {
            let id = u16::from_be_bytes([query[0], query[1]]);
            if let Some((a, meta)) = answers.get(k, id, now) {
                inner.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                if meta == SYNTHESIZED {
                    inner.stats.synthesized.fetch_add(1, Ordering::Relaxed);
                }
                return Answer::Now(Some(a));
            }
            inner.stats.cache_misses.fetch_add(1, Ordering::Relaxed);
        }
        let settings = &local.1;
        let transport = if tcp { Transport::Tcp } else { Transport::Udp };
        match settings.dns64.handle_query(query, transport, now) {
            Action::Drop => Answer::Now(None),
            Action::Reply(r) => {
                let synthesized = has_aaaa_under(&r, |a| settings.dns64.config().prefix.contains(a));
                inner.finish(key, &r, synthesized, now);
                Answer::Now(Some(r))
            }
            Action::Ask(p) => {
                if inner.pending.fetch_add(1, Ordering::Relaxed) >= inner.max_pending {
                    inner.pending.fetch_sub(1, Ordering::Relaxed);
                    inner.stats.udp_dropped.fetch_add(1, Ordering::Relaxed);
                    return Answer::Now(Some(settings.dns64.handle_timeout(p)));
                }
                let (this, settings) = (Arc::clone(&self.0), Arc::clone(settings));
                Answer::Later(Box::pin(async move {
                    let r = this.resolve(&settings, p).await;
                    this.pending.fetch_sub(1, Ordering::Relaxed);
                    let (reply, synthesized) = r?;
                    this.finish(key, &reply, synthesized, Instant::now());
                    Some(reply)
                }))
            }
        }
    }
}

impl Inner {
    fn count_insert(&self, r: Insert) {
        if r == Insert::Evicted {
            self.stats.cache_evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts and caches a whole answer.
    fn finish(&self, key: Option<Vec<u8>>, reply: &[u8], synthesized: bool, now: Instant) {
        if synthesized {
            self.stats.synthesized.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(k) = key {
            let r = self.live.answers.insert(k, reply, if synthesized { SYNTHESIZED } else { 0 }, now);
            self.count_insert(r);
        }
    }

    /// Runs a query that needs the upstream to its end: the answer, and whether it carries
    /// AAAA records of the server's own making.
    async fn resolve(&self, settings: &Settings, mut p: Box<Pending>) -> Option<(Vec<u8>, bool)> {
        let dns64 = &settings.dns64;
        let mut asked_a = false;
        loop {
            p.set_upstream_id(super::upstream::random_u64() as u16);
            asked_a |= question_type(p.query()) == Some(TYPE_A);
            let action = match self.upstream_answer(settings, &p).await {
                Ok(bytes) => dns64.handle_upstream(p, &bytes, Instant::now()),
                Err(f) => {
                    self.stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
                    if f == Failure::Timeout {
                        self.stats.upstream_timeouts.fetch_add(1, Ordering::Relaxed);
                    }
                    return Some((dns64.handle_timeout(p), false));
                }
            };
            match action {
                Action::Reply(r) => {
                    let synthesized = asked_a && has_aaaa_under(&r, |a| dns64.config().prefix.contains(a));
                    return Some((r, synthesized));
                }
                Action::Ask(next) => p = next,
                Action::Drop => return None,
            }
        }
    }

    /// The upstream's answer to `p`'s query (with its ID): from the cache, from an
    /// identical question in flight, or asked.
    async fn upstream_answer(&self, settings: &Settings, p: &Pending) -> Result<Vec<u8>, Failure> {
        let rewritten = upstream_query(p.query());
        let Some((query, key)) = rewritten.and_then(|q| upstream_key(&q).map(|k| (q, k))) else {
            return self
                .upstreams
                .exchange(&settings.resolvers, p.query(), p.deadline(), &self.stats.upstream_queries)
                .await;
        };
        let now = Instant::now();
        if let Some((a, _)) = self.live.upstream_cache.get(&key, p.upstream_id(), now) {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(a);
        }
        let shard = &self.inflight[self.hasher.hash_one(&key) as usize % self.inflight.len()];
        let waiter = {
            let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
            // Again under the lock: a leader stores its answer before it leaves the map,
            // so a question finds either the leader or its answer, and is never asked twice.
            if let Some((a, _)) = self.live.upstream_cache.get(&key, p.upstream_id(), Instant::now()) {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(a);
            }
            if self.live.upstream_cache.enabled() {
                self.stats.cache_misses.fetch_add(1, Ordering::Relaxed);
            }
            match map.get_mut(&key) {
                Some(w) => {
                    let (tx, rx) = oneshot::channel();
                    w.push(tx);
                    Some(rx)
                }
                None => {
                    map.insert(key.clone(), Vec::new());
                    None
                }
            }
        };
        let id = p.query()[..2].to_vec();
        if let Some(rx) = waiter {
            self.stats.coalesced.fetch_add(1, Ordering::Relaxed);
            let deadline = tokio::time::Instant::from_std(p.deadline());
            return match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(Ok(mut a))) => {
                    a[..2].copy_from_slice(&id);
                    Ok(a)
                }
                Ok(Ok(Err(f))) => Err(f),
                Ok(Err(_)) => Err(Failure::Failed),
                Err(_) => Err(Failure::Timeout),
            };
        }
        // The leader: whatever happens (even if this future is dropped), the waiters are
        // released.
        struct Release<'a> {
            shard: &'a Inflight,
            key: &'a [u8],
        }
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.shard.lock().unwrap_or_else(|e| e.into_inner()).remove(self.key);
            }
        }
        let release = Release { shard, key: &key };
        let r = self.upstreams.exchange(&settings.resolvers, &query, p.deadline(), &self.stats.upstream_queries).await;
        if let Ok(a) = &r {
            let r = self.live.upstream_cache.insert(key.clone(), a, 0, Instant::now());
            self.count_insert(r);
        }
        let waiters = shard.lock().unwrap_or_else(|e| e.into_inner()).remove(&key).unwrap_or_default();
        // Removed already: a new leader of the same key may be in the map by now.
        std::mem::forget(release);
        for w in waiters {
            let _ = w.send(r.clone());
        }
        r
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream, UdpSocket};
    use std::thread;
    use std::time::Duration;

    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    use sixgate_nat64::dns64::Dns64Config;

    /// A fake upstream on 127.0.0.1 (UDP and TCP): NODATA for AAAA; for A, 40 A records
    /// (over 512 bytes: truncated over UDP, whole over TCP) for `big.test.`, one otherwise;
    /// never answers `slow.test.`.
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
        w.write_all(&super::super::framed(msg)?)
    }

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
        assert!(live.reconfigure(bad, vec![upstream]).is_err());
        let r = live.reconfigure(Dns64Config::new("2001:db8:2::/96".parse().unwrap()), vec![upstream]).unwrap();
        assert_eq!(r.changed, ["prefix"]);
        release.send(()).unwrap();
        assert_eq!(aaaa(&held.join().unwrap()), "2001:db8:1::808:404".parse::<std::net::Ipv6Addr>().unwrap());
        assert_eq!(aaaa(&ask(addr, "next.test.", false)), "2001:db8:2::808:404".parse::<std::net::Ipv6Addr>().unwrap());
        // The held query's answer, made under the old prefix, is not served from the cache.
        assert_eq!(aaaa(&ask(addr, "held.test.", false)), "2001:db8:2::808:404".parse::<std::net::Ipv6Addr>().unwrap());
        assert_eq!(live.upstreams(), [upstream]);
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
        assert_eq!(buckets.len(), super::super::ResponseTimes::BOUNDS_MS.len());
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative");
        // The 200 ms timeout is above the 100 ms bound.
        assert!(buckets.iter().find(|b| b.0 == 0.1).unwrap().1 <= 4);
    }

    #[test]
    fn tcp_cap_and_idle_timeout() {
        let upstream = fake_upstream();
        let dns64 = Dns64::new(Dns64Config::new("64:ff9b::/96".parse().unwrap())).unwrap();
        let mut opts = ServerOptions::new("127.0.0.1:0".parse().unwrap(), upstream);
        opts.listen.max_tcp_per_client = 1;
        opts.listen.tcp_idle_timeout = Duration::from_millis(500);
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
        // Over the client's cap: closed at once.
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

    /// RFC 5452: an answer counts only from the address asked, with the query's ID and
    /// question; a forged one from another port and one for another question are ignored.
    /// A resolver that does not answer is tried after the others for a while.
    #[test]
    fn forged_answers_are_ignored_and_a_dead_upstream_is_tried_last() {
        let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap();
        let dead_count = Arc::new(AtomicUsize::new(0));
        {
            let n = Arc::clone(&dead_count);
            thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while dead.recv_from(&mut buf).is_ok() {
                    n.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let tricky = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tricky_addr = tricky.local_addr().unwrap();
        let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = tricky.recv_from(&mut buf) {
                let Ok(q) = Message::from_vec(&buf[..n]) else { continue };
                let query = q.queries[0].clone();
                let reply = |name: &Name, a: Option<[u8; 4]>| {
                    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
                    m.add_query(Query::query(name.clone(), query.query_type));
                    match (query.query_type, a) {
                        (RecordType::A, Some(a)) => {
                            m.add_answer(Record::from_rdata(name.clone(), 60, RData::A(A(a.into()))));
                        }
                        (RecordType::AAAA, Some(_)) => {
                            let bad = "2001:db8::bad".parse::<std::net::Ipv6Addr>().unwrap();
                            m.add_answer(Record::from_rdata(name.clone(), 60, RData::AAAA(bad.into())));
                        }
                        _ => {}
                    }
                    m.to_vec().unwrap()
                };
                // Right ID and question, wrong source port.
                let _ = forger.send_to(&reply(&query.name, Some([6, 6, 6, 6])), peer);
                // Right source and ID, another question.
                let _ = tricky.send_to(&reply(&Name::from_ascii("other.test.").unwrap(), Some([7, 7, 7, 7])), peer);
                // The answer.
                let real = if query.query_type == RecordType::A { Some([8, 8, 4, 4]) } else { None };
                let _ = tricky.send_to(&reply(&query.name, real), peer);
            }
        });
        let mut cfg = Dns64Config::new("2001:db8:64::/96".parse().unwrap());
        cfg.upstream_timeout = Duration::from_millis(1000);
        let mut opts = ServerOptions::new("127.0.0.1:0".parse().unwrap(), dead_addr);
        opts.upstreams.push(tricky_addr);
        let server = Dns64Server::bind(Dns64::new(cfg).unwrap(), opts).unwrap();
        let addr = server.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || server.run(stop))
        };
        let want = "2001:db8:64::808:404".parse::<std::net::Ipv6Addr>().unwrap();
        for name in ["a.test.", "b.test.", "c.test."] {
            let m = ask(addr, name, false);
            assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
            assert!(matches!(&m.answers[..], [r] if matches!(&r.data, RData::AAAA(a) if a.0 == want)), "{m:?}");
        }
        // The dead resolver was asked once: then it went to the back of the line.
        assert_eq!(dead_count.load(Ordering::Relaxed), 1);
        stop.store(true, Ordering::Relaxed);
        runner.join().unwrap().unwrap();
    }

    /// Answers are served from the cache: the upstream is asked once per question, and a
    /// cache of size 0 asks every time.
    #[test]
    fn repeated_queries_come_from_the_cache_unless_it_is_off() {
        for size in [1000, 0] {
            let up = UdpSocket::bind("127.0.0.1:0").unwrap();
            let upstream = up.local_addr().unwrap();
            let asked = Arc::new(AtomicUsize::new(0));
            {
                let asked = Arc::clone(&asked);
                thread::spawn(move || {
                    let mut buf = [0u8; 1500];
                    while let Ok((n, peer)) = up.recv_from(&mut buf) {
                        asked.fetch_add(1, Ordering::Relaxed);
                        let q = Message::from_vec(&buf[..n]).unwrap();
                        let query = q.queries[0].clone();
                        let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
                        m.add_query(query.clone());
                        if query.query_type == RecordType::A {
                            m.add_answer(Record::from_rdata(query.name.clone(), 60, RData::A(A([8, 8, 4, 4].into()))));
                        } else {
                            let soa = hickory_proto::rr::rdata::SOA::new(
                                Name::from_ascii("ns.test.").unwrap(),
                                Name::from_ascii("h.test.").unwrap(),
                                1,
                                2,
                                3,
                                4,
                                30,
                            );
                            m.add_authority(Record::from_rdata(
                                Name::from_ascii("test.").unwrap(),
                                30,
                                RData::SOA(soa),
                            ));
                        }
                        let _ = up.send_to(&m.to_vec().unwrap(), peer);
                    }
                });
            }
            let mut opts = ServerOptions::new("127.0.0.1:0".parse().unwrap(), upstream);
            opts.cache = CacheConfig::new(size);
            let server = Dns64Server::bind(Dns64::new(Dns64Config::default()).unwrap(), opts).unwrap();
            let (addr, stats) = (server.local_addr().unwrap(), server.stats());
            let stop = Arc::new(AtomicBool::new(false));
            let runner = {
                let stop = Arc::clone(&stop);
                thread::spawn(move || server.run(stop))
            };
            for _ in 0..5 {
                let m = ask(addr, "cached.test.", false);
                assert_eq!(m.answers.len(), 1);
                // RFC 6147 §5.1.7: the A record's TTL capped by the SOA of the NODATA.
                assert!(m.answers[0].ttl <= 30, "{m:?}");
            }
            // Over TCP the whole answer is cached apart, the upstream answers are shared.
            assert_eq!(ask(addr, "cached.test.", true).answers.len(), 1);
            stop.store(true, Ordering::Relaxed);
            runner.join().unwrap().unwrap();
            if size == 0 {
                assert_eq!(asked.load(Ordering::Relaxed), 12);
                assert_eq!(stats.cache_hits.load(Ordering::Relaxed), 0);
            } else {
                assert_eq!(asked.load(Ordering::Relaxed), 2);
                // Four whole answers over UDP, then the AAAA and A upstream answers for TCP.
                assert_eq!(stats.cache_hits.load(Ordering::Relaxed), 6);
                assert_eq!(stats.synthesized.load(Ordering::Relaxed), 6);
            }
        }
    }

    /// Answers to queries with the DO bit or the CD bit are cached apart from plain ones:
    /// an upstream that answers each kind differently is seen so by every client, asked
    /// twice each (the second time from the cache).
    #[test]
    fn do_and_cd_answers_are_never_mixed_with_plain_ones() {
        let up = UdpSocket::bind("127.0.0.1:0").unwrap();
        let upstream = up.local_addr().unwrap();
        let asked = Arc::new(AtomicUsize::new(0));
        {
            let asked = Arc::clone(&asked);
            thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while let Ok((n, peer)) = up.recv_from(&mut buf) {
                    asked.fetch_add(1, Ordering::Relaxed);
                    let q = Message::from_vec(&buf[..n]).unwrap();
                    let query = q.queries[0].clone();
                    let dnssec = q.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
                    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
                    m.metadata.checking_disabled = q.metadata.checking_disabled;
                    m.add_query(query.clone());
                    let name = query.name.clone();
                    match query.query_type {
                        // A real AAAA for DNSSEC-aware queries only.
                        RecordType::AAAA if dnssec => {
                            let a = "2001:db8::d0".parse::<std::net::Ipv6Addr>().unwrap();
                            m.add_answer(Record::from_rdata(name, 60, RData::AAAA(a.into())));
                        }
                        RecordType::A => {
                            let last = if q.metadata.checking_disabled { 6 } else { 4 };
                            m.add_answer(Record::from_rdata(name, 60, RData::A(A([8, 8, 4, last].into()))));
                        }
                        _ => {}
                    }
                    let _ = up.send_to(&m.to_vec().unwrap(), peer);
                }
            });
        }
        let server = Dns64Server::bind(
            Dns64::new(Dns64Config::default()).unwrap(),
            ServerOptions::new("127.0.0.1:0".parse().unwrap(), upstream),
        )
        .unwrap();
        let (addr, stats) = (server.local_addr().unwrap(), server.stats());
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || server.run(stop))
        };
        let ask_with = |dnssec: bool, cd: bool| {
            let mut m = Message::new(0x7777, MessageType::Query, OpCode::Query);
            m.metadata.recursion_desired = true;
            m.metadata.checking_disabled = cd;
            m.add_query(Query::query(Name::from_ascii("mixed.test.").unwrap(), RecordType::AAAA));
            let mut e = hickory_proto::op::Edns::new();
            e.set_dnssec_ok(dnssec);
            m.edns = Some(e);
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.send_to(&m.to_vec().unwrap(), addr).unwrap();
            let mut buf = [0u8; 1500];
            let n = s.recv(&mut buf).unwrap();
            let a = Message::from_vec(&buf[..n]).unwrap();
            match &a.answers[..] {
                [r] => match &r.data {
                    RData::AAAA(x) => x.0.to_string(),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
        };
        for _ in 0..2 {
            assert_eq!(ask_with(false, false), "64:ff9b::808:404");
            assert_eq!(ask_with(true, false), "2001:db8::d0");
            assert_eq!(ask_with(false, true), "64:ff9b::808:406");
        }
        stop.store(true, Ordering::Relaxed);
        runner.join().unwrap().unwrap();
        // Plain: AAAA and A; DO: AAAA; CD: AAAA and A. The second round from the cache.
        assert_eq!(asked.load(Ordering::Relaxed), 5);
        assert_eq!(stats.cache_hits.load(Ordering::Relaxed), 3);
    }
}
