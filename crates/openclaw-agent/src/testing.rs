//! Test support (feature `testing`): fixture model servers on 127.0.0.1
//! speaking the real wire formats (OpenAI Chat Completions SSE, Anthropic
//! Messages SSE) over real HTTP/1.1, scripted reply by reply.
//!
//! Used by this crate's tests and by the gateway/CLI end-to-end tests, which
//! point a real gateway at a [`Fixture`]. Not part of the runtime API.
//!
//! Besides the scripted replies, a fixture answers the model listing
//! (`GET <base>/models`, OpenAI's shape; `GET /v1/models`, Anthropic's)
//! from [`Fixture::set_models`] without using the script, and with
//! [`Fixture::require_key`] refuses any request without that key (401, in
//! the provider's own error shape), as the real services do.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How an SSE reply ends.
#[derive(Clone, Debug)]
pub enum End {
    /// Terminating zero-length chunk, then close.
    Clean,
    /// Close the socket mid-body (no terminating chunk).
    Abrupt,
    /// Keep the connection open and silent until the client goes away.
    Hang,
}

#[derive(Clone, Debug)]
pub enum Reply {
    Sse {
        chunks: Vec<String>,
        end: End,
    },
    /// Like `Sse`, with `delay` between chunks (a slow, long answer).
    SlowSse {
        chunks: Vec<String>,
        delay: Duration,
        end: End,
    },
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// OpenAI streaming text that says which prompt it answers: `echo: ` and
    /// the text of the request's last user message, in two chunks with
    /// `delay` between them. Lets a test tell one answer from another.
    EchoSse {
        delay: Duration,
    },
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lower-cased header names.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Fixture {
    pub base_url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// Hanging replies whose client closed the connection.
    pub client_closed: Arc<AtomicUsize>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    listing: Arc<Mutex<Listing>>,
}

/// What the model listing and the key check answer.
#[derive(Clone, Debug)]
struct Listing {
    anthropic: bool,
    models: Vec<String>,
    key: Option<String>,
}

/// The ids [`Fixture::start`] lists until [`Fixture::set_models`].
pub const FIXTURE_MODELS: [&str; 2] = ["fixture-model", "fixture-large"];

impl Fixture {
    /// `anthropic_base` true: base URL is the host root (Anthropic SDK
    /// convention); false: `http://host:port/v1` (OpenAI SDK convention).
    pub async fn start(script: Vec<Reply>, anthropic_base: bool) -> Fixture {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let client_closed = Arc::new(AtomicUsize::new(0));
        let listing = Arc::new(Mutex::new(Listing {
            anthropic: anthropic_base,
            models: FIXTURE_MODELS.iter().map(|m| m.to_string()).collect(),
            key: None,
        }));
        let (r, s, c, l) = (
            requests.clone(),
            script.clone(),
            client_closed.clone(),
            listing.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (r, s, c, l) = (r.clone(), s.clone(), c.clone(), l.clone());
                tokio::spawn(async move { handle(sock, r, s, c, l).await });
            }
        });
        let base_url = if anthropic_base {
            format!("http://{addr}")
        } else {
            format!("http://{addr}/v1")
        };
        Fixture {
            base_url,
            requests,
            client_closed,
            script,
            listing,
        }
    }

    /// The model ids the listing answers with (default [`FIXTURE_MODELS`]).
    pub fn set_models(&self, models: &[&str]) {
        self.listing.lock().unwrap().models = models.iter().map(|m| m.to_string()).collect();
    }

    /// From now on every request must carry `key` (`Authorization: Bearer`
    /// for OpenAI, `x-api-key` for Anthropic) or gets 401 as the provider
    /// words it.
    pub fn require_key(&self, key: &str) {
        self.listing.lock().unwrap().key = Some(key.to_string());
    }

    pub fn push(&self, r: Reply) {
        self.script.lock().unwrap().push_back(r);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn handle(
    mut sock: TcpStream,
    log: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    closed: Arc<AtomicUsize>,
    listing: Arc<Mutex<Listing>>,
) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let reqline = lines.next().unwrap_or_default().to_string();
    let mut parts = reqline.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&tmp[..n]),
        }
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let rec = Recorded {
        method,
        path,
        headers,
        body,
    };
    log.lock().unwrap().push(rec.clone());
    let listing = listing.lock().unwrap().clone();
    let early = if let Some(refusal) = key_refusal(&listing, &rec) {
        Some(refusal)
    } else if rec.method == "GET"
        && rec
            .path
            .split('?')
            .next()
            .unwrap_or("")
            .ends_with("/models")
    {
        Some(model_listing(&listing))
    } else {
        None
    };
    let reply = early
        .or_else(|| script.lock().unwrap().pop_front())
        .unwrap_or(Reply::Status {
            code: 500,
            headers: vec![],
            body: "{\"error\":{\"message\":\"fixture script exhausted\"}}".into(),
        });
    match reply {
        Reply::Status {
            code,
            headers,
            body,
        } => {
            let mut out = format!(
                "HTTP/1.1 {code} Fixture\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&body);
            let _ = sock.write_all(out.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
        Reply::Sse { chunks, end } => {
            sse_reply(sock, chunks, Duration::from_millis(5), end, closed).await
        }
        Reply::SlowSse { chunks, delay, end } => sse_reply(sock, chunks, delay, end, closed).await,
        Reply::EchoSse { delay } => {
            let prompt = last_user_text(&rec.body);
            let chunks = openai_text(&["echo: ", &prompt]);
            sse_reply(sock, chunks, delay, End::Clean, closed).await
        }
    }
}

/// The text of the last `user` message of a chat request (OpenAI or
/// Anthropic shape; string or text-part content).
fn last_user_text(body: &Value) -> String {
    let Some(m) = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
    else {
        return String::new();
    };
    match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// 401 in the provider's words when a key is required and not presented.
fn key_refusal(l: &Listing, r: &Recorded) -> Option<Reply> {
    let want = l.key.as_deref()?;
    if l.anthropic {
        if r.header("x-api-key") == Some(want) {
            return None;
        }
        return Some(status(
            401,
            &[],
            &json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}).to_string(),
        ));
    }
    if r.header("authorization") == Some(format!("Bearer {want}").as_str()) {
        return None;
    }
    let shown = r
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(|k| format!("{}***", k.chars().take(3).collect::<String>()))
        .unwrap_or_default();
    let message = if shown.is_empty() {
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".to_string()
    } else {
        format!(
            "Incorrect API key provided: {shown}. You can find your API key in your account settings."
        )
    };
    Some(status(
        401,
        &[],
        &json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}).to_string(),
    ))
}

