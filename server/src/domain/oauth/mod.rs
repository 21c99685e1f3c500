//! Sign-in with OpenID Connect providers (DESIGN.md, "OAuth / OpenID Connect sign-in"), through
//! the `openidconnect` crate: discovery, the authorization code flow with PKCE S256, `state` and
//! `nonce`, the ID token's signature, `aud`, `exp` and `nonce` checked.
//!
//! - **Start** (`GET /auth/oauth/{provider}/start?redirect_to=…&code_challenge=…`):
//!   `redirect_to` must be a page of an allowed origin. The sign-in is stored under a hash of
//!   its `state`, with its `nonce` and PKCE verifier, bound to the browser by a random cookie
//!   value (its hash stored: a callback from another browser finds nothing, and leaves the
//!   sign-in as it is) and to the page that started it by `code_challenge`, the SHA-256 of a
//!   verifier the page keeps for the exchange.
//! - **Callback**: the sign-in is used up (single use, ten minutes), `iss` in the response must
//!   be the provider's (RFC 9207; required when the provider says it sends it), the code is
//!   exchanged with the verifier, the ID token verified. The identity is (issuer, subject),
//!   never the email. The browser goes back to `redirect_to` with a `keyward_code` (single use,
//!   60 seconds; never a token in a URL) or a `login_error`.
//! - **Exchange** (`POST /auth/oauth/exchange`): the app's page trades the code and its
//!   verifier, with a DPoP proof (required), for a session bound to its device key like any
//!   other, or the second factor's ticket when the account has one. Someone else's code sent
//!   to a victim's page (login CSRF) fails: the victim's page does not hold its verifier.
//! - **Accounts**: a known identity signs its account in. A new one makes an account only
//!   with an address the provider says is verified (`login_error=email_unverified`: nobody
//!   takes an address they do not own), and not one that belongs to an account already: then
//!   nothing joins silently (`login_error=account_exists`). The account is made when the app
//!   exchanges the code, with its first session and after the post-authentication hook: a
//!   refused sign-in leaves no account behind.

use std::sync::Arc;
use std::time::Duration;

use keyward_proto::{AuthSuccess, ErrorCode, Identity, OAuthExchange, OAuthLink, SignInAnswer};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
    CoreUserInfoClaims,
};
use openidconnect::reqwest;
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata,
    RedirectUrl, Scope, TokenResponse as _,
};

use super::accounts::{device_proof, first_factor, require_recent_auth, signed_up};
use super::audit::{self, AuditKind, Client, EventExt as _};
use super::core::Core;
use super::email::Email;
use super::limits::{self, Limit};
use super::sessions::Start;
use super::tokens::AccessClaims;
use super::{Random, SessionId, Timestamp, UserId, b64, dpop, mail, sha256};
use crate::store::{
    IdentityRow, Linked, OAuthCode, OAuthFlowRow, PendingLink, PendingSignUp, Removal, UserRow,
    WayIn,
};
use crate::{Error, OAuthProvider};

mod plain;

const FLOW_TTL: Duration = Duration::from_secs(10 * 60);
/// Sign-ins started and codes exchanged per IP.
pub const OAUTH_PER_IP: Limit = Limit {
    name: "oauth:ip",
    max: 60,
    window: Duration::from_secs(600),
};
const CODE_TTL: Duration = Duration::from_secs(60);
const CODE_PREFIX: &str = "kwo_";
/// The start of the name of the cookie that binds a sign-in to the browser that started it
/// (`keyward_oauth_<suffix>`: one per sign-in, see [`cookie_suffix`]).
pub const COOKIE: &str = "keyward_oauth";
/// Its name's start on an https server: `__Host-` (Secure, path `/`, no domain) cannot be
/// planted by a sibling subdomain.
pub const SECURE_COOKIE: &str = "__Host-keyward_oauth";

/// What discovery reads beyond the core: whether the provider names itself in its answers
/// (RFC 9207).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct IssParameter {
    authorization_response_iss_parameter_supported: Option<bool>,
}

impl AdditionalProviderMetadata for IssParameter {}

type Metadata = ProviderMetadata<
    IssParameter,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A provider's client as discovery makes it: authorization endpoint set, token and userinfo
