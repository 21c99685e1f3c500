//! Rate limits and sign-in lockout.
//!
//! Rate limits are fixed windows counted in the database (shared by every server on a
//! PostgreSQL). `KEYWARD_RATE_LIMITS=off` turns them off for load tests; the lockout stays on.
//!
//! | what | limit |
//! |---|---|
//! | sign-in, per email and IP | 5 per minute |
//! | sign-in, per IP | 30 per minute |
//! | sign-up, per IP | 30 per 10 minutes |
//! | refresh, per session | 30 per minute |
//! | refresh, per IP | 600 per minute |
//! | lockout | 10 consecutive failed sign-ins from one client lock the email for that client for 15 minutes |
//!
//! A client is an IPv4 address, or an IPv6 /64 (anyone holds a whole /64), as the HTTP layer
//! reads it (through the trusted proxies). Locking per email *and* client keeps a stranger from
//! locking the owner out; guessing from many addresses at once meets the per-IP limits first.

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
    let window = i64::try_from(limit.window.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let start = now.millis() - now.millis().rem_euclid(window);
    let hits = store
        .hit(&format!("{}:{subject}", limit.name), start)
        .await?;
    if hits <= limit.max {
        return Ok(());
    }
    let retry_after = now.until(Timestamp::from_millis(start + window));
    Err(Error::retry_later(
        ErrorCode::RateLimited,
        "Too many requests. Try again later.",
        retry_after.max(Duration::from_secs(1)),
    ))
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
