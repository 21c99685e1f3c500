//! A small key-value layer over IndexedDB: one object store, string keys, structured-clone
//! values (so a `CryptoKey` is stored as itself, never as exportable bytes).
//!
//! Written over `web-sys` rather than taken from a crate: the client needs four operations, and
//! the budget for everything the browser downloads is 35 KB gzip.
//!
//! IndexedDB commits a transaction as soon as control returns to the event loop with no request
//! pending, so never await anything else (WebCrypto included) while one is open: compute first,
//! then call [`Database::put`].

use js_sys::{Function, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    EventTarget, IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbTransactionMode,
};

use crate::{Error, browser};

const STORE: &str = "keyward";
const VERSION: u32 = 1;

/// An open IndexedDB database holding Keyward's records. Closed on drop.
#[derive(Debug)]
pub struct Database {
    db: IdbDatabase,
}

impl Database {
    /// Opens (and on first use creates) the database `name`.
    pub async fn open(name: &str) -> Result<Self, Error> {
        let factory = browser::indexed_db()?;
        let request = factory
            .open_with_u32(name, VERSION)
            .map_err(|e| Error::browser("indexedDB.open", &e))?;
        let upgrade = Closure::<dyn FnMut()>::new({
            let request = request.clone();
            move || create_schema(&request)
        });
        request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        let outcome = settle(&request, "success", &["error", "blocked"]).await;
        request.set_onupgradeneeded(None);
        drop(upgrade);
        outcome.map_err(|()| request_error("indexedDB.open", &request))?;
        let db = request
            .result()
            .and_then(|db| db.dyn_into::<IdbDatabase>())
            .map_err(|e| Error::browser("indexedDB.open", &e))?;
        Ok(Self { db })
    }

    /// Reads the value stored under `key`, `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<JsValue>, Error> {
        Ok(self.get_all(&[key]).await?.pop().flatten())
    }

    /// Reads the values stored under `keys` in one transaction (one round trip to the browser's
    /// storage), each `None` when absent.
    pub async fn get_all(&self, keys: &[&str]) -> Result<Vec<Option<JsValue>>, Error> {
        let tx = self
            .db
            .transaction_with_str(STORE)
            .map_err(|e| Error::browser("IndexedDB read", &e))?;
        let store = tx
            .object_store(STORE)
            .map_err(|e| Error::browser("IndexedDB read", &e))?;
        let mut requests = Vec::with_capacity(keys.len());
        for key in keys {
            requests.push(
                store
                    .get(&JsValue::from_str(key))
                    .map_err(|e| Error::browser("IndexedDB read", &e))?,
            );
        }
        settle(&tx, "complete", &["error", "abort"])
            .await
            .map_err(|()| transaction_error("IndexedDB read", &tx))?;
        Ok(requests
            .iter()
            .map(|request| request.result().ok().filter(|value| !value.is_undefined()))
            .collect())
    }

    /// Stores `value` under `key`; returns once the write is committed.
    pub async fn put(&self, key: &str, value: &JsValue) -> Result<(), Error> {
        self.write("IndexedDB write", |store| {
            store.put_with_key(value, &JsValue::from_str(key))
        })
        .await
    }

    /// Stores `value` under `key` unless something is stored there already. Returns whether it
    /// was stored (`false`: another writer was first).
    pub async fn add(&self, key: &str, value: &JsValue) -> Result<bool, Error> {
        let outcome = self
            .write("IndexedDB add", |store| {
                store.add_with_key(value, &JsValue::from_str(key))
            })
            .await;
        match outcome {
            Ok(()) => Ok(true),
            Err(Error::Browser { message, .. }) if message.starts_with("ConstraintError") => {
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }

    /// Removes `key` (nothing happens when it is absent); returns once committed.
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        self.write("IndexedDB delete", |store| {
            store.delete(&JsValue::from_str(key))
        })
        .await
    }

    async fn write(
        &self,
        operation: &'static str,
        request: impl FnOnce(&web_sys::IdbObjectStore) -> Result<IdbRequest, JsValue>,
    ) -> Result<(), Error> {
        let tx = self
            .db
            .transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)
            .map_err(|e| Error::browser(operation, &e))?;
        tx.object_store(STORE)
            .and_then(|store| request(&store))
            .map_err(|e| Error::browser(operation, &e))?;
        settle(&tx, "complete", &["error", "abort"])
            .await
            .map_err(|()| transaction_error(operation, &tx))
    }

    /// Deletes the whole database `name` (every key and token in it).
    pub async fn delete_database(name: &str) -> Result<(), Error> {
        let request = browser::indexed_db()?
            .delete_database(name)
            .map_err(|e| Error::browser("indexedDB.deleteDatabase", &e))?;
        settle(&request, "success", &["error"])
            .await
            .map_err(|()| request_error("indexedDB.deleteDatabase", &request))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.db.close();
    }
}

fn create_schema(request: &IdbOpenDbRequest) {
    let Ok(db) = request.result().and_then(|db| db.dyn_into::<IdbDatabase>()) else {
        return;
    };
    if !db.object_store_names().contains(STORE) {
        // Failing here aborts the upgrade, which `open` then reports as an error.
        let _ = db.create_object_store(STORE);
    }
}

fn transaction_error(operation: &'static str, tx: &IdbTransaction) -> Error {
    match tx.error() {
        Some(error) => Error::browser(operation, &error),
        None => Error::Browser {
            operation,
            message: "the transaction was aborted".into(),
        },
    }
}

fn request_error(operation: &'static str, request: &IdbRequest) -> Error {
    match request.error() {
        Ok(Some(error)) => Error::browser(operation, &error),
        _ => Error::Browser {
            operation,
            message: "the request failed (blocked by another open connection?)".into(),
        },
    }
}

/// Waits until `target` fires `ok` (→ `Ok`) or one of `failures` (→ `Err`). The listeners are
/// removed afterwards, so nothing leaks per request.
async fn settle(target: &EventTarget, ok: &str, failures: &[&str]) -> Result<(), ()> {
    let mut listeners: Vec<(String, Closure<dyn FnMut()>)> = Vec::new();
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let on_ok = Closure::<dyn FnMut()>::new(move || {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        });
        let _ = target.add_event_listener_with_callback(ok, on_ok.as_ref().unchecked_ref());
        listeners.push((ok.to_owned(), on_ok));
        for failure in failures {
            let reject = reject.clone();
            let on_failure = Closure::<dyn FnMut()>::new(move || {
                let _ = reject.call0(&JsValue::UNDEFINED);
            });
            let _ = target
                .add_event_listener_with_callback(failure, on_failure.as_ref().unchecked_ref());
            listeners.push(((*failure).to_owned(), on_failure));
        }
    });
    let outcome = JsFuture::from(promise).await;
    for (event, listener) in &listeners {
        let _ =
            target.remove_event_listener_with_callback(event, listener.as_ref().unchecked_ref());
    }
    outcome.map(drop).map_err(drop)
}
