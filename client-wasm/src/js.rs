//! The npm package's core (cargo feature `js`): one `Core` per client, holding the session's
//! secrets (its tokens), and making every security decision, without I/O.
//!
//! The core never awaits. The package's driver (`npm/client.js`) does the awaiting: it asks the
//! core what to do (which credentials a request carries, what goes into a DPoP proof, whether a
//! refusal calls for a new proof, what an answer means, what is stored, when to refresh), does
//! it with the browser's primitives (`js/io.js`: IndexedDB, WebCrypto, fetch, Web Locks), and
//! tells the core what happened. Without futures, the wasm carries no async state machines,
//! closures or executor: that is what keeps the package's core under its 35 KB budget (DESIGN.md,
//! "Client"). The Rust API (`AuthClient`, for `keyward-leptos`) makes the same decisions with the
//! same functions (`schedule`, `wire`, the error envelope), awaiting in Rust.
//!
//! Values cross as plain JS: wire objects as the server sent them (snake_case; the package
//! renames them), errors as `Error`s named `KeywardError` with a `code`.

use js_sys::{Object, Reflect};
use keyward_proto::{ErrorCode, TokenType};
use wasm_bindgen::prelude::*;

use crate::client::{SignOutReason, ended_by, expiry, origin_of};
use crate::schedule::{Freshness, freshness};
use crate::vault::StoredSession;
use crate::wire::{self, get, object};
use crate::{Error, api, dpop, io};

/// Clock differences smaller than this are noise (`Date` headers have whole seconds).
const SKEW_TOLERANCE_MS: f64 = 5_000.0;
/// A failed refresh is retried after 2 s, then twice as long each time, up to 30 s.
const RETRY_FIRST_MS: f64 = 2_000.0;
const RETRY_MAX_MS: f64 = 30_000.0;
/// Refreshes start at least this far apart, whatever the server's token lifetime: a token that
/// is due as soon as it is issued cannot make the client refresh in a loop.
const REFRESH_GAP_MS: f64 = 1_000.0;

/// The client's core (`new Core(serverUrl, apiOrigins)`).
#[wasm_bindgen]
pub struct Core {
    base: String,
    /// Where the session's token may go: the auth server's origin and the app's `apiOrigins`.
    origins: Vec<String>,
    session: Option<StoredSession>,
    /// The device key's public coordinates (its JWK), when there is a device key.
    jwk: Option<(String, String)>,
    /// The server's clock minus this one's (ms), from `Date` headers.
    skew: f64,
    /// The last DPoP nonce each origin handed out.
    nonces: Vec<(String, String)>,
    /// Whether the auth server could not be reached the last time.
    offline: bool,
    /// Refreshes that failed for a transient reason since the last one that succeeded.
    failed: u32,
    /// The refresh token of the refresh in flight: its answer applies only while it is still
    /// the session's.
    sent: Option<String>,
    /// The access token the refresh in flight was asked to replace.
    replacing: Option<String>,
    /// When the last refresh started (ms), to keep refreshes [`REFRESH_GAP_MS`] apart.
    refresh_started: f64,
    /// Counts this tab's changes of the session: what another tab stored is adopted only if
    /// nothing changed here since it was read.
    generation: u32,
}

fn thrown_error(error: Error) -> JsValue {
    error.to_js()
}

#[wasm_bindgen]
impl Core {
    /// A core for the server at `server_url` (its auth prefix), whose token may also go to
    /// `api_origins`.
    #[wasm_bindgen(constructor)]
    pub fn new(server_url: String, api_origins: Vec<String>) -> Core {
        let base = server_url.trim_end_matches('/').to_owned();
        // Origins as the browser writes them, whatever form they were given in.
        let origins = api_origins
            .iter()
            .map(String::as_str)
            .chain([base.as_str()])
            .filter_map(origin_of)
            .collect();
        Core {
            base,
            origins,
            session: None,
            jwk: None,
            skew: 0.0,
            nonces: Vec::new(),
            offline: false,
            failed: 0,
            sent: None,
            replacing: None,
            refresh_started: f64::NEG_INFINITY,
            generation: 0,
        }
    }

