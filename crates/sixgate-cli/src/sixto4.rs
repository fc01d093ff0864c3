//! `sixgate 6to4`, `6rd` and `addr`: argument parsing and output only;
//! the work is done by `sixgate-6to4`.

use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

use clap::Args;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sixgate_6to4::explain::explain_str;
use sixgate_6to4::sixrd::SixRd;
use sixgate_6to4::Error;
use sixgate_6to4::{batch_for_each, batch_report, six_to_four, Scope};
use sixgate_core::text::{excerpt, parse_addr, parse_prefix, EXCERPT_CHARS};

use crate::daemon::log;
use crate::CliError;

/// The hint added to a refusal of a non-global address.
const LAB_HINT: &str = "--allow-non-global allows it for lab use";

/// Arguments of `sixgate 6to4`.
#[derive(Args)]
#[command(after_help = "6to4 is deprecated for new deployments (RFC 7526).")]
pub(crate) struct SixToFourArgs {
    /// A global IPv4 address, or `-` to read one per line from standard input and write one
    /// prefix per line (`#` starts a comment; each bad line is reported on standard error
    /// with its number and the run goes on; exit status 2 if any line was refused).
    address: String,
    /// Print JSON (with `-`: JSON Lines, one object per address, with its `line`).
    #[arg(long)]
    json: bool,
    /// Accept non-global IPv4 addresses (private, shared, documentation, …) for lab use.
    #[arg(long)]
    allow_non_global: bool,
}

/// Arguments of `sixgate 6rd`.
#[derive(Args)]
pub(crate) struct SixRdArgs {
    /// The domain's 6rd prefix, e.g. 2001:db8::/32.
    #[arg(long)]
    prefix: String,
    /// IPv4MaskLen: how many leading bits all CE IPv4 addresses share (0 to 32).
    #[arg(long, default_value_t = 0)]
    ipv4_mask_len: u8,
    /// The BR's IPv4 address, or the domain's common IPv4 prefix (e.g. 10.0.0.0/8); CEs
    /// outside it are refused, and going back from IPv6 to IPv4 needs it.
    #[arg(long)]
    relay: Option<String>,
    /// The CE's IPv4 address (gives its delegated prefix), or an IPv6 address or prefix
    /// under the 6rd prefix (gives the CE's IPv4 address).
    target: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `sixgate addr`.
#[derive(Args)]
pub(crate) struct AddrArgs {
    /// An IPv6 or IPv4 address in any form people paste: 2001:db8::1, fe80::1%eth0,
    /// [2001:db8::1]:443, 192.0.2.1:53, a prefix 2001:db8::/64, or a URL
    /// http://[2001:db8::1]:8080/path (see also `sixgate fmt`).
    address: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// A library error as a CLI error: I/O failures exit 1, everything else is bad input (2).
pub(crate) fn lib_err(e: Error) -> CliError {
    match e {
        Error::Io(e) => CliError::from(e),
        Error::NotGlobal { .. } => CliError::input(format!("{e}; {LAB_HINT}")),
        Error::Line { ref source, .. } if matches!(**source, Error::NotGlobal { .. }) => {
            CliError::input(format!("{e}; {LAB_HINT}"))
        }
        e => CliError::input(e),
    }
}

pub(crate) fn parse_v4(s: &str, what: &str) -> Result<Ipv4Addr, CliError> {
    match parse_addr(s) {
        Ok(hp) => match hp.addr {
            IpAddr::V4(a) => Ok(a),
            IpAddr::V6(_) => {
                let shown = excerpt(s.as_bytes(), EXCERPT_CHARS);
                Err(CliError::input(format!("{what} {shown:?} is an IPv6 address; an IPv4 address is needed")))
            }
        },
        Err(_) => {
            Err(CliError::input(format!("{what} {:?} is not an IPv4 address", excerpt(s.as_bytes(), EXCERPT_CHARS))))
        }
    }
}

pub(crate) fn parse_v6(s: &str, what: &str) -> Result<Ipv6Addr, CliError> {
    match parse_addr(s).map(|hp| hp.addr) {
        Ok(IpAddr::V6(a)) => Ok(a),
        _ => Err(CliError::input(format!("{what} {:?} is not an IPv6 address", excerpt(s.as_bytes(), EXCERPT_CHARS)))),
    }
}

pub(crate) fn parse_v6_net(s: &str, what: &str) -> Result<Ipv6Net, CliError> {
    match parse_prefix(s) {
        Ok(IpNet::V6(n)) => Ok(n),
        _ => Err(CliError::input(format!("{what} {s:?} is not an IPv6 prefix (ADDRESS/LENGTH)"))),
    }
}

fn json_err(e: serde_json::Error) -> CliError {
    CliError::failure(format!("cannot write JSON: {e}"))
}

/// Writes `text` and a newline to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn emit(text: &str) -> Result<ExitCode, CliError> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn run_6to4(a: SixToFourArgs) -> Result<ExitCode, CliError> {
    let scope = if a.allow_non_global { Scope::AllowNonGlobal } else { Scope::GlobalOnly };
    if a.address == "-" {
        return run_6to4_batch(scope, a.json);
    }
    let v4 = parse_v4(&a.address, "address")?;
    let s = six_to_four(v4, scope).map_err(lib_err)?;
    if a.json {
        emit(&serde_json::to_string_pretty(&s).map_err(json_err)?)
    } else {
        emit(&s.to_string())
    }
}

/// One JSON Lines record of batch mode: the input line number and the 6to4 facts.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    line: u64,
    #[serde(flatten)]
    facts: &'a sixgate_6to4::SixToFour,
}

