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
//!   1008 with the message as reason.

use openclaw_protocol::{
    ConnectAuth, ConnectParams, ErrorShape, Frame, Response, ScopeSet, close_codes, methods,
    negotiate,
};

use crate::AuthConfig;

/// The scope a connection gets when it asks for none.
pub(crate) const DEFAULT_SCOPE: &str = "operator.read";
/// The role a connection gets when it names none.
pub(crate) const DEFAULT_ROLE: &str = "operator";

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

/// Whether `presented` satisfies `configured`: `Ok` or the error to answer.
/// Secrets are compared in constant time.
pub(crate) fn authorize(
    configured: &AuthConfig,
    presented: &ConnectAuth,
) -> Result<(), ErrorShape> {
    let fail = |ok: bool, e: fn() -> ErrorShape| if ok { Ok(()) } else { Err(e()) };
    match (configured, &presented.token, &presented.password) {
        (AuthConfig::None, _, _) => Ok(()),
        (AuthConfig::Token(_) | AuthConfig::Password(_), None, None) => {
            Err(ErrorShape::device_identity_required())
        }
        (AuthConfig::Token(want), Some(got), _) => fail(
            openclaw_state::secret_eq(got, want),
            ErrorShape::token_mismatch,
        ),
        (AuthConfig::Token(_), None, Some(_)) => Err(ErrorShape::token_mismatch()),
        (AuthConfig::Password(want), _, Some(got)) => fail(
            openclaw_state::secret_eq(got, want),
            ErrorShape::password_mismatch,
        ),
        (AuthConfig::Password(_), Some(_), None) => Err(ErrorShape::password_mismatch()),
    }
}

/// The scopes granted for the requested ones: unknown strings are dropped,
/// none at all means `operator.read`.
pub(crate) fn granted_scopes(requested: &[String]) -> ScopeSet {
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
    pub scopes: ScopeSet,
    pub role: String,
    /// `hello-ok.auth.method`: `token`, `password` or `none`.
    pub auth_method: &'static str,
}

/// Everything the decision depends on. A new input (the peer address, the
/// `Origin` of the upgrade, a failure count) is a new field here.
pub(crate) struct ConnectInput<'a> {
    pub auth: &'a AuthConfig,
    pub request: &'a ConnectRequest,
}

/// Accepts or refuses a parsed `connect`: protocol first, then credentials.
pub(crate) fn decide(input: &ConnectInput<'_>) -> Result<Accepted, Rejection> {
    let ConnectRequest { id, params } = input.request;
    let Some(protocol) = negotiate(params.min_protocol, params.max_protocol) else {
        return Err(Rejection::answer(
            id,
            ErrorShape::protocol_mismatch(params.min_protocol, params.max_protocol),
            close_codes::PROTOCOL_ERROR,
            Some("protocol mismatch"),
        ));
    };
    if let Err(e) = authorize(input.auth, &params.auth) {
        let presented = params.auth.token.is_some() || params.auth.password.is_some();
        let code = e
            .details
            .as_ref()
            .and_then(|d| d.get("code"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unauthorized")
            .to_string();
        let mut r = Rejection::answer(id, e, close_codes::POLICY_VIOLATION, None);
        r.wrong_secret = presented.then_some(code);
        return Err(r);
    }
    Ok(Accepted {
        protocol,
        scopes: granted_scopes(&params.scopes),
        role: params.role.clone().unwrap_or_else(|| DEFAULT_ROLE.into()),
        auth_method: input.auth.mode(),
    })
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

    fn decide_text(auth: &AuthConfig, text: &str) -> Result<Accepted, Rejection> {
        let request = read_connect(text)?;
        decide(&ConnectInput {
            auth,
            request: &request,
        })
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
}