    /// The device key's public coordinates: sessions are bound to it from now on.
    pub fn device(&mut self, x: String, y: String) {
        self.jwk = Some((x, y));
    }

    /// The auth server's URL (its prefix).
    #[wasm_bindgen(getter)]
    pub fn base(&self) -> String {
        self.base.clone()
    }

    /// Adopts a stored record's plaintext (`undefined`: none). `false` when there was a record
    /// and it is not a session (then it is deleted): it reads as signed out.
    pub fn restore(&mut self, text: Option<String>) -> bool {
        self.session = text.as_deref().and_then(session_from_text);
        self.session.is_some() || text.is_none()
    }

    /// What the vault stores for the session (`undefined`: nothing, delete the record).
    pub fn record(&self) -> Option<String> {
        let session = self.session.as_ref()?;
        wire::json(&session.to_js()).ok()?.as_string()
    }

    /// Counts the changes of the session made here; read it before reading the vault, and
    /// hand it to [`Core::adopt_stored`] with what was read.
    #[wasm_bindgen(getter)]
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// What another tab stored (its record's plaintext, `undefined` for none), read when the
    /// session's [`Core::generation`] was `generation`, becomes this tab's session. Of the same
    /// session, newer tokens are always taken, older ones never (this tab's own, newer change is
    /// being stored); anything else (the user, another session, none) only if the session did
    /// not change here since the record was read. Returns what it amounts to here: `""`
    /// (nothing changed), `signedIn`, `refreshed`, `userUpdated` or `signedOut` (another tab
    /// signed out).
    #[wasm_bindgen(js_name = adoptStored)]
    pub fn adopt_stored(&mut self, text: Option<String>, generation: u32) -> String {
        let stored = text.as_deref().and_then(session_from_text);
        let unchanged = generation == self.generation;
        let change = match (self.session.as_mut(), stored) {
            (Some(ours), Some(theirs)) if ours.session_id == theirs.session_id => {
                let refreshed = take_newer_tokens(ours, &theirs);
                if unchanged && theirs.issued_at >= ours.issued_at && ours.user != theirs.user {
                    ours.user = theirs.user;
                    "userUpdated"
                } else if refreshed {
                    "refreshed"
                } else {
                    return String::new();
                }
            }
            (_, theirs) => {
                if !unchanged || self.session == theirs {
                    return String::new();
                }
                let change = if theirs.is_none() {
                    "signedOut"
                } else {
                    "signedIn"
                };
                self.session = theirs;
                change
            }
        };
        self.offline = false;
        self.changed();
        change.into()
    }

    /// Before this tab stores its session: takes the newer tokens of the same session from
    /// what is stored now (`text`, another tab may have refreshed meanwhile), so the record
    /// written never holds older tokens than the vault had.
    #[wasm_bindgen(js_name = mergeStored)]
    pub fn merge_stored(&mut self, text: Option<String>) {
        let stored = text.as_deref().and_then(session_from_text);
        if let (Some(ours), Some(theirs)) = (self.session.as_mut(), stored)
            && ours.session_id == theirs.session_id
            && take_newer_tokens(ours, &theirs)
        {
            self.changed();
        }
    }

    /// `loading`, `signedOut`, `signedIn` or `offline`.
    pub fn state(&self) -> String {
        match (&self.session, self.offline) {
            (None, _) => "signedOut",
            (Some(_), true) => "offline",
            (Some(_), false) => "signedIn",
        }
        .into()
    }

    /// Notes whether the auth server answered (`true`) or could not be reached; returns the
    /// change to announce: `online`, `offline` or `""`.
    pub fn reached(&mut self, answered: bool) -> String {
        if self.session.is_none() || self.offline != answered {
            return String::new();
        }
        self.offline = !answered;
        if answered { "online" } else { "offline" }.into()
    }

