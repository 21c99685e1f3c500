//! Keyward as an OpenID Connect provider: the clients (relying parties) registered with it.

use super::{AuditRow, Error, Pool, SessionRow, Store};
use crate::domain::{Jkt, OrgId, SessionId, UserId};

/// A registered client as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClientRow {
    /// Its `client_id` (`kwc_…`).
    pub id: String,
    /// Its name, shown on the consent page.
    pub name: String,
    /// `confidential` or `public`.
    pub kind: String,
    /// SHA-256 of a confidential client's secret.
    pub secret_hash: Option<Vec<u8>>,
    /// SHA-256 of the secret before the last rotation, accepted too until `previous_until`.
    pub previous_secret_hash: Option<Vec<u8>>,
    /// Until when (ms).
    pub previous_until: Option<i64>,
    /// The redirect URIs, a JSON array.
    pub redirect_uris: String,
    /// The post-logout redirect URIs, a JSON array.
    pub post_logout_redirect_uris: String,
    /// The scopes it may ask for, space-separated.
    pub scopes: String,
    /// Its grants, space-separated.
    pub grant_types: String,
    /// The API its access tokens are for.
    pub audience: Option<String>,
    /// 1 when users are never asked to consent.
    pub skip_consent: i32,
    /// When it was registered (ms).
    pub created_at: i64,
    /// When it last changed (ms).
    pub updated_at: i64,
}

macro_rules! client_columns {
    () => {
        "id, name, kind, secret_hash, previous_secret_hash, previous_until, redirect_uris, \
         post_logout_redirect_uris, scopes, grant_types, audience, skip_consent, created_at, \
         updated_at"
    };
}

