//! The one authorized call: the access token under its scheme and, for a device-bound session,
//! a fresh DPoP proof; corrected and sent once more when the server hands out a new nonce or
//! shows this browser's clock is off; retried once after a refresh when the token was refused.
//! Tokens go only to the auth server and the origins the app listed.

use keyward_proto::{ErrorCode, TokenType, Tokens};
use wasm_bindgen::JsValue;
use web_sys::{AbortSignal, Request, Response};

use super::{AuthClient, AuthState};
use crate::wire::{self, get};
use crate::{Error, api, dpop, io};

/// Clock differences smaller than this are noise (`Date` headers have whole seconds).
const SKEW_TOLERANCE_MS: f64 = 5_000.0;

impl AuthClient {
    /// `fetch` with the access token (and a DPoP proof when the session is device-bound), to the
    /// auth server or one of the app's `api_origins` only: a request elsewhere is refused
    /// ([`Error::OriginNotAllowed`]) before anything is sent. Retried once after a refresh when
    /// the server says the token is no longer valid. No timeout of its own: the request's
    /// signal (the caller's) decides, and its abort is [`Error::Aborted`], which leaves the
    /// state as it was.
    pub async fn fetch(&self, request: Request) -> Result<Response, Error> {
        self.check_origin(&url_of(&request))?;
        self.access_token().await?;
        let response = self.dispatch(&request, true, None).await?;
        if status(&response) != 401 || !says_invalid_token(&response) {
            return Ok(response);
        }
        self.refresh().await?;
        self.dispatch(&request, true, None).await
    }

