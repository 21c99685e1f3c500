-- Keyward as an OpenID Connect provider (issue 22): what each user allowed each client to know
-- (`scopes`, space-separated), so consent is asked once, and again only for more or after the
-- user revoked it (`DELETE /auth/connected-apps/{client_id}`).
CREATE TABLE oidc_consents (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
