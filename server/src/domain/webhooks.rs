//! Webhooks: what other systems learn of account events, and the endpoints they learn it at.
//!
//! An event is an audit event of a kind that other systems care about (see [`EVENTS`]): when it
//! is appended, a delivery to every endpoint that takes its type is written in the same
//! transaction (`insert_audit!`), so none is lost in a crash and none is sent for a change that
//! rolled back. The sender (`runtime::webhooks`) posts them, signed per the Standard Webhooks
//! spec with each endpoint's own secret, and retries for about three days.
//!
//! The body is `{type, timestamp, data}`: `data` holds the ids the event is about (`user_id`,
//! `actor_id`, `session_id`) and some facts its audit event records, such as the revoked device
//! or the organization and role of a membership (see [`messages`]). The `webhook-id` is
//! `evt_<audit event id>_<n>_<ms>` (`n` counts the messages one event makes), so a receiver can
//! find the event in the audit log, and tell a retry from a new message.

use keyward_proto::{
    ErrorCode, NewWebhook, WebhookChanges, WebhookCreated, WebhookDelivery, WebhookDeliveryPage,
    WebhookEndpoint,
};

use super::admin::Acting;
use super::audit::{self, AuditKind, Client, EventExt as _};
use super::core::Core;
use super::{Random, Timestamp, WebhookId, b64, unb64};
use crate::Error;
use crate::store::{AuditRow, DeliveryRow, EndpointRow};

/// The audit kinds that are webhook events, and the event types each is sent as.
pub const EVENTS: &[(AuditKind, &[&str])] = &[
    (AuditKind::SignUp, &["user.created"]),
    (AuditKind::AdminEnabledUser, &["user.updated"]),
    (AuditKind::AdminDeletedUser, &["user.deleted"]),
    (AuditKind::AdminDisabledUser, &["user.disabled"]),
    (AuditKind::SignIn, &["user.signed_in"]),
    (AuditKind::PasswordChanged, &["password.changed"]),
    (AuditKind::PasswordReset, &["password.reset"]),
    (
        AuditKind::EmailVerified,
        &["email.verified", "user.updated"],
    ),
    (AuditKind::EmailChanged, &["email.changed", "user.updated"]),
    (AuditKind::SessionRevoked, &["session.revoked"]),
    (AuditKind::SignOut, &["session.revoked"]),
    (AuditKind::RefreshReuseDetected, &["session.revoked"]),
    (AuditKind::AdminEndedSessions, &["session.revoked"]),
    (AuditKind::DeviceRevoked, &["device.revoked"]),
    (AuditKind::PasskeyAdded, &["passkey.added"]),
    (AuditKind::PasskeyRemoved, &["passkey.removed"]),
    (AuditKind::MfaEnabled, &["mfa.enabled"]),
    (AuditKind::MfaDisabled, &["mfa.disabled"]),
    (AuditKind::OrgCreated, &["org.member.added"]),
    (AuditKind::InvitationAccepted, &["org.member.added"]),
    (AuditKind::MemberRemoved, &["org.member.removed"]),
    (AuditKind::MemberRoleChanged, &["org.member.role_changed"]),
];

/// Every event type an endpoint can take.
pub const TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deleted",
    "user.disabled",
    "user.signed_in",
    "password.changed",
    "password.reset",
    "email.verified",
    "email.changed",
    "session.revoked",
    "device.revoked",
    "passkey.added",
    "passkey.removed",
    "mfa.enabled",
    "mfa.disabled",
    "org.member.added",
    "org.member.removed",
    "org.member.role_changed",
];

/// The facts of an event's audit detail that its message carries, by type (the rest, such as
/// which admin key acted, stays in the audit log).
fn facts(kind: &str) -> &'static [&'static str] {
    match kind {
        "org.member.added" | "org.member.role_changed" => &["org", "role"],
        "org.member.removed" => &["org", "reason"],
        "device.revoked" => &["device"],
        "session.revoked" => &["reason", "scope"],
        "email.changed" => &["from", "to"],
        "email.verified" => &["email"],
        "passkey.added" | "passkey.removed" => &["passkey"],
        "user.created" => &["provider"],
        _ => &[],
    }
}

