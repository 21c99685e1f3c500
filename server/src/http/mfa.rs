//! TOTP second factors: `POST /auth/mfa/totp` (enrol), `POST /auth/mfa/totp/confirm`,
//! `DELETE /auth/mfa/totp`, `POST /auth/mfa/recovery-codes`, `POST /auth/mfa/verify`,
//! `POST /auth/mfa/step-up`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_proto::{
    AuthSuccess, Envelope, ErrorEnvelope, MfaCode, RecoveryCodes, TotpEnrolment, VerifyMfa,
};

use super::extract::{ApiJson, AuthUser, Dpop};
use crate::domain::audit::Client;
use crate::domain::{Random, Timestamp, mfa};
use crate::{Error, Keyward};

/// Start adding an authenticator app (needs a recent sign-in): a new secret, its `otpauth://`
/// URI and QR code. Nothing changes at sign-in before `…/confirm`.
#[utoipa::path(
    post,
    path = "/auth/mfa/totp",
    tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret to add to the app.", body = Envelope<TotpEnrolment>),
        (status = 401, description = "`reauthentication_required`, or a token refusal.", body = ErrorEnvelope),
        (status = 409, description = "`mfa_already_enabled`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn enrol(
    State(keyward): State<Keyward>,
    user: AuthUser,
) -> Result<Json<Envelope<TotpEnrolment>>, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let enrolment = mfa::enrol(keyward.core(), &user.claims, now, &random).await?;
    Ok(Json(Envelope::new(enrolment)))
}

/// Confirm the app with its first code: the second factor is on from now, and the ten recovery
/// codes come back (shown once).
#[utoipa::path(
    post,
    path = "/auth/mfa/totp/confirm",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = MfaCode,
    responses(
        (status = 200, description = "On; keep the recovery codes somewhere safe.", body = Envelope<RecoveryCodes>),
        (status = 401, description = "`invalid_mfa_code`, or a token refusal.", body = ErrorEnvelope),
        (status = 409, description = "`mfa_not_enabled`: no enrolment to confirm.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn confirm(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    ApiJson(body): ApiJson<MfaCode>,
) -> Result<Json<Envelope<RecoveryCodes>>, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let codes = mfa::confirm(
        keyward.core(),
        &user.claims,
        &body.code,
        &client,
        now,
        &random,
    )
    .await?;
    Ok(Json(Envelope::new(codes)))
}

/// Turn the second factor off: a current code (or a recovery code) and a recent sign-in.
#[utoipa::path(
    delete,
    path = "/auth/mfa/totp",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = MfaCode,
    responses(
        (status = 204, description = "Off."),
        (status = 401, description = "`invalid_mfa_code`, `reauthentication_required`, or a token refusal.", body = ErrorEnvelope),
        (status = 409, description = "`mfa_not_enabled`.", body = ErrorEnvelope),
        (status = 423, description = "`account_locked`: too many wrong codes this hour.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn disable(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    ApiJson(body): ApiJson<MfaCode>,
) -> Result<StatusCode, Error> {
    mfa::disable(
        keyward.core(),
        &user.claims,
        &body.code,
        &client,
        Timestamp::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ten new recovery codes (the old ones stop working): a current code and a recent sign-in.
#[utoipa::path(
    post,
    path = "/auth/mfa/recovery-codes",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = MfaCode,
    responses(
        (status = 200, description = "The new codes (shown once).", body = Envelope<RecoveryCodes>),
        (status = 401, description = "`invalid_mfa_code`, `reauthentication_required`, or a token refusal.", body = ErrorEnvelope),
        (status = 409, description = "`mfa_not_enabled`.", body = ErrorEnvelope),
        (status = 423, description = "`account_locked`: too many wrong codes this hour.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn regenerate(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    ApiJson(body): ApiJson<MfaCode>,
) -> Result<Json<Envelope<RecoveryCodes>>, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let codes = mfa::regenerate(
        keyward.core(),
        &user.claims,
        &body.code,
        &client,
        now,
        &random,
    )
    .await?;
    Ok(Json(Envelope::new(codes)))
}

/// Finish a sign-in with its `mfa_ticket` and a code from the app, or a recovery code, from the
/// device that started it (its `DPoP` proof).
#[utoipa::path(
    post,
    path = "/auth/mfa/verify",
    tag = "mfa",
    request_body = VerifyMfa,
    responses(
        (status = 200, description = "Signed in with two factors.", body = Envelope<AuthSuccess>),
        (status = 401, description = "`invalid_mfa_code`, `invalid_ticket` (expired, used, or five wrong codes: sign in again), or a DPoP refusal (another device).", body = ErrorEnvelope),
        (status = 423, description = "`account_locked`: too many wrong codes this hour.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn verify(
    State(keyward): State<Keyward>,
    client: Client,
    Dpop(dpop): Dpop,
    ApiJson(body): ApiJson<VerifyMfa>,
) -> Result<Json<Envelope<AuthSuccess>>, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let success = mfa::verify(keyward.core(), body, &dpop, &client, now, &random).await?;
    Ok(Json(Envelope::new(success)))
}

/// Prove the second factor again from a signed-in session (a code from the app, or a recovery
/// code): the session's next tokens carry `otp` in `amr`, `aal` 2 and a fresh `auth_time`. The
/// client refreshes at once to get them (the server never sees the refresh token here).
#[utoipa::path(
    post,
    path = "/auth/mfa/step-up",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = MfaCode,
    responses(
        (status = 204, description = "Proved: refresh to get tokens that say so."),
        (status = 401, description = "`invalid_mfa_code`, `session_revoked`, or a token refusal.", body = ErrorEnvelope),
        (status = 409, description = "`mfa_not_enabled`.", body = ErrorEnvelope),
        (status = 423, description = "`account_locked`: too many wrong codes this hour.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn step_up(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    ApiJson(body): ApiJson<MfaCode>,
) -> Result<StatusCode, Error> {
    mfa::step_up(
        keyward.core(),
        &user.claims,
        &body.code,
        &client,
        Timestamp::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
