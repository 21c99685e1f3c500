//! Sessions: how they start, how their tokens rotate, how they end.
//!
//! **Refresh, in one place.** A refresh token is 256 random bits (`kwr_` + base64url); the
//! database keeps only its SHA-256. Each refresh uses the token up and hands out its successor,
//! `HMAC-SHA256(server key, token)`: derived, not drawn, so the server can hand the *same*
//! successor out again without storing it. A used token presented again gets that same
//! successor back:
//!
//! - within `refresh_grace` (default 10 s) of its use, because two tabs refreshing at once are
//!   not an attack;
//! - later, on a session bound to a device key, while its successor has never been used: the
//!   answer to the refresh was lost (a timeout, a dropped connection, a laptop closed
//!   mid-request), and this is the device's retry (its DPoP proof is checked first). Nobody has
//!   moved the session on since, so nothing is handed out that was not already the device's;
//!   an audit event (`refresh_retried`) records it. A session without a device key gets no
//!   such leeway: there a copied token could keep pace with the user's for good, so its
//!   clients retry inside the grace window.
//!
//! Anything else is a replay of a token that was stolen: the whole session is revoked (both the
//! thief's copy and the user's), an audit event is written, and the answer is
//! `refresh_token_reused`.
//!
//! In order: the per-IP limit, the token, the session's state, the proof of the device key
//! (bound sessions), reuse, and only then the per-session limit, which counts accepted
//! refreshes only: a thief's refused attempts cannot spend the user's budget, and a replay is
//! always detected as reuse rather than answered 429.
//!
//! A session also ends when it has not been refreshed for `session_idle_timeout`, when it is
//! older than `refresh_ttl`, and when it is revoked (sign-out, the user revoking it from another
//! session, or eviction by the per-user session limit).

use keyward_proto::{ErrorCode, SignOutScope, TokenType, Tokens};

use super::audit::{self, AuditKind, Client, EventExt as _};
use super::core::Core;
use super::dpop::{self, Proof};
use super::tokens::{self, AccessClaims};
use super::{Jkt, Random, SessionId, Timestamp, UserId, b64, sha256, unb64};
use crate::Error;
use crate::store::{
    AuditRow, NewDevice, NewSession, RefreshLookup, RefreshRow, Revoke, SessionRow, UserRow, WayIn,
};

const REFRESH_PREFIX: &str = "kwr_";

/// A refresh token, parsed: `kwr_` and 32 bytes in base64url.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// A fresh random token.
    pub(crate) fn generate(random: &Random) -> Self {
        Self(format!("{REFRESH_PREFIX}{}", b64(&random.bytes::<32>())))
    }

    /// Parses a token as a client sends it; `None` for anything that is not one of ours (so
    /// garbage never reaches the database).
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix(REFRESH_PREFIX)?;
        (body.len() == 43 && unb64(body).is_some_and(|bytes| bytes.len() == 32))
            .then(|| Self(text.to_owned()))
    }

    /// What the database stores.
    pub(crate) fn hash(&self) -> Vec<u8> {
        sha256(self.0.as_bytes()).to_vec()
    }

    /// The token, as the client gets it.
    #[cfg_attr(not(feature = "oidc-provider"), allow(dead_code))]
    pub(crate) fn text(&self) -> &str {
        &self.0
    }

    /// The token that follows this one.
    fn successor(&self, core: &Core) -> Self {
        Self(format!(
            "{REFRESH_PREFIX}{}",
            b64(&core.secrets().refresh_successor(self.0.as_bytes()))
        ))
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// A session just started: its id and first tokens.
#[derive(Debug, Clone)]
pub struct Started {
    /// The session id.
    pub session_id: SessionId,
    /// The first token pair.
    pub tokens: Tokens,
}

/// What starts a session: who, how they authenticated, and the event that records it.
pub struct Start<'a> {
    /// The user (inserted in the same transaction when `sign_up` is set).
    pub user: &'a UserRow,
    /// Whether the user is new (a sign-up): then the user row is written too, and `None` comes
    /// back when its email is taken.
    pub sign_up: bool,
    /// Authentication methods (`pwd`, `passkey`, …).
    pub amr: &'a [&'a str],
    /// The client.
    pub client: &'a Client,
    /// The audit event kind (`sign_up`, `sign_in`).
    pub event: AuditKind,
    /// The device key's proof, when the client sent one: the session is bound to that key.
    pub device: Option<&'a Proof>,
    /// A sign-up's passkey (a passkey-only sign-up) or identity (a provider's first sign-in),
    /// stored with the user.
    pub way_in: Option<WayIn>,
}

