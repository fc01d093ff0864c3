//! What a daemon's start would fail on that can be known beforehand, read from the host:
//! interface names the kernel refuses, an existing device of another kind under the TUN
//! name, queue counts beyond the TUN driver's limit, missing capabilities and `listen`
//! addresses already taken. Each problem is a message that says how to fix it, for
//! `--check`.

use std::fmt;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;

/// The kernel's `IFNAMSIZ` (`include/uapi/linux/if.h`): an interface name is at most
/// `IFNAMSIZ - 1` bytes, the last byte being the NUL.
pub const IFNAMSIZ: usize = 16;

/// `MAX_TAP_QUEUES` (`include/linux/if_tap.h`, used by `drivers/net/tun.c`): the most
/// queues one TUN device takes; one more attach fails with E2BIG.
pub const MAX_TAP_QUEUES: usize = 256;

/// `IFF_TUN`, `IFF_TAP` and `IFF_MULTI_QUEUE` of `include/uapi/linux/if_tun.h`, as
/// `/sys/class/net/NAME/tun_flags` shows them.
const IFF_TUN: u32 = 0x0001;
const IFF_TAP: u32 = 0x0002;
const IFF_MULTI_QUEUE: u32 = 0x0100;

/// Why the kernel would refuse `name` as an interface name (`dev_valid_name` in
/// `net/core/dev.c`: not empty, shorter than [`IFNAMSIZ`], not `.` or `..`, no `/`, `:` or
/// white space), with the fix.
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the interface name is empty: give one of 1 to 15 bytes".into());
    }
    if name.len() >= IFNAMSIZ {
        return Err(format!(
            "interface name {name:?} is {} bytes; Linux takes at most {} (IFNAMSIZ {IFNAMSIZ} with the final NUL): pick a shorter name",
            name.len(),
            IFNAMSIZ - 1
        ));
    }
    if name == "." || name == ".." || name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err(format!(
            "interface name {name:?} is refused by Linux (no \"/\", \":\" or white space, not \".\" or \"..\"): pick another"
        ));
    }
    Ok(())
}

/// A queue count the TUN driver accepts, with the fix otherwise.
pub fn check_queues(queues: usize) -> Result<(), String> {
    if queues == 0 {
        return Err("queues: must be at least 1".into());
    }
    if queues > MAX_TAP_QUEUES {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        return Err(format!(
            "queues: {queues} is more than a TUN device takes (MAX_TAP_QUEUES = {MAX_TAP_QUEUES} in the Linux kernel): \
             use at most {MAX_TAP_QUEUES}; one per CPU is usual, this machine has {cpus}"
        ));
    }
    Ok(())
}

/// What an interface name stands for on this host now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// No such device: the daemon will create it.
    Absent,
    /// A TUN device (layer 3).
    Tun {
        /// Made with `multi_queue`.
        multi_queue: bool,
    },
    /// A TAP device (layer 2).
    Tap,
    /// Another kind of device; its ARPHRD type from `/sys/class/net/NAME/type` when
    /// readable (1 Ethernet, veth and bridges included; 776 sit; 65534 none).
    Other(Option<u16>),
}

/// Reads what `name` is from `/sys/class/net` (`sys` is that directory's path, so tests
/// can give another).
pub fn device_kind_in(sys: &Path, name: &str) -> DeviceKind {
    let dir = sys.join(name);
    if !dir.exists() {
        return DeviceKind::Absent;
    }
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok().map(|s| s.trim().to_owned());
    if let Some(flags) = read("tun_flags") {
        let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap_or(0);
        if flags & IFF_TAP != 0 {
            return DeviceKind::Tap;
        }
        if flags & IFF_TUN != 0 {
            return DeviceKind::Tun { multi_queue: flags & IFF_MULTI_QUEUE != 0 };
        }
    }
    DeviceKind::Other(read("type").and_then(|t| t.parse().ok()))
}

/// [`device_kind_in`] on this host's `/sys/class/net`.
pub fn device_kind(name: &str) -> DeviceKind {
    device_kind_in(Path::new("/sys/class/net"), name)
}

