//! Rate limits and sign-in lockout.
//!
//! Rate limits are fixed windows counted in the database (shared by every server on a
//! PostgreSQL), but for connect tickets, counted in each server process's memory (see
//! [`LocalCounts`]). `KEYWARD_RATE_LIMITS=off` turns them off for load tests; the lockout stays
//! on.
//!
//! | what | limit |
//! |---|---|
//! | sign-in, per email and IP | 5 per minute |
//! | sign-in, per IP | 30 per minute |
//! | sign-up, per IP | 30 per 10 minutes |
//! | refresh, per session | 30 per minute |
//! | refresh, per IP | 600 per minute |
//! | connect tickets, per session (each server process) | 120 per minute |
//! | OpenID Connect token endpoint, per IP | 600 per minute |
//! | OpenID Connect token endpoint, per client | 300 tokens per minute |
//! | OpenID Connect authorization requests and consents, per IP | 120 per minute |
//! | OpenID Connect client authentication | past 10 failures from an IP in 10 minutes, failures from it are refused as `rate_limited` (a right secret still passes) |
//! | lockout | 10 consecutive failed sign-ins from one client lock the email for that client for 15 minutes; 100 failures in an hour over every client lock it for the rest of the hour |
//!
//! A client is an IPv4 address, or an IPv6 /64 (anyone holds a whole /64), as the HTTP layer
//! reads it (through the trusted proxies). Locking per email *and* client keeps a stranger from
//! locking the owner out; the cap over every client stops guessing from many addresses at once,
//! and takes at least three clients working together to reach.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use keyward_proto::ErrorCode;

use super::Timestamp;
use crate::Error;
use crate::store::Store;

/// One rate limit: at most `max` requests per `window` for one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Names the counter (with the subject, the database key).
    pub name: &'static str,
    /// Requests allowed per window.
    pub max: i64,
    /// The window.
    pub window: Duration,
}

/// Sign-in attempts per email + IP (in the spirit of Kotauth's defaults).
pub const SIGN_IN_PER_ACCOUNT: Limit = Limit {
    name: "sign_in:account",
    max: 5,
    window: Duration::from_secs(60),
};
/// Sign-in attempts per IP, whatever the email.
pub const SIGN_IN_PER_IP: Limit = Limit {
    name: "sign_in:ip",
    max: 30,
    window: Duration::from_secs(60),
};
/// Sign-ups per IP.
pub const SIGN_UP_PER_IP: Limit = Limit {
    name: "sign_up:ip",
    max: 30,
    window: Duration::from_secs(600),
};
/// Refreshes per session (a healthy client refreshes a few times an hour).
pub const REFRESH_PER_SESSION: Limit = Limit {
    name: "refresh:session",
    max: 30,
    window: Duration::from_secs(60),
};
/// Refreshes per IP (many users can share one address).
pub const REFRESH_PER_IP: Limit = Limit {
    name: "refresh:ip",
    max: 600,
    window: Duration::from_secs(60),
};

/// Connect tickets per session. A sync client asks for one each time it connects (a few a
/// minute when its network comes and goes, one per tab); each waits up to 30 s to be used, in a
/// row or, on SQLite, in the server's memory, which every user's tickets share up to a cap. So
/// that one session cannot fill it for everyone. Counted in memory ([`LocalCounts`]).
pub const CONNECT_TICKETS_PER_SESSION: Limit = Limit {
    name: "connect_ticket:session",
    max: 120,
    window: Duration::from_secs(60),
};

/// Requests to the OpenID Connect provider's token endpoint per IP.
#[cfg(feature = "oidc-provider")]
pub const OIDC_TOKEN_PER_IP: Limit = Limit {
    name: "oidc_token:ip",
    max: 600,
    window: Duration::from_secs(60),
};

/// Authorization requests and consents (each may write a code) per IP.
#[cfg(feature = "oidc-provider")]
pub const OIDC_AUTHORIZE_PER_IP: Limit = Limit {
    name: "oidc_authorize:ip",
    max: 120,
    window: Duration::from_secs(60),
};

/// Tokens the OpenID Connect provider's token endpoint issues per client.
#[cfg(feature = "oidc-provider")]
pub const OIDC_TOKEN_PER_CLIENT: Limit = Limit {
    name: "oidc_token:client",
    max: 300,
    window: Duration::from_secs(60),
};