/// `sixgate 6to4 -`: one prefix (or, with `--json`, one JSON object) per good line on
/// stdout, one message per bad line on stderr, and exit status 2 when some line failed.
fn run_6to4_batch(scope: Scope, json: bool) -> Result<ExitCode, CliError> {
    let stdin = std::io::stdin().lock();
    let mut non_global = false;
    let on_error = |e: Error| {
        non_global |= matches!(&e, Error::Line { source, .. } if matches!(**source, Error::NotGlobal { .. }));
        log!("sixgate: {e}");
        Ok(())
    };
    let r = if json {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let r = batch_for_each(
            stdin,
            scope,
            |line, v4| {
                // The scope was checked by the batch reader.
                let facts = six_to_four(v4, Scope::AllowNonGlobal).map_err(std::io::Error::other)?;
                serde_json::to_writer(&mut out, &JsonLine { line, facts: &facts }).map_err(std::io::Error::other)?;
                out.write_all(b"\n")
            },
            on_error,
        );
        r.and_then(|s| out.flush().map(|()| s).map_err(Error::from))
    } else {
        batch_report(stdin, std::io::stdout().lock(), scope, on_error)
    };
    match r {
        Ok(s) if s.failed > 0 => {
            let hint = if non_global { format!("; {LAB_HINT}") } else { String::new() };
            log!("sixgate: {} of {} address line(s) refused{hint}", s.failed, s.failed + s.converted);
            Ok(ExitCode::from(2))
        }
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(Error::Io(e)) if e.kind() == ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(lib_err(e)),
    }
}

pub(crate) fn run_6rd(a: SixRdArgs) -> Result<ExitCode, CliError> {
    let prefix = parse_v6_net(&a.prefix, "6rd prefix")?;
    let mut dom = SixRd::new(prefix, a.ipv4_mask_len).map_err(lib_err)?;
    if let Some(r) = &a.relay {
        dom = if r.contains('/') {
            let net: Ipv4Net = match parse_prefix(r) {
                Ok(IpNet::V4(n)) => n,
                _ => return Err(CliError::input(format!("relay prefix {r:?} is not an IPv4 prefix"))),
            };
            dom.with_relay_prefix(net).map_err(lib_err)?
        } else {
            dom.with_relay(parse_v4(r, "relay")?)
        };
    }
    let t = a.target.trim();
    let ce = if t.contains(':') {
        // From IPv6 back to the CE's IPv4 address (the RFC 5969 §4 format read backwards).
        if t.contains('/') {
            dom.ce_ipv4_from_prefix(parse_v6_net(t, "delegated prefix")?)
        } else {
            dom.ce_ipv4(parse_v6(t, "address")?)
        }
        .map_err(lib_err)?
    } else {
        parse_v4(t, "CE address")?
    };
    let r = dom.ce(ce).map_err(lib_err)?;
    if a.json {
        emit(&serde_json::to_string_pretty(&r).map_err(json_err)?)
    } else {
        emit(&r.to_string())
    }
}

pub(crate) fn run_addr(a: AddrArgs) -> Result<ExitCode, CliError> {
    let e = explain_str(&a.address).map_err(lib_err)?;
    if a.json {
        emit(&serde_json::to_string_pretty(&e).map_err(json_err)?)
    } else {
        emit(&e.to_string())
    }
}
