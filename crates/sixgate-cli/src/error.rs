//! The CLI's one error type: one clear line and an exit status.

use std::fmt;

/// An error the CLI prints as one line before exiting with `code`.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl CliError {
    /// Bad input from the user (exit status 2, as for usage errors).
    pub(crate) fn input(message: impl fmt::Display) -> Self {
        Self { message: message.to_string(), code: 2 }
    }

    /// A failure while doing the work (exit status 1).
    pub(crate) fn failure(message: impl fmt::Display) -> Self {
        Self { message: message.to_string(), code: 1 }
    }
}

/// What a privileged operation needs, for the message when the system refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Binding a port below 1024 (`net.ipv4.ip_unprivileged_port_start`).
    LowPort,
    /// Creating or attaching a TUN device.
    Tun,
    /// Opening a raw IP socket.
    RawSocket,
}

impl Needs {
    fn capability(self) -> &'static str {
        match self {
            Self::LowPort => "CAP_NET_BIND_SERVICE",
            Self::Tun => "CAP_NET_ADMIN",
            Self::RawSocket => "CAP_NET_RAW",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::LowPort => "binding a port below 1024",
            Self::Tun => "a TUN device",
            Self::RawSocket => "a raw IP socket",
        }
    }
}

impl CliError {
    /// A failed system operation (exit status 1): `context: error`, and when the system
    /// refused it for lack of privilege (EPERM, EACCES), the capability that is missing and
    /// how to grant it.
    pub(crate) fn os(context: impl fmt::Display, e: &std::io::Error, needs: Needs) -> Self {
        let mut m = format!("{context}: {e}");
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            let cap = needs.capability();
            let lower = cap.to_ascii_lowercase();
            m.push_str(&format!(
                "; {} needs {cap}: run as root, grant it to the binary (setcap {lower}+ep /path/to/sixgate) \
                 or to the service (AmbientCapabilities={cap} in its systemd unit)",
                needs.what()
            ));
        }
        Self::failure(m)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::failure(format!("I/O error: {e}"))
    }
}
