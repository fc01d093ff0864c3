//! The worker loop, one for every driver: wait until a device is readable or the engine's
//! next deadline is due, run the timers that are due, read what the devices hold, drive
//! each packet through the engine, write what comes out, publish statistics; until the
//! stop flag is set. One worker per queue.
//!
//! What differs between drivers is behind a small internal trait (the "pump"): which
//! descriptors to wait on, how a burst is read (one packet per syscall, or batches with
//! virtio-net offload), where the engine's output is collected and how it is written.
//! Four pumps use the loop: one packet per syscall over any [`PacketIo`] devices (a TUN
//! device without offload, or a tunnel's TUN device and raw sockets); the offload TUN pump
//! ([`run_workers`] on devices opened with offload: NAT64 and SIIT with GSO/GRO, and the
//! sharded stateful translator, whose shard handles are engines like any other); and the
//! batched tunnel pump ([`run_tunnel`](crate::run_tunnel) with offload).
//!
//! # When the loop wakes up
//!
//! The loop sleeps in `poll(2)` until a device is readable or until the engine's
//! [`Engine::poll_timeout`] deadline, rounded *up* to poll's millisecond so the wake-up is
//! never early (an early one would find nothing due and sleep again for 0 ms, spinning
//! until the deadline). The sleep is capped at 100 ms, the stop-flag check interval: the
//! stop flag is an atomic that nothing wakes the loop for, so an idle worker sees a stop
//! request within that time. A deadline already past gives a zero timeout (a mass expiry
//! that runs in slices gets one slice per wake-up without sleeping). Due timers run at
//! every wake-up, before the burst, with the same `now`.
//!
//! # Jobs from outside: the control mailbox
//!
//! Each worker owns its engine; another thread reaches it through a [`Control`] handle
//! (made with [`control`], its [`Mailbox`] given to the worker), e.g. to apply a new
//! configuration on SIGHUP. The loop runs the jobs waiting in its mailbox at every
//! wake-up, after the burst has been written and before it waits again: between two
//! bursts, never inside one, so no packet is lost or reordered around a job. Nothing
//! wakes the loop for a job: a busy worker runs it after its current burst, an idle one
//! at the latest at its next stop check (100 ms). Each job's result goes
//! back to its sender ([`Reply`]); a worker that has stopped drops the job, and its
//! sender learns so ([`Stopped`]) instead of waiting. The mailbox itself is in the `control`
//! submodule; its items are re-exported here and at the crate root.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{drive_into, drive_timeout_into, Counters, Engine, Origin, Outbox, Reason, Side};

use crate::packet_io::PacketIo;
use crate::tun::TunDevice;

mod control;

pub use control::{control, Control, Mailbox, Reply, Stopped};

/// Counters a worker publishes for reporting (updated at least every 100 ms).
#[derive(Debug, Clone, Default)]
pub struct WorkerStats<C> {
    /// The engine's counters.
    pub counters: C,
    /// Packets read from the device.
    pub received: u64,
    /// Writes the kernel refused (the engine counted their packets as forwarded; a batched
    /// write that failed counts once, whatever number of its packets were lost). Packets it
    /// accepted and dropped later show in the TUN device's own `rx_dropped`
    /// ([`crate::TunCounters`]).
    pub write_errors: u64,
    /// GSO super-packets translated whole (each also counted once in `received`).
    pub whole: u64,
    /// The engine's [`Engine::gauges`], refreshed every [`GAUGES_EVERY`]th publication.
    pub gauges: Vec<sixgate_core::engine::Gauge>,
    /// Publications since the gauges were last refreshed.
    since_gauges: u32,
}

/// The gauges (which may walk the engine's tables) are refreshed at every tenth
/// publication: about once a second.
pub const GAUGES_EVERY: u32 = 10;

