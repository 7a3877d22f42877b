//! Hostile and broken clients on real loopback sockets: every way of
//! getting the protocol wrong ends in a close frame whose code and reason
//! say what happened, the gateway keeps serving everyone else, and nothing
//! a client sends makes it hold more than its limits allow.
//! (docs/reliability.md lists each input with the test that shows it.)
//!
//! The client here is a WebSocket written by hand over a blocking
//! `TcpStream`, so a test can send exactly the bytes it means: invalid
//! UTF-8, unmasked or fragmented frames, control frames that are too big,
//! half an HTTP request. No assertion is about time: where a deadline is
//! involved the test checks what happened, with a hang guard around it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Served, free_port, profile_instance, test_options, write_config};
use openclaw_gateway::Gateway;
use serde_json::{Value, json};

const TOKEN: &str = "hostile-test-token-0123456789";
/// Hang guard for any single read.
const GUARD: Duration = Duration::from_secs(10);
/// The handshake timeout these tests run with.
const HANDSHAKE: Duration = Duration::from_millis(400);

struct Running {
    port: u16,
    gateway: Served,
    _tmp: tempfile::TempDir,
}

impl Running {
    async fn stop(self) {
        self.gateway.stop().await;
    }
}

fn start_with(max_payload: Option<usize>) -> Running {
    let tmp = tempfile::tempdir().unwrap();
    let inst = profile_instance(tmp.path(), "main", free_port());
    write_config(
        &inst,
        &json!({"gateway": {"mode": "local", "bind": "loopback", "auth": {"mode": "token", "token": TOKEN}}}),
    );
    let mut o = test_options(&inst);
    o.handshake_timeout = HANDSHAKE;
    if let Some(m) = max_payload {
        o.max_payload = m;
    }
    let gateway = Served::serve(Gateway::bind(o).unwrap());
    Running {
        port: gateway.port,
        gateway,
        _tmp: tmp,
    }
}

fn start() -> Running {
    start_with(None)
}

// ---------------------------------------------------------------- client ----

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONT: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// How a connection ended, from the client's side.
#[derive(Debug, PartialEq)]
enum End {
    /// A close frame with this code and reason.
    Close(u16, String),
    /// The socket closed (or reset) without a close frame.
    Dropped,
}

/// A hand-written WebSocket client over a blocking socket.
struct Raw {
    s: TcpStream,
}

impl Raw {
    /// TCP connect and the HTTP upgrade.
    fn open(port: u16) -> Raw {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(GUARD)).unwrap();
        s.set_write_timeout(Some(GUARD)).unwrap();
        s.set_nodelay(true).unwrap();
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
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        Raw { s }
    }

    /// Opens and reads the `connect.challenge`.
    fn open_challenged(port: u16) -> Raw {
        let mut r = Raw::open(port);
        let ch = r.text().expect("challenge");
        assert_eq!(ch["event"], "connect.challenge");
        r
    }

    /// Opens and authenticates (hello-ok read).
    fn open_authenticated(port: u16) -> Raw {
        let mut r = Raw::open_challenged(port);
        r.send_text(&connect_req().to_string());
        let res = r.text().expect("hello");
        assert_eq!(res["ok"], true, "{res}");
        r
    }

    /// One frame; `masked` as a client must (mask key 0: payload as is).
    fn frame_bytes(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let m = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n <= 0xffff => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            f.extend_from_slice(&[0, 0, 0, 0]);
        }
        f.extend_from_slice(payload);
        f
    }

    fn send_raw(&mut self, bytes: &[u8]) -> bool {
        self.s.write_all(bytes).is_ok()
    }

    fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) -> bool {
        self.send_raw(&Raw::frame_bytes(fin, opcode, payload, true))
    }

    fn send_text(&mut self, text: &str) -> bool {
        self.send_frame(true, TEXT, text.as_bytes())
    }

    /// The next frame from the server: (opcode, payload); `None` at EOF.
    fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut h = [0u8; 2];
        self.s.read_exact(&mut h).ok()?;
        let op = h[0] & 0x0f;
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                self.s.read_exact(&mut b).ok()?;
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                self.s.read_exact(&mut b).ok()?;
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut p = vec![0u8; len];
        self.s.read_exact(&mut p).ok()?;
        Some((op, p))
    }

    /// The next text frame as JSON (pings/pongs skipped); `Err` with how
    /// the connection ended when it ended instead.
    fn text(&mut self) -> Result<Value, End> {
        loop {
            match self.frame() {
                Some((TEXT, p)) => return Ok(serde_json::from_slice(&p).unwrap()),
                Some((CLOSE, p)) if p.len() >= 2 => {
                    return Err(End::Close(
                        u16::from_be_bytes([p[0], p[1]]),
                        String::from_utf8_lossy(&p[2..]).into_owned(),
                    ));
                }
                Some((CLOSE, _)) => return Err(End::Close(1005, String::new())),
                Some(_) => continue,
                None => return Err(End::Dropped),
            }
        }
    }

    /// Reads until the connection ends; how it ended.
    fn end(&mut self) -> End {
        loop {
            if let Err(e) = self.text() {
                return e;
            }
        }
    }

    /// A `health` request and its answer.
    fn health(&mut self, id: &str) -> Value {
        self.send_text(&json!({"type":"req","id":id,"method":"health","params":{}}).to_string());
        loop {
            let f = self.text().expect("health answer");
            if f["id"] == id {
                return f;
            }
        }
    }
}

