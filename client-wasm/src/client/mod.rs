//! [`AuthClient`]: the session as the page sees it, kept fresh by itself.
//!
//! - Sign-up and sign-in store the session in the encrypted [`Vault`]; a reload restores it
//!   without a network round trip.
//! - The access token is refreshed when less than min(60 s, a quarter of its lifetime) remains:
//!   on a timer, when the page becomes visible, when the browser comes back online, and on
//!   demand when a caller needs a token that has expired (`refresh`).
//! - One refresh at a time: in-tab callers share one in-flight refresh; across tabs a Web Lock
//!   serialises them, and a tab that gets the lock after another refreshed just reads the new
//!   tokens from the vault. Tabs tell each other about changes over a BroadcastChannel (`page`).
//! - Only a definitive answer from the server (revoked, expired, reused, user gone) signs the
//!   user out. A network error, a timeout, a 5xx or a rate limit keeps the session; `state`
//!   says `Offline` when the server is unreachable.
//! - Tokens go only to the auth server and the origins the app lists, with a fresh DPoP proof
//!   when the session is device-bound (`transport`). Signing in and out, passkeys, tickets and
//!   proofs for other clients are in `account`.

mod account;
mod page;
mod refresh;
mod transport;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Promise;
use keyward_proto::User;

use crate::api::Timer;
use crate::device_key::DeviceKey;
use crate::schedule::{Clock, SystemClock};
use crate::tabs::Channel;
use crate::vault::{Restored, StoredSession, Vault};

pub use account::{Passkey, SignedIn};
#[cfg(feature = "typed")]
pub(crate) use account::{sign_in_answer, signed_in_user};
pub use page::Subscription;
#[cfg(feature = "js")]
pub(crate) use refresh::ended_by;
pub(crate) use transport::origin_of;

/// Where the client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthState {
    /// The stored session is being read.
    Loading,
    /// No session.
    SignedOut,
    /// A session, and the server is reachable.
    SignedIn,
    /// A session, but the server could not be reached the last time: the cached user and a
    /// still-valid token stay available; refresh resumes when the network does.
    Offline,
}

impl AuthState {
    /// The JS name: `loading`, `signedOut`, `signedIn`, `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loading => "loading",
            Self::SignedOut => "signedOut",
            Self::SignedIn => "signedIn",
            Self::Offline => "offline",
        }
    }
}

/// Why a session ended here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOutReason {
    /// This page signed out (or revoked its own session or device).
    User,
    /// The server ended it: revoked (elsewhere, by an administrator, a reused refresh token) or
    /// bound to a device key this browser no longer has.
    Revoked,
    /// It can no longer be refreshed: too long idle, or past its lifetime.
    Expired,
    /// Another tab of this origin signed out.
    OtherTab,
}

/// What changed, as listeners are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A session began (here, or in another tab).
    SignedIn,
    /// The tokens were renewed (here, or in another tab).
    Refreshed,
    /// The user's details changed (`reload_user`).
    UserUpdated,
    /// The session ended, and why.
    SignedOut(SignOutReason),
    /// The server could not be reached; the session is kept.
    Offline,
    /// The server answered again after being unreachable.
    Online,
}

impl Change {
    /// The JS name: `signedIn`, `refreshed`, `userUpdated`, `signedOut`, `offline`, `online`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::SignedIn => "signedIn",
            Self::Refreshed => "refreshed",
            Self::UserUpdated => "userUpdated",
            Self::SignedOut(_) => "signedOut",
            Self::Offline => "offline",
            Self::Online => "online",
        }
    }

    /// For `signedOut`, why: `user`, `revoked`, `expired`, `otherTab`.
    pub fn why(self) -> Option<&'static str> {
        match self {
            Self::SignedOut(SignOutReason::User) => Some("user"),
            Self::SignedOut(SignOutReason::Revoked) => Some("revoked"),
            Self::SignedOut(SignOutReason::Expired) => Some("expired"),
            Self::SignedOut(SignOutReason::OtherTab) => Some("otherTab"),
            _ => None,
        }
    }
}

/// What listeners see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The state.
    pub state: AuthState,
    /// The signed-in user (also while offline).
    pub user: Option<User>,
}

