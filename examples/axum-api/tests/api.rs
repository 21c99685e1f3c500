//! The example's routes are protected by Keyward's extractor, with tokens from the merged-in
//! Keyward router; its WebSocket, over a real socket, takes a connect ticket (a browser cannot
//! put its access token on a WebSocket, so it asks Keyward for a ticket and opens
//! `/ws?ticket=…`; the example redeems it in process before upgrading).

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::BodyExt as _;
use keyward_server::{Keyward, MasterSecret, Settings};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message};
use tower::ServiceExt as _;

async fn call(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Keyward on a fresh SQLite database in `dir`.
async fn keyward(dir: &tempfile::TempDir) -> Keyward {
    Keyward::start(Settings {
        database_url: format!("sqlite://{}", dir.path().join("api.db").display()),
        secret: Some(MasterSecret::new(vec![42; 32])),
        ..Settings::default()
    })
    .await
    .unwrap()
}

/// The example app on a fresh SQLite database in `dir`.
async fn app(dir: &tempfile::TempDir) -> axum::Router {
    example_axum_api::app(keyward(dir).await)
}

/// Signs up `email`; its access token and user id.
async fn sign_up(app: &axum::Router, email: &str) -> (String, Value) {
    let sign_up = Request::post("/auth/sign-up")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"email": email, "password": "correct horse"}).to_string(),
        ))
        .unwrap();
    let (status, body) = call(app, sign_up).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["data"]["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, body["data"]["user"]["id"].clone())
}

/// Serves `app` on a free local port; its address.
async fn serve(app: &axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app
        .clone()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    addr
}

/// A connect ticket for `url`, asked with `token`.
async fn ticket_for(app: &axum::Router, token: &str, url: &str) -> String {
    let ask = Request::post("/auth/connect-ticket")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(json!({ "url": url }).to_string()))
        .unwrap();
    let (status, body) = call(app, ask).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["ticket"].as_str().unwrap().to_owned()
}

/// The HTTP answer to a WebSocket handshake that was refused.
async fn refused_handshake(url: &str) -> (StatusCode, Value) {
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            (
                response.status(),
                serde_json::from_slice(body).unwrap_or(Value::Null),
            )
        }
        Err(other) => panic!("{url}: expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("{url}: the handshake was accepted"),
    }
}

#[tokio::test]
async fn api_routes_need_a_keyward_token_and_see_its_user() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;

    let (status, body) = call(
        &app,
        Request::get("/api/todos").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");

    let (token, user_id) = sign_up(&app, "api@example.com").await;

    let add = Request::post("/api/todos")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(json!({"title": "ship it"}).to_string()))
        .unwrap();
    let (status, body) = call(&app, add).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([{"title": "ship it"}]));

    for (authorization, expected) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(format!("Bearer {token}x")), StatusCode::UNAUTHORIZED),
        (Some(format!("Bearer {token}")), StatusCode::OK),
    ] {
        let mut hello = Request::get("/api/hello/signed-in");
        if let Some(authorization) = authorization {
            hello = hello.header("authorization", authorization);
        }
        let response = app
            .clone()
            .oneshot(hello.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }

    let whoami = Request::get("/api/whoami")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = call(&app, whoami).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user_id"], user_id);
    assert_eq!(body["amr"], json!(["pwd"]));
}

#[tokio::test]
async fn a_websocket_opens_once_with_a_connect_ticket_and_knows_its_user() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    let addr = serve(&app).await;
    let (token, user_id) = sign_up(&app, "ws@example.com").await;

    // The ticket is for the URL the socket will be opened at.
    let url = format!("ws://{addr}/ws");
    let ticket = ticket_for(&app, &token, &url).await;
    let with_ticket = format!("{url}?ticket={ticket}");

    let (mut socket, response) = tokio_tungstenite::connect_async(&with_ticket)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let hello = socket.next().await.unwrap().unwrap();
    let hello: Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
    assert_eq!(hello, json!({ "user_id": user_id }));
    socket.send(Message::text("ping")).await.unwrap();
    assert_eq!(socket.next().await.unwrap().unwrap(), Message::text("ping"));
    socket.close(None).await.unwrap();

    // The same ticket again: refused before the upgrade, with Keyward's error envelope.
    let (status, body) = refused_handshake(&with_ticket).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_ticket");
    let (status, body) = refused_handshake(&url).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_ticket")),
        "no ticket at all"
    );

    // The benchmarks' baseline needs none, and knows nobody.
    let (mut open, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/hello"))
        .await
        .unwrap();
    let hello = open.next().await.unwrap().unwrap();
    let hello: Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
    assert_eq!(hello, json!({ "user_id": null }));
    open.send(Message::text("echo")).await.unwrap();
    assert_eq!(open.next().await.unwrap().unwrap(), Message::text("echo"));
}

#[tokio::test]
async fn a_websocket_is_closed_as_soon_as_its_session_is_signed_out() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    let addr = serve(&app).await;
    let (token, _) = sign_up(&app, "closed@example.com").await;
    let url = format!("ws://{addr}/ws");
    let ticket = ticket_for(&app, &token, &url).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{url}?ticket={ticket}"))
        .await
        .unwrap();
    socket.next().await.unwrap().unwrap();

    let sign_out = Request::post("/auth/sign-out")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let (status, _) = call(&app, sign_out).await;
    assert!(status.is_success());
    // At once (the limit leaves room for a busy machine: without the watch on revocations
    // the socket would stay open for the token's 15 minutes).
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next())
        .await
        .expect("closed at once");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(frame.reason.as_str(), "session_revoked");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// A user of the team test: their tokens.