fn connect_req() -> Value {
    json!({"type":"req","id":"c1","method":"connect","params":{
        "minProtocol":3,"maxProtocol":4,
        "client":{"id":"hostile-test","version":"1","platform":"linux","mode":"cli"},
        "auth":{"token": TOKEN},"role":"operator","scopes":["operator.read"]}})
}

/// Runs blocking client code off the runtime the gateway serves on.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn close_code(e: &End) -> u16 {
    match e {
        End::Close(c, _) => *c,
        End::Dropped => 0,
    }
}

fn reason(e: &End) -> &str {
    match e {
        End::Close(_, r) => r,
        End::Dropped => "",
    }
}

// ------------------------------------------------ before `connect` ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_first_frame_gets_a_close_code_that_says_what_was_wrong() {
    let g = start();
    let port = g.port;
    blocking(move || {
        // Not JSON.
        let mut r = Raw::open_challenged(port);
        r.send_text("hello?");
        let e = r.end();
        assert_eq!(close_code(&e), 1007, "{e:?}");
        assert!(reason(&e).starts_with("invalid JSON:"), "{e:?}");

        // Not UTF-8.
        let mut r = Raw::open_challenged(port);
        r.send_frame(true, TEXT, &[b'{', 0xff, 0xfe, b'}']);
        assert_eq!(
            r.end(),
            End::Close(1007, "invalid UTF-8 in a text frame".into())
        );

        // A binary frame.
        let mut r = Raw::open_challenged(port);
        r.send_frame(true, BINARY, connect_req().to_string().as_bytes());
        let e = r.end();
        assert_eq!(close_code(&e), 1003, "{e:?}");
        assert!(
            reason(&e).contains("binary frames are not supported"),
            "{e:?}"
        );

        // JSON, but not a request (wrong first frame).
        let mut r = Raw::open_challenged(port);
        r.send_text(r#"{"type":"event","event":"hello"}"#);
        assert_eq!(
            r.end(),
            End::Close(
                1008,
                "invalid handshake: first request must be connect".into()
            )
        );

        // A request, but not `connect`: answered, then 1008.
        let mut r = Raw::open_challenged(port);
        r.send_text(r#"{"type":"req","id":"h","method":"health","params":{}}"#);
        let res = r.text().unwrap();
        assert_eq!(res["error"]["code"], "INVALID_REQUEST");
        assert_eq!(close_code(&r.end()), 1008);

        // Nesting deeper than the JSON parser's recursion limit: invalid
        // JSON, not a stack overflow.
        let mut r = Raw::open_challenged(port);
        r.send_text(&format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)));
        let e = r.end();
        assert_eq!(close_code(&e), 1007, "{e:?}");
        assert!(reason(&e).contains("recursion limit"), "{e:?}");

        // Silence: the handshake timeout, named as such.
        let mut r = Raw::open_challenged(port);
        assert_eq!(
            r.end(),
            End::Close(
                1008,
                format!(
                    "handshake timeout: no connect request within {} ms",
                    HANDSHAKE.as_millis()
                )
            )
        );

        // More than 64 KiB before connect, in one frame.
        let mut r = Raw::open_challenged(port);
        let mut req = connect_req();
        req["params"]["client"]["pad"] = json!("p".repeat(70 * 1024));
        r.send_text(&req.to_string());
        assert_eq!(
            r.end(),
            End::Close(
                1009,
                "message too big: at most 64 KiB before connect".into()
            )
        );
    })
    .await;
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_protocol_violations_close_1002() {
    let g = start();
    let port = g.port;
    blocking(move || {
        for (what, bytes) in [
            (
                "unmasked client frame",
                Raw::frame_bytes(true, TEXT, b"{}", false),
            ),
            (
                "control frame over 125 bytes",
                Raw::frame_bytes(true, PING, &[b'p'; 200], true),
            ),
            (
                "fragmented control frame",
                Raw::frame_bytes(false, PING, b"p", true),
            ),
            (
                "continuation without a start",
                Raw::frame_bytes(true, CONT, b"{}", true),
            ),
            ("reserved bits set", {
                let mut f = Raw::frame_bytes(true, TEXT, b"{}", true);
                f[0] |= 0x40;
                f
            }),
            ("reserved opcode", Raw::frame_bytes(true, 0x3, b"{}", true)),
        ] {
            for authenticated in [false, true] {
                let mut r = if authenticated {
                    Raw::open_authenticated(port)
                } else {
                    Raw::open_challenged(port)
                };
                r.send_raw(&bytes);
                let e = r.end();
                assert_eq!(
                    close_code(&e),
                    1002,
                    "{what} (authenticated: {authenticated}): {e:?}"
                );
                assert!(reason(&e).starts_with("protocol error"), "{what}: {e:?}");
            }
        }
        // A close frame with a code no endpoint may send: tungstenite
        // answers "Protocol violation" itself.
        let mut r = Raw::open_authenticated(port);
        r.send_frame(true, CLOSE, &999u16.to_be_bytes());
        assert_eq!(close_code(&r.end()), 1002);
    })
    .await;
    g.stop().await;
}

