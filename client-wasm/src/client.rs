//! [`AuthClient`]: the session as the page sees it, kept fresh by itself.
//!
//! - Sign-up and sign-in store the session in the encrypted [`Vault`]; a reload restores it
//!   without a network round trip.
//! - The access token is refreshed when less than min(60 s, a quarter of its lifetime) remains:
//!   on a timer, when the page becomes visible, when the browser comes back online, and on
//!   demand when a caller needs a token that has expired.
//! - One refresh at a time: in-tab callers share one in-flight refresh; across tabs a Web Lock
//!   serialises them, and a tab that gets the lock after another refreshed just reads the new
//!   tokens from the vault. Tabs tell each other about changes over a BroadcastChannel.
//! - Only a definitive answer from the server (revoked, expired, reused, user gone) signs the
//!   user out. A network error, a timeout, a 5xx or a rate limit keeps the session; `state`
//!   says `Offline` when the server is unreachable.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::Promise;
use keyward_proto::{
    AuthSuccess, Device, DeviceList, ErrorCode, Passkey, PasskeyList, PasskeyName, PasskeySignIn,
    PasskeySignUp, RefreshRequest, RefreshResponse, RenameDevice, Session, SessionList,
    SignInRequest, SignOutRequest, SignOutScope, SignUpRequest, TokenType, Tokens, User,
};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{EventTarget, Request, Response};

use crate::Error;
use crate::api::{self, Method, Timer};
use crate::device_key::DeviceKey;
use crate::dpop;
use crate::schedule::{Clock, Freshness, SystemClock, freshness};
use crate::tabs::{self, Channel};
use crate::vault::{Restored, StoredSession, Vault};
use crate::webauthn;

/// Where the client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthState {
    /// The stored session is being read.
    Loading,
    /// No session.
    SignedOut,
    /// A session, and the server is reachable.
    SignedIn,
    /// A session, but the server could not be reached the last time: the cached user and a
    /// still-valid token stay available; refresh resumes when the network does.
    Offline,
}

impl AuthState {
    /// The JS name: `loading`, `signedOut`, `signedIn`, `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loading => "loading",
            Self::SignedOut => "signedOut",
            Self::SignedIn => "signedIn",
            Self::Offline => "offline",
        }
    }
}

/// What listeners see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The state.
    pub state: AuthState,
    /// The signed-in user (also while offline).
    pub user: Option<User>,
}

/// How to build a client.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Keyward server's auth prefix, e.g. `https://auth.example.com/auth`.
    pub server_url: String,
    /// The IndexedDB database (and lock and channel) name; several clients on one origin need
    /// different names. Default `keyward`.
    pub storage_name: String,
    /// Keep the session in memory only (it ends with the page), even where IndexedDB exists.
    pub memory_only: bool,
}

impl Options {
    /// Options for the server at `server_url`, with the defaults.
    pub fn new(server_url: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            storage_name: "keyward".into(),
            memory_only: false,
        }
    }
}

/// The browser client. Cheap to clone (a handle).
#[derive(Clone)]
pub struct AuthClient {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for AuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthClient")
            .field("server_url", &self.inner.base)
            .field("state", &self.inner.state.get())
            .finish_non_exhaustive()
    }
}

type Listener = Rc<dyn Fn(&Snapshot)>;

/// A listener on a page event (`online`, `visibilitychange`), removed when the client is dropped.
type PageEvent = (EventTarget, &'static str, Closure<dyn FnMut()>);

struct Inner {
    base: String,
    lock_name: String,
    vault: Vault,
    /// The key sessions are bound to (DPoP); `None` without WebCrypto.
    device: Option<DeviceKey>,
    /// The server's clock minus this one's (ms), from `Date` headers: DPoP proofs carry the
    /// server's time, so a wrong clock here does not get them refused.
    skew: Cell<f64>,
    /// The last DPoP nonce the server handed out.
    nonce: RefCell<Option<String>>,
    clock: Box<dyn Clock>,
    session: RefCell<Option<StoredSession>>,
    state: Cell<AuthState>,
    listeners: RefCell<Vec<(u64, Listener)>>,
    next_listener: Cell<u64>,
    inflight: RefCell<Option<Promise>>,
    /// Refreshes that failed for a transient reason since the last one that succeeded.
    failed_refreshes: Cell<u32>,
    timer: RefCell<Option<Timer>>,
    channel: RefCell<Option<Channel>>,
    page_events: RefCell<Vec<PageEvent>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for (target, event, listener) in self.page_events.borrow().iter() {
            let _ = target
                .remove_event_listener_with_callback(event, listener.as_ref().unchecked_ref());
        }
    }
}

