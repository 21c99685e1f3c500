//! The token endpoint's grants (`POST /auth/oidc/token`): `authorization_code` (a user's
//! sign-in, for the client), and `client_credentials` (a confidential client's token for its own
//! API, in its own name), and `refresh_token` (a grant's next tokens, rotated as first-party
//! refresh tokens are, with reuse detection).
//!
//! A client authenticates with its secret (HTTP Basic or the form, never both). Each failure
//! is audited; past ten from one address in ten minutes, failures from there are only counted
//! and refused as `rate_limited` (a right secret still gets through). A machine token (`typ: at+jwt`, RFC 9068) has
//! `sub` and `client_id` = the client, `aud` = [its audience], `scope` (its API scopes only),
//! and lives `access_ttl`; it is never a user's token (see `tokens::verify`). With a DPoP proof
//! (RFC 9449 §5) it is bound to the proof's key (`cnf.jkt`, `token_type: DPoP`). No refresh
//! token: the client asks again.
//!
//! A code exchanged with a DPoP proof starts a grant bound to the proof's key: its access
//! tokens carry `cnf.jkt`, and its refresh needs a proof by the same key (for confidential
//! clients too). A code whose request named `dpop_jkt` is exchanged only with that key.

use std::borrow::Cow;

use keyward_proto::{ErrorCode, TokenResponse};
use serde::Serialize;

use sha2::{Digest as _, Sha256};

use super::{authorize, claims, clients};
use crate::Error;
use crate::domain::audit::{self, AuditKind, Client, EventExt as _};
use crate::domain::core::Core;
use crate::domain::sessions::{self, RefreshToken};
use crate::domain::tokens::{self, Confirmation};
use crate::domain::{Jkt, Random, SessionId, Timestamp, b64, dpop, limits};
use crate::store::{ClientRow, NewGrant, RefreshRow, SessionRow};

/// Why a token request is refused: an OAuth error (RFC 6749 §5.2), or one of Keyward's own on
/// the way (a rate limit, a DPoP proof, the database), which the HTTP layer words as one.
#[derive(Debug)]
pub enum Refusal {
    /// `error` (an RFC 6749 or RFC 9449 code), with a sentence for people.
    OAuth {
        /// The code.
        error: &'static str,
        /// Why.
        description: Cow<'static, str>,
    },
    /// Refused on the way.
    Keyward(Error),
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Self::Keyward(error)
    }
}

impl From<crate::store::Error> for Refusal {
    fn from(error: crate::store::Error) -> Self {
        Self::Keyward(error.into())
    }
}

fn refuse(error: &'static str, description: impl Into<Cow<'static, str>>) -> Refusal {
    Refusal::OAuth {
        error,
        description: description.into(),
    }
}

/// How a request authenticates its client: the `client_id` and secret it presents, and whether
/// through HTTP Basic (`client_secret_basic`) rather than the form (`client_secret_post`).
#[derive(Default)]
pub struct ClientAuth {
    /// The `client_id`.
    pub client_id: Option<String>,
    /// The secret.
    pub secret: Option<String>,
    /// Whether they came in an `Authorization: Basic` header.
    pub basic: bool,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("basic", &self.basic)
            .finish()
    }
}

/// The OpenID Connect scopes, which are about a user: never in a machine token.
const USER_SCOPES: [&str; 5] = ["openid", "email", "profile", "org", "offline_access"];

/// The claims of a token issued to a client for itself.
#[derive(Debug, Serialize)]
struct MachineClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: [&'a str; 1],
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    iat: i64,
    exp: i64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation>,
}

