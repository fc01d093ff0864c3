//! The upstream client of the DNS64: a pool of UDP sockets on random ports, random IDs,
//! answers matched to their question and source (RFC 5452), TCP when truncated (RFC 7766
//! §5), several resolvers with failover, and a deadline on everything.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

use super::{framed, read_framed};

/// UDP sockets per address family. RFC 5452 §9.2 asks for unpredictable source ports: each
/// socket is bound to a port the kernel picks at random, each query goes out on a socket
/// picked at random, with a random ID.
const POOL: usize = 64;

/// How long a resolver that failed is tried after the others.
const PENALTY: Duration = Duration::from_secs(30);

/// An unpredictable number, from the standard library's randomly keyed hasher (SipHash
/// with per-process random keys, a new key pair per call).
pub(crate) fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

/// One upstream resolver and its health.
#[derive(Debug)]
pub(crate) struct Resolver {
    pub(crate) addr: SocketAddr,
    /// Milliseconds since [`Upstreams::epoch`] until which it is tried last (0: healthy).
    penalty_until: AtomicU64,
}

impl Resolver {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self { addr, penalty_until: AtomicU64::new(0) }
    }
}

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No resolver answered by the deadline.
    Timeout,
    /// Every resolver failed otherwise (unreachable, bad TCP answer).
    Failed,
}

struct Waiter {
    from: SocketAddr,
    /// The query's question section, lower-cased.
    question: Vec<u8>,
    tx: oneshot::Sender<Vec<u8>>,
}

struct PoolSocket {
    sock: Arc<UdpSocket>,
    waiting: Mutex<HashMap<u16, Waiter>>,
}

/// The sockets, made inside the runtime ([`Upstreams::start`]).
#[derive(Default)]
pub(crate) struct Upstreams {
    v4: OnceLock<Vec<Arc<PoolSocket>>>,
    v6: OnceLock<Vec<Arc<PoolSocket>>>,
    epoch: OnceLock<Instant>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams").finish_non_exhaustive()
    }
}

/// The end of the question section of `msg` (one question), if well formed.
pub(crate) fn question_end(msg: &[u8]) -> Option<usize> {
    let mut at = 12;
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return (at + 5 <= msg.len()).then_some(at + 5),
            l if l & 0xc0 == 0xc0 => return (at + 6 <= msg.len()).then_some(at + 6),
            l if l & 0xc0 != 0 => return None,
            l => at += 1 + usize::from(l),
        }
    }
}

fn lower_question(msg: &[u8]) -> Option<Vec<u8>> {
    Some(msg[12..question_end(msg)?].to_ascii_lowercase())
}

/// RFC 5452 §4.x: an answer is accepted only with the query's ID (the map key), from the
/// address asked, with QR set, one question, and the same question.
fn matches(answer: &[u8], w: &Waiter, from: SocketAddr) -> bool {
    answer.len() >= 12
        && answer[2] & 0x80 != 0
        && answer[4..6] == [0, 1]
        && from == w.from
        && answer.get(12..12 + w.question.len()).is_some_and(|q| q.eq_ignore_ascii_case(&w.question))
}

impl Upstreams {
    /// Opens the socket pools and their readers (inside the runtime). A family the host
    /// lacks gets no pool: its resolvers fail.
    pub(crate) fn start(&self) {
        let _ = self.epoch.set(Instant::now());
        let open = |bind: SocketAddr| -> Vec<Arc<PoolSocket>> {
            let mut v = Vec::new();
            for _ in 0..POOL {
                let Ok(s) = std::net::UdpSocket::bind(bind).and_then(|s| s.set_nonblocking(true).map(|()| s)) else {
                    break;
                };
                let Ok(sock) = UdpSocket::from_std(s) else { break };
                let p = Arc::new(PoolSocket { sock: Arc::new(sock), waiting: Mutex::default() });
                tokio::spawn(read_answers(Arc::clone(&p)));
                v.push(p);
            }
            v
        };
        let _ = self.v4.set(open(([0, 0, 0, 0], 0).into()));
        let _ = self.v6.set(open(([0u16; 8], 0).into()));
    }

    fn now_ms(&self) -> u64 {
        self.epoch.get().map_or(0, |e| u64::try_from(e.elapsed().as_millis()).unwrap_or(u64::MAX)).max(1)
    }