/// Failed client authentications per IP (unknown clients, wrong secrets): past this, failures
/// from that IP are refused as `rate_limited` for the rest of the window, and no longer audited.
/// On whatever the rate-limit setting, as the sign-in lockout.
#[cfg(feature = "oidc-provider")]
pub const OIDC_CLIENT_FAILURES: Limit = Limit {
    name: "oidc_client_auth:failures",
    max: 10,
    window: Duration::from_secs(600),
};

/// Failed sign-ins for one email over every client: past this, the email is locked for the
/// rest of the window. One client alone cannot reach it (its own lock allows it 10 failures per
/// 15 minutes, 40 an hour); it caps guessing from many addresses at once.
pub const SIGN_IN_FAILURES_PER_EMAIL: Limit = Limit {
    name: "sign_in:email_failures",
    max: 100,
    window: Duration::from_secs(3600),
};

/// Consecutive failed sign-ins that lock an email.
pub const LOCKOUT_THRESHOLD: i64 = 10;
/// How long a lock lasts.
pub const LOCKOUT_DURATION: Duration = Duration::from_secs(15 * 60);

/// Counts a request against `limit` for `subject`; `rate_limited` (with `Retry-After`) past the
/// limit. Does nothing when rate limits are off.
pub async fn check(
    store: &Store,
    enabled: bool,
    limit: Limit,
    subject: &str,
    now: Timestamp,
) -> Result<(), Error> {
    if !enabled {
        return Ok(());
    }
    let (key, start) = counter(limit, subject, now);
    let hits = store.hit(&key, start).await?;
    within(limit, hits, start, now)
}

/// `rate_limited` (with `Retry-After`, the rest of the window) when `hits` in the window that
/// started at `start` (ms) are past `limit`.
fn within(limit: Limit, hits: i64, start: i64, now: Timestamp) -> Result<(), Error> {
    if hits <= limit.max {
        return Ok(());
    }
    let retry_after = now.until(Timestamp::from_millis(start).plus(limit.window));
    Err(Error::retry_later(
        ErrorCode::RateLimited,
        "Too many requests. Try again later.",
        retry_after.max(Duration::from_secs(1)),
    ))
}

/// Fixed-window counters in this process's memory, for a limit that guards the server's own
/// room rather than an account. Counted in the database, each connect ticket cost a write of
/// its own (a commit, on PostgreSQL flushed to disk), and all of a session's tickets queued on
/// one row: measured, asking for a ticket and connecting ran at half the rate. The cost: each
/// server process counts apart, so with several sharing a PostgreSQL a session may get the limit
/// from each.
#[derive(Debug)]
pub struct LocalCounts<K> {
    counts: Mutex<Counts<K>>,
}

#[derive(Debug)]
struct Counts<K> {
    /// Each subject's window start (ms) and hits in it.
    by_subject: HashMap<K, (i64, i64)>,
    /// How many subjects may be kept before those of past windows are forgotten.
    prune_at: usize,
}

/// Subjects kept at least, before those of past windows are forgotten.
const LOCAL_SUBJECTS: usize = 4096;

impl<K> Default for LocalCounts<K> {
    fn default() -> Self {
        Self {
            counts: Mutex::new(Counts {
                by_subject: HashMap::new(),
                prune_at: LOCAL_SUBJECTS,
            }),
        }
    }
}

impl<K: Hash + Eq> LocalCounts<K> {
    /// Counts a request against `limit` for `subject`; `rate_limited` (with `Retry-After`) past
    /// the limit. Does nothing when rate limits are off.
    pub fn check(
        &self,
        enabled: bool,
        limit: Limit,
        subject: K,
        now: Timestamp,
    ) -> Result<(), Error> {
        if !enabled {
            return Ok(());
        }
        let start = window_start(limit, now);
        // Only counts: a panic while they were held leaves nothing to fear.
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let counted = counts.by_subject.entry(subject).or_insert((start, 0));
        if counted.0 != start {
            *counted = (start, 0);
        }
        counted.1 += 1;
        let hits = counted.1;
        if counts.by_subject.len() > counts.prune_at {
            counts.by_subject.retain(|_, (at, _)| *at == start);
            counts.prune_at = (2 * counts.by_subject.len()).max(LOCAL_SUBJECTS);
        }
        drop(counts);
        within(limit, hits, start, now)
    }

