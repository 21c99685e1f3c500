//! Sessions and their refresh tokens.

use super::Error;
use super::{AuditRow, Pool, Store, UserRow};
use crate::domain::{DeviceId, Jkt, OrgId, SessionId, UserId};

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    /// Its id.
    pub id: SessionId,
    /// Whose.
    pub user_id: UserId,
    /// Signed in at (ms).
    pub created_at: i64,
    /// When the user last proved who they are (ms): the sign-in, or a later step-up.
    pub auth_time: i64,
    /// Last refreshed at (ms).
    pub last_used_at: i64,
    /// No refresh after this (ms).
    pub expires_at: i64,
    /// Revoked at (ms).
    pub revoked_at: Option<i64>,
    /// Why it was revoked (`sign_out`, `evicted`, `refresh_token_reused`, …).
    pub revoke_reason: Option<String>,
    /// Authentication methods, space-separated (`pwd`, `passkey`, …).
    pub amr: String,
    /// The client's `User-Agent` at sign-in.
    pub user_agent: Option<String>,
    /// The client's IP address at sign-in.
    pub ip: Option<String>,
    /// The device the session is bound to (DPoP), if any.
    pub device_id: Option<DeviceId>,
    /// That device key's RFC 7638 thumbprint: refresh needs a proof by this key.
    pub jkt: Option<Jkt>,
    /// The organization the session acts for, if one is active and the user is in it (read
    /// with the refresh token only; `None` elsewhere).
    #[sqlx(default)]
    pub org_id: Option<OrgId>,
    /// The user's role in it.
    #[sqlx(default)]
    pub org_role: Option<String>,
    /// The claims the sign-in hook added (a JSON object), carried by every access token (read
    /// with the refresh token only; `None` elsewhere).
    #[sqlx(default)]
    pub claims: Option<String>,
}

/// A live session, as [`Store::live_session`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LiveSession {
    /// The user's address.
    pub email: String,
    /// The device the session is bound to, if any.
    pub device_id: Option<DeviceId>,
    /// The user's role in the organization asked about, if they are in it.
    pub org_role: Option<String>,
}

/// A refresh token as stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRow {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// The session it refreshes.
    pub session_id: SessionId,
    /// Issued at (ms).
    pub issued_at: i64,
}

/// A refresh token with the session it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshLookup {
    /// When the token was used (rotated); `None` while it is the session's current token.
    pub used_at: Option<i64>,
    /// The session.
    #[sqlx(flatten)]
    pub session: SessionRow,
    /// For a grant to an OpenID Connect client: the client (`None`: a first-party session).
    pub client_id: Option<String>,
    /// For a grant: the scopes granted.
    pub scope: Option<String>,
    /// For a grant: the browser session it came from.
    pub parent_session_id: Option<SessionId>,
}

/// Everything that makes a new session, written in one transaction.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session.
    pub session: SessionRow,
    /// Its first refresh token.
    pub refresh: RefreshRow,
    /// Sessions a user may have; the oldest beyond this are revoked (`evicted`).
    pub max_per_user: i64,
    /// Sessions last used before this (ms) do not count: they are idle-expired.
    pub idle_cutoff: i64,
    /// The event that records it (`sign_up`, `sign_in`).
    pub audit: AuditRow,
    /// The event that records each eviction (its session id filled in per session).
    pub eviction: AuditRow,
    /// The device key the session is bound to: its row is created (or revived) in the same
    /// transaction, and `session.device_id` set to it.
    pub device: Option<NewDevice>,
    /// A sign-up's first way in other than a password, stored in the same transaction as the
    /// user.
    pub way_in: Option<WayIn>,
}

/// A new account's first way in, stored with it (a password is on the user's row).
#[derive(Debug, Clone)]
pub enum WayIn {
    /// A passkey-only sign-up's passkey.
    Passkey(super::PasskeyRow),
    /// A provider's first sign-in: its identity.
    #[cfg(feature = "oauth")]
    Identity(super::IdentityRow),
}

