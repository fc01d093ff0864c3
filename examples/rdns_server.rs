//! Reverse DNS for a whole /64 without a zone file: the sans-IO authority of
//! `sixgate::rdns::serve`, embedded.
//!
//! The authority synthesizes the PTR record of every address of `2001:db8:1::/64` from a
//! template, and the AAAA record of each such name, so that forward and reverse agree. This
//! program asks it a few questions in-process (no socket) and prints the answers; with
//! `--serve ADDR:PORT` it then serves them on that address (UDP and TCP, on the server core
//! `sixgate::io::dns::AuthServer`) until Ctrl-C:
//!
//! ```text
//! cargo run --example rdns_server
//! cargo run --example rdns_server -- --serve 127.0.0.1:5353 &
//! dig -p 5353 @127.0.0.1 -x 2001:db8:1::abcd
//! ```

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use sixgate::rdns::name::reverse_name;
use sixgate::rdns::serve::{Authority, ServeConfig, ServedPrefix};
use sixgate::rdns::template::Template;
use sixgate::rdns::zone::ZoneHeader;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A query for `name` of type `qtype` (RFC 1035 §4.1, built by hand).
fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// The RCODE, the answer count and the size of an answer.
fn summary(answer: &[u8]) -> String {
    let rcode = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"]
        .get(usize::from(answer[3] & 0xf))
        .unwrap_or(&"other");
    let count = u16::from_be_bytes([answer[6], answer[7]]);
    format!("{rcode}, {count} answer(s), {} octets", answer.len())
}

fn main() -> Result<()> {
    let header = ZoneHeader::new(vec!["ns1.example.net.".into()], "hostmaster.example.net.".into());
    let mut cfg = ServeConfig::new(header);
    cfg.forward_zone = Some("example.net.".into());
    cfg.prefixes.push(ServedPrefix {
        net: "2001:db8:1::/64".parse()?,
        template: Template::parse("host-{dashed}", Some("example.net"))?,
    });
    let auth = Authority::new(cfg)?;

    for (name, qtype, what, want) in [
        (reverse_name("2001:db8:1::abcd".parse()?), 12, "PTR of 2001:db8:1::abcd", "NOERROR, 1 answer(s)"),
        ("host-2001-db8-1--abcd.example.net.".into(), 28, "AAAA of its name", "NOERROR, 1 answer(s)"),
        ("0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.".into(), 6, "SOA of the zone", "NOERROR, 1 answer(s)"),
        (
            "0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.".into(),
            12,
            "an empty non-terminal",
            "NOERROR, 0 answer(s)",
        ),
        ("nothing.example.net.".into(), 28, "a name that does not exist", "NXDOMAIN, 0 answer(s)"),
        ("www.example.org.".into(), 1, "a name outside the zones", "REFUSED, 0 answer(s)"),
    ] {
        let answer = auth.respond(&query(&name, qtype), false).ok_or("no answer")?;
        let got = summary(&answer);
        println!("{what:28} {got}");
        assert!(got.starts_with(want), "{what}: expected {want}");
    }
    // The PTR target is the name whose AAAA is the address.
    let ptr = auth.respond(&query(&reverse_name("2001:db8:1::abcd".parse()?), 12), false).ok_or("no answer")?;
    assert!(ptr.windows(22).any(|w| w == b"\x15host-2001-db8-1--abcd"));

    let mut args = std::env::args().skip(1);
    if let (Some(flag), Some(addr)) = (args.next(), args.next()) {
        if flag != "--serve" {
            return Err(format!("unknown argument {flag:?} (expected --serve ADDR:PORT)").into());
        }
        let listen: SocketAddr = addr.parse()?;
        let responder: Arc<dyn sixgate::io::dns::Responder> = Arc::new(move |q: &[u8], tcp: bool| auth.respond(q, tcp));
        let server = sixgate::io::dns::AuthServer::bind(responder, sixgate::io::dns::ListenOptions::new(listen))?;
        println!("serving on {} (UDP, TCP); Ctrl-C stops", server.local_addr()?);
        server.run(Arc::new(AtomicBool::new(false)))?;
    }
    Ok(())
}
