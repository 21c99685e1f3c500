-- Claims the post-authentication hook added to a session (issue 21): a JSON object that every
-- access token of the session carries under `ext`; NULL when none.
ALTER TABLE sessions ADD COLUMN claims TEXT;
