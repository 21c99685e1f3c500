//! The vault: where the session (tokens and cached user) is kept between page loads.
//!
//! In IndexedDB, the session is AES-256-GCM ciphertext under a key that WebCrypto made with
//! `extractable: false` and that is stored as a `CryptoKey` object: no script can read the key
//! out, so the stored tokens are unreadable outside this origin's running pages (a copied
//! profile, a browser extension reading storage, a backup). A record that does not decrypt
//! (tampered, or its key lost) reads as "no session": the user signs in again; nothing crashes.
//!
//! Where IndexedDB is unavailable (some private modes), the session lives in memory for the
//! page's lifetime.

use std::cell::RefCell;

use keyward_proto::{Tokens, User};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::CryptoKey;

use crate::device_key::DeviceKey;
use crate::idb::Database;
use crate::wire::{self, get};
use crate::{Error, browser, io};

const KEY_RECORD: &str = "vault_key";
const SESSION_RECORD: &str = "session";
/// Authenticated with every ciphertext: a record made for something else does not decrypt here.
const CONTEXT: &str = "keyward session v1";

/// What the vault keeps: the session's tokens and the user they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The signed-in user, shown while offline.
    pub user: User,
    /// The session id.
    pub session_id: String,
    /// The current token pair.
    pub tokens: Tokens,
    /// When the access token was received (ms since the epoch, this browser's clock).
    pub issued_at: i64,
    /// When the access token expires (ms since the epoch, this browser's clock).
    pub expires_at: i64,
}

impl StoredSession {
    /// The record's plaintext, as JS (the same shape the first edition wrote, so an upgrade
    /// keeps its users signed in).
    pub(crate) fn to_js(&self) -> JsValue {
        wire::object(&[
            ("user", wire::user_to_js(&self.user)),
            ("session_id", self.session_id.as_str().into()),
            ("tokens", wire::tokens_to_js(&self.tokens)),
            ("issued_at", (self.issued_at as f64).into()),
            ("expires_at", (self.expires_at as f64).into()),
        ])
    }

    pub(crate) fn from_js(value: &JsValue) -> Option<Self> {
        Some(Self {
            user: wire::user_from_js(&get(value, "user"))?,
            session_id: get(value, "session_id").as_string()?,
            tokens: wire::tokens_from_js(&get(value, "tokens"))?,
            issued_at: get(value, "issued_at").as_f64()? as i64,
            expires_at: get(value, "expires_at").as_f64()? as i64,
        })
    }
}

/// Encrypted session storage (or memory, where IndexedDB is missing).
#[derive(Debug)]
pub struct Vault {
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Encrypted { db: Database, key: CryptoKey },
    Memory(Box<RefCell<Option<StoredSession>>>),
}

/// What a page load finds in the vault.
#[derive(Debug, Default)]
pub struct Restored {
    /// The stored session, if there is one that decrypts.
    pub session: Option<StoredSession>,
    /// The device key (made and stored on first use); `None` without WebCrypto.
    pub device: Option<DeviceKey>,
}

impl Vault {
    /// Opens the vault in the IndexedDB database `name`, making its key on first use, and reads
    /// what it holds: the vault key, the session and the device key come in one IndexedDB
    /// transaction, then the session is decrypted while the device key is read. Falls back to
    /// memory when IndexedDB or WebCrypto is unavailable; never fails.
    pub async fn open(name: &str) -> (Self, Restored) {
        match Self::open_encrypted(name).await {
            Ok(opened) => opened,
            Err(_) => Self::memory().await,
        }
    }

    /// A vault that keeps the session in memory only, and what it holds: no session, and a
    /// device key for this page only.
    pub async fn memory() -> (Self, Restored) {
        let vault = Self {
            backend: Backend::Memory(Box::default()),
        };
        let restored = Restored {
            session: None,
            device: DeviceKey::generate().await.ok(),
        };
        (vault, restored)
    }

