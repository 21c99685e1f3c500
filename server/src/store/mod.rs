//! Persistence: one [`Store`] over SQLite or PostgreSQL.
//!
//! Both backends run the same SQL (`$1` placeholders and `RETURNING` work on both), so each query
//! is written once and dispatched with [`on_pool!`] (reads) or [`on_writer!`] (anything that
//! writes); only the migrations differ per backend.
//!
//! On SQLite, writes go through one connection and reads through a read-only pool (see
//! [`sqlite`]); PostgreSQL uses one pool for both, and a small one for connect tickets (see
//! [`tickets::pool`]).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::DatabaseKind;

/// Why a store call failed: the database's own error, which stays inside the crate (the public
/// [`crate::Error`] carries only its description, sorted into "unreachable" and "failed").
///
/// (`pub` only so that the `testing` feature can hand the store to the integration tests: the
/// `store` module itself is private.)
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From the database driver.
    #[error("{0}")]
    Sqlx(sqlx::Error),
    /// A migration failed to apply.
    #[error("migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// The store's own invariant broke (a writer task gone, a poisoned lock).
    #[error("{0}")]
    Internal(std::borrow::Cow<'static, str>),
    /// Not the database's own error (a bad URL, a limit of the store's, a group's failure
    /// answered to each of its items): passed through as it is.
    #[error("{0}")]
    Keyward(crate::Error),
}

impl Error {
    /// The store's own failure, described for the log.
    pub fn internal(what: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self::Internal(what.into())
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Self::Sqlx(err)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self::Migrate(err)
    }
}

impl From<crate::Error> for Error {
    fn from(err: crate::Error) -> Self {
        Self::Keyward(err)
    }
}

/// The public error for a driver's error: the database out of reach (refused, reset, timed out
/// waiting for a connection, the pool shut, the connection ended by PostgreSQL) is 503, try
/// again; anything else a failure.
pub(crate) fn described(err: &sqlx::Error) -> crate::Error {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => crate::Error::Unavailable(err.to_string()),
        sqlx::Error::Database(db)
            if db.code().is_some_and(|code| connection_unavailable(&code)) =>
        {
            crate::Error::Unavailable(err.to_string())
        }
        _ => crate::Error::Database(err.to_string()),
    }
}

/// Whether PostgreSQL's SQLSTATE `code` says the connection is gone or refused for now: a
/// connection exception (class 08, but not 08P01, a protocol violation, which is a bug of ours
/// to see as one), an operator or a crash ending it, the database starting or shutting down
/// (57P01 to 57P03), or its idle session timeout (57P05). SQLite's codes are numbers, and never
/// match.
fn connection_unavailable(code: &str) -> bool {
    matches!(
        code,
        "08000"
            | "08001"
            | "08003"
            | "08004"
            | "08006"
            | "08007"
            | "57P01"
            | "57P02"
            | "57P03"
            | "57P05"
    )
}

impl From<Error> for crate::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Sqlx(err) => described(&err),
            Error::Migrate(err) => Self::Database(format!("migration failed: {err}")),
            Error::Internal(what) => Self::Internal(what),
            Error::Keyward(err) => err,
        }
    }
}

/// The database behind Keyward. Cheap to clone: it is connection pools.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// Refresh-token rotations, committed in groups (see [`rotations`]).
    rotations: groups::Queue<rotations::Rotation, bool>,
    /// DPoP proof ids, recorded in groups (see [`replays`]).
    replays: groups::Queue<replays::Replay, bool>,
    /// DPoP proof ids on SQLite, where one process serves: in memory.
    seen: replays::Memory,
    /// Connect tickets on PostgreSQL, stored in groups (see [`tickets`]).
    issues: groups::Queue<TicketRow, bool>,
    /// Connect tickets on PostgreSQL, redeemed in groups.
    redemptions: groups::Queue<Vec<u8>, Option<tickets::Redeemed>>,
    /// Connect tickets on SQLite, where one process serves: in memory.
    held: tickets::Memory,
    /// The sessions of tickets issued and redeemed on SQLite, read in groups.
    states: groups::Queue<crate::domain::SessionId, tickets::SessionState>,
    /// Devices seen (a connection opened), noted in groups.
    sightings: groups::Queue<tickets::Sighting, ()>,
    /// When each device's sighting was last sent to `sightings`.
    noted: std::sync::Arc<std::sync::Mutex<tickets::Noted>>,
    /// On PostgreSQL, the connections `issues` and `redemptions` run on (see
    /// [`tickets::pool`]).
    ticket_pool: Option<PgPool>,
}

