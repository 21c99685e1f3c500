//! Sign-up, sign-in, me, refresh, sign-out and the session list over HTTP, on the database the
//! test run selects.

use crate::common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::json;

#[tokio::test]
async fn the_whole_flow_sign_up_sign_in_me_refresh_sign_out() {
    let db = TestDb::new().await;
    let keyward = db.start().await;

    let signed_up = sign_up(&keyward, "  Ada.Lovelace@Example.COM ").await;
    assert_eq!(signed_up["user"]["email"], "Ada.Lovelace@example.com");
    assert_eq!(signed_up["user"]["email_verified"], false);
    assert_eq!(signed_up["tokens"]["token_type"], "Bearer");
    assert_eq!(signed_up["tokens"]["expires_in"], 900);

    // The same mailbox in another case signs in to the same account.
    let signed_in = sign_in(&keyward, "ada.lovelace@example.com").await;
    assert_eq!(signed_in["user"]["id"], signed_up["user"]["id"]);
    assert_ne!(signed_in["session_id"], signed_up["session_id"]);

    let me = send(
        &keyward,
        authed(Method::GET, "/auth/me", &access(&signed_in)),
    )
    .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["data"]["user"]["id"], signed_up["user"]["id"]);

    let refreshed = refresh(&keyward, &refresh_token(&signed_in)).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let new_access = refreshed.body["data"]["tokens"]["access_token"]
        .as_str()
        .unwrap();
    let new_refresh = refreshed.body["data"]["tokens"]["refresh_token"]
        .as_str()
        .unwrap();
    assert_ne!(new_refresh, refresh_token(&signed_in));
    let me = send(&keyward, authed(Method::GET, "/auth/me", new_access)).await;
    assert_eq!(me.status, StatusCode::OK);

    let out = send(&keyward, authed(Method::POST, "/auth/sign-out", new_access)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);

    // Signed out: the access token is refused at once, and so is the refresh token.
    let me = send(&keyward, authed(Method::GET, "/auth/me", new_access)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.code(), "session_revoked");
    assert!(me.headers.get("www-authenticate").is_some());
    let again = refresh(&keyward, new_refresh).await;
    assert_eq!(again.code(), "session_revoked");

    // The other session (from sign-up) is untouched.
    let first = send(
        &keyward,
        authed(Method::GET, "/auth/me", &access(&signed_up)),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);

    let events = audit_kinds(&keyward, 20).await;
    for kind in ["key_rotated", "sign_up", "sign_in", "refresh", "sign_out"] {
        assert!(
            events.iter().any(|e| e == kind),
            "{kind} missing from {events:?}"
        );
    }
}

#[tokio::test]
async fn sessions_are_listed_with_the_current_one_marked_and_can_be_revoked() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let first = sign_up(&keyward, "grace@example.com").await;
    let second = sign_in(&keyward, "grace@example.com").await;
    let third = sign_in(&keyward, "grace@example.com").await;

    let list = send(
        &keyward,
        authed(Method::GET, "/auth/sessions", &access(&second)),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let sessions = list.body["data"]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    // Newest first; the caller's marked.
    assert_eq!(sessions[0]["id"], third["session_id"]);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], second["session_id"]);
    assert_eq!(sessions[0]["user_agent"], "keyward-tests/1.0");
    assert!(sessions[0]["created_at"].as_str().unwrap().ends_with('Z'));

    // Revoke the first session from the second: its token stops working at once.
    let first_id = first["session_id"].as_str().unwrap();
    let uri = format!("/auth/sessions/{first_id}");
    let revoked = send(&keyward, authed(Method::DELETE, &uri, &access(&second))).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    let me = send(&keyward, authed(Method::GET, "/auth/me", &access(&first))).await;
    assert_eq!(me.code(), "session_revoked");

    // Revoking it again, or something that is not a session, is a 404.
    let again = send(&keyward, authed(Method::DELETE, &uri, &access(&second))).await;
    assert_eq!(again.code(), "not_found");
    let junk = send(
        &keyward,
        authed(Method::DELETE, "/auth/sessions/x'--", &access(&second)),
    )
    .await;
    assert_eq!(junk.code(), "not_found");

    // Another user cannot revoke this user's session.
    let mallory = sign_up(&keyward, "mallory@example.com").await;
    let second_id = second["session_id"].as_str().unwrap();
    let uri = format!("/auth/sessions/{second_id}");
    let theirs = send(&keyward, authed(Method::DELETE, &uri, &access(&mallory))).await;
    assert_eq!(theirs.code(), "not_found");
    let me = send(&keyward, authed(Method::GET, "/auth/me", &access(&second))).await;
    assert_eq!(me.status, StatusCode::OK);

    // Sign out the others: only the caller's session stays.
    let others = json_request(
        Method::POST,
        "/auth/sign-out",
        Some(&access(&third)),
        &json!({"scope": "others"}),
    );
    assert_eq!(send(&keyward, others).await.status, StatusCode::NO_CONTENT);
    let me = send(&keyward, authed(Method::GET, "/auth/me", &access(&second))).await;
    assert_eq!(me.code(), "session_revoked");
    let list = send(
        &keyward,
        authed(Method::GET, "/auth/sessions", &access(&third)),
    )
    .await;
    assert_eq!(list.body["data"]["sessions"].as_array().unwrap().len(), 1);

    // Sign out everywhere.
    let fourth = sign_in(&keyward, "grace@example.com").await;
    let all = json_request(
        Method::POST,
        "/auth/sign-out",
        Some(&access(&fourth)),
        &json!({"scope": "all"}),
    );
    assert_eq!(send(&keyward, all).await.status, StatusCode::NO_CONTENT);
    for session in [&third, &fourth] {
        let me = send(&keyward, authed(Method::GET, "/auth/me", &access(session))).await;
        assert_eq!(me.code(), "session_revoked");
    }
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_and_wrong_passwords_are_invalid_credentials() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    sign_up(&keyward, "linus@example.com").await;

    let taken = send(
        &keyward,
        post(
            "/auth/sign-up",
            &json!({"email": "LINUS@example.com", "password": "another password"}),
        ),
    )
    .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.code(), "email_taken");

    let wrong = send(
        &keyward,
        post(
            "/auth/sign-in",
            &json!({"email": "linus@example.com", "password": "not the password"}),
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code(), "invalid_credentials");

    // An unknown email gets exactly the same answer.
    let unknown = send(
        &keyward,
        post(
            "/auth/sign-in",
            &json!({"email": "nobody@example.com", "password": "not the password"}),
        ),
    )
    .await;
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(unknown.body, wrong.body);
}

