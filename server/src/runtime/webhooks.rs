//! The webhook sender: posts the deliveries the domain wrote (with each webhook event, in its
//! transaction) to their endpoints, signed per the Standard Webhooks spec. It looks every
//! second, with a read while there is nothing to send.
//!
//! - **Signed**: `webhook-id` (the same on every attempt), `webhook-timestamp` (this attempt's
//!   second) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`), with the
//!   endpoint's own secret; for a day after a rotation, a second signature beside it with the
//!   previous one.
//! - **Retried** when the endpoint does not answer 2xx: after 5 s, 5 min, 30 min, 2 h, 5 h,
//!   10 h, 14 h, 20 h and 20 h, about three days in all; then given up (`failed`). An admin can
//!   send any delivery again.
//! - **410 Gone** disables the endpoint: no delivery is made for it (nor retried) until an
//!   admin enables it again; one that failed meanwhile can be sent again (redelivered).
//! - **Held**: a sender holds the endpoint for a minute at a time, renewed with each batch
//!   (requests time out after 10 s), so of several server processes one sends to each endpoint,
//!   and a crash mid-send lets another send its deliveries again once the hold runs out: a
//!   delivery can arrive twice (with the same `webhook-id`), never not at all.
//! - **One task per endpoint**, up to 8 deliveries in flight: an endpoint that is slow or down
//!   holds up only its own. Deliveries are taken 32 at a time, and what is due is looked at
//!   every second: under a stream of events, a few writes a second per endpoint.
//! - **Public addresses only**, checked as each connection resolves its address (see
//!   [`crate::outbound`]), unless `webhook_allow_private`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::Error;
use crate::domain::core::Core;
use crate::domain::webhooks;
use crate::domain::{Random, Timestamp, WebhookId, b64};
use crate::store::webhooks::Failure;
use crate::store::{DeliveryRow, EndpointRow};

/// How long a sender holds an endpoint: longer than a batch of attempts takes ([`BATCH`] /
/// [`AT_ONCE`] rounds of at most [`TIMEOUT`]). The servers' clocks must agree to well within it.
const LEASE: Duration = Duration::from_secs(60);
/// How long an endpoint has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often the sender looks for due deliveries.
const POLL: Duration = Duration::from_secs(1);
/// Deliveries taken at once for one endpoint.
const BATCH: i64 = 32;
/// Of those, how many are in flight at once.
const AT_ONCE: usize = 8;
/// The waits after each failed attempt; once they are used up, the delivery is given up.
const RETRIES: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(20 * 3600),
];

/// Starts the sender for `core`; it stops with the last handle. Each endpoint is sent to by a
/// task of its own, so one that is slow or down holds up only its own deliveries.
pub fn spawn(core: &Arc<Core>) -> Result<(), Error> {
    let public_only = !core.settings.webhook_allow_private;
    let http = crate::outbound::client("webhooks", TIMEOUT, public_only)?;
    let weak: Weak<Core> = Arc::downgrade(core);
    tokio::spawn(async move {
        let mut sending: HashMap<WebhookId, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            let Some(core) = weak.upgrade() else { break };
            if core.stopping.load(Ordering::Relaxed) {
                break;
            }
            sending.retain(|_, task| !task.is_finished());
            match core
                .store
                .webhook_endpoints_due(Timestamp::now().millis())
                .await
            {
                Ok(due) => {
                    for endpoint in due {
                        if let Entry::Vacant(slot) = sending.entry(endpoint) {
                            let sender = Sender {
                                core: weak.clone(),
                                http: http.clone(),
                                public_only,
                            };
                            slot.insert(tokio::spawn(sender.drain(endpoint)));
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, "the webhook deliveries could not be read; retrying");
                }
            }
            drop(core);
            tokio::time::sleep(POLL).await;
        }
    });
    Ok(())
}

/// The endpoints this process holds (their leases).
fn held(core: &Core) -> std::sync::MutexGuard<'_, HashMap<WebhookId, String>> {
    core.webhook_holds
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Gives back every endpoint this process holds, once it stops taking work: another server's
/// sender takes them at its next look, not when the holds run out (a minute). A send still in
/// flight here may then be sent again from there: deliveries are at least once, and receivers
/// tell repeats by `webhook-id`.
pub async fn release_holds(core: &Core) {
    let holds: Vec<(WebhookId, String)> = held(core).drain().collect();
    for (id, lease) in holds {
        if let Err(err) = core.store.release_webhook_endpoint(&id, &lease).await {
            tracing::warn!(%err, endpoint = %id, "a webhook endpoint's hold was not given back");
        }
    }
}

/// What an endpoint's task sends with.
struct Sender {
    core: Weak<Core>,
    http: reqwest::Client,
    public_only: bool,
}

impl Sender {
    /// Sends every delivery due to `endpoint`, up to [`BATCH`] at once, until none is due (or
    /// the endpoint is disabled, deleted, or the server stops).
    async fn drain(self, endpoint: WebhookId) {
        if let Err(err) = self.drain_or_fail(&endpoint).await {
            tracing::warn!(%err, %endpoint, "webhook deliveries failed; retrying within a second");
        }
    }

