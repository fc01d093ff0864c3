//! `sixgate fmt`: an address in the forms configuration files need. Output formatting only:
//! the text rules (brackets, RFC 6874 zones, RFC 5952, expansion) are `sixgate_core::text`'s,
//! reverse names are `sixgate_rdns`'s.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ipnet::IpNet;
use sixgate_core::text::{bracketed, canonical_v6, expanded_v6, parse_literal, uri_host, HostPort};
use sixgate_rdns::name::{prefix_name, reverse_name};

use crate::CliError;

/// Arguments of `sixgate fmt`.
#[derive(Args)]
#[command(after_help = "Input forms: 2001:db8::1, fe80::1%eth0, [2001:db8::1]:443, 192.0.2.1:53, \
    2001:db8::/64, http://[2001:db8::1]:8080/path.\n\
    Without --as, every form that applies is printed, one per line, name first; with one --as, only \
    its value. A form that does not apply (a port form without a port, a zone where the program has \
    no syntax for one, an address form for a prefix) is left out, or refused when asked for by --as.\n\
    Checked with the real programs: nginx -t, haproxy -c, postfix check (inet_interfaces); munin \
    lines connect as munin's master does (IO::Socket::IP: no brackets, the port on its own line).")]
pub(crate) struct FmtArgs {
    /// The address, address with port, prefix or URL.
    address: String,
    /// The forms to print (repeatable, or comma-separated) [default: all that apply].
    #[arg(long = "as", value_enum, value_name = "FORM", value_delimiter = ',')]
    forms: Vec<Form>,
    /// The port for the forms that take one (overrides a port in ADDRESS).
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// The URL scheme of the `url` form [default: the input URL's, or http].
    #[arg(long, value_name = "SCHEME")]
    scheme: Option<String>,
    /// Print one JSON object: the forms by name, and why any were left out.
    #[arg(long)]
    json: bool,
}

/// The forms `sixgate fmt` prints.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Form {
    /// RFC 5952 canonical text (and the prefix, for a prefix).
    Canonical,
    /// Eight groups of four hex digits (IPv6).
    Expanded,
    /// `[v6]` (IPv6).
    Bracketed,
    /// `[v6]:port` or `v4:port` (RFC 3986 §3.2.2).
    HostPort,
    /// A URL: `http://[v6]:port/`, a zone as `%25` (RFC 3986 §3.2.2, RFC 6874 §2).
    Url,
    /// nginx: `listen [v6]:port;`, or `allow PREFIX;` for a prefix.
    Nginx,
    /// HAProxy: `bind [v6]:port`, or `acl … src PREFIX` for a prefix.
    HaproxyBind,
    /// HAProxy: `server NAME [v6]:port`.
    HaproxyServer,
    /// munin.conf: `address v6` (and `port N`), or munin-node's `cidr_allow PREFIX`.
    Munin,
    /// Postfix `mynetworks`: `[v6]`, `[v6]/len`, `v4/len`.
    PostfixMynetworks,
    /// Postfix `inet_interfaces`: `[v6]` or `v4`.
    PostfixInetInterfaces,
    /// Postfix `smtp_bind_address6` (unbracketed) or `smtp_bind_address`.
    PostfixBind,
    /// The reverse DNS name (`ip6.arpa.`, `in-addr.arpa.`; a prefix to its nibble/octet
    /// boundary).
    Reverse,
}

const ALL: [Form; 13] = [
    Form::Canonical,
    Form::Expanded,
    Form::Bracketed,
    Form::HostPort,
    Form::Url,
    Form::Nginx,
    Form::HaproxyBind,
    Form::HaproxyServer,
    Form::Munin,
    Form::PostfixMynetworks,
    Form::PostfixInetInterfaces,
    Form::PostfixBind,
    Form::Reverse,
];

impl Form {
    /// The name as `--as` takes it.
    fn name(self) -> String {
        self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
    }
}

/// What is being formatted.
struct Input {
    addr: IpAddr,
    zone: Option<String>,
    port: Option<u16>,
    prefix: Option<IpNet>,
    scheme: String,
}