/// The body of each webhook message `event` makes (none for most kinds), with its type:
/// `{type, timestamp, data}`, where `data` has `user_id` (whom the event is about: for a
/// membership change, the member), `actor_id` (who made it, when someone else did),
/// `session_id` when there is one, and the type's [`facts`].
pub fn messages(event: &AuditRow) -> Vec<(&'static str, String)> {
    let Some((_, types)) = EVENTS.iter().find(|(kind, _)| kind.as_str() == event.kind) else {
        return Vec::new();
    };
    let detail = event
        .detail
        .as_deref()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .unwrap_or_default();
    let actor = event.user_id.map(|user| user.to_string());
    let subject = detail
        .get("member")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .or(actor.clone());
    let timestamp = Timestamp::from_millis(event.at).to_rfc3339();
    types
        .iter()
        .map(|kind| {
            let mut data = serde_json::Map::new();
            if let Some(subject) = &subject {
                data.insert("user_id".into(), subject.clone().into());
            }
            if let Some(actor) = actor
                .as_ref()
                .filter(|actor| Some(*actor) != subject.as_ref())
            {
                data.insert("actor_id".into(), actor.clone().into());
            }
            if let Some(session) = &event.session_id {
                data.insert("session_id".into(), session.to_string().into());
            }
            for fact in facts(kind) {
                if let Some(value) = detail.get(*fact) {
                    data.insert((*fact).into(), value.clone());
                }
            }
            let body = serde_json::json!({ "type": kind, "timestamp": timestamp, "data": data });
            (*kind, body.to_string())
        })
        .collect()
}

/// The `webhook-id` of the `n`th message (from 1) that audit event `audit_id`, made at `at`
/// (ms), makes (an email change is both `email.changed` and `user.updated`). The time keeps ids
/// unique should a database restored from a backup hand out the same audit ids again.
pub fn msg_id(audit_id: i64, n: usize, at: i64) -> String {
    format!("evt_{audit_id}_{n}_{at}")
}

/// The `LIKE` pattern that finds endpoints taking `kind` among their `events` (each between
/// spaces; the types have no `%`, and their `_` is escaped).
pub fn type_pattern(kind: &str) -> String {
    format!("% {} %", kind.replace('_', "\\_"))
}

fn bad_request(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::rejected(ErrorCode::InvalidRequest, message)
}

fn not_found() -> Error {
    Error::rejected(ErrorCode::NotFound, "No such webhook endpoint.")
}

/// The context a secret is sealed under: its endpoint (a secret moved to another endpoint's row
/// does not open).
fn sealing_context(id: &WebhookId) -> Vec<u8> {
    format!("keyward webhook secret {id}").into_bytes()
}

/// Endpoint `id`'s signing key `key`, sealed with the master secret for its row.
fn seal_secret(core: &Core, id: &WebhookId, key: &[u8], random: &Random) -> Result<Vec<u8>, Error> {
    core.secrets()
        .seal(&sealing_context(id), key, random.bytes())
}

/// The `events` column for `types`: each between spaces, as [`type_pattern`] finds them.
fn events_column<S: AsRef<str>>(types: &[S]) -> String {
    let names: Vec<&str> = types.iter().map(AsRef::as_ref).collect();
    format!(" {} ", names.join(" "))
}

/// The secret of endpoint `row`, to sign with; `None` when it does not open (the master secret
/// changed).
pub fn secret_of(core: &Core, row: &EndpointRow) -> Option<Vec<u8>> {
    core.secrets().open(&sealing_context(&row.id), &row.secret)
}

/// The previous secret of endpoint `row`, opened, while it still signs at `now` (after a
/// rotation).
pub fn previous_secret_of(core: &Core, row: &EndpointRow, now: Timestamp) -> Option<Vec<u8>> {
    let sealed = row.previous_secret.as_deref()?;
    (row.previous_until? > now.millis())
        .then(|| core.secrets().open(&sealing_context(&row.id), sealed))
        .flatten()
}

