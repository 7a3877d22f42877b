//! Device identity and credential-bound scopes on real loopback sockets
//! (issue 14 and issue 17's "scopes are self-asserted"): forged device
//! proofs, wrong tokens and foreign origins are refused; a local device is
//! paired and reconnects with its device token; a remote one waits for
//! approval; a revoked one is cut off; the shared secret grants only what
//! `gateway.auth.scopes` allows. (docs/security.md lists which test proves
//! which check.)

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::{Served, free_port, profile_instance, test_options, write_config};
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use openclaw_gateway::Gateway;
use openclaw_gateway::devices::{self, DeviceStore};
use openclaw_protocol::device::{PayloadVersion, SignedFields};
use serde_json::{Value, json};
use sha2::Digest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "device-test-token-0123456789abcdef";
const GUARD: Duration = Duration::from_secs(10);
const UI_SCOPES: &[&str] = &[
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
    "operator.questions",
    "operator.pairing",
];

struct Running {
    gateway: Served,
    state_dir: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

impl Running {
    fn url(&self) -> String {
        self.gateway.url()
    }
    fn store(&self) -> DeviceStore {
        DeviceStore::new(&self.state_dir)
    }
    async fn stop(self) {
        self.gateway.stop().await;
    }
}

/// A gateway with token auth (and `auth` merged into `gateway.auth`).
fn start(auth: Value) -> Running {
    let tmp = tempfile::tempdir().unwrap();
    let inst = profile_instance(tmp.path(), "main", free_port());
    let mut config = json!({"gateway": {"mode": "local", "bind": "loopback",
        "auth": {"mode": "token", "token": TOKEN}}});
    if let (Some(a), Some(extra)) = (config["gateway"]["auth"].as_object_mut(), auth.as_object()) {
        a.extend(extra.clone());
    }
    write_config(&inst, &config);
    Running {
        gateway: Served::serve(Gateway::bind(test_options(&inst)).unwrap()),
        state_dir: inst.state_dir.value.clone(),
        _tmp: tmp,
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(url: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(v).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("unexpected websocket error: {e}"),
    }
}

async fn recv(ws: &mut Ws) -> Result<Value, (u16, String)> {
    loop {
        let msg = tokio::time::timeout(GUARD, ws.next())
            .await
            .expect("frame within guard");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(Some(f)))) => {
                return Err((u16::from(f.code), f.reason.to_string()));
            }
            Some(Ok(Message::Close(None))) | None => return Err((1005, String::new())),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err((0, e.to_string())),
        }
    }
}

/// A device key pair, as a browser or app keeps it.
struct Device {
    key: SigningKey,
}

impl Device {
    fn new(seed: u8) -> Self {
        Device {
            key: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    fn public_key(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.key.verifying_key().to_bytes())
    }

    fn id(&self) -> String {
        hex::encode(sha2::Sha256::digest(self.key.verifying_key().to_bytes()))
    }
}

/// How to build one connect.
struct Connect<'a> {
    auth: Value,
    scopes: &'a [&'a str],
    device: Option<&'a Device>,
    /// Sign this nonce instead of the challenge's.
    nonce: Option<&'a str>,
    /// Shift `signedAt` from the challenge's `ts`.
    skew_ms: i64,
    /// Flip a byte of the signature.
    forge: bool,
    role: &'a str,
}

impl<'a> Connect<'a> {
    fn new(auth: Value, device: Option<&'a Device>) -> Self {
        Connect {
            auth,
            scopes: UI_SCOPES,
            device,
            nonce: None,
            skew_ms: 0,
            forge: false,
            role: "operator",
        }
    }
}

