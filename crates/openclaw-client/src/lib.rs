//! WebSocket client of the gateway protocol, for the CLI and tests.
//!
//! [`connect`] performs the challenge / `connect` handshake and returns a
//! [`Client`] whose [`Client::call`] sends requests and awaits their
//! responses; events arrive on [`Client::next_event`]. [`probe`] finds an
//! instance's running gateway (owner record first, then the resolved port)
//! and checks that the gateway that answered owns the expected state dir.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use openclaw_instance::Instance;
use openclaw_protocol::{
    ClientInfo, ConnectAuth, ConnectParams, ErrorShape, EventFrame, Frame, HelloOk, PROTOCOL_MAX,
    PROTOCOL_MIN, Request, Response, codes, events, methods,
};
use openclaw_state::owner::{OwnerRecord, live_owner};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Response>>>>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("gateway at {url} refused the connection: {error}")]
    Rejected {
        url: String,
        error: ErrorShape,
        close_code: Option<u16>,
    },
    #[error("gateway at {url} did not complete the handshake: {message}")]
    Handshake { url: String, message: String },
    /// No answer in time; `stage` names what was awaited, and so the
    /// likely cause.
    #[error("timed out after {after:?} {stage}")]
    Timeout { after: Duration, stage: Stage },
    /// Something answers where this instance's gateway would, but it is not
    /// that gateway (no live owner record, or the recorded pid does not
    /// hold the connection): the credentials were not sent.
    #[error(
        "port {port} is answered by something that is not the gateway of state dir {}: {detail}; its credentials were not sent",
        state_dir.display()
    )]
    NotThisGateway {
        port: u16,
        state_dir: PathBuf,
        detail: String,
    },
    #[error(
        "WRONG INSTANCE: the gateway on port {port} belongs to state dir {actual} (profile {actual_profile}), not to the expected state dir {expected}. Another instance is using this instance's port: check `openclaw --profile <name> status` for both, and give each its own port."
    )]
    WrongInstance {
        port: u16,
        expected: PathBuf,
        actual: PathBuf,
        actual_profile: String,
    },
}

/// How far a connection got before it timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The TCP connect itself.
    Tcp,
    /// The WebSocket upgrade (TCP connected).
    Upgrade,
    /// The gateway's `connect.challenge` (upgraded).
    Challenge,
    /// The answer to `connect` (credentials sent).
    Hello,
}

impl Stage {
    fn from_u8(v: u8) -> Stage {
        match v {
            0 => Stage::Tcp,
            1 => Stage::Upgrade,
            2 => Stage::Challenge,
            _ => Stage::Hello,
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Tcp => {
                "connecting to the gateway: nothing accepted the TCP connection (a firewall drops it, or the host is unreachable)"
            }
            Stage::Upgrade => {
                "waiting for the gateway to answer the WebSocket upgrade: the port accepted the connection but nothing answered (the gateway is stalled or overloaded, e.g. by many unauthenticated connections; its health reports preauthEvictions)"
            }
            Stage::Challenge => {
                "waiting for the gateway's connect challenge: the upgrade succeeded but the gateway said nothing (it is stalled or overloaded)"
            }
            Stage::Hello => {
                "waiting for the gateway to answer connect: it received the credentials but did not answer (it is busy, or waiting on a device approval)"
            }
        })
    }
}

