-- Linking a provider to a signed-in account (issue 18). Sign-ins and codes in flight live
-- minutes: they are dropped with their tables, not migrated.

-- A link is started by a session's authorized call, not by a browser's navigation, so no
-- cookie binds it: it is bound to that session instead (`link_session`, of `link_user`), which
-- must finish it.
DROP TABLE oauth_flows;
CREATE TABLE oauth_flows (
    state_hash    BLOB PRIMARY KEY,
    binding_hash  BLOB,
    link_session  TEXT,
    link_user     TEXT REFERENCES users(id) ON DELETE CASCADE,
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    redirect_to   TEXT NOT NULL,
    app_challenge TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    CHECK ((binding_hash IS NULL) <> (link_session IS NULL)),
    CHECK ((link_session IS NULL) = (link_user IS NULL))
);

-- A link's code carries the identity the provider proved, for the session that started it.
DROP TABLE oauth_codes;
CREATE TABLE oauth_codes (
    code_hash     BLOB PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    app_challenge TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    link_session  TEXT,
    provider      TEXT,
    issuer        TEXT,
    subject       TEXT,
    email         TEXT,
    CHECK ((link_session IS NULL) = (provider IS NULL)),
    CHECK ((link_session IS NULL) = (issuer IS NULL)),
    CHECK ((link_session IS NULL) = (subject IS NULL))
);
