//! A small key-value layer over IndexedDB: one object store, string keys, structured-clone
//! values (so a `CryptoKey` is stored as itself, never as exportable bytes).
//!
//! The requests themselves are a few lines of JS (`js/io.js`): the client needs four
//! operations, and each web-sys call would cost more wasm than the whole operation costs there.
//!
//! IndexedDB commits a transaction as soon as control returns to the event loop with no request
//! pending, so never await anything else (WebCrypto included) while one is open: compute first,
//! then call [`Database::put`].

use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};

use crate::io::{Idb, idb_delete, idb_drop, idb_get, idb_open, idb_put};
use crate::{Error, browser};

/// An open IndexedDB database holding Keyward's records. Closed on drop.
#[derive(Debug)]
pub struct Database {
    db: Idb,
}

impl Database {
    /// Opens (and on first use creates) the database `name`.
    pub async fn open(name: &str) -> Result<Self, Error> {
        browser::indexed_db()?;
        let db = browser::wait("indexedDB.open", idb_open(name)).await?;
        Ok(Self {
            db: db.unchecked_into(),
        })
    }

    /// Reads the value stored under `key`, `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<JsValue>, Error> {
        Ok(self.get_all(&[key]).await?.pop().flatten())
    }

    /// Reads the values stored under `keys` in one transaction (one round trip to the browser's
    /// storage), each `None` when absent.
    pub async fn get_all(&self, keys: &[&str]) -> Result<Vec<Option<JsValue>>, Error> {
        let keys: Array = keys.iter().map(|key| JsValue::from_str(key)).collect();
        let values = browser::wait("IndexedDB read", idb_get(&self.db, &keys)).await?;
        Ok(Array::from(&values)
            .iter()
            .map(|value| Some(value).filter(|v| !v.is_undefined()))
            .collect())
    }

    /// Stores `value` under `key`; returns once the write is committed.
    pub async fn put(&self, key: &str, value: &JsValue) -> Result<(), Error> {
        let put = idb_put(&self.db, key, value, false);
        browser::wait("IndexedDB write", put).await.map(drop)
    }

    /// Stores `value` under `key` unless something is stored there already. Returns whether it
    /// was stored (`false`: another writer was first).
    pub async fn add(&self, key: &str, value: &JsValue) -> Result<bool, Error> {
        let add = idb_put(&self.db, key, value, true);
        Ok(browser::wait("IndexedDB add", add).await?.is_truthy())
    }

    /// Removes `key` (nothing happens when it is absent); returns once committed.
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        let delete = idb_delete(&self.db, key);
        browser::wait("IndexedDB delete", delete).await.map(drop)
    }

    /// Deletes the whole database `name` (every key and token in it).
    pub async fn delete_database(name: &str) -> Result<(), Error> {
        browser::indexed_db()?;
        let dropped = idb_drop(name);
        browser::wait("indexedDB.deleteDatabase", dropped)
            .await
            .map(drop)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.db.close();
    }
}
