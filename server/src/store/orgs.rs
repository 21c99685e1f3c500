//! Organizations and their members. Every write that could leave an organization without an
//! owner writes the organization's row first: that locks it (PostgreSQL) or takes the one writer
//! (SQLite) for the transaction, so two such changes at once are decided one after the other.

use super::{AuditRow, Error, Pool, Store};
use crate::domain::{OrgId, SessionId, UserId};

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrgRow {
    /// Its id.
    pub id: OrgId,
    /// Its name.
    pub name: String,
    /// Its unique slug.
    pub slug: String,
    /// Its metadata: a JSON object of strings.
    pub metadata: String,
    /// When it was made (ms).
    pub created_at: i64,
}

/// An organization and someone's role in it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrgRoleRow {
    /// Its id.
    pub id: OrgId,
    /// Its name.
    pub name: String,
    /// Its unique slug.
    pub slug: String,
    /// Its metadata.
    pub metadata: String,
    /// When it was made (ms).
    pub created_at: i64,
    /// The role.
    pub role: String,
}

impl OrgRoleRow {
    /// The organization alone.
    pub fn org(&self) -> OrgRow {
        OrgRow {
            id: self.id,
            name: self.name.clone(),
            slug: self.slug.clone(),
            metadata: self.metadata.clone(),
            created_at: self.created_at,
        }
    }
}

/// A member, with what the API shows of the user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MemberRow {
    /// The user.
    pub user_id: UserId,
    /// Their address.
    pub email: String,
    /// When it was verified (ms).
    pub email_verified_at: Option<i64>,
    /// Their name.
    pub name: Option<String>,
    /// When the account was made (ms).
    pub user_created_at: i64,
    /// Their role.
    pub role: String,
    /// When they joined (ms).
    pub joined_at: i64,
}

/// A change to a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// A new role.
    Role(String),
    /// Out of the organization.
    Remove,
}

/// What a change to a member did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// It is done.
    Done,
    /// No such organization, or the caller or the member is not in it.
    NotFound,
    /// The caller's role does not allow it.
    Refused,
    /// It would leave the organization without an owner.
    LastOwner,
    /// Another organization has the slug.
    Taken,
    /// The one who would become owner is not a member.
    NotMember,
    /// The invited address is a member already.
    AlreadyMember,
}

/// What an update of an organization sets (`None`: as it is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgChanges {
    /// Its name.
    pub name: Option<String>,
    /// Its slug.
    pub slug: Option<String>,
    /// Its metadata (JSON).
    pub metadata: Option<String>,
}

/// An organization and one user's role in it (`$1` the organization, `$2` the user).
const ORG_ROLE: &str = "SELECT o.id, o.name, o.slug, o.metadata, o.created_at, m.role \
     FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.org_id = $1 AND m.user_id = $2";

/// The roles of two users in an organization, read in transaction `$tx`.
macro_rules! roles {
    ($tx:ident, $org:expr, $first:expr, $second:expr) => {{
        let role = "SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2";
        let first: Option<String> = sqlx::query_scalar(role)
            .bind($org)
            .bind($first)
            .fetch_optional(&mut *$tx)
            .await?;
        let second: Option<String> = sqlx::query_scalar(role)
            .bind($org)
            .bind($second)
            .fetch_optional(&mut *$tx)
            .await?;
        (first, second)
    }};
}

/// Writes organization `$org`'s row in transaction `$tx`: that locks it (PostgreSQL) or takes
/// the one writer (SQLite), so changes to it and its members are decided one after another.
/// The rows written: 0 when there is no such organization.
macro_rules! lock_org {
    ($tx:ident, $org:expr) => {
        sqlx::query("UPDATE orgs SET updated_at = updated_at WHERE id = $1")
            .bind($org)
            .execute(&mut *$tx)
            .await?
            .rows_affected()
    };
}

