//! The only sixgate crate that touches devices, sockets and syscalls: Linux TUN devices
//! (multi-queue, optional virtio-net offload via `tun-rs`), raw IPv4 sockets (via
//! `socket2`), signal handling, and the loop that reads packets into
//! [`PacketBuf`](sixgate_core::buf::PacketBuf)s, runs an [`Engine`](sixgate_core::engine::Engine)
//! and writes the verdicts back — one worker per queue.
//!
//! Engines never see a device: they see bytes, a time and a verdict.
//!
//! Feature `dns` (off by default) adds `dns`, the DNS server core: UDP and TCP listeners
//! around a responder (an authoritative server). Feature `dns64` (implies `dns`) adds the
//! DNS64 server on the same listeners: a cache, request coalescing and an upstream client
//! around the sans-IO `sixgate_nat64::dns64::Dns64`. Without them this crate does not
//! depend on `sixgate-nat64` or any DNS code.
//!
//! [`TunOptions`], `dns::ListenOptions` and `dns::ServerOptions` are `#[non_exhaustive]`: build them with `new`
//! and the setters (or set the public fields).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod batch;
#[cfg(feature = "dns")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns")))]
pub mod dns;
pub mod driver;
pub mod host;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(feature = "natlog")]
#[cfg_attr(docsrs, doc(cfg(feature = "natlog")))]
pub mod natlog;
pub mod notify;
pub mod packet_io;
pub mod raw;
pub mod routes;
pub mod signals;
pub mod tun;
pub mod tunnel;

pub use driver::{
    control, run_controlled_workers, run_workers, Control, Mailbox, Published, Reply, Stopped, WorkerStats,
};
pub use packet_io::PacketIo;
pub use raw::RawIpv4;
pub use tun::{KernelCounters, TunCounters, TunDevice, TunOptions};
pub use tunnel::{run_controlled_tunnel, run_tunnel, TunnelIo};
