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
use crate::domain::oidc_provider::claims;
use crate::domain::oidc_provider::grants::{self, ClientAuth, CodeExchange, Refusal};
use crate::domain::{Random, Timestamp};
use crate::http::extract::{Dpop, parameters};
use crate::{Error, Keyward};

/// The token endpoint's form (`application/x-www-form-urlencoded`). Unknown parameters are
/// ignored (RFC 6749 §3.2); one given twice is refused.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Read from the form by `parameters`; the struct documents it.
pub(crate) struct TokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    grant_type: String,
    /// The scopes asked for, space-separated: the client's own API scopes [default: all of
    /// them].
    scope: Option<String>,
    /// The client, when it does not authenticate with HTTP Basic (`client_secret_post`).
    client_id: Option<String>,
    /// Its secret, with `client_id` (`client_secret_post`).
    client_secret: Option<String>,
    /// `authorization_code`: the code.
    code: Option<String>,
    /// `authorization_code`: the authorization request's `redirect_uri`, again.
    redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier.
    code_verifier: Option<String>,
    /// `refresh_token`: the grant's refresh token.
    refresh_token: Option<String>,
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
    exchange: CodeExchange,
    /// For revocation: the token.
    token: Option<String>,
    /// For `refresh_token`: the refresh token.
    refresh_token: Option<String>,
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
        let [
            grant_type,
            scope,
            client_id,
            client_secret,
            code,
            redirect_uri,
            code_verifier,
            token,
            refresh_token,
        ] = parameters(
            Some(body),
            [
                "grant_type",
                "scope",
                "client_id",
                "client_secret",
                "code",
                "redirect_uri",
                "code_verifier",
                "token",
                "refresh_token",
            ],
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
            exchange: CodeExchange {
                code,
                redirect_uri,
                code_verifier,
            },
            token,
            refresh_token,
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
                let seconds = crate::http::error::retry_after_seconds(after);
                extra.push((header::RETRY_AFTER, seconds.to_string()));
            }
            let (status, error) = match code {
                ErrorCode::RateLimited | ErrorCode::AccountLocked => {
                    (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
                }
                ErrorCode::InvalidDpopProof | ErrorCode::DpopRequired => {
                    (StatusCode::BAD_REQUEST, "invalid_dpop_proof")
                }
                ErrorCode::InvalidRefreshToken
                | ErrorCode::RefreshTokenExpired
                | ErrorCode::RefreshTokenReused
                | ErrorCode::SessionRevoked => (StatusCode::BAD_REQUEST, "invalid_grant"),
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

/// Whether the request tried HTTP Basic: RFC 6749 §5.2 challenges such a client with it, even
/// when its header was malformed.
fn tried_basic(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.get(..6))
        .is_some_and(|v| v.eq_ignore_ascii_case("basic "))
}

/// The provider's endpoints answer only when it is on (setting `oidc_provider`): `not_found`
/// otherwise, as for a route that is not there.
pub(super) fn provider_off(keyward: &Keyward) -> Option<Response> {
    (!keyward.core().settings.oidc_provider).then(|| {
        Error::rejected(
            ErrorCode::NotFound,
            "This server is not an OpenID Connect provider (setting oidc_provider).",
        )
        .into_response()
    })
}

/// The token endpoint (RFC 6749 §3.2). `authorization_code`: the code a user's sign-in brought
/// back, for an access token (for userinfo and the client's API) and, with `openid`, an ID
/// token; a confidential client gives its secret, a public one its PKCE verifier; a code works
/// once, and a second try revokes what the first issued. `client_credentials`: a confidential
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
        (status = 400, description = "`invalid_request` (not a form, a parameter twice, two ways of authenticating, no code), `invalid_grant` (a code unknown, expired, used, for another client, redirect URI or verifier), `unsupported_grant_type`, `unauthorized_client` (a grant the client is not registered for), `invalid_scope`, `invalid_dpop_proof`, `use_dpop_nonce`.", body = OAuthError),
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
    let request = match (TokenRequest::read(&headers, &body), dpop) {
        (Ok(request), Ok(Dpop(dpop))) => (request, dpop),
        (Err(refusal), _) => return protocol_error(refusal, tried_basic(&headers)),
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
        Some("authorization_code") => {
            grants::authorization_code(
                keyward.core(),
                (&request.auth, &request.exchange),
                &dpop,
                &client,
                Timestamp::now(),
                &Random::os(),
            )
            .await
        }
        Some("refresh_token") => {
            grants::refresh_token(
                keyward.core(),
                (
                    &request.auth,
                    request.refresh_token.as_deref(),
                    request.scope.as_deref(),
                ),
                &dpop,
                &client,
                Timestamp::now(),
                &Random::os(),
            )
            .await
        }
        Some(_) => Err(refuse(
            "unsupported_grant_type",
            "This server issues tokens for grant_type=authorization_code, refresh_token and \
             client_credentials.",
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

/// What a userinfo refusal looks like (RFC 6750 §3, RFC 9449 §7.1): 401, the challenge of the
/// scheme the request used (`DPoP`, with the algorithm taken, or `Bearer`), and the error.
fn invalid_token(description: &'static str) -> Response {
    refused_at_userinfo(false, "invalid_token", description.into(), None)
}

fn refused_at_userinfo(
    dpop: bool,
    error: &'static str,
    description: std::borrow::Cow<'static, str>,
    nonce: Option<String>,
) -> Response {
    let body = OAuthError {
        error: error.to_owned(),
        error_description: Some(description.into_owned()),
    };
    let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    let headers = response.headers_mut();
    let challenge = if dpop {
        format!(r#"DPoP realm="keyward", error="{error}", algs="ES256""#)
    } else {
        format!(r#"Bearer realm="keyward", error="{error}""#)
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    if let Some(value) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert(header::HeaderName::from_static("dpop-nonce"), value);
    }
    no_store(headers);
    response
}

/// The userinfo endpoint (OpenID Connect Core §5.3): what the access token's scopes let its
/// client know of the user, now (`sub`; `email`, `email_verified`; `name`). Only a live
/// client's access token for a user is taken, never a user's own token.
#[utoipa::path(
    get,
    path = "/auth/oidc/userinfo",
    tag = "openid provider",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims.", body = Object),
        (status = 401, description = "`invalid_token`: no token, or not a live client access token for a user (expired, revoked, a user's own token, a machine token), or a DPoP-bound one sent as Bearer; `invalid_dpop_proof`: a bound token (`Authorization: DPoP`) without a proof by its key for this request; `use_dpop_nonce` (with `DPoP-Nonce`).", body = OAuthError),
        (status = 404, description = "`not_found`: this server is not an OpenID Connect provider (setting `oidc_provider`).", body = ErrorEnvelope),
    )
)]
pub(crate) async fn userinfo(
    State(keyward): State<Keyward>,
    headers: HeaderMap,
    dpop: Result<Dpop, Error>,
) -> Response {
    userinfo_of(&keyward, &headers, dpop).await
}

/// The userinfo endpoint by POST (OpenID Connect Core §5.3.1), the token in the header as with
/// GET.
#[utoipa::path(
    post,
    path = "/auth/oidc/userinfo",
    tag = "openid provider",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims.", body = Object),
        (status = 401, description = "`invalid_token`: no token, or not a live client access token for a user with `openid` (expired, revoked, a user's own token, a machine token), or a DPoP-bound one sent as Bearer; `invalid_dpop_proof`: a bound token (`Authorization: DPoP`) without a proof by its key for this request; `use_dpop_nonce` (with `DPoP-Nonce`).", body = OAuthError),
        (status = 404, description = "`not_found`: this server is not an OpenID Connect provider (setting `oidc_provider`).", body = ErrorEnvelope),
    )
)]
pub(crate) async fn userinfo_post(
    State(keyward): State<Keyward>,
    headers: HeaderMap,
    dpop: Result<Dpop, Error>,
) -> Response {
    userinfo_of(&keyward, &headers, dpop).await
}

