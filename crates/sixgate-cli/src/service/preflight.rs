//! The host checks of each daemon (`sixgate_io::host`), run by `--check` and, where the
//! answer is certain, at start: a start that would fail says why and how to fix it
//! before it touches anything.

use std::net::SocketAddr;

use sixgate_io::host::{self, Cap};

use crate::daemon::log;
use crate::CliError;

/// `nat64 run` on TUN device `tun` with `queues` queues; `caps`: also the capabilities
/// (at start a persistent device owned by the user may not need them, so only `--check`
/// asks).
pub(crate) fn nat64(tun: &str, queues: usize, caps: bool) -> Vec<String> {
    let mut errs = tun_device(tun, queues);
    if caps {
        errs.extend(host::check_caps(&[(Cap::NetAdmin, "to create and configure the TUN device")]));
    }
    errs
}

/// `tunnel run` on TUN device `tun`; `caps` as for [`nat64`].
pub(crate) fn tunnel(tun: &str, caps: bool) -> Vec<String> {
    let mut errs = tun_device(tun, 1);
    if caps {
        errs.extend(host::check_caps(&[
            (Cap::NetAdmin, "to create and configure the TUN device"),
            (Cap::NetRaw, "for the raw protocol-41 and ICMPv4 sockets"),
        ]));
    }
    errs
}

/// `dns64` listening on `listen`: the capability a low port needs, else the address free.
pub(crate) fn dns64(listen: SocketAddr) -> Vec<String> {
    if listen.port() != 0 && listen.port() < host::unprivileged_port_start() {
        let errs = host::check_caps(&[(Cap::NetBindService, "to listen on a port below 1024")]);
        if !errs.is_empty() {
            return errs;
        }
    }
    host::check_listen(listen)
}

fn tun_device(tun: &str, queues: usize) -> Vec<String> {
    if let Err(e) = host::check_ifname(tun) {
        return vec![format!("tun: {e}")];
    }
    if let Err(e) = host::check_queues(queues) {
        return vec![e];
    }
    host::check_tun(host::device_kind(tun), tun, queues)
}

/// `Ok` without problems; else every message but the last logged and the last returned,
/// each led by `name` (the configuration file).
pub(crate) fn refuse(name: &str, errs: Vec<String>) -> Result<(), CliError> {
    let Some((last, rest)) = errs.split_last() else { return Ok(()) };
    for e in rest {
        log!("sixgate: {name}: {e}");
    }
    Err(CliError::input(format!("{name}: {last}")))
}
