-- Connect tickets (issue 16): single-use, 30-second stand-ins for the access token where a
-- client cannot send headers (a WebSocket, an EventSource). Only SHA-256 hashes are stored.
CREATE TABLE connect_tickets (
    ticket_hash BLOB PRIMARY KEY,
    -- A ticket goes with its session: purged or deleted (with its user), its tickets go too.
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    -- The session's device, when it is bound to one (DPoP).
    device_id   TEXT,
    -- The URL it is good at, normalised, without query or fragment.
    url         TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
-- The cascade from sessions, and the upkeep's purge of expired tickets.
CREATE INDEX connect_tickets_by_session ON connect_tickets (session_id);
CREATE INDEX connect_tickets_by_expiry ON connect_tickets (expires_at);
