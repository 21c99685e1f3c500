//! Passkey endpoints. They speak standard WebAuthn JSON: the `…/options` answers are
//! `{"data": {"publicKey": …}}` as `PublicKeyCredential.parse…OptionsFromJSON` reads them, and
//! the `…/verify` bodies are the browser's `PublicKeyCredential.toJSON()`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keyward_proto::{
    AuthSuccess, Envelope, ErrorEnvelope, Passkey, PasskeyList, PasskeyName, PasskeySignIn,
    PasskeySignUp,
};
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

use super::extract::{ApiJson, AuthUser, Dpop, OptionalJson};
use crate::domain::audit::Client;
use crate::domain::{Timestamp, passkeys};
use crate::{Error, Keyward};

/// Options to register a passkey to the signed-in account.
#[utoipa::path(
    post,
    path = "/auth/passkeys/register/options",
    tag = "passkeys",
    security(("bearer" = [])),
    request_body(content = PasskeyName, description = "Optional: the passkey's name."),
    responses(
        (status = 200, description = "WebAuthn creation options (`{publicKey}`).", body = Object),
        (status = 401, description = "Not signed in, or `reauthentication_required`: the sign-in is older than `recent_auth` (10 minutes by default).", body = ErrorEnvelope),
    )
)]
pub(crate) async fn register_options(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    OptionalJson(body): OptionalJson<PasskeyName>,
) -> Result<Json<Envelope<CreationChallengeResponse>>, Error> {
    let now = Timestamp::now();
    let options =
        passkeys::register_options(keyward.core(), &user.claims, body.name, &client, now).await?;
    Ok(Json(Envelope::new(options)))
}

/// Finish registering a passkey: the body is `PublicKeyCredential.toJSON()`.
#[utoipa::path(
    post,
    path = "/auth/passkeys/register/verify",
    tag = "passkeys",
    security(("bearer" = [])),
    request_body(content = Object, description = "The browser's `PublicKeyCredential.toJSON()`."),
    responses(
        (status = 201, description = "The passkey is registered.", body = Envelope<Passkey>),
        (status = 400, description = "`invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "`passkey_invalid`, `challenge_expired`, `reauthentication_required`, or not signed in.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn register_verify(
    State(keyward): State<Keyward>,
    user: AuthUser,
    ApiJson(body): ApiJson<RegisterPublicKeyCredential>,
) -> Result<(StatusCode, Json<Envelope<Passkey>>), Error> {
    let passkey =
        passkeys::register_verify(keyward.core(), &user.claims, &body, Timestamp::now()).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(passkey))))
}

/// Options to create an account with a passkey and no password.
#[utoipa::path(
    post,
    path = "/auth/passkeys/sign-up/options",
    tag = "passkeys",
    request_body = PasskeySignUp,
    responses(
        (status = 200, description = "WebAuthn creation options (`{publicKey}`).", body = Object),
        (status = 400, description = "`invalid_email` or `invalid_request`.", body = ErrorEnvelope),
        (status = 409, description = "`email_taken`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn sign_up_options(
    State(keyward): State<Keyward>,
    client: Client,
    ApiJson(body): ApiJson<PasskeySignUp>,
) -> Result<Json<Envelope<CreationChallengeResponse>>, Error> {
    let now = Timestamp::now();
    let options =
        passkeys::sign_up_options(keyward.core(), &body.email, body.name, &client, now).await?;
    Ok(Json(Envelope::new(options)))
}

/// Finish a passkey sign-up: creates the account and signs it in (bound to the device key when
/// a `DPoP` proof comes along).
#[utoipa::path(
    post,
    path = "/auth/passkeys/sign-up/verify",
    tag = "passkeys",
    request_body(content = Object, description = "The browser's `PublicKeyCredential.toJSON()`."),
    responses(
        (status = 201, description = "Signed up and signed in.", body = Envelope<AuthSuccess>),
        (status = 400, description = "`invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "`passkey_invalid`, `challenge_expired`, or a DPoP error.", body = ErrorEnvelope),
        (status = 409, description = "`email_taken`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn sign_up_verify(
    State(keyward): State<Keyward>,
    client: Client,
    Dpop(dpop): Dpop,
    ApiJson(body): ApiJson<RegisterPublicKeyCredential>,
) -> Result<(StatusCode, Json<Envelope<AuthSuccess>>), Error> {
    let now = Timestamp::now();
    let success = passkeys::sign_up_verify(keyward.core(), &body, &dpop, &client, now).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(success))))
}

