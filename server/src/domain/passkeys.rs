//! Passkeys (WebAuthn, via webauthn-rs): register one to a signed-in account, sign up with one
//! and no password, sign in with one (with an email, or without: a discoverable credential).
//!
//! Ceremony state stays on the server (never sent to the browser), keyed by its challenge, used
//! once and for at most five minutes: it is deleted *before* the answer is verified, because
//! webauthn-rs would accept the same ceremony finished twice. For usernameless sign-in the
//! credential is looked up by its id and must belong to the user its `userHandle` names, because
//! webauthn-rs does not tie the two together. Passkeys are registered as discoverable
//! (`residentKey: required`), so every passkey also works without typing an email.

use std::time::Duration;

use keyward_proto::{AuthSuccess, ErrorCode, Passkey as PasskeyView};
use serde::Deserialize;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder,
};
use webauthn_rs_proto::{ResidentKeyRequirement, UserVerificationPolicy};

use super::accounts::{device_check, require_recent_auth, signed_in, signed_up};
use super::audit::{self, Client, EventExt as _};
use super::core::Core;
use super::email::Email;
use super::sessions::Start;
use super::tokens::AccessClaims;
use super::{Random, Timestamp, UserId, b64, dpop, limits};
use crate::store::{CeremonyRow, PasskeyRow, Removal, UserRow, WayIn};
use crate::{Error, Settings};

/// How long a ceremony can be answered.
pub const CEREMONY_TTL: Duration = Duration::from_secs(5 * 60);

/// The relying party from the settings: id and origins, and the webauthn-rs verifier.
pub fn relying_party(settings: &Settings) -> Result<Webauthn, Error> {
    let bad = |reason: String| Error::Config {
        setting: "rp-origins",
        reason,
    };
    let origins: Vec<Url> = settings
        .rp_origins()
        .iter()
        .map(|o| Url::parse(o).map_err(|e| bad(format!("`{o}` is not a URL: {e}"))))
        .collect::<Result<_, _>>()?;
    let Some((first, rest)) = origins.split_first() else {
        return Err(bad("at least one origin is needed".into()));
    };
    let rp_id = settings.rp_id();
    let mut builder = WebauthnBuilder::new(&rp_id, first)
        .map_err(|e| Error::Config {
            setting: "rp-id",
            reason: format!("`{rp_id}` does not fit the origin {first}: {e}"),
        })?
        .rp_name("Keyward")
        .timeout(CEREMONY_TTL);
    for origin in rest {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().map_err(|e| bad(e.to_string()))
}

fn invalid(why: &str) -> Error {
    Error::rejected(
        ErrorCode::PasskeyInvalid,
        format!("The passkey was refused: {why}."),
    )
}

fn expired() -> Error {
    Error::rejected(
        ErrorCode::ChallengeExpired,
        "This passkey request is unknown, used already, or expired. Start again.",
    )
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|_| Error::internal("passkey state did not serialise"))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|_| Error::internal("stored passkey state is unreadable"))
}

/// Registration options made discoverable: a passkey must work without an email.
fn discoverable(mut options: CreationChallengeResponse) -> CreationChallengeResponse {
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
        selection.user_verification = UserVerificationPolicy::Required;
    }
    options
}

/// The challenge a browser's answer carries (in its `clientDataJSON`), to find the ceremony.
pub(crate) fn challenge_of(client_data_json: &[u8]) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct ClientData {
        challenge: String,
    }
    serde_json::from_slice::<ClientData>(client_data_json)
        .map(|data| data.challenge)
        .map_err(|_| invalid("its clientDataJSON is malformed"))
}

async fn begin(core: &Core, ceremony: CeremonyRow) -> Result<(), Error> {
    Ok(core.store.insert_ceremony(&ceremony).await?)
}

/// Takes the ceremony `challenge` of `kind`, unexpired at `now`.
async fn take(
    core: &Core,
    challenge: &str,
    kinds: &[&str],
    now: Timestamp,
) -> Result<CeremonyRow, Error> {
    let ceremony = core
        .store
        .take_ceremony(challenge)
        .await?
        .ok_or_else(expired)?;
    if !kinds.contains(&ceremony.kind.as_str())
        || Timestamp::from_millis(ceremony.expires_at) <= now
    {
        return Err(expired());
    }
    Ok(ceremony)
}

fn ceremony(challenge: &[u8], kind: &str, state: String, now: Timestamp) -> CeremonyRow {
    CeremonyRow {
        challenge: b64(challenge),
        kind: kind.into(),
        user_id: None,
        email: None,
        name: None,
        state,
        expires_at: now.plus(CEREMONY_TTL).millis(),
    }
}

