//! Sign-in with OpenID Connect providers, and linking them to the account, in the typed Rust
//! face (`typed` feature; DESIGN.md, "OAuth / OpenID Connect sign-in"). The npm package makes
//! the same calls from `keyward/oauth`, and keeps its verifier the same way, so a page may start
//! with one and finish with the other.
//!
//! The provider's tokens stay on the server; the page only ever sees a single-use 60-second
//! code, finished with a proof by this browser's device key (a sign-in) or by this session (a
//! link), and with the verifier this tab kept when it started: someone else's code sent to this
//! page finishes nothing.

use keyward_proto::{
    Identities, Identity, IdentityLinked, OAuthLinkStarted, OAuthProviderInfo, OAuthProviders,
};
use wasm_bindgen::JsValue;

use crate::client::{AuthClient, SignedIn, sign_in_answer};
use crate::typed::{segment, typed};
use crate::wire::{self, nullable};
use crate::{Error, api, browser, io};

/// Where the tab keeps what it started (`signIn <verifier>` or `link <verifier>`).
const KEY: &str = "keyward:oauth-verifier";

/// What the page the provider sent the browser back to holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthOutcome {
    /// A sign-in: the session is this client's, or waits for its second factor.
    SignedIn(SignedIn),
    /// A link: the provider's account is linked to the signed-in one.
    Linked(Identity),
    /// The provider or the server refused: the `login_error` code (`access_denied`,
    /// `account_exists`, `identity_taken`, …; `invalid_state` when this tab did not start it).
    Refused(String),
}

impl OAuthOutcome {
    /// A sentence for people about a refusal's `code`.
    pub fn message(code: &str) -> &'static str {
        match code {
            "invalid_state" => "This sign-in expired or was started elsewhere: start again.",
            "access_denied" => "The sign-in was cancelled at the provider.",
            "invalid_response" => "The provider's answer did not pass the checks: start again.",
            "provider_unavailable" => "The provider cannot be reached: try again later.",
            "account_exists" => {
                "An account has this email address: sign in to it, then link the provider."
            }
            "email_required" => "The provider gave no email address.",
            "email_unverified" => "The provider does not say this email address is verified.",
            "identity_taken" => "This provider's account is linked to another account here.",
            _ => "The sign-in failed.",
        }
    }
}

fn window() -> Result<web_sys::Window, Error> {
    web_sys::window().ok_or(Error::Unsupported { api: "window" })
}

fn storage() -> Result<web_sys::Storage, Error> {
    window()?
        .session_storage()
        .ok()
        .flatten()
        .ok_or(Error::Unsupported {
            api: "sessionStorage",
        })
}

/// This page's address, its fragment too (a hash-routed app comes back to the same view):
/// where the provider sends the browser back by default.
fn here() -> Result<String, Error> {
    window()?
        .location()
        .href()
        .map_err(|e| Error::browser("location.href", &e))
}

fn leave(url: &str) -> Result<(), Error> {
    window()?
        .location()
        .assign(url)
        .map_err(|e| Error::browser("location.assign", &e))
}

/// A new verifier and its challenge.
async fn pair() -> Result<(String, String), Error> {
    let verifier = io::random_id(32);
    let challenge = browser::wait("crypto.subtle.digest", io::sha256(&verifier)).await?;
    let challenge = challenge
        .as_string()
        .ok_or(Error::Corrupt { what: "digest" })?;
    Ok((verifier, challenge))
}

/// What this tab keeps for `oauth_complete`: what it started (`signIn`, `link`) and its
/// verifier.
fn keep(kind: &str, verifier: &str) -> Result<(), Error> {
    storage()?
        .set_item(KEY, &[kind, " ", verifier].concat())
        .map_err(|e| Error::browser("sessionStorage.setItem", &e))
}

impl AuthClient {
    /// The providers the server signs in with (none from a server built without them).
    pub async fn oauth_providers(&self) -> Result<Vec<OAuthProviderInfo>, Error> {
        let answer = self
            .call_server(
                "GET",
                "/oauth/providers",
                false,
                None,
                None,
                api::TIMEOUT_MS,
            )
            .await;
        match answer {
            Ok(data) => Ok(typed::<OAuthProviders>(data)?.providers),
            Err(Error::Server { status: 404, .. }) => Ok(Vec::new()),
            Err(error) => Err(error),
        }
    }

