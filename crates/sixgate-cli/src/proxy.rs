//! `sixgate proxy`: IPv4 clients to IPv6-only web servers. TLS connections are routed by
//! their SNI, HTTP ones by their Host, without certificates on the proxy; the client's
//! address reaches the backend in a PROXY header or as a NAT46 source address.
//!
//! The configuration file (TOML; unknown keys are errors; flags win over the global keys
//! and add one listener group of their own):
//!
//! ```toml
//! hello_timeout_ms = 5000
//! idle_timeout_ms = 300000
//! connect_timeout_ms = 5000
//! max_connections = 20000
//! max_per_source = 512
//! workers = 0
//! splice = true                     # zero-copy splice(2); false: through a buffer
//! resolver = "[2001:db8::53]:53"   # DNS mode's server; default /etc/resolv.conf
//! metrics_listen = "127.0.0.1:9166"
//!
//! [[listener]]
//! listen = ["0.0.0.0:443", "[::]:443"]
//! protocol = "tls"                  # or "http"
//! send_proxy = "v2"                 # or "v1"; default none
//! nat46_prefix = "2001:db8:46::/96" # connect from PREFIX + client IPv4 (RFC 6052)
//! backend_prefixes = ["2001:db8:100::/48"]  # DNS mode: AAAA of the name, inside these only
//! backend_port = 443                # DNS mode's port; default the listener's
//! default_backend = "[2001:db8::10]:443"
//! [listener.routes]
//! "www.example.com" = "[2001:db8::1]:443"
//! "*.example.com" = { backend = "[2001:db8::2]:8443", send_proxy = "v1" }
//! ```
//!
//! In DNS mode a name with several AAAA records inside `backend_prefixes` is tried at up to
//! three of them, in the order the resolver gives, each attempt with an equal share of what
//! is left of `connect_timeout_ms`; the connection is counted once (`routed`, or the last
//! attempt's failure: `backend_refused`, `backend_unreachable`).
//!
//! On SIGHUP every listener's routes (`routes`, `default_backend`, `backend_prefixes`,
//! `backend_port`, `send_proxy`, `nat46_prefix`) change live, for new connections;
//! connections open keep going. The listening addresses and protocols, the limits, the
//! timeouts, `workers`, `resolver` and `metrics_listen` need a restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use ipnet::Ipv6Net;
use serde::Deserialize;
use sixgate_core::rfc6052::Pool6;
use sixgate_io::signals::Signals;
use sixgate_proxy::io::{ListenerSpec, Options, Protocol, Proxy, Stats};
use sixgate_proxy::route::{parse_backend, Backend, DnsMode, Routes, SendProxy};
use toml::Spanned;

use crate::daemon::log;
use crate::error::Needs;
use crate::CliError;

/// The keys only a restart changes.
const PROXY_RESTART: &[&str] = &[
    "hello_timeout_ms",
    "idle_timeout_ms",
    "connect_timeout_ms",
    "max_connections",
    "max_per_source",
    "workers",
    "splice",
    "resolver",
    "metrics_listen",
];

