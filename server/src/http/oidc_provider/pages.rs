//! The provider's pages, served by Keyward itself on its own origin: the authorization endpoint,
//! the sign-in form (password, then a code from the authenticator app when the account has a
//! second factor), and the consent page. Plain HTML forms that work without JavaScript.
//!
//! Every form POST must come from this origin (`Origin`, or `Sec-Fetch-Site: same-origin`),
//! which also stops login CSRF on the cookie-less sign-in form, and carry the form's
//! anti-forgery token (a MAC of the form, the browser's cookie and the request). Pages may not
//! be framed, keep no cache and send no referrer. They are not in the OpenAPI document (they
//! answer HTML and redirects, not JSON).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_proto::ErrorCode;

use crate::domain::audit::Client;
use crate::domain::mail::html_escape as escape;
use crate::domain::oidc_provider::authorize::{self, Allowed, Asked, Next, Pending, Refused};
use crate::domain::oidc_provider::browser::{self, SignedIn};
use crate::domain::oidc_provider::logout::{self, LogoutRefused};
use crate::domain::{OrgId, Random, Timestamp};
use crate::http::extract::parameters;
use crate::http::oidc_provider::protocol::provider_off as off;
use crate::store::BrowserSessionRow;
use crate::{Error, Keyward};

/// An HTML page: `title` and `body` (already HTML), with the headers every page has.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:26rem;\
         margin:3rem auto;padding:0 1rem}}label,input,button{{display:block;width:100%;\
         margin:.4rem 0}}input,button{{padding:.5rem;font-size:1rem}}.error{{color:#a00}}\
         </style></head><body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Not `no-referrer`: with it, browsers send `Origin: null` with the page's own form
        // posts, which the same-origin check must refuse. `same-origin` keeps the sealed
        // request in the address from every other site all the same.
        (header::REFERRER_POLICY, "same-origin"),
        // No form-action: browsers apply it to the redirect after a form, which goes to the
        // client's site.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
             base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn see_other(location: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn error_page(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Sign-in stopped",
        &format!("<p class=\"error\">{}</p>", escape(message)),
    )
}

fn server_error(error: &Error) -> Response {
    tracing::error!(%error, "an OpenID Connect page failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on the server. Go back to the app and try again.",
    )
}

/// The browser's provider cookie, if it sent one.
pub(super) fn cookie_of<'a>(keyward: &Keyward, headers: &'a HeaderMap) -> Option<&'a str> {
    let name = browser::cookie_name(keyward.core());
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

async fn browser_session(
    keyward: &Keyward,
    headers: &HeaderMap,
    now: Timestamp,
) -> Result<Option<BrowserSessionRow>, Error> {
    match cookie_of(keyward, headers) {
        Some(value) => browser::find(keyward.core(), value, now).await,
        None => Ok(None),
    }
}

/// Where the browser signs in for `req`: the app's own page (setting `oidc_sign_in_page`), with
/// `oidc_req`, or Keyward's.
fn sign_in_url(keyward: &Keyward, req: &str) -> String {
    match &keyward.core().settings.oidc_sign_in_page {
        Some(page) => {
            let joint = if page.contains('?') { '&' } else { '?' };
            format!("{page}{joint}oidc_req={req}")
        }
        None => format!("/auth/oidc/sign-in?req={req}"),
    }
}

/// Whether a form POST (or the app page's call) comes from this origin. A page with
/// `Referrer-Policy: no-referrer` (the app's may have it) makes browsers send `Origin: null` with
/// its own posts: then, as with no `Origin`, the browser's `Sec-Fetch-Site` decides (a page of
/// another site, sandboxed or not, is never `same-origin` there).
pub(super) fn same_origin(keyward: &Keyward, headers: &HeaderMap) -> bool {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|origin| *origin != "null");
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    match origin {
        Some(origin) => origin == keyward.core().settings.public_origin(),
        None => fetch_site == Some("same-origin"),
    }
}

/// What comes next for `req`, as a response: a page of ours, or back to the client.
async fn go_on(
    keyward: &Keyward,
    (req, pending): (&str, &Pending),
    browser: Option<&BrowserSessionRow>,
    allowed: Option<&Allowed>,
    (client, cookie): (&Client, Option<String>),
) -> Response {
    let now = Timestamp::now();
    let core = keyward.core();
    match authorize::next(
        core,
        pending,
        browser,
        allowed,
        (client, now, &Random::os()),
    )
    .await
    {
        Ok(Next::SignIn) => see_other(&sign_in_url(keyward, req), cookie),
        Ok(Next::Consent) => see_other(&format!("/auth/oidc/consent?req={req}"), cookie),
        Ok(Next::Back(url)) => see_other(&url, cookie),
        Ok(Next::Stop) => error_page(
            StatusCode::BAD_REQUEST,
            "This app can no longer be signed in to from here (it changed or is gone).",
        ),
        Err(error) => refused_page(&error),
    }
}

