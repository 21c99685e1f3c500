//! Account lifecycle: the mail queue, the tokens emailed links and codes stand for, and the
//! user changes they make.

use super::{AuditRow, Error, Pool, Store};
use crate::domain::{Jkt, UserId};

/// A mail in the queue.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailRow {
    /// Its id (a UUID).
    pub id: String,
    /// When it was queued (ms).
    pub created_at: i64,
    /// What it is for (`verify_email`, `reset_password`, …).
    pub kind: String,
    /// The recipient.
    pub to_address: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text_body: String,
    /// The HTML body.
    pub html_body: String,
    /// `pending`, `sent`, `failed` or `outbox` (development: nothing sends it).
    pub status: String,
    /// Sending attempts so far.
    pub attempts: i64,
    /// When to try next (ms).
    pub next_attempt_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was sent (ms).
    pub sent_at: Option<i64>,
}

/// A token an emailed link (or a magic link's code) stands for; only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountTokenRow {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// `verify_email`, `reset_password`, `magic_link` or `change_email`.
    pub purpose: String,
    /// The account it is for; `None` for a magic link to an address with no account yet.
    pub user_id: Option<UserId>,
    /// The address it was sent to (for `change_email`, the new address).
    pub email: String,
    /// A magic link's code, keyed (see `DerivedKeys::code_hash`).
    pub code_hash: Option<Vec<u8>>,
    /// When it was made (ms).
    pub created_at: i64,
    /// When it stops working (ms).
    pub expires_at: i64,
    /// The device key of the request that asked for it, if it sent a proof.
    pub jkt: Option<Jkt>,
}

macro_rules! mail_columns {
    () => {
        "id, created_at, kind, to_address, subject, text_body, html_body, status, attempts, \
         next_attempt_at, last_error, sent_at"
    };
}
macro_rules! token_columns {
    () => {
        "token_hash, purpose, user_id, email, code_hash, created_at, expires_at, jkt"
    };
}

/// Links of one kind to one address that work at once (the newest mails'): twice what an
/// address gets in an hour (`lifecycle::MAIL_PER_EMAIL`; two fixed windows can meet within
/// minutes), so a stranger asking for more mail does not spend the link its owner is opening.
/// A link is 256 random bits: more of them alive makes none guessable. (Only the newest mail's
/// code works.)
pub const LIVE_LINKS: i64 = 40;

/// Wrong codes a magic link takes before it stops working.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

impl Store {
    /// Queues `mail`.
    pub async fn queue_mail(&self, mail: &MailRow) -> Result<(), Error> {
        on_writer!(self, pool => {
            insert_mail!(pool, mail);
            Ok::<_, Error>(())
        })
    }