/// Every malformed request is a 4xx with the right code, and writes nothing.
#[tokio::test]
async fn bad_input_is_refused_with_a_code_and_changes_nothing() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let signed = sign_up(&keyward, "root@example.com").await;
    let users_before = keyward.store().users(100, 0).await.unwrap().len();
    let events_before = keyward
        .store()
        .recent_audit(1000, None)
        .await
        .unwrap()
        .len();

    let raw = |body: &str, content_type: &str| {
        axum::http::Request::post("/auth/sign-up")
            .header("content-type", content_type)
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap()
    };
    let huge = json!({"email": "big@example.com", "password": "x".repeat(70 * 1024)}).to_string();
    let cases = [
        (
            raw("{not json", "application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(
                r#"{"email": 5, "password": "long enough"}"#,
                "application/json",
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(r#"{"email": "a@example.com"}"#, "application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(r#"["a@example.com", "long enough"]"#, "application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            post("/auth/passkeys/sign-in/options", &json!([])),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(
                r#"{"email": "a@example.com", "password": "long enough", "admin": true}"#,
                "application/json",
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(
                r#"{"email": "a@example.com", "password": "long enough"}"#,
                "text/plain",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            raw(&huge, "application/json"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            post(
                "/auth/sign-up",
                &json!({"email": "not-an-email", "password": "long enough"}),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_email",
        ),
        (
            post(
                "/auth/sign-up",
                &json!({"email": "' OR 1=1 --", "password": "long enough"}),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_email",
        ),
        (
            post(
                "/auth/sign-up",
                &json!({"email": "a@example.com", "password": "short"}),
            ),
            StatusCode::BAD_REQUEST,
            "weak_password",
        ),
        (
            post(
                "/auth/sign-up",
                &json!({"email": "a@example.com", "password": "p".repeat(1025)}),
            ),
            StatusCode::BAD_REQUEST,
            "password_too_long",
        ),
        (
            post(
                "/auth/sign-up",
                &json!({"email": "a@example.com", "password": "long enough", "name": "a\u{0}b"}),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            post("/auth/refresh", &json!({"refresh_token": "garbage"})),
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        ),
        (
            post(
                "/auth/refresh",
                &json!({"refresh_token": format!("kwr_{}", "A".repeat(43))}),
            ),
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        ),
        (
            post("/auth/refresh", &json!({})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            authed(Method::GET, "/auth/me", "garbage"),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            authed(Method::GET, "/auth/me", "a.b.c"),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (get("/auth/me"), StatusCode::UNAUTHORIZED, "unauthorized"),
        (
            json_request(
                Method::POST,
                "/auth/sign-out",
                Some(&access(&signed)),
                &json!({"scope": "everything"}),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (request, status, code) in cases {
        let label = format!("{} {}", request.method(), request.uri());
        let reply = send(&keyward, request).await;
        assert_eq!(reply.status, status, "{label}: {}", reply.body);
        assert_eq!(reply.code(), code, "{label}: {}", reply.body);
        assert!(!reply.body["error"]["message"].as_str().unwrap().is_empty());
    }

    // A token with a bad scheme, a tampered signature, or another server's key.
    let token = access(&signed);
    // Change one character in the middle of the signature (never a no-op).
    let at = token.len() - 20;
    let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
    let basic = axum::http::Request::get("/auth/me")
        .header("authorization", format!("Basic {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(&keyward, basic).await.code(), "invalid_token");
    assert_eq!(
        send(&keyward, authed(Method::GET, "/auth/me", &tampered))
            .await
            .code(),
        "invalid_token"
    );
    let other_db = TestDb::new().await;
    let other = other_db.start().await;
    let foreign = sign_up(&other, "root@example.com").await;
    let reply = send(&keyward, authed(Method::GET, "/auth/me", &access(&foreign))).await;
    assert_eq!(
        reply.code(),
        "invalid_token",
        "a token from another deployment"
    );

    assert_eq!(
        keyward.store().users(100, 0).await.unwrap().len(),
        users_before
    );
    assert_eq!(
        keyward
            .store()
            .recent_audit(1000, None)
            .await
            .unwrap()
            .len(),
        events_before
    );
    // The session is still fine.
    let me = send(&keyward, authed(Method::GET, "/auth/me", &token)).await;
    assert_eq!(me.status, StatusCode::OK);
}