/// The page for a refusal on the way: too many requests (429), the database away (503), or
/// a failure (500).
fn refused_page(error: &Error) -> Response {
    match error.code() {
        Some(ErrorCode::RateLimited) => error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests from here. Wait a minute and try again.",
        ),
        Some(ErrorCode::Unavailable) => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is briefly unavailable. Try again in a moment.",
        ),
        Some(ErrorCode::InvalidRequest) => match error {
            Error::Rejected { message, .. } => error_page(StatusCode::BAD_REQUEST, message),
            _ => server_error(error),
        },
        _ => server_error(error),
    }
}

/// `GET /auth/oidc/authorize`: the authorization endpoint (code flow).
pub(crate) async fn authorize_endpoint(
    State(keyward): State<Keyward>,
    client: Client,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    authorize_with(&keyward, &client, &headers, query.as_deref()).await
}

/// `POST /auth/oidc/authorize`: the same, with the parameters in a form (OpenID Connect Core
/// §3.1.2.1).
pub(crate) async fn authorize_form(
    State(keyward): State<Keyward>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = std::str::from_utf8(&body) else {
        return error_page(StatusCode::BAD_REQUEST, "The request is not UTF-8.");
    };
    authorize_with(&keyward, &client, &headers, Some(form)).await
}

/// The authorization request with these parameters.
async fn authorize_with(
    keyward: &Keyward,
    client: &Client,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    if let Some(off) = off(keyward) {
        return off;
    }
    let names = [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "request",
        "request_uri",
        "response_mode",
        "dpop_jkt",
    ];
    let Some(found) = parameters(query, names) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "A parameter is given more than once.",
        );
    };
    let [
        client_id,
        redirect_uri,
        response_type,
        scope,
        state,
        nonce,
        code_challenge,
        code_challenge_method,
        prompt,
        max_age,
        request,
        request_uri,
        response_mode,
        dpop_jkt,
    ] = found;
    let asked = Asked {
        client_id,
        redirect_uri,
        response_type,
        scope,
        state,
        nonce,
        code_challenge,
        code_challenge_method,
        prompt,
        max_age,
        request_object: request.is_some() || request_uri.is_some(),
        response_mode,
        dpop_jkt,
    };
    let now = Timestamp::now();
    let pending = match authorize::check(keyward.core(), asked, now).await {
        Ok((pending, _)) => pending,
        Err(Refused::Page(message)) => return error_page(StatusCode::BAD_REQUEST, message),
        Err(Refused::Redirect(url)) => return see_other(&url, None),
        Err(Refused::Server(error)) => return server_error(&error),
    };
    let req = authorize::seal(keyward.core(), &pending);
    let browser = match browser_session(keyward, headers, now).await {
        Ok(browser) => browser,
        Err(error) => return server_error(&error),
    };
    go_on(
        keyward,
        (&req, &pending),
        browser.as_ref(),
        None,
        (client, None),
    )
    .await
}

/// Why a page goes no further.
enum Stop {
    /// The pending request is gone (too old, or not ours).
    Gone,
    /// A form that did not come from this site.
    Forbidden,
}

impl Stop {
    fn page(self) -> Response {
        match self {
            Self::Gone => error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in took too long or its link is broken. Go back to the app and start \
                 again.",
            ),
            Self::Forbidden => error_page(
                StatusCode::FORBIDDEN,
                "This form did not come from this site.",
            ),
        }
    }
}

/// The pending request of `?req=…` (or the form's `req`).
fn pending_of(keyward: &Keyward, req: Option<&str>) -> Result<Pending, Stop> {
    req.and_then(|req| authorize::open(keyward.core(), req, Timestamp::now()))
        .ok_or(Stop::Gone)
}

/// The pending request a page's address carries (`?req=…`): the sealed text and what it says.
fn pending_in(keyward: &Keyward, query: Option<&str>) -> Result<(String, Pending), Stop> {
    let req = parameters(query, ["req"]).and_then(|[req]| req);
    let pending = pending_of(keyward, req.as_deref())?;
    Ok((req.unwrap_or_default(), pending))
}

