//! Accounts, sessions and tokens: the bodies of the `/auth/…` endpoints.

use serde::{Deserialize, Serialize};

/// `POST /auth/sign-up`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// The email address to sign in with. Trimmed; the domain is lower-cased.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    /// 8 to 1024 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub password: String,
    /// A display name (at most 200 characters, no control or invisible formatting characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // The pattern refuses control and invisible formatting characters, as the server does
    // (`unfit_for_names`), so that generated clients check it before sending.
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 200,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*$"
        )
    )]
    pub name: Option<String>,
}

/// `POST /auth/sign-in`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The account's email address (case does not matter).
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    /// The account's password.
    pub password: String,
}

/// `POST /auth/refresh`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last sign-in or refresh.
    pub refresh_token: String,
}

/// `POST /auth/sign-out`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignOutRequest {
    /// Which sessions to end; `session` (this one) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<SignOutScope>,
}

/// Which sessions a sign-out ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SignOutScope {
    /// The session the access token belongs to.
    #[default]
    Session,
    /// Every other session of the user (this one stays signed in).
    Others,
    /// Every session of the user, this one included.
    All,
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Stable identifier (a UUID).
    pub id: String,
    /// The email address, as normalised at sign-up.
    pub email: String,
    /// Whether the address has been verified.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// When the account was created (RFC 3339, UTC).
    pub created_at: String,
}

/// How the access token is presented: `Bearer`, or `DPoP` when bound to a device key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TokenType {
    /// `Authorization: Bearer <access_token>`.
    Bearer,
    /// `Authorization: DPoP <access_token>` plus a `DPoP` proof header (RFC 9449).
    #[serde(rename = "DPoP")]
    DPoP,
}

/// A fresh token pair.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tokens {
    /// A JWT (ES256) to send with API requests.
    pub access_token: String,
    /// An opaque token for `POST /auth/refresh`; single use, rotated on every refresh.
    pub refresh_token: String,
    /// How to present the access token.
    pub token_type: TokenType,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// The answer to a successful sign-up or sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthSuccess {
    /// Who signed in.
    pub user: User,
    /// The new session's id (the access token's `sid`).
    pub session_id: String,
    /// The session's first token pair.
    pub tokens: Tokens,
}

/// The answer to `POST /auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshResponse {
    /// The next token pair; the refresh token sent is now used up.
    pub tokens: Tokens,
}

/// The answer to `GET /auth/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// The signed-in user.
    pub user: User,
}

/// One signed-in session of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    /// The session id.
    pub id: String,
    /// Whether this is the session making the request.
    pub current: bool,
    /// When it was signed in (RFC 3339).
    pub created_at: String,
    /// When it last refreshed its tokens (RFC 3339).
    pub last_used_at: String,
    /// When it ends unless refreshed before (RFC 3339): the earlier of its idle timeout and its
    /// lifetime.
    pub expires_at: String,
    /// The browser or client that signed in, as its `User-Agent` said.
    pub user_agent: Option<String>,
    /// The IP address it signed in from.
    pub ip: Option<String>,
}

/// `GET /auth/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionList {
    /// Active sessions, newest first.
    pub sessions: Vec<Session>,
}

/// A public signing key (RFC 7517), as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    /// Always `EC`.
    pub kty: String,
    /// Always `P-256`.
    pub crv: String,
    /// The x coordinate, base64url.
    pub x: String,
    /// The y coordinate, base64url.
    pub y: String,
    /// The key id tokens name in their `kid` header (the key's RFC 7638 thumbprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Always `ES256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Always `sig`.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

/// `GET /.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwks {
    /// The keys that sign, or signed tokens that have not expired yet.
    pub keys: Vec<Jwk>,
}

/// A device key the user signed in with (a browser profile, an app install).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    /// The device id.
    pub id: String,
    /// A name for people, from the user agent at first sign-in unless renamed.
    pub name: String,
    /// The RFC 7638 thumbprint of its public key (the `cnf.jkt` of its tokens).
    pub jkt: String,
    /// Whether the request came from this device.
    pub current: bool,
    /// First sign-in (RFC 3339).
    pub created_at: String,
    /// Last sign-in or refresh (RFC 3339).
    pub last_seen_at: String,
}

/// `GET /auth/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceList {
    /// Devices that are not revoked, most recently seen first.
    pub devices: Vec<Device>,
}

/// `PATCH /auth/devices/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RenameDevice {
    /// At most 100 characters, no control or invisible formatting characters; blank gives the device its default name
    /// back (from its browser, "Chrome on Linux").
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 100,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*$"
        )
    )]
    pub name: String,
}

/// `POST /auth/devices/{id}/challenge`: who the challenge is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// The verifier that will check the answer (a sync server's URL, say): only a verification
    /// naming the same audience accepts it, so an answer handed to one server cannot be
    /// replayed to another. 1 to 512 visible ASCII characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 512, pattern = "^[!-~]+$")
    )]
    pub audience: String,
}

/// The answer to `POST /auth/devices/{id}/challenge`: a single-use challenge for the device to
/// sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceChallenge {
    /// Put this in the `nonce` of a DPoP proof for `POST /auth/devices/challenge/verify`.
    pub challenge: String,
    /// Not valid after (RFC 3339); 60 seconds from issue.
    pub expires_at: String,
}

