//! Connect tickets: single-use stand-ins for the access token on a WebSocket or EventSource.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use sqlx::AssertSqlSafe;

use super::groups::{self, Queue};
use super::{Error, Pool, Store};
use crate::domain::{DeviceId, OrgId, SessionId, UserId};

/// A connect ticket to store (only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRow {
    /// SHA-256 of the ticket.
    pub hash: Vec<u8>,
    /// The session that asked for it.
    pub session_id: SessionId,
    /// That session's user.
    pub user_id: UserId,
    /// The URL it is good at (normalised).
    pub url: String,
    /// Not valid from (ms).
    pub expires_at: i64,
    /// When the access token it was asked with expires (ms).
    pub token_expires_at: i64,
}

/// A ticket just used up, and the state of its session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RedeemedTicket {
    /// The session that asked for it.
    pub session_id: SessionId,
    /// That session's user.
    pub user_id: UserId,
    /// The session's device, when it is bound to one.
    pub device_id: Option<DeviceId>,
    /// The URL it is good at (normalised).
    pub url: String,
    /// Not valid from (ms).
    pub expires_at: i64,
    /// The session's user if the session is live (not revoked) and the user still exists;
    /// `None` otherwise.
    pub live_user: Option<UserId>,
    /// When the access token it was asked with expires (ms; `None` for a ticket from before
    /// this was kept).
    pub token_expires_at: Option<i64>,
    /// The organization the session acts for, if any.
    pub org_id: Option<OrgId>,
    /// The user's role in it, if they are still a member.
    pub org_role: Option<String>,
}

impl Store {
    /// Stores `ticket`, bound to its session's device (read from the session row in the same
    /// statement). `false`, and nothing stored, when the session is revoked or gone. Tickets
    /// asked for together are stored in one statement (see [`super::groups`]).
    pub async fn insert_connect_ticket(&self, ticket: &TicketRow) -> Result<bool, Error> {
        groups::submit(&self.issues, ticket.clone()).await
    }

    /// Uses up the ticket with `hash` at `now` (ms): deletes it and returns what it was, with
    /// its session's state as of now, and notes that its device, if any and its session live,
    /// was seen (a connection of its opened; written at most once a minute). Redemptions that
    /// arrive together are one statement (see [`super::groups`]); of two redemptions of one
    /// ticket, at once or not, exactly one gets the row. `None` when there is no such ticket
    /// (never issued, used, or purged).
    pub async fn redeem_connect_ticket(
        &self,
        hash: &[u8],
        now: i64,
    ) -> Result<Option<RedeemedTicket>, Error> {
        groups::submit(&self.redemptions, (hash.to_vec(), now)).await
    }

