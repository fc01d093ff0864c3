//! `sixgate rdns serve`: an authoritative DNS server (UDP and TCP, no recursion) that
//! synthesizes the PTR records of whole prefixes from templates, and the matching A/AAAA
//! records under the forward zone (`sixgate_rdns::serve`), on the server core of
//! `sixgate_io::dns`.
//!
//! The configuration file (TOML; unknown keys are errors; a flag wins over its key):
//!
//! ```toml
//! listen = "[::]:53"
//! domain = "example.net."            # the forward zone; qualifies relative names
//! ns = ["ns1.example.net."]
//! hostmaster = "hostmaster@example.net"
//! ttl = 3600                         # and serial, refresh, retry, expire, minimum
//! hosts = ["/etc/sixgate/hosts"]     # explicit records, before synthesis
//! zone_files = []                    # the A/AAAA records of forward zone files
//! axfr_limit = 65536
//! max_udp = 1232
//! workers = 2
//! max_tcp = 1024
//! metrics_listen = "127.0.0.1:9165"
//!
//! [[prefix]]
//! net = "2001:db8:1::/64"
//! template = "host-{dashed}"
//! ```
//!
//! On SIGHUP everything but `listen`, `workers`, `max_tcp` and `metrics_listen` changes live,
//! and so does a change of the hosts and zone files alone: the new zones replace the old
//! between two queries (no query is lost), with the SOA serial counted up when none is set.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use clap::Args;
use serde::Deserialize;
use sixgate_core::text::parse_prefix;
use sixgate_rdns::hostname::{qualify, rname};
use sixgate_rdns::plan::plan;
use sixgate_rdns::serve::{Authority, ServeConfig, ServedPrefix, DEFAULT_AXFR_LIMIT, DEFAULT_UDP_PAYLOAD};
use sixgate_rdns::template::Template;
use sixgate_rdns::zone::{next_serial, PtrSet, ZoneHeader};
use toml::Spanned;

use crate::daemon::log;
use crate::dns64::dns_socket_addr;
use crate::error::Needs;
use crate::CliError;

/// The keys only a restart changes: the sockets, the thread and connection counts, the
/// metrics address.
const RESTART: &[&str] = &["listen", "workers", "max_tcp", "metrics_listen"];

/// Arguments of `sixgate rdns serve`.
#[derive(Args, Clone, Default)]
#[command(after_help = "Template placeholders: {dashed} (2001-db8--5, 192-0-2-7), {hex} (all nibbles or \
    octets in hex), {v4} (the IPv4 address, or an IPv6 address's last 32 bits, dashed), {index} (offset in \
    the prefix). A template under --domain is also served forward (A/AAAA), so forward and reverse agree.")]
pub(crate) struct ServeArgs {
    /// TOML configuration file; every flag is also a key (`-` written `_`; `prefix` is a
    /// `[[prefix]]` table with `net` and `template`; `--zone-file` is `zone_files`); unknown
    /// keys are refused and a flag wins over its key. SIGHUP reads it (and the hosts and
    /// zone files) again: all but `listen`, `workers`, `max_tcp` and `metrics_listen` change
    /// live.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Address to serve DNS on, UDP and TCP: `[::]:53`, `127.0.0.1:5353`; without a port,
    /// port 53. Required, here or in the file.
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = dns_socket_addr)]
    pub(crate) listen: Option<SocketAddr>,
    /// A prefix and the template of its PTR targets, e.g.
    /// `2001:db8:1::/64=host-{dashed}`; repeatable (replaces the file's prefixes).
    #[arg(long = "prefix", value_name = "PREFIX=TEMPLATE")]
    pub(crate) prefixes: Vec<String>,
    /// The forward zone the synthesized names are in: served with SOA and NS, and the A/AAAA
    /// of every name a template gives under it; also qualifies relative names.
    #[arg(long)]
    pub(crate) domain: Option<String>,
    /// Name servers of every zone (repeatable, at least one); the first is the SOA MNAME.
    #[arg(long)]
    pub(crate) ns: Vec<String>,
    /// The zones' contact: hostmaster@example.net or hostmaster.example.net.
    /// [default: hostmaster.DOMAIN]
    #[arg(long)]
    pub(crate) hostmaster: Option<String>,
    /// Explicit records from a hosts file (ADDRESS NAME per line); repeatable; they win over
    /// synthesis.
    #[arg(long, value_name = "FILE")]
    pub(crate) hosts: Vec<PathBuf>,
    /// Explicit records from the A and AAAA records of a forward zone file; repeatable.
    #[arg(long, value_name = "FILE")]
    pub(crate) zone_file: Vec<PathBuf>,
    /// TTL of the records, seconds [default: 3600].
    #[arg(long)]
    pub(crate) ttl: Option<u32>,
    /// SOA serial [default: today's YYYYMMDD00, counted up on each reload that changes
    /// something].
    #[arg(long)]
    pub(crate) serial: Option<u32>,
    /// SOA minimum (negative-caching TTL, RFC 2308 §5), seconds [default: 3600].
    #[arg(long)]
    pub(crate) minimum: Option<u32>,
    /// The largest zone (in names) AXFR enumerates, over TCP; larger zones are REFUSED
    /// [default: 65536].
    #[arg(long, value_name = "N")]
    pub(crate) axfr_limit: Option<u64>,
    /// The largest UDP answer, whatever the client's EDNS size (at least 512) [default: 1232].
    #[arg(long, value_name = "OCTETS")]
    pub(crate) max_udp: Option<u16>,
    /// Worker threads (one UDP socket each, SO_REUSEPORT) [default: one per CPU].
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// TCP connections in all [default: 1024].
    #[arg(long, value_name = "N")]
    pub(crate) max_tcp: Option<usize>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (e.g. 127.0.0.1:9165).
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Started as root: run as this user (and its group) once the sockets are open.
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// Validate the flags, the file and the files it names, and that the address can be
    /// listened on, and exit.
    #[arg(long)]
    pub(crate) check: bool,
}

