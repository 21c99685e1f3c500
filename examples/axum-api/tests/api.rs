//! The example's routes are protected by Keyward's extractor, with tokens from the merged-in
//! Keyward router.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use keyward_server::{Keyward, MasterSecret, Settings};
use serde_json::{Value, json};
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

#[tokio::test]
async fn api_routes_need_a_keyward_token_and_see_its_user() {
    let dir = tempfile::tempdir().unwrap();
    let keyward = Keyward::start(Settings {
        database_url: format!("sqlite://{}", dir.path().join("api.db").display()),
        secret: Some(MasterSecret::new(vec![42; 32])),
        ..Settings::default()
    })
    .await
    .unwrap();
    let app = example_axum_api::app(keyward);

    let (status, body) = call(
        &app,
        Request::get("/api/todos").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");

    let sign_up = Request::post("/auth/sign-up")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"email": "api@example.com", "password": "correct horse"}).to_string(),
        ))
        .unwrap();
    let (status, body) = call(&app, sign_up).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["data"]["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_id = body["data"]["user"]["id"].clone();

    let add = Request::post("/api/todos")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(json!({"title": "ship it"}).to_string()))
        .unwrap();
    let (status, body) = call(&app, add).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([{"title": "ship it"}]));

    let whoami = Request::get("/api/whoami")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = call(&app, whoami).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user_id"], user_id);
    assert_eq!(body["amr"], json!(["pwd"]));
}
