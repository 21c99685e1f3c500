//! Connect tickets: single-use stand-ins for the access token on a WebSocket or EventSource.
//!
//! On PostgreSQL they are rows, so that a ticket issued by one server process is redeemed once
//! by any; stored and redeemed in groups (see [`super::groups`]). On SQLite, where one server
//! process serves (as DPoP proof ids, see [`super::replays`]), they are kept in memory
//! ([`Held`]): redeeming one writes nothing, and the session's state is read on a read
//! connection beside the writer. Measured on two cores with 32 clients, each connecting with a
//! ticket: with rows, every redemption queued for SQLite's single writer, and the server stood
//! idle a quarter of the time while connections waited for it.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use sqlx::postgres::{PgConnectOptions, PgPool};

use super::groups::{self, Queue, placeholders, text_for, texts};
use super::{Error, Pool, Store};
use crate::domain::{DeviceId, OrgId, SessionId, UserId, sha256};

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
    /// Whether it was issued for the URL it is being redeemed at.
    #[sqlx(skip)]
    pub here: bool,
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
    /// Stores `ticket`, bound to its session's device (read from the session row). `false`,
    /// and nothing stored, when the session is revoked or gone. On PostgreSQL, tickets asked
    /// for together are stored in one statement (see [`super::groups`]); on SQLite they are kept
    /// in memory, at most [`MAX_HELD`] at a time (past that, `unavailable`).
    pub async fn insert_connect_ticket(&self, ticket: &TicketRow) -> Result<bool, Error> {
        let Pool::Sqlite(_) = &self.pool else {
            return groups::submit(&self.issues, ticket.clone()).await;
        };
        let state = groups::submit(&self.states, ticket.session_id).await?;
        if state.live_user != Some(ticket.user_id) {
            return Ok(false);
        }
        held(&self.held)?.hold(ticket, state.device_id)?;
        Ok(true)
    }

    /// Uses up the ticket with `hash`, being redeemed `at` (a normalised URL), and returns what
    /// it was, with its session's state as of now; of two redemptions of one ticket, at once or
    /// not, exactly one gets it. `None` when there is no such ticket (never issued, used, or
    /// purged). On PostgreSQL the row is deleted, redemptions that arrive together in one
    /// statement (see [`super::groups`]).
    pub async fn redeem_connect_ticket(
        &self,
        hash: &[u8],
        at: &str,
    ) -> Result<Option<RedeemedTicket>, Error> {
        let Pool::Sqlite(_) = &self.pool else {
            let redeemed = groups::submit(&self.redemptions, hash.to_vec()).await?;
            return Ok(redeemed.map(|row| RedeemedTicket {
                here: row.url == at,
                ..row.ticket
            }));
        };
        let Some(kept) = held(&self.held)?.take(hash) else {
            return Ok(None);
        };
        let state = groups::submit(&self.states, kept.session_id).await?;
        Ok(Some(RedeemedTicket {
            session_id: kept.session_id,
            user_id: kept.user_id,
            device_id: kept.device_id,
            here: sha256(at.as_bytes()) == kept.url,
            expires_at: kept.expires_at,
            live_user: state.live_user,
            token_expires_at: Some(kept.token_expires_at),
            org_id: state.org_id,
            org_role: state.org_role,
        }))
    }

    /// Forgets the tickets kept in memory (SQLite) that expired by `now` (ms), giving back the
    /// memory a burst of them took.
    pub fn forget_connect_tickets(&self, now: i64) {
        if let Ok(mut held) = self.held.lock() {
            held.forget(now);
        }
    }

    /// Notes that `device_id` was seen at `now` (ms): a connection of its opened. Written in
    /// groups, at most once a minute per device, and without waiting: the device list is not a
    /// condition of anything, so a write that fails is logged and nothing else.
    pub fn note_device_seen(&self, device_id: &DeviceId, now: i64) {
        // Only a cache of what was written: a panic while it was held leaves nothing to fear.
        let mut noted = self.noted.lock().unwrap_or_else(PoisonError::into_inner);
        if !noted.note(device_id, now) {
            return;
        }
        drop(noted);
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

/// How long a device's sighting is not written again, in ms.
const SEEN_EVERY: i64 = 60_000;

/// When this process last noted each device seen, so that it writes a sighting at most once a
/// minute per device (the statement itself skips the rows noted within a minute, but on SQLite's
/// single writer even a statement that changes nothing queues behind and ahead of the others).
#[derive(Debug, Default)]
pub(super) struct Noted {
    at: HashMap<DeviceId, i64>,
    /// How many devices may be kept before the ones noted over a minute ago are forgotten.
    prune_at: usize,
}

impl Noted {
    /// Whether `device` should be written as seen at `now` (ms): not noted within a minute.
    fn note(&mut self, device: &DeviceId, now: i64) -> bool {
        if self
            .at
            .get(device)
            .is_some_and(|&at| (at..at + SEEN_EVERY).contains(&now))
        {
            return false;
        }
        self.at.insert(*device, now);
        if self.at.len() > self.prune_at.max(SMALL) {
            self.at.retain(|_, at| now - *at < SEEN_EVERY);
            self.prune_at = 2 * self.at.len();
        }
        true
    }
}

/// Connect tickets in memory (SQLite), shared by the store's clones.
pub(super) type Memory = Arc<Mutex<Held>>;

/// At most this many tickets are kept in memory at a time, what a table of 2^18 buckets holds
/// (about 36 MiB: a ticket's entry has a fixed size, its URL kept as a digest). A ticket is
/// redeemed within seconds of being asked for, so only a client asking for tickets it never
/// uses comes near it (they are forgotten 30 to 40 s after being asked for). Past it, tickets
/// are refused (`unavailable`) until some are used or forgotten: reaching it takes 5,700
/// signed-in requests a second, kept up, more than two cores serve at all.
pub(super) const MAX_HELD: usize = (1 << 18) / 8 * 7;

/// Up to this many tickets, the table grows as tables do; past it, it takes room for
/// [`MAX_HELD`] at once (see [`Held`]), and goes back to small when they are fewer again.
const SMALL: usize = 4096;

/// Tickets not yet redeemed, by hash. A burst of tickets (a fleet of clients reconnecting, or a
/// benchmark asking for a hundred thousand ahead) takes one table with room for [`MAX_HELD`],
/// about 36 MiB, allocated whole: the C allocator maps a block that large apart and unmaps it
/// when it is freed, so once the burst is forgotten its memory goes back to the system. Grown
/// step by step, each step's smaller table was freed into the allocator's pools instead, and
/// kept there: measured, 70 MiB more resident after 150,000 tickets were asked for, used and
/// forgotten.
#[derive(Debug, Default)]
pub(super) struct Held {
    tickets: HashMap<[u8; 32], Kept>,
}

/// A ticket kept in memory: what its row would hold, the URL as its SHA-256. Nothing in it is
/// allocated apart, so the memory of a burst of tickets goes back whole once they are
/// forgotten.
#[derive(Debug)]
struct Kept {
    session_id: SessionId,
    user_id: UserId,
    device_id: Option<DeviceId>,
    url: [u8; 32],
    expires_at: i64,
    token_expires_at: i64,
}

/// A ticket's session as of now: its user when it is live (not revoked, the user there), its
/// device, organization and the user's role in it.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub(super) struct SessionState {
    live_user: Option<UserId>,
    device_id: Option<DeviceId>,
    org_id: Option<OrgId>,
    org_role: Option<String>,
}

