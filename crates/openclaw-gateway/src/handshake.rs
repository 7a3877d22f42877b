//! The `connect` handshake as pure decisions: which first frame is a valid
//! `connect`, whether its credentials pass, which protocol and scopes the
//! connection gets. No sockets and no gateway state here; `crate::ws` sends
//! what these functions decide.
//!
//! Observed behaviour of the original, kept (with one deliberate change):
//! - not JSON: the original closes 1000 with no reason, which reads as
//!   "done"; we close 1007 (invalid payload) saying it was not JSON, and
//!   `crate::ws` closes a binary first frame 1003 and a missing `connect`
//!   1008 "handshake timeout" (issue 15: close codes say what happened);
//! - JSON that is not a request: close 1008;
//! - a request other than `connect`: error answer, close 1008;
//! - `connect` with params that do not parse: error answer, close 1008;
//! - no overlapping protocol version: `PROTOCOL_MISMATCH`, close 1002;
//! - credentials missing: `NOT_PAIRED` / `DEVICE_IDENTITY_REQUIRED`, close
//!   1008; wrong: `AUTH_TOKEN_MISMATCH` / `AUTH_PASSWORD_MISMATCH`, close
//!   1008 with the message as reason;
//! - a `device` whose proof fails: `INVALID_REQUEST` with upstream's
//!   `DEVICE_AUTH_*` detail code and `reason`, close 1008;
//! - a device that needs approval: `NOT_PAIRED` / `PAIRING_REQUIRED` with the
//!   pending request's id, close 1008.
//!
//! Scopes are tied to the credential: the shared secret grants the
//! requested scopes that `gateway.auth.scopes` allows (default: all), a
//! device token at most the scopes its device was approved for;
//! `hello-ok.auth.scopes` is what was granted.

use openclaw_protocol::device::{
    DeviceAuthFailure, PayloadVersion, SIGNATURE_SKEW_MS, SignedFields,
};
use openclaw_protocol::{
    ConnectAuth, ConnectDevice, ConnectParams, ErrorShape, Frame, Response, ScopeSet, close_codes,
    methods, negotiate,
};

use crate::AuthConfig;
use crate::devices::{Applied, Decision, DeviceAuth, DeviceConnect};

/// The scope a connection gets when it asks for none.
pub(crate) const DEFAULT_SCOPE: &str = "operator.read";
/// The role a connection gets when it names none.
pub(crate) const DEFAULT_ROLE: &str = "operator";
/// Upstream's node role.
pub(crate) const ROLE_NODE: &str = "node";
/// Upstream's closed set of roles (`parseGatewayRole`).
pub(crate) const ROLES: [&str; 2] = [DEFAULT_ROLE, ROLE_NODE];

/// A refused handshake: what to answer (if anything) and how to close.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rejection {
    /// Boxed: a `Response` is large and the happy path never carries one.
    pub response: Option<Box<Response>>,
    pub close_code: u16,
    pub close_reason: String,
    /// A secret was presented and it was wrong (counts towards the
    /// failed-auth lockout): the error's detail code. A missing secret is
    /// not a failure of this kind.
    pub wrong_secret: Option<String>,
}

impl Rejection {
    /// Close with `code` and `reason`, no answer.
    fn close(close_code: u16, close_reason: String) -> Self {
        Rejection {
            response: None,
            close_code,
            close_reason,
            wrong_secret: None,
        }
    }

    /// Answer `error` to request `id`, then close with `code`; the reason is
    /// the error message unless given.
    fn answer(id: &str, error: ErrorShape, code: u16, reason: Option<&str>) -> Self {
        let close_reason = reason.map(str::to_string).unwrap_or(error.message.clone());
        Rejection {
            response: Some(Box::new(Response::err(id, error))),
            close_code: code,
            close_reason,
            wrong_secret: None,
        }
    }
}

/// A parsed `connect` request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConnectRequest {
    pub id: String,
    pub params: ConnectParams,
}

/// Reads the client's first text frame; it must be a `connect` request.
pub(crate) fn read_connect(text: &str) -> Result<ConnectRequest, Rejection> {
    let value = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => v,
        Err(e) => {
            return Err(Rejection::close(
                close_codes::INVALID_PAYLOAD,
                format!("invalid JSON: {e} (the first frame must be a connect request)"),
            ));
        }
    };
    let req = match serde_json::from_value::<Frame>(value) {
        Ok(Frame::Req(r)) => r,
        _ => {
            return Err(Rejection::close(
                close_codes::POLICY_VIOLATION,
                ErrorShape::first_request_not_connect().message,
            ));
        }
    };
    if req.method != methods::CONNECT {
        return Err(Rejection::answer(
            &req.id,
            ErrorShape::first_request_not_connect(),
            close_codes::POLICY_VIOLATION,
            None,
        ));
    }
    match serde_json::from_value::<ConnectParams>(req.params) {
        Ok(params) => Ok(ConnectRequest { id: req.id, params }),
        Err(e) => Err(Rejection::answer(
            &req.id,
            ErrorShape::invalid_request(format!(
                "invalid connect params: {e} (expected minProtocol, maxProtocol, client, auth, role, scopes)"
            )),
            close_codes::POLICY_VIOLATION,
            None,
        )),
    }
}

