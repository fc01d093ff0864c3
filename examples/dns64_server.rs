//! Embedding the sans-IO DNS64 (RFC 6147) in your own server loop.
//!
//! Three UDP sockets on loopback: a stand-in upstream resolver that knows only an A record
//! for `v4only.example.`, the DNS64 socket this program serves, and a client that asks for
//! the AAAA record of that name. The DNS64 state machine never touches a socket: the loop
//! below gives it the client's query, sends what it asks upstream, gives it the answers,
//! and sends its reply to the client. The client gets an AAAA record synthesized under
//! the network-specific prefix `2001:db8:64::/96` (RFC 6052 §2.2).
//!
//! `cargo run --example dns64_server` (feature `dns64`, on by default). For a ready
//! server with TCP, worker threads, an answer cache, request coalescing, several upstreams
//! and timeouts, see `sixgate::io::dns::Dns64Server`.

use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sixgate::nat64::dns64::{Action, Dns64, Dns64Config, Transport, MAX_UDP_PAYLOAD};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A query for `name` (dotted, no trailing dot) of type `qtype`, recursion desired.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // class IN
    q
}

/// The stand-in upstream: answers one A query with 198.51.100.7 and any other query with
/// no records (NOERROR, NODATA), until `queries` queries are answered.
fn upstream(sock: UdpSocket, queries: usize) -> Result<()> {
    let mut buf = [0u8; 512];
    for _ in 0..queries {
        let (n, from) = sock.recv_from(&mut buf)?;
        let q = &buf[..n];
        // Header, then the question (QNAME, QTYPE, QCLASS) as asked.
        let qend = 12 + q[12..].iter().position(|&b| b == 0).ok_or("no QNAME end")? + 1 + 4;
        let qtype = u16::from_be_bytes([q[qend - 4], q[qend - 3]]);
        let mut a = q[..qend].to_vec();
        a[2] = 0x81; // QR, RD
        a[3] = 0x80; // RA, NOERROR
        a[10] = 0; // no additional records (the EDNS OPT of the query is not echoed)
        a[11] = 0;
        if qtype == 1 {
            a[7] = 1; // one answer: pointer to the QNAME, A, IN, TTL 300, 198.51.100.7
            a.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 198, 51, 100, 7]);
        }
        sock.send_to(&a, from)?;
    }
    Ok(())
}

/// Serves one client query: the embedding a real server runs in its loop.
fn serve_one(dns64: &Dns64, listen: &UdpSocket, upstream: SocketAddr) -> Result<()> {
    let mut buf = vec![0u8; MAX_UDP_PAYLOAD];
    let (n, client) = listen.recv_from(&mut buf)?;
    let asker = UdpSocket::bind("127.0.0.1:0")?;
    let mut action = dns64.handle_query(&buf[..n], Transport::Udp, Instant::now());
    loop {
        match action {
            Action::Reply(reply) => {
                listen.send_to(&reply, client)?;
                return Ok(());
            }
            Action::Drop => return Ok(()),
            Action::Ask(mut pending) => {
                // A real server picks an unpredictable ID (RFC 5452 §9.2).
                pending.set_upstream_id(0x5eed);
                println!("dns64: asking upstream ({} bytes)", pending.query().len());
                asker.send_to(pending.query(), upstream)?;
                // Wait until the pending query's deadline; ignore datagrams that are not
                // its answer (RFC 5452 §9.1).
                let answer = loop {
                    let left = pending.deadline().saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break None;
                    }
                    asker.set_read_timeout(Some(left))?;
                    match asker.recv_from(&mut buf) {
                        Ok((n, from)) if from == upstream && pending.is_answer(&buf[..n]) => break Some(n),
                        Ok(_) => continue,
                        Err(_) => break None,
                    }
                };
                action = match answer {
                    Some(n) => dns64.handle_upstream(pending, &buf[..n], Instant::now()),
                    // No answer in time: SERVFAIL to the client.
                    None => Action::Reply(dns64.handle_timeout(pending)),
                };
            }
        }
    }
}

fn main() -> Result<()> {
    let mut cfg = Dns64Config::new("2001:db8:64::/96".parse()?);
    cfg.upstream_timeout = Duration::from_secs(2);
    let dns64 = Dns64::new(cfg)?;

    let up = UdpSocket::bind("127.0.0.1:0")?;
    let up_addr = up.local_addr()?;
    // The AAAA query (no AAAA: NODATA), then the A query DNS64 asks next (RFC 6147 §5.1.6).
    let resolver = std::thread::spawn(move || upstream(up, 2).map_err(|e| e.to_string()));

    let listen = UdpSocket::bind("127.0.0.1:0")?;
    let client = UdpSocket::bind("127.0.0.1:0")?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    client.send_to(&query(0x1234, "v4only.example", 28), listen.local_addr()?)?;

    serve_one(&dns64, &listen, up_addr)?;
    resolver.join().map_err(|_| "upstream panicked")??;

    let mut buf = [0u8; 512];
    let n = client.recv(&mut buf)?;
    let answer = &buf[..n];
    let ancount = u16::from_be_bytes([answer[6], answer[7]]);
    assert_eq!((answer[0], answer[1], answer[3] & 0x0f), (0x12, 0x34, 0), "the client's ID, NOERROR");
    assert_eq!(ancount, 1, "one synthesized AAAA");
    // The AAAA's RDATA is the last 16 bytes (no EDNS in the client's query).
    let aaaa = Ipv6Addr::from(<[u8; 16]>::try_from(&answer[n - 16..])?);
    println!("client: v4only.example. AAAA {aaaa}");
    assert_eq!(aaaa, "2001:db8:64::c633:6407".parse::<Ipv6Addr>()?, "198.51.100.7 under the prefix");
    Ok(())
}