/// Why someone whose role is `role` (`None`: not a member) may not make a change that
/// `allowed` roles may; `None` when they may.
fn refusal(role: Option<&str>, allowed: impl Fn(&str) -> bool) -> Option<Changed> {
    match role {
        None => Some(Changed::NotFound),
        Some(role) if !allowed(role) => Some(Changed::Refused),
        Some(_) => None,
    }
}

/// The columns of an [`InvitationRow`].
macro_rules! invitation_columns {
    () => {
        "id, org_id, email, role, invited_by, created_at, expires_at"
    };
}

/// Records in transaction `$tx` that `$user`'s role in `$org` is now `$role` (`None`: out) as
/// of `$at` (ms): every server then refuses access tokens that carry another role for it.
macro_rules! access_changed {
    ($tx:ident, $org:expr, $user:expr, $role:expr, $at:expr) => {{
        let role: Option<&str> = $role;
        sqlx::query(
            "INSERT INTO org_access_changes (user_id, org_id, role, changed_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind($user)
        .bind($org)
        .bind(role)
        .bind($at)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// A role change or removal as the token checker reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessChangeRow {
    /// The user.
    pub user_id: UserId,
    /// The organization.
    pub org_id: OrgId,
    /// The role now; `None` when out.
    pub role: Option<String>,
    /// When it changed (ms, the changing server's clock).
    pub changed_at: i64,
    /// When it was written (ms, the database's clock).
    pub clock: i64,
}

/// A pending invitation (its token is kept as a hash only).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvitationRow {
    /// Its id.
    pub id: String,
    /// The organization.
    pub org_id: OrgId,
    /// The invited address (its lookup key: lower-cased).
    pub email: String,
    /// The role it gives.
    pub role: String,
    /// Who sent it.
    pub invited_by: UserId,
    /// When it was (last) sent (ms).
    pub created_at: i64,
    /// When it stops working (ms).
    pub expires_at: i64,
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// A member now (or already), with this role, in this organization.
    Joined(OrgRoleRow),
    /// No such live invitation: unknown, used, revoked or expired.
    Unknown,
    /// It is for another address.
    OtherEmail,
}

impl Store {
    /// Makes `org` with `owner` as its owner, appending `audit`; `false`, and nothing written,
    /// when its slug is taken.
    pub async fn create_org(
        &self,
        org: &OrgRow,
        owner: &UserId,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO orgs (id, name, slug, metadata, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (slug) DO NOTHING",
            )
            .bind(org.id)
            .bind(&org.name)
            .bind(&org.slug)
            .bind(&org.metadata)
            .bind(org.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO org_members (org_id, user_id, role, joined_at) \
                 VALUES ($1, $2, 'owner', $3)",
            )
            .bind(org.id)
            .bind(owner)
            .bind(org.created_at)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(true)
        })
    }

    /// `user_id`'s organizations with their role, oldest membership first.
    pub async fn orgs_of(&self, user_id: &UserId) -> Result<Vec<OrgRoleRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT o.id, o.name, o.slug, o.metadata, o.created_at, m.role FROM org_members m \
             JOIN orgs o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY m.joined_at, o.id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// The organization `org_id` and `user_id`'s role in it; `None` when either is missing.
    pub async fn org_role(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
    ) -> Result<Option<OrgRoleRow>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            ORG_ROLE,
        )
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Sets what `changes` gives of `org_id`'s name, slug and metadata at `now`, when
    /// `allowed(actor's role)`, appending `audit`: the organization and the actor's role after.
    /// The role is read after the organization's row is written, as for member changes.
    pub async fn update_org(
        &self,
        (org_id, actor): (&OrgId, &UserId),
        changes: &OrgChanges,
        allowed: impl Fn(&str) -> bool + Send,
        (now, audit): (i64, &AuditRow),
    ) -> Result<Result<OrgRoleRow, Changed>, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            lock_org!(tx, org_id);
            let (role, _) = roles!(tx, org_id, actor, actor);
            let refused = refusal(role.as_deref(), &allowed);
            if let Some(refused) = refused {
                tx.rollback().await?;
                return Ok(Err(refused));
            }
            if let Some(slug) = &changes.slug {
                let taken: Option<String> =
                    sqlx::query_scalar("SELECT id FROM orgs WHERE slug = $1 AND id <> $2")
                        .bind(slug)
                        .bind(org_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    tx.rollback().await?;
                    return Ok(Err(Changed::Taken));
                }
            }
            let updated = sqlx::query(
                "UPDATE orgs SET name = COALESCE($1, name), slug = COALESCE($2, slug), \
                 metadata = COALESCE($3, metadata), updated_at = $4 WHERE id = $5",
            )
            .bind(changes.name.as_deref())
            .bind(changes.slug.as_deref())
            .bind(changes.metadata.as_deref())
            .bind(now)
            .bind(org_id)
            .execute(&mut *tx)
            .await;
            // The check above sees only committed rows: another organization renamed to the
            // slug at the same moment (PostgreSQL runs both at once) meets the unique index here.
            match updated {
                Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                    tx.rollback().await?;
                    return Ok(Err(Changed::Taken));
                }
                updated => updated?,
            };
            let row: OrgRoleRow = sqlx::query_as(
                ORG_ROLE,
            )
            .bind(org_id)
            .bind(actor)
            .fetch_one(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(Ok(row))
        })
    }

    /// Deletes `org_id` (its members with it) if `owner` owns it, appending `audit`, then
    /// `removed(member)` for each membership that ends with it. The organization's row is
    /// written first, as every change to its members does.
    pub async fn delete_org(
        &self,
        (org_id, owner): (&OrgId, &UserId),
        audit: &AuditRow,
        removed: impl Fn(&UserId) -> AuditRow,
    ) -> Result<Changed, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            lock_org!(tx, org_id);
            let (role, _) = roles!(tx, org_id, owner, owner);
            let outcome = match role.as_deref() {
                None => Changed::NotFound,
                Some("owner") => Changed::Done,
                Some(_) => Changed::Refused,
            };
            if outcome != Changed::Done {
                tx.rollback().await?;
                return Ok(outcome);
            }
            sqlx::query(
                "INSERT INTO org_access_changes (user_id, org_id, role, changed_at) \
                 SELECT user_id, org_id, CAST(NULL AS TEXT), $2 FROM org_members WHERE org_id = $1",
            )
            .bind(org_id)
            .bind(audit.at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE sessions SET org_id = NULL WHERE org_id = $1")
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
            let members: Vec<UserId> =
                sqlx::query_scalar("DELETE FROM org_members WHERE org_id = $1 RETURNING user_id")
                    .bind(org_id)
                    .fetch_all(&mut *tx)
                    .await?;
            sqlx::query("DELETE FROM orgs WHERE id = $1")
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            for member in &members {
                insert_audit!(&mut *tx, &removed(member));
            }
            tx.commit().await?;
            Ok::<_, Error>(Changed::Done)
        })
    }

    /// The members of `org_id`, oldest first.
    pub async fn org_members(&self, org_id: &OrgId) -> Result<Vec<MemberRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT u.id AS user_id, u.email, u.email_verified_at, u.name, \
             u.created_at AS user_created_at, m.role, m.joined_at FROM org_members m \
             JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY m.joined_at, u.id",
        )
        .bind(org_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// Applies `change` to `target` in `org_id` on behalf of `actor`, when `allowed(actor's
    /// role, target's role)`, appending `audit`. Both roles are read, and the owners counted,
    /// inside the transaction after the organization's row is written: two changes at once
    /// cannot both pass the last-owner check.
    pub async fn change_member(
        &self,
        (org_id, actor, target): (&OrgId, &UserId, &UserId),
        change: &MemberChange,
        allowed: impl Fn(&str, &str) -> bool + Send,
        audit: &AuditRow,
    ) -> Result<Changed, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let found = lock_org!(tx, org_id);
            let (actor_role, target_role) = roles!(tx, org_id, actor, target);
            let (Some(actor_role), Some(target_role)) = (actor_role, target_role) else {
                tx.rollback().await?;
                return Ok(Changed::NotFound);
            };
            if found != 1 {
                tx.rollback().await?;
                return Ok(Changed::NotFound);
            }
            if !allowed(&actor_role, &target_role) {
                tx.rollback().await?;
                return Ok(Changed::Refused);
            }
            let stays_owner = matches!(change, MemberChange::Role(role) if role == "owner");
            if target_role == "owner" && !stays_owner {
                let owners: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM org_members WHERE org_id = $1 AND role = 'owner'",
                )
                .bind(org_id)
                .fetch_one(&mut *tx)
                .await?;
                if owners <= 1 {
                    tx.rollback().await?;
                    return Ok(Changed::LastOwner);
                }
            }
            match change {
                MemberChange::Role(role) => {
                    sqlx::query("UPDATE org_members SET role = $1 WHERE org_id = $2 AND user_id = $3")
                        .bind(role)
                        .bind(org_id)
                        .bind(target)
                        .execute(&mut *tx)
                        .await?;
                }
                MemberChange::Remove => {
                    sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
                        .bind(org_id)
                        .bind(target)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let role = match change {
                MemberChange::Role(role) => Some(role.as_str()),
                MemberChange::Remove => {
                    // Their sessions stop acting for it (and do not again if they come back).
                    sqlx::query("UPDATE sessions SET org_id = NULL WHERE user_id = $1 AND org_id = $2")
                        .bind(target)
                        .bind(org_id)
                        .execute(&mut *tx)
                        .await?;
                    None
                }
            };
            access_changed!(tx, org_id, target, role, audit.at);
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(Changed::Done)
        })
    }

    /// Makes `target` the owner of `org_id` and `owner` an admin, if `owner` owns it and
    /// `target` is a member, appending `audit`.
    pub async fn transfer_org(
        &self,
        (org_id, owner, target): (&OrgId, &UserId, &UserId),
        audit: &AuditRow,
    ) -> Result<Changed, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            lock_org!(tx, org_id);
            let (owner_role, target_role) = roles!(tx, org_id, owner, target);
            let outcome = match (owner_role.as_deref(), target_role) {
                (None, _) => Changed::NotFound,
                (Some("owner"), None) => Changed::NotMember,
                (Some("owner"), Some(_)) => Changed::Done,
                _ => Changed::Refused,
            };
            if outcome != Changed::Done || owner == target {
                tx.rollback().await?;
                return Ok(outcome);
            }
            let set = "UPDATE org_members SET role = $1 WHERE org_id = $2 AND user_id = $3";
            for (who, role) in [(target, "owner"), (owner, "admin")] {
                sqlx::query(set)
                    .bind(role)
                    .bind(org_id)
                    .bind(who)
                    .execute(&mut *tx)
                    .await?;
                access_changed!(tx, org_id, who, Some(role), audit.at);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(Changed::Done)
        })
    }
}