/// Options of [`connect`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub token: Option<String>,
    pub password: Option<String>,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub client_version: String,
    pub timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            token: None,
            password: None,
            scopes: vec!["operator.read".into()],
            client_id: "cli".into(),
            client_version: env!("CARGO_PKG_VERSION").into(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// A connected, authenticated client.
pub struct Client {
    url: String,
    hello: HelloOk,
    sink: Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>>,
    pending: Pending,
    events: mpsc::UnboundedReceiver<EventFrame>,
    next_id: AtomicU64,
    reader: tokio::task::JoinHandle<Option<(u16, String)>>,
}

/// Connects to `url` with `token` and the given scopes.
pub async fn connect(
    url: &str,
    token: Option<&str>,
    scopes: &[&str],
) -> Result<Client, ClientError> {
    connect_with(
        url,
        ConnectOptions {
            token: token.map(str::to_string),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..ConnectOptions::default()
        },
    )
    .await
}

pub async fn connect_with(url: &str, opts: ConnectOptions) -> Result<Client, ClientError> {
    let timeout = opts.timeout;
    let stage = AtomicU8::new(0);
    tokio::time::timeout(timeout, connect_inner(url, None, opts, None, &stage))
        .await
        .map_err(|_| ClientError::Timeout {
            after: timeout,
            stage: Stage::from_u8(stage.load(Ordering::Relaxed)),
        })?
}

/// Checked after the challenge and before `connect` (which carries the
/// credentials): the addresses of the connection (gateway's end, ours).
type PreAuthCheck<'a> = &'a (dyn Fn(SocketAddr, SocketAddr) -> Result<(), Box<ClientError>> + Sync);

/// The handshake over `stream` (when given, already connected to `url`'s
/// host and port), else over a new connection to `url`. `pre_auth` (with a
/// given stream) decides, once the gateway has sent its challenge, whether
/// the credentials may go to it.
async fn connect_inner(
    url: &str,
    stream: Option<TcpStream>,
    opts: ConnectOptions,
    pre_auth: Option<PreAuthCheck<'_>>,
    stage: &AtomicU8,
) -> Result<Client, ClientError> {
    stage.store(
        if stream.is_some() {
            Stage::Upgrade
        } else {
            Stage::Tcp
        } as u8,
        Ordering::Relaxed,
    );
    let addrs = stream
        .as_ref()
        .and_then(|s| Some((s.peer_addr().ok()?, s.local_addr().ok()?)));
    // TCP_NODELAY (a request must not wait for the ACK of the previous
    // one) and an 8 KiB read buffer (tungstenite zero-fills it before
    // every read; the default is 128 KiB).
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(8 * 1024);
    let connect_err = |e: tokio_tungstenite::tungstenite::Error| ClientError::Connect {
        url: url.to_string(),
        message: e.to_string(),
    };
    // A plain ws:// URL: the TCP connect first, so a timeout can tell a
    // port that drops connections from a gateway that does not answer.
    let stream = match stream {
        Some(s) => Some(s),
        None => match url.parse::<tokio_tungstenite::tungstenite::http::Uri>() {
            Ok(u) if u.scheme_str() == Some("ws") && u.host().is_some() => {
                let host = u.host().unwrap_or_default().trim_matches(['[', ']']);
                let s = TcpStream::connect((host, u.port_u16().unwrap_or(80)))
                    .await
                    .map_err(|e| ClientError::Connect {
                        url: url.to_string(),
                        message: e.to_string(),
                    })?;
                stage.store(Stage::Upgrade as u8, Ordering::Relaxed);
                Some(s)
            }
            _ => None,
        },
    };
    let (mut ws, _) = match stream {
        Some(s) => {
            let _ = s.set_nodelay(true);
            tokio_tungstenite::client_async_with_config(url, MaybeTlsStream::Plain(s), Some(config))
                .await
                .map_err(connect_err)?
        }
        None => tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .map_err(connect_err)?,
    };
    stage.store(Stage::Challenge as u8, Ordering::Relaxed);
    let hs = |message: String| ClientError::Handshake {
        url: url.to_string(),
        message,
    };
    // 1. challenge
    match next_frame(&mut ws).await {
        Ok(Frame::Event(ev)) if ev.event == events::CONNECT_CHALLENGE => {}
        Ok(other) => return Err(hs(format!("expected connect.challenge, got {other:?}"))),
        Err(e) => return Err(hs(e)),
    }
    // The peer has accepted and spoken: is it who may see the secret?
    if let Some(check) = pre_auth {
        let verdict = match addrs {
            Some((peer, local)) => check(peer, local),
            None => Err(Box::new(
                hs("cannot read the connection's addresses".into()),
            )),
        };
        if let Err(e) = verdict {
            let _ = ws.close(None).await;
            return Err(*e);
        }
    }
    // 2. connect
    let params = ConnectParams {
        min_protocol: PROTOCOL_MIN,
        max_protocol: PROTOCOL_MAX,
        client: ClientInfo {
            id: opts.client_id.clone(),
            version: opts.client_version.clone(),
            platform: std::env::consts::OS.into(),
            mode: "cli".into(),
            ..ClientInfo::default()
        },
        caps: None,
        auth: ConnectAuth {
            token: opts.token.clone(),
            password: opts.password.clone(),
            device_token: None,
        },
        role: Some("operator".into()),
        scopes: opts.scopes.clone(),
        device: None,
    };
    let req = Frame::Req(Request {
        id: "c1".into(),
        method: methods::CONNECT.into(),
        params: serde_json::to_value(&params).expect("params serialise"),
    });
    stage.store(Stage::Hello as u8, Ordering::Relaxed);
    ws.send(Message::Text(req.to_text().into()))
        .await
        .map_err(|e| hs(e.to_string()))?;
    // 3. hello-ok or an error (then a close frame)
    let res = loop {
        match next_frame(&mut ws).await {
            Ok(Frame::Res(r)) if r.id == "c1" => break r,
            Ok(_) => continue,
            Err(e) => return Err(hs(e)),
        }
    };
    let hello: HelloOk = match res.into_result() {
        Ok(v) => serde_json::from_value(v).map_err(|e| hs(format!("bad hello-ok: {e}")))?,
        Err(error) => {
            let close_code = match tokio::time::timeout(Duration::from_secs(1), ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(f))))) => Some(u16::from(f.code)),
                _ => None,
            };
            return Err(ClientError::Rejected {
                url: url.to_string(),
                error,
                close_code,
            });
        }
    };

    let (sink, mut stream) = ws.split();
    let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let reader_pending = pending.clone();
    let reader = tokio::spawn(async move {
        let mut close = None;
        while let Some(msg) = stream.next().await {
            match msg {
                Ok(Message::Text(t)) => match serde_json::from_str::<Frame>(t.as_str()) {
                    Ok(Frame::Res(r)) => {
                        let tx = reader_pending
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&r.id);
                        if let Some(tx) = tx {
                            let _ = tx.send(r);
                        }
                    }
                    Ok(Frame::Event(ev)) => {
                        let _ = ev_tx.send(ev);
                    }
                    _ => {}
                },
                Ok(Message::Close(f)) => {
                    close = f.map(|f| (u16::from(f.code), f.reason.to_string()));
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // Fail every call still waiting.
        reader_pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        close
    });
    Ok(Client {
        url: url.to_string(),
        hello,
        sink: Arc::new(tokio::sync::Mutex::new(sink)),
        pending,
        events: ev_rx,
        next_id: AtomicU64::new(1),
        reader,
    })
}

async fn next_frame(ws: &mut Ws) -> Result<Frame, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(t.as_str()).map_err(|e| format!("bad frame: {e}"));
            }
            Some(Ok(Message::Close(f))) => {
                return Err(match f {
                    Some(f) => format!("closed with code {} {}", u16::from(f.code), f.reason),
                    None => "closed".into(),
                });
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection ended".into()),
        }
    }
}

