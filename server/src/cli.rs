//! The `keyward` command line. Every setting comes from a flag, else a `KEYWARD_*` environment
//! variable, else `keyward.toml` (or the file `--config` names), else its default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::{Error, Keyward, Settings};

/// Keyward: authentication for web apps.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `keyward` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the auth server.
    Serve(SettingsArgs),
    /// Apply pending database migrations, then exit.
    Migrate(SettingsArgs),
}

/// Settings given on the command line or in the environment. Unset ones fall back to the
/// configuration file, then to the defaults.
#[derive(Debug, Default, Args)]
pub struct SettingsArgs {
    /// A TOML file with the same settings (keys are the flag names with `_`).
    #[arg(long, env = "KEYWARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, env = "KEYWARD_BIND")]
    pub bind: Option<SocketAddr>,
    /// `sqlite://file.db` (created when missing) or `postgres://…` [default: sqlite://keyward.db].
    #[arg(long, env = "KEYWARD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Serve the static files in this directory at `/` (the demo app).
    #[arg(long, env = "KEYWARD_STATIC_DIR", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
}

/// The configuration file's shape: every key optional, unknown keys refused (a typo should not
/// silently leave a default in place).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    bind: Option<SocketAddr>,
    database_url: Option<String>,
    static_dir: Option<PathBuf>,
}

const DEFAULT_CONFIG_FILE: &str = "keyward.toml";

impl SettingsArgs {
    /// Merges flags and environment over the configuration file over the defaults.
    pub fn resolve(self) -> Result<Settings, Error> {
        let file = match &self.config {
            Some(path) => read_config(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                read_config(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => FileSettings::default(),
        };
        let defaults = Settings::default();
        Ok(Settings {
            bind: self.bind.or(file.bind).unwrap_or(defaults.bind),
            database_url: self
                .database_url
                .or(file.database_url)
                .unwrap_or(defaults.database_url),
            static_dir: self.static_dir.or(file.static_dir).or(defaults.static_dir),
        })
    }
}

fn read_config(path: &Path) -> Result<FileSettings, Error> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::Config {
        setting: "config",
        reason: format!("cannot read {}: {err}", path.display()),
    })?;
    toml::from_str(&text).map_err(|err| Error::Config {
        setting: "config",
        reason: format!("{}: {}", path.display(), err.message()),
    })
}

/// Parses the command line and runs it; what `main` calls.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("keyward: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keyward: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Serve(args) => serve(args.resolve()?).await,
        Command::Migrate(args) => {
            let keyward = Keyward::start(args.resolve()?).await?;
            tracing::info!(
                database = keyward.store().kind().as_str(),
                "migrations applied"
            );
            keyward.store().close().await;
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> Result<(), Error> {
    let bind = settings.bind;
    let keyward = Keyward::start(settings).await?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let local = listener.local_addr()?;
    tracing::info!(
        address = %local,
        database = keyward.store().kind().as_str(),
        "keyward is listening"
    );
    let app = keyward
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    keyward.store().close().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so connections in flight finish before the process exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9000\"\ndatabase_url = \"sqlite://from-file.db\"\n",
        )
        .unwrap();
        let args = SettingsArgs {
            config: Some(path),
            database_url: Some("sqlite://from-flag.db".into()),
            ..SettingsArgs::default()
        };
        let settings = args.resolve().unwrap();
        assert_eq!(settings.database_url, "sqlite://from-flag.db");
        assert_eq!(settings.bind, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(settings.static_dir, None);
    }

    #[test]
    fn a_misspelt_key_in_the_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.toml");
        std::fs::write(&path, "databse_url = \"sqlite://x.db\"\n").unwrap();
        let args = SettingsArgs {
            config: Some(path),
            ..SettingsArgs::default()
        };
        let err = args.resolve().unwrap_err().to_string();
        assert!(err.contains("databse_url"), "{err}");
    }
}
