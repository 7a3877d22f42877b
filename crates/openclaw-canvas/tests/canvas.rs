//! The canvas host over real loopback sockets, with a hand-written HTTP/1.1
//! client so that request paths reach the server exactly as written (HTTP
//! client libraries normalize `..` away before sending).

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use openclaw_canvas::{CanvasOptions, RELOAD_PATH, ensure_root};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GUARD: Duration = Duration::from_secs(20);

struct Server {
    port: u16,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(root: &Path, live_reload: bool) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let opts = CanvasOptions {
        root: root.to_path_buf(),
        live_reload,
    };
    tokio::spawn(async move {
        openclaw_canvas::serve(listener, opts, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server { port, _stop: tx }
}

struct Resp {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

async fn raw_get(port: u16, path: &str) -> Resp {
    tokio::time::timeout(GUARD, async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("header end");
        let head = String::from_utf8_lossy(&buf[..split]).to_string();
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        Resp {
            status,
            headers: head.to_ascii_lowercase(),
            body: buf[split + 4..].to_vec(),
        }
    })
    .await
    .expect("request hung")
}

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[tokio::test]
async fn serves_files_with_content_types() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("canvas");
    ensure_root(&root).unwrap();
    std::fs::write(root.join("app.js"), "console.log(1)").unwrap();
    std::fs::write(root.join("style.css"), "body{}").unwrap();
    std::fs::write(root.join("data.json"), "{}").unwrap();
    std::fs::write(root.join("pic.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    std::fs::write(root.join("blob.weirdext"), b"\x00\x01").unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/index.html"), "<html><body>sub</body></html>").unwrap();
    std::fs::write(root.join("with space.txt"), "spaced").unwrap();
    let srv = start(&root, true).await;

    let cases = [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/data.json", "application/json; charset=utf-8"),
        ("/pic.png", "image/png"),
        ("/blob.weirdext", "application/octet-stream"),
        ("/sub/", "text/html; charset=utf-8"),
        ("/with%20space.txt", "text/plain; charset=utf-8"),
    ];
    for (path, ctype) in cases {
        let r = raw_get(srv.port, path).await;
        assert_eq!(r.status, 200, "{path}");
        let got = header(&r, "content-type").unwrap();
        // mime_guess may say application/javascript or text/javascript.
        if path == "/app.js" {
            assert!(got.contains("javascript"), "{path}: {got}");
        } else {
            assert_eq!(got, ctype, "{path}");
        }
    }
    let r = raw_get(srv.port, "/with%20space.txt").await;
    assert_eq!(r.body, b"spaced");

    // HTML gets the reload script, other files are byte-for-byte.
    let r = raw_get(srv.port, "/").await;
    let html = String::from_utf8(r.body).unwrap();
    assert!(html.contains("OpenClaw canvas"));
    assert!(html.contains(RELOAD_PATH));
    assert!(html.find("data-openclaw-live-reload").unwrap() < html.rfind("</body>").unwrap());
    assert_eq!(raw_get(srv.port, "/app.js").await.body, b"console.log(1)");

    // A directory without the trailing slash redirects so relative links work.
    let r = raw_get(srv.port, "/sub").await;
    assert_eq!(r.status, 308);
    assert_eq!(header(&r, "location"), Some("/sub/"));
    // ...and never to another site: `//evil.com` must not become a
    // protocol-relative Location.
    std::fs::create_dir(root.join("evilhost")).unwrap();
    for target in ["//evilhost", "///evilhost"] {
        let r = raw_get(srv.port, target).await;
        let loc = header(&r, "location");
        assert!(
            loc.is_none_or(|l| !l.starts_with("//")),
            "{target}: {loc:?}"
        );
    }
    let r = raw_get(srv.port, "/evilhost").await;
    assert_eq!(header(&r, "location"), Some("/evilhost/"));

    assert_eq!(raw_get(srv.port, "/missing.html").await.status, 404);
}

#[tokio::test]
async fn without_live_reload_nothing_is_injected() {
    let dir = tempfile::tempdir().unwrap();
    ensure_root(dir.path()).unwrap();
    let srv = start(dir.path(), false).await;
    let r = raw_get(srv.port, "/").await;
    assert_eq!(r.status, 200);
    assert!(!String::from_utf8(r.body).unwrap().contains(RELOAD_PATH));
    assert_eq!(raw_get(srv.port, RELOAD_PATH).await.status, 404);
}

#[tokio::test]
async fn traversal_attempts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("canvas");
    ensure_root(&root).unwrap();
    // A secret next to the root, and one at an absolute path.
    std::fs::write(dir.path().join("secret.txt"), "TOP-SECRET").unwrap();
    let abs_secret = dir.path().join("secret.txt");
    let srv = start(&root, true).await;

    let attempts = [
        "/../secret.txt".to_string(),
        "/sub/../../secret.txt".to_string(),
        "/%2e%2e/secret.txt".to_string(),
        "/%2E%2E/secret.txt".to_string(),
        "/.%2e/secret.txt".to_string(),
        "/%2e%2e%2fsecret.txt".to_string(),
        "/..%2fsecret.txt".to_string(),
        "/..%2Fsecret.txt".to_string(),
        "/..%5csecret.txt".to_string(),
        "/..\\secret.txt".to_string(),
        "/%252e%252e/secret.txt".to_string(),
        format!("/{}", abs_secret.display()),
        format!("/{}", abs_secret.display()).replace('/', "%2f"),
        "//etc/passwd".to_string(),
        "/etc/passwd".to_string(),
        "/%00".to_string(),
        "/index.html%00.txt".to_string(),
    ];
    for path in &attempts {
        let r = raw_get(srv.port, path).await;
        assert!(
            r.status == 403 || r.status == 404 || r.status == 400,
            "{path} -> {}",
            r.status
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains("TOP-SECRET"),
            "{path} leaked the secret"
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains("root:"),
            "{path} leaked /etc/passwd"
        );
    }
    // The explicit dot-dot forms are 403 specifically.
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
    ] {
        assert_eq!(raw_get(srv.port, path).await.status, 403, "{path}");
    }
}

