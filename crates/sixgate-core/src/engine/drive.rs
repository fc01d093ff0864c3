//! Drivers' side of the contract: [`drive`] and its kin process a packet and drain the
//! engine's queue, so the drain rule cannot be missed.

use std::time::Instant;

use crate::buf::PacketBuf;

use super::{Engine, Side, Verdict};

/// How a packet handed to a driver's output came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The processed packet itself, forwarded ([`Verdict::Forward`]).
    Forwarded,
    /// The processed packet's buffer, now holding the engine's reply ([`Verdict::Reply`]).
    Replied,
    /// A packet the engine had queued ([`Engine::poll_transmit`]): a further fragment, a
    /// packet a timer made.
    Queued,
}

/// Runs `engine` on `buf` and hands every packet that results to `emit`, in order: the
/// buffer itself when the verdict forwards or replies, then everything the engine queued
/// ([`Engine::poll_transmit`], drained into the same buffer, after a drop too). Returns the
/// verdict.
///
/// This is the one place drivers process a packet, so the queue is drained after every
/// [`Engine::process`]. `emit` borrows the buffer only for the call (write it out or copy
/// it); drivers that move buffers into a batch instead use [`drive_into`].
///
/// When `emit` fails, the rest of the queue is still drained (so no packet of this input
/// is left behind to go out after a later one) but not emitted, and the first error is
/// returned.
///
/// ```
/// use std::time::Instant;
/// use sixgate_core::buf::PacketBuf;
/// use sixgate_core::engine::{drive, Counters, Engine, Origin, Reason, Side, Verdict};
///
/// /// A toy engine that forwards every packet and a copy of it (as if it were cut in two).
/// # #[derive(Clone, Copy, Debug, PartialEq, Eq)] enum Why { Never }
/// # impl Reason for Why { const ALL: &'static [Self] = &[Why::Never]; fn index(self) -> usize { 0 } fn name(self) -> &'static str { "never" } }
/// struct Twice { c: Counters<Why>, queued: Option<Vec<u8>> }
/// impl Engine for Twice {
///     type Reason = Why;
///     fn process(&mut self, buf: &mut PacketBuf, _now: Instant) -> Verdict<Why> {
///         self.queued = Some(buf.as_slice().to_vec());
///         Verdict::Forward(Side::V4)
///     }
///     fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
///         let p = self.queued.take()?;
///         buf.set(&p).ok()?;
///         Some(Side::V4)
///     }
///     fn counters(&self) -> &Counters<Why> { &self.c }
/// }
///
/// let mut e = Twice { c: Counters::new(), queued: None };
/// let mut buf = PacketBuf::from_slice(&[0x60, 1, 2]);
/// let mut sent = Vec::new();
/// let v = drive(&mut e, &mut buf, Instant::now(), |side, origin, b| {
///     sent.push((side, origin, b.len()));
///     Ok::<(), std::io::Error>(())
/// });
/// assert_eq!(v.unwrap(), Verdict::Forward(Side::V4));
/// assert_eq!(sent, [(Side::V4, Origin::Forwarded, 3), (Side::V4, Origin::Queued, 3)]);
/// ```
pub fn drive<E: Engine + ?Sized, X>(
    engine: &mut E,
    buf: &mut PacketBuf,
    now: Instant,
    mut emit: impl FnMut(Side, Origin, &PacketBuf) -> Result<(), X>,
) -> Result<Verdict<E::Reason>, X> {
    let verdict = engine.process(buf, now);
    let first = match verdict {
        Verdict::Forward(side) => emit(side, Origin::Forwarded, buf),
        Verdict::Reply(side) => emit(side, Origin::Replied, buf),
        Verdict::Drop(_) => Ok(()),
    };
    let rest = drain_after(engine, buf, first.is_ok(), &mut emit);
    first.and(rest).map(|()| verdict)
}

/// Hands everything `engine` has queued to `emit`, using `buf` as the buffer to collect
/// into (its contents are overwritten). For packets queued outside [`drive`]: after
/// [`Engine::handle_timeout`] (see [`drive_timeout`]) or after a verdict a helper such as
/// [`crate::gso::process_super`] obtained. Errors as in [`drive`].
pub fn drain<E: Engine + ?Sized, X>(
    engine: &mut E,
    buf: &mut PacketBuf,
    mut emit: impl FnMut(Side, Origin, &PacketBuf) -> Result<(), X>,
) -> Result<(), X> {
    drain_after(engine, buf, true, &mut emit)
}

