//! What the foreground daemons (`nat64 run`, `tunnel run`, `dns64`) share: the log line,
//! the periodic counter line and the signal loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sixgate_io::signals::{Event, Signals};

/// Writes one line to standard error, ignoring write errors: a daemon whose standard
/// error is gone (a closed pipe: Rust ignores SIGPIPE, so the write fails with EPIPE, on
/// which `eprintln!` panics) keeps running and keeps forwarding.
pub(crate) fn log_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// `eprintln!` that never panics: formats like it, writes with [`log_line`].
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::daemon::log_line(format_args!($($arg)*))
    };
}
pub(crate) use log;

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

/// Waits for SIGINT/SIGTERM (or workers that ended on their own), printing `line()` on
/// each SIGUSR1.
pub(crate) fn wait_for_stop(signals: &Signals, line: &dyn Fn() -> String, finished: &dyn Fn() -> bool) {
    while let Ok(Event::Report) = signals.wait() {
        log!("sixgate: {}", line());
        if finished() {
            break;
        }
    }
}