fn sign_in_form(keyward: &Keyward, req: &str, message: Option<&str>) -> String {
    let csrf = authorize::csrf_token(keyward.core(), "sign-in", None, req);
    format!(
        "{}<form method=\"post\" action=\"/auth/oidc/sign-in\">\
         <input type=\"hidden\" name=\"req\" value=\"{req}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Email <input type=\"email\" name=\"email\" autocomplete=\"username\" required></label>\
         <label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Sign in</button></form>",
        message
            .map(|m| format!("<p class=\"error\">{}</p>", escape(m)))
            .unwrap_or_default(),
        req = escape(req),
    )
}

fn mfa_form(keyward: &Keyward, req: &str, ticket: &str, message: Option<&str>) -> String {
    let csrf = authorize::csrf_token(keyward.core(), "mfa", None, req);
    format!(
        "{}<p>Enter the code from your authenticator app.</p>\
         <form method=\"post\" action=\"/auth/oidc/sign-in/mfa\">\
         <input type=\"hidden\" name=\"req\" value=\"{req}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"mfa_ticket\" value=\"{ticket}\">\
         <label>Code <input name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required></label>\
         <button type=\"submit\">Continue</button></form>",
        message
            .map(|m| format!("<p class=\"error\">{}</p>", escape(m)))
            .unwrap_or_default(),
        req = escape(req),
        ticket = escape(ticket),
    )
}

/// `GET /auth/oidc/sign-in?req=…`: the sign-in page.
pub(crate) async fn sign_in_page(
    State(keyward): State<Keyward>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(off) = off(&keyward) {
        return off;
    }
    let req = match pending_in(&keyward, query.as_deref()) {
        Ok((req, _)) => req,
        Err(stop) => return stop.page(),
    };
    page(
        StatusCode::OK,
        "Sign in",
        &sign_in_form(&keyward, &req, None),
    )
}

/// Why a sign-in on the page was refused, in words for the page.
fn refused_words(error: &Error) -> Option<&'static str> {
    Some(match error.code()? {
        ErrorCode::InvalidCredentials | ErrorCode::InvalidEmail => {
            "The email or the password is not right."
        }
        ErrorCode::AccountLocked | ErrorCode::RateLimited => {
            "Too many attempts. Wait a while and try again."
        }
        ErrorCode::AccountDisabled => "This account is disabled.",
        ErrorCode::EmailNotVerified => "Verify your email address first (see the mail we sent).",
        ErrorCode::DpopRequired => {
            "This server signs in only with a device key: use the app's own sign-in, which needs \
             JavaScript."
        }
        ErrorCode::InvalidMfaCode | ErrorCode::ChallengeExpired => "The code is not right.",
        ErrorCode::Forbidden => "This sign-in was refused.",
        ErrorCode::InvalidTicket => "This sign-in took too long: sign in again.",
        _ => return None,
    })
}

/// A form POST's fields `names`, once it is shown to come from this origin and to carry the
/// anti-forgery token of `purpose`.
fn form_of<const N: usize>(
    keyward: &Keyward,
    headers: &HeaderMap,
    body: &[u8],
    (purpose, cookie): (&str, Option<&str>),
    names: [&str; N],
) -> Result<(String, Pending, [Option<String>; N]), Stop> {
    if !same_origin(keyward, headers) {
        return Err(Stop::Forbidden);
    }
    let body = std::str::from_utf8(body).map_err(|_| Stop::Forbidden)?;
    let [req, csrf] = parameters(Some(body), ["req", "csrf"]).ok_or(Stop::Forbidden)?;
    let fields = parameters(Some(body), names).ok_or(Stop::Forbidden)?;
    let pending = pending_of(keyward, req.as_deref())?;
    let req = req.unwrap_or_default();
    let csrf = csrf.unwrap_or_default();
    if !authorize::csrf_matches(keyward.core(), purpose, cookie, &req, &csrf) {
        return Err(Stop::Forbidden);
    }
    Ok((req, pending, fields))
}

