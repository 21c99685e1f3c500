//! DPoP proofs (RFC 9449) made in the browser with the non-extractable device key.

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::device_key::DeviceKey;
use crate::{Error, browser};

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
    let mut jti = [0u8; 16];
    browser::random_bytes(&mut jti)?;
    let payload = Object::new();
    let set = |name: &str, value: &JsValue| {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&payload, &name.into(), value);
    };
    set("jti", &b64(&jti).into());
    set("htm", &claims.method.into());
    set("htu", &without_query(claims.url).into());
    set("iat", &claims.issued_at.floor().into());
    if let Some(token) = claims.access_token {
        set("ath", &b64(&sha256(token.as_bytes()).await?).into());
    }
    if let Some(nonce) = claims.nonce {
        set("nonce", &nonce.into());
    }
    let payload = js_sys::JSON::stringify(&payload)
        .ok()
        .and_then(|json| json.as_string())
        .ok_or(Error::Corrupt {
            what: "DPoP claims",
        })?;
    let signing_input = [b64(header.as_bytes()), b64(payload.as_bytes())].join(".");
    let signature = key.sign(signing_input.as_bytes()).await?;
    Ok([signing_input, b64(&signature)].join("."))
}

fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

async fn sha256(data: &[u8]) -> Result<Vec<u8>, Error> {
    let promise = browser::subtle()?
        .digest_with_str_and_u8_array("SHA-256", data)
        .map_err(|e| Error::browser("SHA-256", &e))?;
    let digest = JsFuture::from(promise)
        .await
        .map_err(|e| Error::browser("SHA-256", &e))?;
    Ok(Uint8Array::new(&digest).to_vec())
}

/// base64url without padding. Twelve lines here rather than a crate: the wasm is size-budgeted.
pub fn b64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(*ALPHABET.get(index as usize).unwrap_or(&b'A')));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648_without_padding() {
        assert_eq!(b64(b""), "");
        assert_eq!(b64(b"f"), "Zg");
        assert_eq!(b64(b"fo"), "Zm8");
        assert_eq!(b64(b"foo"), "Zm9v");
        assert_eq!(b64(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64(&[0xfb, 0xff]), "-_8");
    }
}
