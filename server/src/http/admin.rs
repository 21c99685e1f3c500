//! The admin API (`/auth/admin/…`): operators' tools, with an admin key (`Authorization:
//! Bearer kwa_…`, made with `keyward admin-keys create`), or with the session of a user whose
//! role in the admin organization (setting `admin_org`) grants `keyward:admin`. Every other user
//! token is refused here, however privileged its user elsewhere; server keys too.

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use keyward_proto::{
    AdminUser, AuditPage, Envelope, ErrorCode, ErrorEnvelope, NewWebhook, SessionsEnded,
    UserDetail, UserDisabled, UserPage, WebhookChanges, WebhookCreated, WebhookDelivery,
    WebhookDeliveryPage, WebhookEndpoint, WebhookEndpoints,
};

use super::extract::{ApiJson, AuthUser, parameters};
use super::gateway::{ApiKey, KeyKinds};
use crate::domain::audit::Client;
use crate::domain::server_keys::KeyKind;
use crate::domain::{Random, ServerKeyId, Timestamp, UserId, admin, webhooks};
use crate::{Error, Keyward};

/// Admin keys only.
pub(crate) enum AdminKeys {}

impl KeyKinds for AdminKeys {
    const KINDS: &'static [KeyKind] = &[KeyKind::Admin];
}

/// The permission that makes a member of the admin organization an administrator.
const ADMIN_PERMISSION: &str = "keyward:admin";

/// Who calls the admin API: a live admin key, or a user whose current token carries
/// `keyward:admin` from their role in the admin organization (a role change or removal refuses
/// that token at once). The audit log names them.
pub(crate) enum Admin {
    /// With this admin key.
    Key(ServerKeyId),
    /// This user, with their session.
    User(UserId),
}

impl<S> FromRequestParts<S> for Admin
where
    S: Send + Sync,
    Keyward: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let keyward = Keyward::from_ref(state);
        // No header at all is refused as a missing key (`unauthorized`).
        let with_key = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .is_some_and(KeyKind::presented);
        let admin_org = keyward.settings().admin_org.as_deref();
        if with_key || admin_org.is_none() {
            let ApiKey(id, _) = ApiKey::<AdminKeys>::from_request_parts(parts, state).await?;
            return Ok(Self::Key(id));
        }
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.claims.org.as_deref() == admin_org && user.can(ADMIN_PERMISSION) {
            Ok(Self::User(user.user_id))
        } else {
            Err(Error::rejected(
                ErrorCode::Forbidden,
                "The admin API needs an admin key, or a session acting for the admin organization \
                 with a role that grants keyward:admin.",
            ))
        }
    }
}

