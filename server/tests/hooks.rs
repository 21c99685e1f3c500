//! The app's request check (`Keyward::with_request_check`): run on the app's routes once the
//! token is verified, with the user and the request; its refusal is `forbidden` with the app's
//! reason; never run on Keyward's own routes, nor for a token that does not verify.

use crate::common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::routing::get;
use common::*;
use keyward_server::{AuthUser, CheckedRequest, Keyward};
use serde_json::json;
use tower::ServiceExt as _;

/// The app: `GET`/`DELETE /api/todos` behind [`AuthUser`], with Keyward's router merged in.
fn app(keyward: &Keyward) -> Router {
    let todos =
        |user: AuthUser| async move { axum::Json(json!({ "user": user.user_id.to_string() })) };
    Router::new()
        .route("/api/todos", get(todos).delete(todos))
        .with_state(keyward.clone())
        .merge(keyward.router())
}

/// `request` through `app`, from the address `peer` when given.
async fn call(app: &Router, mut request: Request<Body>, peer: Option<&str>) -> Reply {
    if let Some(peer) = peer {
        let addr: SocketAddr = format!("{peer}:40000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(addr));
    }
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    reply_of(status, headers, &bytes)
}

#[tokio::test]
async fn a_check_refuses_with_its_reason_on_the_apps_routes_only_and_sees_each_request() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let held = sign_up(&keyward, "held@example.com").await;
    let fine = sign_up(&keyward, "fine@example.com").await;
    // An external status, read on every request (a shared set stands in for another service).
    let on_hold: Arc<Mutex<HashSet<String>>> = Arc::default();
    on_hold
        .lock()
        .unwrap()
        .insert(held["user"]["id"].as_str().unwrap().to_owned());
    let seen: Arc<Mutex<Vec<(Method, String)>>> = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let keyward = keyward.with_request_check({
        let (on_hold, seen, calls) = (on_hold.clone(), seen.clone(), calls.clone());
        move |request: CheckedRequest| {
            let (on_hold, seen, calls) = (on_hold.clone(), seen.clone(), calls.clone());
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                seen.lock()
                    .unwrap()
                    .push((request.method.clone(), request.uri.path().to_owned()));
                if on_hold
                    .lock()
                    .unwrap()
                    .contains(&request.user.user_id.to_string())
                {
                    return Err("Your account is on hold: contact support.".to_owned());
                }
                Ok(())
            }
        }
    });
    let app = app(&keyward);

    let refused = call(
        &app,
        authed(Method::GET, "/api/todos", &access(&held)),
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.code(), "forbidden");
    assert_eq!(
        refused.body["error"]["message"],
        "Your account is on hold: contact support."
    );
    let allowed = call(
        &app,
        authed(Method::DELETE, "/api/todos", &access(&fine)),
        None,
    )
    .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (Method::GET, "/api/todos".to_owned()),
            (Method::DELETE, "/api/todos".to_owned())
        ]
    );

    // Keyward's own routes never run it: the user on hold still reads their account and signs out.
    let before = calls.load(Ordering::SeqCst);
    let me = call(&app, authed(Method::GET, "/auth/me", &access(&held)), None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let sessions = call(
        &app,
        authed(Method::GET, "/auth/sessions", &access(&held)),
        None,
    )
    .await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.body);
    // Nor does a token that does not verify: refused as such first.
    let forged = call(
        &app,
        authed(Method::GET, "/api/todos", "eyJ.not.a-token"),
        None,
    )
    .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(calls.load(Ordering::SeqCst), before);

    // Asked on each request: off hold, let through.
    on_hold.lock().unwrap().clear();
    let now = call(
        &app,
        authed(Method::GET, "/api/todos", &access(&held)),
        None,
    )
    .await;
    assert_eq!(now.status, StatusCode::OK);
}

#[tokio::test]
async fn an_ip_allow_list_sees_the_clients_address() {
    let db = TestDb::new().await;
    let keyward = db
        .start()
        .await
        .with_request_check(|request: CheckedRequest| async move {
            match request.ip {
                Some(ip) if ip.to_string().starts_with("10.") => Ok(()),
                Some(ip) => Err(format!(
                    "Not from {ip}: this API is open to the office network."
                )),
                None => Err("No client address.".to_owned()),
            }
        });
    let user = sign_up(&keyward, "office@example.com").await;
    let app = app(&keyward);
    let token = access(&user);
    let inside = call(
        &app,
        authed(Method::GET, "/api/todos", &token),
        Some("10.1.2.3"),
    )
    .await;
    assert_eq!(inside.status, StatusCode::OK, "{}", inside.body);
    let outside = call(
        &app,
        authed(Method::GET, "/api/todos", &token),
        Some("203.0.113.9"),
    )
    .await;
    assert_eq!(outside.code(), "forbidden");
    assert_eq!(
        outside.body["error"]["message"],
        "Not from 203.0.113.9: this API is open to the office network."
    );
    let unknown = call(&app, authed(Method::GET, "/api/todos", &token), None).await;
    assert_eq!(unknown.code(), "forbidden");
}
