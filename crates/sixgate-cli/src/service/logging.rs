//! The daemons' log: `tracing` events on standard error, filtered by `--log-level` (or
//! `RUST_LOG`, in `tracing-subscriber`'s `EnvFilter` syntax, when no flag is given; `info`
//! otherwise), as text or one JSON object per line (`--log-format json`). Under systemd
//! (`$JOURNAL_STREAM` set) the text lines carry no timestamp of their own: the journal
//! stamps them. Start-up, reload and stop summaries are at `info`, problems at `warn`,
//! per-packet detail only at `trace`.

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// The logging flags, valid on every subcommand.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct LogArgs {
    /// Log level of the daemons: error, warn, info, debug or trace, or a filter such as
    /// `sixgate=debug` [default: $RUST_LOG, else info].
    #[arg(long, value_name = "LEVEL", global = true)]
    pub(crate) log_level: Option<String>,
    /// Log line format of the daemons.
    #[arg(long, value_name = "FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

/// How log lines look.
#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// `LEVEL message` (with a timestamp first unless `$JOURNAL_STREAM` is set).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields.message`.
    Json,
}

/// The filter: the flag, else `$RUST_LOG`, else `info`.
pub(crate) fn filter(level: Option<&str>, rust_log: Option<&str>) -> Result<EnvFilter, String> {
    let spec = level.or(rust_log.filter(|s| !s.trim().is_empty())).unwrap_or("info");
    EnvFilter::builder().parse(spec).map_err(|e| format!("log level {spec:?}: {e}"))
}

/// Installs the subscriber for a daemon. Write errors are ignored (a daemon whose standard
/// error is gone keeps running), so are they in the subscriber itself.
pub(crate) fn init(a: &LogArgs) -> Result<(), crate::CliError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(a.log_level.as_deref(), rust_log.as_deref()).map_err(crate::CliError::input)?;
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .log_internal_errors(false);
    let r = match (a.log_format, journal) {
        (LogFormat::Json, _) => builder.json().try_init(),
        (LogFormat::Text, true) => builder.without_time().try_init(),
        (LogFormat::Text, false) => builder.try_init(),
    };
    r.map_err(|e| crate::CliError::failure(format!("cannot set up logging: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_summaries() {
        let v6 = sixgate_testkit::packets::udp6_ports("2001:db8::10", "64:ff9b::cb00:7105", 40000, 53, b"q");
        assert_eq!(
            summary(&v6),
            format!("IPv6 2001:db8::10 -> 64:ff9b::cb00:7105 udp 40000 -> 53, {} bytes", v6.len())
        );
        let v4 = sixgate_testkit::packets::udp4_ports("203.0.113.5", "198.51.100.1", 53, 40000, b"a");
        assert_eq!(summary(&v4), format!("IPv4 203.0.113.5 -> 198.51.100.1 udp 53 -> 40000, {} bytes", v4.len()));
        assert_eq!(summary(&[0x45, 0]), "2 bytes, not an IP header");
    }

    #[test]
    fn the_flag_wins_over_rust_log_and_info_is_the_default() {
        assert_eq!(filter(None, None).unwrap().to_string(), "info");
        assert_eq!(filter(None, Some("debug")).unwrap().to_string(), "debug");
        assert_eq!(filter(None, Some(" ")).unwrap().to_string(), "info");
        assert_eq!(filter(Some("warn"), Some("debug")).unwrap().to_string(), "warn");
        assert!(filter(Some("loud=="), None).is_err());
    }
}

/// An engine whose per-packet outcomes are logged at `trace`: each drop with its stable
/// reason name, each ICMP error or reply, each with the packet's addresses and ports as it
/// came in. Whether `trace` is on is asked once, when the engine is made (the filter is
/// set at start and never changes): off, the only work per packet is a test of that flag,
/// and the packet is not looked at.
#[derive(Debug)]
pub(crate) struct Traced<E> {
    engine: E,
    on: bool,
}

impl<E: sixgate_core::engine::Engine> Traced<E> {
    /// `engine`, traced if the log filter lets `trace` events through.
    pub(crate) fn new(engine: E) -> Self {
        Self { engine, on: tracing::enabled!(tracing::Level::TRACE) }
    }

    /// The engine itself (to reconfigure it on a reload).
    pub(crate) fn get_mut(&mut self) -> &mut E {
        &mut self.engine
    }

    #[cold]
    #[inline(never)]
    fn traced(
        &mut self,
        buf: &mut sixgate_core::buf::PacketBuf,
        now: std::time::Instant,
    ) -> sixgate_core::engine::Verdict<E::Reason> {
        use sixgate_core::engine::{Reason, Verdict};
        // Taken before the engine rewrites the packet in place.
        let packet = summary(buf.as_slice());
        let v = self.engine.process(buf, now);
        match v {
            Verdict::Drop(r) => tracing::trace!(reason = r.name(), "drop {}: {packet}", r.name()),
            Verdict::Reply(side) => tracing::trace!("reply to the {side:?} side for {packet}"),
            Verdict::Forward(side) => tracing::trace!("forward to the {side:?} side: {packet}"),
        }
        v
    }
}

impl<E: sixgate_core::engine::Engine> sixgate_core::engine::Engine for Traced<E> {
    type Reason = E::Reason;

    #[inline(always)]
    fn process(
        &mut self,
        buf: &mut sixgate_core::buf::PacketBuf,
        now: std::time::Instant,
    ) -> sixgate_core::engine::Verdict<E::Reason> {
        if self.on {
            return self.traced(buf, now);
        }
        self.engine.process(buf, now)
    }

    #[inline]
    fn poll_transmit(&mut self, buf: &mut sixgate_core::buf::PacketBuf) -> Option<sixgate_core::engine::Side> {
        self.engine.poll_transmit(buf)
    }

    #[inline]
    fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.engine.poll_timeout()
    }

    #[inline]
    fn handle_timeout(&mut self, now: std::time::Instant) {
        self.engine.handle_timeout(now);
    }

    #[inline]
    fn counters(&self) -> &sixgate_core::engine::Counters<E::Reason> {
        self.engine.counters()
    }

    #[inline]
    fn sync_counters(&mut self) {
        self.engine.sync_counters();
    }

    fn gauges(&self, out: &mut Vec<sixgate_core::engine::Gauge>) {
        self.engine.gauges(out);
    }
}

