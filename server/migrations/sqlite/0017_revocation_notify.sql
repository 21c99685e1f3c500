-- Nothing on SQLite: one server process serves an SQLite database, so there is no other server
-- to notify of revocations (PostgreSQL's 0017 makes its triggers). Kept so that both databases
-- are at the same version.
SELECT 1;
