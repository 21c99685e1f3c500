//! `POST /auth/oidc/browser-session`: the app's own sign-in page (setting
//! `oidc_sign_in_page`), signed in, hands the pending authorization request back to Keyward and
//! gets the provider's cookie for its session.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use keyward_proto::{BrowserSession, BrowserSessionStarted, Envelope, ErrorCode, ErrorEnvelope};

use super::pages::{cookie_of, same_origin};
use super::protocol::provider_off;
use crate::domain::audit::Client;
use crate::domain::oidc_provider::browser;
use crate::domain::{Random, Timestamp};
use crate::http::extract::{ApiJson, AuthUser};
use crate::{Error, Keyward};

/// The signed-in user's page hands back the `oidc_req` it was opened with: the browser gets the
/// provider's cookie for this session (`Set-Cookie`, HttpOnly, SameSite=Lax), and the address
/// to go to next. Called from this server's own origin only.
#[utoipa::path(
    post,
    path = "/auth/oidc/browser-session",
    tag = "openid provider",
    security(("bearer" = [])),
    request_body = BrowserSession,
    responses(
        (status = 200, description = "The cookie is set; go to `continue_to`.", body = Envelope<BrowserSessionStarted>),
        (status = 400, description = "`invalid_request`: the request is unknown or expired (start again from the app).", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`, `session_revoked`; `reauthentication_required`: the app asked for a fresh sign-in.", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not called from this server's own origin.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: this server is not an OpenID Connect provider (setting `oidc_provider`), or has no app sign-in page (setting `oidc_sign_in_page`).", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: too many from this address (with `Retry-After`).", body = ErrorEnvelope),
    )
)]
pub(crate) async fn browser_session(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<BrowserSession>,
) -> Response {
    // Only for an app that set its sign-in page: without one, Keyward's own page is the only
    // way in, and app sessions do not count as sign-ins at the provider.
    let page_set = keyward.core().settings.oidc_sign_in_page.is_some();
    if let Some(off) = provider_off(&keyward) {
        return off;
    }
    if !page_set {
        return Error::rejected(
            ErrorCode::NotFound,
            "No app sign-in page is set for the OpenID Connect provider (setting \
             oidc_sign_in_page).",
        )
        .into_response();
    }
    // The cookie is this origin's: another site must not plant its user's session here (a
    // login CSRF that would sign the victim into apps as someone else).
    if !same_origin(&keyward, &headers) {
        return Error::rejected(
            ErrorCode::Forbidden,
            "This is called from this server's own sign-in page only.",
        )
        .into_response();
    }
    let core = keyward.core();
    let now = Timestamp::now();
    let previous = cookie_of(&keyward, &headers);
    let attached = browser::from_app(
        core,
        (&user.user_id, &user.session_id),
        (&body.req, previous),
        (&client, now, &Random::os()),
    )
    .await;
    let cookie = match attached {
        Ok(cookie) => cookie,
        Err(error) => return error.into_response(),
    };
    let continue_to = format!("/auth/oidc/continue?req={}", body.req);
    let mut response = Json(Envelope::new(BrowserSessionStarted { continue_to })).into_response();
    let headers = response.headers_mut();
    let set = cookie.map(|(value, max_age)| browser::set_cookie(core, &value, max_age));
    if let Some(cookie) = set.and_then(|set| HeaderValue::from_str(&set).ok()) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