/// Which shared secret a connect presented, and whether it was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secret {
    /// `gateway.auth.mode: "none"`: nothing to check.
    NotRequired,
    /// The configured secret was presented.
    Right,
    /// A secret was presented and it was wrong.
    Wrong,
    /// No secret was presented.
    Missing,
}

/// Checks the shared secret of `presented` against `configured`
/// (constant time): the outcome and, when refused, the error to answer.
pub(crate) fn check_secret(
    configured: &AuthConfig,
    presented: &ConnectAuth,
) -> (Secret, Option<ErrorShape>) {
    let check = |got: &str, want: &str, e: fn() -> ErrorShape| {
        if openclaw_state::secret_eq(got, want) {
            (Secret::Right, None)
        } else {
            (Secret::Wrong, Some(e()))
        }
    };
    match (configured, &presented.token, &presented.password) {
        (AuthConfig::None, _, _) => (Secret::NotRequired, None),
        (AuthConfig::Token(_) | AuthConfig::Password(_), None, None) => (
            Secret::Missing,
            Some(ErrorShape::device_identity_required()),
        ),
        (AuthConfig::Token(want), Some(got), _) => check(got, want, ErrorShape::token_mismatch),
        (AuthConfig::Token(_), None, Some(_)) => {
            (Secret::Wrong, Some(ErrorShape::token_mismatch()))
        }
        (AuthConfig::Password(want), _, Some(got)) => {
            check(got, want, ErrorShape::password_mismatch)
        }
        (AuthConfig::Password(_), Some(_), None) => {
            (Secret::Wrong, Some(ErrorShape::password_mismatch()))
        }
    }
}

/// Whether `presented` satisfies `configured`: `Ok` or the error to answer.
#[cfg(test)]
pub(crate) fn authorize(
    configured: &AuthConfig,
    presented: &ConnectAuth,
) -> Result<(), ErrorShape> {
    match check_secret(configured, presented) {
        (Secret::NotRequired | Secret::Right, _) => Ok(()),
        (_, e) => Err(e.unwrap_or_else(ErrorShape::device_identity_required)),
    }
}

/// The scopes asked for: unknown strings are dropped, none at all means
/// `operator.read`.
pub(crate) fn requested_scopes(requested: &[String]) -> ScopeSet {
    let scopes = ScopeSet::from_strs(requested.iter().map(String::as_str));
    if scopes.is_empty() {
        ScopeSet::from_strs([DEFAULT_SCOPE])
    } else {
        scopes
    }
}

/// What an accepted connection speaks and may do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Accepted {
    pub protocol: u32,
    /// What was granted (never more than the credential allows).
    pub scopes: ScopeSet,
    pub role: String,
    /// `hello-ok.auth.method`: `token`, `password`, `none` or `device-token`.
    pub auth_method: &'static str,
    /// The verified device this connection speaks for.
    pub device_id: Option<String>,
    /// A device token issued by this connect, and when.
    pub device_token: Option<(String, u64)>,
}

/// Everything the decision depends on.
pub(crate) struct ConnectInput<'a> {
    pub auth: &'a AuthConfig,
    /// What the shared secret may grant (`gateway.auth.scopes`).
    pub grant: ScopeSet,
    pub request: &'a ConnectRequest,
    /// The nonce of this connection's `connect.challenge`.
    pub nonce: &'a str,
    pub now_ms: u64,
    /// Direct loopback (for automatic device approval).
    pub local: bool,
    pub remote_ip: Option<String>,
}

/// The outcome of [`decide`]: done, or a device to settle with the device
/// store (IO) first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Done(Accepted),
    Pair {
        device: Box<DeviceConnect>,
        /// The connection as it will be accepted, before the pairing
        /// decision fills in scopes and token.
        partial: Accepted,
        /// The shared secret in `auth.token` was wrong and is being tried
        /// as a device token: a refusal then answers this error.
        fallback_error: Option<ErrorShape>,
    },
}

/// A device identity whose proof checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifiedDevice {
    pub id: String,
    /// The raw public key, base64url without padding.
    pub public_key: String,
    pub version: PayloadVersion,
}

/// Base64 in either alphabet, padded or not (upstream's permissive decode).
fn b64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    if s.is_empty() || s.len() > 4096 {
        return None;
    }
    let url: String = s
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(url.as_bytes())
        .ok()
}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The raw key bytes of `device.publicKey`: base64/base64url of the 32 raw
/// bytes, or a PEM `PUBLIC KEY`.
fn public_key_bytes(pk: &str) -> Option<Vec<u8>> {
    if pk.contains("BEGIN") {
        let body: String = pk
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let der = b64_decode(body.trim())?;
        return der.strip_prefix(&SPKI_PREFIX[..]).map(<[u8]>::to_vec);
    }
    b64_decode(pk)
}

