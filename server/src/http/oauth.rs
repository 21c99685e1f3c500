//! Sign-in with OpenID Connect providers: `GET /auth/oauth/providers`,
//! `GET /auth/oauth/{provider}/start`, `GET /auth/oauth/{provider}/callback`,
//! `POST /auth/oauth/exchange`; and linking them to an account:
//! `POST /auth/oauth/{provider}/link`, `GET` / `POST /auth/identities`,
//! `DELETE /auth/identities/{id}`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_proto::{
    Envelope, ErrorEnvelope, Identities, IdentityLinked, OAuthExchange, OAuthLink,
    OAuthLinkStarted, OAuthProviderInfo, OAuthProviders, SignInAnswer,
};

use super::extract::parameters;
use super::extract::{ApiJson, AuthUser, Dpop};
use crate::domain::audit::Client;
use crate::domain::oauth::{self, COOKIE, CallbackQuery, SECURE_COOKIE};
use crate::domain::{Random, Timestamp};
use crate::{Error, Keyward};

/// The providers this server signs in with.
#[utoipa::path(
    get,
    path = "/auth/oauth/providers",
    tag = "oauth",
    responses((status = 200, description = "The configured providers.", body = Envelope<OAuthProviders>))
)]
pub(crate) async fn providers(State(keyward): State<Keyward>) -> Json<Envelope<OAuthProviders>> {
    let providers = oauth::providers(keyward.core())
        .into_iter()
        .map(|(id, name)| OAuthProviderInfo { id, name })
        .collect();
    Json(Envelope::new(OAuthProviders { providers }))
}

/// Where the browser comes back to, and the page's challenge.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by `parameters`; the struct documents them.
pub(crate) struct StartQuery {
    /// The app's page that gets `keyward_code` or `login_error` (an allowed origin; the app's
    /// default page when left out).
    redirect_to: Option<String>,
    /// The base64url SHA-256 of a random verifier the page keeps for the exchange.
    #[param(min_length = 43, max_length = 43, pattern = "^[A-Za-z0-9_-]{43}$")]
    code_challenge: String,
}

/// The binding cookie's name: `__Host-` on an https server.
fn cookie_name(keyward: &Keyward) -> &'static str {
    if keyward.core().settings.issuer.starts_with("https://") {
        SECURE_COOKIE
    } else {
        COOKIE
    }
}

/// Start signing in with `provider`: a redirect to it (authorization code with PKCE S256,
/// `state` and `nonce`), and a cookie that binds the sign-in to this browser.
#[utoipa::path(
    get,
    path = "/auth/oauth/{provider}/start",
    tag = "oauth",
    params(("provider" = String, Path, description = "The provider's id."), StartQuery),
    responses(
        (status = 302, description = "To the provider."),
        (status = 400, description = "`invalid_request`: no `code_challenge`, or not 43 base64url characters.", body = ErrorEnvelope),
        (status = 403, description = "`redirect_not_allowed`: not a page of an allowed origin.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such provider.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
        (status = 503, description = "`unavailable`: the provider cannot be reached.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn start(
    State(keyward): State<Keyward>,
    Path(provider): Path<String>,
    client: Client,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let core = keyward.core();
    let [redirect_to, challenge] = parameters(query.as_deref(), ["redirect_to", "code_challenge"])
        .ok_or_else(|| {
            Error::rejected(
                keyward_proto::ErrorCode::InvalidRequest,
                "Each parameter may be given once.",
            )
        })?;
    let asked = (redirect_to.as_deref(), challenge.as_deref().unwrap_or(""));
    let started = oauth::start(core, &provider, asked, &client, now, &random).await?;
    let secure = if cookie_name(&keyward) == SECURE_COOKIE {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}_{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=600{secure}",
        cookie_name(&keyward),
        started.suffix,
        started.binding
    );
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, started.location),
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response())
}

/// The value of cookie `name` in `headers`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Where the provider sends the browser back: checks its answer and sends the browser on to the
/// app's page with `keyward_code` (or `login_error`).
#[utoipa::path(
    get,
    path = "/auth/oauth/{provider}/callback",
    tag = "oauth",
    params(("provider" = String, Path, description = "The provider's id.")),
    responses((status = 302, description = "To the app's page, with `keyward_code` or `login_error`."))
)]
pub(crate) async fn callback(
    State(keyward): State<Keyward>,
    Path(provider): Path<String>,
    client: Client,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    // A parameter given twice (pollution) leaves nothing to trust: the sign-in is not found.
    let [code, state, iss, error] =
        parameters(query.as_deref(), ["code", "state", "iss", "error"]).unwrap_or_default();
    // The sign-in's own cookie (each has one: see `oauth::cookie_suffix`).
    let suffix = oauth::cookie_suffix(state.as_deref().unwrap_or_default());
    let name = format!("{}_{suffix}", cookie_name(&keyward));
    let binding = cookie(&headers, &name).map(str::to_owned);
    let query = CallbackQuery {
        code,
        state,
        iss,
        error,
    };
    let core = keyward.core();
    let binding = binding.as_deref();
    let location = oauth::callback(core, &provider, query, binding, &client, now, &random).await?;
    let secure = if cookie_name(&keyward) == SECURE_COOKIE {
        "; Secure"
    } else {
        ""
    };
    let expired = format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}");
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::SET_COOKIE, expired),
            (header::CACHE_CONTROL, "no-store".into()),
            (header::REFERRER_POLICY, "no-referrer".into()),
        ],
    )
        .into_response())
}

