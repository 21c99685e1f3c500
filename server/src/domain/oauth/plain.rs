//! GitHub and X: OAuth 2 providers without OpenID Connect, through the `oauth2` crate (the
//! authorization code flow with PKCE S256 and `state`); who signed in is read from their user
//! APIs with the access token, as their documentation describes:
//!
//! - **GitHub** (`https://github.com`, or a GitHub Enterprise Server): `GET /user` for the
//!   account's numeric `id` (the subject) and name, `GET /user/emails` for its addresses, each
//!   with GitHub's `verified` flag: the primary address when verified, else the first verified
//!   one. Scopes `read:user user:email`. The client authenticates in the token request's body.
//! - **X** (`https://x.com`, API at `https://api.x.com`): `GET /2/users/me` with
//!   `user.fields=confirmed_email` for the account's `id` and the address X confirmed (scope
//!   `users.email`; absent without it). The client authenticates with HTTP Basic.
//!
//! Neither sends `iss` in its answer (RFC 9207); one that does must name the configured issuer.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
    TokenUrl,
};
use serde::Deserialize;

use super::{CallbackQuery, Failure, LoginError, Proved, callback_url, refused};
use crate::domain::core::Core;
use crate::store::OAuthFlowRow;
use crate::{Error, OAuthProvider};

/// The largest answer read from a user API.
const MAX_ANSWER: usize = 256 * 1024;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    GitHub,
    X,
}

/// A plain OAuth 2 provider's endpoints, from its issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plain {
    api: Api,
    issuer: String,
    authorize: String,
    token: String,
    base: String,
}

impl Plain {
    /// The endpoints of `provider` when it is GitHub (`github`) or X (`x`); `None` for an
    /// OpenID Connect provider.
    pub(super) fn of(provider: &OAuthProvider) -> Option<Self> {
        let issuer = provider.issuer.trim_end_matches('/').to_owned();
        let (api, authorize, token, base) = match provider.id.as_str() {
            "github" => {
                let base = if issuer == "https://github.com" {
                    "https://api.github.com".to_owned()
                } else {
                    format!("{issuer}/api/v3")
                };
                let authorize = format!("{issuer}/login/oauth/authorize");
                (
                    Api::GitHub,
                    authorize,
                    format!("{issuer}/login/oauth/access_token"),
                    base,
                )
            }
            "x" => {
                let base = if issuer == "https://x.com" {
                    "https://api.x.com".to_owned()
                } else {
                    issuer.clone()
                };
                let authorize = format!("{issuer}/i/oauth2/authorize");
                (Api::X, authorize, format!("{base}/2/oauth2/token"), base)
            }
            _ => return None,
        };
        Some(Self {
            api,
            issuer,
            authorize,
            token,
            base,
        })
    }

    fn client(&self, core: &Core, provider: &OAuthProvider) -> Result<Client, Error> {
        fn bad(what: &'static str) -> impl Fn(url::ParseError) -> Error {
            move |err| Error::internal(format!("{what}: {err}"))
        }
        let client = BasicClient::new(ClientId::new(provider.client_id.clone()))
            .set_client_secret(ClientSecret::new(provider.client_secret.clone()))
            .set_auth_uri(AuthUrl::new(self.authorize.clone()).map_err(bad("authorize URL"))?)
            .set_token_uri(TokenUrl::new(self.token.clone()).map_err(bad("token URL"))?)
            .set_redirect_uri(
                RedirectUrl::new(callback_url(core, &provider.id)).map_err(bad("redirect URL"))?,
            );
        Ok(match self.api {
            Api::GitHub => client.set_auth_type(AuthType::RequestBody),
            Api::X => client.set_auth_type(AuthType::BasicAuth),
        })
    }