/// Clock differences smaller than this are noise (`Date` headers have whole seconds).
const SKEW_TOLERANCE_MS: f64 = 5_000.0;

/// How long to wait before retrying a refresh that failed for a transient reason: 2 s, then
/// twice as long each time, up to 30 s. The first retry of a refresh whose answer was lost
/// (timed out after [`api::REFRESH_TIMEOUT_MS`]) reaches the server within its 10 s grace
/// window, where it gets the same successor back. (The server also accepts the last used token
/// as a retry for as long as its successor has not been used, so a later retry, after a long
/// offline spell, still does not end the session.)
const RETRY_FIRST_MS: f64 = 2_000.0;
const RETRY_MAX_MS: f64 = 30_000.0;

impl AuthClient {
    /// Opens the vault and restores the stored session, without touching the network.
    pub async fn new(options: Options) -> Self {
        Self::with_clock(options, Box::new(SystemClock)).await
    }

    /// Like [`AuthClient::new`], with a clock of your own (tests).
    pub async fn with_clock(options: Options, clock: Box<dyn Clock>) -> Self {
        let (vault, Restored { session, device }) = if options.memory_only {
            Vault::memory().await
        } else {
            Vault::open(&options.storage_name).await
        };
        let state = if session.is_some() {
            AuthState::SignedIn
        } else {
            AuthState::SignedOut
        };
        let inner = Rc::new(Inner {
            base: options.server_url.trim_end_matches('/').to_owned(),
            lock_name: format!("keyward-refresh:{}", options.storage_name),
            vault,
            device,
            skew: Cell::new(0.0),
            nonce: RefCell::default(),
            clock,
            session: RefCell::new(session),
            state: Cell::new(state),
            listeners: RefCell::default(),
            next_listener: Cell::new(0),
            inflight: RefCell::default(),
            failed_refreshes: Cell::new(0),
            timer: RefCell::default(),
            channel: RefCell::default(),
            page_events: RefCell::default(),
        });
        let client = Self { inner };
        client.connect_tabs(&options.storage_name);
        client.listen_to_page();
        client.schedule();
        client
    }

    /// The current state.
    pub fn state(&self) -> AuthState {
        self.inner.state.get()
    }

    /// The signed-in user, if any (also while offline).
    pub fn user(&self) -> Option<User> {
        self.inner.session.borrow().as_ref().map(|s| s.user.clone())
    }

