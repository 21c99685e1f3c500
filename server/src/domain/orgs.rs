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

use std::time::Duration;

pub use keyward_proto::permits;
use keyward_proto::{
    ChangeRole, CreateOrg, ErrorCode, Invitation, Invite, Member, Org, OrgAnswer, OrgMembership,
    UpdateOrg, User, is_permission,
};

use super::audit::{self, AuditKind, Client, EventExt as _};
use super::core::Core;
use super::email::Email;
use super::limits::{self, Limit};
use super::mail::{self, MailKind};
use super::tokens::AccessClaims;
use super::{OrgId, Random, Timestamp, UserId};
use crate::Error;
use crate::store::{
    Accepted, Changed, InvitationRow, MemberChange, MemberRow, OrgChanges, OrgRoleRow, OrgRow,
};

/// How long an invitation works.
const INVITATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Invitations one user sends in an hour (each is a mail to someone else's address).
pub const INVITES_PER_USER: Limit = Limit {
    name: "invite:user",
    max: 50,
    window: Duration::from_secs(3600),
};

/// The built-in roles, highest first, with their permissions.
pub const ROLES: [(&str, &[&str]); 5] = [
    ("owner", &["*:*"]),
    ("admin", &["*:*"]),
    ("member", &["*:read", "*:write"]),
    ("billing", &["*:read", "billing:*"]),
    ("viewer", &["*:read"]),
];

/// A role the app defines (`[roles.<name>]` in keyward.toml): its own permissions and those of
/// the role it inherits, at that role's level (who may grant it, whom it may change).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomRole {
    /// Lower-case letters, digits, `_` and `-`, starting with a letter; not a built-in name.
    pub name: String,
    /// `resource:action` permissions, `*` standing for any segment.
    pub permissions: Vec<String>,
    /// The role whose permissions and level it takes [default: none, at the viewer's level].
    pub inherits: Option<String>,
}

/// The roles in force: the built-in ones and the app's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// Name, level (5 for owner down to 1 for viewer) and every permission, inherited included.
    roles: Vec<(String, usize, Vec<String>)>,
}

impl Default for Roles {
    fn default() -> Self {
        Self::built_in()
    }
}

impl Roles {
    /// The built-in roles alone.
    pub fn built_in() -> Self {
        let n = ROLES.len();
        Self {
            roles: ROLES
                .iter()
                .enumerate()
                .map(|(i, (name, granted))| {
                    let granted = granted.iter().map(|p| (*p).to_owned()).collect();
                    ((*name).to_owned(), n - i, granted)
                })
                .collect(),
        }
    }

