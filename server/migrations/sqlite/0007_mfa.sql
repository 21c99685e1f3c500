-- TOTP second factors (issue 17).

-- One per user: the secret sealed under the master secret (bound to the user), confirmed by a
-- first code, and the last time step a code was accepted for (a code is good once).
CREATE TABLE mfa_totp (
    user_id      TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret       BLOB NOT NULL,
    confirmed_at INTEGER,
    last_step    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);

-- Recovery codes, each good once; only keyed hashes.
CREATE TABLE mfa_recovery_codes (
    code_hash  BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX mfa_recovery_codes_by_user ON mfa_recovery_codes (user_id);

-- Between a sign-in's first and second factor: single use, 5 minutes, five wrong codes at most,
-- bound to the device key of the first factor.
CREATE TABLE mfa_tickets (
    ticket_hash BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    amr         TEXT NOT NULL,
    jkt         TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX mfa_tickets_by_expiry ON mfa_tickets (expires_at);
