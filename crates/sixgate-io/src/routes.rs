//! Routes into a device, through rtnetlink, and the few host facts a health check reads.
//!
//! [`Route`] is one route a daemon needs: it prints as the `ip route` command an operator
//! would type ([`Route::command`]), and [`install`] adds a list of them through a netlink
//! socket (`netlink-sys`, synchronous). The [`InstalledRoutes`] it returns remembers exactly
//! the routes it added — a route that already existed is reported as such and left alone —
//! and removes exactly those when dropped or [`InstalledRoutes::remove`]d.
//!
//! [`lookup`], [`ifindex`], [`sysctl`] and [`link_mtu`] read the kernel's view for a health
//! check; [`udp_exchange`] sends one datagram and waits for the answer.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr as NlAddr};

/// One route into a device: `dest/prefix_len dev dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// First address of the destination prefix.
    pub dest: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Output device name.
    pub dev: String,
    /// What the route is for (printed after the command as a comment).
    pub note: String,
    /// Whether [`install`] adds it; `false` for a route printed only as an alternative
    /// the operator chooses.
    pub install: bool,
}

impl Route {
    /// A route to be installed.
    pub fn new(dest: IpAddr, prefix_len: u8, dev: &str, note: impl Into<String>) -> Self {
        Self { dest, prefix_len, dev: dev.to_owned(), note: note.into(), install: true }
    }

    /// The same route marked as an alternative: printed, never installed.
    #[must_use]
    pub fn alternative(mut self) -> Self {
        self.install = false;
        self
    }

    /// The destination as `addr/len`.
    pub fn prefix(&self) -> String {
        format!("{}/{}", self.dest, self.prefix_len)
    }

    /// The `ip route add` command that adds this route, with its note as a comment.
    pub fn command(&self) -> String {
        let fam = if self.dest.is_ipv6() { "ip -6 route" } else { "ip route" };
        format!("{fam} add {} dev {}    # {}", self.prefix(), self.dev, self.note)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dev {}", self.prefix(), self.dev)
    }
}

/// What [`install`] did with each route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Added; removed again when the [`InstalledRoutes`] goes.
    Added,
    /// The kernel already had it: left in place, and not removed on exit.
    Existed,
    /// Marked as an alternative ([`Route::alternative`]): not installed.
    Skipped,
}

/// The routes [`install`] added; removes exactly those when dropped.
#[derive(Debug)]
pub struct InstalledRoutes {
    sock: Socket,
    seq: u32,
    added: Vec<(Route, u32)>,
    /// Each route given to [`install`] with what happened to it.
    pub report: Vec<(Route, Outcome)>,
}

/// The interface index of `name`.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    #[allow(unsafe_code)]
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call; the function
    // only reads it.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i)
}

fn open() -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind_auto()?;
    s.connect(&NlAddr::new(0, 0))?;
    Ok(s)
}

fn message(route: &Route, oif: u32) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = if route.dest.is_ipv6() { AddressFamily::Inet6 } else { AddressFamily::Inet };
    m.header.destination_prefix_length = route.prefix_len;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Static;
    // What `ip route add PREFIX dev DEV` sends: link scope for IPv4, universe for IPv6.
    m.header.scope = if route.dest.is_ipv6() { RouteScope::Universe } else { RouteScope::Link };
    m.header.kind = RouteType::Unicast;
    m.attributes.push(RouteAttribute::Destination(RouteAddress::from(route.dest)));
    m.attributes.push(RouteAttribute::Oif(oif));
    m
}

/// Sends one request and waits for its acknowledgement (or the kernel's error).
fn request(sock: &Socket, seq: &mut u32, msg: RouteNetlinkMessage, flags: u16) -> io::Result<Vec<RouteMessage>> {
    *seq = seq.wrapping_add(1);
    let mut hdr = NetlinkHeader::default();
    hdr.flags = flags;
    hdr.sequence_number = *seq;
    let mut req = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
    req.finalize();
    let mut buf = vec![0; req.header.length as usize];
    req.serialize(&mut buf[..]);
    sock.send(&buf, 0)?;
    let mut answers = Vec::new();
    let mut rx = vec![0u8; 16384];
    loop {
        let n = sock.recv(&mut &mut rx[..], 0)?;
        let mut off = 0;
        while off < n {
            let msg: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(&rx[off..n])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let len = msg.header.length as usize;
            if msg.header.sequence_number == *seq {
                match msg.payload {
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                    NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => return Ok(answers),
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => {
                        answers.push(r);
                        if flags & (NLM_F_ACK | NLM_F_DUMP) == 0 {
                            return Ok(answers);
                        }
                    }
                    _ => {}
                }
            }
            if len == 0 {
                break;
            }
            off += len;
        }
    }
}

