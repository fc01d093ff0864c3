//! [`Counters`]: what an engine did with the packets it was given.

use std::fmt;

use super::{Reason, Verdict};

/// What an engine did with the packets it was given, by reason.
///
/// Every packet given to [`Engine::process`](super::Engine::process) is counted exactly once, under one of:
///
/// * [`Counters::forwarded`]: translated (or encapsulated, decapsulated) and sent on. A
///   packet that leaves as several fragments counts once here; the fragments after the
///   first are counted apart, in [`Counters::extra_fragments`].
/// * [`Counters::replied`]: answered instead of forwarded — the buffer holds the engine's
///   reply. [`Counters::answered`] tells, by reason, the replies that refuse a packet (an
///   ICMP error: TTL exceeded, too big, unreachable); the rest of `replied` are answers
///   that are not about a refused packet (an echo reply to the engine's own address).
/// * [`Counters::dropped`]: silently discarded, by reason.
/// * [`Counters::waiting`]: kept by the engine while its fate is not known (a fragment
///   waiting for its first fragment); it moves to `forwarded`, `replied` or `dropped`
///   (e.g. `fragment-timeout`) when that is decided, out of [`Engine::poll_transmit`](super::Engine::poll_transmit) or
///   [`Engine::handle_timeout`](super::Engine::handle_timeout).
///
/// So `forwarded + replied + dropped_total() + waiting == received()` after every call,
/// and [`Counters::received`] is the number of packets given to `process`. Packets an
/// engine makes on its own, from a timer (a probe of an idle TCP session, the Port
/// Unreachable for a held SYN whose time ran out), are not answers to a packet given to
/// `process`: they are counted in [`Counters::generated`], outside that sum.
///
/// Counters of several workers add up with [`Counters::merge`]. On handles that share
/// tables (the shards of a stateful NAT64) a packet may be kept by one worker and let go
/// by another, so one handle's `waiting` can be below zero; the sum over the handles is
/// the number kept, and the identity holds for the sum.
#[derive(Clone, PartialEq, Eq)]
pub struct Counters<R: Reason> {
    drops: Box<[u64]>,
    answers: Box<[u64]>,
    /// Packets forwarded (a packet sent as several fragments counts once).
    pub forwarded: u64,
    /// Packets answered with a reply the engine made (see [`Counters::answered`]).
    pub replied: u64,
    /// Packets kept for now (fragments waiting for their first fragment); see the type's
    /// docs for why it is signed.
    pub waiting: i64,
    /// Fragments after the first of packets that were forwarded as several fragments.
    pub extra_fragments: u64,
    /// Packets the engine made on its own, from a timer (probes, errors for held SYNs).
    pub generated: u64,
    _r: std::marker::PhantomData<R>,
}

impl<R: Reason> Default for Counters<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Reason> Counters<R> {
    /// All zero.
    pub fn new() -> Self {
        Self {
            drops: vec![0; R::ALL.len()].into_boxed_slice(),
            answers: vec![0; R::ALL.len()].into_boxed_slice(),
            forwarded: 0,
            replied: 0,
            waiting: 0,
            extra_fragments: 0,
            generated: 0,
            _r: std::marker::PhantomData,
        }
    }

    /// Counts one verdict (a [`Verdict::Reply`] as a reply with no reason; engines that
    /// refuse a packet with a reply count it with [`Counters::answer`]).
    #[inline]
    pub fn record(&mut self, v: &Verdict<R>) {
        match *v {
            Verdict::Forward(_) => self.forwarded += 1,
            Verdict::Reply(_) => self.replied += 1,
            Verdict::Drop(r) => self.drop(r),
        }
    }

    /// Counts one silent drop.
    #[inline]
    pub fn drop(&mut self, r: R) {
        if let Some(c) = self.drops.get_mut(r.index()) {
            *c += 1;
        }
    }

    /// Counts one packet refused for `r` and answered (an ICMP error): one reply.
    #[inline]
    pub fn answer(&mut self, r: R) {
        self.replied += 1;
        if let Some(c) = self.answers.get_mut(r.index()) {
            *c += 1;
        }
    }

    /// Counts one packet kept for now ([`Counters::waiting`]).
    #[inline]
    pub fn hold(&mut self) {
        self.waiting += 1;
    }

    /// A kept packet was forwarded.
    #[inline]
    pub fn release_forwarded(&mut self) {
        self.waiting -= 1;
        self.forwarded += 1;
    }

    /// A kept packet was refused for `r` and answered.
    #[inline]
    pub fn release_answered(&mut self, r: R) {
        self.waiting -= 1;
        self.answer(r);
    }

    /// A kept packet was dropped for `r`.
    #[inline]
    pub fn release_dropped(&mut self, r: R) {
        self.waiting -= 1;
        self.drop(r);
    }

    /// Silent drops counted for `r`.
    pub fn dropped(&self, r: R) -> u64 {
        self.drops.get(r.index()).copied().unwrap_or(0)
    }

    /// Packets refused for `r` and answered with a reply.
    pub fn answered(&self, r: R) -> u64 {
        self.answers.get(r.index()).copied().unwrap_or(0)
    }

    /// All silent drops.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// All packets refused and answered (at most [`Counters::replied`]).
    pub fn answered_total(&self) -> u64 {
        self.answers.iter().sum()
    }

    /// Packets given to [`Engine::process`](super::Engine::process): `forwarded + replied + dropped_total() +
    /// waiting`.
    pub fn received(&self) -> u64 {
        (self.forwarded + self.replied + self.dropped_total()).wrapping_add_signed(self.waiting)
    }

    /// `(reason, count)` for every reason with a non-zero count of silent drops.
    pub fn nonzero(&self) -> impl Iterator<Item = (R, u64)> + '_ {
        R::ALL.iter().map(|&r| (r, self.dropped(r))).filter(|&(_, n)| n > 0)
    }

    /// `(reason, count)` for every reason with a non-zero count of answered packets.
    pub fn nonzero_answered(&self) -> impl Iterator<Item = (R, u64)> + '_ {
        R::ALL.iter().map(|&r| (r, self.answered(r))).filter(|&(_, n)| n > 0)
    }

    /// Adds another set of counters (e.g. from another worker) into this one.
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.drops.iter_mut().zip(other.drops.iter()) {
            *a += b;
        }
        for (a, b) in self.answers.iter_mut().zip(other.answers.iter()) {
            *a += b;
        }
        self.forwarded += other.forwarded;
        self.replied += other.replied;
        self.waiting += other.waiting;
        self.extra_fragments += other.extra_fragments;
        self.generated += other.generated;
    }
}

impl<R: Reason> fmt::Debug for Counters<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl<R: Reason> fmt::Display for Counters<R> {
    /// `forwarded=N replied=N dropped=N [waiting=N] [extra-fragments=N] [generated=N]
    /// [reason=N ...] [answered:reason=N ...]`: `reason=N` counts silent drops,
    /// `answered:reason=N` packets refused with an ICMP error; only non-zero ones are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "forwarded={} replied={} dropped={}", self.forwarded, self.replied, self.dropped_total())?;
        if self.waiting != 0 {
            write!(f, " waiting={}", self.waiting)?;
        }
        if self.extra_fragments != 0 {
            write!(f, " extra-fragments={}", self.extra_fragments)?;
        }
        if self.generated != 0 {
            write!(f, " generated={}", self.generated)?;
        }
        for (r, n) in self.nonzero() {
            write!(f, " {}={n}", r.name())?;
        }
        for (r, n) in self.nonzero_answered() {
            write!(f, " answered:{}={n}", r.name())?;
        }
        Ok(())
    }
}