/// One form of the input, or why it does not apply.
fn render(f: Form, i: &Input) -> Result<String, String> {
    let zone = i.zone.as_deref();
    let v6 = i.addr.is_ipv6();
    let need_port =
        |what: &str| i.port.ok_or_else(|| format!("{what} needs a port: give --port N or ADDR as [v6]:port"));
    let no_zone = |prog: &str| match zone {
        Some(z) => Err(format!("{prog} has no syntax for a zone identifier (%{z}): use a global address")),
        None => Ok(()),
    };
    let no_prefix = |what: &str| match i.prefix {
        Some(n) => Err(format!("{what} takes an address, not the prefix {n}")),
        None => Ok(()),
    };
    let host_port = || HostPort { addr: i.addr, zone: i.zone.clone(), port: i.port };
    Ok(match f {
        Form::Canonical => match (i.prefix, i.addr) {
            (Some(n), _) => n.to_string(),
            (None, IpAddr::V6(a)) => host_port_text(&canonical_v6(a), zone),
            (None, a) => a.to_string(),
        },
        Form::Expanded => match (i.addr, i.prefix) {
            (IpAddr::V6(a), Some(n)) => format!("{}/{}", expanded_v6(a), n.prefix_len()),
            (IpAddr::V6(a), None) => host_port_text(&expanded_v6(a), zone),
            _ => return Err("the expanded form is for IPv6 addresses".into()),
        },
        Form::Bracketed => {
            no_prefix("the bracketed form")?;
            if !v6 {
                return Err("only IPv6 addresses are bracketed (RFC 3986 §3.2.2)".into());
            }
            bracketed(i.addr, zone)
        }
        Form::HostPort => {
            no_prefix("host:port")?;
            need_port("host:port")?;
            host_port().to_string()
        }
        Form::Url => {
            no_prefix("a URL")?;
            let port = i.port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}/", i.scheme, uri_host(i.addr, zone))
        }
        Form::Nginx => match i.prefix {
            Some(n) => format!("allow {};", n.trunc()),
            None => {
                no_zone("nginx")?;
                match i.port {
                    Some(p) => format!("listen {}:{p};", bracketed(i.addr, None)),
                    None => format!("listen {};", bracketed(i.addr, None)),
                }
            }
        },
        Form::HaproxyBind => match i.prefix {
            Some(n) => format!("acl allowed_net src {}", n.trunc()),
            None => {
                no_zone("HAProxy")?;
                format!("bind {}:{}", bracketed(i.addr, None), need_port("bind")?)
            }
        },
        Form::HaproxyServer => {
            no_prefix("server")?;
            no_zone("HAProxy")?;
            format!("server srv1 {}:{}", bracketed(i.addr, None), need_port("server")?)
        }
        Form::Munin => match i.prefix {
            Some(n) => format!("cidr_allow {}", n.trunc()),
            None => {
                no_zone("munin")?;
                match i.port {
                    Some(p) => format!("address {}\n    port {p}", i.addr),
                    None => format!("address {}", i.addr),
                }
            }
        },
        Form::PostfixMynetworks => {
            no_zone("Postfix")?;
            match (i.prefix, v6) {
                (Some(n), true) => format!("mynetworks = {}/{}", bracketed(n.trunc().addr(), None), n.prefix_len()),
                (Some(n), false) => format!("mynetworks = {}", n.trunc()),
                (None, _) => format!("mynetworks = {}", bracketed(i.addr, None)),
            }
        }
        Form::PostfixInetInterfaces => {
            no_prefix("inet_interfaces")?;
            no_zone("Postfix")?;
            format!("inet_interfaces = {}", bracketed(i.addr, None))
        }
        Form::PostfixBind => {
            no_prefix("smtp_bind_address")?;
            no_zone("Postfix")?;
            if v6 {
                format!("smtp_bind_address6 = {}", i.addr)
            } else {
                format!("smtp_bind_address = {}", i.addr)
            }
        }
        Form::Reverse => match i.prefix {
            Some(n) => prefix_name(n.trunc()),
            None => {
                if zone.is_some() {
                    return Err("an address with a zone identifier has no reverse name".into());
                }
                reverse_name(i.addr)
            }
        },
    })
}

/// `text%zone`.
fn host_port_text(text: &str, zone: Option<&str>) -> String {
    match zone {
        Some(z) => format!("{text}%{z}"),
        None => text.to_owned(),
    }
}

pub(crate) fn run(a: FmtArgs) -> Result<ExitCode, CliError> {
    let l = parse_literal(&a.address).map_err(CliError::input)?;
    let prefix = l.prefix();
    let scheme = a.scheme.clone().or(l.scheme.clone()).unwrap_or_else(|| "http".into());
    if !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
    {
        return Err(CliError::input(format!(
            "--scheme {scheme:?} is not a URI scheme (a letter, then letters, digits, '+', '-', '.'; RFC 3986 §3.1)"
        )));
    }
    let input = Input { addr: l.addr, zone: l.zone, port: a.port.or(l.port), prefix, scheme };
    let asked = !a.forms.is_empty();
    let forms: Vec<Form> = if asked { a.forms.clone() } else { ALL.to_vec() };
    let mut done: Vec<(Form, String)> = Vec::new();
    let mut skipped: Vec<(Form, String)> = Vec::new();
    for f in forms {
        match render(f, &input) {
            Ok(v) => done.push((f, v)),
            Err(why) if asked => {
                return Err(CliError::input(format!("--as {}: {why}", f.name())));
            }
            Err(why) => skipped.push((f, why)),
        }
    }
    let text = if a.json {
        let forms: serde_json::Map<String, serde_json::Value> =
            done.iter().map(|(f, v)| (f.name(), v.clone().into())).collect();
        let not: serde_json::Map<String, serde_json::Value> =
            skipped.iter().map(|(f, v)| (f.name(), v.clone().into())).collect();
        let v = serde_json::json!({
            "input": a.address,
            "address": input.addr.to_string(),
            "zone": input.zone,
            "port": input.port,
            "prefix": input.prefix.map(|n| n.to_string()),
            "forms": forms,
            "not_applicable": not,
        });
        serde_json::to_string_pretty(&v).map_err(|e| CliError::failure(format!("cannot write JSON: {e}")))?
    } else if done.len() == 1 && asked {
        done[0].1.clone()
    } else {
        done.iter()
            .map(|(f, v)| format!("{:<24}{}", f.name(), v.replace('\n', &format!("\n{:24}", ""))))
            .collect::<Vec<_>>()
            .join("\n")
    };
    crate::sixto4::emit(&text)
}