    /// The built-in roles and `custom`; a configuration error names the first role that is
    /// malformed, clashes with another, inherits an unknown role or, through others, itself.
    pub fn new(custom: &[CustomRole]) -> Result<Self, Error> {
        let refuse = |reason: String| Error::Config {
            setting: "roles",
            reason,
        };
        let mut roles = Self::built_in();
        let mut pending: Vec<&CustomRole> = custom.iter().collect();
        for role in &pending {
            let fine_name = role.name.len() <= 32
                && role.name.starts_with(|c: char| c.is_ascii_lowercase())
                && role
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !fine_name {
                return Err(refuse(format!(
                    "role `{}`: a name is 1 to 32 lower-case letters, digits, _ and -, starting with a letter",
                    role.name
                )));
            }
            if custom.iter().filter(|r| r.name == role.name).count() > 1
                || roles.level(&role.name).is_some()
            {
                return Err(refuse(format!("role `{}` is defined twice", role.name)));
            }
            if role.inherits.as_deref() == Some("owner") {
                return Err(refuse(format!(
                    "role `{}`: no role inherits owner (an organization's owners are its owners)",
                    role.name
                )));
            }
            if let Some(bad) = role.permissions.iter().find(|p| !is_permission(p)) {
                return Err(refuse(format!(
                    "role `{}`: `{bad}` is not a resource:action permission",
                    role.name
                )));
            }
        }
        // Each round adds the roles whose parent is known; a round that adds none leaves roles
        // that inherit an unknown role or each other.
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|role| {
                let (level, mut granted) = match &role.inherits {
                    None => (1, Vec::new()),
                    Some(parent) => match roles.find(parent) {
                        Some((_, level, granted)) => (*level, granted.clone()),
                        None => return true,
                    },
                };
                granted.extend(role.permissions.iter().cloned());
                granted.sort();
                granted.dedup();
                roles.roles.push((role.name.clone(), level, granted));
                false
            });
            if let Some(stuck) = pending.first().filter(|_| pending.len() == before) {
                return Err(refuse(format!(
                    "role `{}` inherits an unknown role, or itself through others",
                    stuck.name
                )));
            }
        }
        Ok(roles)
    }

    fn find(&self, role: &str) -> Option<&(String, usize, Vec<String>)> {
        self.roles.iter().find(|(name, _, _)| name == role)
    }

    /// A role's level: 5 for owner down to 1 for viewer (a custom role: its parent's);
    /// `None` for an unknown role.
    pub fn level(&self, role: &str) -> Option<usize> {
        self.find(role).map(|(_, level, _)| *level)
    }

    /// The permissions `role` grants, inherited ones included (none for an unknown role).
    pub fn permissions(&self, role: &str) -> &[String] {
        self.find(role).map_or(&[], |(_, _, granted)| granted)
    }

    /// Whether `role` grants `wanted`.
    pub fn permits(&self, role: &str, wanted: &str) -> bool {
        self.permissions(role)
            .iter()
            .any(|granted| permits(granted, wanted))
    }

    /// Every role's name, highest level first.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<(&str, usize)> = self
            .roles
            .iter()
            .map(|(n, l, _)| (n.as_str(), *l))
            .collect();
        names.sort_by_key(|(_, level)| std::cmp::Reverse(*level));
        names.into_iter().map(|(n, _)| n).collect()
    }

    /// Whether `role` runs the organization with its owners: admin's level or above.
    pub fn is_admin(&self, role: &str) -> bool {
        self.level(role).is_some() && self.level(role) >= self.level("admin")
    }

    /// Whether `giver` may give `role` (a member's new role, an invitation's): an admin or more
    /// giving a known role at most their own.
    pub fn may_give(&self, giver: &str, role: &str) -> bool {
        self.is_admin(giver) && self.level(role).is_some() && self.level(role) <= self.level(giver)
    }

    /// Whether `actor` may change or remove `target` (both roles): admins and owners may, an
    /// owner anyone, an admin only those below their level.
    ///
    /// A target whose role is no longer configured (a custom role renamed or dropped) is below
    /// everyone, so that an admin can still change or remove them.
    fn may_touch(&self, actor: &str, target: &str) -> bool {
        let (Some(level), target) = (self.level(actor), self.level(target).unwrap_or(0)) else {
            return false;
        };
        self.is_admin(actor) && (actor == "owner" || target < level)
    }
}

fn unknown_role(roles: &Roles) -> Error {
    Error::rejected(
        ErrorCode::UnknownRole,
        format!("Unknown role: the roles are {}.", roles.names().join(", ")),
    )
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
    let Some(name) = super::fit_name(name, 100).filter(|name| !name.is_empty()) else {
        return Err(invalid(
            "An organization's name is 1 to 100 characters, without control or invisible formatting characters.",
        ));
    };
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
    let roles = &core.roles;
    let allowed = |role: &str| roles.is_admin(role);
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
    // Every membership ends with it, each announced as any removal is.
    let removed = |member: &UserId| {
        let detail = serde_json::json!({
            "org": org.to_string(),
            "member": member.to_string(),
            "reason": "org_deleted",
        });
        audit::event(AuditKind::MemberRemoved, now, client)
            .user(&claims.sub)
            .detail(detail)
    };
    match core
        .store
        .delete_org((&org, &claims.sub), &event, removed)
        .await?
    {
        Changed::Done => roles_changed(core, now).await,
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
        Changed::AlreadyMember => Error::rejected(
            ErrorCode::AlreadyAMember,
            "This address belongs to a member of the organization already.",
        ),
    }
}