/// One `[[prefix]]` of the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePrefix {
    net: Spanned<String>,
    template: Spanned<String>,
}

/// The TOML file. Unknown keys are errors.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<Spanned<String>>,
    prefix: Option<Vec<FilePrefix>>,
    domain: Option<Spanned<String>>,
    ns: Option<Vec<Spanned<String>>>,
    hostmaster: Option<Spanned<String>>,
    hosts: Option<Vec<String>>,
    zone_files: Option<Vec<String>>,
    ttl: Option<u32>,
    serial: Option<u32>,
    refresh: Option<u32>,
    retry: Option<u32>,
    expire: Option<u32>,
    minimum: Option<u32>,
    axfr_limit: Option<u64>,
    max_udp: Option<Spanned<u16>>,
    workers: Option<Spanned<usize>>,
    max_tcp: Option<Spanned<usize>>,
    metrics_listen: Option<Spanned<String>>,
}

/// A configuration, flags over file, checked, with the explicit records read.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) serve: ServeConfig,
    /// Whether the serial was given (else it is counted up on reload).
    serial_set: bool,
    pub(crate) listen: SocketAddr,
    pub(crate) workers: Option<usize>,
    pub(crate) max_tcp: Option<usize>,
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Problems of the hosts and zone files (records left out), `FILE:LINE: ...`.
    pub(crate) warnings: Vec<String>,
}

/// The hosts and zone files the flags and the file name.
fn input_files(a: &ServeArgs, f: &FileConfig) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let hosts =
        if a.hosts.is_empty() { f.hosts.iter().flatten().map(PathBuf::from).collect() } else { a.hosts.clone() };
    let zones = if a.zone_file.is_empty() {
        f.zone_files.iter().flatten().map(PathBuf::from).collect()
    } else {
        a.zone_file.clone()
    };
    (hosts, zones)
}

fn parse_file(text: &str, name: &str) -> Result<FileConfig, Vec<String>> {
    toml::from_str(text).map_err(|e| vec![crate::nat64_config::toml_error(text, name, &e).message])
}

