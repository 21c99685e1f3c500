-- The active organization, its access changes and invitations (issue 19).

-- The organization a session acts for: its tokens carry `org`, `org_role` and the role's
-- permissions, read from `org_members` at each refresh (none once the user is no longer in it).
ALTER TABLE sessions ADD COLUMN org_id TEXT;

-- Role changes and removals, so every server refuses an access token that still carries the
-- old role at once (as revocations): `role` is the new one, NULL when out. Written in the
-- change's transaction; `clock` is the database's, as `sessions.revoked_clock`. Rows older
-- than an access token's lifetime are purged.
CREATE TABLE org_access_changes (
    user_id    TEXT NOT NULL,
    org_id     TEXT NOT NULL,
    role       TEXT,
    changed_at BIGINT NOT NULL,
    clock      BIGINT NOT NULL DEFAULT ((extract(epoch FROM clock_timestamp()) * 1000)::bigint)
);
CREATE INDEX org_access_changes_by_clock ON org_access_changes (clock);

-- Invitations by email: the token is kept only as its SHA-256, lives 7 days and is used once.
-- One invitation per organization and address at a time (a new one replaces the pending one).
CREATE TABLE org_invitations (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  BYTEA NOT NULL UNIQUE,
    invited_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    UNIQUE (org_id, email)
);