    /// `data` of a call to the auth server (`path` under its prefix) with the session's token,
    /// `body` being JSON text. A refused token is refreshed and the call made once more; a
    /// session the server ended ends here too.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&JsValue>,
        signal: Option<&AbortSignal>,
    ) -> Result<JsValue, Error> {
        self.access_token().await?;
        let answer = self
            .call_server(method, path, true, body, signal, api::TIMEOUT_MS)
            .await;
        match answer {
            Err(Error::Server {
                status: 401,
                code: ErrorCode::InvalidToken | ErrorCode::TokenExpired | ErrorCode::SessionRevoked,
                ..
            }) => {
                self.refresh().await?;
                self.call_server(method, path, true, body, signal, api::TIMEOUT_MS)
                    .await
            }
            answer => answer,
        }
    }

    /// One call to the auth server: with the session's token when `authorized`, else as a
    /// token request (with a proof by the device key, which binds the new session).
    pub(crate) async fn call_server(
        &self,
        method: &str,
        path: &str,
        authorized: bool,
        body: Option<&JsValue>,
        signal: Option<&AbortSignal>,
        timeout_ms: i32,
    ) -> Result<JsValue, Error> {
        let url = api::server_url(&self.inner.base, path)?;
        let request = api::json_request(method, &url, body, signal)?;
        let response = self
            .dispatch(&request, authorized, Some(timeout_ms))
            .await?;
        api::read_data(response).await
    }

    /// Headers that authorize one request made by another HTTP client (axios, a GraphQL
    /// client): `Authorization`, and `DPoP` when the session is device-bound. `url` may be
    /// relative to the page; it must be on the auth server or an `api_origins` origin.
    pub async fn create_proof(&self, method: &str, url: &str) -> Result<JsValue, Error> {
        let url = self.allowed_url(url)?;
        self.access_token().await?;
        let tokens = self.tokens()?;
        let (authorization, proof) = self.credentials(method, &url, Some(&tokens)).await?;
        Ok(wire::object(&[
            (
                "Authorization",
                authorization.map_or(JsValue::UNDEFINED, JsValue::from),
            ),
            ("DPoP", proof.map_or(JsValue::UNDEFINED, JsValue::from)),
        ]))
    }

    /// `url` resolved against the page, if the session's token may go there.
    pub(super) fn allowed_url(&self, url: &str) -> Result<String, Error> {
        let url = absolute(url).ok_or_else(|| Error::OriginNotAllowed {
            origin: "an unparsable URL".into(),
        })?;
        self.check_origin(&url)?;
        Ok(url)
    }

    /// Refuses `url` unless the session's token may go there.
    pub(super) fn check_origin(&self, url: &str) -> Result<(), Error> {
        let origin = origin_of(url).unwrap_or_default();
        if self.inner.origins.contains(&origin) {
            Ok(())
        } else {
            Err(Error::OriginNotAllowed { origin })
        }
    }

    pub(super) fn tokens(&self) -> Result<Tokens, Error> {
        self.inner
            .session
            .borrow()
            .as_ref()
            .map(|s| s.tokens.clone())
            .ok_or(Error::SignedOut)
    }

    /// Sends `request` with the session's token when `authorized`, and a DPoP proof when the
    /// session is bound (and always for token requests, which bind new sessions). When a
    /// refusal brings a new DPoP nonce, or shows that this browser's clock is off (the proof's
    /// time was wrong), sends once more, corrected. Notes whether the server was reachable.
    async fn dispatch(
        &self,
        request: &Request,
        authorized: bool,
        timeout_ms: Option<i32>,
    ) -> Result<Response, Error> {
        let tokens = if authorized {
            Some(self.tokens()?)
        } else {
            None
        };
        let url = url_of(request);
        let origin = origin_of(&url).unwrap_or_default();
        let nonce_before = self.nonce(&origin);
        let skew_before = self.inner.skew.get();
        let response = self.send_once(request, tokens.as_ref(), timeout_ms).await;
        let response = match response {
            Ok(response)
                if matches!(status(&response), 400 | 401)
                    && self.inner.device.is_some()
                    && (self.nonce(&origin) != nonce_before
                        || (self.inner.skew.get() - skew_before).abs() > SKEW_TOLERANCE_MS) =>
            {
                self.send_once(request, tokens.as_ref(), timeout_ms).await
            }
            other => other,
        };
        // `offline` is about the auth server: an API that cannot be reached is the app's news.
        if url.starts_with(&self.inner.base) {
            self.note_network(&response);
        }
        response
    }

    async fn send_once(
        &self,
        request: &Request,
        tokens: Option<&Tokens>,
        timeout_ms: Option<i32>,
    ) -> Result<Response, Error> {
        let method = get(request, "method").as_string().unwrap_or_default();
        let (authorization, proof) = self.credentials(&method, &url_of(request), tokens).await?;
        let response = api::send(
            request,
            authorization.as_deref(),
            proof.as_deref(),
            timeout_ms,
        )
        .await?;
        self.observe(&response);
        Ok(response)
    }

    /// The `Authorization` value for `tokens`, and a DPoP proof for `method` `url` when the
    /// session is bound (or when there are no tokens yet: a token request).
    async fn credentials(
        &self,
        method: &str,
        url: &str,
        tokens: Option<&Tokens>,
    ) -> Result<(Option<String>, Option<String>), Error> {
        let bound = tokens.is_none_or(|t| t.token_type == TokenType::DPoP);
        let authorization =
            tokens.map(|t| [if bound { "DPoP " } else { "Bearer " }, &t.access_token].concat());
        let proof = match self.inner.device.as_ref().filter(|_| bound) {
            Some(key) => {
                let nonce = self.nonce(&origin_of(url).unwrap_or_default());
                let claims = dpop::Claims {
                    method,
                    url,
                    access_token: tokens.map(|t| t.access_token.as_str()),
                    nonce: nonce.as_deref(),
                    issued_at: self.server_time() / 1000.0,
                };
                Some(dpop::proof(key, claims).await?)
            }
            None => None,
        };
        Ok((authorization, proof))
    }

    /// Now on the server's clock, as best known (ms).
    pub(super) fn server_time(&self) -> f64 {
        self.inner.clock.now() + self.inner.skew.get()
    }

    /// The last DPoP nonce `origin` handed out.
    fn nonce(&self, origin: &str) -> Option<String> {
        let nonces = self.inner.nonces.borrow();
        nonces
            .iter()
            .find(|(o, _)| o == origin)
            .map(|(_, n)| n.clone())
    }

    /// Learns the server's clock and DPoP nonce from a response.
    fn observe(&self, response: &Response) {
        if let Some(nonce) = io::header(response, "dpop-nonce") {
            let origin = origin_of(&url_of(response)).unwrap_or_default();
            let mut nonces = self.inner.nonces.borrow_mut();
            nonces.retain(|(o, _)| *o != origin);
            nonces.push((origin, nonce));
        }
        if let Some(date) = io::header(response, "date") {
            let server = js_sys::Date::parse(&date);
            let skew = server - self.inner.clock.now();
            // `Date` has whole seconds: only a difference well beyond that is a wrong clock.
            if server.is_finite() && (skew - self.inner.skew.get()).abs() > SKEW_TOLERANCE_MS {
                self.inner.skew.set(skew);
            }
        }
    }

    /// Offline after a network failure, back online after any answer from the server. (An
    /// abort by the caller says nothing about the network.)
    fn note_network<T>(&self, result: &Result<T, Error>) {
        if self.inner.session.borrow().is_none() {
            return;
        }
        match result {
            Err(Error::Network(_)) => self.set_state(AuthState::Offline),
            Err(Error::Aborted) => {}
            _ => self.set_state(AuthState::SignedIn),
        }
    }
}

/// `url` resolved against the page's address.
fn absolute(url: &str) -> Option<String> {
    io::absolute(url)
}

/// The `url` of a `Request` or `Response`.
fn url_of(value: &JsValue) -> String {
    get(value, "url").as_string().unwrap_or_default()
}

/// A response's status.
pub(crate) fn status(response: &Response) -> u16 {
    get(response, "status").as_f64().unwrap_or(0.0) as u16
}

/// The origin of an absolute URL (`https://api.example.com`); a WebSocket URL counts as the
/// origin its handshake is made on (`wss:` as `https:`, `ws:` as `http:`).
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let parts = io::url_parts(url)?;
    let (protocol, host) = (parts.first()?, parts.get(1)?);
    let scheme = match protocol.as_str() {
        "wss:" | "https:" => "https:",
        "ws:" | "http:" => "http:",
        _ => return None,
    };
    Some([scheme, "//", host].concat())
}

/// Whether a 401 is about the token (RFC 6750 `error="invalid_token"`), rather than the app's own
/// 401 for something else.
fn says_invalid_token(response: &Response) -> bool {
    io::header(response, "www-authenticate").is_some_and(|value| value.contains("invalid_token"))
}
