//! Organizations and members: `POST` / `GET /auth/orgs`, `GET` / `PATCH` / `DELETE
//! /auth/orgs/{id}`, `GET /auth/orgs/{id}/members`, `PATCH` / `DELETE
//! /auth/orgs/{id}/members/{user_id}`, `POST /auth/orgs/{id}/transfer`, `POST
//! /auth/orgs/{id}/activate`, invitations (`POST` / `GET /auth/orgs/{id}/invitations`, `POST
//! …/{invitation_id}/resend`, `DELETE …/{invitation_id}`, `POST /auth/invitations/accept`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keyward_proto::{
    ChangeRole, CreateOrg, Envelope, ErrorEnvelope, InvitationAnswer, InvitationList, Invite,
    LinkToken, MemberList, OrgAnswer, OrgList, TransferOrg, UpdateOrg,
};

use super::extract::{ApiJson, AuthUser};
use crate::domain::audit::Client;
use crate::domain::{Random, Timestamp, orgs};
use crate::{Error, Keyward};

/// Make an organization; the caller is its owner.
#[utoipa::path(
    post,
    path = "/auth/orgs",
    tag = "orgs",
    security(("bearer" = [])),
    request_body = CreateOrg,
    responses(
        (status = 201, description = "Made.", body = Envelope<OrgAnswer>),
        (status = 400, description = "`invalid_request`: a blank or too long name, a malformed slug, too much metadata.", body = ErrorEnvelope),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 409, description = "`slug_taken`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn create_org(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    ApiJson(body): ApiJson<CreateOrg>,
) -> Result<(StatusCode, Json<Envelope<OrgAnswer>>), Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let org = orgs::create(keyward.core(), &user.claims, body, &client, (now, &random)).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(org))))
}

/// The caller's organizations, with their role in each.
#[utoipa::path(
    get,
    path = "/auth/orgs",
    tag = "orgs",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Oldest membership first.", body = Envelope<OrgList>),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_orgs(
    State(keyward): State<Keyward>,
    user: AuthUser,
) -> Result<Json<Envelope<OrgList>>, Error> {
    let orgs = orgs::list(keyward.core(), &user.claims.sub).await?;
    Ok(Json(Envelope::new(OrgList { orgs })))
}

