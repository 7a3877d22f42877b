//! Service names on each platform, one distinct set per instance.
//!
//! A profile keeps upstream's names. An instance selected only by a custom
//! state dir (the description's "manual env" example) gets a stable name of
//! its own so that two such instances can be installed side by side:
//! the `<name>` of a state dir called `.openclaw-<name>` when no other
//! instance on the host uses `<name>` as its profile, otherwise `dir-`
//! followed by the first 8 hex digits of the SHA-256 of the state dir path.
//! Once such an instance has installed its service, the name is sticky: the
//! instance finds its own service among [`ServiceNames::state_dir_candidates`]
//! by the state dir its file names (the host crate does that IO), so a
//! neighbour profile that appears later cannot rename it.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Source, Sourced};

/// The names an instance's gateway service has on each service manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceNames {
    /// systemd user unit, e.g. `openclaw-gateway-rescue.service`.
    pub systemd_unit: String,
    /// launchd label, e.g. `ai.openclaw.rescue`.
    pub launchd_label: String,
    /// Windows scheduled task, e.g. `OpenClaw Gateway (rescue)`.
    pub windows_task: String,
    /// Why the names are what they are: the profile, the state dir's name,
    /// a hash of the state dir, or the built-in default.
    pub source: Source,
}

impl ServiceNames {
    /// Names for a profile; `None` is the default profile.
    pub fn for_profile(profile: Option<&str>) -> Self {
        match profile {
            None => ServiceNames {
                systemd_unit: "openclaw-gateway.service".into(),
                launchd_label: "ai.openclaw.gateway".into(),
                windows_task: "OpenClaw Gateway".into(),
                source: Source::Default,
            },
            Some(p) => {
                let mut n = Self::named(p);
                n.source = Source::Derived(format!("profile {p}"));
                n
            }
        }
    }

    fn named(name: &str) -> Self {
        ServiceNames {
            systemd_unit: format!("openclaw-gateway-{name}.service"),
            launchd_label: format!("ai.openclaw.{name}"),
            windows_task: format!("OpenClaw Gateway ({name})"),
            source: Source::Default,
        }
    }

    /// Names for an instance.
    ///
    /// `other_profile` answers whether another instance on the host (one
    /// with a different state dir) has the given profile name; the caller
    /// gathers that from the host registry.
    pub fn for_instance(
        profile: Option<&str>,
        state_dir: &Sourced<std::path::PathBuf>,
        home: &Path,
        other_profile: &dyn Fn(&str) -> bool,
    ) -> Self {
        if profile.is_some() || !matches!(state_dir.source, Source::Env(_)) {
            return Self::for_profile(profile);
        }
        let dir = &state_dir.value;
        if crate::same_lexical(dir, &home.join(".openclaw")) {
            return Self::for_profile(None);
        }
        let from_name = Self::state_dir_name(dir);
        if let Some(name) = from_name
            && !other_profile(name)
        {
            return Self::from_state_dir_name(name);
        }
        let mut n = Self::hashed(dir);
        n.source = Source::Derived(if from_name.is_some() {
            "hash of the state dir (its name is another instance's profile)".into()
        } else {
            "hash of the state dir".into()
        });
        n
    }

    /// `<name>` of a state dir called `.openclaw-<name>`, when `<name>` is a
    /// valid profile name (and does not look like a hashed name).
    pub fn state_dir_name(dir: &Path) -> Option<&str> {
        dir.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(".openclaw-"))
            .filter(|n| matches!(crate::normalize_profile(n), Ok(Some(p)) if p == *n))
            .filter(|n| !n.starts_with("dir-"))
    }

    fn from_state_dir_name(name: &str) -> Self {
        let mut n = Self::named(name);
        n.source = Source::Derived(format!("state dir name .openclaw-{name}"));
        n
    }

    /// `dir-<first 8 hex of sha256(state dir)>`.
    fn hashed(dir: &Path) -> Self {
        let digest = Sha256::digest(dir.to_string_lossy().as_bytes());
        let short: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let mut n = Self::named(&format!("dir-{short}"));
        n.source = Source::Derived("hash of the state dir".into());
        n
    }

    /// Every set of names an instance selected by the state dir `dir` can
    /// have been given, whichever neighbours existed then: the state dir's
    /// name (when it reads `.openclaw-<name>`) and the hash. The service it
    /// installed is under one of them, so the caller can find it there by
    /// the `OPENCLAW_STATE_DIR` its file names (see [`ServiceNames::installed`]).
    pub fn state_dir_candidates(dir: &Path) -> Vec<ServiceNames> {
        let mut out = Vec::new();
        if let Some(name) = Self::state_dir_name(dir) {
            out.push(Self::from_state_dir_name(name));
        }
        out.push(Self::hashed(dir));
        out
    }

    /// These names, as the ones of a service this instance installed (its
    /// file names this instance's state dir): they stay this instance's
    /// even when a neighbour appears later that would change the derived
    /// name.
    pub fn installed(mut self) -> Self {
        self.source = Source::Derived(format!(
            "installed service {} (its OPENCLAW_STATE_DIR is this state dir)",
            self.systemd_unit
        ));
        self
    }

    /// The first name two instances' services would share, with the manager
    /// it is for (`None` when every name differs).
    pub fn clash(&self, other: &ServiceNames) -> Option<(&'static str, &str)> {
        self.all()
            .into_iter()
            .zip(other.all())
            .find(|((_, a), (_, b))| a == b)
            .map(|(a, _)| a)
    }

    /// Every name, with the manager it is for.
    pub fn all(&self) -> [(&'static str, &str); 3] {
        [
            ("systemd unit", &self.systemd_unit),
            ("launchd label", &self.launchd_label),
            ("windows task", &self.windows_task),
        ]
    }
}
