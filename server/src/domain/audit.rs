//! What the audit log records. Every event is written in the same transaction as the change it
//! records, so the log and the data cannot disagree.

use super::{SessionId, Timestamp, UserId};
use crate::store::AuditRow;

/// What an audit event records. Stored as its snake_case name (the `kind` column), which is
/// stable: `keyward audit` and the admin API show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// An account was created.
    SignUp,
    /// A sign-in succeeded.
    SignIn,
    /// A sign-in failed (wrong password or unknown email).
    SignInFailed,
    /// A sign-in was refused because the account is locked, or this failure locked it.
    SignInLocked,
    /// A session's tokens were rotated.
    Refresh,
    /// A device retried a refresh whose answer it never got (after the grace window, its
    /// successor still unused): it got the same successor back.
    RefreshRetried,
    /// A used refresh token came back after its grace window; the session was revoked.
    RefreshReuseDetected,
    /// A user signed out (`detail.scope` says which sessions).
    SignOut,
    /// A session was revoked (by its user from another session, or evicted by the session limit).
    SessionRevoked,
    /// A refresh was refused for a missing or invalid DPoP proof (a stolen token used elsewhere?).
    DpopRefused,
    /// A device was revoked (and its sessions with it).
    DeviceRevoked,
    /// A new signing key replaced the old one.
    KeyRotated,
    /// An address was proved (a verification link, a password reset or a magic link).
    EmailVerified,
    /// A password was reset through an emailed link.
    PasswordReset,
    /// A signed-in user changed their password.
    PasswordChanged,
    /// A signed-in user asked to move to another address.
    EmailChangeRequested,
    /// An account moved to another (confirmed) address.
    EmailChanged,
    /// A mail could not be delivered, after every retry.
    MailFailed,
    /// A second factor (TOTP) was turned on.
    MfaEnabled,
    /// The second factor was turned off.
    MfaDisabled,
    /// A wrong second-factor code (app or recovery).
    MfaFailed,
    /// New recovery codes replaced the old ones.
    RecoveryCodesRegenerated,
    /// A session proved the second factor again (step-up).
    SteppedUp,
    /// A provider's sign-in or link came back refused or failed a check (`detail.error` is the
    /// `login_error` the app got).
    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    OAuthFailed,
    /// A provider's identity was linked to an account.
    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    IdentityLinked,
    /// A provider's identity was unlinked from an account.
    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    IdentityUnlinked,
    /// An organization was made (its maker is its owner).
    OrgCreated,
    /// An organization's name, slug or metadata changed.
    OrgUpdated,
    /// An organization was deleted.
    OrgDeleted,
    /// A member's role changed (`detail.role`), or the ownership moved (`detail.transfer`).
    MemberRoleChanged,
    /// A member was removed, or left.
    MemberRemoved,
    /// Someone was invited to an organization (`detail.role`), or invited again.
    MemberInvited,
    /// An invitation was revoked.
    InvitationRevoked,
    /// An invitation was accepted: its address joined (`detail.org`, `detail.role`).
    InvitationAccepted,
    /// A session now acts for an organization (`detail.org`).
    OrgActivated,
    /// An API key (server or admin) was made (`detail.id`, `detail.kind`, `detail.name`).
    ServerKeyCreated,
    /// An API key was revoked (`detail.id`, `detail.kind`).
    ServerKeyRevoked,
    /// An admin ended every session of a user (`detail.admin_key`: the key that did).
    AdminEndedSessions,
    /// An admin disabled an account (its sessions ended with it).
    AdminDisabledUser,
    /// An admin let a disabled account sign in again.
    AdminEnabledUser,
    /// An admin deleted an account and its data (`detail.email`, `detail.orgs`: the
    /// organizations deleted with it).
    AdminDeletedUser,
    /// An admin had a password reset link mailed to a user.
    AdminStartedPasswordReset,
    /// A passkey was registered to an account (`detail.passkey`: its id).
    PasskeyAdded,
    /// A passkey was removed from an account (`detail.passkey`: its id).
    PasskeyRemoved,
    /// A webhook endpoint was made (`detail.webhook`, `detail.url`).
    WebhookCreated,
    /// A webhook endpoint was deleted, with its deliveries.
    WebhookDeleted,
    /// A webhook endpoint's URL or event types changed.
    WebhookUpdated,
    /// A disabled webhook endpoint was enabled again.
    WebhookEnabled,
    /// A webhook delivery was sent again on an admin's request (`detail.delivery`).
    WebhookRedelivered,
    /// A test message was queued for a webhook endpoint.
    WebhookTested,
    /// A webhook endpoint's secret was rotated (the previous one signs too for a day).
    WebhookSecretRotated,
    /// An OpenID Connect client was registered (`detail.client`: its `client_id`).
    #[cfg(feature = "oidc-provider")]
    OidcClientCreated,
    /// A client's registration changed.
    #[cfg(feature = "oidc-provider")]
    OidcClientUpdated,
    /// A client's secret was rotated (`detail.previous_refused_now`: the previous one at once).
    #[cfg(feature = "oidc-provider")]
    OidcClientSecretRotated,
    /// A client was deleted.
    #[cfg(feature = "oidc-provider")]
    OidcClientDeleted,
    /// A client failed to authenticate at the token endpoint (`detail.client`: the id it gave).
    #[cfg(feature = "oidc-provider")]
    OidcClientAuthFailed,
    /// A client got a token for itself (`client_credentials`; `detail.scope`, `detail.jti`).
    #[cfg(feature = "oidc-provider")]
    OidcClientToken,
    /// A user signed in to a client: a code was issued to it (`detail.client`, `detail.scope`).
    #[cfg(feature = "oidc-provider")]
    OidcCodeIssued,
    /// A code was exchanged: the client's grant started (`session_id`: the grant).
    #[cfg(feature = "oidc-provider")]
    OidcGrantStarted,
    /// A used code was presented again: what its exchange issued is revoked.
    #[cfg(feature = "oidc-provider")]
    OidcCodeReplayed,
    /// A user allowed a client to know what it asked (`detail.client`, `detail.scopes`).
    #[cfg(feature = "oidc-provider")]
    OidcConsentGranted,
    /// A user took their consent to a client back; its grants for them ended.
    #[cfg(feature = "oidc-provider")]
    OidcConsentRevoked,
    /// A client asked to sign the user out (RP-initiated logout): the browser's session at the
    /// provider and the grants from it ended.
    #[cfg(feature = "oidc-provider")]
    OidcLogout,
    /// A client revoked one of its access tokens (RFC 7009): its grant ended.
    #[cfg(feature = "oidc-provider")]
    OidcTokenRevoked,
}