    /// Leaves this page for `provider`; the browser comes back to `redirect_to` (this page by
    /// default), where [`AuthClient::oauth_complete`] finishes the sign-in.
    pub async fn oauth_sign_in(
        &self,
        provider: &str,
        redirect_to: Option<&str>,
    ) -> Result<(), Error> {
        let (verifier, challenge) = pair().await?;
        let back = redirect_to.map_or_else(here, |to| Ok(to.to_owned()))?;
        let url = web_sys::Url::new(
            &[self.server_url(), "/oauth/", &segment(provider), "/start"].concat(),
        )
        .map_err(|e| Error::browser("new URL", &e))?;
        url.search_params().set("redirect_to", &back);
        url.search_params().set("code_challenge", &challenge);
        keep("signIn", &verifier)?;
        leave(&url.href())
    }

    /// Signed in, recently (else `reauthentication_required`): leaves this page for `provider`
    /// to link the account there to this one; [`AuthClient::oauth_complete`] finishes it on the
    /// page the browser comes back to, from this session.
    pub async fn oauth_link(&self, provider: &str, redirect_to: Option<&str>) -> Result<(), Error> {
        let (verifier, challenge) = pair().await?;
        let back = redirect_to.map_or_else(here, |to| Ok(to.to_owned()))?;
        let body = wire::json(&wire::object(&[
            ("redirect_to", nullable(Some(&back))),
            ("code_challenge", challenge.as_str().into()),
        ]))?;
        let path = ["/oauth/", &segment(provider), "/link"].concat();
        let data = self.call("POST", &path, Some(&body), None).await?;
        let url = typed::<OAuthLinkStarted>(data)?.url;
        keep("link", &verifier)?;
        leave(&url)
    }

    /// On the page the provider sent the browser back to: finishes what this tab started (the
    /// code then leaves the address bar); `None` when the address carries nothing.
    pub async fn oauth_complete(&self) -> Result<Option<OAuthOutcome>, Error> {
        let window = window()?;
        let location = window.location();
        let href = location
            .href()
            .map_err(|e| Error::browser("location.href", &e))?;
        let url = web_sys::Url::new(&href).map_err(|e| Error::browser("new URL", &e))?;
        let params = url.search_params();
        let codes = params.get_all("keyward_code");
        let errors = params.get_all("login_error");
        if codes.length() + errors.length() == 0 {
            return Ok(None);
        }
        params.delete("keyward_code");
        params.delete("login_error");
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url.href()));
        }
        let storage = storage()?;
        let kept = storage.get_item(KEY).ok().flatten().unwrap_or_default();
        let _ = storage.remove_item(KEY);
        let (kind, verifier) = kept.split_once(' ').unwrap_or_default();
        if codes.length() + errors.length() > 1 || verifier.is_empty() {
            return Ok(Some(OAuthOutcome::Refused("invalid_state".into())));
        }
        if let Some(error) = errors.get(0).as_string() {
            return Ok(Some(OAuthOutcome::Refused(error)));
        }
        let code = codes.get(0).as_string().unwrap_or_default();
        let body = wire::json(&wire::object(&[
            ("code", code.as_str().into()),
            ("code_verifier", verifier.into()),
        ]))?;
        if kind == "link" {
            let data = self.call("POST", "/identities", Some(&body), None).await?;
            return Ok(Some(OAuthOutcome::Linked(
                typed::<IdentityLinked>(data)?.identity,
            )));
        }
        let data = self.token_request("/oauth/exchange", &body).await?;
        Ok(Some(OAuthOutcome::SignedIn(sign_in_answer(&data)?)))
    }

    /// The providers linked to the signed-in account, oldest first.
    pub async fn identities(&self) -> Result<Vec<Identity>, Error> {
        let data = self.call("GET", "/identities", None, None).await?;
        Ok(typed::<Identities>(data)?.identities)
    }

    /// Unlinks a provider (needs a recent sign-in; `last_sign_in_method` when no password,
    /// passkey or other provider would be left).
    pub async fn unlink_identity(&self, id: &str) -> Result<(), Error> {
        let path = ["/identities/", &segment(id)].concat();
        self.call("DELETE", &path, None, None).await.map(drop)
    }
}