    async fn drain_or_fail(&self, id: &WebhookId) -> Result<(), Error> {
        let lease = b64(&Random::os().bytes::<16>());
        if let Some(core) = self.core.upgrade() {
            held(&core).insert(*id, lease.clone());
        }
        let sent = self.send_due(id, &lease).await;
        // Let the next look (here or on another server) take the endpoint at once; a hold left
        // behind by a failure runs out by itself.
        let released = match self.core.upgrade() {
            Some(core) => {
                held(&core).remove(id);
                core.store.release_webhook_endpoint(id, &lease).await
            }
            None => Ok(()),
        };
        sent.and(released.map_err(Error::from))
    }

    /// Sends what is due to endpoint `id` while `lease` holds it, a batch at a time.
    async fn send_due(&self, id: &WebhookId, lease: &str) -> Result<(), Error> {
        loop {
            let Some(core) = self.core.upgrade() else {
                return Ok(());
            };
            if core.stopping.load(Ordering::Relaxed) {
                return Ok(());
            }
            let now = Timestamp::now();
            let held = (now.millis(), now.plus(LEASE).millis());
            let Some(endpoint) = core.store.lease_webhook_endpoint(id, lease, held).await? else {
                return Ok(());
            };
            let read_at = now.millis();
            let due = core.store.due_webhooks(id, read_at, BATCH).await?;
            if due.is_empty() {
                return Ok(());
            }
            // After a rotation the previous secret signs too, for a while: (current, previous).
            let secret = webhooks::secret_of(&core, &endpoint)
                .map(|current| (current, webhooks::previous_secret_of(&core, &endpoint, now)));
            let full = due.len() == usize::try_from(BATCH).unwrap_or(0);
            let mut waiting = due.into_iter();
            let mut sending = tokio::task::JoinSet::new();
            // Which delivery each send task has, should it die without saying.
            let mut tasks: HashMap<tokio::task::Id, DeliveryRow> = HashMap::new();
            let mut start_next =
                |sending: &mut tokio::task::JoinSet<_>,
                 tasks: &mut HashMap<tokio::task::Id, DeliveryRow>| {
                    let Some(delivery) = waiting.next() else {
                        return;
                    };
                    let (http, endpoint, public_only) =
                        (self.http.clone(), endpoint.clone(), self.public_only);
                    let secret = secret.clone();
                    let kept = delivery.clone();
                    let task = sending.spawn(async move {
                        let sent = match secret {
                            Some(secrets) => {
                                send(&http, &endpoint, &delivery, &secrets, public_only).await
                            }
                            None => Sent::Failed(
                                None,
                                "the endpoint's secret does not open with the master secret".into(),
                            ),
                        };
                        (delivery, sent)
                    });
                    tasks.insert(task.id(), kept);
                };
            for _ in 0..AT_ONCE {
                start_next(&mut sending, &mut tasks);
            }
            // Failures are recorded one by one as they come; the accepted ones of the batch
            // together at the end, named by their ids, one statement per answer's status (they
            // are mostly answered alike): a write per delivery would cost the requests that make
            // events more than their own deliveries do. A send task that died (a panic) counts
            // as a failed attempt, so its delivery is retried later, not every second.
            let mut accepted: Vec<(u16, i64)> = Vec::new();
            let mut gone = false;
            while let Some(joined) = sending.join_next_with_id().await {
                // After a 410 Gone, the rest of the batch waits for the endpoint to be enabled.
                if !gone {
                    start_next(&mut sending, &mut tasks);
                }
                let (delivery, sent) = match joined {
                    Ok((task, answer)) => {
                        tasks.remove(&task);
                        answer
                    }
                    Err(died) => {
                        let Some(delivery) = tasks.remove(&died.id()) else {
                            continue;
                        };
                        tracing::error!(error = %died, delivery = delivery.id, "a webhook send died");
                        let failure = (None, "the sender stopped while sending it");
                        failed(&core, &delivery, (lease, read_at), failure).await?;
                        continue;
                    }
                };
                match sent {
                    Sent::Delivered(status) => accepted.push((status, delivery.id)),
                    Sent::Gone => {
                        gone = true;
                        disable(&core, &delivery, (lease, read_at)).await?;
                    }
                    Sent::Failed(status, error) => {
                        let failure = (status, error.as_str());
                        failed(&core, &delivery, (lease, read_at), failure).await?;
                    }
                }
            }
            accepted.sort_unstable();
            let now = Timestamp::now().millis();
            for answered in accepted.chunk_by(|a, b| a.0 == b.0) {
                let Some(&(status, _)) = answered.first() else {
                    continue;
                };
                let ids: Vec<i64> = answered.iter().map(|(_, id)| *id).collect();
                core.store
                    .webhooks_delivered((id, lease, read_at), &ids, i32::from(status), now)
                    .await?;
            }
            // The rest, if any, at the next look: a batch a second, rather than a write for every
            // event as it comes.
            if !full || gone {
                return Ok(());
            }
        }
    }
}

