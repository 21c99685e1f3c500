//! Connect tickets: single-use stand-ins for the access token on a WebSocket or EventSource.

use super::{Error, Pool, Store};
use crate::domain::{DeviceId, OrgId, SessionId, UserId};

/// A connect ticket to store (only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRow {
    /// SHA-256 of the ticket.
    pub hash: Vec<u8>,
    /// The session that asked for it.
    pub session_id: SessionId,
    /// That session's user.
    pub user_id: UserId,
    /// The URL it is good at (normalised).
    pub url: String,
    /// Not valid from (ms).
    pub expires_at: i64,
    /// When the access token it was asked with expires (ms).
    pub token_expires_at: i64,
}

/// A ticket just used up, and the state of its session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RedeemedTicket {
    /// The session that asked for it.
    pub session_id: SessionId,
    /// That session's user.
    pub user_id: UserId,
    /// The session's device, when it is bound to one.
    pub device_id: Option<DeviceId>,
    /// The URL it is good at (normalised).
    pub url: String,
    /// Not valid from (ms).
    pub expires_at: i64,
    /// The session's user if the session is live (not revoked) and the user still exists;
    /// `None` otherwise.
    pub live_user: Option<UserId>,
    /// When the access token it was asked with expires (ms; `None` for a ticket from before
    /// this was kept).
    pub token_expires_at: Option<i64>,
    /// The organization the session acts for, if any.
    pub org_id: Option<OrgId>,
    /// The user's role in it, if they are still a member.
    pub org_role: Option<String>,
}

impl Store {
    /// Stores `ticket`, bound to its session's device (read from the session row in the same
    /// statement). `false`, and nothing stored, when the session is revoked or gone.
    pub async fn insert_connect_ticket(&self, ticket: &TicketRow) -> Result<bool, Error> {
        let inserted = on_writer!(self, pool => sqlx::query(
            "INSERT INTO connect_tickets (ticket_hash, session_id, user_id, device_id, url, \
             expires_at, token_expires_at) SELECT $1, id, user_id, device_id, $2, $3, $6 \
             FROM sessions WHERE id = $4 AND user_id = $5 AND revoked_at IS NULL",
        )
        .bind(&ticket.hash)
        .bind(&ticket.url)
        .bind(ticket.expires_at)
        .bind(ticket.session_id)
        .bind(ticket.user_id)
        .bind(ticket.token_expires_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(inserted == 1)
    }

    /// Uses up the ticket with `hash`: deletes it and returns what it was, with its session's
    /// state as of now. One statement, so of two redemptions at once exactly one gets the row.
    /// `None` when there is no such ticket (never issued, used, or purged).
    pub async fn redeem_connect_ticket(
        &self,
        hash: &[u8],
    ) -> Result<Option<RedeemedTicket>, Error> {
        let row = on_writer!(self, pool => sqlx::query_as(
            "DELETE FROM connect_tickets WHERE ticket_hash = $1 \
             RETURNING session_id, user_id, device_id, url, expires_at, token_expires_at, \
             (SELECT s.user_id FROM sessions s JOIN users u ON u.id = s.user_id \
              WHERE s.id = connect_tickets.session_id AND s.revoked_at IS NULL) AS live_user, \
             (SELECT s.org_id FROM sessions s \
              WHERE s.id = connect_tickets.session_id) AS org_id, \
             (SELECT m.role FROM sessions s JOIN org_members m \
              ON m.org_id = s.org_id AND m.user_id = s.user_id \
              WHERE s.id = connect_tickets.session_id) AS org_role",
        )
        .bind(hash)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Notes that `device_id` was seen at `now` (ms): a connection of its opened (written at
    /// most once a minute).
    pub async fn device_seen(&self, device_id: &DeviceId, now: i64) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "UPDATE devices SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1 - 60000",
        )
        .bind(now)
        .bind(device_id)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Deletes the tickets that expired before `before` (ms); returns how many.
    pub async fn purge_connect_tickets(&self, before: i64) -> Result<u64, Error> {
        let purged = on_writer!(self, pool => sqlx::query(
            "DELETE FROM connect_tickets WHERE expires_at < $1",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(purged)
    }
}