    /// The user as the server sent it, or `null`.
    pub fn user(&self) -> JsValue {
        self.session
            .as_ref()
            .map_or(JsValue::NULL, |s| wire::user_to_js(&s.user))
    }

    /// The session's id, or `undefined`.
    #[wasm_bindgen(js_name = sessionId)]
    pub fn session_id(&self) -> Option<String> {
        self.session.as_ref().map(|s| s.session_id.clone())
    }

    /// The access token while it is valid at `now`; `undefined` otherwise.
    pub fn token(&self, now: f64) -> Option<String> {
        let session = self.session.as_ref()?;
        (standing(session, now) != Freshness::Expired).then(|| session.tokens.access_token.clone())
    }

    /// When to refresh next, in milliseconds from `now`: when the token is due, but never
    /// sooner than [`REFRESH_GAP_MS`] after the last refresh started. `undefined` without a
    /// session.
    #[wasm_bindgen(js_name = refreshIn)]
    pub fn refresh_in(&self, now: f64) -> Option<f64> {
        let due = self.due(now)?.max(0.0);
        Some(due.max(self.refresh_started + REFRESH_GAP_MS - now))
    }

    /// How the access token stands at `now`: milliseconds until it is due for refresh (`0`:
    /// due now), `-1` when it has expired; `undefined` without a session.
    pub fn due(&self, now: f64) -> Option<f64> {
        let session = self.session.as_ref()?;
        Some(match standing(session, now) {
            Freshness::Fresh { refresh_at } => refresh_at - now,
            Freshness::Due => 0.0,
            Freshness::Expired => -1.0,
        })
    }

    /// `url` resolved against the page, if the session's token may go there; refused with
    /// `origin_not_allowed` otherwise.
    pub fn allowed(&self, url: &str) -> Result<String, JsValue> {
        let url = io::absolute(url).ok_or_else(|| {
            thrown_error(Error::OriginNotAllowed {
                origin: "an unparsable URL".into(),
            })
        })?;
        self.check_origin(&url).map_err(thrown_error)?;
        Ok(url)
    }

    /// A path under the auth server (`/sessions`, never `@elsewhere.example`) as a URL; see
    /// [`api::server_url`].
    pub fn url(&self, path: &str) -> Result<String, JsValue> {
        api::server_url(&self.base, path).map_err(thrown_error)
    }

    /// What a request to `url` carries: `{authorization?, header?, claims?, hash?, nonce?,
    /// skew}`. With
    /// `authorized`, the session's token (refused without a session, or to an origin the token
    /// may not go to); without, none (a token request). A DPoP proof is made of `header` and
    /// `claims` (add `ath`: the SHA-256 of `hash`, when given) for a device-bound session, and
    /// for every token request (the new session is bound to the device key). `now` is this
    /// browser's clock (ms). `nonce` and `skew` are what the proof was made with: hand them to
    /// [`Core::observe`] with the answer.
    pub fn credentials(
        &self,
        method: &str,
        url: &str,
        authorized: bool,
        now: f64,
    ) -> Result<JsValue, JsValue> {
        let tokens = if authorized {
            self.check_origin(url).map_err(thrown_error)?;
            Some(
                self.session
                    .as_ref()
                    .map(|s| &s.tokens)
                    .ok_or_else(|| thrown_error(Error::SignedOut))?,
            )
        } else {
            None
        };
        let bound = tokens.is_none_or(|t| t.token_type == TokenType::DPoP);
        let authorization = tokens.map_or(JsValue::UNDEFINED, |t| {
            [if bound { "DPoP " } else { "Bearer " }, &t.access_token]
                .concat()
                .into()
        });
        let mut fields = vec![("authorization", authorization), ("skew", self.skew.into())];
        if let Some((x, y)) = self.jwk.as_ref().filter(|_| bound) {
            let nonce = self.nonce(&origin_of(url).unwrap_or_default());
            if let Some(nonce) = &nonce {
                fields.push(("nonce", nonce.as_str().into()));
            }
            fields.push(("header", dpop::header(x, y).into()));
            fields.push((
                "claims",
                dpop::payload(method, url, nonce.as_deref(), self.server_now(now) / 1000.0),
            ));
            if let Some(tokens) = tokens {
                fields.push(("hash", tokens.access_token.as_str().into()));
            }
        }
        Ok(object(&fields))
    }

