//! The token lifecycle: a valid access token on demand, one refresh per session at a time
//! across tabs, and the timer that refreshes ahead of expiry (retried with a backoff when the
//! server cannot be reached).

use js_sys::Promise;
use keyward_proto::ErrorCode;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{JsFuture, spawn_local};

use super::{AuthClient, Change, SignOutReason, expiry};
use crate::api::{self, Timer};
use crate::schedule::{Freshness, freshness};
use crate::vault::StoredSession;
use crate::wire::{self, get};
use crate::{Error, tabs};

/// How long to wait before retrying a refresh that failed for a transient reason: 2 s, then
/// twice as long each time, up to 30 s. The first retry of a refresh whose answer was lost
/// (timed out after [`api::REFRESH_TIMEOUT_MS`]) reaches the server within its 10 s grace
/// window, where it gets the same successor back. (The server also accepts the last used token
/// as a retry for as long as its successor has not been used, so a later retry, after a long
/// offline spell, still does not end the session.)
const RETRY_FIRST_MS: f64 = 2_000.0;
const RETRY_MAX_MS: f64 = 30_000.0;

impl AuthClient {
    fn standing(&self, session: &StoredSession) -> Freshness {
        freshness(
            session.issued_at as f64,
            session.expires_at as f64,
            self.inner.clock.now(),
        )
    }

    /// A valid access token: the cached one while it is fresh (no I/O at all), else a refreshed
    /// one. A token that is due but not expired is returned at once and refreshed behind.
    pub async fn access_token(&self) -> Result<String, Error> {
        let (token, standing) = {
            let session = self.inner.session.borrow();
            let session = session.as_ref().ok_or(Error::SignedOut)?;
            (session.tokens.access_token.clone(), self.standing(session))
        };
        match standing {
            Freshness::Fresh { .. } => Ok(token),
            Freshness::Due => {
                self.refresh_behind();
                Ok(token)
            }
            Freshness::Expired => {
                self.refresh().await?;
                self.cached_access_token().ok_or(Error::SignedOut)
            }
        }
    }

    /// The cached access token if it is still valid, without any I/O (for hot paths such as a
    /// sync engine's frame loop). `None`: call [`AuthClient::access_token`].
    pub fn cached_access_token(&self) -> Option<String> {
        let session = self.inner.session.borrow();
        let session = session.as_ref()?;
        (self.standing(session) != Freshness::Expired).then(|| session.tokens.access_token.clone())
    }

    /// Refreshes without waiting for the outcome.
    pub(super) fn refresh_behind(&self) {
        let client = self.clone();
        spawn_local(async move {
            let _ = client.refresh().await;
        });
    }

    /// Refreshes the tokens now (one refresh per session at a time, across tabs).
    pub async fn refresh(&self) -> Result<(), Error> {
        let pending = self.inner.inflight.borrow().clone();
        let promise = match pending {
            Some(promise) => promise,
            None => {
                let promise = self.start_refresh();
                *self.inner.inflight.borrow_mut() = Some(promise.clone());
                promise
            }
        };
        JsFuture::from(promise)
            .await
            .map(drop)
            .map_err(|e| Error::from_js(&e))
    }

    /// The shared refresh: a promise every caller in this tab awaits.
    fn start_refresh(&self) -> Promise {
        let client = self.clone();
        let name = self.inner.lock_name.clone();
        let replacing = self.tokens().ok().map(|t| t.access_token);
        crate::promise(async move {
            let outcome = tabs::with_lock(&name, {
                let client = client.clone();
                async move {
                    client
                        .refresh_locked(replacing)
                        .await
                        .map(|()| JsValue::UNDEFINED)
                        .map_err(|e| e.to_js())
                }
            })
            .await;
            client.inner.inflight.borrow_mut().take();
            outcome
        })
    }

