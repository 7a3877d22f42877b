//! Test support (feature `testing`): a local Bot API on 127.0.0.1 speaking
//! Telegram's JSON over real HTTP, so the real client is what is tested.
//! Point `channels.telegram.apiRoot` at [`BotApiFixture::api_root`].
//!
//! Behaves as Telegram does for what we use: `getMe`, `deleteWebhook`,
//! `getUpdates` (long poll up to `timeout` seconds, `offset` confirms and
//! drops earlier updates, a second concurrent poller on one token ends the
//! first with 409 Conflict), `sendMessage` (HTML checked for balanced,
//! supported tags: 400 "can't parse entities" otherwise; over 4096
//! characters: 400 "message is too long"), `editMessageText`,
//! `sendChatAction`; an unknown token gets 401, an unknown method 404; and
//! errors can be injected per method ([`BotApiFixture::fail_next`]), e.g.
//! 429 with `parameters.retry_after`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// One call the fixture answered.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    /// The HTTP status the fixture answered with.
    pub status: u16,
}

#[derive(Default)]
struct Bot {
    id: i64,
    username: String,
    pending: Vec<Value>,
    next_update: i64,
    next_message: i64,
    /// Bumped by every getUpdates; a waiting poll that sees a newer one
    /// answers 409.
    poll_gen: u64,
    calls: Vec<Call>,
    fail: VecDeque<(String, u16, Value)>,
}

#[derive(Default)]
struct Inner {
    bots: HashMap<String, Bot>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
}

pub struct BotApiFixture {
    /// `http://127.0.0.1:<port>` (no `/bot<TOKEN>`).
    pub api_root: String,
    shared: Shared,
}

