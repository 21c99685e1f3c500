//! The authorization endpoint and what follows it in the browser: the request checked once,
//! sealed into `req` (nothing is stored until a code is issued), then one decision, made again
//! at each step: sign in, consent, or the code.
//!
//! - **Exact redirects.** An unknown client, or a `redirect_uri` that is not byte for byte one
//!   it registered, is answered with an error page, never a redirect. Every other refusal goes
//!   back to the client as RFC 6749 §4.1.2.1 says, with `iss` (RFC 9207) and `state`.
//! - **Code flow only**: `response_type=code`, answered in the query. PKCE is S256 only, and
//!   required of public clients. No request objects.
//! - **Codes** are 32 random bytes, single use, for 60 s; only their SHA-256 is stored. With
//!   `dpop_jkt` (RFC 9449 §10) only a DPoP proof by that key exchanges the code.
//! - `prompt=none` never shows a page (`login_required`, `consent_required`); `prompt=login`
//!   (and `max_age=0`) ask for a sign-in made after the request came, `max_age` for one no older
//!   than that many seconds when it came.
//! - Consent is remembered per user and client, for the scopes given: asked again only for
//!   more, after the user took it back (`consent`), or with `prompt=consent`.
//! - **Organizations** (scope `org`): the user chooses one of theirs on the consent page; it is
//!   remembered with the consent and carried by the code to the grant, whose tokens name it and
//!   the user's role in it while they are in it. A client that skips consent gets the one chosen
//!   before, else the user's only organization; none for a user in several until they choose.
//! - Each step checks the client again: a request sealed before its client lost the redirect
//!   URI (or was deleted) goes nowhere.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyward_proto::ErrorCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::clients;
use crate::Error;
use crate::domain::audit::{self, AuditKind, Client, EventExt as _};
use crate::domain::core::Core;
use crate::domain::{Jkt, OrgId, Random, Timestamp, UserId, constant_time_eq, limits};
use crate::store::{BrowserSessionRow, ClientRow, CodeRow};

/// How long a pending request (`req`) lasts: the time to sign in and consent.
pub const REQUEST_LIFETIME: Duration = Duration::from_secs(600);

/// How long a code lasts.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// An authorization request, checked: what the browser carries from page to page, sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The client.
    pub client_id: String,
    /// Where the answer goes (one of the client's, exactly).
    pub redirect_uri: String,
    /// The scopes asked for, all the client's, space-separated.
    pub scope: String,
    /// The client's `state`, returned as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// For the ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// PKCE (S256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    /// `none`, or `login` and/or `consent` (space-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The oldest sign-in accepted, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// The DPoP key the code is bound to (RFC 9449 §10), a thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// When the request came (ms).
    pub issued_at: i64,
}

/// The parameters of an authorization request, as they came.
#[derive(Debug, Default)]
pub struct Asked {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `response_type`.
    pub response_type: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `code_challenge`.
    pub code_challenge: Option<String>,
    /// `code_challenge_method`.
    pub code_challenge_method: Option<String>,
    /// `prompt`.
    pub prompt: Option<String>,
    /// `max_age`.
    pub max_age: Option<String>,
    /// `request` or `request_uri` was given.
    pub request_object: bool,
    /// `response_mode`.
    pub response_mode: Option<String>,
    /// `dpop_jkt`.
    pub dpop_jkt: Option<String>,
}

/// Why an authorization request goes no further.
#[derive(Debug)]
pub enum Refused {
    /// Shown to the user, never sent anywhere: the client or its redirect URI is not known.
    Page(&'static str),
    /// Sent back to the client (`Location`).
    Redirect(String),
    /// Something failed on the way (the database).
    Server(Error),
}

impl From<Error> for Refused {
    fn from(error: Error) -> Self {
        Self::Server(error)
    }
}

impl From<crate::store::Error> for Refused {
    fn from(error: crate::store::Error) -> Self {
        Self::Server(error.into())
    }
}

/// `redirect_uri` with the answer `pairs`, `state` and `iss` added to its query.
pub fn answer_url(
    core: &Core,
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &core.settings.issuer);
    }
    url.to_string()
}

