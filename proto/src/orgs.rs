//! Organizations, members and roles (DESIGN.md, "Organizations and roles").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::User;

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Org {
    /// Stable identifier (a UUID).
    pub id: String,
    /// Its name, for people.
    pub name: String,
    /// Unique, lower-case letters, digits and `-` (for URLs).
    pub slug: String,
    /// The app's own string values (at most 32).
    pub metadata: BTreeMap<String, String>,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// `POST /auth/orgs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// Its name (1 to 100 characters, not blank, no control or invisible formatting characters).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*[^\s\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb][^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*$"
        )
    )]
    pub name: String,
    /// Lower-case letters, digits and `-`, 2 to 48 characters, not starting or ending with `-`
    /// [default: made from the name].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 2,
            max_length = 48,
            pattern = r"^[a-z0-9][a-z0-9-]{0,46}[a-z0-9]$"
        )
    )]
    pub slug: Option<String>,
    /// The app's own string values (at most 8 KiB as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `PATCH /auth/orgs/{id}`: what changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    /// A new name (as at creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*[^\s\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb][^\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u180e\u2028\u2029\ufff9-\ufffb]*$"
        )
    )]
    pub name: Option<String>,
    /// A new slug (as at creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 2,
            max_length = 48,
            pattern = r"^[a-z0-9][a-z0-9-]{0,46}[a-z0-9]$"
        )
    )]
    pub slug: Option<String>,
    /// New metadata (replaces the old).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// An organization and the caller's role in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgMembership {
    /// The organization.
    pub org: Org,
    /// The caller's role: `owner`, `admin`, `member`, `billing`, `viewer` or a custom one.
    pub role: String,
}

/// `POST /auth/orgs` (201), `GET` / `PATCH /auth/orgs/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgAnswer {
    /// The organization.
    pub org: Org,
    /// The caller's role in it.
    pub role: String,
}

/// `GET /auth/orgs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgList {
    /// The caller's organizations, oldest membership first.
    pub orgs: Vec<OrgMembership>,
}

/// A member of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    /// The user.
    pub user: User,
    /// Their role.
    pub role: String,
    /// When they joined (RFC 3339).
    pub joined_at: String,
}

/// `GET /auth/orgs/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberList {
    /// Oldest first.
    pub members: Vec<Member>,
}

/// `PATCH /auth/orgs/{id}/members/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    /// The new role: `owner`, `admin`, `member`, `billing`, `viewer` or one of the server's
    /// own (`unknown_role` otherwise).
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 32, pattern = r"^[a-z][a-z0-9_-]{0,31}$")
    )]
    pub role: String,
}

/// `POST /auth/orgs/{id}/transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TransferOrg {
    /// The member who becomes owner (the caller becomes admin).
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub user_id: String,
}

/// `POST /auth/orgs/{id}/invitations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Invite {
    /// The address to invite. A pending invitation to it is replaced.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    /// The role it gives: at most the inviter's own (built-in or one of the server's).
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 32, pattern = r"^[a-z][a-z0-9_-]{0,31}$")
    )]
    pub role: String,
    /// The app's page the mailed link opens (an allowed origin); the server's app URL when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub redirect_to: Option<String>,
}

/// A pending invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// Its id.
    pub id: String,
    /// The organization's id.
    pub org_id: String,
    /// The invited address (lower-cased).
    pub email: String,
    /// The role it gives.
    pub role: String,
    /// Who sent it (a user id).
    pub invited_by: String,
    /// When it was sent, or last sent again (RFC 3339).
    pub created_at: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}

/// `POST /auth/orgs/{id}/invitations` (201) and `…/{invitation_id}/resend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationAnswer {
    /// The invitation.
    pub invitation: Invitation,
}

/// `GET /auth/orgs/{id}/invitations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationList {
    /// The pending ones, newest first.
    pub invitations: Vec<Invitation>,
}

/// Whether the permission `granted` covers `wanted`: both `resource:action`, each segment equal
/// or `*` in `granted`. Whole segments only: `todo:*` never grants `todos:read`; anything that
/// is not a permission ([`is_permission`]) grants and is granted nothing. The server's checks
/// and the browser client's `can` both use this one definition.
///
/// ```
/// use keyward_proto::permits;
///
/// assert!(permits("todos:*", "todos:read"));
/// assert!(permits("*:read", "billing:read"));
/// assert!(!permits("todo:*", "todos:read"));
/// ```
pub fn permits(granted: &str, wanted: &str) -> bool {
    let (Some((gr, ga)), Some((wr, wa))) = (segments(granted), segments(wanted)) else {
        return false;
    };
    let segment = |g: &str, w: &str| g == "*" || g == w;
    segment(gr, wr) && segment(ga, wa)
}

/// Whether `text` is a permission: two non-empty segments of printable ASCII without `:`,
/// joined by one `:`.
pub fn is_permission(text: &str) -> bool {
    segments(text).is_some()
}

/// `resource` and `action` of a well-formed permission.
fn segments(permission: &str) -> Option<(&str, &str)> {
    let (resource, action) = permission.split_once(':')?;
    let fine = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    (fine(resource) && fine(action)).then_some((resource, action))
}
