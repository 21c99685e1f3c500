//! Keyward's auth server: an axum router you run standalone (`keyward serve`) or nest into your
//! own axum app, with an extractor ([`AuthUser`]) that protects your routes by verifying
//! Keyward's access tokens locally.
//!
//! ```no_run
//! use axum::{Router, extract::FromRef, routing::get, serve::ListenerExt};
//! use keyward_server::{AuthUser, Keyward, Settings};
//!
//! #[derive(Clone)]
//! struct App {
//!     keyward: Keyward,
//! }
//!
//! impl FromRef<App> for Keyward {
//!     fn from_ref(app: &App) -> Keyward {
//!         app.keyward.clone()
//!     }
//! }
//!
//! async fn todos(user: AuthUser) -> String {
//!     format!("the todos of {}", user.user_id)
//! }
//!
//! # async fn run() -> Result<(), keyward_server::Error> {
//! let keyward = Keyward::start(Settings {
//!     database_url: "sqlite://keyward.db".into(),
//!     ..Settings::default()
//! })
//! .await?;
//! let app = Router::new()
//!     .route("/api/todos", get(todos))
//!     .with_state(App { keyward: keyward.clone() })
//!     .merge(keyward.router()); // /auth/…, /.well-known/jwks.json, /healthz
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8787")
//!     .await?
//!     .tap_io(|tcp| drop(tcp.set_nodelay(true))); // no delayed-ACK stalls
//! // The peer's address is what rate limits and lockouts count by (behind a proxy, list it in
//! // `Settings::trusted_proxies`): serve with connect info.
//! let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! | feature | |
//! |---|---|
//! | email + password | argon2id (19 MiB, t=2, p=1) on a bounded blocking pool; equal timing for unknown emails; old hashes upgraded at sign-in |
//! | tokens | ES256 access tokens (`kid`, `typ: at+jwt`), JWKS; opaque rotating refresh tokens with a grace window and reuse detection |
//! | sessions | list, revoke one / others / all; idle timeout, lifetime, per-user limit; revoked tokens refused at once |
//! | connect tickets | single-use, 30 s tickets bound to a session and a URL, for WebSockets and EventSource (which cannot send headers): [`Keyward::redeem_connect_ticket`], or `POST /auth/connect-ticket/redeem` with a server key |
//! | sync servers | [`sync::SyncAuth`]: a WebSocket or EventSource authenticated with a connect ticket (or as a visitor, in mixed mode), its scopes by collection, and [`sync::Connection::ended`] when it must close (revoked, role changed, token expired) |
//! | resource servers | RFC 7662 introspection (`POST /auth/introspect`) with server keys ([`Keyward::create_server_key`], `keyward server-keys create`), forward auth for gateways (`GET /auth/forward`: nginx `auth_request`, Traefik, Caddy) |
//! | protection | per-IP and per-account rate limits shared through the database; lockout after 10 failures |
//! | storage | SQLite (embedded, WAL) or PostgreSQL (shared by any number of servers) |
//! | audit | append-only log of every sign-up, sign-in, refresh, reuse, sign-out, revocation, key rotation; kept `audit_retention` (365 days) |
//!
//! | cargo feature | |
//! |---|---|
//! | `cli` (default) | the `keyward` binary and [`cli`]: flags, `KEYWARD_*` variables, `keyward.toml`, logging. Turn default features off to compile the library alone |
//! | `oauth` (default) | sign-in with OpenID Connect and OAuth providers |
//! | `oidc-provider` (default) | Keyward as an OpenID Connect provider for your other apps (at run time with `Settings::oidc_provider`): clients (`/auth/admin/clients…`, `keyward clients …`), the code flow with its sign-in and consent pages, ID tokens, userinfo, `client_credentials` |
//!
//! Inside, three rooms with doors in one direction: `http` (axum: routes, extractors,
//! error → response) calls `domain` (the decisions), which calls `store` (SQLite or PostgreSQL
//! through sqlx).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

// Lets `testing.rs` name this crate the same way from unit tests and integration tests.
#[cfg(test)]
extern crate self as keyward_server;

#[cfg(feature = "cli")]
pub mod cli;
mod domain;
mod error;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod outbound;
mod runtime;
mod secrets;
mod settings;
mod store;
pub mod sync;
#[cfg(test)]
mod testing;

