//! Caddy (Debian's, installed by `cargo xtask setup`) in front of an app, asking Keyward with
//! `forward_auth`, configured by the very block docs/gateways.md shows (the scenarios are in
//! `common/gateway.rs`, shared with nginx's test).

use crate::common;

use std::process::{Command, Stdio};

use common::gateway::{self, Gateway};
use common::*;
use keyward_server::Keyward;

/// Caddy in front of `keyward` and the test app, with the documented site block, its admin
/// endpoint off (tests run side by side) and its files in a directory of its own.
async fn caddy(keyward: &Keyward) -> Gateway {
    let (keyward_addr, app) = (
        gateway::serve(keyward.router()).await,
        gateway::serve(gateway::app()).await,
    );
    let dir = tempfile::tempdir().unwrap();
    let port = gateway::free_port();
    // Any host name on the port: requests come addressed as `localhost:8787`.
    let site = gateway::documented("caddyfile", &format!("http://:{port}"), keyward_addr, app);
    let config = format!("{{\n    admin off\n    auto_https off\n}}\n{site}");
    let conf = dir.path().join("Caddyfile");
    std::fs::write(&conf, config).unwrap();
    let log = dir.path().join("caddy.log");
    let mut command = Command::new(gateway::binary("caddy", "KEYWARD_CADDY"));
    command
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&conf)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    Gateway::start(command, dir, port, &log).await
}

#[tokio::test]
async fn caddy_passes_only_requests_with_a_good_token_and_only_keywards_identity() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let caddy = caddy(&keyward).await;
    gateway::passes_only_good_tokens_and_only_keywards_identity(&caddy, &keyward).await;
}

#[tokio::test]
async fn through_caddy_a_device_bound_token_passes_with_its_proof_for_the_request() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let caddy = caddy(&keyward).await;
    gateway::holds_a_device_bound_token_to_its_proof(&caddy, &keyward).await;
}
