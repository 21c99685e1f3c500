//! Keyward's browser client, in Rust. The same code is the Rust API that `keyward-leptos` uses
//! and, through wasm-bindgen, the JS API of the `keyward` npm package.
//!
//! What it keeps, and where:
//!
//! | what | where | how |
//! |---|---|---|
//! | device key (ECDSA P-256) | IndexedDB | a non-extractable WebCrypto `CryptoKey`: script can use it, never read it |
//! | session tokens, cached user | IndexedDB | AES-256-GCM under a non-extractable key |
//!
//! Cargo features: `typed` (default) is the typed Rust API `keyward-leptos` uses (sessions,
//! devices and passkeys as `keyward-proto` types, through serde-wasm-bindgen); `js` is the
//! wasm-bindgen core the npm package wraps (`cargo xtask npm` builds it with `typed` off, so
//! the package carries no serde).
//!
//! ```no_run
//! # async fn demo() -> Result<(), keyward_client::Error> {
//! use keyward_client::{device_key::DeviceKey, idb::Database};
//!
//! let db = Database::open("keyward").await?;
//! let key = DeviceKey::load_or_create(&db).await?;
//! let signature = key.sign(b"proof of possession").await?;
//! assert_eq!(signature.len(), 64);
//! # Ok(()) }
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod api;
pub mod browser;
mod client;
#[cfg(feature = "typed")]
mod connected;
pub mod device_key;
pub mod dpop;
mod error;
pub mod idb;
mod io;
#[cfg(feature = "js")]
mod js;
#[cfg(feature = "typed")]
mod lifecycle;
#[cfg(feature = "typed")]
mod oauth;
#[cfg(feature = "typed")]
mod orgs;
pub mod schedule;
mod tabs;
#[cfg(feature = "typed")]
mod typed;
pub mod vault;
pub mod webauthn;
pub mod wire;

pub use client::{
    AuthClient, AuthState, Change, Options, Passkey, SignOutReason, SignedIn, Snapshot,
    Subscription,
};
#[cfg(feature = "typed")]
pub use connected::OIDC_REQUEST;
pub use error::Error;
#[cfg(feature = "typed")]
pub use keyward_proto::ConnectedApp;
pub use keyward_proto::{ErrorCode, Session, SignOutScope, TotpEnrolment, User};
#[cfg(feature = "typed")]
pub use keyward_proto::{Identity, OAuthProviderInfo};
#[cfg(feature = "typed")]
pub use keyward_proto::{Invitation, Member, Org, OrgAnswer, OrgMembership, UpdateOrg};
#[cfg(feature = "typed")]
pub use oauth::OAuthOutcome;
#[cfg(feature = "typed")]
pub use orgs::ActiveOrg;

use std::future::Future;

use wasm_bindgen::JsValue;

/// A future that settles a JS promise.
type PromiseFuture = std::pin::Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

/// `future_to_promise` through one boxed future type, so its glue is compiled once for the
/// whole client instead of once per async method (2 KB less wasm, measured).
pub(crate) fn promise(
    future: impl Future<Output = Result<JsValue, JsValue>> + 'static,
) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(Box::pin(future) as PromiseFuture)
}

/// The npm build's allocator (see Cargo.toml).
#[cfg(all(
    feature = "js",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
