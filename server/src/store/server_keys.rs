//! API keys: server keys, what resource servers (sync servers, APIs in other languages)
//! authenticate with to redeem connect tickets and introspect tokens, and admin keys, for the
//! admin API. Only each key's SHA-256 is stored.

use super::{AuditRow, Error, Pool, Store};
use crate::domain::ServerKeyId;

/// A server key as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ServerKeyRow {
    /// Its id.
    pub id: ServerKeyId,
    /// `server` or `admin`.
    pub kind: String,
    /// A name for people (who uses it).
    pub name: String,
    /// Made at (ms).
    pub created_at: i64,
    /// Last used at (ms, to the minute).
    pub last_used_at: Option<i64>,
    /// Revoked at (ms).
    pub revoked_at: Option<i64>,
}

impl Store {
    /// Stores a new key (its hash), appending `audit`.
    pub async fn insert_server_key(
        &self,
        key: &ServerKeyRow,
        hash: &[u8],
        audit: &AuditRow,
    ) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO server_keys (id, kind, name, key_hash, created_at) \
                 VALUES ($1, $5, $2, $3, $4)",
            )
            .bind(key.id)
            .bind(&key.name)
            .bind(hash)
            .bind(key.created_at)
            .bind(&key.kind)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await
        })?;
        Ok(())
    }

    /// The live (not revoked) key with `hash`.
    pub async fn live_server_key(&self, hash: &[u8]) -> Result<Option<ServerKeyRow>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, kind, name, created_at, last_used_at, revoked_at FROM server_keys \
             WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Records that `id` was used at `now` (ms).
    pub async fn touch_server_key(&self, id: &ServerKeyId, now: i64) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "UPDATE server_keys SET last_used_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Every key of `kind` (`server`, `admin`), revoked ones too, oldest first (`keyward
    /// server-keys list`, `keyward admin-keys list`).
    #[cfg(any(feature = "cli", feature = "testing", test))]
    pub async fn server_keys(&self, kind: &str) -> Result<Vec<ServerKeyRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, kind, name, created_at, last_used_at, revoked_at FROM server_keys \
             WHERE kind = $1 ORDER BY created_at, id",
        )
        .bind(kind)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// Revokes `id` of `kind` at `now` (ms), appending `audit`; `false`, and nothing written,
    /// when there is no such live key.
    pub async fn revoke_server_key(
        &self,
        id: &ServerKeyId,
        kind: &str,
        now: i64,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let revoked = sqlx::query(
                "UPDATE server_keys SET revoked_at = $1 \
                 WHERE id = $2 AND kind = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .bind(kind)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if revoked == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(true)
        })
    }
}
