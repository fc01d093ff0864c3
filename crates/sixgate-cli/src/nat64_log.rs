//! `sixgate nat64 run`'s event log (`[log]`: BIB and session events to a file or
//! syslog, and/or as IPFIX NAT events to a collector, `sixgate_io::natlog`) and its health check (`GET /health` on the metrics
//! listener: the workers publish and the TUN device is up and running).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use serde::Deserialize;
use sixgate_io::natlog::{EventSender, EventSource, Heartbeat, Logged, NatLog, NatLogStats, Sink, DEFAULT_CAPACITY};
use sixgate_nat64::EventLevel;

use crate::CliError;

/// The local syslog socket.
const DEV_LOG: &str = "/dev/log";

/// A worker that has not published for this long is taken for dead by the health check
/// (it publishes at least every 100 ms).
const STALE: Duration = Duration::from_secs(2);

/// The `[log]` table.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogToml {
    /// `"off"` (the default), `"block"` (port blocks only), `"bib"` or `"session"`;
    /// port-block allocations are logged at every level but `"off"`.
    events: Option<String>,
    /// JSON Lines to this file.
    file: Option<PathBuf>,
    /// RFC 5424 messages to `/dev/log`.
    syslog: Option<bool>,
    /// RFC 5424 messages over UDP to this collector.
    syslog_server: Option<SocketAddr>,
    /// IPFIX NAT events (RFC 8158) over UDP to this collector (`HOST:PORT`), alone or
    /// besides one of the above.
    ipfix: Option<String>,
    /// The IPFIX Observation Domain ID (RFC 7011 §3.1; default 1): one per instance.
    ipfix_domain: Option<u32>,
    /// Events waiting for the logging thread at most.
    queue: Option<usize>,
}

impl LogToml {
    /// `events`.
    pub(crate) fn level(&self) -> Result<EventLevel, CliError> {
        match self.events.as_deref() {
            // "block": the engine records no BIB or session event, the log takes the
            // port blocks alone.
            None | Some("off") | Some("block") => Ok(EventLevel::Off),
            Some("bib") => Ok(EventLevel::Bib),
            Some("session") => Ok(EventLevel::Session),
            Some(e) => Err(CliError::input(format!(
                "log.events {e:?}: \"off\", \"block\" (one line per port block), \"bib\" (and per mapping) or \"session\" (and per session)"
            ))),
        }
    }

    /// The IPFIX collector, resolved.
    fn collector(&self) -> Result<Option<SocketAddr>, CliError> {
        let Some(to) = &self.ipfix else { return Ok(None) };
        let bad =
            |why: String| CliError::input(format!("log.ipfix {to:?}: {why}; give HOST:PORT, e.g. \"192.0.2.9:4739\""));
        let mut addrs = std::net::ToSocketAddrs::to_socket_addrs(to.as_str()).map_err(|e| bad(e.to_string()))?;
        addrs.next().map(Some).ok_or_else(|| bad("no address".into()))
    }

    /// Where the events go (none when they are off): one of file, syslog and
    /// syslog_server, and/or IPFIX.
    pub(crate) fn sinks(&self) -> Result<Vec<Sink>, CliError> {
        let mut sinks = Vec::new();
        if let Some(f) = &self.file {
            sinks.push(Sink::File(f.clone()));
        }
        if self.syslog == Some(true) {
            sinks.push(Sink::SyslogLocal(DEV_LOG.into()));
        }
        if let Some(a) = self.syslog_server {
            sinks.push(Sink::SyslogUdp(a));
        }
        let level = self.level()?;
        let blocks = self.events.as_deref() == Some("block");
        if level == EventLevel::Off && !blocks {
            return Ok(Vec::new());
        }
        if sinks.len() > 1 {
            return Err(CliError::input(
                "log: more than one of file, syslog and syslog_server: keep one (a syslog daemon can fan out; log.ipfix may go with any)",
            ));
        }
        if let Some(collector) = self.collector()? {
            sinks.push(Sink::Ipfix { collector, domain: self.ipfix_domain.unwrap_or(1) });
        }
        if sinks.is_empty() {
            return Err(CliError::input(
                "log.events is on but has nowhere to go: set log.file, log.syslog = true, log.syslog_server or log.ipfix",
            ));
        }
        Ok(sinks)
    }

