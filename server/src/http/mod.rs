//! The HTTP room: routes, extractors and the mapping of errors to responses. Handlers parse and
//! respond; decisions live in `domain`, persistence in `store`.

mod error;

use std::sync::Arc;

use axum::extract::State;
use axum::handler::HandlerWithoutStateExt;
use axum::routing::get;
use axum::{Json, Router};
use keyward_proto::{Envelope, ErrorCode, Health, HealthStatus};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::{Settings, Store};
pub(crate) use error::ApiError;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) settings: Arc<Settings>,
    pub(crate) store: Store,
}

impl AppState {
    pub(crate) fn new(settings: Settings, store: Store) -> Self {
        Self {
            settings: Arc::new(settings),
            store,
        }
    }
}

pub(crate) fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/healthz", get(health))
        .method_not_allowed_fallback(method_not_allowed);
    let routes = match &state.settings.static_dir {
        Some(dir) => routes.fallback_service(
            ServeDir::new(dir)
                .append_index_html_on_directories(true)
                .not_found_service(not_found.into_service()),
        ),
        None => routes.fallback(not_found),
    };
    routes.layer(TraceLayer::new_for_http()).with_state(state)
}

/// `GET /healthz`: 200 when the database answers, 503 `unavailable` when it does not.
async fn health(State(state): State<AppState>) -> Result<Json<Envelope<Health>>, ApiError> {
    state.store.ping().await.map_err(|err| {
        tracing::warn!(%err, "health check: database did not answer");
        ApiError::new(ErrorCode::Unavailable, "The database is not reachable.")
    })?;
    Ok(Json(Envelope::new(Health {
        status: HealthStatus::Ok,
        database: state.store.kind().as_str().into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })))
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "No such route.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "This route does not take that HTTP method.",
    )
}
