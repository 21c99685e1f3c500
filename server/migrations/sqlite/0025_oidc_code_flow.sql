-- Keyward as an OpenID Connect provider (issue 22): the authorization code flow.

-- A code is single use and lives 60 s; its row stays a while after use so that a replay is seen
-- (and revokes what the first exchange issued: `grant_session_id`). Only its SHA-256 is kept.
-- `browser_session_id` is the first-party session the user signed in with at the provider (the ID
-- token's `sid`), and `auth_time` and `amr` what it said of that sign-in when the code was issued.
CREATE TABLE oidc_codes (
    code_hash          BLOB PRIMARY KEY,
    client_id          TEXT NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    user_id            TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    browser_session_id TEXT NOT NULL,
    auth_time          INTEGER NOT NULL,
    amr                TEXT NOT NULL,
    redirect_uri       TEXT NOT NULL,
    scope              TEXT NOT NULL,
    nonce              TEXT,
    code_challenge     TEXT,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    used_at            INTEGER,
    replayed_at        INTEGER,
    grant_session_id   TEXT
);
CREATE INDEX oidc_codes_expiry ON oidc_codes (expires_at);

-- The provider's browser session: a cookie (only its SHA-256 here) that points at the
-- first-party session the user signed in with on the provider's own sign-in page. It ends
-- with that session (a sign-out, a revocation, the session's own end).
CREATE TABLE oidc_browser_sessions (
    cookie_hash BLOB PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- A grant (what a client got for a user) is a session row with `client_id` set: revoked, listed
-- and synced as sessions are, but never a first-party session (never in the user's session list,
-- never counted against their session limit, never refreshed at /auth/refresh). `scope` is what
-- was granted; `parent_session_id` the browser session it came from. No foreign key: a client's
-- deletion revokes its grants (an update, which every server's revocation sync reads) and leaves
-- the rows to be purged as other ended sessions are; nothing ever turns a grant's `client_id`
-- into NULL, which would make it a first-party session.
ALTER TABLE sessions ADD COLUMN client_id TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT;
ALTER TABLE sessions ADD COLUMN parent_session_id TEXT;
CREATE INDEX sessions_by_client ON sessions (client_id, user_id) WHERE client_id IS NOT NULL;
