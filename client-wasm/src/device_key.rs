//! The device key: an ECDSA P-256 key pair made by WebCrypto with `extractable: false`, kept in
//! IndexedDB as the `CryptoKey` objects themselves. Script on the page (XSS included) can ask the
//! browser to sign with it while the page is open, but can never read the private key out, so
//! proofs signed with it cannot be produced anywhere else.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, EcKeyGenParams, EcdsaParams};

use crate::idb::Database;
use crate::{Error, browser};

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
        let usages = Array::of2(&"sign".into(), &"verify".into());
        let pair = browser::subtle()?
            .generate_key_with_object(&EcKeyGenParams::new("ECDSA", "P-256"), false, &usages)
            .map_err(|e| Error::browser("generate the device key", &e))?;
        let pair = JsFuture::from(pair)
            .await
            .map_err(|e| Error::browser("generate the device key", &e))?;
        Self::from_record(&pair)
            .await
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
            && let Some(key) = Self::from_record(&stored).await
        {
            return Ok(key);
        }
        let key = Self::generate().await?;
        // Another tab may be making one right now: the first stored wins, and everyone uses it.
        if db.add(RECORD, &key.to_record()).await? {
            return Ok(key);
        }
        match db.get(RECORD).await? {
            Some(stored) => Self::from_record(&stored)
                .await
                .ok_or(Error::Corrupt { what: "device key" }),
            None => Err(Error::Corrupt { what: "device key" }),
        }
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
        let params = EcdsaParams::new_with_str("ECDSA", "SHA-256");
        let signature = browser::subtle()?
            .sign_with_object_and_u8_array(&params, &self.private_key, data)
            .map_err(|e| Error::browser("sign with the device key", &e))?;
        let signature = JsFuture::from(signature)
            .await
            .map_err(|e| Error::browser("sign with the device key", &e))?;
        Ok(Uint8Array::new(&signature).to_vec())
    }

    fn to_record(&self) -> JsValue {
        let record = Object::new();
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&record, &"privateKey".into(), &self.private_key);
        let _ = Reflect::set(&record, &"publicKey".into(), &self.public_key);
        // The public coordinates too (public, like the key they come from), so a page load
        // need not ask WebCrypto to export them again.
        let _ = Reflect::set(&record, &"x".into(), &self.x.as_str().into());
        let _ = Reflect::set(&record, &"y".into(), &self.y.as_str().into());
        record.into()
    }

    /// The public key's x coordinate (base64url), as in its JWK.
    pub fn x(&self) -> &str {
        &self.x
    }

    /// The public key's y coordinate (base64url), as in its JWK.
    pub fn y(&self) -> &str {
        &self.y
    }

    /// Reads `{privateKey, publicKey, x?, y?}` (a `CryptoKeyPair` or what [`Self::to_record`]
    /// stored) and the public key's coordinates: from the record, or exported from the key
    /// where the record has none (a fresh pair, or a record stored by an older version).
    async fn from_record(record: &JsValue) -> Option<Self> {
        let field = |name: &str| -> Option<CryptoKey> {
            Reflect::get(record, &name.into()).ok()?.dyn_into().ok()
        };
        let text =
            |object: &JsValue, name: &str| Reflect::get(object, &name.into()).ok()?.as_string();
        let public_key = field("publicKey")?;
        let (x, y) = match (text(record, "x"), text(record, "y")) {
            (Some(x), Some(y)) => (x, y),
            _ => {
                let jwk = browser::subtle()
                    .ok()?
                    .export_key("jwk", &public_key)
                    .ok()?;
                let jwk = JsFuture::from(jwk).await.ok()?;
                (text(&jwk, "x")?, text(&jwk, "y")?)
            }
        };
        Some(Self {
            private_key: field("privateKey")?,
            x,
            y,
            public_key,
        })
    }
}
