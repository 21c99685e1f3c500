//! nginx (Debian's, installed by `cargo xtask setup`) in front of an app, asking Keyward with
//! `auth_request`, configured by the very block docs/gateways.md shows: requests with a good token reach the
//! app with the identity headers, others are answered 401 by nginx; identity headers a client
//! sends are never passed on; a device-bound token needs its DPoP proof for the request.
// A test waits for a real process by the real clock.
#![allow(clippy::disallowed_methods)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::get;
use common::*;
use http_body_util::BodyExt as _;
use keyward_server::Keyward;
use serde_json::{Value, json};

/// The identity headers, as the app sees them.
const IDENTITY: [&str; 5] = [
    "x-keyward-user-id",
    "x-keyward-email",
    "x-keyward-session-id",
    "x-keyward-org",
    "x-keyward-org-role",
];

/// nginx's binary: `KEYWARD_NGINX`, else on `PATH` or in `/usr/sbin`.
fn nginx_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYWARD_NGINX") {
        return path.into();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|path| path.is_file())
        .expect("nginx is missing: `cargo xtask setup` installs it (Debian's `nginx` package)")
}

/// Serves `router` on a free local port.
async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// The app behind the gateway: it answers with the identity headers it was given.
fn app() -> Router {
    Router::new().route(
        "/api/whoami",
        get(|headers: HeaderMap| async move {
            let seen: serde_json::Map<String, Value> = IDENTITY
                .iter()
                .filter_map(|name| {
                    let value = headers.get(*name)?.to_str().ok()?;
                    Some(((*name).to_owned(), json!(value)))
                })
                .collect();
            axum::Json(Value::Object(seen))
        }),
    )
}

/// The `server` block of docs/gateways.md (its first `nginx` code block), for nginx on `port`,
/// Keyward at `keyward` and the app at `app`, inside a configuration that keeps every file in
/// `dir`.
fn config(dir: &Path, port: u16, keyward: SocketAddr, app: SocketAddr) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/gateways.md"))
        .expect("docs/gateways.md");
    let block = doc
        .split("```nginx\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/gateways.md has an nginx block");
    let server = block
        .replace("LISTEN", &format!("127.0.0.1:{port}"))
        .replace("KEYWARD", &keyward.to_string())
        .replace("APP", &app.to_string())
        .replace("PUBLIC_SCHEME", "http")
        .replace("PUBLIC_HOST", "localhost:8787");
    let dir = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
         error_log {dir}/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{\n\
         access_log off;\nclient_body_temp_path {dir}/body;\nproxy_temp_path {dir}/proxy;\n\
         fastcgi_temp_path {dir}/fastcgi;\nuwsgi_temp_path {dir}/uwsgi;\n\
         scgi_temp_path {dir}/scgi;\n{server}}}\n"
    )
}

/// nginx running `config`; stopped when dropped.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nginx {
    async fn start(keyward: SocketAddr, app: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), port, keyward, app)).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let nginx = Self {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            dir,
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(nginx.addr).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not start: {}",
                std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nginx
    }

    /// `GET path` through nginx, addressed as `http://localhost:8787` (the origin the test
    /// device signs its proofs for), with `headers`: the status, the headers and the body.
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut request = Request::get(path);
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            request = request.header("host", "localhost:8787");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = sender
            .send_request(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The identity headers the app saw, for a request that reached it.
fn seen(status: StatusCode, body: &str) -> Value {
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn nginx_passes_only_requests_with_a_good_token_and_only_keywards_identity() {
    let db = TestDb::new().await;
    let keyward: Keyward = db.start().await;
    let nginx = Nginx::start(serve(keyward.router()).await, serve(app()).await).await;
    let user = sign_up(&keyward, "ada@example.com").await;
    let bearer = format!("Bearer {}", access(&user));
    let user_id = user["user"]["id"].as_str().unwrap();

    // A good token: the app sees who it is, and nothing a client claimed.
    let (status, _, body) = nginx
        .get(
            "/api/whoami",
            &[
                ("authorization", &bearer),
                ("x-keyward-user-id", "someone-else"),
                ("x-keyward-org", "an-org-i-am-not-in"),
                ("x-keyward-org-role", "owner"),
            ],
        )
        .await;
    let identity = seen(status, &body);
    assert_eq!(
        identity,
        json!({
            "x-keyward-user-id": user_id,
            "x-keyward-email": "ada@example.com",
            "x-keyward-session-id": user["session_id"],
        })
    );

    // No token, a bad one, or a client's own identity headers alone: nginx answers 401 and
    // the app is never asked.
    for (what, headers) in [
        ("no token", vec![]),
        ("garbage", vec![("authorization", "Bearer nonsense")]),
        ("forged identity", vec![("x-keyward-user-id", user_id)]),
    ] {
        let (status, headers, _) = nginx.get("/api/whoami", &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        let challenge = headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok());
        assert!(
            challenge.is_some_and(|c| c.starts_with("Bearer")),
            "{what}: {challenge:?}"
        );
    }

    // Signed out: the same token no longer passes.
    let out = send(
        &keyward,
        json_request(
            axum::http::Method::POST,
            "/auth/sign-out",
            Some(&access(&user)),
            &json!({}),
        ),
    )
    .await;
    assert!(out.status.is_success());
    let (status, _, _) = nginx
        .get("/api/whoami", &[("authorization", &bearer)])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn through_nginx_a_device_bound_token_passes_with_its_proof_for_the_request() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let nginx = Nginx::start(serve(keyward.router()).await, serve(app()).await).await;
    let device = TestDevice::new();
    let user = sign_up_bound(&keyward, "bound@example.com", &device).await;
    let token = access(&user);
    let scheme = format!("DPoP {token}");

    let proof = device.proof("GET", "/api/whoami", Some(&token));
    let (status, _, body) = nginx
        .get(
            "/api/whoami?x=1",
            &[("authorization", &scheme), ("dpop", &proof)],
        )
        .await;
    assert_eq!(seen(status, &body)["x-keyward-email"], "bound@example.com");

    // A proof for another server's URL (captured there), sent here under that server's name:
    // the gateway checks proofs against its own origin, so it is refused.
    let elsewhere = device.proof_at("GET", "http://other.example/api/whoami", &token);
    let (status, _, _) = nginx
        .get(
            "/api/whoami",
            &[
                ("host", "other.example"),
                ("authorization", &scheme),
                ("dpop", &elsewhere),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another server's proof");

    // Its proof again (a replay), a proof for another path, or none: 401.
    let other = device.proof("GET", "/api/elsewhere", Some(&token));
    for (what, proof) in [
        ("replayed", Some(proof.as_str())),
        ("another path", Some(&other)),
        ("none", None),
    ] {
        let mut headers = vec![("authorization", scheme.as_str())];
        headers.extend(proof.map(|p| ("dpop", p)));
        let (status, _, _) = nginx.get("/api/whoami", &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    }
}
