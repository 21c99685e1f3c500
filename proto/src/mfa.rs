//! TOTP multi-factor authentication (DESIGN.md, "Account lifecycle"): enrolment, the second
//! step of a sign-in, recovery codes.

use serde::{Deserialize, Serialize};

use crate::AuthSuccess;
use crate::auth::REDACTED;

/// What a sign-in answers: a session, or, for an account with a second factor, a ticket to
/// finish it with (`POST /auth/mfa/verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum SignInAnswer {
    /// Signed in.
    Session(AuthSuccess),
    /// A second factor is needed.
    Mfa(MfaRequired),
}

/// The first factor was right; a second is needed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaRequired {
    /// Always `true`.
    pub mfa_required: bool,
    /// Single use, 5 minutes: send it with the code to `POST /auth/mfa/verify`.
    pub mfa_ticket: String,
    /// What the account accepts: `totp`, `recovery_code`.
    pub methods: Vec<String>,
}

/// `POST /auth/mfa/totp`: a new secret to add to an authenticator app.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpEnrolment {
    /// The secret, base32 (what an app asks for when typed by hand).
    pub secret: String,
    /// `otpauth://totp/…`: what the QR code holds.
    pub otpauth_uri: String,
    /// The QR code of `otpauth_uri`, as an SVG document.
    pub qr_svg: String,
}

/// A code from the authenticator app (or, where said, a recovery code).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MfaCode {
    /// Six digits from the app, or a recovery code (`xxxxx-xxxxx`) where one is accepted.
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    pub code: String,
}

/// Recovery codes: each works once, in place of an app code. Shown once; only hashes are kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    /// Ten codes.
    pub recovery_codes: Vec<String>,
}

/// `POST /auth/mfa/verify`: the ticket and an app code, or the ticket and a recovery code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum VerifyMfa {
    /// With a code from the authenticator app.
    Totp(TotpAnswer),
    /// With a recovery code.
    Recovery(RecoveryAnswer),
}

/// The ticket and an app code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TotpAnswer {
    /// From the sign-in's answer.
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub mfa_ticket: String,
    /// Six digits from the app.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]{6}$"))]
    pub code: String,
}

/// The ticket and a recovery code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecoveryAnswer {
    /// From the sign-in's answer.
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub mfa_ticket: String,
    /// One of the account's recovery codes.
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    pub recovery_code: String,
}

// The secrets above never reach a log through `Debug`.

impl std::fmt::Debug for MfaRequired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaRequired")
            .field("mfa_ticket", &REDACTED)
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrolment")
            .field("secret", &REDACTED)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodes")
            .field("recovery_codes", &self.recovery_codes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_ticket_a_secret_or_a_code() {
        let shown = format!(
            "{:?} {:?} {:?}",
            MfaRequired {
                mfa_required: true,
                mfa_ticket: "kwm_secret-ticket".into(),
                methods: vec!["totp".into()],
            },
            TotpEnrolment {
                secret: "JBSWY3DPEHPK3PXP".into(),
                otpauth_uri: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into(),
                qr_svg: "<svg/>".into(),
            },
            RecoveryCodes {
                recovery_codes: vec!["abcde-fghjk".into()],
            },
        );
        for secret in ["secret-ticket", "JBSWY3DPEHPK3PXP", "abcde-fghjk"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
