//! Server settings: what `keyward serve` reads from flags, `KEYWARD_*` variables or
//! `keyward.toml`, and what a library user fills in directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::Error;
use crate::secrets::{MIN_SECRET_LEN, MasterSecret};

/// Everything the server needs to know at start-up. `Settings::default()` is a development
/// server on `127.0.0.1:8787` with an SQLite file `keyward.db` in the working directory; build
/// yours with `Settings { database_url: …, ..Settings::default() }`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The address `keyward serve` listens on.
    pub bind: SocketAddr,
    /// `sqlite://path/to/file.db` (created when missing) or `postgres://…`.
    pub database_url: String,
    /// The server's public URL: the `iss` of every token. Its origin is the default allowed
    /// origin.
    pub issuer: String,
    /// The `aud` of every token; the issuer when `None`.
    pub audience: Option<String>,
    /// The master secret that seals signing keys. Required in production; in development one is
    /// generated and kept beside the database.
    pub secret: Option<MasterSecret>,
    /// Production mode: refuses an http issuer, a missing or short secret, wildcard origins.
    pub production: bool,
    /// Browser origins allowed to call the API (CORS); the issuer's origin when empty.
    pub allowed_origins: Vec<String>,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// A session's lifetime: after this long since sign-in it cannot be refreshed, however
    /// active it is (Auth0's "absolute lifetime").
    pub refresh_ttl: Duration,
    /// A session not refreshed for this long ends (Auth0's "inactivity lifetime").
    pub session_idle_timeout: Duration,
    /// A used refresh token presented again within this window gets the same successor back
    /// (concurrent tabs and retries are not attacks); after it, the session is revoked.
    pub refresh_grace: Duration,
    /// How recent a sign-in must be to add or remove a way to sign in (a passkey; later a
    /// password, an email, an OAuth identity): a stolen access token, or script in the page,
    /// must not be able to add the attacker's own credential and keep the account.
    pub recent_auth: Duration,
    /// How long audit events are kept; older ones are deleted every ten minutes. The log is
    /// otherwise append-only: the database refuses to change or delete any younger event.
    pub audit_retention: Duration,
    /// Sessions one user may have at once; signing in beyond this ends the oldest.
    pub max_sessions_per_user: u32,
    /// Per-IP and per-account rate limits. Turn off only for load tests: the account lockout
    /// stays on either way.
    pub rate_limits: bool,
    /// Refuse sessions that are not bound to a device key (every sign-in must carry a DPoP
    /// proof). Off by default so clients without WebCrypto still work.
    pub require_dpop: bool,
    /// Ask DPoP clients for server nonces (RFC 9449 §8): proofs must then carry a nonce the
    /// server issued in the last few minutes, which also makes a client's wrong clock harmless.
    pub dpop_nonce: bool,
    /// Keyward as an OpenID Connect provider for the operator's other apps: its protocol
    /// endpoints (`/auth/oidc/…`) answer only when this is on (they are `not_found` otherwise).
    /// Off by default; needs the cargo feature `oidc-provider` (on by default). Clients are
    /// registered either way.
    pub oidc_provider: bool,
    /// The app's own page (a path on the issuer's origin, like `/sign-in`) where users sign in
    /// when another app sends them to Keyward, with every way the app offers (passkeys, magic
    /// links, providers). It receives `?oidc_req=…` and hands it to `POST
    /// /auth/oidc/browser-session` once signed in (the Leptos `ContinueAuthorization` does).
    /// None by default: Keyward's own page (password, then the authenticator code).
    pub oidc_sign_in_page: Option<String>,
    /// The organization (its id) whose members with the permission `keyward:admin` (through
    /// their role there) may use the admin API with their own sessions, as admin keys do. None
    /// by default: only admin keys. A role in any other organization never grants it, whatever
    /// its permissions: an organization's owner administers their organization, not the server.
    pub admin_org: Option<String>,
    /// Deliver webhooks to private, loopback and link-local addresses too. Off by default: an
    /// endpoint (or a name that resolves, even later, to such an address) must not reach into
    /// the operator's own network. Dangerous; for tests and private networks.
    pub webhook_allow_private: bool,
    /// Webhook endpoints from the configuration (`[[webhooks]]` in keyward.toml), beside those
    /// made through the admin API: made at start, updated when their events or secret change,
    /// deleted when they leave the configuration.
    pub webhooks: Vec<ConfiguredWebhook>,
    /// An HTTP service asked before every session starts (see `domain::hooks`): it may refuse
    /// the sign-in or add claims to its tokens. None by default.
    pub sign_in_hook: Option<SignInHookSettings>,
    /// The WebAuthn relying party id (a domain): the issuer's host when `None`.
    pub rp_id: Option<String>,
    /// The origins passkeys are used from: the allowed origins (or the issuer's) when empty.
    pub rp_origins: Vec<String>,
    /// Proxies in front of the server (CIDRs) whose forwarding header is believed: requests
    /// from them are counted (rate limits, lockouts) under the client's address the header
    /// names. None by default: behind a proxy that is not listed, every client shares the
    /// proxy's limits; a header from anyone else is never believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Which header the trusted proxies write the client's address in.
    pub forwarded_header: ForwardedHeader,
    /// A directory of static files served at `/` (the demo app); `None` serves none.
    pub static_dir: Option<PathBuf>,
    /// Where mail goes: `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (TLS), with
    /// `user:password@` when the server asks for it. `None` (development): mail stays in the
    /// outbox table, which `keyward outbox` prints. Production requires it.
    pub smtp_url: Option<SmtpUrl>,
    /// The `From` of every mail, `Name <address>` or an address [default: `Keyward
    /// <no-reply@` the issuer's host `>`].
    pub mail_from: Option<String>,
    /// The app's page emailed links open when the request names none (`redirect_to`); the first
    /// allowed origin when `None`.
    pub app_url: Option<String>,
    /// The app's name in mails [default: the issuer's host].
    pub app_name: Option<String>,
    /// A directory whose files replace the built-in mail templates: `<kind>.subject`,
    /// `<kind>.txt` and `<kind>.html` for each kind (`verify_email`, `reset_password`,
    /// `magic_link`, `change_email`, `email_changed`, `password_changed`, `account_locked`,
    /// `org_invitation`).
    pub mail_templates: Option<PathBuf>,
    /// Whether a new account's address is checked: `off`, `optional` (a mail is sent, nothing
    /// waits for it) or `required` (no sign-in before the link is followed).
    pub email_verification: EmailVerification,
    /// OpenID Connect providers to sign in with (none by default).
    pub oauth: Vec<OAuthProvider>,
    /// The app's own organization roles (`[roles.<name>]` in keyward.toml), beside the
    /// built-in owner, admin, member, billing and viewer.
    pub roles: Vec<crate::domain::orgs::CustomRole>,
}

