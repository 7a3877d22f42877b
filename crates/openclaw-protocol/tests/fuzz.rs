//! Property tests of frame decoding: any text a client sends decodes to a
//! frame or an error (never a panic), a decoded frame encodes back to
//! itself, and the handshake payloads decode from any JSON value.

use openclaw_protocol::{ConnectParams, Frame, Request, negotiate};
use proptest::prelude::*;
use serde_json::{Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        // Dyadic floats print and parse back exactly (serde_json's default
        // float parsing is not correctly rounded for every f64).
        any::<i32>().prop_map(|n| json!(n as f64 / 8.0)),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec![
            "req",
            "res",
            "event",
            "connect",
            "health",
            "cli",
            "operator",
            "operator.read",
            "operator.admin",
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(vec![
                        "type",
                        "id",
                        "method",
                        "params",
                        "ok",
                        "payload",
                        "error",
                        "event",
                        "seq",
                        "minProtocol",
                        "maxProtocol",
                        "client",
                        "auth",
                        "token",
                        "password",
                        "role",
                        "scopes",
                        "mode",
                        "version",
                        "platform",
                        "caps",
                        "code",
                        "message",
                        "details",
                    ])
                    .prop_map(String::from),
                    any::<String>(),
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Frames as clients send them, with random parts.
fn frame_value() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["req", "res", "event", "other"]),
        any::<String>(),
        prop::sample::select(vec!["connect", "health", "status", "x"]),
        json_value(),
        any::<bool>(),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(kind, id, method, body, ok, seq)| match kind {
            "req" => json!({"type": "req", "id": id, "method": method, "params": body}),
            "res" => json!({"type": "res", "id": id, "ok": ok, "payload": body}),
            "event" => json!({"type": "event", "event": method, "payload": body, "seq": seq}),
            _ => json!({"type": kind, "id": id, "x": body}),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_text_decodes_or_errors_and_decoded_frames_round_trip(text in any::<String>()) {
        if let Ok(f) = serde_json::from_str::<Frame>(&text) {
            let again: Frame = serde_json::from_str(&f.to_text()).unwrap();
            prop_assert_eq!(again, f);
        }
    }

    #[test]
    fn frame_shaped_values_decode_or_error_and_round_trip(v in frame_value()) {
        let text = v.to_string();
        if let Ok(f) = serde_json::from_str::<Frame>(&text) {
            let again: Frame = serde_json::from_str(&f.to_text()).unwrap();
            prop_assert_eq!(again, f);
        }
        // Truncated and doubled text never panics either.
        for cut in [text.len() / 2, text.len().saturating_sub(1)] {
            if text.is_char_boundary(cut) {
                let _ = serde_json::from_str::<Frame>(&text[..cut]);
            }
        }
        let _ = serde_json::from_str::<Frame>(&format!("{text}{text}"));
    }

    #[test]
    fn connect_params_decode_from_any_value(v in json_value(), min in any::<u32>(), max in any::<u32>()) {
        let _ = serde_json::from_value::<ConnectParams>(v.clone());
        let mut p = json!({"minProtocol": min, "maxProtocol": max, "client": v.clone(), "auth": v.clone(), "scopes": v});
        let _ = serde_json::from_value::<ConnectParams>(p.take());
        if let Some(n) = negotiate(min, max) {
            prop_assert!(n >= min && n <= max);
        }
    }

    #[test]
    fn requests_round_trip(id in any::<String>(), method in any::<String>(), params in json_value()) {
        let f = Frame::Req(Request { id, method, params });
        let again: Frame = serde_json::from_str(&f.to_text()).unwrap();
        prop_assert_eq!(again, f);
    }
}
