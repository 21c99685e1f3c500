-- The security review's findings (issue 15).

-- When the user last proved who they are (sign-in, or later a step-up), in ms: adding or
-- removing a credential needs this to be recent. Sessions from before keep their start.
ALTER TABLE sessions ADD COLUMN auth_time BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET auth_time = created_at;

-- When a revocation was written, by the database's clock (ms): other servers read revocations
-- by this, not by the revoking server's clock, which may be behind.
ALTER TABLE sessions ADD COLUMN revoked_clock BIGINT;
UPDATE sessions SET revoked_clock = revoked_at WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_by_revocation_clock ON sessions (revoked_clock)
    WHERE revoked_clock IS NOT NULL;
CREATE FUNCTION keyward_revocation_clock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        -- The time of this statement, not of the transaction's start: closer to the commit.
        NEW.revoked_clock := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER sessions_revocation_clock BEFORE UPDATE OF revoked_at ON sessions
    FOR EACH ROW EXECUTE FUNCTION keyward_revocation_clock();

-- A device challenge is answered for one verifier (its audience) only.
ALTER TABLE device_challenges ADD COLUMN audience TEXT NOT NULL DEFAULT '';

-- Audit retention: events older than the cutoff may be deleted (by the retention job), no
-- others. The cutoff only moves forward, and never closer than a day to the database's clock:
-- whoever can run SQL as the app still cannot erase the last day of the log.
CREATE TABLE audit_retention (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    cutoff BIGINT NOT NULL
);
INSERT INTO audit_retention (id, cutoff) VALUES (1, 0);
CREATE FUNCTION keyward_audit_retention_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.cutoff < OLD.cutoff OR NEW.id <> OLD.id
       OR NEW.cutoff > (extract(epoch FROM clock_timestamp()) * 1000)::bigint - 86400000 THEN
        RAISE EXCEPTION 'the audit retention cutoff only moves forward, up to a day ago';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_retention_forward BEFORE UPDATE OR DELETE ON audit_retention
    FOR EACH ROW EXECUTE FUNCTION keyward_audit_retention_forward();
CREATE TRIGGER audit_retention_no_truncate BEFORE TRUNCATE ON audit_retention
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_audit_retention_forward();
CREATE OR REPLACE FUNCTION keyward_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.at < (SELECT cutoff FROM audit_retention WHERE id = 1) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only (only events past the retention are deleted)';
END
$$;
