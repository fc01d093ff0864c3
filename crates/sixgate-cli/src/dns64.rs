//! `sixgate dns64`: a DNS64 server (RFC 6147) in front of an upstream resolver.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use ipnet::{Ipv4Net, Ipv6Net};
use sixgate_core::rfc6052::Pool6;
use sixgate_core::text::parse_host_port;
use sixgate_io::dns::{Dns64Server, ServerOptions};
use sixgate_io::signals::Signals;
use sixgate_nat64::dns64::{Dns64, Dns64Config};

use crate::daemon::log;
use crate::error::Needs;
use crate::CliError;

/// Arguments of `sixgate dns64`.
#[derive(Args)]
pub(crate) struct Dns64Args {
    /// Address to serve DNS on, UDP and TCP: `[::]:53`, `[2001:db8::53]:5353`,
    /// `192.0.2.53`; without a port, port 53. An IPv6 address with a port is bracketed (RFC
    /// 3986 §3.2.2).
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = dns_socket_addr)]
    listen: SocketAddr,
    /// The recursive resolver to ask (UDP; TCP for truncated answers): `[2001:db8::1]:53`,
    /// `127.0.0.1`; without a port, port 53.
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = dns_socket_addr)]
    upstream: SocketAddr,
    /// RFC 6052 prefix to synthesize under; must be the translator's pool6.
    #[arg(long, value_name = "PREFIX", default_value = "64:ff9b::/96")]
    prefix: String,
    /// IPv6 range whose AAAA records count as absent (RFC 6147 §5.1.4); repeat for more
    /// [default: ::ffff:0:0/96].
    #[arg(long, value_name = "PREFIX")]
    exclude_aaaa: Vec<Ipv6Net>,
    /// IPv4 range never synthesized; repeat for more.
    #[arg(long, value_name = "PREFIX")]
    exclude_a: Vec<Ipv4Net>,
    /// Forward PTR queries under the prefix as they are instead of answering them from
    /// in-addr.arpa (RFC 6147 §5.3.1).
    #[arg(long)]
    no_ptr: bool,
    /// Upstream timeout per query, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    timeout_ms: u64,
    /// Concurrent TCP connections.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_tcp: usize,
    /// Threads answering UDP queries.
    #[arg(long, value_name = "N", default_value_t = 8)]
    workers: usize,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (e.g. 127.0.0.1:9164).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics_listen: Option<SocketAddr>,
    /// Started as root: run as this user (and its group) once the sockets are open, with no
    /// capabilities left.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Validate the flags and that the address can be listened on, and exit.
    #[arg(long)]
    check: bool,
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
    let prefix: Pool6 = a.prefix.parse().map_err(|e| CliError::input(format!("--prefix {}: {e}", a.prefix)))?;
    let mut cfg = Dns64Config::new(prefix);
    if !a.exclude_aaaa.is_empty() {
        cfg.exclude_aaaa = a.exclude_aaaa;
    }
    cfg.exclude_a = a.exclude_a;
    cfg.synthesize_ptr = !a.no_ptr;
    cfg.upstream_timeout = Duration::from_millis(a.timeout_ms);
    let dns64 = Dns64::new(cfg).map_err(CliError::input)?;
    let mut opts = ServerOptions::new(a.listen, a.upstream);
    opts.max_tcp_connections = a.max_tcp.max(1);
    opts.udp_workers = a.workers.max(1);
    if a.check {
        let mut errs = crate::service::preflight::dns64(a.listen);
        errs.extend(a.metrics_listen.map(sixgate_io::host::check_listen).unwrap_or_default());
        crate::service::preflight::refuse("dns64", errs)?;
        println!("ok: listen {} (UDP, TCP), upstream {}, prefix {prefix}", a.listen, a.upstream);
        return Ok(ExitCode::SUCCESS);
    }

    let signals = Signals::block().map_err(|e| CliError::failure(format!("cannot block signals: {e}")))?;
    let server = Dns64Server::bind(dns64, opts).map_err(|e| {
        let what = format!("cannot listen on {}", a.listen);
        if a.listen.port() < 1024 {
            CliError::os(what, &e, Needs::LowPort)
        } else {
            CliError::failure(format!("{what}: {e}"))
        }
    })?;
    let stats = server.stats();
    log!("sixgate dns64: listening on {} (UDP, TCP), upstream {}, prefix {prefix}", server.local_addr()?, a.upstream);
    let stop = Arc::new(AtomicBool::new(false));
    crate::service::metrics::start_dns64(a.metrics_listen, &stats, &stop)?;
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
            "{} queries, {} upstream failures, {} UDP queries dropped (busy), {} TCP connections refused",
            stats.queries.load(Ordering::Relaxed),
            stats.upstream_failures.load(Ordering::Relaxed),
            stats.udp_dropped.load(Ordering::Relaxed),
            stats.tcp_refused.load(Ordering::Relaxed),
        )
    };
    crate::daemon::wait_for_stop(&signals, "sixgate dns64", &report, None, &|| runner.is_finished());
    stop.store(true, Ordering::Relaxed);
    let r = runner.join().map_err(|_| CliError::failure("the server thread panicked"))?;
    log!("sixgate dns64: stopped; final counters: {}", report());
    r.map_err(|e| CliError::failure(format!("DNS server: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
