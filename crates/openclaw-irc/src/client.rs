//! The connection task: connect (TCP, optionally TLS), register, keep the
//! connection alive, join channels, deliver inbound messages, write queued
//! outbound lines under flood control, and on any failure reconnect with
//! exponential backoff and rejoin. Callers hold an [`IrcHandle`] and read
//! [`IrcEvent`]s; a reconnect is invisible to them except as events.
//!
//! A DM meant for one person ([`IrcHandle::privmsg_checked`]) is checked
//! right before it is written, on whatever connection writes it (also one
//! made after a reconnect while it waited in the queue): the connection
//! asks `USERHOST <nick>` when the message reaches the front of the queue,
//! and writes its lines the moment the answer shows the nick held by the
//! expected `user@host`, before reading anything else from the server; any
//! other answer drops it ([`IrcError::NotThem`]). What is left is the one
//! round trip between the server's answer and our lines reaching it; IRC
//! has no portable way to address a message to `nick!user@host`.

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use crate::flood::TokenBucket;
use crate::inbound::{Inbound, classify, parse_ctcp};
use crate::proto::{Message, format, irc_eq, sanitize};
use crate::split::{ASSUMED_HOST_LEN, privmsg_budget, split_text};

/// NickServ identification after registration.
#[derive(Clone)]
pub struct NickServ {
    /// The service's nick, `NickServ` on most networks.
    pub service: String,
    pub password: String,
}

impl fmt::Debug for NickServ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NickServ")
            .field("service", &self.service)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Everything one connection needs. Secrets are redacted from `Debug`.
#[derive(Clone)]
pub struct IrcConfig {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// Trust these PEM certificates instead of the system roots (a private
    /// network's CA, or a test server's self-signed certificate).
    pub tls_ca_file: Option<PathBuf>,
    pub nick: String,
    /// Tried in order when the nick is in use (433); after them, `nick_`,
    /// `nick__`, then `nick1`, `nick2`, ...
    pub alt_nicks: Vec<String>,
    pub username: String,
    pub realname: String,
    /// Server password (`PASS`).
    pub password: Option<String>,
    pub channels: Vec<String>,
    pub nickserv: Option<NickServ>,
    /// Answer to CTCP VERSION.
    pub version: String,
    /// Flood control: this many lines at once, then one per `flood_interval`.
    pub flood_burst: u32,
    pub flood_interval: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Send a PING after this long without traffic; give up on the
    /// connection `ping_timeout` later.
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub connect_timeout: Duration,
}

impl IrcConfig {
    /// Defaults for the given server and nick: TLS on, port 6697.
    pub fn new(host: impl Into<String>, nick: impl Into<String>) -> Self {
        let nick = nick.into();
        IrcConfig {
            host: host.into(),
            port: 6697,
            tls: true,
            tls_ca_file: None,
            username: nick.clone(),
            nick,
            alt_nicks: Vec::new(),
            realname: "OpenClaw".into(),
            password: None,
            channels: Vec::new(),
            nickserv: None,
            version: concat!("OpenClaw ", env!("CARGO_PKG_VERSION")).into(),
            flood_burst: 5,
            flood_interval: Duration::from_millis(1500),
            reconnect_min: Duration::from_secs(2),
            reconnect_max: Duration::from_secs(300),
            ping_interval: Duration::from_secs(120),
            ping_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(20),
        }
    }

    /// The `n`-th nick to try (0 = the configured one).
    pub fn nick_candidate(&self, n: usize) -> String {
        if n == 0 {
            return self.nick.clone();
        }
        if let Some(alt) = self.alt_nicks.get(n - 1) {
            return alt.clone();
        }
        match n - self.alt_nicks.len() {
            1 => format!("{}_", self.nick),
            2 => format!("{}__", self.nick),
            k => format!("{}{}", self.nick, k - 2),
        }
    }

    /// The wait before reconnect attempt `attempt` (0-based): doubling from
    /// `reconnect_min`, capped at `reconnect_max`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        self.reconnect_min
            .checked_mul(factor)
            .unwrap_or(self.reconnect_max)
            .min(self.reconnect_max)
    }
}

impl fmt::Debug for IrcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrcConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("nick", &self.nick)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("channels", &self.channels)
            .field(
                "nickserv",
                &self.nickserv.as_ref().map(|n| (&n.service, "<redacted>")),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Registered,
    Disconnected,
    Stopped,
}