/// The error answer to `pending`'s client.
pub fn error_url(core: &Core, pending: &Pending, error: &str, description: &str) -> String {
    answer_url(
        core,
        &pending.redirect_uri,
        &[("error", error), ("error_description", description)],
        pending.state.as_deref(),
    )
}

/// Checks an authorization request (at `now`): the pending request, or why not.
pub async fn check(
    core: &Core,
    asked: Asked,
    now: Timestamp,
) -> Result<(Pending, ClientRow), Refused> {
    let client = match asked.client_id.as_deref().and_then(clients::well_formed_id) {
        Some(id) => core.store.oidc_client(id).await?,
        None => None,
    };
    let Some(client) = client else {
        return Err(Refused::Page(
            "This app is not known here (its client_id is unknown).",
        ));
    };
    let registered = clients::redirect_uris(&client);
    let Some(redirect_uri) = asked
        .redirect_uri
        .filter(|uri| registered.iter().any(|r| r == uri))
    else {
        return Err(Refused::Page(
            "This app asked to send you to an address it did not register (its redirect_uri).",
        ));
    };
    // Checked first, so that no answer carries back a state this server would not keep.
    let unfit = |v: &Option<String>| {
        v.as_ref()
            .is_some_and(|v| v.len() > 512 || v.chars().any(char::is_control))
    };
    if unfit(&asked.state) {
        return Err(Refused::Page(
            "This app's request is malformed (its state is too long or holds control characters).",
        ));
    }
    let state = asked.state.filter(|s| !s.is_empty());
    let back = |error: &str, description: &str| {
        Refused::Redirect(answer_url(
            core,
            &redirect_uri,
            &[("error", error), ("error_description", description)],
            state.as_deref(),
        ))
    };
    if unfit(&asked.nonce) {
        return Err(back(
            "invalid_request",
            "nonce is at most 512 characters, without control characters.",
        ));
    }
    if asked.request_object {
        return Err(back(
            "request_not_supported",
            "Request objects are not supported.",
        ));
    }
    if asked.response_type.as_deref() != Some("code") {
        return Err(back(
            "unsupported_response_type",
            "Only the authorization code flow is supported (response_type=code).",
        ));
    }
    if asked.response_mode.as_deref().is_some_and(|m| m != "query") {
        return Err(back(
            "invalid_request",
            "Answers go in the query (response_mode=query).",
        ));
    }
    if !clients::has_grant(&client, "authorization_code") {
        return Err(back(
            "unauthorized_client",
            "This client is not registered for the authorization code flow.",
        ));
    }
    let allowed: Vec<&str> = client.scopes.split_whitespace().collect();
    let mut scopes: Vec<&str> = Vec::new();
    for scope in asked
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        if !allowed.contains(&scope) {
            return Err(back(
                "invalid_scope",
                "A scope asked for is not one of this client's.",
            ));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err(back(
            "invalid_scope",
            "The request names its scopes (scope=openid …).",
        ));
    }
    let code_challenge = match (
        asked.code_challenge.as_deref(),
        asked.code_challenge_method.as_deref(),
    ) {
        (None, None) => None,
        (Some(challenge), Some("S256")) if is_challenge(challenge) => Some(challenge.to_owned()),
        (Some(_), None | Some("plain")) | (None, Some(_)) => {
            return Err(back(
                "invalid_request",
                "PKCE takes code_challenge_method=S256 with a code_challenge.",
            ));
        }
        _ => {
            return Err(back(
                "invalid_request",
                "The code_challenge is not S256 of a verifier.",
            ));
        }
    };
    if code_challenge.is_none() && client.kind == "public" {
        return Err(back(
            "invalid_request",
            "A public client must use PKCE (code_challenge with code_challenge_method=S256).",
        ));
    }
    // A space-separated list (OpenID Connect Core §3.1.2.1); `none` stands alone. What is kept:
    // `none`, or `login` (a fresh sign-in) and `consent` (asked again), as given.
    let prompts: Vec<&str> = asked
        .prompt
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    if prompts
        .iter()
        .any(|p| !matches!(*p, "none" | "login" | "consent" | "select_account"))
        || (prompts.contains(&"none") && prompts.len() > 1)
    {
        return Err(back(
            "invalid_request",
            "prompt is none, or any of login, consent and select_account.",
        ));
    }
    let kept: Vec<&str> = ["none", "login", "consent"]
        .into_iter()
        .filter(|p| prompts.contains(p) || (*p == "login" && prompts.contains(&"select_account")))
        .collect();
    let prompt = (!kept.is_empty()).then(|| kept.join(" "));
    let max_age = match asked.max_age.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<u64>()
                .map_err(|_| back("invalid_request", "max_age is a number of seconds."))?,
        ),
    };
    let dpop_jkt = match asked.dpop_jkt.as_deref().filter(|j| !j.is_empty()) {
        None => None,
        Some(text) => Some(Jkt::parse(text).map(|jkt| jkt.to_string()).ok_or_else(|| {
            back(
                "invalid_request",
                "dpop_jkt is the SHA-256 thumbprint of a JWK (RFC 7638), base64url.",
            )
        })?),
    };
    Ok((
        Pending {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.clone(),
            scope: scopes.join(" "),
            state: state.clone(),
            nonce: asked.nonce.filter(|n| !n.is_empty()),
            code_challenge,
            prompt,
            max_age,
            dpop_jkt,
            issued_at: now.millis(),
        },
        client,
    ))
}

