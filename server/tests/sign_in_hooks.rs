//! The post-authentication hooks: the app's (`Keyward::with_sign_in_hook`) and the HTTP one
//! from the settings, signed as webhooks are. A refusal is shown to the user and makes nothing;
//! added claims ride in every token of the session; an HTTP hook that times out or fails refuses
//! the sign-in unless the operator lets it through.

use crate::common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::webhooks::Receiver;
use common::*;
use keyward_server::{Claims, Keyward, Settings, SignInHookSettings};
use serde_json::json;

async fn sign_up_reply(keyward: &Keyward, email: &str) -> Reply {
    let body = json!({ "email": email, "password": PASSWORD });
    send(keyward, post("/auth/sign-up", &body)).await
}

async fn sign_in_reply(keyward: &Keyward, email: &str) -> Reply {
    let body = json!({ "email": email, "password": PASSWORD });
    send(keyward, post("/auth/sign-in", &body)).await
}

#[tokio::test]
async fn the_apps_hook_refuses_with_its_reason_making_nothing_and_its_claims_ride_every_token() {
    let db = TestDb::new().await;
    let keyward = db.start().await.with_sign_in_hook(|attempt| async move {
        if attempt.email.starts_with("held") {
            return Err("Your account is on hold.".to_owned());
        }
        let mut claims = Claims::new();
        claims.insert("plan".into(), "pro".into());
        claims.insert("new_user".into(), attempt.new_user.into());
        if attempt.email.starts_with("big") {
            claims.insert("blob".into(), "x".repeat(2000).into());
        }
        Ok(claims)
    });

    // Refused: the user reads why, and no account, session or event was made.
    let refused = sign_up_reply(&keyward, "held@example.com").await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(refused.body["error"]["message"], "Your account is on hold.");
    let too_big = sign_up_reply(&keyward, "big@example.com").await;
    assert_eq!(
        (too_big.status, too_big.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    assert_eq!(accounts(&keyward).await, 0);
    let kinds = audit_kinds(&keyward, 50).await;
    assert!(!kinds.contains(&"sign_up".to_owned()), "{kinds:?}");

    // Let through: its claims under `ext`, in the first token and every refreshed one.
    let signed = sign_up(&keyward, "ann@example.com").await;
    assert_eq!(
        claims_of(&access(&signed))["ext"],
        json!({ "plan": "pro", "new_user": true })
    );
    let renewed = refresh(&keyward, &refresh_token(&signed)).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    assert_eq!(
        claims_of(&access(&renewed.body["data"]))["ext"],
        json!({ "plan": "pro", "new_user": true })
    );
    let again = sign_in(&keyward, "ann@example.com").await;
    assert_eq!(claims_of(&access(&again))["ext"]["new_user"], false);
    let me = send(&keyward, authed(Method::GET, "/auth/me", &access(&again))).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);

    // The same address, once the app lets it in, signs up: nothing of the refusal was left.
    let keyward = keyward.with_sign_in_hook(|_| async { Ok(Claims::new()) });
    let held = sign_up(&keyward, "held@example.com").await;
    assert!(claims_of(&access(&held)).get("ext").is_none());
}

/// A server on `db` whose HTTP sign-in hook is `path` on `receiver`, with `secret`.
async fn with_http_hook(
    db: &TestDb,
    receiver: &mut Receiver,
    path: &str,
    fail_open: bool,
) -> Keyward {
    let secret = format!("whsec_{}", {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    });
    receiver.trust(path, &secret);
    let hook = SignInHookSettings {
        timeout: Duration::from_secs(1),
        fail_open,
        ..SignInHookSettings::new(receiver.url(path), secret)
    };
    let settings = Settings {
        sign_in_hook: Some(hook),
        ..db.settings()
    };
    Keyward::start(settings).await.expect("the server starts")
}

#[tokio::test]
async fn an_http_hook_is_signed_refuses_adds_claims_and_fails_closed_unless_told_otherwise() {
    let db = TestDb::new().await;
    let mut receiver = Receiver::start();

    // It lets the sign-up through with claims, having verified who asks and about whom.
    let keyward = with_http_hook(&db, &mut receiver, "/hook/allow/a", false).await;
    let signed = sign_up(&keyward, "bea@example.com").await;
    assert_eq!(
        claims_of(&access(&signed))["ext"],
        json!({ "plan": "pro", "seen": "bea@example.com" })
    );
    let asked = receiver.received();
    let asked = asked.last().unwrap();
    assert!(asked.verified, "{asked:?}");
    assert_eq!(asked.kind(), "user.signing_in");
    assert_eq!(asked.payload["data"]["new_user"], true);
    assert_eq!(asked.payload["data"]["amr"], json!(["pwd"]));
    drop(keyward);

    // It refuses: the user reads its reason.
    let keyward = with_http_hook(&db, &mut receiver, "/hook/deny/a", false).await;
    let refused = sign_in_reply(&keyward, "bea@example.com").await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(refused.body["error"]["message"], "Your account is on hold.");
    drop(keyward);

    // It times out, or fails: refused, unless the operator lets sign-ins through without it.
    for (path, fail_open) in [
        ("/hook/slow/a", false),
        ("/hook/broken/a", false),
        ("/hook/slow/b", true),
        ("/hook/broken/b", true),
    ] {
        let keyward = with_http_hook(&db, &mut receiver, path, fail_open).await;
        let reply = sign_in_reply(&keyward, "bea@example.com").await;
        if fail_open {
            assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
            assert!(claims_of(&access(&reply.body["data"])).get("ext").is_none());
        } else {
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                "{path}"
            );
        }
    }
}

#[test]
fn a_hook_without_a_usable_secret_or_with_http_in_production_is_refused_at_start() {
    for (secret, production, url) in [
        ("not-a-secret", false, "http://127.0.0.1:9/hook"),
        ("whsec_AAAA", false, "http://127.0.0.1:9/hook"),
        (
            "whsec_BwcHBwcHBwcHBwcHBwcHBw==",
            true,
            "http://hooks.example.com/",
        ),
    ] {
        let settings = Settings {
            sign_in_hook: Some(SignInHookSettings::new(url, secret)),
            production,
            ..Settings::default()
        };
        let refused = settings.validate().unwrap_err().to_string();
        assert!(refused.contains("sign-in-hook"), "{refused}");
    }
}
