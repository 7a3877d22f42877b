//! The outgoing queue of one connection, bounded by `policy.maxBufferedBytes`.
//!
//! Everything a connection is sent after `hello-ok` — responses, broadcasts,
//! agent events — goes through its [`Outbox`]. Pushing never waits: a push
//! that would take the unsent bytes past the limit closes the outbox instead
//! (the queue is dropped at once, so its memory returns), and the connection
//! task then closes the socket with [`SLOW_CONSUMER_REASON`]. A client that
//! stops reading therefore costs at most `maxBufferedBytes` plus the socket
//! buffers, and nobody else waits for it: a broadcast is one shared
//! serialised payload pushed to every outbox.
//!
//! State events (`tick`, `health`, `presence`, `shutdown`) are pushed with
//! [`Outbox::push_latest`]: an unsent one of the same name is replaced, so a
//! slow but live client gets the newest state instead of a backlog.
//!
//! Event `seq` numbers are given when a frame is written, so they stay
//! gap-free and increasing on the socket whatever was replaced.
//!
//! [`SLOW_CONSUMER_REASON`]: openclaw_protocol::SLOW_CONSUMER_REASON

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use openclaw_protocol::{Frame, Response};
use serde_json::Value;
use tokio::sync::Notify;

/// What the agent runs send a connection (see `crate::agents`).
#[derive(Debug)]
pub(crate) enum Outgoing {
    Event(&'static str, Value),
    Res(Response),
}

/// Bytes a frame costs beyond its payload (`{"type":"event",...,"seq":N}`).
const FRAME_OVERHEAD: usize = 64;

/// One queued frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// An event; `payload` is JSON text, shared by every recipient.
    Event {
        name: &'static str,
        payload: Arc<str>,
    },
    /// A whole frame (a response).
    Text(String),
}

impl Item {
    fn cost(&self) -> usize {
        match self {
            Item::Event { name, payload } => name.len() + payload.len() + FRAME_OVERHEAD,
            Item::Text(t) => t.len(),
        }
    }

    /// The frame's text, with `seq` for events.
    pub fn render(&self, seq: u64) -> String {
        match self {
            Item::Text(t) => t.clone(),
            Item::Event { name, payload } => {
                // Same field order and shape as `Frame::Event` serialises to.
                let name = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into());
                if &**payload == "null" {
                    format!(r#"{{"type":"event","event":{name},"seq":{seq}}}"#)
                } else {
                    format!(r#"{{"type":"event","event":{name},"payload":{payload},"seq":{seq}}}"#)
                }
            }
        }
    }

    pub fn is_event(&self) -> bool {
        matches!(self, Item::Event { .. })
    }
}

/// Why an outbox no longer takes frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// Unsent frames would have passed the limit.
    Overflow { queued: usize, limit: usize },
    /// The connection ended.
    Gone,
    /// The device the connection authenticated as was revoked.
    Revoked,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Item>,
    bytes: usize,
    closed: Option<Closed>,
}

pub(crate) struct Outbox {
    inner: Mutex<Inner>,
    wake: Notify,
    limit: usize,
}

