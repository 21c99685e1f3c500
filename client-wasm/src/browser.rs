//! The browser APIs the client stands on, found on the global object so that the client works in
//! a window and in a worker alike.

use js_sys::{Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::Error;

fn global_property(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .filter(|value| !value.is_undefined() && !value.is_null())
}

/// `crypto.subtle`: WebCrypto, which does all key work (only in secure contexts: https or
/// localhost).
pub fn subtle() -> Result<web_sys::SubtleCrypto, Error> {
    let crypto: web_sys::Crypto = global_property("crypto")
        .and_then(|crypto| crypto.dyn_into().ok())
        .ok_or(Error::Unsupported { api: "crypto" })?;
    let subtle = crypto.subtle();
    if subtle.is_undefined() {
        return Err(Error::Unsupported {
            api: "crypto.subtle",
        });
    }
    Ok(subtle)
}

/// What `promise` (from a browser API or `js/io.js`) settles to; its failure, or a throw
/// before it, is an [`Error::Browser`] for `operation`.
pub async fn wait(
    operation: &'static str,
    promise: Result<Promise, JsValue>,
) -> Result<JsValue, Error> {
    let promise = promise.map_err(|e| Error::browser(operation, &e))?;
    JsFuture::from(promise)
        .await
        .map_err(|e| Error::browser(operation, &e))
}

/// Fills `buf` from the browser's CSPRNG (`crypto.getRandomValues`).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), Error> {
    let crypto: web_sys::Crypto = global_property("crypto")
        .and_then(|crypto| crypto.dyn_into().ok())
        .ok_or(Error::Unsupported { api: "crypto" })?;
    crypto
        .get_random_values_with_u8_array(buf)
        .map(drop)
        .map_err(|e| Error::browser("crypto.getRandomValues", &e))
}

/// `indexedDB`: where keys and encrypted tokens live. Missing in some private modes.
pub fn indexed_db() -> Result<web_sys::IdbFactory, Error> {
    global_property("indexedDB")
        .and_then(|factory| factory.dyn_into().ok())
        .ok_or(Error::Unsupported { api: "indexedDB" })
}

/// Which of the APIs the client uses this browser offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// WebCrypto (`crypto.subtle`): device keys and token encryption.
    pub web_crypto: bool,
    /// IndexedDB: persistent keys and tokens. Without it sessions last for the page's lifetime.
    pub indexed_db: bool,
    /// Web Locks (`navigator.locks`): one refresh at a time across tabs.
    pub web_locks: bool,
    /// `BroadcastChannel`: tabs share a refresh's result.
    pub broadcast_channel: bool,
    /// WebAuthn (`PublicKeyCredential`): passkeys.
    pub passkeys: bool,
}

impl Capabilities {
    /// Looks at the current global object.
    pub fn detect() -> Self {
        let web_locks = global_property("navigator")
            .and_then(|navigator| Reflect::get(&navigator, &JsValue::from_str("locks")).ok())
            .is_some_and(|locks| !locks.is_undefined());
        Self {
            web_crypto: subtle().is_ok(),
            indexed_db: indexed_db().is_ok(),
            web_locks,
            broadcast_channel: global_property("BroadcastChannel").is_some(),
            passkeys: global_property("PublicKeyCredential").is_some(),
        }
    }
}