/// What `channels status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcStatus {
    pub state: ConnState,
    pub nick: Option<String>,
    pub joined: Vec<String>,
    pub last_error: Option<String>,
    /// Successful registrations so far (1 after the first connect).
    pub connections: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IrcEvent {
    /// Registered (001) under `nick`.
    Connected {
        nick: String,
    },
    Joined {
        channel: String,
    },
    Message(Inbound),
    /// The connection ended; the next attempt starts after `retry_in`.
    Disconnected {
        error: String,
        retry_in: Duration,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IrcError {
    #[error("the IRC connection task has stopped")]
    Stopped,
    /// A checked DM was not sent: `nick` is not held by `expected`
    /// (`user@host`) any more; `now` is who holds it (`None`: nobody).
    #[error("{}", not_them(.nick, .expected, .now))]
    NotThem {
        nick: String,
        expected: String,
        now: Option<String>,
    },
    /// The server did not answer the identity check of a checked DM in
    /// time; the message was not sent (worth asking again later).
    #[error("the server did not answer USERHOST {0} within {1} s; the message was not sent")]
    NoAnswer(String, u64),
}

fn not_them(nick: &str, expected: &str, now: &Option<String>) -> String {
    match now {
        Some(now) => format!(
            "{nick} is now {nick}!{now}, not {nick}!{expected}; the message is not sent to someone else"
        ),
        None => {
            format!("nobody holds {nick} now ({nick}!{expected} is gone); the message is dropped")
        }
    }
}

/// How long a checked DM waits for the server's `USERHOST` answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// Fires once a message's last line is written, or with why it was not.
type Done = oneshot::Sender<Result<(), IrcError>>;

enum Command {
    Privmsg {
        target: String,
        text: String,
        /// `user@host` the target nick must belong to (checked DMs).
        expect: Option<String>,
        done: Done,
    },
    Raw(String),
    Quit(String),
}

/// The caller's side of a connection. Cheap to clone; the connection stops
/// when [`IrcHandle::quit`] is called or every handle is dropped.
#[derive(Clone)]
pub struct IrcHandle {
    tx: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<IrcStatus>,
}

impl IrcHandle {
    /// Queues `text` for `target` (a channel or a nick), split into lines
    /// that fit, and waits until every line has been written to the socket.
    /// Lines queued while disconnected go out after the reconnect.
    pub async fn privmsg(&self, target: &str, text: &str) -> Result<(), IrcError> {
        self.send_privmsg(target, text, None).await
    }

    /// A DM for one person: like [`IrcHandle::privmsg`], but written only
    /// if, right before, `USERHOST nick` shows the nick held by
    /// `expect_userhost` (`user@host`, compared under IRC case mapping);
    /// otherwise it is dropped with [`IrcError::NotThem`]. Checked on the
    /// connection that writes it, also after a reconnect.
    pub async fn privmsg_checked(
        &self,
        nick: &str,
        expect_userhost: &str,
        text: &str,
    ) -> Result<(), IrcError> {
        self.send_privmsg(nick, text, Some(expect_userhost.to_string()))
            .await
    }

    async fn send_privmsg(
        &self,
        target: &str,
        text: &str,
        expect: Option<String>,
    ) -> Result<(), IrcError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Command::Privmsg {
                target: target.to_string(),
                text: text.to_string(),
                expect,
                done,
            })
            .map_err(|_| IrcError::Stopped)?;
        rx.await.map_err(|_| IrcError::Stopped)?
    }

    /// Sends one raw line (flood-controlled); for commands this crate does
    /// not wrap.
    pub fn raw(&self, line: &str) -> Result<(), IrcError> {
        self.tx
            .send(Command::Raw(sanitize(line)))
            .map_err(|_| IrcError::Stopped)
    }

    pub fn status(&self) -> IrcStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<IrcStatus> {
        self.status.clone()
    }

    /// Sends QUIT and stops reconnecting.
    pub fn quit(&self, message: &str) {
        let _ = self.tx.send(Command::Quit(message.to_string()));
    }
}