impl Outbox {
    pub fn new(limit: usize) -> Arc<Outbox> {
        Arc::new(Outbox {
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
            limit,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a response frame.
    pub fn push_text(&self, text: String) -> Result<(), Closed> {
        self.push(Item::Text(text), false)
    }

    /// Queues an event.
    pub fn push_event(&self, name: &'static str, payload: Arc<str>) -> Result<(), Closed> {
        self.push(Item::Event { name, payload }, false)
    }

    /// Queues a state event, replacing an unsent one of the same name.
    pub fn push_latest(&self, name: &'static str, payload: Arc<str>) -> Result<(), Closed> {
        self.push(Item::Event { name, payload }, true)
    }

    fn push(&self, item: Item, replace: bool) -> Result<(), Closed> {
        let mut g = self.lock();
        if let Some(c) = g.closed {
            return Err(c);
        }
        let cost = item.cost();
        let name = match &item {
            Item::Event { name, .. } => Some(*name),
            Item::Text(_) => None,
        };
        let old = if replace {
            g.queue
                .iter()
                .position(|q| matches!(q, Item::Event { name: n, .. } if Some(*n) == name))
        } else {
            None
        };
        let freed = old.map(|i| g.queue[i].cost()).unwrap_or(0);
        let queued = g.bytes - freed + cost;
        if queued > self.limit {
            let closed = Closed::Overflow {
                queued,
                limit: self.limit,
            };
            g.closed = Some(closed);
            // Give the memory back now, not when the socket finally goes.
            g.queue = VecDeque::new();
            g.bytes = 0;
            drop(g);
            self.wake.notify_waiters();
            return Err(closed);
        }
        match old {
            Some(i) => g.queue[i] = item,
            None => g.queue.push_back(item),
        }
        g.bytes = queued;
        drop(g);
        self.wake.notify_waiters();
        Ok(())
    }

    /// Marks the connection gone: later pushes fail, the queue is freed.
    pub fn close(&self) {
        let mut g = self.lock();
        if g.closed.is_none() {
            g.closed = Some(Closed::Gone);
        }
        g.queue = VecDeque::new();
        g.bytes = 0;
        drop(g);
        self.wake.notify_waiters();
    }

    /// Ends the connection because its device was revoked: the writer
    /// closes the socket with a policy-violation close frame.
    pub fn revoke(&self) {
        let mut g = self.lock();
        if g.closed.is_none() {
            g.closed = Some(Closed::Revoked);
        }
        g.queue = VecDeque::new();
        g.bytes = 0;
        drop(g);
        self.wake.notify_waiters();
    }

    async fn wait_for<T>(&self, mut f: impl FnMut(&mut Inner) -> Option<T>) -> T {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(t) = f(&mut self.lock()) {
                return t;
            }
            notified.await;
        }
    }

    /// The next frame to write, or why there will be none.
    pub async fn next(&self) -> Result<Item, Closed> {
        self.wait_for(|g| {
            if let Some(c) = g.closed {
                return Some(Err(c));
            }
            let item = g.queue.pop_front()?;
            g.bytes -= item.cost();
            if g.queue.is_empty() && g.queue.capacity() > 64 {
                // A burst is over: do not keep its buffer.
                g.queue = VecDeque::new();
            }
            Some(Ok(item))
        })
        .await
    }

    /// Resolves once the outbox is closed.
    pub async fn closed(&self) -> Closed {
        self.wait_for(|g| g.closed).await
    }

    #[cfg(test)]
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// The sending half a connection hands to agent runs and handlers.
#[derive(Clone)]
pub(crate) struct ConnTx(Arc<Outbox>);

impl ConnTx {
    pub fn new(outbox: Arc<Outbox>) -> Self {
        ConnTx(outbox)
    }

    /// Queues a frame; fails once the connection is closed or overflowed.
    pub fn send(&self, out: Outgoing) -> Result<(), Closed> {
        match out {
            Outgoing::Event(name, payload) => {
                let text = serde_json::to_string(&payload).unwrap_or_else(|_| "null".into());
                self.0.push_event(name, text.into())
            }
            Outgoing::Res(r) => self.0.push_text(Frame::Res(r).to_text()),
        }
    }

    #[cfg(test)]
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.0
    }
}

impl std::fmt::Debug for ConnTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnTx(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_protocol::EventFrame;

    fn payload(n: usize) -> Arc<str> {
        serde_json::to_string(&"x".repeat(n)).unwrap().into()
    }

    #[test]
    fn rendered_events_are_the_frames_serde_writes() {
        let item = Item::Event {
            name: "tick",
            payload: r#"{"ts":5}"#.into(),
        };
        let ours: Frame = serde_json::from_str(&item.render(7)).unwrap();
        let theirs = Frame::Event(EventFrame {
            event: "tick".into(),
            payload: serde_json::json!({"ts": 5}),
            seq: Some(7),
        });
        assert_eq!(item.render(7), theirs.to_text());
        assert_eq!(ours, theirs);
    }

    #[tokio::test]
    async fn frames_come_out_in_order_and_free_their_bytes() {
        let ob = Outbox::new(10_000);
        ob.push_event("a", payload(10)).unwrap();
        ob.push_text("res".into()).unwrap();
        assert!(ob.queued_bytes() > 0);
        assert!(matches!(ob.next().await, Ok(Item::Event { name: "a", .. })));
        assert_eq!(ob.next().await, Ok(Item::Text("res".into())));
        assert_eq!(ob.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn passing_the_limit_closes_and_drops_the_queue() {
        let ob = Outbox::new(1000);
        let mut pushed = 0;
        let err = loop {
            match ob.push_event("chat", payload(100)) {
                Ok(()) => pushed += 1,
                Err(e) => break e,
            }
        };
        assert!(pushed >= 5, "{pushed}");
        assert!(matches!(err, Closed::Overflow { queued, limit: 1000 } if queued > 1000));
        assert_eq!(ob.queued_bytes(), 0, "the backlog is freed at once");
        // Later pushes fail the same way; the writer learns why.
        assert_eq!(ob.push_text("x".into()), Err(err));
        assert_eq!(ob.next().await, Err(err));
        assert_eq!(ob.closed().await, err);
    }

    #[tokio::test]
    async fn state_events_replace_their_unsent_predecessor() {
        let ob = Outbox::new(1000);
        for i in 0..1000 {
            ob.push_latest("presence", format!("{{\"n\":{i}}}").into())
                .unwrap();
        }
        ob.push_event("chat", payload(1)).unwrap();
        ob.push_latest("presence", "{\"n\":-1}".into()).unwrap();
        let Ok(Item::Event { name, payload }) = ob.next().await else {
            panic!()
        };
        assert_eq!((name, &*payload), ("presence", "{\"n\":-1}"));
        assert!(matches!(
            ob.next().await,
            Ok(Item::Event { name: "chat", .. })
        ));
        assert_eq!(ob.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn a_waiting_writer_wakes_on_push_and_on_close() {
        let ob = Outbox::new(1000);
        let o2 = ob.clone();
        let w = tokio::spawn(async move { o2.next().await });
        tokio::task::yield_now().await;
        ob.push_text("r".into()).unwrap();
        assert_eq!(w.await.unwrap(), Ok(Item::Text("r".into())));
        let o2 = ob.clone();
        let w = tokio::spawn(async move { o2.closed().await });
        tokio::task::yield_now().await;
        ob.close();
        assert_eq!(w.await.unwrap(), Closed::Gone);
    }
}
