//! The service shell the daemons (`nat64 run`, `tunnel run`, `dns64`) share around their
//! engines: configuration reload on SIGHUP, systemd notification.

pub(crate) mod reload;

pub(crate) use reload::Reloader;