impl Client {
    pub fn hello(&self) -> &HelloOk {
        &self.hello
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends a request and waits for its response. Transport failures come
    /// back as an `UNAVAILABLE` error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ErrorShape> {
        let id = format!("r{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), tx);
        let frame = Frame::Req(Request {
            id: id.clone(),
            method: method.to_string(),
            params,
        });
        let sent = self
            .sink
            .lock()
            .await
            .send(Message::Text(frame.to_text().into()))
            .await;
        let unavailable = |m: String| ErrorShape::new(codes::UNAVAILABLE, m);
        if let Err(e) = sent {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            return Err(unavailable(format!("cannot send to {}: {e}", self.url)));
        }
        match rx.await {
            Ok(res) => res.into_result(),
            Err(_) => Err(unavailable(format!(
                "connection to {} closed before {method} answered",
                self.url
            ))),
        }
    }

    /// The next event (tick, health, presence, shutdown, ...); `None` once
    /// the connection is closed.
    pub async fn next_event(&mut self) -> Option<EventFrame> {
        self.events.recv().await
    }

    /// Waits for the connection to end and returns the close code and reason.
    pub async fn closed(self) -> Option<(u16, String)> {
        drop(self.events);
        self.reader.await.ok().flatten()
    }

    /// Closes the connection normally.
    pub async fn close(self) {
        let _ = self.sink.lock().await.send(Message::Close(None)).await;
        self.reader.abort();
    }
}

/// How [`probe`] found the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundVia {
    OwnerRecord,
    ResolvedPort,
}

/// The result of [`probe`].
#[derive(Debug)]
pub enum Probe {
    Running {
        url: String,
        port: u16,
        via: FoundVia,
        hello: Box<HelloOk>,
        owner: Option<Box<OwnerRecord>>,
        health: Option<Value>,
    },
    /// Nothing listens on the port the instance resolves to, and no live
    /// owner record says otherwise.
    Stopped { port: u16 },
}

/// `stateDir` and `profile` from `GET /readyz` (no auth needed).
async fn readyz_identity(addr: &str, timeout: Duration) -> Option<(PathBuf, Option<String>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let req = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf);
        let body = text.split_once("\r\n\r\n")?.1;
        let v: Value = serde_json::from_str(body.trim()).ok()?;
        let dir = PathBuf::from(v.get("stateDir")?.as_str()?);
        let profile = v.get("profile").and_then(Value::as_str).map(str::to_string);
        Some((dir, profile))
    };
    tokio::time::timeout(timeout, fut).await.ok().flatten()
}

