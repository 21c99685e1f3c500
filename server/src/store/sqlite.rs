//! SQLite's connections: one writer, read-only readers, and a checkpointer.
//!
//! SQLite allows one writer at a time. With writes spread over a pool, concurrent writers meet
//! `SQLITE_BUSY` and SQLite's busy handler sleeps them for milliseconds at a time, which capped
//! refreshes near 2,000/s with a p99 over 100 ms. So every write goes through one connection,
//! queued in order by its pool, and reads use a read-only pool beside it (WAL mode lets them run
//! while a write is in progress).
//!
//! In WAL mode a commit appends pages to the `-wal` file without an fsync (`synchronous=NORMAL`:
//! durable across a process crash; a power cut may lose the last commits, never consistency).
//! The fsync happens at checkpoints, when pages move from the WAL into the database file. By
//! default the committing writer runs them, and every write waited behind each fsync; here a
//! third connection checkpoints every 50 ms in the background (`PASSIVE`: it never blocks the
//! writer or the readers), and the writer checkpoints itself only when the WAL grows past 16 MiB
//! anyway. Measured with 32 clients refreshing: 4,500 → 6,600 rotations/s. (The WAL file is cut
//! back to 64 MiB whenever it restarts.)

use std::str::FromStr;
use std::time::Duration;

use super::Error;
use super::groups::Pending;
use super::rotations::Rotation;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// A handle on the store that does not keep it alive.
type WeakQueue = tokio::sync::mpsc::WeakUnboundedSender<Pending<Rotation, bool>>;

/// How many read-only connections: two per core, at most eight. A read takes tens of
/// microseconds on a core of its own; each connection also keeps a page cache (2 MiB) on a
/// thread of its own, whose allocations the C allocator keeps apart. Measured on two cores: with
/// eight readers an admin searching 100,000 users left the server 48 MiB larger, with four 26
/// MiB, at the same rate of searches.
fn readers() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    u32::try_from(cores.saturating_mul(2).clamp(2, 8)).unwrap_or(8)
}

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// SQLite's single writer and its readers.
#[derive(Clone, Debug)]
pub(super) struct SqlitePools {
    /// One connection: every write, in order.
    pub write: SqlitePool,
    /// Read-only connections (a write through them fails loudly).
    pub read: SqlitePool,
    /// Runs the background checkpoints (none for an in-memory database).
    checkpointer: Option<SqlitePool>,
}

/// A pool of connections to the database file. sqlx checks each connection it hands out with a
/// round trip to the connection's own thread by default, which only asks whether the thread is
/// still there; it checks the same as the connection comes back (and waits there for anything
/// left queued, a rollback), so the check on the way out only added a trip between threads to
/// every statement.
fn sqlite_pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new().test_before_acquire(false)
}

impl SqlitePools {
    pub(super) async fn connect(database_url: &str) -> Result<Self, Error> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // The writer first: it creates the file and switches it to WAL. It checkpoints itself
        // past 4,000 pages (16 MiB) of WAL, which the background checkpoints rarely let happen.
        let write = sqlite_pool_options()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", "4000")
                    .pragma("journal_size_limit", "67108864"),
            )
            .await?;
        // An in-memory database lives in its connections: it cannot be opened read-only, and
        // has nothing to checkpoint.
        let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
        let read = sqlite_pool_options()
            .max_connections(readers())
            .connect_with(options.clone().read_only(!in_memory))
            .await?;
        let checkpointer = if in_memory {
            None
        } else {
            let pool = sqlite_pool_options()
                .max_connections(1)
                .connect_with(options)
                .await?;
            Some(pool)
        };
        Ok(Self {
            write,
            read,
            checkpointer,
        })
    }

    /// Starts the background checkpoints; they stop when `alive` no longer upgrades (the store
    /// is gone) or the store is closed.
    pub(super) fn start_checkpoints(&self, alive: WeakQueue) {
        if let Some(pool) = &self.checkpointer {
            tokio::spawn(checkpoint(pool.clone(), alive));
        }
    }

    pub(super) async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
        if let Some(pool) = &self.checkpointer {
            pool.close().await;
        }
    }
}

/// Checkpoints every [`CHECKPOINT_EVERY`] until the store is gone or closed.
async fn checkpoint(pool: SqlitePool, alive: WeakQueue) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(store) = alive.upgrade() else { break };
        if store.is_closed() {
            break;
        }
        drop(store);
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            Ok(_) => {}
            // Closed by `Store::close` between the check above and now: done.
            Err(sqlx::Error::PoolClosed) => break,
            Err(err) => {
                tracing::warn!(error = %err, "SQLite checkpoint failed; the writer will checkpoint");
            }
        }
    }
    pool.close().await;
}
