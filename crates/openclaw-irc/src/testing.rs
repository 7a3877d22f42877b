//! Test helpers: a real ngircd on free loopback ports with a throwaway
//! config, and a minimal raw IRC client to talk to the bot with.
//!
//! ngircd comes from Debian (`scripts/install-test-deps`); a missing binary
//! is a test failure with that hint, never a skip.

use std::io::Read;
use std::net::{TcpListener, TcpStream as StdTcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::proto::Message;

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

fn find_binary(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: run scripts/install-test-deps"))
}

#[derive(Debug, Clone, Default)]
pub struct NgircdOptions {
    /// Server password (`PASS`).
    pub password: Option<String>,
    /// Also listen with TLS (self-signed certificate from a throwaway CA;
    /// its PEM is [`Ngircd::ca_file`]).
    pub tls: bool,
}

/// A running ngircd in its own process group; killed on drop.
pub struct Ngircd {
    pub port: u16,
    pub tls_port: Option<u16>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Ngircd {
    pub fn start() -> Ngircd {
        Self::start_with(NgircdOptions::default())
    }

    pub fn start_with(opts: NgircdOptions) -> Ngircd {
        let dir = tempfile::Builder::new()
            .prefix("ngircd-")
            .tempdir()
            .expect("tempdir");
        // ngircd drops root privileges to `nobody`; let it read its files.
        set_mode(dir.path(), 0o755);
        let port = free_port();
        let tls_port = opts.tls.then(free_port);
        let mut conf = format!(
            "[Global]\nName = irc.test\nInfo = OpenClaw test server\nListen = 127.0.0.1\nPorts = {port}\n\
             MotdPhrase = test server\nAdminInfo1 = test\nAdminInfo2 = test\nAdminEMail = test@invalid\n"
        );
        if let Some(p) = &opts.password {
            conf.push_str(&format!("Password = {p}\n"));
        }
        conf.push_str(
            "[Limits]\nMaxConnectionsIP = 0\nMaxNickLength = 30\nPingTimeout = 120\nPongTimeout = 30\n\
             [Options]\nPAM = no\nIdent = no\nDNS = no\n",
        );
        if let Some(tp) = tls_port {
            gen_cert(dir.path());
            conf.push_str(&format!(
                "[SSL]\nPorts = {tp}\nCertFile = {}\nKeyFile = {}\n",
                dir.path().join("cert.pem").display(),
                dir.path().join("key.pem").display()
            ));
        }
        conf.push_str("[Channel]\nName = #room\nTopic = test room\n");
        std::fs::write(dir.path().join("ngircd.conf"), conf).expect("write ngircd.conf");
        set_mode(&dir.path().join("ngircd.conf"), 0o644);
        let mut s = Ngircd {
            port,
            tls_port,
            dir,
            child: None,
        };
        s.launch();
        s
    }

    /// The CA certificate that signed the TLS listener's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("ngircd.log")).expect("log file");
        let child = Command::new(find_binary("ngircd"))
            .arg("--nodaemon")
            .arg("--config")
            .arg(self.dir.path().join("ngircd.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn ngircd");
        self.child = Some(child);
        let ports: Vec<u16> = std::iter::once(self.port).chain(self.tls_port).collect();
        for _ in 0..400 {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("ngircd exited ({status}) before listening:\n{}", self.log());
            }
            if ports
                .iter()
                .all(|p| StdTcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "ngircd did not listen on {ports:?} within 20s:\n{}",
            self.log()
        );
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("ngircd.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// SIGKILL to the server's process group, and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain syscall; the group is the one we created.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports with the same config.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "ngircd is still running");
        self.launch();
    }
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is not installed: run scripts/install-test-deps");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway CA and a leaf certificate for 127.0.0.1 / localhost.
fn gen_cert(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=openclaw test CA",
    ]);
    openssl(dir, &a);
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &a);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write leaf.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
    for f in ["cert.pem", "key.pem", "ca.pem"] {
        set_mode(&dir.join(f), 0o644);
    }
}

/// A bare IRC client for tests: registers, then reads and writes raw lines.
pub struct TestClient {
    pub nick: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl TestClient {
    /// Connects and waits for 001. Answers PINGs while waiting in
    /// [`TestClient::expect`].
    pub async fn connect(port: u16, nick: &str) -> TestClient {
        Self::connect_as(port, nick, nick).await
    }

    /// [`TestClient::connect`] with another user name (`USER <user>`), so
    /// the mask is `nick!~user@127.0.0.1`: someone else under a known nick.
    pub async fn connect_as(port: u16, nick: &str, user: &str) -> TestClient {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to ngircd");
        let (r, w) = stream.into_split();
        let mut c = TestClient {
            nick: nick.to_string(),
            reader: BufReader::new(r),
            writer: w,
        };
        c.send(&format!("NICK {nick}")).await;
        c.send(&format!("USER {user} 0 * :test user")).await;
        c.expect(|m| m.command == "001").await;
        c
    }

    pub async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write to ngircd");
    }

    pub async fn join(&mut self, channel: &str) {
        self.send(&format!("JOIN {channel}")).await;
        let nick = self.nick.clone();
        self.expect(|m| m.command == "366" && m.param(0) == nick)
            .await;
    }

    /// The next line (raw, without CR LF), answering PINGs on the way.
    pub async fn next_line(&mut self) -> String {
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
                .await
                .expect("no line from ngircd within 30s")
                .expect("read from ngircd");
            assert!(n > 0, "ngircd closed the connection");
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if let Some(rest) = line.strip_prefix("PING ") {
                self.send(&format!("PONG {rest}")).await;
                continue;
            }
            return line;
        }
    }

    /// Sends QUIT and waits until the server closed the connection, so the
    /// nick is free for someone else.
    pub async fn quit(mut self) {
        self.send("QUIT :bye").await;
        let mut line = String::new();
        loop {
            line.clear();
            match tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
                .await
                .expect("the server did not close the connection within 30s")
            {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Reads until a message matches (30 s without a line fails the test).
    pub async fn expect(&mut self, pred: impl Fn(&Message) -> bool) -> Message {
        loop {
            let line = self.next_line().await;
            if let Some(m) = Message::parse(&line)
                && pred(&m)
            {
                return m;
            }
        }
    }
}
