//! Live connections of a sync server (a WebSocket or an EventSource in this app): who is on one,
//! what they may read and write, and when the connection must end.
//!
//! ```no_run
//! # async fn run(keyward: keyward_server::Keyward, ticket: Option<&str>) -> Result<(), keyward_server::Error> {
//! use keyward_server::sync::{Scopes, SyncAuth};
//!
//! let sync = SyncAuth::new(keyward, "wss://sync.example.com/ws")
//!     .collections(["todos", "notes"])
//!     .personal(Scopes::none().write(["todos"]))
//!     .anonymous(Scopes::none().read(["notes"]));
//! // Before upgrading: a ticket from `?ticket=`, or none for a visitor.
//! let mut connection = sync.connect(ticket).await?;
//! assert!(connection.scopes().can_read("notes"));
//! // Beside the socket's loop: close it when this resolves.
//! let why = connection.ended().await;
//! # Ok(()) }
//! ```
//!
//! A browser opens a connection with a connect ticket ([`SyncAuth::connect`]); a client that
//! can send headers may open it with its access token instead ([`SyncAuth::connect_with_token`]).
//! Either way the connection speaks for that session (checked then: the session live, its user
//! there; its device's last sight noted). [`Connection::ended`] resolves, and the app closes the
//! socket, when:
//!
//! - the session is signed out or revoked (by its user, an administrator, a reused refresh
//!   token), or its device revoked: on this server at once, on every other within a second
//!   (they read the revocations every second);
//! - the user's role in the session's organization changes, or they leave it: the scopes were
//!   worked out from the old role, so the client reconnects with a new ticket;
//! - the access token the ticket was asked with expires, unless the client renewed the
//!   connection in band with a fresh ticket for the same session ([`Connection::renew`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use keyward_proto::ErrorCode;
use tokio::sync::watch;

use crate::domain::{OrgId, Timestamp, dpop, gateway, tickets};
use crate::http::extract::{dpop_proof, verified};
use crate::{Error, Keyward, TicketIdentity};

/// The longest `Connection::ended` sleeps before looking at the clock again: a suspended
/// machine or a clock set forward is caught up with within this.
const RECHECK: Duration = Duration::from_secs(30);

/// What a connection may read and write, by collection (`"*"`: every collection).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    read: BTreeSet<String>,
    write: BTreeSet<String>,
}

impl Scopes {
    /// Nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// These collections may be read too.
    #[must_use]
    pub fn read<S: Into<String>>(mut self, collections: impl IntoIterator<Item = S>) -> Self {
        self.read.extend(collections.into_iter().map(Into::into));
        self
    }

    /// These collections may be written (and read) too.
    #[must_use]
    pub fn write<S: Into<String>>(mut self, collections: impl IntoIterator<Item = S>) -> Self {
        let collections: Vec<String> = collections.into_iter().map(Into::into).collect();
        self.read.extend(collections.iter().cloned());
        self.write.extend(collections);
        self
    }

    /// Whether `collection` may be read.
    pub fn can_read(&self, collection: &str) -> bool {
        self.read.contains("*") || self.read.contains(collection)
    }

    /// Whether `collection` may be written.
    pub fn can_write(&self, collection: &str) -> bool {
        self.write.contains("*") || self.write.contains(collection)
    }
}

/// Why a connection must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ended {
    /// Its session was signed out or revoked, its device revoked or its user deleted.
    Revoked,
    /// The user's role in the session's organization changed, or they left it: reconnect with
    /// a new ticket.
    RoleChanged,
    /// The access token the connection was opened with expired, and no fresh ticket renewed it.
    Expired,
}

impl Ended {
    /// The stable code, for the close frame's reason: `session_revoked`, `role_changed`,
    /// `token_expired`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Revoked => "session_revoked",
            Self::RoleChanged => "role_changed",
            Self::Expired => "token_expired",
        }
    }
}

type Resolver = Arc<dyn Fn(&TicketIdentity, &[String]) -> Scopes + Send + Sync>;

/// How a sync endpoint authenticates its connections: its URL (what tickets are bound to), its
/// collections, how a signed-in connection's scopes are worked out, and whether visitors who
/// are not signed in may connect. Cheap to clone.
#[derive(Clone)]
pub struct SyncAuth {
    keyward: Keyward,
    url: String,
    collections: Arc<[String]>,
    resolve: Option<Resolver>,
    personal: Scopes,
    anonymous: Option<Scopes>,
}