/// How long a rotated-out secret goes on signing beside the new one: a day for every receiver
/// to take the new one, with no delivery unverifiable meanwhile.
pub const ROTATION_OVERLAP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// `POST /auth/admin/webhooks/{id}/rotate-secret`: a new secret for the endpoint (returned this
/// once); the previous one signs each delivery too, beside it, for [`ROTATION_OVERLAP`]. Not for
/// an endpoint from the configuration, whose secret is the configuration's.
pub async fn rotate_secret(
    core: &Core,
    id: &str,
    act: &Acting<'_>,
    random: &Random,
) -> Result<WebhookCreated, Error> {
    let id = endpoint_id(id)?;
    made_through_the_api(core, &id).await?;
    let key: [u8; 32] = random.bytes();
    let sealed = seal_secret(core, &id, &key, random)?;
    let until = act.now.plus(ROTATION_OVERLAP).millis();
    let event = audit::event(AuditKind::WebhookSecretRotated, act.now, act.client)
        .detail(with_endpoint(act, &id, None));
    let row = core
        .store
        .rotate_webhook_secret(&id, (&sealed, until), &event)
        .await?
        .ok_or_else(not_found)?;
    Ok(WebhookCreated {
        endpoint: view(&row),
        secret: format!("whsec_{}", base64_standard(&key)),
    })
}

/// The event types `list` names, each once, in the order given: `invalid_request` for an
/// empty list (leave it out, or `null`, for every type) or a name that is not a type.
fn event_types(list: &[String]) -> Result<Vec<&'static str>, Error> {
    if list.is_empty() {
        return Err(bad_request(
            "`events` lists the event types to send; leave it out for every type.",
        ));
    }
    let mut types: Vec<&'static str> = Vec::new();
    for name in list {
        let Some(kind) = TYPES.iter().find(|t| *t == name) else {
            return Err(bad_request(format!(
                "`{name}` is not an event type; the types are {}.",
                TYPES.join(", ")
            )));
        };
        if !types.contains(kind) {
            types.push(kind);
        }
    }
    Ok(types)
}

/// `PATCH /auth/admin/webhooks/{id}`: a new URL (checked as when an endpoint is made) or new
/// event types (`null`: every type) for an endpoint made through the API; what is left out
/// stays, and nothing to change is refused. The types apply to later events; the URL to every
/// attempt from now on, the retries of earlier deliveries too, signed with the same secret
/// (rotate it when the receiver changes hands).
pub async fn update(
    core: &Core,
    id: &str,
    changes: WebhookChanges,
    act: &Acting<'_>,
) -> Result<WebhookEndpoint, Error> {
    let id = endpoint_id(id)?;
    if changes.url.is_none() && changes.events.is_none() {
        return Err(bad_request(
            "Nothing to change: give `url`, `events` (null for every type), or both.",
        ));
    }
    let row = made_through_the_api(core, &id).await?;
    let url = match &changes.url {
        Some(url) => check_url(core, url).await?.to_string(),
        None => row.url.clone(),
    };
    let events = match &changes.events {
        None => row.events.clone(),
        Some(None) => None,
        Some(Some(list)) => Some(events_column(&event_types(list)?)),
    };
    let event = audit::event(AuditKind::WebhookUpdated, act.now, act.client).detail(with_endpoint(
        act,
        &id,
        Some(&url),
    ));
    core.store
        .update_webhook_endpoint(&id, (&url, events.as_deref()), &event)
        .await?
        .map(|row| view(&row))
        .ok_or_else(not_found)
}

/// Endpoint `id`, or `not_found`.
async fn existing(core: &Core, id: &WebhookId) -> Result<EndpointRow, Error> {
    core.store.webhook_endpoint(id).await?.ok_or_else(not_found)
}

/// Endpoint `id`, when it was made through the API: `not_found` when there is none, and
/// `invalid_request` for one from the configuration, which is changed there.
async fn made_through_the_api(core: &Core, id: &WebhookId) -> Result<EndpointRow, Error> {
    let row = existing(core, id).await?;
    if row.configured != 0 {
        return Err(from_configuration());
    }
    Ok(row)
}

/// Why an endpoint from the configuration is not changed through the API.
fn from_configuration() -> Error {
    bad_request(
        "This endpoint comes from the server's configuration ([[webhooks]]): change it there.",
    )
}