    /// How many subjects are kept.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_subject
            .len()
    }
}

/// Counts one event against `limit` for `subject`, refusing nothing (see [`exceeded`]). On
/// whatever the rate-limit setting: this is a lockout.
pub async fn count(
    store: &Store,
    limit: Limit,
    subject: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let (key, start) = counter(limit, subject, now);
    store.hit(&key, start).await?;
    Ok(())
}

/// `account_locked` (with `Retry-After`) when the events [`count`]ed against `limit` for
/// `subject` have reached its maximum in the current window.
pub async fn exceeded(
    store: &Store,
    limit: Limit,
    subject: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let (key, start) = counter(limit, subject, now);
    let hits = store.hits(&key, start).await?;
    if hits < limit.max {
        return Ok(());
    }
    let end = Timestamp::from_millis(start).plus(limit.window);
    Err(Error::retry_later(
        ErrorCode::AccountLocked,
        "Too many failed sign-ins: this account is locked for a while.",
        now.until(end).max(Duration::from_secs(1)),
    ))
}

/// The counter of `limit` for `subject` at `now`: its database key and its window's start (ms).
fn counter(limit: Limit, subject: &str, now: Timestamp) -> (String, i64) {
    (
        format!("{}:{subject}", limit.name),
        window_start(limit, now),
    )
}

/// The start (ms) of `limit`'s window that `now` is in.
fn window_start(limit: Limit, now: Timestamp) -> i64 {
    let window = i64::try_from(limit.window.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    now.millis() - now.millis().rem_euclid(window)
}

/// `account_locked`, with the time left, when `locked_until` is still ahead of `now`.
pub fn locked(locked_until: Option<i64>, now: Timestamp) -> Result<(), Error> {
    match locked_until.map(Timestamp::from_millis) {
        Some(until) if until > now => Err(Error::retry_later(
            ErrorCode::AccountLocked,
            "Too many failed sign-ins: this account is locked for a while.",
            now.until(until).max(Duration::from_secs(1)),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Limit = Limit {
        name: "test",
        max: 3,
        window: Duration::from_secs(60),
    };

    fn refused(result: Result<(), Error>) -> (ErrorCode, Option<Duration>) {
        match result {
            Err(Error::Rejected {
                code, retry_after, ..
            }) => (code, retry_after),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn counts_in_memory_refuse_past_the_limit_until_the_next_window() {
        let counts = LocalCounts::default();
        let minute = Timestamp::from_millis(60_000 * 1000);
        for n in 0..3 {
            counts
                .check(true, LIMIT, "a", minute.plus(Duration::from_secs(n)))
                .unwrap();
        }
        let at = minute.plus(Duration::from_secs(20));
        assert_eq!(
            refused(counts.check(true, LIMIT, "a", at)),
            (ErrorCode::RateLimited, Some(Duration::from_secs(40)))
        );
        counts.check(true, LIMIT, "b", at).unwrap();
        counts
            .check(true, LIMIT, "a", minute.plus(LIMIT.window))
            .unwrap();
        for _ in 0..10 {
            counts.check(false, LIMIT, "c", at).unwrap();
        }
        for _ in 0..3 {
            counts.check(true, LIMIT, "c", at).unwrap();
        }
    }

    #[test]
    fn counts_of_past_windows_are_forgotten_once_many_subjects_are_kept() {
        let counts = LocalCounts::default();
        let minute = Timestamp::from_millis(60_000 * 1000);
        for n in 0..LOCAL_SUBJECTS {
            counts.check(true, LIMIT, n, minute).unwrap();
        }
        let next = minute.plus(LIMIT.window);
        counts.check(true, LIMIT, 0, next).unwrap();
        assert_eq!(counts.kept(), LOCAL_SUBJECTS);
        counts.check(true, LIMIT, LOCAL_SUBJECTS, next).unwrap();
        assert_eq!(counts.kept(), 2, "only this window's subjects are kept");
    }
}