/// How long a request waits for one of PostgreSQL's connections before it fails (the database
/// is then taken as out of reach: 503).
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL connection idle for longer than this is checked (a round trip) before a request
/// gets it. A second: under load no connection waits that long, so none is checked (measured
/// with connect tickets: 9,061 to 9,492 connections a second against 8,081 to 8,424 with every
/// connection checked, PostgreSQL woken 0.21-0.26 times a connection instead of 0.25-0.35),
/// and when requests are that sparse a round trip more is not felt.
const PG_CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The options of a PostgreSQL pool of at most `connections`. sqlx checks every connection it
/// hands out with a round trip by default, and checks it again when it comes back: three round
/// trips for one statement, each waking the server's backend. Here a connection is checked on
/// the way out only after a second idle, when it may have gone with a restarted database or a
/// dropped link; one in use moments ago is not (it was checked as it came back). After a
/// restart, a connection used in the last second fails the one request that gets it (503, the
/// session untouched), and is closed as it comes back. (sqlx's sweep of idle connections, every
/// ten minutes, puts the ones it keeps back as if just used: for a second after it, a stale one
/// can cost a request a 503 the same way.)
fn pg_pool_options(connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(PG_ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PG_CHECK_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePools),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool (or, after `pool`, to the given `&Pool`,
/// as the group writers hold one): on SQLite the one named `$sqlite` (`read` or `write`), on
/// PostgreSQL the one pool. The body is compiled once per backend, so the same query text serves
/// both.
macro_rules! with_pool {
    (pool $pools:expr, $sqlite:ident, $pool:ident => $body:expr) => {
        match $pools {
            Pool::Sqlite(pools) => {
                let $pool = &pools.$sqlite;
                $body
            }
            Pool::Postgres($pool) => $body,
        }
    };
    ($store:expr, $sqlite:ident, $pool:ident => $body:expr) => {
        with_pool!(pool &$store.pool, $sqlite, $pool => $body)
    };
}

/// Runs `$body`, which only reads, with `$pool` bound to the store's pool for reads.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        with_pool!($store, read, $pool => $body)
    };
}

/// Runs `$body`, which writes, with `$pool` bound to the store's pool for writes.
macro_rules! on_writer {
    (pool $pools:expr, $pool:ident => $body:expr) => {
        with_pool!(pool $pools, write, $pool => $body)
    };
    ($store:expr, $pool:ident => $body:expr) => {
        with_pool!($store, write, $pool => $body)
    };
}

/// Queues `$mail` on `$conn` (a pool, or a transaction with what the mail goes with).
macro_rules! insert_mail {
    ($conn:expr, $mail:expr) => {{
        let mail: &$crate::store::MailRow = $mail;
        sqlx::query(
            "INSERT INTO mail_outbox (id, created_at, kind, to_address, subject, text_body, \
             html_body, status, attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             $8, 0, $9)",
        )
        .bind(&mail.id)
        .bind(mail.created_at)
        .bind(&mail.kind)
        .bind(&mail.to_address)
        .bind(&mail.subject)
        .bind(&mail.text_body)
        .bind(&mail.html_body)
        .bind(&mail.status)
        .bind(mail.next_attempt_at)
        .execute($conn)
        .await?
    }};
}

/// Appends an audit event on `$conn` (a transaction, so the event commits with what it records),
/// and, when it is a webhook event, a delivery of each of its messages to every live endpoint
/// that takes that type (none when no endpoint does), in the same transaction.
macro_rules! insert_audit {
    ($conn:expr, $event:expr) => {{
        let event: &$crate::store::AuditRow = $event;
        let messages = $crate::domain::webhooks::messages(event);
        let insert = sqlx::query_scalar::<_, i64>(
            "INSERT INTO audit_events (at, kind, user_id, session_id, ip, user_agent, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(event.at)
        .bind(event.kind)
        .bind(event.user_id)
        .bind(event.session_id)
        .bind(event.ip.as_deref())
        .bind(event.user_agent.as_deref())
        .bind(event.detail.as_deref());
        let id = insert.fetch_one(&mut *$conn).await?;
        for (n, (kind, payload)) in messages.iter().enumerate() {
            sqlx::query($crate::store::webhooks::FAN_OUT)
                .bind($crate::domain::webhooks::msg_id(id, n + 1, event.at))
                .bind(*kind)
                .bind(payload)
                .bind(event.at)
                .bind($crate::domain::webhooks::type_pattern(kind))
                .execute(&mut *$conn)
                .await?;
        }
    }};
}

/// Revokes the sessions `ids` (an iterator of `&SessionId`) as `evicted` at `at` (ms) in
/// transaction `conn`, each with `eviction` (its session id filled in).
macro_rules! evict {
    ($conn:expr, $ids:expr, $at:expr, $eviction:expr) => {{
        for id in $ids {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = 'evicted' WHERE id = $2",
            )
            .bind($at)
            .bind(id)
            .execute(&mut *$conn)
            .await?;
            let event = $crate::store::AuditRow {
                session_id: Some(*id),
                ..$eviction.clone()
            };
            insert_audit!($conn, &event);
        }
    }};
}

