//! When to refresh: a token is refreshed when less than min(60 s, a quarter of its lifetime)
//! remains, so a 15-minute token refreshes a minute early and a 20-second test token five
//! seconds early, never in a storm.

/// Milliseconds since the epoch, as `Date.now()` gives them.
pub type Millis = f64;

/// A source of the current time; tests use their own.
pub trait Clock {
    /// Now, in milliseconds since the epoch.
    fn now(&self) -> Millis;
}

/// The browser's clock (`Date.now()`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        js_sys::Date::now()
    }
}

/// How a token stands at some moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Freshness {
    /// Valid, and not yet due for refresh until `refresh_at`.
    Fresh {
        /// When to refresh.
        refresh_at: Millis,
    },
    /// Still valid, but due for refresh.
    Due,
    /// Expired.
    Expired,
}

/// The most a token is refreshed ahead of its expiry.
const MAX_AHEAD: Millis = 60_000.0;

/// When a token issued at `issued_at` and expiring at `expires_at` should be refreshed.
pub fn refresh_at(issued_at: Millis, expires_at: Millis) -> Millis {
    let lifetime = (expires_at - issued_at).max(0.0);
    expires_at - MAX_AHEAD.min(lifetime / 4.0)
}

/// How that token stands at `now`.
pub fn freshness(issued_at: Millis, expires_at: Millis, now: Millis) -> Freshness {
    if now >= expires_at {
        Freshness::Expired
    } else if now >= refresh_at(issued_at, expires_at) {
        Freshness::Due
    } else {
        Freshness::Fresh {
            refresh_at: refresh_at(issued_at, expires_at),
        }
    }
}