    /// The header and claims of the proof that answers a device challenge (`{header, claims}`):
    /// the challenge as its nonce, for `POST <server>/devices/challenge/verify`.
    pub fn challenge(&self, challenge: &str, now: f64) -> Result<JsValue, JsValue> {
        let (x, y) = self.jwk.as_ref().ok_or_else(|| {
            thrown_error(Error::Unsupported {
                api: "crypto.subtle",
            })
        })?;
        let url = [self.base.as_str(), "/devices/challenge/verify"].concat();
        Ok(object(&[
            ("header", dpop::header(x, y).into()),
            (
                "claims",
                dpop::payload("POST", &url, Some(challenge), self.server_now(now) / 1000.0),
            ),
        ]))
    }

    /// Learns the server's clock (`date`) and DPoP nonce (`nonce`) from a response from `url`
    /// received at `now`, to a request whose proof was made as `made` says (what
    /// [`Core::credentials`] returned: its `nonce` and `skew`), answered with the `WWW-Authenticate` `challenge`. Returns
    /// whether a refused request should be sent once more with a new proof: the answer refused
    /// the proof, which lacked the origin's current nonce or was made on a clock now known to
    /// be off. (Compared with what the proof was made with, not with what this
    /// core knew a moment ago: of requests sent together, each gets its second try, not only
    /// the first to come back.)
    pub fn observe(
        &mut self,
        url: &str,
        nonce: Option<String>,
        date: Option<String>,
        now: f64,
        made: &JsValue,
        challenge: Option<String>,
    ) -> bool {
        let (made_nonce, made_skew) = (get(made, "nonce").as_string(), get(made, "skew"));
        let made_skew = made_skew.as_f64().unwrap_or(self.skew);
        let mut again = false;
        if let Some(nonce) = nonce {
            again |= made_nonce.as_ref() != Some(&nonce);
            let origin = origin_of(url).unwrap_or_default();
            self.nonces.retain(|(o, _)| *o != origin);
            self.nonces.push((origin, nonce));
        }
        if let Some(date) = date {
            let skew = js_sys::Date::parse(&date) - now;
            // `Date` has whole seconds: only a difference well beyond that is a wrong clock.
            if skew.is_finite() && (skew - self.skew).abs() > SKEW_TOLERANCE_MS {
                self.skew = skew;
            }
        }
        again |= (self.skew - made_skew).abs() > SKEW_TOLERANCE_MS;
        // Only a refusal of the proof itself is worth a second one (an API's own 400 is not).
        let refused_proof = challenge
            .is_some_and(|c| c.contains("use_dpop_nonce") || c.contains("invalid_dpop_proof"));
        again && refused_proof && self.jwk.is_some()
    }

    /// What an answer of the auth server means: its `data` (`null` for an empty 2xx), or the
    /// error it is (thrown). `json` is the body as parsed (`undefined`: not JSON).
    pub fn answer(status: u16, json: JsValue) -> Result<JsValue, JsValue> {
        if (200..300).contains(&status) {
            return Ok(if json.is_null() {
                JsValue::NULL
            } else {
                get(&json, "data")
            });
        }
        Err(thrown_error(api::error_of(status, &json)))
    }

    /// Whether the answer `status` with a `WWW-Authenticate` of `challenge` from the app's API
    /// refuses the token itself (RFC 6750 `invalid_token`): then it is refreshed and the request
    /// sent once more. (The app's own 401s for something else are the app's.)
    pub fn refused(status: u16, challenge: Option<String>) -> bool {
        status == 401 && challenge.is_some_and(|c| c.contains("invalid_token"))
    }