    /// What `--check` prints.
    pub(crate) fn describe(&self) -> Result<Option<String>, CliError> {
        let level = self.level()?;
        let sinks = self.sinks()?;
        if sinks.is_empty() {
            return Ok(None);
        }
        let to: Vec<String> = sinks
            .iter()
            .map(|s| match s {
                Sink::File(p) => format!("JSON Lines to {}", p.display()),
                Sink::SyslogLocal(p) => format!("syslog (RFC 5424) to {}", p.display()),
                Sink::SyslogUdp(a) => format!("syslog (RFC 5424) over UDP to {a}"),
                Sink::Ipfix { collector, domain } => {
                    format!("IPFIX (RFC 8158) over UDP to {collector}, observation domain {domain}")
                }
            })
            .collect();
        let what = if self.events.as_deref() == Some("block") { "port-block".into() } else { format!("{level:?}") };
        Ok(Some(format!("event log: {what} events, {}", to.join(" and "))))
    }
}

/// What `serve` adds to a gateway's workers: the event log, the heartbeats and the device
/// the health check looks at.
pub(crate) struct Extras {
    log: Option<NatLog>,
    level: EventLevel,
    beats: Vec<Heartbeat>,
    tun: String,
}

impl Extras {
    /// For `queues` workers on `tun`, with the `[log]` table: its sink opened (as root,
    /// before privileges go) and its thread started.
    pub(crate) fn open(log: Option<&LogToml>, tun: &str, queues: usize) -> Result<Self, CliError> {
        let (mut natlog, mut level) = (None, EventLevel::Off);
        if let Some(l) = log {
            let sinks = l.sinks()?;
            if !sinks.is_empty() {
                let mut n = NatLog::open_all(&sinks, l.queue.unwrap_or(DEFAULT_CAPACITY))
                    .map_err(|e| CliError::failure(format!("log: cannot open {sinks:?}: {e}")))?;
                n.start().map_err(|e| CliError::failure(format!("log: cannot start the logging thread: {e}")))?;
                natlog = Some(n);
                level = l.level()?;
            }
        }
        Ok(Self { log: natlog, level, beats: (0..queues).map(|_| Heartbeat::new()).collect(), tun: tun.to_owned() })
    }

    /// The event level the engines run with (a restart changes it: the log's sink is
    /// opened once).
    pub(crate) fn level(&self) -> EventLevel {
        self.level
    }

    fn sender(&self) -> Option<EventSender> {
        self.log.as_ref().and_then(NatLog::sender)
    }

    /// Worker `k`'s engine: its events to the log, its publications beating its heartbeat.
    pub(crate) fn wrap<E: sixgate_core::engine::Engine + EventSource>(&self, k: usize, engine: E) -> Logged<E> {
        let l = Logged::new(engine, self.sender());
        match self.beats.get(k) {
            Some(b) => l.with_heartbeat(b.clone()),
            None => l,
        }
    }

    /// The health check: every worker published within [`STALE`] and the device is up.
    pub(crate) fn health(&self) -> sixgate_io::metrics::Health {
        let (beats, tun) = (self.beats.clone(), self.tun.clone());
        Box::new(move || {
            for (k, b) in beats.iter().enumerate() {
                match b.age() {
                    Some(a) if a <= STALE => {}
                    Some(a) => return Err(format!("worker {k} silent for {} ms", a.as_millis())),
                    None => return Err(format!("worker {k} not running yet")),
                }
            }
            sixgate_io::metrics::link_is_up(&tun)
        })
    }

    /// The log's series for the metrics endpoint.
    pub(crate) fn collector(&self) -> Option<Box<dyn Collector>> {
        self.log.as_ref().map(|l| Box::new(LogCollector(l.stats())) as Box<dyn Collector>)
    }