use std::sync::Arc;

pub use domain::hooks::{Claims, SignInAttempt};
pub use domain::orgs::{CustomRole, ROLES, Roles, permits};
pub use domain::tickets::TicketIdentity;
pub use domain::tokens::{AccessClaims, Confirmation};
pub use domain::{DeviceId, OrgId, ServerKeyId, SessionId, Timestamp, UserId};
pub use error::Error;
pub use http::check::CheckedRequest;
pub use http::extract::{AuthUser, Permission, RequirePermission};
pub use http::openapi_json;
pub use secrets::MasterSecret;
pub use settings::{
    ConfiguredWebhook, DatabaseKind, EmailVerification, ForwardedHeader, OAuthProvider, Settings,
    SignInHookSettings, SmtpUrl,
};
/// The store, for this crate's own integration tests only (`testing` feature): an app nesting
/// the router goes through the API, never around its checks.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use store::{AuditEventRow, MailRow, Store, TicketRow, UserRow};

use domain::Random;
use domain::audit::Client;
use domain::core::Core;
use domain::server_keys::KeyKind;

/// A running Keyward: database connected and migrated, signing key loaded, background upkeep
/// running. Cheap to clone (a handle); build it once at start-up.
#[derive(Clone, Debug)]
pub struct Keyward {
    core: Arc<Core>,
    /// The app's check of requests to its routes, if it registered one.
    check: Option<http::check::RequestCheck>,
}

impl Keyward {
    /// Validates `settings`, connects to the database (creating an SQLite file when missing),
    /// applies pending migrations, loads the signing keys (making the first on first start),
    /// and starts the background upkeep (revocations from other servers, key reloads, purging
    /// ended sessions). Must be called inside a tokio runtime.
    pub async fn start(settings: Settings) -> Result<Self, Error> {
        Self::start_reading_every(settings, domain::revocation::SYNC_INTERVAL).await
    }

    /// Keyward for one command of the `keyward` CLI: started as [`Keyward::start`] is, without
    /// the background work (upkeep, the mail and webhook senders), which the running server does:
    /// a command that exits at once would claim mails and deliveries only to drop them.
    #[cfg(feature = "cli")]
    pub(crate) async fn start_for_command(settings: Settings) -> Result<Self, Error> {
        let core = runtime::start(settings).await?;
        Ok(Self { core, check: None })
    }

    async fn start_reading_every(
        settings: Settings,
        interval: std::time::Duration,
    ) -> Result<Self, Error> {
        let core = runtime::start(settings).await?;
        runtime::spawn_upkeep(&core, interval);
        runtime::mailer::spawn(&core)?;
        runtime::webhooks::spawn(&core)?;
        Ok(Self { core, check: None })
    }