/// Finds and checks the running gateway of `instance`: the live owner record
/// in its state dir first (a gateway started with another `--port` is found
/// there), else the resolved port. A refused TCP connection answers
/// `Stopped` at once. The gateway that answers must report `instance`'s
/// state dir, else [`ClientError::WrongInstance`].
pub async fn probe(
    instance: &Instance,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Probe, ClientError> {
    let creds = Credentials {
        token: token.map(str::to_string),
        password: None,
    };
    probe_with(instance, &creds, timeout).await
}

/// What a client presents in `connect`: the gateway's token or password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub token: Option<String>,
    pub password: Option<String>,
}

impl Credentials {
    /// Connect options carrying these credentials.
    pub fn options(&self, scopes: &[&str], timeout: Duration) -> ConnectOptions {
        ConnectOptions {
            token: self.token.clone(),
            password: self.password.clone(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            timeout,
            ..ConnectOptions::default()
        }
    }
}

/// A connection to an instance's running gateway, opened by
/// [`connect_checked`].
#[derive(Debug)]
pub enum Checked {
    Running {
        client: Box<Client>,
        url: String,
        port: u16,
        via: FoundVia,
        owner: Option<Box<OwnerRecord>>,
    },
    /// Nothing listens where the instance's gateway would.
    Stopped { port: u16 },
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("url", &self.url).finish()
    }
}