/// The memory, locked.
fn held(memory: &Memory) -> Result<std::sync::MutexGuard<'_, Held>, Error> {
    memory
        .lock()
        .map_err(|_| Error::internal("the connect tickets' memory is poisoned"))
}

impl Held {
    /// Keeps `ticket`, bound to `device_id`; `unavailable` when [`MAX_HELD`] are kept already.
    fn hold(&mut self, ticket: &TicketRow, device_id: Option<DeviceId>) -> Result<(), Error> {
        let hash: [u8; 32] = ticket
            .hash
            .as_slice()
            .try_into()
            .map_err(|_| Error::internal("a connect ticket's hash is not 32 bytes"))?;
        if self.tickets.len() >= MAX_HELD {
            return Err(crate::Error::Unavailable(
                "Too many connect tickets are waiting to be used: try again in 30 seconds.".into(),
            )
            .into());
        }
        let kept = Kept {
            session_id: ticket.session_id,
            user_id: ticket.user_id,
            device_id,
            url: sha256(ticket.url.as_bytes()),
            expires_at: ticket.expires_at,
            token_expires_at: ticket.token_expires_at,
        };
        if self.tickets.len() == SMALL {
            // Room for the most there may be, at once (see [`Held`]).
            self.tickets.reserve(MAX_HELD - SMALL);
        }
        self.tickets.insert(hash, kept);
        Ok(())
    }

