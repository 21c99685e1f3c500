-- The delivery log filtered to what was given up (`status=failed`, issue 21): those are few
-- among many delivered, and this index holds only them, so sending pays nothing for it.
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (endpoint_id, id)
    WHERE status = 'failed';

-- A rotated secret (`POST /auth/admin/webhooks/{id}/rotate-secret`): the previous one, sealed
-- like the current one, signs each delivery too until `previous_until` (ms).
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret BYTEA;
ALTER TABLE webhook_endpoints ADD COLUMN previous_until BIGINT;
