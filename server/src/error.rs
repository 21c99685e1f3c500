//! The server crate's one error type.

/// What can go wrong while starting or running the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing, malformed or unsafe.
    #[error("invalid setting `{setting}`: {reason}")]
    Config {
        /// The setting's name as the user writes it (flag or TOML key).
        setting: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed to apply.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Binding a socket or reading a file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