/// Makes every server here refuse, at once, tokens that carry a role changed a moment ago
/// (the others read it within a second).
/// The change is committed by then: a failed read here is left to the background sync (within
/// a second), not answered as a failure.
async fn roles_changed(core: &Core, now: Timestamp) -> Result<(), Error> {
    let synced = core
        .revoked
        .sync(&core.store, now, core.settings.access_ttl)
        .await;
    if let Err(err) = synced {
        tracing::warn!(%err, "role change committed; the token checker catches up on its next sync");
    }
    Ok(())
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
            if core.roles.level(&role).is_none() {
                return Err(unknown_role(&core.roles));
            }
            MemberChange::Role(role)
        }
        None => MemberChange::Remove,
    };
    let roles = &core.roles;
    let given = match &change {
        MemberChange::Role(role) => Some(role.clone()),
        MemberChange::Remove => None,
    };
    let allowed = move |actor: &str, target: &str| {
        leaving
            || (roles.may_touch(actor, target)
                && given
                    .as_deref()
                    .is_none_or(|role| roles.may_give(actor, role)))
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
        Changed::Done => roles_changed(core, now).await,
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
    // Not a user id: nobody who could be a member (the organization may well be there).
    let target = UserId::parse(user_id).ok_or_else(|| refusal(Changed::NotMember, ""))?;
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
        Changed::Done => roles_changed(core, now).await,
        refused => Err(refusal(refused, "transferring the ownership")),
    }
}

/// `POST /auth/orgs/{id}/activate` (members): the session acts for the organization; its next
/// tokens (the client refreshes) carry `org`, `org_role` and the role's permissions.
pub async fn activate(
    core: &Core,
    claims: &AccessClaims,
    id: &str,
    client: &Client,
    now: Timestamp,
) -> Result<OrgAnswer, Error> {
    let row = membership(core, id, &claims.sub).await?;
    if !core
        .store
        .set_active_org(&claims.sid, &claims.sub, &row.id)
        .await?
    {
        return Err(not_found());
    }
    let event = audit::event(AuditKind::OrgActivated, now, client)
        .user(&claims.sub)
        .session(&claims.sid)
        .detail(serde_json::json!({ "org": row.id.to_string() }));
    core.store.insert_audit(&event).await?;
    Ok(answer(&row))
}

fn invitation_view(row: &InvitationRow) -> Invitation {
    Invitation {
        id: row.id.clone(),
        org_id: row.org_id.to_string(),
        email: row.email.clone(),
        role: row.role.clone(),
        invited_by: row.invited_by.to_string(),
        created_at: Timestamp::from_millis(row.created_at).to_rfc3339(),
        expires_at: Timestamp::from_millis(row.expires_at).to_rfc3339(),
    }
}

/// `POST /auth/orgs/{id}/invitations` (admin or owner; a role up to one's own): mails a
/// single-use link, working 7 days, to `request.email`. A pending invitation to the address is
/// replaced, its link dead.
pub async fn invite(
    core: &Core,
    claims: &AccessClaims,
    id: &str,
    request: Invite,
    client: &Client,
    (now, random): (Timestamp, &Random),
) -> Result<Invitation, Error> {
    let org = membership(core, id, &claims.sub).await?;
    send_invitation(core, claims, &org, request, client, (now, random)).await
}

/// Mails an invitation to `org` (read with the caller's role): see [`invite`].
async fn send_invitation(
    core: &Core,
    claims: &AccessClaims,
    org: &OrgRoleRow,
    request: Invite,
    client: &Client,
    (now, random): (Timestamp, &Random),
) -> Result<Invitation, Error> {
    let email = Email::parse(&request.email)?;
    let roles = &core.roles;
    if roles.level(&request.role).is_none() {
        return Err(unknown_role(roles));
    }
    let base = mail::link_base(&core.settings, request.redirect_to.as_deref())?;
    limits::check(
        &core.store,
        core.settings.rate_limits,
        INVITES_PER_USER,
        &claims.sub.to_string(),
        now,
    )
    .await?;
    // An address gets no more mail an hour by invitations than by any other way.
    limits::check(
        &core.store,
        core.settings.rate_limits,
        super::lifecycle::MAIL_PER_EMAIL,
        email.key(),
        now,
    )
    .await?;
    let inviter = core
        .store
        .user(&claims.sub)
        .await?
        .map(|user| user.name.unwrap_or(user.email))
        .unwrap_or_default();
    let (token, hash) = super::lifecycle::new_token(random);
    let link = mail::link(&base, MailKind::OrgInvitation, &token);
    let values = [
        ("link", link.as_str()),
        ("org", org.name.as_str()),
        ("inviter", inviter.as_str()),
        ("role", request.role.as_str()),
    ];
    let message = core.mail.compose(
        &core.settings,
        MailKind::OrgInvitation,
        email.as_str(),
        &values,
        now,
        random,
    );
    let row = InvitationRow {
        id: uuid::Builder::from_random_bytes(random.bytes())
            .into_uuid()
            .to_string(),
        org_id: org.id,
        email: email.key().to_owned(),
        role: request.role.clone(),
        invited_by: claims.sub,
        created_at: now.millis(),
        expires_at: now.plus(INVITATION_TTL).millis(),
    };
    // Its details (the invitation's id, kept when one is sent again) are the store's.
    let event = audit::event(AuditKind::MemberInvited, now, client).user(&claims.sub);
    let allowed = |actor: &str| roles.may_give(actor, &request.role);
    match core
        .store
        .invite(&row, &hash, allowed, (&message, &event))
        .await?
    {
        Ok(row) => {
            core.mail_queued.notify_one();
            Ok(invitation_view(&row))
        }
        Err(refused) => Err(refusal(refused, "inviting with this role")),
    }
}

