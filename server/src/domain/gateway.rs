//! What resource servers that are not this process ask (DESIGN.md, "Sync servers, gateways,
//! hooks, webhooks, admin"):
//!
//! - **introspection** (RFC 7662), for an API or sync server in another language: with a server
//!   key, "is this access token good, and whose is it?";
//! - **forward auth**, for a gateway in front of an app (nginx `auth_request`, Traefik
//!   ForwardAuth, Caddy `forward_auth`): the gateway hands over the request's `Authorization`
//!   (and `DPoP`) header and is answered who it is from, or 401.
//!
//! Both check what the app's own extractor checks (signature, `iss`, `aud`, expiry, the
//! revocations every server shares within a second, a role changed since), and then the
//! database itself: the session not revoked and its user still there, at once. A network hop
//! is paid for these answers anyway; one indexed read more makes them exact.

use std::sync::Arc;

use keyward_proto::{ErrorCode, IntrospectedKey, Introspection};

use super::core::Core;
use super::tokens::AccessClaims;
use super::{DeviceId, Timestamp};
use crate::Error;

/// An access token's claims, and its user's address and the session's device as of now.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The token's claims.
    pub claims: Arc<AccessClaims>,
    /// The user's address.
    pub email: String,
    /// The device the session is bound to, if any.
    pub device_id: Option<DeviceId>,
}

/// `claims` (of a verified token) with the user's address, when the token's session is live at
/// `now` (not revoked, not past its lifetime, its user there) and its organization role is
/// still the user's; a refusal otherwise (`session_revoked`, `invalid_token`). What `GET
/// /auth/forward` answers a gateway with.
pub async fn live(
    core: &Core,
    claims: Arc<AccessClaims>,
    now: Timestamp,
) -> Result<Checked, Error> {
    let live = core
        .store
        .live_session(
            &claims.sid,
            &claims.sub,
            claims.org.as_deref(),
            now.millis(),
        )
        .await?
        .ok_or_else(|| {
            Error::rejected(
                ErrorCode::SessionRevoked,
                "This session has been signed out.",
            )
        })?;
    if claims.org.is_some() && live.org_role != claims.org_role {
        return Err(Error::rejected(
            ErrorCode::InvalidToken,
            "The user's role in this token's organization has changed: refresh the token.",
        ));
    }
    Ok(Checked {
        claims,
        email: live.email,
        device_id: live.device_id,
    })
}

/// `POST /auth/introspect`: the token's claims when it is an access token of a live session,
/// `{"active": false}` for anything else (malformed, forged, expired, revoked, another kind of
/// token), without saying why. A DPoP-bound token is active here without a proof: the
/// resource server checks the request's proof against `cnf.jkt` (RFC 9449 §6.2).
pub async fn introspect(core: &Core, token: &str, now: Timestamp) -> Result<Introspection, Error> {
    let checked = match core.verify_access(token, now).await {
        Ok(claims) => live(core, claims, now).await,
        Err(error) => Err(error),
    };
    let Checked { claims, email, .. } = match checked {
        Ok(checked) => checked,
        Err(Error::Rejected { .. }) => return Ok(Introspection::default()),
        Err(other) => return Err(other),
    };
    Ok(Introspection {
        active: true,
        sub: Some(claims.sub.to_string()),
        email: Some(email),
        sid: Some(claims.sid.to_string()),
        iss: Some(claims.iss.clone()),
        aud: Some(claims.aud.clone()),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        jti: Some(claims.jti.clone()),
        token_type: Some(
            if claims.cnf.is_some() {
                "DPoP"
            } else {
                "Bearer"
            }
            .to_owned(),
        ),
        cnf: claims.cnf.as_ref().map(|cnf| IntrospectedKey {
            jkt: cnf.jkt.to_string(),
        }),
        amr: claims.amr.clone(),
        auth_time: Some(claims.auth_time),
        aal: Some(claims.aal),
        org: claims.org.clone(),
        org_role: claims.org_role.clone(),
        permissions: claims.permissions.clone(),
    })
}
