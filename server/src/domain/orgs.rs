//! Organizations, members and roles (DESIGN.md, "Organizations and roles").
//!
//! - **Roles** are ordered owner > admin > member > billing > viewer. Each grants permissions,
//!   `resource:action` strings with `*` wildcards matched by whole segments ([`permits`]):
//!   owner and admin `*:*`; member `*:read`, `*:write`; billing `*:read`, `billing:*`; viewer
//!   `*:read`.
//! - **Who may do what**: any member reads the organization and its members; admins and owners
//!   update it; only an owner deletes it or transfers the ownership. Changing or removing a
//!   member needs admin or more, never grants a role above one's own, and never touches someone
//!   at or above one's own level (an admin cannot touch an owner or another admin); owners may
//!   change anyone. Anyone may leave. An organization always keeps an owner, checked inside the
//!   transaction.
//! - To anyone outside it, an organization does not exist (`not_found`).

use std::collections::BTreeMap;

use keyward_proto::{
    ChangeRole, CreateOrg, ErrorCode, Member, Org, OrgAnswer, OrgMembership, UpdateOrg, User,
};

use super::audit::{self, AuditKind, Client, EventExt as _};
use super::core::Core;
use super::tokens::AccessClaims;
use super::{OrgId, Random, Timestamp, UserId};
use crate::Error;
use crate::store::{Changed, MemberChange, MemberRow, OrgChanges, OrgRoleRow, OrgRow};

/// The built-in roles, highest first, with their permissions.
pub const ROLES: [(&str, &[&str]); 5] = [
    ("owner", &["*:*"]),
    ("admin", &["*:*"]),
    ("member", &["*:read", "*:write"]),
    ("billing", &["*:read", "billing:*"]),
    ("viewer", &["*:read"]),
];

/// A role's level: 5 for owner down to 1 for viewer; `None` for an unknown role.
pub fn level(role: &str) -> Option<usize> {
    ROLES
        .iter()
        .position(|(name, _)| *name == role)
        .map(|i| ROLES.len() - i)
}

/// The permissions `role` grants (none for an unknown role).
pub fn permissions(role: &str) -> &'static [&'static str] {
    ROLES
        .iter()
        .find(|(name, _)| *name == role)
        .map_or(&[], |(_, granted)| *granted)
}

/// Whether the permission `granted` covers `wanted`: both `resource:action`, each segment equal
/// or `*` in `granted`. Whole segments only: `todo:*` never grants `todos:read`; anything that
/// is not two non-empty segments grants and is granted nothing.
pub fn permits(granted: &str, wanted: &str) -> bool {
    let split = |p: &str| -> Option<(String, String)> {
        let (resource, action) = p.split_once(':')?;
        let fine = |s: &str| !s.is_empty() && !s.contains(':');
        (fine(resource) && fine(action)).then(|| (resource.to_owned(), action.to_owned()))
    };
    let (Some((gr, ga)), Some((wr, wa))) = (split(granted), split(wanted)) else {
        return false;
    };
    let segment = |g: &str, w: &str| g == "*" || g == w;
    segment(&gr, &wr) && segment(&ga, &wa)
}

/// Whether `role` grants `wanted`.
pub fn role_permits(role: &str, wanted: &str) -> bool {
    permissions(role)
        .iter()
        .any(|granted| permits(granted, wanted))
}

fn not_found() -> Error {
    Error::rejected(ErrorCode::NotFound, "No such organization.")
}

fn forbidden(what: &str) -> Error {
    Error::rejected(
        ErrorCode::Forbidden,
        format!("Your role in this organization does not allow {what}."),
    )
}

fn invalid(message: &str) -> Error {
    Error::rejected(ErrorCode::InvalidRequest, message.to_owned())
}

/// Whether `actor` may change or remove `target` (both roles).
fn may_touch(actor: &str, target: &str) -> bool {
    let (Some(actor), Some(target)) = (level(actor), level(target)) else {
        return false;
    };
    let admin = level("admin").unwrap_or(usize::MAX);
    let owner = level("owner").unwrap_or(usize::MAX);
    actor >= admin && (actor == owner || target < actor)
}