    /// The ticket with `hash`, used up; `None` if there is none.
    fn take(&mut self, hash: &[u8]) -> Option<Kept> {
        let hash: &[u8; 32] = hash.try_into().ok()?;
        self.tickets.remove(hash)
    }

    /// Forgets the tickets that expired by `now`, and gives back the room of a burst once they
    /// are few again.
    fn forget(&mut self, now: i64) {
        self.tickets.retain(|_, kept| kept.expires_at > now);
        if self.tickets.len() < SMALL / 2 && self.tickets.capacity() > SMALL {
            self.tickets.shrink_to(SMALL);
        }
    }
}

/// A redeemed ticket's row (PostgreSQL), with the hash it was found by and the URL it is good at
/// (normalised).
#[derive(sqlx::FromRow)]
pub(super) struct Redeemed {
    ticket_hash: Vec<u8>,
    url: String,
    #[sqlx(flatten)]
    ticket: RedeemedTicket,
}

/// The connections tickets are stored and redeemed on (PostgreSQL): a few (each group writer
/// runs one statement at a time), planning with sequential scans off. The ticket table swings
/// from empty to a few hundred thousand rows within seconds (a fleet reconnecting), and a
/// connection keeps each statement's plan: planned while the table was empty, a redemption
/// read the whole table, measured at 1.5 ms for a group of 7 with 150,000 tickets waiting
/// instead of 0.16 ms by its key. Every statement on these connections finds its rows by a
/// key, so no plan of theirs needs a sequential scan.
pub(super) fn pool(options: PgConnectOptions) -> PgPool {
    super::pg_pool_options(3).connect_lazy_with(options.options([("enable_seqscan", "off")]))
}

/// Starts the writer that stores tickets in groups (PostgreSQL; SQLite keeps them in memory): at
/// a few thousand connections a second, a commit per ticket was most of what a connection cost.
pub(super) fn start_issuing(pool: &Pool) -> Queue<TicketRow, bool> {
    let pool = pool.clone();
    groups::start(move |group| {
        let pool = pool.clone();
        async move { one_by_one_on_failure(&pool, &group, insert_rows).await }
    })
}

/// Starts the writer that redeems tickets in groups, as [`start_issuing`] stores them
/// (PostgreSQL).
pub(super) fn start_redeeming(pool: &Pool) -> Queue<Vec<u8>, Option<Redeemed>> {
    let pool = pool.clone();
    groups::start(move |group| {
        let pool = pool.clone();
        async move { one_by_one_on_failure(&pool, &group, redeem_rows).await }
    })
}

/// Starts the reader of tickets' sessions (SQLite, whose tickets are in memory), as they are
/// issued and redeemed, in groups: each read on SQLite is a round trip to a connection's own
/// thread, which cost as much as the rest of a connection's authentication; reads that arrive
/// together share one.
pub(super) fn start_reading(pool: &Pool) -> Queue<SessionId, SessionState> {
    let pool = pool.clone();
    groups::start(move |group: Vec<SessionId>| {
        let pool = pool.clone();
        async move {
            match read_states(&pool, &group).await {
                Ok(states) => states.into_iter().map(Ok).collect(),
                // A read fails for the group, never for one of its items: each gets the error
                // (the database out of reach is still 503).
                Err(err) => group
                    .iter()
                    .map(|_| Err(Error::Keyward(super::described(&err))))
                    .collect(),
            }
        }
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

/// Stores tickets whose session is live (PostgreSQL; SQLite keeps its tickets in memory). A
/// VALUES list's columns are `column1`, `column2`, …. Each ticket's session is looked up on its
/// own (`LATERAL … OFFSET 0`, which the planner keeps as a lookup per row): as a join, planned
/// while the sessions were few, it read every live session for each group.
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
             FROM (VALUES {}) AS v CROSS JOIN LATERAL (SELECT s.id, s.user_id, s.device_id \
             FROM sessions s WHERE s.id = v.column4 AND s.user_id = v.column5 \
             AND s.revoked_at IS NULL OFFSET 0) AS s \
             RETURNING ticket_hash",
            rows.join(", ")
        )
    })
});

