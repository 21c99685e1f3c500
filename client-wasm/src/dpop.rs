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
    let header = [
        r#"{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":""#,
        key.x(),
        r#"","y":""#,
        key.y(),
        r#""}}"#,
    ]
    .concat();
    let ath = match claims.access_token {
        Some(token) => browser::wait("SHA-256", io::sha256(token)).await?,
        None => JsValue::UNDEFINED,
    };
    // `JSON.stringify` leaves out the `undefined` ones.
    let payload = wire::json(&wire::object(&[
        ("jti", io::random_id(16).into()),
        ("htm", claims.method.into()),
        ("htu", without_query(claims.url).into()),
        ("iat", claims.issued_at.floor().into()),
        ("ath", ath),
        (
            "nonce",
            claims.nonce.map_or(JsValue::UNDEFINED, JsValue::from),
        ),
    ]))?
    .as_string()
    .ok_or(Error::Corrupt {
        what: "DPoP claims",
    })?;
    key.jws(&header, &payload).await
}

fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}
