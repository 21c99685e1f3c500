//! The browser's asynchronous primitives, as `js/io.js` writes them: one small JS function
//! each, turning IndexedDB's events and WebCrypto's calls into promises. Every decision (what is
//! stored, encrypted, signed or sent, and what an answer means) stays in Rust; a web-sys call
//! chain for the same request costs several times the bytes in the size-budgeted npm core.

use js_sys::{Array, Function, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use web_sys::{AbortSignal, CryptoKey, Request, Response};

#[wasm_bindgen(module = "/js/io.js")]
extern "C" {
    /// An `IDBDatabase`.
    #[derive(Debug)]
    pub type Idb;
    #[wasm_bindgen(method)]
    pub fn close(this: &Idb);
    #[wasm_bindgen(catch, js_name = idbOpen)]
    pub fn idb_open(name: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = idbGet)]
    pub fn idb_get(db: &Idb, keys: &Array) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = idbPut)]
    pub fn idb_put(
        db: &Idb,
        key: &str,
        value: &JsValue,
        only_new: bool,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = idbDelete)]
    pub fn idb_delete(db: &Idb, key: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = idbDrop)]
    pub fn idb_drop(name: &str) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_name = randomId)]
    pub fn random_id(bytes: u32) -> String;
    #[wasm_bindgen(catch)]
    pub fn sha256(text: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = deviceKey)]
    pub fn device_key(record: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch)]
    pub fn sign(key: &CryptoKey, data: &[u8]) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch)]
    pub fn jws(key: &CryptoKey, header: &str, payload: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = vaultKey)]
    pub fn vault_key() -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch)]
    pub fn seal(key: &CryptoKey, text: &str, context: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch)]
    pub fn unseal(key: &CryptoKey, record: &JsValue, context: &str) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_name = jsonRequest)]
    pub fn json_request(
        method: &str,
        url: &str,
        body: Option<&JsValue>,
        signal: Option<&AbortSignal>,
    ) -> Result<Request, JsValue>;
    #[wasm_bindgen(catch)]
    pub fn send(
        request: &Request,
        authorization: Option<&str>,
        proof: Option<&str>,
        timeout_ms: Option<i32>,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = readJson)]
    pub fn read_json(response: &Response) -> Result<Promise, JsValue>;
    pub fn header(response: &Response, name: &str) -> Option<String>;
    pub fn absolute(url: &str) -> Option<String>;
    #[wasm_bindgen(js_name = urlParts)]
    pub fn url_parts(url: &str) -> Option<Vec<String>>;

    #[wasm_bindgen(catch, js_name = withLock)]
    pub fn with_lock(name: &str, wait_ms: u32, work: &JsValue) -> Result<Promise, JsValue>;
    pub fn listen(on_online: &Function, on_visible: &Function) -> Function;

    #[wasm_bindgen(catch)]
    pub fn ceremony(
        create: bool,
        options: &JsValue,
        autofill: bool,
        signal: Option<&JsValue>,
    ) -> Result<Promise, JsValue>;
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(callback: &Function, ms: i32) -> f64;
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(id: f64);
}

/// The bytes of a `Uint8Array` some primitive resolved with.
pub fn bytes(value: &JsValue) -> Vec<u8> {
    Uint8Array::new(value).to_vec()
}
