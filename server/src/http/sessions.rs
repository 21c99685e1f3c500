//! `POST /auth/refresh`, `POST /auth/sign-out`, `GET /auth/sessions`,
//! `DELETE /auth/sessions/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keyward_proto::{
    Envelope, ErrorEnvelope, RefreshRequest, RefreshResponse, SessionList, SignOutRequest,
};

use super::extract::{ApiJson, AuthUser, Dpop, OptionalJson};
use crate::domain::audit::Client;
use crate::domain::{Random, Timestamp, sessions};
use crate::{Error, Keyward};

/// Rotate the session's tokens: the refresh token sent is used up, a new pair comes back. A
/// device-bound session needs a `DPoP` proof by its key.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "sessions",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "The next token pair.", body = Envelope<RefreshResponse>),
        (status = 400, description = "`invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "`invalid_refresh_token`, `refresh_token_expired`, `refresh_token_reused` or `session_revoked`: sign in again. `dpop_required`, `invalid_dpop_proof`, `use_dpop_nonce`: the proof of the device key is missing or wrong.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn refresh(
    State(keyward): State<Keyward>,
    client: Client,
    Dpop(dpop): Dpop,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<Envelope<RefreshResponse>>, Error> {
    let now = Timestamp::now();
    let tokens = sessions::refresh(
        keyward.core(),
        &body.refresh_token,
        &dpop,
        &client,
        now,
        &Random::os(),
    )
    .await?;
    Ok(Json(Envelope::new(RefreshResponse { tokens })))
}

/// Sign out: this session (the default), the user's other sessions, or all of them.
#[utoipa::path(
    post,
    path = "/auth/sign-out",
    tag = "sessions",
    security(("bearer" = [])),
    request_body(content = SignOutRequest, description = "Optional; an empty body signs out this session."),
    responses(
        (status = 204, description = "Signed out."),
        (status = 400, description = "`invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired` or `session_revoked`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn sign_out(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    OptionalJson(body): OptionalJson<SignOutRequest>,
) -> Result<StatusCode, Error> {
    let scope = body.scope.unwrap_or_default();
    sessions::sign_out(
        keyward.core(),
        &user.claims,
        scope,
        &client,
        Timestamp::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user's live sessions, newest first; the one making the request is marked `current`.
#[utoipa::path(
    get,
    path = "/auth/sessions",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sessions.", body = Envelope<SessionList>),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired` or `session_revoked`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_sessions(
    State(keyward): State<Keyward>,
    user: AuthUser,
) -> Result<Json<Envelope<SessionList>>, Error> {
    let sessions = sessions::list(keyward.core(), &user.claims, Timestamp::now()).await?;
    Ok(Json(Envelope::new(SessionList { sessions })))
}

/// End one of the user's sessions (its tokens stop working at once).
#[utoipa::path(
    delete,
    path = "/auth/sessions/{id}",
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The session id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired` or `session_revoked`.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: not a live session of this user.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn revoke_session(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    sessions::revoke_one(keyward.core(), &user.claims, &id, &client, Timestamp::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
