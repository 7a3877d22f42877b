//! Device identity on the wire: the `device` object of `connect`, the
//! payload a device signs, and the answers to a device proof that fails.
//!
//! Upstream's format (`packages/gateway-client/src/device-auth.ts` and the
//! gateway's `connect-device-proof.ts`, observed against the real Control
//! UI):
//! - `device.publicKey` is the raw 32-byte Ed25519 public key in base64url
//!   (no padding); `device.id` is the lowercase hex SHA-256 of those 32
//!   bytes; `device.signature` is the 64-byte Ed25519 signature in
//!   base64url.
//! - The signed payload is UTF-8 text, fields joined with `|`:
//!   `v2|deviceId|clientId|clientMode|role|scopes|signedAtMs|token|nonce`,
//!   where `scopes` is the requested scopes joined with `,` and `token` is
//!   `auth.token`, else `auth.deviceToken`, else empty. `v3` appends
//!   `|platform|deviceFamily` (each trimmed and ASCII-lowercased). A
//!   gateway accepts either; the Control UI 2026.9.6 signs `v2`.
//! - `device.signedAt` is the challenge's `ts` and `device.nonce` its
//!   nonce; a signature older or newer than [`SIGNATURE_SKEW_MS`] is
//!   refused.

use serde::{Deserialize, Serialize};

use crate::{ErrorShape, codes, detail_codes};

/// How far `device.signedAt` may be from the gateway's clock.
pub const SIGNATURE_SKEW_MS: u64 = 120_000;

/// `connect.params.device`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConnectDevice {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub public_key: String,
    #[serde(default)]
    pub signature: String,
    /// Milliseconds since the epoch (the challenge's `ts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// Which signed-payload layout a signature used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadVersion {
    V2,
    V3,
}

impl PayloadVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadVersion::V2 => "v2",
            PayloadVersion::V3 => "v3",
        }
    }
}

/// The fields a device signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFields<'a> {
    pub device_id: &'a str,
    pub client_id: &'a str,
    pub client_mode: &'a str,
    pub role: &'a str,
    /// The requested scopes, in the order the client sent them.
    pub scopes: &'a [String],
    pub signed_at_ms: u64,
    /// `auth.token`, else `auth.deviceToken`, else empty.
    pub token: &'a str,
    pub nonce: &'a str,
    /// `client.platform` (v3 only).
    pub platform: &'a str,
    /// `client.deviceFamily` (v3 only).
    pub device_family: &'a str,
}

/// Trimmed and ASCII-lowercased (upstream's `normalizeDeviceMetadataForAuth`).
fn normalize_metadata(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

impl SignedFields<'_> {
    /// The UTF-8 text a device signs for `version`.
    pub fn payload(&self, version: PayloadVersion) -> String {
        let mut parts = vec![
            version.as_str().to_string(),
            self.device_id.to_string(),
            self.client_id.to_string(),
            self.client_mode.to_string(),
            self.role.to_string(),
            self.scopes.join(","),
            self.signed_at_ms.to_string(),
            self.token.to_string(),
            self.nonce.to_string(),
        ];
        if version == PayloadVersion::V3 {
            parts.push(normalize_metadata(self.platform));
            parts.push(normalize_metadata(self.device_family));
        }
        parts.join("|")
    }
}

/// Why a device proof was refused: upstream's `details.reason` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAuthFailure {
    /// `device.id` is not the fingerprint of `device.publicKey`.
    IdMismatch,
    /// `device.signedAt` is missing or too far from now.
    SignatureStale,
    /// `device.nonce` is missing or blank.
    NonceMissing,
    /// `device.nonce` is not this connection's challenge nonce.
    NonceMismatch,
    /// The signature does not verify over the v3 or v2 payload.
    Signature,
    /// The public key is not a valid Ed25519 key.
    PublicKey,
}

