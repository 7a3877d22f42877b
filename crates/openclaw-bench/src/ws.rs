//! The WebSocket RPC load: authenticated operator clients doing the real
//! `connect.challenge` → `connect` handshake, then `health` round trips,
//! one outstanding request per client (closed loop).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::stats::percentile_sorted;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Only the head of a frame is decoded; payloads are skipped unparsed.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default)]
    id: Option<&'a str>,
    #[serde(default)]
    event: Option<&'a str>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Open a connection and authenticate as an operator with `operator.read`.
pub async fn connect(port: u16, token: &str) -> Result<Ws> {
    let url = format!("ws://127.0.0.1:{port}/");
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        // TCP_NODELAY, and an 8 KiB read buffer: tungstenite zero-fills
        // its read buffer before every read, and the 128 KiB default would
        // make the load generator burn CPU the gateway under test needs.
        tokio_tungstenite::connect_async_with_config(
            &url,
            Some(WebSocketConfig::default().read_buffer_size(8 * 1024)),
            true,
        ),
    )
    .await
    .map_err(|_| anyhow!("WebSocket connect to {url} timed out"))?
    .with_context(|| format!("WebSocket connect to {url}"))?;
    // The server speaks first: event connect.challenge {nonce, ts}.
    let first = next_text(&mut ws)
        .await
        .context("waiting for connect.challenge")?;
    let head: Head = serde_json::from_str(&first).context("decoding the first frame")?;
    if head.kind != "event" || head.event != Some("connect.challenge") {
        bail!(
            "expected event connect.challenge first, got: {}",
            clip(&first)
        );
    }
    let req = json!({
        "type": "req",
        "id": "c1",
        "method": "connect",
        "params": {
            "minProtocol": 3,
            "maxProtocol": 4,
            "client": {
                "id": "cli",
                "version": env!("CARGO_PKG_VERSION"),
                "platform": "linux",
                "mode": "cli",
            },
            "role": "operator",
            "scopes": ["operator.read"],
            "auth": { "token": token },
        }
    });
    ws.send(Message::text(req.to_string())).await?;
    loop {
        let text = next_text(&mut ws)
            .await
            .context("waiting for the connect response")?;
        let head: Head = serde_json::from_str(&text)?;
        if head.kind == "res" && head.id == Some("c1") {
            if head.ok == Some(true) {
                return Ok(ws);
            }
            bail!(
                "connect refused: {}",
                head.error.map(|e| e.to_string()).unwrap_or_default()
            );
        }
    }
}

async fn next_text(ws: &mut Ws) -> Result<String> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .map_err(|_| anyhow!("no frame within 30 s"))?
            .ok_or_else(|| anyhow!("connection closed"))??;
        match msg {
            Message::Text(t) => return Ok(t.as_str().to_owned()),
            Message::Close(c) => bail!("server closed the connection: {c:?}"),
            _ => continue,
        }
    }
}

/// One `health` round trip; the request id is `n`.
async fn health(ws: &mut Ws, n: u64, scratch: &mut String) -> Result<()> {
    scratch.clear();
    use std::fmt::Write;
    let _ = write!(
        scratch,
        r#"{{"type":"req","id":"h{n}","method":"health","params":{{}}}}"#
    );
    ws.send(Message::text(scratch.as_str())).await?;
    let want = format!("h{n}");
    loop {
        let text = next_text(ws).await?;
        let head: Head = serde_json::from_str(&text)?;
        if head.kind == "res" && head.id == Some(want.as_str()) {
            if head.ok != Some(true) {
                bail!("health failed: {}", clip(&text));
            }
            return Ok(());
        }
    }
}

/// Result of one load level.
#[derive(Clone, Debug)]
pub struct LoadResult {
    pub clients: usize,
    pub completed: u64,
    pub elapsed: Duration,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
    /// Event frames read and discarded after connecting, before the clock.
    pub drained: u64,
}

impl LoadResult {
    pub fn throughput(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }
}

