//! Device keys, their challenges, and the DPoP replay record.

use super::{AuditRow, Error, Pool, Store};
use crate::domain::{DeviceId, Jkt, SessionId, UserId};

/// A device as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceRow {
    /// Its id.
    pub id: DeviceId,
    /// Whose.
    pub user_id: UserId,
    /// RFC 7638 thumbprint of its public key.
    pub jkt: Jkt,
    /// Name for people.
    pub name: String,
    /// The `User-Agent` it last signed in with.
    pub user_agent: Option<String>,
    /// First seen (ms).
    pub created_at: i64,
    /// Last signed in or refreshed (ms).
    pub last_seen_at: i64,
}

/// A device challenge as stored (only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// SHA-256 of the challenge.
    pub hash: Vec<u8>,
    /// The device that must sign it.
    pub device_id: DeviceId,
    /// Its user.
    pub user_id: UserId,
    /// Not valid after (ms).
    pub expires_at: i64,
    /// The verifier it was issued for.
    pub audience: String,
}

/// A challenge just used up: whose, for which verifier, and the key that must have signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    /// The device that must have signed it.
    pub device_id: DeviceId,
    /// Its user.
    pub user_id: UserId,
    /// The verifier it was issued for.
    pub audience: String,
    /// The device key's thumbprint.
    pub jkt: Jkt,
}

impl Store {
    /// `user_id`'s devices that are not revoked, most recently seen first.
    pub async fn devices(&self, user_id: &UserId) -> Result<Vec<DeviceRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, jkt, name, user_agent, created_at, last_seen_at FROM devices \
             WHERE user_id = $1 AND revoked_at IS NULL ORDER BY last_seen_at DESC, id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// Renames one of `user_id`'s devices; `false` when there is no such live device.
    pub async fn rename_device(
        &self,
        user_id: &UserId,
        id: &DeviceId,
        name: &str,
    ) -> Result<bool, Error> {
        let renamed = on_writer!(self, pool => sqlx::query(
            "UPDATE devices SET name = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(name)
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(renamed == 1)
    }

    /// Revokes one of `user_id`'s devices and every live session bound to it, appending
    /// `audit`. Returns the revoked session ids, or `None` when there is no such live device.
    pub async fn revoke_device(
        &self,
        user_id: &UserId,
        id: &DeviceId,
        now: i64,
        audit: &AuditRow,
    ) -> Result<Option<Vec<SessionId>>, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let revoked = sqlx::query(
                "UPDATE devices SET revoked_at = $1 WHERE id = $2 AND user_id = $3 \
                 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if revoked == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            let sessions: Vec<SessionId> = sqlx::query_scalar(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = 'device_revoked' \
                 WHERE device_id = $2 AND revoked_at IS NULL RETURNING id",
            )
            .bind(now)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(Some(sessions))
        })
    }

    /// Stores a challenge.
    pub async fn insert_challenge(&self, challenge: &Challenge) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "INSERT INTO device_challenges (challenge_hash, device_id, user_id, expires_at, \
             audience) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&challenge.hash)
        .bind(challenge.device_id)
        .bind(challenge.user_id)
        .bind(challenge.expires_at)
        .bind(&challenge.audience)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Uses up the challenge with `hash` if it is unused and unexpired at `now`. `None` otherwise
    /// (and nothing changes), or when its device has been revoked since.
    pub async fn consume_challenge(
        &self,
        hash: &[u8],
        now: i64,
    ) -> Result<Option<Consumed>, Error> {
        let row = on_writer!(self, pool => sqlx::query_as(
            "UPDATE device_challenges SET used_at = $1 WHERE challenge_hash = $2 \
             AND used_at IS NULL AND expires_at > $1 \
             RETURNING device_id, user_id, audience, \
             (SELECT jkt FROM devices WHERE devices.id = device_challenges.device_id \
              AND devices.revoked_at IS NULL)",
        )
        .bind(now)
        .bind(hash)
        .fetch_optional(pool)
        .await)?;
        Ok(row.and_then(
            |(device_id, user_id, audience, jkt): (DeviceId, UserId, String, Option<Jkt>)| {
                jkt.map(|jkt| Consumed {
                    device_id,
                    user_id,
                    audience,
                    jkt,
                })
            },
        ))
    }

    /// Records the DPoP proof `id` until `expires_at`; `false` when it was recorded already (a
    /// replay). On SQLite (one server process) in memory; on PostgreSQL in the database, in
    /// groups (see [`super::replays`]), where expired records are taken over on the way.
    pub async fn record_dpop_proof(
        &self,
        id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, Error> {
        if let Pool::Sqlite(_) = &self.pool {
            return self
                .seen
                .lock()
                .map(|mut seen| seen.record(id, now, expires_at))
                .map_err(|_| Error::internal("the DPoP replay memory is poisoned"));
        }
        let replay = super::replays::Replay {
            id: id.to_owned(),
            now,
            expires_at,
        };
        super::groups::submit(&self.replays, replay).await
    }

    /// Forgets the DPoP proof ids kept in memory (SQLite) whose time has come by `now` (ms),
    /// giving back the memory a burst of them took.
    pub fn forget_dpop_proofs(&self, now: i64) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.forget(now);
        }
    }

    /// Forgets replay records and challenges that expired before `before`.
    pub async fn purge_dpop(&self, before: i64) -> Result<(), Error> {
        on_writer!(self, pool => {
            sqlx::query("DELETE FROM dpop_replays WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await?;
            sqlx::query("DELETE FROM device_challenges WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