/// The confidential client `auth` names, authenticated at `now`: `invalid_client` for an
/// unknown client, a public one, or a wrong secret, each failure counted against `client`'s
/// address and audited. Past [`limits::OIDC_CLIENT_FAILURES`] from one address, failures are
/// `rate_limited` (and no longer audited), while a right secret still gets through: client ids
/// are not secret, so a lockout of the client itself would let anyone sharing an address shut
/// it out, and 256 random bits need no guarding against guesses.
async fn confidential_client(
    core: &Core,
    auth: &ClientAuth,
    client: &Client,
    now: Timestamp,
) -> Result<ClientRow, Refusal> {
    let (Some(id), Some(secret)) = (auth.client_id.as_deref(), auth.secret.as_deref()) else {
        return Err(refuse(
            "invalid_client",
            "The client authenticates with its client_id and secret (HTTP Basic, or \
             client_id and client_secret in the form).",
        ));
    };
    // What is not a client id is not looked up, nor written anywhere.
    let id = clients::well_formed_id(id);
    if let Some(id) = id {
        let row = core.store.oidc_client(id).await?;
        if let Some(row) = row.filter(|row| clients::authenticates(row, secret, now)) {
            return Ok(row);
        }
    }
    let address = client.ip_key();
    match limits::exceeded(&core.store, limits::OIDC_CLIENT_FAILURES, &address, now).await {
        Ok(()) => {}
        Err(Error::Rejected {
            code: ErrorCode::AccountLocked,
            retry_after,
            ..
        }) => {
            return Err(Refusal::Keyward(Error::retry_later(
                ErrorCode::RateLimited,
                "Too many failed client authentications from this address: try again later.",
                retry_after.unwrap_or(limits::OIDC_CLIENT_FAILURES.window),
            )));
        }
        Err(other) => return Err(other.into()),
    }
    limits::count(&core.store, limits::OIDC_CLIENT_FAILURES, &address, now).await?;
    let event = audit::event(AuditKind::OidcClientAuthFailed, now, client)
        .detail(serde_json::json!({ "client": id.unwrap_or("(not a client id)") }));
    core.store.insert_audit(&event).await?;
    Err(refuse(
        "invalid_client",
        "The client is unknown, or its secret is wrong.",
    ))
}

/// Counts a token request against its address's limit.
async fn per_address(core: &Core, client: &Client, now: Timestamp) -> Result<(), Error> {
    let limit = limits::OIDC_TOKEN_PER_IP;
    limits::check(
        &core.store,
        core.settings.rate_limits,
        limit,
        &client.ip_key(),
        now,
    )
    .await
}

/// Counts a token request against its client's limit.
async fn per_client(core: &Core, row: &ClientRow, now: Timestamp) -> Result<(), Error> {
    let limit = limits::OIDC_TOKEN_PER_CLIENT;
    limits::check(&core.store, core.settings.rate_limits, limit, &row.id, now).await
}

/// The scopes a machine token carries: those asked for (all must be the client's API scopes),
/// or every API scope of the client when none are.
fn machine_scopes(row: &ClientRow, asked: Option<&str>) -> Result<Vec<String>, Refusal> {
    let own: Vec<&str> = row
        .scopes
        .split_whitespace()
        .filter(|s| !USER_SCOPES.contains(s))
        .collect();
    let Some(asked) = asked else {
        return Ok(own.into_iter().map(str::to_owned).collect());
    };
    let mut granted: Vec<String> = Vec::new();
    for scope in asked.split(' ').filter(|s| !s.is_empty()) {
        // The scope is named back only when it is one (no quotes or controls in the answer).
        if USER_SCOPES.contains(&scope) {
            return Err(refuse(
                "invalid_scope",
                format!("`{scope}` is about a user: a client's own token cannot carry it."),
            ));
        }
        if !own.contains(&scope) {
            return Err(refuse(
                "invalid_scope",
                "A scope asked for is not one of this client's API scopes.",
            ));
        }
        if !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_owned());
        }
    }
    Ok(granted)
}