/// Starts the connection task on the current Tokio runtime.
pub fn spawn(config: IrcConfig) -> (IrcHandle, mpsc::UnboundedReceiver<IrcEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (status_tx, status_rx) = watch::channel(IrcStatus {
        state: ConnState::Connecting,
        nick: None,
        joined: Vec::new(),
        last_error: None,
        connections: 0,
    });
    tokio::spawn(run(config, rx, ev_tx, status_tx));
    (
        IrcHandle {
            tx,
            status: status_rx,
        },
        ev_rx,
    )
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

fn tls_config(config: &IrcConfig) -> Result<rustls::ClientConfig, String> {
    match &config.tls_ca_file {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("reading {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("certificate in {}: {e}", path.display()))?;
            }
            Ok(rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth())
        }
        None => {
            use rustls_platform_verifier::ConfigVerifierExt;
            rustls::ClientConfig::with_platform_verifier()
                .map_err(|e| format!("system certificate roots: {e}"))
        }
    }
}

async fn connect(config: &IrcConfig) -> Result<Box<dyn Io>, String> {
    let addr = (config.host.as_str(), config.port);
    let tcp = timeout(config.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connecting to {}:{}: timed out", config.host, config.port))?
        .map_err(|e| format!("connecting to {}:{}: {e}", config.host, config.port))?;
    let _ = tcp.set_nodelay(true);
    if !config.tls {
        return Ok(Box::new(tcp));
    }
    let connector = TlsConnector::from(Arc::new(tls_config(config)?));
    let name = ServerName::try_from(config.host.clone())
        .map_err(|e| format!("TLS server name {:?}: {e}", config.host))?;
    let tls = timeout(config.connect_timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| {
            format!(
                "TLS handshake with {}:{}: timed out",
                config.host, config.port
            )
        })?
        .map_err(|e| format!("TLS handshake with {}:{}: {e}", config.host, config.port))?;
    Ok(Box::new(tls))
}

/// Outbound work that survives reconnects.
enum Out {
    /// A formatted line; `done` fires once it is written (the last line of a
    /// split message carries the message's sender).
    Line(String, Option<Done>),
    Privmsg {
        target: String,
        text: String,
        /// Checked DMs: the `user@host` the nick must belong to.
        expect: Option<String>,
        done: Done,
    },
}

/// The identity check of the checked DM at the front of the queue, on
/// this connection.
struct Check {
    id: u64,
    deadline: Instant,
    /// The server's answer once it came (`None` inside: nobody has the nick).
    answer: Option<Option<String>>,
}

/// What the front checked DM may do now.
enum CheckStep {
    /// Wait: for the answer, or (`Some`) for flood-control tokens.
    Wait(Option<Duration>),
    /// Write its lines now.
    Send,
    /// Drop it with this error.
    Drop(IrcError),
}

struct Session<'a> {
    config: &'a IrcConfig,
    ev: &'a mpsc::UnboundedSender<IrcEvent>,
    status: &'a watch::Sender<IrcStatus>,
    nick_try: usize,
    nick: String,
    registered: bool,
    /// `user` and host length as the server relays our messages.
    self_user: String,
    self_host_len: usize,
    /// The checks whose `USERHOST` is unanswered on this connection,
    /// oldest first (the server answers in order; an answer to a check
    /// that timed out is dropped).
    userhost_asked: VecDeque<u64>,
    /// The check of the checked DM at the front of the queue (none after a
    /// reconnect: the new connection asks again).
    check: Option<Check>,
    next_check: u64,
}

enum End {
    Quit,
    Error(String),
}

