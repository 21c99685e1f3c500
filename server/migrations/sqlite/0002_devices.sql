-- Device keys (DPoP, RFC 9449): one row per user and key thumbprint.
CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- RFC 7638 thumbprint of the device's public key.
    jkt          TEXT NOT NULL,
    name         TEXT NOT NULL,
    user_agent   TEXT,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at   INTEGER,
    UNIQUE (user_id, jkt)
);

-- A session bound to a device key: refresh needs a proof by that key.
ALTER TABLE sessions ADD COLUMN device_id TEXT REFERENCES devices(id) ON DELETE CASCADE;
ALTER TABLE sessions ADD COLUMN jkt TEXT;
CREATE INDEX sessions_by_device ON sessions (device_id) WHERE device_id IS NOT NULL;

-- Single-use, short-lived challenges a device signs to prove it holds its key.
CREATE TABLE device_challenges (
    challenge_hash BLOB PRIMARY KEY,
    device_id      TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);

-- DPoP proof ids seen recently (replay protection shared by every server on the database).
CREATE TABLE dpop_replays (
    id         TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