    /// The provider's authorization URL for `state`, with the PKCE challenge.
    pub(super) fn authorize_url(
        &self,
        core: &Core,
        provider: &OAuthProvider,
        state: String,
        challenge: PkceCodeChallenge,
    ) -> Result<String, Error> {
        let scopes: &[&str] = match self.api {
            Api::GitHub => &["read:user", "user:email"],
            Api::X => &["users.read", "tweet.read", "users.email"],
        };
        let (url, _) = self
            .client(core, provider)?
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .url();
        Ok(url.to_string())
    }

    /// Who the provider's answer signs in: the code exchanged with the PKCE verifier, then the
    /// user API read with the access token.
    pub(super) async fn identity(
        &self,
        core: &Core,
        provider: &OAuthProvider,
        query: CallbackQuery,
        flow: &OAuthFlowRow,
    ) -> Result<Proved, Failure> {
        let id = provider.id.as_str();
        if query.iss.as_deref().is_some_and(|iss| iss != self.issuer) {
            return Err(Failure::Login(LoginError::InvalidResponse));
        }
        let code = query
            .code
            .ok_or(Failure::Login(LoginError::InvalidResponse))?;
        let tokens = self
            .client(core, provider)?
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
            .request_async(&core.oauth.http)
            .await
            .map_err(refused(id, "the code exchange failed"))?;
        let token = tokens.access_token().secret().as_str();
        match self.api {
            Api::GitHub => self.github(core, id, token).await,
            Api::X => self.x(core, id, token).await,
        }
    }

    async fn github(&self, core: &Core, id: &str, token: &str) -> Result<Proved, Failure> {
        #[derive(Deserialize)]
        struct User {
            id: u64,
            name: Option<String>,
            login: Option<String>,
        }
        #[derive(Deserialize)]
        struct Address {
            email: String,
            primary: bool,
            verified: bool,
        }
        let user: User = get(core, id, &format!("{}/user", self.base), token).await?;
        let addresses: Vec<Address> =
            get(core, id, &format!("{}/user/emails", self.base), token).await?;
        let chosen = addresses
            .iter()
            .find(|a| a.primary && a.verified)
            .or_else(|| addresses.iter().find(|a| a.verified))
            .or_else(|| addresses.iter().find(|a| a.primary));
        Ok(Proved {
            issuer: self.issuer.clone(),
            subject: user.id.to_string(),
            email: chosen.map(|a| a.email.clone()),
            verified: chosen.is_some_and(|a| a.verified),
            name: user.name.or(user.login),
        })
    }

    async fn x(&self, core: &Core, id: &str, token: &str) -> Result<Proved, Failure> {
        #[derive(Deserialize)]
        struct Me {
            data: User,
        }
        #[derive(Deserialize)]
        struct User {
            id: String,
            name: Option<String>,
            confirmed_email: Option<String>,
        }
        let url = format!("{}/2/users/me?user.fields=confirmed_email", self.base);
        let me: Me = get(core, id, &url, token).await?;
        Ok(Proved {
            issuer: self.issuer.clone(),
            subject: me.data.id,
            verified: me.data.confirmed_email.is_some(),
            email: me.data.confirmed_email,
            name: me.data.name,
        })
    }
}

/// `GET url` with the access token: its JSON answer (at most [`MAX_ANSWER`] bytes).
async fn get<T: serde::de::DeserializeOwned>(
    core: &Core,
    id: &str,
    url: &str,
    token: &str,
) -> Result<T, Failure> {
    let unavailable = |err: &dyn std::fmt::Display| {
        tracing::info!(provider = id, url, %err, "the provider's user API failed");
        Failure::Login(LoginError::ProviderUnavailable)
    };
    let mut response = core
        .oauth
        .http
        .get(url)
        .bearer_auth(token)
        .header("accept", "application/json")
        // GitHub refuses requests without one.
        .header("user-agent", "keyward")
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|err| unavailable(&err))?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| unavailable(&err))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER {
            return Err(unavailable(&"the answer is too large"));
        }
    }
    serde_json::from_slice(&body).map_err(|err| {
        tracing::info!(provider = id, url, %err, "the provider's user API answered unexpectedly");
        Failure::Login(LoginError::InvalidResponse)
    })
}
