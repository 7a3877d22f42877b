use serde_json::json;

use super::*;

// Frames copied from the capture of the original gateway (shared spec,
// protocol-capture.jsonl and observed/wsclient-scenarios*.txt).
const CHALLENGE: &str = r#"{"type":"event","event":"connect.challenge","payload":{"nonce":"39c66e53-5046-4ece-af4c-f135064cec83","ts":1795270416016,"capabilities":["model-catalog-snapshot"]}}"#;
const CONNECT: &str = r#"{"type":"req","id":"1:3b8b58ea-1993-43aa-85fb-b1682745e7d6","method":"connect","params":{"minProtocol":4,"maxProtocol":4,"client":{"id":"cli","version":"2026.9.6","platform":"linux","deviceFamily":"Linux","mode":"cli","instanceId":"01b1795f-bc2b-4e3e-9145-89189fe49fd2"},"caps":[],"auth":{"token":"<gateway.auth.token>"},"role":"operator","scopes":["operator.read"]}}"#;
const HEALTH_REQ: &str =
    r#"{"type":"req","id":"2:167d99de-0811-453b-b13c-13243669a798","method":"health","params":{}}"#;
const BADTOKEN: &str = r#"{"type":"res","id":"c1","ok":false,"error":{"code":"INVALID_REQUEST","message":"unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)","details":{"code":"AUTH_TOKEN_MISMATCH","authReason":"token_mismatch","canRetryWithDeviceToken":false,"recommendedNextStep":"update_auth_credentials"}}}"#;
const NOTOKEN: &str = r#"{"type":"res","id":"c1","ok":false,"error":{"code":"NOT_PAIRED","message":"device identity required","details":{"code":"DEVICE_IDENTITY_REQUIRED"}}}"#;
const BADPROTO: &str = r#"{"type":"res","id":"c1","ok":false,"error":{"code":"INVALID_REQUEST","message":"protocol mismatch","details":{"code":"PROTOCOL_MISMATCH","clientMinProtocol":1,"clientMaxProtocol":2,"expectedProtocol":4,"minimumProbeProtocol":3}}}"#;
const EARLY: &str = r#"{"type":"res","id":"x1","ok":false,"error":{"code":"INVALID_REQUEST","message":"invalid handshake: first request must be connect"}}"#;
const MISSING: &str = r#"{"type":"res","id":"r2","ok":false,"error":{"code":"FORBIDDEN","message":"missing scope: operator.admin","details":{"code":"MISSING_SCOPE","missingScope":"operator.admin","requiredScopes":["operator.admin"]}}}"#;
const UNKNOWN: &str = r#"{"type":"res","id":"r0","ok":false,"error":{"code":"INVALID_REQUEST","message":"unknown method: no.such.method"}}"#;
const IDENTITY: &str = r#"{"type":"res","id":"r1","ok":true,"payload":{"deviceId":"7c156bd166e9b7f5","publicKey":"0F1H0dbIzH3ivCt79xSofv2T5WEHXZrugx50mSM2JiQ"}}"#;
// hello-ok with the original's extra fields trimmed to a few (unknown fields
// must be tolerated when reading).
const HELLO: &str = r#"{"type":"res","id":"c1","ok":true,"payload":{"type":"hello-ok","protocol":4,"server":{"version":"2026.9.6","buildId":"2026.9.6-release","bootId":"cb60bf64","controlUiBuildSource":"bundled","connId":"f10844ae-181a-4ad6-89c6-dfe4c025ead4"},"features":{"methods":["health","status"],"events":["connect.challenge","tick"],"capabilities":["model-catalog-snapshot"]},"snapshot":{"suspension":{"phase":"accepting"},"presence":[{"host":"vm","ip":"vm","version":"2026.9.6","platform":"linux 6.18.44-fc-v595","deviceFamily":"Linux","mode":"gateway","reason":"self","instanceId":"4d5e2666","text":"Gateway: vm","ts":1795270416036}],"health":{"ok":true,"ts":1795270384873},"stateVersion":{"presence":1,"health":4},"uptimeMs":105498,"appliedConfigHash":"hmac"},"auth":{"method":"token","role":"operator","scopes":["operator.read"],"recoveryScope":"x"},"policy":{"maxPayload":26214400,"maxBufferedBytes":52428800,"tickIntervalMs":30000,"attachments":{"maxBytes":1}}}}"#;

fn parse(s: &str) -> Frame {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("parse {s}: {e}"))
}

/// Parsing then serialising gives back the same JSON value.
fn roundtrip(s: &str) {
    let frame = parse(s);
    let back: serde_json::Value = serde_json::from_str(&frame.to_text()).unwrap();
    let orig: serde_json::Value = serde_json::from_str(s).unwrap();
    assert_eq!(back, orig, "round trip of {s}");
}

#[test]
fn captured_frames_round_trip() {
    for s in [
        CHALLENGE, HEALTH_REQ, BADTOKEN, NOTOKEN, BADPROTO, EARLY, MISSING, UNKNOWN, IDENTITY,
        CONNECT,
    ] {
        roundtrip(s);
    }
}

