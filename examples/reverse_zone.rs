//! Reverse DNS in a few lines: the reverse zone of a 6to4 site, from a hosts list,
//! plus the delegation records its parent needs.
//!
//! ```text
//! cargo run --example reverse_zone                      # the site 2002:4acf:fe10::/48
//! cargo run --example reverse_zone 2001:db8:42::/48     # any nibble-aligned prefix
//! ```

use std::io::Write;

use sixgate::rdns::plan::{delegations, Zone};
use sixgate::rdns::zone::{PtrSet, ZoneHeader, ZoneWriter};
use sixgate::rdns::RdnsError;

fn main() {
    let prefix = std::env::args().nth(1).unwrap_or_else(|| "2002:4acf:fe10::/48".into());
    if let Err(e) = run(&prefix) {
        eprintln!("reverse_zone: {e}");
        std::process::exit(2);
    }
}

fn run(prefix: &str) -> Result<(), RdnsError> {
    let net = prefix.parse().map_err(|_| RdnsError::BadRange(prefix.to_owned()))?;
    let zone = Zone::single(net)?;
    let base = match zone.net() {
        ipnet::IpNet::V6(n) => n.network(),
        ipnet::IpNet::V4(_) => return Err(RdnsError::BadRange(format!("{prefix} (this example is for IPv6)"))),
    };
    // A hosts list as an operator would keep it; relative names get --domain's job here.
    let seg = base.segments();
    let host = |last: u16| std::net::Ipv6Addr::new(seg[0], seg[1], seg[2], seg[3], 0, 0, 0, last);
    let hosts =
        format!("# site hosts\n{} host.example.net.\n{} gw\n{} mail  # mail relay\n", host(1), host(0xfe), host(0x25));
    let mut set = PtrSet::new(zone, Some("example.net".into()));
    set.add_hosts(&hosts);
    let (ptrs, problems) = set.finish();
    for p in &problems {
        eprintln!("warning: {p}");
    }

    let header = ZoneHeader::new(
        vec!["ns1.example.net.".into(), "ns2.example.net.".into()],
        sixgate::rdns::hostname::rname("hostmaster@example.net", None)?,
    );
    let stdout = std::io::stdout();
    let mut w = ZoneWriter::new(zone, &header, stdout.lock())?;
    for p in &ptrs {
        w.ptr(p.addr, &p.name)?;
    }
    let (mut out, n) = w.finish()?;
    writeln!(out, "; {n} PTR record(s)")?;
    writeln!(out, "\n; for the parent zone:")?;
    for line in delegations(zone.net(), &header.ns) {
        writeln!(out, "; {line}")?;
    }
    Ok(())
}
