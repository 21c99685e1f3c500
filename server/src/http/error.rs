//! Error → response: the one place where error codes meet HTTP statuses.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_proto::{ErrorBody, ErrorCode, ErrorEnvelope};

use crate::Error;

/// The HTTP status each code is sent with.
pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidRequest
        | ErrorCode::InvalidEmail
        | ErrorCode::WeakPassword
        | ErrorCode::PasswordTooLong => StatusCode::BAD_REQUEST,
        // Refused on what no schema can state (the allowed origins, the common passwords), not
        // as malformed.
        ErrorCode::EmailNotVerified
        | ErrorCode::RedirectNotAllowed
        | ErrorCode::PasswordTooCommon
        | ErrorCode::SignInRequired
        | ErrorCode::EmailMismatch
        | ErrorCode::AccountDisabled
        | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Unauthorized
        | ErrorCode::InvalidCredentials
        | ErrorCode::InvalidToken
        | ErrorCode::TokenExpired
        | ErrorCode::SessionRevoked
        | ErrorCode::InvalidRefreshToken
        | ErrorCode::RefreshTokenExpired
        | ErrorCode::RefreshTokenReused
        | ErrorCode::DpopRequired
        | ErrorCode::InvalidDpopProof
        | ErrorCode::UseDpopNonce
        | ErrorCode::PasskeyInvalid
        | ErrorCode::ChallengeExpired
        | ErrorCode::InvalidTicket
        | ErrorCode::InvalidLink
        | ErrorCode::InvalidMfaCode
        | ErrorCode::StepUpRequired
        | ErrorCode::ReauthenticationRequired => StatusCode::UNAUTHORIZED,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::EmailTaken
        | ErrorCode::IdentityTaken
        | ErrorCode::LastOwner
        | ErrorCode::SlugTaken
        | ErrorCode::NotAMember
        | ErrorCode::UnknownRole
        | ErrorCode::AlreadyAMember
        | ErrorCode::LastSignInMethod
        | ErrorCode::MfaAlreadyEnabled
        | ErrorCode::MfaNotEnabled => StatusCode::CONFLICT,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::AccountLocked => StatusCode::LOCKED,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        // `Internal`, and `Unknown` (a client-side reading the server never sends).
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `Retry-After`'s whole seconds for `after`, rounded up (a client must not come back early).
pub(crate) fn retry_after_seconds(after: std::time::Duration) -> u64 {
    after.as_secs() + u64::from(after.subsec_nanos() > 0)
}

/// The `WWW-Authenticate` challenge for access-token failures (RFC 6750 §3, RFC 9449 §7.1).
fn challenge(code: ErrorCode) -> Option<&'static str> {
    match code {
        ErrorCode::Unauthorized => Some(r#"Bearer realm="keyward", DPoP algs="ES256""#),
        ErrorCode::InvalidToken | ErrorCode::TokenExpired | ErrorCode::SessionRevoked => {
            Some(r#"Bearer realm="keyward", error="invalid_token""#)
        }
        // RFC 9470 (step-up): the token is good, the sign-in behind it is not strong enough.
        ErrorCode::StepUpRequired => Some(
            r#"Bearer realm="keyward", error="insufficient_user_authentication", error_description="a second factor is needed", acr_values="aal2""#,
        ),
        // RFC 9470 (step-up): the token is good, the sign-in behind it is not recent enough.
        ErrorCode::ReauthenticationRequired => Some(
            r#"Bearer realm="keyward", error="insufficient_user_authentication", error_description="sign in again""#,
        ),
        ErrorCode::DpopRequired => Some(r#"DPoP algs="ES256""#),
        ErrorCode::InvalidDpopProof => Some(r#"DPoP error="invalid_dpop_proof", algs="ES256""#),
        ErrorCode::UseDpopNonce => Some(r#"DPoP error="use_dpop_nonce", algs="ES256""#),
        _ => None,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut nonce = None;
        let (code, message, retry_after) = match self {
            Error::Rejected {
                code,
                message,
                retry_after,
            } => (code, message.into_owned(), retry_after),
            Error::Unavailable(detail) => {
                tracing::warn!(%detail, "the database is unavailable");
                (
                    ErrorCode::Unavailable,
                    "The service is briefly unavailable. Try again in a moment.".to_owned(),
                    Some(std::time::Duration::from_secs(1)),
                )
            }
            Error::UseDpopNonce { nonce: fresh } => {
                nonce = Some(fresh);
                (
                    ErrorCode::UseDpopNonce,
                    "Retry with the nonce in the DPoP-Nonce header.".to_owned(),
                    None,
                )
            }
            other => {
                // The details stay in the log: a client never sees SQL or paths.
                tracing::error!(error = %other, "request failed");
                (
                    ErrorCode::Internal,
                    "Something went wrong on the server. Try again.".to_owned(),
                    None,
                )
            }
        };
        let body = ErrorEnvelope {
            error: ErrorBody { code, message },
        };
        let mut response = (status_of(code), Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(after) = retry_after
            && let Ok(value) = HeaderValue::from_str(&retry_after_seconds(after).to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        if let Some(value) = challenge(code) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        if let Some(value) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            headers.insert("dpop-nonce", value);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the server sends has a status chosen for it: only `internal` falls through to
    /// 500, so a new code cannot go out as a server error by omission.
    #[test]
    fn every_error_code_maps_to_a_deliberate_status() {
        for &code in ErrorCode::ALL {
            let status = status_of(code);
            if code == ErrorCode::Internal {
                assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            } else {
                assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{code}");
                assert!(
                    status.is_client_error() || code == ErrorCode::Unavailable,
                    "{code}: {status}"
                );
            }
        }
        assert_eq!(
            status_of(ErrorCode::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
