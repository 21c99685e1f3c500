-- Admin API keys live beside the server keys, told apart by their kind: `server` keys redeem
-- connect tickets and introspect; `admin` keys use the admin API (and introspect).
ALTER TABLE server_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'server';

-- The admin API pages through users in the order they were made.
CREATE INDEX users_by_creation ON users (created_at, id);
