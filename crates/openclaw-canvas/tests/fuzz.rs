//! Property test of the canvas host's path handling, over a real socket
//! with request targets sent byte for byte: whatever the path (dot
//! segments, percent-encoded separators and dots, backslashes, NULs,
//! doubled slashes, symlinks out of the root), the answer is one of the
//! files under the root or a refusal — never a file outside it, never a
//! dotfile, never a server error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use openclaw_canvas::CanvasOptions;
use proptest::prelude::*;

const OUTSIDE: &str = "SECRET-OUTSIDE-THE-ROOT";
const DOTFILE: &str = "SECRET-IN-A-DOTFILE";

struct Fixture {
    port: u16,
    /// Contents of every file the canvas may serve.
    served: Vec<Vec<u8>>,
    _tmp: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let base: PathBuf = tmp.path().canonicalize().unwrap();
        let root = base.join("canvas");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("public.txt"), "public file").unwrap();
        std::fs::write(
            root.join("index.html"),
            "<html><body>root index</body></html>",
        )
        .unwrap();
        std::fs::write(root.join("sub/page.txt"), "sub page").unwrap();
        std::fs::write(root.join(".env"), DOTFILE).unwrap();
        std::fs::write(root.join(".git/config"), DOTFILE).unwrap();
        std::fs::write(base.join("secret.txt"), OUTSIDE).unwrap();
        std::fs::write(base.join("index.html"), OUTSIDE).unwrap();
        std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(&base, root.join("linkdir")).unwrap();
        let served = vec![
            b"public file".to_vec(),
            b"<html><body>root index</body></html>".to_vec(),
            b"sub page".to_vec(),
        ];
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let opts = CanvasOptions {
            root,
            // No script injection, so served bodies are the files as they are.
            live_reload: false,
        };
        rt.spawn(openclaw_canvas::serve(
            listener,
            opts,
            std::future::pending(),
        ));
        Fixture {
            port,
            served,
            _tmp: tmp,
            _rt: rt,
        }
    })
}

/// `GET <target>` sent as is; (status, body). Status 0: no HTTP answer.
fn get(port: u16, target: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req =
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, buf);
    };
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, buf[split + 4..].to_vec())
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "..", ".", "%2e%2e", "%2E%2e", "%2e", ".%2e", "%2f", "%2F", "%5c", "%5C", "\\",
            "..%2f..", "%00", "%", "%2", "%zz", "%252e%252e", "public.txt", "index.html",
            "sub", "page.txt", "link", "linkdir", "secret.txt", ".env", ".git", "config",
            "%2eenv", "%2egit", "~", ";", "?x=..", "#f", "..;", "...", "sub%2f..%2f..",
            "%c0%ae", "%e2%80%ae", "a b", "%20", "..\\..", "linkdir%2fsecret.txt",
        ]).prop_map(String::from),
        1 => "[a-z.%/\\\\]{1,6}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(segment(), 0..7),
        prop::sample::select(vec!["/", "//", "/./", "\\"]),
        any::<bool>(),
    )
        .prop_map(|(segs, sep, trailing)| {
            let mut t = format!("/{}", segs.join(sep));
            if trailing {
                t.push('/');
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_path_reaches_outside_the_root_or_a_dotfile(t in target()) {
        let f = fixture();
        let (status, body) = get(f.port, &t);
        let text = String::from_utf8_lossy(&body);
        prop_assert!(!text.contains(OUTSIDE), "{t} served a file outside the root");
        prop_assert!(!text.contains(DOTFILE), "{t} served a dotfile");
        prop_assert!(
            matches!(status, 200 | 308 | 400 | 403 | 404),
            "{t}: status {status}"
        );
        if status == 200 {
            prop_assert!(f.served.contains(&body), "{t}: unexpected body {text}");
        }
    }
}

/// The paths above that must keep working, and the ones that must not.
#[test]
fn known_paths() {
    let f = fixture();
    assert_eq!(get(f.port, "/public.txt"), (200, b"public file".to_vec()));
    assert_eq!(get(f.port, "/sub/page.txt").0, 200);
    assert_eq!(get(f.port, "/sub").0, 308);
    for bad in [
        "/link",
        "/linkdir/secret.txt",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/.env",
        "/.git/config",
        "/linkdir/",
    ] {
        let (status, body) = get(f.port, bad);
        assert!(matches!(status, 400 | 403 | 404), "{bad}: {status}");
        assert!(!String::from_utf8_lossy(&body).contains("SECRET"), "{bad}");
    }
}
