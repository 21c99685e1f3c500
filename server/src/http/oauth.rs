//! Sign-in with OpenID Connect providers: `GET /auth/oauth/providers`,
//! `GET /auth/oauth/{provider}/start`, `GET /auth/oauth/{provider}/callback`,
//! `POST /auth/oauth/exchange`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_proto::{
    Envelope, ErrorEnvelope, OAuthExchange, OAuthProviderInfo, OAuthProviders, SignInAnswer,
};

use super::extract::{ApiJson, Dpop};
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

/// The parameters of a query string, each named at most once; `None` when one of `names`
/// comes twice (which one would count is not for a client to choose). Never fails on
/// encoding, so bad input is answered by the endpoint, in JSON.
fn parameters<const N: usize>(raw: Option<&str>, names: [&str; N]) -> Option<[Option<String>; N]> {
    let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if let Some(i) = names.iter().position(|name| *name == key) {
            let slot = found.get_mut(i)?;
            if slot.is_some() {
                return None;
            }
            *slot = Some(value.into_owned());
        }
    }
    Some(found)
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
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=600{secure}",
        cookie_name(&keyward),
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
    let name = cookie_name(&keyward);
    let binding = cookie(&headers, name);
    // A parameter given twice (pollution) leaves nothing to trust: the sign-in is not found.
    let [code, state, iss, error] =
        parameters(query.as_deref(), ["code", "state", "iss", "error"]).unwrap_or_default();
    let query = CallbackQuery {
        code,
        state,
        iss,
        error,
    };
    let core = keyward.core();
    let location = oauth::callback(core, &provider, query, binding, &client, now, &random).await?;
    let secure = if name == SECURE_COOKIE {
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
