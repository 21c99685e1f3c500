//! The audit log: append-only (the schema's triggers refuse updates, and deletes of any event
//! younger than the retention cutoff).

use super::Error;
use super::{Pool, Store};
use crate::domain::{SessionId, UserId};

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// When it happened (ms since the epoch).
    pub at: i64,
    /// What happened: `sign_up`, `sign_in`, `refresh_reuse_detected`, … (see `domain::audit`).
    pub kind: &'static str,
    /// The user concerned, when known.
    pub user_id: Option<UserId>,
    /// The session concerned, when there is one.
    pub session_id: Option<SessionId>,
    /// The client's IP address.
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// A JSON object with event-specific facts.
    pub detail: Option<String>,
}

/// An event as stored (for the admin API, the CLI and the tests).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEventRow {
    /// Sequence number.
    pub id: i64,
    /// When (ms since the epoch).
    pub at: i64,
    /// What.
    pub kind: String,
    /// Who.
    pub user_id: Option<String>,
    /// Which session.
    pub session_id: Option<String>,
    /// From where.
    pub ip: Option<String>,
    /// With what client.
    pub user_agent: Option<String>,
    /// Details (JSON).
    pub detail: Option<String>,
}

impl Store {
    /// Appends one event on its own.
    pub async fn insert_audit(&self, event: &AuditRow) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            insert_audit!(&mut *tx, event);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes the events from before `before` (ms), in batches so that the writer is never held
    /// for long; returns how many. The database allows deleting only events older than the
    /// retention cutoff, which this first moves forward to `before` (it never moves back, nor
    /// closer than a day to the database's clock).
    pub async fn purge_audit(&self, before: i64) -> Result<u64, Error> {
        const BATCH: u64 = 5_000;
        on_writer!(self, pool => {
            sqlx::query("UPDATE audit_retention SET cutoff = $1 WHERE id = 1 AND cutoff < $1")
                .bind(before)
                .execute(pool)
                .await?;
            let mut purged = 0;
            loop {
                let deleted = sqlx::query(
                    "DELETE FROM audit_events WHERE id IN \
                     (SELECT id FROM audit_events WHERE at < $1 ORDER BY id LIMIT 5000)",
                )
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected();
                purged += deleted;
                if deleted < BATCH {
                    break;
                }
            }
            Ok(purged)
        })
    }

    #[cfg(any(feature = "testing", test))]
    /// The newest `limit` events, newest first; only those of `user_id` when given.
    pub async fn recent_audit(
        &self,
        limit: i64,
        user_id: Option<&UserId>,
    ) -> Result<Vec<AuditEventRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, at, kind, user_id, session_id, ip, user_agent, detail FROM audit_events \
             WHERE ($1 IS NULL OR user_id = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// Up to `limit` events, newest first, before the event `before` (its id); only those of
    /// `user_id`, of `kind`, at or after `since` (ms) when given.
    pub async fn audit_page(
        &self,
        user_id: Option<&UserId>,
        kind: Option<&str>,
        since: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEventRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, at, kind, user_id, session_id, ip, user_agent, detail FROM audit_events \
             WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR kind = $2) \
             AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(user_id)
        .bind(kind)
        .bind(since)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }
}
