//! What the foreground daemons (`nat64 run`, `tunnel run`, `dns64`) share: the log line,
//! the periodic counter line and the signal loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sixgate_io::signals::{Event, Signals};
use sixgate_io::{KernelCounters, TunCounters, TunDevice};

/// Writes one line to standard error, ignoring write errors: a daemon whose standard
/// error is gone (a closed pipe: Rust ignores SIGPIPE, so the write fails with EPIPE, on
/// which `eprintln!` panics) keeps running and keeps forwarding.
///
/// Once a daemon has set up its log ([`crate::service::logging::init`]) the line becomes a
/// `tracing` event instead: at `warn` when it says `warning:`, at `info` otherwise, with
/// the `sixgate: ` / `warning: ` lead-ins left to the log format.
pub(crate) fn log_line(args: std::fmt::Arguments<'_>) {
    if tracing::dispatcher::has_been_set() {
        let s = args.to_string();
        let s = s.strip_prefix("sixgate: ").or_else(|| s.strip_prefix("sixgate ")).unwrap_or(&s);
        match s.strip_prefix("warning: ") {
            Some(w) => tracing::warn!("{w}"),
            None => tracing::info!("{s}"),
        }
        return;
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// A command's final error: an `error` event in a daemon's log, else a plain line.
pub(crate) fn log_error(e: &dyn std::fmt::Display) {
    if tracing::dispatcher::has_been_set() {
        tracing::error!("{e}");
    } else {
        log_line(format_args!("sixgate: {e}"));
    }
}

/// `eprintln!` that never panics: formats like it, writes with [`log_line`].
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::daemon::log_line(format_args!($($arg)*))
    };
}
pub(crate) use log;

/// The TUN device's kernel counters for the counters line, counted from the daemon's
/// start: `tun_tx_dropped` (packets the kernel dropped because the queue towards the daemon
/// was full), `tun_rx_dropped` (packets the daemon wrote that the kernel dropped) and
/// `tun_txqueuelen` (that queue's length).
///
/// The device goes away with the last queue, before the final counters line: that line
/// shows the last reading, which [`TunDrops::refresh`] takes just before the workers stop.
#[derive(Clone)]
pub(crate) struct TunDrops {
    counters: TunCounters,
    start: KernelCounters,
    last: Arc<std::sync::Mutex<Option<KernelCounters>>>,
}

impl TunDrops {
    /// For the device of `dev`; `None` (with a warning) when its counters cannot be read.
    pub(crate) fn new(dev: &TunDevice) -> Option<Self> {
        let last = Arc::new(std::sync::Mutex::new(None));
        match TunCounters::new(dev).and_then(|c| c.read().map(|start| Self { counters: c, start, last })) {
            Ok(t) => Some(t),
            Err(e) => {
                log!("sixgate: warning: the TUN device's drop counters are unavailable: {e}");
                None
            }
        }
    }

    /// ` tun_tx_dropped=N tun_rx_dropped=N tun_txqueuelen=N` (the last when readable).
    pub(crate) fn line(&self) -> String {
        let Some(now) = self.refresh() else {
            return " tun_counters=unavailable".to_owned();
        };
        let mut s = format!(
            " tun_tx_dropped={} tun_rx_dropped={}",
            now.tx_dropped.saturating_sub(self.start.tx_dropped),
            now.rx_dropped.saturating_sub(self.start.rx_dropped)
        );
        if let Some(q) = now.tx_queue_len {
            s.push_str(&format!(" tun_txqueuelen={q}"));
        }
        s
    }

    /// Reads the counters now and keeps them as the last reading; the last reading when
    /// they cannot be read (the device is gone).
    pub(crate) fn refresh(&self) -> Option<KernelCounters> {
        let mut last = self.last.lock().ok()?;
        if let Ok(now) = self.counters.read() {
            *last = Some(now);
        }
        *last
    }
}

/// Prints `sixgate: LINE` every `interval` seconds until `stop` is set; 0 prints nothing.
pub(crate) fn spawn_stats_log<F>(stop: &Arc<AtomicBool>, interval: u64, line: F)
where
    F: Fn() -> String + Send + 'static,
{
    if interval == 0 {
        return;
    }
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        let mut next = Instant::now() + Duration::from_secs(interval);
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            if Instant::now() >= next {
                log!("sixgate: {}", line());
                next += Duration::from_secs(interval);
            }
        }
    });
}

/// Runs the signal loop of a daemon that is up: tells the service manager `READY=1`,
/// then until SIGINT/SIGTERM (or workers that ended on their own) prints `line()` on each
/// SIGUSR1, reloads on each SIGHUP (`RELOADING=1` before, `READY=1` after; with no
/// `reloader` the daemon has no configuration file and says so) and logs other signals it
/// receives as ignored; tells `STOPPING=1` when it returns. `who` starts each log line.
pub(crate) fn wait_for_stop(
    signals: &Signals,
    who: &str,
    line: &dyn Fn() -> String,
    reloader: Option<&crate::service::Reloader>,
    finished: &dyn Fn() -> bool,
) {
    let notify = notifier();
    let _ = notify.ready("running");
    loop {
        let event = match signals.wait() {
            Ok(e) => e,
            Err(e) => {
                log!("{who}: cannot wait for signals: {e}; stopping");
                break;
            }
        };
        match event {
            Event::Stop => break,
            Event::Report => log!("{who}: {}", line()),
            Event::Reload => {
                let _ = notify.reloading();
                let status = match reloader {
                    Some(r) => {
                        let outcome = r.reload();
                        if outcome.is_refusal() {
                            tracing::warn!("{who}: SIGHUP: reload of {}: {outcome}", r.name());
                        } else {
                            log!("{who}: SIGHUP: reload of {}: {outcome}", r.name());
                        }
                        outcome.to_string()
                    }
                    None => {
                        crate::service::reload::record_no_file();
                        log!("{who}: SIGHUP: no configuration file (flags only): nothing to reload; still running");
                        "running".to_owned()
                    }
                };
                let _ = notify.ready(&status);
            }
            Event::Ignored(name) => log!("{who}: {name} ignored (SIGHUP reloads, SIGUSR1 prints counters)"),
        }
        if finished() {
            break;
        }
    }
    let _ = notify.stopping();
}

/// The service manager's notification socket, or a notifier that sends nothing (with a
/// warning when `$NOTIFY_SOCKET` is set but unusable).
fn notifier() -> sixgate_io::notify::Notifier {
    sixgate_io::notify::Notifier::from_env().unwrap_or_else(|e| {
        log!("sixgate: warning: NOTIFY_SOCKET: {e}; not notifying the service manager");
        sixgate_io::notify::Notifier::disabled()
    })
}
