//! `GET /healthz`, `GET /.well-known/jwks.json`, and the fallbacks.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use keyward_proto::{Envelope, ErrorCode, ErrorEnvelope, Health, HealthStatus, Jwks};

use crate::{Error, Keyward};

/// Liveness, including a round trip to the database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses(
        (status = 200, description = "The server and its database answer.", body = Envelope<Health>),
        (status = 503, description = "`unavailable`: the database does not answer.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn health(
    State(keyward): State<Keyward>,
) -> Result<Json<Envelope<Health>>, Error> {
    let database = keyward.core().health().await.map_err(|err| {
        tracing::warn!(%err, "health check: database did not answer");
        Error::rejected(ErrorCode::Unavailable, "The database is not reachable.")
    })?;
    Ok(Json(Envelope::new(Health {
        status: HealthStatus::Ok,
        database: database.as_str().into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })))
}

/// The public keys that verify access tokens (RFC 7517). Not enveloped: JWT libraries read this
/// document as it is.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "meta",
    responses((status = 200, description = "The JSON Web Key Set.", body = Jwks))
)]
pub(crate) async fn jwks(State(keyward): State<Keyward>) -> impl IntoResponse {
    let keys = keyward.core().keys();
    let mut response = Json(keys.jwks().clone()).into_response();
    // Short enough that a rotation reaches verifiers quickly; verifiers also refetch on an
    // unknown `kid`.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

pub(crate) async fn not_found() -> Error {
    Error::rejected(ErrorCode::NotFound, "No such route.")
}

pub(crate) async fn method_not_allowed() -> Error {
    Error::rejected(
        ErrorCode::MethodNotAllowed,
        "This route does not take that HTTP method.",
    )
}
