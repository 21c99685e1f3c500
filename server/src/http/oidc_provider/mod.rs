//! Keyward as an OpenID Connect provider (`domain::oidc_provider`): the admin API of its
//! clients.

pub(crate) mod clients;