/// Arguments of `sixgate proxy`.
#[derive(Args, Clone)]
pub(crate) struct ProxyArgs {
    /// TOML configuration file: global keys named as the flags with `_` for `-`, and
    /// `[[listener]]` tables (`listen`, `protocol`, `routes`, `default_backend`,
    /// `backend_prefixes`, `backend_port`, `send_proxy`, `nat46_prefix`). SIGHUP reads it
    /// again: the routes change live, the rest needs a restart.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// A listening address for the flags' listener group (repeat for more):
    /// `0.0.0.0:443`, `[::]:443`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) listen: Vec<SocketAddr>,
    /// What the flags' listeners speak: `tls` (routed by SNI) or `http` (by Host).
    #[arg(long, value_name = "tls|http", default_value = "tls")]
    pub(crate) protocol: String,
    /// A static route of the flags' listeners: `NAME=[V6]:PORT`, NAME a host name or
    /// `*.example.com`; repeat for more.
    #[arg(long, value_name = "NAME=[V6]:PORT")]
    pub(crate) route: Vec<String>,
    /// DNS mode for the flags' listeners: connect to a name's AAAA address only inside
    /// this prefix (up to three of its addresses tried, in the resolver's order); repeat
    /// for more.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) backend_prefix: Vec<Ipv6Net>,
    /// DNS mode's backend port [default: the listener's port].
    #[arg(long, value_name = "PORT")]
    pub(crate) backend_port: Option<u16>,
    /// The backend for names nothing else routes: `[V6]:PORT`.
    #[arg(long, value_name = "[V6]:PORT")]
    pub(crate) default_backend: Option<String>,
    /// Send the backends a PROXY protocol header first: `v1` or `v2`.
    #[arg(long, value_name = "v1|v2")]
    pub(crate) send_proxy: Option<String>,
    /// Connect to the backends from this prefix + the client's IPv4 address (RFC 6052;
    /// /96 recommended). Needs `ip -6 route add local PREFIX dev lo`.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) nat46_prefix: Option<String>,
    /// The time a client has to send its ClientHello or request head [default: 5000].
    #[arg(long, value_name = "MS")]
    pub(crate) hello_timeout_ms: Option<u64>,
    /// Close a connection idle in both directions this long [default: 300000].
    #[arg(long, value_name = "MS")]
    pub(crate) idle_timeout_ms: Option<u64>,
    /// The time a backend has to accept, all of a DNS name's attempts together [default: 5000].
    #[arg(long, value_name = "MS")]
    pub(crate) connect_timeout_ms: Option<u64>,
    /// Connections at once, all listeners [default: 20000].
    #[arg(long, value_name = "N")]
    pub(crate) max_connections: Option<usize>,
    /// Connections at once from one client address [default: 512].
    #[arg(long, value_name = "N")]
    pub(crate) max_per_source: Option<usize>,
    /// Threads [default: 0, one per CPU].
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// Copy through a buffer instead of with splice(2) (the default, zero-copy).
    #[arg(long)]
    pub(crate) no_splice: bool,
    /// DNS mode's server, `ADDR:PORT` [default: the system's, /etc/resolv.conf].
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) resolver: Option<SocketAddr>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics.
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Started as root: run as this user once the sockets are open.
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// Validate the flags and the file, that the addresses can be listened on and that
    /// NAT46 prefixes are local, and exit.
    #[arg(long)]
    pub(crate) check: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    hello_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    max_per_source: Option<usize>,
    workers: Option<usize>,
    splice: Option<bool>,
    resolver: Option<Spanned<String>>,
    metrics_listen: Option<Spanned<String>>,
    #[serde(default)]
    listener: Vec<Spanned<FileListener>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileListener {
    listen: OneOrMany,
    #[serde(default = "tls")]
    protocol: String,
    send_proxy: Option<String>,
    nat46_prefix: Option<String>,
    #[serde(default)]
    backend_prefixes: Vec<String>,
    backend_port: Option<u16>,
    default_backend: Option<String>,
    #[serde(default)]
    routes: BTreeMap<String, RouteValue>,
}

fn tls() -> String {
    "tls".to_owned()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RouteValue {
    Addr(String),
    Full { backend: String, send_proxy: Option<String> },
}

/// A listener group: its addresses, protocol and routes.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    listen: Vec<SocketAddr>,
    protocol: Protocol,
    routes: Routes,
}

/// A resolved configuration.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    groups: Vec<Group>,
    opts: Options,
    metrics_listen: Option<SocketAddr>,
}

impl Resolved {
    fn specs(&self) -> Vec<ListenerSpec> {
        let mut v = Vec::new();
        for g in &self.groups {
            for &listen in &g.listen {
                v.push(ListenerSpec { listen, protocol: g.protocol, routes: g.routes.clone() });
            }
        }
        v
    }
}

struct GroupText<'a> {
    listen: Vec<SocketAddr>,
    protocol: &'a str,
    send_proxy: Option<&'a str>,
    nat46_prefix: Option<&'a str>,
    backend_prefixes: Vec<String>,
    backend_port: Option<u16>,
    default_backend: Option<&'a str>,
    routes: Vec<(String, String, Option<String>)>,
}

