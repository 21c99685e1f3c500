-- Keyward as an OpenID Connect provider (issue 22): the relying parties registered with it.
-- The codes, consents and grants of the flows come with the migrations that use them.

-- `id` is the `client_id` (`kwc_…`, never a UUID, so that a machine token's `sub` is never taken
-- for a user). A confidential client's secret (`kwcs_` + 32 random bytes) is kept as its SHA-256:
-- 256 random bits need no slow hash. After a rotation the previous one is accepted too until
-- `previous_until` (ms). Redirect URIs are JSON arrays, compared byte for byte; scopes and
-- grant types are space-separated lists.
CREATE TABLE oidc_clients (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    kind                      TEXT NOT NULL CHECK (kind IN ('confidential', 'public')),
    secret_hash               BYTEA,
    previous_secret_hash      BYTEA,
    previous_until            BIGINT,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    scopes                    TEXT NOT NULL,
    grant_types               TEXT NOT NULL,
    audience                  TEXT,
    skip_consent              INTEGER NOT NULL DEFAULT 0,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL,
    CHECK ((kind = 'public') = (secret_hash IS NULL))
);