/// Whether a TUN device named `name` with `queues` queues can be had: created, or the
/// existing one attached to. The problems, each with its fix.
pub fn check_tun(kind: DeviceKind, name: &str, queues: usize) -> Vec<String> {
    let recreate = format!(
        "`ip link del {name}`, then let the daemon create it or `ip tuntap add dev {name} mode tun multi_queue`"
    );
    match kind {
        DeviceKind::Absent | DeviceKind::Tun { multi_queue: true } => vec![],
        DeviceKind::Tun { multi_queue: false } if queues <= 1 => vec![],
        DeviceKind::Tun { multi_queue: false } => vec![format!(
            "tun: the existing TUN device {name} was made without multi_queue, which {queues} queues need: {recreate}"
        )],
        DeviceKind::Tap => {
            vec![format!("tun: {name} exists and is a TAP (layer 2) device, not TUN: pick another name, or {recreate}")]
        }
        DeviceKind::Other(t) => {
            let what = match t {
                Some(1) => " (ARPHRD type 1: Ethernet, veth or bridge)".to_owned(),
                Some(776) => " (ARPHRD type 776: sit)".to_owned(),
                Some(t) => format!(" (ARPHRD type {t})"),
                None => String::new(),
            };
            vec![format!(
                "tun: a device named {name} exists and is not a TUN device{what}: pick another name, or remove it with `ip link del {name}`"
            )]
        }
    }
}

/// A Linux capability a daemon may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cap {
    /// `CAP_NET_BIND_SERVICE` (10): ports below `net.ipv4.ip_unprivileged_port_start`.
    NetBindService,
    /// `CAP_NET_ADMIN` (12): creating and configuring TUN devices.
    NetAdmin,
    /// `CAP_NET_RAW` (13): raw sockets.
    NetRaw,
}

impl Cap {
    /// The bit number (`include/uapi/linux/capability.h`).
    pub fn bit(self) -> u32 {
        match self {
            Self::NetBindService => 10,
            Self::NetAdmin => 12,
            Self::NetRaw => 13,
        }
    }

    /// `CAP_NET_ADMIN` etc.
    pub fn name(self) -> &'static str {
        match self {
            Self::NetBindService => "CAP_NET_BIND_SERVICE",
            Self::NetAdmin => "CAP_NET_ADMIN",
            Self::NetRaw => "CAP_NET_RAW",
        }
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `CapEff:` mask of a `/proc/PID/status` text.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    u64::from_str_radix(hex, 16).ok()
}

/// The capabilities of `needed` that this process does not have in its effective set
/// (`/proc/self/status`); all of them when it cannot be read.
pub fn missing_caps(needed: &[Cap]) -> Vec<Cap> {
    let eff = std::fs::read_to_string("/proc/self/status").ok().as_deref().and_then(parse_cap_eff).unwrap_or(0);
    missing_in(eff, needed)
}

fn missing_in(eff: u64, needed: &[Cap]) -> Vec<Cap> {
    needed.iter().copied().filter(|c| eff & (1u64 << c.bit()) == 0).collect()
}

/// One message per missing capability, `why` saying what each is for, with the fixes.
pub fn check_caps(needed: &[(Cap, &str)]) -> Vec<String> {
    let caps: Vec<Cap> = needed.iter().map(|(c, _)| *c).collect();
    let missing = missing_caps(&caps);
    needed
        .iter()
        .filter(|(c, _)| missing.contains(c))
        .map(|(c, why)| {
            let lower = c.name().to_ascii_lowercase();
            format!(
                "missing capability {c} ({why}): run as root, grant it with `setcap {lower}+ep $(command -v sixgate)`, \
                 or under systemd AmbientCapabilities={c}"
            )
        })
        .collect()
}

/// The lowest port an unprivileged process may bind (`net.ipv4.ip_unprivileged_port_start`,
/// 1024 when unreadable).
pub fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}