impl<R: Reason> WorkerStats<Counters<R>> {
    /// Takes the engine's counters and hands a snapshot to the reporting thread's slot.
    pub(crate) fn publish<E: Engine<Reason = R>>(&mut self, engine: &mut E, slot: &Mutex<Self>) {
        engine.sync_counters();
        self.counters.clone_from(engine.counters());
        if self.since_gauges == 0 {
            self.gauges.clear();
            engine.gauges(&mut self.gauges);
        }
        self.since_gauges = (self.since_gauges + 1) % GAUGES_EVERY;
        if let Ok(mut s) = slot.lock() {
            *s = self.clone();
        }
    }
}

/// Per-worker statistics slots shared with the reporting thread.
pub type Published<R> = Arc<Vec<Mutex<WorkerStats<Counters<R>>>>>;

/// The longest the loop sleeps: how soon an idle worker sees the stop flag.
pub(crate) const STOP_CHECK: Duration = Duration::from_millis(100);

/// How often a busy worker publishes its statistics (an idle one does at every wake-up
/// that found nothing to read).
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// Packets read from one device per wake-up before the loop writes what it has and polls
/// again.
pub(crate) const BURST: usize = 64;

/// Which of a pump's devices (by position, at most 8) are readable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ready(u8);

impl Ready {
    /// None is.
    pub(crate) const NONE: Self = Self(0);

    /// Whether any is.
    pub(crate) fn any(self) -> bool {
        self.0 != 0
    }

    /// Whether device `i` is.
    pub(crate) fn has(self, i: usize) -> bool {
        i < 8 && self.0 & (1 << i) != 0
    }

    /// Device `i` is, too.
    pub(crate) fn with(self, i: usize) -> Self {
        if i < 8 {
            Self(self.0 | (1 << i))
        } else {
            self
        }
    }
}

/// What the worker loop needs of the devices it serves; see the [module docs](self).
pub(crate) trait Pump {
    /// Where the engine's output is collected until [`Pump::flush`].
    type Out: Outbox;

    /// Waits at most `timeout` for a device to become readable and says which are
    /// ([`Ready::NONE`] on a timeout or a signal).
    fn wait(&mut self, timeout: Duration) -> io::Result<Ready>;

    /// The time now, as the engine is told it.
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// The output the timers' packets go to.
    fn outbox(&mut self) -> &mut Self::Out;

    /// Reads what the `ready` devices hold (at most a burst each) and drives every packet
    /// through `engine` into the output, counting reads into `stats`. Called at every
    /// wake-up, with [`Ready::NONE`] too.
    fn burst<E: Engine, C>(
        &mut self,
        engine: &mut E,
        ready: Ready,
        now: Instant,
        stats: &mut WorkerStats<C>,
    ) -> io::Result<()>;

    /// Writes what is collected, counting refused writes into `stats`.
    fn flush<C>(&mut self, stats: &mut WorkerStats<C>);
}

/// Runs `engine` on `pump`'s devices until `stop` is set, publishing statistics into
/// `slot` at least every 100 ms while busy, whenever a wake-up finds nothing to read, and
/// once more at the end; runs the jobs of `mailbox` between bursts.
pub(crate) fn run_loop<E: Engine, P: Pump>(
    pump: &mut P,
    mut engine: E,
    stop: &AtomicBool,
    slot: &Mutex<WorkerStats<Counters<E::Reason>>>,
    mailbox: Option<&Mailbox<E>>,
) -> io::Result<()> {
    let mut stats = WorkerStats::default();
    let mut last_publish = pump.now();
    while !stop.load(Ordering::Relaxed) {
        let ready = pump.wait(wake_in(engine.poll_timeout(), pump.now()))?;
        let now = pump.now();
        // Timers can have packets to send (e.g. RFC 6146 §3.5.2.2: the ICMP error for an
        // unsolicited SYN held 6 s).
        drive_timeout_into(&mut engine, now, pump.outbox());
        pump.burst(&mut engine, ready, now, &mut stats)?;
        pump.flush(&mut stats);
        // Between bursts: what the last one read is written, the next is not read yet.
        if let Some(m) = mailbox {
            m.run(&mut engine, now);
        }
        if !ready.any() || now.duration_since(last_publish) >= PUBLISH_EVERY {
            stats.publish(&mut engine, slot);
            last_publish = now;
        }
    }
    stats.publish(&mut engine, slot);
    Ok(())
}