/// `POST /auth/admin/webhooks`: a new endpoint, with its secret (returned this once). The URL
/// must be `http(s)` (only `https` in production), carry no credentials, and name a public
/// address, unless private ones are allowed (`webhook_allow_private`).
pub async fn create(
    core: &Core,
    new: NewWebhook,
    act: &Acting<'_>,
    random: &Random,
) -> Result<WebhookCreated, Error> {
    let url = check_url(core, &new.url).await?;
    let events = new.events.map(|list| event_types(&list)).transpose()?;
    let id = WebhookId::new(act.now, random.bytes());
    let key: [u8; 32] = random.bytes();
    let row = EndpointRow {
        id,
        url: url.to_string(),
        events: events.as_deref().map(events_column),
        secret: seal_secret(core, &id, &key, random)?,
        created_at: act.now.millis(),
        disabled_at: None,
        disabled_reason: None,
        configured: 0,
        previous_secret: None,
        previous_until: None,
    };
    let event = audit::event(AuditKind::WebhookCreated, act.now, act.client).detail(with_endpoint(
        act,
        &id,
        Some(&row.url),
    ));
    core.store.insert_webhook_endpoint(&row, &event).await?;
    Ok(WebhookCreated {
        endpoint: view(&row),
        secret: format!("whsec_{}", base64_standard(&key)),
    })
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The audit detail of a change to endpoint `id`: who made it, and the endpoint.
fn with_endpoint(act: &Acting<'_>, id: &WebhookId, url: Option<&str>) -> serde_json::Value {
    let mut detail = act.by.detail();
    if let Some(fields) = detail.as_object_mut() {
        fields.insert("webhook".into(), id.to_string().into());
        if let Some(url) = url {
            fields.insert("url".into(), url.into());
        }
    }
    detail
}

/// An endpoint's URL, checked (see [`create`]).
async fn check_url(core: &Core, text: &str) -> Result<url::Url, Error> {
    let url = url::Url::parse(text.trim())
        .map_err(|err| bad_request(format!("`url` is not a URL: {err}.")))?;
    match url.scheme() {
        "https" => {}
        "http" if !core.settings.production => {}
        "http" => return Err(bad_request("In production a webhook URL must be https.")),
        _ => return Err(bad_request("A webhook URL is http or https.")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad_request(
            "A webhook URL carries no credentials: deliveries are signed with the endpoint's \
             secret.",
        ));
    }
    let Some(host) = url.host_str() else {
        return Err(bad_request("A webhook URL names a host."));
    };
    if !core.settings.webhook_allow_private {
        crate::outbound::public_addresses(host)
            .await
            .map_err(|refused| {
                bad_request(format!(
                    "{refused}: webhooks go to public addresses only (set \
                     KEYWARD_WEBHOOK_ALLOW_PRIVATE=true for a private network)."
                ))
            })?;
    }
    Ok(url)
}

/// Brings the configured endpoints (`[[webhooks]]`) into the database at start (at `now`): new
/// ones made, changed events or secrets updated, those no longer configured deleted.
pub async fn sync_configured(core: &Core, now: Timestamp, random: &Random) -> Result<(), Error> {
    let existing = core.store.webhook_endpoints().await?;
    for configured in &core.settings.webhooks {
        let key = crate::settings::webhook_key(&configured.secret)
            .ok_or_else(|| Error::internal("a configured webhook secret passed validation"))?;
        let events = configured.events.as_deref().map(events_column);
        let found = existing
            .iter()
            .find(|row| row.configured != 0 && row.url == configured.url);
        match found {
            Some(row) => {
                let same_key = secret_of(core, row).is_some_and(|k| k == key);
                if row.events != events || !same_key {
                    let secret = seal_secret(core, &row.id, &key, random)?;
                    core.store
                        .update_configured_webhook(&row.id, events.as_deref(), &secret)
                        .await?;
                }
            }
            None => {
                let id = WebhookId::new(now, random.bytes());
                let row = EndpointRow {
                    id,
                    url: configured.url.clone(),
                    events,
                    secret: seal_secret(core, &id, &key, random)?,
                    created_at: now.millis(),
                    disabled_at: None,
                    disabled_reason: None,
                    configured: 1,
                    previous_secret: None,
                    previous_until: None,
                };
                let detail = serde_json::json!({
                    "by": "settings", "webhook": id.to_string(), "url": row.url,
                });
                let event =
                    audit::event(AuditKind::WebhookCreated, now, &Client::default()).detail(detail);
                core.store.insert_webhook_endpoint(&row, &event).await?;
            }
        }
    }
    for row in existing.iter().filter(|row| row.configured != 0) {
        if !core.settings.webhooks.iter().any(|c| c.url == row.url) {
            let event = audit::event(AuditKind::WebhookDeleted, now, &Client::default())
                .detail(serde_json::json!({ "by": "settings", "webhook": row.id.to_string() }));
            core.store.delete_webhook_endpoint(&row.id, &event).await?;
        }
    }
    Ok(())
}

/// How an endpoint is shown.
pub fn view(row: &EndpointRow) -> WebhookEndpoint {
    WebhookEndpoint {
        id: row.id.to_string(),
        url: row.url.clone(),
        events: row
            .events
            .as_deref()
            .map(|list| list.split_whitespace().map(str::to_owned).collect()),
        created_at: Timestamp::from_millis(row.created_at).to_rfc3339(),
        disabled_at: row
            .disabled_at
            .map(|ms| Timestamp::from_millis(ms).to_rfc3339()),
        disabled_reason: row.disabled_reason.clone(),
        configured: row.configured != 0,
        previous_secret_until: row
            .previous_until
            .map(|ms| Timestamp::from_millis(ms).to_rfc3339()),
    }
}

/// `GET /auth/admin/webhooks`: every endpoint, oldest first.
pub async fn list(core: &Core) -> Result<Vec<WebhookEndpoint>, Error> {
    let rows = core.store.webhook_endpoints().await?;
    Ok(rows.iter().map(view).collect())
}

fn endpoint_id(text: &str) -> Result<WebhookId, Error> {
    WebhookId::parse(text).ok_or_else(not_found)
}

/// `DELETE /auth/admin/webhooks/{id}`: the endpoint and its deliveries, pending ones included.
pub async fn delete(core: &Core, id: &str, act: &Acting<'_>) -> Result<(), Error> {
    let id = endpoint_id(id)?;
    made_through_the_api(core, &id).await?;
    let event = audit::event(AuditKind::WebhookDeleted, act.now, act.client)
        .detail(with_endpoint(act, &id, None));
    if core.store.delete_webhook_endpoint(&id, &event).await? {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// `POST /auth/admin/webhooks/{id}/enable`: an endpoint that was disabled (it answered 410)
/// takes events again from now on; those it missed can be redelivered.
pub async fn enable(core: &Core, id: &str, act: &Acting<'_>) -> Result<WebhookEndpoint, Error> {
    let id = endpoint_id(id)?;
    let event = audit::event(AuditKind::WebhookEnabled, act.now, act.client)
        .detail(with_endpoint(act, &id, None));
    core.store
        .enable_webhook_endpoint(&id, &event)
        .await?
        .map(|row| view(&row))
        .ok_or_else(not_found)
}

/// A delivery's statuses: waiting for an attempt (or its retry), answered 2xx, given up.
const STATUSES: [&str; 3] = ["pending", "delivered", "failed"];

/// The delivery log of endpoint `id`, newest first, `limit` (1 to 200; 50) at a time; only the
/// deliveries with `status`, when given.
pub async fn deliveries(
    core: &Core,
    id: &str,
    (limit, cursor): (Option<u32>, Option<&str>),
    status: Option<&str>,
) -> Result<WebhookDeliveryPage, Error> {
    let id = endpoint_id(id)?;
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad_request("`limit` is 1 to 200."));
    }
    if status.is_some_and(|status| !STATUSES.contains(&status)) {
        return Err(bad_request(
            "`status` is `pending`, `delivered` or `failed` (or absent, for all).",
        ));
    }
    let before = match cursor {
        None => None,
        Some(text) => Some(
            unb64(text)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| text.parse::<i64>().ok())
                .ok_or_else(|| {
                    bad_request("The cursor is not one this API handed out (pass `next_cursor`).")
                })?,
        ),
    };
    if core.store.webhook_endpoint(&id).await?.is_none() {
        return Err(not_found());
    }
    let mut rows = core
        .store
        .webhook_deliveries(&id, (before, status), i64::from(limit) + 1)
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = rows
        .last()
        .filter(|_| more)
        .map(|row| b64(row.id.to_string().as_bytes()));
    Ok(WebhookDeliveryPage {
        deliveries: rows.iter().map(delivery_view).collect(),
        next_cursor,
    })
}