    /// Whether an error of the auth server (its `code`) calls for a refresh and one more try:
    /// the token was refused.
    #[wasm_bindgen(js_name = tokenRefused)]
    pub fn token_refused(code: &str) -> bool {
        matches!(
            ErrorCode::from_wire(code),
            ErrorCode::InvalidToken | ErrorCode::TokenExpired | ErrorCode::SessionRevoked
        )
    }

    /// The body of a refresh of the current session (JSON text); remembers which refresh token
    /// it sent. Refused without a session.
    #[wasm_bindgen(js_name = refreshBody)]
    pub fn refresh_body(&mut self) -> Result<String, JsValue> {
        let token = self
            .session
            .as_ref()
            .map(|s| s.tokens.refresh_token.clone())
            .ok_or_else(|| thrown_error(Error::SignedOut))?;
        let body = wire::json(&object(&[("refresh_token", token.as_str().into())]))
            .ok()
            .and_then(|b| b.as_string())
            .unwrap_or_default();
        self.sent = Some(token);
        Ok(body)
    }

    /// Takes a refresh's outcome: its `data` (`error` undefined), or the error it failed with
    /// (a `KeywardError`). Returns what to announce: `refreshed`, `signedOut:<why>`, `retry` (a
    /// transient failure: try again after [`Core::backoff`]), `corrupt` (an answer without
    /// tokens: the same, and the caller hears it) or `""` (the session changed meanwhile: the
    /// answer no longer applies).
    pub fn refreshed(&mut self, data: JsValue, error: JsValue, now: f64) -> String {
        let sent = self.sent.take();
        let current = self.session.as_ref().map(|s| &s.tokens.refresh_token);
        if sent.is_none() || current != sent.as_ref() {
            return String::new();
        }
        if error.is_undefined() {
            let tokens = wire::tokens_from_js(&get(&data, "tokens"));
            if let (Some(tokens), Some(session)) = (tokens, self.session.as_mut()) {
                session.issued_at = now as i64;
                session.expires_at = expiry(now as i64, tokens.expires_in);
                session.tokens = tokens;
                self.failed = 0;
                self.changed();
                return "refreshed".into();
            }
        }
        let corrupt = error.is_undefined();
        let error = Error::from_js(&error);
        if let Some(why) = ended_by(&error).filter(|_| !corrupt) {
            self.session = None;
            self.offline = false;
            self.changed();
            return ["signedOut:", why_name(why)].concat();
        }
        self.failed = self.failed.saturating_add(1);
        if corrupt { "corrupt" } else { "retry" }.into()
    }

    /// How long to wait before the next try of a refresh that failed for a transient reason.
    pub fn backoff(&self) -> f64 {
        let failed = self.failed.saturating_sub(1);
        (RETRY_FIRST_MS * f64::from(1u32 << failed.min(4))).min(RETRY_MAX_MS)
    }

    /// A refresh starts at `now`: the access token held now is the one it is to replace.
    #[wasm_bindgen(js_name = refreshStarts)]
    pub fn refresh_starts(&mut self, now: f64) {
        self.refresh_started = now;
        self.replacing = self.session.as_ref().map(|s| s.tokens.access_token.clone());
    }

    /// Whether the session is fresh at `now` with another access token than the one the
    /// refresh was to replace: then another tab refreshed it, and no request is needed.
    #[wasm_bindgen(js_name = refreshedElsewhere)]
    pub fn refreshed_elsewhere(&self, now: f64) -> bool {
        self.session.as_ref().is_some_and(|s| {
            matches!(standing(s, now), Freshness::Fresh { .. })
                && Some(&s.tokens.access_token) != self.replacing.as_ref()
        })
    }

    /// Adopts the session in a sign-in's answer (`data`), if it holds one, and takes its tokens
    /// out of it (they stay here). Returns whether it did.
    #[wasm_bindgen(js_name = signedIn)]
    pub fn signed_in(&mut self, data: &JsValue, now: f64) -> bool {
        if let Some(answer) = data.dyn_ref::<Object>() {
            if let Some((user, session_id, tokens)) = wire::signed_in(data) {
                self.session = Some(StoredSession {
                    expires_at: expiry(now as i64, tokens.expires_in),
                    issued_at: now as i64,
                    user,
                    session_id,
                    tokens,
                });
                self.failed = 0;
                self.offline = false;
                self.changed();
                let _ = Reflect::delete_property(answer, &"tokens".into());
                return true;
            }
            let _ = Reflect::delete_property(answer, &"tokens".into());
        }
        false
    }

