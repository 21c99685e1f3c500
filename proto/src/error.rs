//! The stable error codes of the Keyward protocol.

use serde::{Deserialize, Serialize};

/// The failure envelope: `{"error": {"code": …, "message": …}}`, sent with a 4xx or 5xx status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// What went wrong.
    pub error: ErrorBody,
}

/// A machine-readable code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable: branch on this.
    pub code: ErrorCode,
    /// For people: may change between versions, never parse it.
    pub message: String,
}

/// Every error code the server can answer with. The wire form is the snake_case name.
///
/// Codes are stable: new ones may be added (the enum is `#[non_exhaustive]`, and a client that
/// meets a code it does not know reads it as [`ErrorCode::Unknown`]), existing ones never change
/// meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request body or query is malformed: bad JSON, a wrong type, an unknown field.
    InvalidRequest,
    /// The request body is larger than the server accepts (64 KiB).
    PayloadTooLarge,
    /// The request's `Content-Type` is not `application/json`.
    UnsupportedMediaType,
    /// No such route or resource.
    NotFound,
    /// The route exists but not for this HTTP method.
    MethodNotAllowed,
    /// Too many requests; retry after the `Retry-After` header's seconds.
    RateLimited,
    /// Something failed inside the server; nothing about it is disclosed. Safe to retry.
    Internal,
    /// The server cannot reach a dependency (such as its database) right now. Safe to retry.
    Unavailable,
    /// A code this client version does not know (a newer server). Never sent by the server.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The wire name, as in the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_round_trips_and_codes_match_their_wire_names() {
        let codes = [
            ErrorCode::InvalidRequest,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
            ErrorCode::Unavailable,
        ];
        for code in codes {
            let envelope = ErrorEnvelope {
                error: ErrorBody {
                    code,
                    message: "m".into(),
                },
            };
            let json = serde_json::to_value(&envelope).unwrap();
            assert_eq!(json["error"]["code"], code.as_str());
            let back: ErrorEnvelope = serde_json::from_value(json).unwrap();
            assert_eq!(back, envelope);
        }
    }

    #[test]
    fn a_code_from_a_newer_server_reads_as_unknown() {
        let body = r#"{"error":{"code":"some_future_code","message":"m"}}"#;
        let parsed: ErrorEnvelope = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.error.code, ErrorCode::Unknown);
    }
}