/// After a sign-in on the page: the browser's cookie, then on to the next step.
async fn signed_in(
    keyward: &Keyward,
    (req, pending): (&str, &Pending),
    signed: SignedIn,
    (client, previous): (&Client, Option<&str>),
) -> Response {
    let now = Timestamp::now();
    let core = keyward.core();
    match signed {
        SignedIn::Mfa(ticket) => page(
            StatusCode::OK,
            "Second step",
            &mfa_form(keyward, req, &ticket, None),
        ),
        SignedIn::Session(session) => {
            // The browser's previous sign-in here, if any, ends: one at a time.
            if let Some(previous) = previous
                && let Err(error) = browser::end(core, previous, client, now).await
            {
                return server_error(&error);
            }
            let (value, max_age) = match browser::attach(core, &session, now, &Random::os()).await {
                Ok(made) => made,
                Err(error) => return server_error(&error),
            };
            let browser = match browser::find(core, &value, now).await {
                Ok(found) => found,
                Err(error) => return server_error(&error),
            };
            let cookie = browser::set_cookie(core, &value, max_age);
            go_on(
                keyward,
                (req, pending),
                browser.as_ref(),
                None,
                (client, Some(cookie)),
            )
            .await
        }
    }
}

/// `POST /auth/oidc/sign-in`: the sign-in form.
pub(crate) async fn sign_in(
    State(keyward): State<Keyward>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(off) = off(&keyward) {
        return off;
    }
    let (req, pending, [email, password]) = match form_of(
        &keyward,
        &headers,
        &body,
        ("sign-in", None),
        ["email", "password"],
    ) {
        Ok(form) => form,
        Err(stop) => return stop.page(),
    };
    let credentials = (email.unwrap_or_default(), password.unwrap_or_default());
    let now = Timestamp::now();
    match browser::sign_in(keyward.core(), credentials, &client, now, &Random::os()).await {
        Ok(signed) => {
            let previous = cookie_of(&keyward, &headers);
            signed_in(&keyward, (&req, &pending), signed, (&client, previous)).await
        }
        Err(error) => match refused_words(&error) {
            Some(words) => page(
                StatusCode::UNAUTHORIZED,
                "Sign in",
                &sign_in_form(&keyward, &req, Some(words)),
            ),
            None => refused_page(&error),
        },
    }
}

/// `POST /auth/oidc/sign-in/mfa`: the second step.
pub(crate) async fn sign_in_mfa(
    State(keyward): State<Keyward>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(off) = off(&keyward) {
        return off;
    }
    let (req, pending, [ticket, code]) = match form_of(
        &keyward,
        &headers,
        &body,
        ("mfa", None),
        ["mfa_ticket", "code"],
    ) {
        Ok(form) => form,
        Err(stop) => return stop.page(),
    };
    let ticket = ticket.unwrap_or_default();
    let answer = (ticket.clone(), code.unwrap_or_default());
    let now = Timestamp::now();
    match browser::second_factor(keyward.core(), answer, &client, now, &Random::os()).await {
        Ok(signed) => {
            let previous = cookie_of(&keyward, &headers);
            signed_in(&keyward, (&req, &pending), signed, (&client, previous)).await
        }
        Err(error) if error.code() == Some(ErrorCode::InvalidTicket) => page(
            StatusCode::UNAUTHORIZED,
            "Sign in",
            &sign_in_form(&keyward, &req, refused_words(&error)),
        ),
        Err(error) => match refused_words(&error) {
            Some(words) => page(
                StatusCode::UNAUTHORIZED,
                "Second step",
                &mfa_form(&keyward, &req, &ticket, Some(words)),
            ),
            None => refused_page(&error),
        },
    }
}

/// `GET /auth/oidc/continue?req=…`: where the app's sign-in page sends the browser once it has
/// its cookie (`POST /auth/oidc/browser-session`): consent, or back to the client.
pub(crate) async fn continue_page(
    State(keyward): State<Keyward>,
    client: Client,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(off) = off(&keyward) {
        return off;
    }
    let (req, pending) = match pending_in(&keyward, query.as_deref()) {
        Ok(found) => found,
        Err(stop) => return stop.page(),
    };
    let browser = match browser_session(&keyward, &headers, Timestamp::now()).await {
        Ok(browser) => browser,
        Err(error) => return server_error(&error),
    };
    go_on(
        &keyward,
        (&req, &pending),
        browser.as_ref(),
        None,
        (&client, None),
    )
    .await
}

