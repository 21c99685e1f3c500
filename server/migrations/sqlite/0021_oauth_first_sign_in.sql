-- A provider's first sign-in makes its account when the app exchanges the code, in the
-- transaction of its first session and after the post-authentication hook (issue 21), no longer
-- at the provider's callback: until then the code carries the identity the provider proved, and
-- no user. Three kinds of code:
--   a sign-in:        user_id;               no link_session, no identity
--   a link:           user_id, link_session, the identity
--   a first sign-in:  no user_id,            no link_session, the identity with its email
-- Codes live 60 seconds: those in flight while this runs are dropped, and their sign-ins start
-- again.
DROP TABLE oauth_codes;
CREATE TABLE oauth_codes (
    code_hash     BLOB PRIMARY KEY,
    user_id       TEXT REFERENCES users(id) ON DELETE CASCADE,
    app_challenge TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    link_session  TEXT,
    provider      TEXT,
    issuer        TEXT,
    subject       TEXT,
    email         TEXT,
    name          TEXT,
    CHECK (user_id IS NOT NULL OR link_session IS NULL),
    CHECK ((user_id IS NOT NULL AND link_session IS NULL) = (provider IS NULL)),
    CHECK ((provider IS NULL) = (issuer IS NULL)),
    CHECK ((provider IS NULL) = (subject IS NULL)),
    CHECK (user_id IS NOT NULL OR email IS NOT NULL)
);
