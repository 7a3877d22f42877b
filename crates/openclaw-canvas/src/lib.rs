//! openclaw-canvas: the gateway's canvas host.
//!
//! Serves the files under a root directory (by default `<workspace>/canvas`)
//! over plain HTTP, with:
//!
//! - content types from the file extension (`text/*` with `charset=utf-8`);
//! - no way out of the root: `..` and `.` segments, percent-encoded
//!   separators or dots, backslashes and NUL bytes are refused (403), and
//!   every resolved path is canonicalized and must still lie under the
//!   canonical root, so a symlink pointing outside is refused too (403);
//! - live reload: HTML responses get a small script injected that opens a
//!   WebSocket to [`RELOAD_PATH`] and reloads the page when the server says
//!   `reload`, which it does whenever a file under the root changes
//!   (filesystem notifications, debounced by [`DEBOUNCE`]).
//!
//! The gateway builds the router with [`router`] (or runs it with [`serve`])
//! after calling [`ensure_root`] once at start-up.

use std::future::Future;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::broadcast;

/// Path of the live-reload WebSocket endpoint.
pub const RELOAD_PATH: &str = "/__openclaw__/reload";
/// Quiet period after the last filesystem event before clients are told to reload.
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// The message sent to live-reload clients when something under the root changed.
pub const RELOAD_MESSAGE: &str = "reload";

const STARTER_INDEX: &str = "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<title>OpenClaw canvas</title>
</head>
<body>
<h1>OpenClaw canvas</h1>
<p>This page is served from the canvas root in your workspace. Edit or add files there;
open pages reload when a file changes.</p>
</body>
</html>
";

/// Options for the canvas host.
#[derive(Debug, Clone)]
pub struct CanvasOptions {
    /// Directory whose files are served. Must exist (see [`ensure_root`]).
    pub root: PathBuf,
    /// Inject the reload script into HTML and serve [`RELOAD_PATH`].
    pub live_reload: bool,
}

/// Errors building the canvas host.
#[derive(Debug, thiserror::Error)]
pub enum CanvasError {
    #[error(
        "canvas root {path} cannot be used: {source} (create it, or point canvasHost.root at an existing directory)"
    )]
    Root { path: PathBuf, source: io::Error },
    #[error(
        "canvas root {0} is not a directory (point canvasHost.root at a directory, or remove the file)"
    )]
    NotADirectory(PathBuf),
    #[error(
        "cannot watch canvas root {path} for live reload: {source} (set canvasHost.liveReload to false to run without it)"
    )]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
}

/// Create the canvas root (and parents) if absent, and write a starter
/// `index.html` into it when it has none. Never overwrites existing files.
pub fn ensure_root(root: &Path) -> Result<(), CanvasError> {
    let err = |source| CanvasError::Root {
        path: root.to_path_buf(),
        source,
    };
    if root.exists() && !root.is_dir() {
        return Err(CanvasError::NotADirectory(root.to_path_buf()));
    }
    std::fs::create_dir_all(root).map_err(err)?;
    if !root.is_dir() {
        return Err(CanvasError::NotADirectory(root.to_path_buf()));
    }
    // All or nothing, never over an existing file.
    openclaw_state::write_new_file(&root.join("index.html"), STARTER_INDEX.as_bytes(), 0o644)
        .map_err(err)?;
    Ok(())
}

struct Inner {
    root: PathBuf,
    live_reload: bool,
    reload_tx: broadcast::Sender<()>,
    // Kept alive for as long as the router (and thus any clone of the state) lives.
    _watcher: Option<notify::RecommendedWatcher>,
}

#[derive(Clone)]
struct AppState(Arc<Inner>);

/// Build the canvas router for `opts.root` (which must exist).
///
/// With live reload on, this starts a filesystem watcher on the root; it
/// stops when the last clone of the router is dropped.
pub fn router(opts: CanvasOptions) -> Result<Router, CanvasError> {
    let root = std::fs::canonicalize(&opts.root).map_err(|source| CanvasError::Root {
        path: opts.root.clone(),
        source,
    })?;
    if !root.is_dir() {
        return Err(CanvasError::NotADirectory(opts.root));
    }
    let (reload_tx, _) = broadcast::channel(16);
    let watcher = if opts.live_reload {
        Some(start_watcher(&root, reload_tx.clone())?)
    } else {
        None
    };
    let state = AppState(Arc::new(Inner {
        root,
        live_reload: opts.live_reload,
        reload_tx,
        _watcher: watcher,
    }));
    let mut app = Router::new();
    if opts.live_reload {
        app = app.route(RELOAD_PATH, get(reload_ws));
    }
    Ok(app.fallback(serve_file).with_state(state))
}

