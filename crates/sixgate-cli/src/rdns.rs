//! `sixgate rdns` subcommands: argument parsing and output only; the work is done by
//! `sixgate-rdns`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Args, Subcommand};
use sixgate_core::text::{parse_addr, parse_prefix};
use sixgate_rdns::hostname::{qualify, rname};
use sixgate_rdns::name::{parse_arpa, prefix_name, reverse_name, ReverseName};
use sixgate_rdns::plan::{delegations, plan, Zone};
use sixgate_rdns::template::{AddrRange, Template, DEFAULT_LIMIT};
use sixgate_rdns::zone::{next_serial, read_serial, serial_gt, write_template, PtrSet, ZoneHeader, ZoneWriter};
use sixgate_rdns::RdnsError;

use crate::daemon::log;
use crate::CliError;

/// `sixgate rdns` subcommands.
#[derive(Subcommand)]
pub(crate) enum RdnsCmd {
    /// The reverse name of an address, or of a prefix (to its nibble/octet boundary).
    Name {
        /// An IPv6 or IPv4 address, or a prefix such as 2001:db8::/48.
        #[arg(value_name = "ADDR|PREFIX")]
        target: String,
    },
    /// The address or prefix an ip6.arpa. / in-addr.arpa. name stands for.
    Parse {
        /// A full or partial reverse name, e.g. 8.b.d.0.1.0.0.2.ip6.arpa.
        name: String,
    },
    /// The zones that cover a prefix exactly; with --ns, the records the parent zone needs to
    /// delegate them (NS, and RFC 2317 CNAMEs for IPv4 prefixes longer than /24).
    Zones {
        /// An IPv6 or IPv4 prefix.
        prefix: String,
        /// Name servers to delegate to (repeatable); relative names need --domain.
        #[arg(long)]
        ns: Vec<String>,
        /// Domain that qualifies relative names.
        #[arg(long)]
        domain: Option<String>,
    },
    /// A complete reverse zone file for one zone: $ORIGIN, $TTL, SOA, NS and sorted PTR records.
    Zone(Box<ZoneArgs>),
    /// Serve reverse DNS for whole prefixes without a zone file: an authoritative server (UDP
    /// and TCP) that synthesizes each address's PTR from a template, and the name's AAAA/A.
    Serve(Box<crate::rdns_serve::ServeArgs>),
}

