//! Users.

use super::{AuditRow, Error, Pool, Store};
use crate::DatabaseKind;
use crate::domain::{OrgId, SessionId, UserId};

/// The columns of a [`UserRow`], in a `SELECT` from `users`.
macro_rules! user_columns {
    () => {
        "id, email, email_key, email_verified_at, name, password_hash, created_at, disabled_at, \
         last_sign_in_at"
    };
}

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
    /// When an administrator disabled the account (ms); `None` while it may sign in.
    pub disabled_at: Option<i64>,
    /// When the last session was made (ms).
    pub last_sign_in_at: Option<i64>,
}

/// What [`Store::delete_user`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// The user and their data are gone, their sessions (these) with them.
    Done(Vec<SessionId>),
    /// No such user.
    NotFound,
    /// They are the last owner of these organizations, which have other members: nothing was
    /// deleted.
    LastOwner(Vec<OrgId>),
}

impl Store {
    /// The user whose lookup key is `email_key`.
    pub async fn user_by_email(&self, email_key: &str) -> Result<Option<UserRow>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            concat!("SELECT ", user_columns!(), " FROM users WHERE email_key = $1"),
        )
        .bind(email_key)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// The user with id `id`.
    pub async fn user(&self, id: &UserId) -> Result<Option<UserRow>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"),
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
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2"
            ),
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

    /// Up to `limit` users in the order they were made, after `after` (the last one seen: its
    /// `created_at` and id); only those whose address (its lower-case key) or lower-cased name
    /// starts with `prefix` (lower case), when given, and only those made in `created` (ms: at
    /// or after the first, before the second), when given.
    ///
    /// A search that few users match finds them through two index ranges (`[prefix, next)` on
    /// the address key and on the lower-cased name, compared byte by byte), then sorts them; one
    /// that many match reads users in order until a page matched. Either way its cost stays
    /// small however many users there are.
    pub async fn search_users(
        &self,
        prefix: Option<&str>,
        (since, before): (Option<i64>, Option<i64>),
        after: Option<(i64, &UserId)>,
        limit: i64,
    ) -> Result<Vec<UserRow>, Error> {
        let (after_at, after_id) = after.map_or((None, None), |(at, id)| (Some(at), Some(*id)));
        // Always bounds (the widest when not given), so that where users are read in order the
        // time range is an index range.
        let (since, before) = (since.unwrap_or(i64::MIN), before.unwrap_or(i64::MAX));
        let Some(prefix) = prefix else {
            let rows = on_pool!(self, pool => sqlx::query_as(
                concat!("SELECT ", user_columns!(), " FROM users \
                 WHERE ($1 IS NULL OR created_at > $1 OR (created_at = $1 AND id > $2)) \
                 AND created_at >= $4 AND created_at < $5 \
                 ORDER BY created_at, id LIMIT $3"),
            )
            .bind(after_at)
            .bind(after_id)
            .bind(limit)
            .bind(since)
            .bind(before)
            .fetch_all(pool)
            .await)?;
            return Ok(rows);
        };
        // `LIKE` with its wildcards escaped: the same prefix match on both databases.
        let pattern: String = prefix
            .chars()
            .flat_map(|c| match c {
                '\\' | '%' | '_' => vec!['\\', c],
                c => vec![c],
            })
            .chain(['%'])
            .collect();
        // How many start with it, counted up to a bound in the two indexes alone: a few, and
        // they are read through the index ranges and sorted; many, and the users are read in
        // the order they were made until a page of them matched, which then comes soon. (A
        // prefix of U+10FFFF alone has no end: read in order too.)
        let end = prefix_end(prefix);
        let common = match &end {
            None => true,
            Some(end) => {
                let probe = match self.kind() {
                    DatabaseKind::Sqlite => PROBE_SQLITE,
                    DatabaseKind::Postgres => PROBE_POSTGRES,
                };
                let found: i64 = on_pool!(self, pool => sqlx::query_scalar(probe)
                    .bind(prefix)
                    .bind(end)
                    .fetch_one(pool)
                    .await)?;
                found >= FEW
            }
        };
        let sql = match (self.kind(), common) {
            (_, true) => SEARCH_IN_ORDER,
            (DatabaseKind::Sqlite, false) => SEARCH_SQLITE,
            (DatabaseKind::Postgres, false) => SEARCH_POSTGRES,
        };
        let rows = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(prefix)
            .bind(end.as_deref())
            .bind(&pattern)
            .bind(after_at)
            .bind(after_id)
            .bind(limit)
            .bind(since)
            .bind(before)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    /// Disables `id` at `now` (ms) and ends their live sessions (`disabled`), or lets them sign
    /// in again (not `disabled`: their ended sessions stay ended), appending `audit`, in one
    /// transaction: a session made at the same moment as a disabling either sees the account
    /// disabled or is ended with the others. Returns the sessions it ended, or `None` when there
    /// is no such user. Disabling a disabled account ends nothing more and keeps its first date.
    pub async fn set_user_disabled(
        &self,
        id: &UserId,
        disabled: bool,
        now: i64,
        audit: &AuditRow,
    ) -> Result<Option<Vec<SessionId>>, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let found = sqlx::query(
                "UPDATE users SET disabled_at = CASE WHEN $3 THEN COALESCE(disabled_at, $2) \
                 ELSE NULL END, updated_at = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .bind(disabled)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if found == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            let ended: Vec<SessionId> = sqlx::query_scalar(
                "UPDATE sessions SET revoked_at = $2, revoke_reason = 'disabled' \
                 WHERE user_id = $1 AND revoked_at IS NULL AND $3 RETURNING id",
            )
            .bind(id)
            .bind(now)
            .bind(disabled)
            .fetch_all(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(Some(ended))
        })
    }

    /// Deletes `id` with everything that is theirs (sessions, devices, passkeys, linked
    /// providers, second factors, emailed links, mail to their address, failed sign-ins,
    /// invitations to their address, memberships, and the organizations they were the only
    /// member of), appending `audit`, `removed(org)` for each membership that ends and `gone(org)`
    /// for each organization that goes with them, in one transaction. Their live sessions'
    /// revocations are kept (`deleted_sessions`) for the other servers. Refused, with nothing
    /// deleted, while they are the last owner of an organization with other members. The audit
    /// log keeps its events (it is append-only; its retention purges them).
    pub async fn delete_user(
        &self,
        id: &UserId,
        now: i64,
        audit: &AuditRow,
        (removed, gone): (impl Fn(&OrgId) -> AuditRow, impl Fn(&OrgId) -> AuditRow),
    ) -> Result<Deleted, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            // Locks the row (PostgreSQL) so no session is made meanwhile.
            let found = sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if found == 0 {
                tx.rollback().await?;
                return Ok(Deleted::NotFound);
            }
            // Their organizations' rows, in a fixed order, as every change to an organization's
            // members locks them first: no owner leaves meanwhile (PostgreSQL).
            let theirs: Vec<OrgId> = sqlx::query_scalar(
                "SELECT org_id FROM org_members WHERE user_id = $1 ORDER BY org_id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            for org in &theirs {
                sqlx::query("UPDATE orgs SET updated_at = updated_at WHERE id = $1")
                    .bind(org)
                    .execute(&mut *tx)
                    .await?;
            }
            // The organizations they own with no other owner, and whether anyone else is in them.
            let owned: Vec<(OrgId, bool)> = sqlx::query_as(
                "SELECT m.org_id, EXISTS (SELECT 1 FROM org_members o \
                 WHERE o.org_id = m.org_id AND o.user_id <> $1) FROM org_members m \
                 WHERE m.user_id = $1 AND m.role = 'owner' AND NOT EXISTS (SELECT 1 FROM \
                 org_members o WHERE o.org_id = m.org_id AND o.user_id <> $1 AND o.role = 'owner')",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            let shared: Vec<OrgId> = owned
                .iter()
                .filter(|(_, others)| *others)
                .map(|(org, _)| *org)
                .collect();
            if !shared.is_empty() {
                tx.rollback().await?;
                return Ok(Deleted::LastOwner(shared));
            }
            // Every one: those revoked already (a server that was down meanwhile reads them at
            // start), and those past their lifetime, whose last access token may still be valid.
            // The purge drops them after a week.
            let sessions: Vec<SessionId> = sqlx::query_scalar(
                "INSERT INTO deleted_sessions (id, revoked_at) SELECT id, COALESCE(revoked_at, $2) \
                 FROM sessions WHERE user_id = $1 RETURNING id",
            )
            .bind(id)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            for (org, _) in &owned {
                sqlx::query("DELETE FROM orgs WHERE id = $1")
                    .bind(org)
                    .execute(&mut *tx)
                    .await?;
            }
            // What names them outside the tables that reference their row: mail to their address
            // (sent or not), emailed links, failed sign-ins, passkey ceremonies, invitations to
            // their address.
            let email_key: String = sqlx::query_scalar("SELECT email_key FROM users WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            for sql in [
                "DELETE FROM mail_outbox WHERE lower(to_address) = $1",
                "DELETE FROM account_tokens WHERE lower(email) = $1",
                "DELETE FROM sign_in_failures WHERE email_key = $1",
                "DELETE FROM org_invitations WHERE lower(email) = $1",
            ] {
                sqlx::query(sql).bind(&email_key).execute(&mut *tx).await?;
            }
            for sql in [
                "DELETE FROM passkey_ceremonies WHERE user_id = $1",
                "DELETE FROM users WHERE id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            insert_audit!(&mut *tx, audit);
            for org in &theirs {
                insert_audit!(&mut *tx, &removed(org));
            }
            for (org, _) in &owned {
                insert_audit!(&mut *tx, &gone(org));
            }
            tx.commit().await?;
            Ok(Deleted::Done(sessions))
        })
    }
}

