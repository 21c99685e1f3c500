//! Connect tickets: single-use stand-ins for the access token on a WebSocket or EventSource.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, LazyLock};

use super::groups::{self, Queue, placeholders, text_for, texts};
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

    /// Uses up the ticket with `hash`: deletes it and returns what it was, with its session's
    /// state as of now. Redemptions that arrive together are one statement (see
    /// [`super::groups`]); of two redemptions of one ticket, at once or not, exactly one gets
    /// the row. `None` when there is no such ticket (never issued, used, or purged).
    pub async fn redeem_connect_ticket(
        &self,
        hash: &[u8],
    ) -> Result<Option<RedeemedTicket>, Error> {
        groups::submit(&self.redemptions, hash.to_vec()).await
    }

    /// Notes that `device_id` was seen at `now` (ms): a connection of its opened. Written in
    /// groups, at most once a minute per device, and without waiting: the device list is not a
    /// condition of anything, so a write that fails is logged and nothing else.
    pub fn note_device_seen(&self, device_id: &DeviceId, now: i64) {
        let (answer, _) = tokio::sync::oneshot::channel();
        if self.sightings.send(((*device_id, now), answer)).is_err() {
            tracing::warn!(device = %device_id, "the writer of device sightings has stopped");
        }
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

/// Starts the writer that stores tickets in groups: at a few thousand connections a second, a
/// commit per ticket was most of what a connection cost on SQLite's single writer.
pub(super) fn start_issuing(pool: &Pool) -> Queue<TicketRow, bool> {
    let pool = pool.clone();
    groups::start(move |group| {
        let pool = pool.clone();
        async move { one_by_one_on_failure(&pool, &group, insert_rows).await }
    })
}

/// Starts the writer that redeems tickets in groups, as [`start_issuing`] stores them.
pub(super) fn start_redeeming(pool: &Pool) -> Queue<Vec<u8>, Option<RedeemedTicket>> {
    let pool = pool.clone();
    groups::start(move |group| {
        let pool = pool.clone();
        async move { one_by_one_on_failure(&pool, &group, redeem_rows).await }
    })
}

/// A device seen, and when (ms).
pub(super) type Sighting = (DeviceId, i64);

/// Starts the writer of device sightings, in groups; nobody waits for it.
pub(super) fn start_noting(pool: &Pool) -> Queue<Sighting, ()> {
    let pool = pool.clone();
    groups::start(move |group: Vec<Sighting>| {
        let pool = pool.clone();
        async move {
            let now = group.iter().map(|(_, now)| *now).max().unwrap_or_default();
            let mut devices: Vec<&DeviceId> = group.iter().map(|(device, _)| device).collect();
            devices.sort_unstable_by_key(|d| d.to_string());
            devices.dedup();
            if let Err(err) = seen_rows(&pool, &devices, now).await {
                tracing::warn!(%err, devices = devices.len(), "could not note that devices were seen");
            }
            group.iter().map(|_| Ok(())).collect()
        }
    })
}

/// Writes `group` with `write`, in one statement; if that fails (a session deleted while its
/// ticket was being stored fails the statement's foreign key), each item alone, so that one
/// item's failure is its own, with its own kind (the database out of reach is 503).
async fn one_by_one_on_failure<'a, T, R, F, Fut>(
    pool: &'a Pool,
    group: &'a [T],
    write: F,
) -> Vec<Result<R, Error>>
where
    F: Fn(&'a Pool, &'a [T]) -> Fut,
    Fut: Future<Output = Result<Vec<R>, sqlx::Error>>,
{
    match write(pool, group).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(err) => {
            tracing::warn!(%err, items = group.len(), "a group of connect tickets failed; writing them one by one");
            let mut outcomes = Vec::with_capacity(group.len());
            for item in group.chunks(1) {
                let alone = write(pool, item)
                    .await
                    .map_err(Error::from)
                    .and_then(|mut one| {
                        one.pop()
                            .ok_or_else(|| Error::internal("a write of one item answered nothing"))
                    });
                outcomes.push(alone);
            }
            outcomes
        }
    }
}

/// The values a ticket binds in [`INSERT`].
const TICKET_COLUMNS: usize = 6;

/// Stores tickets. A VALUES list's columns are `column1`, `column2`, … on SQLite and on
/// PostgreSQL alike.
static INSERT: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    texts(|n| {
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
    })
});

/// Uses up tickets, with their sessions' state.
static REDEEM: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    texts(|n| {
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
    })
});

/// Notes devices seen at `$1`; one seen less than a minute ago is left as it is. On SQLite's
/// single writer nothing else holds a row.
static SEEN_SQLITE: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    texts(|n| {
        format!(
            "UPDATE devices SET last_seen_at = $1 \
             WHERE last_seen_at < $1 - 60000 AND id IN ({})",
            placeholders(n, 2)
        )
    })
});

/// The same on PostgreSQL, skipping rows another transaction holds (a refresh of that device,
/// which notes it seen itself): two statements locking several devices in different orders
/// could otherwise deadlock.
static SEEN_PG: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    texts(|n| {
        format!(
            "UPDATE devices SET last_seen_at = $1 WHERE id IN (SELECT id FROM devices \
             WHERE last_seen_at < $1 - 60000 AND id IN ({}) FOR UPDATE SKIP LOCKED)",
            placeholders(n, 2)
        )
    })
});

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

/// Stores `tickets` in one statement: whether each was (its session live).
async fn insert_rows(pool: &Pool, tickets: &[TicketRow]) -> Result<Vec<bool>, sqlx::Error> {
    let text = text_for(&INSERT, tickets.len())?;
    let stored: Vec<Vec<u8>> = on_writer!(pool pool, pool => {
        let query = sqlx::query_scalar(text);
        let query = tickets.iter().fold(query, |q, t| bind_ticket!(q, t));
        query.fetch_all(pool).await?
    });
    let stored: HashSet<Vec<u8>> = stored.into_iter().collect();
    Ok(tickets.iter().map(|t| stored.contains(&t.hash)).collect())
}

/// Deletes the tickets with `hashes` in one statement; each hash gets its row, the first of a
/// hash asked twice gets it and the others `None`.
async fn redeem_rows(
    pool: &Pool,
    hashes: &[Vec<u8>],
) -> Result<Vec<Option<RedeemedTicket>>, sqlx::Error> {
    let text = text_for(&REDEEM, hashes.len())?;
    let rows: Vec<Redeemed> = on_writer!(pool pool, pool => {
        let query = hashes.iter().fold(sqlx::query_as(text), |q, h| q.bind(h));
        query.fetch_all(pool).await?
    });
    let mut found: HashMap<Vec<u8>, RedeemedTicket> = rows
        .into_iter()
        .map(|row| (row.ticket_hash, row.ticket))
        .collect();
    Ok(hashes.iter().map(|hash| found.remove(hash)).collect())
}

/// Notes that `devices` were seen at `now` (ms), in one statement.
async fn seen_rows(pool: &Pool, devices: &[&DeviceId], now: i64) -> Result<(), sqlx::Error> {
    if devices.is_empty() {
        return Ok(());
    }
    let texts: &[Arc<str>] = match pool {
        Pool::Sqlite(_) => &SEEN_SQLITE,
        Pool::Postgres(_) => &SEEN_PG,
    };
    let text = text_for(texts, devices.len())?;
    on_writer!(pool pool, pool => {
        let query = sqlx::query(text).bind(now);
        let query = devices.iter().fold(query, |q, device| q.bind(*device));
        query.execute(pool).await.map(drop)
    })
}