/// endpoints as the provider has them.
type OidcClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// A provider's metadata and when they were fetched.
type Discovered = (Timestamp, Arc<Metadata>);

/// The providers' discovered metadata and the HTTP client that talks to them.
pub struct Providers {
    http: reqwest::Client,
    /// Per provider: its metadata (keys included) and when they were fetched.
    discovered: Vec<tokio::sync::Mutex<Option<Discovered>>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers").finish_non_exhaustive()
    }
}

impl Providers {
    /// For `count` configured providers (discovered on first use, again an hour later, and at
    /// once when an ID token is signed with a key the provider had not published).
    pub fn new(count: usize) -> Result<Self, Error> {
        // Providers are the operator's choice, and may be on a private network.
        let http = crate::outbound::client("OAuth", Duration::from_secs(10), false)?;
        Ok(Self {
            http,
            discovered: (0..count).map(|_| tokio::sync::Mutex::new(None)).collect(),
        })
    }
}

/// Why a sign-in at a provider failed, as the app reads it (`login_error=<code>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginError {
    /// No sign-in matches (`state` tampered with, used, expired, or from another browser).
    InvalidState,
    /// The user (or the provider) refused.
    AccessDenied,
    /// The provider's answer failed a check (`iss`, the code, the ID token, its `nonce`).
    InvalidResponse,
    /// The provider cannot be reached or answered wrongly.
    ProviderUnavailable,
    /// An account has this address: sign in to it, then link the provider.
    AccountExists,
    /// The provider gave no email address.
    EmailRequired,
    /// The provider does not say the address is verified: no account is made or linked with it.
    EmailUnverified,
    /// Linking: this provider's account is linked to another account here.
    IdentityTaken,
}

impl LoginError {
    /// The code in the URL.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidState => "invalid_state",
            Self::AccessDenied => "access_denied",
            Self::InvalidResponse => "invalid_response",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::AccountExists => "account_exists",
            Self::EmailRequired => "email_required",
            Self::EmailUnverified => "email_unverified",
            Self::IdentityTaken => "identity_taken",
        }
    }
}

/// The configured provider `id` and its index.
fn provider<'a>(core: &'a Core, id: &str) -> Result<(usize, &'a OAuthProvider), Error> {
    core.settings
        .oauth
        .iter()
        .enumerate()
        .find(|(_, p)| p.id == id)
        .ok_or_else(|| Error::rejected(ErrorCode::NotFound, "No such sign-in provider."))
}

/// How long a provider's discovered metadata (its keys with them) serve before they are
/// fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// The client for provider `index` and its metadata: discovered on first use and after
/// [`METADATA_TTL`], or now when `fresh` (a key rotated). A provider that cannot be reached
/// when its metadata are due keeps the ones it had.
async fn client(
    core: &Core,
    index: usize,
    provider: &OAuthProvider,
    now: Timestamp,
    fresh: bool,
) -> Result<(OidcClient, Arc<Metadata>), Error> {
    let providers = &core.oauth;
    let slot = providers
        .discovered
        .get(index)
        .ok_or_else(|| Error::internal("an OAuth provider without its slot"))?;
    // One discovery at a time per provider; the lock is held only while one runs.
    let mut slot = slot.lock().await;
    let kept = slot.clone().filter(|_| !fresh);
    let metadata = match kept {
        Some((at, metadata)) if now < at.plus(METADATA_TTL) => metadata,
        kept => {
            let issuer = IssuerUrl::new(provider.issuer.clone())
                .map_err(|err| Error::internal(format!("issuer URL: {err}")))?;
            match Metadata::discover_async(issuer, &providers.http).await {
                Ok(metadata) => {
                    let metadata = Arc::new(metadata);
                    *slot = Some((now, metadata.clone()));
                    metadata
                }
                Err(err) => {
                    tracing::warn!(provider = provider.id, %err, "OpenID Connect discovery failed");
                    kept.map(|(_, metadata)| metadata).ok_or_else(|| {
                        Error::rejected(
                            ErrorCode::Unavailable,
                            "The sign-in provider cannot be reached: try again later.",
                        )
                    })?
                }
            }
        }
    };
    drop(slot);
    let redirect = RedirectUrl::new(callback_url(core, &provider.id))
        .map_err(|err| Error::internal(format!("redirect URL: {err}")))?;
    let client = CoreClient::from_provider_metadata(
        (*metadata).clone(),
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect);
    Ok((client, metadata))
}

