//! The JS face of the client: what the `keyward` npm package exports.

use wasm_bindgen::prelude::*;

use crate::browser::Capabilities;

#[wasm_bindgen(typescript_custom_section)]
const TS_CAPABILITIES: &str = r#"
/** Which browser APIs Keyward can use here. */
export interface Capabilities {
  /** WebCrypto (`crypto.subtle`): device keys and token encryption. */
  webCrypto: boolean;
  /** IndexedDB: persistent keys and tokens. Without it a session lasts for the page's lifetime. */
  indexedDb: boolean;
  /** Web Locks: one token refresh at a time across tabs. */
  webLocks: boolean;
  /** BroadcastChannel: tabs share a refresh's result. */
  broadcastChannel: boolean;
  /** WebAuthn: passkeys. */
  passkeys: boolean;
}
"#;

/// The version of the `keyward` package.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Which browser APIs Keyward can use here.
#[wasm_bindgen(js_name = capabilities, unchecked_return_type = "Capabilities")]
pub fn capabilities() -> JsValue {
    serde_wasm_bindgen::to_value(&Capabilities::detect()).unwrap_or(JsValue::NULL)
}
