//! PROXY protocol against HAProxy (Debian `haproxy`): what HAProxy sends with
//! `send-proxy-v2` (with its CRC32c and unique ID) and `send-proxy` decodes to the real
//! client; headers made by `encode_v2`/`encode_v1` are accepted by HAProxy's
//! `accept-proxy` and passed on with the same source and authority; a header with a wrong
//! checksum is refused by HAProxy. Skips when `haproxy` is not installed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sixgate_proxy::proxy_protocol::*;
use sixgate_proxy::Peek;

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Reads one PROXY header (and `tail` further bytes) from the next connection on `l`.
fn read_header(l: &TcpListener, tail: usize) -> (Header, Vec<u8>) {
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 64];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "haproxy closed before the header was complete: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
        if let Peek::Done((h, len)) = decode(&buf).unwrap() {
            while buf.len() < len + tail {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "haproxy closed early");
                buf.extend_from_slice(&chunk[..n]);
            }
            return (h, buf[len..].to_vec());
        }
    }
}

#[test]
fn haproxy_cross_check() {
    let on_path =
        |t: &str| std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(t).is_file());
    if !on_path("haproxy") {
        eprintln!("skipping: haproxy not installed");
        return;
    }
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let be = backend.local_addr().unwrap();
    let [ready, plain, accept, v1out] = [free_port(), free_port(), free_port(), free_port()];
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n  maxconn 100\n\
             defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 20s\n  timeout server 20s\n\
             frontend ready\n  bind 127.0.0.1:{ready}\n  tcp-request connection reject\n\
             frontend plain\n  bind 127.0.0.1:{plain}\n  unique-id-format uid-%ci-%cp\n  default_backend v2crc\n\
             frontend accept\n  bind 127.0.0.1:{accept} accept-proxy\n  default_backend v2auth\n\
             frontend v1out\n  bind 127.0.0.1:{v1out}\n  default_backend v1\n\
             backend v2crc\n  server s {be} send-proxy-v2 proxy-v2-options crc32c,unique-id\n\
             backend v2auth\n  server s {be} send-proxy-v2 proxy-v2-options authority,crc32c\n\
             backend v1\n  server s {be} send-proxy\n"
        ),
    )
    .unwrap();
    let check = Command::new("haproxy").arg("-c").arg("-f").arg(&cfg).output().unwrap();
    assert!(check.status.success(), "haproxy -c: {}", String::from_utf8_lossy(&check.stderr));
    let _h = Haproxy(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // All listeners are bound together; the one that rejects tells they are up.
    for i in 0.. {
        if TcpStream::connect(("127.0.0.1", ready)).is_ok() {
            break;
        }
        assert!(i < 200, "haproxy did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    // 1. HAProxy's v2 with CRC32c and a unique ID: decoded to the real client.
    let mut c = TcpStream::connect(("127.0.0.1", plain)).unwrap();
    c.write_all(b"ping").unwrap();
    let (h, rest) = read_header(&backend, 4);
    let me = c.local_addr().unwrap();
    assert_eq!(h.addresses, Some((me, SocketAddr::from(([127, 0, 0, 1], plain)))));
    assert!(h.tlv(PP2_TYPE_CRC32C).is_some(), "haproxy sent no checksum: {h:?}");
    assert_eq!(h.tlv(PP2_TYPE_UNIQUE_ID), Some(format!("uid-127.0.0.1-{}", me.port()).as_bytes()));
    assert_eq!(rest, b"ping", "the header length is right: the client's bytes follow");
    drop(c);

    // 2. Our v2 (IPv4, authority, checksum) through accept-proxy: HAProxy passes on the
    //    same source and authority.
    let (src, dst) = ("192.0.2.7:51000".parse().unwrap(), SocketAddr::from(([198, 51, 100, 1], 443)));
    let ours = encode_v2_with(src, dst, &V2Tlvs { authority: Some("site.example"), crc32c: true, ..V2Tlvs::default() });
    let mut c = TcpStream::connect(("127.0.0.1", accept)).unwrap();
    c.write_all(&[ours.as_slice(), b"data"].concat()).unwrap();
    let (h, rest) = read_header(&backend, 4);
    assert_eq!(h.addresses, Some((src, dst)));
    assert_eq!(h.authority(), Some("site.example"));
    assert_eq!(rest, b"data");
    drop(c);

    // 3. Our v1 TCP6 through accept-proxy: HAProxy's v2 carries the IPv6 addresses.
    let (src6, dst6): (SocketAddr, SocketAddr) =
        ("[2001:db8::7]:4242".parse().unwrap(), "[64:ff9b::c633:6401]:80".parse().unwrap());
    let mut c = TcpStream::connect(("127.0.0.1", accept)).unwrap();
    c.write_all(&[encode_v1(src6, dst6).as_slice(), b"x"].concat()).unwrap();
    let (h, rest) = read_header(&backend, 1);
    assert_eq!(h.addresses, Some((src6, dst6)));
    assert_eq!(h.authority(), None);
    assert_eq!(rest, b"x");
    drop(c);

    // 4. Our v2 with IPv6 addresses and a unique ID (no checksum): accepted the same way.
    let mut c = TcpStream::connect(("127.0.0.1", accept)).unwrap();
    c.write_all(&encode_v2(src6, dst6, &[Tlv::unique_id(b"abc"), Tlv::authority("v6.example")])).unwrap();
    c.write_all(b"y").unwrap();
    let (h, _) = read_header(&backend, 1);
    assert_eq!((h.addresses, h.authority()), (Some((src6, dst6)), Some("v6.example")));
    drop(c);

    // 5. HAProxy's v1.
    let mut c = TcpStream::connect(("127.0.0.1", v1out)).unwrap();
    c.write_all(b"z").unwrap();
    let (h, rest) = read_header(&backend, 1);
    assert_eq!(h.addresses, Some((c.local_addr().unwrap(), SocketAddr::from(([127, 0, 0, 1], v1out)))));
    assert_eq!(rest, b"z");
    drop(c);

    // 6. A wrong checksum: HAProxy refuses the connection and never reaches the backend.
    let mut bad = ours.clone();
    let at = bad.len() - 1;
    bad[at] ^= 0xff;
    let mut c = TcpStream::connect(("127.0.0.1", accept)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(&bad).unwrap();
    let mut sink = [0u8; 16];
    match c.read(&mut sink) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("haproxy kept a connection with a bad checksum: {other:?}"),
    }
    // The next good connection is the next one the backend sees.
    let mut c2 = TcpStream::connect(("127.0.0.1", accept)).unwrap();
    c2.write_all(&encode_v1(src, dst)).unwrap();
    c2.write_all(b"k").unwrap();
    let (h, rest) = read_header(&backend, 1);
    assert_eq!((h.addresses, rest), (Some((src, dst)), b"k".to_vec()));
}