/// `grant_type=client_credentials`: a token for the client's own API, in its own name, bound to
/// the key of `dpop`'s proof when there is one.
pub async fn client_credentials(
    core: &Core,
    (auth, scope): (&ClientAuth, Option<&str>),
    dpop: &dpop::Request,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<TokenResponse, Refusal> {
    let settings = &core.settings;
    per_address(core, client, now).await?;
    let proof = core.check_dpop(dpop, None, now)?;
    let row = confidential_client(core, auth, client, now).await?;
    if !clients::has_grant(&row, "client_credentials") {
        return Err(refuse(
            "unauthorized_client",
            "This client is not registered for the client_credentials grant.",
        ));
    }
    // Checked again: the server's own audience may have changed since the registration.
    let Some(audience) = row
        .audience
        .as_deref()
        .filter(|aud| clients::checked_audience(core, aud).is_ok())
    else {
        return Err(refuse(
            "unauthorized_client",
            "This client has no audience for its tokens that is not this server's own.",
        ));
    };
    per_client(core, &row, now).await?;
    let scopes = machine_scopes(&row, scope)?.join(" ");
    if let Some(proof) = &proof {
        core.record_dpop(proof, now).await?;
    }
    let claims = MachineClaims {
        iss: &settings.issuer,
        sub: &row.id,
        aud: [audience],
        client_id: &row.id,
        scope: (!scopes.is_empty()).then_some(scopes.as_str()),
        iat: now.seconds(),
        exp: now.plus(settings.access_ttl).seconds(),
        jti: b64(&random.bytes::<16>()),
        cnf: proof.as_ref().map(|proof| Confirmation {
            jkt: proof.jkt.clone(),
        }),
    };
    let access_token = tokens::sign_jws(&core.keys(), "at+jwt", &claims)?;
    let event = audit::event(AuditKind::OidcClientToken, now, client).detail(serde_json::json!({
        "client": row.id,
        "scope": claims.scope,
        "jti": claims.jti,
        "dpop": proof.is_some(),
    }));
    core.store.insert_audit(&event).await?;
    Ok(TokenResponse {
        access_token,
        token_type: token_type(claims.cnf.as_ref().map(|cnf| &cnf.jkt)),
        expires_in: settings.access_ttl.as_secs(),
        scope: claims.scope.map(str::to_owned),
        refresh_token: None,
        id_token: None,
    })
}

/// Live grants a user may have with one client: a client that signs them in again and again
/// without ending its grants (a lost refresh token, an app reinstalled) cannot pile up sessions;
/// the oldest beyond this end (`evicted`).
pub const MAX_LIVE_GRANTS: i64 = 20;

/// RFC 6749 §6: the scopes `asked` for at a refresh, if any, no more than were `granted`.
fn narrowed(granted: &str, asked: Option<&str>) -> Result<String, Refusal> {
    let Some(asked) = asked else {
        return Ok(granted.to_owned());
    };
    let granted: Vec<&str> = granted.split_whitespace().collect();
    let mut narrowed: Vec<&str> = Vec::new();
    for wanted in asked.split(' ').filter(|s| !s.is_empty()) {
        if !granted.contains(&wanted) {
            return Err(refuse(
                "invalid_scope",
                "A scope asked for was not granted.",
            ));
        }
        if !narrowed.contains(&wanted) {
            narrowed.push(wanted);
        }
    }
    Ok(narrowed.join(" "))
}

/// `token_type` of an access token bound to `jkt`, if any.
fn token_type(jkt: Option<&Jkt>) -> String {
    if jkt.is_some() { "DPoP" } else { "Bearer" }.to_owned()
}

/// The parameters of a code exchange.
#[derive(Debug, Default)]
pub struct CodeExchange {
    /// `code`.
    pub code: Option<String>,
    /// `redirect_uri`: the authorization request's, again.
    pub redirect_uri: Option<String>,
    /// `code_verifier` (PKCE).
    pub code_verifier: Option<String>,
}

/// The client of a code exchange: a confidential one by its secret, a public one by its id
/// alone (PKCE stands in for the secret it cannot keep).
async fn exchanging_client(
    core: &Core,
    auth: &ClientAuth,
    client: &Client,
    now: Timestamp,
) -> Result<ClientRow, Refusal> {
    if auth.secret.is_some() {
        return confidential_client(core, auth, client, now).await;
    }
    let row = match auth.client_id.as_deref().and_then(clients::well_formed_id) {
        Some(id) => core.store.oidc_client(id).await?,
        None => None,
    };
    row.filter(|row| row.kind == "public").ok_or_else(|| {
        refuse(
            "invalid_client",
            "The client is unknown, or it is confidential and did not give its secret.",
        )
    })
}

/// The client of a code exchange or a refresh (see [`exchanging_client`]), counted against the
/// limits of its address and its own, when it is registered for `grant`.
async fn client_with_grant(
    core: &Core,
    auth: &ClientAuth,
    grant: &str,
    (client, now): (&Client, Timestamp),
) -> Result<ClientRow, Refusal> {
    per_address(core, client, now).await?;
    let row = exchanging_client(core, auth, client, now).await?;
    per_client(core, &row, now).await?;
    if !clients::has_grant(&row, grant) {
        return Err(refuse(
            "unauthorized_client",
            format!("This client is not registered for the {grant} grant."),
        ));
    }
    Ok(row)
}

/// A used code presented again: what its first exchange issued is revoked (RFC 6749 §4.1.2).
async fn replayed(
    core: &Core,
    code_hash: &[u8],
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let Some(row) = core.store.replay_oidc_code(code_hash, now.millis()).await? else {
        return Ok(());
    };
    let mut event = audit::event(AuditKind::OidcCodeReplayed, now, client)
        .user(&row.user_id)
        .detail(serde_json::json!({ "client": row.client_id }));
    if let Some(grant) = &row.grant_session_id {
        event = event.session(grant);
        sessions::revoke(
            core,
            &row.user_id,
            crate::store::Revoke::One(grant),
            "code_replayed",
            &event,
            now,
        )
        .await?;
    } else {
        core.store.insert_audit(&event).await?;
    }
    Ok(())
}

/// `grant_type=authorization_code`: the code the user's browser brought back, for the client's
/// tokens: an access token for the userinfo endpoint (and the client's API), and with `openid`
/// an ID token. The code is spent by the first try, right or wrong; a second try revokes what
/// the first issued.
pub async fn authorization_code(
    core: &Core,
    (auth, exchange): (&ClientAuth, &CodeExchange),
    dpop: &dpop::Request,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<TokenResponse, Refusal> {
    let settings = &core.settings;
    let row = client_with_grant(core, auth, "authorization_code", (client, now)).await?;
    // A malformed proof is refused before the code is spent.
    let proof = core.check_dpop(dpop, None, now)?;
    let (Some(code), Some(redirect_uri)) = (&exchange.code, &exchange.redirect_uri) else {
        return Err(refuse(
            "invalid_request",
            "The exchange names its code and redirect_uri.",
        ));
    };
    let code_hash = Sha256::digest(code.as_bytes()).to_vec();
    let Some(issued) = core.store.claim_oidc_code(&code_hash, now.millis()).await? else {
        replayed(core, &code_hash, client, now).await?;
        return Err(refuse(
            "invalid_grant",
            "The code is unknown, expired or used.",
        ));
    };
    let verified = match (&issued.code_challenge, &exchange.code_verifier) {
        (Some(challenge), Some(verifier)) => authorize::verifier_matches(verifier, challenge),
        (None, None) => true,
        // No downgrade either way: a verifier without a challenge, or the reverse.
        _ => false,
    };
    if issued.client_id != row.id || issued.redirect_uri != *redirect_uri || !verified {
        return Err(refuse(
            "invalid_grant",
            "The code was not issued to this client, for this redirect_uri and code_verifier.",
        ));
    }
    // RFC 9449 §10: a code bound to a key goes only with a proof by that key.
    let proved = proof.as_ref().map(|proof| &proof.jkt);
    if let Some(bound) = &issued.dpop_jkt
        && proved != Some(bound)
    {
        return Err(refuse(
            "invalid_dpop_proof",
            "The code is bound to a DPoP key (dpop_jkt): exchange it with a proof by that key.",
        ));
    }
    if let Some(proof) = &proof {
        core.record_dpop(proof, now).await?;
    }
    let Some(user) = core.store.user(&issued.user_id).await? else {
        return Err(refuse("invalid_grant", "The user is gone."));
    };
    // The organization chosen, while the user is still in it (`start_grant` checks again).
    let org = match issued.org_id {
        Some(org) => core
            .store
            .org_role(&org, &issued.user_id)
            .await?
            .map(|row| (org, row.role)),
        None => None,
    };
    // With the refresh grant, the grant lives as a session does; else as its access token.
    let refresh = clients::has_grant(&row, "refresh_token").then(|| RefreshToken::generate(random));
    let lifetime = if refresh.is_some() {
        settings.refresh_ttl
    } else {
        settings.access_ttl
    };
    let id = SessionId::new(now, random.bytes());
    let session = SessionRow {
        id,
        user_id: issued.user_id,
        created_at: now.millis(),
        auth_time: issued.auth_time,
        last_used_at: now.millis(),
        expires_at: now.plus(lifetime).millis(),
        revoked_at: None,
        revoke_reason: None,
        amr: issued.amr.clone(),
        user_agent: client.user_agent.clone(),
        ip: client.ip.clone(),
        device_id: None,
        // Bound to the proof's key: its refresh tokens need proofs by it too, for every client
        // (RFC 9449 §5 asks it of public clients only; a confidential client loses nothing).
        jkt: proof.map(|proof| proof.jkt),
        org_id: org.as_ref().map(|(id, _)| *id),
        org_role: None,
        claims: None,
    };
    let org = org.map(|(id, role)| (id.to_string(), role));
    let grant = NewGrant {
        client_id: row.id.clone(),
        scope: issued.scope.clone(),
        parent_session_id: issued.browser_session_id,
        code_hash,
        needs_consent: row.skip_consent == 0,
        refresh: refresh.as_ref().map(|token| RefreshRow {
            token_hash: token.hash(),
            session_id: id,
            issued_at: now.millis(),
        }),
        audit: audit::event(AuditKind::OidcGrantStarted, now, client)
            .user(&issued.user_id)
            .session(&session.id)
            .detail(serde_json::json!({ "client": row.id, "scope": issued.scope })),
        max_live: MAX_LIVE_GRANTS,
        eviction: audit::event(AuditKind::SessionRevoked, now, client)
            .user(&issued.user_id)
            .detail(serde_json::json!({ "client": row.id, "reason": "evicted" })),
        session,
    };
    if !core.store.start_grant(&grant).await? {
        return Err(refuse(
            "invalid_grant",
            "The code was presented twice, the user signed out or took their consent back, or \
             the account is disabled.",
        ));
    }
    let (access_token, id_token) = claims::tokens_for(
        core,
        &claims::Grant {
            client_id: &row.id,
            audience: row.audience.as_deref(),
            user: &user,
            scope: &issued.scope,
            grant: grant.session.id,
            browser: issued.browser_session_id,
            auth_time: issued.auth_time,
            amr: &issued.amr,
            nonce: issued.nonce.as_deref(),
            org: org.as_ref().map(|(id, role)| (id.as_str(), role.as_str())),
            jkt: grant.session.jkt.as_ref(),
        },
        now,
        b64(&random.bytes::<16>()),
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: token_type(grant.session.jkt.as_ref()),
        expires_in: settings.access_ttl.as_secs(),
        scope: Some(issued.scope),
        refresh_token: refresh.map(|token| token.text().to_owned()),
        id_token,
    })
}

/// `grant_type=refresh_token`: the grant's next tokens, its refresh token rotated (a used one
/// presented again, past the grace window, ends the grant: `sessions::rotate`). Only the client
/// the grant is for may use it, and a first-party refresh token is never taken here. A new ID
/// token, without `nonce`, comes with `openid`. The scopes stay those granted.
pub async fn refresh_token(
    core: &Core,
    (auth, token, asked): (&ClientAuth, Option<&str>, Option<&str>),
    dpop: &dpop::Request,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<TokenResponse, Refusal> {
    let settings = &core.settings;
    let row = client_with_grant(core, auth, "refresh_token", (client, now)).await?;
    let Some(token) = token else {
        return Err(refuse(
            "invalid_request",
            "The request names its refresh_token.",
        ));
    };
    // Every check comes before the token is spent: a refused request never costs the grant.
    let holder = sessions::Holder::Client(&row.id);
    let presented = sessions::present(core, token, holder, dpop, client, now).await?;
    let found = &presented.found;
    let session = &found.session;
    // The binding is decided when the grant starts: a bound grant refreshes only with its key's
    // proof (checked by `present`), an unbound one only without a proof, so a thief with the
    // token cannot bind the grant to a key of theirs.
    if session.jkt.is_none() && dpop.proof.is_some() {
        return Err(refuse(
            "invalid_dpop_proof",
            "This grant was started without DPoP: refresh it without a proof, or sign in again \
             with one at the code exchange.",
        ));
    }
    let (Some(scope), Some(parent)) = (found.scope.clone(), found.parent_session_id) else {
        return Err(refuse(
            "invalid_grant",
            "The refresh token is not a grant's.",
        ));
    };
    // A grant lasts while the sign-in it came from does: signed out, expired or idle there, it
    // ends too.
    let idle_cutoff = now.minus(settings.session_idle_timeout).millis();
    if !core
        .store
        .session_live(&parent, now.millis(), idle_cutoff)
        .await?
    {
        let event = audit::event(AuditKind::SessionRevoked, now, client)
            .user(&session.user_id)
            .session(&session.id)
            .detail(serde_json::json!({ "client": row.id, "reason": "sign-in ended" }));
        let which = crate::store::Revoke::One(&session.id);
        sessions::revoke(core, &session.user_id, which, "parent_ended", &event, now).await?;
        return Err(refuse(
            "invalid_grant",
            "The sign-in this grant came from has ended.",
        ));
    }
    let scope = narrowed(&scope, asked)?;
    let (found, successor) = sessions::spend(core, presented, client, now).await?;
    let session = &found.session;
    let jkt = session.jkt.clone();
    let scope = scope.as_str();
    // Read with the session: the organization while the user is still in it.
    let org_id = session.org_id.map(|org| org.to_string());
    let org = org_id.as_deref().zip(session.org_role.as_deref());
    let Some(user) = core.store.user(&session.user_id).await? else {
        return Err(refuse("invalid_grant", "The user is gone."));
    };
    let (access_token, id_token) = claims::tokens_for(
        core,
        &claims::Grant {
            client_id: &row.id,
            audience: row.audience.as_deref(),
            user: &user,
            scope,
            grant: session.id,
            browser: parent,
            auth_time: session.auth_time,
            amr: &session.amr,
            nonce: None,
            org,
            jkt: jkt.as_ref(),
        },
        now,
        b64(&random.bytes::<16>()),
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: token_type(jkt.as_ref()),
        expires_in: settings.access_ttl.as_secs(),
        scope: Some(scope.to_owned()),
        refresh_token: Some(successor.text().to_owned()),
        id_token,
    })
}

/// `POST /auth/oidc/revoke` (RFC 7009): the client authenticates as at the code exchange, then
/// its access token `token` is revoked (see `logout::revoke_token`); anything else changes
/// nothing and is answered alike.
pub async fn revoke(
    core: &Core,
    (auth, token): (&ClientAuth, Option<&str>),
    client: &Client,
    now: Timestamp,
) -> Result<(), Refusal> {
    per_address(core, client, now).await?;
    let row = exchanging_client(core, auth, client, now).await?;
    let Some(token) = token else {
        return Err(refuse(
            "invalid_request",
            "The request names the token to revoke.",
        ));
    };
    super::logout::revoke_token(core, &row, token, (client, now)).await?;
    Ok(())
}
