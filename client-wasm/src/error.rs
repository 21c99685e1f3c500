//! The client crate's one error type.

use wasm_bindgen::{JsCast, JsValue};

/// What can go wrong in the browser client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The browser lacks an API the client needs (an old browser, or a context such as a
    /// sandboxed iframe where it is switched off).
    #[error("{api} is not available here")]
    Unsupported {
        /// The missing API, as JS names it (`crypto.subtle`, `indexedDB`, …).
        api: &'static str,
    },
    /// A browser API call failed.
    #[error("{operation} failed: {message}")]
    Browser {
        /// What the client was doing.
        operation: &'static str,
        /// The browser's own words (a `DOMException`'s name and message).
        message: String,
    },
    /// Stored data is not what this client wrote: another version, or tampering.
    #[error("stored {what} is unreadable")]
    Corrupt {
        /// Which record.
        what: &'static str,
    },
}

impl Error {
    /// Wraps a thrown JS value (usually a `DOMException`) with what was being done.
    pub(crate) fn browser(operation: &'static str, thrown: &JsValue) -> Self {
        let message = match thrown.dyn_ref::<js_sys::Error>() {
            Some(error) => format!(
                "{}: {}",
                String::from(error.name()),
                String::from(error.message())
            ),
            None => thrown
                .as_string()
                .unwrap_or_else(|| "an unknown error".to_owned()),
        };
        Self::Browser { operation, message }
    }
}