    /// The refresh itself, run while holding the cross-tab lock. `replacing` is the access token
    /// the caller wants replaced (due, expired, or refused by a server).
    async fn refresh_locked(&self, replacing: Option<String>) -> Result<(), Error> {
        // Another tab may have refreshed (or signed out) while this one waited for the lock:
        // then its fresh token is ours too, and no request is needed. (Unless the vault could
        // not be read, or missed this tab's last change: then it knows nothing newer.)
        let stored = if self.inner.vault.is_persistent() && !self.inner.unsaved.get() {
            self.inner.vault.load().await.ok()
        } else {
            None
        };
        if let Some(stored) = stored {
            if stored != *self.inner.session.borrow() {
                self.adopt_stored(stored.clone()).await;
            }
            let Some(stored) = stored else {
                return Err(Error::SignedOut);
            };
            let fresh = matches!(self.standing(&stored), Freshness::Fresh { .. });
            if fresh && Some(&stored.tokens.access_token) != replacing.as_ref() {
                return Ok(());
            }
        }
        let Some(session) = self.inner.session.borrow().clone() else {
            return Err(Error::SignedOut);
        };
        let sent = session.tokens.refresh_token.clone();
        let body = wire::json(&wire::object(&[("refresh_token", sent.as_str().into())]))?;
        // A refresh whose answer is lost must be retried within the server's grace window, so
        // it gives up sooner than other calls.
        let answer = self
            .call_server(
                "POST",
                "/refresh",
                false,
                Some(&body),
                None,
                api::REFRESH_TIMEOUT_MS,
            )
            .await
            .and_then(|data| {
                wire::tokens_from_js(&get(&data, "tokens")).ok_or(Error::Corrupt {
                    what: "server answer",
                })
            });
        // The session may have changed while the answer travelled (signed out, signed in again,
        // refreshed by another tab): an answer about the token sent no longer applies to it.
        let current = self
            .inner
            .session
            .borrow()
            .as_ref()
            .map(|s| s.tokens.refresh_token.clone());
        if current.as_ref() != Some(&sent) {
            return answer.map(drop);
        }
        match answer {
            Ok(tokens) => {
                let now = self.now();
                let renewed = StoredSession {
                    issued_at: now,
                    expires_at: expiry(now, tokens.expires_in),
                    tokens,
                    ..session
                };
                self.inner.failed_refreshes.set(0);
                self.adopt(Some(renewed), true, Change::Refreshed).await;
                Ok(())
            }
            Err(err) => {
                if let Some(why) = ended_by(&err) {
                    self.adopt(None, true, Change::SignedOut(why)).await;
                } else {
                    self.retry_later();
                }
                Err(err)
            }
        }
    }

    /// Sets the refresh timer for the current session.
    pub(super) fn schedule(&self) {
        let due_in = self
            .inner
            .session
            .borrow()
            .as_ref()
            .map(|s| match self.standing(s) {
                Freshness::Fresh { refresh_at } => refresh_at - self.inner.clock.now(),
                Freshness::Due | Freshness::Expired => 0.0,
            });
        self.set_timer(due_in);
    }

    fn retry_later(&self) {
        let failed = self.inner.failed_refreshes.get();
        self.inner.failed_refreshes.set(failed.saturating_add(1));
        let delay = RETRY_FIRST_MS * f64::from(1u32 << failed.min(4));
        self.set_timer(Some(delay.min(RETRY_MAX_MS)));
    }

    fn set_timer(&self, after_ms: Option<f64>) {
        let timer = after_ms.and_then(|ms| {
            let weak = std::rc::Rc::downgrade(&self.inner);
            // setTimeout takes an i32; anything longer than ~24 days is rescheduled on the way.
            let ms = ms.clamp(0.0, f64::from(i32::MAX)) as i32;
            Timer::start(ms, move || {
                if let Some(inner) = weak.upgrade() {
                    AuthClient { inner }.refresh_behind();
                }
            })
        });
        *self.inner.timer.borrow_mut() = timer;
    }

    /// Whether the token is due or expired (worth refreshing when the page comes back).
    pub(super) fn due(&self) -> Option<bool> {
        let session = self.inner.session.borrow();
        session
            .as_ref()
            .map(|s| matches!(self.standing(s), Freshness::Due | Freshness::Expired))
    }
}

/// Whether `error` ends the session for good, and why: the server's definitive answers, and a
/// refusal of this client's device key (lost and replaced, so the session cannot be recovered).
pub(crate) fn ended_by(error: &Error) -> Option<SignOutReason> {
    let Error::Server { code, .. } = error else {
        return None;
    };
    let key_refused = matches!(code, ErrorCode::InvalidDpopProof | ErrorCode::DpopRequired);
    if !code.ends_session() && !key_refused {
        return None;
    }
    Some(match code {
        ErrorCode::RefreshTokenExpired | ErrorCode::InvalidRefreshToken => SignOutReason::Expired,
        _ => SignOutReason::Revoked,
    })
}