fn drain_after<E: Engine + ?Sized, X>(
    engine: &mut E,
    buf: &mut PacketBuf,
    mut ok: bool,
    emit: &mut impl FnMut(Side, Origin, &PacketBuf) -> Result<(), X>,
) -> Result<(), X> {
    let mut err = None;
    while let Some(side) = engine.poll_transmit(buf) {
        if ok {
            if let Err(e) = emit(side, Origin::Queued, buf) {
                ok = false;
                err = Some(e);
            }
        }
    }
    err.map_or(Ok(()), Err)
}

/// Runs the engine's timers if one is due at `now` ([`Engine::poll_timeout`] at or before
/// `now`), then drains what they queued into `emit` as [`drain`] does (RFC 6146 §3.5.2.2:
/// the ICMP error for an unsolicited SYN held 6 s is sent when its timer fires). Returns
/// whether the timers ran.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sixgate_core::buf::PacketBuf;
/// use sixgate_core::engine::{drive_timeout, Counters, Engine, Origin, Reason, Side, Verdict};
///
/// /// A toy engine with one timer that makes one packet when it fires.
/// # #[derive(Clone, Copy, Debug, PartialEq, Eq)] enum Why { Never }
/// # impl Reason for Why { const ALL: &'static [Self] = &[Why::Never]; fn index(self) -> usize { 0 } fn name(self) -> &'static str { "never" } }
/// struct Timer { c: Counters<Why>, due: Option<Instant>, fired: bool }
/// impl Engine for Timer {
///     type Reason = Why;
///     fn process(&mut self, _: &mut PacketBuf, _: Instant) -> Verdict<Why> { Verdict::Drop(Why::Never) }
///     fn poll_timeout(&self) -> Option<Instant> { self.due }
///     fn handle_timeout(&mut self, now: Instant) {
///         if self.due.is_some_and(|d| d <= now) { self.due = None; self.fired = true; }
///     }
///     fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
///         std::mem::take(&mut self.fired).then(|| buf.set(&[0x45]).ok()).flatten().map(|()| Side::V6)
///     }
///     fn counters(&self) -> &Counters<Why> { &self.c }
/// }
///
/// let t0 = Instant::now();
/// let mut e = Timer { c: Counters::new(), due: Some(t0 + Duration::from_secs(6)), fired: false };
/// let mut buf = PacketBuf::new();
/// let mut sent = Vec::new();
/// let mut out = |s: Side, o: Origin, _: &PacketBuf| { sent.push((s, o)); Ok::<(), ()>(()) };
/// assert_eq!(drive_timeout(&mut e, &mut buf, t0, &mut out), Ok(false));
/// assert_eq!(drive_timeout(&mut e, &mut buf, t0 + Duration::from_secs(6), &mut out), Ok(true));
/// assert_eq!(sent, [(Side::V6, Origin::Queued)]);
/// ```
pub fn drive_timeout<E: Engine + ?Sized, X>(
    engine: &mut E,
    buf: &mut PacketBuf,
    now: Instant,
    emit: impl FnMut(Side, Origin, &PacketBuf) -> Result<(), X>,
) -> Result<bool, X> {
    if !timer_due(engine, now) {
        return Ok(false);
    }
    engine.handle_timeout(now);
    drain(engine, buf, emit).map(|()| true)
}

/// Where a batching driver collects an engine's output without copying it: buffers move
/// (by value) into per-side batches, and spare buffers take their place. Used by
/// [`drive_into`], [`settle_into`], [`drain_into`] and [`drive_timeout_into`].
pub trait Outbox {
    /// The driver's buffer type (a [`PacketBuf`] with room for a device header, say).
    type Buf: std::borrow::BorrowMut<PacketBuf>;

    /// A spare buffer: the engine's next queued packet is collected into it, or it
    /// replaces a buffer that moved into a batch.
    fn spare(&mut self) -> Self::Buf;

    /// Takes back a spare that [`Engine::poll_transmit`] left empty.
    fn recycle(&mut self, buf: Self::Buf);

    /// Takes a packet to send out of `side`.
    fn push(&mut self, side: Side, origin: Origin, buf: Self::Buf);
}

