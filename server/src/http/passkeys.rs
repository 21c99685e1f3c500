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
use crate::domain::{Random, Timestamp, passkeys};
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
    request_body(content = RegistrationResponse, description = "The browser's `PublicKeyCredential.toJSON()`."),
    responses(
        (status = 201, description = "The passkey is registered.", body = Envelope<Passkey>),
        (status = 400, description = "`invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "`passkey_invalid`, `challenge_expired`, `reauthentication_required`, or not signed in.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn register_verify(
    State(keyward): State<Keyward>,
    user: AuthUser,
    client: Client,
    Credential(body): Credential<RegisterPublicKeyCredential>,
) -> Result<(StatusCode, Json<Envelope<Passkey>>), Error> {
    let passkey = passkeys::register_verify(
        keyward.core(),
        &user.claims,
        &body,
        &client,
        Timestamp::now(),
        &Random::os(),
    )
    .await?;
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
    let options = passkeys::sign_up_options(
        keyward.core(),
        &body.email,
        body.name,
        &client,
        now,
        &Random::os(),
    )
    .await?;
    Ok(Json(Envelope::new(options)))
}

/// Finish a passkey sign-up: creates the account and signs it in (bound to the device key when
/// a `DPoP` proof comes along).
#[utoipa::path(
    post,
    path = "/auth/passkeys/sign-up/verify",
    tag = "passkeys",
    request_body(content = RegistrationResponse, description = "The browser's `PublicKeyCredential.toJSON()`."),
    responses(
        (status = 201, description = "Signed up and signed in.", body = Envelope<AuthSuccess>),
        (status = 400, description = "`invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "`passkey_invalid`, `challenge_expired`, or a DPoP error.", body = ErrorEnvelope),
        (status = 403, description = "`email_not_verified`: this server signs nobody in before the address is confirmed.", body = ErrorEnvelope),
        (status = 409, description = "`email_taken`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn sign_up_verify(
    State(keyward): State<Keyward>,
    client: Client,
    Dpop(dpop): Dpop,
    Credential(body): Credential<RegisterPublicKeyCredential>,
) -> Result<(StatusCode, Json<Envelope<AuthSuccess>>), Error> {
    let now = Timestamp::now();
    let success =
        passkeys::sign_up_verify(keyward.core(), &body, &dpop, &client, now, &Random::os()).await?;
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
    request_body(content = AuthenticationResponse, description = "The browser's `PublicKeyCredential.toJSON()`."),
    responses(
        (status = 200, description = "Signed in.", body = Envelope<AuthSuccess>),
        (status = 400, description = "`invalid_request`.", body = ErrorEnvelope),
        (status = 401, description = "`passkey_invalid`, `challenge_expired`, or a DPoP error.", body = ErrorEnvelope),
        (status = 403, description = "`email_not_verified`: this server signs nobody in before the address is confirmed.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn sign_in_verify(
    State(keyward): State<Keyward>,
    client: Client,
    Dpop(dpop): Dpop,
    Credential(body): Credential<PublicKeyCredential>,
) -> Result<Json<Envelope<AuthSuccess>>, Error> {
    let now = Timestamp::now();
    let success =
        passkeys::sign_in_verify(keyward.core(), &body, &dpop, &client, now, &Random::os()).await?;
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
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    passkeys::remove(keyward.core(), &user.claims, &id, &client, Timestamp::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A WebAuthn answer (`PublicKeyCredential.toJSON()`) in a JSON body. A body that is JSON but not
/// a credential webauthn-rs can read (a field missing, bytes that are not base64url) is a
/// refused passkey, `passkey_invalid`, like one whose signature is wrong: the browser sent it,
/// and the same thing happens for the user either way.
pub(crate) struct Credential<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S>
    for Credential<T>
{
    type Rejection = Error;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Error> {
        let ApiJson(value) = ApiJson::<serde_json::Value>::from_request(req, state).await?;
        serde_json::from_value(value).map(Self).map_err(|err| {
            Error::rejected(
                keyward_proto::ErrorCode::PasskeyInvalid,
                format!("The passkey was refused: its answer is malformed ({err})."),
            )
        })
    }
}

// The bodies below only document what WebAuthn's JSON is (bytes as base64url without padding,
// `^[A-Za-z0-9_-]*$`), for generated clients: webauthn-rs reads the real ones.

/// `PublicKeyCredential.toJSON()` of a registration.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
#[schema(title = "RegistrationResponseJSON")]
pub(crate) struct RegistrationResponse {
    /// The credential id, base64url.
    #[schema(pattern = "^[A-Za-z0-9_-]*$")]
    id: String,
    /// The same, base64url.
    #[schema(pattern = "^[A-Za-z0-9_-]*$")]
    #[schema(rename = "rawId")]
    raw_id: String,
    /// Always `public-key`.
    #[schema(rename = "type", pattern = "^public-key$")]
    kind: String,
    /// What the authenticator made.
    response: AttestationResponse,
    /// The client's extension outputs (may be empty).
    #[schema(rename = "clientExtensionResults")]
    client_extension_results: Option<serde_json::Value>,
}

/// `AuthenticatorAttestationResponse.toJSON()`.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(crate) struct AttestationResponse {
    /// base64url.
    #[schema(rename = "clientDataJSON", pattern = "^[A-Za-z0-9_-]*$")]
    client_data_json: String,
    /// base64url.
    #[schema(rename = "attestationObject", pattern = "^[A-Za-z0-9_-]*$")]
    attestation_object: String,
    /// How the authenticator can be reached (`usb`, `nfc`, `ble`, `internal`, `hybrid`).
    transports: Option<Vec<String>>,
}

/// `PublicKeyCredential.toJSON()` of a sign-in.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
#[schema(title = "AuthenticationResponseJSON")]
pub(crate) struct AuthenticationResponse {
    /// The credential id, base64url.
    #[schema(pattern = "^[A-Za-z0-9_-]*$")]
    id: String,
    /// The same, base64url.
    #[schema(rename = "rawId", pattern = "^[A-Za-z0-9_-]*$")]
    raw_id: String,
    /// Always `public-key`.
    #[schema(rename = "type", pattern = "^public-key$")]
    kind: String,
    /// What the authenticator signed.
    response: AssertionResponse,
    /// The client's extension outputs (may be empty).
    #[schema(rename = "clientExtensionResults")]
    client_extension_results: Option<serde_json::Value>,
}

/// `AuthenticatorAssertionResponse.toJSON()`.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(crate) struct AssertionResponse {
    /// base64url.
    #[schema(rename = "clientDataJSON", pattern = "^[A-Za-z0-9_-]*$")]
    client_data_json: String,
    /// base64url.
    #[schema(rename = "authenticatorData", pattern = "^[A-Za-z0-9_-]*$")]
    authenticator_data: String,
    /// base64url.
    #[schema(pattern = "^[A-Za-z0-9_-]*$")]
    signature: String,
    /// The user's handle (a discoverable credential), base64url.
    #[schema(rename = "userHandle", pattern = "^[A-Za-z0-9_-]*$")]
    user_handle: Option<String>,
}
