//! Organizations and members: `POST` / `GET /auth/orgs`, `GET` / `PATCH` / `DELETE
//! /auth/orgs/{id}`, `GET /auth/orgs/{id}/members`, `PATCH` / `DELETE
//! /auth/orgs/{id}/members/{user_id}`, `POST /auth/orgs/{id}/transfer`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keyward_proto::{
    ChangeRole, CreateOrg, Envelope, ErrorEnvelope, MemberList, OrgAnswer, OrgList, TransferOrg,
    UpdateOrg,
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
        (status = 400, description = "`invalid_request`: an unknown role.", body = ErrorEnvelope),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such organization or member.", body = ErrorEnvelope),
        (status = 409, description = "`last_owner`.", body = ErrorEnvelope),
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
