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
use sixgate_core::engine::{Counters, Gauge, Reason};
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
                "sixgate_dns64_synthesized",
                "Answers with AAAA records synthesized under the prefix (RFC 6147 5.1.7, ipv4only.arpa)",
                &s.synthesized,
            ),
            (
                "sixgate_dns64_upstream_failures",
                "Upstream exchanges that timed out or failed (answered SERVFAIL)",
                &s.upstream_failures,
            ),
            (
                "sixgate_dns64_upstream_timeouts",
                "Upstream exchanges that got no answer by the deadline (part of the failures)",
                &s.upstream_timeouts,
            ),
            (
                "sixgate_dns64_udp_dropped",
                "Queries answered SERVFAIL at once: too many waiting for the upstream",
                &s.udp_dropped,
            ),
            ("sixgate_dns64_tcp_refused", "TCP connections refused over the connection caps", &s.tcp_refused),
            ("sixgate_dns64_tcp_evicted", "Idle TCP connections closed to make room for new ones", &s.tcp_evicted),
            (
                "sixgate_dns64_cache_hits",
                "Answers found in the cache (whole answers and upstream answers)",
                &s.cache_hits,
            ),
            ("sixgate_dns64_cache_misses", "Cache lookups that found nothing usable", &s.cache_misses),
            ("sixgate_dns64_cache_evictions", "Live cached answers removed to make room", &s.cache_evictions),
            ("sixgate_dns64_coalesced", "Upstream questions that waited for an identical one in flight", &s.coalesced),
            (
                "sixgate_dns64_upstream_queries",
                "Upstream questions asked (after cache and coalescing)",
                &s.upstream_queries,
            ),
        ] {
            let c = ConstCounter::new(v.load(Ordering::Relaxed) as u64);
            c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        encode_response_times(&mut enc, "sixgate_dns64_response", &s.response_time)?;
        encode_reloads(&mut enc)
    }
}

/// A DNS server's response times as the histogram `name` (seconds): time from a query
/// read to its answer ready.
pub(crate) fn encode_response_times(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    times: &sixgate_io::dns::ResponseTimes,
) -> Result<(), std::fmt::Error> {
    // The encoder sums the buckets itself and names the last one `+Inf` by f64::MAX.
    let (sum, count, cumulative) = times.snapshot();
    let mut buckets = Vec::with_capacity(cumulative.len() + 1);
    let mut below = 0;
    for (le, n) in cumulative {
        buckets.push((le, n - below));
        below = n;
    }
    buckets.push((f64::MAX, count - below));
    let mut m = enc.encode_descriptor(
        name,
        "Time from a query read to its answer ready",
        Some(&prometheus_client::registry::Unit::Seconds),
        prometheus_client::metrics::MetricType::Histogram,
    )?;
    m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
}

/// `sixgate_reloads_total{result=...}`: SIGHUP reloads by outcome.
pub(crate) fn encode_reloads(enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
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

/// One worker's counters at scrape time: packets read, refused writes, the engine's
/// counters, the engine's gauges (refreshed about once a second).
pub(crate) type QueueSnapshot<R> = (u64, u64, Counters<R>, Vec<Gauge>);

/// The drop reasons that mean a configured limit was hit, with the key that sets it.
const LIMITS: [(&str, &str); 7] = [
    ("session-limit", "max_sessions"),
    ("source-limit", "max_sessions_per_source"),
    ("pool-exhausted", "pool4"),
    ("new-flow-budget", "new_sessions_per_second"),
    ("fragment", "max_fragment_bytes"),
    ("block-limit", "max_blocks_per_subscriber"),
    ("subscriber-ports", "port_block"),
];

/// Reads every queue's published counters.
pub(crate) type Snapshot<R> = Box<dyn Fn() -> Vec<QueueSnapshot<R>> + Send + Sync>;

/// A packet engine's series (`nat64 run`, `tunnel run`), by queue and by drop reason.
struct EngineCollector<R: Reason> {
    daemon: &'static str,
    snapshot: Snapshot<R>,
}

impl<R: Reason> std::fmt::Debug for EngineCollector<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineCollector").field("daemon", &self.daemon).finish_non_exhaustive()
    }
}

