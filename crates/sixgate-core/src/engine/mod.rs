//! The contract every packet engine (6in4 endpoint, SIIT, stateful NAT64) follows.
//!
//! An engine is sans-IO: it is given a packet in a [`PacketBuf`] and the current time,
//! rewrites the buffer in place, and returns a [`Verdict`]: forward the buffer out of a
//! [`Side`], send it back as a reply (an ICMP error the engine generated), or drop it for
//! a reason. Engines that produce more than one packet for one input (fragments) queue the
//! rest, and the driver collects them with [`Engine::poll_transmit`] (drivers process
//! packets with [`drive`] or [`drive_into`], which drain that queue). Time is passed in,
//! never read, so engines are deterministic under test; stateful engines also report
//! their next deadline with [`Engine::poll_timeout`] and are woken with
//! [`Engine::handle_timeout`].
//!
//! Drop reasons are values, not errors: an RFC's "silently discard" is a normal outcome,
//! and every engine counts its drops by reason in [`Counters`].
//!
//! ```
//! use std::time::Instant;
//! use sixgate_core::buf::PacketBuf;
//! use sixgate_core::engine::{Counters, Engine, Reason, Side, Verdict};
//!
//! /// A toy engine: forwards IPv6 packets to the IPv4 side, drops everything else.
//! #[derive(Clone, Copy, Debug, PartialEq, Eq)]
//! enum Why { NotIpv6 }
//! impl Reason for Why {
//!     const ALL: &'static [Self] = &[Why::NotIpv6];
//!     fn index(self) -> usize { 0 }
//!     fn name(self) -> &'static str { "not-ipv6" }
//! }
//! struct Toy(Counters<Why>);
//! impl Engine for Toy {
//!     type Reason = Why;
//!     fn process(&mut self, buf: &mut PacketBuf, _now: Instant) -> Verdict<Why> {
//!         let v = if buf.first().map(|b| b >> 4) == Some(6) { Verdict::Forward(Side::V4) } else { Verdict::Drop(Why::NotIpv6) };
//!         self.0.record(&v);
//!         v
//!     }
//!     fn counters(&self) -> &Counters<Why> { &self.0 }
//! }
//! let mut e = Toy(Counters::new());
//! let mut b = PacketBuf::from_slice(&[0x45]);
//! assert_eq!(e.process(&mut b, Instant::now()), Verdict::Drop(Why::NotIpv6));
//! assert_eq!(e.counters().dropped(Why::NotIpv6), 1);
//! ```

use std::fmt;
use std::time::Instant;

use crate::buf::PacketBuf;

/// A side of an engine. Translators and tunnels sit between an IPv4 and an IPv6 network
/// (for a 6in4 endpoint the IPv4 side is the outer, encapsulated one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The IPv4 network.
    V4,
    /// The IPv6 network.
    V6,
}

impl Side {
    /// The other side.
    pub const fn other(self) -> Self {
        match self {
            Self::V4 => Self::V6,
            Self::V6 => Self::V4,
        }
    }
}

/// What to do with the buffer after [`Engine::process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict<R> {
    /// Send the (rewritten) buffer out of this side.
    Forward(Side),
    /// The buffer now holds a reply the engine generated (an ICMP error, an echo reply);
    /// send it out of this side (the side the offending packet came from).
    Reply(Side),
    /// Drop the packet, for this reason.
    Drop(R),
}

/// A drop-reason type: a closed set of reasons with stable names for counters and logs.
pub trait Reason: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// Every reason, in index order.
    const ALL: &'static [Self];
    /// Position in [`Reason::ALL`].
    fn index(self) -> usize;
    /// Stable kebab-case name, e.g. `"ttl-exceeded"`.
    fn name(self) -> &'static str;
}