/// Starts a session for `start.user`. `None` when this is a sign-up whose email is taken.
pub async fn start(
    core: &Core,
    start: Start<'_>,
    now: Timestamp,
    random: &Random,
) -> Result<Option<Started>, Error> {
    let settings = &core.settings;
    // The app's say, before anything is written: a refusal leaves nothing half-made.
    let attempt = super::hooks::SignInAttempt {
        user_id: start.user.id,
        email: start.user.email.clone(),
        new_user: start.sign_up,
        amr: start.amr.iter().map(|m| (*m).to_owned()).collect(),
        ip: start.client.ip.clone(),
        user_agent: start.client.user_agent.clone(),
    };
    let claims = super::hooks::run(core, &attempt, now, random).await?;
    let session_id = SessionId::new(now, random.bytes());
    let refresh = RefreshToken::generate(random);
    let amr = start.amr.join(" ");
    let session = SessionRow {
        id: session_id,
        user_id: start.user.id,
        created_at: now.millis(),
        auth_time: now.millis(),
        last_used_at: now.millis(),
        expires_at: now.plus(settings.refresh_ttl).millis(),
        revoked_at: None,
        revoke_reason: None,
        amr,
        user_agent: start.client.user_agent.clone(),
        ip: start.client.ip.clone(),
        device_id: None,
        jkt: start.device.map(|proof| proof.jkt.clone()),
        org_id: None,
        org_role: None,
        claims,
    };
    let device = start.device.map(|proof| NewDevice {
        id: super::DeviceId::new(now, random.bytes()),
        jkt: proof.jkt.clone(),
        name: super::devices::name_from_user_agent(start.client.user_agent.as_deref()),
    });
    let new = NewSession {
        refresh: RefreshRow {
            token_hash: refresh.hash(),
            session_id,
            issued_at: now.millis(),
        },
        max_per_user: i64::from(settings.max_sessions_per_user),
        idle_cutoff: now.minus(settings.session_idle_timeout).millis(),
        audit: sign_up_event(&start, now).session(&session_id),
        eviction: audit::event(AuditKind::SessionRevoked, now, start.client)
            .user(&start.user.id)
            .detail(serde_json::json!({ "reason": "evicted" })),
        session,
        device,
        way_in: start.way_in,
    };
    let user = start.sign_up.then_some(start.user);
    let Some(created) = core.store.create_session(&new, user).await? else {
        return Ok(None);
    };
    core.revoked
        .insert(created.evicted.iter(), now, settings.access_ttl);
    let tokens = issue(core, &new.session, refresh, now, random)?;
    Ok(Some(Started { session_id, tokens }))
}

/// The event that records `start`: a provider's first sign-in names the provider.
fn sign_up_event(start: &Start<'_>, now: Timestamp) -> AuditRow {
    let event = audit::event(start.event, now, start.client).user(&start.user.id);
    match &start.way_in {
        #[cfg(feature = "oauth")]
        Some(WayIn::Identity(identity)) => {
            event.detail(serde_json::json!({ "provider": identity.provider }))
        }
        _ => event,
    }
}

/// `POST /auth/refresh`: rotates the session's tokens. See the module docs for the rules. A
/// session bound to a device key refreshes only with a DPoP proof by that key; the check comes
/// before the token is used up, so a thief's attempt changes nothing for the user.
pub async fn refresh(
    core: &Core,
    token: &str,
    request: &dpop::Request,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<Tokens, Error> {
    let (found, successor) = rotate(core, token, Holder::FirstParty, request, client, now).await?;
    issue(core, &found.session, successor, now, random)
}

/// Whose refresh token is being used: the app's own client's, or an OpenID Connect client's
/// (a grant). Each is refused the other's tokens before anything is spent: a client's refresh
/// token must never buy first-party tokens, nor the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder<'a> {
    /// `POST /auth/refresh`.
    FirstParty,
    /// The token endpoint, for this client.
    #[cfg_attr(not(feature = "oidc-provider"), allow(dead_code))]
    Client(&'a str),
}

/// Uses refresh token `token` (see [`refresh`] for the rules: grace, reuse, possession): the
/// session with what the lookup read, and the successor token.
pub async fn rotate(
    core: &Core,
    token: &str,
    holder: Holder<'_>,
    request: &dpop::Request,
    client: &Client,
    now: Timestamp,
) -> Result<(RefreshLookup, RefreshToken), Error> {
    let presented = present(core, token, holder, request, client, now).await?;
    spend(core, presented, client, now).await
}

/// A refresh token found, its holder's, live, and (for a bound session) proven: not yet used.
pub struct Presented<'a> {
    /// The token.
    token: RefreshToken,
    /// What the lookup read.
    pub found: RefreshLookup,
    /// Who presented it.
    holder: Holder<'a>,
}