async fn run(
    config: IrcConfig,
    mut rx: mpsc::UnboundedReceiver<Command>,
    ev: mpsc::UnboundedSender<IrcEvent>,
    status: watch::Sender<IrcStatus>,
) {
    let mut queue: VecDeque<Out> = VecDeque::new();
    let mut attempt: u32 = 0;
    loop {
        status.send_modify(|s| {
            s.state = ConnState::Connecting;
            s.joined.clear();
        });
        let end = match connect(&config).await {
            Ok(io) => {
                let mut session = Session {
                    config: &config,
                    ev: &ev,
                    status: &status,
                    nick_try: 0,
                    nick: config.nick.clone(),
                    registered: false,
                    self_user: format!("~{}", config.username),
                    self_host_len: ASSUMED_HOST_LEN,
                    userhost_asked: VecDeque::new(),
                    check: None,
                    next_check: 0,
                };
                let end = session.drive(io, &mut rx, &mut queue).await;
                if session.registered {
                    attempt = 0;
                }
                end
            }
            Err(e) => End::Error(e),
        };
        let error = match end {
            End::Quit => {
                status.send_modify(|s| {
                    s.state = ConnState::Stopped;
                    s.joined.clear();
                });
                return;
            }
            End::Error(e) => e,
        };
        let retry_in = config.backoff(attempt);
        attempt = attempt.saturating_add(1);
        tracing::warn!(host = %config.host, port = config.port, %error, ?retry_in, "irc: disconnected");
        status.send_modify(|s| {
            s.state = ConnState::Disconnected;
            s.joined.clear();
            s.last_error = Some(error.clone());
        });
        let _ = ev.send(IrcEvent::Disconnected { error, retry_in });
        // Wait out the backoff, still taking commands (queued for later).
        let deadline = Instant::now() + retry_in;
        loop {
            tokio::select! {
                _ = sleep_until(deadline) => break,
                cmd = rx.recv() => match cmd {
                    None | Some(Command::Quit(_)) => {
                        status.send_modify(|s| s.state = ConnState::Stopped);
                        return;
                    }
                    Some(Command::Privmsg { target, text, expect, done }) => {
                        queue.push_back(Out::Privmsg { target, text, expect, done });
                    }
                    Some(Command::Raw(line)) => queue.push_back(Out::Line(line, None)),
                },
            }
        }
    }
}

