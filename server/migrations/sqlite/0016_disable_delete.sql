-- Administration (issue 21): disabled accounts, the last sign-in, and deleted users' sessions.

-- A disabled account cannot sign in: every new session checks this in its own transaction.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
-- Written by every new session (which also locks the user's row against a concurrent disable).
ALTER TABLE users ADD COLUMN last_sign_in_at INTEGER;

-- A deleted user's sessions go with them, but every server must still refuse their access
-- tokens at once: their revocations are kept here (read with `sessions.revoked_clock`'s) until
-- those tokens have expired. `revoked_clock` is the database's clock.
CREATE TABLE deleted_sessions (
    id            TEXT PRIMARY KEY,
    revoked_at    INTEGER NOT NULL,
    revoked_clock INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);
CREATE INDEX deleted_sessions_by_clock ON deleted_sessions (revoked_clock);
