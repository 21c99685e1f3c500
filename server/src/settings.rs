//! Server settings: what `keyward serve` reads from flags, `KEYWARD_*` variables or
//! `keyward.toml`, and what a library user fills in directly.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::Error;

/// Everything the server needs to know at start-up. `Settings::default()` is a development
/// server on `127.0.0.1:8787` with an SQLite file `keyward.db` in the working directory.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The address `keyward serve` listens on.
    pub bind: SocketAddr,
    /// `sqlite://path/to/file.db` (created when missing) or `postgres://…`.
    pub database_url: String,
    /// A directory of static files served at `/` (the demo app); `None` serves none.
    pub static_dir: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8787)),
            database_url: "sqlite://keyward.db".into(),
            static_dir: None,
        }
    }
}

/// The two databases Keyward runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded, the default: one file, one server process.
    Sqlite,
    /// Shared: any number of server processes on one database.
    Postgres,
}

impl DatabaseKind {
    /// Tells the backend from a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(Error::Config {
                setting: "database-url",
                reason: format!(
                    "expected sqlite://… or postgres://…, got a URL with scheme `{scheme}`"
                ),
            }),
        }
    }

    /// The name used in health reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_kind_follows_the_url_scheme() {
        assert_eq!(
            DatabaseKind::from_url("sqlite://keyward.db").unwrap(),
            DatabaseKind::Sqlite
        );
        assert_eq!(
            DatabaseKind::from_url("postgresql://u@localhost/db").unwrap(),
            DatabaseKind::Postgres
        );
        let err = DatabaseKind::from_url("mysql://localhost/db").unwrap_err();
        assert!(err.to_string().contains("database-url"), "{err}");
    }
}