impl std::fmt::Debug for SyncAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncAuth")
            .field("url", &self.url)
            .field("collections", &self.collections)
            .field("personal", &self.personal)
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

impl SyncAuth {
    /// The endpoint at `url`, as clients address it (`wss://sync.example.com/ws`; the query
    /// does not count): tickets are redeemed for it, and a token's DPoP proof must be for `GET`
    /// at it. No collections, nothing for a user outside an organization, no visitors, until
    /// said.
    pub fn new(keyward: Keyward, url: impl Into<String>) -> Self {
        Self {
            keyward,
            url: url.into(),
            collections: Arc::from([]),
            resolve: None,
            personal: Scopes::none(),
            anonymous: None,
        }
    }

    /// The collections the endpoint syncs, which scopes are worked out over.
    #[must_use]
    pub fn collections<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.collections = names.into_iter().map(Into::into).collect();
        self
    }

    /// What a signed-in session acting for no organization may do: its user's own data, which
    /// the sync server keeps apart by `user_id` (nothing by default).
    #[must_use]
    pub fn personal(mut self, scopes: Scopes) -> Self {
        self.personal = scopes;
        self
    }

    /// How a signed-in connection's scopes are worked out from who it is and the collections,
    /// instead of the default. The default: with an active organization, a collection is read
    /// where the role grants `<collection>:read` and written where it grants
    /// `<collection>:write`; without one, the [`SyncAuth::personal`] scopes.
    #[must_use]
    pub fn resolve_scopes(
        mut self,
        resolve: impl Fn(&TicketIdentity, &[String]) -> Scopes + Send + Sync + 'static,
    ) -> Self {
        self.resolve = Some(Arc::new(resolve));
        self
    }

    /// Lets visitors who are not signed in connect (mixed mode), with `scopes` only. Without
    /// it, a connection without a ticket is refused.
    #[must_use]
    pub fn anonymous(mut self, scopes: Scopes) -> Self {
        self.anonymous = Some(scopes);
        self
    }

    /// Authenticates a connection about to open, before the upgrade: with the `ticket` it
    /// presented (redeemed, so good once), or, without one, as a visitor where visitors are
    /// let in. Refused with `invalid_ticket` (401) for a ticket that is unknown, used, late,
    /// for another URL or of an ended session; `unauthorized` (401) without a ticket where
    /// visitors are not let in. `invalid_request` when this endpoint's URL is not one a ticket
    /// can be issued for.
    pub async fn connect(&self, ticket: Option<&str>) -> Result<Connection, Error> {
        let changes = self.keyward.core.revoked.subscribe();
        let Some(ticket) = ticket else {
            let scopes = self.anonymous.clone().ok_or_else(|| {
                Error::rejected(
                    ErrorCode::Unauthorized,
                    "Sign in first: this connection needs a connect ticket (`?ticket=`).",
                )
            })?;
            return Ok(Connection {
                auth: self.clone(),
                changes,
                identity: None,
                scopes,
            });
        };
        let identity = self.redeem(ticket).await?;
        Ok(Connection {
            auth: self.clone(),
            changes,
            scopes: self.scopes_of(&identity),
            identity: Some(identity),
        })
    }

    /// Authenticates a connection whose client can send headers on the handshake (a native
    /// app, another server): its access token, checked as the `AuthUser` extractor checks it
    /// (`Authorization: Bearer …`, or `DPoP …` with a `DPoP` proof for `GET` at this
    /// endpoint's URL, its scheme the handshake's: `https://` for `wss://`, `http://` for
    /// `ws://`), then its session and role in the database. Refused as the extractor
    /// refuses (401 `unauthorized`, `invalid_token`, `token_expired`, `session_revoked`,
    /// `dpop_required`, `invalid_dpop_proof`).
    pub async fn connect_with_token(&self, headers: &HeaderMap) -> Result<Connection, Error> {
        let core = &self.keyward.core;
        let changes = core.revoked.subscribe();
        #[allow(clippy::disallowed_methods)] // an edge: the app's sync endpoint calls it
        let now = Timestamp::now();
        // The handshake is an HTTP GET: a proof names the URL with its HTTP scheme (RFC 9449
        // `htu`), `https://` for `wss://`.
        let http_url = match self.url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("wss") => format!("https://{rest}"),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ws") => format!("http://{rest}"),
            _ => self.url.clone(),
        };
        let request = || {
            Ok(dpop::Request {
                proof: dpop_proof(headers)?,
                method: "GET".to_owned(),
                url: http_url.clone(),
            })
        };
        let (claims, _) = verified(core, headers, now, request).await?;
        let checked = gateway::live(core, claims, now).await?;
        if let Some(device) = &checked.device_id {
            tickets::seen(core, device, now);
        }
        let claims = &checked.claims;
        let org = claims.org.as_deref().and_then(OrgId::parse);
        let identity = TicketIdentity {
            user_id: claims.sub,
            session_id: claims.sid,
            device_id: checked.device_id,
            org_role: org.and(claims.org_role.clone()),
            org,
            token_expires_at: Timestamp::from_millis(claims.exp.saturating_mul(1000)),
        };
        Ok(Connection {
            auth: self.clone(),
            changes,
            scopes: self.scopes_of(&identity),
            identity: Some(identity),
        })
    }

    async fn redeem(&self, ticket: &str) -> Result<TicketIdentity, Error> {
        #[allow(clippy::disallowed_methods)] // an edge: the app's sync endpoint calls it
        let now = Timestamp::now();
        tickets::redeem(&self.keyward.core, ticket, &self.url, now).await
    }

    fn scopes_of(&self, identity: &TicketIdentity) -> Scopes {
        match &self.resolve {
            Some(resolve) => resolve(identity, &self.collections),
            None => self.default_scopes(identity),
        }
    }

    /// See [`SyncAuth::scopes`].
    fn default_scopes(&self, identity: &TicketIdentity) -> Scopes {
        let Some(role) = identity.org_role.as_deref() else {
            return self.personal.clone();
        };
        let roles = &self.keyward.core.roles;
        let granted = |action: &str| -> Vec<String> {
            self.collections
                .iter()
                .filter(|c| roles.permits(role, &format!("{c}:{action}")))
                .cloned()
                .collect()
        };
        Scopes::none().read(granted("read")).write(granted("write"))
    }
}