/// Inserts a new user (`&UserRow`) on `$conn` unless its address is taken: rows inserted, 1 or 0.
macro_rules! insert_user {
    ($conn:expr, $user:expr) => {{
        let user: &$crate::store::UserRow = $user;
        sqlx::query(
            "INSERT INTO users (id, email, email_key, email_verified_at, name, password_hash, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (email_key) DO NOTHING",
        )
        .bind(user.id)
        .bind(&user.email)
        .bind(&user.email_key)
        .bind(user.email_verified_at)
        .bind(user.name.as_deref())
        .bind(user.password_hash.as_deref())
        .bind(user.created_at)
        .execute($conn)
        .await?
        .rows_affected()
    }};
}

/// Inserts an identity on `$conn` unless (issuer, subject) has one: the rows inserted (0 or 1).
#[cfg(feature = "oauth")]
macro_rules! insert_identity {
    ($conn:expr, $identity:expr) => {{
        let identity: &$crate::store::IdentityRow = $identity;
        sqlx::query(
            "INSERT INTO identities (id, user_id, provider, issuer, subject, email, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (issuer, subject) DO NOTHING",
        )
        .bind(&identity.id)
        .bind(identity.user_id)
        .bind(&identity.provider)
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .bind(identity.email.as_deref())
        .bind(identity.created_at)
        .execute($conn)
        .await?
        .rows_affected()
    }};
}

/// Runs `$sql`, an `UPDATE` of one row `RETURNING` its columns as a `$row`, with `$binds`, and
/// appends `$audit` in the same transaction when it changed one: the row, if it did.
macro_rules! change_row {
    ($store:expr, $row:ty, $sql:expr, $audit:expr, $($bind:expr),+) => {
        on_writer!($store, pool => {
            let mut tx = pool.begin().await?;
            let row: Option<$row> = sqlx::query_as($sql)
                $(.bind($bind))+
                .fetch_optional(&mut *tx)
                .await?;
            if row.is_none() {
                tx.rollback().await?;
                return Ok(None);
            }
            insert_audit!(&mut *tx, $audit);
            tx.commit().await?;
            Ok(row)
        })
    };
}

/// Whether `$user_id` keeps a way to sign in once `$id` (a passkey's or an identity's id) is
/// gone: a password, another passkey or another linked provider. The user's row is written
/// first, which locks it (PostgreSQL) or takes the one writer (SQLite) for the transaction: two
/// removals at once cannot each see the other's still there and leave the account with none.
macro_rules! another_way_in {
    ($tx:expr, $user_id:expr, $id:expr) => {{
        let has_password: Option<bool> = sqlx::query_scalar(
            "UPDATE users SET updated_at = updated_at WHERE id = $1 \
             RETURNING password_hash IS NOT NULL",
        )
        .bind($user_id)
        .fetch_optional(&mut *$tx)
        .await?;
        let others: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM passkeys WHERE user_id = $1 AND id <> $2) \
             + (SELECT count(*) FROM identities WHERE user_id = $1 AND id <> $2)",
        )
        .bind($user_id)
        .bind($id)
        .fetch_one(&mut *$tx)
        .await?;
        has_password == Some(true) || others > 0
    }};
}

mod audit;
mod devices;
mod groups;
mod ids;
mod keys;
mod lifecycle;
mod limits;
mod mfa;
#[cfg(feature = "oauth")]
mod oauth;
#[cfg(feature = "oidc-provider")]
mod oidc_provider;
mod orgs;
mod passkeys;
mod replays;
mod rotations;
mod server_keys;
mod sessions;
mod sqlite;
mod tickets;
mod users;
pub(crate) mod webhooks;

use sqlite::SqlitePools;