/// The redirect URI to register with provider `id`.
pub fn callback_url(core: &Core, id: &str) -> String {
    let issuer = core.settings.issuer.trim_end_matches('/');
    format!("{issuer}/auth/oauth/{id}/callback")
}

/// `GET /auth/oauth/providers`: `(id, name)` of each provider.
pub fn providers(core: &Core) -> Vec<(String, String)> {
    core.settings
        .oauth
        .iter()
        .map(|p| (p.id.clone(), p.name.clone().unwrap_or_else(|| p.id.clone())))
        .collect()
}

/// A sign-in just started: where to send the browser, and the cookie value that binds it.
#[derive(Debug)]
pub struct Started {
    /// The provider's authorization URL.
    pub location: String,
    /// The value of the binding cookie.
    pub binding: String,
    /// What tells its cookie apart from another sign-in's in the same browser (the name's
    /// end): [`cookie_suffix`] of its `state`.
    pub suffix: String,
}

/// `GET /auth/oauth/{provider}/start`: see the module docs.
pub async fn start(
    core: &Core,
    id: &str,
    (redirect_to, app_challenge): (Option<&str>, &str),
    asker: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<Started, Error> {
    let binding = b64(&random.bytes::<32>());
    let bound = Bound::Browser(sha256(binding.as_bytes()).to_vec());
    let asked = (redirect_to, app_challenge);
    let (location, state) = authorize(core, id, asked, bound, asker, now, random).await?;
    let suffix = cookie_suffix(&state);
    Ok(Started {
        location,
        binding,
        suffix,
    })
}

/// The end of the binding cookie's name for the sign-in with `state`: each sign-in has its own
/// cookie, so two started in one browser (two tabs) both finish.
pub fn cookie_suffix(state: &str) -> String {
    let hash = b64(&sha256(state.as_bytes()));
    hash.get(..12).unwrap_or(&hash).to_owned()
}

/// `POST /auth/oauth/{provider}/link`: the provider's URL where the signed-in user proves an
/// identity to link to their account (needs a recent sign-in, as any new way to sign in). The
/// link is bound to this session and this page (`code_challenge`): only they can finish it
/// (`POST /auth/identities`), whichever browser comes back from the provider.
pub async fn link(
    core: &Core,
    claims: &AccessClaims,
    id: &str,
    request: &OAuthLink,
    asker: &Client,
    (now, random): (Timestamp, &Random),
) -> Result<String, Error> {
    require_recent_auth(core, claims, now)?;
    let bound = Bound::Session(claims.sid, claims.sub);
    let asked = (
        request.redirect_to.as_deref(),
        request.code_challenge.as_str(),
    );
    let (url, _) = authorize(core, id, asked, bound, asker, now, random).await?;
    Ok(url)
}

/// Who may finish a flow: the browser with the cookie (a sign-in), or a session (a link).
enum Bound {
    /// The SHA-256 of the binding cookie's value.
    Browser(Vec<u8>),
    /// The session that started a link, and its user.
    Session(SessionId, UserId),
}

/// Stores a flow at provider `id`: the provider's authorization URL, and the flow's `state`.
async fn authorize(
    core: &Core,
    id: &str,
    (redirect_to, app_challenge): (Option<&str>, &str),
    bound: Bound,
    asker: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<(String, String), Error> {
    let on = core.settings.rate_limits;
    limits::check(&core.store, on, OAUTH_PER_IP, &asker.ip_key(), now).await?;
    // The format the schema states; its bytes are only ever compared with a verifier's hash.
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if app_challenge.len() != 43 || !app_challenge.bytes().all(base64url) {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "code_challenge must be the base64url SHA-256 of the page's verifier (43 characters).",
        ));
    }
    let mut back = mail::link_base(&core.settings, redirect_to)?;
    // The outcome's parameters come from this server only: none planted in the page's address.
    let kept = without(&back, &["keyward_code", "login_error"]);
    back.set_query(None);
    if !kept.is_empty() {
        back.query_pairs_mut().extend_pairs(kept);
    }
    let (index, provider) = provider(core, id)?;
    let state = b64(&random.bytes::<32>());
    let nonce = b64(&random.bytes::<32>());
    let verifier = b64(&random.bytes::<32>());
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
    let url = match plain::Plain::of(provider) {
        Some(plain) => plain.authorize_url(core, provider, state.clone(), challenge)?,
        None => {
            let (client, _) = client(core, index, provider, now, false).await?;
            let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
            let (url, _, _) = client
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    move || CsrfToken::new(state_for_url),
                    move || Nonce::new(nonce_for_url),
                )
                .add_scope(Scope::new("email".into()))
                .add_scope(Scope::new("profile".into()))
                .set_pkce_challenge(challenge)
                .url();
            url.to_string()
        }
    };
    let (binding_hash, link_session, link_user) = match bound {
        Bound::Browser(hash) => (Some(hash), None, None),
        Bound::Session(session, user) => (None, Some(session), Some(user)),
    };
    let flow = OAuthFlowRow {
        state_hash: sha256(state.as_bytes()).to_vec(),
        binding_hash,
        link_session,
        link_user,
        provider: provider.id.clone(),
        nonce,
        pkce_verifier: verifier,
        redirect_to: back.to_string(),
        app_challenge: app_challenge.to_owned(),
        expires_at: now.plus(FLOW_TTL).millis(),
    };
    core.store.insert_oauth_flow(&flow).await?;
    Ok((url, state))
}

