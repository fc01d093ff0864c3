//! The contract every packet engine (6in4 endpoint, SIIT, stateful NAT64) follows.
//!
//! An engine is sans-IO: it is given a packet in a [`PacketBuf`] and the current time,
//! rewrites the buffer in place, and returns a [`Verdict`]: forward the buffer out of a
//! [`Side`], send it back as a reply (an ICMP error the engine generated), or drop it for
//! a reason. Engines that produce more than one packet for one input (fragments) queue the
//! rest, and the driver collects them with [`Engine::poll_transmit`]. Time is passed in,
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
#[macro_export]
macro_rules! drop_reasons {
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

/// Per-reason drop counters and totals an engine keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct Counters<R: Reason> {
    drops: Box<[u64]>,
    /// Packets forwarded (each fragment counted).
    pub forwarded: u64,
    /// Replies generated.
    pub replied: u64,
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
        Self { drops: vec![0; R::ALL.len()].into_boxed_slice(), forwarded: 0, replied: 0, _r: std::marker::PhantomData }
    }

    /// Counts one verdict.
    #[inline]
    pub fn record(&mut self, v: &Verdict<R>) {
        match *v {
            Verdict::Forward(_) => self.forwarded += 1,
            Verdict::Reply(_) => self.replied += 1,
            Verdict::Drop(r) => self.drop(r),
        }
    }

    /// Counts one drop.
    #[inline]
    pub fn drop(&mut self, r: R) {
        if let Some(c) = self.drops.get_mut(r.index()) {
            *c += 1;
        }
    }

    /// Drops counted for `r`.
    pub fn dropped(&self, r: R) -> u64 {
        self.drops.get(r.index()).copied().unwrap_or(0)
    }

    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// `(reason, count)` for every reason with a non-zero count.
    pub fn nonzero(&self) -> impl Iterator<Item = (R, u64)> + '_ {
        R::ALL.iter().map(|&r| (r, self.dropped(r))).filter(|&(_, n)| n > 0)
    }

    /// Adds another set of counters (e.g. from another worker) into this one.
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.drops.iter_mut().zip(other.drops.iter()) {
            *a += b;
        }
        self.forwarded += other.forwarded;
        self.replied += other.replied;
    }
}

impl<R: Reason> fmt::Debug for Counters<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl<R: Reason> fmt::Display for Counters<R> {
    /// `forwarded=N replied=N dropped=N [reason=N ...]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "forwarded={} replied={} dropped={}", self.forwarded, self.replied, self.dropped_total())?;
        for (r, n) in self.nonzero() {
            write!(f, " {}={n}", r.name())?;
        }
        Ok(())
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
    /// is empty. Drivers call it after every [`Engine::process`] until it returns `None`.
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
}
