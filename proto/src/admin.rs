//! The admin API's shapes (`/auth/admin/…`, with an admin key).

use serde::{Deserialize, Serialize};

use crate::{Device, Identity, OrgMembership, Passkey, Session, User};

/// A user as administrators see them: what the user sees of themselves, and whether they may
/// sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUser {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// When an administrator disabled the account (RFC 3339); absent while it may sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    /// When the account last signed in (RFC 3339): its newest session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sign_in_at: Option<String>,
}

/// `GET /auth/admin/users`: a page of users, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserPage {
    /// The users of this page.
    pub users: Vec<AdminUser>,
    /// Where the next page starts (`?cursor=`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /auth/admin/users/{id}`: one user and everything that signs them in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserDetail {
    /// The user.
    pub user: AdminUser,
    /// Their live sessions, newest first.
    pub sessions: Vec<Session>,
    /// Their devices (keys that sessions are bound to).
    pub devices: Vec<Device>,
    /// Their passkeys.
    pub passkeys: Vec<Passkey>,
    /// The sign-in providers linked to the account.
    pub identities: Vec<Identity>,
    /// The organizations they belong to, with their role.
    pub orgs: Vec<OrgMembership>,
}

/// `DELETE /auth/admin/users/{id}/sessions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionsEnded {
    /// How many live sessions were ended.
    pub ended: u64,
}

/// `POST /auth/admin/users/{id}/disable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserDisabled {
    /// The user, disabled.
    pub user: AdminUser,
    /// How many live sessions were ended.
    pub ended: u64,
}

/// One event of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Its place in the log: later events have greater ids.
    pub id: i64,
    /// When it happened (RFC 3339).
    pub at: String,
    /// What happened: `sign_in`, `sign_in_failed`, `refresh_reuse_detected`, `admin_disabled_user`…
    pub kind: String,
    /// The user concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The session concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Facts of this kind of event (a JSON object), such as the admin key that acted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub detail: Option<serde_json::Value>,
}

/// `GET /auth/admin/audit`: a page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    /// The events of this page.
    pub events: Vec<AuditEvent>,
    /// Where the next (older) page starts (`?cursor=`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /auth/admin/webhooks`: an endpoint to deliver events to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewWebhook {
    /// Where events are posted: an `https` URL (`http` outside production) on a public address.
    pub url: String,
    /// The event types it takes (`user.created`, `session.revoked`, …); every type when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
}

/// `PATCH /auth/admin/webhooks/{id}`: what changes (at least one field); what is left out stays
/// as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookChanges {
    /// Where events are posted from now on (checked as when the endpoint is made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The event types it takes from now on; `null` for every type.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>, nullable))]
    pub events: Option<Option<Vec<String>>>,
}

/// A field that is there, even as `null` (`Some(None)`), told from one left out (`None`, by
/// `#[serde(default)]`).
pub(crate) fn present<'de, D, T>(field: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(field).map(Some)
}

/// A webhook endpoint (never its secret, which is shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// The event types it takes; absent: every type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// When it was disabled (it answered 410 Gone): it takes no events until it is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    /// Why it was disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Whether it comes from the server's configuration (`[[webhooks]]`): it is changed or
    /// removed there, not through the API.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub configured: bool,
    /// After its secret was rotated: until when (RFC 3339) each delivery is signed with the
    /// previous secret too, beside the new one, so receivers can switch at their own pace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<String>,
}

/// `POST /auth/admin/webhooks` and `POST /auth/admin/webhooks/{id}/rotate-secret`: the endpoint
/// (`id`, …), and its signing secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookCreated {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// The Standard Webhooks secret (`whsec_…`) that verifies its deliveries' signatures.
    pub secret: String,
}

/// `GET /auth/admin/webhooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoints {
    /// Every endpoint, oldest first.
    pub endpoints: Vec<WebhookEndpoint>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    /// Its id (to redeliver it).
    pub id: i64,
    /// The `webhook-id` it is sent with: the same on every attempt and for every endpoint.
    pub msg_id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (given up, or the endpoint answered 410).
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When the event happened (RFC 3339).
    pub created_at: String,
    /// When the next attempt is due (RFC 3339), while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// When the endpoint accepted it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// The HTTP status of the last attempt, when one came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The body that is posted (a JSON object: `type`, `timestamp`, `data`).
    pub payload: String,
}

/// `GET /auth/admin/webhooks/{id}/deliveries`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDeliveryPage {
    /// The deliveries of this page.
    pub deliveries: Vec<WebhookDelivery>,
    /// Where the next (older) page starts (`?cursor=`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
