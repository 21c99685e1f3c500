-- A user's live sessions, the ones a new session counts against the per-user limit (and the
-- session lists show): an index of those alone. Through `sessions_by_user`, which holds every
-- session a user ever had, each sign-in read all of them, revoked ones included, inside the
-- writer's transaction: a user who signs in often made each later sign-in of theirs slower.
CREATE INDEX sessions_live_by_user ON sessions (user_id, created_at) WHERE revoked_at IS NULL;