/// `IPv6 SRC -> DST udp 40000 -> 53, 48 bytes` (ports for TCP and UDP when the header
/// holds them; IPv6 extension headers are not walked: their number is shown instead).
pub(crate) fn summary(p: &[u8]) -> String {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let proto_name = |n: u8| match n {
        6 => "tcp".to_owned(),
        17 => "udp".to_owned(),
        1 => "icmp".to_owned(),
        58 => "icmpv6".to_owned(),
        n => format!("protocol {n}"),
    };
    let ports = |n: u8, at: usize| match (n, p.get(at..at + 4)) {
        (6 | 17, Some(b)) => {
            format!(" {} -> {}", u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]]))
        }
        _ => String::new(),
    };
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => {
            let (src, dst) = (Ipv4Addr::new(p[12], p[13], p[14], p[15]), Ipv4Addr::new(p[16], p[17], p[18], p[19]));
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let first = u16::from_be_bytes([p[6], p[7]]) & 0x1fff == 0;
            let ports = if first { ports(p[9], ihl) } else { " (fragment)".to_owned() };
            format!("IPv4 {src} -> {dst} {}{ports}, {} bytes", proto_name(p[9]), p.len())
        }
        Some(6) if p.len() >= 40 => {
            let a = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&p[at..at + 16]).unwrap_or_default());
            format!("IPv6 {} -> {} {}{}, {} bytes", a(8), a(24), proto_name(p[6]), ports(p[6], 40), p.len())
        }
        _ => format!("{} bytes, not an IP header", p.len()),
    }
}
