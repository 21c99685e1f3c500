//! Signing in and out (password, passkeys, any token request), the user's details, and what
//! the session lends to other clients: connect tickets and device challenges.

use keyward_proto::{SignOutScope, User};
use wasm_bindgen::{JsCast, JsValue};

use super::{AuthClient, Change, SignOutReason, expiry};
use crate::vault::StoredSession;
use crate::wire::{self, get, nullable};
use crate::{Error, api, dpop, webauthn};

/// A passkey ceremony (the browser shows its dialog, or its autofill).
#[derive(Debug, Clone, Copy)]
pub enum Passkey<'a> {
    /// Sign in with the account's passkey (`email`), or any of this site's (without).
    SignIn {
        /// The account's email.
        email: Option<&'a str>,
    },
    /// Create an account with a passkey and no password, and sign it in.
    SignUp {
        /// The new account's email.
        email: &'a str,
        /// Its name.
        name: Option<&'a str>,
    },
    /// Offer the site's passkeys in the browser's autofill until one is picked or `signal`
    /// aborts.
    Autofill {
        /// Stops the offer.
        signal: Option<&'a JsValue>,
    },
    /// Register a passkey to the signed-in account (needs a recent sign-in).
    Register {
        /// A name for people.
        name: Option<&'a str>,
    },
}

impl AuthClient {
    /// A token request to the auth server (sign-up, sign-in, and the later ways in): `body` is
    /// JSON text, sent with a DPoP proof that binds the new session to this browser. When the
    /// answer is a session, it becomes this client's. Returns the answer's `data` without its
    /// tokens, which stay here (`{user, session_id}`, or something else, such as
    /// `{mfa_required, mfa_ticket}`).
    pub async fn token_request(&self, path: &str, body: &JsValue) -> Result<JsValue, Error> {
        let data = self
            .call_server("POST", path, false, Some(body), None, api::TIMEOUT_MS)
            .await?;
        self.start(&data).await;
        if let Some(answer) = data.dyn_ref::<js_sys::Object>() {
            let _ = js_sys::Reflect::delete_property(answer, &"tokens".into());
        }
        Ok(data)
    }

    /// Adopts the session in a sign-in's answer, if it holds one.
    async fn start(&self, data: &JsValue) {
        if let Some((user, session_id, tokens)) = wire::signed_in(data) {
            let now = self.now();
            let session = StoredSession {
                expires_at: expiry(now, tokens.expires_in),
                issued_at: now,
                user,
                session_id,
                tokens,
            };
            self.inner.failed_refreshes.set(0);
            self.adopt(Some(session), true, Change::SignedIn).await;
        }
    }