/// Options to sign in with a passkey: with an email, or without one (any discoverable passkey).
#[utoipa::path(
    post,
    path = "/auth/passkeys/sign-in/options",
    tag = "passkeys",
    request_body(content = PasskeySignIn, description = "Optional: the account's email."),
    responses(
        (status = 200, description = "WebAuthn request options (`{publicKey}`).", body = Object),
        (status = 400, description = "`invalid_email` or `invalid_request`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn sign_in_options(
    State(keyward): State<Keyward>,
    client: Client,
    OptionalJson(body): OptionalJson<PasskeySignIn>,
) -> Result<Json<Envelope<RequestChallengeResponse>>, Error> {
    let now = Timestamp::now();
    let options =
        passkeys::sign_in_options(keyward.core(), body.email.as_deref(), &client, now).await?;
    Ok(Json(Envelope::new(options)))
}

/// Finish a passkey sign-in: the body is `PublicKeyCredential.toJSON()`. The session is like a
/// password sign-in's (`amr: ["passkey"]`), bound to the device key with a `DPoP` proof.
#[utoipa::path(
    post,
    path = "/auth/passkeys/sign-in/verify",
    tag = "passkeys",
    request_body(content = Object, description = "The browser's `PublicKeyCredential.toJSON()`."),
    responses(
        (status = 200, description = "Signed in.", body = Envelope<AuthSuccess>),
        (status = 400, description = "`invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "`passkey_invalid`, `challenge_expired`, or a DPoP error.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn sign_in_verify(
    State(keyward): State<Keyward>,
    client: Client,
    Dpop(dpop): Dpop,
    ApiJson(body): ApiJson<PublicKeyCredential>,
) -> Result<Json<Envelope<AuthSuccess>>, Error> {
    let now = Timestamp::now();
    let success = passkeys::sign_in_verify(keyward.core(), &body, &dpop, &client, now).await?;
    Ok(Json(Envelope::new(success)))
}

/// The user's passkeys.
#[utoipa::path(
    get,
    path = "/auth/passkeys",
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The passkeys.", body = Envelope<PasskeyList>),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_passkeys(
    State(keyward): State<Keyward>,
    user: AuthUser,
) -> Result<Json<Envelope<PasskeyList>>, Error> {
    let passkeys = passkeys::list(keyward.core(), &user.claims).await?;
    Ok(Json(Envelope::new(PasskeyList { passkeys })))
}

/// Rename a passkey.
#[utoipa::path(
    patch,
    path = "/auth/passkeys/{id}",
    tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The passkey id.")),
    request_body = PasskeyName,
    responses(
        (status = 204, description = "Renamed."),
        (status = 400, description = "`invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "Not signed in.", body = ErrorEnvelope),
        (status = 404, description = "`not_found`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn rename_passkey(
    State(keyward): State<Keyward>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasskeyName>,
) -> Result<StatusCode, Error> {
    passkeys::rename(
        keyward.core(),
        &user.claims,
        &id,
        body.name.unwrap_or_default(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a passkey.
#[utoipa::path(
    delete,
    path = "/auth/passkeys/{id}",
    tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The passkey id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, description = "Not signed in, or `reauthentication_required`: the sign-in is older than `recent_auth` (10 minutes by default).", body = ErrorEnvelope),
        (status = 404, description = "`not_found`.", body = ErrorEnvelope),
        (status = 409, description = "`last_sign_in_method`: the account's only passkey, and it has no password.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn remove_passkey(
    State(keyward): State<Keyward>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    passkeys::remove(keyward.core(), &user.claims, &id, Timestamp::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
