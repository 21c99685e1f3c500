-- Sign-in with OpenID Connect providers (issue 18).

-- An account's identity at a provider, keyed by (issuer, subject), never by email.
CREATE TABLE identities (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    email      TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX identities_by_user ON identities (user_id);

-- A sign-in started at a provider: found by its `state` (hashed), bound to the browser that
-- started it (a cookie's value, hashed) and to the page that started it (`app_challenge`: the
-- SHA-256 of a verifier the page keeps and shows at the exchange), single use, ten minutes.
CREATE TABLE oauth_flows (
    state_hash    BYTEA PRIMARY KEY,
    binding_hash  BYTEA NOT NULL,
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    redirect_to   TEXT NOT NULL,
    app_challenge TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- What the app exchanges for a session, with the verifier of the sign-in's `app_challenge`:
-- single use, 60 seconds (hashed).
CREATE TABLE oauth_codes (
    code_hash     BYTEA PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    app_challenge TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