fn delivery_view(row: &DeliveryRow) -> WebhookDelivery {
    let time = |ms: Option<i64>| ms.map(|ms| Timestamp::from_millis(ms).to_rfc3339());
    WebhookDelivery {
        id: row.id,
        msg_id: row.msg_id.clone(),
        event_type: row.kind.clone(),
        status: row.status.clone(),
        attempts: row.attempts,
        created_at: Timestamp::from_millis(row.created_at).to_rfc3339(),
        next_attempt_at: time((row.status == "pending").then_some(row.next_attempt_at)),
        delivered_at: time(row.delivered_at),
        last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: row.last_error.clone(),
        payload: row.payload.clone(),
    }
}

/// `POST /auth/admin/webhooks/{id}/deliveries/{delivery}/redeliver`: sends the delivery again
/// now, with the same `webhook-id` (a receiver that has it already can tell), whatever became
/// of it; should it fail, it is retried on the usual schedule.
pub async fn redeliver(
    core: &Core,
    id: &str,
    delivery: i64,
    act: &Acting<'_>,
) -> Result<(), Error> {
    let id = endpoint_id(id)?;
    let mut detail = with_endpoint(act, &id, None);
    if let Some(fields) = detail.as_object_mut() {
        fields.insert("delivery".into(), delivery.into());
    }
    let event = audit::event(AuditKind::WebhookRedelivered, act.now, act.client).detail(detail);
    if core
        .store
        .redeliver_webhook(&id, delivery, act.now.millis(), &event)
        .await?
    {
        Ok(())
    } else {
        Err(Error::rejected(ErrorCode::NotFound, "No such delivery."))
    }
}