fn uuid_of(user_id: &UserId) -> Result<Uuid, Error> {
    Ok(user_id.as_uuid())
}

fn name_or_default(name: Option<String>, client: &Client) -> Result<String, Error> {
    match name.as_deref().map(|sent| super::fit_name(sent, 100)) {
        Some(None) => Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "A passkey name must be at most 100 characters, without control or invisible formatting characters.",
        )),
        Some(Some(name)) if !name.is_empty() => Ok(name.to_owned()),
        _ => Ok(format!(
            "Passkey on {}",
            super::devices::name_from_user_agent(client.user_agent.as_deref())
        )),
    }
}

/// `POST /auth/passkeys/register/options`: options to register a passkey to the signed-in user,
/// who must have signed in recently (see [`require_recent_auth`]).
pub async fn register_options(
    core: &Core,
    claims: &AccessClaims,
    name: Option<String>,
    client: &Client,
    now: Timestamp,
) -> Result<CreationChallengeResponse, Error> {
    require_recent_auth(core, claims, now)?;
    let user = core.store.user(&claims.sub).await?.ok_or_else(|| {
        Error::rejected(ErrorCode::SessionRevoked, "This account no longer exists.")
    })?;
    let existing: Vec<Passkey> = core
        .store
        .passkeys(&user.id)
        .await?
        .iter()
        .map(|row| from_json(&row.passkey))
        .collect::<Result<_, _>>()?;
    let exclude = existing.iter().map(|p| p.cred_id().clone()).collect();
    let display = user.name.clone().unwrap_or_else(|| user.email.clone());
    let (options, state) = core
        .webauthn()
        .start_passkey_registration(uuid_of(&user.id)?, &user.email, &display, Some(exclude))
        .map_err(|e| Error::internal(format!("webauthn: {e}")))?;
    let options = discoverable(options);
    let mut row = ceremony(
        &options.public_key.challenge,
        "register",
        to_json(&state)?,
        now,
    );
    row.user_id = Some(user.id);
    row.name = Some(name_or_default(name, client)?);
    begin(core, row).await?;
    Ok(options)
}

