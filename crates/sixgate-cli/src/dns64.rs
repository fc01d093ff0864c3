//! `sixgate dns64`: a DNS64 server (RFC 6147) in front of an upstream resolver.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use ipnet::{Ipv4Net, Ipv6Net};
use sixgate_core::text::parse_host_port;
use sixgate_io::dns::{Dns64Server, LiveSettings, ServerOptions};
use sixgate_io::signals::Signals;
use sixgate_nat64::dns64::Dns64;

use crate::daemon::log;
use crate::dns64_config::{resolve, DNS64_RESTART};
use crate::error::Needs;
use crate::CliError;

/// Arguments of `sixgate dns64`.
#[derive(Args, Clone)]
pub(crate) struct Dns64Args {
    /// TOML configuration file; every flag is also a key, named as the flag with `_` for
    /// `-` (`listen`, `upstream` or `upstreams = [..]`, `prefix`, `exclude_aaaa = [..]`,
    /// `exclude_a = [..]`, `ptr = false` for --no-ptr, `timeout_ms`, `max_tcp`,
    /// `max_tcp_per_client`, `workers`, `cache_size`, `max_ttl`, `max_negative_ttl`,
    /// `metrics_listen`); unknown keys are refused and a flag wins over its key. SIGHUP
    /// reads it again: `prefix`, the exclusions, `ptr`, `timeout_ms` and the upstreams
    /// change live (the cache is kept, its synthesized answers forgotten when a DNS64
    /// setting changed); the other keys need a restart.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Address to serve DNS on, UDP and TCP: `[::]:53`, `[2001:db8::53]:5353`,
    /// `192.0.2.53`; without a port, port 53. An IPv6 address with a port is bracketed (RFC
    /// 3986 §3.2.2). Required, here or in the file.
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = dns_socket_addr)]
    pub(crate) listen: Option<SocketAddr>,
    /// The recursive resolver to ask (UDP; TCP for truncated answers): `[2001:db8::1]:53`,
    /// `127.0.0.1`; without a port, port 53. Repeat for more: they are tried in order, one
    /// that failed lately last. Required, here or in the file; never this server's own
    /// address.
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = dns_socket_addr)]
    pub(crate) upstream: Vec<SocketAddr>,
    /// RFC 6052 prefix to synthesize under; must be the translator's pool6
    /// [default: 64:ff9b::/96].
    #[arg(long, value_name = "PREFIX")]
    pub(crate) prefix: Option<String>,
    /// IPv6 range whose AAAA records count as absent (RFC 6147 §5.1.4); repeat for more
    /// [default: ::ffff:0:0/96].
    #[arg(long, value_name = "PREFIX")]
    pub(crate) exclude_aaaa: Vec<Ipv6Net>,
    /// IPv4 range never synthesized; repeat for more.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) exclude_a: Vec<Ipv4Net>,
    /// Forward PTR queries under the prefix as they are instead of answering them from
    /// in-addr.arpa (RFC 6147 §5.3.1).
    #[arg(long)]
    pub(crate) no_ptr: bool,
    /// Upstream timeout per query, in milliseconds, shared by the upstreams tried; past
    /// it the client gets SERVFAIL [default: 2000].
    #[arg(long, value_name = "MS")]
    pub(crate) timeout_ms: Option<u64>,
    /// Concurrent TCP connections in all; when all are taken, the one idle for longest is
    /// closed for a new one [default: 1024].
    #[arg(long, value_name = "N")]
    pub(crate) max_tcp: Option<usize>,
    /// Concurrent TCP connections of one client (an IPv4 address, an IPv6 /64) [default: 16].
    #[arg(long, value_name = "N")]
    pub(crate) max_tcp_per_client: Option<usize>,
    /// Worker threads, one UDP socket each (SO_REUSEPORT) [default: one per CPU].
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// Answers cached, for each of the two caches (upstream answers, synthesized
    /// answers); 0 turns caching off [default: 100000].
    #[arg(long, value_name = "N")]
    pub(crate) cache_size: Option<usize>,
    /// Longest a positive answer is cached, in seconds, whatever its TTL [default: 86400].
    #[arg(long, value_name = "SECS")]
    pub(crate) max_ttl: Option<u32>,
    /// Longest a negative answer is cached, in seconds (RFC 2308 §5) [default: 3600].
    #[arg(long, value_name = "SECS")]
    pub(crate) max_negative_ttl: Option<u32>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (e.g. 127.0.0.1:9164).
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Started as root: run as this user (and its group) once the sockets are open, with no
    /// capabilities left.
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// Validate the flags (and the file) and that the address can be listened on, and exit.
    #[arg(long)]
    pub(crate) check: bool,
}

