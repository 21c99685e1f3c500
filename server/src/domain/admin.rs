//! The admin API's operations (`/auth/admin/…`, with an admin key): users searched and paged,
//! one user with everything that signs them in, their sessions ended, their account disabled,
//! enabled or deleted, a password reset mailed; and the audit log read. Every change is
//! audited with who made it.

use keyward_proto::{
    AdminUser, AuditEvent, AuditPage, ErrorCode, SessionsEnded, UserDetail, UserDisabled, UserPage,
};

use super::accounts::user_view;
use super::audit::{self, AuditKind, Client, EventExt as _};
use super::core::Core;
use super::{OrgId, Random, ServerKeyId, SessionId, Timestamp, UserId, b64, unb64};
use super::{lifecycle, sessions};
use crate::Error;
use crate::store::{AuditEventRow, AuditRow, Deleted, Revoke, UserRow};

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

/// A user as administrators see them.
pub fn admin_view(row: &UserRow) -> AdminUser {
    let time = |ms: Option<i64>| ms.map(|ms| Timestamp::from_millis(ms).to_rfc3339());
    AdminUser {
        user: user_view(row),
        disabled_at: time(row.disabled_at),
        last_sign_in_at: time(row.last_sign_in_at),
    }
}

/// The limit of a page: 1 to 200, 50 when not given.
fn page_limit(limit: Option<u32>) -> Result<u32, Error> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "`limit` is 1 to 200.",
        ))
    }
}

/// A page of `limit` of `rows` (read one more than that: whether a next page exists, without a
/// second query), and the cursor of the next page, made of the page's last row.
fn page<T>(
    mut rows: Vec<T>,
    limit: u32,
    cursor: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = rows.last().filter(|_| more).map(cursor);
    (rows, next)
}

/// The user `id` names, or `not_found`.
async fn existing(core: &Core, id: &str) -> Result<UserRow, Error> {
    let id = UserId::parse(id).ok_or_else(not_found)?;
    core.store.user(&id).await?.ok_or_else(not_found)
}

/// Query parameter `name`'s time, when given: `invalid_request` unless it is RFC 3339.
fn time_parameter(text: Option<&str>, name: &str) -> Result<Option<Timestamp>, Error> {
    text.map(|t| {
        Timestamp::parse_rfc3339(t).ok_or_else(|| {
            Error::rejected(
                ErrorCode::InvalidRequest,
                format!("`{name}` is a time such as 2026-12-01T00:00:00Z."),
            )
        })
    })
    .transpose()
}

/// What `GET /auth/admin/users` asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsersQuery<'a> {
    /// Only users whose address or name starts with it (any case).
    pub query: Option<&'a str>,
    /// Only users made at or after this time (RFC 3339).
    pub created_since: Option<&'a str>,
    /// Only users made before this time (RFC 3339).
    pub created_before: Option<&'a str>,
    /// How many (1 to 200; 50).
    pub limit: Option<u32>,
    /// After this page's `next_cursor`.
    pub cursor: Option<&'a str>,
}

/// `GET /auth/admin/users`: users in the order they were made, `limit` at a time (1 to 200;
/// 50), after `cursor`; with `query`, only those whose address or name starts with it (any
/// case); with `created_since` and `created_before`, only those made in that time. Users made
/// while an admin pages are never seen twice, and none made before the first page is skipped.
pub async fn users(core: &Core, asked: UsersQuery<'_>) -> Result<UserPage, Error> {
    let limit = page_limit(asked.limit)?;
    let query = asked.query.map(str::trim).filter(|q| !q.is_empty());
    if query.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "`query` is at most 320 characters.",
        ));
    }
    let prefix = query.map(str::to_lowercase);
    let created = (
        time_parameter(asked.created_since, "created_since")?.map(Timestamp::millis),
        time_parameter(asked.created_before, "created_before")?.map(Timestamp::millis),
    );
    if let (Some(since), Some(before)) = created
        && since >= before
    {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "`created_since` must be before `created_before`: no user is made in that time.",
        ));
    }
    let after = asked
        .cursor
        .filter(|c| !c.is_empty())
        .map(|c| parse_cursor(c).ok_or_else(bad_cursor))
        .transpose()?;
    // One more than asked: whether a next page exists, without a second query.
    let rows = core
        .store
        .search_users(
            prefix.as_deref(),
            created,
            after.as_ref().map(|(at, id)| (*at, id)),
            i64::from(limit) + 1,
        )
        .await?;
    let (rows, next_cursor) = page(rows, limit, |last| cursor_of(last.created_at, &last.id));
    Ok(UserPage {
        users: rows.iter().map(admin_view).collect(),
        next_cursor,
    })
}

