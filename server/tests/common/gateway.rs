//! A real gateway process (nginx, Caddy) in front of a test app, asking Keyward with forward
//! auth, configured by the very block docs/gateways.md shows for it; and what every such
//! configuration must do: pass requests with a good token with Keyward's identity and no one
//! else's, answer 401 with a challenge otherwise, and hold a device-bound token to its proof.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt as _;
use keyward_server::Keyward;
use serde_json::{Value, json};

use super::*;

/// The identity headers, as the app sees them.
pub const IDENTITY: [&str; 5] = [
    "x-keyward-user-id",
    "x-keyward-email",
    "x-keyward-session-id",
    "x-keyward-org",
    "x-keyward-org-role",
];

/// Serves `router` on a free local port.
pub async fn serve(router: Router) -> SocketAddr {
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

/// The app behind the gateway: it answers with the identity headers it was given, as an app
/// reads them (an empty value is none).
pub fn app() -> Router {
    Router::new().route(
        "/api/whoami",
        get(|headers: HeaderMap| async move {
            let seen: serde_json::Map<String, Value> = IDENTITY
                .iter()
                .filter_map(|name| {
                    // Empty is none (nginx drops an empty header, Caddy passes it on).
                    let value = headers
                        .get(*name)?
                        .to_str()
                        .ok()
                        .filter(|v| !v.is_empty())?;
                    Some(((*name).to_owned(), json!(value)))
                })
                .collect();
            axum::Json(Value::Object(seen))
        }),
    )
}

/// `program`: `env` names its path, else it is on `PATH` or in `/usr/sbin` or `/usr/bin`.
pub fn binary(program: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return path.into();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("{program} is missing: `cargo xtask setup` installs it (Debian's `{program}`)")
        })
}

/// The first `lang` code block of docs/gateways.md, for a gateway listening at `listen`, Keyward
/// at `keyward` and the app at `app`, whose public origin is the one the test device signs its
/// proofs for (`http://localhost:8787`).
pub fn documented(lang: &str, listen: &str, keyward: SocketAddr, app: SocketAddr) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/gateways.md"))
        .expect("docs/gateways.md");
    let block = doc
        .split(&format!("```{lang}\n"))
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("docs/gateways.md has a {lang} block"))
        .to_owned();
    block
        .replace("LISTEN", listen)
        .replace("KEYWARD", &keyward.to_string())
        .replace("APP", &app.to_string())
        .replace("PUBLIC_SCHEME", "http")
        .replace("PUBLIC_HOST", "localhost:8787")
}

/// A free local port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port()
}

/// A gateway process listening on `port`; stopped when dropped.
pub struct Gateway {
    child: Child,
    addr: SocketAddr,
    /// Its files (configuration, logs), kept while it runs.
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Runs `command` (its files in `dir`) and waits until it listens on `port`; `log` is where
    /// it says why, when it does not start.
    pub async fn start(
        mut command: Command,
        dir: tempfile::TempDir,
        port: u16,
        log: &Path,
    ) -> Self {
        let child = command.spawn().expect("the gateway starts");
        let gateway = Self {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            _dir: dir,
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(gateway.addr).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the gateway did not start: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        gateway
    }

    /// `GET path` through the gateway, addressed as `http://localhost:8787` (the origin the test
    /// device signs its proofs for), with `headers`: the status, the headers and the body.
    pub async fn get(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
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

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The identity headers the app saw, for a request that reached it.
pub fn seen(status: StatusCode, body: &str) -> Value {
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(body).unwrap()
}

/// Requests with a good token reach the app with Keyward's identity and none a client sent;
/// others are answered 401 with a challenge, and the app is never asked; a signed-out session's
/// token no longer passes.
pub async fn passes_only_good_tokens_and_only_keywards_identity(
    gateway: &Gateway,
    keyward: &Keyward,
) {
    let user = sign_up(keyward, "ada@example.com").await;
    let bearer = format!("Bearer {}", access(&user));
    let user_id = user["user"]["id"].as_str().unwrap();

    // A good token: the app sees who it is, and nothing a client claimed.
    let (status, _, body) = gateway
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

    // No token, a bad one, or a client's own identity headers alone: the gateway answers 401 and
    // the app is never asked.
    for (what, headers) in [
        ("no token", vec![]),
        ("garbage", vec![("authorization", "Bearer nonsense")]),
        ("forged identity", vec![("x-keyward-user-id", user_id)]),
    ] {
        let (status, headers, _) = gateway.get("/api/whoami", &headers).await;
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
        keyward,
        json_request(
            Method::POST,
            "/auth/sign-out",
            Some(&access(&user)),
            &json!({}),
        ),
    )
    .await;
    assert!(out.status.is_success());
    let (status, _, _) = gateway
        .get("/api/whoami", &[("authorization", &bearer)])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A device-bound token passes with its proof for the request, once; not with another server's
/// proof sent under that server's name, another path's, or none.
pub async fn holds_a_device_bound_token_to_its_proof(gateway: &Gateway, keyward: &Keyward) {
    let device = TestDevice::new();
    let user = sign_up_bound(keyward, "bound@example.com", &device).await;
    let token = access(&user);
    let scheme = format!("DPoP {token}");

    let proof = device.proof("GET", "/api/whoami", Some(&token));
    let (status, _, body) = gateway
        .get(
            "/api/whoami?x=1",
            &[("authorization", &scheme), ("dpop", &proof)],
        )
        .await;
    assert_eq!(seen(status, &body)["x-keyward-email"], "bound@example.com");

    // A proof for another server's URL (captured there), sent here under that server's name:
    // the gateway checks proofs against its own origin, so it is refused.
    let elsewhere = device.proof_at("GET", "http://other.example/api/whoami", &token);
    let (status, _, _) = gateway
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
        let (status, _, _) = gateway.get("/api/whoami", &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    }
}
