//! The service shell the daemons (`nat64 run`, `tunnel run`, `dns64`) share around their
//! engines: configuration reload on SIGHUP, systemd notification (in `sixgate_io::notify`),
//! logging.

pub(crate) mod daemon_args;
pub(crate) mod docs;
pub(crate) mod logging;
pub(crate) mod metrics;
pub(crate) mod preflight;
pub(crate) mod privilege;
pub(crate) mod reload;

pub(crate) use daemon_args::DaemonArgs;
pub(crate) use reload::Reloader;
