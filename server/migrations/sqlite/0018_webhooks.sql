-- Webhooks (issue 21): endpoints, and one delivery per event and endpoint.

-- An endpoint's secret (the HMAC key of its signatures) is sealed with the master secret: the
-- server must read it to sign, so it cannot be hashed. `events` is NULL for every event, or the
-- event types it takes, each between spaces (` user.created session.revoked `).
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT,
    secret          BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    -- Disabled by an endpoint that answered 410 Gone; enabled again through the admin API.
    disabled_at     INTEGER,
    disabled_reason TEXT
);

-- Written in the transaction of the change it announces (with its audit event), so an event is
-- never lost nor sent for a change that rolled back. `msg_id` (`evt_<audit event id>_<n>`) is the
-- `webhook-id`: the same on every attempt and for every endpoint.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    msg_id          TEXT NOT NULL,
    type            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    -- pending (to send), delivered, failed (gave up, or the endpoint answered 410)
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    -- A sender that took the delivery holds it until then; after, another may (it crashed).
    lease_until     INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (created_at);
