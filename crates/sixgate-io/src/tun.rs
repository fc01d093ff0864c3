//! Linux TUN devices.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd};

use tun_rs::{DeviceBuilder, SyncDevice};

/// How to create (or attach to) a TUN device.
#[derive(Debug, Clone)]
pub struct TunOptions {
    /// Device name, e.g. `nat64`.
    pub name: String,
    /// Device MTU.
    pub mtu: u16,
    /// Number of queues (one worker each); more than one needs multi-queue TUN.
    pub queues: usize,
    /// An IPv4 address and prefix length to put on the device.
    pub ipv4: Option<(Ipv4Addr, u8)>,
    /// An IPv6 address and prefix length to put on the device.
    pub ipv6: Option<(Ipv6Addr, u8)>,
    /// Use virtio-net headers with GSO/GRO offload (batched reads and writes).
    pub offload: bool,
}

/// One queue of a TUN device.
pub struct TunDevice {
    dev: SyncDevice,
    offload: bool,
}

impl std::fmt::Debug for TunDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunDevice").field("name", &self.dev.name().ok()).finish()
    }
}

impl TunDevice {
    /// Creates the device (or attaches to an existing one of that name), sets its MTU and
    /// addresses, brings it up, and opens `queues` queues.
    pub fn open(o: &TunOptions) -> io::Result<Vec<Self>> {
        let queues = o.queues.max(1);
        let mut b =
            DeviceBuilder::new().name(&o.name).mtu(o.mtu).multi_queue(queues > 1).offload(o.offload).enable(true);
        if let Some((a, len)) = o.ipv4 {
            b = b.ipv4(a, len, None);
        }
        if let Some((a, len)) = o.ipv6 {
            b = b.ipv6(a, len);
        }
        let first = b.build_sync().map_err(|e| io::Error::new(e.kind(), format!("TUN device {:?}: {e}", o.name)))?;
        let mut out = Vec::with_capacity(queues);
        for _ in 1..queues {
            out.push(Self { dev: first.try_clone()?, offload: o.offload });
        }
        out.insert(0, Self { dev: first, offload: o.offload });
        Ok(out)
    }

    /// The device name.
    pub fn name(&self) -> io::Result<String> {
        self.dev.name()
    }

    /// Reads one packet (blocking).
    #[inline]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev.recv(buf)
    }

    /// Writes one packet.
    #[inline]
    pub fn send(&self, pkt: &[u8]) -> io::Result<usize> {
        self.dev.send(pkt)
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.dev.as_fd()
    }

    /// Sets the device's transmit queue length: how many packets the kernel holds for the
    /// reader (the TUN default is 500).
    pub fn set_tx_queue_len(&self, len: u32) -> io::Result<()> {
        self.dev.set_tx_queue_len(len)
    }

    /// Whether the device was opened with virtio-net offload.
    pub fn offload(&self) -> bool {
        self.offload
    }

    pub(crate) fn dev(&self) -> &SyncDevice {
        &self.dev
    }
}
