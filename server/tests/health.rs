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

/// PostgreSQL ends the server's connections (a restart, a failover, an administrator): once
/// they have been idle a moment, requests are served on new ones, without a failure. The server
/// does not check a connection it used a moment ago (a round trip per statement), but one idle
/// for a second it does, tickets' connections included.
#[tokio::test]
async fn on_postgresql_requests_after_the_database_ends_the_connections_are_served_again() {
    let db = TestDb::new().await;
    if db.kind != keyward_server::DatabaseKind::Postgres {
        return;
    }
    let keyward = db.start().await;
    let token = common::access(&common::sign_up(&keyward, "restart@example.com").await);
    // The tickets' own connections open with their first use.
    let url = "ws://sync.example.com/ws";
    common::connect_ticket(&keyward, &token, url).await;

    end_the_servers_connections(&db).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let sign_in = common::sign_in(&keyward, "restart@example.com").await;
    let me = send(
        &keyward,
        common::authed(axum::http::Method::GET, "/auth/me", &token),
    )
    .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let ticket = common::connect_ticket(&keyward, &common::access(&sign_in), url).await;
    keyward.redeem_connect_ticket(&ticket, url).await.unwrap();
}

/// The same, without the idle moment: a request that gets a connection PostgreSQL has just ended
/// answers 503 `unavailable` (try again), not a failure of the server's own; the next is served.
#[tokio::test]
async fn on_postgresql_a_request_on_a_connection_just_ended_is_unavailable_not_a_failure() {
    let db = TestDb::new().await;
    if db.kind != keyward_server::DatabaseKind::Postgres {
        return;
    }
    let keyward = db.start().await;
    common::sign_up(&keyward, "ended@example.com").await;
    end_the_servers_connections(&db).await;

    let sign_in = serde_json::json!({ "email": "ended@example.com", "password": common::PASSWORD });
    // Served at once if the connection it got had been idle long enough to be checked first.
    let mut tries = 0;
    loop {
        let reply = send(&keyward, common::post("/auth/sign-in", &sign_in)).await;
        if reply.status == StatusCode::OK {
            break;
        }
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            "{}",
            reply.body
        );
        tries += 1;
        assert!(tries < 20, "the server never got a new connection");
    }
}

/// Has PostgreSQL end every connection to the test's database but the one asking.
async fn end_the_servers_connections(db: &TestDb) {
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!ended.is_empty(), "the server has connections");
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