/// The checks of [`rotate`] that come before anything is spent: the token is known, its
/// holder's, its session live and, when bound, proven by its key. A caller with checks of its
/// own (a client's asked scopes) makes them between this and [`spend`].
pub async fn present<'a>(
    core: &Core,
    token: &str,
    holder: Holder<'a>,
    request: &dpop::Request,
    client: &Client,
    now: Timestamp,
) -> Result<Presented<'a>, Error> {
    let settings = &core.settings;
    let unknown = || {
        Error::rejected(
            ErrorCode::InvalidRefreshToken,
            "The refresh token is not valid. Sign in again.",
        )
    };
    // A client's server refreshes for many users from one address: it has limits of its own.
    if holder == Holder::FirstParty {
        super::limits::check(
            &core.store,
            settings.rate_limits,
            super::limits::REFRESH_PER_IP,
            &client.ip_key(),
            now,
        )
        .await?;
    }
    let token = RefreshToken::parse(token).ok_or_else(unknown)?;
    let found = core
        .store
        .refresh_token(&token.hash())
        .await?
        .ok_or_else(unknown)?;
    let held_by_holder = match (holder, found.client_id.as_deref()) {
        (Holder::FirstParty, None) => true,
        (Holder::Client(asked), Some(owner)) => asked == owner,
        _ => false,
    };
    if !held_by_holder {
        return Err(unknown());
    }
    let session = &found.session;
    if session.revoked_at.is_some() {
        return Err(Error::rejected(
            ErrorCode::SessionRevoked,
            "This session has been signed out. Sign in again.",
        ));
    }
    let idle_until =
        Timestamp::from_millis(session.last_used_at).plus(settings.session_idle_timeout);
    if now >= Timestamp::from_millis(session.expires_at) || now >= idle_until {
        return Err(Error::rejected(
            ErrorCode::RefreshTokenExpired,
            "This session has expired. Sign in again.",
        ));
    }
    if let Some(jkt) = &session.jkt
        && let Err(refused) = proof_of_possession(core, request, jkt, now).await
    {
        let event = audit::event(AuditKind::DpopRefused, now, client)
            .user(&session.user_id)
            .session(&session.id)
            .detail(serde_json::json!({ "code": refused.code().map(|c| c.as_str()) }));
        core.store.insert_audit(&event).await?;
        return Err(refused);
    }
    Ok(Presented {
        token,
        found,
        holder,
    })
}

/// Spends `presented`: the grace window, reuse detection, the session's budget, the rotation.
pub async fn spend(
    core: &Core,
    presented: Presented<'_>,
    client: &Client,
    now: Timestamp,
) -> Result<(RefreshLookup, RefreshToken), Error> {
    let settings = &core.settings;
    let Presented {
        token,
        found,
        holder,
    } = presented;
    let session = &found.session;
    let successor = token.successor(core);
    let within_grace =
        |used_at: i64| now <= Timestamp::from_millis(used_at).plus(settings.refresh_grace);
    let accepted = match found.used_at {
        None => Accepted::Rotation,
        Some(used_at) if within_grace(used_at) => Accepted::Again,
        // The answer to the last refresh was lost (a timeout, a dropped connection) and the
        // device retries later than the grace window: it proved above that it holds the
        // session's key, and while the successor has not been used nobody has moved the session
        // on, so this is that retry, not a replay. (Not for a session without a device key:
        // there a copied token would keep pace with the user's for good.)
        Some(_) if session.jkt.is_some() && successor_unused(core, &successor, session).await? => {
            let event = audit::event(AuditKind::RefreshRetried, now, client)
                .user(&session.user_id)
                .session(&session.id);
            core.store.insert_audit(&event).await?;
            Accepted::Again
        }
        Some(_) => return Err(reused(core, (session, holder), client, now).await?),
    };
    // Only what is accepted counts against the session's budget: a thief's refused attempts
    // must not spend it, and a replay must be detected as reuse, not answered 429.
    super::limits::check(
        &core.store,
        settings.rate_limits,
        super::limits::REFRESH_PER_SESSION,
        &session.id.to_string(),
        now,
    )
    .await?;
    if accepted == Accepted::Rotation {
        let row = RefreshRow {
            token_hash: successor.hash(),
            session_id: session.id,
            issued_at: now.millis(),
        };
        let event = audit::event(AuditKind::Refresh, now, client)
            .user(&session.user_id)
            .session(&session.id);
        // Losing the race means a concurrent refresh used the token a moment ago: that is the
        // grace case, and its successor (the same one) is already stored.
        let _won = core
            .store
            .rotate_refresh_token(&token.hash(), &row, session.device_id, &event)
            .await?;
    }
    Ok((found, successor))
}

