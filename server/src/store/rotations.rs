//! Refresh-token rotations, committed in groups (see [`super::groups`]).
//!
//! A rotation writes five rows (uses the old token, stores its successor, touches the session and
//! the device, appends an audit event). One transaction per rotation capped SQLite near 2,300
//! rotations/s: each commit wrote about ten pages (40 KB) to the WAL, most of them the tails of
//! the same tables and indexes, which a group writes once.
//!
//! Should a group fail (it should not), it rolls back and its rotations run again one by one,
//! so only the one at fault fails.
//!
//! Whether a rotation's claim won does not change its answer (a lost claim is the grace case,
//! whose successor the winner stored), so two rotations of the same token in one group are fine.

use std::sync::{Arc, LazyLock};

use super::Error;
use super::groups::{self, MAX_GROUP, Queue};
use super::{AuditRow, Pool, RefreshRow};
use crate::domain::DeviceId;
use sqlx::sqlite::SqliteArguments;
use sqlx::{AssertSqlSafe, PgPool, Row as _, Sqlite, SqlitePool};

/// Arguments per rotation in an SQLite statement text.
const ARGS: usize = 12;

/// Rotation `index` of an SQLite group as statements, its arguments numbered from `$base + 1`.
/// sqlx runs each statement of a text in turn on the connection's thread, so a group costs three
/// round trips to it (begin, the group, commit). Every statement after the claim
/// runs only when the one before it changed a row (`changes()` is the previous statement's
/// count), so a lost claim writes nothing; the claim returns `index` when it wins.
fn statements(index: usize, base: usize) -> String {
    let arg = |n: usize| format!("${}", base + n);
    let (now, old, successor, session, device) = (arg(1), arg(2), arg(3), arg(4), arg(5));
    let audit: Vec<String> = (6..=12).map(arg).collect();
    format!(
        "UPDATE refresh_tokens SET used_at = {now} WHERE token_hash = {old} AND used_at IS NULL \
           RETURNING {index}; \
         INSERT INTO refresh_tokens (token_hash, session_id, issued_at) \
           SELECT {successor}, {session}, {now} WHERE changes() = 1; \
         INSERT INTO audit_events (at, kind, user_id, session_id, ip, user_agent, detail) \
           SELECT {} WHERE changes() = 1; \
         UPDATE sessions SET last_used_at = {now} WHERE id = {session} AND changes() = 1; \
         UPDATE devices SET last_seen_at = {now} WHERE id = {device} AND changes() = 1; ",
        audit.join(", ")
    )
}

/// The statement text of a group of `n` rotations, for every `n` up to [`MAX_GROUP`].
static GROUPS: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    (1..=MAX_GROUP)
        .map(|n| {
            (0..n)
                .map(|index| statements(index, index * ARGS))
                .collect::<String>()
                .into()
        })
        .collect()
});

/// One rotation alone, in a savepoint.
static ALONE: LazyLock<Arc<str>> =
    LazyLock::new(|| format!("SAVEPOINT rotation; {}RELEASE rotation;", statements(0, 0)).into());

/// One rotation: use up `old_hash`, store `successor`.
#[derive(Debug)]
pub(super) struct Rotation {
    pub old_hash: Vec<u8>,
    pub successor: RefreshRow,
    pub device_id: Option<DeviceId>,
    pub audit: AuditRow,
}

/// Starts the writer of rotations on `pool` (on SQLite, its single writer); each answer says
/// whether the rotation's claim won. (Several groups in flight on PostgreSQL measured no faster
/// on two cores, so one group at a time on both.)
pub(super) fn start(pool: &Pool) -> Queue<Rotation, bool> {
    let pool = pool.clone();
    groups::start(move |group| {
        let pool = pool.clone();
        async move { commit(&pool, &group).await }
    })
}