/// `GET /auth/admin/users/{id}`: the user, their live sessions, devices, passkeys, linked
/// providers and organizations.
pub async fn user(core: &Core, id: &str, now: Timestamp) -> Result<UserDetail, Error> {
    let row = existing(core, id).await?;
    let id = row.id;
    #[cfg(feature = "oauth")]
    let identities = super::oauth::identities(core, &id).await?;
    #[cfg(not(feature = "oauth"))]
    let identities = Vec::new();
    Ok(UserDetail {
        user: admin_view(&row),
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
    /// The admin API, with the session of this user (an administrator by their role in the
    /// admin organization).
    User(&'a UserId),
    /// The `keyward` command, run by someone with the database's address and the secret.
    #[cfg(any(feature = "cli", test))]
    Cli,
}

/// An admin change's circumstances: who makes it, from where, and when.
#[derive(Debug, Clone, Copy)]
pub struct Acting<'a> {
    /// Who.
    pub by: By<'a>,
    /// The client it came from (none for the CLI).
    pub client: &'a Client,
    /// When.
    pub now: Timestamp,
}

impl By<'_> {
    /// Who acted, as audit details record it.
    pub(crate) fn detail(self) -> serde_json::Value {
        match self {
            Self::Key(id) => serde_json::json!({ "admin_key": id }),
            Self::User(id) => serde_json::json!({ "admin_user": id }),
            #[cfg(any(feature = "cli", test))]
            Self::Cli => serde_json::json!({ "by": "cli" }),
        }
    }
}

/// `DELETE /auth/admin/users/{id}/sessions`: ends every session of the user at once (their
/// access tokens are refused from the next request on).
pub async fn end_sessions(core: &Core, id: &str, act: &Acting<'_>) -> Result<SessionsEnded, Error> {
    let id = existing(core, id).await?.id;
    let event = admin_event(AuditKind::AdminEndedSessions, &id, act);
    let ended = sessions::revoke(core, &id, Revoke::All, "admin", &event, act.now).await?;
    Ok(SessionsEnded {
        ended: ended.len() as u64,
    })
}

/// `POST /auth/admin/users/{id}/disable`: the account cannot sign in any more, and its sessions
/// end at once (their access tokens are refused from the next request on, on every server
/// within a second). Disabling a disabled account changes nothing.
pub async fn disable(core: &Core, id: &str, act: &Acting<'_>) -> Result<UserDisabled, Error> {
    let (user, ended) = set_disabled(core, id, true, act).await?;
    Ok(UserDisabled {
        user,
        ended: ended.len() as u64,
    })
}

/// `POST /auth/admin/users/{id}/enable`: a disabled account may sign in again (its ended
/// sessions stay ended).
pub async fn enable(core: &Core, id: &str, act: &Acting<'_>) -> Result<AdminUser, Error> {
    Ok(set_disabled(core, id, false, act).await?.0)
}

/// Disables or enables the user `id`: the user then, and the sessions that ended.
async fn set_disabled(
    core: &Core,
    id: &str,
    disabled: bool,
    act: &Acting<'_>,
) -> Result<(AdminUser, Vec<SessionId>), Error> {
    let id = UserId::parse(id).ok_or_else(not_found)?;
    let kind = if disabled {
        AuditKind::AdminDisabledUser
    } else {
        AuditKind::AdminEnabledUser
    };
    let event = admin_event(kind, &id, act);
    let ended = core
        .store
        .set_user_disabled(&id, disabled, act.now.millis(), &event)
        .await?
        .ok_or_else(not_found)?;
    core.revoked
        .insert(ended.iter(), act.now, core.settings.access_ttl);
    let row = core.store.user(&id).await?.ok_or_else(not_found)?;
    Ok((admin_view(&row), ended))
}

/// The audit event of an admin's change of `kind` to `user`, naming who made it.
fn admin_event(kind: AuditKind, user: &UserId, act: &Acting<'_>) -> AuditRow {
    audit::event(kind, act.now, act.client)
        .user(user)
        .detail(act.by.detail())
}

/// `DELETE /auth/admin/users/{id}`: deletes the account with its sessions (ended at once on
/// every server), devices, passkeys, linked providers, second factors, memberships and the
/// organizations it was the only member of. Refused with `last_owner` while it is the last
/// owner of an organization with other members: ownership moves first. The audit log keeps
/// what happened (its retention purges it).
pub async fn delete(core: &Core, id: &str, act: &Acting<'_>) -> Result<(), Error> {
    let row = existing(core, id).await?;
    let mut event = admin_event(AuditKind::AdminDeletedUser, &row.id, act);
    let mut detail = act.by.detail();
    if let Some(fields) = detail.as_object_mut() {
        fields.insert("email".into(), row.email.as_str().into());
    }
    event = event.detail(detail);
    let now = act.now;
    // Each membership that ends with the account is announced as any removal is.
    let removed = |org: &OrgId| {
        let mut detail = act.by.detail();
        if let Some(fields) = detail.as_object_mut() {
            fields.insert("org".into(), org.to_string().into());
            fields.insert("member".into(), row.id.to_string().into());
            fields.insert("reason".into(), "user_deleted".into());
        }
        admin_event(AuditKind::MemberRemoved, &row.id, act).detail(detail)
    };
    // An organization they were the only member of goes with them, recorded as an owner's
    // deletion of it is.
    let gone = |org: &OrgId| {
        let mut detail = act.by.detail();
        if let Some(fields) = detail.as_object_mut() {
            fields.insert("org".into(), org.to_string().into());
            fields.insert("reason".into(), "user_deleted".into());
        }
        admin_event(AuditKind::OrgDeleted, &row.id, act).detail(detail)
    };
    match core
        .store
        .delete_user(&row.id, now.millis(), &event, (removed, gone))
        .await?
    {
        Deleted::Done(sessions) => {
            core.revoked
                .insert(sessions.iter(), now, core.settings.access_ttl);
            Ok(())
        }
        Deleted::NotFound => Err(not_found()),
        Deleted::LastOwner(orgs) => Err(Error::rejected(
            ErrorCode::LastOwner,
            format!(
                "This user is the last owner of organizations with other members ({}): make \
                 someone else owner of each first.",
                orgs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// `POST /auth/admin/users/{id}/password-reset`: mails the user a password reset link (valid
/// as the ones they ask for themselves). An administrator never sets a password.
pub async fn start_password_reset(
    core: &Core,
    id: &str,
    act: &Acting<'_>,
    random: &Random,
) -> Result<(), Error> {
    let row = existing(core, id).await?;
    lifecycle::mail_reset(core, &row, act.now, random).await?;
    let event = admin_event(AuditKind::AdminStartedPasswordReset, &row.id, act);
    core.store.insert_audit(&event).await?;
    Ok(())
}

/// What `GET /auth/admin/audit` is asked for.
#[derive(Debug, Default)]
pub struct AuditQuery<'a> {
    /// Only events of this user.
    pub user_id: Option<&'a str>,
    /// Only events of this kind (`sign_in`, `admin_disabled_user`, …).
    pub kind: Option<&'a str>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<&'a str>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<&'a str>,
    /// How many (1 to 200; 50).
    pub limit: Option<u32>,
}

/// `GET /auth/admin/audit`: the audit log, newest first, a page at a time, filtered by user,
/// kind and time.
pub async fn audit_log(core: &Core, query: AuditQuery<'_>) -> Result<AuditPage, Error> {
    let limit = page_limit(query.limit)?;
    let invalid = |what: &str| Error::rejected(ErrorCode::InvalidRequest, what.to_owned());
    let user = query
        .user_id
        .map(|id| UserId::parse(id).ok_or_else(|| invalid("`user_id` is not a user id.")))
        .transpose()?;
    let kind = query
        .kind
        .filter(|k| !k.is_empty())
        .map(|k| {
            (k.len() <= 64 && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                .then_some(k)
                .ok_or_else(|| invalid("`kind` is an event kind such as `sign_in`."))
        })
        .transpose()?;
    let since = time_parameter(query.since, "since")?;
    let before = query
        .cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            unb64(c)
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(bad_cursor)
        })
        .transpose()?;
    let rows = core
        .store
        .audit_page(
            user.as_ref(),
            kind,
            since.map(Timestamp::millis),
            before,
            i64::from(limit) + 1,
        )
        .await?;
    let (rows, next_cursor) = page(rows, limit, |last| b64(last.id.to_string().as_bytes()));
    Ok(AuditPage {
        events: rows.into_iter().map(audit_event).collect(),
        next_cursor,
    })
}

fn audit_event(row: AuditEventRow) -> AuditEvent {
    AuditEvent {
        id: row.id,
        at: Timestamp::from_millis(row.at).to_rfc3339(),
        kind: row.kind,
        user_id: row.user_id,
        session_id: row.session_id,
        ip: row.ip,
        user_agent: row.user_agent,
        detail: row
            .detail
            .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok()),
    }
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