    /// Notes that `device_id` was seen at `now` (ms): a connection of its opened (written at
    /// most once a minute).
    pub async fn device_seen(&self, device_id: &DeviceId, now: i64) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "UPDATE devices SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1 - 60000",
        )
        .bind(now)
        .bind(device_id)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Deletes the tickets that expired before `before` (ms); returns how many.
    pub async fn purge_connect_tickets(&self, before: i64) -> Result<u64, Error> {
        let purged = on_writer!(self, pool => sqlx::query(
            "DELETE FROM connect_tickets WHERE expires_at < $1",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(purged)
    }
}

/// A redeemed ticket's row, with the hash it was found by.
#[derive(sqlx::FromRow)]
struct Redeemed {
    ticket_hash: Vec<u8>,
    #[sqlx(flatten)]
    ticket: RedeemedTicket,
}

/// A ticket's hash to redeem, and when (ms).
pub(super) type Redemption = (Vec<u8>, i64);

/// Starts the writer that redeems tickets in groups: at a few thousand connections a second, a
/// commit per ticket (and one per device seen) was most of what a connection cost on SQLite's
/// single writer.
pub(super) fn start_redeeming(pool: &Pool) -> Queue<Redemption, Option<RedeemedTicket>> {
    let pool = pool.clone();
    groups::start(move |group| {
        let pool = pool.clone();
        async move {
            let redeemed = redeem_group(&pool, &group).await;
            let now = group.iter().map(|(_, now)| *now).max().unwrap_or_default();
            let mut devices: Vec<&DeviceId> = redeemed
                .iter()
                .filter_map(|r| r.as_ref().ok()?.as_ref())
                .filter(|ticket| ticket.live_user.is_some())
                .filter_map(|ticket| ticket.device_id.as_ref())
                .collect();
            devices.sort_unstable_by_key(|d| d.to_string());
            devices.dedup();
            if let Err(err) = seen_group(&pool, &devices, now).await {
                tracing::warn!(%err, devices = devices.len(), "could not note that devices were seen");
            }
            redeemed
        }
    })
}

/// Starts the writer that stores tickets in groups, as [`start_redeeming`] redeems them.
pub(super) fn start_issuing(pool: &Pool) -> Queue<TicketRow, bool> {
    let pool = pool.clone();
    groups::start(move |group| {
        let pool = pool.clone();
        async move { insert_group(&pool, &group).await }
    })
}

/// The storing statement for each group size, 1 to [`groups::MAX_GROUP`] tickets. A VALUES
/// list's columns are `column1`, `column2`, … on SQLite and on PostgreSQL alike.
static INSERT: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    (1..=groups::MAX_GROUP)
        .map(|n| {
            let rows: Vec<String> = (0..n)
                .map(|row| {
                    format!(
                        "({})",
                        placeholders(TICKET_COLUMNS, row * TICKET_COLUMNS + 1)
                    )
                })
                .collect();
            format!(
                "INSERT INTO connect_tickets (ticket_hash, session_id, user_id, device_id, url, \
                 expires_at, token_expires_at) \
                 SELECT v.column1, s.id, s.user_id, s.device_id, v.column2, v.column3, v.column6 \
                 FROM (VALUES {}) AS v JOIN sessions s ON s.id = v.column4 \
                 AND s.user_id = v.column5 AND s.revoked_at IS NULL \
                 RETURNING ticket_hash",
                rows.join(", ")
            )
            .into()
        })
        .collect()
});

/// The values a ticket binds in [`INSERT`].
const TICKET_COLUMNS: usize = 6;

/// Binds `ticket`'s values in the order [`INSERT`] takes them.
macro_rules! bind_ticket {
    ($query:expr, $ticket:expr) => {{
        let ticket: &TicketRow = $ticket;
        $query
            .bind(&ticket.hash)
            .bind(&ticket.url)
            .bind(ticket.expires_at)
            .bind(ticket.session_id)
            .bind(ticket.user_id)
            .bind(ticket.token_expires_at)
    }};
}

/// Stores the tickets of `group` in one statement: whether each was (its session live).
async fn insert_group(pool: &Pool, group: &[TicketRow]) -> Vec<Result<bool, Error>> {
    let Some(text) = INSERT.get(group.len().saturating_sub(1)) else {
        let err = || Error::internal("a group of connect tickets of an unexpected size");
        return group.iter().map(|_| Err(err())).collect();
    };
    let text = || AssertSqlSafe(Arc::clone(text));
    let stored: Result<Vec<Vec<u8>>, sqlx::Error> = match pool {
        Pool::Sqlite(pools) => {
            let query = sqlx::query_scalar(text());
            let query = group
                .iter()
                .fold(query, |q, ticket| bind_ticket!(q, ticket));
            query.fetch_all(&pools.write).await
        }
        Pool::Postgres(pool) => {
            let query = sqlx::query_scalar(text());
            let query = group
                .iter()
                .fold(query, |q, ticket| bind_ticket!(q, ticket));
            query.fetch_all(pool).await
        }
    };
    match stored {
        Ok(stored) => {
            let stored: HashSet<Vec<u8>> = stored.into_iter().collect();
            group
                .iter()
                .map(|ticket| Ok(stored.contains(&ticket.hash)))
                .collect()
        }
        Err(err) => group
            .iter()
            .map(|_| {
                Err(Error::internal(format!(
                    "storing connect tickets failed: {err}"
                )))
            })
            .collect(),
    }
}