/// `GET /auth/oidc/consent?req=…`: what the client asks for, to allow or refuse.
pub(crate) async fn consent_page(
    State(keyward): State<Keyward>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(off) = off(&keyward) {
        return off;
    }
    let (req, pending) = match pending_in(&keyward, query.as_deref()) {
        Ok(found) => found,
        Err(stop) => return stop.page(),
    };
    let now = Timestamp::now();
    let core = keyward.core();
    let signed_in = browser_session(&keyward, &headers, now).await;
    let client = core.store.oidc_client(&pending.client_id).await;
    let (Ok(Some(browser)), Ok(Some(client))) = (signed_in, client) else {
        return see_other(&sign_in_url(&keyward, &req), None);
    };
    let orgs = if pending.scope.split_whitespace().any(|s| s == "org") {
        match org_choice(&keyward, &browser, &pending.client_id).await {
            Ok(choice) => choice,
            Err(error) => return refused_page(&error),
        }
    } else {
        String::new()
    };
    let csrf = authorize::csrf_token(core, "consent", cookie_of(&keyward, &headers), &req);
    let asks: String = pending
        .scope
        .split_whitespace()
        .map(|scope| {
            let what = match scope {
                "openid" => "who you are (your account's id)",
                "email" => "your email address",
                "profile" => "your name",
                "org" => "your organization and role",
                other => other,
            };
            format!("<li>{}</li>", escape(what))
        })
        .collect();
    let body = format!(
        "<p><strong>{name}</strong> asks to know:</p><ul>{asks}</ul>\
         <form method=\"post\" action=\"/auth/oidc/consent\">\
         <input type=\"hidden\" name=\"req\" value=\"{req}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{orgs}\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Refuse</button></form>",
        name = escape(&client.name),
        req = escape(&req),
    );
    page(StatusCode::OK, "Allow access?", &body)
}

/// The consent form's choice of organization, for a client that asks for `org`: one radio
/// button per organization of the user (the one chosen before, else the first, checked), or a
/// line saying there is none to share.
async fn org_choice(
    keyward: &Keyward,
    browser: &BrowserSessionRow,
    client_id: &str,
) -> Result<String, Error> {
    let core = keyward.core();
    let orgs = core.store.orgs_of(&browser.user_id).await?;
    let Some(first) = orgs.first() else {
        return Ok("<p>You are in no organization, so the app learns none.</p>".to_owned());
    };
    let before = core
        .store
        .oidc_consent(&browser.user_id, client_id)
        .await?
        .and_then(|given| given.org_id)
        .filter(|org| orgs.iter().any(|row| row.id == *org));
    let checked = before.unwrap_or(first.id);
    let choices: String = orgs
        .iter()
        .map(|row| {
            format!(
                "<label><input type=\"radio\" name=\"org\" value=\"{id}\"{checked}> {name} \
                 ({role})</label>",
                id = row.id,
                checked = if row.id == checked { " checked" } else { "" },
                name = escape(&row.name),
                role = escape(&row.role),
            )
        })
        .collect();
    Ok(format!(
        "<fieldset><legend>For the organization</legend>{choices}</fieldset>"
    ))
}

/// `POST /auth/oidc/consent`: the user's answer.
pub(crate) async fn consent(
    State(keyward): State<Keyward>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(off) = off(&keyward) {
        return off;
    }
    let cookie = cookie_of(&keyward, &headers).map(str::to_owned);
    let (req, pending, [decision, org]) = match form_of(
        &keyward,
        &headers,
        &body,
        ("consent", cookie.as_deref()),
        ["decision", "org"],
    ) {
        Ok(form) => form,
        Err(stop) => return stop.page(),
    };
    let core = keyward.core();
    if decision.as_deref() != Some("allow") {
        // Back to the client only where it may still be sent.
        let allowed = match core.store.oidc_client(&pending.client_id).await {
            Ok(row) => row.is_some_and(|row| authorize::still_allowed(&row, &pending)),
            Err(error) => return server_error(&error.into()),
        };
        if !allowed {
            return error_page(StatusCode::BAD_REQUEST, "This app is gone.");
        }
        let url = authorize::error_url(core, &pending, "access_denied", "The user refused.");
        return see_other(&url, None);
    }
    let org = match org.as_deref().map(OrgId::parse) {
        None => None,
        Some(Some(org)) => Some(org),
        Some(None) => return error_page(StatusCode::BAD_REQUEST, "No such organization."),
    };
    let browser = match browser_session(&keyward, &headers, Timestamp::now()).await {
        Ok(browser) => browser,
        Err(error) => return server_error(&error),
    };
    go_on(
        &keyward,
        (&req, &pending),
        browser.as_ref(),
        Some(&Allowed { org }),
        (&client, None),
    )
    .await
}

/// What the logout confirmation's anti-forgery token covers: the app that asked (its id, or
/// empty) and where the browser goes after.
fn logout_form(app: &str, then: &str) -> String {
    format!("{app}\n{then}")
}