/// An organization the caller is a member of.
#[utoipa::path(
    get,
    path = "/auth/orgs/{id}",
    tag = "orgs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id.")),
    responses(
        (status = 200, description = "It, and the caller's role.", body = Envelope<OrgAnswer>),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such organization, or the caller is not in it.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_org(
    State(keyward): State<Keyward>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Envelope<OrgAnswer>>, Error> {
    let org = orgs::get(keyward.core(), &user.claims.sub, &id).await?;
    Ok(Json(Envelope::new(org)))
}

/// Change an organization's name, slug or metadata (admin or owner).
#[utoipa::path(
    patch,
    path = "/auth/orgs/{id}",
    tag = "orgs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id.")),
    request_body = UpdateOrg,
    responses(
        (status = 200, description = "Changed.", body = Envelope<OrgAnswer>),
        (status = 400, description = "`invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: below admin.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`.", body = ErrorEnvelope),
        (status = 409, description = "`slug_taken`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn update_org(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateOrg>,
) -> Result<Json<Envelope<OrgAnswer>>, Error> {
    let core = keyward.core();
    let org = orgs::update(core, &user.claims, &id, body, &client, Timestamp::now()).await?;
    Ok(Json(Envelope::new(org)))
}

/// Delete an organization (owner).
#[utoipa::path(
    delete,
    path = "/auth/orgs/{id}",
    tag = "orgs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id.")),
    responses(
        (status = 204, description = "Deleted, with its memberships."),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not an owner.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn delete_org(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    orgs::delete(keyward.core(), &user.claims, &id, &client, Timestamp::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members of an organization (members).
#[utoipa::path(
    get,
    path = "/auth/orgs/{id}/members",
    tag = "orgs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id.")),
    responses(
        (status = 200, description = "Oldest first.", body = Envelope<MemberList>),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_members(
    State(keyward): State<Keyward>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Envelope<MemberList>>, Error> {
    let members = orgs::members(keyward.core(), &user.claims.sub, &id).await?;
    Ok(Json(Envelope::new(MemberList { members })))
}

/// Change a member's role (admin or owner; never above one's own, never someone at or above
/// it, but by an owner).
#[utoipa::path(
    patch,
    path = "/auth/orgs/{id}/members/{user_id}",
    tag = "orgs",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The organization's id."),
        ("user_id" = String, Path, description = "The member's user id."),
    ),
    request_body = ChangeRole,
    responses(
        (status = 204, description = "Changed."),
        (status = 400, description = "`invalid_request`: a malformed body.", body = ErrorEnvelope),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such organization or member.", body = ErrorEnvelope),
        (status = 409, description = "`last_owner`; `unknown_role`: neither built in nor one of the server's roles.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn change_member(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeRole>,
) -> Result<StatusCode, Error> {
    let core = keyward.core();
    let who = (id.as_str(), user_id.as_str());
    orgs::change_member(
        core,
        &user.claims,
        who,
        Some(body),
        &client,
        Timestamp::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member (admin or owner, as for a role change), or leave (oneself).
#[utoipa::path(
    delete,
    path = "/auth/orgs/{id}/members/{user_id}",
    tag = "orgs",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The organization's id."),
        ("user_id" = String, Path, description = "The member's user id (one's own: leave)."),
    ),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`.", body = ErrorEnvelope),
        (status = 409, description = "`last_owner`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn remove_member(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let core = keyward.core();
    let who = (id.as_str(), user_id.as_str());
    orgs::change_member(core, &user.claims, who, None, &client, Timestamp::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make another member the owner (owner); the caller becomes an admin.
#[utoipa::path(
    post,
    path = "/auth/orgs/{id}/transfer",
    tag = "orgs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id.")),
    request_body = TransferOrg,
    responses(
        (status = 204, description = "Transferred (to oneself: nothing changes)."),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not an owner.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such organization (or the caller is not in it).", body = ErrorEnvelope),
        (status = 409, description = "`not_a_member`: the new owner must be a member.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn transfer_org(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TransferOrg>,
) -> Result<StatusCode, Error> {
    let core = keyward.core();
    let now = Timestamp::now();
    orgs::transfer(core, &user.claims, &id, &body.user_id, &client, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Act for an organization (members): the session's next tokens carry `org`, `org_role` and
/// the role's `permissions`. Refresh to get them.
#[utoipa::path(
    post,
    path = "/auth/orgs/{id}/activate",
    tag = "orgs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id.")),
    responses(
        (status = 200, description = "Active for this session: refresh for tokens that carry it.", body = Envelope<OrgAnswer>),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such organization, or the caller is not in it.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn activate_org(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Envelope<OrgAnswer>>, Error> {
    let core = keyward.core();
    let org = orgs::activate(core, &user.claims, &id, &client, Timestamp::now()).await?;
    Ok(Json(Envelope::new(org)))
}

/// Invite an address (admin or owner, with a role up to one's own): a mail with a single-use
/// link that works 7 days. A pending invitation to the same address is replaced.
#[utoipa::path(
    post,
    path = "/auth/orgs/{id}/invitations",
    tag = "orgs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id.")),
    request_body = Invite,
    responses(
        (status = 201, description = "Sent.", body = Envelope<InvitationAnswer>),
        (status = 400, description = "`invalid_email`.", body = ErrorEnvelope),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: below admin, or a role above one's own; `redirect_not_allowed`.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`.", body = ErrorEnvelope),
        (status = 409, description = "`already_a_member`, `unknown_role`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn invite(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Invite>,
) -> Result<(StatusCode, Json<Envelope<InvitationAnswer>>), Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let core = keyward.core();
    let invitation = orgs::invite(core, &user.claims, &id, body, &client, (now, &random)).await?;
    Ok((
        StatusCode::CREATED,
        Json(Envelope::new(InvitationAnswer { invitation })),
    ))
}

/// The pending invitations (admin or owner), newest first.
#[utoipa::path(
    get,
    path = "/auth/orgs/{id}/invitations",
    tag = "orgs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id.")),
    responses(
        (status = 200, description = "Pending, newest first.", body = Envelope<InvitationList>),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: below admin.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_invitations(
    State(keyward): State<Keyward>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Envelope<InvitationList>>, Error> {
    let core = keyward.core();
    let invitations = orgs::invitations(core, &user.claims.sub, &id, Timestamp::now()).await?;
    Ok(Json(Envelope::new(InvitationList { invitations })))
}

/// Send an invitation again (admin or owner): a new link (the old one stops working) and
/// 7 more days.
#[utoipa::path(
    post,
    path = "/auth/orgs/{id}/invitations/{invitation_id}/resend",
    tag = "orgs",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The organization's id."),
        ("invitation_id" = String, Path, description = "The invitation's id."),
    ),
    responses(
        (status = 200, description = "Sent again.", body = Envelope<InvitationAnswer>),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such organization or invitation.", body = ErrorEnvelope),
        (status = 409, description = "`already_a_member`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn resend_invitation(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<Json<Envelope<InvitationAnswer>>, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let which = (id.as_str(), invitation_id.as_str());
    let invitation =
        orgs::resend(keyward.core(), &user.claims, which, &client, (now, &random)).await?;
    Ok(Json(Envelope::new(InvitationAnswer { invitation })))
}

/// Revoke an invitation (admin or owner): its link stops working.
#[utoipa::path(
    delete,
    path = "/auth/orgs/{id}/invitations/{invitation_id}",
    tag = "orgs",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The organization's id."),
        ("invitation_id" = String, Path, description = "The invitation's id."),
    ),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such organization or invitation.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn revoke_invitation(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let which = (id.as_str(), invitation_id.as_str());
    let now = Timestamp::now();
    orgs::revoke_invitation(keyward.core(), &user.claims, which, &client, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invitation (signed in, as the account whose verified address it was sent to):
/// join with its role. It works once.
#[utoipa::path(
    post,
    path = "/auth/invitations/accept",
    tag = "orgs",
    security(("bearer" = [])),
    request_body = LinkToken,
    responses(
        (status = 200, description = "A member now, with this role.", body = Envelope<OrgAnswer>),
        (status = 401, description = "`invalid_link`: unknown, used, revoked or expired; or not signed in.", body = ErrorEnvelope),
        (status = 403, description = "`email_mismatch`: sent to another address; `email_not_verified`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn accept_invitation(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    ApiJson(body): ApiJson<LinkToken>,
) -> Result<Json<Envelope<OrgAnswer>>, Error> {
    let core = keyward.core();
    let org = orgs::accept(core, &user.claims, &body.token, &client, Timestamp::now()).await?;
    Ok(Json(Envelope::new(org)))
}