/// Commits `group`: whether each claim won.
async fn commit(pool: &Pool, group: &[Rotation]) -> Vec<Result<bool, Error>> {
    let together = match pool {
        Pool::Sqlite(pools) => together_sqlite(&pools.write, group).await,
        Pool::Postgres(pool) => together_pg(pool, group).await,
    };
    match together {
        Ok(claimed) => claimed.into_iter().map(Ok).collect(),
        Err(err) => {
            tracing::warn!(error = %err, rotations = group.len(), "a group of refreshes failed; running them one by one");
            match pool {
                Pool::Sqlite(pools) => one_by_one_sqlite(&pools.write, group).await,
                Pool::Postgres(pool) => {
                    let mut outcomes = Vec::with_capacity(group.len());
                    for rotation in group {
                        outcomes.push(alone_pg(pool, rotation).await);
                    }
                    outcomes
                }
            }
        }
    }
}

/// An SQLite group in one statement text and one transaction: whether each claim won.
async fn together_sqlite(pool: &SqlitePool, group: &[Rotation]) -> Result<Vec<bool>, sqlx::Error> {
    let text = GROUPS
        .get(group.len().saturating_sub(1))
        .ok_or_else(|| sqlx::Error::Protocol("a rotation group of an unexpected size".into()))?;
    let mut query = sqlx::query(AssertSqlSafe(Arc::clone(text)));
    for rotation in group {
        query = bind(query, rotation);
    }
    let mut tx = pool.begin().await?;
    let rows = query.fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let mut claimed = vec![false; group.len()];
    for row in rows {
        let index: i64 = row.try_get(0)?;
        if let Some(won) = usize::try_from(index).ok().and_then(|i| claimed.get_mut(i)) {
            *won = true;
        }
    }
    Ok(claimed)
}

/// Each rotation in a savepoint of its own, in one transaction: a failing rotation rolls back
/// alone. Should the commit itself fail, every rotation gets the error.
async fn one_by_one_sqlite(pool: &SqlitePool, group: &[Rotation]) -> Vec<Result<bool, Error>> {
    let mut outcomes = Vec::with_capacity(group.len());
    let committed = async {
        let mut tx = pool.begin().await?;
        for rotation in group {
            outcomes.push(alone_sqlite(&mut tx, rotation).await);
        }
        tx.commit().await
    }
    .await;
    match committed {
        Ok(()) => outcomes,
        Err(err) => {
            tracing::error!(error = %err, rotations = group.len(), "a group of refreshes failed");
            group
                .iter()
                .map(|_| {
                    Err(Error::internal(format!(
                        "the refresh could not be committed: {err}"
                    )))
                })
                .collect()
        }
    }
}

/// One rotation inside the group's transaction; on failure only its savepoint rolls back.
async fn alone_sqlite(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    rotation: &Rotation,
) -> Result<bool, Error> {
    let result = bind(sqlx::query(AssertSqlSafe(Arc::clone(&ALONE))), rotation)
        .fetch_all(&mut **tx)
        .await;
    match result {
        Ok(claimed) => Ok(!claimed.is_empty()),
        Err(err) => {
            sqlx::query("ROLLBACK TO rotation; RELEASE rotation;")
                .execute(&mut **tx)
                .await?;
            Err(err.into())
        }
    }
}

/// Binds `rotation`'s [`ARGS`] arguments, in the order [`statements`] numbers them.
fn bind<'q>(
    query: sqlx::query::Query<'q, Sqlite, SqliteArguments>,
    rotation: &Rotation,
) -> sqlx::query::Query<'q, Sqlite, SqliteArguments> {
    let audit = &rotation.audit;
    query
        .bind(rotation.successor.issued_at)
        .bind(rotation.old_hash.clone())
        .bind(rotation.successor.token_hash.clone())
        .bind(rotation.successor.session_id)
        .bind(rotation.device_id)
        .bind(audit.at)
        .bind(audit.kind)
        .bind(audit.user_id)
        .bind(audit.session_id)
        .bind(audit.ip.clone())
        .bind(audit.user_agent.clone())
        .bind(audit.detail.clone())
}