/// How a refresh is answered: by rotating the token, or by handing out its successor again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepted {
    Rotation,
    Again,
}

/// Whether `successor` is the session's current refresh token, never used.
async fn successor_unused(
    core: &Core,
    successor: &RefreshToken,
    session: &SessionRow,
) -> Result<bool, Error> {
    Ok(core
        .store
        .refresh_token(&successor.hash())
        .await?
        .is_some_and(|next| next.used_at.is_none() && next.session.id == session.id))
}

/// A used token came back after its successor was used: revokes the session and returns the
/// refusal.
async fn reused(
    core: &Core,
    (session, holder): (&SessionRow, Holder<'_>),
    client: &Client,
    now: Timestamp,
) -> Result<Error, Error> {
    let event = audit::event(AuditKind::RefreshReuseDetected, now, client)
        .user(&session.user_id)
        .session(&session.id);
    // A grant's reuse names its client, as every other event of a grant does.
    let event = match holder {
        Holder::Client(id) => event.detail(serde_json::json!({ "client": id })),
        Holder::FirstParty => event,
    };
    let revoked = core
        .store
        .revoke_sessions(
            &session.user_id,
            Revoke::One(&session.id),
            now.millis(),
            "refresh_token_reused",
            &event,
        )
        .await?;
    core.revoked
        .insert(revoked.iter(), now, core.settings.access_ttl);
    tracing::warn!(session = %session.id, "refresh token reuse detected; session revoked");
    Ok(Error::rejected(
        ErrorCode::RefreshTokenReused,
        "This refresh token was already used, so the session has been revoked as a \
         precaution. Sign in again.",
    ))
}

/// Checks that `request` carries a valid DPoP proof by the key with thumbprint `jkt`.
async fn proof_of_possession(
    core: &Core,
    request: &dpop::Request,
    jkt: &Jkt,
    now: Timestamp,
) -> Result<(), Error> {
    match core.check_dpop(request, None, now)? {
        None => Err(Error::rejected(
            ErrorCode::DpopRequired,
            "This session is bound to a device key: refresh with a DPoP proof.",
        )),
        // A thief's proof (another key) is refused before it is recorded.
        Some(proof) if proof.jkt != *jkt => Err(Error::rejected(
            ErrorCode::InvalidDpopProof,
            "The DPoP proof is not valid: it is signed by another key than the session's.",
        )),
        Some(proof) => core.record_dpop(&proof, now).await,
    }
}

/// Signs an access token for `session` and pairs it with `refresh`.
fn issue(
    core: &Core,
    session: &SessionRow,
    refresh: RefreshToken,
    now: Timestamp,
    random: &Random,
) -> Result<Tokens, Error> {
    let settings = &core.settings;
    // The organization the session acts for, while the user is in it (read with the session).
    let (org, org_role, permissions) = match (&session.org_id, &session.org_role) {
        (Some(org), Some(role)) => (
            Some(org.to_string()),
            Some(role.clone()),
            core.roles.permissions(role).to_vec(),
        ),
        _ => (None, None, Vec::new()),
    };
    let claims = AccessClaims {
        iss: settings.issuer.clone(),
        aud: settings.audience().to_owned(),
        sub: session.user_id,
        iat: now.seconds(),
        exp: now.plus(settings.access_ttl).seconds(),
        jti: b64(&random.bytes::<16>()),
        sid: session.id,
        amr: session.amr.split(' ').map(str::to_owned).collect(),
        auth_time: Timestamp::from_millis(session.auth_time).seconds(),
        aal: tokens::aal_of(&session.amr.split(' ').collect::<Vec<_>>()),
        cnf: session
            .jkt
            .as_ref()
            .map(|jkt| tokens::Confirmation { jkt: jkt.clone() }),
        org,
        org_role,
        permissions,
        ext: session
            .claims
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok()),
    };
    Ok(Tokens {
        access_token: tokens::sign(&core.keys(), &claims)?,
        refresh_token: refresh.0,
        token_type: if session.jkt.is_some() {
            TokenType::DPoP
        } else {
            TokenType::Bearer
        },
        expires_in: settings.access_ttl.as_secs(),
    })
}