/// Serve the canvas on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    opts: CanvasOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = router(opts).map_err(io::Error::other)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Watch `root` recursively; after each burst of changes (quiet for
/// [`DEBOUNCE`]) send one reload notice. Debouncing runs on a plain thread
/// that ends when the watcher (and with it the event sender) is dropped.
fn start_watcher(
    root: &Path,
    reload_tx: broadcast::Sender<()>,
) -> Result<notify::RecommendedWatcher, CanvasError> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                if matches!(
                    ev.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                ) {
                    let _ = tx.send(());
                }
            }
            Err(e) => tracing::warn!(error = %e, "canvas file watcher error"),
        })
        .map_err(|source| CanvasError::Watch {
            path: root.to_path_buf(),
            source,
        })?;
    watcher
        .watch(root, RecursiveMode::Recursive)
        .map_err(|source| CanvasError::Watch {
            path: root.to_path_buf(),
            source,
        })?;
    std::thread::Builder::new()
        .name("canvas-reload".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Swallow the rest of the burst.
                loop {
                    match rx.recv_timeout(DEBOUNCE) {
                        Ok(()) => continue,
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
                tracing::debug!("canvas changed; telling live-reload clients");
                let _ = reload_tx.send(());
            }
        })
        .map_err(|e| CanvasError::Watch {
            path: root.to_path_buf(),
            source: notify::Error::io(e),
        })?;
    Ok(watcher)
}

async fn reload_ws(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let rx = state.0.reload_tx.subscribe();
    // Do not keep the state (and with it the watcher) alive from the socket task.
    drop(state);
    ws.on_upgrade(move |socket| reload_loop(socket, rx))
}

