//! The OpenID Connect provider's protocol endpoints, in OAuth's wire (RFC 6749 §5): form-encoded
//! requests, bare JSON answers with `Cache-Control: no-store`, and refusals as `{"error",
//! "error_description"}`, which is what standard client libraries read. So far the token
//! endpoint, for `client_credentials`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyward_proto::{ErrorCode, ErrorEnvelope, OAuthError, TokenResponse};

use crate::domain::audit::Client;
use crate::domain::oidc_provider::grants::{self, ClientAuth, Refusal};
use crate::domain::{Random, Timestamp};
use crate::http::extract::{Dpop, parameters};
use crate::{Error, Keyward};

/// The token endpoint's form (`application/x-www-form-urlencoded`). Unknown parameters are
/// ignored (RFC 6749 §3.2); one given twice is refused.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Read from the form by `parameters`; the struct documents it.
pub(crate) struct TokenForm {
    /// `client_credentials` (the other grants follow).
    grant_type: String,
    /// The scopes asked for, space-separated: the client's own API scopes [default: all of
    /// them].
    scope: Option<String>,
    /// The client, when it does not authenticate with HTTP Basic (`client_secret_post`).
    client_id: Option<String>,
    /// Its secret, with `client_id` (`client_secret_post`).
    client_secret: Option<String>,
}

fn refuse(error: &'static str, description: &'static str) -> Refusal {
    Refusal::OAuth {
        error,
        description: description.into(),
    }
}

/// A token request's parameters and client authentication, read from its headers and form.
struct TokenRequest {
    grant_type: Option<String>,
    scope: Option<String>,
    auth: ClientAuth,
}

impl TokenRequest {
    fn read(headers: &HeaderMap, body: &[u8]) -> Result<Self, Refusal> {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(refuse(
                "invalid_request",
                "The token request is a form: Content-Type: application/x-www-form-urlencoded.",
            ));
        }
        let body = std::str::from_utf8(body)
            .map_err(|_| refuse("invalid_request", "The form is not UTF-8."))?;
        let [grant_type, scope, client_id, client_secret] = parameters(
            Some(body),
            ["grant_type", "scope", "client_id", "client_secret"],
        )
        .ok_or_else(|| refuse("invalid_request", "A parameter is given more than once."))?
        // RFC 6749 §3.1: a parameter sent without a value is treated as left out.
        .map(|value| value.filter(|v| !v.is_empty()));
        let basic = basic_credentials(headers)?;
        let auth = match (basic, client_secret) {
            (Some(_), Some(_)) => {
                return Err(refuse(
                    "invalid_request",
                    "The client authenticates one way: HTTP Basic or the form, not both.",
                ));
            }
            (Some((id, secret)), None) => {
                if client_id.as_ref().is_some_and(|form_id| *form_id != id) {
                    return Err(refuse(
                        "invalid_request",
                        "The form's client_id is not the one in the Authorization header.",
                    ));
                }
                ClientAuth {
                    client_id: Some(id),
                    secret: Some(secret),
                    basic: true,
                }
            }
            (None, secret) => ClientAuth {
                client_id,
                secret,
                basic: false,
            },
        };
        Ok(Self {
            grant_type,
            scope,
            auth,
        })
    }
}

/// The client id and secret of an `Authorization: Basic` header (RFC 6749 §2.3.1: each
/// form-encoded, then joined by `:`), if there is one.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || {
        refuse(
            "invalid_client",
            "The Authorization header is not HTTP Basic with a client_id and secret.",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let Some(encoded) = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, rest)| rest.trim())
    else {
        return Err(malformed());
    };
    let decoded = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    match (form_decoded(id), form_decoded(secret)) {
        (Some(id), Some(secret)) if !id.is_empty() => Ok(Some((id, secret))),
        _ => Err(malformed()),
    }
}

/// One form-encoded component (`+` a space, `%XX` a byte); `None` when it holds a raw `&` or
/// `=`, which an encoder would have escaped.
fn form_decoded(component: &str) -> Option<String> {
    if component.contains(['&', '=']) {
        return None;
    }
    Some(
        url::form_urlencoded::parse(component.as_bytes())
            .next()
            .map(|(decoded, _)| decoded.into_owned())
            .unwrap_or_default(),
    )
}