/// The search and the page.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by `parameters`; the struct documents them.
pub(crate) struct UsersQuery {
    /// Only users whose address or name starts with this (any case).
    #[param(max_length = 320)]
    query: Option<String>,
    /// Only users made at or after this time (RFC 3339, such as `2026-12-01T00:00:00Z`).
    created_since: Option<String>,
    /// Only users made before this time (RFC 3339).
    created_before: Option<String>,
    /// How many (1 to 200; 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Users in the order they were made, a page at a time, optionally searched by the start of
/// their address or name and by when they were made. Users made while you page are not seen
/// twice, and none is skipped.
#[utoipa::path(
    get,
    path = "/auth/admin/users",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(UsersQuery),
    responses(
        (status = 200, description = "A page of users.", body = Envelope<UserPage>),
        (status = 400, description = "`invalid_request`: a limit outside 1 to 200, a query over 320 characters, a time that is not RFC 3339, a parameter given twice, or a cursor this API did not hand out.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_users(
    State(keyward): State<Keyward>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<UserPage>>, Error> {
    let [search, since, before, limit, cursor] = once_each(
        query.as_deref(),
        [
            "query",
            "created_since",
            "created_before",
            "limit",
            "cursor",
        ],
    )?;
    let query = admin::UsersQuery {
        query: search.as_deref(),
        created_since: since.as_deref(),
        created_before: before.as_deref(),
        limit: parse_limit(limit)?,
        cursor: cursor.as_deref(),
    };
    let page = admin::users(keyward.core(), query).await?;
    Ok(Json(Envelope::new(page)))
}

/// A change made now by `admin`, from `client`.
pub(crate) fn acting<'a>(admin: &'a Admin, client: &'a Client) -> admin::Acting<'a> {
    admin::Acting {
        by: match admin {
            Admin::Key(key) => admin::By::Key(key),
            Admin::User(user) => admin::By::User(user),
        },
        client,
        now: Timestamp::now(),
    }
}

/// The query's parameters `names`, each given at most once.
fn once_each<const N: usize>(
    query: Option<&str>,
    names: [&str; N],
) -> Result<[Option<String>; N], Error> {
    parameters(query, names).ok_or_else(|| {
        Error::rejected(
            ErrorCode::InvalidRequest,
            "Each parameter may be given once.",
        )
    })
}

fn parse_limit(limit: Option<String>) -> Result<Option<u32>, Error> {
    limit
        .map(|l| {
            l.parse::<u32>()
                .map_err(|_| Error::rejected(ErrorCode::InvalidRequest, "`limit` is 1 to 200."))
        })
        .transpose()
}

/// One user with their live sessions, devices, passkeys, linked providers and organizations.
#[utoipa::path(
    get,
    path = "/auth/admin/users/{id}",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user.", body = Envelope<UserDetail>),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such user.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_user(
    State(keyward): State<Keyward>,
    _admin: Admin,
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
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "How many sessions ended.", body = Envelope<SessionsEnded>),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such user.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn end_sessions(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Envelope<SessionsEnded>>, Error> {
    let ended = admin::end_sessions(keyward.core(), &id, &acting(&admin, &client)).await?;
    Ok(Json(Envelope::new(ended)))
}

/// Disables the account: it cannot sign in (`account_disabled`), and its sessions end at once.
/// Disabling a disabled account changes nothing.
#[utoipa::path(
    post,
    path = "/auth/admin/users/{id}/disable",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user, disabled, and how many sessions ended.", body = Envelope<UserDisabled>),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such user.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn disable_user(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Envelope<UserDisabled>>, Error> {
    let disabled = admin::disable(keyward.core(), &id, &acting(&admin, &client)).await?;
    Ok(Json(Envelope::new(disabled)))
}

/// Lets a disabled account sign in again. Its ended sessions stay ended.
#[utoipa::path(
    post,
    path = "/auth/admin/users/{id}/enable",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user.", body = Envelope<AdminUser>),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such user.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn enable_user(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Envelope<AdminUser>>, Error> {
    let user = admin::enable(keyward.core(), &id, &acting(&admin, &client)).await?;
    Ok(Json(Envelope::new(user)))
}

/// Deletes the account with its data: sessions (ended at once), devices, passkeys, linked
/// providers, second factors, memberships, and the organizations it was the only member of.
/// The audit log keeps what happened.
#[utoipa::path(
    delete,
    path = "/auth/admin/users/{id}",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such user.", body = ErrorEnvelope),
        (status = 409, description = "`last_owner`: the user is the last owner of an organization with other members; make someone else owner first.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn delete_user(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    admin::delete(keyward.core(), &id, &acting(&admin, &client)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails the user a password reset link, like the one they can ask for themselves. An
/// administrator never sets a password.
#[utoipa::path(
    post,
    path = "/auth/admin/users/{id}/password-reset",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    responses(
        (status = 202, description = "The mail is queued."),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such user.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn start_password_reset(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let act = acting(&admin, &client);
    admin::start_password_reset(keyward.core(), &id, &act, &Random::os()).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The filters and the page.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by `parameters`; the struct documents them.
pub(crate) struct AuditQuery {
    /// Only this user's events.
    user_id: Option<String>,
    /// Only events of this kind (`sign_in`, `sign_in_failed`, `admin_disabled_user`, …).
    #[param(max_length = 64)]
    kind: Option<String>,
    /// Only events at or after this time (RFC 3339, such as `2026-12-01T00:00:00Z`).
    since: Option<String>,
    /// How many (1 to 200; 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The audit log, newest first, a page at a time: filtered by user, kind and time.
#[utoipa::path(
    get,
    path = "/auth/admin/audit",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events.", body = Envelope<AuditPage>),
        (status = 400, description = "`invalid_request`: a malformed filter, a limit outside 1 to 200, a parameter given twice, or a cursor this API did not hand out.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn audit_log(
    State(keyward): State<Keyward>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<AuditPage>>, Error> {
    let [user_id, kind, since, limit, cursor] = once_each(
        query.as_deref(),
        ["user_id", "kind", "since", "limit", "cursor"],
    )?;
    let query = admin::AuditQuery {
        user_id: user_id.as_deref(),
        kind: kind.as_deref(),
        since: since.as_deref(),
        cursor: cursor.as_deref(),
        limit: parse_limit(limit)?,
    };
    let page = admin::audit_log(keyward.core(), query).await?;
    Ok(Json(Envelope::new(page)))
}

/// Adds a webhook endpoint: events of the types it takes are posted to it, signed per the
/// Standard Webhooks spec with its secret, returned this once.
#[utoipa::path(
    post,
    path = "/auth/admin/webhooks",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "The endpoint and its secret (`whsec_…`), shown once.", body = Envelope<WebhookCreated>),
        (status = 400, description = "`invalid_request`: not an http(s) URL (https in production), credentials in it, a host that does not resolve or resolves to an address that is not public, an unknown event type, an empty `events`.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn create_webhook(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<Envelope<WebhookCreated>>), Error> {
    let act = acting(&admin, &client);
    let created = webhooks::create(keyward.core(), body, &act, &Random::os()).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(created))))
}

/// Every webhook endpoint, oldest first (never their secrets).
#[utoipa::path(
    get,
    path = "/auth/admin/webhooks",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The endpoints.", body = Envelope<WebhookEndpoints>),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_webhooks(
    State(keyward): State<Keyward>,
    _admin: Admin,
) -> Result<Json<Envelope<WebhookEndpoints>>, Error> {
    let endpoints = webhooks::list(keyward.core()).await?;
    Ok(Json(Envelope::new(WebhookEndpoints { endpoints })))
}

/// Deletes a webhook endpoint with its deliveries, pending ones included.
#[utoipa::path(
    delete,
    path = "/auth/admin/webhooks/{id}",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn delete_webhook(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    webhooks::delete(keyward.core(), &id, &acting(&admin, &client)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes an endpoint's URL or event types (`null`: every type); what is left out stays. The
/// types apply to later events; the URL to every attempt from now on, retries of earlier
/// deliveries included, signed with the same secret (rotate it when the receiver changes
/// hands).
#[utoipa::path(
    patch,
    path = "/auth/admin/webhooks/{id}",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint's id.")),
    request_body = WebhookChanges,
    responses(
        (status = 200, description = "The endpoint as it is now.", body = Envelope<WebhookEndpoint>),
        (status = 400, description = "`invalid_request`: not an http(s) URL (https in production), credentials in it, a host that does not resolve or resolves to an address that is not public, an unknown event type, an empty `events`, nothing to change, an unknown field, or an endpoint from the configuration.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn update_webhook(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WebhookChanges>,
) -> Result<Json<Envelope<WebhookEndpoint>>, Error> {
    let act = acting(&admin, &client);
    let endpoint = webhooks::update(keyward.core(), &id, body, &act).await?;
    Ok(Json(Envelope::new(endpoint)))
}

/// Enables an endpoint that was disabled (it answered 410 Gone): it takes events again from now
/// on (those it missed can be redelivered).
#[utoipa::path(
    post,
    path = "/auth/admin/webhooks/{id}/enable",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint.", body = Envelope<WebhookEndpoint>),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn enable_webhook(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Envelope<WebhookEndpoint>>, Error> {
    let endpoint = webhooks::enable(keyward.core(), &id, &acting(&admin, &client)).await?;
    Ok(Json(Envelope::new(endpoint)))
}

/// Gives an endpoint a new secret (`whsec_…`, shown once). For a day each delivery carries two
/// signatures, by the new secret and the previous one, so its receiver can switch without a
/// message it cannot verify.
#[utoipa::path(
    post,
    path = "/auth/admin/webhooks/{id}/rotate-secret",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint and its new secret (`whsec_…`), shown once.", body = Envelope<WebhookCreated>),
        (status = 400, description = "`invalid_request`: an endpoint from the configuration, whose secret is changed there.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn rotate_webhook_secret(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
) -> Result<Json<Envelope<WebhookCreated>>, Error> {
    let act = acting(&admin, &client);
    let rotated = webhooks::rotate_secret(keyward.core(), &id, &act, &Random::os()).await?;
    Ok(Json(Envelope::new(rotated)))
}

/// The page.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by `parameters`; the struct documents them.
pub(crate) struct DeliveriesQuery {
    /// How many (1 to 200; 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only the deliveries with this status: `pending`, `delivered` or `failed`.
    status: Option<String>,
}

/// The endpoint's delivery log, newest first: each event's status, attempts, last answer and
/// body; only the failed ones with `status=failed`.
#[utoipa::path(
    get,
    path = "/auth/admin/webhooks/{id}/deliveries",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint's id."), DeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries.", body = Envelope<WebhookDeliveryPage>),
        (status = 400, description = "`invalid_request`: a limit outside 1 to 200, an unknown status, a parameter given twice, or a cursor this API did not hand out.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn webhook_deliveries(
    State(keyward): State<Keyward>,
    _admin: Admin,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<WebhookDeliveryPage>>, Error> {
    let [limit, cursor, status] = once_each(query.as_deref(), ["limit", "cursor", "status"])?;
    let page = (parse_limit(limit)?, cursor.as_deref());
    let page = webhooks::deliveries(keyward.core(), &id, page, status.as_deref()).await?;
    Ok(Json(Envelope::new(page)))
}

/// Queues a `webhook.test` message (`data.endpoint_id`) for this endpoint alone, whatever types
/// it takes: it goes out within a second, signed as any other, and shows in the delivery log.
#[utoipa::path(
    post,
    path = "/auth/admin/webhooks/{id}/test",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint's id.")),
    responses(
        (status = 202, description = "Queued: the delivery, to follow in the log.", body = Envelope<WebhookDelivery>),
        (status = 400, description = "`invalid_request`: the endpoint is disabled (enable it first).", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn test_webhook(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Envelope<WebhookDelivery>>), Error> {
    let act = acting(&admin, &client);
    let delivery = webhooks::send_test(keyward.core(), &id, &act, &Random::os()).await?;
    Ok((StatusCode::ACCEPTED, Json(Envelope::new(delivery))))
}

/// Sends a delivery again now, with the same `webhook-id`, whatever became of it.
#[utoipa::path(
    post,
    path = "/auth/admin/webhooks/{id}/deliveries/{delivery}/redeliver",
    tag = "admin",
    security(("admin_key" = []), ("bearer" = [])),
    params(
        ("id" = String, Path, description = "The endpoint's id."),
        ("delivery" = i64, Path, description = "The delivery's id."),
    ),
    responses(
        (status = 202, description = "Queued: it goes out within a second."),
        (status = 401, description = "`unauthorized`: no live admin key (or user token).", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a user token without `keyward:admin` in the admin organization.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such endpoint or delivery.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn redeliver_webhook(
    State(keyward): State<Keyward>,
    admin: Admin,
    client: Client,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let delivery = delivery
        .parse::<i64>()
        .map_err(|_| Error::rejected(ErrorCode::NotFound, "No such delivery."))?;
    webhooks::redeliver(keyward.core(), &id, delivery, &acting(&admin, &client)).await?;
    Ok(StatusCode::ACCEPTED)
}
