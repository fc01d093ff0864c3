//! The Prometheus endpoint: a small HTTP server (`tiny_http`) answering `GET /metrics`
//! with a `prometheus-client` registry in the OpenMetrics text format, on its own thread.
//!
//! A scraper that accepts OpenMetrics (Prometheus does, and says so in `Accept`) gets it
//! as `prometheus-client` writes it; any other client (curl, `promtool check metrics`)
//! gets the Prometheus text format 0.0.4, which differs only in naming a counter family
//! by its `_total` sample, in having no `# UNIT` and no `# EOF` lines, and in calling
//! `unknown` `untyped`.
//!
//! The registry's collectors read counters the data path keeps anyway (atomics and
//! published snapshots) at scrape time; the data path does no work for the endpoint.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;

/// The OpenMetrics text format's content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The Prometheus text format's content type.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A health check for `GET /health`: `Ok` when the service is up (answered 200 `ok`),
/// else why not (answered 503 with the reason), so that a routing daemon polling it can
/// withdraw this instance's routes.
pub type Health = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// A bound metrics endpoint; [`MetricsServer::run`] serves until the stop flag is set.
pub struct MetricsServer {
    server: tiny_http::Server,
    registry: Registry,
    health: Option<Health>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer").field("addr", &self.local_addr()).finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Listens on `addr` (TCP; port 0 picks one, see [`MetricsServer::local_addr`]).
    pub fn bind(addr: SocketAddr, registry: Registry) -> io::Result<Self> {
        let server = tiny_http::Server::http(addr).map_err(io::Error::other)?;
        Ok(Self { server, registry, health: None })
    }

    /// Answers `GET /health` with `check` (without one, `/health` is not served).
    pub fn with_health(mut self, check: Health) -> Self {
        self.health = Some(check);
        self
    }