/// Whether UDP and TCP can both listen on `addr` now (the sockets are closed again at
/// once); a message with the fix for each that cannot.
pub fn check_listen(addr: SocketAddr) -> Vec<String> {
    let mut errs = Vec::new();
    let fix = |proto: &str, e: &std::io::Error| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                ": another program has it (`ss -l{}np 'sport = :{}'` shows which): stop it or pick another address",
                if proto == "UDP" { "u" } else { "t" },
                addr.port()
            ),
            std::io::ErrorKind::AddrNotAvailable => ": no interface has this address: pick one this host has".into(),
            std::io::ErrorKind::PermissionDenied => format!(
                ": ports below {} need CAP_NET_BIND_SERVICE: run as root, grant it, or pick a higher port",
                unprivileged_port_start()
            ),
            _ => String::new(),
        };
        format!("listen {addr} ({proto}): {e}{hint}")
    };
    match UdpSocket::bind(addr) {
        Ok(_) => {}
        Err(e) => errs.push(fix("UDP", &e)),
    }
    match TcpListener::bind(addr) {
        Ok(_) => {}
        Err(e) => errs.push(fix("TCP", &e)),
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_dev_valid_name() {
        assert!(check_ifname("nat64").is_ok());
        assert!(check_ifname("a23456789012345").is_ok(), "15 bytes");
        let e = check_ifname("a-very-long-tun-name-x").unwrap_err();
        assert!(e.contains("22 bytes") && e.contains("at most 15"), "{e}");
        for bad in ["", ".", "..", "a/b", "a:b", "a b"] {
            assert!(check_ifname(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn queues_up_to_the_driver_limit() {
        assert!(check_queues(1).is_ok() && check_queues(256).is_ok());
        assert!(check_queues(0).is_err());
        assert!(check_queues(100_000).unwrap_err().contains("MAX_TAP_QUEUES = 256"));
    }

    #[test]
    fn device_kinds_from_sysfs() {
        let sys = tempfile::tempdir().unwrap();
        let dev = |name: &str, files: &[(&str, &str)]| {
            std::fs::create_dir(sys.path().join(name)).unwrap();
            for (f, v) in files {
                std::fs::write(sys.path().join(name).join(f), v).unwrap();
            }
        };
        dev("tunmq", &[("tun_flags", "0x1101\n"), ("type", "65534\n")]);
        dev("tun1", &[("tun_flags", "0x1001\n"), ("type", "65534\n")]);
        dev("tap0", &[("tun_flags", "0x1002\n"), ("type", "1\n")]);
        dev("veth0", &[("type", "1\n")]);
        let k = |n| device_kind_in(sys.path(), n);
        assert_eq!(k("none"), DeviceKind::Absent);
        assert_eq!(k("tunmq"), DeviceKind::Tun { multi_queue: true });
        assert_eq!(k("tun1"), DeviceKind::Tun { multi_queue: false });
        assert_eq!(k("tap0"), DeviceKind::Tap);
        assert_eq!(k("veth0"), DeviceKind::Other(Some(1)));
        assert!(check_tun(k("tun1"), "tun1", 1).is_empty(), "one queue attaches to a plain TUN device");
        assert!(check_tun(k("tun1"), "tun1", 2)[0].contains("multi_queue"));
        assert!(check_tun(k("tap0"), "tap0", 1)[0].contains("TAP"));
        assert!(check_tun(k("veth0"), "veth0", 1)[0].contains("ip link del veth0"));
    }

    #[test]
    fn capabilities_from_cap_eff() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t0000000000001000\n";
        let eff = parse_cap_eff(status).unwrap();
        assert_eq!(missing_in(eff, &[Cap::NetAdmin, Cap::NetRaw]), [Cap::NetRaw]);
        assert_eq!(missing_in(u64::MAX, &[Cap::NetAdmin, Cap::NetRaw, Cap::NetBindService]), []);
        assert!(parse_cap_eff("Name: x\n").is_none());
    }

    #[test]
    fn a_taken_listen_address_is_named_with_its_fix() {
        let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let _tcp = TcpListener::bind(addr).unwrap();
        let errs = check_listen(addr);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].contains("(UDP)") && errs[0].contains("ss -lunp"), "{errs:?}");
        drop((taken, _tcp));
        assert!(check_listen(addr).is_empty());
    }
}