/// `$from`, `$from + 1`, … `n` placeholders, comma-separated.
fn placeholders(n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The redeeming statement for each group size, 1 to [`groups::MAX_GROUP`] hashes: only the
/// number of placeholders differs, and each text is prepared once per connection.
static REDEEM: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    (1..=groups::MAX_GROUP)
        .map(|n| {
            format!(
                "DELETE FROM connect_tickets WHERE ticket_hash IN ({}) \
                 RETURNING ticket_hash, session_id, user_id, device_id, url, expires_at, \
                 token_expires_at, \
                 (SELECT s.user_id FROM sessions s JOIN users u ON u.id = s.user_id \
                  WHERE s.id = connect_tickets.session_id AND s.revoked_at IS NULL) AS live_user, \
                 (SELECT s.org_id FROM sessions s \
                  WHERE s.id = connect_tickets.session_id) AS org_id, \
                 (SELECT m.role FROM sessions s JOIN org_members m \
                  ON m.org_id = s.org_id AND m.user_id = s.user_id \
                  WHERE s.id = connect_tickets.session_id) AS org_role",
                placeholders(n, 1)
            )
            .into()
        })
        .collect()
});

/// Notes devices seen at `$1`, for each number of devices (1 to [`groups::MAX_GROUP`]); a
/// device seen less than a minute ago is left as it is.
static SEEN: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    (1..=groups::MAX_GROUP)
        .map(|n| {
            format!(
                "UPDATE devices SET last_seen_at = $1 \
                 WHERE last_seen_at < $1 - 60000 AND id IN ({})",
                placeholders(n, 2)
            )
            .into()
        })
        .collect()
});

/// Notes that `devices` were seen at `now` (ms), in one statement.
async fn seen_group(pool: &Pool, devices: &[&DeviceId], now: i64) -> Result<(), sqlx::Error> {
    let Some(text) = SEEN.get(devices.len().wrapping_sub(1)) else {
        return Ok(());
    };
    let text = || AssertSqlSafe(Arc::clone(text));
    match pool {
        Pool::Sqlite(pools) => {
            let query = sqlx::query(text()).bind(now);
            let query = devices.iter().fold(query, |q, device| q.bind(*device));
            query.execute(&pools.write).await.map(drop)
        }
        Pool::Postgres(pool) => {
            let query = sqlx::query(text()).bind(now);
            let query = devices.iter().fold(query, |q, device| q.bind(*device));
            query.execute(pool).await.map(drop)
        }
    }
}

/// Deletes the tickets with the hashes in `group` in one statement; each hash gets its row, the
/// first of a hash asked twice gets it and the others `None`.
async fn redeem_group(
    pool: &Pool,
    group: &[Redemption],
) -> Vec<Result<Option<RedeemedTicket>, Error>> {
    let Some(text) = REDEEM.get(group.len().saturating_sub(1)) else {
        let err = || Error::internal("a group of connect tickets of an unexpected size");
        return group.iter().map(|_| Err(err())).collect();
    };
    let text = || AssertSqlSafe(Arc::clone(text));
    let rows = match pool {
        Pool::Sqlite(pools) => {
            let query = group
                .iter()
                .fold(sqlx::query_as(text()), |q, (hash, _)| q.bind(hash));
            query.fetch_all(&pools.write).await
        }
        Pool::Postgres(pool) => {
            let query = group
                .iter()
                .fold(sqlx::query_as(text()), |q, (hash, _)| q.bind(hash));
            query.fetch_all(pool).await
        }
    };
    match rows {
        Ok(rows) => {
            let mut found: HashMap<Vec<u8>, RedeemedTicket> = rows
                .into_iter()
                .map(|row: Redeemed| (row.ticket_hash, row.ticket))
                .collect();
            group
                .iter()
                .map(|(hash, _)| Ok(found.remove(hash)))
                .collect()
        }
        Err(err) => group
            .iter()
            .map(|_| {
                Err(Error::internal(format!(
                    "redeeming connect tickets failed: {err}"
                )))
            })
            .collect(),
    }
}