    async fn open_encrypted(name: &str) -> Result<(Self, Restored), Error> {
        let db = Database::open(name).await?;
        let mut records = db
            .get_all(&[KEY_RECORD, SESSION_RECORD, crate::device_key::RECORD])
            .await?
            .into_iter();
        let mut next = || records.next().flatten();
        let (key, session, device) = (next(), next(), next());
        let (key, session) = match key.and_then(|k| k.dyn_into::<CryptoKey>().ok()) {
            Some(key) => (key, session),
            // Without its key no stored session can be read.
            None => (first_key(&db).await?, None),
        };
        let (session, device) = futures_util::future::join(
            session_from(&db, &key, session),
            DeviceKey::stored_or_create(&db, device),
        )
        .await;
        let restored = Restored {
            session,
            device: device.ok(),
        };
        Ok((
            Self {
                backend: Backend::Encrypted { db, key },
            },
            restored,
        ))
    }

    /// Whether the session survives a reload (IndexedDB), or only this page (memory).
    pub fn is_persistent(&self) -> bool {
        matches!(self.backend, Backend::Encrypted { .. })
    }

    /// The stored session; `None` when there is none, or when it does not decrypt (then it is
    /// deleted). An error when IndexedDB could not be read: that says nothing about the session.
    pub async fn load(&self) -> Result<Option<StoredSession>, Error> {
        match &self.backend {
            Backend::Memory(session) => Ok(session.borrow().clone()),
            Backend::Encrypted { db, key } => {
                let record = db.get(SESSION_RECORD).await?;
                Ok(session_from(db, key, record).await)
            }
        }
    }

    /// Stores `session`, replacing what was there.
    pub async fn save(&self, session: &StoredSession) -> Result<(), Error> {
        match &self.backend {
            Backend::Memory(slot) => {
                *slot.borrow_mut() = Some(session.clone());
                Ok(())
            }
            Backend::Encrypted { db, key } => {
                // Encrypt first: an IndexedDB transaction cannot wait for WebCrypto.
                let record = encrypt(key, session).await?;
                db.put(SESSION_RECORD, &record).await
            }
        }
    }

    /// Forgets the session.
    pub async fn clear(&self) -> Result<(), Error> {
        match &self.backend {
            Backend::Memory(slot) => {
                slot.borrow_mut().take();
                Ok(())
            }
            Backend::Encrypted { db, .. } => db.delete(SESSION_RECORD).await,
        }
    }
}

/// The session in `record` (the session record as read from `db`); a record that does not
/// decrypt under `key` is deleted.
async fn session_from(
    db: &Database,
    key: &CryptoKey,
    record: Option<JsValue>,
) -> Option<StoredSession> {
    let session = decrypt(key, &record?).await;
    if session.is_none() {
        let _ = db.delete(SESSION_RECORD).await;
    }
    session
}

/// A new vault key, stored in `db`; or, when another tab stored one first, that one.
async fn first_key(db: &Database) -> Result<CryptoKey, Error> {
    let key = generate_key().await?;
    if db.add(KEY_RECORD, &key).await? {
        return Ok(key);
    }
    db.get(KEY_RECORD)
        .await?
        .and_then(|k| k.dyn_into::<CryptoKey>().ok())
        .ok_or(Error::Corrupt { what: "vault key" })
}

async fn generate_key() -> Result<CryptoKey, Error> {
    browser::wait("generate the vault key", io::vault_key())
        .await?
        .dyn_into()
        .map_err(|_| Error::Corrupt { what: "vault key" })
}

async fn encrypt(key: &CryptoKey, session: &StoredSession) -> Result<JsValue, Error> {
    let json = wire::json(&session.to_js())?
        .as_string()
        .ok_or(Error::Corrupt { what: "session" })?;
    browser::wait("encrypt the session", io::seal(key, &json, CONTEXT)).await
}

async fn decrypt(key: &CryptoKey, record: &JsValue) -> Option<StoredSession> {
    let text = browser::wait("decrypt the session", io::unseal(key, record, CONTEXT))
        .await
        .ok()?
        .as_string()?;
    StoredSession::from_js(&js_sys::JSON::parse(&text).ok()?)
}
