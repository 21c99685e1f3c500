-- The admin API's search (issue 21): a prefix of the address or of the name, found through an
-- index range on each, compared byte by byte (in a language's collation the strings a prefix
-- starts need not sit together).
CREATE INDEX users_email_bytes ON users ((email_key COLLATE "C"));
CREATE INDEX users_name_bytes ON users ((lower(name) COLLATE "C"));
