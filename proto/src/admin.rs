//! The admin API's shapes (`/auth/admin/…`, with an admin key).

use serde::{Deserialize, Serialize};

use crate::{Device, Identity, OrgMembership, Passkey, Session, User};

/// `GET /auth/admin/users`: a page of users, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserPage {
    /// The users of this page.
    pub users: Vec<User>,
    /// Where the next page starts (`?cursor=`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /auth/admin/users/{id}`: one user and everything that signs them in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserDetail {
    /// The user.
    pub user: User,
    /// Their live sessions, newest first.
    pub sessions: Vec<Session>,
    /// Their devices (keys that sessions are bound to).
    pub devices: Vec<Device>,
    /// Their passkeys.
    pub passkeys: Vec<Passkey>,
    /// The sign-in providers linked to the account.
    pub identities: Vec<Identity>,
    /// The organizations they belong to, with their role.
    pub orgs: Vec<OrgMembership>,
}

/// `DELETE /auth/admin/users/{id}/sessions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionsEnded {
    /// How many live sessions were ended.
    pub ended: u64,
}