/// The type of the message [`send_test`] makes: sent only when an admin asks, to one endpoint,
/// whatever types it takes.
pub const TEST_TYPE: &str = "webhook.test";

/// `POST /auth/admin/webhooks/{id}/test`: a `webhook.test` message (`data.endpoint_id`) for
/// this endpoint alone, whatever types it takes, sent within a second, signed and retried as
/// any other: the delivery, to follow in the log. Refused while the endpoint is disabled.
pub async fn send_test(
    core: &Core,
    id: &str,
    act: &Acting<'_>,
    random: &Random,
) -> Result<WebhookDelivery, Error> {
    let id = endpoint_id(id)?;
    let row = existing(core, &id).await?;
    if row.disabled_at.is_some() {
        return Err(bad_request(
            "This endpoint is disabled (it answered 410 Gone): enable it first.",
        ));
    }
    let msg_id = format!("evt_test_{}", b64(&random.bytes::<12>()));
    let body = serde_json::json!({
        "type": TEST_TYPE,
        "timestamp": act.now.to_rfc3339(),
        "data": { "endpoint_id": id.to_string() },
    });
    let event = audit::event(AuditKind::WebhookTested, act.now, act.client)
        .detail(with_endpoint(act, &id, None));
    let delivery = core
        .store
        .insert_test_delivery(
            &id,
            (&msg_id, TEST_TYPE, &body.to_string()),
            act.now.millis(),
            &event,
        )
        .await?;
    Ok(delivery_view(&delivery))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use crate::domain::audit::Client;

    #[test]
    fn every_type_is_sent_for_some_event_and_every_event_type_is_known() {
        for kind in TYPES {
            assert!(
                EVENTS.iter().any(|(_, types)| types.contains(kind)),
                "no event is sent as {kind}"
            );
        }
        for (_, types) in EVENTS {
            for kind in *types {
                assert!(TYPES.contains(kind), "{kind} is not listed");
            }
        }
    }

    #[test]
    fn a_message_carries_the_event_its_ids_and_facts() {
        let user = UserId::parse("0190a3a4-0000-7000-8000-000000000001").unwrap();
        let event = audit::event(
            AuditKind::EmailChanged,
            Timestamp::from_millis(0),
            &Client::default(),
        )
        .user(&user)
        .detail(serde_json::json!({ "from": "a@example.com" }));
        let sent = messages(&event);
        let kinds: Vec<&str> = sent.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, ["email.changed", "user.updated"]);
        let (_, body) = sent.first().unwrap();
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "email.changed",
                "timestamp": "1970-01-01T00:00:00Z",
                "data": { "user_id": user.to_string(), "from": "a@example.com" },
            })
        );
        let refresh = audit::event(
            AuditKind::Refresh,
            Timestamp::from_millis(0),
            &Client::default(),
        );
        assert!(messages(&refresh).is_empty());
    }

    #[test]
    fn an_endpoint_s_types_are_found_by_whole_names() {
        assert_eq!(type_pattern("user.signed_in"), "% user.signed\\_in %");
    }
}
