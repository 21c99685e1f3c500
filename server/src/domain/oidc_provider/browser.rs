//! The provider's browser session: a cookie on the provider's own origin that points at the
//! first-party session the user signed in with on its sign-in page (by the very sign-in
//! functions the app's own clients call). It is what the authorization endpoint sees on a
//! top-level navigation from a client's site.
//!
//! - `__Host-keyward_op` on https (`keyward_op` on http): `HttpOnly; Path=/; SameSite=Lax`,
//!   `Secure` on https. Lax, not Strict: the client sends the browser here by a cross-site
//!   top-level navigation, which Strict would strip the cookie from.
//! - Its value is `kwb_` and 32 random bytes; only its SHA-256 is stored.
//! - It is good while its session is live (not signed out or revoked, not idle past the idle
//!   timeout, not past its lifetime) and its user enabled: one sign-in state with the app. Its
//!   use counts as the session's (noted at most once a minute). A new sign-in on the page ends
//!   the session the browser's previous cookie pointed to.
//! - **From the app's own sign-in page** (setting `oidc_sign_in_page`): the page signs in as the
//!   app does (passkeys, magic links, providers, MFA), then hands the pending request to
//!   [`from_app`] with the session's access token, from this origin only; the cookie then points
//!   at that very session, so signing out of the app signs out of the provider too.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyward_proto::{ErrorCode, SignInAnswer, SignInRequest, TotpAnswer, VerifyMfa};
use sha2::{Digest as _, Sha256};

use super::authorize;
use crate::Error;
use crate::domain::audit::{self, AuditKind, Client, EventExt as _};
use crate::domain::core::Core;
use crate::domain::{Random, SessionId, Timestamp, UserId, accounts, dpop, limits, mfa, sessions};
use crate::store::{BrowserSessionRow, Revoke};

/// The cookie's name: with the `__Host-` prefix on https, which browsers keep to this origin.
pub fn cookie_name(core: &Core) -> &'static str {
    if core.settings.issuer.starts_with("https://") {
        "__Host-keyward_op"
    } else {
        "keyward_op"
    }
}

/// The `Set-Cookie` value that signs the browser in as `value`, for `max_age` seconds.
pub fn set_cookie(core: &Core, value: &str, max_age: u64) -> String {
    let secure = if core.settings.issuer.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        cookie_name(core)
    )
}