    /// Takes the user `GET /auth/me` answered (`data`); returns whether it changed. Refused
    /// when it is not a user.
    #[wasm_bindgen(js_name = reloaded)]
    pub fn reloaded(&mut self, data: &JsValue) -> Result<bool, JsValue> {
        let user = wire::user_from_js(&get(data, "user")).ok_or_else(|| {
            thrown_error(Error::Corrupt {
                what: "server answer",
            })
        })?;
        Ok(match self.session.as_mut() {
            Some(session) if session.user != user => {
                session.user = user;
                self.generation = self.generation.wrapping_add(1);
                true
            }
            _ => false,
        })
    }

    /// Ends the session here.
    pub fn forget(&mut self) -> bool {
        self.offline = false;
        self.changed();
        self.session.take().is_some()
    }

    /// The `KeywardError` for what went wrong outside the core: `network` (fetch threw
    /// `thrown`), `aborted` (the caller's signal), `signedOut` (no session), `passkey` (the
    /// passkey dialog threw `thrown`: `cancelled` when the user closed it), `cancelled` (no
    /// credential), `passkeysUnsupported`, `corrupt` (an answer that is not what it should be),
    /// or a browser API's failure (`thrown`) during `kind`.
    pub fn error(kind: &str, thrown: &JsValue) -> JsValue {
        let message = || match thrown.dyn_ref::<js_sys::Error>() {
            Some(error) => String::from(error.message()),
            None => thrown.as_string().unwrap_or_else(|| "unknown".into()),
        };
        thrown_error(match kind {
            "network" => Error::Network(message()),
            "aborted" => Error::Aborted,
            "signedOut" => Error::SignedOut,
            "passkey" => crate::webauthn::failure(thrown),
            "cancelled" => Error::Cancelled,
            "passkeysUnsupported" => Error::Unsupported {
                api: "PublicKeyCredential.parseCreationOptionsFromJSON",
            },
            "corrupt" => Error::Corrupt {
                what: "server answer",
            },
            _ => Error::browser("storage", thrown),
        })
    }
}

impl Core {
    /// The session changed here.
    fn changed(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    fn check_origin(&self, url: &str) -> Result<(), Error> {
        let origin = origin_of(url).unwrap_or_default();
        if self.origins.contains(&origin) {
            Ok(())
        } else {
            Err(Error::OriginNotAllowed { origin })
        }
    }

    fn nonce(&self, origin: &str) -> Option<String> {
        self.nonces
            .iter()
            .find(|(o, _)| o == origin)
            .map(|(_, n)| n.clone())
    }

    /// Now on the server's clock, as best known (ms), from this browser's `now`.
    fn server_now(&self, now: f64) -> f64 {
        now + self.skew
    }
}

fn standing(session: &StoredSession, now: f64) -> Freshness {
    freshness(session.issued_at as f64, session.expires_at as f64, now)
}

/// Takes `theirs`' tokens into `ours` (of the same session) when they were issued later.
fn take_newer_tokens(ours: &mut StoredSession, theirs: &StoredSession) -> bool {
    if theirs.issued_at <= ours.issued_at {
        return false;
    }
    ours.issued_at = theirs.issued_at;
    ours.expires_at = theirs.expires_at;
    ours.tokens = theirs.tokens.clone();
    true
}

fn session_from_text(text: &str) -> Option<StoredSession> {
    StoredSession::from_js(&js_sys::JSON::parse(text).ok()?)
}

fn why_name(why: SignOutReason) -> &'static str {
    match why {
        SignOutReason::Expired => "expired",
        SignOutReason::OtherTab => "otherTab",
        SignOutReason::User => "user",
        _ => "revoked",
    }
}
