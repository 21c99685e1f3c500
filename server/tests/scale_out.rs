//! Scale-out: two `keyward serve` processes on different ports sharing one PostgreSQL, as behind
//! a load balancer. Whatever protects an account must hold across them. PostgreSQL is the
//! scale-out deployment (on SQLite, DPoP replays are remembered in the one process's memory), so
//! this runs in the PostgreSQL pass of `cargo xtask test`.

// Tests stand outside the server: they read the clock as a client would.
#![allow(clippy::disallowed_methods)]

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::process::Process;
use common::*;
use keyward_server::DatabaseKind;
use serde_json::json;

/// Two processes on the database of `db`, or `None` (with a note) when it is not PostgreSQL.
async fn pair(db: &TestDb) -> Option<(Process, Process)> {
    pair_with(db, &[]).await
}

/// Like [`pair`], with more arguments for both processes.
async fn pair_with(db: &TestDb, more: &[&str]) -> Option<(Process, Process)> {
    if db.kind != DatabaseKind::Postgres {
        eprintln!("scale-out runs on PostgreSQL (the PostgreSQL pass of cargo xtask test)");
        return None;
    }
    let mut args = vec!["--refresh-grace", "1s"];
    args.extend_from_slice(more);
    Some((
        Process::start(db, &args).await,
        Process::start(db, &args).await,
    ))
}

fn wrong_password(email: &str) -> axum::http::Request<axum::body::Body> {
    post(
        "/auth/sign-in",
        &json!({ "email": email, "password": "not the password" }),
    )
}

fn from(last_octet: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet)))
}

/// A refresh token rotated at one process is "used" at the other: the grace window gives the
/// same successor there, and a reuse after it (once the successor has been used) revokes the
/// session everywhere.
#[tokio::test]
async fn refresh_reuse_is_detected_across_processes() {
    let db = TestDb::new().await;
    let Some((a, b)) = pair(&db).await else {
        return;
    };
    let first = refresh_token(&a.sign_up("reuse@example.com", None).await);
    let at_a = a
        .send(post("/auth/refresh", &json!({ "refresh_token": first })))
        .await;
    assert_eq!(at_a.status, StatusCode::OK, "{}", at_a.body);
    let at_b = b
        .send(post("/auth/refresh", &json!({ "refresh_token": first })))
        .await;
    assert_eq!(at_b.status, StatusCode::OK, "{}", at_b.body);
    assert_eq!(
        refresh_token(&at_a.body["data"]),
        refresh_token(&at_b.body["data"]),
        "inside the grace window both processes give the same successor"
    );

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let successor = refresh_token(&at_a.body["data"]);
    let moved_on = a
        .send(post(
            "/auth/refresh",
            &json!({ "refresh_token": successor }),
        ))
        .await;
    assert_eq!(moved_on.status, StatusCode::OK, "{}", moved_on.body);
    let reuse = b
        .send(post("/auth/refresh", &json!({ "refresh_token": first })))
        .await;
    assert_eq!(reuse.code(), "refresh_token_reused", "{}", reuse.body);
    let after = a
        .send(post(
            "/auth/refresh",
            &json!({ "refresh_token": refresh_token(&moved_on.body["data"]) }),
        ))
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        after.code(),
        "session_revoked",
        "the reuse at B ended the session at A"
    );
}

/// Failed sign-ins count once, wherever they land: the per-account limit and the lockout are
/// shared through the database.
#[tokio::test]
async fn rate_limits_and_lockout_hold_across_processes() {
    let db = TestDb::new().await;
    let Some((a, b)) = pair(&db).await else {
        return;
    };
    // Per email and address: 5 a minute, then 429, at either process. The windows are fixed
    // minutes: the attempts start well inside one, or a new window would start among them.
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 60_000;
    if into_minute > 40_000 {
        let rest = u64::try_from(60_100 - into_minute).unwrap();
        tokio::time::sleep(Duration::from_millis(rest)).await;
    }
    for attempt in 0..5 {
        let server = if attempt % 2 == 0 { &a } else { &b };
        let reply = server.send(wrong_password("limited@example.com")).await;
        assert_eq!(reply.code(), "invalid_credentials", "{}", reply.body);
    }
    for server in [&a, &b] {
        let reply = server.send(wrong_password("limited@example.com")).await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.body
        );
        assert_eq!(reply.code(), "rate_limited");
        assert!(reply.headers.get("retry-after").is_some());
    }
}

/// The lockout counts failures per email and client wherever they land: 10 from one address,
/// spread over both processes, lock that address out at both; the owner, from another address,
/// still signs in. (Rate limits off: at 5 a minute per email and address they would stop the
/// failures first.)
#[tokio::test]
async fn the_lockout_holds_across_processes() {
    let db = TestDb::new().await;
    let Some((a, b)) = pair_with(&db, &["--rate-limits", "off"]).await else {
        return;
    };
    a.sign_up("locked@example.com", None).await;
    for attempt in 0..10u8 {
        let server = if attempt % 2 == 0 { &a } else { &b };
        let reply = server
            .send_from(from(10), wrong_password("locked@example.com"))
            .await;
        assert_eq!(reply.code(), "invalid_credentials", "{}", reply.body);
    }
    let right = json!({ "email": "locked@example.com", "password": PASSWORD });
    for server in [&a, &b] {
        let reply = server
            .send_from(from(10), post("/auth/sign-in", &right))
            .await;
        assert_eq!(reply.status, StatusCode::LOCKED, "{}", reply.body);
        assert_eq!(reply.code(), "account_locked");
        let owner = server
            .send_from(from(30), post("/auth/sign-in", &right))
            .await;
        assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
    }
}

/// A DPoP proof accepted by one process is a replay at the other.
#[tokio::test]
async fn a_dpop_proof_is_accepted_once_across_processes() {
    let db = TestDb::new().await;
    let Some((a, b)) = pair(&db).await else {
        return;
    };
    let device = TestDevice::new();
    let token = access(&a.sign_up("device@example.com", Some(&device)).await);
    let proof = device.proof("GET", "/auth/me", Some(&token));
    let me = || {
        dpop_request(
            Method::GET,
            "/auth/me",
            Some(("DPoP", &token)),
            Some(&proof),
            None,
        )
    };
    let first = a.send(me()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let replay = b.send(me()).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.body);
    assert_eq!(replay.code(), "invalid_dpop_proof");
}

/// A session signed out at one process is refused at the other within the propagation bound
/// (1 s polling), even though that process had verified the token before.
#[tokio::test]
async fn a_sign_out_at_one_process_is_refused_at_the_other() {
    let db = TestDb::new().await;
    let Some((a, b)) = pair(&db).await else {
        return;
    };
    let token = access(&a.sign_up("revoked@example.com", None).await);
    let me = b.send(authed(Method::GET, "/auth/me", &token)).await;
    assert_eq!(me.status, StatusCode::OK);

    let out = a.send(authed(Method::POST, "/auth/sign-out", &token)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    let signed_out = Instant::now();
    loop {
        let me = b.send(authed(Method::GET, "/auth/me", &token)).await;
        if me.status == StatusCode::UNAUTHORIZED {
            assert_eq!(me.code(), "session_revoked");
            break;
        }
        assert!(
            signed_out.elapsed() < Duration::from_secs(3),
            "B still accepts a session signed out at A"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
