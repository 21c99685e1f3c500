//! [`Auth`]: the reactive face of the client, provided by `<AuthProvider>`.

use std::future::Future;

use keyward_client::{ActiveOrg, AuthClient, AuthState, Error, Subscription, User};
use leptos::prelude::*;
use leptos::task::spawn_local;

/// An error as components show it: the stable code, and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    /// The stable code (`invalid_credentials`, `network`, `cancelled`, …).
    pub code: String,
    /// The message to show.
    pub message: String,
}

impl From<&Error> for AuthError {
    fn from(error: &Error) -> Self {
        let message = match error {
            Error::Network(_) => "The server cannot be reached. Check your connection.".to_owned(),
            Error::Cancelled => "The passkey dialog was closed.".to_owned(),
            other => other.to_string(),
        };
        Self {
            code: error.code().to_owned(),
            message,
        }
    }
}

/// Where an action reports: its own error and pending flags (so two forms on one page do not
/// show each other's errors).
#[derive(Clone, Copy)]
pub struct Feedback {
    /// The action's error, cleared when it starts again.
    pub error: RwSignal<Option<AuthError>>,
    /// Whether it runs.
    pub pending: RwSignal<bool>,
}

impl Feedback {
    /// Fresh flags.
    pub fn new() -> Self {
        Self {
            error: RwSignal::new(None),
            pending: RwSignal::new(false),
        }
    }
}

impl Default for Feedback {
    fn default() -> Self {
        Self::new()
    }
}

/// The signed-in state and the actions, for components and your own views. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Auth {
    client: StoredValue<Option<AuthClient>, LocalStorage>,
    subscription: StoredValue<Option<Subscription>, LocalStorage>,
    state: RwSignal<AuthState>,
    user: RwSignal<Option<User>>,
    error: RwSignal<Option<AuthError>>,
    pending: RwSignal<bool>,
    mfa_ticket: RwSignal<Option<String>>,
    active_org: RwSignal<Option<ActiveOrg>>,
    /// Counts changes to the user's organizations (lists that show them reload when it moves).
    orgs_changed: RwSignal<u64>,
}

/// The [`Auth`] of the nearest `<AuthProvider>`.
///
/// # Panics
/// Outside an `<AuthProvider>`: that is a bug in the app's component tree, not a runtime
/// condition, so it is reported at once with the fix.
pub fn use_auth() -> Auth {
    #[allow(clippy::expect_used)]
    use_context::<Auth>().expect("use_auth() called outside <AuthProvider>")
}

impl Auth {
    /// A new, loading state (the provider attaches the client).
    pub(crate) fn new() -> Self {
        Self {
            client: StoredValue::new_local(None),
            subscription: StoredValue::new_local(None),
            state: RwSignal::new(AuthState::Loading),
            user: RwSignal::new(None),
            error: RwSignal::new(None),
            pending: RwSignal::new(false),
            mfa_ticket: RwSignal::new(None),
            active_org: RwSignal::new(None),
            orgs_changed: RwSignal::new(0),
        }
    }

    /// Attaches `client`: its state now drives the signals.
    pub(crate) fn attach(self, client: AuthClient) {
        let snapshot = client.snapshot();
        self.state.set(snapshot.state);
        self.user.set(snapshot.user);
        self.active_org.set(client.active_org());
        // Only what changed is set: a refresh that changes nothing re-runs no view.
        let subscription = client.on_change(move |snapshot, _| {
            if self.state.get_untracked() != snapshot.state {
                self.state.set(snapshot.state);
            }
            if self.user.with_untracked(|user| user != &snapshot.user) {
                self.user.set(snapshot.user.clone());
            }
            self.read_active_org();
        });
        self.subscription.set_value(Some(subscription));
        self.client.set_value(Some(client));
    }

    /// `Loading`, `SignedOut`, `SignedIn` or `Offline`.
    pub fn state(&self) -> Signal<AuthState> {
        self.state.into()
    }

    /// The signed-in user (also while offline).
    pub fn user(&self) -> Signal<Option<User>> {
        self.user.into()
    }

    /// The last action's error, cleared when the next one starts.
    pub fn error(&self) -> Signal<Option<AuthError>> {
        self.error.into()
    }

    /// Whether an action is running (forms disable their buttons).
    pub fn pending(&self) -> Signal<bool> {
        self.pending.into()
    }

    /// The ticket of a sign-in waiting for its second factor (`<MfaChallenge/>` shows while
    /// there is one).
    pub fn mfa_ticket(&self) -> Signal<Option<String>> {
        self.mfa_ticket.into()
    }

    /// Sets (or, with `None`, ends) the sign-in waiting for its second factor.
    pub fn set_mfa_ticket(&self, ticket: Option<String>) {
        self.mfa_ticket.set(ticket);
    }

    /// The organization the session acts for, its role and permissions, as the session's
    /// token says; follows every refresh (a role change shows with the next one).
    pub fn active_org(&self) -> Signal<Option<ActiveOrg>> {
        self.active_org.into()
    }

    /// Whether the active organization's role grants `permission` (reactive; no request).
    /// For what the page shows: the app's API checks the token itself.
    pub fn can(&self, permission: &str) -> bool {
        self.active_org
            .with(|org| org.as_ref().is_some_and(|org| org.can(permission)))
    }

    /// Re-reads the active organization from the session's token; lists of organizations
    /// reload when it changed (a role, or the organization itself).
    fn read_active_org(&self) {
        let next = self.client().and_then(|client| client.active_org());
        if self.active_org.get_untracked() != next {
            self.active_org.set(next);
            self.notify_orgs_changed();
        }
    }

    /// Moves whenever the user's organizations may have changed: the organization components
    /// reload then. Track it in a view of your own that lists them.
    pub fn orgs_changed(&self) -> Signal<u64> {
        self.orgs_changed.into()
    }

    /// Says that the user's organizations changed (made, joined, left, renamed, members
    /// changed) through a call of your own (`auth.client()`): the organization components
    /// reload. Theirs do this themselves.
    pub fn notify_orgs_changed(&self) {
        self.orgs_changed.update(|n| *n = n.wrapping_add(1));
    }

    /// Whether someone is signed in (offline counts: the session is kept).
    pub fn signed_in(&self) -> bool {
        matches!(self.state.get(), AuthState::SignedIn | AuthState::Offline)
    }

    /// The client, once created.
    pub fn client(&self) -> Option<AuthClient> {
        self.client.with_value(Clone::clone)
    }

    /// Runs `action` with the client, reporting to the provider's `error` and `pending`.
    pub fn run<F, Fut, T>(&self, action: F)
    where
        F: FnOnce(AuthClient) -> Fut + 'static,
        Fut: Future<Output = Result<T, Error>> + 'static,
    {
        self.run_with(
            Feedback {
                error: self.error,
                pending: self.pending,
            },
            action,
        );
    }

    /// Runs `action` with the client, reporting to `feedback`: pending while it runs, the
    /// error when it fails.
    pub fn run_with<F, Fut, T>(&self, feedback: Feedback, action: F)
    where
        F: FnOnce(AuthClient) -> Fut + 'static,
        Fut: Future<Output = Result<T, Error>> + 'static,
    {
        let Some(client) = self.client() else { return };
        feedback.error.set(None);
        feedback.pending.set(true);
        spawn_local(async move {
            let outcome = action(client).await;
            feedback.pending.set(false);
            if let Err(error) = outcome {
                feedback.error.set(Some(AuthError::from(&error)));
            }
        });
    }
}
