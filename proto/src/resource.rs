//! What resource servers outside the auth server ask it (DESIGN.md, "Sync servers, gateways,
//! hooks, webhooks, admin"): a sync server in another process or language redeems connect
//! tickets and introspects tokens with a server key (`kws_…`).

use serde::{Deserialize, Serialize};

/// `POST /auth/connect-ticket/redeem`: the ticket a client presented, and the URL it presented
/// it at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RedeemTicket {
    /// `kwt_…`, as the client sent it.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub ticket: String,
    /// The URL the client connected to, as it addressed it (`wss://sync.example.com/ws`); the
    /// query and fragment do not count.
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub url: String,
}

/// Who a redeemed connect ticket speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketRedeemed {
    /// The user.
    pub user_id: String,
    /// The session that asked for the ticket.
    pub session_id: String,
    /// The device the session is bound to (DPoP), when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The organization the session acts for, when one is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The user's role in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_role: Option<String>,
    /// When the access token the ticket was asked with expires (seconds since the epoch): a
    /// live connection opened with the ticket ends then, unless the client renews it with a
    /// fresh ticket of the same session.
    pub token_expires_at: i64,
}

/// `POST /auth/introspect` (RFC 7662), as a form (`token=…`) or as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntrospectRequest {
    /// The access token.
    #[cfg_attr(feature = "openapi", schema(max_length = 8192))]
    pub token: String,
    /// `access_token` (the only kind answered active); anything else is ignored, as RFC 7662
    /// allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub token_type_hint: Option<String>,
}

/// The answer to `POST /auth/introspect`, as RFC 7662 §2.2 shapes it (not in the `data`
/// envelope, so that any RFC 7662 client reads it): `{"active": false}` and nothing else for a
/// token that is not an access token of a live session; the token's claims otherwise.
///
/// A DPoP-bound token answers `token_type: "DPoP"` with `cnf.jkt`: the resource server checks
/// the request's proof against that key itself (RFC 9449 §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Introspection {
    /// Whether the token is valid now: signed by the server, not expired, its session live,
    /// its user there.
    pub active: bool,
    /// The user's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The user's address (read now, not from the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The session's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Expiry (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The token's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// `Bearer`, or `DPoP` for a token bound to a device key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// For a DPoP-bound token: the key's RFC 7638 thumbprint (`{"jkt": …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<IntrospectedKey>,
    /// How the user signed in (`pwd`, `passkey`, `otp`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// When the user last proved who they are (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// 2 when the sign-in proved two factors, else 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aal: Option<u8>,
    /// The organization the session acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The user's role in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_role: Option<String>,
    /// What that role grants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
}

/// A DPoP-bound token's key (RFC 9449 §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntrospectedKey {
    /// The key's JWK SHA-256 thumbprint (RFC 7638), base64url.
    pub jkt: String,
}