// ------------------------------------------------- after `connect` ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_after_connect_close_with_what_was_wrong() {
    let g = start_with(Some(64 * 1024));
    let port = g.port;
    blocking(move || {
        let mut r = Raw::open_authenticated(port);
        r.send_text("{not json");
        let e = r.end();
        assert_eq!(close_code(&e), 1007, "{e:?}");
        assert!(reason(&e).starts_with("invalid JSON:"), "{e:?}");

        let mut r = Raw::open_authenticated(port);
        r.send_frame(true, TEXT, b"\"\xc3\x28\"");
        assert_eq!(
            r.end(),
            End::Close(1007, "invalid UTF-8 in a text frame".into())
        );

        let mut r = Raw::open_authenticated(port);
        r.send_frame(true, BINARY, b"\x00\x01");
        assert_eq!(close_code(&r.end()), 1003);

        // JSON of the wrong shape.
        let mut r = Raw::open_authenticated(port);
        r.send_text(r#"{"type":"req","id":7}"#);
        let e = r.end();
        assert_eq!(close_code(&e), 1008, "{e:?}");
        assert!(reason(&e).starts_with("invalid frame:"), "{e:?}");

        // Deep nesting inside a request's params.
        let mut r = Raw::open_authenticated(port);
        r.send_text(&format!(
            r#"{{"type":"req","id":"d","method":"health","params":{}}}"#,
            "[".repeat(10_000)
        ));
        let e = r.end();
        assert_eq!(close_code(&e), 1007, "{e:?}");
        assert!(reason(&e).contains("recursion limit"), "{e:?}");

        // Over maxPayload (64 KiB here): refused from the frame header,
        // before the payload is read.
        let mut r = Raw::open_authenticated(port);
        let body = format!(
            r#"{{"type":"req","id":"b","method":"health","params":{{"pad":"{}"}}}}"#,
            "x".repeat(100 * 1024)
        );
        r.send_text(&body);
        let e = r.end();
        assert_eq!(close_code(&e), 1009, "{e:?}");
        assert!(reason(&e).starts_with("message too big: "), "{e:?}");

        // The same message in small fragments: the limit is on the
        // message, not only the frame.
        let mut r = Raw::open_authenticated(port);
        let chunks: Vec<&[u8]> = body.as_bytes().chunks(8 * 1024).collect();
        for (i, c) in chunks.iter().enumerate() {
            let op = if i == 0 { TEXT } else { CONT };
            if !r.send_frame(i + 1 == chunks.len(), op, c) {
                break;
            }
        }
        assert_eq!(close_code(&r.end()), 1009);
    })
    .await;
    g.stop().await;
}

