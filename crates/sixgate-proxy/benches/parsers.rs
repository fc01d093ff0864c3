//! The proxy's parsers, per call: a ClientHello in one record and in two (captured from
//! curl and `openssl s_client -max_send_frag 512`), an incomplete one (the `NeedMore` a
//! proxy sees after a short read), an HTTP/1.1 head as curl sends it, and a PROXY v2
//! header encoded and decoded with an authority and a CRC32c.
use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sixgate_proxy::proxy_protocol::{decode, encode_v1, encode_v2_with, V2Tlvs};
use sixgate_proxy::{http, tls};

const CURL: &[u8] = include_bytes!("../tests/data/curl_h2.bin");
const FRAG512: &[u8] = include_bytes!("../tests/data/openssl_frag512.bin");

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tls");
    for (name, hello) in [("curl_hello_517B", CURL), ("openssl_hello_two_records_574B", FRAG512)] {
        g.throughput(Throughput::Bytes(hello.len() as u64));
        g.bench_function(name, |b| b.iter(|| tls::peek_client_hello(black_box(hello), tls::DEFAULT_LIMIT)));
    }
    g.bench_function("curl_hello_need_more_300B", |b| {
        b.iter(|| tls::peek_client_hello(black_box(&CURL[..300]), tls::DEFAULT_LIMIT))
    });
    g.finish();

    let req = b"GET /index.html HTTP/1.1\r\nHost: site.example.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Bytes(req.len() as u64));
    g.bench_function("curl_head_87B", |b| b.iter(|| http::peek_request_head(black_box(req), http::DEFAULT_LIMIT)));
    g.finish();

    let (s, d) = (SocketAddr::from(([192, 0, 2, 7], 51000)), SocketAddr::from(([198, 51, 100, 1], 443)));
    let tlvs = V2Tlvs { authority: Some("site.example.com"), crc32c: true, ..V2Tlvs::default() };
    let v2 = encode_v2_with(s, d, &tlvs);
    let v1 = encode_v1(s, d);
    let mut g = c.benchmark_group("proxy_protocol");
    g.bench_function("encode_v2_authority_crc", |b| {
        b.iter(|| encode_v2_with(black_box(s), black_box(d), black_box(&tlvs)))
    });
    g.bench_function("encode_v2_plain", |b| b.iter(|| encode_v2_with(black_box(s), black_box(d), &V2Tlvs::default())));
    g.bench_function("decode_v2_authority_crc", |b| b.iter(|| decode(black_box(&v2))));
    g.bench_function("encode_v1", |b| b.iter(|| encode_v1(black_box(s), black_box(d))));
    g.bench_function("decode_v1", |b| b.iter(|| decode(black_box(&v1))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
