//! What users allowed which apps to know, seen and taken back by the users themselves
//! (`/auth/connected-apps`): taking consent back ends that app's grants for the user at once
//! (its access tokens are refused from the next request on), and it asks again next time.

use keyward_proto::{ConnectedApp, ErrorCode};

use crate::Error;
use crate::domain::audit::{self, AuditKind, Client, EventExt as _};
use crate::domain::core::Core;
use crate::domain::{Timestamp, UserId};

/// `GET /auth/connected-apps`: the apps `user` consented to, newest first.
pub async fn list(core: &Core, user: &UserId) -> Result<Vec<ConnectedApp>, Error> {
    let rows = core.store.oidc_consents(user).await?;
    Ok(rows
        .into_iter()
        .map(|row| ConnectedApp {
            client_id: row.client_id,
            name: row.name,
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            granted_at: Timestamp::from_millis(row.granted_at).to_rfc3339(),
        })
        .collect())
}

/// `DELETE /auth/connected-apps/{client_id}`: `user` takes back their consent to the app; its
/// grants for them end. `not_found` when they had not consented to it.
pub async fn revoke(
    core: &Core,
    user: &UserId,
    client_id: &str,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let not_found = || Error::rejected(ErrorCode::NotFound, "You did not connect this app.");
    let client_id = super::clients::well_formed_id(client_id).ok_or_else(not_found)?;
    let event = audit::event(AuditKind::OidcConsentRevoked, now, client)
        .user(user)
        .detail(serde_json::json!({ "client": client_id }));
    let ended = core
        .store
        .revoke_oidc_consent((user, client_id), now.millis(), &event)
        .await?
        .ok_or_else(not_found)?;
    core.revoked
        .insert(ended.iter(), now, core.settings.access_ttl);
    Ok(())
}
