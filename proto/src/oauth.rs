//! Sign-in with OpenID Connect providers (DESIGN.md, "OAuth / OpenID Connect sign-in").

use serde::{Deserialize, Serialize};

/// A provider to sign in with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthProviderInfo {
    /// Its id in the paths (`/auth/oauth/{id}/start`).
    pub id: String,
    /// What its button says.
    pub name: String,
}

/// `GET /auth/oauth/providers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthProviders {
    /// The configured providers.
    pub providers: Vec<OAuthProviderInfo>,
}

/// `POST /auth/oauth/exchange`: the `keyward_code` the callback sent the browser back with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OAuthExchange {
    /// The code (single use, 60 seconds).
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub code: String,
    /// The verifier whose SHA-256 (base64url) the page sent as `code_challenge` when it started
    /// the sign-in: proves that the page finishing it is the one that started it (no login
    /// CSRF with someone else's code).
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub code_verifier: String,
}

impl std::fmt::Debug for OAuthExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OAuthExchange { code: <redacted>, code_verifier: <redacted> }")
    }
}

/// `POST /auth/oauth/{provider}/link`: where the browser comes back, and the page's challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OAuthLink {
    /// The app's page that gets `keyward_code` or `login_error` (an allowed origin; the app's
    /// default page when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub redirect_to: Option<String>,
    /// The base64url SHA-256 of a random verifier the page keeps to finish the link.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 43, max_length = 43, pattern = "^[A-Za-z0-9_-]{43}$")
    )]
    pub code_challenge: String,
}

/// Where to send the browser to link a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthLinkStarted {
    /// The provider's authorization URL.
    pub url: String,
}

/// A provider's identity linked to the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identity {
    /// Its id (`DELETE /auth/identities/{id}`).
    pub id: String,
    /// The provider's id in settings.
    pub provider: String,
    /// The address the provider vouched for, if it gave one.
    pub email: Option<String>,
    /// When it was linked (RFC 3339).
    pub created_at: String,
}

/// `GET /auth/identities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identities {
    /// Oldest first.
    pub identities: Vec<Identity>,
}

/// `POST /auth/identities`: the identity just linked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentityLinked {
    /// It.
    pub identity: Identity,
}