/// `POST /auth/sign-out`: ends this session, the others, or all of the user's.
pub async fn sign_out(
    core: &Core,
    claims: &AccessClaims,
    scope: SignOutScope,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let which = match scope {
        SignOutScope::Session => Revoke::One(&claims.sid),
        SignOutScope::Others => Revoke::AllBut(&claims.sid),
        SignOutScope::All => Revoke::All,
    };
    let scope_name = match scope {
        SignOutScope::Session => "session",
        SignOutScope::Others => "others",
        SignOutScope::All => "all",
    };
    let event = audit::event(AuditKind::SignOut, now, client)
        .user(&claims.sub)
        .session(&claims.sid)
        .detail(serde_json::json!({ "scope": scope_name }));
    revoke(core, &claims.sub, which, "sign_out", &event, now).await?;
    // Signing out everywhere also ends what is still out by mail (links, codes) and sign-ins
    // waiting for their second factor.
    if scope == SignOutScope::All {
        core.store.forget_pending(&claims.sub).await?;
    }
    Ok(())
}

/// `DELETE /auth/sessions/{id}`: the user ends one of their sessions; `not_found` when it is
/// not theirs or already ended.
pub async fn revoke_one(
    core: &Core,
    claims: &AccessClaims,
    session_id: &str,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let not_found = || Error::rejected(ErrorCode::NotFound, "No such session.");
    let id = SessionId::parse(session_id).ok_or_else(not_found)?;
    let event = audit::event(AuditKind::SessionRevoked, now, client)
        .user(&claims.sub)
        .session(&id)
        .detail(serde_json::json!({ "by_session": claims.sid.to_string() }));
    let revoked = revoke(
        core,
        &claims.sub,
        Revoke::One(&id),
        "revoked_by_user",
        &event,
        now,
    )
    .await?;
    if revoked.is_empty() {
        return Err(not_found());
    }
    Ok(())
}

pub(crate) async fn revoke(
    core: &Core,
    user_id: &UserId,
    which: Revoke<'_>,
    reason: &str,
    event: &AuditRow,
    now: Timestamp,
) -> Result<Vec<SessionId>, Error> {
    let revoked = core
        .store
        .revoke_sessions(user_id, which, now.millis(), reason, event)
        .await?;
    core.revoked
        .insert(revoked.iter(), now, core.settings.access_ttl);
    Ok(revoked)
}

/// `GET /auth/sessions`: the user's live sessions, newest first, the current one marked.
pub async fn list(
    core: &Core,
    claims: &AccessClaims,
    now: Timestamp,
) -> Result<Vec<keyward_proto::Session>, Error> {
    of_user(core, &claims.sub, Some(&claims.sid), now).await
}

/// `user`'s live sessions, newest first, `current` marked.
pub async fn of_user(
    core: &Core,
    user: &UserId,
    current: Option<&SessionId>,
    now: Timestamp,
) -> Result<Vec<keyward_proto::Session>, Error> {
    let idle = core.settings.session_idle_timeout;
    let rows = core
        .store
        .live_sessions(user, now.millis(), now.minus(idle).millis())
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let idle_end = Timestamp::from_millis(row.last_used_at).plus(idle);
            let end = idle_end.min(Timestamp::from_millis(row.expires_at));
            keyward_proto::Session {
                current: Some(&row.id) == current,
                id: row.id.to_string(),
                created_at: Timestamp::from_millis(row.created_at).to_rfc3339(),
                last_used_at: Timestamp::from_millis(row.last_used_at).to_rfc3339(),
                expires_at: end.to_rfc3339(),
                user_agent: row.user_agent,
                ip: row.ip,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_refresh_tokens_parse() {
        let token = RefreshToken::generate(&Random::seeded(1));
        assert_eq!(RefreshToken::parse(&token.0), Some(token.clone()));
        assert!(token.0.starts_with("kwr_") && token.0.len() == 47);
        for bad in [
            "",
            "kwr_",
            "kwr_short",
            &token.0[1..],
            &format!("{}x", token.0),
            "kwr_' OR 1=1 --aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(RefreshToken::parse(bad), None, "{bad}");
        }
        assert!(format!("{token:?}").contains("redacted"));
    }
}
