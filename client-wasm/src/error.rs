//! The client crate's one error type.
//!
//! Messages are put together by concatenation, not `format!`: the npm build carries no
//! `core::fmt` (DESIGN.md, "Client").

use js_sys::Reflect;
use keyward_proto::ErrorCode;
use wasm_bindgen::{JsCast, JsValue};

/// What can go wrong in the browser client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error: its stable code, its message, the HTTP status.
    Server {
        /// The server's stable code.
        code: ErrorCode,
        /// The server's message for people.
        message: String,
        /// The HTTP status.
        status: u16,
    },
    /// The server could not be reached (offline, DNS, timeout, CORS). The session is kept.
    Network(String),
    /// The call needs a signed-in user and there is none.
    SignedOut,
    /// The user cancelled the passkey dialog (or it timed out).
    Cancelled,
    /// The caller's `AbortSignal` aborted the call. The session is kept.
    Aborted,
    /// The session's token may not be sent there: the URL is neither on the auth server nor on
    /// one of the origins the app listed (`apiOrigins`). Nothing was sent.
    OriginNotAllowed {
        /// The refused origin.
        origin: String,
    },
    /// The browser lacks an API the client needs (an old browser, or a context such as a
    /// sandboxed iframe where it is switched off).
    Unsupported {
        /// The missing API, as JS names it (`crypto.subtle`, `indexedDB`, …).
        api: &'static str,
    },
    /// A browser API call failed.
    Browser {
        /// What the client was doing.
        operation: &'static str,
        /// The browser's own words (a `DOMException`'s name and message).
        message: String,
    },
    /// The app passed a value the client cannot send (`invalid_request`). Nothing was sent.
    InvalidArgument {
        /// What was refused.
        what: &'static str,
    },
    /// Stored data (or a server's answer) is not what this client expects: another version, or
    /// tampering.
    Corrupt {
        /// Which record.
        what: &'static str,
    },
}

impl Error {
    /// Wraps a thrown JS value (usually a `DOMException`) with what was being done.
    pub(crate) fn browser(operation: &'static str, thrown: &JsValue) -> Self {
        let message = match thrown.dyn_ref::<js_sys::Error>() {
            Some(error) => [
                String::from(error.name()),
                ": ".into(),
                String::from(error.message()),
            ]
            .concat(),
            None => thrown
                .as_string()
                .unwrap_or_else(|| "an unknown error".to_owned()),
        };
        Self::Browser { operation, message }
    }

    /// The stable code: the server's, or the client's own (`network`, `signed_out`,
    /// `cancelled`, `aborted`, `origin_not_allowed`, `unsupported`, `browser`, `corrupt`, and
    /// `invalid_request` for a value it cannot send).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Server { code, .. } => code.as_str(),
            Self::Network(_) => "network",
            Self::SignedOut => "signed_out",
            Self::Cancelled => "cancelled",
            Self::Aborted => "aborted",
            Self::OriginNotAllowed { .. } => "origin_not_allowed",
            Self::Unsupported { .. } => "unsupported",
            Self::Browser { .. } => "browser",
            Self::InvalidArgument { .. } => "invalid_request",
            Self::Corrupt { .. } => "corrupt",
        }
    }

    /// What went wrong, for people.
    pub fn message(&self) -> String {
        match self {
            Self::Server { message, .. } => message.clone(),
            Self::Network(why) => ["the server could not be reached: ", why].concat(),
            Self::SignedOut => "not signed in".into(),
            Self::Cancelled => "the passkey dialog was cancelled".into(),
            Self::Aborted => "the call was aborted".into(),
            Self::OriginNotAllowed { origin } => [
                "the session's token is not sent to ",
                origin,
                ": list it in apiOrigins",
            ]
            .concat(),
            Self::Unsupported { api } => [api, " is not available here"].concat(),
            Self::Browser { operation, message } => [operation, " failed: ", message].concat(),
            Self::InvalidArgument { what } => [what, " cannot be sent"].concat(),
            Self::Corrupt { what } => ["stored ", what, " is unreadable"].concat(),
        }
    }

    /// Whether this answer ends the session for good (revoked, expired, reused, user gone). A
    /// network error, a timeout, a 5xx or a rate limit never does.
    pub fn ends_session(&self) -> bool {
        matches!(self, Self::Server { code, .. } if code.ends_session())
    }

    /// A JS `Error` named `KeywardError`, with `code` and, when the server answered, `status`.
    /// (The npm package turns it into an instance of its `KeywardError` class.)
    pub fn to_js(&self) -> JsValue {
        let js = js_sys::Error::new(&self.message());
        js.set_name("KeywardError");
        let _ = Reflect::set(&js, &"code".into(), &self.code().into());
        if let Self::Server { status, .. } = self
            && *status != 0
        {
            let _ = Reflect::set(&js, &"status".into(), &(*status).into());
        }
        js.into()
    }

    /// Reads back what [`Error::to_js`] made (errors cross shared promises as JS values).
    pub fn from_js(value: &JsValue) -> Self {
        let text = |name: &str| {
            Reflect::get(value, &name.into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        let (code, message) = (text("code"), text("message"));
        let status = Reflect::get(value, &"status".into())
            .ok()
            .and_then(|s| s.as_f64())
            .map_or(0, |s| s as u16);
        match code.as_str() {
            "network" => Self::Network(message),
            "signed_out" => Self::SignedOut,
            "cancelled" => Self::Cancelled,
            "aborted" => Self::Aborted,
            "browser" | "unsupported" | "corrupt" | "origin_not_allowed" | "" => Self::Browser {
                operation: "refresh",
                message,
            },
            server => Self::Server {
                code: ErrorCode::from_wire(server),
                message,
                status,
            },
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Error {}
