//! Revoked sessions, as the token checker sees them; and recent organization role changes,
//! kept and synced the same way, so a token that carries an old role is refused at once.
//!
//! Access tokens are verified locally (no database read per request), so a revoked session's
//! tokens would stay valid until they expire. This set closes that gap: a session revoked by
//! this process is in it at once; one revoked by another process (on a shared PostgreSQL, or by
//! the CLI) arrives with the next sync, every second. An entry is kept until every token issued
//! before the revocation has expired, then dropped, so the set stays small.
//!
//! Syncs read by the database's clock (the time each revocation was written, as the database
//! saw it), never by a server's own: a server whose clock runs behind would otherwise write
//! revocations the others had already read past.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::watch;

use super::{SessionId, Timestamp, UserId};
use crate::Error;
use crate::store::AccessChangeRow;
use crate::store::Store;

/// How often the set is refreshed from the database.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// The PostgreSQL channel a revocation is notified on when it commits (migration 0017).
pub const CHANNEL: &str = "keyward_revocations";

/// Overlap between syncs, so a revocation written before the previous sync read the clock but
/// committed after it read the rows (a slow commit, a lock wait) is not missed. Reading a minute
/// of revocations again each second costs an indexed range scan of a few rows.
const SYNC_OVERLAP: Duration = Duration::from_secs(60);

/// Session ids whose access tokens must be refused, each with the time it can be forgotten;
/// and recent organization role changes, whose tokens with the old role must be refused too.
#[derive(Debug)]
pub struct RevokedSessions {
    /// Counts the changes that can end a live connection (a revocation, a role change), for
    /// [`RevokedSessions::subscribe`].
    changes: watch::Sender<u64>,
    entries: RwLock<HashMap<SessionId, Timestamp>>,
    /// Per user: the latest role change in each organization (see [`RoleChange`]).
    roles: RwLock<HashMap<UserId, Vec<RoleChange>>>,
    /// The database's clock at the last sync.
    synced_until: RwLock<Option<Timestamp>>,
}

impl Default for RevokedSessions {
    fn default() -> Self {
        Self {
            changes: watch::Sender::new(0),
            entries: RwLock::default(),
            roles: RwLock::default(),
            synced_until: RwLock::default(),
        }
    }
}

impl RevokedSessions {
    /// Told of every change that can end a live connection: a session revoked, a role changed
    /// (here at once, from other servers with the next sync).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether `session_id` is revoked.
    pub fn contains(&self, session_id: &SessionId) -> bool {
        read(&self.entries).contains_key(session_id)
    }

    /// Whether a token of `user` carrying `role` in organization `org` is out of date: the
    /// user's latest recent change there gave another role (or took them out). Roles are
    /// compared, not times, so clocks that differ between servers cannot let an old role
    /// through. Tokens for organizations without a recent change pass at once.
    pub fn org_role_changed(&self, user: &UserId, org: &str, role: Option<&str>) -> bool {
        read(&self.roles).get(user).is_some_and(|changes| {
            changes
                .iter()
                .any(|change| change.org == org && change.role.as_deref() != role)
        })
    }

    /// Records role changes read from the database: for each user and organization the latest
    /// by the database's clock (one clock for every server, unlike `changed_at`) is kept until
    /// every token issued before it has expired.
    pub fn role_changed(&self, rows: &[AccessChangeRow], access_ttl: Duration) {
        let mut roles = write(&self.roles);
        let mut news = false;
        for row in rows {
            let change = RoleChange {
                org: row.org_id.to_string(),
                role: row.role.clone(),
                clock: row.clock,
                forget_at: forget_at(
                    Timestamp::from_millis(row.changed_at.max(row.clock)),
                    access_ttl,
                ),
            };
            let changes = roles.entry(row.user_id).or_default();
            match changes.iter_mut().find(|known| known.org == change.org) {
                Some(known) if known.clock > change.clock => {}
                Some(known) => {
                    news |= known.role != change.role;
                    *known = change;
                }
                None => {
                    changes.push(change);
                    news = true;
                }
            }
        }
        drop(roles);
        if news {
            self.changed();
        }
    }