/// A webhook endpoint from the configuration. Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfiguredWebhook {
    /// Where events are posted (https; http outside production).
    pub url: String,
    /// Its Standard Webhooks secret (`whsec_…`, 16 bytes or more): the receiver's.
    pub secret: String,
    /// The event types it takes; `None`: every type.
    pub events: Option<Vec<String>>,
}

impl std::fmt::Debug for ConfiguredWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfiguredWebhook")
            .field("url", &self.url)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// The HMAC key a Standard Webhooks secret (`whsec_` and base64) encodes, when it is one of 16
/// bytes or more.
pub(crate) fn webhook_key(secret: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = secret.strip_prefix("whsec_")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    (key.len() >= 16).then_some(key)
}

/// The HTTP sign-in hook (`KEYWARD_SIGN_IN_HOOK_URL`, `…_SECRET`, `…_TIMEOUT`, `…_FAIL_OPEN`).
/// Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInHookSettings {
    /// Where the hook is posted (https; http outside production).
    pub url: String,
    /// The Standard Webhooks secret (`whsec_…`) its requests are signed with.
    pub secret: String,
    /// How long it has to answer [default: 5s].
    pub timeout: Duration,
    /// Let sign-ins through (without its claims) when it fails: dangerous, for a hook that only
    /// adds claims [default: false: a failure refuses the sign-in].
    pub fail_open: bool,
}

impl SignInHookSettings {
    /// The hook at `url`, signed with `secret`, with the default timeout, failing closed.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            secret: secret.into(),
            timeout: Duration::from_secs(5),
            fail_open: false,
        }
    }

    /// The signing key the secret encodes (16 bytes at least), if it is one.
    pub(crate) fn key(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        let text = self.secret.strip_prefix("whsec_")?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        (key.len() >= 16).then_some(key)
    }
}

impl std::fmt::Debug for SignInHookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInHookSettings")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}

