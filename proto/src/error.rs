//! The stable error codes of the Keyward protocol.

use serde::{Deserialize, Serialize};

/// The failure envelope: `{"error": {"code": …, "message": …}}`, sent with a 4xx or 5xx status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorEnvelope {
    /// What went wrong.
    pub error: ErrorBody,
}

/// A machine-readable code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable: branch on this.
    pub code: ErrorCode,
    /// For people: may change between versions, never parse it.
    pub message: String,
}

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident => $wire:literal, )*) => {
        /// Every error code the server can answer with. The wire form is the snake_case name.
        ///
        /// Codes are stable: new ones may be added (the enum is `#[non_exhaustive]`, and a client
        /// that meets a code it does not know reads it as [`ErrorCode::Unknown`]), existing ones
        /// never change meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $variant, )*
            /// A code this client version does not know (a newer server). Never sent by the
            /// server.
            #[serde(other)]
            Unknown,
        }

        impl ErrorCode {
            /// Every code the server sends.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire name, as in the JSON body.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $wire, )*
                    Self::Unknown => "unknown",
                }
            }

            /// The code for a wire name; [`ErrorCode::Unknown`] for a name this version does not
            /// know. (The browser client reads codes with this rather than serde: it keeps serde
            /// out of the npm build.)
            pub fn from_wire(name: &str) -> Self {
                match name {
                    $( $wire => Self::$variant, )*
                    _ => Self::Unknown,
                }
            }
        }
    };
}

