//! The parsers of a name-routing proxy, without a socket: a ClientHello (captured from
//! curl, or read from a file) → SNI and ALPN; an HTTP/1.1 request head → Host; and the
//! PROXY protocol v2 header the proxy would put in front of the backend connection.
//!
//! ```text
//! cargo run --example proxy_parsers                    # the built-in curl ClientHello
//! cargo run --example proxy_parsers -- hello.bin       # the first bytes of a TLS stream
//! ```

use std::net::SocketAddr;

use sixgate_proxy::proxy_protocol::{decode, encode_v2_with, V2Tlvs};
use sixgate_proxy::{http, tls, Peek};

/// What `curl https://site.example.com/` sent (OpenSSL 3.0, ALPN h2 and http/1.1).
const CURL_HELLO: &[u8] = include_bytes!("../crates/sixgate-proxy/tests/data/curl_h2.bin");

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

fn main() {
    let hello_bytes = match std::env::args_os().nth(1) {
        None => CURL_HELLO.to_vec(),
        Some(path) => match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!(
                    "proxy_parsers: cannot read {}: {e}; give a file holding the first bytes of a TLS stream",
                    path.to_string_lossy()
                );
                std::process::exit(2);
            }
        },
    };

    // A proxy hands the parser all bytes read so far, after every read, until Done.
    let mut sni = None;
    for n in [5, 100, hello_bytes.len()] {
        match tls::peek_client_hello(&hello_bytes[..n.min(hello_bytes.len())], tls::DEFAULT_LIMIT) {
            Ok(Peek::NeedMore) => println!("ClientHello: {n} bytes read, need more"),
            Ok(Peek::Done(h)) => {
                let alpn: Vec<String> = h.alpn.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
                println!(
                    "ClientHello: SNI {:?}, ALPN {alpn:?}, record version {:#06x}",
                    h.server_name, h.record_version
                );
                sni = h.server_name;
                break;
            }
            Err(e) => {
                // What the proxy would send before closing, for an unknown name.
                println!("ClientHello refused: {e} (alert {})", hex(&tls::unrecognized_name_alert(0x0301)));
                break;
            }
        }
    }

    let req = b"GET /index.html HTTP/1.1\r\nHost: Blog.Example.ORG:8080\r\nUser-Agent: curl/7.88.1\r\n\r\n";
    match http::peek_request_head(req, http::DEFAULT_LIMIT) {
        Ok(Peek::Done(h)) => {
            println!("HTTP head: Host {:?} port {:?}, {} of {} bytes", h.host, h.port, h.head_len, req.len())
        }
        other => {
            println!("HTTP head: {other:?} (would answer {:?})", String::from_utf8_lossy(&http::error_response(400)))
        }
    }

    // The client 192.0.2.7 reached the proxy's 198.51.100.1:443; the backend learns both.
    let (client, listener): (SocketAddr, SocketAddr) =
        (SocketAddr::from(([192, 0, 2, 7], 51000)), SocketAddr::from(([198, 51, 100, 1], 443)));
    let header =
        encode_v2_with(client, listener, &V2Tlvs { authority: sni.as_deref(), crc32c: true, ..V2Tlvs::default() });
    println!("PROXY v2 header ({} bytes): {}", header.len(), hex(&header));
    if let Ok(Peek::Done((h, len))) = decode(&header) {
        println!("decoded back: {:?}, authority {:?}, {len} bytes", h.addresses, h.authority());
    }
}