struct Member {
    access: String,
    refresh: String,
}

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    call(app, request.body(Body::from(body.to_string())).unwrap()).await
}

impl Member {
    async fn sign_up(app: &axum::Router, email: &str) -> Self {
        let body = json!({"email": email, "password": "correct horse"});
        let (status, body) = send(app, "POST", "/auth/sign-up", None, body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Self::from(&body)
    }
    fn from(body: &Value) -> Self {
        let tokens = &body["data"]["tokens"];
        Self {
            access: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        }
    }
    /// Refreshes, as a client does after `activate` or an `invalid_token`.
    async fn refresh(&mut self, app: &axum::Router) {
        let body = json!({ "refresh_token": self.refresh });
        let (status, body) = send(app, "POST", "/auth/refresh", None, body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        *self = Self::from(&body);
    }
    async fn call(
        &self,
        app: &axum::Router,
        method: &str,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        send(app, method, path, Some(&self.access), body).await
    }
}

/// The `token` of the newest mail of `kind` to `to`, from the outbox (no SMTP server here).
async fn mailed(keyward: &Keyward, kind: &str, to: &str) -> String {
    let mails = keyward.store().recent_mail(20).await.unwrap();
    let mail = mails
        .iter()
        .find(|m| m.kind == kind && m.to_address == to)
        .unwrap();
    let link = mail
        .text_body
        .split_whitespace()
        .find(|w| w.contains("token="))
        .unwrap();
    let url = url::Url::parse(link).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn a_team_route_is_open_to_the_roles_that_grant_its_permission_and_closes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let keyward = keyward(&dir).await;
    let app = example_axum_api::app(keyward.clone());
    let todo = json!({ "title": "ship it" });

    let mut owner = Member::sign_up(&app, "owner@example.com").await;
    let (status, _) = owner
        .call(&app, "GET", "/api/team/todos", Value::Null)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "no organization active: no permission"
    );
    let (status, _) = owner
        .call(&app, "GET", "/api/hello/permitted", Value::Null)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the benchmarks' route too");
    let (_, created) = owner
        .call(&app, "POST", "/auth/orgs", json!({ "name": "Team" }))
        .await;
    let org = created["data"]["org"]["id"].as_str().unwrap().to_owned();
    let (status, _) = owner
        .call(
            &app,
            "POST",
            &format!("/auth/orgs/{org}/activate"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    owner.refresh(&app).await;
    let (status, _) = owner
        .call(&app, "GET", "/api/hello/permitted", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, list) = owner
        .call(&app, "POST", "/api/team/todos", todo.clone())
        .await;
    assert_eq!(
        (status, list.as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );

    // Bob joins by invitation as a member: he reads and writes.
    let mut bob = Member::sign_up(&app, "bob@example.com").await;
    let verify = mailed(&keyward, "verify_email", "bob@example.com").await;
    let (status, _) = bob
        .call(
            &app,
            "POST",
            "/auth/email/verification/confirm",
            json!({ "token": verify }),
        )
        .await;
    assert!(status.is_success());
    let invite = json!({ "email": "bob@example.com", "role": "member" });
    let (status, body) = owner
        .call(
            &app,
            "POST",
            &format!("/auth/orgs/{org}/invitations"),
            invite,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = mailed(&keyward, "org_invitation", "bob@example.com").await;
    let (status, body) = bob
        .call(
            &app,
            "POST",
            "/auth/invitations/accept",
            json!({ "token": token }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    bob.call(
        &app,
        "POST",
        &format!("/auth/orgs/{org}/activate"),
        Value::Null,
    )
    .await;
    bob.refresh(&app).await;
    let (status, list) = bob
        .call(&app, "POST", "/api/team/todos", todo.clone())
        .await;
    assert_eq!(
        (status, list.as_array().map(Vec::len)),
        (StatusCode::OK, Some(2)),
        "the team's list"
    );

    // Made a viewer: his token with the old role is refused at once; the next one reads only.
    let (_, members) = owner
        .call(
            &app,
            "GET",
            &format!("/auth/orgs/{org}/members"),
            Value::Null,
        )
        .await;
    let bob_id = members["data"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "bob@example.com")
        .unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = format!("/auth/orgs/{org}/members/{bob_id}");
    let (status, _) = owner
        .call(&app, "PATCH", &member, json!({ "role": "viewer" }))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = bob
        .call(&app, "POST", "/api/team/todos", todo.clone())
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_token"))
    );
    bob.refresh(&app).await;
    let (status, body) = bob
        .call(&app, "POST", "/api/team/todos", todo.clone())
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
    let (status, list) = bob.call(&app, "GET", "/api/team/todos", Value::Null).await;
    assert_eq!(
        (status, list.as_array().map(Vec::len)),
        (StatusCode::OK, Some(2))
    );

    // Removed: refused at once, and after a refresh he has no permission there.
    let (status, _) = owner.call(&app, "DELETE", &member, Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = bob.call(&app, "GET", "/api/team/todos", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    bob.refresh(&app).await;
    let (status, _) = bob.call(&app, "GET", "/api/team/todos", Value::Null).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
