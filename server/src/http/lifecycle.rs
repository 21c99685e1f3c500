//! The account lifecycle over email: `POST /auth/email/verification[/confirm]`,
//! `POST /auth/password/{forgot,reset,change}`, `POST /auth/email/change[/confirm]`,
//! `POST /auth/magic-link[/verify]`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_proto::{
    ChangeEmail, ChangePassword, Envelope, ErrorEnvelope, ForgotPassword, LinkToken, Me,
    ResetPassword, SendMagicLink, SignInAnswer, VerifyMagicLink,
};

use super::extract::{ApiJson, AuthUser, Dpop};
use crate::domain::audit::Client;
use crate::domain::{Random, Timestamp, lifecycle};
use crate::{Error, Keyward};

/// Looks the address up and queues the mail after the answer has gone: the answer, and how
/// long it takes, are the same whether or not the address has an account.
fn send_later(keyward: &Keyward, deferred: lifecycle::Deferred, now: Timestamp) {
    let keyward = keyward.clone();
    tokio::spawn(async move {
        deferred.send(keyward.core(), now, &Random::os()).await;
    });
}

/// Send (again) the verification mail to the signed-in user's address. Nothing is sent when it
/// is verified already.
#[utoipa::path(
    post,
    path = "/auth/email/verification",
    tag = "lifecycle",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The mail is queued (or the address is verified already)."),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired` or `session_revoked`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn send_verification(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
) -> Result<StatusCode, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    lifecycle::send_verification(keyward.core(), &user.claims, &client, now, &random).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Confirm an address with the token of its verification link.
#[utoipa::path(
    post,
    path = "/auth/email/verification/confirm",
    tag = "lifecycle",
    request_body = LinkToken,
    responses(
        (status = 200, description = "The address is verified. Confirmed by the account's holder (signed in, or a `DPoP` proof by the device that asked for the link or by a signed-in device), the account stays as it is; by anyone else, the password, passkeys and second factor set before the address was proved are removed and its sessions end (pre-hijacking).", body = Envelope<Me>),
        (status = 401, description = "`invalid_link`: unknown, used or expired; or a refused token or `DPoP` proof.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn confirm_verification(
    State(keyward): State<Keyward>,
    user: Option<AuthUser>,
    client: Client,
    Dpop(dpop): Dpop,
    ApiJson(body): ApiJson<LinkToken>,
) -> Result<Json<Envelope<Me>>, Error> {
    let (now, claims) = (Timestamp::now(), user.as_ref().map(|u| &*u.claims));
    let core = keyward.core();
    let user =
        lifecycle::confirm_verification(core, &body.token, claims, &dpop, &client, now).await?;
    Ok(Json(Envelope::new(Me { user })))
}

/// Ask for a password reset mail. The answer (202) and its timing are the same whether or not
/// the address has an account.
#[utoipa::path(
    post,
    path = "/auth/password/forgot",
    tag = "lifecycle",
    request_body = ForgotPassword,
    responses(
        (status = 202, description = "If the address has an account, a reset link is on its way."),
        (status = 400, description = "`invalid_email`.", body = ErrorEnvelope),
        (status = 403, description = "`redirect_not_allowed`: `redirect_to` is not a page of an allowed origin.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn forgot_password(
    State(keyward): State<Keyward>,
    client: Client,
    ApiJson(body): ApiJson<ForgotPassword>,
) -> Result<StatusCode, Error> {
    let now = Timestamp::now();
    let deferred = lifecycle::forgot_password(keyward.core(), body, &client, now).await?;
    send_later(&keyward, deferred, now);
    Ok(StatusCode::ACCEPTED)
}

/// Set a new password with the token of a reset link. Every session of the account ends; the
/// next sign-in still asks for every factor the account has.
#[utoipa::path(
    post,
    path = "/auth/password/reset",
    tag = "lifecycle",
    request_body = ResetPassword,
    responses(
        (status = 204, description = "The password is changed; every session has ended."),
        (status = 400, description = "`weak_password` or `password_too_long`.", body = ErrorEnvelope),
        (status = 401, description = "`invalid_link`: unknown, used or expired (the password was not checked against it).", body = ErrorEnvelope),
        (status = 403, description = "`password_too_common`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn reset_password(
    State(keyward): State<Keyward>,
    client: Client,
    ApiJson(body): ApiJson<ResetPassword>,
) -> Result<StatusCode, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    lifecycle::reset_password(keyward.core(), body, &client, now, &random).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password: the current one and a recent sign-in are required; the user's other
/// sessions end.
#[utoipa::path(
    post,
    path = "/auth/password/change",
    tag = "lifecycle",
    security(("bearer" = [])),
    request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; the other sessions have ended."),
        (status = 400, description = "`weak_password` or `password_too_long`.", body = ErrorEnvelope),
        (status = 401, description = "`invalid_credentials` (the current password is wrong), `reauthentication_required`, or a token refusal.", body = ErrorEnvelope),
        (status = 403, description = "`password_too_common`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn change_password(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<StatusCode, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    lifecycle::change_password(keyward.core(), &user.claims, body, &client, now, &random).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Move the account to another address: a confirm link goes to it, a notice to the current
/// one; nothing changes before the link is used. Needs a recent sign-in.
#[utoipa::path(
    post,
    path = "/auth/email/change",
    tag = "lifecycle",
    security(("bearer" = [])),
    request_body = ChangeEmail,
    responses(
        (status = 202, description = "The confirm link is on its way (none when the address has an account already)."),
        (status = 400, description = "`invalid_email`.", body = ErrorEnvelope),
        (status = 403, description = "`redirect_not_allowed`: `redirect_to` is not a page of an allowed origin.", body = ErrorEnvelope),
        (status = 401, description = "`reauthentication_required`, or a token refusal.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn change_email(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    ApiJson(body): ApiJson<ChangeEmail>,
) -> Result<StatusCode, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    lifecycle::change_email(keyward.core(), &user.claims, body, &client, now, &random).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Confirm an address change with the token of its link (sent to the new address).
#[utoipa::path(
    post,
    path = "/auth/email/change/confirm",
    tag = "lifecycle",
    request_body = LinkToken,
    responses(
        (status = 200, description = "The account has its new (verified) address.", body = Envelope<Me>),
        (status = 401, description = "`invalid_link`; or a refused token or `DPoP` proof.", body = ErrorEnvelope),
        (status = 403, description = "`sign_in_required`: used neither signed in to the account nor from the device that asked (the link stays usable).", body = ErrorEnvelope),
        (status = 409, description = "`email_taken`: another account has the address now.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn confirm_email_change(
    State(keyward): State<Keyward>,
    user: Option<AuthUser>,
    client: Client,
    Dpop(dpop): Dpop,
    ApiJson(body): ApiJson<LinkToken>,
) -> Result<Json<Envelope<Me>>, Error> {
    let (now, claims) = (Timestamp::now(), user.as_ref().map(|u| &*u.claims));
    let core = keyward.core();
    let user =
        lifecycle::confirm_email_change(core, &body.token, claims, &dpop, &client, now).await?;
    Ok(Json(Envelope::new(Me { user })))
}

/// Ask for a sign-in link (and a 6-digit code in the same mail). The answer (202) and its
/// timing are the same for every valid address; an address without an account gets one when
/// the link is used.
#[utoipa::path(
    post,
    path = "/auth/magic-link",
    tag = "lifecycle",
    request_body = SendMagicLink,
    responses(
        (status = 202, description = "The mail is on its way."),
        (status = 400, description = "`invalid_email`.", body = ErrorEnvelope),
        (status = 403, description = "`redirect_not_allowed`: `redirect_to` is not a page of an allowed origin.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn send_magic_link(
    State(keyward): State<Keyward>,
    client: Client,
    ApiJson(body): ApiJson<SendMagicLink>,
) -> Result<StatusCode, Error> {
    let now = Timestamp::now();
    let deferred = lifecycle::send_magic_link(keyward.core(), body, &client, now).await?;
    send_later(&keyward, deferred, now);
    Ok(StatusCode::ACCEPTED)
}

/// Sign in with a magic link's token, or with the address and the mail's code. With a `DPoP`
/// proof header the session is bound to that device key.
#[utoipa::path(
    post,
    path = "/auth/magic-link/verify",
    tag = "lifecycle",
    request_body = VerifyMagicLink,
    responses(
        (status = 200, description = "Signed in (an account was made for a new address), or `{mfa_required, mfa_ticket, methods}` for an account with a second factor.", body = Envelope<SignInAnswer>),
        (status = 401, description = "`invalid_link` (unknown, used, expired, or a wrong code), `dpop_required`, `invalid_dpop_proof` or `use_dpop_nonce`.", body = ErrorEnvelope),
        (status = 403, description = "`email_not_verified`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn verify_magic_link(
    State(keyward): State<Keyward>,
    client: Client,
    Dpop(dpop): Dpop,
    ApiJson(body): ApiJson<VerifyMagicLink>,
) -> Result<Json<Envelope<SignInAnswer>>, Error> {
    let (now, random) = (Timestamp::now(), Random::os());
    let success =
        lifecycle::verify_magic_link(keyward.core(), body, &dpop, &client, now, &random).await?;
    Ok(Json(Envelope::new(success)))
}