fn cookie_hash(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// The browser session of cookie `value`, while it is good at `now`.
pub async fn find(
    core: &Core,
    value: &str,
    now: Timestamp,
) -> Result<Option<BrowserSessionRow>, Error> {
    if !value.starts_with("kwb_") || value.len() > 100 {
        return Ok(None);
    }
    let idle_cutoff = now.minus(core.settings.session_idle_timeout).millis();
    let found = core
        .store
        .oidc_browser_session(&cookie_hash(value), now.millis(), idle_cutoff)
        .await?;
    // In use, the session does not end idle; written at most once a minute.
    if let Some(browser) = &found
        && browser.last_used_at < now.minus(std::time::Duration::from_secs(60)).millis()
    {
        core.store
            .touch_session(&browser.session_id, now.millis())
            .await?;
    }
    Ok(found)
}

/// Ends the browser session of cookie `value`, if it is live (its first-party session is
/// revoked: a sign-out there).
pub async fn end(core: &Core, value: &str, client: &Client, now: Timestamp) -> Result<(), Error> {
    let Some(previous) = find(core, value, now).await? else {
        return Ok(());
    };
    let event = audit::event(AuditKind::SignOut, now, client)
        .user(&previous.user_id)
        .session(&previous.session_id)
        .detail(serde_json::json!({ "reason": "signed in again at the provider" }));
    let which = Revoke::One(&previous.session_id);
    sessions::revoke(core, &previous.user_id, which, "sign_out", &event, now).await?;
    Ok(())
}

/// A cookie for `session` (made at `now`): its value and how long it lasts (s), the session's
/// lifetime.
pub async fn attach(
    core: &Core,
    session: &SessionId,
    now: Timestamp,
    random: &Random,
) -> Result<(String, u64), Error> {
    let value = format!("kwb_{}", URL_SAFE_NO_PAD.encode(random.bytes::<32>()));
    let lifetime = core.settings.refresh_ttl;
    let until = now.plus(lifetime).millis();
    core.store
        .insert_oidc_browser_session(&cookie_hash(&value), session, (now.millis(), until))
        .await?;
    Ok((value, lifetime.as_secs()))
}

/// `POST /auth/oidc/browser-session`: the app's sign-in page, signed in as session `sid` of
/// `user`, hands back the pending request `req` at `now`: a new cookie for that session (its
/// value and lifetime, s), or none when the browser's `previous` cookie already points at it.
/// A previous cookie for another session ends. A request that asked for a fresh sign-in
/// (`prompt=login`, `max_age`) needs one made recently enough.
pub async fn from_app(
    core: &Core,
    (user, sid): (&UserId, &SessionId),
    (req, previous): (&str, Option<&str>),
    (client, now, random): (&Client, Timestamp, &Random),
) -> Result<Option<(String, u64)>, Error> {
    limits::check(
        &core.store,
        core.settings.rate_limits,
        limits::OIDC_AUTHORIZE_PER_IP,
        &client.ip_key(),
        now,
    )
    .await?;
    let Some(pending) = authorize::open(core, req, now) else {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "This sign-in request is unknown or has expired: go back to the app and start again.",
        ));
    };
    let idle_cutoff = now.minus(core.settings.session_idle_timeout).millis();
    let session = core
        .store
        .live_sessions(user, now.millis(), idle_cutoff)
        .await?
        .into_iter()
        .find(|session| session.id == *sid)
        .ok_or_else(|| {
            Error::rejected(
                ErrorCode::SessionRevoked,
                "This session has been signed out. Sign in again.",
            )
        })?;
    if !authorize::signed_in_enough(&pending, session.auth_time) {
        return Err(Error::rejected(
            ErrorCode::ReauthenticationRequired,
            "The app asks for a fresh sign-in: sign in again to continue.",
        ));
    }
    if let Some(previous) = previous {
        match find(core, previous, now).await? {
            Some(browser) if browser.session_id == *sid => return Ok(None),
            Some(_) => end(core, previous, client, now).await?,
            None => {}
        }
    }
    attach(core, sid, now, random).await.map(Some)
}

/// What a sign-in on the provider's page came to.
#[derive(Debug)]
pub enum SignedIn {
    /// A session.
    Session(SessionId),
    /// A second factor is needed: the ticket for it.
    Mfa(String),
}

fn session_of(id: &str) -> Result<SignedIn, Error> {
    SessionId::parse(id)
        .map(SignedIn::Session)
        .ok_or_else(|| Error::internal("a sign-in answered a session id that is not one"))
}

/// The page has no device key: its requests carry no DPoP proof.
fn no_proof(core: &Core, path: &str) -> dpop::Request {
    dpop::Request {
        proof: None,
        method: "POST".into(),
        url: format!("{}{path}", core.settings.public_origin()),
    }
}

/// A password sign-in on the provider's page, as `POST /auth/sign-in` does it (rate limits,
/// lockout, the sign-in hook, MFA).
pub async fn sign_in(
    core: &Core,
    (email, password): (String, String),
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<SignedIn, Error> {
    let request = SignInRequest { email, password };
    let dpop = no_proof(core, "/auth/oidc/sign-in");
    match accounts::sign_in(core, request, &dpop, client, now, random).await? {
        SignInAnswer::Session(success) => session_of(&success.session_id),
        SignInAnswer::Mfa(mfa) => Ok(SignedIn::Mfa(mfa.mfa_ticket)),
    }
}

/// The second step of a sign-in on the provider's page: a code from the authenticator app.
pub async fn second_factor(
    core: &Core,
    (ticket, code): (String, String),
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<SignedIn, Error> {
    if ticket.len() > 100 || code.len() > 20 {
        return Err(Error::rejected(
            ErrorCode::InvalidMfaCode,
            "The code is not right.",
        ));
    }
    let answer = VerifyMfa::Totp(TotpAnswer {
        mfa_ticket: ticket,
        code,
    });
    let dpop = no_proof(core, "/auth/oidc/sign-in/mfa");
    let success = mfa::verify(core, answer, &dpop, client, now, random).await?;
    session_of(&success.session_id)
}