/// How to build a client.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Keyward server's auth prefix, e.g. `https://auth.example.com/auth`.
    pub server_url: String,
    /// The IndexedDB database (and lock and channel) name; several clients on one origin need
    /// different names. Default `keyward`.
    pub storage_name: String,
    /// Keep the session in memory only (it ends with the page), even where IndexedDB exists.
    pub memory_only: bool,
    /// The origins, besides the auth server's, that [`AuthClient::fetch`] and
    /// [`AuthClient::create_proof`] may send the session's token to, e.g.
    /// `https://api.example.com`. Default none.
    pub api_origins: Vec<String>,
}

impl Options {
    /// Options for the server at `server_url`, with the defaults.
    pub fn new(server_url: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            storage_name: "keyward".into(),
            memory_only: false,
            api_origins: Vec::new(),
        }
    }
}

/// The browser client. Cheap to clone (a handle).
#[derive(Clone)]
pub struct AuthClient {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for AuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthClient")
            .field("server_url", &self.inner.base)
            .field("state", &self.inner.state.get())
            .finish_non_exhaustive()
    }
}

type Listener = Rc<dyn Fn(&Snapshot, Change)>;

struct Inner {
    base: String,
    /// Where the session's token may go: the auth server's origin and the app's `api_origins`.
    origins: Vec<String>,
    lock_name: String,
    vault: Vault,
    /// The key sessions are bound to (DPoP); `None` without WebCrypto.
    device: Option<DeviceKey>,
    /// The server's clock minus this one's (ms), from `Date` headers: DPoP proofs carry the
    /// server's time, so a wrong clock here does not get them refused.
    skew: Cell<f64>,
    /// The last DPoP nonce each origin handed out (the auth server's and an API's may differ).
    nonces: RefCell<Vec<(String, String)>>,
    /// Whether the vault missed the last change (IndexedDB failed to write): then what it holds
    /// is older than the session in memory, and must not be taken for another tab's newer one.
    unsaved: Cell<bool>,
    clock: Box<dyn Clock>,
    session: RefCell<Option<StoredSession>>,
    state: Cell<AuthState>,
    listeners: RefCell<Vec<(u64, Listener)>>,
    next_listener: Cell<u64>,
    inflight: RefCell<Option<Promise>>,
    /// Refreshes that failed for a transient reason since the last one that succeeded.
    failed_refreshes: Cell<u32>,
    timer: RefCell<Option<Timer>>,
    channel: RefCell<Option<Channel>>,
    page_events: RefCell<Option<page::PageEvents>>,
}

impl AuthClient {
    /// Opens the vault and restores the stored session, without touching the network.
    pub async fn new(options: Options) -> Self {
        Self::with_clock(options, Box::new(SystemClock)).await
    }

    /// Like [`AuthClient::new`], with a clock of your own (tests).
    pub async fn with_clock(options: Options, clock: Box<dyn Clock>) -> Self {
        let (vault, Restored { session, device }) = if options.memory_only {
            Vault::memory().await
        } else {
            Vault::open(&options.storage_name).await
        };
        let state = if session.is_some() {
            AuthState::SignedIn
        } else {
            AuthState::SignedOut
        };
        let base = options.server_url.trim_end_matches('/').to_owned();
        // Origins as the browser writes them, whatever form they were given in.
        let origins = options
            .api_origins
            .iter()
            .map(String::as_str)
            .chain([base.as_str()])
            .filter_map(origin_of)
            .collect();
        let inner = Rc::new(Inner {
            base,
            origins,
            lock_name: ["keyward-refresh:", &options.storage_name].concat(),
            vault,
            device,
            skew: Cell::new(0.0),
            nonces: RefCell::default(),
            unsaved: Cell::new(false),
            clock,
            session: RefCell::new(session),
            state: Cell::new(state),
            listeners: RefCell::default(),
            next_listener: Cell::new(0),
            inflight: RefCell::default(),
            failed_refreshes: Cell::new(0),
            timer: RefCell::default(),
            channel: RefCell::default(),
            page_events: RefCell::default(),
        });
        let client = Self { inner };
        client.connect_tabs(&options.storage_name);
        client.listen_to_page();
        client.schedule();
        client
    }

