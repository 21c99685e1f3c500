-- Keys of resource servers (sync servers, APIs in other languages, gateways): they redeem
-- connect tickets and introspect tokens, nothing else. A key is 256 random bits, shown once;
-- only its SHA-256 is kept. A revoked key is refused at once.
CREATE TABLE server_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    key_hash     BYTEA NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