fn err(code: u16, description: &str) -> (u16, Value) {
    (
        code,
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

/// Telegram's HTML: only these tags, properly nested.
fn check_html(text: &str) -> Result<(), String> {
    const OK: [&str; 12] = [
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a",
    ];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(p) = rest.find('<') {
        let after = &rest[p + 1..];
        let end = after.find('>').ok_or_else(|| {
            format!(
                "Can't find end of the entity starting at byte offset {}",
                offset + p
            )
        })?;
        let tag = &after[..end];
        let (closing, name) = match tag.strip_prefix('/') {
            Some(n) => (true, n.trim()),
            None => (false, tag.split_whitespace().next().unwrap_or("")),
        };
        let name = name.to_ascii_lowercase();
        if !OK.contains(&name.as_str()) && name != "tg-spoiler" && name != "span" {
            return Err(format!(
                "Unsupported start tag \"{name}\" at byte offset {}",
                offset + p
            ));
        }
        if closing {
            if stack.pop().as_deref() != Some(name.as_str()) {
                return Err(format!(
                    "Can't find end tag corresponding to start tag at byte offset {}",
                    offset + p
                ));
            }
        } else {
            stack.push(name);
        }
        offset += p + 2 + end;
        rest = &after[end + 1..];
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err("Can't find end tag corresponding to start tag".into())
    }
}

async fn handle(State(s): State<Shared>, Path(path): Path<String>, body: Bytes) -> Response {
    let (status, v) = answer(&s, &path, body).await;
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

async fn answer(s: &Shared, path: &str, body: Bytes) -> (u16, Value) {
    let Some((token, method)) = path.strip_prefix("bot").and_then(|p| p.split_once('/')) else {
        return err(404, "Not Found");
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let (token, method) = (token.to_string(), method.to_string());
    let record = |s: &Shared, status: u16| {
        if let Some(b) = s.inner.lock().unwrap().bots.get_mut(&token) {
            b.calls.push(Call {
                method: method.clone(),
                body: body.clone(),
                status,
            });
        }
    };
    // Unknown token; injected failures.
    {
        let mut inner = s.inner.lock().unwrap();
        let Some(bot) = inner.bots.get_mut(&token) else {
            return err(401, "Unauthorized");
        };
        if let Some(i) = bot.fail.iter().position(|(m, _, _)| *m == method) {
            let (_, code, v) = bot.fail.remove(i).expect("index is in range");
            bot.calls.push(Call {
                method: method.clone(),
                body: body.clone(),
                status: code,
            });
            return (code, v);
        }
    }
    let r = match method.as_str() {
        "getMe" => {
            let inner = s.inner.lock().unwrap();
            let b = &inner.bots[&token];
            (
                200,
                json!({"ok": true, "result": {"id": b.id, "is_bot": true, "first_name": "Fixture", "username": b.username, "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false}}),
            )
        }
        "deleteWebhook" => (
            200,
            json!({"ok": true, "result": true, "description": "Webhook is already deleted"}),
        ),
        "getUpdates" => return get_updates(s, &token, body.clone(), record).await,
        "sendMessage" | "editMessageText" => {
            let text = body.get("text").and_then(Value::as_str).unwrap_or("");
            let html = body.get("parse_mode").and_then(Value::as_str) == Some("HTML");
            if text.trim().is_empty() {
                err(400, "Bad Request: message text is empty")
            } else if text.chars().count() > 4096 {
                err(400, "Bad Request: message is too long")
            } else if let Some(e) = html.then(|| check_html(text).err()).flatten() {
                err(400, &format!("Bad Request: can't parse entities: {e}"))
            } else {
                let mut inner = s.inner.lock().unwrap();
                let b = inner.bots.get_mut(&token).expect("checked above");
                let mid = if method == "sendMessage" {
                    b.next_message += 1;
                    b.next_message
                } else {
                    body.get("message_id").and_then(Value::as_i64).unwrap_or(0)
                };
                let chat = body.get("chat_id").cloned().unwrap_or(Value::Null);
                (
                    200,
                    json!({"ok": true, "result": {"message_id": mid, "date": 0, "chat": {"id": chat, "type": "private"}, "from": {"id": b.id, "is_bot": true, "first_name": "Fixture", "username": b.username}, "text": text}}),
                )
            }
        }
        "sendChatAction" => (200, json!({"ok": true, "result": true})),
        _ => err(404, "Not Found"),
    };
    record(s, r.0);
    r
}

async fn get_updates(
    s: &Shared,
    token: &str,
    body: Value,
    record: impl Fn(&Shared, u16),
) -> (u16, Value) {
    let offset = body.get("offset").and_then(Value::as_i64).unwrap_or(0);
    let timeout = body
        .get("timeout")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(50);
    let my_gen = {
        let mut inner = s.inner.lock().unwrap();
        let b = inner.bots.get_mut(token).expect("checked by the caller");
        b.pending
            .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
        b.poll_gen += 1;
        b.poll_gen
    };
    s.notify.notify_waiters();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = s.notify.notified();
        {
            let inner = s.inner.lock().unwrap();
            let b = &inner.bots[token];
            if b.poll_gen != my_gen {
                drop(inner);
                record(s, 409);
                return err(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                );
            }
            if !b.pending.is_empty() {
                let list: Vec<Value> = b.pending.iter().take(100).cloned().collect();
                drop(inner);
                record(s, 200);
                return (200, json!({"ok": true, "result": list}));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            record(s, 200);
            return (200, json!({"ok": true, "result": []}));
        }
    }
}

impl BotApiFixture {
    pub async fn start() -> BotApiFixture {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner::default())),
            notify: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/{*path}", axum::routing::any(handle))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        BotApiFixture {
            api_root: format!("http://{addr}"),
            shared,
        }
    }

    /// Registers a bot; its token is accepted from now on.
    pub fn add_bot(&self, token: &str, id: i64, username: &str) {
        self.shared.inner.lock().unwrap().bots.insert(
            token.into(),
            Bot {
                id,
                username: username.into(),
                next_update: 100,
                ..Default::default()
            },
        );
    }

    /// Queues an update (its `update_id` is assigned); returns the id.
    pub fn push_update(&self, token: &str, mut update: Value) -> i64 {
        let id = {
            let mut inner = self.shared.inner.lock().unwrap();
            let b = inner.bots.get_mut(token).expect("add_bot first");
            b.next_update += 1;
            update["update_id"] = json!(b.next_update);
            b.pending.push(update);
            b.next_update
        };
        self.shared.notify.notify_waiters();
        id
    }

    /// A text message in a private chat from user `from`.
    pub fn push_dm(&self, token: &str, from: i64, text: &str) -> i64 {
        self.push_update(
            token,
            json!({"message": {"message_id": 1, "date": 0, "text": text,
                "from": {"id": from, "is_bot": false, "first_name": format!("user{from}"), "username": format!("user{from}")},
                "chat": {"id": from, "type": "private", "first_name": format!("user{from}")}}}),
        )
    }

    /// A text message in group `chat` from user `from`, optionally a reply
    /// to the bot's message.
    pub fn push_group(
        &self,
        token: &str,
        chat: i64,
        from: i64,
        text: &str,
        reply_to_bot: bool,
    ) -> i64 {
        let bot_id = self.shared.inner.lock().unwrap().bots[token].id;
        let mut m = json!({"message_id": 5, "date": 0, "text": text,
            "from": {"id": from, "is_bot": false, "first_name": "member"},
            "chat": {"id": chat, "type": "supergroup", "title": "group"}});
        if reply_to_bot {
            m["reply_to_message"] = json!({"message_id": 4, "date": 0, "text": "earlier", "from": {"id": bot_id, "is_bot": true, "first_name": "Fixture"}, "chat": {"id": chat, "type": "supergroup"}});
        }
        self.push_update(token, json!({"message": m}))
    }

    /// The next call of `method` fails with Telegram's error shape.
    pub fn fail_next(
        &self,
        token: &str,
        method: &str,
        code: u16,
        description: &str,
        retry_after: Option<u64>,
    ) {
        let mut v = json!({"ok": false, "error_code": code, "description": description});
        if let Some(r) = retry_after {
            v["parameters"] = json!({"retry_after": r});
        }
        let mut inner = self.shared.inner.lock().unwrap();
        inner
            .bots
            .get_mut(token)
            .expect("add_bot first")
            .fail
            .push_back((method.into(), code, v));
    }

    /// Every call this bot's token made, in order.
    pub fn calls(&self, token: &str) -> Vec<Call> {
        self.shared
            .inner
            .lock()
            .unwrap()
            .bots
            .get(token)
            .map(|b| b.calls.clone())
            .unwrap_or_default()
    }

    /// The successful `sendMessage` calls (what users saw arrive).
    pub fn sent(&self, token: &str) -> Vec<Call> {
        self.calls(token)
            .into_iter()
            .filter(|c| c.method == "sendMessage" && c.status == 200)
            .collect()
    }

    /// Texts delivered to `chat` by successful `sendMessage` calls.
    pub fn texts_to(&self, token: &str, chat: i64) -> Vec<String> {
        self.sent(token)
            .into_iter()
            .filter(|c| c.body["chat_id"].to_string().trim_matches('"') == chat.to_string())
            .map(|c| c.body["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Updates not yet confirmed by a poller's offset.
    pub fn unconfirmed(&self, token: &str) -> usize {
        self.shared
            .inner
            .lock()
            .unwrap()
            .bots
            .get(token)
            .map(|b| b.pending.len())
            .unwrap_or(0)
    }

    /// Polls `f` every 20 ms until it holds or `timeout` passes.
    pub async fn wait_for(&self, timeout: Duration, mut f: impl FnMut(&Self) -> bool) -> bool {
        let end = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < end {
            if f(self) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        f(self)
    }
}

#[cfg(test)]
mod tests {
    use super::check_html;

    #[test]
    fn html_check_is_like_telegram() {
        assert!(check_html("<b>x</b> <a href=\"u\">y</a> &lt;").is_ok());
        assert!(check_html("<b>x").is_err());
        assert!(
            check_html("<div>x</div>")
                .unwrap_err()
                .contains("Unsupported start tag")
        );
    }
}
