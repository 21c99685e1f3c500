-- Keyward as an OpenID Connect provider (issue 22):
-- - the organization a user chose for a client on the consent page (scope `org`), remembered
--   with the consent and carried by the code to the grant's session (`sessions.org_id`), so the
--   client's tokens name it and the user's role in it;
-- - the DPoP key an authorization request bound its code to (`dpop_jkt`, RFC 9449 §10): only a
--   proof by that key exchanges the code.
ALTER TABLE oidc_consents ADD COLUMN org_id TEXT REFERENCES orgs(id) ON DELETE SET NULL;
ALTER TABLE oidc_codes ADD COLUMN org_id TEXT REFERENCES orgs(id) ON DELETE SET NULL;
ALTER TABLE oidc_codes ADD COLUMN dpop_jkt TEXT;
