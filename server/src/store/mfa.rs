//! TOTP second factors, their recovery codes, and the tickets between a sign-in's first and
//! second factor.

use super::{AuditRow, Error, Pool, Store};
use crate::domain::UserId;

/// A user's TOTP secret (sealed), and the last time step a code was accepted for.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TotpRow {
    /// The secret, sealed under the master secret (bound to the user).
    pub secret: Vec<u8>,
    /// When the first code confirmed it; `None` while enrolling.
    pub confirmed_at: Option<i64>,
    /// The newest time step a code was accepted for: older or equal ones are refused (replay).
    pub last_step: i64,
}

/// A ticket between the first and the second factor of a sign-in (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MfaTicketRow {
    /// SHA-256 of the ticket.
    pub ticket_hash: Vec<u8>,
    /// Who signed in.
    pub user_id: UserId,
    /// How, so far (space-separated `amr`).
    pub amr: String,
    /// The device key the first factor was proved with: the second must come from it too.
    pub jkt: Option<String>,
    /// Wrong codes so far.
    pub attempts: i64,
    /// When it stops working (ms).
    pub expires_at: i64,
}

/// Replaces `$user`'s recovery codes with `$codes` (hashes) in the transaction `$tx`.
macro_rules! replace_codes {
    ($tx:expr, $user:expr, $codes:expr, $now:expr) => {{
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
            .bind($user)
            .execute(&mut **$tx)
            .await?;
        for code in $codes {
            sqlx::query(
                "INSERT INTO mfa_recovery_codes (code_hash, user_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(code)
            .bind($user)
            .bind($now)
            .execute(&mut **$tx)
            .await?;
        }
    }};
}

/// Wrong codes a ticket takes before it stops working.
pub const MAX_MFA_ATTEMPTS: i64 = 5;

impl Store {
    /// `user_id`'s TOTP secret, if any.
    pub async fn totp(&self, user_id: &UserId) -> Result<Option<TotpRow>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            "SELECT secret, confirmed_at, last_step FROM mfa_totp WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Stores a new secret being enrolled (replacing an enrolment not confirmed). `false`, and
    /// nothing changed, when a confirmed one exists.
    pub async fn start_totp(
        &self,
        user_id: &UserId,
        secret: &[u8],
        now: i64,
    ) -> Result<bool, Error> {
        let stored = on_writer!(self, pool => sqlx::query(
            "INSERT INTO mfa_totp (user_id, secret, confirmed_at, last_step, created_at) \
             VALUES ($1, $2, NULL, 0, $3) ON CONFLICT (user_id) DO UPDATE \
             SET secret = excluded.secret, last_step = 0, created_at = excluded.created_at \
             WHERE mfa_totp.confirmed_at IS NULL",
        )
        .bind(user_id)
        .bind(secret)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(stored == 1)
    }

    /// Accepts a code of time step `step` for `user_id`: `false` when that step (or a later one)
    /// was used already. One statement: of two uses of one code at once, one wins.
    pub async fn use_totp_step(&self, user_id: &UserId, step: i64) -> Result<bool, Error> {
        let used = on_writer!(self, pool => sqlx::query(
            "UPDATE mfa_totp SET last_step = $1 WHERE user_id = $2 AND last_step < $1 \
             AND confirmed_at IS NOT NULL",
        )
        .bind(step)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(used == 1)
    }

    /// Confirms `user_id`'s enrolment with a code of `step`, and stores `codes` (hashes) as its
    /// recovery codes, appending `audit`. `false`, and nothing changed, when there is no
    /// enrolment to confirm (or that step was used).
    pub async fn confirm_totp(
        &self,
        user_id: &UserId,
        step: i64,
        codes: &[Vec<u8>],
        now: i64,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let confirmed = sqlx::query(
                "UPDATE mfa_totp SET confirmed_at = $1, last_step = $2 WHERE user_id = $3 \
                 AND confirmed_at IS NULL AND last_step < $2",
            )
            .bind(now)
            .bind(step)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if confirmed != 1 {
                return Ok(false);
            }
            replace_codes!(&mut tx, user_id, codes, now);
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(true)
        })
    }

    /// Replaces `user_id`'s recovery codes with `codes` (hashes), appending `audit`.
    pub async fn replace_recovery_codes(
        &self,
        user_id: &UserId,
        codes: &[Vec<u8>],
        now: i64,
        audit: &AuditRow,
    ) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            replace_codes!(&mut tx, user_id, codes, now);
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(())
        })
    }

    /// Uses up `user_id`'s recovery code with `hash`; `false` when it has none such.
    pub async fn use_recovery_code(&self, user_id: &UserId, hash: &[u8]) -> Result<bool, Error> {
        let used = on_writer!(self, pool => sqlx::query(
            "DELETE FROM mfa_recovery_codes WHERE user_id = $1 AND code_hash = $2",
        )
        .bind(user_id)
        .bind(hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(used == 1)
    }

    /// Removes `user_id`'s second factor and recovery codes, appending `audit`.
    pub async fn disable_totp(&self, user_id: &UserId, audit: &AuditRow) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(())
        })
    }

    /// Stores a sign-in's ticket.
    pub async fn insert_mfa_ticket(&self, ticket: &MfaTicketRow) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "INSERT INTO mfa_tickets (ticket_hash, user_id, amr, jkt, attempts, expires_at) \
             VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(&ticket.ticket_hash)
        .bind(ticket.user_id)
        .bind(&ticket.amr)
        .bind(ticket.jkt.as_deref())
        .bind(ticket.expires_at)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Counts one try of a code against the live ticket with `hash` at `now` and returns the
    /// ticket; `None` when there is none that still takes codes. Counted before the code is
    /// compared, in one statement: tries made at once cannot get past the most.
    pub async fn try_mfa_ticket(
        &self,
        hash: &[u8],
        now: i64,
    ) -> Result<Option<MfaTicketRow>, Error> {
        let row = on_writer!(self, pool => sqlx::query_as(
            "UPDATE mfa_tickets SET attempts = attempts + 1 WHERE ticket_hash = $1 \
             AND expires_at > $2 AND attempts < $3 \
             RETURNING ticket_hash, user_id, amr, jkt, attempts, expires_at",
        )
        .bind(hash)
        .bind(now)
        .bind(MAX_MFA_ATTEMPTS)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Uses up the ticket with `hash`; `false` when another use took it first.
    pub async fn take_mfa_ticket(&self, hash: &[u8]) -> Result<bool, Error> {
        let taken = on_writer!(self, pool => sqlx::query(
            "DELETE FROM mfa_tickets WHERE ticket_hash = $1",
        )
        .bind(hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(taken == 1)
    }

    /// Deletes the tickets that expired before `before` (ms).
    pub async fn purge_mfa_tickets(&self, before: i64) -> Result<u64, Error> {
        let purged = on_writer!(self, pool => sqlx::query(
            "DELETE FROM mfa_tickets WHERE expires_at < $1",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(purged)
    }
}