/// Builds one group; errors as `why` lines.
fn group(g: GroupText<'_>) -> Result<Group, Vec<String>> {
    let mut errs = Vec::new();
    let protocol = match g.protocol {
        "tls" => Protocol::Tls,
        "http" => Protocol::Http,
        p => {
            errs.push(format!("protocol {p:?}: use \"tls\" or \"http\""));
            Protocol::Tls
        }
    };
    if g.listen.is_empty() {
        errs.push("listen: at least one address, e.g. \"0.0.0.0:443\"".to_owned());
    }
    let port = g.listen.first().map_or(443, SocketAddr::port);
    let send = |s: Option<&str>, errs: &mut Vec<String>| -> Option<SendProxy> {
        s.and_then(|s| s.parse().map_err(|e| errs.push(format!("{e}"))).ok())
    };
    let send_proxy = send(g.send_proxy, &mut errs);
    let mut routes = Routes::new();
    if let Some(p) = g.nat46_prefix {
        match p.parse::<Pool6>() {
            Ok(p) => routes.set_nat46(p),
            Err(e) => errs.push(format!("nat46_prefix {p:?}: {e} (RFC 6052 §2.2: /32, /40, /48, /56, /64 or /96)")),
        }
    }
    for (name, backend, sp) in &g.routes {
        let sp = match sp {
            Some(s) => send(Some(s), &mut errs),
            None => send_proxy,
        };
        match parse_backend(backend, port) {
            Ok(addr) => {
                if let Err(e) = routes.insert(name, Backend { addr, send_proxy: sp }) {
                    errs.push(format!("routes: {e}"));
                }
            }
            Err(e) => errs.push(format!("routes.{name:?}: {e}")),
        }
    }
    if let Some(d) = g.default_backend {
        match parse_backend(d, port) {
            Ok(addr) => routes.set_default(Backend { addr, send_proxy }),
            Err(e) => errs.push(format!("default_backend: {e}")),
        }
    }
    if !g.backend_prefixes.is_empty() {
        let mut prefixes = Vec::new();
        for p in &g.backend_prefixes {
            match p.parse::<Ipv6Net>() {
                Ok(n) if n.prefix_len() == 0 => errs.push(format!(
                    "backend_prefixes {p:?}: ::/0 would make an open relay; name your servers' prefixes"
                )),
                Ok(n) => prefixes.push(n.trunc()),
                Err(_) => errs.push(format!("backend_prefixes {p:?}: not an IPv6 prefix (2001:db8:100::/48)")),
            }
        }
        routes.set_dns(DnsMode { prefixes, port: g.backend_port.unwrap_or(port), send_proxy });
    }
    if g.routes.is_empty() && g.backend_prefixes.is_empty() && g.default_backend.is_none() {
        errs.push("no route: give routes, backend_prefixes (DNS mode) or default_backend".to_owned());
    }
    if errs.is_empty() {
        Ok(Group { listen: g.listen, protocol, routes })
    } else {
        Err(errs)
    }
}

