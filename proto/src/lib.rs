//! Keyward's wire protocol: the JSON shapes that the server sends and the browser client reads.
//!
//! Every response is either `{"data": …}` ([`Envelope`]) or, with a 4xx/5xx status,
//! `{"error": {"code": …, "message": …}}` ([`ErrorEnvelope`]). Clients branch on [`ErrorCode`],
//! never on the message.
//!
//! ```
//! use keyward_proto::{ErrorCode, ErrorEnvelope};
//!
//! let body = r#"{"error":{"code":"rate_limited","message":"Too many attempts."}}"#;
//! let parsed: ErrorEnvelope = serde_json::from_str(body).unwrap();
//! assert_eq!(parsed.error.code, ErrorCode::RateLimited);
//! ```
//!
//! This crate does no I/O and pulls in nothing but `serde`, so the wasm client stays small.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod admin;
mod auth;
mod error;
mod lifecycle;
mod mfa;
mod oauth;
mod oidc;
mod orgs;
mod resource;

pub use admin::{
    AdminUser, AuditEvent, AuditPage, NewWebhook, SessionsEnded, UserDetail, UserDisabled,
    UserPage, WebhookChanges, WebhookCreated, WebhookDelivery, WebhookDeliveryPage,
    WebhookEndpoint, WebhookEndpoints,
};
pub use auth::{
    AuthSuccess, ChallengeRequest, ChallengeVerified, ConnectTicket, ConnectTicketRequest, Device,
    DeviceChallenge, DeviceList, Jwk, Jwks, Me, Passkey, PasskeyList, PasskeyName, PasskeySignIn,
    PasskeySignUp, RefreshRequest, RefreshResponse, RenameDevice, Session, SessionList,
    SignInRequest, SignOutRequest, SignOutScope, SignUpRequest, TokenType, Tokens, User,
    VerifyChallenge,
};
pub use error::{ErrorBody, ErrorCode, ErrorEnvelope};
pub use lifecycle::{
    ChangeEmail, ChangePassword, ForgotPassword, LinkToken, MagicCode, ResetPassword,
    SendMagicLink, VerifyMagicLink,
};
pub use mfa::{
    MfaCode, MfaRequired, RecoveryAnswer, RecoveryCodes, SignInAnswer, TotpAnswer, TotpEnrolment,
    VerifyMfa,
};
pub use oauth::{
    Identities, Identity, IdentityLinked, OAuthExchange, OAuthLink, OAuthLinkStarted,
    OAuthProviderInfo, OAuthProviders,
};
pub use oidc::{
    BrowserSession, BrowserSessionStarted, ClientChanges, ClientRegistered, ClientType,
    ConnectedApp, ConnectedApps, NewClient, OAuthError, OidcClient, OidcClients,
    RotateClientSecret, TokenResponse,
};
pub use orgs::{
    ChangeRole, CreateOrg, Invitation, InvitationAnswer, InvitationList, Invite, Member,
    MemberList, Org, OrgAnswer, OrgList, OrgMembership, TransferOrg, UpdateOrg, is_permission,
    permits,
};
pub use resource::{
    IntrospectRequest, IntrospectedKey, Introspection, RedeemTicket, TicketRedeemed,
};

use serde::{Deserialize, Serialize};

/// The success envelope: every 2xx JSON body is `{"data": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    /// The payload.
    pub data: T,
}

impl<T> Envelope<T> {
    /// Wraps a payload.
    pub fn new(data: T) -> Self {
        Self { data }
    }
}

/// `GET /healthz`: liveness, including a round trip to the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `"ok"` when the server can serve requests.
    pub status: HealthStatus,
    /// The database backend in use: `"sqlite"` or `"postgres"`.
    pub database: String,
    /// The server's version (its crate version).
    pub version: String,
}

/// Whether a health check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything the server needs answered.
    Ok,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_round_trips_in_the_data_envelope() {
        let health = Envelope::new(Health {
            status: HealthStatus::Ok,
            database: "sqlite".into(),
            version: "0.1.0".into(),
        });
        let json = serde_json::to_string(&health).unwrap();
        assert_eq!(
            json,
            r#"{"data":{"status":"ok","database":"sqlite","version":"0.1.0"}}"#
        );
        let back: Envelope<Health> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, health);
    }

    #[test]
    fn sign_up_refuses_unknown_fields_and_sign_out_scope_defaults_to_session() {
        let typo = r#"{"email":"a@example.com","password":"correct horse","nmae":"A"}"#;
        assert!(serde_json::from_str::<SignUpRequest>(typo).is_err());
        let empty: SignOutRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.scope.unwrap_or_default(), SignOutScope::Session);
        let all: SignOutRequest = serde_json::from_str(r#"{"scope":"all"}"#).unwrap();
        assert_eq!(all.scope, Some(SignOutScope::All));
    }

    #[test]
    fn token_type_uses_the_http_scheme_names() {
        assert_eq!(
            serde_json::to_string(&TokenType::DPoP).unwrap(),
            r#""DPoP""#
        );
        assert_eq!(
            serde_json::to_string(&TokenType::Bearer).unwrap(),
            r#""Bearer""#
        );
    }
}
