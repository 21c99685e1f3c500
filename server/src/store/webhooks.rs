//! Webhook endpoints and their deliveries. A delivery is written with the audit event it
//! announces (`insert_audit!` runs [`FAN_OUT`]); a sender holds an endpoint for a while (a lease
//! on the endpoint's row, as the mail sender holds mails), so of several server processes one
//! sends to each endpoint, and one that crashed mid-send leaves its deliveries to be sent again.
//! Holding the endpoint rather than each delivery costs one small write per batch instead of a
//! write to every delivery in it, on the rows a sign-in's transaction inserts into.

use super::groups::{placeholders, text_for, texts};
use super::{AuditRow, Error, Pool, Store};
use std::sync::{Arc, LazyLock};

use crate::domain::WebhookId;

/// One delivery per live endpoint that takes the type: `$1` the message id, `$2` its type, `$3`
/// the body, `$4` when (ms), `$5` the type's `LIKE` pattern among an endpoint's `events`.
pub(crate) const FAN_OUT: &str = "INSERT INTO webhook_deliveries (endpoint_id, msg_id, type, \
     payload, created_at, status, attempts, next_attempt_at) SELECT id, $1, $2, $3, $4, \
     'pending', 0, $4 FROM webhook_endpoints WHERE disabled_at IS NULL \
     AND (events IS NULL OR events LIKE $5 ESCAPE '\\')";

/// A webhook endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EndpointRow {
    /// Its id.
    pub id: WebhookId,
    /// Where events are posted.
    pub url: String,
    /// The types it takes, each between spaces; `None`: every type.
    pub events: Option<String>,
    /// Its signing key, sealed with the master secret.
    pub secret: Vec<u8>,
    /// When it was made (ms).
    pub created_at: i64,
    /// When it was disabled (it answered 410 Gone).
    pub disabled_at: Option<i64>,
    /// Why.
    pub disabled_reason: Option<String>,
    /// 1 when it comes from the configuration (`[[webhooks]]`).
    pub configured: i32,
    /// The secret before the last rotation, sealed: it signs too until `previous_until`.
    pub previous_secret: Option<Vec<u8>>,
    /// Until when (ms).
    pub previous_until: Option<i64>,
}

/// One message's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRow {
    /// Its id.
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: WebhookId,
    /// The `webhook-id`.
    pub msg_id: String,
    /// The event type.
    #[sqlx(rename = "type")]
    pub kind: String,
    /// The body.
    pub payload: String,
    /// When the event happened (ms).
    pub created_at: i64,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far (one is counted when it ends).
    pub attempts: i64,
    /// When the next attempt is due (ms).
    pub next_attempt_at: i64,
    /// The HTTP status of the last attempt.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the endpoint accepted it (ms).
    pub delivered_at: Option<i64>,
}

macro_rules! endpoint_columns {
    () => {
        "id, url, events, secret, created_at, disabled_at, disabled_reason, configured, \
         previous_secret, previous_until"
    };
}

macro_rules! delivery_columns {
    () => {
        "id, endpoint_id, msg_id, type, payload, created_at, status, attempts, next_attempt_at, \
         last_status, last_error, delivered_at"
    };
}