/// What came of one attempt.
enum Sent {
    /// 2xx.
    Delivered(u16),
    /// 410 Gone: the receiver wants no more.
    Gone,
    /// Anything else: the status (when one came back) and why.
    Failed(Option<u16>, String),
}

async fn send(
    http: &reqwest::Client,
    endpoint: &EndpointRow,
    delivery: &DeliveryRow,
    (secret, previous): &(Vec<u8>, Option<Vec<u8>>),
    public_only: bool,
) -> Sent {
    // A URL naming an address is connected to without the resolver: it is checked here.
    if public_only {
        let literal = url::Url::parse(&endpoint.url)
            .ok()
            .and_then(|url| match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            });
        if let Some(ip) = literal.filter(|ip| !crate::outbound::is_public(*ip)) {
            let refused = crate::outbound::Refused::NotPublic(ip.to_string());
            return Sent::Failed(None, refused.to_string());
        }
    }
    let timestamp = Timestamp::now().seconds();
    let sign = |secret: &[u8]| {
        standardwebhooks::Webhook::from_bytes(secret.to_vec()).and_then(|signer| {
            signer.sign(&delivery.msg_id, timestamp, delivery.payload.as_bytes())
        })
    };
    // Standard Webhooks: several signatures, space-separated; a receiver accepts the message
    // when one of them is made with its secret, the new or the previous.
    let signatures = std::iter::once(secret).chain(previous).map(|key| sign(key));
    let signature = match signatures.collect::<Result<Vec<_>, _>>() {
        Ok(signatures) => signatures.join(" "),
        Err(err) => return Sent::Failed(None, format!("signing failed: {err}")),
    };
    let answer = http
        .post(&endpoint.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, "Keyward-Webhooks/1")
        .header("webhook-id", &delivery.msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone())
        .send()
        .await;
    match answer {
        Ok(answer) if answer.status().is_success() => Sent::Delivered(answer.status().as_u16()),
        Ok(answer) if answer.status() == reqwest::StatusCode::GONE => Sent::Gone,
        Ok(answer) => {
            let status = answer.status();
            Sent::Failed(
                Some(status.as_u16()),
                format!("the endpoint answered {status}"),
            )
        }
        Err(err) => Sent::Failed(None, describe(&err)),
    }
}

/// A request error with its causes (reqwest's own text alone says only "error sending
/// request").
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Disables the endpoint of `delivery`, which answered 410 Gone, and gives the delivery up,
/// for the sender holding the endpoint with `lease`, which read it at `read_at` (ms).
async fn disable(
    core: &Core,
    delivery: &DeliveryRow,
    (lease, read_at): (&str, i64),
) -> Result<(), Error> {
    tracing::warn!(endpoint = %delivery.endpoint_id, "a webhook endpoint answered 410 Gone: disabled");
    let now = Timestamp::now().millis();
    core.store
        .disable_webhook_endpoint(&delivery.endpoint_id, "it answered 410 Gone", now)
        .await?;
    let failure = Failure {
        status: Some(410),
        error: "the endpoint answered 410 Gone and was disabled",
        retry_at: None,
    };
    core.store
        .webhook_failed(
            (&delivery.endpoint_id, lease, read_at),
            delivery.id,
            failure,
        )
        .await?;
    Ok(())
}

/// Records a failed attempt at `delivery` (the answer's status, when one came, and why), to be
/// retried after the next wait or given up, for the sender holding its endpoint with `lease`,
/// which read it at `read_at` (ms).
async fn failed(
    core: &Core,
    delivery: &DeliveryRow,
    (lease, read_at): (&str, i64),
    (status, error): (Option<u16>, &str),
) -> Result<(), Error> {
    // The attempts before this one: the first failure waits the first wait.
    let retry = usize::try_from(delivery.attempts)
        .ok()
        .and_then(|before| RETRIES.get(before));
    tracing::info!(
        delivery = delivery.id,
        endpoint = %delivery.endpoint_id,
        attempts = delivery.attempts + 1,
        gave_up = retry.is_none(),
        %error,
        "a webhook delivery failed"
    );
    let failure = Failure {
        status: status.map(i32::from),
        error,
        retry_at: retry.map(|wait| Timestamp::now().plus(*wait).millis()),
    };
    core.store
        .webhook_failed(
            (&delivery.endpoint_id, lease, read_at),
            delivery.id,
            failure,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_ends_before_its_hold() {
        let rounds = u32::try_from(BATCH)
            .unwrap()
            .div_ceil(u32::try_from(AT_ONCE).unwrap());
        assert!(TIMEOUT * rounds < LEASE);
    }

    #[test]
    fn retries_span_about_three_days() {
        let total: Duration = RETRIES.iter().sum();
        assert!(total > Duration::from_secs(70 * 3600), "{total:?}");
        assert!(total < Duration::from_secs(74 * 3600), "{total:?}");
    }
}
