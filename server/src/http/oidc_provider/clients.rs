//! `/auth/admin/clients…`: the relying parties registered with Keyward as an OpenID Connect
//! provider, managed with an admin key (or an admin's session), as webhooks are.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keyward_proto::{
    ClientChanges, ClientRegistered, Envelope, ErrorEnvelope, NewClient, OidcClient, OidcClients,
    RotateClientSecret,
};

use crate::domain::audit::Client;
use crate::domain::oidc_provider::clients;
use crate::domain::{Random, Timestamp};
use crate::http::admin::{Admin, acting};
use crate::http::extract::{ApiJson, OptionalJson};
use crate::{Error, Keyward};

/// Registers a client (relying party). A confidential one gets its secret (`kwcs_…`), shown
/// this once.
#[utoipa::path(
    post,
    path = "/auth/admin/clients",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    request_body = NewClient,
    responses(
        (status = 201, description = "The client, and a confidential client's secret, shown once.", body = Envelope<ClientRegistered>),
        (status = 400, description = "`invalid_request`: a name that is empty or too long; a redirect URI that is not https (or http on a loopback address), has a fragment or a wildcard; an unknown grant or a malformed scope; `client_credentials` for a public client or without `audience`; an audience that is this server's own.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn create_client(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    ApiJson(body): ApiJson<NewClient>,
) -> Result<(StatusCode, Json<Envelope<ClientRegistered>>), Error> {
    let act = acting(&admin, &client);
    let made = clients::create(keyward.core(), body, &act, &Random::os()).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(made))))
}

/// Every registered client, oldest first (never their secrets).
#[utoipa::path(
    get,
    path = "/auth/admin/clients",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The clients.", body = Envelope<OidcClients>),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_clients(
    State(keyward): State<Keyward>,
    _admin: Admin,
) -> Result<Json<Envelope<OidcClients>>, Error> {
    let clients = clients::list(keyward.core(), Timestamp::now()).await?;
    Ok(Json(Envelope::new(OidcClients { clients })))
}

/// One client.
#[utoipa::path(
    get,
    path = "/auth/admin/clients/{id}",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The client's `client_id`.")),
    responses(
        (status = 200, description = "The client.", body = Envelope<OidcClient>),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such client.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_client(
    State(keyward): State<Keyward>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<Envelope<OidcClient>>, Error> {
    let client = clients::get(keyward.core(), &id, Timestamp::now()).await?;
    Ok(Json(Envelope::new(client)))
}

/// Changes a client's registration: what is given replaces what it had (a list, the whole
/// list), checked with the rest as at registration; what is left out stays. Its type does not
/// change.
#[utoipa::path(
    patch,
    path = "/auth/admin/clients/{id}",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The client's `client_id`.")),
    request_body = ClientChanges,
    responses(
        (status = 200, description = "The client as it is now.", body = Envelope<OidcClient>),
        (status = 400, description = "`invalid_request`: what registration refuses, nothing to change, or an unknown field.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such client.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn update_client(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ClientChanges>,
) -> Result<Json<Envelope<OidcClient>>, Error> {
    let act = acting(&admin, &client);
    let changed = clients::update(keyward.core(), &id, body, &act).await?;
    Ok(Json(Envelope::new(changed)))
}

/// Deletes a client: its `client_id` and secret are refused from now on.
#[utoipa::path(
    delete,
    path = "/auth/admin/clients/{id}",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The client's `client_id`.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such client.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn delete_client(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    clients::delete(keyward.core(), &id, &acting(&admin, &client)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a confidential client a new secret (`kwcs_…`, shown once). The previous one is
/// accepted too for a day, so the client can be redeployed without a failed request, or no
/// more at once with `{"now": true}` (it leaked).
#[utoipa::path(
    post,
    path = "/auth/admin/clients/{id}/rotate-secret",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The client's `client_id`.")),
    request_body = RotateClientSecret,
    responses(
        (status = 200, description = "The client and its new secret, shown once.", body = Envelope<ClientRegistered>),
        (status = 400, description = "`invalid_request`: a public client, which has no secret.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such client.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn rotate_client_secret(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
    OptionalJson(how): OptionalJson<RotateClientSecret>,
) -> Result<Json<Envelope<ClientRegistered>>, Error> {
    let act = acting(&admin, &client);
    let rotated = clients::rotate_secret(keyward.core(), &id, how, &act, &Random::os()).await?;
    Ok(Json(Envelope::new(rotated)))
}