/// Uses up tickets, with their sessions' state. Each value is a subquery that looks one row up
/// by a key alone, so that the plan a connection keeps finds it by that key however few rows
/// there were when it planned: a join (a quarter less of the database's time) or a subquery
/// with two tables or a second condition was planned, on empty tables, into reading a whole
/// index for each ticket (see the tests of the plans). The user is not read: deleting a user
/// deletes their sessions, and so their tickets.
static REDEEM: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    texts(|n| {
        format!(
            "DELETE FROM connect_tickets WHERE ticket_hash IN ({}) \
             RETURNING ticket_hash, session_id, user_id, device_id, url, expires_at, \
             token_expires_at, \
             (SELECT CASE WHEN s.revoked_at IS NULL THEN s.user_id END FROM sessions s \
              WHERE s.id = connect_tickets.session_id) AS live_user, \
             (SELECT s.org_id FROM sessions s \
              WHERE s.id = connect_tickets.session_id) AS org_id, \
             (SELECT m.role FROM org_members m WHERE m.user_id = connect_tickets.user_id \
              AND m.org_id = (SELECT s.org_id FROM sessions s \
              WHERE s.id = connect_tickets.session_id)) AS org_role",
            placeholders(n, 1)
        )
    })
});

/// The state of sessions: whether each is live (not revoked, its user there), its device, its
/// organization and the user's role in it.
static STATES: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    texts(|n| {
        format!(
            "SELECT s.id AS session_id, u.id AS live_user, s.device_id, s.org_id, \
             m.role AS org_role \
             FROM sessions s LEFT JOIN users u ON u.id = s.user_id AND s.revoked_at IS NULL \
             LEFT JOIN org_members m ON m.org_id = s.org_id AND m.user_id = s.user_id \
             WHERE s.id IN ({})",
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
) -> Result<Vec<Option<Redeemed>>, sqlx::Error> {
    let text = text_for(&REDEEM, hashes.len())?;
    let rows: Vec<Redeemed> = on_writer!(pool pool, pool => {
        let query = hashes.iter().fold(sqlx::query_as(text), |q, h| q.bind(h));
        query.fetch_all(pool).await?
    });
    let mut found: HashMap<Vec<u8>, Redeemed> = rows
        .into_iter()
        .map(|mut row| (std::mem::take(&mut row.ticket_hash), row))
        .collect();
    Ok(hashes.iter().map(|hash| found.remove(hash)).collect())
}

/// A session's state, with its id.
#[derive(sqlx::FromRow)]
struct StateRow {
    session_id: SessionId,
    #[sqlx(flatten)]
    state: SessionState,
}

/// Reads the state of `sessions` in one statement, in their order; a session that is gone reads
/// as not live.
async fn read_states(
    pool: &Pool,
    sessions: &[SessionId],
) -> Result<Vec<SessionState>, sqlx::Error> {
    let text = text_for(&STATES, sessions.len())?;
    let rows: Vec<StateRow> = with_pool!(pool pool, read, pool => {
        let query = sessions.iter().fold(sqlx::query_as(text), |q, id| q.bind(id));
        query.fetch_all(pool).await?
    });
    let found: HashMap<SessionId, SessionState> = rows
        .into_iter()
        .map(|row| (row.session_id, row.state))
        .collect();
    Ok(sessions
        .iter()
        .map(|id| found.get(id).cloned().unwrap_or_default())
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;
    use keyward_proto::ErrorCode;

    /// A ticket numbered `n` of one session, good until `expires_at` (ms).
    fn ticket(n: u32, expires_at: i64) -> TicketRow {
        let t = Timestamp::from_millis(1_000_000);
        let mut hash = vec![0; 32];
        hash[..4].copy_from_slice(&n.to_be_bytes());
        TicketRow {
            hash,
            session_id: SessionId::new(t, [2; 10]),
            user_id: UserId::new(t, [1; 10]),
            url: "wss://sync.example.com/ws".into(),
            expires_at,
            token_expires_at: expires_at + 60_000,
        }
    }

    #[test]
    fn a_ticket_in_memory_is_taken_once_and_forgotten_when_it_expires() {
        let mut held = Held::default();
        let device = Some(DeviceId::new(Timestamp::from_millis(1), [4; 10]));
        for n in 0..3 {
            held.hold(&ticket(n, 30_000), device).unwrap();
        }
        held.hold(&ticket(3, 31_000), None).unwrap();
        let first = held.take(&ticket(0, 0).hash).expect("held");
        assert_eq!((first.device_id, first.expires_at), (device, 30_000));
        assert_eq!(first.token_expires_at, 90_000);
        assert!(held.take(&ticket(0, 0).hash).is_none(), "used up");
        assert!(held.take(&[1, 2, 3]).is_none(), "not a hash");

        held.forget(29_999);
        assert!(
            held.take(&ticket(1, 0).hash).is_some(),
            "not before its time"
        );
        held.forget(30_000);
        assert!(held.take(&ticket(2, 0).hash).is_none(), "expired");
        assert!(held.take(&ticket(3, 0).hash).is_some(), "a later one stays");
    }

    #[test]
    fn past_the_cap_a_ticket_is_refused_and_a_burst_gives_its_memory_back() {
        let mut held = Held::default();
        let cap = u32::try_from(MAX_HELD).unwrap();
        for n in 0..cap {
            held.hold(&ticket(n, 30_000), None).unwrap();
        }
        let refused = crate::Error::from(held.hold(&ticket(cap, 30_000), None).unwrap_err());
        assert_eq!(refused.code(), Some(ErrorCode::Unavailable));
        // One redeemed makes room for one.
        assert!(held.take(&ticket(7, 0).hash).is_some());
        held.hold(&ticket(cap, 30_000), None).unwrap();
        assert!(held.tickets.capacity() >= MAX_HELD);

        held.forget(30_000);
        assert!(held.tickets.is_empty());
        assert!(
            held.tickets.capacity() <= 4 * SMALL,
            "{}",
            held.tickets.capacity()
        );
    }

    #[test]
    fn a_device_is_noted_seen_at_most_once_a_minute_and_old_notes_are_pruned() {
        let mut noted = Noted::default();
        let t = Timestamp::from_millis(1);
        let device = DeviceId::new(t, [4; 10]);
        assert!(noted.note(&device, 1_000));
        assert!(!noted.note(&device, 1_000 + SEEN_EVERY - 1));
        assert!(noted.note(&device, 1_000 + SEEN_EVERY));
        // A clock set back is written again (the statement skips a row noted since).
        assert!(noted.note(&device, 0));

        let others = u32::try_from(SMALL).unwrap() + 1;
        for n in 0..others {
            let mut bytes = [0; 10];
            bytes[..4].copy_from_slice(&n.to_be_bytes());
            assert!(noted.note(&DeviceId::new(t, bytes), 100_000));
        }
        // Past the mark, the ones noted over a minute ago are forgotten.
        assert_eq!(noted.at.len(), usize::try_from(others).unwrap());
        assert!(!noted.at.contains_key(&device));
    }

    /// How `pool` would run the redemption of `n` tickets, one plan node a line.
    async fn redemption_plan(pool: &PgPool, n: usize) -> String {
        let text = text_for(&REDEEM, n).unwrap();
        let explain = sqlx::AssertSqlSafe(format!("EXPLAIN {}", text.0));
        let hashes = (0..n).map(|i| ticket(u32::try_from(i).unwrap(), 0).hash);
        let query = hashes.fold(sqlx::query_scalar(explain), |q, h| q.bind(h));
        let lines: Vec<String> = query.fetch_all(pool).await.unwrap();
        lines.join("\n")
    }

    /// A store on `db` if it is PostgreSQL, with `tables` emptied and vacuumed: the planner
    /// knows they have no rows.
    async fn vacuumed(db: &crate::testing::TestDb, tables: &str) -> Option<Store> {
        if db.kind != crate::DatabaseKind::Postgres {
            return None;
        }
        let store = Store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let Pool::Postgres(shared) = &store.pool else {
            panic!("a PostgreSQL store");
        };
        let vacuum = sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {tables}"));
        sqlx::query(vacuum).execute(shared).await.unwrap();
        Some(store)
    }

    /// How the tickets' connections would run `text` (with `params` of `types` per item, `n`
    /// items) with the plan a connection keeps for it after a few runs, the generic one.
    async fn kept_plan(
        pool: &PgPool,
        text: &str,
        types: &[&str],
        params: &[&str],
        n: usize,
    ) -> String {
        use sqlx::Executor as _;
        let mut conn = pool.acquire().await.unwrap();
        let types = vec![types.join(", "); n].join(", ");
        let params = vec![params.join(", "); n].join(", ");
        let prepare = format!("PREPARE kept ({types}) AS {text}");
        conn.execute("SET plan_cache_mode = force_generic_plan")
            .await
            .unwrap();
        conn.execute(sqlx::AssertSqlSafe(prepare)).await.unwrap();
        let explain = sqlx::AssertSqlSafe(format!("EXPLAIN EXECUTE kept ({params})"));
        let lines: Vec<String> = sqlx::query_scalar(explain)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        conn.execute("DEALLOCATE kept; RESET plan_cache_mode")
            .await
            .unwrap();
        lines.join("\n")
    }

    /// The indexes the tickets' statements may look rows up by; each is read from a key in its
    /// leading column.
    const BY_KEY: [&str; 6] = [
        "connect_tickets_pkey",
        "sessions_pkey",
        "sessions_by_user",
        "sessions_live_by_user",
        "org_members_pkey",
        "org_members_by_user",
    ];

    /// Whether every scan of `plan` looks its rows up by a key (an index of [`BY_KEY`], with a
    /// condition on it), rather than reading a table or an index whole.
    fn by_key_only(plan: &str) -> bool {
        let lines: Vec<&str> = plan.lines().map(str::trim).collect();
        lines.iter().enumerate().all(|(i, line)| {
            if line.contains("Seq Scan") {
                return false;
            }
            let Some((_, used)) = line.split_once(" Scan using ") else {
                return true;
            };
            let index = used.split_whitespace().next().unwrap_or_default();
            let cond = lines
                .get(i + 1)
                .is_some_and(|next| next.starts_with("Index Cond:"));
            BY_KEY.contains(&index) && cond
        })
    }

    /// A fresh installation: every table the tickets' statements read is empty when their
    /// connections first plan them, and a connection keeps its plan. Once sessions are many,
    /// each ticket stored or redeemed must still find its session (and membership) by key, not
    /// read every live session: the plans kept look every row up by a key.
    #[tokio::test]
    async fn on_postgresql_ticket_statements_planned_on_empty_tables_look_every_row_up_by_key() {
        let db = crate::testing::TestDb::new().await;
        let Some(store) = vacuumed(&db, "connect_tickets, sessions, users, org_members").await
        else {
            return;
        };
        let Some(tickets) = &store.ticket_pool else {
            panic!("a PostgreSQL store has a pool for its tickets");
        };
        for n in [1, 7, groups::MAX_GROUP] {
            let text = text_for(&REDEEM, n).unwrap();
            let plan = kept_plan(tickets, &text.0, &["bytea"], &["'\\x00'"], n).await;
            assert!(by_key_only(&plan), "redeeming {n}:\n{plan}");
            let text = text_for(&INSERT, n).unwrap();
            let types = ["bytea", "text", "bigint", "text", "text", "bigint"];
            let params = ["'\\x00'", "'url'", "0", "'session'", "'user'", "0"];
            let plan = kept_plan(tickets, &text.0, &types, &params, n).await;
            assert!(by_key_only(&plan), "storing {n}:\n{plan}");
        }
        store.close().await;
    }

    /// A burst of tickets after a quiet spell (a fleet reconnecting after a deploy): planned
    /// while the table is empty, as a connection plans a statement once and keeps the plan, a
    /// redemption would read the whole table for each group once it is full. On the tickets'
    /// own connections it goes by the ticket's key however empty the table looks.
    #[tokio::test]
    async fn on_postgresql_redemptions_planned_on_an_empty_table_still_go_by_the_key() {
        let db = crate::testing::TestDb::new().await;
        let Some(store) = vacuumed(&db, "connect_tickets").await else {
            return;
        };
        let (Pool::Postgres(shared), Some(tickets)) = (&store.pool, &store.ticket_pool) else {
            panic!("a PostgreSQL store has a pool for its tickets");
        };
        for n in [1, 7, groups::MAX_GROUP] {
            let ordinary = redemption_plan(shared, n).await;
            assert!(
                ordinary.contains("Seq Scan on connect_tickets"),
                "{ordinary}"
            );
            // Neither a sequential scan nor a whole other index read for the tickets.
            let plan = redemption_plan(tickets, n).await;
            assert!(!plan.contains("Seq Scan"), "{plan}");
            assert!(plan.contains("connect_tickets_pkey"), "{plan}");
            assert!(!plan.contains("connect_tickets_by_"), "{plan}");
        }
        store.close().await;
    }
}