/// Finds `instance`'s gateway and opens ONE connection to it, sending its
/// credentials only to that gateway:
///
/// - no live owner record in the state dir: the gateway is not running.
///   A refused TCP connect to the resolved port is `Stopped`; anything
///   that does listen there gets no credentials: `/readyz` (no auth) names
///   the instance that answered ([`ClientError::WrongInstance`]), else
///   [`ClientError::NotThisGateway`];
/// - a live owner record: the TCP connect to its port (refused =
///   `Stopped`), the challenge, then — before `connect` carries the
///   credentials — the check that the recorded pid holds the other end of
///   this very connection (`openclaw_state::procfs::pid_holds_tcp`), then
///   the handshake with `scopes` and the identity check on its hello (the
///   gateway must own `instance`'s state dir).
///
/// Only a refused handshake costs a second request (`/readyz`, to say
/// which instance answered).
pub async fn connect_checked(
    instance: &Instance,
    creds: &Credentials,
    scopes: &[&str],
    timeout: Duration,
) -> Result<Checked, ClientError> {
    let state_dir = &instance.state_dir.value;
    let Some(owner) = live_owner(state_dir) else {
        return not_running(instance, timeout).await;
    };
    let host = match owner.bind_host.as_deref() {
        Some(h) if h != "0.0.0.0" && h != "::" => h.to_string(),
        _ => "127.0.0.1".to_string(),
    };
    let port = owner.port;
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => s,
        // Refused: nothing listens, the live owner record notwithstanding
        // (it is about to go away). Any other error (no local ports left,
        // no route) says nothing about whether the gateway runs.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Ok(Checked::Stopped { port });
        }
        Ok(Err(e)) => {
            return Err(ClientError::Connect {
                url: format!("ws://{addr}"),
                message: e.to_string(),
            });
        }
        Err(_) => {
            return Err(ClientError::Timeout {
                after: timeout,
                stage: Stage::Tcp,
            });
        }
    };
    let url = format!("ws://{addr}");
    let pid = owner.pid;
    let holds = move |peer: SocketAddr, local: SocketAddr| -> Result<(), Box<ClientError>> {
        let not_it = |detail: String| {
            Box::new(ClientError::NotThisGateway {
                port,
                state_dir: state_dir.clone(),
                detail,
            })
        };
        if cfg!(not(target_os = "linux")) {
            // No /proc: the live owner record is all there is to go on.
            return Ok(());
        }
        match openclaw_state::procfs::pid_holds_tcp(pid, &peer, &local) {
            Ok(true) => Ok(()),
            Ok(false) => Err(not_it(format!(
                "the connection to {peer} is not held by the owner record's pid {pid}"
            ))),
            Err(e) => Err(not_it(format!(
                "cannot verify that the owner record's pid {pid} holds {peer}: {e}"
            ))),
        }
    };
    let stage = AtomicU8::new(Stage::Upgrade as u8);
    let handshake = tokio::time::timeout(
        timeout,
        connect_inner(
            &url,
            Some(stream),
            creds.options(scopes, timeout),
            Some(&holds),
            &stage,
        ),
    )
    .await
    .map_err(|_| ClientError::Timeout {
        after: timeout,
        stage: Stage::from_u8(stage.load(Ordering::Relaxed)),
    })?;
    let client = match handshake {
        Ok(c) => c,
        Err(e @ ClientError::Rejected { .. }) => {
            // Refused: maybe because this is another instance's gateway
            // (its token differs). /readyz says which instance it is.
            if let Some((actual, profile)) = readyz_identity(&addr, timeout).await
                && !openclaw_state::same_dir(&actual, state_dir)
            {
                return Err(ClientError::WrongInstance {
                    port,
                    expected: state_dir.clone(),
                    actual,
                    actual_profile: profile.unwrap_or_else(|| "default".into()),
                });
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let hello = client.hello().clone();
    match hello.snapshot.state_dir.as_deref() {
        Some(actual) if openclaw_state::same_dir(Path::new(actual), state_dir) => {}
        actual => {
            client.close().await;
            return Err(ClientError::WrongInstance {
                port,
                expected: state_dir.clone(),
                actual: PathBuf::from(
                    actual.unwrap_or("<not reported: not an openclaw-rs gateway>"),
                ),
                actual_profile: hello
                    .snapshot
                    .profile
                    .clone()
                    .unwrap_or_else(|| "default".into()),
            });
        }
    }
    Ok(Checked::Running {
        client: Box::new(client),
        url,
        port,
        via: FoundVia::OwnerRecord,
        owner: Some(Box::new(owner)),
    })
}

/// No live owner record: this instance's gateway is not running. Nothing
/// listening on its resolved port is `Stopped`; whatever does listen there
/// is named (by `/readyz`, which needs no credentials) and gets none.
async fn not_running(instance: &Instance, timeout: Duration) -> Result<Checked, ClientError> {
    let state_dir = &instance.state_dir.value;
    let port = instance.ports.gateway.value;
    let addr = format!("127.0.0.1:{port}");
    match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => drop(s),
        Ok(Err(_)) => return Ok(Checked::Stopped { port }),
        Err(_) => {
            return Err(ClientError::Timeout {
                after: timeout,
                stage: Stage::Tcp,
            });
        }
    }
    match readyz_identity(&addr, timeout).await {
        Some((actual, profile)) if !openclaw_state::same_dir(&actual, state_dir) => {
            Err(ClientError::WrongInstance {
                port,
                expected: state_dir.clone(),
                actual,
                actual_profile: profile.unwrap_or_else(|| "default".into()),
            })
        }
        Some(_) => Err(ClientError::NotThisGateway {
            port,
            state_dir: state_dir.clone(),
            detail: "it claims this state dir, but the state dir has no live owner record (a gateway that owns it writes one)".into(),
        }),
        None => Err(ClientError::NotThisGateway {
            port,
            state_dir: state_dir.clone(),
            detail: "the state dir has no live owner record, so its gateway is not running".into(),
        }),
    }
}

/// [`probe`] with either kind of credentials: [`connect_checked`] with read
/// scope, then `health` on that connection.
pub async fn probe_with(
    instance: &Instance,
    creds: &Credentials,
    timeout: Duration,
) -> Result<Probe, ClientError> {
    let (client, url, port, via, owner) =
        match connect_checked(instance, creds, &["operator.read"], timeout).await? {
            Checked::Stopped { port } => return Ok(Probe::Stopped { port }),
            Checked::Running {
                client,
                url,
                port,
                via,
                owner,
            } => (client, url, port, via, owner),
        };
    let hello = client.hello().clone();
    let health = client
        .call(methods::HEALTH, Value::Object(Default::default()))
        .await
        .ok();
    client.close().await;
    Ok(Probe::Running {
        url,
        port,
        via,
        hello: Box::new(hello),
        owner,
        health,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port that accepts the TCP connection and then says nothing (a
    /// stalled gateway, or one whose pre-auth slots are all taken): the
    /// timeout names the WebSocket upgrade as what was awaited, and why.
    #[tokio::test]
    async fn a_timeout_names_the_stage_it_happened_in() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let e = connect_with(
            &format!("ws://127.0.0.1:{port}"),
            ConnectOptions {
                timeout: Duration::from_millis(300),
                ..ConnectOptions::default()
            },
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(
                e,
                ClientError::Timeout {
                    stage: Stage::Upgrade,
                    ..
                }
            ),
            "{e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("accepted the connection but nothing answered"),
            "{msg}"
        );
        assert!(msg.contains("unauthenticated connections"), "{msg}");
        held.abort();
    }
}
