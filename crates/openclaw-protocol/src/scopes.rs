//! Operator scopes: the closed set upstream defines, and how one scope
//! satisfies another.
//!
//! `operator.admin` satisfies every operator scope; `operator.write`
//! satisfies `operator.read` and `operator.talk`; every other scope needs an
//! exact grant. Unknown scope strings are dropped, never widened.

use std::fmt;

/// An operator scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Read,
    Write,
    Admin,
    /// Exec and plugin approval APIs.
    Approvals,
    /// Listing, reading and answering interactive questions.
    Questions,
    /// Device (and node) pairing management.
    Pairing,
    /// Talk sessions without general write access.
    Talk,
    /// Reading Talk configuration with secrets included.
    TalkSecrets,
}

impl Scope {
    /// Every operator scope, in upstream's order.
    pub const ALL: [Scope; 8] = [
        Scope::Read,
        Scope::Write,
        Scope::Admin,
        Scope::Approvals,
        Scope::Questions,
        Scope::Pairing,
        Scope::Talk,
        Scope::TalkSecrets,
    ];

    /// The scopes' strings, in [`Scope::ALL`]'s order.
    pub const NAMES: [&'static str; 8] = {
        let mut out = [""; 8];
        let mut i = 0;
        while i < 8 {
            out[i] = Scope::ALL[i].as_str();
            i += 1;
        }
        out
    };

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "operator.read",
            Scope::Write => "operator.write",
            Scope::Admin => "operator.admin",
            Scope::Approvals => "operator.approvals",
            Scope::Questions => "operator.questions",
            Scope::Pairing => "operator.pairing",
            Scope::Talk => "operator.talk",
            Scope::TalkSecrets => "operator.talk.secrets",
        }
    }

    /// Parses one of the closed set; anything else is `None` (unknown
    /// scopes are ignored, never widened).
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// In config and on the wire a scope is its string (`"operator.read"`);
/// anything outside the closed set is an error naming the valid ones.
impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Scope::parse(&s).ok_or_else(|| serde::de::Error::unknown_variant(&s, &Scope::NAMES))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of operator scopes (what a connection was granted, what a
/// credential may grant, what a device was approved for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ScopeSet(u8);

impl ScopeSet {
    /// No scope at all.
    pub const EMPTY: ScopeSet = ScopeSet(0);

    /// Every operator scope (what the shared secret grants by default, as
    /// upstream).
    pub fn all() -> ScopeSet {
        Scope::ALL.into_iter().collect()
    }

    /// Builds the set from scope strings; unknown strings are dropped.
    pub fn from_strs<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Self {
        scopes.into_iter().filter_map(Scope::parse).collect()
    }

    /// Whether `scope` is in the set itself (no implication).
    pub fn contains(&self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    /// Whether `scope` is granted, directly or by a wider scope: admin
    /// satisfies everything, write satisfies read and talk.
    pub fn allows(&self, scope: Scope) -> bool {
        if self.contains(scope) || self.contains(Scope::Admin) {
            return true;
        }
        match scope {
            Scope::Read | Scope::Talk => self.contains(Scope::Write),
            _ => false,
        }
    }

    /// The scopes of `self` that `grant` allows: what a connection asking
    /// for `self` gets from a credential that may grant `grant`.
    pub fn granted_by(&self, grant: &ScopeSet) -> ScopeSet {
        self.iter().filter(|s| grant.allows(*s)).collect()
    }

    /// Whether every scope of `self` is allowed by `other`.
    pub fn is_covered_by(&self, other: &ScopeSet) -> bool {
        self.iter().all(|s| other.allows(s))
    }

    /// The scopes in the set, in upstream's order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        Scope::ALL.into_iter().filter(|s| self.contains(*s))
    }

    /// The scope strings, in upstream's order.
    pub fn to_strings(&self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_string()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = ScopeSet::EMPTY;
        for s in iter {
            set.insert(s);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_their_strings_in_serde() {
        for s in Scope::ALL {
            let v = serde_json::to_value(s).unwrap();
            assert_eq!(v, s.as_str());
            assert_eq!(serde_json::from_value::<Scope>(v).unwrap(), s);
        }
        assert_eq!(Scope::NAMES[0], "operator.read");
        let e = serde_json::from_str::<Scope>("\"operator.root\"").unwrap_err();
        assert!(e.to_string().contains("operator.admin"), "{e}");
    }

    fn set(s: &[&str]) -> ScopeSet {
        ScopeSet::from_strs(s.iter().copied())
    }

    #[test]
    fn every_scope_round_trips_and_unknown_is_dropped() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse("operator.root"), None);
        assert_eq!(set(&["x", "operator.root"]), ScopeSet::EMPTY);
        assert_eq!(ScopeSet::all().to_strings().len(), 8);
    }

    #[test]
    fn implications_are_upstreams() {
        let admin = set(&["operator.admin"]);
        for s in Scope::ALL {
            assert!(admin.allows(s), "admin allows {s}");
        }
        let write = set(&["operator.write"]);
        assert!(write.allows(Scope::Read) && write.allows(Scope::Talk));
        for s in [
            Scope::Admin,
            Scope::Approvals,
            Scope::Questions,
            Scope::Pairing,
            Scope::TalkSecrets,
        ] {
            assert!(!write.allows(s), "write does not allow {s}");
        }
        let read = set(&["operator.read"]);
        assert!(read.allows(Scope::Read) && !read.allows(Scope::Write));
        let pairing = set(&["operator.pairing"]);
        assert!(pairing.allows(Scope::Pairing) && !pairing.allows(Scope::Read));
    }

    #[test]
    fn granting_keeps_what_the_credential_allows() {
        let asked = set(&["operator.admin", "operator.read", "operator.pairing"]);
        assert_eq!(asked.granted_by(&ScopeSet::all()), asked);
        // A read+write credential: admin and pairing are dropped.
        let rw = set(&["operator.read", "operator.write"]);
        assert_eq!(asked.granted_by(&rw), set(&["operator.read"]));
        // Asking for read from a write credential keeps read.
        assert_eq!(
            set(&["operator.read"]).granted_by(&set(&["operator.write"])),
            set(&["operator.read"])
        );
        assert!(set(&["operator.read"]).is_covered_by(&rw));
        assert!(!asked.is_covered_by(&rw));
        assert_eq!(
            asked.to_strings(),
            ["operator.read", "operator.admin", "operator.pairing"]
        );
    }
}
