//! Run with `cargo run -p example-axum-api` (listens on 127.0.0.1:8788, SQLite file
//! `example-api.db`). See `lib.rs` for the code that matters.

use keyward_server::{Keyward, Settings};

#[tokio::main]
async fn main() -> Result<(), keyward_server::Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let keyward = Keyward::start(Settings {
        database_url: "sqlite://example-api.db".into(),
        issuer: "http://localhost:8788".into(),
        ..Settings::default()
    })
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8788").await?;
    println!("example API on http://localhost:8788 (GET /api/todos needs a Bearer token)");
    let app = example_axum_api::app(keyward)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}
