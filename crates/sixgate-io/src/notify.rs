//! The systemd service notification protocol (`sd_notify(3)`): `READY=1`, `RELOADING=1`
//! with `MONOTONIC_USEC=`, `STOPPING=1` and `STATUS=` lines sent as one datagram to the
//! `AF_UNIX` socket named by `$NOTIFY_SOCKET` (a path, or an abstract name written with
//! a leading `@`). Without the variable (not started by systemd with `Type=notify`)
//! every call does nothing.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// A sender to the service manager, or nothing when `$NOTIFY_SOCKET` is not set.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET`; an unusable value is an error (the manager waits for a
    /// `READY=1` that would never come), an absent one gives a notifier that sends nothing.
    pub fn from_env() -> io::Result<Self> {
        match std::env::var_os("NOTIFY_SOCKET") {
            None => Ok(Self { target: None }),
            Some(v) => {
                let v = v.to_str().ok_or_else(|| bad("NOTIFY_SOCKET is not UTF-8"))?;
                Self::to(v)
            }
        }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Self {
        Self { target: None }
    }

    /// A notifier sending to `socket` (a path, or `@name` for an abstract socket).
    pub fn to(socket: &str) -> io::Result<Self> {
        let addr = if let Some(name) = socket.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        } else if socket.starts_with('/') {
            SocketAddr::from_pathname(socket)?
        } else {
            return Err(bad("NOTIFY_SOCKET is neither an absolute path nor an @abstract name"));
        };
        Ok(Self { target: Some((UnixDatagram::unbound()?, addr)) })
    }

    /// Whether messages go anywhere.
    pub fn is_active(&self) -> bool {
        self.target.is_some()
    }

    /// Sends newline-separated `KEY=VALUE` assignments as one datagram.
    pub fn send(&self, state: &str) -> io::Result<()> {
        match &self.target {
            Some((sock, addr)) => sock.send_to_addr(state.as_bytes(), addr).map(drop),
            None => Ok(()),
        }
    }

    /// `READY=1`: start-up (or a reload) is complete; `status` becomes `STATUS=`.
    pub fn ready(&self, status: &str) -> io::Result<()> {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)))
    }

    /// `RELOADING=1` with the monotonic time, as `Type=notify-reload` requires and
    /// `Type=notify` accepts (`sd_notify(3)`).
    pub fn reloading(&self) -> io::Result<()> {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()?))
    }

    /// `STOPPING=1`: shutting down.
    pub fn stopping(&self) -> io::Result<()> {
        self.send("STOPPING=1")
    }

    /// `STATUS=`: a one-line state for `systemctl status`.
    pub fn status(&self, status: &str) -> io::Result<()> {
        self.send(&format!("STATUS={}", one_line(status)))
    }
}

/// `CLOCK_MONOTONIC` in microseconds.
fn monotonic_usec() -> io::Result<u64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_err(io::Error::from)?;
    let secs = u64::try_from(t.tv_sec()).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec()).unwrap_or(0);
    Ok(secs.saturating_mul(1_000_000).saturating_add(nanos / 1000))
}

/// A status value must not break the `KEY=VALUE` lines.
fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(s: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = s.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn sends_to_a_path_and_an_abstract_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::to(path.to_str().unwrap()).unwrap();
        n.ready("up\nand running").unwrap();
        assert_eq!(recv(&rx), "READY=1\nSTATUS=up and running");
        n.reloading().unwrap();
        let m = recv(&rx);
        let usec: u64 = m.strip_prefix("RELOADING=1\nMONOTONIC_USEC=").unwrap().parse().unwrap();
        assert!(usec > 0);
        n.stopping().unwrap();
        assert_eq!(recv(&rx), "STOPPING=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("sixgate-notify-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        Notifier::to(&format!("@{name}")).unwrap().stopping().unwrap();
        assert_eq!(recv(&rx), "STOPPING=1");
    }

    #[test]
    fn bad_values_are_errors_and_no_socket_sends_nothing() {
        assert!(Notifier::to("relative/path").is_err());
        let quiet = Notifier::disabled();
        assert!(!quiet.is_active());
        quiet.ready("x").unwrap();
    }
}
