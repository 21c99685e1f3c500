//! Helpers for the server's integration tests: a database per test (see `src/testing.rs`) and
//! requests sent through the router.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../src/testing.rs"]
pub mod testing;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use keyward_server::Keyward;
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub use testing::TestDb;

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The error code of an error reply.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// Sends one request through the router.
pub async fn send(keyward: &Keyward, request: Request<Body>) -> Reply {
    let response = keyward.router().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", String::from_utf8_lossy(&bytes)))
    };
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// A request with a JSON body and, when given, a bearer token.
pub fn json_request(method: Method, uri: &str, token: Option<&str>, body: &Value) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "keyward-tests/1.0");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_string())).unwrap()
}

pub fn post(uri: &str, body: &Value) -> Request<Body> {
    json_request(Method::POST, uri, None, body)
}

pub fn authed(method: Method, uri: &str, token: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Signs up `email` and returns the `data` of the answer.
pub async fn sign_up(keyward: &Keyward, email: &str) -> Value {
    let reply = send(
        keyward,
        post(
            "/auth/sign-up",
            &json!({ "email": email, "password": PASSWORD }),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["data"].clone()
}

/// Signs in `email` and returns the `data` of the answer.
pub async fn sign_in(keyward: &Keyward, email: &str) -> Value {
    let reply = send(
        keyward,
        post(
            "/auth/sign-in",
            &json!({ "email": email, "password": PASSWORD }),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["data"].clone()
}

/// Refreshes with `token`.
pub async fn refresh(keyward: &Keyward, token: &str) -> Reply {
    send(
        keyward,
        post("/auth/refresh", &json!({ "refresh_token": token })),
    )
    .await
}

/// The access token in an auth answer.
pub fn access(data: &Value) -> String {
    data["tokens"]["access_token"].as_str().unwrap().to_owned()
}

/// The refresh token in an auth answer.
pub fn refresh_token(data: &Value) -> String {
    data["tokens"]["refresh_token"].as_str().unwrap().to_owned()
}
