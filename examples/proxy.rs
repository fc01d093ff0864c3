//! Embedding the proxy's sans-IO parts in your own accept loop: the first bytes of a
//! connection (here a TLS ClientHello split across two TCP segments, then an HTTP request
//! head) give the name the client asked for; the routes say which IPv6-only backend
//! serves it; the PROXY v2 header tells that backend who the client was.
//!
//! `cargo run --example proxy`. For a ready proxy with listeners, timeouts, limits, DNS
//! mode and NAT46 sources, see `sixgate proxy` and `sixgate_proxy::io` (feature `server`).

use std::net::SocketAddr;

use sixgate::proxy::route::{parse_backend, Backend, Decision, Routes, SendProxy};
use sixgate::proxy::{http, proxy_protocol, tls, Peek};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A minimal TLS 1.2 ClientHello record carrying the server name `name` (RFC 6066 §3).
fn client_hello(name: &str) -> Vec<u8> {
    let n = name.as_bytes();
    // server_name extension: list length, type host_name (0), name length, name.
    let mut sni = Vec::new();
    sni.extend_from_slice(&((n.len() + 3) as u16).to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&(n.len() as u16).to_be_bytes());
    sni.extend_from_slice(n);
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    ext.extend_from_slice(&sni);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

fn main() -> Result<()> {
    let mut routes = Routes::new();
    routes.insert("www.example.com", Backend { addr: parse_backend("[2001:db8::1]:443", 443)?, send_proxy: None })?;
    let v2 = Some(SendProxy::V2);
    routes.insert("*.example.com", Backend { addr: parse_backend("[2001:db8::2]:443", 443)?, send_proxy: v2 })?;

    // The ClientHello arrives in two segments: the parser asks for more, then answers.
    let hello = client_hello("shop.example.com");
    let (first, _) = hello.split_at(20);
    assert_eq!(tls::peek_client_hello(first, tls::DEFAULT_LIMIT)?, Peek::NeedMore);
    let Peek::Done(ch) = tls::peek_client_hello(&hello, tls::DEFAULT_LIMIT)? else { unreachable!("complete") };
    println!("SNI: {:?}", ch.server_name);
    let Decision::Connect(backend) = routes.route(ch.server_name.as_deref()) else {
        // Refused: send the alert and close.
        println!("refused: {:?}", tls::unrecognized_name_alert(ch.record_version));
        return Ok(());
    };
    println!("backend: [{}]:{} (the most specific wildcard)", backend.addr.ip(), backend.addr.port());

    // Before the client's bytes, the backend gets a PROXY v2 header naming the client.
    let client: SocketAddr = "192.0.2.7:51000".parse()?;
    let listener: SocketAddr = "198.51.100.1:443".parse()?;
    let authority = proxy_protocol::Tlv { kind: 0x02, value: b"shop.example.com".to_vec() };
    let header = proxy_protocol::encode_v2(client, listener, &[authority]);
    let Peek::Done((decoded, len)) = proxy_protocol::decode(&header)? else { unreachable!("complete") };
    println!("PROXY v2 header, {len} bytes: {:?}", decoded.addresses);

    // HTTP: the Host of the request head; an unknown one gets 421.
    let head = b"GET / HTTP/1.1\r\nHost: nowhere.example.org\r\n\r\n";
    if let Peek::Done(h) = http::peek_request_head(head, http::DEFAULT_LIMIT)? {
        if let Decision::Refuse(why) = routes.route(Some(&h.host)) {
            let answer = http::error_response(421);
            println!("{}: {why}: {}", h.host, String::from_utf8_lossy(&answer).lines().next().unwrap_or(""));
        }
    }
    Ok(())
}