/// An SMTP URL. Its `Debug` hides the password it may carry.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(pub String);

/// A provider to sign in with (`KEYWARD_OAUTH_<ID>_ISSUER`, `…_CLIENT_ID`, `…_CLIENT_SECRET`).
/// Its redirect URI, to register with it, is `{issuer}/auth/oauth/{id}/callback` (this server's
/// issuer). Any OpenID Connect issuer, found by discovery; the ids `github` and `x` are GitHub
/// and X, OAuth 2 providers read through their user APIs, and `google` is Google's OpenID
/// Connect issuer: for these three the issuer may be left out.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthProvider {
    /// Lower-case letters, digits and `-`: the provider's id in the paths.
    pub id: String,
    /// What the sign-in button says [default: the id].
    pub name: Option<String>,
    /// The provider's issuer URL: an OpenID Connect issuer's discovery document is at
    /// `{issuer}/.well-known/openid-configuration`; GitHub's is its web address
    /// (`https://github.com`, or a GitHub Enterprise Server's, whose API is under `/api/v3`),
    /// X's `https://x.com`. https, but for a provider on this machine (loopback).
    pub issuer: String,
    /// The client id the provider gave this app.
    pub client_id: String,
    /// The client secret the provider gave this app (never printed).
    pub client_secret: String,
}

impl std::fmt::Debug for OAuthProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthProvider")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl OAuthProvider {
    /// The issuer implied by a well-known provider's id (`google`, `github`, `x`).
    pub fn implied_issuer(id: &str) -> Option<&'static str> {
        match id {
            "google" => Some("https://accounts.google.com"),
            "github" => Some("https://github.com"),
            "x" => Some("https://x.com"),
            _ => None,
        }
    }
}

/// Whether a provider may live at `url`: https, or http on a loopback host (a provider
/// process on this machine, for development and tests). Tokens and secrets never cross a
/// network in the clear.
fn provider_url_allowed(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(host)) => host == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("", &self.0));
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        write!(f, "SmtpUrl({scheme}://…@{host})")
    }
}

/// Whether a new account's email address is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmailVerification {
    /// No verification mail.
    Off,
    /// A verification mail at sign-up; signing in does not wait for it.
    #[default]
    Optional,
    /// A verification mail at sign-up, and no sign-in (`email_not_verified`) before the link is
    /// followed.
    Required,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8787)),
            database_url: "sqlite://keyward.db".into(),
            issuer: "http://localhost:8787".into(),
            audience: None,
            secret: None,
            production: false,
            allowed_origins: Vec::new(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            session_idle_timeout: Duration::from_secs(15 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
            recent_auth: Duration::from_secs(10 * 60),
            audit_retention: Duration::from_secs(365 * 24 * 3600),
            max_sessions_per_user: 50,
            rate_limits: true,
            require_dpop: false,
            dpop_nonce: false,
            oidc_provider: false,
            oidc_sign_in_page: None,
            admin_org: None,
            webhook_allow_private: false,
            webhooks: Vec::new(),
            sign_in_hook: None,
            rp_id: None,
            rp_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            static_dir: None,
            smtp_url: None,
            mail_from: None,
            app_url: None,
            app_name: None,
            mail_templates: None,
            email_verification: EmailVerification::Optional,
            oauth: Vec::new(),
            roles: Vec::new(),
        }
    }
}

impl Settings {
    /// The `aud` claim tokens carry.
    pub fn audience(&self) -> &str {
        self.audience.as_deref().unwrap_or(&self.issuer)
    }

    /// The origins allowed to call the API: the configured ones, else the issuer's.
    pub fn origins(&self) -> Vec<String> {
        if self.allowed_origins.is_empty() {
            origin_of(&self.issuer).into_iter().collect()
        } else {
            self.allowed_origins.clone()
        }
    }

    /// The WebAuthn relying party id: the setting, else the issuer's host.
    pub fn rp_id(&self) -> String {
        self.rp_id.clone().unwrap_or_else(|| {
            let origin = self.public_origin();
            let host = origin.split_once("://").map_or("", |(_, host)| host);
            match host.rsplit_once(':') {
                Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_owned(),
                _ => host.to_owned(),
            }
        })
    }

    /// The origins passkeys may be used from.
    pub fn rp_origins(&self) -> Vec<String> {
        if self.rp_origins.is_empty() {
            self.origins().into_iter().filter(|o| o != "*").collect()
        } else {
            self.rp_origins.clone()
        }
    }

