//! Keyward as an OpenID Connect provider (issue 22): other apps and services sign their users in
//! through Keyward with a standard OpenID Connect client library, and machine clients get tokens
//! with their credentials.
//!
//! Built in increments (`docs/plans/oidc-provider.md`). What is here:
//! - [`clients`]: the relying parties registered with Keyward, by an operator (the admin API,
//!   `keyward clients …`). Each has a `client_id` (`kwc_…`); a confidential one has a secret
//!   (`kwcs_…`, shown once, stored as its SHA-256) that can be rotated with a day's overlap. Its
//!   redirect URIs are kept exactly as registered: the authorization endpoint will compare the
//!   request's byte for byte, never by prefix or after normalising.
//! - [`grants`]: the token endpoint. So far `client_credentials`, for machine clients.
//!
//! The cargo feature `oidc-provider` (on by default) builds it; the setting `oidc_provider`
//! turns the protocol endpoints (`/auth/oidc/…`) on (off by default). Clients can be registered
//! either way, so an operator can prepare them before turning the provider on.
//!
//! The protocol endpoints speak OAuth's wire (RFC 6749 §5): form-encoded requests, bare JSON
//! answers, refusals as `{"error", "error_description"}`, as standard client libraries expect;
//! what Keyward's own clients call keeps the `{"data"}` envelope.

pub mod authorize;
pub mod browser;
pub mod claims;
pub mod clients;
pub mod consent;
pub mod grants;
pub mod logout;
