//! Keyward as an OpenID Connect provider (`domain::oidc_provider`): the admin API of its
//! clients, and the protocol endpoints.

pub(crate) mod clients;
pub(crate) mod connected;
pub(crate) mod pages;
pub(crate) mod protocol;
pub(crate) mod session;
