//! What Keyward tells a client about a user: the ID token, the client's access token, and
//! userinfo, by the scopes granted (`openid`: who; `email`: the address and whether it is
//! verified; `profile`: the name; `org`: the organization the user chose for the client and
//! their role in it, as `org` and `org_role`, the names of first-party tokens).
//!
//! A client's access token (`typ: at+jwt`) is bound to the client's DPoP key (`cnf.jkt`) when
//! it proved one at the token endpoint, and has an array `aud`: the client's own API (its
//! `audience`) if it has one, and the userinfo endpoint when `openid` was granted. `sid` is the grant, so a revocation
//! reaches it. It is never a user's token here (see `tokens::verify`).

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::Error;
use crate::domain::core::Core;
use crate::domain::tokens::{self, Confirmation};
use crate::domain::{Jkt, SessionId, Timestamp, UserId, b64};
use crate::store::UserRow;

/// The userinfo endpoint's URL: every client access token for a user names it in `aud`.
pub fn userinfo_url(core: &Core) -> String {
    format!(
        "{}/auth/oidc/userinfo",
        core.settings.issuer.trim_end_matches('/')
    )
}

/// The claims of an access token issued to a client for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientAccessClaims {
    /// The issuer.
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The client's API (if it has one) and the userinfo endpoint.
    pub aud: Vec<String>,
    /// The client.
    pub client_id: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// Issued at (s).
    pub iat: i64,
    /// Expires at (s).
    pub exp: i64,
    /// Its id.
    pub jti: String,
    /// The grant.
    pub sid: String,
    /// When the user signed in (s).
    pub auth_time: i64,
    /// How.
    pub amr: Vec<String>,
    /// With `org`: the organization the user chose for the client, while they are in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Their role in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_role: Option<String>,
    /// The DPoP key the token is bound to (RFC 9449 §6), when the client proved one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// The claims of an ID token.
#[derive(Debug, Clone, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    amr: Vec<String>,
    sid: String,
    at_hash: String,
    #[serde(flatten)]
    about: serde_json::Map<String, serde_json::Value>,
}

/// What `scope` lets a client know of `user`, in organization `org` (id and role) if any.
pub fn about(
    user: &UserRow,
    scope: &str,
    org: Option<(&str, &str)>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut claims = serde_json::Map::new();
    for granted in scope.split_whitespace() {
        match granted {
            "email" => {
                claims.insert("email".into(), user.email.clone().into());
                claims.insert(
                    "email_verified".into(),
                    user.email_verified_at.is_some().into(),
                );
            }
            "profile" => {
                if let Some(name) = &user.name {
                    claims.insert("name".into(), name.clone().into());
                }
            }
            "org" => {
                if let Some((id, role)) = org {
                    claims.insert("org".into(), id.into());
                    claims.insert("org_role".into(), role.into());
                }
            }
            _ => {}
        }
    }
    claims
}

/// What an ID token and an access token for one grant are made of.
pub struct Grant<'a> {
    /// The client.
    pub client_id: &'a str,
    /// Its API, if it has one.
    pub audience: Option<&'a str>,
    /// The user.
    pub user: &'a UserRow,
    /// The scopes granted.
    pub scope: &'a str,
    /// The grant's session.
    pub grant: SessionId,
    /// The browser session the user signed in with.
    pub browser: SessionId,
    /// When they signed in (ms).
    pub auth_time: i64,
    /// How, space-separated.
    pub amr: &'a str,
    /// The authorization request's nonce.
    pub nonce: Option<&'a str>,
    /// The organization the grant acts for and the user's role in it, if any.
    pub org: Option<(&'a str, &'a str)>,
    /// The DPoP key the access token is bound to, if any.
    pub jkt: Option<&'a Jkt>,
}

/// The access token and, with `openid`, the ID token of `grant`, issued at `now` with `jti`.
pub fn tokens_for(
    core: &Core,
    grant: &Grant<'_>,
    now: Timestamp,
    jti: String,
) -> Result<(String, Option<String>), Error> {
    let settings = &core.settings;
    let ring = core.keys();
    let amr: Vec<String> = grant.amr.split_whitespace().map(str::to_owned).collect();
    let auth_time = Timestamp::from_millis(grant.auth_time).seconds();
    let openid = grant.scope.split_whitespace().any(|s| s == "openid");
    let org = grant
        .org
        .filter(|_| grant.scope.split_whitespace().any(|s| s == "org"));
    let mut aud: Vec<String> = grant.audience.map(str::to_owned).into_iter().collect();
    // Userinfo is OpenID Connect's: only a grant with `openid` may ask it.
    if openid {
        aud.push(userinfo_url(core));
    }
    let access = ClientAccessClaims {
        iss: settings.issuer.clone(),
        sub: grant.user.id.to_string(),
        aud,
        client_id: grant.client_id.to_owned(),
        scope: grant.scope.to_owned(),
        iat: now.seconds(),
        exp: now.plus(settings.access_ttl).seconds(),
        jti,
        sid: grant.grant.to_string(),
        auth_time,
        amr: amr.clone(),
        org: org.map(|(id, _)| id.to_owned()),
        org_role: org.map(|(_, role)| role.to_owned()),
        cnf: grant.jkt.map(|jkt| Confirmation { jkt: jkt.clone() }),
    };
    let access_token = tokens::sign_jws(&ring, "at+jwt", &access)?;
    if !openid {
        return Ok((access_token, None));
    }
    // OpenID Connect Core §3.1.3.6: the left half of the access token's SHA-256.
    let digest = Sha256::digest(access_token.as_bytes());
    let at_hash = b64(digest.get(..16).unwrap_or_default());
    let id = IdTokenClaims {
        iss: &settings.issuer,
        sub: grant.user.id.to_string(),
        aud: grant.client_id,
        azp: grant.client_id,
        exp: access.exp,
        iat: access.iat,
        auth_time,
        nonce: grant.nonce,
        amr,
        sid: grant.browser.to_string(),
        at_hash,
        about: about(grant.user, grant.scope, org),
    };
    let id_token = tokens::sign_jws(&ring, "JWT", &id)?;
    Ok((access_token, Some(id_token)))
}

/// The claims of `token`, a live client access token for a user that names the userinfo
/// endpoint, at `now`; `None` for anything else (forged, expired, revoked, a user's own token,
/// a machine token).
pub async fn verify_client_access(
    core: &Core,
    token: &str,
    now: Timestamp,
) -> Result<Option<ClientAccessClaims>, Error> {
    let Some(payload) = tokens::verify_jws(&core.keys(), token, "at+jwt") else {
        return Ok(None);
    };
    let Ok(claims) = serde_json::from_slice::<ClientAccessClaims>(&payload) else {
        return Ok(None);
    };
    let fits = claims.iss == core.settings.issuer
        && claims.aud.iter().any(|aud| *aud == userinfo_url(core))
        && claims.scope.split_whitespace().any(|s| s == "openid")
        && claims.exp > now.seconds();
    let (Some(_), Some(sid)) = (UserId::parse(&claims.sub), SessionId::parse(&claims.sid)) else {
        return Ok(None);
    };
    if !fits
        || !core
            .store
            .live_grant(&sid, &claims.client_id, now.millis())
            .await?
    {
        return Ok(None);
    }
    Ok(Some(claims))
}