impl Store {
    /// Registers client `row`, with `audit`.
    pub async fn insert_oidc_client(&self, row: &ClientRow, audit: &AuditRow) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(concat!(
                "INSERT INTO oidc_clients (",
                client_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ))
            .bind(&row.id)
            .bind(&row.name)
            .bind(&row.kind)
            .bind(row.secret_hash.as_deref())
            .bind(row.previous_secret_hash.as_deref())
            .bind(row.previous_until)
            .bind(&row.redirect_uris)
            .bind(&row.post_logout_redirect_uris)
            .bind(&row.scopes)
            .bind(&row.grant_types)
            .bind(row.audience.as_deref())
            .bind(row.skip_consent)
            .bind(row.created_at)
            .bind(row.updated_at)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every client, oldest first.
    pub async fn oidc_clients(&self) -> Result<Vec<ClientRow>, Error> {
        let sql = concat!(
            "SELECT ",
            client_columns!(),
            " FROM oidc_clients ORDER BY created_at, id"
        );
        let rows = on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Client `id`.
    pub async fn oidc_client(&self, id: &str) -> Result<Option<ClientRow>, Error> {
        let sql = concat!(
            "SELECT ",
            client_columns!(),
            " FROM oidc_clients WHERE id = $1"
        );
        let row = on_pool!(self, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Writes what an admin may change of client `row` (all but its type, secrets and times of
    /// making), with `audit`: the client as it is now, if it still exists.
    pub async fn update_oidc_client(
        &self,
        row: &ClientRow,
        audit: &AuditRow,
    ) -> Result<Option<ClientRow>, Error> {
        let sql = concat!(
            "UPDATE oidc_clients SET name = $2, redirect_uris = $3, \
             post_logout_redirect_uris = $4, scopes = $5, grant_types = $6, audience = $7, \
             skip_consent = $8, updated_at = $9 WHERE id = $1 RETURNING ",
            client_columns!()
        );
        change_row!(
            self,
            ClientRow,
            sql,
            audit,
            &row.id,
            &row.name,
            &row.redirect_uris,
            &row.post_logout_redirect_uris,
            &row.scopes,
            &row.grant_types,
            row.audience.as_deref(),
            row.skip_consent,
            row.updated_at
        )
    }

    /// Gives confidential client `id` the secret hashed as `hash` at `now` (ms), with `audit`.
    /// The one it had is accepted too until `previous_until` (ms), or from now on no more when
    /// that is `None`. The client, if there is such a confidential one.
    pub async fn rotate_oidc_client_secret(
        &self,
        id: &str,
        (hash, previous_until): (&[u8], Option<i64>),
        now: i64,
        audit: &AuditRow,
    ) -> Result<Option<ClientRow>, Error> {
        let sql = concat!(
            "UPDATE oidc_clients SET previous_secret_hash = CASE WHEN $3 > $4 THEN secret_hash \
             END, previous_until = CASE WHEN $3 > $4 THEN $3 END, secret_hash = $2, \
             updated_at = $4 WHERE id = $1 AND kind = 'confidential' RETURNING ",
            client_columns!()
        );
        // Without an overlap the previous secret's time is now: not after now, so kept as none.
        let until = previous_until.unwrap_or(now);
        change_row!(self, ClientRow, sql, audit, id, hash, until, now)
    }

    /// Deletes client `id`, with `audit`: whether it existed.
    pub async fn delete_oidc_client(&self, id: &str, audit: &AuditRow) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            // Its grants end with it (their access tokens are refused from the next request on,
            // on every server), and stay as ended sessions until purged.
            sqlx::query(
                "UPDATE sessions SET revoked_at = $2, revoke_reason = 'client_deleted' \
                 WHERE client_id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(audit.at)
            .execute(&mut *tx)
            .await?;
            let deleted = sqlx::query("DELETE FROM oidc_clients WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(true)
        })
    }
}

/// An authorization code as stored (its hash; the code itself only the client has).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CodeRow {
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who signed in.
    pub user_id: UserId,
    /// The first-party session they signed in with at the provider.
    pub browser_session_id: SessionId,
    /// When they last proved who they are there (ms).
    pub auth_time: i64,
    /// How, space-separated.
    pub amr: String,
    /// The redirect URI of the authorization request, which the token request must repeat.
    pub redirect_uri: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The request's `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// The PKCE challenge (S256).
    pub code_challenge: Option<String>,
    /// When it was issued (ms).
    pub created_at: i64,
    /// When it expires (ms).
    pub expires_at: i64,
    /// When it was exchanged (ms).
    pub used_at: Option<i64>,
    /// When it was presented again after that (ms).
    pub replayed_at: Option<i64>,
    /// The grant its exchange started.
    pub grant_session_id: Option<SessionId>,
    /// The organization the user chose for the client (scope `org`).
    pub org_id: Option<OrgId>,
    /// The DPoP key the request bound the code to (`dpop_jkt`).
    pub dpop_jkt: Option<Jkt>,
}

/// A live browser session at the provider, with what its first-party session says of the
/// sign-in.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BrowserSessionRow {
    /// The first-party session.
    pub session_id: SessionId,
    /// Whose.
    pub user_id: UserId,
    /// When they last proved who they are (ms).
    pub auth_time: i64,
    /// How, space-separated.
    pub amr: String,
    /// When the session was last used (ms).
    pub last_used_at: i64,
}

/// A grant to start: its session, and the code it comes from.
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// The session (with `client_id`, `scope` and `parent_session_id` below).
    pub session: SessionRow,
    /// The client.
    pub client_id: String,
    /// The scopes granted.
    pub scope: String,
    /// The browser session it came from.
    pub parent_session_id: SessionId,
    /// The code exchanged.
    pub code_hash: Vec<u8>,
    /// Whether the client asks users to consent: then the user's consent must still be there.
    pub needs_consent: bool,
    /// Its first refresh token, for a client with the `refresh_token` grant.
    pub refresh: Option<super::RefreshRow>,
    /// The event that records it.
    pub audit: AuditRow,
    /// Live grants the user may have with the client; the oldest beyond this are revoked
    /// (`evicted`).
    pub max_live: i64,
    /// The event that records each eviction (its session id filled in per grant).
    pub eviction: AuditRow,
}

