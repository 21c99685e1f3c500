//! `/healthz` and the error envelope, on the database the test run selects.

mod common;

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