/// `POST /auth/passkeys/register/verify`: stores the new passkey (the sign-in must still be
/// recent).
pub async fn register_verify(
    core: &Core,
    claims: &AccessClaims,
    answer: &RegisterPublicKeyCredential,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<PasskeyView, Error> {
    require_recent_auth(core, claims, now)?;
    let challenge = challenge_of(answer.response.client_data_json.as_ref())?;
    let ceremony = take(core, &challenge, &["register"], now).await?;
    if ceremony.user_id != Some(claims.sub) {
        return Err(expired());
    }
    let state: PasskeyRegistration = from_json(&ceremony.state)?;
    let passkey = core
        .webauthn()
        .finish_passkey_registration(answer, &state)
        .map_err(|e| invalid(&e.to_string()))?;
    let row = passkey_row(
        &claims.sub,
        &passkey,
        ceremony.name.unwrap_or_default(),
        now,
        random,
    )?;
    let event = audit::event(audit::AuditKind::PasskeyAdded, now, client)
        .user(&claims.sub)
        .session(&claims.sid)
        .detail(serde_json::json!({ "passkey": row.id }));
    if !core.store.insert_passkey(&row, &event).await? {
        return Err(invalid("this passkey is registered already"));
    }
    Ok(view(&row))
}

fn passkey_row(
    user_id: &UserId,
    passkey: &Passkey,
    name: String,
    now: Timestamp,
    random: &Random,
) -> Result<PasskeyRow, Error> {
    Ok(PasskeyRow {
        id: super::DeviceId::new(now, random.bytes()).to_string(),
        user_id: *user_id,
        credential_id: b64(passkey.cred_id().as_ref()),
        passkey: to_json(passkey)?,
        name,
        created_at: now.millis(),
        last_used_at: None,
    })
}

fn view(row: &PasskeyRow) -> PasskeyView {
    PasskeyView {
        id: row.id.clone(),
        name: row.name.clone(),
        created_at: Timestamp::from_millis(row.created_at).to_rfc3339(),
        last_used_at: row
            .last_used_at
            .map(|t| Timestamp::from_millis(t).to_rfc3339()),
    }
}

/// `POST /auth/passkeys/sign-up/options`: options to create an account with a passkey only.
pub async fn sign_up_options(
    core: &Core,
    email: &str,
    name: Option<String>,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<CreationChallengeResponse, Error> {
    let email = Email::parse(email)?;
    let name = super::accounts::parse_name(name)?;
    limits::check(
        &core.store,
        core.settings.rate_limits,
        limits::SIGN_UP_PER_IP,
        &client.ip_key(),
        now,
    )
    .await?;
    if core.store.user_by_email(email.key()).await?.is_some() {
        return Err(Error::rejected(
            ErrorCode::EmailTaken,
            "An account with this email address exists already. Sign in instead.",
        ));
    }
    let user_id = UserId::new(now, random.bytes());
    let display = name.clone().unwrap_or_else(|| email.as_str().to_owned());
    let (options, state) = core
        .webauthn()
        .start_passkey_registration(uuid_of(&user_id)?, email.as_str(), &display, None)
        .map_err(|e| Error::internal(format!("webauthn: {e}")))?;
    let options = discoverable(options);
    let mut row = ceremony(
        &options.public_key.challenge,
        "sign_up",
        to_json(&state)?,
        now,
    );
    row.user_id = Some(user_id);
    row.email = Some(email.as_str().to_owned());
    row.name = name;
    begin(core, row).await?;
    Ok(options)
}

/// `POST /auth/passkeys/sign-up/verify`: creates the account (no password), its passkey and
/// its first session, in one transaction.
pub async fn sign_up_verify(
    core: &Core,
    answer: &RegisterPublicKeyCredential,
    request: &dpop::Request,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<AuthSuccess, Error> {
    // The proof is checked before the ceremony is used up (a missing nonce is answered with
    // one, and the retry still finds its ceremony) and recorded after it: only a request that
    // holds a ceremony, which is rate limited, can add to the recorded proofs.
    let device = device_check(core, request, now)?;
    let challenge = challenge_of(answer.response.client_data_json.as_ref())?;
    let ceremony = take(core, &challenge, &["sign_up"], now).await?;
    if let Some(proof) = &device {
        core.record_dpop(proof, now).await?;
    }
    let state: PasskeyRegistration = from_json(&ceremony.state)?;
    let passkey = core
        .webauthn()
        .finish_passkey_registration(answer, &state)
        .map_err(|e| invalid(&e.to_string()))?;
    let (Some(user_id), Some(address)) = (ceremony.user_id, ceremony.email) else {
        return Err(Error::internal("a sign-up ceremony without its user"));
    };
    let email = Email::parse(&address)?;
    let user = UserRow {
        id: user_id,
        email: email.as_str().to_owned(),
        email_key: email.key().to_owned(),
        email_verified_at: None,
        name: ceremony.name,
        password_hash: None,
        created_at: now.millis(),
        disabled_at: None,
        last_sign_in_at: None,
    };
    let key_name = name_or_default(None, client)?;
    let passkey = passkey_row(&user.id, &passkey, key_name, now, random)?;
    let start = Start {
        user: &user,
        sign_up: true,
        amr: &["passkey"],
        client,
        event: audit::AuditKind::SignUp,
        device: device.as_ref(),
        way_in: Some(WayIn::Passkey(passkey)),
    };
    signed_up(core, start, now, random).await
}

/// `POST /auth/passkeys/sign-in/options`: with an email that has passkeys, options naming them;
/// otherwise options for any discoverable passkey of this site (so the answer does not tell
/// whether an email has an account without passkeys, or none).
pub async fn sign_in_options(
    core: &Core,
    email: Option<&str>,
    client: &Client,
    now: Timestamp,
) -> Result<RequestChallengeResponse, Error> {
    limits::check(
        &core.store,
        core.settings.rate_limits,
        limits::SIGN_IN_PER_IP,
        &client.ip_key(),
        now,
    )
    .await?;
    let user = match email {
        Some(email) => core.store.user_by_email(Email::parse(email)?.key()).await?,
        None => None,
    };
    let passkeys: Vec<Passkey> = match &user {
        Some(user) => core
            .store
            .passkeys(&user.id)
            .await?
            .iter()
            .map(|row| from_json(&row.passkey))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let webauthn = core.webauthn();
    let (mut options, row) = if passkeys.is_empty() {
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::internal(format!("webauthn: {e}")))?;
        let row = ceremony(
            &options.public_key.challenge,
            "discover",
            to_json(&state)?,
            now,
        );
        (options, row)
    } else {
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|e| Error::internal(format!("webauthn: {e}")))?;
        let mut row = ceremony(
            &options.public_key.challenge,
            "sign_in",
            to_json(&state)?,
            now,
        );
        row.user_id = user.map(|u| u.id);
        (options, row)
    };
    // webauthn-rs marks discoverable options for conditional UI only; the client chooses the
    // mediation (a button, or autofill).
    options.mediation = None;
    begin(core, row).await?;
    Ok(options)
}

/// `POST /auth/passkeys/sign-in/verify`: checks the assertion and starts a session
/// (`amr: ["passkey"]`, bound to the device key when the request carries a DPoP proof).
pub async fn sign_in_verify(
    core: &Core,
    answer: &PublicKeyCredential,
    request: &dpop::Request,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<AuthSuccess, Error> {
    // Checked before the ceremony is used up, recorded after (see `sign_up_verify`).
    let device = device_check(core, request, now)?;
    let challenge = challenge_of(answer.response.client_data_json.as_ref())?;
    let ceremony = take(core, &challenge, &["sign_in", "discover"], now).await?;
    if let Some(proof) = &device {
        core.record_dpop(proof, now).await?;
    }
    let credential_id = b64(answer.raw_id.as_ref());
    let stored = core
        .store
        .passkey_by_credential(&credential_id)
        .await?
        .ok_or_else(|| invalid("this passkey is not registered here"))?;
    let mut passkey: Passkey = from_json(&stored.passkey)?;
    let webauthn = core.webauthn();
    let result = if ceremony.kind == "discover" {
        // The userHandle is the browser's claim; the credential's owner is ours.
        let (handle, _) = webauthn
            .identify_discoverable_authentication(answer)
            .map_err(|e| invalid(&e.to_string()))?;
        if uuid_of(&stored.user_id)? != handle {
            return Err(invalid(
                "the passkey belongs to another account than it claims",
            ));
        }
        let state: DiscoverableAuthentication = from_json(&ceremony.state)?;
        webauthn
            .finish_discoverable_authentication_v2(answer, state, &passkey)
            .map_err(|e| invalid(&e.to_string()))?
    } else {
        if ceremony.user_id != Some(stored.user_id) {
            return Err(invalid("the passkey belongs to another account"));
        }
        let state: PasskeyAuthentication = from_json(&ceremony.state)?;
        webauthn
            .finish_passkey_authentication(answer, &state)
            .map_err(|e| invalid(&e.to_string()))?
    };
    passkey.update_credential(&result);
    core.store
        .touch_passkey(&stored.id, &to_json(&passkey)?, now.millis())
        .await?;
    let user = core
        .store
        .user(&stored.user_id)
        .await?
        .ok_or_else(|| invalid("its account no longer exists"))?;
    signed_in(
        core,
        &user,
        &["passkey"],
        client,
        device.as_ref(),
        now,
        random,
    )
    .await
}

/// `GET /auth/passkeys`.
pub async fn list(core: &Core, claims: &AccessClaims) -> Result<Vec<PasskeyView>, Error> {
    of_user(core, &claims.sub).await
}

/// `user`'s passkeys.
pub async fn of_user(core: &Core, user: &UserId) -> Result<Vec<PasskeyView>, Error> {
    Ok(core.store.passkeys(user).await?.iter().map(view).collect())
}

/// `PATCH /auth/passkeys/{id}`.
pub async fn rename(
    core: &Core,
    claims: &AccessClaims,
    id: &str,
    name: String,
) -> Result<(), Error> {
    let name = name_or_default(Some(name), &Client::default())?;
    if core.store.rename_passkey(&claims.sub, id, &name).await? {
        Ok(())
    } else {
        Err(Error::rejected(ErrorCode::NotFound, "No such passkey."))
    }
}

/// `DELETE /auth/passkeys/{id}`: needs a recent sign-in, and never removes the account's last
/// way to sign in (its only passkey when it has no password).
pub async fn remove(
    core: &Core,
    claims: &AccessClaims,
    id: &str,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    require_recent_auth(core, claims, now)?;
    let event = audit::event(audit::AuditKind::PasskeyRemoved, now, client)
        .user(&claims.sub)
        .session(&claims.sid)
        .detail(serde_json::json!({ "passkey": id }));
    match core.store.delete_passkey(&claims.sub, id, &event).await? {
        Removal::Removed => Ok(()),
        Removal::NotFound => Err(Error::rejected(ErrorCode::NotFound, "No such passkey.")),
        Removal::LastSignInMethod => Err(Error::rejected(
            ErrorCode::LastSignInMethod,
            "This is the account's last way to sign in: add a password or another passkey first.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_read_from_client_data() {
        let data =
            br#"{"type":"webauthn.get","challenge":"abc_-","origin":"http://localhost:8787"}"#;
        assert_eq!(challenge_of(data).unwrap(), "abc_-");
        assert!(challenge_of(b"not json").is_err());
    }
}