async fn userinfo_of(
    keyward: &Keyward,
    headers: &HeaderMap,
    dpop: Result<Dpop, Error>,
) -> Response {
    if let Some(off) = provider_off(keyward) {
        return off;
    }
    let Some((scheme, token)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop")
        })
        .map(|(scheme, token)| (scheme, token.trim()))
    else {
        return invalid_token("The request carries no Bearer or DPoP access token.");
    };
    let with_dpop = scheme.eq_ignore_ascii_case("dpop");
    let refused = |error, description: &'static str| {
        refused_at_userinfo(with_dpop, error, description.into(), None)
    };
    let core = keyward.core();
    let now = Timestamp::now();
    let claims = match claims::verify_client_access(core, token, now).await {
        Ok(Some(claims)) => claims,
        Ok(None) => return refused("invalid_token", "The access token is not valid here."),
        Err(error) => return protocol_error(Refusal::Keyward(error), false),
    };
    // RFC 9449 §7: a bound token only as `DPoP`, with a proof by its key; an unbound one only
    // as `Bearer`.
    match (with_dpop, &claims.cnf) {
        (false, None) => {}
        (false, Some(_)) => {
            return refused(
                "invalid_token",
                "This token is bound to a DPoP key: send it as `Authorization: DPoP` with a proof.",
            );
        }
        (true, None) => {
            return refused(
                "invalid_token",
                "This token is not bound to a DPoP key: send it as `Authorization: Bearer`.",
            );
        }
        (true, Some(cnf)) => {
            let checked = match dpop {
                Ok(Dpop(request)) => {
                    core.check_binding(Some(cnf), token, Some(&request), now)
                        .await
                }
                Err(error) => Err(error),
            };
            match checked {
                Ok(()) => {}
                Err(Error::UseDpopNonce { nonce }) => {
                    let retry = "Retry with the nonce in the DPoP-Nonce header.";
                    return refused_at_userinfo(true, "use_dpop_nonce", retry.into(), Some(nonce));
                }
                Err(Error::Rejected { message, .. }) => {
                    return refused_at_userinfo(true, "invalid_dpop_proof", message, None);
                }
                Err(error) => return protocol_error(Refusal::Keyward(error), false),
            }
        }
    }
    let user = match crate::domain::UserId::parse(&claims.sub) {
        Some(id) => core.store.user(&id).await,
        None => Ok(None),
    };
    let user = match user {
        Ok(Some(user)) => user,
        Ok(None) => return invalid_token("The user is gone."),
        Err(error) => return protocol_error(Refusal::Keyward(error.into()), false),
    };
    // The role as it is now: the token's may be up to `access_ttl` old.
    let role = match claims.org.as_deref().and_then(crate::domain::OrgId::parse) {
        Some(org) => match core.store.org_role(&org, &user.id).await {
            Ok(row) => row.map(|row| row.role),
            Err(error) => return protocol_error(Refusal::Keyward(error.into()), false),
        },
        None => None,
    };
    let org = claims.org.as_deref().zip(role.as_deref());
    let mut answer = claims::about(&user, &claims.scope, org);
    answer.insert("sub".into(), claims.sub.into());
    let mut response = Json(answer).into_response();
    no_store(response.headers_mut());
    response
}

