//! `POST /auth/sign-up`, `POST /auth/sign-in`, `GET /auth/me`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_proto::{
    AuthSuccess, Envelope, ErrorEnvelope, Me, SignInAnswer, SignInRequest, SignUpRequest,
};

use super::extract::{ApiJson, AuthUser, Dpop};
use crate::domain::audit::Client;
use crate::domain::{Random, Timestamp, accounts};
use crate::{Error, Keyward};

/// Create an account with email and password; it is signed in at once. With a `DPoP` proof
/// header (RFC 9449) the session is bound to that device key and the tokens are DPoP-bound.
#[utoipa::path(
    post,
    path = "/auth/sign-up",
    tag = "accounts",
    request_body = SignUpRequest,
    responses(
        (status = 201, description = "The account exists and is signed in.", body = Envelope<AuthSuccess>),
        (status = 401, description = "`dpop_required`, `invalid_dpop_proof` or `use_dpop_nonce` (see `DPoP-Nonce`).", body = ErrorEnvelope),
        (status = 400, description = "`invalid_email`, `weak_password`, `password_too_long` or `invalid_request`.", body = ErrorEnvelope),
        (status = 403, description = "`email_not_verified`: the account exists, and this server signs nobody in before the address is confirmed (a link is on its way). `password_too_common`.", body = ErrorEnvelope),
        (status = 409, description = "`email_taken`.", body = ErrorEnvelope),
        (status = 413, description = "`payload_too_large`.", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn sign_up(
    State(keyward): State<Keyward>,
    client: Client,
    Dpop(dpop): Dpop,
    ApiJson(body): ApiJson<SignUpRequest>,
) -> Result<(StatusCode, Json<Envelope<AuthSuccess>>), Error> {
    let success = accounts::sign_up(
        keyward.core(),
        body,
        &dpop,
        &client,
        Timestamp::now(),
        &Random::os(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(success))))
}

/// Sign in with email and password. With a `DPoP` proof header the session is bound to that
/// device key.
#[utoipa::path(
    post,
    path = "/auth/sign-in",
    tag = "accounts",
    request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in, or, for an account with a second factor, `{mfa_required, mfa_ticket, methods}` to finish with `POST /auth/mfa/verify`.", body = Envelope<SignInAnswer>),
        (status = 400, description = "`invalid_email` or `invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "`invalid_credentials`, `dpop_required`, `invalid_dpop_proof` or `use_dpop_nonce`.", body = ErrorEnvelope),
        (status = 413, description = "`payload_too_large`.", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorEnvelope),
        (status = 403, description = "`email_not_verified`: confirm the address first (a new link is on its way).", body = ErrorEnvelope),
        (status = 423, description = "`account_locked` (see `Retry-After`).", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited` (see `Retry-After`).", body = ErrorEnvelope),
    )
)]
pub(crate) async fn sign_in(
    State(keyward): State<Keyward>,
    client: Client,
    Dpop(dpop): Dpop,
    ApiJson(body): ApiJson<SignInRequest>,
) -> Result<Json<Envelope<SignInAnswer>>, Error> {
    let success = accounts::sign_in(
        keyward.core(),
        body,
        &dpop,
        &client,
        Timestamp::now(),
        &Random::os(),
    )
    .await?;
    Ok(Json(Envelope::new(success)))
}

/// The signed-in user.
#[utoipa::path(
    get,
    path = "/auth/me",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user the access token belongs to.", body = Envelope<Me>),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired` or `session_revoked`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn me(
    State(keyward): State<Keyward>,
    user: AuthUser,
) -> Result<Json<Envelope<Me>>, Error> {
    let user = accounts::me(keyward.core(), &user.user_id).await?;
    Ok(Json(Envelope::new(Me { user })))
}