/// Checks a device proof exactly as upstream does: the id is the
/// fingerprint of the key, the signature is fresh, signs this connection's
/// nonce, and verifies over the v3 or v2 payload.
pub(crate) fn verify_device(
    d: &ConnectDevice,
    p: &ConnectParams,
    role: &str,
    nonce: &str,
    now_ms: u64,
) -> Result<VerifiedDevice, DeviceAuthFailure> {
    use base64::Engine;
    use sha2::Digest;
    let raw = public_key_bytes(&d.public_key).filter(|r| !r.is_empty());
    let derived = raw.as_ref().map(|r| hex::encode(sha2::Sha256::digest(r)));
    if derived.as_deref() != Some(d.id.as_str()) {
        return Err(DeviceAuthFailure::IdMismatch);
    }
    match d.signed_at {
        Some(t) if now_ms.abs_diff(t) <= SIGNATURE_SKEW_MS => {}
        _ => return Err(DeviceAuthFailure::SignatureStale),
    }
    let given = d.nonce.as_deref().map(str::trim).unwrap_or("");
    if given.is_empty() {
        return Err(DeviceAuthFailure::NonceMissing);
    }
    if given != nonce {
        return Err(DeviceAuthFailure::NonceMismatch);
    }
    let raw = raw.expect("checked above");
    let key = <[u8; 32]>::try_from(raw.as_slice())
        .ok()
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
        .ok_or(DeviceAuthFailure::PublicKey)?;
    let sig = b64_decode(&d.signature)
        .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
        .map(|b| ed25519_dalek::Signature::from_bytes(&b))
        .ok_or(DeviceAuthFailure::Signature)?;
    let token = p
        .auth
        .token
        .as_deref()
        .or(p.auth.device_token.as_deref())
        .unwrap_or("");
    let family = p
        .client
        .extra
        .get("deviceFamily")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let fields = SignedFields {
        device_id: &d.id,
        client_id: &p.client.id,
        client_mode: &p.client.mode,
        role,
        scopes: &p.scopes,
        signed_at_ms: d.signed_at.unwrap_or_default(),
        token,
        nonce: given,
        platform: &p.client.platform,
        device_family: family,
    };
    for version in [PayloadVersion::V3, PayloadVersion::V2] {
        if key
            .verify_strict(fields.payload(version).as_bytes(), &sig)
            .is_ok()
        {
            return Ok(VerifiedDevice {
                id: d.id.clone(),
                public_key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes()),
                version,
            });
        }
    }
    Err(DeviceAuthFailure::Signature)
}

fn refuse(id: &str, e: ErrorShape, counts: bool) -> Rejection {
    let code = e.detail_code().unwrap_or("unauthorized").to_string();
    let mut r = Rejection::answer(id, e, close_codes::POLICY_VIOLATION, None);
    r.wrong_secret = counts.then_some(code);
    r
}