error_codes! {
    /// The request body or query is malformed: bad JSON, a wrong type, an unknown field.
    InvalidRequest => "invalid_request",
    /// The request body is larger than the server accepts (64 KiB).
    PayloadTooLarge => "payload_too_large",
    /// The request's `Content-Type` is not `application/json`.
    UnsupportedMediaType => "unsupported_media_type",
    /// No such route or resource.
    NotFound => "not_found",
    /// The route exists but not for this HTTP method.
    MethodNotAllowed => "method_not_allowed",
    /// The email address is not one the server accepts.
    InvalidEmail => "invalid_email",
    /// The password is shorter than 8 characters.
    WeakPassword => "weak_password",
    /// The password is longer than 1024 characters.
    PasswordTooLong => "password_too_long",
    /// An account with this email address exists already.
    EmailTaken => "email_taken",
    /// Wrong email or password (which one is never said).
    InvalidCredentials => "invalid_credentials",
    /// Too many failed sign-ins: the account is locked for a while (`Retry-After` says how long).
    AccountLocked => "account_locked",
    /// An administrator disabled this account: it cannot sign in (nor keep a session) until it
    /// is enabled again.
    AccountDisabled => "account_disabled",
    /// The request needs an access token and carried none.
    Unauthorized => "unauthorized",
    /// The access token is malformed, forged, or not for this server.
    InvalidToken => "invalid_token",
    /// The access token has expired: refresh and retry.
    TokenExpired => "token_expired",
    /// The session was revoked (signed out elsewhere, or by an administrator). Sign in again.
    SessionRevoked => "session_revoked",
    /// The refresh token is unknown. Sign in again.
    InvalidRefreshToken => "invalid_refresh_token",
    /// The session can no longer be refreshed (too long idle, or past its lifetime). Sign in again.
    RefreshTokenExpired => "refresh_token_expired",
    /// An old refresh token was used again after its grace window: the session has been revoked
    /// as a precaution. Sign in again.
    RefreshTokenReused => "refresh_token_reused",
    /// This needs a DPoP proof (header `DPoP`) by the session's device key, and none was sent.
    DpopRequired => "dpop_required",
    /// The DPoP proof is malformed, signed by another key, for another request, too old, or
    /// replayed.
    InvalidDpopProof => "invalid_dpop_proof",
    /// The DPoP proof must carry the server's nonce: retry with the one in the `DPoP-Nonce`
    /// header (RFC 9449 §8).
    UseDpopNonce => "use_dpop_nonce",
    /// The passkey was refused: its signature, origin or relying party is wrong, it is not
    /// registered here, or it belongs to another account.
    PasskeyInvalid => "passkey_invalid",
    /// The passkey ceremony is unknown, was finished already, or expired (5 minutes). Start again.
    ChallengeExpired => "challenge_expired",
    /// Adding or removing a way to sign in needs a recent sign-in (by default within the last
    /// 10 minutes): sign in again (with a password or a passkey), then retry. Answered 401 with
    /// `WWW-Authenticate: Bearer error="insufficient_user_authentication"` (RFC 9470).
    ReauthenticationRequired => "reauthentication_required",
    /// This is the account's last way to sign in (its only passkey, with no password): it cannot
    /// be removed before another one is added.
    LastSignInMethod => "last_sign_in_method",
    /// The ticket is unknown, used or expired: a connect ticket (30 s, for another URL, or its
    /// session has ended: get a new one from `POST /auth/connect-ticket`), or a sign-in's second
    /// factor ticket (5 minutes, five wrong codes: sign in again). Which of these is never said.
    InvalidTicket => "invalid_ticket",
    /// The account's email address must be verified first (this server requires it): follow
    /// the link in the verification mail, or ask for a new one.
    EmailNotVerified => "email_not_verified",
    /// The emailed link or code is unknown, used already, or expired: ask for a new mail.
    /// Which of these is never said.
    InvalidLink => "invalid_link",
    /// This provider's account is linked to another account here: sign in to that one, or
    /// unlink it there first.
    IdentityTaken => "identity_taken",
    /// `redirect_to` is not a page of an allowed origin: emailed links only go to the app.
    RedirectNotAllowed => "redirect_not_allowed",
    /// The password is one of the most common ones (a list shipped with the server): choose
    /// another.
    PasswordTooCommon => "password_too_common",
    /// The code from the authenticator app (or the recovery code) is wrong, or was used already.
    InvalidMfaCode => "invalid_mfa_code",
    /// This account has a second factor already: disable it before enrolling another.
    MfaAlreadyEnabled => "mfa_already_enabled",
    /// This account has no second factor (or no enrolment in progress to confirm).
    MfaNotEnabled => "mfa_not_enabled",
    /// This route needs a session signed in with two factors (`aal` 2): verify a code first
    /// (`POST /auth/mfa/step-up`, or sign in again with the second factor).
    StepUpRequired => "step_up_required",
    /// This link must be used by the account's holder: open it in a browser signed in to the
    /// account that asked for it (an address change is confirmed by the account, not by
    /// whoever reads the new mailbox).
    SignInRequired => "sign_in_required",
    /// The caller's role in the organization does not allow this (too low, or it would act on
    /// someone at or above it, or grant a role above it).
    Forbidden => "forbidden",
    /// An organization always keeps an owner: transfer the ownership first.
    LastOwner => "last_owner",
    /// Another organization has this slug.
    SlugTaken => "slug_taken",
    /// Only a member of the organization can become its owner.
    NotAMember => "not_a_member",
    /// No such role: neither built in nor defined in the server's settings.
    UnknownRole => "unknown_role",
    /// The invited address is a member of the organization already.
    AlreadyAMember => "already_a_member",
    /// The invitation is for another address: sign in with the account it was sent to (its
    /// address verified).
    EmailMismatch => "email_mismatch",
    /// Too many requests; retry after the `Retry-After` header's seconds.
    RateLimited => "rate_limited",
    /// Something failed inside the server; nothing about it is disclosed. Safe to retry.
    Internal => "internal",
    /// The server cannot reach a dependency (such as its database) right now. Safe to retry.
    Unavailable => "unavailable",
}

impl ErrorCode {
    /// Whether this answer means the session is over for good (the client should forget it and
    /// sign in again). Anything else (a network error, a 5xx, a rate limit) keeps the session.
    pub fn ends_session(self) -> bool {
        matches!(
            self,
            Self::SessionRevoked
                | Self::InvalidRefreshToken
                | Self::RefreshTokenExpired
                | Self::RefreshTokenReused
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_under_its_wire_name() {
        for &code in ErrorCode::ALL {
            let envelope = ErrorEnvelope {
                error: ErrorBody {
                    code,
                    message: "m".into(),
                },
            };
            let json = serde_json::to_value(&envelope).unwrap();
            assert_eq!(json["error"]["code"], code.as_str());
            let back: ErrorEnvelope = serde_json::from_value(json).unwrap();
            assert_eq!(back, envelope);
        }
    }

    #[test]
    fn a_code_from_a_newer_server_reads_as_unknown() {
        let body = r#"{"error":{"code":"some_future_code","message":"m"}}"#;
        let parsed: ErrorEnvelope = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.error.code, ErrorCode::Unknown);
    }
}
