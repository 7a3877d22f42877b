//! Per-profile service names on each platform.

use serde::Serialize;

/// The names a profile's gateway service has on each service manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceNames {
    /// systemd user unit, e.g. `openclaw-gateway-rescue.service`.
    pub systemd_unit: String,
    /// launchd label, e.g. `ai.openclaw.rescue`.
    pub launchd_label: String,
    /// Windows scheduled task, e.g. `OpenClaw Gateway (rescue)`.
    pub windows_task: String,
}

impl ServiceNames {
    /// Names for a profile; `None` is the default profile.
    pub fn for_profile(profile: Option<&str>) -> Self {
        match profile {
            None => ServiceNames {
                systemd_unit: "openclaw-gateway.service".into(),
                launchd_label: "ai.openclaw.gateway".into(),
                windows_task: "OpenClaw Gateway".into(),
            },
            Some(p) => ServiceNames {
                systemd_unit: format!("openclaw-gateway-{p}.service"),
                launchd_label: format!("ai.openclaw.{p}"),
                windows_task: format!("OpenClaw Gateway ({p})"),
            },
        }
    }
}