/// How long the loop may sleep at `now` when the engine's next deadline is `deadline`:
/// until it, rounded up to a whole millisecond, at most [`STOP_CHECK`].
pub(crate) fn wake_in(deadline: Option<Instant>, now: Instant) -> Duration {
    let Some(t) = deadline else { return STOP_CHECK };
    let left = t.saturating_duration_since(now).min(STOP_CHECK);
    let ms = left.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// `poll(2)` on `fds` (at most 4) for at most `timeout` (whole milliseconds); which have
/// something to read (`POLLIN`; a pending socket error alone does not count, as the
/// drivers always had it: a raw socket's error from an ICMP message is no reason to stop).
/// No allocation: it runs at every wake-up.
pub(crate) fn wait_readable<'f>(fds: impl IntoIterator<Item = BorrowedFd<'f>>, timeout: Duration) -> io::Result<Ready> {
    const MAX: usize = 4;
    let mut fds = fds.into_iter().take(MAX);
    let Some(first) = fds.next() else { return Ok(Ready::NONE) };
    let mut pfds: [PollFd<'f>; MAX] = std::array::from_fn(|_| PollFd::new(first, PollFlags::POLLIN));
    let mut n = 1;
    for (p, fd) in pfds[1..].iter_mut().zip(fds) {
        *p = PollFd::new(fd, PollFlags::POLLIN);
        n += 1;
    }
    let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    match poll(&mut pfds[..n], timeout) {
        Ok(0) | Err(nix::errno::Errno::EINTR) => Ok(Ready::NONE),
        Ok(_) => Ok(pfds[..n]
            .iter()
            .enumerate()
            .filter(|(_, f)| f.revents().is_some_and(|r| r.intersects(PollFlags::POLLIN)))
            .fold(Ready::NONE, |r, (i, _)| r.with(i))),
        Err(e) => Err(e.into()),
    }
}

/// Runs one engine per queue, each in its own thread, until `stop` is set. Each worker
/// publishes its statistics into its slot of the returned vector. Returns when every
/// worker has ended, with each worker's final statistics or error. The devices are
/// switched to non-blocking mode (each worker waits in `poll(2)` and drains its queue).
pub fn run_workers<E, F>(
    queues: Vec<TunDevice>,
    make_engine: F,
    stop: &Arc<AtomicBool>,
    published: &Published<E::Reason>,
) -> Vec<io::Result<()>>
where
    E: Engine + Send + 'static,
    F: FnMut(usize) -> E,
{
    run_controlled_workers(queues, make_engine, stop, published, Vec::new())
}

/// [`run_workers`], each worker also running the jobs of its mailbox: queue `i` takes
/// `mailboxes[i]` (a queue beyond the list has none). See the
/// [module docs](self#jobs-from-outside-the-control-mailbox).
pub fn run_controlled_workers<E, F>(
    queues: Vec<TunDevice>,
    mut make_engine: F,
    stop: &Arc<AtomicBool>,
    published: &Published<E::Reason>,
    mailboxes: Vec<Mailbox<E>>,
) -> Vec<io::Result<()>>
where
    E: Engine + Send + 'static,
    F: FnMut(usize) -> E,
{
    let mut mailboxes = mailboxes.into_iter();
    let handles: Vec<_> = queues
        .into_iter()
        .enumerate()
        .map(|(i, dev)| {
            let engine = make_engine(i);
            let stop = Arc::clone(stop);
            let published = Arc::clone(published);
            let mailbox = mailboxes.next();
            std::thread::Builder::new()
                .name(format!("sixgate-q{i}"))
                .spawn(move || worker(dev, engine, &stop, &published[i], mailbox.as_ref()))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| match h {
            Ok(h) => h.join().unwrap_or_else(|_| Err(io::Error::other("worker panicked"))),
            Err(e) => Err(e),
        })
        .collect()
}

/// One queue: the offload pump when the device was opened with offload, one packet per
/// syscall otherwise (both sides of the engine are the same device).
fn worker<E: Engine>(
    dev: TunDevice,
    engine: E,
    stop: &AtomicBool,
    slot: &Mutex<WorkerStats<Counters<E::Reason>>>,
    mailbox: Option<&Mailbox<E>>,
) -> io::Result<()> {
    dev.dev().set_nonblocking(true)?;
    if dev.offload() {
        run_loop(&mut crate::batch::OffloadTun::new(&dev), engine, stop, slot, mailbox)
    } else {
        run_loop(&mut Plain::new(vec![&dev], &dev, &dev), engine, stop, slot, mailbox)
    }
}

/// The pump for one packet per syscall over any [`PacketIo`] devices (non-blocking):
/// each readable source is read up to [`BURST`] times, and every packet the engine emits
/// is written at once to the device of its side.
pub(crate) struct Plain<'a> {
    sources: Vec<&'a dyn PacketIo>,
    buf: PacketBuf,
    out: Direct<'a>,
}

impl<'a> Plain<'a> {
    /// Reads `sources` (in this order, one [`Ready`] position each); writes packets for
    /// the IPv4 side to `v4` and for the IPv6 side to `v6`.
    pub(crate) fn new(sources: Vec<&'a dyn PacketIo>, v4: &'a dyn PacketIo, v6: &'a dyn PacketIo) -> Self {
        Self { sources, buf: PacketBuf::new(), out: Direct { v4, v6, spare: Vec::new(), errors: 0 } }
    }
}

impl<'a> Pump for Plain<'a> {
    type Out = Direct<'a>;

    fn wait(&mut self, timeout: Duration) -> io::Result<Ready> {
        wait_readable(self.sources.iter().map(|s| s.poll_fd()), timeout)
    }

    fn outbox(&mut self) -> &mut Self::Out {
        &mut self.out
    }

    fn burst<E: Engine, C>(
        &mut self,
        engine: &mut E,
        ready: Ready,
        now: Instant,
        stats: &mut WorkerStats<C>,
    ) -> io::Result<()> {
        // Up to a burst from each readable source in turn, so no side starves the other.
        for (i, src) in self.sources.iter().enumerate() {
            if !ready.has(i) {
                continue;
            }
            for _ in 0..BURST {
                match src.recv_packet(&mut self.buf) {
                    Ok(()) => {}
                    Err(e) if is_drained(&e) => break,
                    Err(e) => return Err(e),
                }
                stats.received += 1;
                // The packet, then whatever the engine queued (after a drop too).
                let _ = drive_into(engine, &mut self.buf, now, &mut self.out);
            }
        }
        Ok(())
    }

    fn flush<C>(&mut self, stats: &mut WorkerStats<C>) {
        stats.write_errors += std::mem::take(&mut self.out.errors);
    }
}

/// Whether a read error only says there is nothing more to read now.
pub(crate) fn is_drained(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// [`Plain`]'s output: each packet is written as it comes (a refused write is counted, not
/// returned: the loop goes on with the next packet) and its buffer kept as a spare.
pub(crate) struct Direct<'a> {
    v4: &'a dyn PacketIo,
    v6: &'a dyn PacketIo,
    spare: Vec<PacketBuf>,
    errors: u64,
}

impl Outbox for Direct<'_> {
    type Buf = PacketBuf;

    fn spare(&mut self) -> PacketBuf {
        self.spare.pop().unwrap_or_default()
    }

    fn recycle(&mut self, buf: PacketBuf) {
        self.spare.push(buf);
    }

    fn push(&mut self, side: Side, _origin: Origin, buf: PacketBuf) {
        let dev = match side {
            Side::V4 => self.v4,
            Side::V6 => self.v6,
        };
        if dev.send_packet(&buf).is_err() {
            self.errors += 1;
        }
        self.spare.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;
    use std::os::fd::AsFd;
    use std::rc::Rc;

    use sixgate_core::engine::Verdict;

    use super::*;

    sixgate_core::drop_reasons! {
        /// Never used.
        enum Why {
            /// Never used.
            Never = "never",
        }
    }

    /// What happened, with the `now` the loop gave.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Event {
        /// `handle_timeout(now)`.
        Timeout(Instant),
        /// `process(packet, now)`.
        Packet(Instant, Vec<u8>),
        /// A packet written to the device, at the fake time.
        Sent(Instant, Vec<u8>),
        /// A mailbox job ran with this `now`; its tag.
        Job(Instant, u8),
    }

    type Log = Rc<RefCell<Vec<Event>>>;

    /// A fake clock shared by the device and the pump.
    type Clock = Rc<Cell<Instant>>;

    /// A device with scripted arrivals: each packet is readable from its instant on.
    struct FakeDev {
        clock: Clock,
        arrivals: RefCell<VecDeque<(Instant, Vec<u8>)>>,
        log: Log,
        /// Only for the trait: the fake pump never polls it.
        fd: std::fs::File,
    }

    impl PacketIo for FakeDev {
        fn recv_packet(&self, buf: &mut PacketBuf) -> io::Result<()> {
            let mut a = self.arrivals.borrow_mut();
            match a.front() {
                Some((t, _)) if *t <= self.clock.get() => {
                    let p = a.pop_front().map(|(_, p)| p).unwrap_or_default();
                    buf.set(&p).map_err(|_| io::Error::other("too long"))
                }
                _ => Err(io::ErrorKind::WouldBlock.into()),
            }
        }

        fn send_packet(&self, pkt: &[u8]) -> io::Result<()> {
            self.log.borrow_mut().push(Event::Sent(self.clock.get(), pkt.to_vec()));
            Ok(())
        }

        fn poll_fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }
    }

    /// The real [`Plain`] pump over a [`FakeDev`], with the waiting and the clock faked: a
    /// wait of `timeout` moves the clock to the next arrival if it comes within the
    /// timeout (the device is then readable), else by the whole timeout. After `limit`
    /// waits it sets the stop flag.
    struct FakeTime<'a> {
        plain: Plain<'a>,
        dev: &'a FakeDev,
        waits: Vec<Duration>,
        limit: usize,
        stop: &'a AtomicBool,
        /// Jobs to send during wait number `.0` (counted from 1), before it returns.
        jobs: Vec<(usize, Box<dyn FnOnce()>)>,
    }

    impl<'a> Pump for FakeTime<'a> {
        type Out = Direct<'a>;

        fn wait(&mut self, timeout: Duration) -> io::Result<Ready> {
            self.waits.push(timeout);
            if self.waits.len() >= self.limit {
                self.stop.store(true, Ordering::Relaxed);
            }
            let n = self.waits.len();
            for (_, send) in self.jobs.extract_if(.., |(at, _)| *at == n) {
                send();
            }
            let now = self.dev.clock.get();
            let next = self.dev.arrivals.borrow().front().map(|(t, _)| *t);
            match next {
                Some(t) if t <= now + timeout => {
                    self.dev.clock.set(t.max(now));
                    Ok(Ready::NONE.with(0))
                }
                _ => {
                    self.dev.clock.set(now + timeout);
                    Ok(Ready::NONE)
                }
            }
        }

        fn now(&self) -> Instant {
            self.dev.clock.get()
        }

        fn outbox(&mut self) -> &mut Direct<'a> {
            self.plain.outbox()
        }

        fn burst<E: Engine, C>(
            &mut self,
            engine: &mut E,
            ready: Ready,
            now: Instant,
            stats: &mut WorkerStats<C>,
        ) -> io::Result<()> {
            self.plain.burst(engine, ready, now, stats)
        }

        fn flush<C>(&mut self, stats: &mut WorkerStats<C>) {
            self.plain.flush(stats);
        }
    }

    /// One timer at `due`; when it fires it queues `[0xee]` for the IPv6 side. Packets are
    /// forwarded to the IPv4 side.
    struct Timed {
        c: Counters<Why>,
        due: Option<Instant>,
        queued: bool,
        log: Log,
    }

    impl Engine for Timed {
        type Reason = Why;
        fn process(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<Why> {
            self.log.borrow_mut().push(Event::Packet(now, buf.as_slice().to_vec()));
            Verdict::Forward(Side::V4)
        }
        fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
            std::mem::take(&mut self.queued).then(|| buf.set(&[0xee]).ok()).flatten().map(|()| Side::V6)
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.due
        }
        fn handle_timeout(&mut self, now: Instant) {
            self.log.borrow_mut().push(Event::Timeout(now));
            if self.due.is_some_and(|d| d <= now) {
                self.due = None;
                self.queued = true;
            }
        }
        fn counters(&self) -> &Counters<Why> {
            &self.c
        }
    }

    /// Runs the loop over a fake device with these arrivals and an engine whose timer is
    /// due at `due` (both relative to the start `t0`), for `limit` wake-ups; returns `t0`,
    /// the events and the waits the loop asked for.
    fn run(due: Duration, arrivals: &[(Duration, &[u8])], limit: usize) -> (Instant, Vec<Event>, Vec<Duration>) {
        let t0 = Instant::now();
        let log = Log::default();
        let dev = FakeDev {
            clock: Rc::new(Cell::new(t0)),
            arrivals: RefCell::new(arrivals.iter().map(|(t, p)| (t0 + *t, p.to_vec())).collect()),
            log: Rc::clone(&log),
            fd: std::fs::File::open("/dev/null").unwrap(),
        };
        let stop = AtomicBool::new(false);
        let plain = Plain::new(vec![&dev], &dev, &dev);
        let mut pump = FakeTime { plain, dev: &dev, waits: Vec::new(), limit, stop: &stop, jobs: Vec::new() };
        let engine = Timed { c: Counters::new(), due: Some(t0 + due), queued: false, log: Rc::clone(&log) };
        let slot = Mutex::new(WorkerStats::default());
        run_loop(&mut pump, engine, &stop, &slot, None).unwrap();
        let events = log.borrow().clone();
        (t0, events, pump.waits)
    }

    #[test]
    fn a_mailbox_job_runs_between_bursts_and_no_packet_is_lost_or_reordered_around_it() {
        let t0 = Instant::now();
        let log = Log::default();
        // Two packets that arrive together (one burst), then one more later.
        let arrivals = [(ms(10), vec![1]), (ms(10), vec![2]), (ms(20), vec![3])];
        let dev = FakeDev {
            clock: Rc::new(Cell::new(t0)),
            arrivals: RefCell::new(arrivals.iter().map(|(t, p)| (t0 + *t, p.clone())).collect()),
            log: Rc::clone(&log),
            fd: std::fs::File::open("/dev/null").unwrap(),
        };
        let stop = AtomicBool::new(false);
        let (ctl, mailbox) = control::<Timed>();
        let replies: Rc<RefCell<Vec<Reply<u8>>>> = Rc::default();
        // Sent while the loop waits for the first burst (it becomes readable in that same
        // wait), and two more while it waits for the last packet.
        let job = |tag: u8| {
            let (ctl, replies) = (ctl.clone(), Rc::clone(&replies));
            Box::new(move || {
                let r = ctl
                    .send(move |e: &mut Timed, now| {
                        e.log.borrow_mut().push(Event::Job(now, tag));
                        tag * 10
                    })
                    .unwrap();
                replies.borrow_mut().push(r);
            }) as Box<dyn FnOnce()>
        };
        let jobs = vec![(1, job(1)), (2, job(2)), (2, job(3))];
        let plain = Plain::new(vec![&dev], &dev, &dev);
        let mut pump = FakeTime { plain, dev: &dev, waits: Vec::new(), limit: 4, stop: &stop, jobs };
        let engine = Timed { c: Counters::new(), due: None, queued: false, log: Rc::clone(&log) };
        let slot = Mutex::new(WorkerStats::default());
        run_loop(&mut pump, engine, &stop, &slot, Some(&mailbox)).unwrap();
        let p = |t, b: u8| [Event::Packet(t0 + ms(t), vec![b]), Event::Sent(t0 + ms(t), vec![b])];
        let mut want = Vec::new();
        want.extend(p(10, 1));
        want.extend(p(10, 2));
        want.push(Event::Job(t0 + ms(10), 1));
        want.extend(p(20, 3));
        want.extend([Event::Job(t0 + ms(20), 2), Event::Job(t0 + ms(20), 3)]);
        assert_eq!(*log.borrow(), want, "the burst whole, then the job; every packet once, in order");
        let results: Vec<u8> = replies.take().into_iter().map(|r| r.wait(Duration::ZERO).unwrap()).collect();
        assert_eq!(results, [10, 20, 30], "each sender gets its own job's result");
        assert_eq!(slot.lock().unwrap().received, 3);
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_timer_due_in_30_ms_wakes_the_idle_loop_at_30_ms_not_at_the_stop_check() {
        let (t0, events, waits) = run(ms(30), &[], 3);
        assert_eq!(
            events,
            [Event::Timeout(t0 + ms(30)), Event::Sent(t0 + ms(30), vec![0xee])],
            "the timer runs at its deadline with no packet arriving, and its packet goes out"
        );
        // The first sleep ends at the deadline; with nothing else due, the loop then sleeps
        // for the stop check.
        assert_eq!(waits, [ms(30), STOP_CHECK, STOP_CHECK]);
    }

    #[test]
    fn a_distant_deadline_is_reached_in_stop_check_sleeps_and_met_exactly() {
        let (t0, events, waits) = run(ms(250), &[], 4);
        assert_eq!(waits, [STOP_CHECK, STOP_CHECK, ms(50), STOP_CHECK]);
        assert_eq!(events, [Event::Timeout(t0 + ms(250)), Event::Sent(t0 + ms(250), vec![0xee])]);
    }

    #[test]
    fn a_deadline_between_milliseconds_is_not_woken_early() {
        // poll(2) counts whole milliseconds: 30.5 ms is slept as 31, not 30 (which would wake
        // before the deadline and then spin on zero timeouts until it).
        let (t0, events, waits) = run(Duration::from_micros(30_500), &[], 3);
        assert_eq!(waits[0], ms(31));
        assert_eq!(events.first(), Some(&Event::Timeout(t0 + ms(31))));
    }

    #[test]
    fn a_packet_before_the_deadline_is_driven_then_the_timer_runs_at_its_time() {
        let (t0, events, waits) = run(ms(30), &[(ms(10), &[0x60, 1])], 4);
        assert_eq!(
            events,
            [
                Event::Packet(t0 + ms(10), vec![0x60, 1]),
                Event::Sent(t0 + ms(10), vec![0x60, 1]),
                Event::Timeout(t0 + ms(30)),
                Event::Sent(t0 + ms(30), vec![0xee]),
            ]
        );
        assert_eq!(waits[..2], [ms(30), ms(20)], "after the packet, the sleep is what is left");
    }

    #[test]
    fn wake_in_rounds_up_and_caps_at_the_stop_check() {
        let now = Instant::now();
        assert_eq!(wake_in(None, now), STOP_CHECK);
        assert_eq!(wake_in(Some(now), now), Duration::ZERO);
        assert_eq!(wake_in(now.checked_sub(ms(5)), now), Duration::ZERO, "already past");
        assert_eq!(wake_in(Some(now + Duration::from_nanos(1)), now), ms(1));
        assert_eq!(wake_in(Some(now + ms(30)), now), ms(30));
        assert_eq!(wake_in(Some(now + ms(3600)), now), STOP_CHECK);
    }
}
