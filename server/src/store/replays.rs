//! DPoP proof ids, recorded in groups (see [`super::groups`]) so that a proof is accepted once
//! across every server sharing the database. On PostgreSQL one proof per request meant one
//! commit, one WAL flush, per request; a group shares it.

use std::collections::HashSet;

use sqlx::PgPool;

use super::Pool;
use super::groups::{self, Queue};
use crate::Error;

/// One proof id to record until `expires_at`, seen at `now` (ms).
#[derive(Debug)]
pub(super) struct Replay {
    pub id: String,
    pub now: i64,
    pub expires_at: i64,
}

/// An id already recorded is taken again only once its record has expired.
const RECORD: &str = "INSERT INTO dpop_replays (id, expires_at) VALUES ($1, $2) \
     ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at \
     WHERE dpop_replays.expires_at <= $3";

/// The same for a group, the ids and expiries as arrays; returns the ids recorded. Ids must be
/// distinct (PostgreSQL refuses to update one row twice in a statement).
const RECORD_GROUP_PG: &str = "INSERT INTO dpop_replays (id, expires_at) \
     SELECT * FROM unnest($1::text[], $2::bigint[]) \
     ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at \
     WHERE dpop_replays.expires_at <= $3 \
     RETURNING id";

/// Starts the writer of proof ids on `pool`; each answer says whether the id was new.
pub(super) fn start(pool: &Pool) -> Queue<Replay, bool> {
    let pool = pool.clone();
    groups::start(move |group| {
        let pool = pool.clone();
        async move {
            match &pool {
                Pool::Postgres(pool) => record_group_pg(pool, &group).await,
                Pool::Sqlite(pools) => {
                    // One server process: the domain keeps proof ids in memory and never comes
                    // here, but the store answers correctly all the same.
                    let mut outcomes = Vec::with_capacity(group.len());
                    for replay in &group {
                        let recorded = sqlx::query(RECORD)
                            .bind(&replay.id)
                            .bind(replay.expires_at)
                            .bind(replay.now)
                            .execute(&pools.write)
                            .await;
                        outcomes.push(
                            recorded
                                .map(|done| done.rows_affected() == 1)
                                .map_err(Error::from),
                        );
                    }
                    outcomes
                }
            }
        }
    })
}

async fn record_group_pg(pool: &PgPool, group: &[Replay]) -> Vec<Result<bool, Error>> {
    // A second proof with an id already in this group is a replay of the first.
    let mut distinct = HashSet::new();
    let first: Vec<bool> = group
        .iter()
        .map(|replay| distinct.insert(replay.id.as_str()))
        .collect();
    let (ids, expiries): (Vec<&str>, Vec<i64>) = group
        .iter()
        .zip(&first)
        .filter(|(_, first)| **first)
        .map(|(replay, _)| (replay.id.as_str(), replay.expires_at))
        .unzip();
    // The earliest time in the group decides which records have expired: never too early.
    let now = group
        .iter()
        .map(|replay| replay.now)
        .min()
        .unwrap_or_default();
    let recorded: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(RECORD_GROUP_PG)
        .bind(ids)
        .bind(expiries)
        .bind(now)
        .fetch_all(pool)
        .await;
    match recorded {
        Ok(recorded) => {
            let recorded: HashSet<&str> = recorded.iter().map(String::as_str).collect();
            group
                .iter()
                .zip(first)
                .map(|(replay, first)| Ok(first && recorded.contains(replay.id.as_str())))
                .collect()
        }
        Err(err) => group
            .iter()
            .map(|_| {
                Err(Error::internal(format!(
                    "recording DPoP proofs failed: {err}"
                )))
            })
            .collect(),
    }
}