/// A PostgreSQL group: one statement (its own transaction) over the group's rows, passed as one
/// array per column. Every write hangs off `claimed`: a token another refresh used first is not
/// claimed (PostgreSQL re-checks `used_at IS NULL` after waiting for that refresh's row lock),
/// and nothing is written for it.
const GROUP_PG: &str = "WITH input AS ( \
       SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::text[], $4::bigint[], $5::text[], \
         $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[]) \
       AS t(old_hash, successor_hash, session_id, issued_at, device_id, \
            at, kind, user_id, audit_session_id, ip, user_agent, detail) \
     ), claimed AS ( \
       UPDATE refresh_tokens r SET used_at = i.issued_at FROM input i \
       WHERE r.token_hash = i.old_hash AND r.used_at IS NULL \
       RETURNING r.token_hash \
     ), won AS ( \
       SELECT DISTINCT ON (i.old_hash) i.* FROM input i JOIN claimed c ON c.token_hash = i.old_hash \
     ), successor AS ( \
       INSERT INTO refresh_tokens (token_hash, session_id, issued_at) \
       SELECT successor_hash, session_id, issued_at FROM won \
     ), session AS ( \
       UPDATE sessions s SET last_used_at = w.issued_at FROM won w WHERE s.id = w.session_id \
     ), device AS ( \
       UPDATE devices d SET last_seen_at = w.issued_at FROM won w WHERE d.id = w.device_id \
     ), audit AS ( \
       INSERT INTO audit_events (at, kind, user_id, session_id, ip, user_agent, detail) \
       SELECT at, kind, user_id, audit_session_id, ip, user_agent, detail FROM won \
     ) \
     SELECT token_hash FROM claimed";

/// The whole group in one PostgreSQL statement: whether each claim won.
async fn together_pg(pool: &PgPool, group: &[Rotation]) -> Result<Vec<bool>, sqlx::Error> {
    let column = |f: &dyn Fn(&Rotation) -> Option<String>| group.iter().map(f).collect::<Vec<_>>();
    let claimed: Vec<Vec<u8>> = sqlx::query_scalar(GROUP_PG)
        // Planned anew for each group, not prepared once per connection: a generic plan made
        // while `refresh_tokens` was nearly empty (a new deployment) hash-joins it by a
        // sequential scan, and a connection keeps that plan as the table grows. Measured: a
        // fresh database's refresh rate fell from ~5,000/s to ~2,700/s within a minute that
        // way. A plan made for the group at hand (it knows the group's size) also measured
        // faster than a good generic one, after ANALYZE: ~5,800/s against ~4,900/s.
        .persistent(false)
        .bind(group.iter().map(|r| r.old_hash.clone()).collect::<Vec<_>>())
        .bind(
            group
                .iter()
                .map(|r| r.successor.token_hash.clone())
                .collect::<Vec<_>>(),
        )
        .bind(column(&|r| Some(r.successor.session_id.to_string())))
        .bind(
            group
                .iter()
                .map(|r| r.successor.issued_at)
                .collect::<Vec<_>>(),
        )
        .bind(column(&|r| r.device_id.map(|id| id.to_string())))
        .bind(group.iter().map(|r| r.audit.at).collect::<Vec<_>>())
        .bind(column(&|r| Some(r.audit.kind.to_owned())))
        .bind(column(&|r| r.audit.user_id.map(|id| id.to_string())))
        .bind(column(&|r| r.audit.session_id.map(|id| id.to_string())))
        .bind(column(&|r| r.audit.ip.clone()))
        .bind(column(&|r| r.audit.user_agent.clone()))
        .bind(column(&|r| r.audit.detail.clone()))
        .fetch_all(pool)
        .await?;
    Ok(group
        .iter()
        .map(|r| claimed.contains(&r.old_hash))
        .collect())
}

/// One rotation alone on PostgreSQL: the group statement with a group of one.
async fn alone_pg(pool: &PgPool, rotation: &Rotation) -> Result<bool, Error> {
    let claimed = together_pg(pool, std::slice::from_ref(rotation)).await?;
    Ok(claimed.first().copied().unwrap_or(false))
}