    /// Creates an account and signs it in.
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
    ) -> Result<User, Error> {
        let body = wire::object(&[
            ("email", email.into()),
            ("password", password.into()),
            ("name", nullable(name)),
        ]);
        let data = self.token_request("/sign-up", &wire::json(&body)?).await?;
        signed_in_user(&data)
    }

    /// Signs in with email and password: signed in, or (an account with a second factor) the
    /// ticket to finish with a code.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<SignedIn, Error> {
        let body = wire::object(&[("email", email.into()), ("password", password.into())]);
        let data = self.token_request("/sign-in", &wire::json(&body)?).await?;
        sign_in_answer(&data)
    }

    /// Signs out (this session, the user's others, or all). Locally the session ends whatever
    /// the network does; the server is told when it can be reached.
    pub async fn sign_out(&self, scope: SignOutScope) -> Result<(), Error> {
        if self.inner.session.borrow().is_none() {
            return Ok(());
        }
        let scope = match scope {
            SignOutScope::Others => "others",
            SignOutScope::All => "all",
            _ => "session",
        };
        let body = wire::json(&wire::object(&[("scope", scope.into())]))?;
        // A token that cannot be refreshed (offline) still tells the server, if it is valid.
        let _ = self.access_token().await;
        let told = self
            .call_server(
                "POST",
                "/sign-out",
                true,
                Some(&body),
                None,
                api::TIMEOUT_MS,
            )
            .await;
        if scope == "others" {
            // Nothing ended here: the caller hears whether the others did.
            return told.map(drop);
        }
        // This session is over here whatever the server answered (or could not).
        self.forget(SignOutReason::User).await;
        Ok(())
    }

    /// Ends the session here without telling the server (it knows: the session or device was
    /// just revoked).
    pub async fn forget(&self, why: SignOutReason) {
        if self.inner.session.borrow().is_some() {
            self.adopt(None, true, Change::SignedOut(why)).await;
        }
    }

    /// Reads the user again (`GET /auth/me`), after a change made elsewhere.
    pub async fn reload_user(&self) -> Result<User, Error> {
        let data = self.call("GET", "/me", None, None).await?;
        let user = wire::user_from_js(&get(&data, "user")).ok_or(Error::Corrupt {
            what: "server answer",
        })?;
        let changed = {
            let mut session = self.inner.session.borrow_mut();
            match session.as_mut() {
                Some(session) if session.user != user => {
                    session.user = user.clone();
                    Some(session.clone())
                }
                _ => None,
            }
        };
        if let Some(session) = changed {
            self.adopt(Some(session), true, Change::UserUpdated).await;
        }
        Ok(user)
    }

    /// Runs a passkey ceremony. Returns the verification's `data`: the session's answer (now
    /// adopted) for sign-in and sign-up, the new passkey for a registration; `None` when an
    /// autofill offer was aborted.
    pub async fn passkey(&self, ceremony: Passkey<'_>) -> Result<Option<JsValue>, Error> {
        let (path, body, autofill) = match ceremony {
            Passkey::SignIn { email } => {
                ("/passkeys/sign-in", vec![("email", nullable(email))], None)
            }
            Passkey::Autofill { signal } => (
                "/passkeys/sign-in",
                vec![("email", JsValue::NULL)],
                Some(signal),
            ),
            Passkey::SignUp { email, name } => (
                "/passkeys/sign-up",
                vec![("email", email.into()), ("name", nullable(name))],
                None,
            ),
            Passkey::Register { name } => {
                ("/passkeys/register", vec![("name", nullable(name))], None)
            }
        };
        let register = matches!(ceremony, Passkey::Register { .. });
        let body = wire::json(&wire::object(&body))?;
        let (options_path, verify_path) = ([path, "/options"].concat(), [path, "/verify"].concat());
        let options = if register {
            self.call("POST", &options_path, Some(&body), None).await?
        } else {
            self.call_server(
                "POST",
                &options_path,
                false,
                Some(&body),
                None,
                api::TIMEOUT_MS,
            )
            .await?
        };
        let create = matches!(ceremony, Passkey::SignUp { .. } | Passkey::Register { .. });
        let Some(credential) = webauthn::ceremony(create, &options, autofill).await? else {
            return Ok(None);
        };
        let data = if register {
            self.call("POST", &verify_path, Some(&credential), None)
                .await?
        } else {
            self.token_request(&verify_path, &credential).await?
        };
        Ok(Some(data))
    }

    /// Signs a device challenge with this browser's key: the proof to hand to the server that
    /// asked (it checks it with `POST /auth/devices/challenge/verify`).
    pub async fn sign_challenge(&self, challenge: &str) -> Result<String, Error> {
        let key = self.inner.device.as_ref().ok_or(Error::Unsupported {
            api: "crypto.subtle",
        })?;
        let url = [self.inner.base.as_str(), "/devices/challenge/verify"].concat();
        let claims = dpop::Claims {
            method: "POST",
            url: &url,
            access_token: None,
            nonce: Some(challenge),
            issued_at: self.server_time() / 1000.0,
        };
        dpop::proof(key, claims).await
    }

    /// A connect ticket for a WebSocket or EventSource at `url` (which cannot send headers):
    /// single use, 30 s, bound to this session and that URL. Pass it as the `ticket` query
    /// parameter. `url`'s origin must be one the session's token may go to.
    pub async fn connect_ticket(&self, url: &str) -> Result<String, Error> {
        let url = self.allowed_url(url)?;
        let body = wire::json(&wire::object(&[("url", url.as_str().into())]))?;
        let data = self
            .call("POST", "/connect-ticket", Some(&body), None)
            .await?;
        get(&data, "ticket").as_string().ok_or(Error::Corrupt {
            what: "server answer",
        })
    }
}

/// What a first factor (a password, a magic link) answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedIn {
    /// Signed in: the session is this client's.
    User(User),
    /// The account has a second factor: no session yet. Finish with a code from the app
    /// (`AuthClient::verify_mfa`) or a recovery code (`AuthClient::recover_mfa`) within 5
    /// minutes, from this browser.
    MfaRequired {
        /// The sign-in's single-use ticket.
        ticket: String,
    },
}

/// A first factor's answer: the user, or the ticket for the second factor.
pub(crate) fn sign_in_answer(data: &JsValue) -> Result<SignedIn, Error> {
    if get(data, "mfa_required").as_bool() == Some(true) {
        let ticket = get(data, "mfa_ticket").as_string().ok_or(Error::Corrupt {
            what: "server answer",
        })?;
        return Ok(SignedIn::MfaRequired { ticket });
    }
    signed_in_user(data).map(SignedIn::User)
}

/// The user of a sign-in's answer.
pub(crate) fn signed_in_user(data: &JsValue) -> Result<User, Error> {
    wire::user_from_js(&get(data, "user")).ok_or(Error::Corrupt {
        what: "server answer",
    })
}