    /// The log's part of the counters line.
    pub(crate) fn line(&self) -> impl Fn() -> String + Send + Sync + Clone + 'static {
        let stats = self.log.as_ref().map(NatLog::stats);
        move || match &stats {
            Some(s) => {
                let (logged, dropped, errors) = s.snapshot();
                format!(" events_logged={logged} events_dropped={dropped} event_write_errors={errors}")
            }
            None => String::new(),
        }
    }

    /// What reopens the log file at SIGHUP.
    pub(crate) fn reopener(&self) -> Box<dyn Fn() + Send> {
        let r = self.log.as_ref().and_then(NatLog::reopener);
        Box::new(move || {
            if let Some(r) = &r {
                r.reopen();
            }
        })
    }

    /// Writes what the log holds and stops its thread (after the workers stopped).
    pub(crate) fn finish(self) {
        if let Some(l) = self.log {
            l.shutdown();
        }
    }
}

/// `sixgate_nat64_events_{logged,dropped,write_errors}_total`.
#[derive(Debug)]
struct LogCollector(Arc<NatLogStats>);

impl Collector for LogCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (logged, dropped, errors) = self.0.snapshot();
        for (name, help, v) in [
            ("sixgate_nat64_events_logged", "BIB and session events written to the log", logged),
            (
                "sixgate_nat64_events_dropped",
                "BIB and session events dropped because the log thread was behind (the data path never waits)",
                dropped,
            ),
            ("sixgate_nat64_events_write_errors", "BIB and session events the log sink refused", errors),
        ] {
            let c = ConstCounter::new(v);
            c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> LogToml {
        toml::from_str(t).unwrap()
    }

    #[test]
    fn levels_and_sinks() {
        assert_eq!(parse("").sinks().unwrap(), []);
        assert_eq!(parse("events = \"bib\"\nfile = \"x.jsonl\"").sinks().unwrap(), [Sink::File("x.jsonl".into())]);
        assert_eq!(parse("events = \"session\"\nsyslog = true").sinks().unwrap(), [Sink::SyslogLocal(DEV_LOG.into())]);
        assert_eq!(parse("events = \"off\"\nfile = \"x\"").sinks().unwrap(), []);
        let e = parse("events = \"bib\"").sinks().unwrap_err();
        assert!(e.message.contains("nowhere to go"), "{}", e.message);
        let e = parse("events = \"bib\"\nfile = \"x\"\nsyslog = true").sinks().unwrap_err();
        assert!(e.message.contains("more than one"), "{}", e.message);
        // Port blocks alone: no engine events, but a sink.
        let b = parse("events = \"block\"\nfile = \"x\"");
        assert_eq!(b.level().unwrap(), EventLevel::Off);
        assert!(matches!(b.sinks().unwrap()[..], [Sink::File(_)]));
        assert!(b.describe().unwrap().unwrap().contains("port-block events"));
        assert!(parse("events = \"block\"").sinks().unwrap_err().message.contains("nowhere to go"));
        // IPFIX alone, or besides a file; its domain.
        let collector: SocketAddr = "192.0.2.9:4739".parse().unwrap();
        assert_eq!(
            parse("events = \"session\"\nipfix = \"192.0.2.9:4739\"").sinks().unwrap(),
            [Sink::Ipfix { collector, domain: 1 }]
        );
        let both = parse("events = \"block\"\nfile = \"x\"\nipfix = \"192.0.2.9:4739\"\nipfix_domain = 7");
        assert_eq!(both.sinks().unwrap(), [Sink::File("x".into()), Sink::Ipfix { collector, domain: 7 }]);
        assert_eq!(
            both.describe().unwrap().unwrap(),
            "event log: port-block events, JSON Lines to x and IPFIX (RFC 8158) over UDP to 192.0.2.9:4739, observation domain 7"
        );
        let e = parse("events = \"bib\"\nipfix = \"collector\"").sinks().unwrap_err();
        assert!(e.message.contains("log.ipfix \"collector\"") && e.message.contains("HOST:PORT"), "{}", e.message);
        let e = parse("events = \"all\"").level().unwrap_err();
        assert!(e.message.contains("\"all\""), "{}", e.message);
        assert!(toml::from_str::<LogToml>("evnts = \"bib\"").is_err());
    }
}