impl DeviceAuthFailure {
    /// `error.details.reason`.
    pub fn reason(self) -> &'static str {
        match self {
            DeviceAuthFailure::IdMismatch => "device-id-mismatch",
            DeviceAuthFailure::SignatureStale => "device-signature-stale",
            DeviceAuthFailure::NonceMissing => "device-nonce-missing",
            DeviceAuthFailure::NonceMismatch => "device-nonce-mismatch",
            DeviceAuthFailure::Signature => "device-signature",
            DeviceAuthFailure::PublicKey => "device-public-key",
        }
    }

    /// `error.details.code`.
    pub fn code(self) -> &'static str {
        match self {
            DeviceAuthFailure::IdMismatch => detail_codes::DEVICE_AUTH_DEVICE_ID_MISMATCH,
            DeviceAuthFailure::SignatureStale => detail_codes::DEVICE_AUTH_SIGNATURE_EXPIRED,
            DeviceAuthFailure::NonceMissing => detail_codes::DEVICE_AUTH_NONCE_REQUIRED,
            DeviceAuthFailure::NonceMismatch => detail_codes::DEVICE_AUTH_NONCE_MISMATCH,
            DeviceAuthFailure::Signature => detail_codes::DEVICE_AUTH_SIGNATURE_INVALID,
            DeviceAuthFailure::PublicKey => detail_codes::DEVICE_AUTH_PUBLIC_KEY_INVALID,
        }
    }

    /// `error.message` (also the close reason).
    pub fn message(self) -> &'static str {
        match self {
            DeviceAuthFailure::IdMismatch => "device identity mismatch",
            DeviceAuthFailure::SignatureStale => "device signature expired",
            DeviceAuthFailure::NonceMissing => "device nonce required",
            DeviceAuthFailure::NonceMismatch => "device nonce mismatch",
            DeviceAuthFailure::Signature => "device signature invalid",
            DeviceAuthFailure::PublicKey => "device public key invalid",
        }
    }

    /// The answer to `connect` (INVALID_REQUEST, as upstream).
    pub fn error(self) -> ErrorShape {
        ErrorShape::new(codes::INVALID_REQUEST, self.message())
            .with_details(serde_json::json!({"code": self.code(), "reason": self.reason()}))
    }
}

/// Why a device has to be approved before it may connect (upstream's
/// pairing reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingReason {
    NotPaired,
    ScopeUpgrade,
}

impl PairingReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PairingReason::NotPaired => "not-paired",
            PairingReason::ScopeUpgrade => "scope-upgrade",
        }
    }
}

impl ErrorShape {
    /// A device that is not (or not enough) approved: a pending request
    /// `request_id` waits for `openclaw devices approve`.
    pub fn pairing_required(reason: PairingReason, request_id: &str, device_id: &str) -> Self {
        let (message, hint) = match reason {
            PairingReason::NotPaired => (
                "pairing required: device is not approved yet",
                "Approve this device from the pending pairing requests.",
            ),
            PairingReason::ScopeUpgrade => (
                "pairing required: device is asking for more scopes than currently approved",
                "Review the requested scopes, then approve the pending upgrade.",
            ),
        };
        ErrorShape::new(codes::NOT_PAIRED, message).with_details(serde_json::json!({
            "code": detail_codes::PAIRING_REQUIRED,
            "reason": reason.as_str(),
            "requestId": request_id,
            "remediationHint": format!("{hint} Run `openclaw devices approve {request_id}` on the gateway host."),
            "recommendedNextStep": "wait_then_retry",
            "retryable": true,
            "pauseReconnect": false,
            "deviceId": device_id,
        }))
    }

    /// A device token that is not this device's current token.
    pub fn device_token_mismatch() -> Self {
        ErrorShape::new(
            codes::INVALID_REQUEST,
            "unauthorized: device token mismatch (rotated or revoked; reconnect with the gateway token or re-pair the device)",
        )
        .with_details(serde_json::json!({
            "code": detail_codes::AUTH_DEVICE_TOKEN_MISMATCH,
            "authReason": "device_token_mismatch",
            "canRetryWithDeviceToken": false,
            "recommendedNextStep": "update_auth_credentials",
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_upstreams_layout() {
        let scopes = vec!["operator.admin".to_string(), "operator.read".to_string()];
        let f = SignedFields {
            device_id: "dev",
            client_id: "openclaw-control-ui",
            client_mode: "webchat",
            role: "operator",
            scopes: &scopes,
            signed_at_ms: 17,
            token: "tok",
            nonce: "n-1",
            platform: " Linux x86_64 ",
            device_family: "",
        };
        assert_eq!(
            f.payload(PayloadVersion::V2),
            "v2|dev|openclaw-control-ui|webchat|operator|operator.admin,operator.read|17|tok|n-1"
        );
        assert_eq!(
            f.payload(PayloadVersion::V3),
            "v3|dev|openclaw-control-ui|webchat|operator|operator.admin,operator.read|17|tok|n-1|linux x86_64|"
        );
    }

    #[test]
    fn failures_carry_upstreams_codes() {
        let e = DeviceAuthFailure::Signature.error();
        assert_eq!(e.code, codes::INVALID_REQUEST);
        assert_eq!(e.message, "device signature invalid");
        assert_eq!(e.detail_code(), Some("DEVICE_AUTH_SIGNATURE_INVALID"));
        assert_eq!(e.details.unwrap()["reason"], "device-signature");
        let e = ErrorShape::pairing_required(PairingReason::NotPaired, "r1", "d1");
        assert_eq!(e.code, codes::NOT_PAIRED);
        assert_eq!(e.detail_code(), Some("PAIRING_REQUIRED"));
        assert!(
            e.details.unwrap()["remediationHint"]
                .as_str()
                .unwrap()
                .contains("openclaw devices approve r1")
        );
    }
}
