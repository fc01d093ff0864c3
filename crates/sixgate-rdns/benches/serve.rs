//! Criterion benchmarks of the authority's query path (`Authority::respond`): synthesized
//! PTR answers (IPv6 /64, IPv4 /24), a forward AAAA, an NXDOMAIN and a REFUSED.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sixgate_rdns::name::reverse_name;
use sixgate_rdns::serve::{Authority, ServeConfig, ServedPrefix};
use sixgate_rdns::template::Template;
use sixgate_rdns::zone::ZoneHeader;

fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    for l in name.trim_end_matches('.').split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    // EDNS(0), 1232 octets, as dig and resolvers send.
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    q
}

fn respond(c: &mut Criterion) {
    let header = ZoneHeader::new(vec!["ns1.example.net.".into()], "hostmaster.example.net.".into());
    let mut cfg = ServeConfig::new(header);
    cfg.forward_zone = Some("example.net.".into());
    for (net, t) in [("2001:db8:1::/64", "host-{dashed}.example.net."), ("192.0.2.0/24", "v4-{dashed}.example.net.")] {
        cfg.prefixes.push(ServedPrefix { net: net.parse().unwrap(), template: Template::parse(t, None).unwrap() });
    }
    let auth = Authority::new(cfg).unwrap();
    let cases = [
        ("ptr_v6", query(&reverse_name("2001:db8:1::4:abcd".parse().unwrap()), 12)),
        ("ptr_v4", query("7.2.0.192.in-addr.arpa.", 12)),
        ("aaaa_forward", query("host-2001-db8-1--4-abcd.example.net.", 28)),
        ("nxdomain_forward", query("nothing.example.net.", 28)),
        ("refused", query("www.example.org.", 1)),
    ];
    let mut g = c.benchmark_group("respond");
    g.throughput(Throughput::Elements(1));
    for (name, q) in &cases {
        assert!(auth.respond(q, false).is_some());
        g.bench_function(*name, |b| b.iter(|| auth.respond(black_box(q), false)));
    }
    g.finish();
}

criterion_group!(benches, respond);
criterion_main!(benches);