/// A live connection: who is on it, what they may do, and [`Connection::ended`].
#[derive(Debug)]
pub struct Connection {
    auth: SyncAuth,
    changes: watch::Receiver<u64>,
    identity: Option<TicketIdentity>,
    scopes: Scopes,
}

impl Connection {
    /// Who is on it; `None` for a visitor.
    pub fn identity(&self) -> Option<&TicketIdentity> {
        self.identity.as_ref()
    }

    /// What it may read and write.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// Renews the connection in band with a fresh `ticket` for this endpoint, asked for by the
    /// same session acting for the same organization with the same role: the connection then
    /// ends when the access token behind that ticket expires. Refused with `invalid_ticket`,
    /// the connection staying as it was, for a visitor, a connection that has ended already, a
    /// ticket of another session, or one whose session now acts for another organization or
    /// role (that changes what the connection may do: reconnect). The ticket is used up
    /// either way. Not cancel-safe: await it to the end.
    pub async fn renew(&mut self, ticket: &str) -> Result<(), Error> {
        let refused = |why: &'static str| Error::rejected(ErrorCode::InvalidTicket, why);
        #[allow(clippy::disallowed_methods)] // an edge: a live connection's clock
        let now = Timestamp::now();
        if self.standing(now).is_some() {
            return Err(refused("This connection has ended: reconnect."));
        }
        let renewed = self.auth.redeem(ticket).await?;
        let Some(current) = &self.identity else {
            return Err(refused("A visitor's connection has nothing to renew."));
        };
        if current.session_id != renewed.session_id {
            return Err(refused(
                "A connection is renewed with a ticket of its own session.",
            ));
        }
        if (current.org, &current.org_role) != (renewed.org, &renewed.org_role) {
            return Err(refused(
                "The session acts for another organization or role now: reconnect.",
            ));
        }
        self.identity = Some(renewed);
        Ok(())
    }

