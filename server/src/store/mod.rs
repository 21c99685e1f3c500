//! Persistence: one [`Store`] over SQLite or PostgreSQL.
//!
//! Both backends run the same SQL (`$1` placeholders and `RETURNING` work on both), so each query
//! is written once and dispatched with [`on_pool!`]; only the migrations differ per backend.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{DatabaseKind, Error};

/// The database behind Keyward. Cheap to clone: it is a connection pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store holds. The body is compiled once
/// per backend, so the same query text serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Appends an audit event on `$conn` (a transaction, so the event commits with what it records).
macro_rules! insert_audit {
    ($conn:expr, $event:expr) => {{
        let event: &$crate::store::AuditRow = $event;
        sqlx::query(
            "INSERT INTO audit_events (at, kind, user_id, session_id, ip, user_agent, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(event.at)
        .bind(event.kind)
        .bind(event.user_id.as_deref())
        .bind(event.session_id.as_deref())
        .bind(event.ip.as_deref())
        .bind(event.user_agent.as_deref())
        .bind(event.detail.as_deref())
        .execute($conn)
        .await?
    }};
}

mod audit;
mod devices;
mod keys;
mod limits;
mod passkeys;
mod sessions;
mod users;

pub use audit::{AuditEventRow, AuditRow};
pub use devices::Challenge;
pub use keys::SigningKeyRow;
pub use passkeys::{CeremonyRow, PasskeyRow};
pub use sessions::{NewDevice, NewSession, RefreshRow, Revoke, SessionRow};
pub use users::UserRow;

impl Store {
    /// Connects to `database_url` (`sqlite://…` or `postgres://…`). An SQLite file is created
    /// when missing and runs in WAL mode with `synchronous=NORMAL`: durable across process
    /// crashes, and several thousand small write transactions per second.
    pub async fn connect(database_url: &str) -> Result<Self, Error> {
        let pool = match DatabaseKind::from_url(database_url)? {
            DatabaseKind::Sqlite => {
                let options = SqliteConnectOptions::from_str(database_url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(8)
                        .connect_with(options)
                        .await?,
                )
            }
            DatabaseKind::Postgres => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(database_url)
                    .await?,
            ),
        };
        Ok(Self { pool })
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
            Pool::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
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
        on_pool!(self, pool => pool.close().await);
    }
}
