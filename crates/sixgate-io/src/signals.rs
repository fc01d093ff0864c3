//! Signals as events: SIGINT/SIGTERM stop the workers, SIGHUP asks for a reload, SIGUSR1
//! for the counters; SIGUSR2 is received and ignored (so it cannot end a daemon whose
//! operator meant something else by it).
//!
//! The signals are blocked in every thread (call [`Signals::block`] before spawning
//! workers, which inherit the mask) and received synchronously with `sigwait`, so no
//! signal handler and no `unsafe` is needed. A blocked signal's default action (for
//! SIGHUP and SIGUSR1/2: terminate the process) never runs.

use nix::sys::signal::{SigSet, Signal};

/// What a received signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// SIGINT or SIGTERM: shut down.
    Stop,
    /// SIGUSR1: print the counters.
    Report,
    /// SIGHUP: re-read the configuration.
    Reload,
    /// A signal that is received only so that it does not kill the process (SIGUSR2); its
    /// name is given for the log.
    Ignored(&'static str),
}

/// The blocked signal set.
#[derive(Debug)]
pub struct Signals {
    set: SigSet,
}

impl Signals {
    /// Blocks SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 in the calling thread (and
    /// threads it spawns).
    pub fn block() -> nix::Result<Self> {
        let mut set = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2] {
            set.add(s);
        }
        set.thread_block()?;
        Ok(Self { set })
    }

    /// Wakes the thread waiting in [`Signals::wait`] with a SIGTERM to this process (for a
    /// worker that ends on its own, e.g. after a device error).
    pub fn wake() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), Signal::SIGTERM);
    }

    /// Waits for the next signal.
    pub fn wait(&self) -> nix::Result<Event> {
        Ok(event(self.set.wait()?))
    }
}

/// The event a received signal stands for.
fn event(s: Signal) -> Event {
    match s {
        Signal::SIGUSR1 => Event::Report,
        Signal::SIGHUP => Event::Reload,
        Signal::SIGUSR2 => Event::Ignored("SIGUSR2"),
        _ => Event::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_has_its_event() {
        assert_eq!(event(Signal::SIGHUP), Event::Reload);
        assert_eq!(event(Signal::SIGUSR1), Event::Report);
        assert_eq!(event(Signal::SIGUSR2), Event::Ignored("SIGUSR2"));
        assert_eq!(event(Signal::SIGTERM), Event::Stop);
        assert_eq!(event(Signal::SIGINT), Event::Stop);
    }
}
