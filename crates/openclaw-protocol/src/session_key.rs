//! Session keys on the wire.
//!
//! Upstream names a session `agent:<agentId>:<key>` (the main chat of agent
//! `main` is `agent:main:main`, a Telegram DM `agent:main:telegram:dm:42`).
//! The gateway stores a session under its agent by the `<key>` part. Every
//! request accepts either form (a bare key belongs to `agentId`, else the
//! default agent); every answer and event names sessions in the canonical
//! `agent:<agentId>:<key>` form, as upstream's clients expect.

/// The prefix of a canonical session key.
pub const AGENT_PREFIX: &str = "agent:";

/// A session key split into its agent and its key under that agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRef<'a> {
    /// The agent named by a canonical key; `None` for a bare key.
    pub agent: Option<&'a str>,
    /// The key under the agent (`main`, `s1`, `telegram:dm:42`).
    pub key: &'a str,
}

/// Splits `agent:<agentId>:<key>`; anything else is a bare key.
pub fn parse(key: &str) -> SessionRef<'_> {
    if let Some(rest) = key.strip_prefix(AGENT_PREFIX)
        && let Some((agent, k)) = rest.split_once(':')
        && !agent.is_empty()
        && !k.is_empty()
    {
        return SessionRef {
            agent: Some(agent),
            key: k,
        };
    }
    SessionRef { agent: None, key }
}

/// A session key a client sent: as [`parse`], except that a key starting
/// with `agent:` must be a well-formed canonical key (`agent:<agentId>:<key>`,
/// the agent id made of letters, digits, `-` and `_`). Otherwise `agent:x`
/// would silently become a bare key of the default agent.
pub fn parse_client(key: &str) -> Result<SessionRef<'_>, String> {
    if !key.starts_with(AGENT_PREFIX) {
        return Ok(SessionRef { agent: None, key });
    }
    let r = parse(key);
    match r.agent {
        Some(a)
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Ok(r)
        }
        _ => Err(format!(
            "session key {key:?} is malformed: a key starting with \"agent:\" must read agent:<agentId>:<key> (e.g. agent:main:main), or drop the prefix for a key of the default agent"
        )),
    }
}

/// `agent:<agent>:<key>` (a key that is already canonical is kept).
pub fn canonical(agent: &str, key: &str) -> String {
    match parse(key) {
        SessionRef { agent: Some(_), .. } => key.to_string(),
        SessionRef { agent: None, key } => format!("{AGENT_PREFIX}{agent}:{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_with_the_agent_prefix_must_be_well_formed() {
        assert_eq!(
            parse_client("agent:ops:telegram:dm:42").unwrap().agent,
            Some("ops")
        );
        assert_eq!(parse_client("main").unwrap().key, "main");
        assert_eq!(parse_client("telegram:dm:42").unwrap().agent, None);
        for bad in [
            "agent:",
            "agent:x",
            "agent::k",
            "agent:x:",
            "agent:a b:k",
            "agent:../x:k",
        ] {
            let e = parse_client(bad).unwrap_err();
            assert!(
                e.contains("malformed") && e.contains("agent:<agentId>:<key>"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn canonical_and_bare_keys() {
        assert_eq!(
            parse("agent:main:main"),
            SessionRef {
                agent: Some("main"),
                key: "main"
            }
        );
        assert_eq!(
            parse("agent:ops:telegram:dm:42"),
            SessionRef {
                agent: Some("ops"),
                key: "telegram:dm:42"
            }
        );
        for bare in [
            "main",
            "telegram:dm:42",
            "agent:",
            "agent:x",
            "agent::k",
            "agent:x:",
        ] {
            assert_eq!(
                parse(bare),
                SessionRef {
                    agent: None,
                    key: bare
                },
                "{bare}"
            );
        }
        assert_eq!(canonical("main", "s1"), "agent:main:s1");
        assert_eq!(canonical("main", "agent:ops:s1"), "agent:ops:s1");
    }
}
