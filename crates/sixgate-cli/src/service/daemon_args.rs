//! The flags the packet daemons (`sixgate nat64 run`, `sixgate tunnel run`) share: one
//! definition, so their names, help and precedence over the file stay the same in both.
//! The log flags are the top-level command's ([`super::logging::LogArgs`]).

use std::net::SocketAddr;

use clap::Args;

/// Metrics, privilege and route flags of a packet daemon; each one also a key of its
/// configuration file, and the flag wins.
#[derive(Args, Default, Clone, Debug)]
pub(crate) struct DaemonArgs {
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics, e.g. 127.0.0.1:9164 (overrides
    /// `metrics_listen`).
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Started as root: run as this user (and its group) once the device and the sockets
    /// are open, with no capabilities left (overrides `user`).
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// Install the routes it prints through rtnetlink and remove them on exit (also the
    /// `routes = true` key); routes already present (such as the kernel's own for a device
    /// address) are left alone.
    #[arg(long)]
    pub(crate) routes: bool,
}

impl DaemonArgs {
    /// The flags over the file's `metrics_listen`, `user` and `routes` keys: a flag given
    /// wins; `routes` is on when either turns it on.
    pub(crate) fn over_file(
        self,
        metrics_listen: Option<SocketAddr>,
        user: Option<String>,
        routes: Option<bool>,
    ) -> Self {
        Self {
            metrics_listen: self.metrics_listen.or(metrics_listen),
            user: self.user.or(user),
            routes: self.routes || routes == Some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DaemonArgs;

    #[test]
    fn a_flag_wins_over_its_key_and_routes_is_on_if_either_says_so() {
        let file =
            |d: DaemonArgs| d.over_file(Some("127.0.0.1:9164".parse().unwrap()), Some("sixgate".into()), Some(true));
        let d = file(DaemonArgs::default());
        assert_eq!(d.metrics_listen, Some("127.0.0.1:9164".parse().unwrap()));
        assert_eq!((d.user.as_deref(), d.routes), (Some("sixgate"), true));
        let flags = DaemonArgs {
            metrics_listen: Some("[::1]:9999".parse().unwrap()),
            user: Some("nobody".into()),
            routes: true,
        };
        let d = flags.clone().over_file(None, None, Some(false));
        assert_eq!((d.metrics_listen, d.user.as_deref(), d.routes), (flags.metrics_listen, Some("nobody"), true));
        let d = file(flags);
        assert_eq!((d.metrics_listen, d.user.as_deref()), (Some("[::1]:9999".parse().unwrap()), Some("nobody")));
        assert!(!DaemonArgs::default().over_file(None, None, None).routes);
    }
}
