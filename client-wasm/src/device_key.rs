//! The device key: an ECDSA P-256 key pair made by WebCrypto with `extractable: false`, kept in
//! IndexedDB as the `CryptoKey` objects themselves. Script on the page (XSS included) can ask the
//! browser to sign with it while the page is open, but can never read the private key out, so
//! proofs signed with it cannot be produced anywhere else.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::CryptoKey;

use crate::idb::Database;
use crate::wire::get;
use crate::{Error, browser, io};

/// The IndexedDB record holding the key pair.
pub const RECORD: &str = "device_key";

/// A device key pair, with its public coordinates (for the `jwk` of DPoP proofs). Cloning
/// clones the handles, not the key.
#[derive(Debug, Clone)]
pub struct DeviceKey {
    private_key: CryptoKey,
    public_key: CryptoKey,
    x: String,
    y: String,
}

impl DeviceKey {
    /// Makes a fresh non-extractable P-256 key pair (not stored).
    pub async fn generate() -> Result<Self, Error> {
        Self::read(&JsValue::UNDEFINED)
            .await?
            .ok_or(Error::Corrupt { what: "device key" })
    }

    /// The key stored in `db`, or a new one, stored before it is returned.
    pub async fn load_or_create(db: &Database) -> Result<Self, Error> {
        let stored = db.get(RECORD).await?;
        Self::stored_or_create(db, stored).await
    }

    /// The key in `stored` (the record as read from `db`), or a new one, stored in `db` before
    /// it is returned.
    pub async fn stored_or_create(db: &Database, stored: Option<JsValue>) -> Result<Self, Error> {
        if let Some(stored) = stored
            && let Ok(Some(key)) = Self::read(&stored).await
        {
            return Ok(key);
        }
        let key = Self::generate().await?;
        // Another tab may be making one right now: the first stored wins, and everyone uses it.
        if db.add(RECORD, &key.to_record()).await? {
            return Ok(key);
        }
        match db.get(RECORD).await? {
            Some(stored) => Self::read(&stored).await?,
            None => None,
        }
        .ok_or(Error::Corrupt { what: "device key" })
    }

    /// The private half: usable for signing, not readable.
    pub fn private_key(&self) -> &CryptoKey {
        &self.private_key
    }

    /// The public half (always exportable, as WebCrypto makes public keys).
    pub fn public_key(&self) -> &CryptoKey {
        &self.public_key
    }

    /// Signs `data` with ECDSA P-256 / SHA-256. The signature is `r ‖ s`, 64 bytes: the form JWS
    /// (ES256) uses.
    pub async fn sign(&self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let signature = io::sign(&self.private_key, data);
        let signature = browser::wait("sign with the device key", signature).await?;
        Ok(io::bytes(&signature))
    }

    /// A compact JWS (ES256) of the JSON texts `header` and `payload`.
    pub(crate) async fn jws(&self, header: &str, payload: &str) -> Result<String, Error> {
        let jws = io::jws(&self.private_key, header, payload);
        let jws = browser::wait("sign with the device key", jws).await?;
        jws.as_string().ok_or(Error::Corrupt { what: "DPoP proof" })
    }

    /// The record stored: the pair, and the public coordinates too (public, like the key they
    /// come from), so a page load need not ask WebCrypto to export them again.
    fn to_record(&self) -> JsValue {
        crate::wire::object(&[
            ("privateKey", self.private_key.clone().into()),
            ("publicKey", self.public_key.clone().into()),
            ("x", self.x.as_str().into()),
            ("y", self.y.as_str().into()),
        ])
    }

    /// The public key's x coordinate (base64url), as in its JWK.
    pub fn x(&self) -> &str {
        &self.x
    }

    /// The public key's y coordinate (base64url), as in its JWK.
    pub fn y(&self) -> &str {
        &self.y
    }

    /// Reads `{privateKey, publicKey, x?, y?}` (what [`Self::to_record`] stored, or one stored
    /// by an older version without the coordinates, which are then exported from the key), or,
    /// from `undefined`, makes a new pair. `None` for a record that holds no key pair.
    async fn read(record: &JsValue) -> Result<Option<Self>, Error> {
        let pair = browser::wait("generate the device key", io::device_key(record)).await;
        let pair = match pair {
            Ok(pair) => pair,
            // A record that is not a key pair: WebCrypto refused to export its public half.
            Err(_) if !record.is_undefined() => return Ok(None),
            Err(err) => return Err(err),
        };
        let key = |name: &str| get(&pair, name).dyn_into::<CryptoKey>().ok();
        Ok((|| {
            Some(Self {
                private_key: key("privateKey")?,
                public_key: key("publicKey")?,
                x: get(&pair, "x").as_string()?,
                y: get(&pair, "y").as_string()?,
            })
        })())
    }
}