    /// Marks `ids` revoked at `revoked_at`; tokens live at most `access_ttl`.
    pub fn insert<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a SessionId>,
        revoked_at: Timestamp,
        access_ttl: Duration,
    ) {
        let forget_at = forget_at(revoked_at, access_ttl);
        let mut entries = write(&self.entries);
        for id in ids {
            entries.insert(*id, forget_at);
        }
        drop(entries);
        self.changed();
    }

    /// Reads revocations written since the last sync (or, the first time, within the last
    /// access-token lifetime), by the database's clock, and forgets entries whose tokens have
    /// all expired at `now`.
    pub async fn sync(
        &self,
        store: &Store,
        now: Timestamp,
        access_ttl: Duration,
    ) -> Result<(), Error> {
        let last = *read(&self.synced_until);
        let since = match last {
            Some(clock) => clock.minus(SYNC_OVERLAP),
            // First sync: anything the database wrote within a token's lifetime of `now` (which
            // is the database's clock give or take a little; a minute more covers that).
            None => now
                .minus(access_ttl)
                .minus(SYNC_OVERLAP)
                .minus(Duration::from_secs(60)),
        };
        let (revoked, clock) = store.revocations_since(since.millis()).await?;
        let changes = store.org_access_since(since.millis()).await?;
        self.role_changed(&changes, access_ttl);
        write(&self.roles).retain(|_, changes| {
            changes.retain(|change| change.forget_at > now);
            !changes.is_empty()
        });
        let mut news = false;
        let mut entries = write(&self.entries);
        for (id, revoked_at) in revoked {
            let forget = forget_at(Timestamp::from_millis(revoked_at), access_ttl);
            news |= entries.insert(id, forget).is_none();
        }
        entries.retain(|_, forget| *forget > now);
        drop(entries);
        if news {
            self.changed();
        }
        *write(&self.synced_until) = Some(Timestamp::from_millis(clock));
        Ok(())
    }
}

/// The lock's data for reading. A panic while it was held (there are none: the server denies
/// them) would leave consistent data behind, and failing closed matters more than anything
/// else here: a poisoned lock still answers, where skipping it would let revoked sessions in.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// The lock's data for writing (see [`read`]).
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// A user's role in an organization as of `clock` (the database's, when it was written).
#[derive(Debug, Clone)]
struct RoleChange {
    org: String,
    role: Option<String>,
    clock: i64,
    forget_at: Timestamp,
}

/// Tokens issued up to `revoked_at` expire by `revoked_at + ttl`; a minute more covers clocks.
fn forget_at(revoked_at: Timestamp, access_ttl: Duration) -> Timestamp {
    revoked_at.plus(access_ttl).plus(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_ids_are_refused_and_others_are_not() {
        let set = RevokedSessions::default();
        let t0 = Timestamp::from_millis(1_000_000);
        let a = SessionId::new(t0, [1; 10]);
        let b = SessionId::new(t0, [2; 10]);
        set.insert([&a], t0, Duration::from_secs(900));
        assert!(set.contains(&a));
        assert!(!set.contains(&b));
    }

    #[test]
    fn the_latest_role_change_by_the_databases_clock_wins_whatever_the_servers_clocks() {
        let set = RevokedSessions::default();
        let t0 = Timestamp::from_millis(1_000_000);
        let user = UserId::new(t0, [1; 10]);
        let org = crate::domain::OrgId::new(t0, [2; 10]);
        let change = |role: &str, changed_at: i64, clock: i64| AccessChangeRow {
            user_id: user,
            org_id: org,
            role: Some(role.to_owned()),
            changed_at,
            clock,
        };
        // Made admin on a server whose clock runs 30 s fast, then viewer 10 s later elsewhere.
        let ttl = Duration::from_secs(900);
        set.role_changed(&[change("admin", 1_040_000, 1_000_000)], ttl);
        set.role_changed(&[change("viewer", 1_020_000, 1_010_000)], ttl);
        let org = org.to_string();
        assert!(
            set.org_role_changed(&user, &org, Some("admin")),
            "the old role is refused"
        );
        assert!(
            !set.org_role_changed(&user, &org, Some("viewer")),
            "the new one passes"
        );
        // Read again in a later sync (the overlap), the older row changes nothing.
        set.role_changed(&[change("admin", 1_040_000, 1_000_000)], ttl);
        assert!(!set.org_role_changed(&user, &org, Some("viewer")));
    }
}