impl AuditKind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SignUp => "sign_up",
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignInLocked => "sign_in_locked",
            Self::Refresh => "refresh",
            Self::RefreshRetried => "refresh_retried",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::SignOut => "sign_out",
            Self::SessionRevoked => "session_revoked",
            Self::DpopRefused => "dpop_refused",
            Self::DeviceRevoked => "device_revoked",
            Self::KeyRotated => "key_rotated",
            Self::EmailVerified => "email_verified",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::MailFailed => "mail_failed",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::MfaFailed => "mfa_failed",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::SteppedUp => "stepped_up",
            Self::OAuthFailed => "oauth_failed",
            Self::IdentityLinked => "identity_linked",
            Self::IdentityUnlinked => "identity_unlinked",
            Self::OrgCreated => "org_created",
            Self::OrgUpdated => "org_updated",
            Self::OrgDeleted => "org_deleted",
            Self::MemberRoleChanged => "member_role_changed",
            Self::MemberRemoved => "member_removed",
            Self::MemberInvited => "member_invited",
            Self::InvitationRevoked => "invitation_revoked",
            Self::InvitationAccepted => "invitation_accepted",
            Self::OrgActivated => "org_activated",
            Self::ServerKeyCreated => "server_key_created",
            Self::ServerKeyRevoked => "server_key_revoked",
            Self::AdminEndedSessions => "admin_ended_sessions",
            Self::AdminDisabledUser => "admin_disabled_user",
            Self::AdminEnabledUser => "admin_enabled_user",
            Self::AdminDeletedUser => "admin_deleted_user",
            Self::AdminStartedPasswordReset => "admin_started_password_reset",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
            Self::WebhookCreated => "webhook_created",
            Self::WebhookDeleted => "webhook_deleted",
            Self::WebhookUpdated => "webhook_updated",
            Self::WebhookEnabled => "webhook_enabled",
            Self::WebhookRedelivered => "webhook_redelivered",
            Self::WebhookTested => "webhook_tested",
            Self::WebhookSecretRotated => "webhook_secret_rotated",
            #[cfg(feature = "oidc-provider")]
            Self::OidcClientCreated => "oidc_client_created",
            #[cfg(feature = "oidc-provider")]
            Self::OidcClientUpdated => "oidc_client_updated",
            #[cfg(feature = "oidc-provider")]
            Self::OidcClientSecretRotated => "oidc_client_secret_rotated",
            #[cfg(feature = "oidc-provider")]
            Self::OidcClientDeleted => "oidc_client_deleted",
            #[cfg(feature = "oidc-provider")]
            Self::OidcClientAuthFailed => "oidc_client_auth_failed",
            #[cfg(feature = "oidc-provider")]
            Self::OidcClientToken => "oidc_client_token",
            #[cfg(feature = "oidc-provider")]
            Self::OidcCodeIssued => "oidc_code_issued",
            #[cfg(feature = "oidc-provider")]
            Self::OidcGrantStarted => "oidc_grant_started",
            #[cfg(feature = "oidc-provider")]
            Self::OidcCodeReplayed => "oidc_code_replayed",
            #[cfg(feature = "oidc-provider")]
            Self::OidcConsentGranted => "oidc_consent_granted",
            #[cfg(feature = "oidc-provider")]
            Self::OidcConsentRevoked => "oidc_consent_revoked",
            #[cfg(feature = "oidc-provider")]
            Self::OidcLogout => "oidc_logout",
            #[cfg(feature = "oidc-provider")]
            Self::OidcTokenRevoked => "oidc_token_revoked",
        }
    }
}

