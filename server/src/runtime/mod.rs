//! Start-up and background upkeep: what runs a [`Core`] rather than decides anything. Reads the
//! clock and the operating system's randomness for the domain, which takes them as arguments.
//!
//! - [`start`]: validates the settings, loads the master secret (or, in development, makes one
//!   beside the database: [`dev_secret`]), connects and migrates the database, makes the first
//!   signing key on first start, and reads the recent revocations.
//! - [`spawn_upkeep`]: every second, revocations from other servers (on PostgreSQL also as soon
//!   as the database notifies them); every 30 seconds, the signing keys (a rotation made
//!   elsewhere); every ten minutes, ended sessions, old counters and sign-in failure records,
//!   expired proofs, connect tickets and ceremonies, webhook deliveries finished a month ago, and
//!   audit events past their retention.

// The edge: this module reads the clock and draws from the operating system for the domain.
#![allow(clippy::disallowed_methods)]

pub mod dev_secret;
pub mod mailer;
pub mod webhooks;

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::domain::audit::{self, AuditKind, Client, EventExt as _};
use crate::domain::core::Core;
use crate::domain::keys::{self, KeyRing};
use crate::domain::password::Hasher;
use crate::domain::revocation;
use crate::domain::{Random, Timestamp, passkeys};
use crate::store::Store;
use crate::{Error, Settings};

/// Validates `settings`, connects and migrates the database, loads (on first start: makes) the
/// signing key, and reads the recent revocations. The upkeep is not started: see
/// [`spawn_upkeep`].
pub async fn start(settings: Settings) -> Result<Arc<Core>, Error> {
    settings.validate()?;
    if let Some(url) = &settings.smtp_url {
        mailer::transport(&url.0)?;
    }
    let webauthn = passkeys::relying_party(&settings)?;
    let secret = match &settings.secret {
        Some(secret) => secret.clone(),
        None => dev_secret::load_or_create_dev_secret(&dev_secret::dev_secret_path(
            &settings.database_url,
        ))?,
    };
    let random = Random::os();
    let derived = secret.derive();
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    let now = Timestamp::now();
    let mut rows = store.signing_keys().await?;
    if !rows.iter().any(|row| row.retired_at.is_none()) {
        let key = keys::generate(&derived, now, &random)?;
        let event = audit::event(AuditKind::KeyRotated, now, &Client::default())
            .detail(serde_json::json!({ "kid": key.kid, "reason": "first start" }));
        store.add_signing_key(&key, &event).await?;
        rows = store.signing_keys().await?;
    }
    let ring = KeyRing::from_rows(&rows, &derived, now, settings.access_ttl)?;
    let hasher = Hasher::new(&random)?;
    let core = Core::new(settings, store, webauthn, derived, ring, hasher, now)?;
    core.revoked
        .sync(&core.store, now, core.settings.access_ttl)
        .await?;
    crate::domain::webhooks::sync_configured(&core, now, &random).await?;
    Ok(Arc::new(core))
}

/// Starts the background upkeep (see the module docs). It stops by itself once the last handle
/// to `core` is dropped.
///
/// Revocations are read every `interval` ([`revocation::SYNC_INTERVAL`]; longer in a test that
/// tells a notification from a round of upkeep); on PostgreSQL also as soon as another server's
/// commit notifies them.
pub fn spawn_upkeep(core: &Arc<Core>, interval: Duration) {
    let weak: Weak<Core> = Arc::downgrade(core);
    if core.store.kind() == crate::DatabaseKind::Postgres {
        tokio::spawn(listen_for_revocations(weak.clone()));
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            let Some(core) = weak.upgrade() else { break };
            let now = Timestamp::now();
            if let Err(err) = upkeep(&core, now, ticks).await {
                tracing::warn!(%err, "background upkeep failed; retrying next second");
            }
            ticks = ticks.wrapping_add(1);
        }
    });
}

/// On PostgreSQL, reads the revocations as soon as another server commits one (the database
/// notifies `keyward_revocations`: migration 0017), rather than at the next round of upkeep.
/// A notification lost while the connection is down is caught by that round. Ends at the first
/// notification after `core` is gone.
async fn listen_for_revocations(core: Weak<Core>) {
    let Some(listening) = core.upgrade() else {
        return;
    };
    let url = &listening.settings.database_url;
    let listener = listening.store.listen(url, revocation::CHANNEL).await;
    drop(listening);
    let mut listener = match listener {
        Ok(Some(listener)) => listener,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(%err, "could not listen for revocations; reading them every second");
            return;
        }
    };
    loop {
        // `recv` connects again by itself when the connection drops.
        let notified = listener.recv().await;
        let Some(core) = core.upgrade() else { break };
        if let Err(err) = notified {
            tracing::warn!(%err, "listening for revocations failed; trying again in a second");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let synced = core
            .revoked
            .sync(&core.store, Timestamp::now(), core.settings.access_ttl)
            .await;
        if let Err(err) = synced {
            tracing::warn!(%err, "reading notified revocations failed; the next round will");
        }
    }
}

/// One round of upkeep at `now`; `tick` counts the seconds since start.
pub(crate) async fn upkeep(core: &Core, now: Timestamp, tick: u64) -> Result<(), Error> {
    let settings = &core.settings;
    // In memory first: a database out of reach ends the round below.
    if tick.is_multiple_of(10) {
        core.store.forget_dpop_proofs(now.millis());
        core.store.forget_connect_tickets(now.millis());
    }
    core.revoked
        .sync(&core.store, now, settings.access_ttl)
        .await?;
    if tick.is_multiple_of(keys::RELOAD_INTERVAL.as_secs()) && tick > 0 {
        core.reload_keys(now).await?;
    }
    if tick.is_multiple_of(600) {
        let store = &core.store;
        let week = Duration::from_secs(7 * 24 * 3600);
        let ended_before = now.minus(week).millis();
        let idle_before = now
            .minus(settings.session_idle_timeout)
            .minus(week)
            .millis();
        store.purge_sessions(ended_before, idle_before).await?;
        store
            .purge_rate_limits(now.minus(Duration::from_secs(24 * 3600)).millis())
            .await?;
        // Role changes matter while tokens from before them live (`access_ttl`); the sync
        // reads a minute back, so two more are kept.
        store
            .purge_org_access(
                now.minus(settings.access_ttl)
                    .minus(Duration::from_secs(120))
                    .millis(),
            )
            .await?;
        store
            .purge_sign_in_failures(now.minus(Duration::from_secs(24 * 3600)).millis())
            .await?;
        store.purge_dpop(now.millis()).await?;
        store.purge_connect_tickets(now.millis()).await?;
        store.purge_account_tokens(now.millis()).await?;
        store.purge_mfa_tickets(now.millis()).await?;
        // A code's row outlives it a while, so that a late replay is still seen and revokes.
        #[cfg(feature = "oidc-provider")]
        store
            .purge_oidc(now.minus(Duration::from_secs(600)).millis())
            .await?;
        #[cfg(feature = "oauth")]
        store.purge_oauth(now.millis()).await?;
        store
            .purge_mail(now.minus(Duration::from_secs(30 * 24 * 3600)).millis())
            .await?;
        store.purge_ceremonies(now.millis()).await?;
        store
            .purge_webhook_deliveries(now.minus(Duration::from_secs(30 * 24 * 3600)).millis())
            .await?;
        let purged = store
            .purge_audit(now.minus(settings.audit_retention).millis())
            .await?;
        if purged > 0 {
            tracing::info!(purged, "audit events past their retention deleted");
        }
    }
    Ok(())
}