/// A PKCE S256 challenge: 43 base64url characters (32 bytes).
fn is_challenge(text: &str) -> bool {
    text.len() == 43 && URL_SAFE_NO_PAD.decode(text).is_ok_and(|b| b.len() == 32)
}

/// Whether `verifier` answers `challenge` (S256, RFC 7636 §4.6), in constant time.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    valid & constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// `pending`, sealed for the browser to carry: base64url JSON and its MAC.
pub fn seal(core: &Core, pending: &Pending) -> String {
    let json = serde_json::to_vec(pending).unwrap_or_default();
    let mac = core
        .secrets()
        .oidc_mac(&[b"req ".as_slice(), &json].concat());
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&json),
        URL_SAFE_NO_PAD.encode(mac)
    )
}

/// The request `req` seals, while it is this server's and younger than [`REQUEST_LIFETIME`].
pub fn open(core: &Core, req: &str, now: Timestamp) -> Option<Pending> {
    let (json, mac) = req.split_once('.')?;
    let json = URL_SAFE_NO_PAD.decode(json).ok()?;
    let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
    let expected = core
        .secrets()
        .oidc_mac(&[b"req ".as_slice(), &json].concat());
    if !constant_time_eq(&expected, &mac) {
        return None;
    }
    let pending: Pending = serde_json::from_slice(&json).ok()?;
    (Timestamp::from_millis(pending.issued_at).plus(REQUEST_LIFETIME) > now).then_some(pending)
}

/// A form's anti-forgery token: the MAC of its purpose, the browser session's cookie (if any)
/// and the request, so it is good for that form, that browser and that request alone.
pub fn csrf_token(core: &Core, purpose: &str, cookie: Option<&str>, req: &str) -> String {
    let message = format!("csrf {purpose} {} {req}", cookie.unwrap_or(""));
    URL_SAFE_NO_PAD.encode(core.secrets().oidc_mac(message.as_bytes()))
}

/// Whether `token` is the anti-forgery token of that form (see [`csrf_token`]).
pub fn csrf_matches(
    core: &Core,
    purpose: &str,
    cookie: Option<&str>,
    req: &str,
    token: &str,
) -> bool {
    let expected = csrf_token(core, purpose, cookie, req);
    constant_time_eq(expected.as_bytes(), token.as_bytes())
}

