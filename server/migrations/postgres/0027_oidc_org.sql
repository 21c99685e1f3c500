-- Keyward as an OpenID Connect provider (issue 22): the organization a user chose for a client on
-- the consent page (scope `org`), remembered with the consent and carried by the code to the
-- grant's session (`sessions.org_id`), so the client's tokens name it and the user's role in it.
ALTER TABLE oidc_consents ADD COLUMN org_id TEXT REFERENCES orgs(id) ON DELETE SET NULL;
ALTER TABLE oidc_codes ADD COLUMN org_id TEXT REFERENCES orgs(id) ON DELETE SET NULL;