/// A device key seen at sign-in.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// The id to use when the device is new.
    pub id: DeviceId,
    /// The key's thumbprint.
    pub jkt: Jkt,
    /// A name for people ("Chrome on Linux").
    pub name: String,
}

/// What [`Store::create_session`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The device the session is bound to.
    pub device_id: Option<DeviceId>,
    /// Sessions revoked by the per-user limit.
    pub evicted: Vec<SessionId>,
}

/// Which of a user's sessions to revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoke<'a> {
    /// This one (if it is the user's).
    One(&'a SessionId),
    /// All but this one.
    AllBut(&'a SessionId),
    /// All.
    All,
}

impl Store {
    /// Creates a session (and, for a sign-up, its user first, with its passkey or identity; for
    /// a device-bound session, its device), then revokes the user's oldest sessions beyond the
    /// limit. Returns the device id and the evicted session ids, or `None` when `user`'s email,
    /// passkey or identity is taken (nothing is written then). Refused with `account_disabled`
    /// for a disabled account.
    pub async fn create_session(
        &self,
        new: &NewSession,
        user: Option<&UserRow>,
    ) -> Result<Option<Created>, Error> {
        let s = &new.session;
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            if let Some(user) = user {
                let inserted = insert_user!(&mut *tx, user);
                if inserted == 0 {
                    tx.rollback().await?;
                    return Ok(None);
                }
            }
            // Refused for a disabled account. The row is written, which locks it (PostgreSQL) or
            // takes the one writer (SQLite) until this commits: an account disabled at the same
            // moment either refuses this session or ends it with the others.
            let allowed = sqlx::query(
                "UPDATE users SET last_sign_in_at = $2 WHERE id = $1 AND disabled_at IS NULL",
            )
            .bind(s.user_id)
            .bind(s.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if allowed == 0 {
                tx.rollback().await?;
                return Err(crate::domain::accounts::disabled().into());
            }
            // The new account's passkey or identity: `None` when another account has it.
            let stored = match &new.way_in {
                Some(WayIn::Passkey(passkey)) => sqlx::query(
                    "INSERT INTO passkeys (id, user_id, credential_id, passkey, name, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (credential_id) DO NOTHING",
                )
                .bind(&passkey.id)
                .bind(passkey.user_id)
                .bind(&passkey.credential_id)
                .bind(&passkey.passkey)
                .bind(&passkey.name)
                .bind(passkey.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
                #[cfg(feature = "oauth")]
                Some(WayIn::Identity(identity)) => insert_identity!(&mut *tx, identity),
                None => 1,
            };
            if stored == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            let device_id: Option<DeviceId> = match &new.device {
                Some(device) => Some(
                    sqlx::query_scalar(
                        "INSERT INTO devices (id, user_id, jkt, name, user_agent, created_at, \
                         last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                         ON CONFLICT (user_id, jkt) DO UPDATE SET last_seen_at = excluded.last_seen_at, \
                         revoked_at = NULL, user_agent = excluded.user_agent RETURNING id",
                    )
                    .bind(device.id)
                    .bind(s.user_id)
                    .bind(&device.jkt)
                    .bind(&device.name)
                    .bind(s.user_agent.as_deref())
                    .bind(s.created_at)
                    .fetch_one(&mut *tx)
                    .await?,
                ),
                None => None,
            };
            sqlx::query(
                "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, amr, \
                 user_agent, ip, device_id, jkt, auth_time, claims) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(s.id)
            .bind(s.user_id)
            .bind(s.created_at)
            .bind(s.last_used_at)
            .bind(s.expires_at)
            .bind(&s.amr)
            .bind(s.user_agent.as_deref())
            .bind(s.ip.as_deref())
            .bind(device_id)
            .bind(new.device.as_ref().map(|d| d.jkt.as_str()))
            .bind(s.auth_time)
            .bind(s.claims.as_deref())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)",
            )
            .bind(&new.refresh.token_hash)
            .bind(new.refresh.session_id)
            .bind(new.refresh.issued_at)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, &new.audit);
            let active: Vec<SessionId> = sqlx::query_scalar(
                "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
                 AND client_id IS NULL \
                 AND expires_at > $2 AND last_used_at > $3 ORDER BY created_at DESC, id DESC",
            )
            .bind(s.user_id)
            .bind(s.created_at)
            .bind(new.idle_cutoff)
            .fetch_all(&mut *tx)
            .await?;
            let keep = usize::try_from(new.max_per_user).unwrap_or(usize::MAX);
            let evicted: Vec<SessionId> = active.into_iter().skip(keep).collect();
            evict!(&mut *tx, &evicted, s.created_at, new.eviction);
            tx.commit().await?;
            Ok(Some(Created { device_id, evicted }))
        })
    }

    /// The refresh token whose hash is `token_hash`, with its session.
    pub async fn refresh_token(&self, token_hash: &[u8]) -> Result<Option<RefreshLookup>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            "SELECT r.used_at, s.id, s.user_id, s.created_at, s.auth_time, s.last_used_at, \
             s.expires_at, s.revoked_at, s.revoke_reason, s.amr, s.user_agent, s.ip, s.device_id, \
             s.jkt, m.org_id, m.role AS org_role, s.claims, s.client_id, s.scope, \
             s.parent_session_id \
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
             LEFT JOIN org_members m ON m.org_id = s.org_id AND m.user_id = s.user_id \
             WHERE r.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Uses up the token `old_hash` and stores its `successor`, in one transaction (shared with
    /// the rotations that arrive with it, see [`super::rotations`]). Returns
    /// `false` (and writes nothing) when the old token was used already: a concurrent refresh
    /// won the race, or this is a replay; the caller decides which.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        successor: &RefreshRow,
        device_id: Option<DeviceId>,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        let rotation = super::rotations::Rotation {
            old_hash: old_hash.to_vec(),
            successor: successor.clone(),
            device_id,
            audit: audit.clone(),
        };
        super::groups::submit(&self.rotations, rotation).await
    }

    /// Revokes `which` of `user_id`'s live sessions at `now` for `reason`, appending `audit`.
    /// Returns the ids it revoked.
    pub async fn revoke_sessions(
        &self,
        user_id: &UserId,
        which: Revoke<'_>,
        now: i64,
        reason: &str,
        audit: &AuditRow,
    ) -> Result<Vec<SessionId>, Error> {
        let (sql, session): (&'static str, Option<&SessionId>) = match which {
            Revoke::One(id) => (
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
                 WHERE user_id = $3 AND revoked_at IS NULL AND id = $4 RETURNING id",
                Some(id),
            ),
            Revoke::AllBut(id) => (
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
                 WHERE user_id = $3 AND revoked_at IS NULL AND id <> $4 RETURNING id",
                Some(id),
            ),
            // `$4` is NULL here, and typed as a session id like in the two above.
            Revoke::All => (
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
                 WHERE user_id = $3 AND revoked_at IS NULL AND ($4 IS NULL) RETURNING id",
                None,
            ),
        };
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut revoked: Vec<SessionId> = sqlx::query_scalar(sql)
                .bind(now)
                .bind(reason)
                .bind(user_id)
                .bind(session)
                .fetch_all(&mut *tx)
                .await?;
            // What OpenID Connect clients got from a session a user signed in with at the
            // provider ends with it (all and all-but-one take grants with the rest anyway).
            if let (Revoke::One(id), false) = (which, revoked.is_empty()) {
                let grants: Vec<SessionId> = sqlx::query_scalar(
                    "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
                     WHERE user_id = $3 AND parent_session_id = $4 AND client_id IS NOT NULL \
                     AND revoked_at IS NULL RETURNING id",
                )
                .bind(now)
                .bind(reason)
                .bind(user_id)
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                revoked.extend(grants);
            }
            if !revoked.is_empty() {
                insert_audit!(&mut *tx, audit);
            }
            tx.commit().await?;
            Ok(revoked)
        })
    }

    /// Records that live session `session_id` of `user_id` proved `amr` at `auth_time` (ms):
    /// its next tokens carry both; appends `audit`. `false`, and nothing changed, when the
    /// session is not live.
    pub async fn step_up_session(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        amr: &str,
        auth_time: i64,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE sessions SET amr = $1, auth_time = $2 \
                 WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL AND client_id IS NULL",
            )
            .bind(amr)
            .bind(auth_time)
            .bind(session_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated != 1 {
                return Ok(false);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(true)
        })
    }

    /// `user_id`'s sessions that can still be refreshed at `now` (not revoked, not past their
    /// lifetime, used after `idle_cutoff`), newest first.
    pub async fn live_sessions(
        &self,
        user_id: &UserId,
        now: i64,
        idle_cutoff: i64,
    ) -> Result<Vec<SessionRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, created_at, auth_time, last_used_at, expires_at, revoked_at, \
             revoke_reason, amr, user_agent, ip, device_id, jkt FROM sessions WHERE user_id = $1 \
             AND revoked_at IS NULL AND client_id IS NULL \
             AND expires_at > $2 AND last_used_at > $3 ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id)
        .bind(now)
        .bind(idle_cutoff)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// `session_id` of `user_id` when it is live at `now` (ms: not revoked, not past its
    /// lifetime, its user there), with the user's address and their role in `org` as of now.
    /// What a resource server's question about a token is answered from, beyond the token.
    pub async fn live_session(
        &self,
        session_id: &SessionId,
        user_id: &UserId,
        org: Option<&str>,
        now: i64,
    ) -> Result<Option<LiveSession>, Error> {
        let live = on_pool!(self, pool => sqlx::query_as(
            "SELECT u.email, s.device_id, (SELECT m.role FROM org_members m \
               WHERE m.org_id = $3 AND m.user_id = s.user_id) AS org_role \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $4 \
             AND s.client_id IS NULL",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(org)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
        Ok(live)
    }

    /// The revocations written at or after `since` by the database's clock (ms): each session's
    /// id and revocation time; and the database's clock as it was before they were read, for
    /// the next call. The database's clock, not this process's: a revocation written by a
    /// server whose clock is behind must still be read by the others.
    pub async fn revocations_since(
        &self,
        since: i64,
    ) -> Result<(Vec<(SessionId, i64)>, i64), Error> {
        let clock: i64 = match &self.pool {
            Pool::Sqlite(pools) => {
                sqlx::query_scalar(
                    "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
                )
                .fetch_one(&pools.read)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
                    .fetch_one(pool)
                    .await?
            }
        };
        // With the sessions of users deleted since, which went with them.
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, revoked_at FROM sessions WHERE revoked_clock >= $1 \
             UNION ALL SELECT id, revoked_at FROM deleted_sessions WHERE revoked_clock >= $1",
        )
        .bind(since)
        .fetch_all(pool)
        .await)?;
        Ok((rows, clock))
    }

    /// Deletes sessions (and their refresh tokens) that ended before `ended_before`: revoked or
    /// past their lifetime then, or last used before `idle_before`; and deleted users' sessions
    /// revoked before `ended_before`.
    pub async fn purge_sessions(&self, ended_before: i64, idle_before: i64) -> Result<u64, Error> {
        let purged = on_writer!(self, pool => {
            let sessions = sqlx::query(
                "DELETE FROM sessions WHERE revoked_at < $1 OR expires_at < $1 OR last_used_at < $2",
            )
            .bind(ended_before)
            .bind(idle_before)
            .execute(pool)
            .await?
            .rows_affected();
            let deleted = sqlx::query("DELETE FROM deleted_sessions WHERE revoked_at < $1")
                .bind(ended_before)
                .execute(pool)
                .await?
                .rows_affected();
            Ok::<_, Error>(sessions + deleted)
        })?;
        Ok(purged)
    }
}