/// What the provider sent back to the callback.
#[derive(Debug, Default)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The `state` the sign-in started with.
    pub state: Option<String>,
    /// The issuer that answered (RFC 9207).
    pub iss: Option<String>,
    /// The provider's error, when it refused.
    pub error: Option<String>,
}

/// `GET /auth/oauth/{provider}/callback`: where to send the browser (the app's page with
/// `keyward_code` or `login_error`). See the module docs.
pub async fn callback(
    core: &Core,
    id: &str,
    query: CallbackQuery,
    binding: Option<&str>,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<String, Error> {
    // A sign-in is taken only with the cookie of the browser that started it: another
    // browser's callback finds nothing, and leaves it as it is. A link is its session's to
    // finish.
    let flow = match &query.state {
        Some(state) => {
            let binding = binding.map(|b| sha256(b.as_bytes()));
            let state = sha256(state.as_bytes());
            core.store
                .take_oauth_flow(&state, binding.as_ref().map(|b| &b[..]))
                .await?
        }
        None => None,
    };
    let Some(flow) = flow.filter(|f| f.provider == id && f.expires_at > now.millis()) else {
        // Without its sign-in there is no page of the app's to return to but the default one.
        let back = mail::link_base(&core.settings, None)?;
        return Ok(with_param(
            back.as_str(),
            "login_error",
            LoginError::InvalidState.as_str(),
        ));
    };
    let outcome = finish(core, id, query, &flow, now, random).await;
    Ok(match outcome {
        Ok(code) => with_param(&flow.redirect_to, "keyward_code", &code),
        Err(Failure::Login(error)) => {
            let flow_kind = if flow.link_user.is_some() {
                "link"
            } else {
                "sign_in"
            };
            let detail =
                serde_json::json!({ "provider": id, "error": error.as_str(), "flow": flow_kind });
            let mut event = audit::event(AuditKind::OAuthFailed, now, client).detail(detail);
            if let Some(user) = &flow.link_user {
                event = event.user(user);
            }
            // The browser still goes back with the error when the audit log cannot be written.
            if let Err(err) = core.store.insert_audit(&event).await {
                tracing::warn!(%err, "a failed provider sign-in was not audited");
            }
            with_param(&flow.redirect_to, "login_error", error.as_str())
        }
        Err(Failure::Server(error)) => return Err(error),
    })
}

enum Failure {
    Login(LoginError),
    Server(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Server(error)
    }
}

impl From<crate::store::Error> for Failure {
    fn from(error: crate::store::Error) -> Self {
        Self::Server(error.into())
    }
}

/// The checks and the exchange behind a callback whose sign-in was found: the code for the app.
async fn finish(
    core: &Core,
    id: &str,
    query: CallbackQuery,
    flow: &OAuthFlowRow,
    now: Timestamp,
    random: &Random,
) -> Result<String, Failure> {
    if let Some(error) = &query.error {
        tracing::info!(provider = id, error, "the provider refused the sign-in");
        return Err(Failure::Login(LoginError::AccessDenied));
    }
    let (index, provider) = provider(core, id)?;
    let proved = match plain::Plain::of(provider) {
        Some(plain) => plain.identity(core, provider, query, flow).await?,
        None => oidc_identity(core, (index, provider), query, flow, now).await?,
    };
    let known = core
        .store
        .identity_user(&proved.issuer, &proved.subject)
        .await?;
    if let (Some(session), Some(user_id)) = (flow.link_session, flow.link_user) {
        let link = (session, user_id);
        return link_code(core, id, proved, known, link, flow, now, random).await;
    }
    let Proved {
        issuer,
        subject,
        email,
        verified,
        name,
    } = proved;
    let code = match known {
        Some(user_id) => OAuthCode::SignIn(user_id),
        None => {
            let email = email.ok_or(Failure::Login(LoginError::EmailRequired))?;
            let email =
                Email::parse(&email).map_err(|_| Failure::Login(LoginError::EmailRequired))?;
            // Nobody takes an address the provider does not vouch for.
            if !verified {
                return Err(Failure::Login(LoginError::EmailUnverified));
            }
            if core.store.user_by_email(email.key()).await?.is_some() {
                return Err(Failure::Login(LoginError::AccountExists));
            }
            // The account is made at the exchange, once the post-authentication hook allows it.
            OAuthCode::SignUp(PendingSignUp {
                provider: id.to_owned(),
                issuer,
                subject,
                email: email.as_str().to_owned(),
                // Trimmed first: a provider's name with a trailing newline is still a name.
                name: name.and_then(|n| {
                    super::accounts::parse_name(Some(n.trim().to_owned()))
                        .ok()
                        .flatten()
                }),
            })
        }
    };
    issue_code(core, &code, flow, now, random).await
}

/// Logs why a provider's answer was refused (`what`, and the error); the app gets
/// `invalid_response`.
fn refused<'a, E: std::fmt::Display>(
    id: &'a str,
    what: &'static str,
) -> impl FnOnce(E) -> Failure + 'a {
    move |err| {
        tracing::info!(provider = id, %err, what, "a provider's answer was refused");
        Failure::Login(LoginError::InvalidResponse)
    }
}