/// After a logout: back to the app's registered page, or a page saying so.
fn logged_out(then: Option<&str>) -> Response {
    match then {
        Some(url) => see_other(url, None),
        None => page(
            StatusCode::OK,
            "Signed out",
            "<p>You are signed out. You can close this page.</p>",
        ),
    }
}

/// `GET`/`POST /auth/oidc/end-session`: RP-initiated logout (see `domain::oidc_provider::logout`).
/// With an `id_token_hint` for this browser's session, it signs out at once; otherwise the user
/// confirms first.
pub(crate) async fn end_session(
    State(keyward): State<Keyward>,
    client: Client,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if let Some(off) = off(&keyward) {
        return off;
    }
    // The parameters come in the query (GET) or a form (POST), not both.
    let form = std::str::from_utf8(&body).ok().filter(|b| !b.is_empty());
    let names = [
        "id_token_hint",
        "client_id",
        "post_logout_redirect_uri",
        "state",
    ];
    let Some([hint, client_id, post_logout, state]) = parameters(form.or(query.as_deref()), names)
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "A parameter is given more than once.",
        );
    };
    let core = keyward.core();
    let asked = (hint.as_deref(), client_id.as_deref());
    let logout = match logout::check(core, asked, (post_logout.as_deref(), state.as_deref())).await
    {
        Ok(logout) => logout,
        Err(LogoutRefused::Page(message)) => return error_page(StatusCode::BAD_REQUEST, message),
        Err(LogoutRefused::Server(error)) => return server_error(&error),
    };
    let now = Timestamp::now();
    let browser = match browser_session(&keyward, &headers, now).await {
        Ok(browser) => browser,
        Err(error) => return server_error(&error),
    };
    let Some(browser) = browser else {
        return logged_out(logout.then.as_deref());
    };
    if logout.hinted == Some(browser.session_id) {
        let client_row = logout.client.as_ref();
        if let Err(error) = logout::sign_out(core, &browser, client_row, (&client, now)).await {
            return server_error(&error);
        }
        return logged_out(logout.then.as_deref());
    }
    // Not shown to be this browser's own sign-in: the user confirms.
    let then = logout.then.unwrap_or_default();
    let app = logout.client.as_ref().map_or("", |row| row.id.as_str());
    let csrf = authorize::csrf_token(
        core,
        "logout",
        cookie_of(&keyward, &headers),
        &logout_form(app, &then),
    );
    let who = logout
        .client
        .as_ref()
        .map(|row| {
            format!(
                "<p><strong>{}</strong> asks to sign you out.</p>",
                escape(&row.name)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "{who}<form method=\"post\" action=\"/auth/oidc/end-session/confirm\">\
         <input type=\"hidden\" name=\"then\" value=\"{then}\">\
         <input type=\"hidden\" name=\"client\" value=\"{app}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Sign out</button></form>",
        then = escape(&then),
        app = escape(app),
    );
    page(StatusCode::OK, "Sign out?", &body)
}

/// `POST /auth/oidc/end-session/confirm`: the user confirmed the logout.
pub(crate) async fn end_session_confirmed(
    State(keyward): State<Keyward>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(off) = off(&keyward) {
        return off;
    }
    let core = keyward.core();
    let cookie = cookie_of(&keyward, &headers);
    let fields = std::str::from_utf8(&body)
        .ok()
        .and_then(|body| parameters(Some(body), ["then", "client", "csrf"]));
    let Some([then, app, csrf]) = fields else {
        return Stop::Forbidden.page();
    };
    let (then, app) = (then.unwrap_or_default(), app.unwrap_or_default());
    let form = logout_form(&app, &then);
    let genuine = same_origin(&keyward, &headers)
        && authorize::csrf_matches(core, "logout", cookie, &form, &csrf.unwrap_or_default());
    if !genuine {
        return Stop::Forbidden.page();
    }
    let now = Timestamp::now();
    // The app that asked, for the record (it may be gone since).
    let app = match crate::domain::oidc_provider::clients::well_formed_id(&app) {
        Some(id) => match core.store.oidc_client(id).await {
            Ok(row) => row,
            Err(error) => return server_error(&error.into()),
        },
        None => None,
    };
    match browser_session(&keyward, &headers, now).await {
        Ok(Some(browser)) => {
            let signed_out = logout::sign_out(core, &browser, app.as_ref(), (&client, now)).await;
            if let Err(error) = signed_out {
                return server_error(&error);
            }
        }
        Ok(None) => {}
        Err(error) => return server_error(&error),
    }
    logged_out(Some(then.as_str()).filter(|t| !t.is_empty()))
}