/// OpenID Connect Discovery 1.0 (also served as RFC 8414's authorization server metadata):
/// what this provider supports and where its endpoints are.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "openid provider",
    responses(
        (status = 200, description = "The provider's metadata.", body = Object),
        (status = 404, description = "`not_found`: this server is not an OpenID Connect provider (setting `oidc_provider`).", body = ErrorEnvelope),
    )
)]
pub(crate) async fn discovery(State(keyward): State<Keyward>) -> Response {
    if let Some(off) = provider_off(&keyward) {
        return off;
    }
    let issuer = keyward
        .core()
        .settings
        .issuer
        .trim_end_matches('/')
        .to_owned();
    let at = |path: &str| format!("{issuer}{path}");
    let metadata = serde_json::json!({
        "issuer": keyward.core().settings.issuer,
        "authorization_endpoint": at("/auth/oidc/authorize"),
        "token_endpoint": at("/auth/oidc/token"),
        "userinfo_endpoint": at("/auth/oidc/userinfo"),
        "end_session_endpoint": at("/auth/oidc/end-session"),
        "revocation_endpoint": at("/auth/oidc/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "jwks_uri": at("/.well-known/jwks.json"),
        "scopes_supported": ["openid", "email", "profile", "org"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "email", "email_verified", "name", "org", "org_role"],
        "authorization_response_iss_parameter_supported": true,
        "dpop_signing_alg_values_supported": ["ES256"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    let mut response = Json(metadata).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// The revocation endpoint's form (RFC 7009).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Read from the form by `parameters`; the struct documents it.
pub(crate) struct RevokeForm {
    /// The token: one of the client's access tokens.
    token: String,
    /// `access_token` (ignored: the token says what it is).
    token_type_hint: Option<String>,
    /// The client, when it does not authenticate with HTTP Basic.
    client_id: Option<String>,
    /// A confidential client's secret, with `client_id`.
    client_secret: Option<String>,
}

/// Token revocation (RFC 7009): a client ends one of its own access tokens' grant (every token
/// of it). A token that is not the client's, or not one at all, changes nothing and is answered
/// the same 200.
#[utoipa::path(
    post,
    path = "/auth/oidc/revoke",
    tag = "openid provider",
    security((), ("client_secret_basic" = [])),
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke."),
        (status = 400, description = "`invalid_request`: not a form, a parameter twice, no token.", body = OAuthError),
        (status = 401, description = "`invalid_client`: an unknown client, a wrong secret, a confidential client without it.", body = OAuthError),
        (status = 404, description = "`not_found`: this server is not an OpenID Connect provider (setting `oidc_provider`).", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`.", body = OAuthError),
    )
)]
pub(crate) async fn revoke(
    State(keyward): State<Keyward>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(off) = provider_off(&keyward) {
        return off;
    }
    let request = match TokenRequest::read(&headers, &body) {
        Ok(request) => request,
        Err(refusal) => return protocol_error(refusal, tried_basic(&headers)),
    };
    let asked = (&request.auth, request.token.as_deref());
    match grants::revoke(keyward.core(), asked, &client, Timestamp::now()).await {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(refusal) => protocol_error(refusal, request.auth.basic),
    }
}
