//! Test support shared by the unit tests (as `crate::testing`) and the integration tests (as
//! `common::testing`, through `#[path]`), so there is one way to get a database in a test.
//!
//! Every test gets a database of its own. By default that is a fresh SQLite file; with
//! `KEYWARD_TEST_DATABASE_URL=postgres://…/postgres` (what `cargo xtask test` sets for its second
//! pass, against a throwaway cluster) it is a fresh PostgreSQL database on that server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests stand outside the server: they read the clock and draw randomness as a client would.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU32, Ordering};

use keyward_server::{DatabaseKind, Keyward, MasterSecret, Settings};
use sqlx::Connection as _;

/// A database for one test; an SQLite file lives as long as this value.
pub struct TestDb {
    pub url: String,
    pub kind: DatabaseKind,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new() -> Self {
        match std::env::var("KEYWARD_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => Self::postgres(&admin_url).await,
            _ => Self::sqlite(),
        }
    }

    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("keyward.db").display());
        Self {
            url,
            kind: DatabaseKind::Sqlite,
            _dir: Some(dir),
        }
    }

    async fn postgres(admin_url: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "kw_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("KEYWARD_TEST_DATABASE_URL names a reachable PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let (server, _) = admin_url
            .rsplit_once('/')
            .expect("a URL with a database path");
        Self {
            url: format!("{server}/{name}"),
            kind: DatabaseKind::Postgres,
            _dir: None,
        }
    }

    /// Settings for a server on this database, with a fixed test secret.
    pub fn settings(&self) -> Settings {
        Settings {
            database_url: self.url.clone(),
            secret: Some(MasterSecret::new(
                b"keyward test secret, 32+ bytes long".to_vec(),
            )),
            ..Settings::default()
        }
    }

    /// Runs `sql` with `$1` bound to `value` on this database, as another program could;
    /// returns how many rows it changed.
    pub async fn execute(&self, sql: &'static str, value: &str) -> u64 {
        match self.kind {
            DatabaseKind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                let done = sqlx::query(sql).bind(value).execute(&mut conn).await;
                done.unwrap().rows_affected()
            }
            DatabaseKind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let done = sqlx::query(sql).bind(value).execute(&mut conn).await;
                done.unwrap().rows_affected()
            }
        }
    }

    /// A started server on this database, with default settings.
    pub async fn start(&self) -> Keyward {
        Keyward::start(self.settings())
            .await
            .expect("the server starts")
    }
}