/// `POST /auth/devices/challenge/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyChallenge {
    /// The challenge.
    pub challenge: String,
    /// The device's signature: a DPoP proof (RFC 9449) with `htm` `POST`, `htu` the verify URL,
    /// and `nonce` the challenge.
    pub proof: String,
    /// The verifier's own audience, as the challenge was issued for: an answer issued for
    /// another verifier is refused.
    pub audience: String,
}

/// The answer to a verified challenge: which device, of which user, holds the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeVerified {
    /// The device.
    pub device_id: String,
    /// Its user.
    pub user_id: String,
}

/// `POST /auth/connect-ticket`: where the ticket will be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConnectTicketRequest {
    /// The WebSocket or EventSource URL the ticket is for: `ws`, `wss`, `http` or `https`, a
    /// host name (ASCII labels of letters, digits and single inner hyphens, the last one
    /// starting with a letter) or an IPv4 address, an optional port, then visible ASCII only;
    /// no user name or password; at most 2048 characters. Only a server redeeming the ticket at
    /// this URL accepts it; the query and fragment do not count.
    // The pattern is exactly what the server accepts (`domain::tickets` in keyward-server): a
    // request that fits it is never refused as malformed, one that does not always is.
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 2048,
            pattern = r"^(?:[Ww][Ss][Ss]?|[Hh][Tt][Tt][Pp][Ss]?)://(?:(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(?:[/?#][!-~]*)?$"
        )
    )]
    pub url: String,
}

/// The answer to `POST /auth/connect-ticket`: a single-use ticket that stands in for the access
/// token where no header can be sent (a WebSocket or an EventSource).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectTicket {
    /// `kwt_…`: hand it to the server at the URL it was issued for (in the query, say:
    /// `?ticket=…`). Good once.
    pub ticket: String,
    /// Seconds left to redeem it (30 from issue).
    pub expires_in: u64,
}

/// A passkey of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Passkey {
    /// The passkey id (not the WebAuthn credential id).
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Registered (RFC 3339).
    pub created_at: String,
    /// Last used to sign in (RFC 3339).
    pub last_used_at: Option<String>,
}

/// `GET /auth/passkeys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasskeyList {
    /// The user's passkeys, oldest first.
    pub passkeys: Vec<Passkey>,
}

/// `POST /auth/passkeys/register/options`, and `PATCH /auth/passkeys/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasskeyName {
    /// A name for people (at most 100 characters, no control or invisible formatting characters); "Passkey on
    /// <device>" when absent or blank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 100,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*$"
        )
    )]
    pub name: Option<String>,
}

/// `POST /auth/passkeys/sign-up/options`: an account with a passkey and no password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasskeySignUp {
    /// The new account's email address.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    /// A display name (at most 200 characters, no control or invisible formatting characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 200,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*$"
        )
    )]
    pub name: Option<String>,
}

/// `POST /auth/passkeys/sign-in/options`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasskeySignIn {
    /// The account's email; without it, any passkey of this site can answer (usernameless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: Option<String>,
}

/// Stands in for a secret in `Debug` output.
pub(crate) const REDACTED: &str = "<redacted>";

// Passwords and tokens never reach a log through `Debug`.
impl std::fmt::Debug for SignUpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignUpRequest")
            .field("email", &self.email)
            .field("password", &REDACTED)
            .field("name", &self.name)
            .finish()
    }
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRequest")
            .field("email", &self.email)
            .field("password", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &REDACTED)
            .field("refresh_token", &REDACTED)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl std::fmt::Debug for ConnectTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectTicket")
            .field("ticket", &REDACTED)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_password_or_token() {
        let tokens = Tokens {
            access_token: "eyJ.secret-access.sig".into(),
            refresh_token: "kwr_secret-refresh".into(),
            token_type: TokenType::DPoP,
            expires_in: 900,
        };
        let success = AuthSuccess {
            user: User {
                id: "u".into(),
                email: "a@example.com".into(),
                email_verified: false,
                name: None,
                created_at: "2026-12-03T00:00:00Z".into(),
            },
            session_id: "s".into(),
            tokens: tokens.clone(),
        };
        let printed = [
            format!("{success:?}"),
            format!(
                "{:?}",
                SignUpRequest {
                    email: "a@example.com".into(),
                    password: "hunter2-hunter2".into(),
                    name: None,
                }
            ),
            format!(
                "{:?}",
                SignInRequest {
                    email: "a@example.com".into(),
                    password: "hunter2-hunter2".into(),
                }
            ),
            format!(
                "{:?}",
                RefreshRequest {
                    refresh_token: tokens.refresh_token.clone(),
                }
            ),
            format!(
                "{:?}",
                ConnectTicket {
                    ticket: "kwt_secret-ticket".into(),
                    expires_in: 30,
                }
            ),
        ]
        .join("\n");
        for secret in [
            "secret-access",
            "secret-refresh",
            "hunter2",
            "secret-ticket",
        ] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("a@example.com") && printed.contains("DPoP"));
    }
}
