//! API keys, of two kinds:
//!
//! - Server keys: how a resource server that is not this process (a sync server in Node or Go,
//!   an API in another language) proves it may ask about tokens and redeem connect tickets
//!   (`POST /auth/introspect`, `POST /auth/connect-ticket/redeem`). Made with `keyward
//!   server-keys create`, sent as `Authorization: Bearer kws_…`; they may do nothing else (a
//!   server key is no user, and no admin).
//! - Admin keys: an operator's tools on the admin API (`/auth/admin/…`, and introspection).
//!   Made with `keyward admin-keys create`, sent as `Authorization: Bearer kwa_…`.
//!
//! A key:
//!
//! - is 256 random bits (its prefix + base64url), shown once; the database keeps its SHA-256
//!   (a random 256-bit secret needs no slow hash: nothing can be guessed from it);
//! - is good only for what its kind may do;
//! - is refused at once when revoked (each request reads it; its last use is written at most
//!   once a minute).

use std::time::Duration;

use keyward_proto::ErrorCode;

use super::audit::{self, AuditKind, Client, EventExt as _};
use super::core::Core;
use super::{Random, ServerKeyId, Timestamp, b64, sha256, unb64};
use crate::Error;
use crate::store::ServerKeyRow;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Redeem connect tickets, introspect (`kws_…`).
    Server,
    /// The admin API, introspect (`kwa_…`).
    Admin,
}

impl KeyKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Server => "kws_",
            Self::Admin => "kwa_",
        }
    }

    /// Whether `authorization` (a header's value) presents a key of some kind, rather than a
    /// user's token.
    pub fn presented(authorization: &str) -> bool {
        let credential = authorization
            .split_once(' ')
            .map_or(authorization, |(_, c)| c.trim_start());
        [Self::Server, Self::Admin]
            .iter()
            .any(|kind| credential.starts_with(kind.prefix()))
    }

    /// As stored (`server`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Admin => "admin",
        }
    }

    fn of(stored: &str) -> Option<Self> {
        [Self::Server, Self::Admin]
            .into_iter()
            .find(|kind| kind.as_str() == stored)
    }
}

/// How stale a key's `last_used_at` may get before a use writes it again.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A key, parsed: its kind's prefix and 32 bytes in base64url.
struct Key(String);

impl Key {
    fn generate(kind: KeyKind, random: &Random) -> Self {
        Self(format!("{}{}", kind.prefix(), b64(&random.bytes::<32>())))
    }

    /// `None` for anything that is not a key of `kind`, so garbage never reaches the database.
    fn parse(kind: KeyKind, text: &str) -> Option<Self> {
        let body = text.strip_prefix(kind.prefix())?;
        (body.len() == 43 && unb64(body).is_some_and(|bytes| bytes.len() == 32))
            .then(|| Self(text.to_owned()))
    }

    fn hash(&self) -> Vec<u8> {
        sha256(self.0.as_bytes()).to_vec()
    }
}

/// The refusal for a missing, malformed, unknown, revoked or other-kind key; which one is not
/// said.
fn refused(kinds: &[KeyKind]) -> Error {
    Error::rejected(
        ErrorCode::Unauthorized,
        if kinds.contains(&KeyKind::Server) {
            "This needs a live server key: `Authorization: Bearer kws_…` (made with `keyward \
             server-keys create`)."
        } else {
            "This needs a live admin key: `Authorization: Bearer kwa_…` (made with `keyward \
             admin-keys create`)."
        },
    )
}

/// Makes a key of `kind` named `name` (who uses it: 1 to 100 characters, no control
/// characters). Returns its row and the key itself, which is not kept and cannot be shown again.
pub async fn create(
    core: &Core,
    kind: KeyKind,
    name: &str,
    now: Timestamp,
    random: &Random,
    client: &Client,
) -> Result<(ServerKeyRow, String), Error> {
    let Some(name) = super::fit_name(name, 100).filter(|name| !name.is_empty()) else {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "A key's name is 1 to 100 characters, without control or invisible formatting characters.",
        ));
    };
    let key = Key::generate(kind, random);
    let row = ServerKeyRow {
        id: ServerKeyId::new(now, random.bytes()),
        kind: kind.as_str().to_owned(),
        name: name.to_owned(),
        created_at: now.millis(),
        last_used_at: None,
        revoked_at: None,
    };
    let event = audit::event(AuditKind::ServerKeyCreated, now, client)
        .detail(serde_json::json!({ "id": row.id, "kind": row.kind, "name": row.name }));
    core.store
        .insert_server_key(&row, &key.hash(), &event)
        .await?;
    Ok((row, key.0))
}

/// Revokes key `id` of `kind`: it is refused from the next request on. `false` when there is no
/// such live key.
pub async fn revoke(
    core: &Core,
    kind: KeyKind,
    id: &ServerKeyId,
    now: Timestamp,
    client: &Client,
) -> Result<bool, Error> {
    let event = audit::event(AuditKind::ServerKeyRevoked, now, client)
        .detail(serde_json::json!({ "id": id, "kind": kind.as_str() }));
    let revoked = core
        .store
        .revoke_server_key(id, kind.as_str(), now.millis(), &event)
        .await?;
    Ok(revoked)
}

/// The key a request presents (the `Authorization` header's value): its id and kind when it is
/// a live key of one of `kinds`, `unauthorized` otherwise.
pub async fn authenticate(
    core: &Core,
    authorization: Option<&str>,
    kinds: &[KeyKind],
    now: Timestamp,
) -> Result<(ServerKeyId, KeyKind), Error> {
    let presented = authorization
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|(_, key)| {
            let key = key.trim();
            kinds.iter().find_map(|&kind| Key::parse(kind, key))
        })
        .ok_or_else(|| refused(kinds))?;
    let row = core
        .store
        .live_server_key(&presented.hash())
        .await?
        .ok_or_else(|| refused(kinds))?;
    // The prefix says the kind, and the stored kind must agree (a key is made with its prefix).
    let kind = KeyKind::of(&row.kind)
        .filter(|kind| kinds.contains(kind) && presented.0.starts_with(kind.prefix()))
        .ok_or_else(|| refused(kinds))?;
    let stale = row
        .last_used_at
        .is_none_or(|at| at < now.minus(TOUCH_EVERY).millis());
    // A note for `keyward server-keys list`, not a condition of the request: a write that
    // fails (a busy database) is logged, and the request goes on.
    if stale && let Err(err) = core.store.touch_server_key(&row.id, now.millis()).await {
        tracing::warn!(%err, key = %row.id, "could not note a server key's use");
    }
    Ok((row.id, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_keys_parse() {
        let key = Key::generate(KeyKind::Server, &Random::seeded(7));
        assert!(Key::parse(KeyKind::Server, &key.0).is_some());
        assert!(Key::parse(KeyKind::Admin, &key.0).is_none());
        let admin = Key::generate(KeyKind::Admin, &Random::seeded(7));
        assert!(admin.0.starts_with("kwa_") && Key::parse(KeyKind::Admin, &admin.0).is_some());
        assert!(Key::parse(KeyKind::Server, &admin.0).is_none());
        for bad in [
            "",
            "kws_",
            "kwt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "kws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "kws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "kws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
        ] {
            assert!(Key::parse(KeyKind::Server, bad).is_none(), "{bad}");
        }
    }
}