/// The model listing in the provider's shape.
fn model_listing(l: &Listing) -> Reply {
    let body = if l.anthropic {
        let data: Vec<Value> = l
            .models
            .iter()
            .map(|m| json!({"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}))
            .collect();
        json!({"data": data, "has_more": false, "first_id": l.models.first(), "last_id": l.models.last()})
    } else {
        let data: Vec<Value> = l
            .models
            .iter()
            .map(|m| json!({"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fixture"}))
            .collect();
        json!({"object": "list", "data": data})
    };
    status(200, &[], &body.to_string())
}

async fn sse_reply(
    mut sock: TcpStream,
    chunks: Vec<String>,
    delay: Duration,
    end: End,
    closed: Arc<AtomicUsize>,
) {
    let mut tmp = [0u8; 512];
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    for c in chunks {
        let framed = format!("{:x}\r\n{c}\r\n", c.len());
        if sock.write_all(framed.as_bytes()).await.is_err() {
            return;
        }
        let _ = sock.flush().await;
        tokio::time::sleep(delay).await;
    }
    match end {
        End::Clean => {
            let _ = sock.write_all(b"0\r\n\r\n").await;
            let _ = sock.shutdown().await;
        }
        End::Abrupt => drop(sock),
        End::Hang => {
            // Wait (bounded) for the client to hang up.
            let r = tokio::time::timeout(Duration::from_secs(30), sock.read(&mut tmp)).await;
            if matches!(r, Ok(Ok(0)) | Ok(Err(_))) {
                closed.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

fn sse(data: &Value) -> String {
    format!("data: {data}\n\n")
}

fn asse(event: &str, data: Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// OpenAI: assistant text in pieces, then finish_reason stop and [DONE].
pub fn openai_text(pieces: &[&str]) -> Vec<String> {
    let mut v = vec![sse(
        &json!({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}),
    )];
    for p in pieces {
        v.push(sse(&json!({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":p},"finish_reason":null}]})));
    }
    v.push(sse(&json!({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})));
    v.push(sse(&json!({"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}})));
    v.push("data: [DONE]\n\n".into());
    v
}

/// OpenAI: one tool call whose arguments arrive in two fragments.
pub fn openai_tool(id: &str, name: &str, args: Value) -> Vec<String> {
    let a = args.to_string();
    let (a1, a2) = a.split_at(a.len() / 2);
    vec![
        sse(
            &json!({"id":"c2","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":id,"type":"function","function":{"name":name,"arguments":""}}]},"finish_reason":null}]}),
        ),
        sse(
            &json!({"id":"c2","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":a1}}]},"finish_reason":null}]}),
        ),
        sse(
            &json!({"id":"c2","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":a2}}]},"finish_reason":null}]}),
        ),
        sse(
            &json!({"id":"c2","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}),
        ),
        "data: [DONE]\n\n".into(),
    ]
}

fn anthropic_start() -> String {
    asse(
        "message_start",
        json!({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}),
    )
}

/// Anthropic: assistant text in pieces.
pub fn anthropic_text(pieces: &[&str]) -> Vec<String> {
    let mut v = vec![
        anthropic_start(),
        asse(
            "content_block_start",
            json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
        ),
        asse("ping", json!({"type":"ping"})),
    ];
    for p in pieces {
        v.push(asse(
            "content_block_delta",
            json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":p}}),
        ));
    }
    v.push(asse(
        "content_block_stop",
        json!({"type":"content_block_stop","index":0}),
    ));
    v.push(asse("message_delta", json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}})));
    v.push(asse("message_stop", json!({"type":"message_stop"})));
    v
}