/// Accepts or refuses a parsed `connect` (protocol, then the device proof,
/// then credentials, then scopes), or hands a verified device over to the
/// device store ([`Step::Pair`]).
pub(crate) fn decide(input: &ConnectInput<'_>) -> Result<Step, Rejection> {
    let ConnectRequest { id, params } = input.request;
    let Some(protocol) = negotiate(params.min_protocol, params.max_protocol) else {
        return Err(Rejection::answer(
            id,
            ErrorShape::protocol_mismatch(params.min_protocol, params.max_protocol),
            close_codes::PROTOCOL_ERROR,
            Some("protocol mismatch"),
        ));
    };
    let role = params.role.clone().unwrap_or_else(|| DEFAULT_ROLE.into());
    if !ROLES.contains(&role.as_str()) {
        // Upstream's closed set of roles, and its answer.
        return Err(Rejection::answer(
            id,
            ErrorShape::invalid_request("invalid role"),
            close_codes::POLICY_VIOLATION,
            Some("invalid role"),
        ));
    }
    // This gateway has no node surface: a node may connect (upstream's
    // nodes reach operator methods never), but it is granted no scope and
    // never paired.
    let node = role == ROLE_NODE;
    let device = match &params.device {
        Some(d) => match verify_device(d, params, &role, input.nonce, input.now_ms) {
            Ok(v) => Some(v),
            // A forged or stale proof counts like a wrong secret.
            Err(f) => return Err(refuse(id, f.error(), true)),
        },
        None => None,
    };
    let requested = requested_scopes(&params.scopes);
    let (secret, error) = check_secret(input.auth, &params.auth);
    let mut accepted = Accepted {
        protocol,
        scopes: if node {
            ScopeSet::EMPTY
        } else {
            requested.granted_by(&input.grant)
        },
        role,
        auth_method: input.auth.mode(),
        device_id: device.as_ref().map(|d| d.id.clone()),
        device_token: None,
    };
    let pair = |device: VerifiedDevice, auth: DeviceAuth, requested: ScopeSet| DeviceConnect {
        device_id: device.id,
        public_key: device.public_key,
        client_id: params.client.id.clone(),
        client_mode: params.client.mode.clone(),
        platform: params.client.platform.clone(),
        role: accepted.role.clone(),
        requested,
        auth,
        local: input.local,
        remote_ip: input.remote_ip.clone(),
        grant: input.grant,
        binding: crate::devices::secret_binding(input.auth),
    };
    match (secret, device) {
        // Nothing to pair without a secret to vouch for the device.
        (Secret::NotRequired, _) => Ok(Step::Done(accepted)),
        (Secret::Right, None) => Ok(Step::Done(accepted)),
        (Secret::Right, Some(_)) if node => Ok(Step::Done(accepted)),
        (Secret::Right, Some(d)) => Ok(Step::Pair {
            device: Box::new(pair(d, DeviceAuth::SharedSecret, accepted.scopes)),
            partial: accepted,
            fallback_error: None,
        }),
        // A device may present its device token instead of the secret
        // (`auth.deviceToken`, or in `auth.token` as upstream's clients do).
        (Secret::Wrong | Secret::Missing, Some(d))
            if params.auth.device_token.is_some() || params.auth.token.is_some() =>
        {
            let (token, fallback_error) = match &params.auth.device_token {
                Some(t) => (t.clone(), None),
                None => (params.auth.token.clone().unwrap_or_default(), error),
            };
            accepted.auth_method = "device-token";
            let asked = ScopeSet::from_strs(params.scopes.iter().map(String::as_str));
            Ok(Step::Pair {
                device: Box::new(pair(d, DeviceAuth::DeviceToken(token), asked)),
                partial: accepted,
                fallback_error,
            })
        }
        (Secret::Wrong, _) => Err(refuse(
            id,
            error.unwrap_or_else(ErrorShape::token_mismatch),
            true,
        )),
        (Secret::Missing, _) => Err(refuse(
            id,
            error.unwrap_or_else(ErrorShape::device_identity_required),
            false,
        )),
    }
}