    /// The current state.
    pub fn state(&self) -> AuthState {
        self.inner.state.get()
    }

    /// The signed-in user, if any (also while offline).
    pub fn user(&self) -> Option<User> {
        self.inner.session.borrow().as_ref().map(|s| s.user.clone())
    }

    /// The auth server's URL (its prefix, such as `https://example.com/auth`).
    pub fn server_url(&self) -> &str {
        &self.inner.base
    }

    /// The current session's id, if any.
    pub fn session_id(&self) -> Option<String> {
        self.inner
            .session
            .borrow()
            .as_ref()
            .map(|s| s.session_id.clone())
    }

    /// The session's access token as held, fresh or not: for reading what it says (its
    /// claims), never for sending (that is [`AuthClient::access_token`]).
    #[cfg(feature = "typed")]
    pub(crate) fn held_access_token(&self) -> Option<String> {
        let session = self.inner.session.borrow();
        session.as_ref().map(|s| s.tokens.access_token.clone())
    }

    /// The state and user together.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state(),
            user: self.user(),
        }
    }

    /// Whether the session survives a reload (IndexedDB) or only this page (memory).
    pub fn is_persistent(&self) -> bool {
        self.inner.vault.is_persistent()
    }

    /// Calls `listener` on every change of state or user, with what changed. Dropping the
    /// returned [`Subscription`] unsubscribes.
    #[must_use = "dropping the subscription unsubscribes at once"]
    pub fn on_change(&self, listener: impl Fn(&Snapshot, Change) + 'static) -> Subscription {
        let id = self.inner.next_listener.get();
        self.inner.next_listener.set(id + 1);
        self.inner
            .listeners
            .borrow_mut()
            .push((id, Rc::new(listener)));
        Subscription::new(Rc::downgrade(&self.inner), id)
    }

    fn set_state(&self, state: AuthState) {
        if self.inner.state.replace(state) != state {
            self.notify(if state == AuthState::Offline {
                Change::Offline
            } else {
                Change::Online
            });
        }
    }

    /// Makes `session` the current one: stored (when `persist`: this tab made the change),
    /// announced to the other tabs, the refresh rescheduled, listeners told `change`.
    async fn adopt(&self, session: Option<StoredSession>, persist: bool, change: Change) {
        if persist {
            // A vault that cannot be written still leaves a working session in memory.
            let saved = match &session {
                Some(session) => self.inner.vault.save(session).await,
                None => self.inner.vault.clear().await,
            };
            self.inner.unsaved.set(saved.is_err());
        }
        let state = if session.is_some() {
            AuthState::SignedIn
        } else {
            AuthState::SignedOut
        };
        *self.inner.session.borrow_mut() = session;
        self.inner.state.set(state);
        if let Some(channel) = self.inner.channel.borrow().as_ref().filter(|_| persist) {
            channel.announce();
        }
        self.schedule();
        self.notify(change);
    }

    /// Adopts what another tab stored, telling listeners what it amounts to here.
    async fn adopt_stored(&self, stored: Option<StoredSession>) {
        let change = {
            let ours = self.inner.session.borrow();
            match (ours.as_ref(), stored.as_ref()) {
                (Some(_), None) => Change::SignedOut(SignOutReason::OtherTab),
                (Some(ours), Some(theirs)) if ours.session_id == theirs.session_id => {
                    if ours.user != theirs.user {
                        Change::UserUpdated
                    } else {
                        Change::Refreshed
                    }
                }
                _ => Change::SignedIn,
            }
        };
        self.adopt(stored, false, change).await;
    }

    fn notify(&self, change: Change) {
        let snapshot = self.snapshot();
        let listeners: Vec<Listener> = self
            .inner
            .listeners
            .borrow()
            .iter()
            .map(|(_, l)| Rc::clone(l))
            .collect();
        for listener in listeners {
            listener(&snapshot, change);
        }
    }

    fn now(&self) -> i64 {
        self.inner.clock.now() as i64
    }
}

/// When tokens issued at `now` (ms) that live `expires_in` seconds expire (ms), however long
/// the server says they live.
pub(crate) fn expiry(now: i64, expires_in: u64) -> i64 {
    let ms = i64::try_from(expires_in)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    now.saturating_add(ms)
}