impl Store {
    /// Adds `user_id` to `org_id` with `role` at `joined_at` (an accepted invitation); `false`
    /// when they are a member already. (Tests only until invitations land.)
    #[cfg(any(test, feature = "testing"))]
    pub async fn add_org_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: &str,
        joined_at: i64,
    ) -> Result<bool, Error> {
        let added = on_writer!(self, pool => sqlx::query(
            "INSERT INTO org_members (org_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id, user_id) DO NOTHING",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(role)
        .bind(joined_at)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(added == 1)
    }
}

impl Store {
    /// Makes `org_id` the organization live session `session_id` of `user_id` acts for, if the
    /// user is in it: its next tokens carry it. `false`, and nothing changed, otherwise.
    pub async fn set_active_org(
        &self,
        session_id: &SessionId,
        user_id: &UserId,
        org_id: &OrgId,
    ) -> Result<bool, Error> {
        let updated = on_writer!(self, pool => sqlx::query(
            "UPDATE sessions SET org_id = $1 WHERE id = $2 AND user_id = $3 \
             AND revoked_at IS NULL AND EXISTS \
             (SELECT 1 FROM org_members WHERE org_id = $1 AND user_id = $3)",
        )
        .bind(org_id)
        .bind(session_id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(updated == 1)
    }

    /// Role changes and removals written (by the database's clock) at or after `since`.
    pub async fn org_access_since(&self, since: i64) -> Result<Vec<AccessChangeRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT user_id, org_id, role, changed_at, clock FROM org_access_changes \
             WHERE clock >= $1 ORDER BY clock",
        )
        .bind(since)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// Forgets role changes made before `before` (ms) and invitations expired before it.
    pub async fn purge_org_access(&self, before: i64) -> Result<u64, Error> {
        on_writer!(self, pool => {
            let changes = sqlx::query(
                "DELETE FROM org_access_changes WHERE changed_at < $1 AND clock < $1",
            )
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected();
            let invitations = sqlx::query("DELETE FROM org_invitations WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected();
            Ok::<_, Error>(changes + invitations)
        })
    }

    /// Invites `invitation.email` to `invitation.org_id` on behalf of its `invited_by`, when
    /// `allowed(their role)`, with the token whose hash is `token_hash`, queueing `mail` and
    /// appending `audit`. A pending invitation to the same address is replaced (its link stops
    /// working). The caller's role is read after the organization's row is written.
    pub async fn invite(
        &self,
        invitation: &InvitationRow,
        token_hash: &[u8],
        allowed: impl Fn(&str) -> bool + Send,
        (mail, audit): (&super::MailRow, &AuditRow),
    ) -> Result<Result<InvitationRow, Changed>, Error> {
        let org_id = &invitation.org_id;
        let actor = &invitation.invited_by;
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            lock_org!(tx, org_id);
            let (role, _) = roles!(tx, org_id, actor, actor);
            let refused = refusal(role.as_deref(), &allowed);
            let member: Option<String> = sqlx::query_scalar(
                "SELECT m.role FROM org_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.org_id = $1 AND u.email_key = $2",
            )
            .bind(org_id)
            .bind(&invitation.email)
            .fetch_optional(&mut *tx)
            .await?;
            let refused = refused.or(member.map(|_| Changed::AlreadyMember));
            if let Some(refused) = refused {
                tx.rollback().await?;
                return Ok(Err(refused));
            }
            let row: InvitationRow = sqlx::query_as(concat!(
                "INSERT INTO org_invitations (id, org_id, email, role, token_hash, invited_by, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (org_id, email) DO UPDATE SET role = excluded.role, \
                 token_hash = excluded.token_hash, invited_by = excluded.invited_by, \
                 created_at = excluded.created_at, expires_at = excluded.expires_at \
                 RETURNING ",
                invitation_columns!()
            ))
            .bind(&invitation.id)
            .bind(org_id)
            .bind(&invitation.email)
            .bind(&invitation.role)
            .bind(token_hash)
            .bind(actor)
            .bind(invitation.created_at)
            .bind(invitation.expires_at)
            .fetch_one(&mut *tx)
            .await?;
            insert_mail!(&mut *tx, mail);
            // Sent again to a pending address: the invitation keeps its id.
            let mut audit = audit.clone();
            audit.detail = Some(
                serde_json::json!({
                    "org": org_id.to_string(), "invitation": row.id, "role": row.role,
                })
                .to_string(),
            );
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok::<_, Error>(Ok(row))
        })
    }

    /// The invitations of `org_id` still pending at `now`, newest first.
    pub async fn invitations(&self, org_id: &OrgId, now: i64) -> Result<Vec<InvitationRow>, Error> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            concat!(
                "SELECT ",
                invitation_columns!(),
                " FROM org_invitations WHERE org_id = $1 AND expires_at > $2 \
                 ORDER BY created_at DESC, id",
            ),
        )
        .bind(org_id)
        .bind(now)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// Invitation `id` of `org_id`, pending or expired.
    pub async fn invitation(
        &self,
        org_id: &OrgId,
        id: &str,
    ) -> Result<Option<InvitationRow>, Error> {
        let row = on_pool!(self, pool => sqlx::query_as(
            concat!(
                "SELECT ",
                invitation_columns!(),
                " FROM org_invitations WHERE org_id = $1 AND id = $2",
            ),
        )
        .bind(org_id)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Deletes invitation `id` of `org_id` on behalf of `actor`, when `allowed(their role)`,
    /// appending `audit`.
    pub async fn revoke_invitation(
        &self,
        (org_id, actor, id): (&OrgId, &UserId, &str),
        allowed: impl Fn(&str) -> bool + Send,
        audit: &AuditRow,
    ) -> Result<Changed, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let (role, _) = roles!(tx, org_id, actor, actor);
            let outcome = match role.as_deref() {
                None => Changed::NotFound,
                Some(role) if !allowed(role) => Changed::Refused,
                Some(_) => {
                    let deleted = sqlx::query(
                        "DELETE FROM org_invitations WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if deleted == 1 { Changed::Done } else { Changed::NotFound }
                }
            };
            if outcome != Changed::Done {
                tx.rollback().await?;
                return Ok(outcome);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok::<_, Error>(Changed::Done)
        })
    }

    /// Accepts the invitation whose token hashes to `token_hash` for `user_id`, whose verified
    /// address's key is `email`, at `now`, appending `audit` (its details completed with the
    /// organization and role). The organization's row is written first, as for every change to
    /// its members; then the inviter must still be allowed to give the role
    /// (`allowed(inviter's role now, invited role)`: a demoted or removed admin's invitations
    /// die with their authority). The invitation is taken in one statement, so of two accepts at
    /// once one joins and the other finds nothing; one for another address stays as it is.
    pub async fn accept_invitation(
        &self,
        token_hash: &[u8],
        (user_id, email): (&UserId, &str),
        allowed: impl Fn(Option<&str>, &str) -> bool + Send,
        (now, audit): (i64, &AuditRow),
    ) -> Result<Accepted, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let found: Option<(OrgId, String, String, UserId)> = sqlx::query_as(
                "SELECT org_id, email, role, invited_by FROM org_invitations \
                 WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((org_id, invited, role, inviter)) = found else {
                tx.rollback().await?;
                return Ok(Accepted::Unknown);
            };
            if invited != email {
                tx.rollback().await?;
                return Ok(Accepted::OtherEmail);
            }
            lock_org!(tx, org_id);
            let (inviter_role, _) = roles!(tx, org_id, inviter, inviter);
            let taken = sqlx::query("DELETE FROM org_invitations WHERE token_hash = $1")
                .bind(token_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if taken != 1 || !allowed(inviter_role.as_deref(), &role) {
                // Used a moment ago by a concurrent accept; or no longer backed by anyone
                // allowed to give it (then it is gone for good).
                if taken == 1 {
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                return Ok(Accepted::Unknown);
            }
            let joined = sqlx::query(
                "INSERT INTO org_members (org_id, user_id, role, joined_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, user_id) DO NOTHING",
            )
            .bind(org_id)
            .bind(user_id)
            .bind(&role)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if joined == 1 {
                // Tokens from an earlier membership (another role, or out) must not pass.
                access_changed!(tx, org_id, user_id, Some(role.as_str()), now);
            }
            let row: OrgRoleRow = sqlx::query_as(
                ORG_ROLE,
            )
            .bind(org_id)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            let mut audit = audit.clone();
            audit.detail = Some(
                serde_json::json!({ "org": org_id.to_string(), "role": row.role }).to_string(),
            );
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok::<_, Error>(Accepted::Joined(row))
        })
    }
}