/// A fingerprint of the hosts and zone files a configuration text names, for SIGHUP.
fn fingerprint(a: &ServeArgs, text: &str) -> String {
    let f = parse_file(text, "").unwrap_or_default();
    let (hosts, zones) = input_files(a, &f);
    let mut h = DefaultHasher::new();
    for p in hosts.iter().chain(&zones) {
        p.hash(&mut h);
        std::fs::read(p).map_err(|e| e.kind()).hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// Resolves the flags `a` over the file text `file` (`(text, name)`), as at start and on
/// SIGHUP, and reads the hosts and zone files: the configuration, or one message per
/// problem (`FILE:LINE: key: why` for a value of the file).
pub(crate) fn resolve(a: &ServeArgs, file: Option<(&str, &str)>) -> Result<Resolved, Vec<String>> {
    let (f, text, name) = match file {
        Some((text, name)) => (parse_file(text, name)?, text, name),
        None => (FileConfig::default(), "", ""),
    };
    let line = |start: usize| text.as_bytes()[..start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1;
    let mut errs = Vec::new();
    let mut at = |start: usize, key: &str, why: String| errs.push(format!("{name}:{}: {key}: {why}", line(start)));

    let listen = match (a.listen, &f.listen) {
        (Some(l), _) => Some(l),
        (None, Some(s)) => dns_socket_addr(s.get_ref())
            .map_err(|e| at(s.span().start, "listen", format!("{:?}: {e}", s.get_ref())))
            .ok(),
        (None, None) => None,
    };
    let metrics_listen = match (a.metrics_listen, &f.metrics_listen) {
        (Some(m), _) => Some(m),
        (None, Some(s)) => s
            .get_ref()
            .parse::<SocketAddr>()
            .map_err(|e| at(s.span().start, "metrics_listen", format!("{:?}: {e} (ADDR:PORT)", s.get_ref())))
            .ok(),
        (None, None) => None,
    };
    let domain = a.domain.clone().or(f.domain.as_ref().map(|d| d.get_ref().clone()));
    let domain = domain.map(|d| if d.ends_with('.') { d } else { format!("{d}.") });
    let d = domain.as_deref();

    // Prefixes: the flags replace the file's.
    let mut prefixes = Vec::new();
    if a.prefixes.is_empty() {
        for p in f.prefix.iter().flatten() {
            let net = parse_prefix(p.net.get_ref()).map_err(|e| at(p.net.span().start, "net", e.to_string())).ok();
            let t = Template::parse(p.template.get_ref(), d)
                .map_err(|e| at(p.template.span().start, "template", e.to_string()))
                .ok();
            if let (Some(net), Some(template)) = (net, t) {
                prefixes.push(ServedPrefix { net, template });
            }
        }
    }
    let mut flag_errs = Vec::new();
    for p in &a.prefixes {
        let Some((net, t)) = p.split_once('=') else {
            flag_errs.push(format!("--prefix {p:?}: expected PREFIX=TEMPLATE, e.g. 2001:db8::/64=host-{{dashed}}"));
            continue;
        };
        match (parse_prefix(net), Template::parse(t, d)) {
            (Ok(net), Ok(template)) => prefixes.push(ServedPrefix { net, template }),
            (Err(e), _) => flag_errs.push(format!("--prefix {p:?}: {e}")),
            (_, Err(e)) => flag_errs.push(format!("--prefix {p:?}: {e}")),
        }
    }
    let ns_text: Vec<(String, Option<usize>)> = if a.ns.is_empty() {
        f.ns.iter().flatten().map(|s| (s.get_ref().clone(), Some(s.span().start))).collect()
    } else {
        a.ns.iter().map(|s| (s.clone(), None)).collect()
    };
    let mut ns = Vec::new();
    for (n, span) in ns_text {
        match qualify(&n, d) {
            Ok(q) => ns.push(q),
            Err(e) => match span {
                Some(s) => at(s, "ns", e.to_string()),
                None => flag_errs.push(format!("--ns {n:?}: {e}")),
            },
        }
    }
    let hostmaster = match (&a.hostmaster, &f.hostmaster, d) {
        (Some(h), _, _) => rname(h, d).map_err(|e| flag_errs.push(format!("--hostmaster {h:?}: {e}"))).ok(),
        (None, Some(h), _) => rname(h.get_ref(), d).map_err(|e| at(h.span().start, "hostmaster", e.to_string())).ok(),
        (None, None, Some(d)) => Some(format!("hostmaster.{d}")),
        (None, None, None) => {
            flag_errs.push("--hostmaster (or `hostmaster`) is missing: there is no --domain to default it from".into());
            None
        }
    };
    let positive = |v: &Option<Spanned<usize>>, key: &str, at: &mut dyn FnMut(usize, &str, String)| {
        v.as_ref().and_then(|s| {
            if *s.get_ref() == 0 {
                at(s.span().start, key, "must be at least 1".to_owned());
                None
            } else {
                Some(*s.get_ref())
            }
        })
    };
    let workers = a.workers.or(positive(&f.workers, "workers", &mut at));
    let max_tcp = a.max_tcp.or(positive(&f.max_tcp, "max_tcp", &mut at));
    let max_udp = a.max_udp.or(f.max_udp.as_ref().map(|m| *m.get_ref())).unwrap_or(DEFAULT_UDP_PAYLOAD);
    if listen.is_none() && f.listen.is_none() {
        flag_errs.push("--listen (or `listen`) is missing".to_owned());
    }
    if prefixes.is_empty() && f.prefix.iter().flatten().next().is_none() && a.prefixes.is_empty() {
        flag_errs.push("no prefix: give --prefix PREFIX=TEMPLATE (or a [[prefix]] table with net and template)".into());
    }
    if ns.is_empty() && errs.is_empty() && flag_errs.is_empty() {
        flag_errs.push("--ns (or `ns`) is missing: every zone needs a name server".into());
    }
    errs.extend(flag_errs);
    let (Some(listen), Some(hostmaster), true) = (listen, hostmaster, errs.is_empty()) else {
        return Err(errs);
    };

    let mut header = ZoneHeader::new(ns, hostmaster);
    let serial_set = a.serial.or(f.serial).is_some();
    header.serial = a.serial.or(f.serial).unwrap_or(header.serial);
    header.ttl = a.ttl.or(f.ttl).unwrap_or(header.ttl);
    header.minimum = a.minimum.or(f.minimum).unwrap_or(header.minimum);
    header.refresh = f.refresh.unwrap_or(header.refresh);
    header.retry = f.retry.unwrap_or(header.retry);
    header.expire = f.expire.unwrap_or(header.expire);
    let prefixed = |e: String| if name.is_empty() { e } else { format!("{name}: {e}") };
    header.validate().map_err(|e| vec![prefixed(e.to_string())])?;

    // Explicit records, checked against the served zones.
    let zones = prefixes.iter().flat_map(|p| plan(p.net)).collect();
    let mut set = PtrSet::for_zones(zones, domain.clone());
    let (hosts, zone_files) = input_files(a, &f);
    let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| vec![format!("cannot read {}: {e}", p.display())]);
    for p in &hosts {
        set.add_hosts_from(&p.display().to_string(), &read(p)?);
    }
    for p in &zone_files {
        set.add_forward_zone_from(&p.display().to_string(), &read(p)?, d)
            .map_err(|e| vec![format!("{}: {e}", p.display())])?;
    }
    let (records, problems) = set.finish();
    let mut serve = ServeConfig::new(header);
    serve.prefixes = prefixes;
    serve.forward_zone = domain;
    serve.records = records;
    serve.axfr_limit = a.axfr_limit.or(f.axfr_limit).unwrap_or(DEFAULT_AXFR_LIMIT);
    serve.max_udp_payload = max_udp;
    // Everything Authority::new checks, checked now.
    Authority::new(serve.clone()).map_err(|e| vec![prefixed(e.to_string())])?;
    Ok(Resolved {
        serve,
        serial_set,
        listen,
        workers,
        max_tcp,
        metrics_listen,
        warnings: problems.iter().map(ToString::to_string).collect(),
    })
}

fn read_config(a: &ServeArgs) -> Result<Option<(String, String)>, CliError> {
    match &a.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| CliError::input(format!("cannot read {}: {e}", p.display())))?;
            Ok(Some((text, p.display().to_string())))
        }
        None => Ok(None),
    }
}

