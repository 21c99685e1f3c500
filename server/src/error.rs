//! The server crate's one error type: what went wrong starting up, and what a request is refused
//! for. `http` turns it into a response: a [`Error::Rejected`] becomes its status and code,
//! everything else an opaque `internal` (logged, never shown).

use std::borrow::Cow;
use std::time::Duration;

use keyward_proto::ErrorCode;

/// What can go wrong in Keyward.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request was refused: bad input, wrong credentials, a limit. The code and message go to
    /// the client as they are.
    #[error("{code}: {message}")]
    Rejected {
        /// The stable code the client branches on.
        code: ErrorCode,
        /// A sentence for people.
        message: Cow<'static, str>,
        /// For limits and lockouts: when trying again can succeed (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// A DPoP proof lacks the server's current nonce (RFC 9449 §8): the client retries with
    /// `nonce`, which goes out in the `DPoP-Nonce` header.
    #[error("use_dpop_nonce: the DPoP proof must carry the server's nonce")]
    UseDpopNonce {
        /// The nonce to use.
        nonce: String,
    },
    /// A setting is missing, malformed or unsafe.
    #[error("invalid setting `{setting}`: {reason}")]
    Config {
        /// The setting's name as the user writes it (flag or TOML key).
        setting: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The database cannot be reached right now (down, restarting, out of connections): the
    /// client is answered 503 `unavailable`, safe to retry. The details are for the log.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database answered with an error, or a migration failed. The details are for the log;
    /// the client sees an opaque `internal`.
    #[error("database error: {0}")]
    Database(String),
    /// Binding a socket or reading a file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An invariant broke inside the server (a bug, or data written by something else).
    #[error("internal error: {0}")]
    Internal(Cow<'static, str>),
}

impl Error {
    /// A refusal with `code` and a message for people.
    pub fn rejected(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Rejected {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A refusal that can succeed after `retry_after`.
    pub fn retry_later(
        code: ErrorCode,
        message: impl Into<Cow<'static, str>>,
        retry_after: Duration,
    ) -> Self {
        Self::Rejected {
            code,
            message: message.into(),
            retry_after: Some(retry_after),
        }
    }

    /// An internal failure, described for the logs.
    pub fn internal(what: impl Into<Cow<'static, str>>) -> Self {
        Self::Internal(what.into())
    }

    /// The code a client sees for a refusal; `None` for internal failures.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Rejected { code, .. } => Some(*code),
            Self::UseDpopNonce { .. } => Some(ErrorCode::UseDpopNonce),
            Self::Unavailable(_) => Some(ErrorCode::Unavailable),
            _ => None,
        }
    }
}
