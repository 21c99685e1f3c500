//! Counters for rate limits and sign-in lockout. They live in the database, so every server
//! process sharing a PostgreSQL sees the same counts.

use super::Error;
use super::{Pool, Store};

/// Failed sign-ins for one email from one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Failures {
    /// Consecutive failures since the last success (or the last lock's end).
    pub failures: i64,
    /// Locked until then (ms), when locked.
    pub locked_until: Option<i64>,
}

impl Store {
    /// Counts one hit on `key` in the fixed window starting at `window_start` and returns the
    /// window's count, this hit included. A hit in a newer window starts the count again.
    pub async fn hit(&self, key: &str, window_start: i64) -> Result<i64, Error> {
        let hits: i64 = on_writer!(self, pool => sqlx::query_scalar(
            "INSERT INTO rate_limits (key, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
               hits = CASE WHEN rate_limits.window_start = excluded.window_start \
                      THEN rate_limits.hits + 1 ELSE 1 END, \
               window_start = excluded.window_start \
             RETURNING hits",
        )
        .bind(key)
        .bind(window_start)
        .fetch_one(pool)
        .await)?;
        Ok(hits)
    }

    /// The count of `key` in the window starting at `window_start` (0 when none).
    pub async fn hits(&self, key: &str, window_start: i64) -> Result<i64, Error> {
        let hits: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT hits FROM rate_limits WHERE key = $1 AND window_start = $2",
        )
        .bind(key)
        .bind(window_start)
        .fetch_optional(pool)
        .await)?;
        Ok(hits.unwrap_or(0))
    }

    /// Forgets counters of windows that started before `before`.
    pub async fn purge_rate_limits(&self, before: i64) -> Result<u64, Error> {
        let purged = on_writer!(self, pool => sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(purged)
    }

    /// The failure record of `key` (an email's key and a client, as the domain forms it), if
    /// any. (The column is still called `email_key`.)
    pub async fn sign_in_failures(&self, key: &str) -> Result<Option<Failures>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            "SELECT failures, locked_until FROM sign_in_failures WHERE email_key = $1",
        )
        .bind(key)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Counts a failed sign-in at `now`. A lock that has ended starts the count again. When the
    /// count reaches `threshold`, locks until `lock_until`. Returns the record after the update.
    pub async fn record_sign_in_failure(
        &self,
        key: &str,
        now: i64,
        threshold: i64,
        lock_until: i64,
    ) -> Result<Failures, Error> {
        let failures = on_writer!(self, pool => sqlx::query_as(
            "INSERT INTO sign_in_failures (email_key, failures, locked_until, updated_at) \
             VALUES ($1, 1, CASE WHEN 1 >= $3 THEN $4 END, $2) \
             ON CONFLICT (email_key) DO UPDATE SET \
               failures = CASE WHEN sign_in_failures.locked_until <= $2 THEN 1 \
                          ELSE sign_in_failures.failures + 1 END, \
               locked_until = CASE \
                 WHEN sign_in_failures.locked_until > $2 THEN sign_in_failures.locked_until \
                 WHEN sign_in_failures.locked_until <= $2 THEN CASE WHEN 1 >= $3 THEN $4 END \
                 WHEN sign_in_failures.failures + 1 >= $3 THEN $4 \
                 ELSE NULL END, \
               updated_at = $2 \
             RETURNING failures, locked_until",
        )
        .bind(key)
        .bind(now)
        .bind(threshold)
        .bind(lock_until)
        .fetch_one(pool)
        .await)?;
        Ok(failures)
    }

    /// Forgets failure records last touched before `before` whose lock (if any) has ended by
    /// then: a client that stopped failing a day ago starts from nothing.
    pub async fn purge_sign_in_failures(&self, before: i64) -> Result<u64, Error> {
        let purged = on_writer!(self, pool => sqlx::query(
            "DELETE FROM sign_in_failures WHERE updated_at < $1 \
             AND (locked_until IS NULL OR locked_until < $1)",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(purged)
    }

    /// Forgets the failures of `key` (after a successful sign-in).
    pub async fn clear_sign_in_failures(&self, key: &str) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query("DELETE FROM sign_in_failures WHERE email_key = $1")
            .bind(key)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }
}
