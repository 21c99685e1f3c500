//! Resource servers that are not this process: RFC 7662 introspection and ticket redemption
//! with a server key, and forward auth for gateways, on active, expired, revoked and
//! DPoP-bound tokens. (nginx in front of an app: `tests/nginx.rs`.)

use crate::common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use keyward_server::{Keyward, Settings};
use serde_json::{Value, json};

/// `POST /auth/introspect` of `token` as a form, with `key` as the server key.
fn introspect_form(key: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::post("/auth/introspect")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

/// What introspecting `token` answers (a form, as RFC 7662 clients send it).
async fn introspect(keyward: &Keyward, key: &str, token: &str) -> Value {
    let body = url_encoded(&[("token", token)]);
    let reply = send(keyward, introspect_form(Some(key), &body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

fn url_encoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencoding(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /auth/forward` with `headers`.
async fn forward<V: AsRef<str>>(keyward: &Keyward, headers: &[(&str, V)]) -> Reply {
    let mut request = Request::get("/auth/forward");
    for (name, value) in headers {
        request = request.header(*name, value.as_ref());
    }
    send(keyward, request.body(Body::empty()).unwrap()).await
}

fn header_of<'r>(reply: &'r Reply, name: &str) -> Option<&'r str> {
    reply.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn introspection_and_redemption_need_a_live_server_key() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let user = sign_up(&keyward, "ada@example.com").await;
    let token = access(&user);
    let (id, key) = keyward.create_server_key("sync server").await.unwrap();
    assert!(key.starts_with("kws_") && key.len() == 47, "{key}");
    let body = url_encoded(&[("token", &token)]);
    let forged = format!("kws_{}", "A".repeat(43));
    for (what, presented) in [
        ("no key", None),
        ("a user's access token", Some(token.as_str())),
        ("an unknown key", Some(forged.as_str())),
        ("a malformed key", Some("kws_not-a-key")),
    ] {
        let reply = send(&keyward, introspect_form(presented, &body)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(reply.code(), "unauthorized", "{what}");
        let redeem = json_request(
            Method::POST,
            "/auth/connect-ticket/redeem",
            presented,
            &json!({ "ticket": "kwt_x", "url": "wss://sync.example.com/ws" }),
        );
        assert_eq!(
            send(&keyward, redeem).await.code(),
            "unauthorized",
            "{what}"
        );
    }
    assert_eq!(introspect(&keyward, &key, &token).await["active"], true);

    // Revoked: refused from the next request on, by every server on the database.
    let sibling = db.start().await;
    assert!(keyward.revoke_server_key(&id).await.unwrap());
    assert!(!keyward.revoke_server_key(&id).await.unwrap(), "once");
    let reply = send(&sibling, introspect_form(Some(&key), &body)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let kinds = audit_kinds(&keyward, 5).await;
    assert!(
        kinds.contains(&"server_key_created".to_owned()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"server_key_revoked".to_owned()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn introspection_tells_active_tokens_claims_and_nothing_about_the_others() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (_, key) = keyward.create_server_key("api in go").await.unwrap();
    let user = sign_up(&keyward, "grace@example.com").await;
    let token = access(&user);

    let active = introspect(&keyward, &key, &token).await;
    assert_eq!(active["active"], true);
    let body = url_encoded(&[("token", &token)]);
    let reply = send(&keyward, introspect_form(Some(&key), &body)).await;
    assert_eq!(header_of(&reply, "cache-control"), Some("no-store"));
    assert_eq!(active["sub"], user["user"]["id"]);
    assert_eq!(active["sid"], user["session_id"]);
    assert_eq!(active["email"], "grace@example.com");
    assert_eq!(active["token_type"], "Bearer");
    assert_eq!(active["iss"], "http://localhost:8787");
    assert!(active["exp"].as_i64().unwrap() > active["iat"].as_i64().unwrap());
    assert!(active.get("cnf").is_none());

    // The same as JSON.
    let reply = send(
        &keyward,
        json_request(
            Method::POST,
            "/auth/introspect",
            Some(&key),
            &json!({ "token": token, "token_type_hint": "access_token" }),
        ),
    )
    .await;
    assert_eq!(reply.body, active);

    // Anything else is `{"active": false}` and nothing more.
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    for (what, other) in [
        ("garbage", "not a token".to_owned()),
        ("a forged signature", forged),
        ("a refresh token", refresh_token(&user)),
        ("empty", String::new()),
    ] {
        let answer = introspect(&keyward, &key, &other).await;
        assert_eq!(answer, json!({ "active": false }), "{what}");
    }

    // A token whose session is signed out is inactive at once.
    let reply = send(
        &keyward,
        json_request(Method::POST, "/auth/sign-out", Some(&token), &json!({})),
    )
    .await;
    assert!(reply.status.is_success(), "{}", reply.body);
    assert_eq!(
        introspect(&keyward, &key, &token).await,
        json!({ "active": false })
    );

    // A form without a token, or with two, is a bad request.
    for body in ["token_type_hint=access_token", "token=a&token=b"] {
        let reply = send(&keyward, introspect_form(Some(&key), body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.code(), "invalid_request", "{body}");
    }
}

#[tokio::test]
async fn an_expired_token_introspects_inactive_and_is_refused_at_the_gateway() {
    let db = TestDb::new().await;
    // `exp` is whole seconds: with 3 s a token is certainly valid at first and certainly
    // expired 3.2 s after it was issued.
    let keyward = Keyward::start(Settings {
        access_ttl: Duration::from_secs(3),
        ..db.settings()
    })
    .await
    .unwrap();
    let (_, key) = keyward.create_server_key("sync").await.unwrap();
    let token = access(&sign_up(&keyward, "short@example.com").await);
    let bearer = format!("Bearer {token}");
    assert_eq!(introspect(&keyward, &key, &token).await["active"], true);
    let fresh = forward(&keyward, &[("authorization", &bearer)]).await;
    assert_eq!(fresh.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        introspect(&keyward, &key, &token).await,
        json!({ "active": false })
    );
    let late = forward(&keyward, &[("authorization", &bearer)]).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED);
    assert_eq!(late.code(), "token_expired");
}

#[tokio::test]
async fn a_device_bound_token_introspects_with_its_key_and_needs_its_proof_at_the_gateway() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (_, key) = keyward.create_server_key("sync").await.unwrap();
    let device = TestDevice::new();
    let user = sign_up_bound(&keyward, "bound@example.com", &device).await;
    let token = access(&user);

    let answer = introspect(&keyward, &key, &token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "DPoP");
    assert_eq!(answer["cnf"]["jkt"], device.jkt());

    let scheme = format!("DPoP {token}");
    let proof = device.proof("GET", "/api/todos", Some(&token));
    // What a gateway sends for `GET {uri}` with `proof`.
    let gateway = |proof: &str, uri: &str| {
        vec![
            ("authorization", scheme.clone()),
            ("dpop", proof.to_owned()),
            ("x-forwarded-method", "GET".to_owned()),
            ("x-forwarded-proto", "http".to_owned()),
            ("x-forwarded-host", "localhost:8787".to_owned()),
            ("x-forwarded-uri", uri.to_owned()),
        ]
    };

    // As a Bearer token, or without the request it was for, it is refused.
    let bearer = forward(&keyward, &[("authorization", format!("Bearer {token}"))]).await;
    assert_eq!(bearer.status, StatusCode::UNAUTHORIZED);
    let blind = forward(&keyward, &gateway(&proof, "/api/todos")[..2]).await;
    assert_eq!(blind.status, StatusCode::UNAUTHORIZED);
    assert_eq!(blind.code(), "invalid_dpop_proof");

    // With the proof for the forwarded method and URL (the query does not count): the identity.
    let good = forward(&keyward, &gateway(&proof, "/api/todos?page=2")).await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.body);
    assert_eq!(
        header_of(&good, "x-keyward-user-id"),
        user["user"]["id"].as_str()
    );
    assert_eq!(
        header_of(&good, "x-keyward-email"),
        Some("bound@example.com")
    );

    // Forwarded headers that a client could have added to (lists), or that do not make a URL
    // of the gateway's: refused before the proof is looked at.
    for (name, value) in [
        ("x-forwarded-host", "localhost:8787, evil.example"),
        ("x-forwarded-host", "evil.example/@localhost:8787"),
        ("x-forwarded-proto", "javascript"),
        ("x-forwarded-uri", "api/todos"),
    ] {
        let fresh = device.proof("GET", "/api/todos", Some(&token));
        let mut headers = gateway(&fresh, "/api/todos");
        headers.retain(|(n, _)| *n != name);
        headers.push((name, value.to_owned()));
        let reply = forward(&keyward, &headers).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}: {value}");
        assert_eq!(reply.code(), "invalid_dpop_proof", "{name}: {value}");
    }

    // The same proof again, or one for another URL: refused.
    let replayed = forward(&keyward, &gateway(&proof, "/api/todos")).await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replayed.code(), "invalid_dpop_proof");
    let other = device.proof("GET", "/api/other", Some(&token));
    let elsewhere = forward(&keyward, &gateway(&other, "/api/todos")).await;
    assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED);
    assert_eq!(elsewhere.code(), "invalid_dpop_proof");
}

#[tokio::test]
async fn forward_auth_answers_the_identity_in_headers_or_401() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let user = sign_up(&keyward, "lin@example.com").await;
    let token = access(&user);
    let bearer = format!("Bearer {token}");

    let good = forward(&keyward, &[("authorization", &bearer)]).await;
    assert_eq!(good.status, StatusCode::OK);
    assert_eq!(header_of(&good, "cache-control"), Some("no-store"));
    assert_eq!(
        header_of(&good, "x-keyward-user-id"),
        user["user"]["id"].as_str()
    );
    assert_eq!(
        header_of(&good, "x-keyward-session-id"),
        user["session_id"].as_str()
    );
    assert_eq!(header_of(&good, "x-keyward-email"), Some("lin@example.com"));
    // No organization: the names are there, empty, so a gateway copying them overwrites a
    // client's.
    assert_eq!(header_of(&good, "x-keyward-org"), Some(""));
    assert_eq!(header_of(&good, "x-keyward-org-role"), Some(""));

    // With an active organization, its id and the role.
    let (org, in_org_token) = act_for_new_org(&keyward, &user, "Acme").await;
    let in_org = format!("Bearer {in_org_token}");
    let team = forward(&keyward, &[("authorization", &in_org)]).await;
    assert_eq!(header_of(&team, "x-keyward-org"), Some(org.as_str()));
    assert_eq!(header_of(&team, "x-keyward-org-role"), Some("owner"));

    for (what, headers) in [
        ("no token", vec![]),
        ("garbage", vec![("authorization", "Bearer nonsense")]),
        ("another scheme", vec![("authorization", "Basic YWRhOnB3")]),
        // Whatever reads the second one would read a token nobody checked.
        (
            "two tokens",
            vec![
                ("authorization", bearer.as_str()),
                ("authorization", "Bearer x"),
            ],
        ),
    ] {
        let reply = forward(&keyward, &headers).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            reply.headers.contains_key(header::WWW_AUTHENTICATE),
            "{what}"
        );
        assert!(!reply.headers.contains_key("x-keyward-user-id"), "{what}");
    }

    // Signed out everywhere: the next forward check refuses the token.
    let out = send(
        &keyward,
        json_request(
            Method::POST,
            "/auth/sign-out",
            Some(&in_org_token),
            &json!({ "scope": "all" }),
        ),
    )
    .await;
    assert!(out.status.is_success(), "{}", out.body);
    let revoked = forward(&keyward, &[("authorization", &in_org)]).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked.code(), "session_revoked");
}

#[tokio::test]
async fn a_ticket_is_redeemed_once_over_http_with_a_server_key() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (_, key) = keyward.create_server_key("node sync").await.unwrap();
    let user = sign_up(&keyward, "sync@example.com").await;
    let token = access(&user);
    let url = "wss://sync.example.com/ws";
    let issue = || connect_ticket(&keyward, &token, url);
    let redeem = |ticket: String, url: &'static str| {
        json_request(
            Method::POST,
            "/auth/connect-ticket/redeem",
            Some(&key),
            &json!({ "ticket": ticket, "url": url }),
        )
    };

    let ticket = issue().await;
    let reply = send(
        &keyward,
        redeem(ticket.clone(), "wss://sync.example.com/ws?v=2"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["user_id"], user["user"]["id"]);
    assert_eq!(reply.body["data"]["session_id"], user["session_id"]);
    assert!(reply.body["data"].get("device_id").is_none());
    let until = reply.body["data"]["token_expires_at"].as_i64().unwrap();
    let exp = introspect(&keyward, &key, &token).await["exp"]
        .as_i64()
        .unwrap();
    assert_eq!(
        until, exp,
        "the connection lasts as long as the token behind the ticket"
    );
    let again = send(&keyward, redeem(ticket, url)).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.code(), "invalid_ticket");

    let other = send(&keyward, redeem(issue().await, "wss://evil.example.com/ws")).await;
    assert_eq!(other.code(), "invalid_ticket");
}
