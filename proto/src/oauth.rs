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