macro_rules! code_columns {
    () => {
        "code_hash, client_id, user_id, browser_session_id, auth_time, amr, redirect_uri, scope, \
         nonce, code_challenge, created_at, expires_at, used_at, replayed_at, grant_session_id, \
         org_id, dpop_jkt"
    };
}

impl Store {
    /// Remembers that the browser holding the cookie hashed as `cookie_hash` is signed in with
    /// `session_id`, until `expires_at` (ms).
    pub async fn insert_oidc_browser_session(
        &self,
        cookie_hash: &[u8],
        session_id: &SessionId,
        (created_at, expires_at): (i64, i64),
    ) -> Result<(), Error> {
        on_writer!(self, pool => {
            sqlx::query(
                "INSERT INTO oidc_browser_sessions (cookie_hash, session_id, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(cookie_hash)
            .bind(session_id)
            .bind(created_at)
            .bind(expires_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The browser session of the cookie hashed as `cookie_hash`, while it and its session are
    /// live at `now` (not revoked, not past its lifetime, used since `idle_cutoff`) and its user
    /// is enabled.
    pub async fn oidc_browser_session(
        &self,
        cookie_hash: &[u8],
        now: i64,
        idle_cutoff: i64,
    ) -> Result<Option<BrowserSessionRow>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            "SELECT s.id AS session_id, s.user_id, s.auth_time, s.amr, s.last_used_at \
             FROM oidc_browser_sessions b JOIN sessions s ON s.id = b.session_id \
             JOIN users u ON u.id = s.user_id \
             WHERE b.cookie_hash = $1 AND b.expires_at > $2 AND s.revoked_at IS NULL \
             AND s.expires_at > $2 AND s.last_used_at > $3 AND s.client_id IS NULL \
             AND u.disabled_at IS NULL",
        )
        .bind(cookie_hash)
        .bind(now)
        .bind(idle_cutoff)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Notes that first-party session `session_id` was used at `now` (ms), so it does not end
    /// idle while its browser session is in use.
    pub async fn touch_session(&self, session_id: &SessionId, now: i64) -> Result<(), Error> {
        on_writer!(self, pool => {
            sqlx::query(
                "UPDATE sessions SET last_used_at = $2 WHERE id = $1 AND last_used_at < $2 \
                 AND client_id IS NULL",
            )
            .bind(session_id)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Deletes the codes that expired before `before` (ms), and the browser sessions past
    /// their end; how many codes.
    pub async fn purge_oidc(&self, before: i64) -> Result<u64, Error> {
        on_writer!(self, pool => {
            let codes = sqlx::query("DELETE FROM oidc_codes WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM oidc_browser_sessions WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await?;
            Ok(codes)
        })
    }

    /// Stores code `row`, with `audit`.
    pub async fn insert_oidc_code(&self, row: &CodeRow, audit: &AuditRow) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(concat!(
                "INSERT INTO oidc_codes (",
                code_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL, NULL, $13, $14)"
            ))
            .bind(&row.code_hash)
            .bind(&row.client_id)
            .bind(row.user_id)
            .bind(row.browser_session_id)
            .bind(row.auth_time)
            .bind(&row.amr)
            .bind(&row.redirect_uri)
            .bind(&row.scope)
            .bind(row.nonce.as_deref())
            .bind(row.code_challenge.as_deref())
            .bind(row.created_at)
            .bind(row.expires_at)
            .bind(row.org_id)
            .bind(row.dpop_jkt.as_ref())
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Uses up the code hashed as `code_hash` at `now` (ms): the code, if it was unused and
    /// unexpired. Committed at once, so a refused exchange still spends it.
    pub async fn claim_oidc_code(
        &self,
        code_hash: &[u8],
        now: i64,
    ) -> Result<Option<CodeRow>, Error> {
        let sql = concat!(
            "UPDATE oidc_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL \
             AND expires_at > $2 RETURNING ",
            code_columns!()
        );
        let row = on_writer!(self, pool => {
            sqlx::query_as(sql).bind(code_hash).bind(now).fetch_optional(pool).await
        })?;
        Ok(row)
    }

    /// Marks the used code hashed as `code_hash` as presented again at `now` (ms): the code, if
    /// it had been used.
    pub async fn replay_oidc_code(
        &self,
        code_hash: &[u8],
        now: i64,
    ) -> Result<Option<CodeRow>, Error> {
        let sql = concat!(
            "UPDATE oidc_codes SET replayed_at = COALESCE(replayed_at, $2) WHERE code_hash = $1 \
             AND used_at IS NOT NULL RETURNING ",
            code_columns!()
        );
        let row = on_writer!(self, pool => {
            sqlx::query_as(sql).bind(code_hash).bind(now).fetch_optional(pool).await
        })?;
        Ok(row)
    }

    /// Starts grant `new` in one transaction: its session, the code's link to it, and the
    /// audit event. `false`, with nothing written, when the code was replayed meanwhile or the
    /// user is disabled.
    pub async fn start_grant(&self, new: &NewGrant) -> Result<bool, Error> {
        let s = &new.session;
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            // Written, which locks the user's row (PostgreSQL) or takes the one writer (SQLite):
            // an account disabled at the same moment refuses this grant or ends it with the rest.
            let enabled = sqlx::query(
                "UPDATE users SET disabled_at = disabled_at WHERE id = $1 AND disabled_at IS NULL",
            )
            .bind(s.user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let linked = sqlx::query(
                "UPDATE oidc_codes SET grant_session_id = $1 WHERE code_hash = $2 \
                 AND replayed_at IS NULL",
            )
            .bind(s.id)
            .bind(&new.code_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // The sign-in it came from is still on (not signed out since the code was issued),
            // and, where the client asks for consent, the user has not taken it back.
            let parent_live: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM sessions WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(new.parent_session_id)
            .fetch_one(&mut *tx)
            .await?;
            let consented: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM oidc_consents WHERE user_id = $1 AND client_id = $2",
            )
            .bind(s.user_id)
            .bind(&new.client_id)
            .fetch_one(&mut *tx)
            .await?;
            if enabled == 0 || linked == 0 || parent_live == 0 || (new.needs_consent && consented == 0)
            {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, amr, \
                 user_agent, ip, auth_time, client_id, scope, parent_session_id, org_id, jkt) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                 (SELECT org_id FROM org_members WHERE org_id = $13 AND user_id = $2), $14)",
            )
            .bind(s.id)
            .bind(s.user_id)
            .bind(s.created_at)
            .bind(s.last_used_at)
            .bind(s.expires_at)
            .bind(&s.amr)
            .bind(s.user_agent.as_deref())
            .bind(s.ip.as_deref())
            .bind(s.auth_time)
            .bind(&new.client_id)
            .bind(&new.scope)
            .bind(new.parent_session_id)
            .bind(s.org_id)
            .bind(s.jkt.as_ref())
            .execute(&mut *tx)
            .await?;
            if let Some(refresh) = &new.refresh {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(&refresh.token_hash)
                .bind(refresh.session_id)
                .bind(refresh.issued_at)
                .execute(&mut *tx)
                .await?;
            }
            insert_audit!(&mut *tx, &new.audit);
            let live: Vec<SessionId> = sqlx::query_scalar(
                "SELECT id FROM sessions WHERE user_id = $1 AND client_id = $2 \
                 AND revoked_at IS NULL AND expires_at > $3 ORDER BY created_at DESC, id DESC",
            )
            .bind(s.user_id)
            .bind(&new.client_id)
            .bind(s.created_at)
            .fetch_all(&mut *tx)
            .await?;
            let keep = usize::try_from(new.max_live).unwrap_or(usize::MAX);
            evict!(&mut *tx, live.iter().skip(keep), s.created_at, new.eviction);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Whether first-party session `session_id` is live at `now` (ms): not revoked, not past its
    /// lifetime, used since `idle_cutoff`.
    pub async fn session_live(
        &self,
        session_id: &SessionId,
        now: i64,
        idle_cutoff: i64,
    ) -> Result<bool, Error> {
        let live: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT created_at FROM sessions WHERE id = $1 AND revoked_at IS NULL \
             AND expires_at > $2 AND last_used_at > $3",
        )
        .bind(session_id)
        .bind(now)
        .bind(idle_cutoff)
        .fetch_optional(pool)
        .await)?;
        Ok(live.is_some())
    }

    /// Whether grant `session_id` of client `client_id` is live at `now` (ms), its user there
    /// and enabled.
    pub async fn live_grant(
        &self,
        session_id: &SessionId,
        client_id: &str,
        now: i64,
    ) -> Result<bool, Error> {
        let live: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT s.created_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1 \
             AND s.client_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3 \
             AND u.disabled_at IS NULL",
        )
        .bind(session_id)
        .bind(client_id)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
        Ok(live.is_some())
    }
}

/// A user's consent to a client, with the client's name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConsentRow {
    /// The client.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// What the user allowed, space-separated.
    pub scopes: String,
    /// When first (ms).
    pub granted_at: i64,
}

/// What a user allowed a client, as remembered.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GivenConsent {
    /// The scopes, space-separated.
    pub scopes: String,
    /// The organization they chose for it (scope `org`).
    pub org_id: Option<OrgId>,
}

impl Store {
    /// What `user_id` allowed client `client_id`, if anything.
    pub async fn oidc_consent(
        &self,
        user_id: &UserId,
        client_id: &str,
    ) -> Result<Option<GivenConsent>, Error> {
        let given = on_pool!(self, pool => sqlx::query_as(
            "SELECT scopes, org_id FROM oidc_consents WHERE user_id = $1 AND client_id = $2",
        )
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(pool)
        .await)?;
        Ok(given)
    }

    /// Records that `user_id` allowed client `client_id` `scopes` (all it allowed so far), for
    /// organization `org_id` when they chose one (else the one chosen before stays), at `now`
    /// (ms), with `audit`.
    pub async fn grant_oidc_consent(
        &self,
        (user_id, client_id): (&UserId, &str),
        (scopes, org_id): (&str, Option<&OrgId>),
        now: i64,
        audit: &AuditRow,
    ) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO oidc_consents (user_id, client_id, scopes, granted_at, updated_at, \
                 org_id) VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (user_id, client_id) \
                 DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at, \
                 org_id = COALESCE(excluded.org_id, oidc_consents.org_id)",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(scopes)
            .bind(now)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every client `user_id` consented to, newest first.
    pub async fn oidc_consents(&self, user_id: &UserId) -> Result<Vec<ConsentRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT c.client_id, k.name, c.scopes, c.granted_at FROM oidc_consents c \
             JOIN oidc_clients k ON k.id = c.client_id WHERE c.user_id = $1 \
             ORDER BY c.granted_at DESC, c.client_id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// Takes back `user_id`'s consent to client `client_id` at `now` (ms), and ends the client's
    /// grants for them, with `audit`: the grants ended, or `None` when there was no consent.
    pub async fn revoke_oidc_consent(
        &self,
        (user_id, client_id): (&UserId, &str),
        now: i64,
        audit: &AuditRow,
    ) -> Result<Option<Vec<SessionId>>, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query(
                "DELETE FROM oidc_consents WHERE user_id = $1 AND client_id = $2",
            )
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            sqlx::query(
                "DELETE FROM oidc_codes WHERE user_id = $1 AND client_id = $2 AND used_at IS NULL",
            )
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
            let ended: Vec<SessionId> = sqlx::query_scalar(
                "UPDATE sessions SET revoked_at = $3, revoke_reason = 'consent_revoked' \
                 WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL RETURNING id",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(Some(ended))
        })
    }
}

impl Store {
    /// Voids the codes issued from browser session `parent` and not yet exchanged, with
    /// `audit` (its grants end with the session itself: `revoke_sessions`).
    pub async fn void_codes_from(&self, parent: &SessionId, audit: &AuditRow) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "DELETE FROM oidc_codes WHERE browser_session_id = $1 AND used_at IS NULL",
            )
            .bind(parent)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(())
        })
    }
}