/// [`drive`] for a batching driver: runs `engine` on the packet in `slot`; when the
/// verdict forwards or replies, the buffer moves into `out` and `slot` is given a spare in
/// its place (no copy), then everything the engine queued is collected into spares and
/// pushed after it. Returns the verdict.
///
/// ```
/// use std::time::Instant;
/// use sixgate_core::buf::PacketBuf;
/// use sixgate_core::engine::{drive_into, Counters, Engine, Origin, Outbox, Reason, Side, Verdict};
///
/// # #[derive(Clone, Copy, Debug, PartialEq, Eq)] enum Why { Never }
/// # impl Reason for Why { const ALL: &'static [Self] = &[Why::Never]; fn index(self) -> usize { 0 } fn name(self) -> &'static str { "never" } }
/// /// Forwards every packet to the IPv4 side.
/// struct Fwd(Counters<Why>);
/// impl Engine for Fwd {
///     type Reason = Why;
///     fn process(&mut self, _: &mut PacketBuf, _: Instant) -> Verdict<Why> { Verdict::Forward(Side::V4) }
///     fn counters(&self) -> &Counters<Why> { &self.0 }
/// }
///
/// /// One batch per side and a free list.
/// #[derive(Default)]
/// struct Batches { v4: Vec<PacketBuf>, v6: Vec<PacketBuf>, free: Vec<PacketBuf> }
/// impl Outbox for Batches {
///     type Buf = PacketBuf;
///     fn spare(&mut self) -> PacketBuf { self.free.pop().unwrap_or_default() }
///     fn recycle(&mut self, b: PacketBuf) { self.free.push(b) }
///     fn push(&mut self, side: Side, _: Origin, b: PacketBuf) {
///         match side { Side::V4 => self.v4.push(b), Side::V6 => self.v6.push(b) }
///     }
/// }
///
/// let (mut e, mut out) = (Fwd(Counters::new()), Batches::default());
/// let mut slot = PacketBuf::from_slice(&[0x60, 0, 0]);
/// assert_eq!(drive_into(&mut e, &mut slot, Instant::now(), &mut out), Verdict::Forward(Side::V4));
/// assert_eq!(out.v4[0].as_slice(), &[0x60, 0, 0]);
/// assert!(slot.is_empty()); // a spare took its place
/// ```
pub fn drive_into<E: Engine + ?Sized, O: Outbox + ?Sized>(
    engine: &mut E,
    slot: &mut O::Buf,
    now: Instant,
    out: &mut O,
) -> Verdict<E::Reason> {
    use std::borrow::BorrowMut;
    let verdict = engine.process(slot.borrow_mut(), now);
    settle_into(engine, verdict, slot, out);
    verdict
}

/// The second half of [`drive_into`], for a verdict obtained some other way (a helper that
/// called [`Engine::process`] itself, such as [`crate::gso::process_super`]): moves `slot`
/// into `out` when `verdict` forwards or replies, then drains the engine's queue.
pub fn settle_into<E: Engine + ?Sized, O: Outbox + ?Sized>(
    engine: &mut E,
    verdict: Verdict<E::Reason>,
    slot: &mut O::Buf,
    out: &mut O,
) {
    let (side, origin) = match verdict {
        Verdict::Forward(side) => (side, Origin::Forwarded),
        Verdict::Reply(side) => (side, Origin::Replied),
        Verdict::Drop(_) => return drain_into(engine, out),
    };
    let spare = out.spare();
    out.push(side, origin, std::mem::replace(slot, spare));
    drain_into(engine, out);
}

/// Collects everything `engine` has queued into spares of `out` ([`drain`] for a batching
/// driver).
pub fn drain_into<E: Engine + ?Sized, O: Outbox + ?Sized>(engine: &mut E, out: &mut O) {
    use std::borrow::BorrowMut;
    loop {
        let mut extra = out.spare();
        match engine.poll_transmit(extra.borrow_mut()) {
            Some(side) => out.push(side, Origin::Queued, extra),
            None => return out.recycle(extra),
        }
    }
}

/// [`drive_timeout`] for a batching driver: runs the engine's timers if one is due at
/// `now` and collects what they queued into `out`. Returns whether the timers ran.
pub fn drive_timeout_into<E: Engine + ?Sized, O: Outbox + ?Sized>(engine: &mut E, now: Instant, out: &mut O) -> bool {
    if !timer_due(engine, now) {
        return false;
    }
    engine.handle_timeout(now);
    drain_into(engine, out);
    true
}

/// Whether a timer of `engine` is due at `now`.
fn timer_due<E: Engine + ?Sized>(engine: &E, now: Instant) -> bool {
    engine.poll_timeout().is_some_and(|t| t <= now)
}
