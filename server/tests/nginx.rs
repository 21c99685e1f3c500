//! nginx (Debian's, installed by `cargo xtask setup`) in front of an app, asking Keyward with
//! `auth_request`, configured by the very block docs/gateways.md shows (the scenarios are in
//! `common/gateway.rs`, shared with Caddy's test).

use crate::common;

use std::process::{Command, Stdio};

use common::gateway::{self, Gateway};
use common::*;
use keyward_server::Keyward;

/// nginx in front of `keyward` and the test app, with the documented `server` block inside a
/// configuration that keeps every file in a directory of its own.
async fn nginx(keyward: &Keyward) -> Gateway {
    let (keyward_addr, app) = (
        gateway::serve(keyward.router()).await,
        gateway::serve(gateway::app()).await,
    );
    let dir = tempfile::tempdir().unwrap();
    let port = gateway::free_port();
    let server = gateway::documented("nginx", &format!("127.0.0.1:{port}"), keyward_addr, app);
    let files = dir.path().display();
    let config = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {files}/nginx.pid;\n\
         error_log {files}/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{\n\
         access_log off;\nclient_body_temp_path {files}/body;\nproxy_temp_path {files}/proxy;\n\
         fastcgi_temp_path {files}/fastcgi;\nuwsgi_temp_path {files}/uwsgi;\n\
         scgi_temp_path {files}/scgi;\n{server}}}\n"
    );
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, config).unwrap();
    let mut command = Command::new(gateway::binary("nginx", "KEYWARD_NGINX"));
    command
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let log = dir.path().join("error.log");
    Gateway::start(command, dir, port, &log).await
}

#[tokio::test]
async fn nginx_passes_only_requests_with_a_good_token_and_only_keywards_identity() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let nginx = nginx(&keyward).await;
    gateway::passes_only_good_tokens_and_only_keywards_identity(&nginx, &keyward).await;
}

#[tokio::test]
async fn through_nginx_a_device_bound_token_passes_with_its_proof_for_the_request() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let nginx = nginx(&keyward).await;
    gateway::holds_a_device_bound_token_to_its_proof(&nginx, &keyward).await;
}