/// Trade the `keyward_code` for a session, bound to the device key of the `DPoP` proof like any
/// other sign-in; or the second factor's ticket.
#[utoipa::path(
    post,
    path = "/auth/oauth/exchange",
    tag = "oauth",
    request_body = OAuthExchange,
    responses(
        (status = 200, description = "Signed in, or `{mfa_required, mfa_ticket, methods}`.", body = Envelope<SignInAnswer>),
        (status = 401, description = "`invalid_link` (unknown, used, older than 60 s, or another page's verifier), `dpop_required` (a proof is required here), or a DPoP refusal.", body = ErrorEnvelope),
        (status = 403, description = "`email_not_verified`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn exchange(
    State(keyward): State<Keyward>,
    client: Client,
    Dpop(dpop): Dpop,
    ApiJson(body): ApiJson<OAuthExchange>,
) -> Result<Json<Envelope<SignInAnswer>>, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let answer = oauth::exchange(keyward.core(), &body, &dpop, &client, now, &random).await?;
    Ok(Json(Envelope::new(answer)))
}

/// Start linking `provider` to the signed-in account (needs a recent sign-in): the URL to send
/// the browser to. The provider sends it back to `redirect_to` with a `keyward_code` that only
/// this session, with the page's verifier, can turn into a link (`POST /auth/identities`).
#[utoipa::path(
    post,
    path = "/auth/oauth/{provider}/link",
    tag = "oauth",
    security(("bearer" = [])),
    params(("provider" = String, Path, description = "The provider's id.")),
    request_body = OAuthLink,
    responses(
        (status = 200, description = "The provider's URL.", body = Envelope<OAuthLinkStarted>),
        (status = 400, description = "`invalid_request`: `code_challenge` is not 43 base64url characters.", body = ErrorEnvelope),
        (status = 401, description = "Not signed in, or `reauthentication_required`: the sign-in is older than `recent_auth` (10 minutes by default).", body = ErrorEnvelope),
        (status = 403, description = "`redirect_not_allowed`: not a page of an allowed origin.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such provider.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
        (status = 503, description = "`unavailable`: the provider cannot be reached.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn link(
    State(keyward): State<Keyward>,
    user: AuthUser,
    Path(provider): Path<String>,
    client: Client,
    ApiJson(body): ApiJson<OAuthLink>,
) -> Result<Json<Envelope<OAuthLinkStarted>>, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let core = keyward.core();
    let url = oauth::link(
        core,
        &user.claims,
        &provider,
        &body,
        &client,
        (now, &random),
    )
    .await?;
    Ok(Json(Envelope::new(OAuthLinkStarted { url })))
}

/// The providers linked to the signed-in account.
#[utoipa::path(
    get,
    path = "/auth/identities",
    tag = "oauth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Oldest first.", body = Envelope<Identities>),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn identities(
    State(keyward): State<Keyward>,
    user: AuthUser,
) -> Result<Json<Envelope<Identities>>, Error> {
    let identities = oauth::identities(keyward.core(), &user.claims.sub).await?;
    Ok(Json(Envelope::new(Identities { identities })))
}

/// Finish a link this session started: the `keyward_code` the provider's callback sent the
/// page back with, and the page's verifier.
#[utoipa::path(
    post,
    path = "/auth/identities",
    tag = "oauth",
    security(("bearer" = [])),
    request_body = OAuthExchange,
    responses(
        (status = 201, description = "Linked (or it was already).", body = Envelope<IdentityLinked>),
        (status = 401, description = "Not signed in, or `invalid_link` (unknown, used, older than 60 s, another session's, or another page's verifier).", body = ErrorEnvelope),
        (status = 409, description = "`identity_taken`: another account has linked it meanwhile.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn finish_link(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    ApiJson(body): ApiJson<OAuthExchange>,
) -> Result<(StatusCode, Json<Envelope<IdentityLinked>>), Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let core = keyward.core();
    let identity = oauth::finish_link(core, &user.claims, &body, &client, (now, &random)).await?;
    Ok((
        StatusCode::CREATED,
        Json(Envelope::new(IdentityLinked { identity })),
    ))
}

/// Unlink a provider (needs a recent sign-in; never the account's last way to sign in).
#[utoipa::path(
    delete,
    path = "/auth/identities/{id}",
    tag = "oauth",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The identity's id.")),
    responses(
        (status = 204, description = "Unlinked."),
        (status = 401, description = "Not signed in, or `reauthentication_required`: the sign-in is older than `recent_auth` (10 minutes by default).", body = ErrorEnvelope),
        (status = 404, description = "`not_found`.", body = ErrorEnvelope),
        (status = 409, description = "`last_sign_in_method`: no password, passkey or other provider would be left.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn unlink(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    oauth::unlink(keyward.core(), &user.claims, &id, &client, Timestamp::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