#[tokio::test]
async fn symlinks_out_of_the_root_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("canvas");
    ensure_root(&root).unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "TOP-SECRET").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("linkdir")).unwrap();
    // A symlink that stays inside is fine.
    std::fs::write(root.join("real.txt"), "inside").unwrap();
    std::os::unix::fs::symlink(root.join("real.txt"), root.join("alias.txt")).unwrap();
    let srv = start(&root, true).await;

    for path in ["/link.txt", "/linkdir/secret.txt", "/linkdir/"] {
        let r = raw_get(srv.port, path).await;
        assert_eq!(r.status, 403, "{path}");
        assert!(!String::from_utf8_lossy(&r.body).contains("TOP-SECRET"));
    }
    let r = raw_get(srv.port, "/alias.txt").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"inside");
}

#[tokio::test]
async fn changing_a_file_tells_connected_clients_to_reload() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("canvas");
    ensure_root(&root).unwrap();
    std::fs::create_dir(root.join("deep")).unwrap();
    let srv = start(&root, true).await;

    let url = format!("ws://127.0.0.1:{}{}", srv.port, RELOAD_PATH);
    let (mut ws, _) = tokio::time::timeout(GUARD, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect hung")
        .expect("connect");

    for (i, file) in ["index.html", "deep/new.css"].iter().enumerate() {
        std::fs::write(root.join(file), format!("<p>edit {i}</p>")).unwrap();
        let msg = tokio::time::timeout(GUARD, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no reload message after editing {file}"))
            .expect("socket closed")
            .expect("socket error");
        assert_eq!(msg.into_text().unwrap().as_str(), "reload");
    }
}
