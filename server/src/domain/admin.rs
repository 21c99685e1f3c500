//! The admin API's operations (`/auth/admin/…`, with an admin key): users searched and paged,
//! one user with everything that signs them in, and their sessions ended. Every change is
//! audited with the key that made it.

use keyward_proto::{ErrorCode, SessionsEnded, UserDetail, UserPage};

use super::accounts::user_view;
use super::audit::{self, AuditKind, Client, EventExt as _};
use super::core::Core;
use super::sessions;
use super::{ServerKeyId, Timestamp, UserId, b64, unb64};
use crate::Error;
use crate::store::Revoke;

/// A page holds 50 users unless asked otherwise, and at most 200.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;
/// A search is a prefix of an address or a name: 1 to 320 characters.
const MAX_QUERY_CHARS: usize = 320;

fn not_found() -> Error {
    Error::rejected(ErrorCode::NotFound, "No such user.")
}

fn bad_cursor() -> Error {
    Error::rejected(
        ErrorCode::InvalidRequest,
        "The cursor is not one this API handed out (pass `next_cursor` of the previous page as it \
         came).",
    )
}

/// Where a page starts: just after the user made at `created_at` (ms) with `id`. Opaque to
/// callers (base64url of `<ms>.<id>`), so its shape can change.
fn cursor_of(created_at: i64, id: &UserId) -> String {
    b64(format!("{created_at}.{id}").as_bytes())
}

fn parse_cursor(cursor: &str) -> Option<(i64, UserId)> {
    let text = String::from_utf8(unb64(cursor)?).ok()?;
    let (at, id) = text.split_once('.')?;
    Some((at.parse().ok()?, UserId::parse(id)?))
}

/// `GET /auth/admin/users`: users in the order they were made, `limit` at a time (1 to 200;
/// 50), after `cursor`; with `query`, only those whose address or name starts with it (any
/// case). Users made while an admin pages are never seen twice, and none made before the
/// first page is skipped.
pub async fn users(
    core: &Core,
    query: Option<&str>,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<UserPage, Error> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "`limit` is 1 to 200.",
        ));
    }
    let query = query.map(str::trim).filter(|q| !q.is_empty());
    if query.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "`query` is at most 320 characters.",
        ));
    }
    let prefix = query.map(str::to_lowercase);
    let after = cursor
        .filter(|c| !c.is_empty())
        .map(|c| parse_cursor(c).ok_or_else(bad_cursor))
        .transpose()?;
    // One more than asked: whether a next page exists, without a second query.
    let mut rows = core
        .store
        .search_users(
            prefix.as_deref(),
            after.as_ref().map(|(at, id)| (*at, id)),
            i64::from(limit) + 1,
        )
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = rows
        .last()
        .filter(|_| more)
        .map(|last| cursor_of(last.created_at, &last.id));
    Ok(UserPage {
        users: rows.iter().map(user_view).collect(),
        next_cursor,
    })
}

/// `GET /auth/admin/users/{id}`: the user, their live sessions, devices, passkeys, linked
/// providers and organizations.
pub async fn user(core: &Core, id: &str, now: Timestamp) -> Result<UserDetail, Error> {
    let id = UserId::parse(id).ok_or_else(not_found)?;
    let row = core.store.user(&id).await?.ok_or_else(not_found)?;
    #[cfg(feature = "oauth")]
    let identities = super::oauth::identities(core, &id).await?;
    #[cfg(not(feature = "oauth"))]
    let identities = Vec::new();
    Ok(UserDetail {
        user: user_view(&row),
        sessions: sessions::of_user(core, &id, None, now).await?,
        devices: super::devices::of_user(core, &id, None).await?,
        passkeys: super::passkeys::of_user(core, &id).await?,
        identities,
        orgs: super::orgs::list(core, &id).await?,
    })
}

/// Who made an admin change, as the audit log names them.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    /// The admin API, with this admin key.
    Key(&'a ServerKeyId),
    /// The `keyward` command, run by someone with the database's address and the secret.
    #[cfg(any(feature = "cli", test))]
    Cli,
}

impl By<'_> {
    fn detail(self) -> serde_json::Value {
        match self {
            Self::Key(id) => serde_json::json!({ "admin_key": id }),
            #[cfg(any(feature = "cli", test))]
            Self::Cli => serde_json::json!({ "by": "cli" }),
        }
    }
}

/// `DELETE /auth/admin/users/{id}/sessions`: ends every session of the user at once (their
/// access tokens are refused from the next request on).
pub async fn end_sessions(
    core: &Core,
    id: &str,
    by: By<'_>,
    client: &Client,
    now: Timestamp,
) -> Result<SessionsEnded, Error> {
    let id = UserId::parse(id).ok_or_else(not_found)?;
    core.store.user(&id).await?.ok_or_else(not_found)?;
    let event = audit::event(AuditKind::AdminEndedSessions, now, client)
        .user(&id)
        .detail(by.detail());
    let ended = sessions::revoke(core, &id, Revoke::All, "admin", &event, now).await?;
    Ok(SessionsEnded {
        ended: ended.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let id = UserId::new(Timestamp::from_millis(5), [7; 10]);
        assert_eq!(parse_cursor(&cursor_of(1234, &id)), Some((1234, id)));
        for bad in ["", "x", "MTIz", &b64(b"12.not-an-id"), &b64(b"x.y")] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}
