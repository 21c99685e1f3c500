//! DPoP proof ids seen recently, so that none is accepted twice. On SQLite (one server process)
//! they are kept in memory; on PostgreSQL in the database, so that a proof replayed to another
//! server process is refused too, recorded in groups (see [`super::groups`]): one proof per
//! request meant one commit, one WAL flush, per request; a group shares it.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use sha2::Digest as _;

use sqlx::PgPool;

use super::Error;
use super::Pool;
use super::groups::{self, Queue};

/// Proof ids in memory, as 128-bit digests of the id, with the times they may be forgotten in the
/// order they were recorded: forgetting the expired ones costs nothing per request, however many
/// are kept (a proof arrives ~once per request, so at 10,000 requests a second that is
/// millions).
#[derive(Debug, Default)]
pub(super) struct Seen {
    ids: HashSet<[u8; 16]>,
    expiry: VecDeque<(i64, [u8; 16])>,
}

impl Seen {
    /// Records `id` until `forget_at` (ms); false when it is recorded already. Ids whose time
    /// has come by `now` are forgotten first.
    pub(super) fn record(&mut self, id: &str, now: i64, forget_at: i64) -> bool {
        self.forget(now);
        let full: [u8; 32] = sha2::Sha256::digest(id.as_bytes()).into();
        let digest = full.first_chunk::<16>().copied().unwrap_or_default();
        if !self.ids.insert(digest) {
            return false;
        }
        // Proofs arrive roughly in the order of their `iat`, so the queue stays ordered; one
        // out of order is forgotten a little late, never early.
        self.expiry.push_back((forget_at, digest));
        true
    }

    /// Forgets the ids whose time has come by `now`. Once a burst of proofs has passed, the
    /// memory it took goes back: a set and a queue sized for a minute at 10,000 requests a
    /// second hold tens of MiB, which they would otherwise keep for good.
    pub(super) fn forget(&mut self, now: i64) {
        while let Some(&(at, old)) = self.expiry.front()
            && at <= now
        {
            self.ids.remove(&old);
            self.expiry.pop_front();
        }
        let kept = self.ids.len().max(SMALL);
        if self.ids.capacity() > 4 * kept {
            self.ids.shrink_to(2 * kept);
            self.expiry.shrink_to(2 * kept);
        }
    }

    /// How many ids there is room for without growing.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.ids.capacity()
    }

    /// How many ids are remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Below this many ids, the memory is not given back (it is small).
const SMALL: usize = 1024;

/// Proof ids in memory, shared by the store's clones.
pub(super) type Memory = std::sync::Arc<Mutex<Seen>>;

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
                    // Not used: on SQLite the ids are kept in memory (see `Store::
                    // record_dpop_proof`), but the database answers correctly all the same.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_refused_until_it_is_forgotten_and_expired_ids_go_first() {
        let mut seen = Seen::default();
        let at = |s: i64| s * 1000;
        for n in 0..100_000u32 {
            assert!(seen.record(&n.to_string(), at(0), at(300)));
        }
        assert!(!seen.record("0", at(299), at(600)), "a replay");
        assert!(seen.record("late", at(100), at(400)));
        // At 300 s the first 100,000 are forgotten in one sweep; the later one is still there.
        assert!(seen.record("0", at(300), at(600)));
        assert_eq!(seen.len(), 2);
        assert!(!seen.record("late", at(350), at(650)));
    }

    #[test]
    fn the_memory_of_a_burst_goes_back_once_it_is_forgotten() {
        let mut seen = Seen::default();
        for n in 0..200_000u32 {
            assert!(seen.record(&n.to_string(), 0, 1000));
        }
        assert!(seen.capacity() >= 200_000);
        // No proof comes after the burst: the upkeep's look forgets it all the same.
        seen.forget(999);
        assert_eq!(seen.len(), 200_000, "not before their time");
        seen.forget(1000);
        assert_eq!(seen.len(), 0);
        assert!(seen.capacity() <= 4 * SMALL, "{}", seen.capacity());
        // A steady load keeps its room: nothing is given back while the ids are many.
        for n in 0..5000u32 {
            assert!(seen.record(&n.to_string(), 2000, 3000));
        }
        let room = seen.capacity();
        seen.forget(2500);
        assert_eq!(seen.capacity(), room);
    }
}