    /// The state and user together.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state(),
            user: self.user(),
        }
    }

    /// Whether the session survives a reload (IndexedDB) or only this page (memory).
    pub fn is_persistent(&self) -> bool {
        self.inner.vault.is_persistent()
    }

    /// Calls `listener` on every change of state or user. Dropping the returned
    /// [`Subscription`] unsubscribes.
    #[must_use = "dropping the subscription unsubscribes at once"]
    pub fn on_change(&self, listener: impl Fn(&Snapshot) + 'static) -> Subscription {
        let id = self.inner.next_listener.get();
        self.inner.next_listener.set(id + 1);
        self.inner
            .listeners
            .borrow_mut()
            .push((id, Rc::new(listener)));
        Subscription {
            client: Rc::downgrade(&self.inner),
            id,
        }
    }

    /// Creates an account and signs it in.
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
    ) -> Result<User, Error> {
        let body = SignUpRequest {
            email: email.into(),
            password: password.into(),
            name: name.map(str::to_owned),
        };
        let success: AuthSuccess = self
            .call(Method::Post, "/sign-up", None, Some(&body))
            .await?;
        self.start(success).await
    }

    /// Signs in with email and password.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<User, Error> {
        let body = SignInRequest {
            email: email.into(),
            password: password.into(),
        };
        let success: AuthSuccess = self
            .call(Method::Post, "/sign-in", None, Some(&body))
            .await?;
        self.start(success).await
    }

    async fn start(&self, success: AuthSuccess) -> Result<User, Error> {
        let now = self.now();
        let user = success.user.clone();
        let session = StoredSession {
            expires_at: now + secs_to_ms(success.tokens.expires_in),
            issued_at: now,
            user: success.user,
            session_id: success.session_id,
            tokens: success.tokens,
        };
        self.adopt(Some(session), true).await;
        Ok(user)
    }

    /// Signs out (this session, the user's others, or all). Locally the session ends whatever
    /// the network does; the server is told when it can be reached.
    pub async fn sign_out(&self, scope: SignOutScope) -> Result<(), Error> {
        let Some(session) = self.inner.session.borrow().clone() else {
            return Ok(());
        };
        let body = SignOutRequest { scope: Some(scope) };
        // A token that cannot be refreshed (offline) still tells the server, if it is valid.
        let _ = self.access_token().await;
        let tokens = self.tokens().unwrap_or(session.tokens);
        let told = self
            .call::<serde::de::IgnoredAny>(Method::Post, "/sign-out", Some(&tokens), Some(&body))
            .await;
        if scope != SignOutScope::Others {
            self.adopt(None, true).await;
        }
        match told {
            Err(err) if !matches!(err, Error::Network(_)) && !err.ends_session() => Err(err),
            _ => Ok(()),
        }
    }

    /// A valid access token: the cached one while it is fresh (no I/O at all), else a refreshed
    /// one. A token that is due but not expired is returned at once and refreshed behind.
    pub async fn access_token(&self) -> Result<String, Error> {
        let (token, standing) = {
            let session = self.inner.session.borrow();
            let session = session.as_ref().ok_or(Error::SignedOut)?;
            let standing = freshness(
                session.issued_at as f64,
                session.expires_at as f64,
                self.inner.clock.now(),
            );
            (session.tokens.access_token.clone(), standing)
        };
        match standing {
            Freshness::Fresh { .. } => Ok(token),
            Freshness::Due => {
                let client = self.clone();
                spawn_local(async move {
                    let _ = client.refresh().await;
                });
                Ok(token)
            }
            Freshness::Expired => {
                self.refresh().await?;
                self.inner
                    .session
                    .borrow()
                    .as_ref()
                    .map(|s| s.tokens.access_token.clone())
                    .ok_or(Error::SignedOut)
            }
        }
    }

    /// The cached access token if it is still valid, without any I/O (for hot paths such as a
    /// sync engine's frame loop). `None`: call [`AuthClient::access_token`].
    pub fn cached_access_token(&self) -> Option<String> {
        let session = self.inner.session.borrow();
        let session = session.as_ref()?;
        let standing = freshness(
            session.issued_at as f64,
            session.expires_at as f64,
            self.inner.clock.now(),
        );
        (standing != Freshness::Expired).then(|| session.tokens.access_token.clone())
    }

    /// Refreshes the tokens now (one refresh per session at a time, across tabs).
    pub async fn refresh(&self) -> Result<(), Error> {
        let pending = self.inner.inflight.borrow().clone();
        let promise = match pending {
            Some(promise) => promise,
            None => {
                let client = self.clone();
                let name = self.inner.lock_name.clone();
                let replacing = self
                    .inner
                    .session
                    .borrow()
                    .as_ref()
                    .map(|s| s.tokens.access_token.clone());
                let promise = crate::promise(async move {
                    let outcome = tabs::with_lock(&name, {
                        let client = client.clone();
                        async move {
                            client
                                .refresh_locked(replacing)
                                .await
                                .map(|()| JsValue::UNDEFINED)
                                .map_err(to_carrier)
                        }
                    })
                    .await;
                    client.inner.inflight.borrow_mut().take();
                    outcome
                });
                *self.inner.inflight.borrow_mut() = Some(promise.clone());
                promise
            }
        };
        JsFuture::from(promise)
            .await
            .map(drop)
            .map_err(from_carrier)
    }

    /// The refresh itself, run while holding the cross-tab lock. `replacing` is the access token
    /// the caller wants replaced (due, expired, or refused by a server).
    async fn refresh_locked(&self, replacing: Option<String>) -> Result<(), Error> {
        // Another tab may have refreshed (or signed out) while this one waited for the lock:
        // then its fresh token is ours too, and no request is needed.
        if self.inner.vault.is_persistent() {
            let stored = self.inner.vault.load().await;
            let ours = self.inner.session.borrow().clone();
            if stored != ours {
                self.adopt(stored.clone(), false).await;
            }
            let Some(stored) = stored else {
                return Err(Error::SignedOut);
            };
            let now = self.inner.clock.now();
            let fresh = matches!(
                freshness(stored.issued_at as f64, stored.expires_at as f64, now),
                Freshness::Fresh { .. }
            );
            if fresh && Some(&stored.tokens.access_token) != replacing.as_ref() {
                return Ok(());
            }
        }
        let Some(session) = self.inner.session.borrow().clone() else {
            return Err(Error::SignedOut);
        };
        let body = RefreshRequest {
            refresh_token: session.tokens.refresh_token.clone(),
        };
        // A refresh whose answer is lost must be retried within the server's grace window, so
        // it gives up sooner than other calls.
        let body = api::json_text(&body)?;
        match self
            .call_json::<RefreshResponse>(
                Method::Post,
                "/refresh",
                None,
                Some(&body),
                api::REFRESH_TIMEOUT_MS,
            )
            .await
        {
            Ok(answer) => {
                let now = self.now();
                let renewed = StoredSession {
                    issued_at: now,
                    expires_at: now + secs_to_ms(answer.tokens.expires_in),
                    tokens: answer.tokens,
                    ..session
                };
                self.inner.failed_refreshes.set(0);
                self.adopt(Some(renewed), true).await;
                Ok(())
            }
            Err(err) if err.ends_session() || refused_key(&err) => {
                self.adopt(None, true).await;
                Err(err)
            }
            Err(err) => {
                self.retry_later();
                Err(err)
            }
        }
    }

    /// `fetch` with the access token (and a DPoP proof when the session is device-bound),
    /// retried once after a refresh when the server says the token is no longer valid.
    pub async fn fetch(&self, request: Request) -> Result<Response, Error> {
        let retry = request
            .clone()
            .map_err(|e| Error::browser("Request.clone", &e))?;
        self.access_token().await?;
        let tokens = self.tokens()?;
        let response = self.dispatch(request, Some(&tokens), api::TIMEOUT_MS).await;
        self.note_network(&response);
        let response = response?;
        if response.status() != 401 || !says_invalid_token(&response) {
            return Ok(response);
        }
        self.refresh().await?;
        let tokens = self.tokens()?;
        let response = self.dispatch(retry, Some(&tokens), api::TIMEOUT_MS).await;
        self.note_network(&response);
        response
    }

    fn tokens(&self) -> Result<Tokens, Error> {
        self.inner
            .session
            .borrow()
            .as_ref()
            .map(|s| s.tokens.clone())
            .ok_or(Error::SignedOut)
    }

    /// Sends `request` as `tokens`' holder: the access token under its scheme, a DPoP proof
    /// when the session is bound (and always for token requests, which bind new sessions).
    /// When a refusal brings a new DPoP nonce, or shows that this browser's clock is off (the
    /// proof's time was wrong), sends once more, corrected. Each send is given up after
    /// `timeout_ms`.
    async fn dispatch(
        &self,
        request: Request,
        tokens: Option<&Tokens>,
        timeout_ms: i32,
    ) -> Result<Response, Error> {
        let retry = request
            .clone()
            .map_err(|e| Error::browser("Request.clone", &e))?;
        let nonce_before = self.inner.nonce.borrow().clone();
        let skew_before = self.inner.skew.get();
        let response = self.send_once(&request, tokens, timeout_ms).await?;
        let refused = matches!(response.status(), 400 | 401);
        let new_nonce = *self.inner.nonce.borrow() != nonce_before;
        let new_clock = (self.inner.skew.get() - skew_before).abs() > SKEW_TOLERANCE_MS;
        if refused && (new_nonce || new_clock) && self.inner.device.is_some() {
            return self.send_once(&retry, tokens, timeout_ms).await;
        }
        Ok(response)
    }

    async fn send_once(
        &self,
        request: &Request,
        tokens: Option<&Tokens>,
        timeout_ms: i32,
    ) -> Result<Response, Error> {
        let headers = request.headers();
        let bound = tokens.is_none_or(|t| t.token_type == TokenType::DPoP);
        if let Some(tokens) = tokens {
            let scheme = if bound { "DPoP" } else { "Bearer" };
            let _ = headers.set(
                "authorization",
                &format!("{scheme} {}", tokens.access_token),
            );
        }
        if let Some(key) = self.inner.device.as_ref().filter(|_| bound) {
            let nonce = self.inner.nonce.borrow().clone();
            let claims = dpop::Claims {
                method: &request.method(),
                url: &request.url(),
                access_token: tokens.map(|t| t.access_token.as_str()),
                nonce: nonce.as_deref(),
                issued_at: (self.inner.clock.now() + self.inner.skew.get()) / 1000.0,
            };
            let proof = dpop::proof(key, claims).await?;
            let _ = headers.set("dpop", &proof);
        }
        let response = api::send(request, timeout_ms).await?;
        self.observe(&response);
        Ok(response)
    }

    /// Learns the server's clock and DPoP nonce from a response.
    fn observe(&self, response: &Response) {
        let headers = response.headers();
        if let Ok(Some(nonce)) = headers.get("dpop-nonce") {
            *self.inner.nonce.borrow_mut() = Some(nonce);
        }
        if let Ok(Some(date)) = headers.get("date") {
            let server = js_sys::Date::parse(&date);
            let skew = server - self.inner.clock.now();
            // `Date` has whole seconds: only a difference well beyond that is a wrong clock.
            if server.is_finite() && (skew - self.inner.skew.get()).abs() > SKEW_TOLERANCE_MS {
                self.inner.skew.set(skew);
            }
        }
    }

    /// The user's live sessions, newest first, the current one marked.
    pub async fn sessions(&self) -> Result<Vec<Session>, Error> {
        let list: SessionList = self
            .authorized(Method::Get, "/sessions", None::<&()>)
            .await?;
        Ok(list.sessions)
    }

    /// Revokes one of the user's sessions. Revoking this one signs this client out.
    pub async fn revoke_session(&self, id: &str) -> Result<(), Error> {
        let path = format!("/sessions/{}", js_sys::encode_uri_component(id));
        self.authorized::<serde::de::IgnoredAny>(Method::Delete, &path, None::<&()>)
            .await?;
        let current = self
            .inner
            .session
            .borrow()
            .as_ref()
            .is_some_and(|s| s.session_id == id);
        if current {
            self.adopt(None, true).await;
        }
        Ok(())
    }

    /// The user's devices (device keys), most recently seen first; this one marked `current`.
    pub async fn devices(&self) -> Result<Vec<Device>, Error> {
        let list: DeviceList = self
            .authorized(Method::Get, "/devices", None::<&()>)
            .await?;
        Ok(list.devices)
    }

    /// This browser's device, as the server knows it (`None` when the session is not bound).
    pub async fn current_device(&self) -> Result<Option<Device>, Error> {
        Ok(self.devices().await?.into_iter().find(|d| d.current))
    }

    /// Renames a device.
    pub async fn rename_device(&self, id: &str, name: &str) -> Result<(), Error> {
        let path = format!("/devices/{}", js_sys::encode_uri_component(id));
        let body = RenameDevice { name: name.into() };
        self.authorized::<serde::de::IgnoredAny>(Method::Patch, &path, Some(&body))
            .await?;
        Ok(())
    }

    /// Revokes a device and every session bound to it. Revoking this one signs this client out.
    pub async fn revoke_device(&self, id: &str) -> Result<(), Error> {
        let current = self.current_device().await?.is_some_and(|d| d.id == id);
        let path = format!("/devices/{}", js_sys::encode_uri_component(id));
        self.authorized::<serde::de::IgnoredAny>(Method::Delete, &path, None::<&()>)
            .await?;
        if current {
            self.adopt(None, true).await;
        }
        Ok(())
    }

    /// Answers a device challenge (from `POST …/devices/{id}/challenge`): a DPoP proof for
    /// `POST …/devices/challenge/verify` with the challenge as its nonce, to hand to the server
    /// that asked.
    pub async fn sign_challenge(&self, challenge: &str) -> Result<String, Error> {
        let key = self.inner.device.as_ref().ok_or(Error::Unsupported {
            api: "crypto.subtle",
        })?;
        let url = format!("{}/devices/challenge/verify", self.inner.base);
        let claims = dpop::Claims {
            method: "POST",
            url: &url,
            access_token: None,
            nonce: Some(challenge),
            issued_at: (self.inner.clock.now() + self.inner.skew.get()) / 1000.0,
        };
        dpop::proof(key, claims).await
    }

    /// Registers a passkey to the signed-in account (the browser shows its dialog).
    pub async fn register_passkey(&self, name: Option<&str>) -> Result<Passkey, Error> {
        let body = PasskeyName {
            name: name.map(str::to_owned),
        };
        let options = self
            .authorized_data(Method::Post, "/passkeys/register/options", &body)
            .await?;
        let credential = webauthn::create(&options).await?;
        self.access_token().await?;
        let tokens = self.tokens()?;
        self.call_json(
            Method::Post,
            "/passkeys/register/verify",
            Some(&tokens),
            Some(&credential),
            api::TIMEOUT_MS,
        )
        .await
    }

    /// Signs in with a passkey: the account's (with `email`), or any of this site's (without).
    pub async fn sign_in_with_passkey(&self, email: Option<&str>) -> Result<User, Error> {
        let body = PasskeySignIn {
            email: email.map(str::to_owned),
        };
        let options = self.public_data("/passkeys/sign-in/options", &body).await?;
        let credential = webauthn::get(&options, false, None)
            .await?
            .ok_or(Error::Cancelled)?;
        let success: AuthSuccess = self
            .call_json(
                Method::Post,
                "/passkeys/sign-in/verify",
                None,
                Some(&credential),
                api::TIMEOUT_MS,
            )
            .await?;
        self.start(success).await
    }

    /// Creates an account with a passkey and no password, and signs it in.
    pub async fn sign_up_with_passkey(
        &self,
        email: &str,
        name: Option<&str>,
    ) -> Result<User, Error> {
        let body = PasskeySignUp {
            email: email.into(),
            name: name.map(str::to_owned),
        };
        let options = self.public_data("/passkeys/sign-up/options", &body).await?;
        let credential = webauthn::create(&options).await?;
        let success: AuthSuccess = self
            .call_json(
                Method::Post,
                "/passkeys/sign-up/verify",
                None,
                Some(&credential),
                api::TIMEOUT_MS,
            )
            .await?;
        self.start(success).await
    }

    /// Offers the site's passkeys in the browser's autofill (conditional mediation) until the
    /// user picks one (then signs in and returns the user) or `signal` aborts (then `None`).
    pub async fn passkey_autofill(&self, signal: Option<&JsValue>) -> Result<Option<User>, Error> {
        let options = self
            .public_data("/passkeys/sign-in/options", &PasskeySignIn::default())
            .await?;
        let Some(credential) = webauthn::get(&options, true, signal).await? else {
            return Ok(None);
        };
        let success: AuthSuccess = self
            .call_json(
                Method::Post,
                "/passkeys/sign-in/verify",
                None,
                Some(&credential),
                api::TIMEOUT_MS,
            )
            .await?;
        self.start(success).await.map(Some)
    }

    /// The user's passkeys.
    pub async fn passkeys(&self) -> Result<Vec<Passkey>, Error> {
        let list: PasskeyList = self
            .authorized(Method::Get, "/passkeys", None::<&()>)
            .await?;
        Ok(list.passkeys)
    }

    /// Renames a passkey.
    pub async fn rename_passkey(&self, id: &str, name: &str) -> Result<(), Error> {
        let path = format!("/passkeys/{}", js_sys::encode_uri_component(id));
        let body = PasskeyName {
            name: Some(name.into()),
        };
        self.authorized::<serde::de::IgnoredAny>(Method::Patch, &path, Some(&body))
            .await?;
        Ok(())
    }

    /// Removes a passkey.
    pub async fn remove_passkey(&self, id: &str) -> Result<(), Error> {
        let path = format!("/passkeys/{}", js_sys::encode_uri_component(id));
        self.authorized::<serde::de::IgnoredAny>(Method::Delete, &path, None::<&()>)
            .await?;
        Ok(())
    }

    /// `data` of a POST without a token, as the JS value it is.
    async fn public_data(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<JsValue, Error> {
        self.data(Method::Post, path, None, body).await
    }

    /// `data` of a call with the session's token, as the JS value it is.
    async fn authorized_data(
        &self,
        method: Method,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<JsValue, Error> {
        self.access_token().await?;
        let tokens = self.tokens()?;
        self.data(method, path, Some(&tokens), body).await
    }

    async fn data(
        &self,
        method: Method,
        path: &str,
        tokens: Option<&Tokens>,
        body: &impl serde::Serialize,
    ) -> Result<JsValue, Error> {
        let url = format!("{}{path}", self.inner.base);
        let request = api::json_request(method, &url, Some(&api::json_text(body)?))?;
        let response = self.dispatch(request, tokens, api::TIMEOUT_MS).await;
        self.note_network(&response);
        api::read_data(response?).await
    }

    /// A call with the session's access token (refreshed first when needed).
    async fn authorized<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<T, Error> {
        self.access_token().await?;
        let tokens = self.tokens()?;
        self.call(method, path, Some(&tokens), body).await
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        tokens: Option<&Tokens>,
        body: Option<&impl serde::Serialize>,
    ) -> Result<T, Error> {
        let body = body.map(api::json_text).transpose()?;
        self.call_json(method, path, tokens, body.as_ref(), api::TIMEOUT_MS)
            .await
    }

    /// [`Self::call`] with a body that is JSON text already (WebAuthn's `toJSON()` output), given
    /// up after `timeout_ms`.
    async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        tokens: Option<&Tokens>,
        body: Option<&JsValue>,
        timeout_ms: i32,
    ) -> Result<T, Error> {
        let url = format!("{}{path}", self.inner.base);
        let request = api::json_request(method, &url, body)?;
        let response = self.dispatch(request, tokens, timeout_ms).await;
        self.note_network(&response);
        api::read(response?).await
    }

    /// Offline after a network failure, back online after any answer from the server.
    fn note_network<T>(&self, result: &Result<T, Error>) {
        if self.inner.session.borrow().is_none() {
            return;
        }
        let state = match result {
            Err(Error::Network(_)) => AuthState::Offline,
            _ => AuthState::SignedIn,
        };
        self.set_state(state);
    }

    fn set_state(&self, state: AuthState) {
        if self.inner.state.replace(state) != state {
            self.notify();
        }
    }

    /// Makes `session` the current one: stored (when `persist`), announced to the other tabs,
    /// the refresh rescheduled, listeners told.
    async fn adopt(&self, session: Option<StoredSession>, persist: bool) {
        if persist {
            // A vault that cannot be written still leaves a working session in memory.
            let _ = match &session {
                Some(session) => self.inner.vault.save(session).await,
                None => self.inner.vault.clear().await,
            };
        }
        let state = if session.is_some() {
            AuthState::SignedIn
        } else {
            AuthState::SignedOut
        };
        *self.inner.session.borrow_mut() = session;
        self.inner.state.set(state);
        if let Some(channel) = self.inner.channel.borrow().as_ref().filter(|_| persist) {
            channel.announce();
        }
        self.schedule();
        self.notify();
    }

    fn notify(&self) {
        let snapshot = self.snapshot();
        let listeners: Vec<Listener> = self
            .inner
            .listeners
            .borrow()
            .iter()
            .map(|(_, l)| Rc::clone(l))
            .collect();
        for listener in listeners {
            listener(&snapshot);
        }
    }

    fn now(&self) -> i64 {
        self.inner.clock.now() as i64
    }

    /// Sets the refresh timer for the current session.
    fn schedule(&self) {
        let due_in = self.inner.session.borrow().as_ref().map(|s| {
            match freshness(
                s.issued_at as f64,
                s.expires_at as f64,
                self.inner.clock.now(),
            ) {
                Freshness::Fresh { refresh_at } => refresh_at - self.inner.clock.now(),
                Freshness::Due | Freshness::Expired => 0.0,
            }
        });
        self.set_timer(due_in);
    }

    fn retry_later(&self) {
        let failed = self.inner.failed_refreshes.get();
        self.inner.failed_refreshes.set(failed.saturating_add(1));
        let delay = RETRY_FIRST_MS * f64::from(1u32 << failed.min(4));
        self.set_timer(Some(delay.min(RETRY_MAX_MS)));
    }

    fn set_timer(&self, after_ms: Option<f64>) {
        let timer = after_ms.and_then(|ms| {
            let weak = Rc::downgrade(&self.inner);
            // setTimeout takes an i32; anything longer than ~24 days is rescheduled on the way.
            let ms = ms.clamp(0.0, f64::from(i32::MAX)) as i32;
            Timer::start(ms, move || {
                if let Some(inner) = weak.upgrade() {
                    let client = AuthClient { inner };
                    spawn_local(async move {
                        let _ = client.refresh().await;
                    });
                }
            })
        });
        *self.inner.timer.borrow_mut() = timer;
    }

    fn connect_tabs(&self, name: &str) {
        let weak = Rc::downgrade(&self.inner);
        let channel = Channel::join(&format!("keyward:{name}"), move || {
            if let Some(inner) = weak.upgrade() {
                let client = AuthClient { inner };
                spawn_local(async move {
                    let stored = client.inner.vault.load().await;
                    if stored != *client.inner.session.borrow() {
                        client.adopt(stored, false).await;
                    }
                });
            }
        });
        *self.inner.channel.borrow_mut() = channel;
    }

    /// Refresh when the network comes back, and when the page becomes visible with a token due.
    fn listen_to_page(&self) {
        let global: EventTarget = js_sys::global().unchecked_into();
        let mut events = Vec::new();
        let on_online = self.page_handler(|client| client.state() == AuthState::Offline);
        let _ =
            global.add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref());
        events.push((global.clone(), "online", on_online));
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            let on_visible = self.page_handler(|_| {
                web_sys::window()
                    .and_then(|w| w.document())
                    .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
            });
            let target: EventTarget = document.into();
            let _ = target.add_event_listener_with_callback(
                "visibilitychange",
                on_visible.as_ref().unchecked_ref(),
            );
            events.push((target, "visibilitychange", on_visible));
        }
        *self.inner.page_events.borrow_mut() = events;
    }

    /// A listener that refreshes when `worth_it` says so and the token is due (or the client is
    /// offline, where the retry is the point).
    fn page_handler(
        &self,
        worth_it: impl Fn(&AuthClient) -> bool + 'static,
    ) -> Closure<dyn FnMut()> {
        let weak = Rc::downgrade(&self.inner);
        Closure::<dyn FnMut()>::new(move || {
            let Some(inner) = weak.upgrade() else { return };
            let client = AuthClient { inner };
            if !worth_it(&client) {
                return;
            }
            let standing = client.inner.session.borrow().as_ref().map(|s| {
                freshness(
                    s.issued_at as f64,
                    s.expires_at as f64,
                    client.inner.clock.now(),
                )
            });
            let offline = client.state() == AuthState::Offline;
            if matches!(standing, Some(Freshness::Due | Freshness::Expired))
                || (offline && standing.is_some())
            {
                spawn_local(async move {
                    let _ = client.refresh().await;
                });
            }
        })
    }
}

/// Unsubscribes its listener when dropped.
#[must_use = "dropping the subscription unsubscribes at once"]
pub struct Subscription {
    client: Weak<Inner>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.client.upgrade() {
            inner
                .listeners
                .borrow_mut()
                .retain(|(id, _)| *id != self.id);
        }
    }
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

/// Whether a refresh was refused because this client's device key is not the session's (it was
/// lost and replaced): the session cannot be recovered, so it ends here.
fn refused_key(error: &Error) -> bool {
    matches!(
        error,
        Error::Server {
            code: ErrorCode::InvalidDpopProof | ErrorCode::DpopRequired,
            ..
        }
    )
}

/// Whether a 401 is about the token (RFC 6750 `error="invalid_token"`), rather than the app's own
/// 401 for something else.
fn says_invalid_token(response: &Response) -> bool {
    response
        .headers()
        .get("www-authenticate")
        .ok()
        .flatten()
        .is_some_and(|value| value.contains("invalid_token"))
}

/// Errors cross the shared refresh promise as JS values; these carry them through intact.
fn to_carrier(error: Error) -> JsValue {
    crate::js::error_to_js(&error)
}

fn from_carrier(value: JsValue) -> Error {
    crate::js::error_from_js(&value)
}
