//! Ending sign-ins from the client's side: RP-initiated logout (OpenID Connect RP-Initiated
//! Logout 1.0) and token revocation (RFC 7009).
//!
//! - **Logout** ends the browser's session at the provider (a sign-out: its first-party session
//!   is revoked) and the grants given from it. The browser goes back only to a
//!   `post_logout_redirect_uri` the client registered, byte for byte, and only when the client
//!   is known from a valid `id_token_hint` (ours, for that client; it may have expired) or its
//!   `client_id`; otherwise it stays on a page saying it is signed out. Without a hint naming
//!   the browser's own session, the user confirms on a page first (a cross-site GET alone never
//!   signs anyone out).
//! - **Revocation** of a client's access or refresh token ends its grant (every token of it); a
//!   token that is not that client's, or not one at all, is answered 200 and changes nothing, as
//!   RFC 7009 §2.2 says.

use serde::Deserialize;

use super::{authorize, clients};
use crate::Error;
use crate::domain::audit::{self, AuditKind, Client, EventExt as _};
use crate::domain::core::Core;
use crate::domain::oidc_provider::claims::ClientAccessClaims;
use crate::domain::sessions::RefreshToken;
use crate::domain::{SessionId, Timestamp, UserId, sessions, tokens};
use crate::store::{BrowserSessionRow, ClientRow, Revoke};

/// What an ID token used as a logout hint says.
#[derive(Debug, Deserialize)]
struct Hint {
    iss: String,
    aud: String,
    sid: String,
}

/// A logout request, checked: the client it is from (if known), where the browser may go
/// after, and the browser session the hint names.
#[derive(Debug)]
pub struct Logout {
    /// The client.
    pub client: Option<ClientRow>,
    /// A registered post-logout redirect URI, with the client's `state` and `iss` added.
    pub then: Option<String>,
    /// The browser session the `id_token_hint` names.
    pub hinted: Option<SessionId>,
}

/// Why a logout request goes no further: a page says it, and nobody is signed out.
#[derive(Debug)]
pub enum LogoutRefused {
    /// Shown to the user.
    Page(&'static str),
    /// The database failed.
    Server(Error),
}

impl From<crate::store::Error> for LogoutRefused {
    fn from(error: crate::store::Error) -> Self {
        Self::Server(error.into())
    }
}

/// Checks a logout request's parameters.
pub async fn check(
    core: &Core,
    (hint, client_id): (Option<&str>, Option<&str>),
    (post_logout, state): (Option<&str>, Option<&str>),
) -> Result<Logout, LogoutRefused> {
    let hint = match hint {
        None => None,
        Some(token) => Some(
            tokens::verify_jws(&core.keys(), token, "JWT")
                .and_then(|payload| serde_json::from_slice::<Hint>(&payload).ok())
                .filter(|hint| hint.iss == core.settings.issuer)
                .ok_or(LogoutRefused::Page(
                    "The app's logout request carries an ID token this server did not issue.",
                ))?,
        ),
    };
    if let (Some(hint), Some(id)) = (&hint, client_id)
        && hint.aud != id
    {
        return Err(LogoutRefused::Page(
            "The app's logout request names two different apps.",
        ));
    }
    let id = hint.as_ref().map(|h| h.aud.as_str()).or(client_id);
    let client = match id.and_then(clients::well_formed_id) {
        Some(id) => core.store.oidc_client(id).await?,
        None => None,
    };
    let then = match post_logout {
        None => None,
        Some(uri) => {
            let registered = client.as_ref().is_some_and(|row| {
                clients::post_logout_redirect_uris(row)
                    .iter()
                    .any(|r| r == uri)
            });
            if !registered {
                return Err(LogoutRefused::Page(
                    "The app asked to send you after logout to an address it did not register.",
                ));
            }
            let state = state.filter(|s| s.len() <= 512 && !s.chars().any(char::is_control));
            Some(authorize::answer_url(core, uri, &[], state))
        }
    };
    Ok(Logout {
        client,
        then,
        hinted: hint.and_then(|h| SessionId::parse(&h.sid)),
    })
}

/// Signs `browser` out at the provider at `now`: its session is revoked, and so are the grants
/// given from it.
pub async fn sign_out(
    core: &Core,
    browser: &BrowserSessionRow,
    client_row: Option<&ClientRow>,
    (client, now): (&Client, Timestamp),
) -> Result<(), Error> {
    let detail = serde_json::json!({
        "client": client_row.map(|row| row.id.as_str()),
        "reason": "logout requested by the app",
    });
    let event = audit::event(AuditKind::OidcLogout, now, client)
        .user(&browser.user_id)
        .session(&browser.session_id)
        .detail(detail);
    core.store
        .void_codes_from(&browser.session_id, &event)
        .await?;
    // Revoking the session ends the grants given from it too (`Store::revoke_sessions`).
    let event = audit::event(AuditKind::SignOut, now, client)
        .user(&browser.user_id)
        .session(&browser.session_id)
        .detail(serde_json::json!({ "reason": "logout requested by an app" }));
    let which = Revoke::One(&browser.session_id);
    sessions::revoke(core, &browser.user_id, which, "sign_out", &event, now).await?;
    Ok(())
}

/// `POST /auth/oidc/revoke` (RFC 7009) for client `row`: ends the grant of `token` when it is
/// one of that client's access tokens.
pub async fn revoke_token(
    core: &Core,
    row: &ClientRow,
    token: &str,
    (client, now): (&Client, Timestamp),
) -> Result<(), Error> {
    // A refresh token of one of this client's grants.
    if let Some(refresh) = RefreshToken::parse(token) {
        let Some(found) = core.store.refresh_token(&refresh.hash()).await? else {
            return Ok(());
        };
        if found.client_id.as_deref() != Some(row.id.as_str()) {
            return Ok(());
        }
        let session = &found.session;
        let event = audit::event(AuditKind::OidcTokenRevoked, now, client)
            .user(&session.user_id)
            .session(&session.id)
            .detail(serde_json::json!({ "client": row.id, "token": "refresh_token" }));
        let which = Revoke::One(&session.id);
        sessions::revoke(core, &session.user_id, which, "token_revoked", &event, now).await?;
        return Ok(());
    }
    let Some(claims) = tokens::verify_jws(&core.keys(), token, "at+jwt")
        .and_then(|payload| serde_json::from_slice::<ClientAccessClaims>(&payload).ok())
        .filter(|claims| claims.client_id == row.id && claims.iss == core.settings.issuer)
    else {
        return Ok(());
    };
    let (Some(user), Some(grant)) = (UserId::parse(&claims.sub), SessionId::parse(&claims.sid))
    else {
        return Ok(());
    };
    let event = audit::event(AuditKind::OidcTokenRevoked, now, client)
        .user(&user)
        .session(&grant)
        .detail(serde_json::json!({ "client": row.id }));
    sessions::revoke(
        core,
        &user,
        Revoke::One(&grant),
        "token_revoked",
        &event,
        now,
    )
    .await?;
    Ok(())
}
