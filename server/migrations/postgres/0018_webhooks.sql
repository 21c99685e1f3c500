-- Webhooks (issue 21): endpoints, and one delivery per event and endpoint.

-- An endpoint's secret (the HMAC key of its signatures) is sealed with the master secret: the
-- server must read it to sign, so it cannot be hashed. `events` is NULL for every event, or the
-- event types it takes, each between spaces (` user.created session.revoked `).
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT,
    secret          BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    -- Disabled by an endpoint that answered 410 Gone; enabled again through the admin API.
    disabled_at     BIGINT,
    disabled_reason TEXT,
    -- 1 for an endpoint from the configuration (`[[webhooks]]`), kept in step with it at start.
    configured      INTEGER NOT NULL DEFAULT 0,
    -- The sender that holds the endpoint (a random id per round of sending), until when (ms):
    -- of several server processes one sends to an endpoint; after the hold runs out (it
    -- crashed), another may.
    lease_id        TEXT,
    lease_until     BIGINT
);
-- One endpoint per configured URL, however many servers start at once.
CREATE UNIQUE INDEX webhook_endpoints_configured ON webhook_endpoints (url) WHERE configured = 1;

-- Written in the transaction of the change it announces (with its audit event), so an event is
-- never lost nor sent for a change that rolled back. `msg_id` (`evt_<audit event id>_<n>_<ms>`) is the
-- `webhook-id`: the same on every attempt and for every endpoint.
CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    -- No foreign key: an event written while its endpoint is deleted must not fail the change it
    -- announces. Such a delivery is never sent (only live endpoints' are), and is purged.
    endpoint_id     TEXT NOT NULL,
    msg_id          TEXT NOT NULL,
    type            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- pending (to send), delivered, failed (gave up, or the endpoint answered 410)
    status          TEXT NOT NULL,
    -- Attempts made (one is counted when it ends).
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    BIGINT
);
-- What is due, per endpoint: only pending rows, however many were delivered.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (created_at);