impl Session<'_> {
    async fn drive(
        &mut self,
        io: Box<dyn Io>,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        queue: &mut VecDeque<Out>,
    ) -> End {
        let (read, mut write) = tokio::io::split(io);
        let (line_tx, mut lines) = mpsc::channel::<Result<String, String>>(64);
        let reader = tokio::spawn(async move {
            let mut r = BufReader::new(read);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match crate::lines::read_line_capped(&mut r, &mut buf).await {
                    Ok(0) => {
                        let _ = line_tx
                            .send(Err("server closed the connection".into()))
                            .await;
                        return;
                    }
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).into_owned();
                        if line_tx.send(Ok(line)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = line_tx.send(Err(format!("reading: {e}"))).await;
                        return;
                    }
                }
            }
        });
        let end = self.drive_inner(&mut write, &mut lines, rx, queue).await;
        reader.abort();
        let _ = write.shutdown().await;
        end
    }

    async fn drive_inner<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        lines: &mut mpsc::Receiver<Result<String, String>>,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        queue: &mut VecDeque<Out>,
    ) -> End {
        let config = self.config;
        // Registration.
        if let Some(pass) = &config.password
            && let Err(e) = write_line(w, &format("PASS", &[pass])).await
        {
            return End::Error(e);
        }
        let nick = self.nick.clone();
        if let Err(e) = write_line(w, &format("NICK", &[&nick])).await {
            return End::Error(e);
        }
        let user = format("USER", &[&config.username, "0", "*", &config.realname]);
        if let Err(e) = write_line(w, &user).await {
            return End::Error(e);
        }

        let mut bucket = TokenBucket::new(
            config.flood_burst,
            config.flood_interval,
            std::time::Instant::now(),
        );
        let mut last_rx = Instant::now();
        let mut ping_sent = false;
        let mut flood_wait: Option<Instant> = None;
        loop {
            // Write what the bucket allows.
            if self.registered && flood_wait.is_none() {
                while let Some(front) = queue.front_mut() {
                    if let Out::Privmsg {
                        target,
                        text,
                        expect,
                        ..
                    } = front
                    {
                        let budget = privmsg_budget(
                            "PRIVMSG",
                            &self.nick,
                            &self.self_user,
                            self.self_host_len,
                            target,
                        );
                        let target = target.clone();
                        let pieces = split_text(text, budget);
                        if let Some(expect) = expect.clone() {
                            let lines = pieces.len() as u32;
                            match self
                                .check_front(w, &target, &expect, lines, &mut bucket)
                                .await
                            {
                                Err(e) => return End::Error(e),
                                Ok(CheckStep::Wait(None)) => break,
                                Ok(CheckStep::Wait(Some(wait))) => {
                                    flood_wait = Some(Instant::now() + wait);
                                    break;
                                }
                                Ok(CheckStep::Drop(err)) => {
                                    if let Some(Out::Privmsg { done, .. }) = queue.pop_front() {
                                        let _ = done.send(Err(err));
                                    }
                                    continue;
                                }
                                Ok(CheckStep::Send) => {
                                    let Some(Out::Privmsg { done, .. }) = queue.pop_front() else {
                                        unreachable!()
                                    };
                                    // At once, with the tokens taken when
                                    // asking: nothing from the server is read
                                    // between the answer and these lines.
                                    for (k, piece) in pieces.iter().enumerate() {
                                        let line = format("PRIVMSG", &[&target, piece]);
                                        if let Err(e) = write_line(w, &line).await {
                                            // The rest waits for the next
                                            // connection, checked again there.
                                            queue.push_front(Out::Privmsg {
                                                target,
                                                text: pieces[k..].join("\n"),
                                                expect: Some(expect),
                                                done,
                                            });
                                            return End::Error(e);
                                        }
                                    }
                                    let _ = done.send(Ok(()));
                                    continue;
                                }
                            }
                        }
                        let Some(Out::Privmsg { done, .. }) = queue.pop_front() else {
                            unreachable!()
                        };
                        // Replace the message by its lines, in place; the
                        // last one reports the message written.
                        let mut done = Some(done);
                        if pieces.is_empty() {
                            let _ = done.take().map(|d| d.send(Ok(())));
                        }
                        for piece in pieces.into_iter().rev() {
                            queue.push_front(Out::Line(
                                format("PRIVMSG", &[&target, &piece]),
                                done.take(),
                            ));
                        }
                        continue;
                    }
                    match bucket.try_take(std::time::Instant::now()) {
                        Ok(()) => {
                            let Some(Out::Line(line, done)) = queue.pop_front() else {
                                unreachable!()
                            };
                            if let Err(e) = write_line(w, &line).await {
                                queue.push_front(Out::Line(line, done));
                                return End::Error(e);
                            }
                            if let Some(done) = done {
                                let _ = done.send(Ok(()));
                            }
                        }
                        Err(wait) => {
                            flood_wait = Some(Instant::now() + wait);
                            break;
                        }
                    }
                }
            }
            let idle_deadline = if ping_sent {
                last_rx + config.ping_interval + config.ping_timeout
            } else {
                last_rx + config.ping_interval
            };
            let flood_deadline = flood_wait.unwrap_or(idle_deadline);
            let check_deadline = self
                .check
                .as_ref()
                .filter(|c| c.answer.is_none())
                .map(|c| c.deadline);
            tokio::select! {
                line = lines.recv() => {
                    let line = match line {
                        Some(Ok(l)) => l,
                        Some(Err(e)) => return End::Error(e),
                        None => return End::Error("reader stopped".into()),
                    };
                    last_rx = Instant::now();
                    ping_sent = false;
                    if let Some(msg) = Message::parse(&line)
                        && let Err(end) = self.handle(w, &msg, queue).await
                    {
                        return end;
                    }
                }
                cmd = rx.recv() => match cmd {
                    None => {
                        let _ = write_line(w, "QUIT :shutting down").await;
                        return End::Quit;
                    }
                    Some(Command::Quit(m)) => {
                        let _ = write_line(w, &format("QUIT", &[&m])).await;
                        return End::Quit;
                    }
                    Some(Command::Privmsg { target, text, expect, done }) => {
                        queue.push_back(Out::Privmsg { target, text, expect, done });
                    }
                    Some(Command::Raw(line)) => queue.push_back(Out::Line(line, None)),
                },
                _ = sleep_until(flood_deadline), if flood_wait.is_some() => {
                    flood_wait = None;
                }
                _ = sleep_until(check_deadline.unwrap_or(idle_deadline)), if check_deadline.is_some() => {
                    // No answer: the message fails for now (its sender may
                    // try again); a late answer is dropped.
                    self.check = None;
                    if let Some(Out::Privmsg { target, done, .. }) = queue.pop_front() {
                        let _ = done.send(Err(IrcError::NoAnswer(target, CHECK_TIMEOUT.as_secs())));
                    }
                }
                _ = sleep_until(idle_deadline) => {
                    if ping_sent {
                        return End::Error(format!(
                            "no answer from the server for {}s (ping timeout)",
                            (config.ping_interval + config.ping_timeout).as_secs()
                        ));
                    }
                    ping_sent = true;
                    if let Err(e) = write_line(w, "PING :openclaw").await {
                        return End::Error(e);
                    }
                }
            }
        }
    }

    /// The identity check of the checked DM at the front of the queue
    /// (`nick` must be held by `expect`): asks `USERHOST` once the flood
    /// bucket holds tokens for it and the message's `lines`, then says what
    /// the answer allows. The check is used once.
    async fn check_front<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        nick: &str,
        expect: &str,
        lines: u32,
        bucket: &mut TokenBucket,
    ) -> Result<CheckStep, String> {
        match &self.check {
            Some(Check { answer: None, .. }) => Ok(CheckStep::Wait(None)),
            Some(Check {
                answer: Some(now), ..
            }) => {
                let now = now.clone();
                self.check = None;
                Ok(match now {
                    Some(now) if irc_eq(&now, expect) => CheckStep::Send,
                    now => CheckStep::Drop(IrcError::NotThem {
                        nick: nick.to_string(),
                        expected: expect.to_string(),
                        now,
                    }),
                })
            }
            None => {
                if let Err(wait) = bucket.try_take_n(1 + lines, std::time::Instant::now()) {
                    return Ok(CheckStep::Wait(Some(wait)));
                }
                write_line(w, &format("USERHOST", &[nick])).await?;
                let id = self.next_check;
                self.next_check += 1;
                self.userhost_asked.push_back(id);
                self.check = Some(Check {
                    id,
                    deadline: Instant::now() + CHECK_TIMEOUT,
                    answer: None,
                });
                Ok(CheckStep::Wait(None))
            }
        }
    }

    async fn handle<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        msg: &Message,
        queue: &mut VecDeque<Out>,
    ) -> Result<(), End> {
        let config = self.config;
        match msg.command.as_str() {
            "PING" => {
                write_line(w, &format("PONG", &[msg.param(0)]))
                    .await
                    .map_err(End::Error)?;
            }
            "001" => {
                self.registered = true;
                if !msg.param(0).is_empty() {
                    self.nick = msg.param(0).to_string();
                }
                // "Welcome to the network nick!user@host"
                if let Some(mask) = msg.param(1).rsplit(' ').next()
                    && let Some((nu, host)) = mask.split_once('@')
                    && let Some((_, user)) = nu.split_once('!')
                {
                    self.self_user = user.to_string();
                    self.self_host_len = host.len();
                }
                let nick = self.nick.clone();
                self.status.send_modify(|s| {
                    s.state = ConnState::Registered;
                    s.nick = Some(nick.clone());
                    s.connections += 1;
                    s.last_error = None;
                });
                tracing::info!(host = %config.host, nick = %self.nick, "irc: registered");
                let _ = self.ev.send(IrcEvent::Connected { nick });
                if let Some(ns) = &config.nickserv {
                    // Directly, before anything else is said under this nick.
                    let line = format(
                        "PRIVMSG",
                        &[&ns.service, &format!("IDENTIFY {}", ns.password)],
                    );
                    write_line(w, &line).await.map_err(End::Error)?;
                }
                // JOINs go first in the queue, ahead of queued messages.
                for chan in config.channels.iter().rev() {
                    queue.push_front(Out::Line(format("JOIN", &[chan]), None));
                }
            }
            "433" | "432" | "436" if !self.registered => {
                self.nick_try += 1;
                self.nick = config.nick_candidate(self.nick_try);
                tracing::info!(nick = %self.nick, "irc: nick in use, trying another");
                let nick = self.nick.clone();
                write_line(w, &format("NICK", &[&nick]))
                    .await
                    .map_err(End::Error)?;
            }
            "302" => {
                if let Some(id) = self.userhost_asked.pop_front()
                    && let Some(c) = self.check.as_mut().filter(|c| c.id == id)
                    && let Some(Out::Privmsg { target, .. }) = queue.front()
                {
                    c.answer = Some(parse_userhost(msg.param(1), target));
                }
            }
            "464" => {
                return Err(End::Error("the server rejected the password (464)".into()));
            }
            "465" => {
                return Err(End::Error(format!(
                    "banned from the server (465): {}",
                    msg.param(1)
                )));
            }
            "ERROR" => {
                return Err(End::Error(format!(
                    "server closed the link: {}",
                    msg.param(0)
                )));
            }
            "NICK" if irc_eq(msg.nick(), &self.nick) => {
                self.nick = msg.param(0).to_string();
                let nick = self.nick.clone();
                self.status.send_modify(|s| s.nick = Some(nick));
            }
            "JOIN" if irc_eq(msg.nick(), &self.nick) => {
                let channel = msg.param(0).to_string();
                if let Some(p) = &msg.prefix {
                    self.self_user = p.user.clone();
                    self.self_host_len = p.host.len();
                }
                self.status.send_modify(|s| {
                    if !s.joined.iter().any(|c| irc_eq(c, &channel)) {
                        s.joined.push(channel.clone());
                    }
                });
                let _ = self.ev.send(IrcEvent::Joined { channel });
            }
            "PART" if irc_eq(msg.nick(), &self.nick) => {
                let channel = msg.param(0).to_string();
                self.status
                    .send_modify(|s| s.joined.retain(|c| !irc_eq(c, &channel)));
            }
            "KICK" if irc_eq(msg.param(1), &self.nick) => {
                let channel = msg.param(0).to_string();
                tracing::warn!(%channel, by = %msg.nick(), "irc: kicked; rejoining");
                self.status
                    .send_modify(|s| s.joined.retain(|c| !irc_eq(c, &channel)));
                if config.channels.iter().any(|c| irc_eq(c, &channel)) {
                    queue.push_back(Out::Line(format("JOIN", &[&channel]), None));
                }
            }
            "PRIVMSG" => {
                if let Some(ctcp) = parse_ctcp(msg.param(1))
                    && ctcp.command != "ACTION"
                {
                    let from = msg.nick().to_string();
                    let reply = match ctcp.command.as_str() {
                        "VERSION" => Some(format!("\x01VERSION {}\x01", config.version)),
                        "PING" => Some(format!("\x01PING {}\x01", ctcp.args)),
                        _ => None,
                    };
                    if let Some(reply) = reply
                        && !from.is_empty()
                    {
                        queue.push_back(Out::Line(format("NOTICE", &[&from, &reply]), None));
                    }
                    return Ok(());
                }
                if let Some(inbound) = classify(msg, &self.nick) {
                    let _ = self.ev.send(IrcEvent::Message(inbound));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The `user@host` of `nick` in a `302` answer (`nick=+user@host ...`;
/// `*` marks an operator, `+`/`-` here or away).
fn parse_userhost(reply: &str, nick: &str) -> Option<String> {
    reply.split_whitespace().find_map(|entry| {
        let (n, rest) = entry.split_once('=')?;
        let n = n.trim_end_matches('*');
        irc_eq(n, nick).then(|| rest.trim_start_matches(['+', '-']).to_string())
    })
}

async fn write_line<W: AsyncWrite + Unpin>(w: &mut W, line: &str) -> Result<(), String> {
    let mut bytes = Vec::with_capacity(line.len() + 2);
    bytes.extend_from_slice(line.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    w.write_all(&bytes)
        .await
        .map_err(|e| format!("writing: {e}"))?;
    w.flush().await.map_err(|e| format!("writing: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_candidates_then_suffixes() {
        let mut c = IrcConfig::new("h", "bot");
        assert_eq!(c.nick_candidate(0), "bot");
        assert_eq!(c.nick_candidate(1), "bot_");
        assert_eq!(c.nick_candidate(2), "bot__");
        assert_eq!(c.nick_candidate(3), "bot1");
        c.alt_nicks = vec!["claw".into()];
        assert_eq!(c.nick_candidate(1), "claw");
        assert_eq!(c.nick_candidate(2), "bot_");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut c = IrcConfig::new("h", "bot");
        c.reconnect_min = Duration::from_secs(2);
        c.reconnect_max = Duration::from_secs(60);
        let waits: Vec<u64> = (0..8).map(|a| c.backoff(a).as_secs()).collect();
        assert_eq!(waits, vec![2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(c.backoff(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn userhost_answers() {
        assert_eq!(
            parse_userhost("Alice=+~alice@127.0.0.1", "alice").as_deref(),
            Some("~alice@127.0.0.1")
        );
        assert_eq!(
            parse_userhost("bob*=-~b@h alice=+~a@h", "alice").as_deref(),
            Some("~a@h")
        );
        assert_eq!(parse_userhost("", "alice"), None);
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut c = IrcConfig::new("h", "bot");
        c.password = Some("hunter2".into());
        c.nickserv = Some(NickServ {
            service: "NickServ".into(),
            password: "swordfish".into(),
        });
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2") && !s.contains("swordfish"), "{s}");
        assert!(s.contains("<redacted>"));
    }
}