    /// Takes up to `limit` mails due at `now` for sending, holding them until `lease_until`
    /// (another sender takes them after that, as when this one crashed), and counts the
    /// attempt. Of two senders at once, each mail goes to one.
    pub async fn claim_mail(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<MailRow>, Error> {
        // The lease condition is repeated outside the subquery: on PostgreSQL, a row another
        // sender took meanwhile is re-checked against it and skipped.
        let sql = concat!(
            "UPDATE mail_outbox SET lease_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM mail_outbox WHERE status = 'pending' \
               AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $2) \
               ORDER BY next_attempt_at LIMIT $3) \
             AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $2) \
             RETURNING ",
            mail_columns!(),
            ""
        );
        let rows = on_writer!(self, pool => sqlx::query_as(sql)
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    /// Marks mail `id` sent at `now`, and forgets its body: it held live links and codes, which
    /// are stored nowhere else but as hashes.
    pub async fn mail_sent(&self, id: &str, now: i64) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "UPDATE mail_outbox SET status = 'sent', sent_at = $1, lease_until = NULL, \
             last_error = NULL, text_body = '', html_body = '' WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Records a failed attempt at mail `id`: tried again at `retry_at`, or, with `None`, given
    /// up (`failed`), with `audit` appended in the same transaction.
    pub async fn mail_not_sent(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<i64>,
        audit: &AuditRow,
    ) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE mail_outbox SET status = $1, next_attempt_at = COALESCE($2, \
                 next_attempt_at), lease_until = NULL, last_error = $3, \
                 text_body = CASE WHEN $2 IS NULL THEN '' ELSE text_body END, \
                 html_body = CASE WHEN $2 IS NULL THEN '' ELSE html_body END WHERE id = $4",
            )
            .bind(if retry_at.is_some() { "pending" } else { "failed" })
            .bind(retry_at)
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(())
        })
    }

    /// The newest `limit` mails, newest first (what `keyward outbox` prints).
    #[cfg(any(feature = "cli", feature = "testing", test))]
    pub async fn recent_mail(&self, limit: i64) -> Result<Vec<MailRow>, Error> {
        let sql = concat!(
            "SELECT ",
            mail_columns!(),
            " FROM mail_outbox ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        let rows = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    /// Stores `token`, replacing the earlier tokens of its purpose for its address (only the
    /// newest mail's link works), and queues `mail` with it in one transaction.
    pub async fn issue_account_token(
        &self,
        token: &AccountTokenRow,
        mail: &MailRow,
    ) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            // The links of the last mails keep working (`LIVE_LINKS`); only the newest mail's
            // code does, so a code is guessed against one mail at a time.
            sqlx::query(
                "DELETE FROM account_tokens WHERE email = $1 AND purpose = $2 AND \
                 (expires_at <= $3 OR token_hash NOT IN (SELECT token_hash FROM account_tokens \
                 WHERE email = $1 AND purpose = $2 ORDER BY created_at DESC LIMIT $4))",
            )
            .bind(&token.email)
            .bind(&token.purpose)
            .bind(token.created_at)
            .bind(LIVE_LINKS - 1)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE account_tokens SET code_hash = NULL WHERE email = $1 AND purpose = $2",
            )
            .bind(&token.email)
            .bind(&token.purpose)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO account_tokens (token_hash, purpose, user_id, email, code_hash, \
                 created_at, expires_at, jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&token.token_hash)
            .bind(&token.purpose)
            .bind(token.user_id)
            .bind(&token.email)
            .bind(token.code_hash.as_deref())
            .bind(token.created_at)
            .bind(token.expires_at)
            .bind(token.jkt.as_ref())
            .execute(&mut *tx)
            .await?;
            insert_mail!(&mut *tx, mail);
            tx.commit().await?;
            Ok::<_, Error>(())
        })
    }

    /// The token with `hash` for `purpose`, left where it is (expired or not: the caller
    /// decides); `None` when there is none.
    pub async fn account_token(
        &self,
        hash: &[u8],
        purpose: &str,
    ) -> Result<Option<AccountTokenRow>, Error> {
        let sql = concat!(
            "SELECT ",
            token_columns!(),
            " FROM account_tokens WHERE token_hash = $1 AND purpose = $2"
        );
        let row = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(hash)
            .bind(purpose)
            .fetch_optional(pool)
            .await)?;
        Ok(row)
    }

    /// Uses up the token with `hash` for `purpose`: deletes it and returns it (expired or not:
    /// the caller decides). `None` when there is none. One statement, so of two uses at once
    /// one gets it.
    pub async fn take_account_token(
        &self,
        hash: &[u8],
        purpose: &str,
    ) -> Result<Option<AccountTokenRow>, Error> {
        let sql = concat!(
            "DELETE FROM account_tokens WHERE token_hash = $1 AND purpose = $2 \
             RETURNING ",
            token_columns!(),
            ""
        );
        let row = on_writer!(self, pool => sqlx::query_as(sql)
            .bind(hash)
            .bind(purpose)
            .fetch_optional(pool)
            .await)?;
        Ok(row)
    }

    /// Counts one try of a code against the live token of `purpose` for `email` at `now`, and
    /// returns that token; `None` when there is none that still takes codes. Counted before
    /// the code is compared, in one statement: tries made at once cannot get past the most.
    pub async fn try_code(
        &self,
        email: &str,
        purpose: &str,
        now: i64,
    ) -> Result<Option<AccountTokenRow>, Error> {
        let sql = concat!(
            "UPDATE account_tokens SET attempts = attempts + 1 WHERE token_hash = (\
             SELECT token_hash FROM account_tokens WHERE email = $1 AND purpose = $2 \
             AND expires_at > $3 AND attempts < $4 AND code_hash IS NOT NULL \
             ORDER BY created_at DESC LIMIT 1) \
             AND attempts < $4 RETURNING ",
            token_columns!(),
            ""
        );
        let row = on_writer!(self, pool => sqlx::query_as(sql)
            .bind(email)
            .bind(purpose)
            .bind(now)
            .bind(MAX_CODE_ATTEMPTS)
            .fetch_optional(pool)
            .await)?;
        Ok(row)
    }

    /// Uses up the token with `hash` (its code was right).
    pub async fn take_token_for_code(&self, hash: &[u8]) -> Result<Option<AccountTokenRow>, Error> {
        let sql = concat!(
            "DELETE FROM account_tokens WHERE token_hash = $1 RETURNING ",
            token_columns!(),
            ""
        );
        let row = on_writer!(self, pool => sqlx::query_as(sql)
            .bind(hash)
            .fetch_optional(pool)
            .await)?;
        Ok(row)
    }

    /// Forgets every link and code still out for `user_id` and every sign-in waiting for its
    /// second factor: after a password reset or change, a proved mailbox, a new address or a
    /// sign-out everywhere, an intruder has nothing left to finish.
    pub async fn forget_pending(&self, user_id: &UserId) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM account_tokens WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM mfa_tickets WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        })
    }

    /// Deletes the mails sent or given up before `before` (ms); the development outbox stays.
    pub async fn purge_mail(&self, before: i64) -> Result<u64, Error> {
        let purged = on_writer!(self, pool => sqlx::query(
            "DELETE FROM mail_outbox WHERE status IN ('sent', 'failed') AND created_at < $1",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(purged)
    }

    /// Deletes the tokens that expired before `before` (ms).
    pub async fn purge_account_tokens(&self, before: i64) -> Result<u64, Error> {
        let purged = on_writer!(self, pool => sqlx::query(
            "DELETE FROM account_tokens WHERE expires_at < $1",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(purged)
    }

    /// Marks `user_id`'s address verified at `now` (if it still is `email`), appending `audit`.
    /// With `drop_unproven`, also removes what was set before anyone proved the mailbox: the
    /// password, the passkeys, the linked providers and the second factor (pre-hijacking
    /// defence). Returns whether the address matched.
    pub async fn verify_email(
        &self,
        user_id: &UserId,
        email_key: &str,
        now: i64,
        drop_unproven: bool,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), \
                 password_hash = CASE WHEN $2 THEN NULL ELSE password_hash END, updated_at = $1 \
                 WHERE id = $3 AND email_key = $4",
            )
            .bind(now)
            .bind(drop_unproven)
            .bind(user_id)
            .bind(email_key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 1 && drop_unproven {
                let tables = [
                    "DELETE FROM passkeys WHERE user_id = $1",
                    "DELETE FROM identities WHERE user_id = $1",
                    "DELETE FROM mfa_totp WHERE user_id = $1",
                    "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
                ];
                for sql in tables {
                    sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
                }
            }
            if updated == 1 {
                insert_audit!(&mut *tx, audit);
            }
            tx.commit().await?;
            Ok::<_, Error>(updated == 1)
        })
    }

    /// Sets `user_id`'s password hash at `now`, appending `audit`.
    pub async fn change_password(
        &self,
        user_id: &UserId,
        hash: &str,
        now: i64,
        audit: &AuditRow,
    ) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(())
        })
    }

    /// Moves `user_id` to the (verified) address `email`, appending `audit`. `false`, and
    /// nothing changed, when another account has it.
    pub async fn change_email(
        &self,
        user_id: &UserId,
        email: &str,
        email_key: &str,
        now: i64,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let taken: Option<UserId> =
                sqlx::query_scalar("SELECT id FROM users WHERE email_key = $1 AND id <> $2")
                    .bind(email_key)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if taken.is_some() {
                return Ok(false);
            }
            let moved = sqlx::query(
                "UPDATE users SET email = $1, email_key = $2, email_verified_at = $3, \
                 updated_at = $3 WHERE id = $4",
            )
            .bind(email)
            .bind(email_key)
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await;
            match moved {
                // Another account took the address between the check and the update.
                Err(sqlx::Error::Database(err)) if err.is_unique_violation() => return Ok(false),
                moved => moved?,
            };
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(true)
        })
    }
}
