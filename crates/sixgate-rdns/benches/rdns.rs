//! Criterion benchmarks: reverse-name generation and zone writing.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::sink;
use std::net::{IpAddr, Ipv6Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sixgate_rdns::name::{reverse_name, write_v6_name, V6_NAME_LEN};
use sixgate_rdns::plan::Zone;
use sixgate_rdns::template::{AddrRange, Template};
use sixgate_rdns::zone::{write_template, PtrSet, ZoneHeader, ZoneWriter};

fn header() -> ZoneHeader {
    ZoneHeader::new(vec!["ns1.example.net.".into()], "hostmaster.example.net.".into())
}

fn names(c: &mut Criterion) {
    let a: Ipv6Addr = "2002:4acf:fe10::1".parse().unwrap();
    let mut g = c.benchmark_group("name");
    g.throughput(Throughput::Elements(1));
    g.bench_function("write_v6_name", |b| {
        let mut buf = [0u8; V6_NAME_LEN];
        b.iter(|| write_v6_name(black_box(a), &mut buf))
    });
    g.bench_function("reverse_name_v6_string", |b| b.iter(|| reverse_name(black_box(IpAddr::V6(a)))));
    let v4: IpAddr = "192.0.2.1".parse().unwrap();
    g.bench_function("reverse_name_v4_string", |b| b.iter(|| reverse_name(black_box(v4))));
    g.finish();
}

fn zones(c: &mut Criterion) {
    let mut g = c.benchmark_group("zone");
    let n = 65536u64;
    g.throughput(Throughput::Elements(n));
    let zone = Zone::single("2001:db8::/64".parse().unwrap()).unwrap();
    let t = Template::parse("host-{dashed}.example.net.", None).unwrap();
    let range = AddrRange::parse("2001:db8::/112").unwrap();
    g.bench_function("template_v6_64k", |b| {
        b.iter(|| {
            let mut w = ZoneWriter::new(zone, &header(), sink()).unwrap();
            write_template(&mut w, &t, &range, n).unwrap();
            w.finish().unwrap().1
        })
    });
    let z4 = Zone::single("10.0.0.0/16".parse().unwrap()).unwrap();
    let r4 = AddrRange::parse("10.0.0.0/16").unwrap();
    g.bench_function("template_v4_64k", |b| {
        b.iter(|| {
            let mut w = ZoneWriter::new(z4, &header(), sink()).unwrap();
            write_template(&mut w, &t, &r4, n).unwrap();
            w.finish().unwrap().1
        })
    });
    // Hosts input: parse, check, sort, de-duplicate, write.
    let hosts: String =
        (0..n).rev().map(|i| format!("2001:db8::{:x}:{:x} h{i}.example.net.\n", i >> 16, i & 0xffff)).collect();
    g.bench_function("hosts_v6_64k", |b| {
        b.iter(|| {
            let mut set = PtrSet::new(zone, None);
            set.add_hosts(&hosts);
            let (ptrs, _) = set.finish();
            let mut w = ZoneWriter::new(zone, &header(), sink()).unwrap();
            for p in &ptrs {
                w.ptr(p.addr, &p.name).unwrap();
            }
            w.finish().unwrap().1
        })
    });
    g.finish();
}

criterion_group!(benches, names, zones);
criterion_main!(benches);