/// `clients` authenticated connections doing `health` back to back for
/// `duration`. Connections are all established before the clock starts.
pub async fn load(
    port: u16,
    token: &str,
    clients: usize,
    duration: Duration,
) -> Result<LoadResult> {
    let mut conns = Vec::with_capacity(clients);
    // Connect in small batches so a slow server is not handed a burst of
    // simultaneous handshakes it might rate-limit.
    for chunk in (0..clients).collect::<Vec<_>>().chunks(16) {
        let futs = chunk.iter().map(|_| connect(port, token));
        for r in futures_util::future::join_all(futs).await {
            conns.push(r?);
        }
    }
    // Every connect makes the gateway announce presence to every client
    // already connected: N connections queue O(N²) event frames. Read them
    // all before the clock starts, so the figure is the steady-state cost
    // of `health`, not the tail of the connection storm.
    let mut drained = 0u64;
    for n in futures_util::future::join_all(conns.iter_mut().map(drain)).await {
        drained += n;
    }
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for mut ws in conns {
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u64> = Vec::with_capacity(1 << 14);
            let mut errors = 0u64;
            let mut n = 0u64;
            let mut scratch = String::with_capacity(96);
            while Instant::now() < deadline {
                n += 1;
                let t = Instant::now();
                match health(&mut ws, n, &mut scratch).await {
                    Ok(()) => lat.push(t.elapsed().as_nanos() as u64),
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            let _ = ws.close(None).await;
            (lat, errors)
        }));
    }
    let mut all: Vec<u64> = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await?;
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let us = |p| {
        percentile_sorted(&all, p)
            .map(|ns| ns as f64 / 1000.0)
            .unwrap_or(f64::NAN)
    };
    Ok(LoadResult {
        clients,
        completed: all.len() as u64,
        elapsed,
        p50_us: us(50.0),
        p99_us: us(99.0),
        errors,
        drained,
    })
}

/// Reads and discards frames until the connection has been quiet for
/// 100 ms (at most 10 s); returns how many were read.
async fn drain(ws: &mut Ws) -> u64 {
    let quiet = Duration::from_millis(100);
    let limit = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    while Instant::now() < limit {
        match tokio::time::timeout(quiet, ws.next()).await {
            Ok(Some(Ok(_))) => n += 1,
            Ok(_) | Err(_) => break,
        }
    }
    n
}

fn clip(s: &str) -> String {
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s.to_owned()
    }
}

/// Result of a connection burst.
#[derive(Clone, Debug)]
pub struct BurstResult {
    pub clients: usize,
    pub served: usize,
    pub failed: usize,
    /// First connect to the last `health` answer (the slowest client's
    /// handshake and call; no pause in it).
    pub answered: Duration,
    /// First connect to the last client done (pause and close included).
    pub elapsed: Duration,
    /// The first few failure reasons.
    pub errors: Vec<String>,
}

/// `clients` clients connect at once, each doing the handshake (`cli`
/// mode, `operator.read`), one `health` call, a `pause`, then close — the
/// shape of many one-shot CLI probes arriving together. Every client has
/// 60 s for all of it (a hang guard; a client that runs out counts as
/// failed).
pub async fn burst(port: u16, token: &str, clients: usize, pause: Duration) -> BurstResult {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let token = token.to_string();
            tokio::spawn(async move {
                let once = async {
                    let mut ws = connect(port, &token).await?;
                    health(&mut ws, i as u64, &mut String::new()).await?;
                    let answered = start.elapsed();
                    tokio::time::sleep(pause).await;
                    let _ = ws.close(None).await;
                    // Read until the server's close (or EOF): done means closed.
                    while let Ok(Some(Ok(m))) =
                        tokio::time::timeout(Duration::from_secs(5), ws.next()).await
                    {
                        if m.is_close() {
                            break;
                        }
                    }
                    Ok::<_, anyhow::Error>(answered)
                };
                tokio::time::timeout(Duration::from_secs(60), once)
                    .await
                    .unwrap_or_else(|_| Err(anyhow!("timed out after 60 s")))
            })
        })
        .collect();
    let (mut served, mut failed, mut errors) = (0, 0, Vec::new());
    let mut answered = Duration::ZERO;
    for t in tasks {
        match t.await {
            Ok(Ok(a)) => {
                served += 1;
                answered = answered.max(a);
            }
            Ok(Err(e)) => {
                failed += 1;
                if errors.len() < 5 {
                    errors.push(format!("{e:#}"));
                }
            }
            Err(e) => {
                failed += 1;
                if errors.len() < 5 {
                    errors.push(e.to_string());
                }
            }
        }
    }
    BurstResult {
        clients,
        served,
        failed,
        answered,
        elapsed: start.elapsed(),
        errors,
    }
}
