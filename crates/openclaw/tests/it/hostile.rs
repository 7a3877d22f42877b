//! The real binary's handshake timeout: `OPENCLAW_HANDSHAKE_TIMEOUT_MS`
//! (upstream's only knob for it; its gateway has no config key) reaches the
//! gateway, and a client that never sends `connect` is told so.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{GatewayChild, TestHome, free_base_port, setup};

/// The close frame a silent client gets: (code, reason). Reads frames by
/// hand (the server's are unmasked and small).
fn close_of_a_silent_client(port: u16) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    loop {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).unwrap();
        let len = match h[1] & 0x7f {
            126 => {
                let mut l = [0u8; 2];
                s.read_exact(&mut l).unwrap();
                u16::from_be_bytes(l) as usize
            }
            n => n as usize,
        };
        let mut p = vec![0u8; len];
        s.read_exact(&mut p).unwrap();
        if h[0] & 0x0f == 0x8 {
            return (
                u16::from_be_bytes([p[0], p[1]]),
                String::from_utf8_lossy(&p[2..]).into_owned(),
            );
        }
    }
}

#[test]
fn handshake_timeout_comes_from_the_environment() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let _g = GatewayChild::start(
        &home,
        &["--profile", "main", "gateway"],
        &[("OPENCLAW_HANDSHAKE_TIMEOUT_MS", "700")],
        base,
    );
    assert_eq!(
        close_of_a_silent_client(base),
        (
            1008,
            "handshake timeout: no connect request within 700 ms".into()
        )
    );
    // A value that is not a positive number of milliseconds is refused
    // before anything starts.
    let out = home.run_env(
        &["--profile", "main", "gateway", "--port", "1"],
        &[("OPENCLAW_HANDSHAKE_TIMEOUT_MS", "soon")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        crate::harness::text(&out.stderr).contains("OPENCLAW_HANDSHAKE_TIMEOUT_MS"),
        "{}",
        crate::harness::text(&out.stderr)
    );
}
