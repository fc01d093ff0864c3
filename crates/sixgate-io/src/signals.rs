//! Signals as events: SIGINT/SIGTERM stop the workers, SIGUSR1 asks for counters.
//!
//! The signals are blocked in every thread (call [`Signals::block`] before spawning
//! workers, which inherit the mask) and received synchronously with `sigwait`, so no
//! signal handler and no `unsafe` is needed.

use nix::sys::signal::{SigSet, Signal};

/// What a received signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// SIGINT or SIGTERM: shut down.
    Stop,
    /// SIGUSR1: print the counters.
    Report,
}

/// The blocked signal set.
#[derive(Debug)]
pub struct Signals {
    set: SigSet,
}

impl Signals {
    /// Blocks SIGINT, SIGTERM and SIGUSR1 in the calling thread (and threads it spawns).
    pub fn block() -> nix::Result<Self> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.add(Signal::SIGUSR1);
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
        Ok(match self.set.wait()? {
            Signal::SIGUSR1 => Event::Report,
            _ => Event::Stop,
        })
    }
}
