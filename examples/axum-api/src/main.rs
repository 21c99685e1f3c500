//! Run with `cargo run -p example-axum-api` (takes the same flags as `keyward serve`; defaults:
//! 127.0.0.1:8787, SQLite file `keyward.db`). See `lib.rs` for the code that matters.
//! `cargo xtask demo` runs it with `--static-dir` pointing at the Leptos demo app.

use axum::serve::ListenerExt as _;
use clap::Parser;
use keyward_server::Keyward;
use keyward_server::cli::SettingsArgs;

/// The example API: your routes, with Keyward's merged in.
#[derive(Parser)]
#[command(name = "example-axum-api")]
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
    // TCP_NODELAY: no 40 ms delayed-ACK stalls on responses written in two parts.
    let listener = tokio::net::TcpListener::bind(bind).await?.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    println!("example API on http://{bind} (GET /api/todos needs a Keyward token)");
    let app = example_axum_api::app(keyward)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}
