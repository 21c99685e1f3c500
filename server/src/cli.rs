//! The `keyward` command line. Every setting comes from a flag, else a `KEYWARD_*` environment
//! variable, else `keyward.toml` (or the file `--config` names), else its default. The master
//! secret is never a flag (flags show up in `ps`): it comes from `KEYWARD_SECRET` or a file
//! (`--secret-file`); nor is the sign-in hook's (`KEYWARD_SIGN_IN_HOOK_SECRET`, or the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use serde::Deserialize;

use crate::domain::admin;
use crate::domain::audit::Client;
use crate::domain::server_keys::KeyKind;
use crate::secrets::MasterSecret;
use crate::settings::{ConfiguredWebhook, OAuthProvider, SignInHookSettings, SmtpUrl};
use crate::store::Store;
use crate::{
    EmailVerification, Error, ForwardedHeader, Keyward, OrgId, ServerKeyId, Settings, Timestamp,
    UserId,
};

/// Keyward: authentication for web apps.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `keyward` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the auth server.
    Serve(SettingsArgs),
    /// Apply pending database migrations, then exit.
    Migrate(SettingsArgs),
    /// Manage the token signing keys.
    Keys {
        /// What to do with them.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage the keys of resource servers (sync servers, APIs in other languages): they
    /// introspect tokens and redeem connect tickets.
    #[command(name = "server-keys")]
    ServerKeys {
        /// What to do with them.
        #[command(subcommand)]
        action: ServerKeysAction,
    },
    /// Manage the admin API's keys (`/auth/admin/…`).
    #[command(name = "admin-keys")]
    AdminKeys {
        /// What to do with them.
        #[command(subcommand)]
        action: ServerKeysAction,
    },
    /// Look at users, disable, enable or delete them, end their sessions, mail them a password
    /// reset.
    Users {
        /// What to do.
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Manage webhook endpoints: add (the secret is printed once), list, delete, enable, see
    /// and resend deliveries.
    Webhooks {
        /// What to do.
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// Manage the apps that sign their users in through Keyward as an OpenID Connect provider:
    /// register (a confidential client's secret is printed once), list, change, rotate a
    /// secret, delete.
    #[cfg(feature = "oidc-provider")]
    Clients {
        /// What to do.
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// Print the newest mails of the outbox (in development, where no SMTP server is set, mail
    /// goes only there), with their links.
    Outbox {
        /// How many.
        #[arg(long, default_value_t = 10)]
        limit: i64,
        /// Settings (the database to read).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Print recent audit events, newest first.
    Audit {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only this user's events.
        #[arg(long, value_name = "USER_ID")]
        user: Option<String>,
        /// Only events of this kind (`sign_in`, `admin_disabled_user`, …).
        #[arg(long)]
        kind: Option<String>,
        /// Only events at or after this time (RFC 3339, such as 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Settings (the database to read).
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

/// `keyward keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Make a new signing key. The old key keeps verifying (and stays in the JWKS) until the
    /// tokens it signed have expired; running servers pick the new key up within 30 seconds.
    Rotate(SettingsArgs),
}

/// A client's registration, as `keyward clients create` and `update` take it.
#[cfg(feature = "oidc-provider")]
#[derive(Debug, Default, clap::Args)]
pub struct ClientArgs {
    /// Shown to users on the consent page.
    #[arg(long)]
    pub name: Option<String>,
    /// Where sign-ins may return to, exactly (repeat for more).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser, exactly (repeat for more).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A scope it may ask for (repeat for more) [default: openid, email, profile].
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// A grant: authorization_code, refresh_token, client_credentials (repeat for more)
    /// [default: authorization_code and refresh_token].
    #[arg(long = "grant", value_name = "GRANT")]
    pub grant_types: Vec<String>,
    /// The API its access tokens are for (their `aud`; needed with client_credentials).
    #[arg(long, value_name = "AUDIENCE")]
    pub client_audience: Option<String>,
    /// Never ask users to consent (a first-party app).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub skip_consent: Option<bool>,
}

/// `keyward clients …`: the admin API's client operations, on the server's database.
#[cfg(feature = "oidc-provider")]
#[derive(Debug, Subcommand)]
pub enum ClientsAction {
    /// Register a client, and print a confidential client's secret, once.
    Create {
        /// `confidential` (a server-side app, with a secret) or `public` (a browser or native
        /// app, with PKCE).
        #[arg(long = "type", value_name = "TYPE")]
        kind: String,
        /// The registration.
        #[command(flatten)]
        client: ClientArgs,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// List the clients.
    List(SettingsArgs),
    /// Change a client: what is given replaces what it had (every `--redirect-uri` given
    /// replaces all of them), the rest stays.
    Update {
        /// The client's `client_id`.
        id: String,
        /// What changes.
        #[command(flatten)]
        client: ClientArgs,
        /// It has no audience any more.
        #[arg(long, conflicts_with = "client_audience")]
        no_client_audience: bool,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Give a confidential client a new secret, printed once; the previous one is accepted for
    /// a day more, unless `--now`.
    RotateSecret {
        /// The client's `client_id`.
        id: String,
        /// Refuse the previous secret at once (it leaked).
        #[arg(long)]
        now: bool,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Delete a client.
    Delete {
        /// The client's `client_id`.
        id: String,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

/// `keyward server-keys …`.
#[derive(Debug, Subcommand)]
pub enum ServerKeysAction {
    /// Make a key and print it, once (it is stored hashed).
    Create {
        /// Which server uses it.
        #[arg(long)]
        name: String,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// List the keys (never the keys themselves).
    List(SettingsArgs),
    /// Revoke a key: refused from the next request on.
    Revoke {
        /// The key's id (from `list`).
        id: String,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

/// `keyward webhooks …`: the admin API's webhook operations, on the server's database.
#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// Add an endpoint and print its signing secret, once.
    Create {
        /// Where events are posted (https; http outside production).
        url: String,
        /// The event types it takes, comma-separated [default: every type].
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<String>>,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// List the endpoints.
    List(SettingsArgs),
    /// Change an endpoint's URL or event types; what is not given stays.
    Update {
        /// The endpoint's id.
        id: String,
        /// Where events are posted from now on.
        #[arg(long)]
        url: Option<String>,
        /// The event types it takes from now on, comma-separated.
        #[arg(long, value_delimiter = ',', conflicts_with = "all_events")]
        events: Option<Vec<String>>,
        /// It takes every event type from now on.
        #[arg(long)]
        all_events: bool,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Queue a `webhook.test` message for an endpoint alone (whatever types it takes).
    Test {
        /// The endpoint's id.
        id: String,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Delete an endpoint with its deliveries.
    Delete {
        /// The endpoint's id.
        id: String,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Enable an endpoint that was disabled (it answered 410 Gone).
    Enable {
        /// The endpoint's id.
        id: String,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Give an endpoint a new secret, printed once; the previous one signs too for a day.
    RotateSecret {
        /// The endpoint's id.
        id: String,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Print an endpoint's newest deliveries.
    Deliveries {
        /// The endpoint's id.
        id: String,
        /// How many (1 to 200).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only those with this status: pending, delivered or failed.
        #[arg(long)]
        status: Option<String>,
        /// Settings (the database to read).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Send a delivery again.
    Redeliver {
        /// The endpoint's id.
        id: String,
        /// The delivery's id (from `deliveries`).
        delivery: i64,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

/// `keyward users …`: the admin API's user operations, on the server's database.
#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// List users, oldest first, a page at a time.
    List {
        /// Only users whose address or name starts with this (any case).
        #[arg(long)]
        query: Option<String>,
        /// Only users made at or after this time (RFC 3339, such as 2026-12-01T00:00:00Z).
        #[arg(long)]
        created_since: Option<String>,
        /// Only users made before this time (RFC 3339).
        #[arg(long)]
        created_before: Option<String>,
        /// How many (1 to 200).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Where to start: the `next page` cursor the previous page printed.
        #[arg(long)]
        cursor: Option<String>,
        /// Settings (the database to read).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Print one user with their sessions, devices, passkeys, linked providers and
    /// organizations (JSON, as `GET /auth/admin/users/{id}` answers).
    Show {
        /// The user's id.
        id: String,
        /// Settings (the database to read).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// End every session of a user: their tokens are refused from the next request on.
    EndSessions {
        /// The user's id.
        id: String,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Disable an account: it cannot sign in, and its sessions end at once.
    Disable {
        /// The user's id.
        id: String,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Let a disabled account sign in again.
    Enable {
        /// The user's id.
        id: String,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Delete an account with its data (sessions, devices, passkeys, linked providers, second
    /// factors, memberships, and the organizations it alone is in). Cannot be undone.
    Delete {
        /// The user's id.
        id: String,
        /// Delete without asking: needed, as a deletion cannot be undone.
        #[arg(long)]
        yes: bool,
        /// Settings (the database to write).
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Mail a user a password reset link (nobody else ever sets their password).
    PasswordReset {
        /// The user's id.
        id: String,
        /// Settings (the database to write, and the mail settings).
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// `x-forwarded-for` or `forwarded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeaderArg {
    /// `X-Forwarded-For`.
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    Forwarded,
}

impl From<ForwardedHeaderArg> for ForwardedHeader {
    fn from(arg: ForwardedHeaderArg) -> Self {
        match arg {
            ForwardedHeaderArg::XForwardedFor => Self::XForwardedFor,
            ForwardedHeaderArg::Forwarded => Self::Forwarded,
        }
    }
}

/// `development` or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// Generated secret, http issuer allowed.
    Development,
    /// Strict: see `--production`.
    Production,
}

/// Settings given on the command line or in the environment. Unset ones fall back to the
/// configuration file, then to the defaults. Durations read like `10s`, `15m`, `7d`.
#[derive(Debug, Default, Args)]
pub struct SettingsArgs {
    /// A TOML file with the same settings (keys are the flag names with `_`).
    #[arg(long, env = "KEYWARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, env = "KEYWARD_BIND")]
    pub bind: Option<SocketAddr>,
    /// `sqlite://file.db` (created when missing) or `postgres://…` [default: sqlite://keyward.db].
    #[arg(long, env = "KEYWARD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// The server's public URL, the `iss` of its tokens [default: http://localhost:8787].
    #[arg(long, env = "KEYWARD_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,
    /// The `aud` of its tokens [default: the issuer].
    #[arg(long, env = "KEYWARD_AUDIENCE")]
    pub audience: Option<String>,
    /// Production mode: refuses an http issuer, a missing or short secret, wildcard origins.
    #[arg(long)]
    pub production: bool,
    /// `production` is the same as `--production`.
    #[arg(long = "env", env = "KEYWARD_ENV", value_enum, value_name = "ENV")]
    pub environment: Option<Environment>,
    /// A file holding the master secret (else `KEYWARD_SECRET`; in development one is generated).
    #[arg(long, env = "KEYWARD_SECRET_FILE", value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// Browser origins allowed to call the API, comma-separated [default: the issuer's origin].
    #[arg(
        long,
        env = "KEYWARD_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub allowed_origins: Option<Vec<String>>,
    /// Access-token lifetime [default: 15m].
    #[arg(long, env = "KEYWARD_ACCESS_TTL", value_parser = humantime::parse_duration)]
    pub access_ttl: Option<Duration>,
    /// Session lifetime: no refresh after this long since sign-in [default: 30d].
    #[arg(long, env = "KEYWARD_REFRESH_TTL", value_parser = humantime::parse_duration)]
    pub refresh_ttl: Option<Duration>,
    /// A session not refreshed for this long ends [default: 15d].
    #[arg(long, env = "KEYWARD_SESSION_IDLE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub session_idle_timeout: Option<Duration>,
    /// A used refresh token presented again within this gets the same successor [default: 10s].
    #[arg(long, env = "KEYWARD_REFRESH_GRACE", value_parser = humantime::parse_duration)]
    pub refresh_grace: Option<Duration>,
    /// How recent a sign-in must be to add or remove a passkey [default: 10m].
    #[arg(long, env = "KEYWARD_RECENT_AUTH", value_parser = humantime::parse_duration)]
    pub recent_auth: Option<Duration>,
    /// How long audit events are kept [default: 365d].
    #[arg(long, env = "KEYWARD_AUDIT_RETENTION", value_parser = humantime::parse_duration)]
    pub audit_retention: Option<Duration>,
    /// Sessions per user; beyond it the oldest is signed out [default: 50].
    #[arg(long, env = "KEYWARD_MAX_SESSIONS")]
    pub max_sessions: Option<u32>,
    /// Per-IP and per-account rate limits; `off` only for load tests [default: on].
    #[arg(long, env = "KEYWARD_RATE_LIMITS", value_enum)]
    pub rate_limits: Option<Switch>,
    /// Refuse sessions not bound to a device key (DPoP) [default: off].
    #[arg(long, env = "KEYWARD_REQUIRE_DPOP", value_enum)]
    pub require_dpop: Option<Switch>,
    /// Ask DPoP clients for server nonces (RFC 9449 §8) [default: off].
    #[arg(long, env = "KEYWARD_DPOP_NONCE", value_enum)]
    pub dpop_nonce: Option<Switch>,
    /// Keyward as an OpenID Connect provider for your other apps: its protocol endpoints
    /// (`/auth/oidc/…`) [default: off].
    #[arg(long, env = "KEYWARD_OIDC_PROVIDER", value_enum)]
    pub oidc_provider: Option<Switch>,
    /// Your app's sign-in page (a path on the issuer's origin) for users another app sends to
    /// Keyward [default: Keyward's own page, password and authenticator code].
    #[arg(long, env = "KEYWARD_OIDC_SIGN_IN_PAGE", value_name = "PATH")]
    pub oidc_sign_in_page: Option<String>,
    /// The organization (id) whose members with `keyward:admin` may use the admin API with
    /// their sessions [default: none, admin keys only].
    #[arg(long, env = "KEYWARD_ADMIN_ORG", value_name = "ORG_ID")]
    pub admin_org: Option<String>,
    /// Dangerous: deliver webhooks to private and loopback addresses too (tests, private
    /// networks) [default: false].
    #[arg(long, env = "KEYWARD_WEBHOOK_ALLOW_PRIVATE", value_name = "BOOL")]
    pub webhook_allow_private: Option<bool>,
    /// An HTTP service asked before every sign-in: it may refuse it or add claims [default:
    /// none].
    #[arg(long, env = "KEYWARD_SIGN_IN_HOOK_URL", value_name = "URL")]
    pub sign_in_hook_url: Option<String>,
    /// The Standard Webhooks secret (`whsec_…`) the hook's requests are signed with: from
    /// `KEYWARD_SIGN_IN_HOOK_SECRET` or the configuration file, never a flag (flags show up in
    /// `ps`).
    #[arg(skip = std::env::var("KEYWARD_SIGN_IN_HOOK_SECRET").ok().filter(|s| !s.is_empty()))]
    pub sign_in_hook_secret: Option<String>,
    /// How long the hook has to answer [default: 5s].
    #[arg(long, env = "KEYWARD_SIGN_IN_HOOK_TIMEOUT", value_parser = humantime::parse_duration)]
    pub sign_in_hook_timeout: Option<Duration>,
    /// Dangerous: when the hook fails, let the sign-in through without it [default: false,
    /// a failure refuses the sign-in].
    #[arg(long, env = "KEYWARD_SIGN_IN_HOOK_FAIL_OPEN", value_name = "BOOL")]
    pub sign_in_hook_fail_open: Option<bool>,
    /// The WebAuthn relying party id, a domain [default: the issuer's host].
    #[arg(long, env = "KEYWARD_RP_ID")]
    pub rp_id: Option<String>,
    /// Origins passkeys are used from, comma-separated [default: the allowed origins].
    #[arg(
        long,
        env = "KEYWARD_RP_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub rp_origins: Option<Vec<String>>,
    /// Proxies whose forwarding header is believed, comma-separated CIDRs (`10.0.0.0/8`,
    /// `::1/128`) [default: none].
    #[arg(
        long,
        env = "KEYWARD_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDRS",
        value_parser = parse_cidr
    )]
    pub trusted_proxies: Option<Vec<IpNet>>,
    /// The header those proxies write the client's address in [default: x-forwarded-for].
    #[arg(long, env = "KEYWARD_FORWARDED_HEADER", value_enum)]
    pub forwarded_header: Option<ForwardedHeaderArg>,
    /// Serve the static files in this directory at `/` (the demo app).
    #[arg(long, env = "KEYWARD_STATIC_DIR", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
    /// Where mail goes: `smtp://host:587?tls=required` (STARTTLS) or `smtps://host:465` (TLS),
    /// with `user:password@` when needed [default: none; development mail stays in the outbox].
    #[arg(long, env = "KEYWARD_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,
    /// The `From` of every mail [default: `<app name> <no-reply@<issuer host>>`].
    #[arg(long, env = "KEYWARD_MAIL_FROM", value_name = "MAILBOX")]
    pub mail_from: Option<String>,
    /// The app's page emailed links open [default: the first allowed origin].
    #[arg(long, env = "KEYWARD_APP_URL", value_name = "URL")]
    pub app_url: Option<String>,
    /// The app's name in mails [default: the issuer's host].
    #[arg(long, env = "KEYWARD_APP_NAME")]
    pub app_name: Option<String>,
    /// A directory of mail templates replacing the built-in ones (`<kind>.subject`, `.txt`,
    /// `.html`).
    #[arg(long, env = "KEYWARD_MAIL_TEMPLATES", value_name = "DIR")]
    pub mail_templates: Option<PathBuf>,
    /// Check new accounts' addresses: off, optional, or required before any sign-in
    /// [default: optional].
    #[arg(long, env = "KEYWARD_EMAIL_VERIFICATION", value_enum)]
    pub email_verification: Option<EmailVerificationArg>,
}

/// `--email-verification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailVerificationArg {
    /// No verification mail.
    Off,
    /// A mail at sign-up; nothing waits for it.
    Optional,
    /// No sign-in before the link is followed.
    Required,
}

impl From<EmailVerificationArg> for EmailVerification {
    fn from(arg: EmailVerificationArg) -> Self {
        match arg {
            EmailVerificationArg::Off => Self::Off,
            EmailVerificationArg::Optional => Self::Optional,
            EmailVerificationArg::Required => Self::Required,
        }
    }
}

/// The configuration file's shape: every key optional, unknown keys refused (a typo should not
/// silently leave a default in place).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    bind: Option<SocketAddr>,
    database_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    production: Option<bool>,
    secret_file: Option<PathBuf>,
    allowed_origins: Option<Vec<String>>,
    access_ttl: Option<String>,
    refresh_ttl: Option<String>,
    session_idle_timeout: Option<String>,
    refresh_grace: Option<String>,
    recent_auth: Option<String>,
    audit_retention: Option<String>,
    max_sessions: Option<u32>,
    rate_limits: Option<Switch>,
    require_dpop: Option<Switch>,
    dpop_nonce: Option<Switch>,
    oidc_provider: Option<Switch>,
    oidc_sign_in_page: Option<String>,
    admin_org: Option<String>,
    webhook_allow_private: Option<bool>,
    sign_in_hook_url: Option<String>,
    sign_in_hook_secret: Option<String>,
    sign_in_hook_timeout: Option<String>,
    sign_in_hook_fail_open: Option<bool>,
    rp_id: Option<String>,
    rp_origins: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    forwarded_header: Option<ForwardedHeaderArg>,
    static_dir: Option<PathBuf>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    app_url: Option<String>,
    app_name: Option<String>,
    mail_templates: Option<PathBuf>,
    email_verification: Option<EmailVerificationArg>,
    /// `[oauth.<id>]`: the sign-in providers.
    #[serde(default)]
    oauth: std::collections::BTreeMap<String, FileOAuth>,
    /// `[roles.<name>]`: the app's organization roles.
    #[serde(default)]
    roles: std::collections::BTreeMap<String, FileRole>,
    /// `[[webhooks]]`: webhook endpoints.
    #[serde(default)]
    webhooks: Vec<FileWebhook>,
}

/// One `[[webhooks]]` table: `url`, `secret` (`whsec_…`), `events` (every type when left out).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWebhook {
    url: String,
    secret: String,
    events: Option<Vec<String>>,
}

/// One `[roles.<name>]` table: `permissions = ["todos:*"]`, `inherits = "member"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRole {
    #[serde(default)]
    permissions: Vec<String>,
    inherits: Option<String>,
}

/// One `[oauth.<id>]` table of the configuration file (the environment's
/// `KEYWARD_OAUTH_<ID>_…` override it field by field).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOAuth {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_file: Option<String>,
    name: Option<String>,
}

const DEFAULT_CONFIG_FILE: &str = "keyward.toml";

impl SettingsArgs {
    /// Merges flags and environment over the configuration file over the defaults.
    pub fn resolve(self) -> Result<Settings, Error> {
        self.resolve_with_secret(std::env::var("KEYWARD_SECRET").ok())
    }

    fn resolve_with_secret(self, secret_env: Option<String>) -> Result<Settings, Error> {
        let file = match &self.config {
            Some(path) => read_config(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                read_config(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => FileSettings::default(),
        };
        self.resolve_over(file, secret_env)
    }

    fn resolve_over(
        self,
        file: FileSettings,
        secret_env: Option<String>,
    ) -> Result<Settings, Error> {
        let d = Settings::default();
        let duration = |flag: Option<Duration>, text: Option<String>, name, default| {
            flag.map_or_else(|| parse_duration(name, text, default), Ok)
        };
        let secret_file = self.secret_file.or(file.secret_file);
        let secret = match (secret_env.filter(|s| !s.is_empty()), secret_file) {
            (Some(secret), _) => Some(MasterSecret::new(secret.into_bytes())),
            (None, Some(path)) => Some(read_secret(&path)?),
            (None, None) => None,
        };
        let production = self.production
            || self.environment == Some(Environment::Production)
            || file.production == Some(true);
        Ok(Settings {
            bind: self.bind.or(file.bind).unwrap_or(d.bind),
            database_url: self
                .database_url
                .or(file.database_url)
                .unwrap_or(d.database_url),
            issuer: self.issuer.or(file.issuer).unwrap_or(d.issuer),
            audience: self.audience.or(file.audience),
            secret,
            production,
            allowed_origins: self
                .allowed_origins
                .or(file.allowed_origins)
                .unwrap_or(d.allowed_origins),
            access_ttl: duration(self.access_ttl, file.access_ttl, "access-ttl", d.access_ttl)?,
            refresh_ttl: duration(
                self.refresh_ttl,
                file.refresh_ttl,
                "refresh-ttl",
                d.refresh_ttl,
            )?,
            session_idle_timeout: duration(
                self.session_idle_timeout,
                file.session_idle_timeout,
                "session-idle-timeout",
                d.session_idle_timeout,
            )?,
            refresh_grace: duration(
                self.refresh_grace,
                file.refresh_grace,
                "refresh-grace",
                d.refresh_grace,
            )?,
            recent_auth: duration(
                self.recent_auth,
                file.recent_auth,
                "recent-auth",
                d.recent_auth,
            )?,
            audit_retention: duration(
                self.audit_retention,
                file.audit_retention,
                "audit-retention",
                d.audit_retention,
            )?,
            max_sessions_per_user: self
                .max_sessions
                .or(file.max_sessions)
                .unwrap_or(d.max_sessions_per_user),
            rate_limits: self
                .rate_limits
                .or(file.rate_limits)
                .map_or(d.rate_limits, |s| s == Switch::On),
            require_dpop: self
                .require_dpop
                .or(file.require_dpop)
                .map_or(d.require_dpop, |s| s == Switch::On),
            dpop_nonce: self
                .dpop_nonce
                .or(file.dpop_nonce)
                .map_or(d.dpop_nonce, |s| s == Switch::On),
            oidc_provider: self
                .oidc_provider
                .or(file.oidc_provider)
                .map_or(d.oidc_provider, |s| s == Switch::On),
            oidc_sign_in_page: self.oidc_sign_in_page.or(file.oidc_sign_in_page),
            admin_org: match self.admin_org.or(file.admin_org) {
                Some(id) if OrgId::parse(&id).is_none() => {
                    return Err(Error::Config {
                        setting: "admin-org",
                        reason: format!("`{id}` is not an organization's id"),
                    });
                }
                admin_org => admin_org,
            },
            webhook_allow_private: self
                .webhook_allow_private
                .or(file.webhook_allow_private)
                .unwrap_or(d.webhook_allow_private),
            sign_in_hook: match self.sign_in_hook_url.or(file.sign_in_hook_url) {
                None => None,
                Some(url) => {
                    let secret = self
                        .sign_in_hook_secret
                        .or(file.sign_in_hook_secret)
                        .ok_or_else(|| Error::Config {
                            setting: "sign-in-hook-secret",
                            reason: "the sign-in hook's requests are signed: set its secret \
                                     (whsec_…) with its URL"
                                .into(),
                        })?;
                    let defaults = SignInHookSettings::new(url, secret);
                    Some(SignInHookSettings {
                        timeout: duration(
                            self.sign_in_hook_timeout,
                            file.sign_in_hook_timeout,
                            "sign-in-hook-timeout",
                            defaults.timeout,
                        )?,
                        fail_open: self
                            .sign_in_hook_fail_open
                            .or(file.sign_in_hook_fail_open)
                            .unwrap_or(false),
                        ..defaults
                    })
                }
            },
            rp_id: self.rp_id.or(file.rp_id),
            rp_origins: self.rp_origins.or(file.rp_origins).unwrap_or(d.rp_origins),
            trusted_proxies: match (self.trusted_proxies, file.trusted_proxies) {
                (Some(flag), _) => flag,
                (None, Some(texts)) => texts
                    .iter()
                    .map(|text| {
                        parse_cidr(text).map_err(|reason| Error::Config {
                            setting: "trusted-proxies",
                            reason,
                        })
                    })
                    .collect::<Result<_, _>>()?,
                (None, None) => d.trusted_proxies,
            },
            forwarded_header: self
                .forwarded_header
                .or(file.forwarded_header)
                .map_or(d.forwarded_header, ForwardedHeader::from),
            static_dir: self.static_dir.or(file.static_dir).or(d.static_dir),
            smtp_url: self.smtp_url.or(file.smtp_url).map(SmtpUrl),
            mail_from: self.mail_from.or(file.mail_from),
            app_url: self.app_url.or(file.app_url),
            app_name: self.app_name.or(file.app_name),
            mail_templates: self.mail_templates.or(file.mail_templates),
            email_verification: self
                .email_verification
                .or(file.email_verification)
                .map_or(d.email_verification, EmailVerification::from),
            // `vars_os`: a variable that is not UTF-8 (none of ours) must not stop the server.
            oauth: oauth_providers(
                std::env::vars_os().filter_map(|(name, value)| {
                    Some((name.into_string().ok()?, value.into_string().ok()?))
                }),
                file.oauth,
            )?,
            roles: file
                .roles
                .into_iter()
                .map(|(name, role)| crate::domain::orgs::CustomRole {
                    name,
                    permissions: role.permissions,
                    inherits: role.inherits,
                })
                .collect(),
            webhooks: file
                .webhooks
                .into_iter()
                .map(|w| ConfiguredWebhook {
                    url: w.url,
                    secret: w.secret,
                    events: w.events,
                })
                .collect(),
        })
    }
}

/// The OpenID Connect providers named in the environment (`KEYWARD_OAUTH_<ID>_ISSUER`,
/// `…_CLIENT_ID`, `…_CLIENT_SECRET` or `…_CLIENT_SECRET_FILE`, `…_NAME`; `<ID>` lower-cased,
/// `_` as `-`, is the provider's id) and in the configuration file's `[oauth.<id>]` tables; the
/// environment wins field by field.
fn oauth_providers(
    vars: impl Iterator<Item = (String, String)>,
    file: std::collections::BTreeMap<String, FileOAuth>,
) -> Result<Vec<OAuthProvider>, Error> {
    let mut found = std::collections::BTreeMap::<String, [Option<String>; 5]>::new();
    for (id, table) in file {
        let fields = [
            table.issuer,
            table.client_id,
            table.client_secret,
            table.client_secret_file,
            table.name,
        ];
        found.insert(id, fields);
    }
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("KEYWARD_OAUTH_") else {
            continue;
        };
        let fields = [
            "_ISSUER",
            "_CLIENT_ID",
            "_CLIENT_SECRET",
            "_CLIENT_SECRET_FILE",
            "_NAME",
        ];
        // The longest suffix first: `_CLIENT_SECRET_FILE` is not a `_FILE`-named secret.
        let mut order: Vec<usize> = (0..fields.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(fields.get(i).map_or(0, |f| f.len())));
        for i in order {
            let Some(field) = fields.get(i) else { continue };
            if let Some(id) = rest.strip_suffix(field)
                && !id.is_empty()
            {
                let entry = found
                    .entry(id.to_ascii_lowercase().replace('_', "-"))
                    .or_default();
                if let Some(slot) = entry.get_mut(i) {
                    *slot = Some(value);
                }
                break;
            }
        }
    }
    found
        .into_iter()
        .map(|(id, [issuer, client_id, secret, secret_file, name])| {
            let missing = |what: &str| Error::Config {
                setting: "oauth",
                reason: format!(
                    "provider `{id}` needs KEYWARD_OAUTH_{}_{what} (or {} in [oauth.{id}])",
                    id.to_ascii_uppercase().replace('-', "_"),
                    what.to_ascii_lowercase()
                ),
            };
            let named = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
            if id.is_empty() || !id.chars().all(named) {
                return Err(Error::Config {
                    setting: "oauth",
                    reason: format!("`{id}`: a provider's id is lower-case letters, digits and -"),
                });
            }
            let client_secret = match (secret, secret_file) {
                (Some(secret), _) => secret,
                (None, Some(path)) => std::fs::read_to_string(&path)
                    .map(|text| text.trim().to_owned())
                    .map_err(|err| Error::Config {
                        setting: "oauth",
                        reason: format!("cannot read {path}: {err}"),
                    })?,
                (None, None) => return Err(missing("CLIENT_SECRET")),
            };
            let implied = OAuthProvider::implied_issuer(&id).map(str::to_owned);
            Ok(OAuthProvider {
                issuer: issuer.or(implied).ok_or_else(|| missing("ISSUER"))?,
                client_id: client_id.ok_or_else(|| missing("CLIENT_ID"))?,
                client_secret,
                name,
                id,
            })
        })
        .collect()
}

/// `10.0.0.0/8`, `2001:db8::/32`, or a single address (`192.0.2.1` is `192.0.2.1/32`).
fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not a CIDR like 10.0.0.0/8 or an IP address"))
}

fn parse_duration(
    setting: &'static str,
    text: Option<String>,
    default: Duration,
) -> Result<Duration, Error> {
    match text {
        None => Ok(default),
        Some(text) => humantime::parse_duration(&text).map_err(|err| Error::Config {
            setting,
            reason: format!("`{text}` is not a duration like 10s, 15m or 7d ({err})"),
        }),
    }
}

fn read_secret(path: &Path) -> Result<MasterSecret, Error> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::Config {
        setting: "secret-file",
        reason: format!("cannot read {}: {err}", path.display()),
    })?;
    Ok(MasterSecret::new(text.trim().as_bytes()))
}

fn read_config(path: &Path) -> Result<FileSettings, Error> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::Config {
        setting: "config",
        reason: format!("cannot read {}: {err}", path.display()),
    })?;
    parse_config(&text).map_err(|err| Error::Config {
        setting: "config",
        reason: format!("{}: {}", path.display(), err.message()),
    })
}

fn parse_config(text: &str) -> Result<FileSettings, toml::de::Error> {
    toml::from_str(text)
}

/// The settings a configuration file's `text` gives (with no flags or environment), validated:
/// what `keyward serve --config` would run with. For the fuzz target.
#[cfg(fuzzing)]
pub(crate) fn settings_from_config(text: &str) -> Result<Settings, Error> {
    let file = parse_config(text).map_err(|err| Error::Config {
        setting: "config",
        reason: err.message().to_owned(),
    })?;
    let settings = SettingsArgs::default().resolve_over(file, None)?;
    settings.validate()?;
    Ok(settings)
}

/// Parses the command line and runs it; what `main` calls.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("keyward: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keyward: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Serve(args) => serve(args.resolve()?).await,
        Command::Migrate(args) => {
            let store = open_store(args).await?;
            println!("migrations applied ({})", store.kind().as_str());
            store.close().await;
            Ok(())
        }
        Command::Keys {
            action: KeysAction::Rotate(args),
        } => {
            let keyward = Keyward::start_for_command(args.resolve()?).await?;
            let kid = keyward.rotate_signing_key().await?;
            println!("new signing key: {kid}");
            println!("the previous key keeps verifying until the tokens it signed have expired");
            keyward.core().store.close().await;
            Ok(())
        }
        Command::ServerKeys { action } => api_keys(KeyKind::Server, action).await,
        Command::AdminKeys { action } => api_keys(KeyKind::Admin, action).await,
        Command::Users { action } => users(action).await,
        Command::Webhooks { action } => webhooks(action).await,
        #[cfg(feature = "oidc-provider")]
        Command::Clients { action } => clients(action).await,
        Command::Outbox { limit, settings } => {
            let store = open_store(settings).await?;
            let mails = store.recent_mail(limit.clamp(1, 1000)).await?;
            for mail in mails.iter().rev() {
                println!(
                    "--- {}  {}  to {}  ({}, {} attempt(s){})",
                    Timestamp::from_millis(mail.created_at).to_rfc3339(),
                    mail.kind,
                    mail.to_address,
                    mail.status,
                    mail.attempts,
                    mail.last_error
                        .as_deref()
                        .map(|e| format!(", last error: {e}"))
                        .unwrap_or_default()
                );
                println!("Subject: {}\n\n{}", mail.subject, mail.text_body.trim_end());
            }
            println!("{} mail(s)", mails.len());
            store.close().await;
            Ok(())
        }
        Command::Audit {
            limit,
            user,
            kind,
            since,
            settings,
        } => {
            let user = match user.as_deref() {
                Some(text) => Some(UserId::parse(text).ok_or_else(|| Error::Config {
                    setting: "user",
                    reason: format!("`{text}` is not a user id (a UUID)"),
                })?),
                None => None,
            };
            let since = match since.as_deref() {
                Some(text) => {
                    Some(Timestamp::parse_rfc3339(text).ok_or_else(|| Error::Config {
                        setting: "since",
                        reason: format!("`{text}` is not an RFC 3339 time"),
                    })?)
                }
                None => None,
            };
            let store = open_store(settings).await?;
            let events = store
                .audit_page(
                    user.as_ref(),
                    kind.as_deref(),
                    since.map(Timestamp::millis),
                    None,
                    limit.clamp(1, 10_000),
                )
                .await?;
            for event in &events {
                println!(
                    "{:>6}  {}  {:<22}  user={}  session={}  ip={}  {}",
                    event.id,
                    Timestamp::from_millis(event.at).to_rfc3339(),
                    event.kind,
                    event.user_id.as_deref().unwrap_or("-"),
                    event.session_id.as_deref().unwrap_or("-"),
                    event.ip.as_deref().unwrap_or("-"),
                    event.detail.as_deref().unwrap_or("")
                );
            }
            store.close().await;
            Ok(())
        }
    }
}

/// What `keyward users …` does.
enum UsersOp {
    List {
        query: Option<String>,
        created: (Option<String>, Option<String>),
        limit: u32,
        cursor: Option<String>,
    },
    Show(String),
    EndSessions(String),
    Disable(String),
    Enable(String),
    Delete(String),
    PasswordReset(String),
}

/// `keyward users …`.
async fn users(action: UsersAction) -> Result<(), Error> {
    let (op, settings) = match action {
        UsersAction::List {
            query,
            created_since,
            created_before,
            limit,
            cursor,
            settings,
        } => (
            UsersOp::List {
                query,
                created: (created_since, created_before),
                limit,
                cursor,
            },
            settings,
        ),
        UsersAction::Show { id, settings } => (UsersOp::Show(id), settings),
        UsersAction::EndSessions { id, settings } => (UsersOp::EndSessions(id), settings),
        UsersAction::Disable { id, settings } => (UsersOp::Disable(id), settings),
        UsersAction::Enable { id, settings } => (UsersOp::Enable(id), settings),
        UsersAction::Delete { yes: false, .. } => {
            return Err(Error::Config {
                setting: "yes",
                reason: "a deletion cannot be undone: add --yes to delete the user and their data"
                    .into(),
            });
        }
        UsersAction::Delete { id, settings, .. } => (UsersOp::Delete(id), settings),
        UsersAction::PasswordReset { id, settings } => (UsersOp::PasswordReset(id), settings),
    };
    let operator = Operator::start(settings).await?;
    let (core, act, random) = (operator.keyward.core(), operator.act(), &operator.random);
    let done = match op {
        UsersOp::List {
            query,
            created: (since, before),
            limit,
            cursor,
        } => admin::users(
            core,
            admin::UsersQuery {
                query: query.as_deref(),
                created_since: since.as_deref(),
                created_before: before.as_deref(),
                limit: Some(limit),
                cursor: cursor.as_deref(),
            },
        )
        .await
        .map(|page| {
            println!("{:<36}  {:<24}  {:<8}  email", "id", "created", "verified");
            for admin_user in &page.users {
                let user = &admin_user.user;
                let disabled = admin_user
                    .disabled_at
                    .as_ref()
                    .map_or("", |_| "  (disabled)");
                println!(
                    "{:<36}  {:<24}  {:<8}  {}{disabled}",
                    user.id,
                    user.created_at,
                    if user.email_verified { "yes" } else { "no" },
                    user.email
                );
            }
            println!("{} user(s)", page.users.len());
            if let Some(next) = page.next_cursor {
                println!("next page: --cursor {next}");
            }
        }),
        UsersOp::Show(id) => admin::user(core, &id, act.now).await.map(|user| {
            println!(
                "{}",
                serde_json::to_string_pretty(&user).unwrap_or_default()
            );
        }),
        UsersOp::EndSessions(id) => admin::end_sessions(core, &id, &act)
            .await
            .map(|ended| println!("{} session(s) ended", ended.ended)),
        UsersOp::Disable(id) => admin::disable(core, &id, &act).await.map(|done| {
            println!(
                "disabled {}: {} session(s) ended",
                done.user.user.email, done.ended
            );
        }),
        UsersOp::Enable(id) => admin::enable(core, &id, &act)
            .await
            .map(|user| println!("enabled {}", user.user.email)),
        UsersOp::Delete(id) => admin::delete(core, &id, &act)
            .await
            .map(|()| println!("deleted {id}")),
        UsersOp::PasswordReset(id) => admin::start_password_reset(core, &id, &act, random)
            .await
            .map(|()| println!("a password reset link is queued for {id}")),
    };
    operator.close().await;
    done
}

/// `keyward webhooks …`.
async fn webhooks(mut action: WebhooksAction) -> Result<(), Error> {
    use crate::domain::webhooks;
    let settings = match &mut action {
        WebhooksAction::Create { settings, .. }
        | WebhooksAction::Update { settings, .. }
        | WebhooksAction::Test { settings, .. }
        | WebhooksAction::Delete { settings, .. }
        | WebhooksAction::Enable { settings, .. }
        | WebhooksAction::RotateSecret { settings, .. }
        | WebhooksAction::Deliveries { settings, .. }
        | WebhooksAction::Redeliver { settings, .. }
        | WebhooksAction::List(settings) => std::mem::take(settings),
    };
    let operator = Operator::start(settings).await?;
    let (core, act, random) = (operator.keyward.core(), operator.act(), &operator.random);
    let print = |endpoint: &keyward_proto::WebhookEndpoint| {
        println!(
            "{:<36}  {:<24}  {}  events: {}{}",
            endpoint.id,
            endpoint.created_at,
            endpoint.url,
            endpoint
                .events
                .as_ref()
                .map_or_else(|| "all".to_owned(), |list| list.join(",")),
            endpoint
                .disabled_reason
                .as_deref()
                .map(|why| format!("  (disabled: {why})"))
                .unwrap_or_default()
        );
    };
    let done = match action {
        WebhooksAction::Create { url, events, .. } => {
            let new = keyward_proto::NewWebhook { url, events };
            webhooks::create(core, new, &act, random).await.map(|made| {
                print(&made.endpoint);
                println!("{}", made.secret);
                println!("shown once: the receiver verifies signatures with it");
            })
        }
        WebhooksAction::List(_) => webhooks::list(core).await.map(|endpoints| {
            endpoints.iter().for_each(print);
            println!("{} endpoint(s)", endpoints.len());
        }),
        WebhooksAction::RotateSecret { id, .. } => webhooks::rotate_secret(core, &id, &act, random)
            .await
            .map(|made| {
                print(&made.endpoint);
                println!("{}", made.secret);
                println!("shown once: the previous secret signs too for a day");
            }),
        WebhooksAction::Update {
            id,
            url,
            events,
            all_events,
            ..
        } => {
            let events = if all_events {
                Some(None)
            } else {
                events.map(Some)
            };
            let changes = keyward_proto::WebhookChanges { url, events };
            webhooks::update(core, &id, changes, &act)
                .await
                .map(|endpoint| print(&endpoint))
        }
        WebhooksAction::Test { id, .. } => {
            webhooks::send_test(core, &id, &act, random)
                .await
                .map(|delivery| {
                    println!(
                        "queued delivery {} ({}): a running server sends it within a second",
                        delivery.id, delivery.msg_id
                    );
                })
        }
        WebhooksAction::Delete { id, .. } => webhooks::delete(core, &id, &act)
            .await
            .map(|()| println!("deleted {id}")),
        WebhooksAction::Enable { id, .. } => webhooks::enable(core, &id, &act)
            .await
            .map(|endpoint| print(&endpoint)),
        WebhooksAction::Deliveries {
            id, limit, status, ..
        } => webhooks::deliveries(core, &id, (Some(limit), None), status.as_deref())
            .await
            .map(|page| {
                for d in &page.deliveries {
                    println!(
                        "{:>8}  {}  {:<24}  {:<9}  {} attempt(s){}",
                        d.id,
                        d.created_at,
                        d.event_type,
                        d.status,
                        d.attempts,
                        d.last_error
                            .as_deref()
                            .map(|e| format!(", last error: {e}"))
                            .unwrap_or_default()
                    );
                }
                println!("{} deliveries", page.deliveries.len());
            }),
        WebhooksAction::Redeliver { id, delivery, .. } => {
            webhooks::redeliver(core, &id, delivery, &act)
                .await
                .map(|()| println!("delivery {delivery} is queued again"))
        }
    };
    operator.close().await;
    done
}

/// `keyward clients …`.
#[cfg(feature = "oidc-provider")]
async fn clients(mut action: ClientsAction) -> Result<(), Error> {
    use crate::domain::oidc_provider::clients;
    use keyward_proto::{ClientType, OidcClient};
    let settings = match &mut action {
        ClientsAction::Create { settings, .. }
        | ClientsAction::Update { settings, .. }
        | ClientsAction::RotateSecret { settings, .. }
        | ClientsAction::Delete { settings, .. }
        | ClientsAction::List(settings) => std::mem::take(settings),
    };
    let operator = Operator::start(settings).await?;
    let (core, act, random) = (operator.keyward.core(), operator.act(), &operator.random);
    let print = |client: &OidcClient| {
        println!(
            "{}  {:?}  {}  grants: {}  scopes: {}{}",
            client.client_id,
            client.kind,
            client.name,
            client.grant_types.join(","),
            client.scopes.join(","),
            client
                .audience
                .as_deref()
                .map(|aud| format!("  audience: {aud}"))
                .unwrap_or_default()
        );
        for uri in &client.redirect_uris {
            println!("    redirect: {uri}");
        }
        for uri in &client.post_logout_redirect_uris {
            println!("    after logout: {uri}");
        }
    };
    let listed = |list: Vec<String>| (!list.is_empty()).then_some(list);
    let done = match action {
        ClientsAction::Create { kind, client, .. } => {
            let kind = match kind.as_str() {
                "confidential" => ClientType::Confidential,
                "public" => ClientType::Public,
                _ => {
                    operator.close().await;
                    return Err(Error::Config {
                        setting: "type",
                        reason: "a client is `confidential` or `public`".into(),
                    });
                }
            };
            let new = keyward_proto::NewClient {
                name: client.name.unwrap_or_default(),
                kind,
                redirect_uris: client.redirect_uris,
                post_logout_redirect_uris: listed(client.post_logout_redirect_uris),
                scopes: listed(client.scopes),
                grant_types: listed(client.grant_types),
                audience: client.client_audience,
                skip_consent: client.skip_consent,
            };
            clients::create(core, new, &act, random).await.map(|made| {
                print(&made.client);
                if let Some(secret) = made.client_secret {
                    println!("{secret}");
                    println!("shown once: the client authenticates with it");
                }
            })
        }
        ClientsAction::List(_) => clients::list(core, act.now).await.map(|list| {
            list.iter().for_each(print);
            println!("{} client(s)", list.len());
        }),
        ClientsAction::Update {
            id,
            client,
            no_client_audience,
            ..
        } => {
            let changes = keyward_proto::ClientChanges {
                name: client.name,
                redirect_uris: listed(client.redirect_uris),
                post_logout_redirect_uris: listed(client.post_logout_redirect_uris),
                scopes: listed(client.scopes),
                grant_types: listed(client.grant_types),
                audience: if no_client_audience {
                    Some(None)
                } else {
                    client.client_audience.map(Some)
                },
                skip_consent: client.skip_consent,
            };
            clients::update(core, &id, changes, &act)
                .await
                .map(|client| print(&client))
        }
        ClientsAction::RotateSecret { id, now, .. } => {
            let how = keyward_proto::RotateClientSecret { now };
            clients::rotate_secret(core, &id, how, &act, random)
                .await
                .map(|made| {
                    print(&made.client);
                    println!("{}", made.client_secret.unwrap_or_default());
                    if now {
                        println!("shown once: the previous secret is refused from now on");
                    } else {
                        println!("shown once: the previous secret is accepted too for a day");
                    }
                })
        }
        ClientsAction::Delete { id, .. } => clients::delete(core, &id, &act)
            .await
            .map(|()| println!("deleted {id}")),
    };
    operator.close().await;
    done
}

/// What an operator's command acts with: the server's core on the configured database, and the
/// circumstances its admin changes are audited with (the CLI, now).
struct Operator {
    keyward: Keyward,
    client: Client,
    now: Timestamp,
    random: crate::domain::Random,
}

impl Operator {
    async fn start(settings: SettingsArgs) -> Result<Self, Error> {
        let keyward = Keyward::start_for_command(settings.resolve()?).await?;
        #[allow(clippy::disallowed_methods)] // an edge: the operator's command
        let (now, random) = (Timestamp::now(), crate::domain::Random::os());
        Ok(Self {
            keyward,
            client: Client::default(),
            now,
            random,
        })
    }

    fn act(&self) -> admin::Acting<'_> {
        admin::Acting {
            by: admin::By::Cli,
            client: &self.client,
            now: self.now,
        }
    }

    async fn close(&self) {
        self.keyward.core().store.close().await;
    }
}

/// `keyward server-keys …` and `keyward admin-keys …`.
async fn api_keys(kind: KeyKind, action: ServerKeysAction) -> Result<(), Error> {
    let what = kind.as_str();
    match action {
        ServerKeysAction::Create { name, settings } => {
            let keyward = Keyward::start_for_command(settings.resolve()?).await?;
            let (id, key) = match kind {
                KeyKind::Server => keyward.create_server_key(&name).await?,
                KeyKind::Admin => keyward.create_admin_key(&name).await?,
            };
            println!("{what} key {id} ({}):", name.trim());
            println!("{key}");
            println!("shown once: keep it with the {what}'s secrets");
            keyward.core().store.close().await;
        }
        ServerKeysAction::List(settings) => {
            let store = open_store(settings).await?;
            let keys = store.server_keys(what).await?;
            println!(
                "{:<36}  {:<24}  {:<24}  {:<8}  name",
                "id", "created", "last used", "state"
            );
            let time = |ms: Option<i64>| {
                ms.map_or_else(
                    || "-".to_owned(),
                    |ms| Timestamp::from_millis(ms).to_rfc3339(),
                )
            };
            for key in &keys {
                println!(
                    "{:<36}  {:<24}  {:<24}  {:<8}  {}",
                    key.id,
                    time(Some(key.created_at)),
                    time(key.last_used_at),
                    if key.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    },
                    key.name
                );
            }
            println!("{} key(s)", keys.len());
            store.close().await;
        }
        ServerKeysAction::Revoke { id, settings } => {
            let id = ServerKeyId::parse(&id).ok_or_else(|| Error::Config {
                setting: "id",
                reason: format!("`{id}` is not a {what} key id (a UUID)"),
            })?;
            let keyward = Keyward::start_for_command(settings.resolve()?).await?;
            let revoked = match kind {
                KeyKind::Server => keyward.revoke_server_key(&id).await?,
                KeyKind::Admin => keyward.revoke_admin_key(&id).await?,
            };
            keyward.core().store.close().await;
            if !revoked {
                return Err(Error::Config {
                    setting: "id",
                    reason: format!("no live {what} key {id}"),
                });
            }
            println!("{what} key {id} revoked");
        }
    }
    Ok(())
}

/// The database of `args`, migrated (for the commands that only read or write rows).
async fn open_store(args: SettingsArgs) -> Result<Store, Error> {
    let settings = args.resolve()?;
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    Ok(store)
}

async fn serve(settings: Settings) -> Result<(), Error> {
    let bind = settings.bind;
    let keyward = Keyward::start(settings).await?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let local = listener.local_addr()?;
    // Without TCP_NODELAY, a response written in two parts (a file's head, then its body)
    // waits on the client's delayed ACK: 40 ms on some requests (measured with the demo page).
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    tracing::info!(
        address = %local,
        database = keyward.core().store.kind().as_str(),
        issuer = %keyward.settings().issuer,
        "keyward is listening"
    );
    let app = keyward
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    keyward.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so connections in flight finish before the process exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("keyward.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Every subcommand's flags are well formed (no two with one name), as clap checks only
    /// when a command is parsed.
    #[test]
    fn every_command_is_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "bind = \"127.0.0.1:9000\"\ndatabase_url = \"sqlite://from-file.db\"\n\
             access_ttl = \"5m\"\nrate_limits = \"off\"\nallowed_origins = [\"https://a.example\"]\n\
             trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nforwarded_header = \"forwarded\"\n",
        );
        let args = SettingsArgs {
            config: Some(path),
            database_url: Some("sqlite://from-flag.db".into()),
            refresh_grace: Some(Duration::from_secs(3)),
            ..SettingsArgs::default()
        };
        let settings = args.resolve_with_secret(None).unwrap();
        assert_eq!(settings.database_url, "sqlite://from-flag.db");
        assert_eq!(settings.bind, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(settings.access_ttl, Duration::from_secs(300));
        assert_eq!(settings.refresh_grace, Duration::from_secs(3));
        assert_eq!(settings.refresh_ttl, Settings::default().refresh_ttl);
        assert!(!settings.rate_limits);
        assert_eq!(
            settings.allowed_origins,
            vec!["https://a.example".to_owned()]
        );
        assert_eq!(settings.static_dir, None);
        assert_eq!(
            settings.trusted_proxies,
            vec![
                "10.0.0.0/8".parse::<IpNet>().unwrap(),
                "::1/128".parse().unwrap()
            ]
        );
        assert_eq!(settings.forwarded_header, ForwardedHeader::Forwarded);
        assert!(!settings.production && settings.secret.is_none());
    }

    #[test]
    fn webhooks_and_the_sign_in_hook_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "sign_in_hook_url = \"https://hooks.example/sign-in\"\n\
             sign_in_hook_secret = \"whsec_BwcHBwcHBwcHBwcHBwcHBw==\"\n\
             sign_in_hook_timeout = \"2s\"\n\
             [[webhooks]]\nurl = \"https://hooks.example/a\"\n\
             secret = \"whsec_BwcHBwcHBwcHBwcHBwcHBw==\"\nevents = [\"user.created\"]\n\
             [[webhooks]]\nurl = \"https://hooks.example/b\"\n\
             secret = \"whsec_BwcHBwcHBwcHBwcHBwcHBw==\"\n",
        );
        let args = SettingsArgs {
            config: Some(path),
            ..SettingsArgs::default()
        };
        let settings = args.resolve_with_secret(None).unwrap();
        settings.validate().unwrap();
        let urls: Vec<&str> = settings.webhooks.iter().map(|w| w.url.as_str()).collect();
        assert_eq!(urls, ["https://hooks.example/a", "https://hooks.example/b"]);
        assert_eq!(
            settings.webhooks[0].events,
            Some(vec!["user.created".to_owned()])
        );
        assert_eq!(settings.webhooks[1].events, None);
        let hook = settings.sign_in_hook.as_ref().unwrap();
        assert_eq!(hook.timeout, Duration::from_secs(2));
        assert!(!hook.fail_open);
        assert!(
            !format!("{settings:?}").contains("BwcH"),
            "secrets stay out of Debug"
        );
    }

    #[test]
    fn a_misspelt_key_or_a_bad_duration_in_the_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "databse_url = \"sqlite://x.db\"\n");
        let args = SettingsArgs {
            config: Some(path),
            ..SettingsArgs::default()
        };
        let err = args.resolve_with_secret(None).unwrap_err().to_string();
        assert!(err.contains("databse_url"), "{err}");

        let path = write(&dir, "access_ttl = \"fifteen minutes\"\n");
        let args = SettingsArgs {
            config: Some(path),
            ..SettingsArgs::default()
        };
        let err = args.resolve_with_secret(None).unwrap_err().to_string();
        assert!(
            err.contains("access-ttl") && err.contains("fifteen minutes"),
            "{err}"
        );
    }

    #[test]
    fn the_secret_comes_from_the_environment_or_a_file_and_env_production_is_production() {
        let dir = tempfile::tempdir().unwrap();
        let secret_path = dir.path().join("secret");
        std::fs::write(&secret_path, "s".repeat(40) + "\n").unwrap();
        let args = SettingsArgs {
            secret_file: Some(secret_path),
            environment: Some(Environment::Production),
            ..SettingsArgs::default()
        };
        let settings = args.resolve_with_secret(None).unwrap();
        assert_eq!(settings.secret.map(|s| s.len()), Some(40));
        assert!(settings.production);
        let err = settings_error(SettingsArgs {
            environment: Some(Environment::Production),
            ..SettingsArgs::default()
        });
        assert!(err.contains("issuer"), "{err}");
    }

    fn settings_error(args: SettingsArgs) -> String {
        let settings = args.resolve_with_secret(Some("x".repeat(32))).unwrap();
        settings.validate().unwrap_err().to_string()
    }

    #[test]
    fn oauth_providers_come_from_the_environment_with_their_secret_or_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "from-a-file\n").unwrap();
        let vars = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
                .into_iter()
        };
        let file = secret_file.display().to_string();
        let providers = oauth_providers(
            vars(&[
                ("KEYWARD_OAUTH_CORP_SSO_ISSUER", "https://sso.example.com"),
                ("KEYWARD_OAUTH_CORP_SSO_CLIENT_ID", "keyward"),
                ("KEYWARD_OAUTH_CORP_SSO_CLIENT_SECRET_FILE", file.as_str()),
                ("KEYWARD_OAUTH_CORP_SSO_NAME", "Corp"),
                ("KEYWARD_OAUTH_GOOGLE_ISSUER", "https://accounts.google.com"),
                ("KEYWARD_OAUTH_GOOGLE_CLIENT_ID", "g"),
                ("KEYWARD_OAUTH_GOOGLE_CLIENT_SECRET", "s"),
                ("KEYWARD_SECRET", "not a provider"),
            ]),
            Default::default(),
        )
        .unwrap();
        assert_eq!(providers.len(), 2);
        let corp = providers.iter().find(|p| p.id == "corp-sso").unwrap();
        assert_eq!(corp.client_secret, "from-a-file");
        assert_eq!(corp.name.as_deref(), Some("Corp"));
        assert!(
            !format!("{corp:?}").contains("from-a-file"),
            "the secret is not printed"
        );
        let google = providers.iter().find(|p| p.id == "google").unwrap();
        assert_eq!(
            (google.client_id.as_str(), google.client_secret.as_str()),
            ("g", "s")
        );

        let missing = oauth_providers(
            vars(&[("KEYWARD_OAUTH_X_ISSUER", "https://x.example")]),
            Default::default(),
        );
        let message = missing.unwrap_err().to_string();
        assert!(
            message.contains("KEYWARD_OAUTH_X_CLIENT_SECRET"),
            "{message}"
        );

        // GitHub, X and Google need no issuer.
        let github = oauth_providers(
            vars(&[
                ("KEYWARD_OAUTH_GITHUB_CLIENT_ID", "a"),
                ("KEYWARD_OAUTH_GITHUB_CLIENT_SECRET", "b"),
            ]),
            Default::default(),
        )
        .unwrap();
        assert_eq!(github.first().unwrap().issuer, "https://github.com");

        // `[oauth.<id>]` in keyward.toml, the environment winning field by field.
        let file = parse_config(
            "[oauth.corp]\nissuer = \"https://sso.example.com\"\nclient_id = \"from-file\"\n\
             client_secret = \"file-secret\"\nname = \"Corp\"\n",
        )
        .unwrap();
        let providers = oauth_providers(
            vars(&[("KEYWARD_OAUTH_CORP_CLIENT_ID", "from-env")]),
            file.oauth,
        )
        .unwrap();
        let corp = providers.first().unwrap();
        assert_eq!(
            (
                corp.issuer.as_str(),
                corp.client_id.as_str(),
                corp.client_secret.as_str()
            ),
            ("https://sso.example.com", "from-env", "file-secret")
        );
        assert!(
            parse_config("[oauth.corp]\nissuer_url = \"x\"\n").is_err(),
            "a typo is refused"
        );
        let bad = parse_config("[oauth.Bad_Id]\nissuer = \"https://a.example\"\nclient_id = \"a\"\nclient_secret = \"b\"\n").unwrap();
        assert!(oauth_providers(vars(&[]), bad.oauth).is_err());
    }

    #[test]
    fn custom_roles_come_from_the_configuration_file() {
        let file = parse_config(
            "[roles.editor]\npermissions = [\"reports:*\"]\ninherits = \"member\"\n\n\
             [roles.auditor]\npermissions = [\"audit:read\"]\n",
        )
        .unwrap();
        let settings = SettingsArgs::default().resolve_over(file, None).unwrap();
        settings.validate().unwrap();
        let roles = crate::Roles::new(&settings.roles).unwrap();
        assert!(
            roles.permits("editor", "reports:export") && roles.permits("editor", "todos:write")
        );
        assert!(roles.permits("auditor", "audit:read") && !roles.permits("auditor", "todos:read"));
        assert!(
            parse_config("[roles.editor]\npermission = [\"x:y\"]\n").is_err(),
            "a typo is refused"
        );
        let looping =
            parse_config("[roles.a]\ninherits = \"b\"\n[roles.b]\ninherits = \"a\"\n").unwrap();
        let settings = SettingsArgs::default().resolve_over(looping, None).unwrap();
        assert!(settings.validate().is_err());
    }
}
