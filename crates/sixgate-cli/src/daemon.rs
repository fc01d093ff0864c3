//! What the foreground daemons (`nat64 run`, `tunnel run`) share: the periodic counter
//! line and the signal loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sixgate_io::signals::{Event, Signals};

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
                eprintln!("sixgate: {}", line());
                next += Duration::from_secs(interval);
            }
        }
    });
}

/// Waits for SIGINT/SIGTERM (or workers that ended on their own), printing `line()` on
/// each SIGUSR1.
pub(crate) fn wait_for_stop(signals: &Signals, line: &dyn Fn() -> String, finished: &dyn Fn() -> bool) {
    while let Ok(Event::Report) = signals.wait() {
        eprintln!("sixgate: {}", line());
        if finished() {
            break;
        }
    }
}
