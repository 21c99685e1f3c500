-- Account lifecycle (issue 17): mail, and the single-use tokens emailed links carry.

-- Every mail goes through this table: a durable queue. Without SMTP (development) mail stays
-- here for `keyward outbox`; with SMTP a sender delivers it, retrying with backoff.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    created_at      BIGINT NOT NULL,
    -- verify_email, reset_password, magic_link, change_email, email_changed, account_locked
    kind            TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    -- pending (to send), sent, failed (gave up), outbox (development: nothing sends it)
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- A sender that took the mail holds it until then; after, another sender may (it crashed).
    lease_until     BIGINT,
    last_error      TEXT,
    sent_at         BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX mail_outbox_by_time ON mail_outbox (created_at);

-- What an emailed link or code stands for. Only SHA-256 hashes are stored; a token is used up
-- in one statement (of two uses at once, one wins).
CREATE TABLE account_tokens (
    token_hash BYTEA PRIMARY KEY,
    -- verify_email, reset_password, magic_link, change_email
    purpose    TEXT NOT NULL,
    user_id    TEXT REFERENCES users(id) ON DELETE CASCADE,
    -- The address it was sent to (for change_email: the new address).
    email      TEXT NOT NULL,
    -- A magic link's 6-digit code: HMAC-SHA256 of the code under a key derived from the master secret.
    code_hash  BYTEA,
    -- Wrong codes tried against it; at 5 it stops working.
    attempts   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX account_tokens_by_user ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_by_email ON account_tokens (email, purpose);
CREATE INDEX account_tokens_by_expiry ON account_tokens (expires_at);
