//! The daemons' Prometheus series, read at scrape time from the counters the daemons keep
//! anyway (so scraping adds no work to the data path), served by
//! `sixgate_io::metrics`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Registry;
use sixgate_io::dns::ServerStats;

use crate::daemon::log;
use crate::service::reload;
use crate::CliError;

/// The DNS64 server's series.
#[derive(Debug)]
struct Dns64Collector {
    stats: Arc<ServerStats>,
}

impl Collector for Dns64Collector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = &self.stats;
        for (name, help, v) in [
            ("sixgate_dns64_queries", "Queries received, UDP and TCP", &s.queries),
            (
                "sixgate_dns64_upstream_failures",
                "Upstream exchanges that timed out or failed (answered SERVFAIL)",
                &s.upstream_failures,
            ),
            ("sixgate_dns64_udp_dropped", "UDP queries dropped because every worker was busy", &s.udp_dropped),
            ("sixgate_dns64_tcp_refused", "TCP connections refused over the connection cap", &s.tcp_refused),
        ] {
            let c = ConstCounter::new(v.load(Ordering::Relaxed) as u64);
            c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        encode_reloads(&mut enc)
    }
}

/// `sixgate_reloads_total{result=...}`: SIGHUP reloads by outcome.
fn encode_reloads(enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let mut family = enc.encode_descriptor(
        "sixgate_reloads",
        "Configuration reloads (SIGHUP) by result",
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (result, n) in reload::counts() {
        let c = ConstCounter::new(n);
        c.encode(family.encode_family(&[("result", result)])?)?;
    }
    Ok(())
}

/// Serves the DNS64 series on `listen` until `stop` is set.
pub(crate) fn start_dns64(
    listen: Option<SocketAddr>,
    stats: &Arc<ServerStats>,
    stop: &Arc<AtomicBool>,
) -> Result<(), CliError> {
    let Some(listen) = listen else { return Ok(()) };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Dns64Collector { stats: Arc::clone(stats) }));
    let at = sixgate_io::metrics::spawn(listen, registry, stop)
        .map_err(|e| CliError::failure(format!("cannot serve metrics on {listen}: {e}")))?;
    log!("sixgate dns64: metrics on http://{at}/metrics");
    Ok(())
}