/// Declares a drop-reason enum and its [`Reason`] impl from `Variant = "name",` lines, so
/// the index, the list and the stable names cannot drift apart.
///
/// ```
/// sixgate_core::drop_reasons! {
///     /// Why the toy engine drops.
///     pub enum Why {
///         /// Too short.
///         Short = "short",
///         /// Not IPv6.
///         NotIpv6 = "not-ipv6",
///     }
/// }
/// use sixgate_core::engine::Reason;
/// assert_eq!(Why::ALL, &[Why::Short, Why::NotIpv6]);
/// assert_eq!((Why::NotIpv6.index(), Why::NotIpv6.name()), (1, "not-ipv6"));
/// ```
///
/// An engine that wraps another's reasons (a translator built on another one) names that
/// variant first, `Variant(Inner),`: its reasons come after the engine's own in
/// [`Reason::ALL`], in `Inner`'s order, with `Inner`'s names.
///
/// ```
/// sixgate_core::drop_reasons! {
///     /// Why the inner engine drops.
///     pub enum Inner {
///         /// Too short.
///         Short = "short",
///     }
/// }
/// sixgate_core::drop_reasons! {
///     /// Why the outer engine drops.
///     pub enum Outer {
///         /// The inner engine refused it.
///         Inner(Inner),
///         /// No state for it.
///         NoState = "no-state",
///     }
/// }
/// use sixgate_core::engine::Reason;
/// assert_eq!(Outer::ALL, &[Outer::NoState, Outer::Inner(Inner::Short)]);
/// assert_eq!((Outer::Inner(Inner::Short).index(), Outer::Inner(Inner::Short).name()), (1, "short"));
/// ```
#[macro_export]
macro_rules! drop_reasons {
    ($(#[$em:meta])* $vis:vis enum $name:ident {
        $(#[$wm:meta])* $w:ident($inner:ty),
        $( $(#[$m:meta])* $v:ident = $s:literal, )*
    }) => {
        $(#[$em])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name { $(#[$wm])* $w($inner), $( $(#[$m])* $v, )* }

        impl $crate::engine::Reason for $name {
            const ALL: &'static [Self] = &{
                const OWN: &[$name] = &[ $( $name::$v, )* ];
                const INNER: &[$inner] = <$inner as $crate::engine::Reason>::ALL;
                let mut a = [$name::$w(INNER[0]); OWN.len() + INNER.len()];
                let mut i = 0;
                while i < OWN.len() {
                    a[i] = OWN[i];
                    i += 1;
                }
                let mut j = 0;
                while j < INNER.len() {
                    a[OWN.len() + j] = $name::$w(INNER[j]);
                    j += 1;
                }
                a
            };
            #[inline]
            fn index(self) -> usize {
                /// The own reasons' positions.
                #[repr(usize)]
                enum Own { $( $v, )* }
                const N_OWN: usize = <[&str]>::len(&[ $( stringify!($v), )* ]);
                match self {
                    $( Self::$v => Own::$v as usize, )*
                    Self::$w(r) => N_OWN + $crate::engine::Reason::index(r),
                }
            }
            fn name(self) -> &'static str {
                match self {
                    $( Self::$v => $s, )*
                    Self::$w(r) => $crate::engine::Reason::name(r),
                }
            }
        }
    };
    ($(#[$em:meta])* $vis:vis enum $name:ident { $( $(#[$m:meta])* $v:ident = $s:literal, )* }) => {
        $(#[$em])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name { $( $(#[$m])* $v, )* }

        impl $crate::engine::Reason for $name {
            const ALL: &'static [Self] = &[ $( Self::$v, )* ];
            #[inline]
            fn index(self) -> usize { self as usize }
            fn name(self) -> &'static str {
                match self { $( Self::$v => $s, )* }
            }
        }
    };
}

/// One value of an engine's state for reporting (table sizes, cache entries): a series
/// name without the daemon's prefix (`sessions`), its help text, its labels, the value.
/// Engines fill these in [`Engine::gauges`], off the per-packet path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gauge {
    /// The series name, `snake_case`, unique per engine kind.
    pub name: &'static str,
    /// One sentence saying what it measures.
    pub help: &'static str,
    /// Label names and values (the same names for every value of one series).
    pub labels: Vec<(&'static str, String)>,
    /// The value now.
    pub value: u64,
}

impl Gauge {
    /// A value without labels.
    pub fn new(name: &'static str, help: &'static str, value: u64) -> Self {
        Self { name, help, labels: Vec::new(), value }
    }

    /// The same with one more label.
    #[must_use]
    pub fn label(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.labels.push((name, value.into()));
        self
    }
}

/// A sans-IO packet engine.
pub trait Engine {
    /// Why this engine drops packets.
    type Reason: Reason;

    /// Processes one packet in place. `now` is the current time as the driver sees it.
    fn process(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<Self::Reason>;

    /// Moves the next queued extra packet (e.g. a further fragment of the packet last
    /// processed) into `buf` and returns the side to send it out of; `None` when the queue
    /// is empty. Drivers call it after every [`Engine::process`] until it returns `None`,
    /// by processing packets with [`drive`] or [`drive_into`], which do so.
    fn poll_transmit(&mut self, _buf: &mut PacketBuf) -> Option<Side> {
        None
    }

    /// The next instant at which [`Engine::handle_timeout`] must be called, if any.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Runs timers (expiries) due at `now`.
    fn handle_timeout(&mut self, _now: Instant) {}

    /// The engine's counters.
    fn counters(&self) -> &Counters<Self::Reason>;

    /// Brings [`Engine::counters`] up to date. Drivers call it before they read the
    /// counters; only an engine whose counters live elsewhere (a handle on tables that
    /// several workers share) needs it.
    fn sync_counters(&mut self) {}

    /// Appends the engine's state worth reporting (table sizes and the like) to `out`.
    /// Drivers call it when they publish statistics (about once a second), never per
    /// packet, so it may walk tables. The default reports nothing.
    fn gauges(&self, _out: &mut Vec<Gauge>) {}
}

mod counters;
mod drive;

pub use counters::Counters;
pub use drive::{drain, drain_into, drive, drive_into, drive_timeout, drive_timeout_into, settle_into, Origin, Outbox};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::time::Duration;

    crate::drop_reasons! {
        /// Why the queueing engine drops.
        enum Why {
            /// The first byte says so.
            Asked = "asked",
        }
    }

    /// A toy engine driven by the packet's first byte: `b'f'` forwards to V4, `b'r'` replies
    /// to V6, anything else drops; whatever the verdict, the rest of the bytes are queued,
    /// one packet each (`[i]`, alternating sides). A timer, when armed, queues `[0xee]`.
    struct Queueing {
        c: Counters<Why>,
        queue: VecDeque<(Side, u8)>,
        timer: Option<Instant>,
    }

    impl Queueing {
        fn new() -> Self {
            Self { c: Counters::new(), queue: VecDeque::new(), timer: None }
        }
    }

    impl Engine for Queueing {
        type Reason = Why;
        fn process(&mut self, buf: &mut PacketBuf, _now: Instant) -> Verdict<Why> {
            // The queue belongs to the packet before; a driver that did not drain it would
            // see those packets now, behind this one.
            let p = buf.as_slice().to_vec();
            for (k, &b) in p.iter().enumerate().skip(1) {
                self.queue.push_back((if k % 2 == 1 { Side::V4 } else { Side::V6 }, b));
            }
            let v = match p.first() {
                Some(b'f') => Verdict::Forward(Side::V4),
                Some(b'r') => Verdict::Reply(Side::V6),
                _ => Verdict::Drop(Why::Asked),
            };
            self.c.record(&v);
            v
        }
        fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
            let (side, b) = self.queue.pop_front()?;
            buf.set(&[b]).ok()?;
            Some(side)
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.timer
        }
        fn handle_timeout(&mut self, now: Instant) {
            if self.timer.is_some_and(|t| t <= now) {
                self.timer = None;
                self.queue.push_back((Side::V6, 0xee));
            }
        }
        fn counters(&self) -> &Counters<Why> {
            &self.c
        }
    }

    type Sent = Vec<(Side, Origin, Vec<u8>)>;

    fn run(e: &mut Queueing, pkt: &[u8], sent: &mut Sent) -> Verdict<Why> {
        let mut buf = PacketBuf::from_slice(pkt);
        drive(e, &mut buf, Instant::now(), |s, o, b| {
            sent.push((s, o, b.as_slice().to_vec()));
            Ok::<(), ()>(())
        })
        .unwrap()
    }

    #[test]
    fn drive_emits_the_packet_then_everything_queued_in_order() {
        let (mut e, mut sent) = (Queueing::new(), Sent::new());
        assert_eq!(run(&mut e, b"f12", &mut sent), Verdict::Forward(Side::V4));
        assert_eq!(
            sent,
            [
                (Side::V4, Origin::Forwarded, b"f12".to_vec()),
                (Side::V4, Origin::Queued, b"1".to_vec()),
                (Side::V6, Origin::Queued, b"2".to_vec()),
            ]
        );
        assert!(e.queue.is_empty());
    }

    #[test]
    fn drive_drains_after_a_reply_and_after_a_drop() {
        let (mut e, mut sent) = (Queueing::new(), Sent::new());
        assert_eq!(run(&mut e, b"r7", &mut sent), Verdict::Reply(Side::V6));
        assert_eq!(run(&mut e, b"x8", &mut sent), Verdict::Drop(Why::Asked));
        assert_eq!(
            sent,
            [
                (Side::V6, Origin::Replied, b"r7".to_vec()),
                (Side::V4, Origin::Queued, b"7".to_vec()),
                (Side::V4, Origin::Queued, b"8".to_vec()),
            ]
        );
        assert!(e.queue.is_empty());
    }

    #[test]
    fn a_failed_emit_still_drains_the_queue_and_returns_the_first_error() {
        let mut e = Queueing::new();
        let mut buf = PacketBuf::from_slice(b"f123");
        let mut calls = 0;
        let r = drive(&mut e, &mut buf, Instant::now(), |_, _, _| {
            calls += 1;
            Err(calls)
        });
        assert_eq!(r, Err(1));
        assert_eq!(calls, 1, "nothing emitted after the first failure");
        assert!(e.queue.is_empty(), "the queue is drained all the same");
        // The next packet's output is its own.
        let mut sent = Sent::new();
        assert_eq!(run(&mut e, b"f", &mut sent), Verdict::Forward(Side::V4));
        assert_eq!(sent, [(Side::V4, Origin::Forwarded, b"f".to_vec())]);
    }

    #[test]
    fn drive_timeout_runs_due_timers_only_and_drains_what_they_queue() {
        let t0 = Instant::now();
        let mut e = Queueing::new();
        e.timer = Some(t0 + Duration::from_secs(6));
        let mut buf = PacketBuf::new();
        let mut sent = Sent::new();
        let mut emit = |s: Side, o: Origin, b: &PacketBuf| {
            sent.push((s, o, b.as_slice().to_vec()));
            Ok::<(), ()>(())
        };
        assert_eq!(drive_timeout(&mut e, &mut buf, t0, &mut emit), Ok(false));
        assert_eq!(drive_timeout(&mut e, &mut buf, t0 + Duration::from_secs(6), &mut emit), Ok(true));
        assert_eq!(sent, [(Side::V6, Origin::Queued, vec![0xee])]);
    }

    /// Batches by side, with a free list; counts the spares it hands out.
    #[derive(Default)]
    struct Batches {
        v4: Vec<(Origin, PacketBuf)>,
        v6: Vec<(Origin, PacketBuf)>,
        free: Vec<PacketBuf>,
        made: usize,
    }

    impl Outbox for Batches {
        type Buf = PacketBuf;
        fn spare(&mut self) -> PacketBuf {
            self.free.pop().unwrap_or_else(|| {
                self.made += 1;
                PacketBuf::new()
            })
        }
        fn recycle(&mut self, b: PacketBuf) {
            self.free.push(b);
        }
        fn push(&mut self, side: Side, origin: Origin, b: PacketBuf) {
            match side {
                Side::V4 => self.v4.push((origin, b)),
                Side::V6 => self.v6.push((origin, b)),
            }
        }
    }

    fn contents(v: &[(Origin, PacketBuf)]) -> Vec<(Origin, Vec<u8>)> {
        v.iter().map(|(o, b)| (*o, b.as_slice().to_vec())).collect()
    }

    #[test]
    fn drive_into_moves_the_buffer_and_collects_the_queue_into_spares() {
        let (mut e, mut out) = (Queueing::new(), Batches::default());
        let mut slot = PacketBuf::from_slice(b"f123");
        let ptr = slot.as_slice().as_ptr();
        assert_eq!(drive_into(&mut e, &mut slot, Instant::now(), &mut out), Verdict::Forward(Side::V4));
        assert_eq!(
            contents(&out.v4),
            [(Origin::Forwarded, b"f123".to_vec()), (Origin::Queued, b"1".to_vec()), (Origin::Queued, b"3".to_vec())]
        );
        assert_eq!(contents(&out.v6), [(Origin::Queued, b"2".to_vec())]);
        assert_eq!(out.v4[0].1.as_slice().as_ptr(), ptr, "moved, not copied");
        assert!(slot.is_empty());
        // One spare for the slot, one per queued packet, one left empty and recycled.
        assert_eq!((out.made, out.free.len()), (5, 1));
        assert!(e.queue.is_empty());
    }

    #[test]
    fn drive_into_drains_after_a_drop_and_keeps_the_slot() {
        let (mut e, mut out) = (Queueing::new(), Batches::default());
        let mut slot = PacketBuf::from_slice(b"x9");
        assert_eq!(drive_into(&mut e, &mut slot, Instant::now(), &mut out), Verdict::Drop(Why::Asked));
        assert_eq!(slot.as_slice(), b"x9");
        assert_eq!(contents(&out.v4), [(Origin::Queued, b"9".to_vec())]);
        assert!(out.v6.is_empty() && e.queue.is_empty());
    }

    #[test]
    fn settle_into_takes_a_verdict_from_elsewhere() {
        let (mut e, mut out) = (Queueing::new(), Batches::default());
        let mut slot = PacketBuf::from_slice(b"r5");
        let v = e.process(&mut slot, Instant::now());
        settle_into(&mut e, v, &mut slot, &mut out);
        assert_eq!(contents(&out.v6), [(Origin::Replied, b"r5".to_vec())]);
        assert_eq!(contents(&out.v4), [(Origin::Queued, b"5".to_vec())]);
    }

    #[test]
    fn drive_timeout_into_collects_what_the_timers_queue() {
        let t0 = Instant::now();
        let (mut e, mut out) = (Queueing::new(), Batches::default());
        assert!(!drive_timeout_into(&mut e, t0, &mut out));
        e.timer = Some(t0);
        assert!(drive_timeout_into(&mut e, t0, &mut out));
        assert_eq!(contents(&out.v6), [(Origin::Queued, vec![0xee])]);
        assert_eq!(e.poll_timeout(), None);
    }
}
