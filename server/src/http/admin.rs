//! The admin API (`/auth/admin/…`): operators' tools, with an admin key (`Authorization:
//! Bearer kwa_…`, made with `keyward admin-keys create`). User tokens are refused here, however
//! privileged their user; server keys too.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use keyward_proto::{Envelope, ErrorCode, ErrorEnvelope, SessionsEnded, UserDetail, UserPage};

use super::extract::parameters;
use super::gateway::{ApiKey, KeyKinds};
use crate::domain::audit::Client;
use crate::domain::server_keys::KeyKind;
use crate::domain::{Timestamp, admin};
use crate::{Error, Keyward};

/// Admin keys only.
pub(crate) enum AdminKeys {}

impl KeyKinds for AdminKeys {
    const KINDS: &'static [KeyKind] = &[KeyKind::Admin];
}

/// A request made with a live admin key: the key's id (the audit log names it).
pub(crate) type AdminKey = ApiKey<AdminKeys>;

/// The search and the page.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by `parameters`; the struct documents them.
pub(crate) struct UsersQuery {
    /// Only users whose address or name starts with this (any case).
    #[param(max_length = 320)]
    query: Option<String>,
    /// How many (1 to 200; 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Users in the order they were made, a page at a time, optionally searched by the start of
/// their address or name. Users made while you page are not seen twice, and none is skipped.
#[utoipa::path(
    get,
    path = "/auth/admin/users",
    tag = "admin",
    security(("admin_key" = [])),
    params(UsersQuery),
    responses(
        (status = 200, description = "A page of users.", body = Envelope<UserPage>),
        (status = 400, description = "`invalid_request`: a limit outside 1 to 200, a query over 320 characters, a parameter given twice, or a cursor this API did not hand out.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no live admin key.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_users(
    State(keyward): State<Keyward>,
    _admin: AdminKey,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<UserPage>>, Error> {
    let [search, limit, cursor] = parameters(query.as_deref(), ["query", "limit", "cursor"])
        .ok_or_else(|| {
            Error::rejected(
                ErrorCode::InvalidRequest,
                "Each parameter may be given once.",
            )
        })?;
    let limit = limit
        .map(|l| {
            l.parse::<u32>()
                .map_err(|_| Error::rejected(ErrorCode::InvalidRequest, "`limit` is 1 to 200."))
        })
        .transpose()?;
    let page = admin::users(keyward.core(), search.as_deref(), limit, cursor.as_deref()).await?;
    Ok(Json(Envelope::new(page)))
}

/// One user with their live sessions, devices, passkeys, linked providers and organizations.
#[utoipa::path(
    get,
    path = "/auth/admin/users/{id}",
    tag = "admin",
    security(("admin_key" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user.", body = Envelope<UserDetail>),
        (status = 401, description = "`unauthorized`: no live admin key.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such user.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_user(
    State(keyward): State<Keyward>,
    _admin: AdminKey,
    Path(id): Path<String>,
) -> Result<Json<Envelope<UserDetail>>, Error> {
    let user = admin::user(keyward.core(), &id, Timestamp::now()).await?;
    Ok(Json(Envelope::new(user)))
}

/// Ends every session of the user: their access tokens are refused from the next request on,
/// and their refresh tokens too. They can sign in again.
#[utoipa::path(
    delete,
    path = "/auth/admin/users/{id}/sessions",
    tag = "admin",
    security(("admin_key" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "How many sessions ended.", body = Envelope<SessionsEnded>),
        (status = 401, description = "`unauthorized`: no live admin key.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such user.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn end_sessions(
    State(keyward): State<Keyward>,
    ApiKey(admin, _): AdminKey,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Envelope<SessionsEnded>>, Error> {
    let ended = admin::end_sessions(
        keyward.core(),
        &id,
        admin::By::Key(&admin),
        &client,
        Timestamp::now(),
    )
    .await?;
    Ok(Json(Envelope::new(ended)))
}