// --------------------------------------------- what keeps working ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragmented_frames_and_interleaved_pings_are_reassembled() {
    let g = start();
    let port = g.port;
    blocking(move || {
        // `connect` in 7-byte fragments with a ping between each.
        let mut r = Raw::open_challenged(port);
        let req = connect_req().to_string();
        let chunks: Vec<&[u8]> = req.as_bytes().chunks(7).collect();
        for (i, c) in chunks.iter().enumerate() {
            let op = if i == 0 { TEXT } else { CONT };
            r.send_frame(i + 1 == chunks.len(), op, c);
            r.send_frame(true, PING, b"p");
        }
        let hello = r.text().unwrap();
        assert_eq!(hello["ok"], true, "{hello}");
        // A request in one-byte fragments.
        let req = r#"{"type":"req","id":"f1","method":"health","params":{}}"#;
        let n = req.len();
        for (i, b) in req.bytes().enumerate() {
            r.send_frame(i + 1 == n, if i == 0 { TEXT } else { CONT }, &[b]);
        }
        loop {
            let f = r.text().unwrap();
            if f["id"] == "f1" {
                assert_eq!(f["ok"], true, "{f}");
                break;
            }
        }
    })
    .await;
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_floods_are_answered_within_limits() {
    let g = start();
    let port = g.port;
    blocking(move || {
        // Before connect, pings count against the 64 KiB allowance. (The
        // client reads its pongs meanwhile, as a client does: one that
        // never reads gets a reset instead, since the gateway's close
        // frame cannot get past its full receive window.)
        let mut r = Raw::open_challenged(port);
        let mut reader = Raw {
            s: r.s.try_clone().unwrap(),
        };
        let reader = std::thread::spawn(move || reader.end());
        let ping = Raw::frame_bytes(true, PING, &[b'p'; 125], true);
        for _ in 0..600 {
            if !r.send_raw(&ping) {
                break;
            }
        }
        assert_eq!(
            reader.join().unwrap(),
            End::Close(
                1009,
                "message too big: at most 64 KiB before connect".into()
            )
        );

        // After connect: 20 000 pings (2.6 MB) without reading a single
        // pong. tungstenite keeps only the latest pong pending, so the
        // flood costs no memory; a request after it is answered.
        let mut r = Raw::open_authenticated(port);
        let mut burst = Vec::new();
        for _ in 0..200 {
            burst.extend_from_slice(&ping);
        }
        for _ in 0..100 {
            assert!(r.send_raw(&burst), "the gateway stopped reading");
        }
        assert_eq!(r.health("after-flood")["ok"], true);
    })
    .await;
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_sockets_are_cut_off_and_others_still_get_in() {
    let g = start();
    let port = g.port;
    blocking(move || {
        // 200 sockets that never send a byte: more than the 128 pre-auth
        // slots. A real client still gets in (once slots free up it is
        // accepted from the kernel's queue; never refused).
        let idle: Vec<TcpStream> = (0..200)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let mut r = Raw::open_authenticated(port);
        assert_eq!(r.health("past-the-idle")["ok"], true);
        // Every idle socket is closed by the gateway (EOF), none is kept.
        for mut s in idle {
            s.set_read_timeout(Some(GUARD)).unwrap();
            let mut b = [0u8; 64];
            match s.read(&mut b) {
                Ok(0) | Err(_) => {}
                Ok(n) => panic!("an idle socket got {n} bytes"),
            }
        }

        // Slowloris: the upgrade request one byte at a time, 50 ms apart.
        // The gateway closes the socket long before the headers end.
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let req = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Pad: {}\r\n\r\n",
            "s".repeat(400)
        );
        let mut sent = 0;
        let mut closed = false;
        for b in req.bytes() {
            if s.write_all(&[b]).is_err() {
                closed = true;
                break;
            }
            sent += 1;
            let mut buf = [0u8; 16];
            match s.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => panic!("the gateway answered a partial request: {n} bytes"),
                Err(_) => {}
            }
        }
        assert!(closed, "the slow request was never cut off");
        assert!(sent < req.len(), "all {sent} bytes went through");
    })
    .await;
    g.stop().await;
}