/// The identity a provider's answer proved.
struct Proved {
    /// The provider's issuer.
    issuer: String,
    /// The user's subject (stable id) there.
    subject: String,
    /// The address it gave, if any.
    email: Option<String>,
    /// Whether it vouches for that address.
    verified: bool,
    /// The user's name there, if any.
    name: Option<String>,
}

/// The identity an OpenID Connect provider's answer proves: `iss` (RFC 9207), the code
/// exchanged with the PKCE verifier, the ID token verified (signature, `aud`, `exp`, `nonce`),
/// userinfo when the token carries no address.
async fn oidc_identity(
    core: &Core,
    (index, provider): (usize, &OAuthProvider),
    query: CallbackQuery,
    flow: &OAuthFlowRow,
    now: Timestamp,
) -> Result<Proved, Failure> {
    let id = provider.id.as_str();
    let (oidc, metadata) = client_for(core, index, provider, now, false).await?;
    // RFC 9207: the answer names its issuer; a mix-up attack sends another's.
    let expected = metadata.issuer().as_str();
    let sends_iss = metadata
        .additional_metadata()
        .authorization_response_iss_parameter_supported
        .unwrap_or(false);
    match query.iss.as_deref() {
        Some(iss) if iss != expected => return Err(Failure::Login(LoginError::InvalidResponse)),
        None if sends_iss => return Err(Failure::Login(LoginError::InvalidResponse)),
        _ => {}
    }
    let code = query
        .code
        .ok_or(Failure::Login(LoginError::InvalidResponse))?;
    let exchange = oidc
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|err| Error::internal(format!("token endpoint: {err}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()));
    let tokens = exchange
        .request_async(&core.oauth.http)
        .await
        .map_err(refused(id, "the code exchange failed"))?;
    let id_token = tokens
        .id_token()
        .ok_or(Failure::Login(LoginError::InvalidResponse))?;
    let nonce = Nonce::new(flow.nonce.clone());
    let claims = match id_token.claims(&oidc.id_token_verifier(), &nonce) {
        Ok(claims) => claims,
        // Signed with a key published since the metadata were read (a rotation): read them
        // again, once, and check again.
        Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
            let (fresh, _) = client_for(core, index, provider, now, true).await?;
            id_token
                .claims(&fresh.id_token_verifier(), &nonce)
                .map_err(refused(id, "an ID token was refused"))?
        }
        Err(err) => return Err(refused(id, "an ID token was refused")(err)),
    };
    let subject = claims.subject().as_str().to_owned();
    let mut email = claims.email().map(|e| e.as_str().to_owned());
    let mut verified = claims.email_verified().unwrap_or(false);
    let mut name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned());
    if email.is_none() {
        // Many providers put the address in userinfo only.
        let request = oidc
            .user_info(
                tokens.access_token().clone(),
                Some(claims.subject().clone()),
            )
            .map_err(|err| Error::internal(format!("userinfo endpoint: {err}")))?;
        let info: CoreUserInfoClaims =
            request
                .request_async(&core.oauth.http)
                .await
                .map_err(|err| {
                    tracing::info!(provider = id, %err, "userinfo failed");
                    Failure::Login(LoginError::ProviderUnavailable)
                })?;
        email = info.email().map(|e| e.as_str().to_owned());
        verified = info.email_verified().unwrap_or(false);
        name = name.or_else(|| {
            info.name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned())
        });
    }
    Ok(Proved {
        issuer: expected.to_owned(),
        subject,
        email,
        verified,
        name,
    })
}

