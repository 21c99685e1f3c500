//! Keyward's auth server: an axum router you run standalone (`keyward serve`) or nest into your
//! own axum app.
//!
//! ```no_run
//! use keyward_server::{Keyward, Settings};
//!
//! # async fn run() -> Result<(), keyward_server::Error> {
//! let settings = Settings {
//!     database_url: "sqlite://keyward.db".into(),
//!     ..Settings::default()
//! };
//! let keyward = Keyward::start(settings).await?;
//! let app = axum::Router::new().merge(keyward.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8787").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! The crate keeps three rooms with doors in one direction: `http` (axum: routes, extractors,
//! error → response) calls `domain` (the decisions), which calls `store` (SQLite or PostgreSQL
//! through sqlx).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod cli;
mod error;
mod http;
mod settings;
mod store;

pub use error::Error;
pub use settings::{DatabaseKind, Settings};
pub use store::Store;

/// A running Keyward: its database is connected and migrated. Build it once at start-up, then
/// take its [`router`](Keyward::router) (cheap to clone) as often as you need.
#[derive(Clone, Debug)]
pub struct Keyward {
    state: http::AppState,
}

impl Keyward {
    /// Connects to the database named in `settings`, creating an SQLite file when missing, and
    /// applies pending migrations.
    pub async fn start(settings: Settings) -> Result<Self, Error> {
        let store = Store::connect(&settings.database_url).await?;
        store.migrate().await?;
        Ok(Self {
            state: http::AppState::new(settings, store),
        })
    }

    /// The axum router: `/healthz`, and the static directory when one is configured.
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// The store this instance uses.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The settings this instance was started with.
    pub fn settings(&self) -> &Settings {
        &self.state.settings
    }
}