    /// The page emailed links open by default: the app URL, else the first allowed origin (or
    /// the issuer's).
    pub fn app_url(&self) -> String {
        self.app_url.clone().unwrap_or_else(|| {
            let origin = self
                .origins()
                .into_iter()
                .find(|o| o != "*")
                .unwrap_or_else(|| self.public_origin());
            format!("{origin}/")
        })
    }

    /// The app's name in mails.
    pub fn app_name(&self) -> String {
        self.app_name.clone().unwrap_or_else(|| {
            let origin = self.public_origin();
            origin
                .split_once("://")
                .map_or(origin.as_str(), |(_, host)| host)
                .to_owned()
        })
    }

    /// The `From` of every mail.
    pub fn mail_from(&self) -> String {
        self.mail_from.clone().unwrap_or_else(|| {
            let host = self.rp_id();
            let domain = if host.contains('.') {
                host
            } else {
                format!("{host}.localdomain")
            };
            // Quoted: a name such as `localhost:8787` is not a valid bare phrase.
            let name: String = self
                .app_name()
                .chars()
                .filter(|c| !matches!(c, '"' | '\\') && !c.is_control())
                .collect();
            format!("\"{name}\" <no-reply@{domain}>")
        })
    }

    /// The origin under which this server is reached (from the issuer): DPoP proofs name URLs
    /// under it.
    pub fn public_origin(&self) -> String {
        origin_of(&self.issuer).unwrap_or_default()
    }