/// What comes next for `pending`, with the browser's session at the provider if it has one.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// The sign-in page.
    SignIn,
    /// The consent page.
    Consent,
    /// Back to the client, with a code or an error.
    Back(String),
    /// Nowhere: the client is gone, or no longer has this redirect URI or the code flow.
    Stop,
}

/// Whether client `row` still has `pending`'s redirect URI and the code flow.
pub fn still_allowed(row: &ClientRow, pending: &Pending) -> bool {
    clients::has_grant(row, "authorization_code")
        && clients::redirect_uris(row).contains(&pending.redirect_uri)
}

/// Whether `pending` asks for `prompt` (one of its space-separated values).
fn prompts(pending: &Pending, prompt: &str) -> bool {
    pending
        .prompt
        .as_deref()
        .is_some_and(|p| p.split(' ').any(|p| p == prompt))
}

/// Whether a sign-in at `auth_time` (ms) is good for `pending`: with `prompt=login` (or
/// `max_age=0`), one made after the request came; with `max_age`, one no older than that when it
/// came (so the time spent signing in and consenting does not count against it).
pub fn signed_in_enough(pending: &Pending, auth_time: i64) -> bool {
    let oldest = match pending.max_age {
        _ if prompts(pending, "login") => pending.issued_at,
        Some(max) => Timestamp::from_millis(pending.issued_at)
            .minus(Duration::from_secs(max))
            .millis(),
        None => i64::MIN,
    };
    auth_time >= oldest
}

/// The user's answer on the consent page: they allow the client, for the organization they
/// chose when it asked for `org`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// One of the user's organizations, or none.
    pub org: Option<OrgId>,
}

/// Whether `scope` (space-separated) has `wanted`.
fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split_whitespace().any(|s| s == wanted)
}

/// The organization a code for `pending` carries: the one chosen on the consent page (which
/// must be the user's), else the one chosen before while the user is in it, else, for a client
/// that skips consent, the user's only one. None without the scope `org` (a choice sent anyway
/// is ignored).
async fn org_for(
    core: &Core,
    (pending, user): (&Pending, &UserId),
    allowed: Option<&Allowed>,
    (before, skips_consent): (Option<OrgId>, bool),
) -> Result<Option<OrgId>, Error> {
    if !has_scope(&pending.scope, "org") {
        return Ok(None);
    }
    let member = async |org: &OrgId| -> Result<bool, Error> {
        Ok(core.store.org_role(org, user).await?.is_some())
    };
    if let Some(allowed) = allowed {
        return match allowed.org {
            Some(org) if member(&org).await? => Ok(Some(org)),
            // A choice of one the user is not in: a forged form, or they just left it.
            Some(_) => Err(Error::rejected(
                ErrorCode::InvalidRequest,
                "You are not a member of that organization.",
            )),
            None => Ok(None),
        };
    }
    if let Some(org) = before
        && member(&org).await?
    {
        return Ok(Some(org));
    }
    if skips_consent {
        let orgs = core.store.orgs_of(user).await?;
        if let [only] = orgs.as_slice() {
            return Ok(Some(only.id));
        }
    }
    Ok(None)
}

