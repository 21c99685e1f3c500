//! The client crate's one error type.

use keyward_proto::ErrorCode;
use wasm_bindgen::{JsCast, JsValue};

/// What can go wrong in the browser client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error: its stable code, its message, the HTTP status.
    #[error("{message}")]
    Server {
        /// The server's stable code.
        code: ErrorCode,
        /// The server's message for people.
        message: String,
        /// The HTTP status.
        status: u16,
    },
    /// The server could not be reached (offline, DNS, timeout, CORS). The session is kept.
    #[error("the server could not be reached: {0}")]
    Network(String),
    /// The call needs a signed-in user and there is none.
    #[error("not signed in")]
    SignedOut,
    /// The user cancelled the passkey dialog (or it timed out).
    #[error("the passkey dialog was cancelled")]
    Cancelled,
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

    /// The stable code: the server's, or the client's own (`network`, `signed_out`,
    /// `cancelled`, `unsupported`, `browser`, `corrupt`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Server { code, .. } => code.as_str(),
            Self::Network(_) => "network",
            Self::SignedOut => "signed_out",
            Self::Cancelled => "cancelled",
            Self::Unsupported { .. } => "unsupported",
            Self::Browser { .. } => "browser",
            Self::Corrupt { .. } => "corrupt",
        }
    }

    /// Whether this answer ends the session for good (revoked, expired, reused, user gone). A
    /// network error, a timeout, a 5xx or a rate limit never does.
    pub fn ends_session(&self) -> bool {
        matches!(self, Self::Server { code, .. } if code.ends_session())
    }
}