/// Resolves the flags over the file `(text, name)`, as at start and on SIGHUP.
pub(crate) fn resolve(a: &ProxyArgs, file: Option<(&str, &str)>) -> Result<Resolved, Vec<String>> {
    let (f, text, name) = match file {
        Some((text, name)) => {
            let f: FileConfig =
                toml::from_str(text).map_err(|e| vec![crate::nat64_config::toml_error(text, name, &e).message])?;
            (f, text, name)
        }
        None => (FileConfig::default(), "", ""),
    };
    let line = |start: usize| text.as_bytes()[..start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1;
    let mut errs = Vec::new();
    let mut groups = Vec::new();
    for l in &f.listener {
        let at = line(l.span().start);
        let l = l.get_ref();
        let mut listen = Vec::new();
        let texts = match &l.listen {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        };
        for s in texts {
            match s.parse::<SocketAddr>() {
                Ok(x) => listen.push(x),
                Err(_) => {
                    errs.push(format!("{name}:{at}: listen {s:?}: not ADDR:PORT (\"0.0.0.0:443\", \"[::]:443\")"))
                }
            }
        }
        let routes = l
            .routes
            .iter()
            .map(|(k, v)| match v {
                RouteValue::Addr(b) => (k.clone(), b.clone(), None),
                RouteValue::Full { backend, send_proxy } => (k.clone(), backend.clone(), send_proxy.clone()),
            })
            .collect();
        match group(GroupText {
            listen,
            protocol: &l.protocol,
            send_proxy: l.send_proxy.as_deref(),
            nat46_prefix: l.nat46_prefix.as_deref(),
            backend_prefixes: l.backend_prefixes.clone(),
            backend_port: l.backend_port,
            default_backend: l.default_backend.as_deref(),
            routes,
        }) {
            Ok(g) => groups.push(g),
            Err(e) => errs.extend(e.into_iter().map(|e| format!("{name}:{at}: listener: {e}"))),
        }
    }
    if !a.listen.is_empty() {
        let mut routes = Vec::new();
        for r in &a.route {
            match r.split_once('=') {
                Some((n, b)) => routes.push((n.to_owned(), b.to_owned(), None)),
                None => errs.push(format!("--route {r}: write NAME=[V6]:PORT, e.g. www.example.com=[2001:db8::1]:443")),
            }
        }
        let prefixes = a.backend_prefix.iter().map(ToString::to_string).collect();
        match group(GroupText {
            listen: a.listen.clone(),
            protocol: &a.protocol,
            send_proxy: a.send_proxy.as_deref(),
            nat46_prefix: a.nat46_prefix.as_deref(),
            backend_prefixes: prefixes,
            backend_port: a.backend_port,
            default_backend: a.default_backend.as_deref(),
            routes,
        }) {
            Ok(g) => groups.push(g),
            Err(e) => errs.extend(e.into_iter().map(|e| format!("flags: {e}"))),
        }
    } else if !a.route.is_empty() || a.default_backend.is_some() || !a.backend_prefix.is_empty() {
        errs.push("--route, --default-backend and --backend-prefix need --listen".to_owned());
    }
    if groups.is_empty() && errs.is_empty() {
        errs.push("no listener: give --listen (with --route, ...) or [[listener]] tables in --config".to_owned());
    }
    let mut addr_key = |v: &Option<Spanned<String>>, key: &str| {
        v.as_ref().and_then(|s| {
            s.get_ref()
                .parse::<SocketAddr>()
                .map_err(|_| {
                    errs.push(format!("{name}:{}: {key} {:?}: not ADDR:PORT", line(s.span().start), s.get_ref()))
                })
                .ok()
        })
    };
    let f_resolver = addr_key(&f.resolver, "resolver");
    let f_metrics = addr_key(&f.metrics_listen, "metrics_listen");
    let ms = |flag: Option<u64>, key: Option<u64>, default: u64| Duration::from_millis(flag.or(key).unwrap_or(default));
    let mut opts = Options::default();
    opts.hello_timeout = ms(a.hello_timeout_ms, f.hello_timeout_ms, 5000);
    opts.idle_timeout = ms(a.idle_timeout_ms, f.idle_timeout_ms, 300_000);
    opts.connect_timeout = ms(a.connect_timeout_ms, f.connect_timeout_ms, 5000);
    opts.max_connections = a.max_connections.or(f.max_connections).unwrap_or(20_000);
    opts.max_per_source = a.max_per_source.or(f.max_per_source).unwrap_or(512);
    opts.workers = a.workers.or(f.workers).unwrap_or(0);
    opts.splice = !a.no_splice && f.splice.unwrap_or(true);
    opts.resolver = a.resolver.or(f_resolver);
    for (v, key) in [
        (opts.hello_timeout.as_millis() as usize, "hello_timeout_ms"),
        (opts.idle_timeout.as_millis() as usize, "idle_timeout_ms"),
        (opts.connect_timeout.as_millis() as usize, "connect_timeout_ms"),
        (opts.max_connections, "max_connections"),
        (opts.max_per_source, "max_per_source"),
    ] {
        if v == 0 {
            errs.push(format!("{key}: must be at least 1"));
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Resolved { groups, opts, metrics_listen: a.metrics_listen.or(f_metrics) })
}

fn report(stats: &Stats) -> String {
    let mut s = format!(
        "{} connections ({} open)",
        stats.accepted.load(Ordering::Relaxed),
        stats.active.load(Ordering::Relaxed)
    );
    for (k, v) in stats.outcomes() {
        s.push_str(&format!(", {k}={v}"));
    }
    s.push_str(&format!(
        ", bytes_to_backend={} bytes_to_client={}",
        stats.bytes_to_backend.load(Ordering::Relaxed),
        stats.bytes_to_client.load(Ordering::Relaxed)
    ));
    s
}

/// The proxy's Prometheus series, read at scrape time from its counters.
#[derive(Debug)]
struct ProxyCollector(Arc<Stats>);

impl prometheus_client::collector::Collector for ProxyCollector {
    fn encode(&self, mut enc: prometheus_client::encoding::DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        use prometheus_client::metrics::MetricType;
        let s = &self.0;
        let mut family =
            enc.encode_descriptor("sixgate_proxy_connections", "Connections by outcome", None, MetricType::Counter)?;
        for (outcome, n) in s.outcomes() {
            ConstCounter::new(n).encode(family.encode_family(&[("outcome", outcome)])?)?;
        }
        for (name, help, v) in [
            ("sixgate_proxy_accepted", "Connections accepted", &s.accepted),
            ("sixgate_proxy_bytes_to_backend", "Bytes copied from clients to backends", &s.bytes_to_backend),
            ("sixgate_proxy_bytes_to_client", "Bytes copied from backends to clients", &s.bytes_to_client),
        ] {
            let c = ConstCounter::new(v.load(Ordering::Relaxed));
            c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let g = ConstGauge::new(i64::try_from(s.active.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
        g.encode(enc.encode_descriptor("sixgate_proxy_open", "Connections open now", None, MetricType::Gauge)?)?;
        crate::service::metrics::encode_reloads(&mut enc)
    }
}

/// Serves the proxy's series on `listen` until `stop` is set.
fn start_metrics(listen: Option<SocketAddr>, stats: &Arc<Stats>, stop: &Arc<AtomicBool>) -> Result<(), CliError> {
    let Some(listen) = listen else { return Ok(()) };
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(ProxyCollector(Arc::clone(stats))));
    let at = sixgate_io::metrics::spawn(listen, registry, stop)
        .map_err(|e| CliError::failure(format!("cannot serve metrics on {listen}: {e}")))?;
    log!("sixgate proxy: metrics on http://{at}/metrics");
    Ok(())
}

/// The host checks: listening addresses free, NAT46 prefixes local.
fn preflight(r: &Resolved) -> Vec<String> {
    let mut errs = Vec::new();
    for g in &r.groups {
        for &l in &g.listen {
            errs.extend(crate::service::preflight::dns64(l).into_iter().filter(|e| !e.contains("UDP")));
        }
        if let Some(p) = g.routes.nat46() {
            if let Err(e) = sixgate_proxy::io::check_nat46(&p) {
                errs.push(e);
            }
        }
    }
    errs.extend(r.metrics_listen.map(sixgate_io::host::check_listen).unwrap_or_default());
    errs
}

pub(crate) fn run(a: ProxyArgs) -> Result<ExitCode, CliError> {
    let running = match &a.config {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| CliError::input(format!("cannot read {}: {e}", p.display())))?)
        }
        None => None,
    };
    let name = a.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let r = resolve(&a, running.as_deref().map(|t| (t, name.as_str()))).map_err(|e| CliError::input(e.join("\n")))?;
    let specs = r.specs();
    if a.check {
        crate::service::preflight::refuse("proxy", preflight(&r))?;
        println!(
            "ok: {} listeners, {} routed names",
            specs.len(),
            r.groups.iter().map(|g| g.routes.len()).sum::<usize>()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for g in &r.groups {
        if let Some(p) = g.routes.nat46() {
            sixgate_proxy::io::check_nat46(&p).map_err(CliError::failure)?;
        }
    }
    let signals = Signals::block().map_err(|e| CliError::failure(format!("cannot block signals: {e}")))?;
    let low = specs.iter().any(|s| s.listen.port() < 1024);
    let proxy = Proxy::bind(specs, r.opts.clone()).map_err(|e| {
        if low {
            CliError::os("proxy", &e, Needs::LowPort)
        } else {
            CliError::failure(format!("proxy: {e}"))
        }
    })?;
    let stats = proxy.stats();
    let live = proxy.live();
    let addrs: Vec<String> = proxy.local_addrs().iter().map(ToString::to_string).collect();
    let reloader = a.config.clone().zip(running).map(|(path, text)| reloader(&a, path, text, r.clone(), live));
    log!("sixgate proxy: listening on {}", addrs.join(", "));
    let stop = Arc::new(AtomicBool::new(false));
    start_metrics(r.metrics_listen, &stats, &stop)?;
    crate::service::privilege::drop_to(a.user.as_deref(), "sixgate proxy")?;
    let runner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let r = proxy.run(stop);
            Signals::wake();
            r
        })
    };
    let line = || report(&stats);
    crate::daemon::wait_for_stop(&signals, "sixgate proxy", &line, reloader.as_ref(), &|| runner.is_finished());
    stop.store(true, Ordering::Relaxed);
    let res = runner.join().map_err(|_| CliError::failure("the proxy thread panicked"))?;
    log!("sixgate proxy: stopped; final counters: {}", line());
    res.map_err(|e| CliError::failure(format!("proxy: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP: the routes of each listener change live when the listening addresses and
/// protocols are those running; otherwise the change waits for a restart.
fn reloader(
    a: &ProxyArgs,
    path: PathBuf,
    text: String,
    started: Resolved,
    live: sixgate_proxy::io::LiveRoutes,
) -> crate::service::Reloader {
    let validate: crate::service::reload::Validate = {
        let a = a.clone();
        Box::new(move |text, name| resolve(&a, Some((text, name))).map(drop))
    };
    let a = a.clone();
    let shape =
        |r: &Resolved| -> Vec<(SocketAddr, Protocol)> { r.specs().iter().map(|s| (s.listen, s.protocol)).collect() };
    let apply: crate::service::reload::Apply = Box::new(move |text, name| {
        let r = resolve(&a, Some((text, name)))?;
        let mut report = sixgate_core::reload::ReloadReport::default();
        if shape(&r) != shape(&started) {
            report.needs_restart.push("listener.listen");
            return Ok(report);
        }
        for (i, s) in r.specs().into_iter().enumerate() {
            live.set(i, s.routes);
        }
        report.changed.push("listener.routes");
        Ok(report)
    });
    crate::service::Reloader::new(path, text, validate).live(PROXY_RESTART, apply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use sixgate_proxy::route::Decision;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ProxyArgs,
    }

    fn args(flags: &[&str]) -> ProxyArgs {
        T::parse_from(std::iter::once("t").chain(flags.iter().copied())).a
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../../dist/sixgate/proxy.toml");
        let r = resolve(&args(&[]), Some((text, "proxy.toml"))).unwrap();
        assert!(!r.groups.is_empty());
    }

    #[test]
    fn file_routes_and_flag_routes() {
        let text = "[[listener]]\nlisten = \"127.0.0.1:8443\"\nsend_proxy = \"v2\"\n[listener.routes]\n\
                    \"a.example\" = \"[2001:db8::1]:443\"\n\"*.b.example\" = { backend = \"2001:db8::2\", send_proxy = \"v1\" }\n";
        let r = resolve(
            &args(&["--listen", "127.0.0.1:8080", "--protocol", "http", "--route", "c.example=[::1]:80"]),
            Some((text, "p.toml")),
        )
        .unwrap();
        assert_eq!(r.groups.len(), 2);
        let Decision::Connect(b) = r.groups[0].routes.route(Some("x.b.example")) else { panic!() };
        assert_eq!((b.addr.port(), b.send_proxy), (8443, Some(SendProxy::V1)));
        let Decision::Connect(b) = r.groups[0].routes.route(Some("a.example")) else { panic!() };
        assert_eq!(b.send_proxy, Some(SendProxy::V2));
        assert_eq!(r.groups[1].protocol, Protocol::Http);
    }

    #[test]
    fn bad_values_name_their_line() {
        let text = "\n[[listener]]\nlisten = \"127.0.0.1:8443\"\nbackend_prefixes = [\"::/0\"]\n";
        let errs = resolve(&args(&[]), Some((text, "p.toml"))).unwrap_err();
        assert!(errs[0].starts_with("p.toml:2: listener: backend_prefixes"), "{errs:?}");
        assert!(errs[0].contains("open relay"), "{errs:?}");
        let errs = resolve(&args(&["--listen", "127.0.0.1:1", "--route", "x=192.0.2.1:443"]), None).unwrap_err();
        assert!(errs[0].contains("not an IPv6 backend"), "{errs:?}");
        let errs = resolve(&args(&[]), Some(("bogus = 1\n", "p.toml"))).unwrap_err();
        assert!(errs[0].starts_with("p.toml:1"), "{errs:?}");
    }
}