/// The step after this one for `pending`: sign in, consent (with `allowed`, the user has just
/// agreed on the consent page), or the code for the client.
pub async fn next(
    core: &Core,
    pending: &Pending,
    browser: Option<&BrowserSessionRow>,
    allowed: Option<&Allowed>,
    (client, now, random): (&Client, Timestamp, &Random),
) -> Result<Next, Error> {
    let consented = allowed.is_some();
    let limit = limits::OIDC_AUTHORIZE_PER_IP;
    limits::check(
        &core.store,
        core.settings.rate_limits,
        limit,
        &client.ip_key(),
        now,
    )
    .await?;
    // The client as it is now: a request sealed before a change goes nowhere it no longer may.
    let Some(row) = core
        .store
        .oidc_client(&pending.client_id)
        .await?
        .filter(|row| still_allowed(row, pending))
    else {
        return Ok(Next::Stop);
    };
    let none = prompts(pending, "none");
    let Some(browser) = browser.filter(|b| signed_in_enough(pending, b.auth_time)) else {
        return Ok(if none {
            Next::Back(error_url(
                core,
                pending,
                "login_required",
                "The user is not signed in.",
            ))
        } else {
            Next::SignIn
        });
    };
    // Asked once per client and set of scopes: again for more, after the user took it back,
    // or when the client says `prompt=consent`.
    let consented_before = core
        .store
        .oidc_consent(&browser.user_id, &pending.client_id)
        .await?;
    let covered = consented_before.as_ref().is_some_and(|given| {
        let given: Vec<&str> = given.scopes.split_whitespace().collect();
        pending.scope.split_whitespace().all(|s| given.contains(&s))
    });
    let asks_consent = prompts(pending, "consent") || (row.skip_consent == 0 && !covered);
    if asks_consent && !consented {
        return Ok(if none {
            Next::Back(error_url(
                core,
                pending,
                "consent_required",
                "The user has not consented.",
            ))
        } else {
            Next::Consent
        });
    }
    // A client that skips consent shows among the user's connected apps all the same, so the
    // user can take it back (it signs them in again unasked: it is the operator's own app).
    let before = consented_before.as_ref().and_then(|given| given.org_id);
    let org = org_for(
        core,
        (pending, &browser.user_id),
        allowed,
        (before, row.skip_consent != 0),
    )
    .await?;
    if consented || (row.skip_consent != 0 && !covered) {
        let mut scopes: Vec<&str> = consented_before
            .as_ref()
            .map_or("", |given| given.scopes.as_str())
            .split_whitespace()
            .collect();
        for scope in pending.scope.split_whitespace() {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let scopes = scopes.join(" ");
        // Only a choice made just now, and checked above.
        let chosen = org.filter(|_| consented);
        let detail = match chosen {
            Some(org) => serde_json::json!({
                "client": pending.client_id, "scopes": scopes, "org": org.to_string(),
            }),
            None => serde_json::json!({ "client": pending.client_id, "scopes": scopes }),
        };
        let event = audit::event(AuditKind::OidcConsentGranted, now, client)
            .user(&browser.user_id)
            .detail(detail);
        core.store
            .grant_oidc_consent(
                (&browser.user_id, &pending.client_id),
                (&scopes, chosen.as_ref()),
                now.millis(),
                &event,
            )
            .await?;
    }
    let code = URL_SAFE_NO_PAD.encode(random.bytes::<32>());
    let row = CodeRow {
        code_hash: Sha256::digest(code.as_bytes()).to_vec(),
        client_id: pending.client_id.clone(),
        user_id: browser.user_id,
        browser_session_id: browser.session_id,
        auth_time: browser.auth_time,
        amr: browser.amr.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        scope: pending.scope.clone(),
        nonce: pending.nonce.clone(),
        code_challenge: pending.code_challenge.clone(),
        created_at: now.millis(),
        expires_at: now.plus(CODE_LIFETIME).millis(),
        used_at: None,
        replayed_at: None,
        grant_session_id: None,
        org_id: org,
        dpop_jkt: pending.dpop_jkt.as_deref().and_then(Jkt::parse),
    };
    let event = audit::event(AuditKind::OidcCodeIssued, now, client)
        .user(&browser.user_id)
        .session(&browser.session_id)
        .detail(serde_json::json!({ "client": pending.client_id, "scope": pending.scope }));
    core.store.insert_oidc_code(&row, &event).await?;
    Ok(Next::Back(answer_url(
        core,
        &pending.redirect_uri,
        &[("code", &code)],
        pending.state.as_deref(),
    )))
}
