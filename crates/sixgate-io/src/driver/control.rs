//! The control mailbox: jobs another thread sends to a worker's engine, run by the worker
//! loop between two bursts (see the [driver docs](crate::driver#jobs-from-outside-the-control-mailbox)).

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A job for a worker's engine, run with the loop's `now`.
type Job<E> = Box<dyn FnOnce(&mut E, Instant) + Send>;

/// Sends jobs to one worker's engine (see the [driver docs](crate::driver#jobs-from-outside-the-control-mailbox)).
/// Cloning gives another handle to the same worker.
pub struct Control<E> {
    tx: mpsc::Sender<Job<E>>,
}

impl<E> Clone for Control<E> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

impl<E> std::fmt::Debug for Control<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Control")
    }
}

/// The worker's end of a [`Control`]: the jobs waiting for its engine.
pub struct Mailbox<E> {
    rx: mpsc::Receiver<Job<E>>,
}

impl<E> std::fmt::Debug for Mailbox<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailbox")
    }
}

/// A new mailbox for one worker and the handle that sends to it.
pub fn control<E>() -> (Control<E>, Mailbox<E>) {
    let (tx, rx) = mpsc::channel();
    (Control { tx }, Mailbox { rx })
}

/// The worker is gone (it stopped, or never started): the job did not run, or its result
/// did not come back in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The worker has stopped: the job will not run.
    Gone,
    /// No result within the time waited (the job may still run).
    TimedOut,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Gone => "the worker has stopped",
            Self::TimedOut => "the worker did not answer in time",
        })
    }
}

impl std::error::Error for Stopped {}

/// The result of a job sent with [`Control::send`], to come.
#[derive(Debug)]
pub struct Reply<R> {
    rx: mpsc::Receiver<R>,
}

impl<R> Reply<R> {
    /// Waits at most `timeout` for the job to have run and returns its result.
    pub fn wait(self, timeout: Duration) -> Result<R, Stopped> {
        self.rx.recv_timeout(timeout).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => Stopped::TimedOut,
            mpsc::RecvTimeoutError::Disconnected => Stopped::Gone,
        })
    }
}

impl<E> Control<E> {
    /// Queues `job` for the worker's engine; it runs between two bursts, with the loop's
    /// `now`. [`Stopped::Gone`] when the worker has stopped.
    pub fn send<R, F>(&self, job: F) -> Result<Reply<R>, Stopped>
    where
        R: Send + 'static,
        F: FnOnce(&mut E, Instant) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let job: Job<E> = Box::new(move |e, now| {
            // The sender may have stopped waiting: the result is then dropped.
            let _ = tx.send(job(e, now));
        });
        self.tx.send(job).map_err(|_| Stopped::Gone)?;
        Ok(Reply { rx })
    }
}

impl<E> Mailbox<E> {
    /// Runs every job waiting, in the order they were sent.
    pub(crate) fn run(&self, engine: &mut E, now: Instant) {
        while let Ok(job) = self.rx.try_recv() {
            job(engine, now);
        }
    }

    /// Runs every job waiting on `engine` now, as a worker loop does between bursts (for
    /// an engine run by another loop than [`run_controlled_workers`](crate::run_controlled_workers)'s).
    pub fn run_pending(&self, engine: &mut E) {
        self.run(engine, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_job_for_a_stopped_worker_says_so_instead_of_waiting() {
        let (ctl, mailbox) = control::<u32>();
        let pending = ctl.send(|e: &mut u32, _| *e).unwrap();
        drop(mailbox);
        assert_eq!(pending.wait(Duration::from_secs(5)).unwrap_err(), Stopped::Gone, "queued, never run");
        assert_eq!(ctl.send(|e: &mut u32, _| *e).unwrap_err(), Stopped::Gone);
        let (ctl, mailbox) = control::<u32>();
        let r = ctl.send(|e: &mut u32, _| *e + 1).unwrap();
        assert_eq!(r.wait(ms(1)).unwrap_err(), Stopped::TimedOut, "not run yet");
        let mut engine = 41;
        let r = ctl.send(|e: &mut u32, _| *e + 1).unwrap();
        mailbox.run(&mut engine, Instant::now());
        assert_eq!(r.wait(ms(1)), Ok(42));
    }
}