pub use audit::AuditEventRow;
pub use audit::AuditRow;
pub use devices::Challenge;
pub use keys::SigningKeyRow;
pub use lifecycle::{AccountTokenRow, MailRow};
pub use mfa::MfaTicketRow;
#[cfg(feature = "oauth")]
pub use oauth::{IdentityRow, Linked, OAuthCode, OAuthFlowRow, PendingLink, PendingSignUp};
#[cfg(feature = "oidc-provider")]
pub use oidc_provider::{BrowserSessionRow, ClientRow, CodeRow, NewGrant};
pub use orgs::{
    Accepted, AccessChangeRow, Changed, InvitationRow, MemberChange, MemberRow, OrgChanges,
    OrgRoleRow, OrgRow,
};
pub use passkeys::{CeremonyRow, PasskeyRow, Removal};
pub use server_keys::ServerKeyRow;
pub use sessions::{NewDevice, NewSession, RefreshLookup, RefreshRow, Revoke, SessionRow, WayIn};
pub use tickets::TicketRow;
pub use users::{Deleted, UserRow};
pub use webhooks::{DeliveryRow, EndpointRow};

impl Store {
    /// Connects to `database_url` (`sqlite://…` or `postgres://…`). An SQLite file is created
    /// when missing and runs in WAL mode with `synchronous=NORMAL`: durable across process
    /// crashes, and several thousand small write transactions per second.
    pub async fn connect(database_url: &str) -> Result<Self, Error> {
        let (pool, ticket_pool) = match DatabaseKind::from_url(database_url)? {
            DatabaseKind::Sqlite => (
                Pool::Sqlite(SqlitePools::connect(database_url).await?),
                None,
            ),
            DatabaseKind::Postgres => {
                let options: PgConnectOptions = database_url.parse()?;
                let pool = pg_pool_options(16).connect_with(options.clone()).await?;
                (Pool::Postgres(pool), Some(tickets::pool(options)))
            }
        };
        let rotations = rotations::start(&pool);
        if let Pool::Sqlite(pools) = &pool {
            pools.start_checkpoints(rotations.downgrade());
        }
        let replays = replays::start(&pool);
        let tickets_on = ticket_pool
            .clone()
            .map_or_else(|| pool.clone(), Pool::Postgres);
        let issues = tickets::start_issuing(&tickets_on);
        let redemptions = tickets::start_redeeming(&tickets_on);
        let sightings = tickets::start_noting(&pool);
        let states = tickets::start_reading(&pool);
        Ok(Self {
            pool,
            rotations,
            replays,
            seen: replays::Memory::default(),
            issues,
            redemptions,
            held: tickets::Memory::default(),
            states,
            sightings,
            noted: std::sync::Arc::default(),
            ticket_pool,
        })
    }

    /// On PostgreSQL, a connection listening on `channel`, to `database_url` (this store's):
    /// outside the store's pool, which closing the store would otherwise wait for; `None` on
    /// SQLite.
    pub(crate) async fn listen(
        &self,
        database_url: &str,
        channel: &str,
    ) -> Result<Option<sqlx::postgres::PgListener>, Error> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(None),
            Pool::Postgres(_) => {
                let mut listener = sqlx::postgres::PgListener::connect(database_url).await?;
                listener.listen(channel).await?;
                Ok(Some(listener))
            }
        }
    }

    /// Which database this store runs on.
    pub fn kind(&self) -> DatabaseKind {
        match self.pool {
            Pool::Sqlite(_) => DatabaseKind::Sqlite,
            Pool::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// Applies the migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), Error> {
        match &self.pool {
            Pool::Sqlite(pools) => {
                sqlx::migrate!("migrations/sqlite")
                    .run(&pools.write)
                    .await?
            }
            Pool::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// One round trip to the database, for the health check.
    pub async fn ping(&self) -> Result<(), Error> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Closes every connection (waits for queries in flight).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pools) => pools.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
        if let Some(pool) = &self.ticket_pool {
            pool.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection PostgreSQL ended or refused is "try again"; a protocol violation (a
    /// statement of ours with the wrong number of parameters) and any other error are not, and
    /// SQLite's numeric codes never are.
    #[test]
    fn only_an_ended_or_refused_connection_is_unavailable() {
        for code in [
            "08000", "08001", "08003", "08006", "57P01", "57P02", "57P03", "57P05",
        ] {
            assert!(connection_unavailable(code), "{code}");
        }
        for code in ["08P01", "23505", "40001", "57014", "5", "517", "2067"] {
            assert!(!connection_unavailable(code), "{code}");
        }
    }
}