#[test]
fn challenge_payload_parses() {
    let Frame::Event(ev) = parse(CHALLENGE) else {
        panic!("not an event")
    };
    assert_eq!(ev.event, events::CONNECT_CHALLENGE);
    let ch: ConnectChallenge = serde_json::from_value(ev.payload).unwrap();
    assert_eq!(ch.nonce, "39c66e53-5046-4ece-af4c-f135064cec83");
    assert_eq!(ch.ts, 1795270416016);
}

#[test]
fn connect_params_parse_and_keep_unknown_client_fields() {
    let Frame::Req(req) = parse(CONNECT) else {
        panic!("not a req")
    };
    assert_eq!(req.method, methods::CONNECT);
    let p: ConnectParams = serde_json::from_value(req.params.clone()).unwrap();
    assert_eq!((p.min_protocol, p.max_protocol), (4, 4));
    assert_eq!(p.auth.token.as_deref(), Some("<gateway.auth.token>"));
    assert_eq!(p.scopes, vec!["operator.read"]);
    assert_eq!(p.client.extra.get("deviceFamily"), Some(&json!("Linux")));
    assert_eq!(serde_json::to_value(&p).unwrap(), req.params);
}

#[test]
fn original_hello_ok_parses() {
    let Frame::Res(res) = parse(HELLO) else {
        panic!("not a res")
    };
    let hello: HelloOk = serde_json::from_value(res.into_result().unwrap()).unwrap();
    assert_eq!(hello.kind, HELLO_OK);
    assert_eq!(hello.protocol, 4);
    assert_eq!(hello.server.conn_id, "f10844ae-181a-4ad6-89c6-dfe4c025ead4");
    assert_eq!(hello.policy.tick_interval_ms, 30000);
    assert_eq!(hello.snapshot.state_version.health, 4);
    assert_eq!(hello.snapshot.presence[0].mode, "gateway");
    // The original does not send our additions.
    assert_eq!(hello.snapshot.state_dir, None);
    assert_eq!(hello.auth.scopes, vec!["operator.read"]);
}

#[test]
fn our_error_constructors_match_the_observed_frames() {
    let cases = [
        (BADTOKEN, "c1", ErrorShape::token_mismatch()),
        (NOTOKEN, "c1", ErrorShape::device_identity_required()),
        (BADPROTO, "c1", ErrorShape::protocol_mismatch(1, 2)),
        (EARLY, "x1", ErrorShape::first_request_not_connect()),
        (MISSING, "r2", ErrorShape::missing_scope(Scope::Admin)),
        (UNKNOWN, "r0", ErrorShape::unknown_method("no.such.method")),
    ];
    for (observed, id, ours) in cases {
        let ours = Frame::Res(Response::err(id, ours));
        assert_eq!(parse(observed), ours, "observed {observed}");
    }
}

#[test]
fn error_detail_code() {
    assert_eq!(
        ErrorShape::token_mismatch().detail_code(),
        Some(detail_codes::AUTH_TOKEN_MISMATCH)
    );
    assert_eq!(ErrorShape::unknown_method("x").detail_code(), None);
}

#[test]
fn negotiation_accepts_overlap_with_3_to_4() {
    assert_eq!(negotiate(4, 4), Some(4));
    assert_eq!(negotiate(3, 3), Some(3));
    assert_eq!(negotiate(3, 4), Some(4));
    assert_eq!(negotiate(1, 3), Some(3));
    assert_eq!(negotiate(2, 9), Some(4));
    assert_eq!(negotiate(1, 2), None);
    assert_eq!(negotiate(5, 6), None);
    assert_eq!(negotiate(4, 3), None);
}

#[test]
fn scopes() {
    let read = ScopeSet::from_strs(["operator.read"]);
    assert!(read.allows(Scope::Read));
    assert!(!read.allows(Scope::Write));
    assert!(!read.allows(Scope::Admin));
    let admin = ScopeSet::from_strs(["operator.admin", "bogus"]);
    assert!(admin.allows(Scope::Read) && admin.allows(Scope::Write));
    assert_eq!(admin.to_strings(), vec!["operator.admin"]);
    let write = ScopeSet::from_strs(["operator.write"]);
    assert!(write.allows(Scope::Read) && !write.allows(Scope::Admin));
    assert!(ScopeSet::from_strs(["nope"]).is_empty());

    // The scope each method requires is the gateway method table's (its tests).
}

#[test]
fn shutdown_event_shape() {
    let ev = ShutdownEvent {
        reason: "signal SIGTERM".into(),
        restart_expected_ms: None,
    };
    assert_eq!(
        serde_json::to_value(&ev).unwrap(),
        json!({"reason":"signal SIGTERM","restartExpectedMs":null})
    );
}

#[test]
fn garbage_is_not_a_frame() {
    assert!(serde_json::from_str::<Frame>("not json").is_err());
    assert!(serde_json::from_str::<Frame>(r#"{"type":"nope"}"#).is_err());
}