    /// Refuses settings that cannot work, and, in production, settings that are unsafe. The
    /// error names the setting and says why in one line.
    pub fn validate(&self) -> Result<(), Error> {
        let refuse = |setting: &'static str, reason: &str| {
            Err(Error::Config {
                setting,
                reason: reason.into(),
            })
        };
        DatabaseKind::from_url(&self.database_url)?;
        if self.oidc_provider && !cfg!(feature = "oidc-provider") {
            return refuse(
                "oidc-provider",
                "this server was built without the cargo feature `oidc-provider`",
            );
        }
        // A browser reads `/\host` as `//host`, and a percent-encoding can hide either.
        if let Some(page) = &self.oidc_sign_in_page
            && (!page.starts_with('/')
                || page.starts_with("//")
                || page.contains(['#', '\\', '%'])
                || page.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return refuse(
                "oidc-sign-in-page",
                "must be a path on the issuer's origin, like /sign-in (the browser's cookie for \
                 the provider is set there)",
            );
        }
        if origin_of(&self.issuer).is_none() {
            return refuse("issuer", "must be an http:// or https:// URL with a host");
        }
        // The provider's pages send browsers to its own paths (`/auth/oidc/…`) from the root.
        if self.oidc_provider
            && !origin_of(&self.issuer).is_some_and(|origin| {
                origin.eq_ignore_ascii_case(self.issuer.trim_end_matches('/'))
            })
        {
            return refuse(
                "issuer",
                "as an OpenID Connect provider, the issuer is an origin without a path \
                 (https://auth.example.com)",
            );
        }
        for origin in &self.allowed_origins {
            if origin != "*" && origin_of(origin).as_deref() != Some(origin.trim_end_matches('/')) {
                return refuse(
                    "allowed-origins",
                    "each must be an origin like https://app.example.com (scheme, host, port)",
                );
            }
        }
        if self.access_ttl < Duration::from_secs(1)
            || self.access_ttl > Duration::from_secs(24 * 3600)
        {
            return refuse("access-ttl", "must be between 1s and 24h");
        }
        if self.refresh_ttl <= self.access_ttl {
            return refuse("refresh-ttl", "must be longer than access-ttl");
        }
        if self.session_idle_timeout <= self.access_ttl {
            return refuse("session-idle-timeout", "must be longer than access-ttl");
        }
        if self.refresh_grace > Duration::from_secs(300) {
            return refuse(
                "refresh-grace",
                "must be at most 5m (it lets a used token back in)",
            );
        }
        if self.recent_auth < Duration::from_secs(1)
            || self.recent_auth > Duration::from_secs(24 * 3600)
        {
            return refuse("recent-auth", "must be between 1s and 24h");
        }
        // The database refuses to delete the last day of events whatever the setting (its
        // triggers); two days leaves room for the clocks of server and database to differ.
        if self.audit_retention < Duration::from_secs(2 * 24 * 3600) {
            return refuse("audit-retention", "must be at least 2d");
        }
        if self.max_sessions_per_user == 0 {
            return refuse("max-sessions", "must be at least 1");
        }
        if let Some(url) = &self.app_url
            && origin_of(url).is_none()
        {
            return refuse("app-url", "must be an http:// or https:// URL");
        }
        crate::domain::orgs::Roles::new(&self.roles)?;
        for provider in &self.oauth {
            if !provider_url_allowed(&provider.issuer) {
                return refuse(
                    "oauth",
                    "a provider's issuer must be an https:// URL (http:// only on this machine: localhost, 127.0.0.1, [::1])",
                );
            }
        }
        if let Some(SmtpUrl(url)) = &self.smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return refuse(
                "smtp-url",
                "must be smtp://host[:port][?tls=required] or smtps://host[:port]",
            );
        }
        for webhook in &self.webhooks {
            if origin_of(&webhook.url).is_none()
                || (self.production && !webhook.url.starts_with("https://"))
            {
                return refuse(
                    "webhooks",
                    "each url must be an https:// URL (http:// outside production)",
                );
            }
            if webhook_key(&webhook.secret).is_none() {
                return refuse(
                    "webhooks",
                    "each secret must be whsec_ and the base64 of 16 bytes or more",
                );
            }
            let known = |name: &String| crate::domain::webhooks::TYPES.contains(&name.as_str());
            if webhook
                .events
                .as_ref()
                .is_some_and(|e| e.is_empty() || !e.iter().all(known))
            {
                return refuse(
                    "webhooks",
                    "events lists known event types (or is left out)",
                );
            }
        }
        if let Some(hook) = &self.sign_in_hook {
            if origin_of(&hook.url).is_none() {
                return refuse("sign-in-hook-url", "must be an http:// or https:// URL");
            }
            if hook.key().is_none() {
                return refuse(
                    "sign-in-hook-secret",
                    "must be a Standard Webhooks secret: whsec_ and the base64 of 16 bytes or more",
                );
            }
            if hook.timeout < Duration::from_millis(100) || hook.timeout > Duration::from_secs(30) {
                return refuse("sign-in-hook-timeout", "must be between 100ms and 30s");
            }
            if self.production && !hook.url.starts_with("https://") {
                return refuse("sign-in-hook-url", "production requires an https:// URL");
            }
        }
        if !self.production {
            return Ok(());
        }
        if !self.issuer.starts_with("https://") {
            return refuse("issuer", "production requires an https:// issuer");
        }
        match &self.secret {
            None => return refuse("secret", "production requires KEYWARD_SECRET"),
            Some(secret) if secret.len() < MIN_SECRET_LEN => {
                return refuse("secret", "KEYWARD_SECRET must be at least 32 bytes");
            }
            Some(_) => {}
        }
        if self.allowed_origins.iter().any(|o| o == "*") {
            return refuse(
                "allowed-origins",
                "production refuses the wildcard origin *",
            );
        }
        match &self.smtp_url {
            None => {
                return refuse(
                    "smtp-url",
                    "production requires KEYWARD_SMTP_URL (password reset, verification and magic-link mail)",
                );
            }
            Some(SmtpUrl(url)) if !smtp_is_private(url) => {
                return refuse(
                    "smtp-url",
                    "production requires TLS to the mail server: smtps://… or smtp://…?tls=required (plain SMTP only to the loopback)",
                );
            }
            Some(_) => {}
        }
        Ok(())
    }
}

/// Whether mail sent to `url` is safe from the network: TLS (`smtps://`, or STARTTLS required),
/// or plain SMTP to this machine.
fn smtp_is_private(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let tls = parsed.scheme() == "smtps"
        || parsed
            .query_pairs()
            .any(|(name, value)| name == "tls" && value == "required");
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    tls || loopback
}

/// `scheme://host[:port]` of an http(s) URL; `None` when it is not one.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let valid = !authority.is_empty()
        && !authority.contains('@')
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    valid.then(|| format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// The header trusted proxies write the client's address in. Only one is read: a proxy appends
/// to its own and passes the other through from the client, who could write anything in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, Caddy, Traefik, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239), its `for=` parameters.
    Forwarded,
}

/// The two databases Keyward runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded, the default: one file, one server process.
    Sqlite,
    /// Shared: any number of server processes on one database.
    Postgres,
}