/// Finishes a [`Step::Pair`] with the device store's decision.
pub(crate) fn finish_pairing(
    id: &str,
    partial: Accepted,
    fallback_error: Option<ErrorShape>,
    decision: &Decision,
    applied: Option<Applied>,
) -> Result<Accepted, Rejection> {
    match (decision, applied) {
        (Decision::Refuse(e), _) => Err(refuse(
            id,
            fallback_error.unwrap_or_else(|| e.clone()),
            true,
        )),
        (
            Decision::Accept {
                scopes,
                auth_method,
                ..
            },
            Some(Applied::Accepted { token }),
        ) => Ok(Accepted {
            scopes: *scopes,
            auth_method: if auth_method.is_empty() {
                partial.auth_method
            } else {
                auth_method
            },
            device_token: token,
            ..partial
        }),
        (Decision::Pending(reason), Some(Applied::Pending { request_id })) => {
            let device = partial.device_id.unwrap_or_default();
            Err(refuse(
                id,
                ErrorShape::pairing_required(*reason, &request_id, &device),
                false,
            ))
        }
        _ => Err(Rejection::answer(
            id,
            ErrorShape::new(
                openclaw_protocol::codes::UNAVAILABLE,
                "the device store could not be updated; try again",
            ),
            close_codes::POLICY_VIOLATION,
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_protocol::{Scope, detail_codes};
    use serde_json::json;

    fn creds(token: Option<&str>, password: Option<&str>) -> ConnectAuth {
        ConnectAuth {
            token: token.map(str::to_string),
            password: password.map(str::to_string),
            device_token: None,
        }
    }

    fn detail(r: Result<(), ErrorShape>) -> Option<String> {
        r.err().map(|e| e.detail_code().unwrap_or("").to_string())
    }

    #[test]
    fn token_auth() {
        let cfg = AuthConfig::Token("s3cret".into());
        assert_eq!(authorize(&cfg, &creds(Some("s3cret"), None)), Ok(()));
        assert_eq!(
            detail(authorize(&cfg, &creds(Some("s3cret!"), None))).as_deref(),
            Some(detail_codes::AUTH_TOKEN_MISMATCH)
        );
        assert_eq!(
            detail(authorize(&cfg, &creds(Some(""), None))).as_deref(),
            Some(detail_codes::AUTH_TOKEN_MISMATCH)
        );
        // A password is not a token.
        assert_eq!(
            detail(authorize(&cfg, &creds(None, Some("s3cret")))).as_deref(),
            Some(detail_codes::AUTH_TOKEN_MISMATCH)
        );
        assert_eq!(
            detail(authorize(&cfg, &creds(None, None))).as_deref(),
            Some(detail_codes::DEVICE_IDENTITY_REQUIRED)
        );
        assert_eq!(
            authorize(&cfg, &creds(None, None)),
            Err(ErrorShape::device_identity_required())
        );
    }

    #[test]
    fn password_auth() {
        let cfg = AuthConfig::Password("pw".into());
        assert_eq!(authorize(&cfg, &creds(None, Some("pw"))), Ok(()));
        // A token alongside the right password does not matter.
        assert_eq!(authorize(&cfg, &creds(Some("x"), Some("pw"))), Ok(()));
        assert_eq!(
            detail(authorize(&cfg, &creds(None, Some("nope")))).as_deref(),
            Some(detail_codes::AUTH_PASSWORD_MISMATCH)
        );
        assert_eq!(
            detail(authorize(&cfg, &creds(Some("pw"), None))).as_deref(),
            Some(detail_codes::AUTH_PASSWORD_MISMATCH)
        );
        assert_eq!(
            detail(authorize(&cfg, &creds(None, None))).as_deref(),
            Some(detail_codes::DEVICE_IDENTITY_REQUIRED)
        );
    }

    #[test]
    fn no_auth_admits_anything() {
        for c in [
            creds(None, None),
            creds(Some("x"), None),
            creds(None, Some("y")),
        ] {
            assert_eq!(authorize(&AuthConfig::None, &c), Ok(()));
        }
    }

    fn connect(min: u32, max: u32, auth: serde_json::Value, scopes: &[&str]) -> String {
        json!({"type":"req","id":"c1","method":"connect","params":{
            "minProtocol":min,"maxProtocol":max,
            "client":{"id":"cli","version":"1","platform":"linux","mode":"cli"},
            "auth":auth,"scopes":scopes}})
        .to_string()
    }

    fn decide_with(
        auth: &AuthConfig,
        grant: ScopeSet,
        text: &str,
        nonce: &str,
        now_ms: u64,
    ) -> Result<Step, Rejection> {
        let request = read_connect(text)?;
        decide(&ConnectInput {
            auth,
            grant,
            request: &request,
            nonce,
            now_ms,
            local: true,
            remote_ip: Some("127.0.0.1".into()),
        })
    }

    fn decide_text(auth: &AuthConfig, text: &str) -> Result<Accepted, Rejection> {
        match decide_with(auth, ScopeSet::all(), text, "n", 0)? {
            Step::Done(a) => Ok(a),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn protocol_negotiation_and_scopes() {
        let auth = AuthConfig::Token("t".into());
        let a = decide_text(&auth, &connect(3, 9, json!({"token":"t"}), &[])).unwrap();
        assert_eq!(a.protocol, 4);
        assert_eq!(a.role, "operator");
        assert_eq!(a.auth_method, "token");
        assert!(a.scopes.allows(Scope::Read) && !a.scopes.allows(Scope::Write));
        let a = decide_text(
            &auth,
            &connect(3, 3, json!({"token":"t"}), &["operator.admin", "x.y"]),
        )
        .unwrap();
        assert_eq!(a.protocol, 3);
        assert_eq!(a.scopes.to_strings(), ["operator.admin"]);

        let r = decide_text(&auth, &connect(1, 2, json!({"token":"t"}), &[])).unwrap_err();
        assert_eq!(r.close_code, close_codes::PROTOCOL_ERROR);
        assert_eq!(r.close_reason, "protocol mismatch");
        assert_eq!(
            r.response,
            Some(Box::new(Response::err(
                "c1",
                ErrorShape::protocol_mismatch(1, 2)
            )))
        );
        // The protocol is checked before the credentials.
        let r = decide_text(&auth, &connect(5, 6, json!({"token":"bad"}), &[])).unwrap_err();
        assert_eq!(r.close_code, close_codes::PROTOCOL_ERROR);
    }

    #[test]
    fn refused_credentials_answer_then_close_with_the_message() {
        let auth = AuthConfig::Token("t".into());
        let r = decide_text(&auth, &connect(4, 4, json!({"token":"bad"}), &[])).unwrap_err();
        assert_eq!(r.close_code, close_codes::POLICY_VIOLATION);
        assert!(
            r.close_reason
                .starts_with("unauthorized: gateway token mismatch")
        );
        assert_eq!(
            r.response,
            Some(Box::new(Response::err("c1", ErrorShape::token_mismatch())))
        );
        let r = decide_text(&auth, &connect(4, 4, json!({}), &[])).unwrap_err();
        assert_eq!(r.close_reason, "device identity required");
    }

    #[test]
    fn first_frames_that_are_not_connect() {
        let r = read_connect("not json").unwrap_err();
        assert_eq!(
            (r.close_code, r.response),
            (close_codes::INVALID_PAYLOAD, None)
        );
        assert!(
            r.close_reason
                .starts_with("invalid JSON: expected ident at line 1 column 2"),
            "{}",
            r.close_reason
        );
        // Nesting past serde_json's recursion limit is invalid JSON, not a
        // stack overflow.
        let deep = "[".repeat(100_000);
        assert_eq!(
            read_connect(&deep).unwrap_err().close_code,
            close_codes::INVALID_PAYLOAD
        );
        let r = read_connect(r#"{"type":"event","event":"x"}"#).unwrap_err();
        assert_eq!(
            (r.close_code, r.response),
            (close_codes::POLICY_VIOLATION, None)
        );
        let r = read_connect(r#"{"type":"req","id":"x1","method":"health"}"#).unwrap_err();
        assert_eq!(
            r.response,
            Some(Box::new(Response::err(
                "x1",
                ErrorShape::first_request_not_connect()
            )))
        );
        assert_eq!(
            r.close_reason,
            "invalid handshake: first request must be connect"
        );
        let r = read_connect(
            r#"{"type":"req","id":"c","method":"connect","params":{"minProtocol":"x"}}"#,
        )
        .unwrap_err();
        assert_eq!(r.close_code, close_codes::POLICY_VIOLATION);
        assert!(
            r.close_reason.starts_with("invalid connect params"),
            "{}",
            r.close_reason
        );
    }

    // The connect the real Control UI (openclaw 2026.9.6, headless
    // Chromium) sent to the original gateway, with its real signature
    // (shared spec: observed/control-ui-vs-original.json, re-recorded with
    // this test's token).
    const UI_CONNECT: &str = r#"{"type":"req","id":"1:de942a83","method":"connect","params":{"minProtocol":4,"maxProtocol":4,"client":{"id":"openclaw-control-ui","version":"2026.9.6","buildId":"2026.9.6-release-eb377ac59e6c-2026-09-23T16-33-12.144Z","platform":"Linux x86_64","mode":"webchat","instanceId":"20f48f73-8964-42d5-9a64-9d5463415ae7","timeZone":"UTC"},"role":"operator","scopes":["operator.admin","operator.read","operator.write","operator.approvals","operator.questions","operator.pairing"],"device":{"id":"7173172236b7752d0447fdf6145f829d7391ba4bd3d89af45d34c9507981121d","publicKey":"mBjB-7gDyNxRht0VhFBlHyZiSoCdsM6JSs1eG-HaqtM","signature":"G9Wo9WmUZ4a6XjSL8NG5lCr6cy-RlkyB4ybZZevfjSAlRCzt-2-Eu02diFRuLn-0k5hReFkn9aVAy-2vcs7TDw","signedAt":1796403801522,"nonce":"a6f5e05f-e220-4e1f-b423-0a8758e372fb"},"caps":["tool-events"],"auth":{"token":"tok-orig-123","password":"tok-orig-123"},"locale":"en-US"}}"#;
    const UI_NONCE: &str = "a6f5e05f-e220-4e1f-b423-0a8758e372fb";
    const UI_SIGNED_AT: u64 = 1796403801522;
    const UI_DEVICE: &str = "7173172236b7752d0447fdf6145f829d7391ba4bd3d89af45d34c9507981121d";

    fn ui_decide(text: &str, nonce: &str, now: u64) -> Result<Step, Rejection> {
        decide_with(
            &AuthConfig::Token("tok-orig-123".into()),
            ScopeSet::all(),
            text,
            nonce,
            now,
        )
    }

    fn device_detail(r: Result<Step, Rejection>) -> (String, String) {
        let r = r.unwrap_err();
        assert_eq!(r.close_code, close_codes::POLICY_VIOLATION);
        let e = r.response.unwrap().error.unwrap();
        let d = e.details.unwrap();
        (
            d["code"].as_str().unwrap().to_string(),
            d["reason"].as_str().unwrap().to_string(),
        )
    }

    #[test]
    fn the_real_control_ui_signature_verifies() {
        let step = ui_decide(UI_CONNECT, UI_NONCE, UI_SIGNED_AT + 5_000).unwrap();
        let Step::Pair {
            device, partial, ..
        } = step
        else {
            panic!("{step:?}")
        };
        assert_eq!(device.device_id, UI_DEVICE);
        assert_eq!(
            device.public_key,
            "mBjB-7gDyNxRht0VhFBlHyZiSoCdsM6JSs1eG-HaqtM"
        );
        assert_eq!(device.auth, DeviceAuth::SharedSecret);
        assert_eq!(device.requested.to_strings().len(), 6);
        assert_eq!(partial.device_id.as_deref(), Some(UI_DEVICE));
        let req = read_connect(UI_CONNECT).unwrap();
        let v = verify_device(
            req.params.device.as_ref().unwrap(),
            &req.params,
            "operator",
            UI_NONCE,
            UI_SIGNED_AT,
        )
        .unwrap();
        // This UI signs upstream's v2 payload.
        assert_eq!(v.version, PayloadVersion::V2);
    }

    #[test]
    fn forged_and_replayed_device_proofs_get_upstreams_codes() {
        let now = UI_SIGNED_AT + 1_000;
        // Another nonce than this connection's challenge: a replay.
        assert_eq!(
            device_detail(ui_decide(UI_CONNECT, "other-nonce", now)),
            (
                "DEVICE_AUTH_NONCE_MISMATCH".into(),
                "device-nonce-mismatch".into()
            )
        );
        // Too old.
        assert_eq!(
            device_detail(ui_decide(UI_CONNECT, UI_NONCE, now + SIGNATURE_SKEW_MS)),
            (
                "DEVICE_AUTH_SIGNATURE_EXPIRED".into(),
                "device-signature-stale".into()
            )
        );
        // A changed field the signature covers (the scopes asked for).
        let more = UI_CONNECT.replace(
            r#""operator.pairing"]"#,
            r#""operator.pairing","operator.talk"]"#,
        );
        assert_eq!(
            device_detail(ui_decide(&more, UI_NONCE, now)),
            (
                "DEVICE_AUTH_SIGNATURE_INVALID".into(),
                "device-signature".into()
            )
        );
        // A forged signature (one byte flipped).
        let forged = UI_CONNECT.replace("G9Wo9WmUZ4a6", "G9Wo9WmUZ4a7");
        let r = ui_decide(&forged, UI_NONCE, now);
        let rej = r.clone().unwrap_err();
        assert!(rej.wrong_secret.is_some(), "counts towards the lockout");
        assert_eq!(rej.close_reason, "device signature invalid");
        assert_eq!(device_detail(r).0, "DEVICE_AUTH_SIGNATURE_INVALID");
        // Someone else's key under this device id.
        let other = UI_CONNECT.replace(
            "mBjB-7gDyNxRht0VhFBlHyZiSoCdsM6JSs1eG-HaqtM",
            "0F1H0dbIzH3ivCt79xSofv2T5WEHXZrugx50mSM2JiQ",
        );
        assert_eq!(
            device_detail(ui_decide(&other, UI_NONCE, now)).0,
            "DEVICE_AUTH_DEVICE_ID_MISMATCH"
        );
        let no_nonce = UI_CONNECT.replace(r#","nonce":"a6f5e05f-e220-4e1f-b423-0a8758e372fb""#, "");
        assert_eq!(
            device_detail(ui_decide(&no_nonce, UI_NONCE, now)).0,
            "DEVICE_AUTH_NONCE_REQUIRED"
        );
    }

    /// A connect signed (v3) by `key` over `nonce`, as a client would.
    fn signed_connect(
        key: &ed25519_dalek::SigningKey,
        auth: serde_json::Value,
        nonce: &str,
        at: u64,
    ) -> String {
        use base64::Engine;
        use ed25519_dalek::Signer;
        use sha2::Digest;
        let pk = key.verifying_key().to_bytes();
        let id = hex::encode(sha2::Sha256::digest(pk));
        let scopes = vec!["operator.read".to_string()];
        let token = auth["token"]
            .as_str()
            .or(auth["deviceToken"].as_str())
            .unwrap_or("");
        let payload = SignedFields {
            device_id: &id,
            client_id: "cli",
            client_mode: "cli",
            role: "operator",
            scopes: &scopes,
            signed_at_ms: at,
            token,
            nonce,
            platform: "linux",
            device_family: "",
        }
        .payload(PayloadVersion::V3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        json!({"type":"req","id":"c1","method":"connect","params":{
            "minProtocol":4,"maxProtocol":4,
            "client":{"id":"cli","version":"1","platform":"linux","mode":"cli"},
            "role":"operator","auth":auth,"scopes":scopes,
            "device":{"id":id,"publicKey":b64.encode(pk),
                "signature":b64.encode(key.sign(payload.as_bytes()).to_bytes()),
                "signedAt":at,"nonce":nonce}}})
        .to_string()
    }

    #[test]
    fn a_device_may_present_its_device_token_instead_of_the_secret() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let auth = AuthConfig::Token("t".into());
        let text = signed_connect(&key, json!({"deviceToken": "dt-1"}), "n1", 100);
        let Step::Pair {
            device,
            partial,
            fallback_error,
        } = decide_with(&auth, ScopeSet::all(), &text, "n1", 100).unwrap()
        else {
            panic!()
        };
        assert_eq!(device.auth, DeviceAuth::DeviceToken("dt-1".into()));
        assert_eq!(partial.auth_method, "device-token");
        assert_eq!(fallback_error, None);
        // A wrong shared token is tried as a device token; a refusal then
        // answers as a wrong shared token.
        let text = signed_connect(&key, json!({"token": "not-t"}), "n1", 100);
        let Step::Pair {
            device,
            fallback_error,
            ..
        } = decide_with(&auth, ScopeSet::all(), &text, "n1", 100).unwrap()
        else {
            panic!()
        };
        assert_eq!(device.auth, DeviceAuth::DeviceToken("not-t".into()));
        assert_eq!(
            fallback_error.unwrap().detail_code(),
            Some(detail_codes::AUTH_TOKEN_MISMATCH)
        );
        // The right secret: pairing with the shared secret, v3 verified.
        let text = signed_connect(&key, json!({"token": "t"}), "n1", 100);
        let step = decide_with(&auth, ScopeSet::all(), &text, "n1", 100).unwrap();
        assert!(
            matches!(step, Step::Pair { device, .. } if device.auth == DeviceAuth::SharedSecret)
        );
        // No device, no secret: refused and not counted as a wrong secret.
        let r = decide_text(&auth, &connect(4, 4, json!({}), &[])).unwrap_err();
        assert!(r.wrong_secret.is_none());
    }

    #[test]
    fn scopes_are_what_the_credential_grants() {
        let auth = AuthConfig::Token("t".into());
        let rw = ScopeSet::from_strs(["operator.read", "operator.write"]);
        let text = connect(
            4,
            4,
            json!({"token": "t"}),
            &["operator.admin", "operator.read"],
        );
        let Step::Done(a) = decide_with(&auth, rw, &text, "n", 0).unwrap() else {
            panic!()
        };
        assert_eq!(a.scopes.to_strings(), ["operator.read"]);
        // With no limit configured, what was asked for.
        let a = decide_text(&auth, &text).unwrap();
        assert_eq!(a.scopes.to_strings(), ["operator.read", "operator.admin"]);
    }

    /// Upstream's closed set of roles: anything else is "invalid role"
    /// (close 1008); a node is granted no operator scope.
    #[test]
    fn roles_are_upstreams_closed_set() {
        let auth = AuthConfig::Token("t".into());
        let with_role = |role: &str| {
            let mut v: serde_json::Value =
                serde_json::from_str(&connect(4, 4, json!({"token": "t"}), &["operator.admin"]))
                    .unwrap();
            v["params"]["role"] = json!(role);
            v.to_string()
        };
        for bad in ["admin", "Operator", "", "node "] {
            let r = decide_with(&auth, ScopeSet::all(), &with_role(bad), "n", 0).unwrap_err();
            assert_eq!(r.close_code, close_codes::POLICY_VIOLATION, "{bad:?}");
            assert_eq!(r.close_reason, "invalid role");
            let e = r.response.unwrap().error.unwrap();
            assert_eq!(
                (e.code.as_str(), e.message.as_str()),
                ("INVALID_REQUEST", "invalid role")
            );
        }
        let a = decide_text(&auth, &with_role("operator")).unwrap();
        assert_eq!(a.scopes.to_strings(), ["operator.admin"]);
        let a = decide_text(&auth, &with_role("node")).unwrap();
        assert_eq!((a.role.as_str(), a.scopes), ("node", ScopeSet::EMPTY));
    }

    #[test]
    fn pairing_outcomes_become_answers() {
        let partial = Accepted {
            protocol: 4,
            scopes: ScopeSet::all(),
            role: "operator".into(),
            auth_method: "token",
            device_id: Some("d1".into()),
            device_token: None,
        };
        let r = finish_pairing(
            "c1",
            partial.clone(),
            None,
            &Decision::Pending(openclaw_protocol::device::PairingReason::NotPaired),
            Some(Applied::Pending {
                request_id: "req-1".into(),
            }),
        )
        .unwrap_err();
        let e = r.response.unwrap().error.unwrap();
        assert_eq!(e.detail_code(), Some("PAIRING_REQUIRED"));
        assert_eq!(e.details.unwrap()["requestId"], "req-1");
        assert_eq!(r.close_code, close_codes::POLICY_VIOLATION);
        let read = ScopeSet::from_strs(["operator.read"]);
        let a = finish_pairing(
            "c1",
            partial.clone(),
            None,
            &Decision::Accept {
                scopes: read,
                pair: false,
                issue_token: false,
                auth_method: "device-token",
            },
            Some(Applied::Accepted {
                token: Some(("dt".into(), 5)),
            }),
        )
        .unwrap();
        assert_eq!(a.scopes, read);
        assert_eq!(a.auth_method, "device-token");
        assert_eq!(a.device_token, Some(("dt".into(), 5)));
        // A shared token that was really a (wrong) device token answers as a
        // wrong shared token.
        let r = finish_pairing(
            "c1",
            partial,
            Some(ErrorShape::token_mismatch()),
            &Decision::Refuse(ErrorShape::device_token_mismatch()),
            None,
        )
        .unwrap_err();
        assert_eq!(
            r.response.unwrap().error.unwrap().detail_code(),
            Some(detail_codes::AUTH_TOKEN_MISMATCH)
        );
        assert!(r.wrong_secret.is_some());
    }
}
