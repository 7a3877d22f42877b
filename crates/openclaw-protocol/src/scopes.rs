//! Operator scopes and the scope each method requires.

use std::fmt;

use crate::methods;

/// An operator scope. `admin` grants everything, `write` grants `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "operator.read",
            Scope::Write => "operator.write",
            Scope::Admin => "operator.admin",
        }
    }

    /// Parses `operator.read|write|admin`; anything else is `None`
    /// (unknown scopes are ignored, never widened).
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "operator.read" => Some(Scope::Read),
            "operator.write" => Some(Scope::Write),
            "operator.admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes granted to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSet {
    read: bool,
    write: bool,
    admin: bool,
}

impl ScopeSet {
    /// Builds the set from the scope strings a client asked for; unknown
    /// strings are dropped.
    pub fn from_strs<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = ScopeSet::default();
        for s in scopes {
            match Scope::parse(s) {
                Some(Scope::Read) => set.read = true,
                Some(Scope::Write) => set.write = true,
                Some(Scope::Admin) => set.admin = true,
                None => {}
            }
        }
        set
    }

    /// Whether `scope` is granted, directly or by a wider scope.
    pub fn allows(&self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read || self.write || self.admin,
            Scope::Write => self.write || self.admin,
            Scope::Admin => self.admin,
        }
    }

    /// The granted scope strings, narrowest first.
    pub fn to_strings(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (on, s) in [
            (self.read, Scope::Read),
            (self.write, Scope::Write),
            (self.admin, Scope::Admin),
        ] {
            if on {
                v.push(s.as_str().to_string());
            }
        }
        v
    }

    pub fn is_empty(&self) -> bool {
        !(self.read || self.write || self.admin)
    }
}

/// The scope a method requires. Methods this gateway does not know require
/// `operator.admin` (as observed: an unknown method with only read scope is
/// answered FORBIDDEN before "unknown method").
pub fn required_scope(method: &str) -> Scope {
    match method {
        methods::HEALTH
        | methods::STATUS
        | methods::GATEWAY_IDENTITY_GET
        | methods::CONFIG_GET
        | methods::CONFIG_SCHEMA
        | methods::LOGS_TAIL
        | methods::SYSTEM_PRESENCE
        | methods::CHAT_HISTORY
        | methods::AGENT_WAIT
        | methods::SESSIONS_LIST
        | methods::SESSIONS_PREVIEW
        | methods::MODELS_LIST
        | methods::CHANNELS_STATUS => Scope::Read,
        methods::CHAT_SEND
        | methods::CHAT_ABORT
        | methods::AGENT
        | methods::SESSIONS_RESET
        | methods::SESSIONS_DELETE => Scope::Write,
        methods::CONFIG_SET | methods::CONFIG_PATCH | methods::CONFIG_APPLY => Scope::Admin,
        _ => Scope::Admin,
    }
}
