-- Passkeys (WebAuthn credentials), and the ceremonies in flight.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- base64url credential id; unique across all users (a credential belongs to one account).
    credential_id TEXT NOT NULL UNIQUE,
    -- webauthn-rs's Passkey (public key, sign count, backup flags), as JSON.
    passkey       TEXT NOT NULL,
    name          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys (user_id);

-- Server-side ceremony state: found by its challenge, used once, expires after 5 minutes.
CREATE TABLE passkey_ceremonies (
    challenge  TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    email      TEXT,
    name       TEXT,
    state      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
