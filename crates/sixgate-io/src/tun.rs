//! Linux TUN devices.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd};

use tun_rs::{DeviceBuilder, SyncDevice};

/// How to create (or attach to) a TUN device.
#[derive(Debug, Clone)]
#[non_exhaustive]
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

impl TunOptions {
    /// A device called `name` with MTU 1500, one queue, no addresses and no offload.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), mtu: 1500, queues: 1, ipv4: None, ipv6: None, offload: false }
    }

    /// Sets the device MTU.
    pub fn mtu(mut self, mtu: u16) -> Self {
        self.mtu = mtu;
        self
    }

    /// Sets the number of queues (one worker each).
    pub fn queues(mut self, queues: usize) -> Self {
        self.queues = queues;
        self
    }

    /// Puts an IPv4 address with this prefix length on the device.
    pub fn ipv4(mut self, addr: Ipv4Addr, prefix_len: u8) -> Self {
        self.ipv4 = Some((addr, prefix_len));
        self
    }

    /// Puts an IPv6 address with this prefix length on the device.
    pub fn ipv6(mut self, addr: Ipv6Addr, prefix_len: u8) -> Self {
        self.ipv6 = Some((addr, prefix_len));
        self
    }

    /// Turns virtio-net GSO/GRO offload on or off.
    pub fn offload(mut self, on: bool) -> Self {
        self.offload = on;
        self
    }
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
    ///
    /// An existing device is typically a persistent one the operator made
    /// (`ip tuntap add dev NAME mode tun multi_queue`): it outlives the process, and so do
    /// its routes, so a restarted daemon attaches and traffic flows again. A device made
    /// with `multi_queue` accepts only multi-queue attachments (the kernel refuses others
    /// with EINVAL), so for one queue a refusal is retried as multi-queue.
    pub fn open(o: &TunOptions) -> io::Result<Vec<Self>> {
        let queues = o.queues.max(1);
        let build = |multi_queue: bool| {
            let mut b =
                DeviceBuilder::new().name(&o.name).mtu(o.mtu).multi_queue(multi_queue).offload(o.offload).enable(true);
            if let Some((a, len)) = o.ipv4 {
                b = b.ipv4(a, len, None);
            }
            if let Some((a, len)) = o.ipv6 {
                b = b.ipv6(a, len);
            }
            b.build_sync()
        };
        let first = match build(queues > 1) {
            Err(e) if queues == 1 && e.kind() == io::ErrorKind::InvalidInput => build(true).map_err(|_| e),
            r => r,
        }
        .map_err(|e| {
            let hint = if queues > 1 && e.kind() == io::ErrorKind::InvalidInput {
                " (an existing device needs `multi_queue` for several queues: ip tuntap add dev NAME mode tun multi_queue)"
            } else {
                ""
            };
            io::Error::new(e.kind(), format!("TUN device {:?}: {e}{hint}", o.name))
        })?;
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

/// What the kernel counts on a TUN device that the gateway cannot count itself: packets
/// it dropped because the device's queue towards the gateway was full (`tx_dropped`: the
/// kernel transmits into the TUN), and packets the gateway wrote that it dropped
/// (`rx_dropped`); and the length of that queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Packets the kernel dropped on their way to the gateway (queue full).
    pub tx_dropped: u64,
    /// Packets the gateway wrote that the kernel dropped.
    pub rx_dropped: u64,
    /// The device's transmit queue length (`txqueuelen`), when it can be read.
    pub tx_queue_len: Option<u32>,
}

/// Reads a TUN device's [`KernelCounters`] (by name; the device may be shared by several
/// queues and outlive one [`TunDevice`]).
#[derive(Debug, Clone)]
pub struct TunCounters {
    name: String,
    ifindex: u32,
}

impl TunCounters {
    /// For the device `dev` belongs to.
    pub fn new(dev: &TunDevice) -> io::Result<Self> {
        Ok(Self { name: dev.name()?, ifindex: dev.dev.if_index()? })
    }

    /// The counters now. The drop counts come from `/proc/self/net/dev`, which always
    /// shows this process's network namespace; the queue length from
    /// `/sys/class/net/NAME/tx_queue_len`, only when that sysfs is this namespace's (its
    /// `ifindex` is the device's: a sysfs mounted in another namespace may show another
    /// device of the same name).
    pub fn read(&self) -> io::Result<KernelCounters> {
        let dev = std::fs::read_to_string("/proc/self/net/dev")?;
        let (rx_dropped, tx_dropped) = parse_proc_net_dev(&dev, &self.name).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no {} in /proc/self/net/dev", self.name))
        })?;
        let sys = |f: &str| std::fs::read_to_string(format!("/sys/class/net/{}/{f}", self.name)).ok();
        let ours = sys("ifindex").and_then(|s| s.trim().parse::<u32>().ok()) == Some(self.ifindex);
        let tx_queue_len = if ours { sys("tx_queue_len").and_then(|s| s.trim().parse().ok()) } else { None };
        Ok(KernelCounters { tx_dropped, rx_dropped, tx_queue_len })
    }
}

/// The receive and transmit drop counts of device `name` in the text of `/proc/net/dev`
/// (a line `NAME: rx_bytes rx_packets rx_errs rx_drop … tx_bytes tx_packets tx_errs
/// tx_drop …`; the kernel prints `rx_dropped + rx_missed_errors` as rx_drop).
fn parse_proc_net_dev(text: &str, name: &str) -> Option<(u64, u64)> {
    text.lines().find_map(|l| {
        let (n, rest) = l.split_once(':')?;
        if n.trim() != name {
            return None;
        }
        let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().ok()).collect::<Option<_>>()?;
        Some((*f.get(3)?, *f.get(11)?))
    })
}

#[cfg(test)]
mod tests {
    use super::parse_proc_net_dev;

    #[test]
    fn proc_net_dev_drop_columns() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
            face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
            lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0\n \
            nat64: 1000      10    1    7    0     0          0         0    90000     900    0  4242    0     0       0          0\n";
        assert_eq!(parse_proc_net_dev(text, "nat64"), Some((7, 4242)));
        assert_eq!(parse_proc_net_dev(text, "lo"), Some((0, 0)));
        assert_eq!(parse_proc_net_dev(text, "nat6"), None);
        assert_eq!(parse_proc_net_dev("x: 1 2 3\n", "x"), None, "short line");
    }
}