/// A search on SQLite, whose default collation compares bytes: `$1` the prefix, `$2` the first
/// string after every string it starts, `$3` the `LIKE` pattern, then the cursor, the limit and
/// the time range. The range filters the few matches as `+created_at`, which no index serves:
/// as a plain column it would take the planner to the creation index, reading users in order
/// (a search's p99 went from 7 ms to 240 ms over 100,000 users).
const SEARCH_SQLITE: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users \
     WHERE ((email_key >= $1 AND email_key < $2 AND email_key LIKE $3 ESCAPE '\\') \
         OR (lower(name) >= $1 AND lower(name) < $2 AND lower(name) LIKE $3 ESCAPE '\\')) \
       AND ($4 IS NULL OR created_at > $4 OR (created_at = $4 AND id > $5)) \
       AND +created_at >= $7 AND +created_at < $8 \
     ORDER BY created_at, id LIMIT $6"
);

/// The same on PostgreSQL, comparing bytes (`COLLATE "C"`, as its indexes do: in a language's
/// collation, the strings a prefix starts need not sit together).
const SEARCH_POSTGRES: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users \
     WHERE ((email_key COLLATE \"C\" >= $1 AND email_key COLLATE \"C\" < $2 \
             AND email_key LIKE $3 ESCAPE '\\') \
         OR (lower(name) COLLATE \"C\" >= $1 AND lower(name) COLLATE \"C\" < $2 \
             AND lower(name) LIKE $3 ESCAPE '\\')) \
       AND ($4::bigint IS NULL OR created_at > $4 OR (created_at = $4 AND id > $5)) \
       AND +created_at >= $7 AND +created_at < $8 \
     ORDER BY created_at, id LIMIT $6"
);

/// Up to this many matches, a search reads them through the index ranges; from this many on,
/// in the order users were made.
const FEW: i64 = 1000;

/// How many addresses and names (up to [`FEW`] of each) start with `$1` (`$2` the end of its
/// range), counted in the indexes.
const PROBE_SQLITE: &str = "SELECT \
     (SELECT count(*) FROM (SELECT 1 FROM users WHERE email_key >= $1 AND email_key < $2 \
       LIMIT 1000) AS e) \
   + (SELECT count(*) FROM (SELECT 1 FROM users WHERE lower(name) >= $1 AND lower(name) < $2 \
       LIMIT 1000) AS n)";

/// The same on PostgreSQL, comparing bytes.
const PROBE_POSTGRES: &str = "SELECT \
     (SELECT count(*) FROM (SELECT 1 FROM users WHERE email_key COLLATE \"C\" >= $1 \
       AND email_key COLLATE \"C\" < $2 LIMIT 1000) AS e) \
   + (SELECT count(*) FROM (SELECT 1 FROM users WHERE lower(name) COLLATE \"C\" >= $1 \
       AND lower(name) COLLATE \"C\" < $2 LIMIT 1000) AS n)";

/// A search that reads users in the order they were made (`$1` and `$2` unused), for a prefix
/// that many start with.
const SEARCH_IN_ORDER: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users \
     WHERE ($1 = $1 AND ($2 IS NULL OR $2 = $2)) \
       AND (email_key LIKE $3 ESCAPE '\\' OR lower(name) LIKE $3 ESCAPE '\\') \
       AND ($4 IS NULL OR created_at > $4 OR (created_at = $4 AND id > $5)) \
       AND created_at >= $7 AND created_at < $8 \
     ORDER BY created_at, id LIMIT $6"
);

/// The first string, in code point (and so UTF-8 byte) order, after every string that starts
/// with `prefix`: `prefix` with its last character made the next one (dropping characters that
/// have none). `None` when there is no such string.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_ends_just_after_every_string_it_starts() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        for word in ["ab", "ab\u{10FFFF}", "abzzz", "ab\u{E9}"] {
            assert!(word < "ac", "{word}");
        }
    }
}
