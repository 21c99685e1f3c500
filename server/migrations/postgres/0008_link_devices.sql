-- The device key (RFC 7638 thumbprint) of the request that asked for a link: a verification or
-- address-change link used from that device, or from a device signed in to the account, is
-- used by the account's holder (issue 17, pre-hijacking).
ALTER TABLE account_tokens ADD COLUMN jkt TEXT;