async fn reload_loop(mut socket: WebSocket, mut rx: broadcast::Receiver<()>) {
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    if socket.send(Message::Text(RELOAD_MESSAGE.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
            m = socket.recv() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Why a request path was refused.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// An attempt to leave the root or smuggle separators: 403.
    Forbidden,
    /// Malformed or non-existent: 404.
    NotFound,
}

fn percent_decode(seg: &str) -> Option<Vec<u8>> {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Turn the raw (still percent-encoded) request path into a relative path
/// made only of normal components. Each raw `/`-separated segment is decoded
/// on its own, so `%2f` can never introduce a separator.
fn relative_path(raw: &str) -> Result<PathBuf, Refusal> {
    let mut rel = PathBuf::new();
    for seg in raw.split('/') {
        if seg.is_empty() {
            continue;
        }
        let bytes = percent_decode(seg).ok_or(Refusal::NotFound)?;
        let s = String::from_utf8(bytes).map_err(|_| Refusal::NotFound)?;
        if s == "." || s == ".." || s.contains(['/', '\\', '\0']) {
            return Err(Refusal::Forbidden);
        }
        // Dotfiles and dot-directories (`.env`, `.git/`, `.openclaw/`) are
        // never served: they hold credentials and state, not pages.
        if s.starts_with('.') {
            return Err(Refusal::NotFound);
        }
        let p = Path::new(&s);
        if !matches!(p.components().next(), Some(Component::Normal(_)))
            || p.components().count() != 1
        {
            return Err(Refusal::Forbidden);
        }
        rel.push(p);
    }
    Ok(rel)
}

fn refuse(r: Refusal) -> Response {
    match r {
        Refusal::Forbidden => (StatusCode::FORBIDDEN, "forbidden\n").into_response(),
        Refusal::NotFound => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// Canonicalize `candidate` and check it is still inside `root`.
fn confine(root: &Path, candidate: &Path) -> Result<PathBuf, Refusal> {
    let real = std::fs::canonicalize(candidate).map_err(|_| Refusal::NotFound)?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(Refusal::Forbidden)
    }
}

async fn serve_file(State(state): State<AppState>, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n").into_response();
    }
    let raw = uri.path();
    let rel = match relative_path(raw) {
        Ok(r) => r,
        Err(r) => return refuse(r),
    };
    let root = &state.0.root;
    let mut real = match confine(root, &root.join(&rel)) {
        Ok(p) => p,
        Err(r) => return refuse(r),
    };
    if real.is_dir() {
        if !raw.ends_with('/') {
            // Relative links in the index must resolve inside the directory.
            // One leading slash: `//host/dir` as a Location would leave the site.
            let loc = format!("/{}/", raw.trim_start_matches('/'));
            return (
                StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, loc)],
                "",
            )
                .into_response();
        }
        real = match confine(root, &real.join("index.html")) {
            Ok(p) => p,
            Err(r) => return refuse(r),
        };
        if !real.is_file() {
            return refuse(Refusal::NotFound);
        }
    }
    let body = match tokio::fs::read(&real).await {
        Ok(b) => b,
        Err(_) => return refuse(Refusal::NotFound),
    };
    let ctype = content_type(&real);
    let is_html = ctype.starts_with("text/html");
    let body = if is_html && state.0.live_reload {
        inject_reload(body)
    } else {
        body
    };
    let mut resp = if method == Method::HEAD {
        let len = body.len();
        let mut r = Response::new(Body::empty());
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        r
    } else {
        Response::new(Body::from(body))
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ctype) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn content_type(path: &Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let essence = mime.essence_str();
    let texty = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            essence,
            "application/javascript" | "application/json" | "image/svg+xml" | "application/xml"
        );
    if texty {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_string()
    }
}

/// The script injected into HTML pages when live reload is on.
pub const RELOAD_SCRIPT: &str = "<script data-openclaw-live-reload>(function(){\
var u=(location.protocol==='https:'?'wss://':'ws://')+location.host+'/__openclaw__/reload';\
function c(){var w=new WebSocket(u);\
w.onmessage=function(e){if(e.data==='reload'){location.reload();}};\
w.onclose=function(){setTimeout(c,1000);};}\
c();})();</script>";

/// Insert [`RELOAD_SCRIPT`] before the last `</body>` (case-insensitive), or
/// append it when the document has none.
fn inject_reload(mut body: Vec<u8>) -> Vec<u8> {
    let lower: Vec<u8> = body.iter().map(|b| b.to_ascii_lowercase()).collect();
    let needle = b"</body>";
    let pos = lower.windows(needle.len()).rposition(|w| w == needle);
    match pos {
        Some(i) => {
            body.splice(i..i, RELOAD_SCRIPT.bytes());
        }
        None => body.extend_from_slice(RELOAD_SCRIPT.as_bytes()),
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_path_rules() {
        let ok = |s: &str| relative_path(s).unwrap();
        assert_eq!(ok("/"), PathBuf::new());
        assert_eq!(ok("/a/b.html"), PathBuf::from("a/b.html"));
        assert_eq!(ok("//etc/passwd"), PathBuf::from("etc/passwd"));
        assert_eq!(ok("/a%20b.txt"), PathBuf::from("a b.txt"));
        for bad in [
            "/..",
            "/../x",
            "/a/../../x",
            "/%2e%2e/x",
            "/%2E%2E/x",
            "/.%2e/x",
            "/a%2f..%2f..%2fx",
            "/a%5c..%5cx",
            "/a\\..\\x",
            "/%00",
            "/./x",
        ] {
            assert_eq!(relative_path(bad), Err(Refusal::Forbidden), "{bad}");
        }
        assert_eq!(relative_path("/%zz"), Err(Refusal::NotFound));
        assert_eq!(relative_path("/%ff"), Err(Refusal::NotFound));
        // Dotfiles are never served, percent-encoded or not.
        for dot in [
            "/.env",
            "/.git/config",
            "/a/.openclaw/openclaw.json",
            "/%2egit/HEAD",
        ] {
            assert_eq!(relative_path(dot), Err(Refusal::NotFound), "{dot}");
        }
    }

    #[test]
    fn injection_before_body_or_appended() {
        let out =
            String::from_utf8(inject_reload(b"<html><BODY>x</BODY></html>".to_vec())).unwrap();
        assert!(out.starts_with("<html><BODY>x<script data-openclaw-live-reload>"));
        assert!(out.ends_with("</script></BODY></html>"));
        let out = String::from_utf8(inject_reload(b"<p>frag".to_vec())).unwrap();
        assert!(out.starts_with("<p>frag<script"));
    }

    #[test]
    fn ensure_root_creates_and_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws/canvas");
        ensure_root(&root).unwrap();
        let idx = std::fs::read_to_string(root.join("index.html")).unwrap();
        assert!(idx.contains("OpenClaw canvas"));
        std::fs::write(root.join("index.html"), "mine").unwrap();
        ensure_root(&root).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("index.html")).unwrap(),
            "mine"
        );
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            ensure_root(&file),
            Err(CanvasError::NotADirectory(_))
        ));
    }
}
