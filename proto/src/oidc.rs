//! Keyward as an OpenID Connect provider: the relying parties ("clients") registered with it,
//! through the admin API (`/auth/admin/clients…`).

use serde::{Deserialize, Serialize};

use crate::admin::present;

/// Whether a client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    /// A server-side app: it authenticates with its secret (`kwcs_…`) at the token endpoint.
    Confidential,
    /// A browser or native app, which cannot keep a secret: it has none, and must use PKCE.
    Public,
}

/// `POST /auth/admin/clients`: a relying party to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Shown to users on the consent page (1 to 100 characters, not blank, no control or
    /// invisible formatting characters).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*[^\s\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb][^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*$"
        )
    )]
    pub name: String,
    /// `confidential` (with a secret) or `public`.
    #[serde(rename = "type")]
    pub kind: ClientType,
    /// Where authorization responses may go, each compared byte for byte with the request's:
    /// `https` (`http` on a loopback address, or anywhere outside production), no fragment.
    /// Needed with the `authorization_code` grant (1 to 10).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards, by the same rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// The scopes it may ask for: `openid`, `email`, `profile`, `org`, and the app's own API
    /// scopes [default: `openid email profile`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// `authorization_code`, `refresh_token`, `client_credentials` [default:
    /// `authorization_code refresh_token`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    /// The API its access tokens are for (their `aud`, beside the userinfo endpoint); needed
    /// with `client_credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// A first-party app, which users are never asked to consent to [default: false].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_consent: Option<bool>,
}

/// `PATCH /auth/admin/clients/{id}`: what changes (at least one field); what is left out stays.
/// A client's type does not change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClientChanges {
    /// Its name, by the same rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*[^\s\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb][^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*$"
        )
    )]
    pub name: Option<String>,
    /// Its redirect URIs, all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// Its post-logout redirect URIs, all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Its scopes, all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Its grants, all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    /// Its audience; `null` for none.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub audience: Option<Option<String>>,
    /// Whether consent is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_consent: Option<bool>,
}

/// A registered client (never its secret, which is shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OidcClient {
    /// Its `client_id` (`kwc_…`).
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// `confidential` or `public`.
    #[serde(rename = "type")]
    pub kind: ClientType,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Its post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes it may ask for.
    pub scopes: Vec<String>,
    /// Its grants.
    pub grant_types: Vec<String>,
    /// The API its access tokens are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Whether users are never asked to consent.
    pub skip_consent: bool,
    /// When it was registered (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// After its secret was rotated: until when (RFC 3339) the previous secret is accepted too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<String>,
}

/// `POST /auth/admin/clients` and `POST /auth/admin/clients/{id}/rotate-secret`: the client,
/// and its secret (for a confidential client), shown this once. `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientRegistered {
    /// The client.
    pub client: OidcClient,
    /// Its secret (`kwcs_…`), stored hashed: shown only here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for ClientRegistered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistered")
            .field("client", &self.client)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .finish()
    }
}

/// `POST /auth/admin/clients/{id}/rotate-secret`: how the previous secret ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateClientSecret {
    /// Refuse the previous secret at once (it leaked), rather than a day later [default:
    /// false].
    #[serde(default)]
    pub now: bool,
}

/// `GET /auth/admin/clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OidcClients {
    /// Every client, oldest first.
    pub clients: Vec<OidcClient>,
}

/// `POST /auth/oidc/token` (RFC 6749 §5.1): the tokens a grant issued. A protocol endpoint: no
/// `{"data"}` envelope, so standard OAuth and OpenID Connect libraries read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// The access token: a JWT (`typ: at+jwt`, RFC 9068) for the client's API.
    pub access_token: String,
    /// `Bearer`, or `DPoP` when the token is bound to the key of the request's DPoP proof.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The scopes granted, space-separated, when any were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// A refresh token (`kwr_…`), for a client with the `refresh_token` grant: it rotates at
    /// each use, and a used one presented again ends the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The ID token (a JWT about the user, for the client), when `openid` was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// A protocol endpoint's refusal (RFC 6749 §5.2), with a 400 or 401 status (429 when rate
/// limited): `error` is one of the RFC's codes (`invalid_request`, `invalid_client`,
/// `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`), RFC
/// 9449's (`invalid_dpop_proof`, `use_dpop_nonce`), or `rate_limited`, `server_error`,
/// `temporarily_unavailable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthError {
    /// The code.
    pub error: String,
    /// A sentence for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// An app the user let sign them in (`GET /auth/connected-apps`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectedApp {
    /// Its `client_id`.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// What the user allowed it to know.
    pub scopes: Vec<String>,
    /// When they first allowed it (RFC 3339).
    pub granted_at: String,
}

/// `POST /auth/oidc/browser-session`: the app's sign-in page, signed in, hands the pending
/// authorization request back to Keyward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BrowserSession {
    /// The `oidc_req` the page was opened with.
    pub req: String,
}

/// The answer to `POST /auth/oidc/browser-session` (with the provider's cookie).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrowserSessionStarted {
    /// Where the browser goes next (consent, or back to the app that asked): a path on this
    /// server.
    pub continue_to: String,
}

/// `GET /auth/connected-apps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectedApps {
    /// Every app the user consented to, newest first.
    pub apps: Vec<ConnectedApp>,
}
