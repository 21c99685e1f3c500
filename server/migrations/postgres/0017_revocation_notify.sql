-- Servers sharing this database learn of revocations at once: every statement that revokes a
-- session, keeps a deleted user's sessions' revocations, or changes someone's organization role
-- notifies `keyward_revocations` when it commits, and each server then reads what changed (as it
-- also does every second, in case a notification is lost with a connection).
CREATE FUNCTION keyward_notify_revocations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('keyward_revocations', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_revocations();
CREATE TRIGGER sessions_deleted AFTER INSERT ON deleted_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_revocations();
CREATE TRIGGER org_access_changed AFTER INSERT ON org_access_changes
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_revocations();
-- SQLite has no counterpart: one server process serves an SQLite database.