/// One plain HTTP request on a keep-alive connection; `false` once the
/// gateway has closed it.
fn http_ping(s: &mut TcpStream, port: u16) -> bool {
    if write!(s, "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").is_err() {
        return false;
    }
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

fn keepalive_socket(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holding_every_preauth_slot_does_not_lock_the_owner_out() {
    let g = start();
    let port = g.port;
    blocking(move || {
        // The attacker: 200 unauthenticated keep-alive connections (more
        // than the 128 pre-auth slots), each making a request every
        // ~50 ms so no per-request deadline ever runs out, and replacing
        // any connection the gateway closes. Before, they held every slot
        // for as long as they liked and the owner waited in the accept
        // queue forever.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let attacker = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut socks: Vec<TcpStream> = (0..200).map(|_| keepalive_socket(port)).collect();
                let mut replaced = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for s in socks.iter_mut() {
                        if !http_ping(s, port) {
                            *s = keepalive_socket(port);
                            replaced += 1;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                replaced
            })
        };
        std::thread::sleep(Duration::from_millis(500));
        // The owner gets in (its handshake is well within its grace), and
        // again.
        for i in 0..3 {
            let mut r = Raw::open_authenticated(port);
            assert_eq!(r.health(&format!("owner-{i}"))["ok"], true);
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut r = Raw::open_authenticated(port);
        let h = r.health("owner-last");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let replaced = attacker.join().unwrap();
        assert!(
            h["payload"]["preauthEvictions"].as_u64().unwrap() > 0,
            "{h}"
        );
        assert!(
            replaced > 0,
            "the gateway closed none of the attacker's connections"
        );
    })
    .await;
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_keepalive_connection_has_an_absolute_lifetime() {
    let g = start();
    let port = g.port;
    blocking(move || {
        // A request every 200 ms re-arms the per-request deadline each
        // time; the connection is still closed at its absolute pre-auth
        // lifetime (a few seconds with these tests' handshake timeout).
        let mut s = keepalive_socket(port);
        let mut closed = false;
        for _ in 0..150 {
            if !http_ping(&mut s, port) {
                closed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(closed, "an unauthenticated connection lived 30 s");
    })
    .await;
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_many_headers_are_refused_without_an_upgrade() {
    let g = start();
    let port = g.port;
    blocking(move || {
        let attempt = |extra: String| -> String {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(GUARD)).unwrap();
            let req = format!(
                "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
            );
            let _ = s.write_all(req.as_bytes());
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        };
        // One 1 MB header: past the 64 KiB pre-auth allowance.
        let out = attempt(format!("X-Big: {}\r\n", "b".repeat(1024 * 1024)));
        assert!(!out.starts_with("HTTP/1.1 101"), "{out}");
        // 500 headers: more than the HTTP parser takes.
        let many: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
        let out = attempt(many);
        assert!(!out.starts_with("HTTP/1.1 101"), "{out}");
        // The gateway still serves.
        let mut r = Raw::open_authenticated(port);
        assert_eq!(r.health("after-headers")["ok"], true);
    })
    .await;
    g.stop().await;
}

/// A frame header announcing 24 MiB before `connect` makes the WebSocket
/// layer reserve that much address space; only what is actually received
/// (at most 64 KiB) becomes memory. 64 such connections stay well under
/// what 64 × 24 MiB would be if the reservation were touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_huge_frames_before_connect_do_not_become_memory() {
    fn rss_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let l = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        l.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
    let g = start();
    let port = g.port;
    let before = rss_kib();
    let socks = blocking(move || {
        (0..64)
            .map(|_| {
                let mut r = Raw::open_challenged(port);
                let len: u64 = 24 * 1024 * 1024;
                let mut hdr = vec![0x81u8, 0x80 | 127];
                hdr.extend_from_slice(&len.to_be_bytes());
                hdr.extend_from_slice(&[0, 0, 0, 0]);
                r.send_raw(&hdr);
                // 60 KiB of it: under the pre-auth allowance, so the
                // connection stays open holding its buffer.
                r.send_raw(&vec![b'x'; 60 * 1024]);
                r
            })
            .collect::<Vec<_>>()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 200,
        "RSS grew {grown_mib} MiB for 64 pre-auth frames (64 × 24 MiB would be 1536)"
    );
    drop(socks);
    g.stop().await;
}