/// The answer to a refused protocol request: its status, `{"error", "error_description"}`, and
/// the headers that go with it (`WWW-Authenticate: Basic` for a client that authenticated with
/// it, `Retry-After`, `DPoP-Nonce`).
fn protocol_error(refusal: Refusal, basic: bool) -> Response {
    let mut extra: Vec<(header::HeaderName, String)> = Vec::new();
    let (status, error, description) = match refusal {
        Refusal::OAuth { error, description } => {
            let status = if error == "invalid_client" {
                if basic {
                    extra.push((
                        header::WWW_AUTHENTICATE,
                        r#"Basic realm="keyward""#.to_owned(),
                    ));
                }
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, error, description.into_owned())
        }
        Refusal::Keyward(Error::Rejected {
            code,
            message,
            retry_after,
        }) => {
            if let Some(after) = retry_after {
                let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
                extra.push((header::RETRY_AFTER, seconds.to_string()));
            }
            let (status, error) = match code {
                ErrorCode::RateLimited | ErrorCode::AccountLocked => {
                    (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
                }
                ErrorCode::InvalidDpopProof | ErrorCode::DpopRequired => {
                    (StatusCode::BAD_REQUEST, "invalid_dpop_proof")
                }
                _ => (StatusCode::BAD_REQUEST, "invalid_request"),
            };
            (status, error, message.into_owned())
        }
        Refusal::Keyward(Error::UseDpopNonce { nonce }) => {
            extra.push((header::HeaderName::from_static("dpop-nonce"), nonce));
            (
                StatusCode::BAD_REQUEST,
                "use_dpop_nonce",
                "Retry with the nonce in the DPoP-Nonce header.".to_owned(),
            )
        }
        Refusal::Keyward(Error::Unavailable(detail)) => {
            tracing::warn!(%detail, "the database is unavailable");
            extra.push((header::RETRY_AFTER, "1".to_owned()));
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The service is briefly unavailable. Try again in a moment.".to_owned(),
            )
        }
        Refusal::Keyward(other) => {
            // The details stay in the log: a client never sees SQL or paths.
            tracing::error!(error = %other, "token request failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Something went wrong on the server. Try again.".to_owned(),
            )
        }
    };
    let body = OAuthError {
        error: error.to_owned(),
        error_description: Some(description),
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    no_store(headers);
    response
}

/// RFC 6749 §5.1: token answers are never cached.
fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The provider's endpoints answer only when it is on (setting `oidc_provider`).
fn provider_off(keyward: &Keyward) -> Option<Response> {
    (!keyward.core().settings.oidc_provider).then(|| {
        Error::rejected(
            ErrorCode::NotFound,
            "This server is not an OpenID Connect provider (setting oidc_provider).",
        )
        .into_response()
    })
}

/// The token endpoint (RFC 6749 §3.2). So far `grant_type=client_credentials`: a confidential
/// client's token for its own API (`aud` its audience, `sub` and `client_id` itself), bound to
/// the key of a DPoP proof when the request carries one. Answers and refusals are OAuth's, not
/// Keyward's envelope.
#[utoipa::path(
    post,
    path = "/auth/oidc/token",
    tag = "openid provider",
    security((), ("client_secret_basic" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token.", body = TokenResponse),
        (status = 400, description = "`invalid_request` (not a form, a parameter twice, two ways of authenticating), `unsupported_grant_type`, `unauthorized_client` (a grant the client is not registered for), `invalid_scope`, `invalid_dpop_proof`, `use_dpop_nonce`.", body = OAuthError),
        (status = 401, description = "`invalid_client`: an unknown client, a public one, or a wrong secret (with `WWW-Authenticate: Basic` when it came that way).", body = OAuthError),
        (status = 404, description = "`not_found`: this server is not an OpenID Connect provider (setting `oidc_provider`).", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: too many requests from this address, or too many failed authentications of this client from it (`Retry-After`).", body = OAuthError),
    )
)]
pub(crate) async fn token(
    State(keyward): State<Keyward>,
    client: Client,
    dpop: Result<Dpop, Error>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(off) = provider_off(&keyward) {
        return off;
    }
    // RFC 6749 §5.2: a client that tried Basic is challenged with it, even when the header was
    // malformed.
    let tried_basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 5 && v[..5].eq_ignore_ascii_case("basic"));
    let request = match (TokenRequest::read(&headers, &body), dpop) {
        (Ok(request), Ok(Dpop(dpop))) => (request, dpop),
        (Err(refusal), _) => return protocol_error(refusal, tried_basic),
        (Ok(request), Err(error)) => {
            return protocol_error(Refusal::Keyward(error), request.auth.basic);
        }
    };
    let (request, dpop) = request;
    let answer: Result<TokenResponse, Refusal> = match request.grant_type.as_deref() {
        Some("client_credentials") => {
            grants::client_credentials(
                keyward.core(),
                (&request.auth, request.scope.as_deref()),
                &dpop,
                &client,
                Timestamp::now(),
                &Random::os(),
            )
            .await
        }
        Some(_) => Err(refuse(
            "unsupported_grant_type",
            "This server issues tokens for grant_type=client_credentials.",
        )),
        None => Err(refuse("invalid_request", "The form names a grant_type.")),
    };
    match answer {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(refusal) => protocol_error(refusal, request.auth.basic),
    }
}
