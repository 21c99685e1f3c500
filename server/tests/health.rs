//! `/healthz` and the error envelope, on the database the test run selects.

use crate::common;

use axum::http::StatusCode;
use common::{TestDb, get, send};

#[tokio::test]
async fn healthz_answers_ok_and_names_the_database_in_use() {
    let db = TestDb::new().await;
    let keyward = db.start().await;

    let reply = send(&keyward, get("/healthz")).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["status"], "ok");
    assert_eq!(reply.body["data"]["database"], db.kind.as_str());
}

#[tokio::test]
async fn healthz_answers_503_when_the_database_is_gone() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    keyward.store().close().await;

    let reply = send(&keyward, get("/healthz")).await;

    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.code(), "unavailable");
}

/// Any request that needs the database while it is gone answers 503 `unavailable` (safe to
/// retry, and a client keeps its session), not an opaque 500.
#[tokio::test]
async fn requests_that_need_the_database_answer_503_while_it_is_gone() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let signed = common::sign_up(&keyward, "outage@example.com").await;
    keyward.store().close().await;

    let sign_in = send(
        &keyward,
        common::post(
            "/auth/sign-in",
            &serde_json::json!({ "email": "outage@example.com", "password": common::PASSWORD }),
        ),
    )
    .await;
    assert_eq!(
        (sign_in.status, sign_in.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "{}",
        sign_in.body
    );
    let refresh = common::refresh(&keyward, &common::refresh_token(&signed)).await;
    assert_eq!(refresh.code(), "unavailable", "{}", refresh.body);
    assert!(
        !refresh.body.to_string().to_lowercase().contains("pool"),
        "no driver detail reaches the client: {}",
        refresh.body
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_envelope() {
    let db = TestDb::new().await;
    let keyward = db.start().await;

    let reply = send(&keyward, get("/no/such/route")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.code(), "not_found");

    let post = axum::http::Request::post("/healthz")
        .body(axum::body::Body::empty())
        .unwrap();
    let reply = send(&keyward, post).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.code(), "method_not_allowed");
}