/// `ADDR[:PORT]` with sixgate's address text rules (`sixgate_core::text`), port 53 when none
/// is given.
pub(crate) fn dns_socket_addr(s: &str) -> Result<SocketAddr, String> {
    let hp = parse_host_port(s).map_err(|e| e.to_string())?;
    if let Some(z) = &hp.zone {
        return Err(format!(
            "{s:?} has a zone (%{z}): link-local DNS addresses are not supported; use a global address or [::]"
        ));
    }
    Ok(SocketAddr::new(hp.addr, hp.port.unwrap_or(53)))
}

pub(crate) fn run(a: Dns64Args) -> Result<ExitCode, CliError> {
    // The file's text as read at start: SIGHUP compares with it.
    let running = match &a.config {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| CliError::input(format!("cannot read {}: {e}", p.display())))?)
        }
        None => None,
    };
    let name = a.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let r = resolve(&a, running.as_deref().map(|t| (t, name.as_str()))).map_err(|e| CliError::input(e.join("\n")))?;
    let prefix = r.dns64.prefix;
    let dns64 = Dns64::new(r.dns64.clone()).map_err(CliError::input)?;
    let mut opts = ServerOptions::new(r.listen, r.upstreams[0]);
    opts.upstreams = r.upstreams.clone();
    opts.listen.max_tcp_connections = r.max_tcp;
    opts.listen.max_tcp_per_client = r.max_tcp_per_client;
    opts.listen.workers = r.workers;
    opts.cache = r.cache;
    let upstreams = r.upstreams.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    if a.check {
        let mut errs = crate::service::preflight::dns64(r.listen);
        errs.extend(r.metrics_listen.map(sixgate_io::host::check_listen).unwrap_or_default());
        crate::service::preflight::refuse("dns64", errs)?;
        println!("ok: listen {} (UDP, TCP), upstream {upstreams}, prefix {prefix}", r.listen);
        return Ok(ExitCode::SUCCESS);
    }

    let signals = Signals::block().map_err(|e| CliError::failure(format!("cannot block signals: {e}")))?;
    let server = Dns64Server::bind(dns64, opts).map_err(|e| {
        let what = format!("cannot listen on {}", r.listen);
        if r.listen.port() < 1024 {
            CliError::os(what, &e, Needs::LowPort)
        } else {
            CliError::failure(format!("{what}: {e}"))
        }
    })?;
    let stats = server.stats();
    let reloader = a.config.clone().zip(running).map(|(path, text)| reloader(&a, path, text, server.live()));
    log!(
        "sixgate dns64: listening on {} (UDP, TCP), {} workers, upstream {upstreams}, prefix {prefix}, cache {} answers",
        server.local_addr()?,
        r.workers,
        r.cache.max_entries
    );
    let stop = Arc::new(AtomicBool::new(false));
    crate::service::metrics::start_dns64(r.metrics_listen, &stats, &stop)?;
    crate::service::privilege::drop_to(a.user.as_deref(), "sixgate dns64")?;
    let runner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let r = server.run(stop);
            Signals::wake();
            r
        })
    };
    let report = || {
        format!(
            "{} queries, {} cache hits, {} upstream queries, {} coalesced, {} upstream failures, \
             {} answered SERVFAIL at once (too many pending), {} TCP connections refused",
            stats.queries.load(Ordering::Relaxed),
            stats.cache_hits.load(Ordering::Relaxed),
            stats.upstream_queries.load(Ordering::Relaxed),
            stats.coalesced.load(Ordering::Relaxed),
            stats.upstream_failures.load(Ordering::Relaxed),
            stats.udp_dropped.load(Ordering::Relaxed),
            stats.tcp_refused.load(Ordering::Relaxed),
        )
    };
    crate::daemon::wait_for_stop(&signals, "sixgate dns64", &report, reloader.as_ref(), &|| runner.is_finished());
    stop.store(true, Ordering::Relaxed);
    let r = runner.join().map_err(|_| CliError::failure("the server thread panicked"))?;
    log!("sixgate dns64: stopped; final counters: {}", report());
    r.map_err(|e| CliError::failure(format!("DNS server: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP for a server started from a file: the file with the flags over it, validated as
/// at start; the DNS64's settings and the upstream are taken live by `live` (queries in
/// flight finish with what they started with), the keys in [`DNS64_RESTART`] wait for a
/// restart.
fn reloader(a: &Dns64Args, path: PathBuf, text: String, live: LiveSettings) -> crate::service::Reloader {
    let validate: crate::service::reload::Validate = {
        let a = a.clone();
        Box::new(move |text, name| resolve(&a, Some((text, name))).map(drop))
    };
    let a = a.clone();
    let apply: crate::service::reload::Apply = Box::new(move |text, name| {
        let r = resolve(&a, Some((text, name)))?;
        live.reconfigure(r.dns64, r.upstreams).map_err(|e| vec![format!("{name}: {e}")])
    });
    crate::service::Reloader::new(path, text, validate).live(DNS64_RESTART, apply)
}
