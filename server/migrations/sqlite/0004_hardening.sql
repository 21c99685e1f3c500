-- The security review's findings (issue 15).

-- When the user last proved who they are (sign-in, or later a step-up), in ms: adding or
-- removing a credential needs this to be recent. Sessions from before keep their start.
ALTER TABLE sessions ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET auth_time = created_at;

-- When a revocation was written, by the database's clock (ms): other servers read revocations
-- by this, not by the revoking server's clock, which may be behind.
ALTER TABLE sessions ADD COLUMN revoked_clock INTEGER;
UPDATE sessions SET revoked_clock = revoked_at WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_by_revocation_clock ON sessions (revoked_clock)
    WHERE revoked_clock IS NOT NULL;
CREATE TRIGGER sessions_revocation_clock AFTER UPDATE OF revoked_at ON sessions
    WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    UPDATE sessions
    SET revoked_clock = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    WHERE id = NEW.id;
END;

-- A device challenge is answered for one verifier (its audience) only.
ALTER TABLE device_challenges ADD COLUMN audience TEXT NOT NULL DEFAULT '';

-- Audit retention: events older than the cutoff may be deleted (by the retention job), no
-- others. The cutoff only moves forward, and never closer than a day to the database's clock:
-- whoever can run SQL as the app still cannot erase the last day of the log.
CREATE TABLE audit_retention (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    cutoff INTEGER NOT NULL
);
INSERT INTO audit_retention (id, cutoff) VALUES (1, 0);
CREATE TRIGGER audit_retention_forward BEFORE UPDATE ON audit_retention
    WHEN NEW.cutoff < OLD.cutoff OR NEW.id <> OLD.id
      OR NEW.cutoff > CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 86400000
BEGIN
    SELECT RAISE(ABORT, 'the audit retention cutoff only moves forward, up to a day ago');
END;
CREATE TRIGGER audit_retention_no_delete BEFORE DELETE ON audit_retention
BEGIN
    SELECT RAISE(ABORT, 'audit_retention keeps its row');
END;
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    WHEN OLD.at >= (SELECT cutoff FROM audit_retention WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only (only events past the retention are deleted)');
END;