/// `GET /auth/orgs/{id}/invitations` (admin or owner): the pending ones.
pub async fn invitations(
    core: &Core,
    user: &UserId,
    id: &str,
    now: Timestamp,
) -> Result<Vec<Invitation>, Error> {
    let row = membership(core, id, user).await?;
    if !core.roles.is_admin(&row.role) {
        return Err(forbidden("seeing the invitations"));
    }
    let rows = core.store.invitations(&row.id, now.millis()).await?;
    Ok(rows.iter().map(invitation_view).collect())
}

/// `POST /auth/orgs/{id}/invitations/{invitation_id}/resend` (admin or owner): the same
/// invitation with a new link (the old one dead) and 7 more days.
pub async fn resend(
    core: &Core,
    claims: &AccessClaims,
    (id, invitation_id): (&str, &str),
    client: &Client,
    (now, random): (Timestamp, &Random),
) -> Result<Invitation, Error> {
    let org = membership(core, id, &claims.sub).await?;
    if !core.roles.is_admin(&org.role) {
        return Err(forbidden("sending invitations"));
    }
    let found = core
        .store
        .invitation(&org.id, invitation_id)
        .await?
        .ok_or_else(|| Error::rejected(ErrorCode::NotFound, "No such invitation."))?;
    let request = Invite {
        email: found.email,
        role: found.role,
        redirect_to: None,
    };
    send_invitation(core, claims, &org, request, client, (now, random)).await
}

/// `DELETE /auth/orgs/{id}/invitations/{invitation_id}` (admin or owner): its link stops
/// working.
pub async fn revoke_invitation(
    core: &Core,
    claims: &AccessClaims,
    (id, invitation_id): (&str, &str),
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let org = org_id(id)?;
    let event = audit::event(AuditKind::InvitationRevoked, now, client)
        .user(&claims.sub)
        .detail(serde_json::json!({ "org": org.to_string(), "invitation": invitation_id }));
    let roles = &core.roles;
    let allowed = |role: &str| roles.is_admin(role);
    match core
        .store
        .revoke_invitation((&org, &claims.sub, invitation_id), allowed, &event)
        .await?
    {
        Changed::Done => Ok(()),
        Changed::NotFound if core.store.org_role(&org, &claims.sub).await?.is_some() => {
            Err(Error::rejected(ErrorCode::NotFound, "No such invitation."))
        }
        refused => Err(refusal(refused, "revoking invitations")),
    }
}

