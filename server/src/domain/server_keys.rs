//! Server keys: how a resource server that is not this process (a sync server in Node or Go,
//! an API in another language) proves it may ask about tokens and redeem connect tickets
//! (`POST /auth/introspect`, `POST /auth/connect-ticket/redeem`). Made with `keyward
//! server-keys create`, sent as `Authorization: Bearer kws_…`. A key:
//!
//! - is 256 random bits (`kws_` + base64url), shown once; the database keeps its SHA-256 (a
//!   random 256-bit secret needs no slow hash: nothing can be guessed from it);
//! - may only introspect and redeem, nothing else (it is no user, and no admin);
//! - is refused at once when revoked (each request reads it; its last use is written at most
//!   once a minute).

use std::time::Duration;

use keyward_proto::ErrorCode;

use super::audit::{self, AuditKind, Client, EventExt as _};
use super::core::Core;
use super::{Random, ServerKeyId, Timestamp, b64, sha256, unb64};
use crate::Error;
use crate::store::ServerKeyRow;

const PREFIX: &str = "kws_";

/// How stale a key's `last_used_at` may get before a use writes it again.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A key, parsed: `kws_` and 32 bytes in base64url.
struct Key(String);

impl Key {
    fn generate(random: &Random) -> Self {
        Self(format!("{PREFIX}{}", b64(&random.bytes::<32>())))
    }

    /// `None` for anything that is not one of ours, so garbage never reaches the database.
    fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix(PREFIX)?;
        (body.len() == 43 && unb64(body).is_some_and(|bytes| bytes.len() == 32))
            .then(|| Self(text.to_owned()))
    }

    fn hash(&self) -> Vec<u8> {
        sha256(self.0.as_bytes()).to_vec()
    }
}

/// The refusal for a missing, malformed, unknown or revoked key; which one is not said.
fn refused() -> Error {
    Error::rejected(
        ErrorCode::Unauthorized,
        "This needs a live server key: `Authorization: Bearer kws_…` (made with `keyward \
         server-keys create`).",
    )
}

/// Makes a key named `name` (which server uses it: 1 to 100 characters, no control
/// characters). Returns its row and the key itself, which is not kept and cannot be shown again.
pub async fn create(
    core: &Core,
    name: &str,
    now: Timestamp,
    random: &Random,
    client: &Client,
) -> Result<(ServerKeyRow, String), Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(super::unfit_for_names) {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "A server key's name is 1 to 100 characters, without control or invisible formatting characters.",
        ));
    }
    let key = Key::generate(random);
    let row = ServerKeyRow {
        id: ServerKeyId::new(now, random.bytes()),
        name: name.to_owned(),
        created_at: now.millis(),
        last_used_at: None,
        revoked_at: None,
    };
    let event = audit::event(AuditKind::ServerKeyCreated, now, client)
        .detail(serde_json::json!({ "id": row.id, "name": row.name }));
    core.store
        .insert_server_key(&row, &key.hash(), &event)
        .await?;
    Ok((row, key.0))
}

/// Revokes key `id`: it is refused from the next request on. `false` when there is no such
/// live key.
pub async fn revoke(
    core: &Core,
    id: &ServerKeyId,
    now: Timestamp,
    client: &Client,
) -> Result<bool, Error> {
    let event = audit::event(AuditKind::ServerKeyRevoked, now, client)
        .detail(serde_json::json!({ "id": id }));
    let revoked = core
        .store
        .revoke_server_key(id, now.millis(), &event)
        .await?;
    Ok(revoked)
}

/// The key a request presents (the `Authorization` header's value): its id when it is a live
/// key, `unauthorized` otherwise.
pub async fn authenticate(
    core: &Core,
    authorization: Option<&str>,
    now: Timestamp,
) -> Result<ServerKeyId, Error> {
    let presented = authorization
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|(_, key)| Key::parse(key.trim()))
        .ok_or_else(refused)?;
    let row = core
        .store
        .live_server_key(&presented.hash())
        .await?
        .ok_or_else(refused)?;
    let stale = row
        .last_used_at
        .is_none_or(|at| at < now.minus(TOUCH_EVERY).millis());
    // A note for `keyward server-keys list`, not a condition of the request: a write that
    // fails (a busy database) is logged, and the request goes on.
    if stale && let Err(err) = core.store.touch_server_key(&row.id, now.millis()).await {
        tracing::warn!(%err, key = %row.id, "could not note a server key's use");
    }
    Ok(row.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_keys_parse() {
        let key = Key::generate(&Random::seeded(7));
        assert!(Key::parse(&key.0).is_some());
        for bad in [
            "",
            "kws_",
            "kwt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "kws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "kws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "kws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
        ] {
            assert!(Key::parse(bad).is_none(), "{bad}");
        }
    }
}