/// A link's code, for the session that started it: the identity stays pending until that
/// session finishes the link with the page's verifier.
#[allow(clippy::too_many_arguments)]
async fn link_code(
    core: &Core,
    id: &str,
    proved: Proved,
    known: Option<UserId>,
    (session, user_id): (SessionId, UserId),
    flow: &OAuthFlowRow,
    now: Timestamp,
    random: &Random,
) -> Result<String, Failure> {
    // No address the provider does not vouch for is kept against an account.
    if proved.email.is_some() && !proved.verified {
        return Err(Failure::Login(LoginError::EmailUnverified));
    }
    if known.is_some_and(|owner| owner != user_id) {
        return Err(Failure::Login(LoginError::IdentityTaken));
    }
    let code = format!("{CODE_PREFIX}{}", b64(&random.bytes::<32>()));
    let link = PendingLink {
        user_id,
        app_challenge: flow.app_challenge.clone(),
        provider: id.to_owned(),
        issuer: proved.issuer,
        subject: proved.subject,
        email: proved.email,
    };
    let expires_at = now.plus(CODE_TTL).millis();
    let hash = sha256(code.as_bytes());
    core.store
        .insert_link_code(&hash, &session, &link, expires_at)
        .await?;
    Ok(code)
}

/// A code for the app to exchange for what `code` is for, with `flow`'s challenge.
async fn issue_code(
    core: &Core,
    code: &OAuthCode,
    flow: &OAuthFlowRow,
    now: Timestamp,
    random: &Random,
) -> Result<String, Failure> {
    let text = format!("{CODE_PREFIX}{}", b64(&random.bytes::<32>()));
    let hash = sha256(text.as_bytes());
    let expires_at = now.plus(CODE_TTL).millis();
    core.store
        .insert_oauth_code(&hash, code, &flow.app_challenge, expires_at)
        .await?;
    Ok(text)
}

async fn client_for(
    core: &Core,
    index: usize,
    provider: &OAuthProvider,
    now: Timestamp,
    fresh: bool,
) -> Result<(OidcClient, Arc<Metadata>), Failure> {
    client(core, index, provider, now, fresh)
        .await
        .map_err(|err| {
            tracing::warn!(provider = provider.id, %err, "an OAuth provider is unavailable");
            Failure::Login(LoginError::ProviderUnavailable)
        })
}