impl Store {
    /// Adds endpoint `row`, with `audit`.
    pub async fn insert_webhook_endpoint(
        &self,
        row: &EndpointRow,
        audit: &AuditRow,
    ) -> Result<(), Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            // A configured endpoint another server made a moment ago stays as it made it.
            let inserted = sqlx::query(
                "INSERT INTO webhook_endpoints (id, url, events, secret, created_at, configured) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (url) WHERE configured = 1 DO NOTHING",
            )
            .bind(row.id)
            .bind(&row.url)
            .bind(row.events.as_deref())
            .bind(&row.secret)
            .bind(row.created_at)
            .bind(row.configured)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                tx.rollback().await?;
                return Ok(());
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every endpoint, oldest first.
    pub async fn webhook_endpoints(&self) -> Result<Vec<EndpointRow>, Error> {
        let sql = concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints ORDER BY created_at, id"
        );
        let rows = on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Endpoint `id`.
    pub async fn webhook_endpoint(&self, id: &WebhookId) -> Result<Option<EndpointRow>, Error> {
        let sql = concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints WHERE id = $1"
        );
        let row = on_pool!(self, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Deletes endpoint `id` and its deliveries, with `audit`; whether it existed.
    pub async fn delete_webhook_endpoint(
        &self,
        id: &WebhookId,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Sets the event types and the (sealed) secret of configured endpoint `id`, when they
    /// changed.
    pub async fn update_configured_webhook(
        &self,
        id: &WebhookId,
        events: Option<&str>,
        secret: &[u8],
    ) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "UPDATE webhook_endpoints SET events = $1, secret = $2 WHERE id = $3 AND configured = 1",
        )
        .bind(events)
        .bind(secret)
        .bind(id)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Gives endpoint `id` (one made through the API) `url` and `events`, with `audit`: the
    /// endpoint, if there is such a one.
    pub async fn update_webhook_endpoint(
        &self,
        id: &WebhookId,
        (url, events): (&str, Option<&str>),
        audit: &AuditRow,
    ) -> Result<Option<EndpointRow>, Error> {
        let sql = concat!(
            "UPDATE webhook_endpoints SET url = $2, events = $3 WHERE id = $1 AND configured = 0 \
             RETURNING ",
            endpoint_columns!()
        );
        change_row!(self, EndpointRow, sql, audit, id, url, events)
    }

    /// Gives endpoint `id` (one made through the API) the sealed `secret`, keeping the one it
    /// had to sign beside it until `previous_until`, with `audit`; the endpoint, if there is
    /// such a one.
    pub async fn rotate_webhook_secret(
        &self,
        id: &WebhookId,
        (secret, previous_until): (&[u8], i64),
        audit: &AuditRow,
    ) -> Result<Option<EndpointRow>, Error> {
        let sql = concat!(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $2, \
             secret = $3 WHERE id = $1 AND configured = 0 RETURNING ",
            endpoint_columns!()
        );
        change_row!(self, EndpointRow, sql, audit, id, previous_until, secret)
    }

    /// Enables endpoint `id` again, with `audit`: the endpoint, or `None` when there is none.
    pub async fn enable_webhook_endpoint(
        &self,
        id: &WebhookId,
        audit: &AuditRow,
    ) -> Result<Option<EndpointRow>, Error> {
        let sql = concat!(
            "UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL \
             WHERE id = $1 RETURNING ",
            endpoint_columns!()
        );
        change_row!(self, EndpointRow, sql, audit, id)
    }

    /// Up to `limit` deliveries to endpoint `id`, newest first, before delivery `before`; only
    /// those with `status`, when given.
    pub async fn webhook_deliveries(
        &self,
        id: &WebhookId,
        (before, status): (Option<i64>, Option<&str>),
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, Error> {
        let sql = concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2 IS NULL OR id < $2) \
             AND ($4 IS NULL OR status = $4) ORDER BY id DESC LIMIT $3"
        );
        let rows = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(id)
            .bind(before)
            .bind(limit)
            .bind(status)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    /// Queues a message for endpoint `endpoint` alone, due at `now`: `msg_id`, its type and
    /// body, with `audit`; the delivery.
    pub async fn insert_test_delivery(
        &self,
        endpoint: &WebhookId,
        (msg_id, kind, payload): (&str, &str, &str),
        now: i64,
        audit: &AuditRow,
    ) -> Result<DeliveryRow, Error> {
        let sql = concat!(
            "INSERT INTO webhook_deliveries (endpoint_id, msg_id, type, payload, created_at, \
             status, attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $5) \
             RETURNING ",
            delivery_columns!()
        );
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let row: DeliveryRow = sqlx::query_as(sql)
                .bind(endpoint)
                .bind(msg_id)
                .bind(kind)
                .bind(payload)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(row)
        })
    }

    /// Makes delivery `delivery` of endpoint `id` due at `now`, its attempts counted afresh,
    /// with `audit`; whether there is such a delivery.
    pub async fn redeliver_webhook(
        &self,
        id: &WebhookId,
        delivery: i64,
        now: i64,
        audit: &AuditRow,
    ) -> Result<bool, Error> {
        on_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, \
                 next_attempt_at = $1 WHERE id = $2 AND endpoint_id = $3",
            )
            .bind(now)
            .bind(delivery)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The live endpoints, held by no sender, with a delivery due at `now` (a read, so that the
    /// sender's second-by-second look costs no write while there is nothing to send).
    pub async fn webhook_endpoints_due(&self, now: i64) -> Result<Vec<WebhookId>, Error> {
        let due = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT DISTINCT endpoint_id FROM webhook_deliveries WHERE status = 'pending' \
             AND next_attempt_at <= $1 AND endpoint_id IN (SELECT id FROM webhook_endpoints \
             WHERE disabled_at IS NULL AND (lease_until IS NULL OR lease_until <= $1))",
        )
        .bind(now)
        .fetch_all(pool)
        .await)?;
        Ok(due)
    }

    /// Holds live endpoint `id` for sender `lease` until `until`, unless another sender holds
    /// it at `now` (`lease` may extend its own hold): the endpoint, when the hold is this one's.
    pub async fn lease_webhook_endpoint(
        &self,
        id: &WebhookId,
        lease: &str,
        (now, until): (i64, i64),
    ) -> Result<Option<EndpointRow>, Error> {
        let sql = concat!(
            "UPDATE webhook_endpoints SET lease_id = $2, lease_until = $3 WHERE id = $1 \
             AND disabled_at IS NULL \
             AND (lease_id = $2 OR lease_until IS NULL OR lease_until <= $4) RETURNING ",
            endpoint_columns!()
        );
        let row = on_writer!(self, pool => sqlx::query_as(sql)
            .bind(id)
            .bind(lease)
            .bind(until)
            .bind(now)
            .fetch_optional(pool)
            .await)?;
        Ok(row)
    }

    /// Ends sender `lease`'s hold on endpoint `id` (if it still has it).
    pub async fn release_webhook_endpoint(&self, id: &WebhookId, lease: &str) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "UPDATE webhook_endpoints SET lease_id = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_id = $2",
        )
        .bind(id)
        .bind(lease)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Up to `limit` deliveries to endpoint `id` due at `now`, oldest first (a read: the sender
    /// that holds the endpoint sends them).
    pub async fn due_webhooks(
        &self,
        id: &WebhookId,
        now: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, Error> {
        let sql = concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending' \
             AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $3"
        );
        let rows = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(id)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    /// Records that an attempt at delivery `id` of endpoint `endpoint` failed, when sender
    /// `lease` still holds the endpoint: the answer's status and error, to be tried again at
    /// `retry_at` or (`None`) given up; the attempt is counted. A sender whose hold ran out
    /// (another took the endpoint), a delivery no longer pending, or one made due again after
    /// the sender read it at `read_at` (an admin asked for it again meanwhile: it is sent
    /// again), changes nothing.
    pub async fn webhook_failed(
        &self,
        (endpoint, lease, read_at): (&WebhookId, &str, i64),
        id: i64,
        Failure {
            status,
            error,
            retry_at,
        }: Failure<'_>,
    ) -> Result<(), Error> {
        let state = if retry_at.is_some() {
            "pending"
        } else {
            "failed"
        };
        on_writer!(self, pool => sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
             next_attempt_at = COALESCE($2, next_attempt_at), last_status = $3, \
             last_error = $4 WHERE id = $5 AND endpoint_id = $6 AND status = 'pending' \
             AND next_attempt_at <= $8 \
             AND EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $6 AND lease_id = $7)",
        )
        .bind(state)
        .bind(retry_at)
        .bind(status)
        .bind(error)
        .bind(id)
        .bind(endpoint)
        .bind(lease)
        .bind(read_at)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Records deliveries `ids` of endpoint `endpoint` as delivered at `now`, answered `status`,
    /// in one statement (per 64 of them), when sender `lease` still holds the endpoint and each
    /// is as it was read at `read_at` (see [`Store::webhook_failed`]); the attempt is
    /// counted. They are named one by one: never "every delivery up to
    /// some id", which on PostgreSQL (whose ids are not given in commit order) could take in a
    /// delivery committed late that was never sent.
    pub async fn webhooks_delivered(
        &self,
        (endpoint, lease, read_at): (&WebhookId, &str, i64),
        ids: &[i64],
        status: i32,
        now: i64,
    ) -> Result<(), Error> {
        for ids in ids.chunks(MAX_DELIVERED) {
            let text = text_for(&DELIVERED, ids.len())?;
            on_writer!(self, pool => {
                let mut query = sqlx::query(text)
                    .bind(now)
                    .bind(status)
                    .bind(endpoint)
                    .bind(lease)
                    .bind(read_at);
                for id in ids {
                    query = query.bind(id);
                }
                query.execute(pool).await.map(drop)
            })?;
        }
        Ok(())
    }

    /// Disables endpoint `endpoint` at `now` for `reason` (it answered 410 Gone): no delivery is
    /// made for it, nor sent to it, until it is enabled again.
    pub async fn disable_webhook_endpoint(
        &self,
        endpoint: &WebhookId,
        reason: &str,
        now: i64,
    ) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = $2 \
             WHERE id = $3 AND disabled_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(endpoint)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Deletes the deliveries made before `before` (ms) that are finished (delivered or given
    /// up), or that wait for an endpoint that is disabled or gone.
    pub async fn purge_webhook_deliveries(&self, before: i64) -> Result<(), Error> {
        on_writer!(self, pool => sqlx::query(
            "DELETE FROM webhook_deliveries WHERE created_at < $1 AND (status <> 'pending' \
             OR endpoint_id NOT IN (SELECT id FROM webhook_endpoints WHERE disabled_at IS NULL))",
        )
        .bind(before)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }
}

/// The most deliveries [`Store::webhooks_delivered`] records at once.
const MAX_DELIVERED: usize = super::groups::MAX_GROUP;

/// Records deliveries as delivered, for each number of them: `$1` when, `$2` the status, `$3`
/// the endpoint, `$4` the lease, `$5` when they were read, then the ids.
static DELIVERED: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    texts(|n| {
        format!(
            "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = $1, \
             last_status = $2, last_error = NULL, attempts = attempts + 1 \
             WHERE endpoint_id = $3 AND status = 'pending' AND next_attempt_at <= $5 \
             AND id IN ({}) \
             AND EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $3 AND lease_id = $4)",
            placeholders(n, 6)
        )
    })
});

/// A failed attempt at a delivery.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// The answer's status, when one came.
    pub status: Option<i32>,
    /// What went wrong.
    pub error: &'a str,
    /// When to try again (ms); `None`: never.
    pub retry_at: Option<i64>,
}
