-- When the access token a connect ticket was asked with expires: a live connection opened
-- with the ticket ends then, unless the client renews it in band (issue 20).
ALTER TABLE connect_tickets ADD COLUMN token_expires_at BIGINT;