impl DatabaseKind {
    /// Tells the backend from a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(Error::Config {
                setting: "database-url",
                reason: format!(
                    "expected sqlite://… or postgres://…, got a URL with scheme `{scheme}`"
                ),
            }),
        }
    }

    /// The name used in health reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_kind_follows_the_url_scheme() {
        assert_eq!(
            DatabaseKind::from_url("sqlite://keyward.db").unwrap(),
            DatabaseKind::Sqlite
        );
        assert_eq!(
            DatabaseKind::from_url("postgresql://u@localhost/db").unwrap(),
            DatabaseKind::Postgres
        );
        let err = DatabaseKind::from_url("mysql://localhost/db").unwrap_err();
        assert!(err.to_string().contains("database-url"), "{err}");
    }

    #[test]
    fn the_default_origin_is_the_issuers() {
        let settings = Settings {
            issuer: "https://Auth.Example.com/auth?x=1".into(),
            ..Settings::default()
        };
        assert_eq!(
            settings.origins(),
            vec!["https://auth.example.com".to_owned()]
        );
        assert_eq!(settings.audience(), "https://Auth.Example.com/auth?x=1");
        assert_eq!(origin_of("ftp://example.com"), None);
        assert_eq!(origin_of("https://user@evil.example"), None);
    }

    #[test]
    fn production_refuses_unsafe_settings_with_one_clear_reason() {
        let safe = Settings {
            production: true,
            issuer: "https://auth.example.com".into(),
            secret: Some(MasterSecret::new(vec![7; 32])),
            smtp_url: Some(SmtpUrl("smtp://mail.example.com:587?tls=required".into())),
            ..Settings::default()
        };
        assert!(safe.validate().is_ok());
        let cases = [
            (
                Settings {
                    issuer: "http://auth.example.com".into(),
                    ..safe.clone()
                },
                "https:// issuer",
            ),
            (
                Settings {
                    secret: None,
                    ..safe.clone()
                },
                "requires KEYWARD_SECRET",
            ),
            (
                Settings {
                    secret: Some(MasterSecret::new(vec![7; 31])),
                    ..safe.clone()
                },
                "at least 32 bytes",
            ),
            (
                Settings {
                    allowed_origins: vec!["*".into()],
                    ..safe.clone()
                },
                "wildcard",
            ),
            (
                Settings {
                    smtp_url: None,
                    ..safe.clone()
                },
                "requires KEYWARD_SMTP_URL",
            ),
            (
                Settings {
                    smtp_url: Some(SmtpUrl("smtp://user:pw@mail.example.com:587".into())),
                    ..safe.clone()
                },
                "requires TLS to the mail server",
            ),
        ];
        for (settings, reason) in cases {
            let err = settings.validate().unwrap_err().to_string();
            assert!(err.contains(reason), "{err}");
            assert_eq!(err.lines().count(), 1);
        }
        // Development accepts what production refuses.
        let dev = Settings {
            allowed_origins: vec!["*".into()],
            ..Settings::default()
        };
        assert!(dev.validate().is_ok());
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let bad = Settings {
            refresh_grace: Duration::from_secs(3600),
            ..Settings::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("refresh-grace")
        );
        let bad = Settings {
            allowed_origins: vec!["https://app.example.com/path".into()],
            ..Settings::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("allowed-origins")
        );
    }

    #[test]
    fn providers_are_reached_over_https_but_on_this_machine() {
        for allowed in [
            "https://accounts.google.com",
            "https://sso.example.com/realms/a",
            "http://127.0.0.1:8788",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            assert!(provider_url_allowed(allowed), "{allowed}");
        }
        for refused in [
            "http://sso.example.com",
            "http://10.0.0.1",
            "ftp://example.com",
            "not a url",
            "https://",
        ] {
            assert!(!provider_url_allowed(refused), "{refused}");
        }
        let mut settings = Settings::default();
        settings.oauth.push(OAuthProvider {
            id: "corp".into(),
            name: None,
            issuer: "http://sso.example.com".into(),
            client_id: "a".into(),
            client_secret: "b".into(),
        });
        let refused = settings.validate().unwrap_err().to_string();
        assert!(refused.contains("oauth"), "{refused}");
        assert_eq!(
            OAuthProvider::implied_issuer("github"),
            Some("https://github.com")
        );
        assert_eq!(OAuthProvider::implied_issuer("corp"), None);
    }
}
