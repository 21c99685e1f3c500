//! The app's own check on each request to its routes ([`crate::Keyward::with_request_check`]):
//! run by [`AuthUser`] once the token is verified, never on Keyward's own routes.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use keyward_proto::ErrorCode;

use super::extract::AuthUser;
use crate::domain::audit::Client;
use crate::{Error, Keyward};

/// What a request check sees: the verified user and the request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CheckedRequest {
    /// The user, their session and every claim of their token.
    pub user: AuthUser,
    /// The request's method.
    pub method: Method,
    /// The request's URI, as your router received it.
    pub uri: Uri,
    /// The request's headers.
    pub headers: HeaderMap,
    /// The client's address, as Keyward counts it for rate limits: the peer's, or the one a
    /// trusted proxy forwarded (settings `trusted_proxies`). `None` when the server runs
    /// without connect info (`into_make_service_with_connect_info::<SocketAddr>()`).
    pub ip: Option<IpAddr>,
}

type Outcome = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A registered check.
#[derive(Clone)]
pub(crate) struct RequestCheck(Arc<dyn Fn(CheckedRequest) -> Outcome + Send + Sync>);

impl RequestCheck {
    pub(crate) fn new<F, Fut>(check: F) -> Self
    where
        F: Fn(CheckedRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self(Arc::new(move |request| Box::pin(check(request))))
    }
}

impl std::fmt::Debug for RequestCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestCheck")
    }
}

/// Marks the requests Keyward's own router serves (`/auth/…`): the app's check is for the app's
/// routes, and a user it refuses can still sign out or manage their account.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OwnRoute;

/// Runs `keyward`'s check, if the app registered one, on `user`'s request to one of its own
/// routes; its refusal is `forbidden` (403) with the app's reason.
pub(crate) async fn run<S>(
    keyward: &Keyward,
    user: &AuthUser,
    parts: &mut Parts,
    state: &S,
) -> Result<(), Error>
where
    S: Send + Sync,
    Keyward: FromRef<S>,
{
    let Some(check) = keyward.request_check() else {
        return Ok(());
    };
    if parts.extensions.get::<OwnRoute>().is_some() {
        return Ok(());
    }
    let Ok(client) = Client::from_request_parts(parts, state).await;
    let request = CheckedRequest {
        user: user.clone(),
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        headers: parts.headers.clone(),
        ip: client.ip.and_then(|ip| ip.parse().ok()),
    };
    (check.0)(request)
        .await
        .map_err(|reason| Error::rejected(ErrorCode::Forbidden, reason))
}
