//! Users.

use super::Error;
use super::{Pool, Store};
use crate::domain::UserId;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRow {
    /// Its id.
    pub id: UserId,
    /// The normalised address (display form).
    pub email: String,
    /// The lookup key (lower-cased address), unique.
    pub email_key: String,
    /// When the address was verified (ms).
    pub email_verified_at: Option<i64>,
    /// Display name.
    pub name: Option<String>,
    /// argon2id PHC string; `None` without a password.
    pub password_hash: Option<String>,
    /// When the account was created (ms).
    pub created_at: i64,
}

impl Store {
    /// The user whose lookup key is `email_key`.
    pub async fn user_by_email(&self, email_key: &str) -> Result<Option<UserRow>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, email, email_key, email_verified_at, name, password_hash, created_at \
             FROM users WHERE email_key = $1",
        )
        .bind(email_key)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// The user with id `id`.
    pub async fn user(&self, id: &UserId) -> Result<Option<UserRow>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, email, email_key, email_verified_at, name, password_hash, created_at \
             FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    #[cfg(any(feature = "testing", test))]
    /// Users, oldest first, `limit` at most after skipping `offset`.
    pub async fn users(&self, limit: i64, offset: i64) -> Result<Vec<UserRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, email, email_key, email_verified_at, name, password_hash, created_at \
             FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// Replaces a user's password hash (an upgrade to current parameters, or a new password).
    pub async fn set_password_hash(&self, id: &UserId, hash: &str, now: i64) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(hash)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Up to `limit` users after `after` (`created_at`, id), oldest first; with `prefix`, only
    /// those whose lower-cased address or name starts with it (`prefix` lower-cased already).
    pub async fn search_users(
        &self,
        prefix: Option<&str>,
        after: Option<(i64, &UserId)>,
        limit: i64,
    ) -> Result<Vec<UserRow>, Error> {
        // `LIKE` with its wildcards escaped: the same prefix match on both databases.
        let pattern = prefix.map(|p| {
            let escaped: String = p
                .chars()
                .flat_map(|c| match c {
                    '\\' | '%' | '_' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            escaped + "%"
        });
        let (after_at, after_id) = after.map_or((None, None), |(at, id)| (Some(at), Some(*id)));
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, email, email_key, email_verified_at, name, password_hash, created_at \
             FROM users \
             WHERE ($1 IS NULL OR email_key LIKE $1 ESCAPE '\\' \
                    OR lower(name) LIKE $1 ESCAPE '\\') \
               AND ($2 IS NULL OR created_at > $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at, id LIMIT $4",
        )
        .bind(pattern.as_deref())
        .bind(after_at)
        .bind(after_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }
}
