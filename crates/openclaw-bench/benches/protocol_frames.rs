//! Criterion micro-benchmarks: encoding and decoding the gateway's wire
//! frames (`openclaw_protocol::Frame`), the per-request work of every RPC
//! besides the socket itself.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use openclaw_protocol::{Frame, Request, Response};
use serde_json::json;

/// A `health` request as a client sends it.
const HEALTH_REQ: &str =
    r#"{"type":"req","id":"2:167d99de-0811-453b-b13c-13243669a798","method":"health","params":{}}"#;

/// A `connect` request as the original's CLI sends it (token is a dummy).
const CONNECT_REQ: &str = r#"{"type":"req","id":"1:3b8b58ea-1993-43aa-85fb-b1682745e7d6","method":"connect","params":{"minProtocol":4,"maxProtocol":4,"client":{"id":"cli","version":"2026.9.6","platform":"linux","deviceFamily":"Linux","mode":"cli","instanceId":"01b1795f-bc2b-4e3e-9145-89189fe49fd2"},"caps":[],"auth":{"token":"0000000000000000000000000000000000000000000000ff"},"role":"operator","scopes":["operator.read"]}}"#;

/// The `health` response our gateway sends (the shape of
/// `Shared::health` in openclaw-gateway).
fn health_response() -> Frame {
    Frame::Res(Response::ok(
        "2:167d99de-0811-453b-b13c-13243669a798",
        json!({
            "ok": true,
            "ts": 1795270416048u64,
            "durationMs": 0,
            "uptimeMs": 123456,
            "profile": "bench",
            "stateDir": "/home/user/.openclaw-bench",
            "configReload": {"hotReloadStatus": "active"},
            "listeners": [{"purpose": "gateway", "port": 21000}],
            "clients": 16,
        }),
    ))
}

fn bench_frames(c: &mut Criterion) {
    // Fail loudly if the samples stop decoding to what they are.
    let health_req = serde_json::from_str::<Frame>(HEALTH_REQ).expect("health request decodes");
    assert!(
        matches!(&health_req, Frame::Req(Request { method, .. }) if method == "health"),
        "health request decoded as {health_req:?}"
    );
    let connect_req = serde_json::from_str::<Frame>(CONNECT_REQ).expect("connect request decodes");
    assert!(
        matches!(&connect_req, Frame::Req(Request { method, .. }) if method == "connect"),
        "connect request decoded as {connect_req:?}"
    );
    let res = health_response();
    let res_text = res.to_text();
    assert_eq!(
        serde_json::from_str::<Frame>(&res_text).expect("health response decodes"),
        res,
        "health response does not round-trip"
    );

    let mut g = c.benchmark_group("frame");
    g.bench_function("decode_health_request", |b| {
        b.iter(|| serde_json::from_str::<Frame>(black_box(HEALTH_REQ)).unwrap())
    });
    g.bench_function("encode_health_request", |b| {
        b.iter(|| black_box(&health_req).to_text())
    });
    g.bench_function("decode_connect_request", |b| {
        b.iter(|| serde_json::from_str::<Frame>(black_box(CONNECT_REQ)).unwrap())
    });
    g.bench_function("encode_health_response", |b| {
        b.iter(|| black_box(&res).to_text())
    });
    g.bench_function("decode_health_response", |b| {
        b.iter(|| serde_json::from_str::<Frame>(black_box(&res_text)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_frames);
criterion_main!(benches);