fn org_view(row: &OrgRow) -> Org {
    Org {
        id: row.id.to_string(),
        name: row.name.clone(),
        slug: row.slug.clone(),
        metadata: serde_json::from_str(&row.metadata).unwrap_or_default(),
        created_at: Timestamp::from_millis(row.created_at).to_rfc3339(),
    }
}

fn answer(row: &OrgRoleRow) -> OrgAnswer {
    OrgAnswer {
        org: org_view(&row.org()),
        role: row.role.clone(),
    }
}

fn name_of(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid(
            "An organization's name is 1 to 100 characters, without control characters.",
        ));
    }
    Ok(name.to_owned())
}

fn slug_of(slug: &str) -> Result<String, Error> {
    let fine = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !(2..=48).contains(&slug.len())
        || !slug.chars().all(fine)
        || slug.starts_with('-')
        || slug.ends_with('-')
    {
        return Err(invalid(
            "A slug is 2 to 48 lower-case letters, digits and -, not starting or ending with -.",
        ));
    }
    Ok(slug.to_owned())
}

/// A slug made from `name`: lower-case letters and digits, the rest as single `-`.
fn slug_from(name: &str, random: &Random) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let mut slug: String = slug.trim_end_matches('-').chars().take(40).collect();
    if slug.len() < 2 {
        slug = "org".into();
    }
    // A short random tail: names repeat, slugs may not.
    let tail: String = super::b64(&random.bytes::<4>())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(5)
        .collect();
    format!("{}-{tail}", slug.trim_end_matches('-'))
}

fn metadata_of(metadata: Option<BTreeMap<String, String>>) -> Result<String, Error> {
    let json = serde_json::to_string(&metadata.unwrap_or_default())
        .map_err(|err| Error::internal(format!("metadata: {err}")))?;
    if json.len() > 8192 {
        return Err(invalid("Metadata is at most 8 KiB as JSON."));
    }
    Ok(json)
}

fn org_id(id: &str) -> Result<OrgId, Error> {
    OrgId::parse(id).ok_or_else(not_found)
}

/// The organization `id` and the caller's role in it; `not_found` for anyone outside it.
async fn membership(core: &Core, id: &str, user: &UserId) -> Result<OrgRoleRow, Error> {
    core.store
        .org_role(&org_id(id)?, user)
        .await?
        .ok_or_else(not_found)
}

/// `POST /auth/orgs`: a new organization; the caller is its owner.
pub async fn create(
    core: &Core,
    claims: &AccessClaims,
    request: CreateOrg,
    client: &Client,
    (now, random): (Timestamp, &Random),
) -> Result<OrgAnswer, Error> {
    let name = name_of(&request.name)?;
    let slug = match request.slug {
        Some(slug) => slug_of(&slug)?,
        None => slug_from(&name, random),
    };
    let row = OrgRow {
        id: OrgId::new(now, random.bytes()),
        name,
        slug,
        metadata: metadata_of(request.metadata)?,
        created_at: now.millis(),
    };
    let event = audit::event(AuditKind::OrgCreated, now, client)
        .user(&claims.sub)
        .detail(serde_json::json!({ "org": row.id.to_string() }));
    if !core.store.create_org(&row, &claims.sub, &event).await? {
        return Err(Error::rejected(
            ErrorCode::SlugTaken,
            "Another organization has this slug.",
        ));
    }
    Ok(OrgAnswer {
        org: org_view(&row),
        role: "owner".into(),
    })
}

/// `GET /auth/orgs`: the caller's organizations and roles.
pub async fn list(core: &Core, user: &UserId) -> Result<Vec<OrgMembership>, Error> {
    let rows = core.store.orgs_of(user).await?;
    Ok(rows
        .iter()
        .map(|row| OrgMembership {
            org: org_view(&row.org()),
            role: row.role.clone(),
        })
        .collect())
}

/// `GET /auth/orgs/{id}` (members).
pub async fn get(core: &Core, user: &UserId, id: &str) -> Result<OrgAnswer, Error> {
    Ok(answer(&membership(core, id, user).await?))
}