/// `POST /auth/invitations/accept`: the signed-in account whose verified address the
/// invitation was sent to joins with its role. The invitation works once: of two accepts at
/// once, one joins.
pub async fn accept(
    core: &Core,
    claims: &AccessClaims,
    token: &str,
    client: &Client,
    now: Timestamp,
) -> Result<OrgAnswer, Error> {
    limits::check(
        &core.store,
        core.settings.rate_limits,
        super::lifecycle::LINK_TRIES_PER_IP,
        &client.ip_key(),
        now,
    )
    .await?;
    let invalid = || {
        Error::rejected(
            ErrorCode::InvalidLink,
            "This invitation is unknown, used already, revoked or expired: ask for a new one.",
        )
    };
    let hash = super::lifecycle::token_hash(token).ok_or_else(invalid)?;
    let user = super::lifecycle::live_user(core, &claims.sub).await?;
    if user.email_verified_at.is_none() {
        return Err(Error::rejected(
            ErrorCode::EmailNotVerified,
            "Verify your email address first: an invitation is accepted by its address's \
             verified owner.",
        ));
    }
    let event = audit::event(AuditKind::InvitationAccepted, now, client)
        .user(&claims.sub)
        .session(&claims.sid);
    let roles = &core.roles;
    match core
        .store
        .accept_invitation(
            &hash,
            (&claims.sub, &user.email_key),
            |inviter: Option<&str>, role: &str| inviter.is_some_and(|i| roles.may_give(i, role)),
            (now.millis(), &event),
        )
        .await?
    {
        Accepted::Joined(row) => {
            roles_changed(core, now).await?;
            Ok(answer(&row))
        }
        Accepted::Unknown => Err(invalid()),
        Accepted::OtherEmail => Err(Error::rejected(
            ErrorCode::EmailMismatch,
            "This invitation was sent to another address: sign in with that account.",
        )),
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
        let roles = Roles::built_in();
        assert!(roles.permits("billing", "billing:update"));
        assert!(!roles.permits("viewer", "todos:write"));
        assert!(!roles.permits("nobody", "todos:read"));
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
        let roles = Roles::built_in();
        let level = |role| roles.level(role);
        assert!(level("owner") > level("admin") && level("admin") > level("member"));
        assert!(level("member") > level("billing") && level("billing") > level("viewer"));
        assert!(roles.may_touch("owner", "owner"));
        assert!(roles.may_touch("admin", "member"));
        assert!(!roles.may_touch("admin", "admin"));
        assert!(!roles.may_touch("admin", "owner"));
        assert!(!roles.may_touch("member", "viewer"));
    }

    fn custom(name: &str, permissions: &[&str], inherits: Option<&str>) -> CustomRole {
        CustomRole {
            name: name.into(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            inherits: inherits.map(str::to_owned),
        }
    }

    #[test]
    fn custom_roles_inherit_permissions_and_level() {
        // Defined child first: the order in the file does not matter.
        let roles = Roles::new(&[
            custom("lead", &["reports:*"], Some("editor")),
            custom("editor", &["todos:*"], Some("viewer")),
            custom("auditor", &["audit:read"], None),
        ])
        .unwrap();
        assert!(roles.permits("lead", "reports:export"));
        assert!(roles.permits("lead", "todos:delete"));
        assert!(
            roles.permits("lead", "billing:read"),
            "viewer's *:read, through editor"
        );
        assert!(!roles.permits("lead", "billing:write"));
        assert!(
            !roles.permits("editor", "reports:export"),
            "nothing flows down"
        );
        assert_eq!(roles.level("lead"), roles.level("viewer"));
        assert!(roles.permits("auditor", "audit:read"));
        assert!(!roles.permits("auditor", "todos:read"));
        assert!(roles.may_touch("admin", "lead"));
        assert!(!roles.may_touch("lead", "viewer"));
        // A member whose role was dropped from the settings can still be changed or removed.
        assert!(roles.may_touch("admin", "dropped"));
        assert!(!roles.may_touch("dropped", "viewer"));
    }

    #[test]
    fn malformed_custom_roles_are_configuration_errors() {
        for bad in [
            vec![custom("admin", &["x:y"], None)],
            vec![custom("Team Lead", &["x:y"], None)],
            vec![custom("a", &["x:y"], None), custom("a", &["x:z"], None)],
            vec![custom("a", &["todos"], None)],
            vec![custom("a", &["x:y"], Some("nobody"))],
            vec![
                custom("a", &["x:y"], Some("b")),
                custom("b", &["x:y"], Some("a")),
            ],
        ] {
            let refused = Roles::new(&bad);
            assert!(
                matches!(
                    refused,
                    Err(Error::Config {
                        setting: "roles",
                        ..
                    })
                ),
                "{bad:?}: {refused:?}"
            );
        }
    }
}