/// Anthropic: a short text block, then a tool_use block with the input
/// JSON in two partial_json fragments.
pub fn anthropic_tool(id: &str, name: &str, args: Value) -> Vec<String> {
    let a = args.to_string();
    let (a1, a2) = a.split_at(a.len() / 2);
    vec![
        anthropic_start(),
        asse(
            "content_block_start",
            json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
        ),
        asse(
            "content_block_delta",
            json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Working on it. "}}),
        ),
        asse(
            "content_block_stop",
            json!({"type":"content_block_stop","index":0}),
        ),
        asse(
            "content_block_start",
            json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":id,"name":name,"input":{}}}),
        ),
        asse(
            "content_block_delta",
            json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}),
        ),
        asse(
            "content_block_delta",
            json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":a1}}),
        ),
        asse(
            "content_block_delta",
            json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":a2}}),
        ),
        asse(
            "content_block_stop",
            json!({"type":"content_block_stop","index":1}),
        ),
        asse(
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}),
        ),
        asse("message_stop", json!({"type":"message_stop"})),
    ]
}

pub fn ok_sse(chunks: Vec<String>) -> Reply {
    Reply::Sse {
        chunks,
        end: End::Clean,
    }
}

pub fn status(code: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    Reply::Status {
        code,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_string(),
    }
}

/// A slow OpenAI answer: `n` text pieces, `delay` apart.
pub fn openai_slow_text(n: usize, delay: Duration) -> Reply {
    let pieces: Vec<String> = (0..n).map(|i| format!("word{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    Reply::SlowSse {
        chunks: openai_text(&refs),
        delay,
        end: End::Clean,
    }
}