    /// Asks `query` (its ID is replaced per attempt) of the resolvers, healthy ones first in
    /// their order, then the ones that failed lately; each attempt gets an equal share of
    /// the time left until `deadline`. The answer carries the ID of `query`.
    pub(crate) async fn exchange(
        &self,
        resolvers: &[Resolver],
        query: &[u8],
        deadline: Instant,
        sent: &AtomicUsize,
    ) -> Result<Vec<u8>, Failure> {
        let question = lower_question(query).ok_or(Failure::Failed)?;
        let now_ms = self.now_ms();
        let mut order: Vec<&Resolver> = resolvers.iter().collect();
        order.sort_by_key(|r| r.penalty_until.load(Ordering::Relaxed) > now_ms);
        let mut failure = Failure::Failed;
        let mut q = query.to_vec();
        for (i, r) in order.iter().enumerate() {
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                failure = Failure::Timeout;
                break;
            };
            let attempt = Instant::now() + left / u32::try_from(order.len() - i).unwrap_or(1);
            sent.fetch_add(1, Ordering::Relaxed);
            match self.ask(r.addr, &mut q, &question, attempt).await {
                Ok(mut a) => {
                    r.penalty_until.store(0, Ordering::Relaxed);
                    a[..2].copy_from_slice(&query[..2]);
                    return Ok(a);
                }
                Err(e) => {
                    r.penalty_until.store(self.now_ms() + PENALTY.as_millis() as u64, Ordering::Relaxed);
                    failure = if e.kind() == io::ErrorKind::TimedOut { Failure::Timeout } else { Failure::Failed };
                }
            }
        }
        Err(failure)
    }

    /// One resolver: UDP, then TCP if the answer is truncated.
    async fn ask(&self, to: SocketAddr, q: &mut [u8], question: &[u8], deadline: Instant) -> io::Result<Vec<u8>> {
        let a = self.ask_udp(to, q, question, deadline).await?;
        if a[2] & 0x02 == 0 {
            return Ok(a);
        }
        let timeout = |e| io::Error::new(io::ErrorKind::TimedOut, e);
        let deadline = tokio::time::Instant::from_std(deadline);
        let tcp = async {
            let mut conn = tokio::net::TcpStream::connect(to).await?;
            conn.write_all(&framed(q)?).await?;
            loop {
                match read_framed(&mut conn).await? {
                    Some(a) if a.len() >= 12 && a[..2] == q[..2] => {
                        let w = Waiter { from: to, question: question.to_vec(), tx: oneshot::channel().0 };
                        if matches(&a, &w, to) {
                            return Ok(a);
                        }
                    }
                    Some(_) => {}
                    None => {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "upstream closed the TCP connection"))
                    }
                }
            }
        };
        tokio::time::timeout_at(deadline, tcp).await.map_err(|_| timeout("upstream timed out over TCP"))?
    }

    async fn ask_udp(&self, to: SocketAddr, q: &mut [u8], question: &[u8], deadline: Instant) -> io::Result<Vec<u8>> {
        let pool = if to.is_ipv4() { self.v4.get() } else { self.v6.get() };
        let pool =
            pool.filter(|p| !p.is_empty()).ok_or_else(|| io::Error::other("no socket for the upstream's family"))?;
        let p = &pool[(random_u64() % pool.len() as u64) as usize];
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut w = p.waiting.lock().unwrap_or_else(|e| e.into_inner());
            let mut id = random_u64() as u16;
            while w.contains_key(&id) {
                id = random_u64() as u16;
            }
            w.insert(id, Waiter { from: to, question: question.to_vec(), tx });
            id
        };
        // Whatever happens next, the ID is given back.
        struct Forget<'a>(&'a PoolSocket, u16);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
            }
        }
        let _forget = Forget(p, id);
        q[..2].copy_from_slice(&id.to_be_bytes());
        p.sock.send_to(q, to).await?;
        match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), rx).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(_)) => Err(io::Error::other("upstream socket closed")),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "upstream timed out")),
        }
    }
}

/// Reads one pool socket, handing each answer to the query that waits for it; anything
/// else (spoofed, late, another question) is dropped.
async fn read_answers(p: Arc<PoolSocket>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, from) = match p.sock.recv_from(&mut buf).await {
            Ok(v) => v,
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let a = &buf[..n];
        if n < 12 {
            continue;
        }
        let id = u16::from_be_bytes([a[0], a[1]]);
        let mut w = p.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if w.get(&id).is_some_and(|w| matches(a, w, from)) {
            if let Some(w) = w.remove(&id) {
                let _ = w.tx.send(a.to_vec());
            }
        }
    }
}