impl<R: Reason> Collector for EngineCollector<R> {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::MetricType;
        let queues = (self.snapshot)();
        type Series<R> = (&'static str, &'static str, fn(&QueueSnapshot<R>) -> u64);
        let per_queue: [Series<R>; 4] = [
            ("received", "Packets read from the device", |q| q.0),
            ("forwarded", "Packets forwarded (a packet sent as fragments counted once)", |q| q.2.forwarded),
            ("replied", "Packets answered with a reply the engine made (an ICMP error, an echo reply)", |q| {
                q.2.replied
            }),
            ("write_errors", "Writes the kernel refused", |q| q.1),
        ];
        for (name, help, get) in per_queue {
            let name = format!("sixgate_{}_{name}", self.daemon);
            let mut family = enc.encode_descriptor(&name, help, None, MetricType::Counter)?;
            for (i, q) in queues.iter().enumerate() {
                let queue = i.to_string();
                ConstCounter::new(get(q)).encode(family.encode_family(&[("queue", queue.as_str())])?)?;
            }
        }
        let name = format!("sixgate_{}_drops", self.daemon);
        let mut family =
            enc.encode_descriptor(&name, "Packets dropped silently, by stable reason name", None, MetricType::Counter)?;
        for &r in R::ALL {
            let n: u64 = queues.iter().map(|q| q.2.dropped(r)).sum();
            ConstCounter::new(n).encode(family.encode_family(&[("reason", r.name())])?)?;
        }
        let name = format!("sixgate_{}_answered", self.daemon);
        let mut family = enc.encode_descriptor(
            &name,
            "Packets refused and answered with an ICMP error, by stable reason name",
            None,
            MetricType::Counter,
        )?;
        for &r in R::ALL {
            let n: u64 = queues.iter().map(|q| q.2.answered(r)).sum();
            ConstCounter::new(n).encode(family.encode_family(&[("reason", r.name())])?)?;
        }
        let limits: Vec<_> = LIMITS
            .iter()
            .filter_map(|&(reason, key)| R::ALL.iter().find(|r| r.name() == reason).map(|&r| (r, key)))
            .collect();
        if !limits.is_empty() {
            let name = format!("sixgate_{}_limit_hits", self.daemon);
            let help = "Packets refused because a configured limit was reached, by the key that sets it";
            let mut family = enc.encode_descriptor(&name, help, None, MetricType::Counter)?;
            for (r, key) in limits {
                let n: u64 = queues.iter().map(|q| q.2.dropped(r) + q.2.answered(r)).sum();
                ConstCounter::new(n).encode(family.encode_family(&[("limit", key)])?)?;
            }
        }
        if self.daemon == "tunnel" {
            // The tunnel's only replies are ICMPv6 Packet Too Big (RFC 4213 §3.2).
            let n: u64 = queues.iter().map(|q| q.2.replied).sum();
            let c = ConstCounter::new(n);
            c.encode(enc.encode_descriptor(
                "sixgate_tunnel_ptb_sent",
                "ICMPv6 Packet Too Big messages sent",
                None,
                MetricType::Counter,
            )?)?;
        }
        encode_gauges(&mut enc, self.daemon, &queues)?;
        encode_reloads(&mut enc)
    }
}

/// The engines' gauges summed over the queues (each queue's engine owns a part of the
/// tables), one family per name, in the order the engines give them.
fn encode_gauges<R: Reason>(
    enc: &mut DescriptorEncoder<'_>,
    daemon: &str,
    queues: &[QueueSnapshot<R>],
) -> Result<(), std::fmt::Error> {
    use prometheus_client::metrics::gauge::ConstGauge;
    let mut order: Vec<(&'static str, &'static str)> = Vec::new();
    type Rows<'a> = Vec<(&'a [(&'static str, String)], u64)>;
    let mut sums: std::collections::HashMap<&'static str, Rows<'_>> = std::collections::HashMap::new();
    for g in queues.iter().flat_map(|q| q.3.iter()) {
        let rows = sums.entry(g.name).or_insert_with(|| {
            order.push((g.name, g.help));
            Vec::new()
        });
        match rows.iter_mut().find(|(l, _)| *l == g.labels.as_slice()) {
            Some(row) => row.1 += g.value,
            None => rows.push((&g.labels, g.value)),
        }
    }
    for (name, help) in order {
        let full = format!("sixgate_{daemon}_{name}");
        let mut family = enc.encode_descriptor(&full, help, None, prometheus_client::metrics::MetricType::Gauge)?;
        let gauge = |v: u64| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
        match sums[name].as_slice() {
            // A series without labels: `name value`, not `name{} value`.
            [([], v)] => gauge(*v).encode(family)?,
            rows => {
                for (labels, v) in rows {
                    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    gauge(*v).encode(family.encode_family(&labels)?)?;
                }
            }
        }
    }
    Ok(())
}

/// Serves a packet engine's series on `listen` until `stop` is set, with more series
/// (`extra`: the event log's, the fast path's) and, when given, a `GET /health` check;
/// `daemon` names them (`sixgate_DAEMON_received_total`, ...).
pub(crate) fn start_engine_with<R: Reason>(
    daemon: &'static str,
    listen: Option<SocketAddr>,
    snapshot: Snapshot<R>,
    stop: &Arc<AtomicBool>,
    extra: Vec<Box<dyn Collector>>,
    health: Option<sixgate_io::metrics::Health>,
) -> Result<(), CliError> {
    let Some(listen) = listen else { return Ok(()) };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(EngineCollector { daemon, snapshot }));
    for c in extra {
        registry.register_collector(c);
    }
    let at = sixgate_io::metrics::spawn_with_health(listen, registry, health, stop)
        .map_err(|e| CliError::failure(format!("cannot serve metrics on {listen}: {e}")))?;
    log!("sixgate: metrics on http://{at}/metrics");
    Ok(())
}