/// Arguments of `sixgate rdns zone`.
#[derive(Args)]
#[command(after_help = "Template placeholders: {dashed} (2001-db8--5, 192-0-2-7), {hex} (all nibbles or \
    octets in hex), {v4} (the IPv4 address, or an IPv6 address's last 32 bits, dashed), {index} (offset in \
    the range).\nA template is written as it is generated (memory does not grow with the count); hosts files \
    and forward zones are read whole and sorted.")]
pub(crate) struct ZoneArgs {
    /// The zone's prefix: nibble-aligned IPv6, octet-aligned IPv4, or IPv4 longer than /24
    /// (an RFC 2317 child zone).
    prefix: String,
    /// Name servers (repeatable, at least one); the first is the SOA MNAME.
    #[arg(long, required = true)]
    ns: Vec<String>,
    /// The zone's contact: hostmaster@example.net or hostmaster.example.net.
    #[arg(long)]
    hostmaster: String,
    /// Domain that qualifies relative names (and the origin of a forward zone without $ORIGIN).
    /// In a hosts file only a single-label name (`hyosine`) is relative: a name with a dot
    /// (`hyosine.example.net`) is taken as fully qualified, as hosts(5) and the resolver do.
    #[arg(long)]
    domain: Option<String>,
    /// PTR records from a hosts file (ADDRESS NAME per line, # comments); repeatable; its
    /// warnings say FILE:LINE.
    #[arg(long, value_name = "FILE")]
    hosts: Vec<PathBuf>,
    /// PTR records from the A and AAAA records of a forward zone file; repeatable.
    #[arg(long, value_name = "FILE")]
    forward_zone: Vec<PathBuf>,
    /// PTR records named by a template over --range (default: the whole zone), e.g.
    /// host-{dashed}.example.net.
    #[arg(long, conflicts_with_all = ["hosts", "forward_zone"])]
    template: Option<String>,
    /// The template's range: a prefix or FIRST-LAST inside the zone.
    #[arg(long, requires = "template")]
    range: Option<String>,
    /// The largest range a template may cover.
    #[arg(long, default_value_t = DEFAULT_LIMIT)]
    limit: u64,
    /// SOA serial. Default: today's YYYYMMDD00 (RFC 1912 §2.2); when -o replaces an existing
    /// zone file, the serial after that file's (RFC 1982): a date serial stays date-based
    /// (today's, or +1 for another change the same day), any other serial counts up by one.
    #[arg(long)]
    serial: Option<u32>,
    /// $TTL: default TTL of the records, in seconds.
    #[arg(long)]
    ttl: Option<u32>,
    /// SOA refresh, seconds.
    #[arg(long)]
    refresh: Option<u32>,
    /// SOA retry, seconds.
    #[arg(long)]
    retry: Option<u32>,
    /// SOA expire, seconds.
    #[arg(long)]
    expire: Option<u32>,
    /// SOA minimum (negative-caching TTL), seconds.
    #[arg(long)]
    minimum: Option<u32>,
    /// Treat any problem in the input (bad line, address outside the zone, duplicate, bad
    /// name) as an error instead of a warning.
    #[arg(long)]
    strict: bool,
    /// Write to FILE instead of standard output (a regular file is replaced atomically, through a
    /// temporary file next to it; an input file is never overwritten).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(crate) fn run(cmd: RdnsCmd) -> Result<ExitCode, CliError> {
    match cmd {
        RdnsCmd::Name { target } => name(&target),
        RdnsCmd::Parse { name } => {
            let r = parse_arpa(&name).map_err(CliError::input)?;
            match r {
                ReverseName::Addr(a) => println!("{a}"),
                ReverseName::Prefix(n) => println!("{n}"),
                ReverseName::Classless(n) => println!("{n} (RFC 2317 classless child zone)"),
            }
            Ok(ExitCode::SUCCESS)
        }
        RdnsCmd::Zones { prefix, ns, domain } => zones(&prefix, &ns, domain.as_deref()),
        RdnsCmd::Zone(a) => zone(&a),
        RdnsCmd::Serve(a) => crate::rdns_serve::run(*a),
    }
}

fn name(target: &str) -> Result<ExitCode, CliError> {
    if target.contains('/') {
        let n = parse_prefix(target).map_err(CliError::input)?;
        println!("{}", prefix_name(n));
    } else {
        let hp = parse_addr(target).map_err(CliError::input)?;
        if hp.zone.is_some() {
            return Err(CliError::input(format!("{target:?}: an address with a zone index has no reverse name")));
        }
        println!("{}", reverse_name(hp.addr));
    }
    Ok(ExitCode::SUCCESS)
}

fn qualify_all(names: &[String], domain: Option<&str>) -> Result<Vec<String>, CliError> {
    names.iter().map(|n| qualify(n, domain).map_err(CliError::input)).collect()
}

fn zones(prefix: &str, ns: &[String], domain: Option<&str>) -> Result<ExitCode, CliError> {
    let net = parse_prefix(prefix).map_err(CliError::input)?;
    let mut out = io::stdout().lock();
    if ns.is_empty() {
        for z in plan(net) {
            writeln!(out, "{}\t{}", z.origin(), z.net())?;
        }
    } else {
        for line in delegations(net, &qualify_all(ns, domain)?) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Errors from the library: bad input is exit 2, I/O is exit 1.
fn lib_err(e: RdnsError) -> CliError {
    match e {
        RdnsError::Io(e) => CliError::failure(format!("I/O error: {e}")),
        e => CliError::input(e),
    }
}

fn read(path: &Path) -> Result<String, CliError> {
    fs::read_to_string(path).map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))
}

/// Refuses an output path that is one of the input files (the same file, also through a link).
fn refuse_input_as_output<'a>(out: &Path, inputs: impl Iterator<Item = &'a PathBuf>) -> Result<(), CliError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(o) = fs::metadata(out) else { return Ok(()) };
    for i in inputs {
        if fs::metadata(i).is_ok_and(|m| m.dev() == o.dev() && m.ino() == o.ino()) {
            return Err(CliError::input(format!(
                "-o {} is the input file {}: writing the zone there would destroy the input; choose another output",
                out.display(),
                i.display()
            )));
        }
    }
    Ok(())
}

/// The SOA serial of the zone file `-o` is about to replace, if it is a regular file.
fn existing_serial(out: &Path, zone: &Zone) -> Result<Option<u32>, CliError> {
    if !fs::metadata(out).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let text = read(out)?;
    read_serial(&text, &zone.origin()).map_err(|e| {
        CliError::input(format!(
            "cannot read the SOA serial of {}, which -o would replace: {e}; give --serial, or remove the file",
            out.display()
        ))
    })
}

