//! DPoP proofs (RFC 9449) made in the browser with the non-extractable device key.

use wasm_bindgen::JsValue;

use crate::device_key::DeviceKey;
use crate::wire;
use crate::{Error, browser, io};

/// What one proof claims.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    /// The request's method.
    pub method: &'a str,
    /// The request's URL (query and fragment are dropped here).
    pub url: &'a str,
    /// The access token sent with the request, for `ath`.
    pub access_token: Option<&'a str>,
    /// The server's nonce, when it asked for one.
    pub nonce: Option<&'a str>,
    /// Seconds since the epoch, on the server's clock as best known.
    pub issued_at: f64,
}

/// Signs a proof for `claims` with `key`.
pub async fn proof(key: &DeviceKey, claims: Claims<'_>) -> Result<String, Error> {
    let payload = payload(claims.method, claims.url, claims.nonce, claims.issued_at);
    if let Some(token) = claims.access_token {
        let ath = browser::wait("SHA-256", io::sha256(token)).await?;
        let _ = js_sys::Reflect::set(&payload, &"ath".into(), &ath);
    }
    let payload = wire::json(&payload)?.as_string().ok_or(Error::Corrupt {
        what: "DPoP claims",
    })?;
    key.jws(&header(key.x(), key.y()), &payload).await
}

/// The JOSE header of a proof by the device key whose public coordinates are `x` and `y`.
pub(crate) fn header(x: &str, y: &str) -> String {
    [
        r#"{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":""#,
        x,
        r#"","y":""#,
        y,
        r#""}}"#,
    ]
    .concat()
}

/// A proof's claims, without `ath`: a fresh `jti`, `htm`, `htu` (without query and
/// fragment), `iat` (`issued_at`, seconds) and the server's `nonce` when it asked for one.
pub(crate) fn payload(method: &str, url: &str, nonce: Option<&str>, issued_at: f64) -> JsValue {
    // `JSON.stringify` leaves out the `undefined` ones.
    wire::object(&[
        ("jti", io::random_id(16).into()),
        ("htm", method.into()),
        ("htu", without_query(url).into()),
        ("iat", issued_at.floor().into()),
        ("nonce", nonce.map_or(JsValue::UNDEFINED, JsValue::from)),
    ])
}

fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}
