//! `GET /auth/devices`, `PATCH`/`DELETE /auth/devices/{id}`, device challenges.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keyward_proto::{
    ChallengeRequest, ChallengeVerified, DeviceChallenge, DeviceList, Envelope, ErrorEnvelope,
    RenameDevice, VerifyChallenge,
};

use super::extract::{ApiJson, AuthUser, Dpop};
use crate::domain::audit::Client;
use crate::domain::{Random, Timestamp, devices, dpop};
use crate::{Error, Keyward};

/// The user's devices (device keys), most recently seen first; the caller's is `current`.
#[utoipa::path(
    get,
    path = "/auth/devices",
    tag = "devices",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The devices.", body = Envelope<DeviceList>),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`, `session_revoked` or a DPoP error.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_devices(
    State(keyward): State<Keyward>,
    user: AuthUser,
) -> Result<Json<Envelope<DeviceList>>, Error> {
    let devices = devices::list(keyward.core(), &user.claims).await?;
    Ok(Json(Envelope::new(DeviceList { devices })))
}

/// Rename a device.
#[utoipa::path(
    patch,
    path = "/auth/devices/{id}",
    tag = "devices",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The device id.")),
    request_body = RenameDevice,
    responses(
        (status = 204, description = "Renamed."),
        (status = 400, description = "`invalid_request`: the name is too long, or has control characters.", body = ErrorEnvelope),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: not a live device of this user.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn rename_device(
    State(keyward): State<Keyward>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RenameDevice>,
) -> Result<StatusCode, Error> {
    devices::rename(keyward.core(), &user.claims, &id, &body.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a device: every session bound to it ends, and its tokens stop working at once.
#[utoipa::path(
    delete,
    path = "/auth/devices/{id}",
    tag = "devices",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The device id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: not a live device of this user.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn revoke_device(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    devices::revoke(keyward.core(), &user.claims, &id, &client, Timestamp::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A single-use challenge, valid 60 seconds, for one of the user's devices to sign (for a
/// server, such as a sync server, that wants a fresh proof the device holds its key). Only a
/// verification by the same `audience` accepts the answer.
#[utoipa::path(
    post,
    path = "/auth/devices/{id}/challenge",
    tag = "devices",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The device id.")),
    request_body = ChallengeRequest,
    responses(
        (status = 200, description = "The challenge.", body = Envelope<DeviceChallenge>),
        (status = 400, description = "`invalid_request`: the audience is empty, too long or not visible ASCII.", body = ErrorEnvelope),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: not a live device of this user.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn challenge_device(
    State(keyward): State<Keyward>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ChallengeRequest>,
) -> Result<Json<Envelope<DeviceChallenge>>, Error> {
    let challenge = devices::challenge(
        keyward.core(),
        &user.claims,
        &id,
        &body.audience,
        Timestamp::now(),
        &Random::os(),
    )
    .await?;
    Ok(Json(Envelope::new(challenge)))
}

/// Check a device's answer to a challenge: a DPoP proof for this request (`POST` to this URL)
/// whose `nonce` is the challenge. Each challenge can be tried once.
#[utoipa::path(
    post,
    path = "/auth/devices/challenge/verify",
    tag = "devices",
    request_body = VerifyChallenge,
    responses(
        (status = 200, description = "The device holds its key.", body = Envelope<ChallengeVerified>),
        (status = 400, description = "`invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "`invalid_dpop_proof`: unknown, used or expired challenge, one issued for another audience, or not the device's proof.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn verify_challenge(
    State(keyward): State<Keyward>,
    Dpop(request): Dpop,
    ApiJson(body): ApiJson<VerifyChallenge>,
) -> Result<Json<Envelope<ChallengeVerified>>, Error> {
    let request = dpop::Request {
        proof: Some(body.proof),
        ..request
    };
    let verified = devices::verify_challenge(
        keyward.core(),
        &body.challenge,
        &body.audience,
        &request,
        Timestamp::now(),
    )
    .await?;
    Ok(Json(Envelope::new(verified)))
}