/// The query pairs of `url` but those named in `names`.
fn without(url: &url::Url, names: &[&str]) -> Vec<(String, String)> {
    url.query_pairs()
        .filter(|(k, _)| !names.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `url` with `name=value` set in its query (one of it, whatever was there).
fn with_param(url: &str, name: &str, value: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut url) => {
            let kept = without(&url, &[name]);
            url.set_query(None);
            url.query_pairs_mut()
                .extend_pairs(kept)
                .append_pair(name, value);
            url.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// `POST /auth/oauth/exchange`: the app's code and its verifier for a session bound to the
/// device key of the proof (required), or the second factor's ticket. `invalid_link` for a code
/// that is unknown, used, older than 60 seconds, or shown with another page's verifier.
pub async fn exchange(
    core: &Core,
    request: &OAuthExchange,
    dpop: &dpop::Request,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<SignInAnswer, Error> {
    let refused = || {
        Error::rejected(
            ErrorCode::InvalidLink,
            "This sign-in code is unknown, used already, expired, or not this page's: sign in again.",
        )
    };
    let on = core.settings.rate_limits;
    limits::check(&core.store, on, OAUTH_PER_IP, &client.ip_key(), now).await?;
    // The proof first (recorded): the session must be bound to this browser's device key.
    let device = device_proof(core, dpop, now).await?.ok_or_else(|| {
        Error::rejected(
            ErrorCode::DpopRequired,
            "Exchange the code with a DPoP proof: the session is bound to this device's key.",
        )
    })?;
    let code = &request.code;
    if !code.starts_with(CODE_PREFIX) || code.len() != CODE_PREFIX.len() + 43 {
        return Err(refused());
    }
    let (code, challenge) = core
        .store
        .take_oauth_code(&sha256(code.as_bytes()), now.millis())
        .await?
        .ok_or_else(refused)?;
    let shown = b64(&sha256(request.code_verifier.as_bytes()));
    if !super::constant_time_eq(shown.as_bytes(), challenge.as_bytes()) {
        return Err(refused());
    }
    let user_id = match code {
        OAuthCode::SignIn(user_id) => user_id,
        OAuthCode::SignUp(sign_up) => {
            let made = first_sign_in(core, sign_up, client, &device, now, random).await?;
            match made {
                FirstSignIn::Made(success) => return Ok(SignInAnswer::Session(success)),
                FirstSignIn::Known(user_id) => user_id,
            }
        }
    };
    let user = core.store.user(&user_id).await?.ok_or_else(refused)?;
    first_factor(core, &user, &["fed"], client, Some(&device), now, random).await
}

/// What a first sign-in's exchange came to.
enum FirstSignIn {
    /// The new account, signed in.
    Made(AuthSuccess),
    /// The identity's account, made meanwhile by another first sign-in: it signs in like any.
    Known(UserId),
}

/// Makes the account of a provider's first sign-in, with its identity and first session, in
/// one transaction once the post-authentication hook allows it. `email_taken` when the address
/// became another account's since the callback.
async fn first_sign_in(
    core: &Core,
    sign_up: PendingSignUp,
    client: &Client,
    device: &dpop::Proof,
    now: Timestamp,
    random: &Random,
) -> Result<FirstSignIn, Error> {
    let email = Email::parse(&sign_up.email)
        .map_err(|_| Error::internal("a first sign-in's address no longer parses"))?;
    let user = UserRow {
        id: UserId::new(now, random.bytes()),
        email: email.as_str().to_owned(),
        email_key: email.key().to_owned(),
        email_verified_at: Some(now.millis()),
        name: sign_up.name,
        password_hash: None,
        created_at: now.millis(),
        disabled_at: None,
        last_sign_in_at: None,
    };
    let (issuer, subject) = (sign_up.issuer, sign_up.subject);
    let identity = IdentityRow {
        id: b64(&random.bytes::<16>()),
        user_id: user.id,
        provider: sign_up.provider,
        issuer: issuer.clone(),
        subject: subject.clone(),
        email: Some(user.email.clone()),
        created_at: now.millis(),
    };
    let start = Start {
        user: &user,
        sign_up: true,
        amr: &["fed"],
        client,
        event: AuditKind::SignUp,
        device: Some(device),
        way_in: Some(WayIn::Identity(identity)),
    };
    match signed_up(core, start, now, random).await {
        Ok(success) => Ok(FirstSignIn::Made(success)),
        // The same identity's first sign-in, a moment ago: its account.
        Err(err) if err.code() == Some(ErrorCode::EmailTaken) => {
            match core.store.identity_user(&issuer, &subject).await? {
                Some(user_id) => Ok(FirstSignIn::Known(user_id)),
                None => Err(err),
            }
        }
        Err(err) => Err(err),
    }
}

/// `POST /auth/identities`: finishes a link this session started, with the `keyward_code` the
/// provider's callback sent the page back with and the page's verifier: the identity is the
/// account's from now on (its provider signs in to it). `invalid_link` for a code that is
/// unknown, used, older than 60 seconds, another session's or shown with another page's
/// verifier.
pub async fn finish_link(
    core: &Core,
    claims: &AccessClaims,
    request: &OAuthExchange,
    client: &Client,
    (now, random): (Timestamp, &Random),
) -> Result<Identity, Error> {
    let refused = || {
        Error::rejected(
            ErrorCode::InvalidLink,
            "This link code is unknown, used already, expired, or not this page's: link again.",
        )
    };
    // As recent as starting it asked: a stolen token cannot finish a link left open.
    require_recent_auth(core, claims, now)?;
    let code = &request.code;
    if !code.starts_with(CODE_PREFIX) || code.len() != CODE_PREFIX.len() + 43 {
        return Err(refused());
    }
    let hash = sha256(code.as_bytes());
    let link = core
        .store
        .take_link_code(&hash, &claims.sid, now.millis())
        .await?
        .ok_or_else(refused)?;
    let shown = b64(&sha256(request.code_verifier.as_bytes()));
    if !super::constant_time_eq(shown.as_bytes(), link.app_challenge.as_bytes())
        || link.user_id != claims.sub
    {
        return Err(refused());
    }
    let identity = IdentityRow {
        id: b64(&random.bytes::<16>()),
        user_id: link.user_id,
        provider: link.provider,
        issuer: link.issuer,
        subject: link.subject,
        email: link.email,
        created_at: now.millis(),
    };
    let event = audit::event(AuditKind::IdentityLinked, now, client)
        .user(&claims.sub)
        .session(&claims.sid)
        .detail(serde_json::json!({ "provider": identity.provider, "identity": identity.id }));
    let linked = core
        .store
        .link_identity(&identity, &claims.sid, &event)
        .await?
        .ok_or_else(|| Error::rejected(ErrorCode::SessionRevoked, "This session has ended."))?;
    match linked {
        Linked::New => Ok(identity_view(&identity)),
        Linked::Already => core
            .store
            .identities(&claims.sub)
            .await?
            .iter()
            .find(|row| row.issuer == identity.issuer && row.subject == identity.subject)
            .map(identity_view)
            .ok_or_else(refused),
        Linked::Taken => Err(Error::rejected(
            ErrorCode::IdentityTaken,
            "This provider's account is linked to another account here.",
        )),
    }
}

/// `GET /auth/identities`: the providers linked to the account, oldest first.
pub async fn identities(core: &Core, user_id: &UserId) -> Result<Vec<Identity>, Error> {
    let rows = core.store.identities(user_id).await?;
    Ok(rows.iter().map(identity_view).collect())
}

/// `DELETE /auth/identities/{id}`: needs a recent sign-in, and never removes the account's
/// last way to sign in (no password, passkey or other provider left).
pub async fn unlink(
    core: &Core,
    claims: &AccessClaims,
    id: &str,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    require_recent_auth(core, claims, now)?;
    let event = audit::event(AuditKind::IdentityUnlinked, now, client)
        .user(&claims.sub)
        .session(&claims.sid)
        .detail(serde_json::json!({ "identity": id }));
    match core.store.unlink_identity(&claims.sub, id, &event).await? {
        Removal::Removed => Ok(()),
        Removal::NotFound => Err(Error::rejected(
            ErrorCode::NotFound,
            "No such linked account.",
        )),
        Removal::LastSignInMethod => Err(Error::rejected(
            ErrorCode::LastSignInMethod,
            "This is the account's last way to sign in: add a password, a passkey or another provider first.",
        )),
    }
}

fn identity_view(row: &IdentityRow) -> Identity {
    Identity {
        id: row.id.clone(),
        provider: row.provider.clone(),
        email: row.email.clone(),
        created_at: Timestamp::from_millis(row.created_at).to_rfc3339(),
    }
}