    /// The address the endpoint listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Answers requests until `stop` is set (checked every 100 ms): `GET /metrics` with
    /// the registry, anything else with 404 (405 for another method on `/metrics`).
    pub fn run(self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            match self.server.recv_timeout(Duration::from_millis(100)) {
                Ok(Some(req)) => self.answer(req),
                Ok(None) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn answer(&self, req: tiny_http::Request) {
        let path = req.url().split('?').next().unwrap_or_default().to_owned();
        let response = match (req.method(), path.as_str()) {
            (tiny_http::Method::Get, "/metrics") => {
                let openmetrics = req
                    .headers()
                    .iter()
                    .any(|h| h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text"));
                let mut body = String::new();
                match prometheus_client::encoding::text::encode(&mut body, &self.registry) {
                    Ok(()) if openmetrics => text(200, body, CONTENT_TYPE),
                    Ok(()) => text(200, openmetrics_to_text(&body), TEXT_CONTENT_TYPE),
                    Err(_) => text(500, "cannot encode the metrics\n".into(), "text/plain"),
                }
            }
            (_, "/metrics") => text(405, "GET only\n".into(), "text/plain"),
            (tiny_http::Method::Get | tiny_http::Method::Head, "/health") if self.health.is_some() => {
                match self.health.as_ref().map(|h| h()) {
                    Some(Err(why)) => text(503, format!("unhealthy: {why}\n"), "text/plain"),
                    _ => text(200, "ok\n".into(), "text/plain"),
                }
            }
            _ => text(404, "not found: the metrics are at /metrics\n".into(), "text/plain"),
        };
        // A client that went away is no error of the server's.
        let _ = req.respond(response);
    }
}

/// The Prometheus text format (0.0.4) of an OpenMetrics exposition without exemplars:
/// counter families renamed to their `_total` sample, `unknown` to `untyped`, `# UNIT` and
/// `# EOF` left out.
pub fn openmetrics_to_text(om: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for l in om.lines() {
        if let Some(name) = l.strip_prefix("# TYPE ").and_then(|r| r.strip_suffix(" counter")) {
            counters.insert(name.to_owned());
        }
    }
    let mut out = String::with_capacity(om.len());
    for l in om.lines() {
        if l == "# EOF" || l.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "].into_iter().find_map(|p| l.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((p, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let name = if counters.contains(name) { format!("{name}_total") } else { name.to_owned() };
                let tail = if p == "# TYPE " && tail == "unknown" { "untyped" } else { tail };
                out.push_str(&format!("{p}{name} {tail}\n"));
            }
            None => {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

fn text(code: u16, body: String, content_type: &str) -> tiny_http::Response<io::Cursor<Vec<u8>>> {
    let mut r = tiny_http::Response::from_string(body).with_status_code(code);
    if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()) {
        r.add_header(h);
    }
    r
}

/// Whether network device `name` is up (`IFF_UP` in `/sys/class/net/NAME/flags`) with
/// its carrier on (`/sys/class/net/NAME/carrier`: a TUN device has it while a program holds
/// it open), or why not.
pub fn link_is_up(name: &str) -> Result<(), String> {
    const IFF_UP: u32 = 0x1;
    let read = |what: &str| {
        let path = format!("/sys/class/net/{name}/{what}");
        std::fs::read_to_string(&path)
            .map(|t| t.trim().to_owned())
            .map_err(|e| format!("{name}: cannot read {path}: {e}"))
    };
    let flags = read("flags")?;
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16)
        .map_err(|_| format!("{name}: its flags are {flags:?}"))?;
    if flags & IFF_UP == 0 {
        return Err(format!("{name} is down"));
    }
    // Reading the carrier of a device that is down fails (EINVAL): it is up here.
    match read("carrier")?.as_str() {
        "1" => Ok(()),
        _ => Err(format!("{name} is up but has no carrier")),
    }
}

/// Binds the endpoint and serves it on a new thread until `stop` is set; the address it
/// listens on.
pub fn spawn(addr: SocketAddr, registry: Registry, stop: &Arc<AtomicBool>) -> io::Result<SocketAddr> {
    spawn_with_health(addr, registry, None, stop)
}

/// [`spawn`], also answering `GET /health` with `health` when given.
pub fn spawn_with_health(
    addr: SocketAddr,
    registry: Registry,
    health: Option<Health>,
    stop: &Arc<AtomicBool>,
) -> io::Result<SocketAddr> {
    let mut server = MetricsServer::bind(addr, registry)?;
    if let Some(h) = health {
        server = server.with_health(h);
    }
    let local = server.local_addr().unwrap_or(addr);
    let stop = Arc::clone(stop);
    std::thread::Builder::new().name("metrics".into()).spawn(move || server.run(&stop))?;
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, path: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        r
    }

    #[test]
    fn health_answers_200_when_up_and_503_with_the_reason_when_not() {
        let up = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&up);
        let stop = Arc::new(AtomicBool::new(false));
        let check: Health =
            Box::new(move || if flag.load(Ordering::Relaxed) { Ok(()) } else { Err("tun0 is down".into()) });
        let addr = spawn_with_health("127.0.0.1:0".parse().unwrap(), Registry::default(), Some(check), &stop).unwrap();
        let r = get(addr, "/health");
        assert!(r.starts_with("HTTP/1.0 200") && r.ends_with("ok\n"), "{r}");
        up.store(false, Ordering::Relaxed);
        let r = get(addr, "/health");
        assert!(r.starts_with("HTTP/1.0 503") && r.ends_with("unhealthy: tun0 is down\n"), "{r}");
        assert!(get(addr, "/metrics").starts_with("HTTP/1.0 200"));
        stop.store(true, Ordering::Relaxed);
    }

    #[test]
    fn without_a_check_health_is_not_served() {
        let stop = Arc::new(AtomicBool::new(false));
        let addr = spawn("127.0.0.1:0".parse().unwrap(), Registry::default(), &stop).unwrap();
        assert!(get(addr, "/health").starts_with("HTTP/1.0 404"));
        stop.store(true, Ordering::Relaxed);
    }

    #[test]
    fn openmetrics_counters_become_total_families() {
        let om = "# HELP q Queries.\n# TYPE q counter\nq_total{a=\"b\"} 3\n# HELP g A gauge.\n# TYPE g gauge\n# UNIT g seconds\ng 1\n# TYPE u unknown\nu 2\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP q_total Queries.\n# TYPE q_total counter\nq_total{a=\"b\"} 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n# TYPE u untyped\nu 2\n"
        );
    }
}
