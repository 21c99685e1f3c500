//! Run with `cargo run -p example-offline-sync -- --static-dir <the page>` (the same flags as
//! `keyward serve`; defaults: 127.0.0.1:8787, SQLite file `keyward.db`). See `lib.rs`.

use axum::serve::ListenerExt as _;
use clap::Parser;
use keyward_server::Keyward;
use keyward_server::cli::SettingsArgs;

/// The sync server, with Keyward's routes merged in.
#[derive(Parser)]
#[command(name = "example-offline-sync")]
struct Args {
    #[command(flatten)]
    settings: SettingsArgs,
}

#[tokio::main]
async fn main() -> Result<(), keyward_server::Error> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("KEYWARD_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let settings = Args::parse().settings.resolve()?;
    let bind = settings.bind;
    let keyward = Keyward::start(settings).await?;
    let listener = tokio::net::TcpListener::bind(bind).await?.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    println!("offline sync server on http://{bind} (WebSocket at /sync)");
    let app = example_offline_sync::app(keyward)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}