/// Adds every route marked for installation; routes that already exist are left alone and
/// reported as [`Outcome::Existed`]. On an error the routes added so far are removed again
/// before it returns.
pub fn install(routes: &[Route]) -> io::Result<InstalledRoutes> {
    let mut set = InstalledRoutes { sock: open()?, seq: 0, added: Vec::new(), report: Vec::new() };
    for r in routes {
        if !r.install {
            set.report.push((r.clone(), Outcome::Skipped));
            continue;
        }
        let oif = ifindex(&r.dev).map_err(|e| io::Error::new(e.kind(), format!("device {}: {e}", r.dev)))?;
        // The same prefix into the same device at any metric (the kernel's own route for a
        // device address, one added by hand) counts as present.
        if exists(&set.sock, &mut set.seq, r, oif)? {
            set.report.push((r.clone(), Outcome::Existed));
            continue;
        }
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        match request(&set.sock, &mut set.seq, RouteNetlinkMessage::NewRoute(message(r, oif)), flags) {
            Ok(_) => {
                set.added.push((r.clone(), oif));
                set.report.push((r.clone(), Outcome::Added));
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => set.report.push((r.clone(), Outcome::Existed)),
            // `set` drops here and takes the routes added so far with it.
            Err(e) => return Err(io::Error::new(e.kind(), format!("route {r}: {e}"))),
        }
    }
    Ok(set)
}

/// Whether the main table holds `route` into device `oif`.
fn exists(sock: &Socket, seq: &mut u32, route: &Route, oif: u32) -> io::Result<bool> {
    let mut m = RouteMessage::default();
    m.header.address_family = if route.dest.is_ipv6() { AddressFamily::Inet6 } else { AddressFamily::Inet };
    let all = request(sock, seq, RouteNetlinkMessage::GetRoute(m), NLM_F_REQUEST | NLM_F_DUMP)?;
    let dest = RouteAddress::from(route.dest);
    Ok(all.iter().any(|m| {
        let attr = |want: &dyn Fn(&RouteAttribute) -> bool| m.attributes.iter().any(want);
        let table = m
            .attributes
            .iter()
            .find_map(|a| if let RouteAttribute::Table(t) = a { Some(*t) } else { None })
            .unwrap_or(u32::from(m.header.table));
        table == u32::from(RouteHeader::RT_TABLE_MAIN)
            && m.header.destination_prefix_length == route.prefix_len
            && attr(&|a| *a == RouteAttribute::Destination(dest.clone()))
            && attr(&|a| *a == RouteAttribute::Oif(oif))
    }))
}

impl InstalledRoutes {
    /// The routes this set added (and will remove).
    pub fn added(&self) -> impl Iterator<Item = &Route> {
        self.added.iter().map(|(r, _)| r)
    }

    /// Removes the routes this set added, newest first; returns each with its result:
    /// `Ok(true)` removed, `Ok(false)` already gone (with its device, or by hand).
    pub fn remove(mut self) -> Vec<(Route, io::Result<bool>)> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> Vec<(Route, io::Result<bool>)> {
        let mut out = Vec::new();
        while let Some((r, oif)) = self.added.pop() {
            let res = request(
                &self.sock,
                &mut self.seq,
                RouteNetlinkMessage::DelRoute(message(&r, oif)),
                NLM_F_REQUEST | NLM_F_ACK,
            )
            .map(|_| true)
            .or_else(|e| if e.raw_os_error() == Some(libc::ESRCH) { Ok(false) } else { Err(e) });
            out.push((r, res));
        }
        out
    }
}

impl Drop for InstalledRoutes {
    fn drop(&mut self) {
        let _ = self.remove_all();
    }
}

/// The device index the kernel's route lookup for `addr` leaves by (like `ip route get`),
/// `None` when it has no route.
pub fn lookup(addr: IpAddr) -> io::Result<Option<u32>> {
    let sock = open()?;
    let mut m = RouteMessage::default();
    m.header.address_family = if addr.is_ipv6() { AddressFamily::Inet6 } else { AddressFamily::Inet };
    m.header.destination_prefix_length = if addr.is_ipv6() { 128 } else { 32 };
    m.attributes.push(RouteAttribute::Destination(RouteAddress::from(addr)));
    let mut seq = 0;
    match request(&sock, &mut seq, RouteNetlinkMessage::GetRoute(m), NLM_F_REQUEST) {
        Ok(rs) => Ok(rs.iter().flat_map(|r| r.attributes.iter()).find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(*i),
            _ => None,
        })),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A sysctl value (`net.ipv4.ip_forward`, dots or slashes), trimmed.
pub fn sysctl(name: &str) -> io::Result<String> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    Ok(std::fs::read_to_string(path)?.trim().to_owned())
}

/// A device's MTU as the kernel has it.
pub fn link_mtu(dev: &str) -> io::Result<u32> {
    if dev.contains('/') || dev.starts_with('.') {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    std::fs::read_to_string(format!("/sys/class/net/{dev}/mtu"))?
        .trim()
        .parse()
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Sends `query` to `server` over UDP and returns the first answer, waiting at most `timeout`.
pub fn udp_exchange(server: SocketAddr, query: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv6() { "[::]:0".parse() } else { "0.0.0.0:0".parse() }
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let s = UdpSocket::bind(bind)?;
    s.set_read_timeout(Some(timeout))?;
    s.connect(server)?;
    s.send(query)?;
    let mut buf = vec![0u8; 4096];
    let n = s.recv(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn commands_read_like_ip_route() {
        let r = Route::new("64:ff9b::".parse().unwrap(), 96, "nat64", "pool6");
        assert_eq!(r.command(), "ip -6 route add 64:ff9b::/96 dev nat64    # pool6");
        let r = Route::new("192.0.2.0".parse().unwrap(), 24, "nat64", "pool4").alternative();
        assert_eq!(r.command(), "ip route add 192.0.2.0/24 dev nat64    # pool4");
        assert!(!r.install);
    }
}
