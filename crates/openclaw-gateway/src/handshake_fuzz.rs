//! Property tests of the handshake decision (`handshake::read_connect`,
//! `handshake::decide`): any first frame is either a `connect` request or
//! a rejection with a close code that says what was wrong; a decision never
//! panics, never admits a wrong secret, and never grants an empty scope set
//! or a protocol outside what both sides speak. Bounded case counts;
//! `PROPTEST_CASES` raises them.

use openclaw_protocol::{PROTOCOL_MAX, PROTOCOL_MIN, close_codes};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::AuthConfig;
use crate::handshake::{ConnectInput, Step, decide, read_connect};
use openclaw_protocol::ScopeSet;

fn short_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::sample::select(vec![
            "",
            "secret",
            "secret ",
            "SECRET",
            "operator.read",
            "operator.write",
            "operator.admin",
            "operator.approvals",
            "node",
            "cli",
            "webchat",
            "ui",
            "probe",
            "backend",
        ])
        .prop_map(String::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u32>().prop_map(|n| json!(n)),
        short_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(short_string(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `connect` requests with random (often wrong) parts.
fn connect_text() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(json!("req")), json_value()],
        prop_oneof![Just(json!("connect")), json_value()],
        prop_oneof![(0u32..8).prop_map(|n| json!(n)), json_value()],
        prop_oneof![(0u32..8).prop_map(|n| json!(n)), json_value()],
        prop_oneof![
            Just(json!({"token": "secret"})),
            Just(json!({"password": "secret"})),
            short_string().prop_map(|t| json!({"token": t})),
            json_value(),
        ],
        prop_oneof![
            prop::collection::vec(short_string(), 0..4).prop_map(|v| json!(v)),
            json_value(),
        ],
        json_value(),
    )
        .prop_map(|(kind, method, min, max, auth, scopes, client)| {
            json!({"type": kind, "id": "c1", "method": method, "params": {
                "minProtocol": min, "maxProtocol": max, "auth": auth, "scopes": scopes,
                "client": client, "role": "operator"}})
            .to_string()
        })
}

fn auth_config() -> impl Strategy<Value = AuthConfig> {
    prop_oneof![
        Just(AuthConfig::Token("secret".into())),
        Just(AuthConfig::Password("secret".into())),
        Just(AuthConfig::None),
        short_string().prop_map(AuthConfig::Token),
    ]
}

const KNOWN_CLOSE: [u16; 4] = [
    close_codes::INVALID_PAYLOAD,
    close_codes::POLICY_VIOLATION,
    close_codes::PROTOCOL_ERROR,
    close_codes::MESSAGE_TOO_BIG,
];

fn check(text: &str, auth: &AuthConfig) -> Result<(), TestCaseError> {
    let request = match read_connect(text) {
        Ok(r) => r,
        Err(r) => {
            prop_assert!(KNOWN_CLOSE.contains(&r.close_code), "{r:?}");
            prop_assert!(
                !r.close_reason.is_empty(),
                "a close that says nothing: {r:?}"
            );
            return Ok(());
        }
    };
    let decided = decide(&ConnectInput {
        auth,
        grant: ScopeSet::all(),
        request: &request,
        nonce: "fuzz-nonce",
        now_ms: 0,
        local: false,
        remote_ip: None,
    });
    match decided {
        Ok(Step::Done(a)) => {
            let p = &request.params;
            prop_assert!(a.protocol >= p.min_protocol && a.protocol <= p.max_protocol);
            prop_assert!((PROTOCOL_MIN..=PROTOCOL_MAX).contains(&a.protocol));
            prop_assert!(!a.scopes.is_empty());
            match auth {
                AuthConfig::Token(t) => {
                    prop_assert_eq!(p.auth.token.as_deref(), Some(t.as_str()))
                }
                AuthConfig::Password(pw) => {
                    prop_assert_eq!(p.auth.password.as_deref(), Some(pw.as_str()))
                }
                AuthConfig::None => {}
            }
        }
        // A device whose proof checked out (needs a real signature over
        // this nonce, which random input does not produce) goes on to the
        // device store; its protocol is settled already.
        Ok(Step::Pair { partial, .. }) => {
            let p = &request.params;
            prop_assert!(partial.protocol >= p.min_protocol && partial.protocol <= p.max_protocol);
        }
        Err(r) => {
            prop_assert!(KNOWN_CLOSE.contains(&r.close_code), "{r:?}");
            prop_assert!(!r.close_reason.is_empty());
            // A refused connect is answered (the client learns why).
            prop_assert!(r.response.is_some(), "{r:?}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_first_frame_is_a_connect_or_a_reasoned_close(text in any::<String>(), auth in auth_config()) {
        check(&text, &auth)?;
    }

    #[test]
    fn connect_shaped_frames_are_decided_soundly(text in connect_text(), auth in auth_config()) {
        check(&text, &auth)?;
    }
}
