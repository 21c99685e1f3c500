//! Passkeys and passkey ceremonies.

use super::{AuditRow, Error};
use super::{Pool, Store};
use crate::domain::UserId;

/// A passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PasskeyRow {
    /// UUID.
    pub id: String,
    /// Whose.
    pub user_id: UserId,
    /// base64url credential id.
    pub credential_id: String,
    /// webauthn-rs `Passkey` as JSON.
    pub passkey: String,
    /// Name for people.
    pub name: String,
    /// Registered at (ms).
    pub created_at: i64,
    /// Last used to sign in (ms).
    pub last_used_at: Option<i64>,
}

/// What asking to remove a passkey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// It is gone.
    Removed,
    /// The user has no such passkey.
    NotFound,
    /// It is the account's last way to sign in; it stays.
    LastSignInMethod,
}

/// A ceremony's server-side state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CeremonyRow {
    /// base64url challenge: how the browser's answer finds it.
    pub challenge: String,
    /// `register`, `sign_up`, `sign_in`, `discover`.
    pub kind: String,
    /// The user (registration, sign-in by email, or the new user of a sign-up).
    pub user_id: Option<UserId>,
    /// The email of a passkey-only sign-up.
    pub email: Option<String>,
    /// The passkey's name (registration) or the user's (sign-up).
    pub name: Option<String>,
    /// webauthn-rs ceremony state as JSON.
    pub state: String,
    /// Not valid after (ms).
    pub expires_at: i64,
}

impl Store {
    /// Stores a ceremony.
    pub async fn insert_ceremony(&self, ceremony: &CeremonyRow) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "INSERT INTO passkey_ceremonies (challenge, kind, user_id, email, name, state, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&ceremony.challenge)
        .bind(&ceremony.kind)
        .bind(ceremony.user_id)
        .bind(ceremony.email.as_deref())
        .bind(ceremony.name.as_deref())
        .bind(&ceremony.state)
        .bind(ceremony.expires_at)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Takes (deletes and returns) the ceremony with `challenge`: whatever happens next, it
    /// cannot be finished twice.
    pub async fn take_ceremony(&self, challenge: &str) -> Result<Option<CeremonyRow>, Error> {
        let row = on_writer!(self, pool => sqlx::query_as(
            "DELETE FROM passkey_ceremonies WHERE challenge = $1 \
             RETURNING challenge, kind, user_id, email, name, state, expires_at",
        )
        .bind(challenge)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Forgets ceremonies that expired before `before`.
    pub async fn purge_ceremonies(&self, before: i64) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at < $1")
            .bind(before)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// `user_id`'s passkeys, oldest first.
    pub async fn passkeys(&self, user_id: &UserId) -> Result<Vec<PasskeyRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, credential_id, passkey, name, created_at, last_used_at \
             FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// The passkey with credential id `credential_id`, whoever owns it.
    pub async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyRow>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, credential_id, passkey, name, created_at, last_used_at \
             FROM passkeys WHERE credential_id = $1",
        )
        .bind(credential_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Stores a new passkey; `false` when its credential id is registered already.
    pub async fn insert_passkey(
        &self,
        passkey: &PasskeyRow,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
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
            .rows_affected();
            if inserted != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Records a use: the updated credential (sign count, backup state) and the time.
    pub async fn touch_passkey(&self, id: &str, passkey: &str, now: i64) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "UPDATE passkeys SET passkey = $1, last_used_at = $2 WHERE id = $3",
        )
        .bind(passkey)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Renames one of `user_id`'s passkeys; `false` when there is no such passkey.
    pub async fn rename_passkey(
        &self,
        user_id: &UserId,
        id: &str,
        name: &str,
    ) -> Result<bool, Error> {
        let renamed = on_writer!(self, pool => sqlx::query(
            "UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3",
        )
        .bind(name)
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(renamed == 1)
    }

    /// Removes one of `user_id`'s passkeys, unless it is the account's last way to sign in
    /// (two removals at once cannot both pass: see `another_way_in!`).
    pub async fn delete_passkey(
        &self,
        user_id: &UserId,
        id: &str,
        audit: &AuditRow,
    ) -> Result<Removal, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let another = another_way_in!(tx, user_id, id);
            let exists: Option<String> = sqlx::query_scalar(
                "SELECT id FROM passkeys WHERE id = $1 AND user_id = $2",
            )
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_none() {
                tx.rollback().await?;
                return Ok(Removal::NotFound);
            }
            if !another {
                tx.rollback().await?;
                return Ok(Removal::LastSignInMethod);
            }
            sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(Removal::Removed)
        })
    }
}
