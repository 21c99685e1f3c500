-- Device keys (DPoP, RFC 9449): one row per user and key thumbprint.
CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- RFC 7638 thumbprint of the device's public key.
    jkt          TEXT NOT NULL,
    name         TEXT NOT NULL,
    user_agent   TEXT,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    revoked_at   BIGINT,
    UNIQUE (user_id, jkt)
);

-- A session bound to a device key: refresh needs a proof by that key.
ALTER TABLE sessions ADD COLUMN device_id TEXT REFERENCES devices(id) ON DELETE CASCADE;
ALTER TABLE sessions ADD COLUMN jkt TEXT;
CREATE INDEX sessions_by_device ON sessions (device_id) WHERE device_id IS NOT NULL;

-- Single-use, short-lived challenges a device signs to prove it holds its key.
CREATE TABLE device_challenges (
    challenge_hash BYTEA PRIMARY KEY,
    device_id      TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);

-- DPoP proof ids seen recently (replay protection shared by every server on the database).
-- Unlogged: losing it in a crash only forgets proofs that expire within minutes anyway.
CREATE UNLOGGED TABLE dpop_replays (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
