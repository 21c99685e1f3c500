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

    #[cfg(any(feature = "cli", feature = "testing", test))]
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
}