/// Challenge, then `connect` signed the way the Control UI signs it (v2);
/// the answer frame (or the close).
async fn handshake(ws: &mut Ws, c: Connect<'_>) -> Result<Value, (u16, String)> {
    let ch = recv(ws).await?;
    assert_eq!(ch["event"], "connect.challenge");
    let nonce = c
        .nonce
        .map(str::to_string)
        .unwrap_or_else(|| ch["payload"]["nonce"].as_str().unwrap().to_string());
    let ts = (ch["payload"]["ts"].as_i64().unwrap() + c.skew_ms) as u64;
    let scopes: Vec<String> = c.scopes.iter().map(|s| s.to_string()).collect();
    let mut params = json!({
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "openclaw-control-ui", "version": "2026.9.6", "platform": "Linux x86_64", "mode": "webchat"},
        "role": c.role, "scopes": scopes, "auth": c.auth,
    });
    if let Some(d) = c.device {
        let token = c.auth["token"]
            .as_str()
            .or(c.auth["deviceToken"].as_str())
            .unwrap_or("");
        let id = d.id();
        let payload = SignedFields {
            device_id: &id,
            client_id: "openclaw-control-ui",
            client_mode: "webchat",
            role: c.role,
            scopes: &scopes,
            signed_at_ms: ts,
            token,
            nonce: &nonce,
            platform: "Linux x86_64",
            device_family: "",
        }
        .payload(PayloadVersion::V2);
        let mut sig = d.key.sign(payload.as_bytes()).to_bytes();
        if c.forge {
            sig[10] ^= 1;
        }
        params["device"] = json!({
            "id": id, "publicKey": d.public_key(),
            "signature": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig),
            "signedAt": ts, "nonce": ch["payload"]["nonce"],
        });
    }
    ws.send(Message::Text(
        json!({"type": "req", "id": "c1", "method": "connect", "params": params})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    recv(ws).await
}

/// A refused connect: its detail code, then the close (code, reason).
async fn refused(ws: &mut Ws, c: Connect<'_>) -> (String, (u16, String)) {
    let res = handshake(ws, c).await.unwrap();
    assert_eq!(res["ok"], false, "{res}");
    let code = res["error"]["details"]["code"]
        .as_str()
        .unwrap()
        .to_string();
    let close = recv(ws).await.unwrap_err();
    (code, close)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_device_proofs_are_refused_with_device_auth_codes() {
    let g = start(json!({}));
    let d = Device::new(1);
    let cases: Vec<(Connect, &str)> = vec![
        (
            Connect {
                forge: true,
                ..Connect::new(json!({"token": TOKEN}), Some(&d))
            },
            "DEVICE_AUTH_SIGNATURE_INVALID",
        ),
        (
            Connect {
                nonce: Some("a-nonce-from-another-connection"),
                ..Connect::new(json!({"token": TOKEN}), Some(&d))
            },
            "DEVICE_AUTH_SIGNATURE_INVALID",
        ),
        (
            Connect {
                skew_ms: -10 * 60 * 1000,
                ..Connect::new(json!({"token": TOKEN}), Some(&d))
            },
            "DEVICE_AUTH_SIGNATURE_EXPIRED",
        ),
    ];
    for (c, want) in cases {
        let mut ws = open(&g.url(), &[]).await.unwrap();
        let (code, (close, reason)) = refused(&mut ws, c).await;
        assert_eq!(code, want);
        assert_eq!(close, 1008);
        assert!(reason.starts_with("device signature"), "{reason}");
    }
    // Claiming another device's id with one's own key.
    let other = Device::new(2);
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let ch = recv(&mut ws).await.unwrap();
    let connect = json!({"type":"req","id":"c1","method":"connect","params":{
        "minProtocol":4,"maxProtocol":4,
        "client":{"id":"openclaw-control-ui","version":"1","platform":"linux","mode":"webchat"},
        "role":"operator","scopes":["operator.read"],"auth":{"token":TOKEN},
        "device":{"id":other.id(),"publicKey":d.public_key(),"signature":"AAAA",
            "signedAt":ch["payload"]["ts"],"nonce":ch["payload"]["nonce"]}}});
    ws.send(Message::Text(connect.to_string().into()))
        .await
        .unwrap();
    let res = recv(&mut ws).await.unwrap();
    assert_eq!(
        res["error"]["details"],
        json!({"code": "DEVICE_AUTH_DEVICE_ID_MISMATCH", "reason": "device-id-mismatch"})
    );
    // Nothing was paired by any of these.
    assert!(g.store().load().unwrap().paired.is_empty());
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_and_a_foreign_origin_are_refused() {
    let g = start(json!({}));
    let d = Device::new(3);
    // Wrong token, with and without a device.
    for device in [Some(&d), None] {
        let mut ws = open(&g.url(), &[]).await.unwrap();
        let (code, (close, _)) = refused(
            &mut ws,
            Connect::new(json!({"token": "not-the-token"}), device),
        )
        .await;
        assert_eq!(code, "AUTH_TOKEN_MISMATCH", "device: {}", device.is_some());
        assert_eq!(close, 1008);
    }
    // A page on a foreign origin cannot even open the socket, token or not.
    let page = format!("http://127.0.0.1:{}", free_port());
    for origin in [page.as_str(), "http://evil.example"] {
        assert_eq!(open(&g.url(), &[("Origin", origin)]).await.err(), Some(403));
    }
    assert!(g.store().load().unwrap().paired.is_empty());
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_device_is_paired_and_reconnects_with_its_device_token() {
    let g = start(json!({}));
    let d = Device::new(4);
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let hello = handshake(&mut ws, Connect::new(json!({"token": TOKEN}), Some(&d)))
        .await
        .unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    let auth = &hello["payload"]["auth"];
    assert_eq!(auth["method"], "token");
    assert_eq!(auth["scopes"].as_array().unwrap().len(), UI_SCOPES.len());
    let token = auth["deviceToken"].as_str().unwrap().to_string();
    assert!(auth["issuedAtMs"].as_u64().is_some());
    let file = g.store().load().unwrap();
    let p = &file.paired[&d.id()];
    assert_eq!(p.approved_by, "local");
    assert_eq!(p.public_key, d.public_key());
    let raw = std::fs::read_to_string(g.store().path()).unwrap();
    assert!(
        !raw.contains(&token),
        "the device token is stored hashed only"
    );
    drop(ws);

    // Reconnect with the device token alone: its approved scopes.
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let hello = handshake(
        &mut ws,
        Connect {
            scopes: &["operator.read", "operator.admin"],
            ..Connect::new(json!({"deviceToken": token}), Some(&d))
        },
    )
    .await
    .unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    let auth = &hello["payload"]["auth"];
    assert_eq!(auth["method"], "device-token");
    assert_eq!(auth["scopes"], json!(["operator.read", "operator.admin"]));
    assert!(auth.get("deviceToken").is_none(), "no new token: {auth}");
    // The token is bound to this device: another key cannot use it.
    let thief = Device::new(5);
    let mut ws2 = open(&g.url(), &[]).await.unwrap();
    let (code, _) = refused(
        &mut ws2,
        Connect::new(json!({"deviceToken": token}), Some(&thief)),
    )
    .await;
    assert_eq!(code, "AUTH_DEVICE_TOKEN_MISMATCH");
    // And without a device identity it is not a credential at all.
    let mut ws3 = open(&g.url(), &[]).await.unwrap();
    let (code, _) = refused(&mut ws3, Connect::new(json!({"deviceToken": token}), None)).await;
    assert_eq!(code, "DEVICE_IDENTITY_REQUIRED");
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_behind_a_proxy_waits_for_approval() {
    let g = start(json!({}));
    let d = Device::new(6);
    let via = [("X-Forwarded-For", "203.0.113.7")];
    let mut ws = open(&g.url(), &via).await.unwrap();
    let res = handshake(&mut ws, Connect::new(json!({"token": TOKEN}), Some(&d)))
        .await
        .unwrap();
    assert_eq!(res["error"]["code"], "NOT_PAIRED", "{res}");
    let details = &res["error"]["details"];
    assert_eq!(details["code"], "PAIRING_REQUIRED");
    assert_eq!(details["reason"], "not-paired");
    let request = details["requestId"].as_str().unwrap().to_string();
    assert!(
        details["remediationHint"]
            .as_str()
            .unwrap()
            .contains(&format!("openclaw devices approve {request}"))
    );
    assert_eq!(recv(&mut ws).await.unwrap_err().0, 1008);
    assert!(g.store().load().unwrap().pending.contains_key(&request));
    // The owner approves (what `openclaw devices approve` does).
    g.store()
        .update(|f| {
            (
                true,
                devices::approve(f, &request, devices::now_ms(), "cli", None).unwrap(),
            )
        })
        .unwrap();
    let mut ws = open(&g.url(), &via).await.unwrap();
    let hello = handshake(&mut ws, Connect::new(json!({"token": TOKEN}), Some(&d)))
        .await
        .unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    assert!(hello["payload"]["auth"]["deviceToken"].is_string());
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_device_closes_its_session_and_voids_its_token() {
    let g = start(json!({}));
    let d = Device::new(7);
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let hello = handshake(&mut ws, Connect::new(json!({"token": TOKEN}), Some(&d)))
        .await
        .unwrap();
    let token = hello["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    // What `openclaw devices revoke` does, from another process's view.
    g.store()
        .update(|f| (true, devices::revoke(f, &d.id()[..12]).unwrap()))
        .unwrap();
    let deadline = Instant::now() + GUARD;
    let closed = loop {
        match recv(&mut ws).await {
            Err(c) => break c,
            Ok(_) => assert!(Instant::now() < deadline, "still open"),
        }
    };
    assert_eq!(closed.0, 1008);
    assert!(closed.1.contains("revoked"), "{closed:?}");
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let (code, _) = refused(
        &mut ws,
        Connect::new(json!({"deviceToken": token}), Some(&d)),
    )
    .await;
    assert_eq!(code, "AUTH_DEVICE_TOKEN_MISMATCH");
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_secret_grants_only_what_gateway_auth_scopes_allows() {
    // Default: every operator scope, so what was asked for.
    let g = start(json!({}));
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let hello = handshake(&mut ws, Connect::new(json!({"token": TOKEN}), None))
        .await
        .unwrap();
    assert_eq!(
        hello["payload"]["auth"]["scopes"].as_array().unwrap().len(),
        UI_SCOPES.len()
    );
    g.stop().await;

    let g = start(json!({"scopes": ["operator.read", "operator.write"]}));
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let hello = handshake(&mut ws, Connect::new(json!({"token": TOKEN}), None))
        .await
        .unwrap();
    assert_eq!(
        hello["payload"]["auth"]["scopes"],
        json!(["operator.read", "operator.write"]),
        "granted, not what was asked"
    );
    ws.send(Message::Text(
        json!({"type":"req","id":"r1","method":"config.get","params":{}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let got = loop {
        let f = recv(&mut ws).await.unwrap();
        if f["id"] == "r1" {
            break f;
        }
    };
    assert_eq!(got["ok"], true);
    assert!(
        got["payload"]["raw"].is_null(),
        "admin-only raw config hidden"
    );
    ws.send(Message::Text(
        json!({"type":"req","id":"r2","method":"device.pair.list","params":{}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let got = loop {
        let f = recv(&mut ws).await.unwrap();
        if f["id"] == "r2" {
            break f;
        }
    };
    assert_eq!(got["error"]["details"]["missingScope"], "operator.pairing");
    // A device paired over this credential is approved for the same grant.
    let d = Device::new(8);
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let hello = handshake(&mut ws, Connect::new(json!({"token": TOKEN}), Some(&d)))
        .await
        .unwrap();
    assert_eq!(
        hello["payload"]["auth"]["scopes"],
        json!(["operator.read", "operator.write"])
    );
    assert_eq!(
        g.store().load().unwrap().paired[&d.id()].scopes,
        ["operator.read", "operator.write"]
    );
    g.stop().await;
}

/// Rewrites the gateway's config file with `f` applied (the gateway polls
/// it every 50 ms).
fn edit_config(g: &Running, f: impl FnOnce(&mut Value)) {
    let path = g.state_dir.join("openclaw.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&path, v.to_string()).unwrap();
}

/// Waits for the gateway to close `ws` (a credentials change ends it).
async fn closed(ws: &mut Ws) -> (u16, String) {
    let deadline = Instant::now() + GUARD;
    loop {
        match recv(ws).await {
            Err(c) => return c,
            Ok(_) => assert!(Instant::now() < deadline, "still open"),
        }
    }
}

/// A device token grants at most the gateway's current grant: after
/// `gateway.auth.scopes` narrows, a device paired for admin reconnects with
/// read only. When the shared secret changes, the devices paired
/// automatically under the old one are void (their tokens refused, their
/// pairing removed), as upstream revokes browser device tokens derived
/// from the old shared credential; a device the owner approved keeps
/// working. A token issued for the operator role does not connect as a
/// node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_tokens_follow_the_current_grant_and_die_with_the_secret() {
    let g = start(json!({}));
    let d = Device::new(11);
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let hello = handshake(&mut ws, Connect::new(json!({"token": TOKEN}), Some(&d)))
        .await
        .unwrap();
    let token = hello["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        hello["payload"]["auth"]["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("operator.admin"))
    );
    // An owner-approved device (behind a proxy, approved like the CLI does).
    let remote = Device::new(12);
    let via = [("X-Forwarded-For", "203.0.113.7")];
    let mut wr = open(&g.url(), &via).await.unwrap();
    let res = handshake(
        &mut wr,
        Connect::new(json!({"token": TOKEN}), Some(&remote)),
    )
    .await
    .unwrap();
    let request = res["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    g.store()
        .update(|f| {
            (
                true,
                devices::approve(f, &request, devices::now_ms(), "cli", None).unwrap(),
            )
        })
        .unwrap();
    let mut wr = open(&g.url(), &via).await.unwrap();
    let hello = handshake(
        &mut wr,
        Connect::new(json!({"token": TOKEN}), Some(&remote)),
    )
    .await
    .unwrap();
    let remote_token = hello["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    // A device approved over RPC by a shared-secret session (what a leaked
    // secret allows: ask behind a proxy header, approve it yourself).
    let minted = Device::new(13);
    let mut wm = open(&g.url(), &via).await.unwrap();
    let res = handshake(
        &mut wm,
        Connect::new(json!({"token": TOKEN}), Some(&minted)),
    )
    .await
    .unwrap();
    let request = res["error"]["details"]["requestId"].as_str().unwrap();
    ws.send(Message::Text(
        json!({"type":"req","id":"a1","method":"device.pair.approve",
            "params":{"requestId": request}})
        .to_string()
        .into(),
    ))
    .await
    .unwrap();
    let got = loop {
        let f = recv(&mut ws).await.unwrap();
        if f["id"] == "a1" {
            break f;
        }
    };
    assert_eq!(got["ok"], true, "{got}");
    let mut wm = open(&g.url(), &via).await.unwrap();
    let hello = handshake(
        &mut wm,
        Connect::new(json!({"token": TOKEN}), Some(&minted)),
    )
    .await
    .unwrap();
    let minted_token = hello["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_string();

    // The operator's token presented for the node role: refused.
    let mut wn = open(&g.url(), &[]).await.unwrap();
    let (code, _) = refused(
        &mut wn,
        Connect {
            role: "node",
            ..Connect::new(json!({"deviceToken": token}), Some(&d))
        },
    )
    .await;
    assert_eq!(code, "AUTH_DEVICE_TOKEN_MISMATCH");

    // gateway.auth.scopes narrows: open sessions close; the device token
    // reconnects under the new grant.
    edit_config(&g, |v| {
        v["gateway"]["auth"]["scopes"] = json!(["operator.read"])
    });
    closed(&mut ws).await;
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let hello = handshake(
        &mut ws,
        Connect::new(json!({"deviceToken": token}), Some(&d)),
    )
    .await
    .unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    assert_eq!(hello["payload"]["auth"]["method"], "device-token");
    assert_eq!(hello["payload"]["auth"]["scopes"], json!(["operator.read"]));
    drop(ws);

    // The shared secret changes: the automatic pairing is void.
    let new_token = "device-test-token-rotated-0123456789";
    edit_config(&g, |v| {
        v["gateway"]["auth"] = json!({"mode": "token", "token": new_token})
    });
    let deadline = Instant::now() + GUARD;
    while g.store().load().unwrap().paired.contains_key(&d.id()) {
        assert!(
            Instant::now() < deadline,
            "the stale pairing was never voided"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let (code, _) = refused(
        &mut ws,
        Connect::new(json!({"deviceToken": token}), Some(&d)),
    )
    .await;
    assert_eq!(code, "AUTH_DEVICE_TOKEN_MISMATCH");
    // So is the one approved over RPC on the strength of the old secret.
    let mut wm = open(&g.url(), &via).await.unwrap();
    let (code, _) = refused(
        &mut wm,
        Connect::new(json!({"deviceToken": minted_token}), Some(&minted)),
    )
    .await;
    assert_eq!(code, "AUTH_DEVICE_TOKEN_MISMATCH");
    // The owner-approved device is independent of the shared secret.
    let mut wr = open(&g.url(), &via).await.unwrap();
    let hello = handshake(
        &mut wr,
        Connect::new(json!({"deviceToken": remote_token}), Some(&remote)),
    )
    .await
    .unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    // With the new secret, the local device pairs again.
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let hello = handshake(&mut ws, Connect::new(json!({"token": new_token}), Some(&d)))
        .await
        .unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    let again = hello["payload"]["auth"]["deviceToken"].as_str().unwrap();
    assert_ne!(again, token);
    g.stop().await;
}
