-- Keyward core schema (SQLite). Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL,
    -- The whole address lower-cased: one account per mailbox, whatever the case typed.
    email_key         TEXT NOT NULL UNIQUE,
    email_verified_at INTEGER,
    name              TEXT,
    -- argon2id PHC string; NULL for accounts without a password (passkey-only, OAuth).
    password_hash     TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    -- The session's lifetime: no refresh after this, however active it is.
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    revoke_reason TEXT,
    amr           TEXT NOT NULL,
    user_agent    TEXT,
    ip            TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
CREATE INDEX sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Only SHA-256 hashes of refresh tokens are stored.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    created_at         INTEGER NOT NULL,
    retired_at         INTEGER,
    -- Uncompressed P-256 point (65 bytes).
    public_key         BLOB NOT NULL,
    -- PKCS#8, AES-256-GCM under a key derived from the master secret, bound to the kid.
    sealed_private_key BLOB NOT NULL
);

-- Append-only: the triggers refuse updates and deletes.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT
);
CREATE INDEX audit_events_by_time ON audit_events (at);
CREATE INDEX audit_events_by_user ON audit_events (user_id, at);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- Fixed-window request counters (rate limits), shared by every server on the database.
CREATE TABLE rate_limits (
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL
);

-- Consecutive failed sign-ins per email (known or not, so a lockout reveals nothing).
CREATE TABLE sign_in_failures (
    email_key    TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER,
    updated_at   INTEGER NOT NULL
);
