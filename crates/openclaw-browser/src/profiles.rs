//! Browser profiles: the implicit `openclaw` profile plus configured
//! `browser.profiles.<name>` entries.

use serde::{Deserialize, Serialize};

/// The implicit default profile name.
pub const DEFAULT_PROFILE: &str = "openclaw";
/// The color the default profile shows when none is configured.
pub const DEFAULT_COLOR: &str = "#FF4500";
/// Longest allowed profile name.
pub const MAX_PROFILE_NAME: usize = 64;

/// One configured profile (`browser.profiles.<name>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileConfig {
    /// Explicit CDP port for a browser we launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdp_port: Option<u16>,
    /// A browser someone else runs: attach only, never launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdp_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// Profile names: `^[a-z0-9][a-z0-9-]*$`, at most 64 characters.
pub fn validate_profile_name(name: &str) -> Result<(), String> {
    let ok_first = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok_rest = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if name.is_empty() || !ok_first || !ok_rest {
        return Err(format!(
            "invalid browser profile name {name:?}: use lowercase letters, digits and '-', starting with a letter or digit (e.g. \"work\")"
        ));
    }
    if name.len() > MAX_PROFILE_NAME {
        return Err(format!(
            "invalid browser profile name {name:?}: {} characters, at most {MAX_PROFILE_NAME} allowed",
            name.len()
        ));
    }
    Ok(())
}

/// The TCP port a `cdpUrl` points at (explicit, or 80/443 by scheme).
pub fn port_of_cdp_url(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit('@').next()?;
    let port = if let Some(stripped) = hostport.strip_prefix('[') {
        // [v6]:port
        stripped.split_once(']')?.1.strip_prefix(':')
    } else {
        hostport.rsplit_once(':').map(|(_, p)| p)
    };
    match port {
        Some(p) => p.parse().ok(),
        None => match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        },
    }
}

/// The HTTP base of a `cdpUrl` (`ws://h:p/devtools/browser/..` → `http://h:p`).
pub fn http_base_of_cdp_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "http",
        "https" | "wss" => "https",
        _ => return None,
    };
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["openclaw", "work", "a", "0", "w-2", &"a".repeat(64)] {
            assert!(validate_profile_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "Work", "a_b", "a b", "a.b", "é", &"a".repeat(65)] {
            assert!(validate_profile_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cdp_url_ports() {
        assert_eq!(port_of_cdp_url("http://127.0.0.1:18800"), Some(18800));
        assert_eq!(
            port_of_cdp_url("ws://127.0.0.1:9222/devtools/browser/x"),
            Some(9222)
        );
        assert_eq!(port_of_cdp_url("http://[::1]:9333/"), Some(9333));
        assert_eq!(port_of_cdp_url("http://host"), Some(80));
        assert_eq!(port_of_cdp_url("https://host/x"), Some(443));
        assert_eq!(port_of_cdp_url("nonsense"), None);
        assert_eq!(
            http_base_of_cdp_url("ws://127.0.0.1:9222/devtools/browser/x").as_deref(),
            Some("http://127.0.0.1:9222")
        );
    }
}
