//! Devices: the keys a user's sessions are bound to. Listing, renaming, revoking (which ends
//! every session of the device at once), and single-use challenges a device signs to prove, right
//! now, that it still holds its key.

use std::time::Duration;

use keyward_proto::{ChallengeVerified, Device, DeviceChallenge, ErrorCode};

use super::audit::{self, Client, EventExt as _};
use super::core::Core;
use super::tokens::AccessClaims;
use super::{DeviceId, Random, Timestamp, UserId, b64, dpop, sha256};
use crate::Error;
use crate::store::Challenge;

/// How long a challenge can be answered.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(60);

/// The longest device name accepted.
const MAX_NAME_CHARS: usize = 100;

fn not_found() -> Error {
    Error::rejected(ErrorCode::NotFound, "No such device.")
}

/// `GET /auth/devices`: the user's devices, the caller's marked `current`.
pub async fn list(core: &Core, claims: &AccessClaims) -> Result<Vec<Device>, Error> {
    let current = claims.cnf.as_ref().map(|cnf| cnf.jkt.as_str());
    of_user(core, &claims.sub, current).await
}

/// `user`'s devices, the one whose key thumbprint is `current` marked.
pub async fn of_user(
    core: &Core,
    user: &UserId,
    current: Option<&str>,
) -> Result<Vec<Device>, Error> {
    let rows = core.store.devices(user).await?;
    Ok(rows
        .into_iter()
        .map(|row| Device {
            current: Some(row.jkt.as_str()) == current,
            id: row.id.to_string(),
            name: row.name,
            jkt: row.jkt.to_string(),
            created_at: Timestamp::from_millis(row.created_at).to_rfc3339(),
            last_seen_at: Timestamp::from_millis(row.last_seen_at).to_rfc3339(),
        })
        .collect())
}

/// `PATCH /auth/devices/{id}`: a blank name gives the device its default name back.
pub async fn rename(core: &Core, claims: &AccessClaims, id: &str, name: &str) -> Result<(), Error> {
    let Some(name) = super::fit_name(name, MAX_NAME_CHARS) else {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "A device name must be at most 100 characters, without control or invisible formatting characters.",
        ));
    };
    let id = DeviceId::parse(id).ok_or_else(not_found)?;
    let name = if name.is_empty() {
        let devices = core.store.devices(&claims.sub).await?;
        let device = devices.iter().find(|d| d.id == id).ok_or_else(not_found)?;
        name_from_user_agent(device.user_agent.as_deref())
    } else {
        name.to_owned()
    };
    if core.store.rename_device(&claims.sub, &id, &name).await? {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// `DELETE /auth/devices/{id}`: revokes the device and every session bound to it; their access
/// tokens are refused at once.
pub async fn revoke(
    core: &Core,
    claims: &AccessClaims,
    id: &str,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let id = DeviceId::parse(id).ok_or_else(not_found)?;
    let event = audit::event(audit::AuditKind::DeviceRevoked, now, client)
        .user(&claims.sub)
        .session(&claims.sid)
        .detail(serde_json::json!({ "device": id.to_string() }));
    let sessions = core
        .store
        .revoke_device(&claims.sub, &id, now.millis(), &event)
        .await?
        .ok_or_else(not_found)?;
    core.revoked
        .insert(sessions.iter(), now, core.settings.access_ttl);
    Ok(())
}

/// The longest audience accepted.
const MAX_AUDIENCE_LEN: usize = 512;

/// `POST /auth/devices/{id}/challenge`: a single-use challenge, valid 60 seconds, that only
/// device `id` (one of the caller's) can answer, and only a verifier naming `audience` accepts.
pub async fn challenge(
    core: &Core,
    claims: &AccessClaims,
    id: &str,
    audience: &str,
    now: Timestamp,
    random: &Random,
) -> Result<DeviceChallenge, Error> {
    if audience.is_empty()
        || audience.len() > MAX_AUDIENCE_LEN
        || !audience.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "The audience must be 1 to 512 visible ASCII characters (a URL, say).",
        ));
    }
    let id = DeviceId::parse(id).ok_or_else(not_found)?;
    let owned = core
        .store
        .devices(&claims.sub)
        .await?
        .iter()
        .any(|d| d.id == id);
    if !owned {
        return Err(not_found());
    }
    let challenge = b64(&random.bytes::<32>());
    let expires_at = now.plus(CHALLENGE_TTL);
    core.store
        .insert_challenge(&Challenge {
            hash: sha256(challenge.as_bytes()).to_vec(),
            device_id: id,
            user_id: claims.sub,
            expires_at: expires_at.millis(),
            audience: audience.to_owned(),
        })
        .await?;
    Ok(DeviceChallenge {
        challenge,
        expires_at: expires_at.to_rfc3339(),
    })
}

/// `POST /auth/devices/challenge/verify`: checks that `proof` is the challenged device's DPoP
/// proof for this request with the challenge as its nonce, and that the verifier asking is the
/// `audience` the challenge was issued for. The challenge is used up either way once it is
/// found, so it cannot be tried twice.
pub async fn verify_challenge(
    core: &Core,
    challenge: &str,
    audience: &str,
    request: &dpop::Request,
    now: Timestamp,
) -> Result<ChallengeVerified, Error> {
    let refused = || {
        Error::rejected(
            ErrorCode::InvalidDpopProof,
            "The challenge is unknown, used or expired, issued for another audience, or the \
             proof is not the device's.",
        )
    };
    let consumed = core
        .store
        .consume_challenge(&sha256(challenge.as_bytes()), now.millis())
        .await?
        .ok_or_else(refused)?;
    let text = request.proof.as_deref().ok_or_else(refused)?;
    let proof = dpop::verify(text, &request.method, &request.url, None, now)?;
    if proof.jkt != consumed.jkt
        || proof.nonce.as_deref() != Some(challenge)
        || consumed.audience != audience
    {
        return Err(refused());
    }
    Ok(ChallengeVerified {
        device_id: consumed.device_id.to_string(),
        user_id: consumed.user_id.to_string(),
    })
}

/// "Chrome on Linux", "Safari on iOS", … from a `User-Agent`; "Unknown device" otherwise.
pub fn name_from_user_agent(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent else {
        return "Unknown device".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| *name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(browser), Some(os)) => format!("{browser} on {os}"),
        (Some(name), None) | (None, Some(name)) => name.to_owned(),
        (None, None) => agent
            .split('/')
            .next()
            .unwrap_or("Unknown device")
            .chars()
            .take(40)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_get_readable_names_from_their_user_agent() {
        let chrome_linux = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
        assert_eq!(name_from_user_agent(Some(chrome_linux)), "Chrome on Linux");
        let safari_ios = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(name_from_user_agent(Some(safari_ios)), "Safari on iOS");
        assert_eq!(name_from_user_agent(Some("curl/8.4.0")), "curl");
        assert_eq!(name_from_user_agent(None), "Unknown device");
    }
}
