//! TOTP second factors: enrolment, the second step of every first factor (password, magic link),
//! recovery codes, replays, wrong codes, the ticket's device, and turning it off. Codes are
//! computed here from the secret the enrolment showed, as an authenticator app would. (RFC
//! 6238's test vectors are in `src/domain/mfa.rs`.)

// Tests stand outside the server: they read the clock as an authenticator app would.
#![allow(clippy::disallowed_methods)]

use crate::common;

use axum::http::{Method, StatusCode};
use common::*;
use keyward_server::Keyward;
use serde_json::{Value, json};

async fn authed_post(keyward: &Keyward, path: &str, token: &str, body: Value) -> Reply {
    send(
        keyward,
        json_request(Method::POST, path, Some(token), &body),
    )
    .await
}

/// Signs up `email` and turns on TOTP; returns the session, the secret and the recovery codes.
async fn with_mfa(keyward: &Keyward, email: &str) -> (Value, String, Vec<String>) {
    let signed = sign_up(keyward, email).await;
    let token = access(&signed);
    let enrolment = authed_post(keyward, "/auth/mfa/totp", &token, json!({})).await;
    assert_eq!(enrolment.status, StatusCode::OK, "{}", enrolment.body);
    let data = &enrolment.body["data"];
    let secret = data["secret"].as_str().unwrap().to_owned();
    let uri = data["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    assert!(
        data["qr_svg"].as_str().unwrap().contains("<svg"),
        "an SVG QR code"
    );

    // Not on before the first code: a sign-in still gets a session.
    let earlier = sign_in(keyward, email).await;
    assert!(earlier["tokens"].is_object());
    let wrong = authed_post(
        keyward,
        "/auth/mfa/totp/confirm",
        &token,
        json!({ "code": "000000" }),
    )
    .await;
    if totp(&secret, 0) != "000000" {
        assert_eq!(
            (wrong.status, wrong.code()),
            (StatusCode::UNAUTHORIZED, "invalid_mfa_code")
        );
    }
    let confirmed = authed_post(
        keyward,
        "/auth/mfa/totp/confirm",
        &token,
        json!({ "code": totp(&secret, 0) }),
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let codes: Vec<String> = confirmed.body["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    // Sessions from before the second factor end (the one that turned it on stays).
    let me = |token: String| send(keyward, authed(Method::GET, "/auth/me", &token));
    assert_eq!(me(access(&earlier)).await.code(), "session_revoked");
    assert_eq!(me(token).await.status, StatusCode::OK);
    (signed, secret, codes)
}

async fn verify(keyward: &Keyward, body: Value) -> Reply {
    send(keyward, post("/auth/mfa/verify", &body)).await
}

/// The `aal` claim of an access token.
fn aal(token: &str) -> i64 {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&unb64(payload)).unwrap();
    claims["aal"].as_i64().unwrap()
}

#[tokio::test]
async fn every_password_sign_in_then_asks_for_a_code_accepted_once() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (first, secret, _) = with_mfa(&keyward, "two@example.com").await;
    assert_eq!(aal(&access(&first)), 1, "the sign-up proved one factor");

    let answer = sign_in(&keyward, "two@example.com").await;
    assert_eq!(answer["mfa_required"], true);
    assert!(
        answer["tokens"].is_null(),
        "no session before the second factor"
    );
    assert_eq!(answer["methods"], json!(["totp", "recovery_code"]));
    let ticket = answer["mfa_ticket"].as_str().unwrap().to_owned();

    // The confirming code's step is used: the next one works, once.
    let next = totp(&secret, 1);
    let reply = verify(&keyward, json!({ "mfa_ticket": ticket, "code": next })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let tokens = &reply.body["data"]["tokens"];
    assert_eq!(aal(tokens["access_token"].as_str().unwrap()), 2);
    let again = verify(&keyward, json!({ "mfa_ticket": ticket, "code": next })).await;
    assert_eq!(again.code(), "invalid_ticket", "the ticket is used");

    let ticket = sign_in(&keyward, "two@example.com").await["mfa_ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let replay = verify(&keyward, json!({ "mfa_ticket": ticket, "code": next })).await;
    assert_eq!(
        (replay.status, replay.code()),
        (StatusCode::UNAUTHORIZED, "invalid_mfa_code")
    );
    let kinds = audit_kinds(&keyward, 20).await;
    assert!(
        kinds.contains(&"mfa_enabled".to_owned()) && kinds.contains(&"mfa_failed".to_owned()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_recovery_code_works_once_and_five_wrong_codes_end_the_ticket() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (_, secret, codes) = with_mfa(&keyward, "recover@example.com").await;

    let ticket = sign_in(&keyward, "recover@example.com").await["mfa_ticket"].clone();
    let reply = verify(
        &keyward,
        json!({ "mfa_ticket": ticket, "recovery_code": codes[0].to_uppercase() }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let ticket = sign_in(&keyward, "recover@example.com").await["mfa_ticket"].clone();
    let reused = verify(
        &keyward,
        json!({ "mfa_ticket": ticket, "recovery_code": codes[0] }),
    )
    .await;
    assert_eq!(reused.code(), "invalid_mfa_code");
    // An app code is not a recovery code, nor the other way round.
    let crossed = verify(
        &keyward,
        json!({ "mfa_ticket": ticket, "recovery_code": totp(&secret, 1) }),
    )
    .await;
    assert_eq!(crossed.code(), "invalid_mfa_code");

    let ticket = sign_in(&keyward, "recover@example.com").await["mfa_ticket"].clone();
    let right = totp(&secret, 1);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    for _ in 0..5 {
        let reply = verify(&keyward, json!({ "mfa_ticket": ticket, "code": wrong })).await;
        assert_eq!(reply.code(), "invalid_mfa_code");
    }
    let late = verify(&keyward, json!({ "mfa_ticket": ticket, "code": right })).await;
    assert_eq!(
        late.code(),
        "invalid_ticket",
        "five wrong codes end the ticket"
    );
    let garbage = verify(&keyward, json!({ "mfa_ticket": "kwm_nope", "code": right })).await;
    assert_eq!(garbage.code(), "invalid_ticket");
}

#[tokio::test]
async fn the_second_factor_comes_from_the_device_that_gave_the_first() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (_, secret, _) = with_mfa(&keyward, "device@example.com").await;
    let (device, other) = (TestDevice::new(), TestDevice::new());
    let body = json!({ "email": "device@example.com", "password": PASSWORD });
    let proof = device.proof("POST", "/auth/sign-in", None);
    let reply = send(
        &keyward,
        dpop_request(
            Method::POST,
            "/auth/sign-in",
            None,
            Some(&proof),
            Some(&body),
        ),
    )
    .await;
    let ticket = reply.body["data"]["mfa_ticket"].clone();
    let answer = json!({ "mfa_ticket": ticket, "code": totp(&secret, 1) });

    let path = "/auth/mfa/verify";
    for stranger in [Some(&other), None] {
        let proof = stranger.map(|d| d.proof("POST", path, None));
        let reply = send(
            &keyward,
            dpop_request(Method::POST, path, None, proof.as_deref(), Some(&answer)),
        )
        .await;
        assert_eq!(
            reply.code(),
            "invalid_dpop_proof",
            "another device, or none"
        );
    }
    let proof = device.proof("POST", path, None);
    let reply = send(
        &keyward,
        dpop_request(Method::POST, path, None, Some(&proof), Some(&answer)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["tokens"]["token_type"], "DPoP");
}

#[tokio::test]
async fn a_magic_link_and_a_password_reset_still_leave_the_second_factor_to_ask() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (signed, secret, _) = with_mfa(&keyward, "still@example.com").await;
    let mailed = |kind: &'static str| {
        let keyward = keyward.clone();
        async move {
            for _ in 0..200 {
                let mails = keyward.store().recent_mail(20).await.unwrap();
                if let Some(mail) = mails.iter().find(|m| m.kind == kind) {
                    let start = mail.text_body.find("token=").unwrap() + "token=".len();
                    return mail.text_body[start..]
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .to_owned();
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            panic!("no {kind} mail");
        }
    };

    // The owner proved the address at sign-up (an unproved one loses its factors: see
    // `proving_the_mailbox_of_an_unverified_account_removes_its_second_factor`).
    let token = mailed("verify_email").await;
    let path = "/auth/email/verification/confirm";
    let holder = access(&signed);
    let confirm = authed_post(&keyward, path, &holder, json!({ "token": token }));
    assert_eq!(confirm.await.status, StatusCode::OK);

    send(
        &keyward,
        post("/auth/magic-link", &json!({ "email": "still@example.com" })),
    )
    .await;
    let token = mailed("magic_link").await;
    let reply = send(
        &keyward,
        post("/auth/magic-link/verify", &json!({ "token": token })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["mfa_required"], true, "{}", reply.body);

    send(
        &keyward,
        post(
            "/auth/password/forgot",
            &json!({ "email": "still@example.com" }),
        ),
    )
    .await;
    let token = mailed("reset_password").await;
    let body = json!({ "token": token, "password": "a new long passphrase" });
    assert_eq!(
        send(&keyward, post("/auth/password/reset", &body))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let body = json!({ "email": "still@example.com", "password": "a new long passphrase" });
    let reply = send(&keyward, post("/auth/sign-in", &body)).await;
    assert_eq!(reply.body["data"]["mfa_required"], true, "{}", reply.body);
    let ticket = reply.body["data"]["mfa_ticket"].clone();
    let reply = verify(
        &keyward,
        json!({ "mfa_ticket": ticket, "code": totp(&secret, 1) }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn turning_it_off_and_new_recovery_codes_need_a_current_code() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (signed, secret, old_codes) = with_mfa(&keyward, "off@example.com").await;
    let token = access(&signed);

    let again = authed_post(&keyward, "/auth/mfa/totp", &token, json!({})).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "mfa_already_enabled")
    );
    let wrong = authed_post(
        &keyward,
        "/auth/mfa/recovery-codes",
        &token,
        json!({ "code": "kk" }),
    )
    .await;
    assert_eq!(wrong.code(), "invalid_mfa_code");
    let fresh = authed_post(
        &keyward,
        "/auth/mfa/recovery-codes",
        &token,
        json!({ "code": old_codes[1] }),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    let new_code = fresh.body["data"]["recovery_codes"][0]
        .as_str()
        .unwrap()
        .to_owned();
    // The old codes stopped working.
    let ticket = sign_in(&keyward, "off@example.com").await["mfa_ticket"].clone();
    let old = verify(
        &keyward,
        json!({ "mfa_ticket": ticket, "recovery_code": old_codes[2] }),
    )
    .await;
    assert_eq!(old.code(), "invalid_mfa_code");

    let off = send(
        &keyward,
        json_request(
            Method::DELETE,
            "/auth/mfa/totp",
            Some(&token),
            &json!({ "code": totp(&secret, 1) }),
        ),
    )
    .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT, "{}", off.body);
    assert!(
        sign_in(&keyward, "off@example.com").await["tokens"].is_object(),
        "one factor again"
    );
    let gone = send(
        &keyward,
        json_request(
            Method::DELETE,
            "/auth/mfa/totp",
            Some(&token),
            &json!({ "code": new_code }),
        ),
    )
    .await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::CONFLICT, "mfa_not_enabled")
    );
    let kinds = audit_kinds(&keyward, 30).await;
    assert!(
        kinds.contains(&"mfa_disabled".to_owned())
            && kinds.contains(&"recovery_codes_regenerated".to_owned()),
        "{kinds:?}"
    );
}

/// Review finding: TOTP codes were limited per IP and per ticket only, so many addresses (or
/// rate limits off) and fresh tickets allowed guessing without end. Wrong codes for one account
/// are capped whatever the setting.
#[tokio::test]
async fn wrong_codes_for_an_account_are_capped_across_tickets_even_without_rate_limits() {
    let db = TestDb::new().await;
    let keyward = Keyward::start(keyward_server::Settings {
        rate_limits: false,
        ..db.settings()
    })
    .await
    .unwrap();
    let (_, secret, _) = with_mfa(&keyward, "guessed@example.com").await;
    let right = totp(&secret, 1);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    let mut refusals = Vec::new();
    for _ in 0..3 {
        let ticket = sign_in(&keyward, "guessed@example.com").await["mfa_ticket"].clone();
        for _ in 0..4 {
            let reply = verify(&keyward, json!({ "mfa_ticket": ticket, "code": wrong })).await;
            refusals.push(reply.code().to_owned());
        }
    }
    assert_eq!(refusals[..10], ["invalid_mfa_code"; 10]);
    assert_eq!(refusals[10..], ["account_locked"; 2], "{refusals:?}");
    // The owner, with the right code, waits too: the lock is on the account.
    let ticket = sign_in(&keyward, "guessed@example.com").await["mfa_ticket"].clone();
    let reply = verify(&keyward, json!({ "mfa_ticket": ticket, "code": right })).await;
    assert_eq!(reply.code(), "account_locked");
}

/// Review finding: taking an account back by proving its mailbox left an intruder's
/// authenticator on it, locking the owner out of every sign-in.
#[tokio::test]
async fn proving_the_mailbox_of_an_unverified_account_removes_its_second_factor() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (_, _, _) = with_mfa(&keyward, "taken-back@example.com").await;
    send(
        &keyward,
        post(
            "/auth/magic-link",
            &json!({ "email": "taken-back@example.com" }),
        ),
    )
    .await;
    let mut token = None;
    for _ in 0..200 {
        let mails = keyward.store().recent_mail(20).await.unwrap();
        if let Some(mail) = mails.iter().find(|m| m.kind == "magic_link") {
            let start = mail.text_body.find("token=").unwrap() + "token=".len();
            token = mail.text_body[start..]
                .split_whitespace()
                .next()
                .map(str::to_owned);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let reply = send(
        &keyward,
        post(
            "/auth/magic-link/verify",
            &json!({ "token": token.unwrap() }),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(
        reply.body["data"]["tokens"].is_object(),
        "signed in: the intruder's app is gone: {}",
        reply.body
    );
}

/// The `auth_time` claim of an access token.
fn auth_time(token: &str) -> i64 {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&unb64(payload)).unwrap();
    claims["auth_time"].as_i64().unwrap()
}

/// `POST /auth/mfa/step-up`: a signed-in session proves a code again; its next tokens are two
/// factors and recent, so what needs a recent sign-in works without signing in again.
#[tokio::test]
async fn a_step_up_makes_the_session_recent_and_its_next_tokens_two_factor() {
    let db = TestDb::new().await;
    let keyward = Keyward::start(keyward_server::Settings {
        recent_auth: std::time::Duration::from_secs(3),
        ..db.settings()
    })
    .await
    .unwrap();
    let (signed, secret, codes) = with_mfa(&keyward, "step@example.com").await;
    // The session that turned it on proved a code: its next tokens say two factors.
    let refreshed = refresh(&keyward, &refresh_token(&signed)).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let stale = &refreshed.body["data"];
    assert_eq!(aal(&access(stale)), 2);
    assert_eq!(auth_time(&access(stale)), auth_time(&access(&signed)));

    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    let token = access(stale);
    let regenerate = |token: String, code: String| {
        let keyward = keyward.clone();
        async move {
            let body = json!({ "code": code });
            authed_post(&keyward, "/auth/mfa/recovery-codes", &token, body).await
        }
    };
    let old = regenerate(token.clone(), codes[0].clone()).await;
    assert_eq!(old.code(), "reauthentication_required");

    let step_up = |code: String| {
        authed_post(
            &keyward,
            "/auth/mfa/step-up",
            &token,
            json!({ "code": code }),
        )
    };
    let right = totp(&secret, 1);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    assert_eq!(step_up(wrong.to_owned()).await.code(), "invalid_mfa_code");
    let proved = step_up(right.clone()).await;
    assert_eq!(proved.status, StatusCode::NO_CONTENT, "{}", proved.body);
    assert_eq!(
        step_up(right).await.code(),
        "invalid_mfa_code",
        "a code works once"
    );

    let fresh = refresh(&keyward, &refresh_token(stale)).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    let fresh = access(&fresh.body["data"]);
    assert_eq!(aal(&fresh), 2);
    assert!(auth_time(&fresh) >= auth_time(&token) + 4);
    let renewed = regenerate(fresh, codes[1].clone()).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    assert!(
        audit_kinds(&keyward, 20)
            .await
            .contains(&"stepped_up".to_owned())
    );

    // Without a second factor there is nothing to step up to.
    let plain = sign_up(&keyward, "plain@example.com").await;
    let body = json!({ "code": "123456" });
    let none = authed_post(&keyward, "/auth/mfa/step-up", &access(&plain), body).await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::CONFLICT, "mfa_not_enabled")
    );
}