    /// [`Keyward::start`], reading revocations from the database every `interval` instead of
    /// every second (this crate's integration tests: so that a revocation learned sooner can
    /// only have come from the database's notification).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub async fn start_polling_every(
        settings: Settings,
        interval: std::time::Duration,
    ) -> Result<Self, Error> {
        Self::start_reading_every(settings, interval).await
    }

    /// Runs `check` on every request to your app's routes that takes an [`AuthUser`] (or a
    /// [`RequirePermission`]), once its token is verified, with the user and the request: an
    /// external status check, an IP allow-list. `Err(reason)` refuses the request with
    /// `forbidden` (403) and `reason` as the message your client shows. Keyward's own routes
    /// (`/auth/…`) never run it, so a user it refuses can still sign out and manage their
    /// account. Register it before handing `Keyward` to your router's state:
    ///
    /// ```no_run
    /// # async fn demo(keyward: keyward_server::Keyward) {
    /// let keyward = keyward.with_request_check(|request| async move {
    ///     match request.ip {
    ///         Some(ip) if ip.is_loopback() => Ok(()),
    ///         _ => Err("This API is only open to the office network.".to_owned()),
    ///     }
    /// });
    /// # }
    /// ```
    pub fn with_request_check<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(CheckedRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.check = Some(http::check::RequestCheck::new(check));
        self
    }

    /// Runs `hook` before every session starts (a sign-in by any method, a sign-up, a second
    /// factor's completion), outside the database transaction that makes it: `Err(reason)`
    /// refuses the sign-in with `forbidden` (403) and `reason` as the message the user is shown,
    /// and nothing is made (for a sign-up, no account); `Ok(claims)` lets it through, with
    /// `claims` in every access token of the session under `ext` (at most 1 KB of JSON; more
    /// refuses the sign-in as `unavailable`, and is logged). It applies to every handle of this
    /// server (registering again replaces it); an HTTP hook from the settings runs after it.
    ///
    /// ```no_run
    /// # async fn demo(keyward: keyward_server::Keyward) {
    /// let keyward = keyward.with_sign_in_hook(|attempt| async move {
    ///     if attempt.email.ends_with("@blocked.example") {
    ///         return Err("This address may not sign in here.".to_owned());
    ///     }
    ///     let mut claims = keyward_server::Claims::new();
    ///     claims.insert("plan".into(), "pro".into());
    ///     Ok(claims)
    /// });
    /// # }
    /// ```
    pub fn with_sign_in_hook<F, Fut>(self, hook: F) -> Self
    where
        F: Fn(SignInAttempt) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Claims, String>> + Send + 'static,
    {
        self.core
            .set_sign_in_hook(domain::hooks::SignInHook::new(hook));
        self
    }

    pub(crate) fn request_check(&self) -> Option<&http::check::RequestCheck> {
        self.check.as_ref()
    }

    /// The axum router: `/auth/…`, `/.well-known/jwks.json`, `/healthz`, `/auth/openapi.json`,
    /// and the static directory when one is configured.
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// The store this instance uses (this crate's integration tests only).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn store(&self) -> &Store {
        &self.core.store
    }

    /// The settings this instance was started with.
    pub fn settings(&self) -> &Settings {
        &self.core.settings
    }

    /// Makes a new signing key; the old one keeps verifying until its tokens have expired.
    /// Returns the new key's id.
    #[allow(clippy::disallowed_methods)] // an edge: the embedding app calls it
    pub async fn rotate_signing_key(&self) -> Result<String, Error> {
        self.core
            .rotate_keys(Timestamp::now(), &Random::os(), &Client::default())
            .await
    }

    /// Verifies an access token as [`AuthUser`] does, for code outside axum (a WebSocket
    /// handshake, a sync server): signature, `iss`, `aud`, expiry, revocation. A token bound to
    /// a device key (`cnf`) is refused with `dpop_required`: it is only good with a proof by
    /// that key, so check it with [`Keyward::verify_access_token_with_proof`].
    #[allow(clippy::disallowed_methods)] // an edge: the embedding app calls it
    pub async fn verify_access_token(&self, token: &str) -> Result<Arc<AccessClaims>, Error> {
        let now = Timestamp::now();
        let claims = self.core.verify_access(token, now).await?;
        self.core
            .check_binding(claims.cnf.as_ref(), token, None, now)
            .await?;
        Ok(claims)
    }

    /// Verifies an access token with the DPoP proof (RFC 9449) that came with it, for a request
    /// `method` `url` (the URL as the client addressed it, without query): everything
    /// [`Keyward::verify_access_token`] checks, and for a device-bound token that `proof` is by
    /// its key, for this request, fresh, naming this token (`ath`), and never used before. A
    /// token that is not bound passes without looking at the proof.
    #[allow(clippy::disallowed_methods)] // an edge: the embedding app calls it
    pub async fn verify_access_token_with_proof(
        &self,
        token: &str,
        proof: &str,
        method: &str,
        url: &str,
    ) -> Result<Arc<AccessClaims>, Error> {
        let now = Timestamp::now();
        let claims = self.core.verify_access(token, now).await?;
        let request = domain::dpop::Request {
            proof: Some(proof.to_owned()),
            method: method.to_owned(),
            url: url.to_owned(),
        };
        self.core
            .check_binding(claims.cnf.as_ref(), token, Some(&request), now)
            .await?;
        Ok(claims)
    }

    /// Redeems a connect ticket (`kwt_…`, from `POST /auth/connect-ticket`) for a WebSocket or
    /// EventSource this app serves at `url`: the URL as the client addressed it, for instance
    /// `wss://sync.example.com/ws` (the query and fragment do not count). Call it before
    /// upgrading the connection. A ticket that is found is used up whatever the outcome, so of
    /// two redemptions of one ticket (even at once, on servers sharing a PostgreSQL) at most one
    /// succeeds. On SQLite, which one server process serves, tickets are kept in the memory of
    /// the process that issued them: only it redeems them, and a restart forgets those not yet
    /// used.
    ///
    /// Refused with `invalid_ticket` (answered 401 by the error's `IntoResponse`) when the
    /// ticket is unknown, used, 30 seconds old, issued for another URL, or its session has
    /// ended (signed out, revoked, its user deleted); which one is not said. A `url` no ticket
    /// can be issued for (not `ws`, `wss`, `http` or `https` with a host name or IPv4 address
    /// and visible ASCII only: see `POST /auth/connect-ticket`) is `invalid_request`, and leaves
    /// the ticket unused.
    ///
    /// ```no_run
    /// # async fn run(keyward: keyward_server::Keyward, ticket: &str) -> Result<(), keyward_server::Error> {
    /// let who = keyward
    ///     .redeem_connect_ticket(ticket, "wss://sync.example.com/ws")
    ///     .await?;
    /// println!("{} connected (session {})", who.user_id, who.session_id);
    /// # Ok(()) }
    /// ```
    #[allow(clippy::disallowed_methods)] // an edge: the embedding app calls it
    pub async fn redeem_connect_ticket(
        &self,
        ticket: &str,
        url: &str,
    ) -> Result<TicketIdentity, Error> {
        domain::tickets::redeem(&self.core, ticket, url, Timestamp::now()).await
    }

    /// Makes a server key named `name` (which resource server uses it), for `POST
    /// /auth/introspect` and `POST /auth/connect-ticket/redeem`. Returns its id and the key
    /// (`kws_…`), which is not kept: show it once.
    #[allow(clippy::disallowed_methods)] // an edge: the embedding app or the CLI calls it
    pub async fn create_server_key(&self, name: &str) -> Result<(ServerKeyId, String), Error> {
        self.create_key(KeyKind::Server, name).await
    }

    /// Makes an admin key named `name` (who uses it), for the admin API (`/auth/admin/…`) and
    /// introspection. Returns its id and the key (`kwa_…`), which is not kept: show it once.
    pub async fn create_admin_key(&self, name: &str) -> Result<(ServerKeyId, String), Error> {
        self.create_key(KeyKind::Admin, name).await
    }

    #[allow(clippy::disallowed_methods)] // an edge: the embedding app or the CLI calls it
    async fn create_key(&self, kind: KeyKind, name: &str) -> Result<(ServerKeyId, String), Error> {
        let (row, key) = domain::server_keys::create(
            &self.core,
            kind,
            name,
            Timestamp::now(),
            &Random::os(),
            &Client::default(),
        )
        .await?;
        Ok((row.id, key))
    }

    /// Revokes a server key: refused from the next request on. `false` when there is no such
    /// live key.
    pub async fn revoke_server_key(&self, id: &ServerKeyId) -> Result<bool, Error> {
        self.revoke_key(KeyKind::Server, id).await
    }

    /// Revokes an admin key: refused from the next request on. `false` when there is no such
    /// live key.
    pub async fn revoke_admin_key(&self, id: &ServerKeyId) -> Result<bool, Error> {
        self.revoke_key(KeyKind::Admin, id).await
    }

    #[allow(clippy::disallowed_methods)] // an edge: the embedding app or the CLI calls it
    async fn revoke_key(&self, kind: KeyKind, id: &ServerKeyId) -> Result<bool, Error> {
        domain::server_keys::revoke(&self.core, kind, id, Timestamp::now(), &Client::default())
            .await
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// Stops this instance's background work and closes its database, once the HTTP server has
    /// stopped (`keyward serve` calls it on SIGTERM or Ctrl-C). The webhook endpoints it was
    /// sending to are given back first, so another server sharing the database takes them over
    /// at once rather than when their hold runs out a minute later.
    pub async fn shutdown(&self) {
        self.core
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        runtime::webhooks::release_holds(&self.core).await;
        self.core.store.close().await;
    }
}
