-- The admin API's search (issue 21): a prefix of the address or of the name, found through an
-- index range on each (the address key has its unique index), whatever the table's size.
CREATE INDEX users_by_name ON users (lower(name));