pub(crate) fn run(a: ServeArgs) -> Result<ExitCode, CliError> {
    let running = read_config(&a)?;
    let r = resolve(&a, running.as_ref().map(|(t, n)| (t.as_str(), n.as_str())))
        .map_err(|e| CliError::input(e.join("\n")))?;
    for w in &r.warnings {
        log!("sixgate: warning: {w} (left out)");
    }
    let auth = Authority::new(r.serve.clone()).map_err(CliError::input)?;
    let zones: Vec<String> = auth.origins().map(str::to_owned).collect();
    if a.check {
        let mut errs = crate::service::preflight::dns64(r.listen);
        errs.extend(r.metrics_listen.map(sixgate_io::host::check_listen).unwrap_or_default());
        crate::service::preflight::refuse("rdns serve", errs)?;
        println!("ok: listen {} (UDP, TCP), {} zone(s): {}", r.listen, zones.len(), zones.join(" "));
        return Ok(ExitCode::SUCCESS);
    }

    let mut opts = sixgate_io::dns::ListenOptions::new(r.listen);
    if let Some(w) = r.workers {
        opts.workers = w;
    }
    if let Some(m) = r.max_tcp {
        opts.max_tcp_connections = m;
    }
    let signals =
        sixgate_io::signals::Signals::block().map_err(|e| CliError::failure(format!("cannot block signals: {e}")))?;
    let server = sixgate_io::dns::AuthServer::bind(responder(auth), opts).map_err(|e| {
        let what = format!("cannot listen on {}", r.listen);
        if r.listen.port() < 1024 {
            CliError::os(what, &e, Needs::LowPort)
        } else {
            CliError::failure(format!("{what}: {e}"))
        }
    })?;
    let stats = server.stats();
    let serial = Arc::new(AtomicU32::new(r.serve.header.serial));
    let reloader = a.config.clone().zip(running).map(|(path, (text, _))| reloader(&a, path, text, &server, &serial));
    log!("sixgate rdns serve: listening on {} (UDP, TCP), zones: {}", server.local_addr()?, zones.join(" "));
    let stop = Arc::new(AtomicBool::new(false));
    start_metrics(r.metrics_listen, &stats, &stop)?;
    crate::service::privilege::drop_to(a.user.as_deref(), "sixgate rdns serve")?;
    let runner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let r = server.run(stop);
            sixgate_io::signals::Signals::wake();
            r
        })
    };
    let report = || {
        format!(
            "{} queries, {} answered, {} dropped, {} TCP connections refused",
            stats.queries.load(Ordering::Relaxed),
            stats.answered.load(Ordering::Relaxed),
            stats.dropped.load(Ordering::Relaxed),
            stats.tcp_refused.load(Ordering::Relaxed),
        )
    };
    crate::daemon::wait_for_stop(&signals, "sixgate rdns serve", &report, reloader.as_ref(), &|| runner.is_finished());
    stop.store(true, Ordering::Relaxed);
    let r = runner.join().map_err(|_| CliError::failure("the server thread panicked"))?;
    log!("sixgate rdns serve: stopped; final counters: {}", report());
    r.map_err(|e| CliError::failure(format!("DNS server: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// The server's responder: the authority's answers, and over TCP every message of a zone
/// transfer.
fn responder(auth: Authority) -> Arc<dyn sixgate_io::dns::Responder> {
    Arc::new(Served(auth))
}

/// An [`Authority`] as the server core sees it.
struct Served(Authority);

impl sixgate_io::dns::Responder for Served {
    fn respond(&self, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
        self.0.respond(query, tcp)
    }

    fn respond_stream(&self, query: &[u8]) -> Vec<Vec<u8>> {
        self.0.respond_all(query, true)
    }
}

/// SIGHUP: the file with the flags over it (and the files it names), validated as at
/// start; a new authority replaces the old one between two queries. The serial counts up
/// (RFC 1982) unless the file or a flag sets it.
fn reloader(
    a: &ServeArgs,
    path: PathBuf,
    text: String,
    server: &sixgate_io::dns::AuthServer,
    serial: &Arc<AtomicU32>,
) -> crate::service::Reloader {
    let validate: crate::service::reload::Validate = {
        let a = a.clone();
        Box::new(move |text, name| resolve(&a, Some((text, name))).map(drop))
    };
    let handle = server.responder_handle();
    let serial = Arc::clone(serial);
    let apply: crate::service::reload::Apply = {
        let a = a.clone();
        Box::new(move |text, name| {
            let mut r = resolve(&a, Some((text, name)))?;
            for w in &r.warnings {
                log!("sixgate: warning: {w} (left out)");
            }
            if !r.serial_set {
                r.serve.header.serial = next_serial(serial.load(Ordering::Relaxed), SystemTime::now());
            }
            let auth = Authority::new(r.serve.clone()).map_err(|e| vec![format!("{name}: {e}")])?;
            handle.swap(responder(auth));
            serial.store(r.serve.header.serial, Ordering::Relaxed);
            let mut report = sixgate_core::reload::ReloadReport::default();
            report.changed.push("zones");
            Ok(report)
        })
    };
    let inputs: crate::service::reload::Inputs = {
        let a = a.clone();
        Box::new(move |text| fingerprint(&a, text))
    };
    crate::service::Reloader::new(path, text, validate).live(RESTART, apply).inputs(inputs)
}

/// The server's series: queries, answers, drops, TCP refusals and response times.
#[derive(Debug)]
struct Collector {
    stats: Arc<sixgate_io::dns::ServerStats>,
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut enc: prometheus_client::encoding::DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        let s = &self.stats;
        for (name, help, v) in [
            ("sixgate_rdns_queries", "Queries received, UDP and TCP", &s.queries),
            ("sixgate_rdns_answered", "Answers sent", &s.answered),
            ("sixgate_rdns_dropped", "Packets not answered (responses, shorter than a DNS header)", &s.dropped),
            ("sixgate_rdns_tcp_refused", "TCP connections refused over the connection caps", &s.tcp_refused),
            ("sixgate_rdns_tcp_evicted", "Idle TCP connections closed to make room for a new one", &s.tcp_evicted),
        ] {
            let c = ConstCounter::new(v.load(Ordering::Relaxed) as u64);
            c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        crate::service::metrics::encode_response_times(&mut enc, "sixgate_rdns_response", &s.response_time)?;
        crate::service::metrics::encode_reloads(&mut enc)
    }
}

fn start_metrics(
    listen: Option<SocketAddr>,
    stats: &Arc<sixgate_io::dns::ServerStats>,
    stop: &Arc<AtomicBool>,
) -> Result<(), CliError> {
    let Some(listen) = listen else { return Ok(()) };
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(Collector { stats: Arc::clone(stats) }));
    let at = sixgate_io::metrics::spawn(listen, registry, stop)
        .map_err(|e| CliError::failure(format!("cannot serve metrics on {listen}: {e}")))?;
    log!("sixgate rdns serve: metrics on http://{at}/metrics");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ServeArgs,
    }

    fn args(flags: &[&str]) -> ServeArgs {
        T::parse_from(std::iter::once("t").chain(flags.iter().copied())).a
    }

    const FILE: &str = "listen = \"127.0.0.1:5300\"\ndomain = \"example.net\"\nns = [\"ns1\"]\n\
        ttl = 600\nserial = 7\nminimum = 60\naxfr_limit = 300\nmax_udp = 1400\nworkers = 2\nmax_tcp = 9\n\
        metrics_listen = \"127.0.0.1:9165\"\n\n[[prefix]]\nnet = \"2001:db8::/64\"\ntemplate = \"host-{dashed}\"\n\n\
        [[prefix]]\nnet = \"192.0.2.0/24\"\ntemplate = \"v4-{dashed}.example.org.\"\n";

    #[test]
    fn every_key_and_flags_win() {
        let r = resolve(&args(&[]), Some((FILE, "r.toml"))).unwrap();
        assert_eq!(r.listen, "127.0.0.1:5300".parse().unwrap());
        let s = &r.serve;
        assert_eq!(s.forward_zone.as_deref(), Some("example.net."));
        assert_eq!(s.header.ns, ["ns1.example.net."]);
        assert_eq!(s.header.hostmaster, "hostmaster.example.net.");
        assert_eq!((s.header.ttl, s.header.serial, s.header.minimum), (600, 7, 60));
        assert_eq!((s.axfr_limit, s.max_udp_payload), (300, 1400));
        assert_eq!(s.prefixes.len(), 2);
        assert_eq!(s.prefixes[0].template.to_string(), "host-{dashed}.example.net.");
        assert_eq!((r.workers, r.max_tcp), (Some(2), Some(9)));
        assert_eq!(r.metrics_listen, Some("127.0.0.1:9165".parse().unwrap()));
        let r = resolve(
            &args(&["--prefix", "10.0.0.0/8={hex}", "--ns", "a.example.", "--serial", "9", "--listen", "127.0.0.1:54"]),
            Some((FILE, "r.toml")),
        )
        .unwrap();
        assert_eq!(r.serve.prefixes.len(), 1);
        assert_eq!(r.serve.prefixes[0].template.to_string(), "{hex}.example.net.");
        assert_eq!((r.serve.header.ns[0].as_str(), r.serve.header.serial), ("a.example.", 9));
        assert_eq!(r.listen.port(), 54);
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../../dist/sixgate/rdns.toml");
        let r = resolve(&args(&[]), Some((text, "rdns.toml"))).unwrap();
        assert!(!r.serve.prefixes.is_empty());
    }

    #[test]
    fn bad_values_name_their_line() {
        let bad = FILE.replace("2001:db8::/64", "2001:db8::/129").replace("ns = [\"ns1\"]", "ns = [\"-x\"]");
        let errs = resolve(&args(&[]), Some((&bad, "r.toml"))).unwrap_err();
        assert!(errs.iter().any(|e| e.starts_with("r.toml:3: ns:")), "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("r.toml:14: net:")), "{errs:?}");
        let errs = resolve(&args(&[]), Some((&format!("{FILE}bogus = 1\n"), "r.toml"))).unwrap_err();
        assert!(errs[0].contains("r.toml:"), "{errs:?}");
        let errs = resolve(&args(&["--prefix", "2001:db8::/64"]), None).unwrap_err();
        assert!(errs.iter().any(|e| e.contains("PREFIX=TEMPLATE")), "{errs:?}");
        assert!(errs.iter().any(|e| e.contains("--listen")), "{errs:?}");
        // A template under the forward zone must name each address once.
        let errs = resolve(
            &args(&[
                "--prefix",
                "2001:db8::/64={v4}",
                "--domain",
                "example.net",
                "--ns",
                "ns1",
                "--listen",
                "127.0.0.1:53",
            ]),
            None,
        )
        .unwrap_err();
        assert!(errs[0].contains("same name"), "{errs:?}");
    }

    #[test]
    fn hosts_files_and_their_problems() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "2001:db8::53 ns1\n2001:db9::1 away\n").unwrap();
        let h = hosts.display().to_string();
        let a = args(&[
            "--prefix",
            "2001:db8::/64=h-{dashed}",
            "--domain",
            "example.net",
            "--ns",
            "ns1",
            "--listen",
            "127.0.0.1:53",
            "--hosts",
            &h,
        ]);
        let r = resolve(&a, None).unwrap();
        assert_eq!(r.serve.records.len(), 1);
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].starts_with(&format!("{h}:2:")), "{:?}", r.warnings);
        // A forward zone file's AAAA records are explicit records too.
        let zone = dir.path().join("fwd.zone");
        std::fs::write(&zone, "$ORIGIN example.net.\n$TTL 300\nwww IN AAAA 2001:db8::80\nmx IN MX 10 www\n").unwrap();
        let z = zone.display().to_string();
        let mut with_zone = a.clone();
        with_zone.zone_file = vec![zone.clone()];
        let r = resolve(&with_zone, None).unwrap();
        let names: Vec<&str> = r.serve.records.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["ns1.example.net.", "www.example.net."], "{z}");
        let before = fingerprint(&a, "");
        std::fs::write(&hosts, "2001:db8::53 ns2\n").unwrap();
        assert_ne!(fingerprint(&a, ""), before, "a changed hosts file is a change");
    }
}