fn zone(a: &ZoneArgs) -> Result<ExitCode, CliError> {
    let net = parse_prefix(&a.prefix).map_err(CliError::input)?;
    let zone = Zone::single(net).map_err(lib_err)?;
    let domain = a.domain.as_deref();
    let mut header = ZoneHeader::new(qualify_all(&a.ns, domain)?, rname(&a.hostmaster, domain).map_err(lib_err)?);
    let defaults = header.clone();
    header.serial = a.serial.unwrap_or(defaults.serial);
    header.ttl = a.ttl.unwrap_or(defaults.ttl);
    header.refresh = a.refresh.unwrap_or(defaults.refresh);
    header.retry = a.retry.unwrap_or(defaults.retry);
    header.expire = a.expire.unwrap_or(defaults.expire);
    header.minimum = a.minimum.unwrap_or(defaults.minimum);
    header.validate().map_err(lib_err)?;
    if let Some(out) = &a.output {
        refuse_input_as_output(out, a.hosts.iter().chain(&a.forward_zone))?;
        if let Some(previous) = existing_serial(out, &zone)? {
            match a.serial {
                None => {
                    header.serial = next_serial(previous, SystemTime::now());
                    log!("sixgate: serial {} (after {previous} in {})", header.serial, out.display());
                }
                Some(s) if !serial_gt(s, previous) => log!(
                    "sixgate: warning: --serial {s} is not after the serial {previous} of {} (RFC 1982 §3.2):                      secondaries will not transfer the new zone; leave --serial out to have it bumped",
                    out.display()
                ),
                Some(_) => {}
            }
        }
    }

    // Gather and check everything that can fail on input before writing anything.
    let template = match &a.template {
        Some(t) => {
            let t = Template::parse(t, domain).map_err(lib_err)?;
            let range = match &a.range {
                Some(r) => AddrRange::parse(r).map_err(lib_err)?,
                None => AddrRange::from_net(zone.net()),
            };
            range.check_limit(a.limit).map_err(lib_err)?;
            if !range.within(zone.net()) {
                return Err(CliError::input(format!("range {range} is not inside zone {}", zone.net())));
            }
            Some((t, range))
        }
        None => None,
    };
    let ptrs = if template.is_none() {
        let mut set = PtrSet::new(zone, a.domain.clone());
        for p in &a.hosts {
            set.add_hosts_from(&p.display().to_string(), &read(p)?);
        }
        for p in &a.forward_zone {
            set.add_forward_zone_from(&p.display().to_string(), &read(p)?, domain)
                .map_err(|e| CliError::input(format!("{}: {e}", p.display())))?;
        }
        let (ptrs, problems) = set.finish();
        for d in &problems {
            let level = if a.strict { "error" } else { "warning" };
            log!("sixgate: {level}: {d}");
        }
        if a.strict && !problems.is_empty() {
            return Err(CliError::input(format!(
                "{} problem(s) in the input (--strict); nothing written",
                problems.len()
            )));
        }
        ptrs
    } else {
        Vec::new()
    };

    let write = |out: &mut dyn Write| -> Result<u64, RdnsError> {
        let mut w = ZoneWriter::new(zone, &header, out)?;
        match &template {
            Some((t, range)) => {
                write_template(&mut w, t, range, a.limit)?;
            }
            None => {
                for p in &ptrs {
                    w.ptr(p.addr, &p.name)?;
                }
            }
        }
        Ok(w.finish()?.1)
    };
    match &a.output {
        None => {
            let mut out = io::stdout().lock();
            write(&mut out).map_err(lib_err)?;
        }
        Some(path) if fs::metadata(path).is_ok_and(|m| !m.is_file()) => {
            // A device or pipe (/dev/null, a FIFO): write straight to it, no rename.
            let mut f = fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| CliError::failure(format!("cannot open {}: {e}", path.display())))?;
            write(&mut f).map_err(lib_err)?;
        }
        Some(path) => {
            let mut tmp = path.clone().into_os_string();
            tmp.push(".sixgate-tmp");
            let tmp = PathBuf::from(tmp);
            let result = File::create(&tmp)
                .map_err(|e| CliError::failure(format!("cannot create {}: {e}", tmp.display())))
                .and_then(|mut f| {
                    let n = write(&mut f).map_err(lib_err)?;
                    // On disk before the rename makes it the zone.
                    f.sync_all()?;
                    Ok(n)
                })
                .and_then(|n| fs::rename(&tmp, path).map(|()| n).map_err(CliError::from));
            match result {
                Ok(n) => log!("sixgate: wrote {n} PTR record(s) to {}", path.display()),
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