    /// Why it must end, if it must by now, without waiting: check it before applying what a
    /// client sends (an edit queued offline and replayed is judged at replay time).
    pub fn has_ended(&self) -> Option<Ended> {
        #[allow(clippy::disallowed_methods)] // an edge: a live connection's clock
        let now = Timestamp::now();
        self.standing(now)
    }

    /// Why it must end at `now`, if it must.
    fn standing(&self, now: Timestamp) -> Option<Ended> {
        let identity = self.identity.as_ref()?;
        let revoked = &self.auth.keyward.core.revoked;
        if revoked.contains(&identity.session_id) {
            return Some(Ended::Revoked);
        }
        if let Some(org) = identity.org
            && revoked.org_role_changed(
                &identity.user_id,
                &org.to_string(),
                identity.org_role.as_deref(),
            )
        {
            return Some(Ended::RoleChanged);
        }
        (now >= identity.token_expires_at).then_some(Ended::Expired)
    }

    /// Resolves when the connection must end, and why; a visitor's never does. Cancel-safe:
    /// `select!` it beside the socket's reads, and close the socket when it resolves (with
    /// [`Ended::code`] as the close frame's reason).
    pub async fn ended(&mut self) -> Ended {
        loop {
            #[allow(clippy::disallowed_methods)] // an edge: a live connection's clock
            let now = Timestamp::now();
            if let Some(why) = self.standing(now) {
                return why;
            }
            let Some(identity) = &self.identity else {
                return std::future::pending().await;
            };
            let left = identity
                .token_expires_at
                .millis()
                .saturating_sub(now.millis());
            let wait = Duration::from_millis(u64::try_from(left).unwrap_or(0)).min(RECHECK);
            // The sender lives in the server's core, which this connection keeps alive: the
            // channel does not close.
            tokio::select! {
                _ = self.changes.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrgId, SessionId, UserId};
    use crate::testing::TestDb;

    /// Someone acting for an organization as `role`, or for themselves.
    fn identity(role: Option<&str>) -> TicketIdentity {
        let t = Timestamp::from_millis(1_000_000);
        TicketIdentity {
            user_id: UserId::new(t, [1; 10]),
            session_id: SessionId::new(t, [2; 10]),
            device_id: None,
            org: role.map(|_| OrgId::new(t, [3; 10])),
            org_role: role.map(str::to_owned),
            token_expires_at: t,
        }
    }

    #[tokio::test]
    async fn default_scopes_follow_what_the_role_grants_over_the_collections() {
        let db = TestDb::new().await;
        let sync = SyncAuth::new(db.start().await, "wss://sync.example.com/ws")
            .collections(["todos", "billing"]);
        let viewer = sync.scopes_of(&identity(Some("viewer")));
        assert!(viewer.can_read("todos") && viewer.can_read("billing"));
        assert!(!viewer.can_write("todos") && !viewer.can_write("billing"));
        let billing = sync.scopes_of(&identity(Some("billing")));
        assert!(billing.can_write("billing") && !billing.can_write("todos"));
        let member = sync.scopes_of(&identity(Some("member")));
        assert!(member.can_write("todos") && member.can_write("billing"));
        let stranger = sync.scopes_of(&identity(Some("no-such-role")));
        assert_eq!(stranger, Scopes::none());
        // Only the collections the endpoint syncs, even for an owner (`*:*`).
        let owner = sync.scopes_of(&identity(Some("owner")));
        assert!(owner.can_write("todos") && !owner.can_read("elsewhere"));
        // For themselves: nothing, unless the endpoint says what a user's own data is.
        assert_eq!(sync.scopes_of(&identity(None)), Scopes::none());
        let personal = sync.personal(Scopes::none().write(["todos"]));
        let own = personal.scopes_of(&identity(None));
        assert!(own.can_write("todos") && !own.can_read("billing"));
    }

    #[test]
    fn a_wildcard_scope_covers_every_collection_and_writing_implies_reading() {
        let scopes = Scopes::none().write(["notes"]).read(["*"]);
        assert!(scopes.can_read("anything") && scopes.can_read("notes"));
        assert!(scopes.can_write("notes") && !scopes.can_write("anything"));
    }
}