/// Who made a request: what the HTTP layer knows about the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    /// The peer's IP address.
    pub ip: Option<String>,
    /// The `User-Agent` header (truncated to 512 bytes).
    pub user_agent: Option<String>,
}

impl Client {
    /// The key rate limits and lockouts count this client under: its IPv4 address, or its IPv6
    /// /64 (anyone with one IPv6 address holds the whole /64 around it); `unknown` without one.
    pub fn ip_key(&self) -> String {
        let Some(ip) = self.ip.as_deref() else {
            return "unknown".into();
        };
        match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
            _ => ip.to_owned(),
        }
    }
}

/// An event of `kind` at `now` by `client`.
pub fn event(kind: AuditKind, now: Timestamp, client: &Client) -> AuditRow {
    AuditRow {
        at: now.millis(),
        kind: kind.as_str(),
        user_id: None,
        session_id: None,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        detail: None,
    }
}

/// Builder-style additions to an event.
pub trait EventExt {
    /// For `user_id`.
    fn user(self, user_id: &UserId) -> Self;
    /// About `session_id`.
    fn session(self, session_id: &SessionId) -> Self;
    /// With these facts (a JSON object).
    fn detail(self, detail: serde_json::Value) -> Self;
}

impl EventExt for AuditRow {
    fn user(mut self, user_id: &UserId) -> Self {
        self.user_id = Some(*user_id);
        self
    }

    fn session(mut self, session_id: &SessionId) -> Self {
        self.session_id = Some(*session_id);
        self
    }

    fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail.to_string());
        self
    }
}