/// `PATCH /auth/orgs/{id}` (admin or owner).
pub async fn update(
    core: &Core,
    claims: &AccessClaims,
    id: &str,
    request: UpdateOrg,
    client: &Client,
    now: Timestamp,
) -> Result<OrgAnswer, Error> {
    let org = org_id(id)?;
    let changes = OrgChanges {
        name: request.name.as_deref().map(name_of).transpose()?,
        slug: request.slug.as_deref().map(slug_of).transpose()?,
        metadata: request.metadata.map(|m| metadata_of(Some(m))).transpose()?,
    };
    let event = audit::event(AuditKind::OrgUpdated, now, client)
        .user(&claims.sub)
        .detail(serde_json::json!({ "org": org.to_string() }));
    let allowed = |role: &str| level(role) >= level("admin");
    let who = (&org, &claims.sub);
    match core
        .store
        .update_org(who, &changes, allowed, (now.millis(), &event))
        .await?
    {
        Ok(row) => Ok(answer(&row)),
        Err(refused) => Err(refusal(refused, "changing the organization")),
    }
}

/// `DELETE /auth/orgs/{id}` (owner).
pub async fn delete(
    core: &Core,
    claims: &AccessClaims,
    id: &str,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let org = org_id(id)?;
    let event = audit::event(AuditKind::OrgDeleted, now, client)
        .user(&claims.sub)
        .detail(serde_json::json!({ "org": org.to_string() }));
    match core.store.delete_org((&org, &claims.sub), &event).await? {
        Changed::Done => Ok(()),
        refused => Err(refusal(refused, "deleting the organization")),
    }
}

/// The error for a change the store did not make.
fn refusal(changed: Changed, what: &str) -> Error {
    match changed {
        Changed::NotFound | Changed::Done => not_found(),
        Changed::Refused => forbidden(what),
        Changed::LastOwner => Error::rejected(
            ErrorCode::LastOwner,
            "An organization always keeps an owner: make someone else owner first.",
        ),
        Changed::Taken => {
            Error::rejected(ErrorCode::SlugTaken, "Another organization has this slug.")
        }
        Changed::NotMember => Error::rejected(
            ErrorCode::NotAMember,
            "Only a member of the organization can become its owner: invite them first.",
        ),
    }
}

/// `GET /auth/orgs/{id}/members` (members).
pub async fn members(core: &Core, user: &UserId, id: &str) -> Result<Vec<Member>, Error> {
    let row = membership(core, id, user).await?;
    let rows = core.store.org_members(&row.id).await?;
    Ok(rows.iter().map(member_view).collect())
}

fn member_view(row: &MemberRow) -> Member {
    Member {
        user: User {
            id: row.user_id.to_string(),
            email: row.email.clone(),
            email_verified: row.email_verified_at.is_some(),
            name: row.name.clone(),
            created_at: Timestamp::from_millis(row.user_created_at).to_rfc3339(),
        },
        role: row.role.clone(),
        joined_at: Timestamp::from_millis(row.joined_at).to_rfc3339(),
    }
}

/// `PATCH` (a new role) or `DELETE` (out; oneself: leave) `/auth/orgs/{id}/members/{user_id}`.
pub async fn change_member(
    core: &Core,
    claims: &AccessClaims,
    (id, user_id): (&str, &str),
    change: Option<ChangeRole>,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let org = org_id(id)?;
    let target = UserId::parse(user_id).ok_or_else(not_found)?;
    let leaving = change.is_none() && target == claims.sub;
    let change = match change {
        Some(ChangeRole { role }) => {
            if level(&role).is_none() {
                return Err(invalid(
                    "Unknown role: owner, admin, member, billing or viewer.",
                ));
            }
            MemberChange::Role(role)
        }
        None => MemberChange::Remove,
    };
    let new_level = match &change {
        MemberChange::Role(role) => level(role),
        MemberChange::Remove => None,
    };
    let allowed = move |actor: &str, target: &str| {
        leaving || (may_touch(actor, target) && new_level <= level(actor))
    };
    let (kind, detail) = match &change {
        MemberChange::Role(role) => (
            AuditKind::MemberRoleChanged,
            serde_json::json!({ "org": org.to_string(), "member": target.to_string(), "role": role }),
        ),
        MemberChange::Remove => (
            AuditKind::MemberRemoved,
            serde_json::json!({ "org": org.to_string(), "member": target.to_string() }),
        ),
    };
    let event = audit::event(kind, now, client)
        .user(&claims.sub)
        .detail(detail);
    let who = (&org, &claims.sub, &target);
    match core
        .store
        .change_member(who, &change, allowed, &event)
        .await?
    {
        Changed::Done => Ok(()),
        refused => Err(refusal(refused, "this change")),
    }
}

/// `POST /auth/orgs/{id}/transfer` (owner): `user_id` becomes owner, the caller admin.
pub async fn transfer(
    core: &Core,
    claims: &AccessClaims,
    id: &str,
    user_id: &str,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let org = org_id(id)?;
    let target = UserId::parse(user_id).ok_or_else(not_found)?;
    // To oneself: nothing changes (answered as done, written nowhere).
    let detail = serde_json::json!({
        "org": org.to_string(), "member": target.to_string(), "role": "owner",
        "transfer": true, "previous_owner_role": "admin",
    });
    let event = audit::event(AuditKind::MemberRoleChanged, now, client)
        .user(&claims.sub)
        .detail(detail);
    match core
        .store
        .transfer_org((&org, &claims.sub, &target), &event)
        .await?
    {
        Changed::Done => Ok(()),
        refused => Err(refusal(refused, "transferring the ownership")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_match_whole_segments() {
        assert!(permits("todos:*", "todos:read"));
        assert!(permits("*:read", "todos:read"));
        assert!(permits("*:*", "billing:update"));
        assert!(!permits("todo:*", "todos:read"));
        assert!(!permits("todos:read", "todos:write"));
        assert!(!permits("todos", "todos:read"));
        assert!(!permits("todos:*", "todos"));
        assert!(!permits("*:*", "a:b:c"));
        assert!(!permits(":*", ":read"));
        assert!(role_permits("billing", "billing:update"));
        assert!(!role_permits("viewer", "todos:write"));
        assert!(!role_permits("nobody", "todos:read"));
    }

    proptest::proptest! {
        /// Wildcards grant every value of their segment, and only whole segments.
        #[test]
        fn wildcards_match_whole_segments(
            resource in "[a-z_]{1,10}",
            action in "[a-z_]{1,10}",
            other in "[a-z_]{1,10}",
        ) {
            let wanted = format!("{resource}:{action}");
            for granted in ["*:*".to_owned(), format!("{resource}:*"), format!("*:{action}"), wanted.clone()] {
                proptest::prop_assert!(permits(&granted, &wanted), "{granted} grants {wanted}");
            }
            if other != resource {
                // `other` may be a prefix of `resource` (`todo` and `todos`): still no grant.
                let (any, same) = (format!("{other}:*"), format!("{other}:{action}"));
                proptest::prop_assert!(!permits(&any, &wanted));
                proptest::prop_assert!(!permits(&same, &wanted));
            }
            if other != action {
                let granted = format!("*:{other}");
                proptest::prop_assert!(!permits(&granted, &wanted));
            }
        }

        /// Anything that is not `resource:action` grants, and is granted, nothing.
        #[test]
        fn malformed_permissions_grant_nothing(text in "[a-z:*]{0,12}") {
            let pair = text.split(':').count() == 2 && text.split(':').all(|s| !s.is_empty());
            if !pair {
                proptest::prop_assert!(!permits(&text, "todos:read"));
                proptest::prop_assert!(!permits("*:*", &text));
            }
        }
    }

    #[test]
    fn roles_are_ordered_and_nobody_touches_their_equals_but_owners() {
        assert!(level("owner") > level("admin") && level("admin") > level("member"));
        assert!(level("member") > level("billing") && level("billing") > level("viewer"));
        assert!(may_touch("owner", "owner"));
        assert!(may_touch("admin", "member"));
        assert!(!may_touch("admin", "admin"));
        assert!(!may_touch("admin", "owner"));
        assert!(!may_touch("member", "viewer"));
    }
}
