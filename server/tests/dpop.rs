//! Device-bound sessions (DPoP, RFC 9449) over HTTP: stolen refresh and access tokens are
//! useless without the device key; devices can be listed, renamed, revoked and challenged.

use crate::common;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use common::*;
use serde_json::{Value, json};

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_bound_session_refreshes_only_with_its_device_key() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let device = TestDevice::new();
    let signed = sign_up_bound(&keyward, "bound@example.com", &device).await;
    assert_eq!(signed["tokens"]["token_type"], "DPoP");
    let access = access(&signed);
    assert_eq!(claims_of(&access)["cnf"]["jkt"], device.jkt());
    let stolen = refresh_token(&signed);

    // The thief has the refresh token, not the key.
    let without = refresh(&keyward, &stolen).await;
    assert_eq!(
        (without.status, without.code()),
        (StatusCode::UNAUTHORIZED, "dpop_required")
    );
    let thief = TestDevice::new();
    let wrong_key = refresh_bound(&keyward, &stolen, &thief).await;
    assert_eq!(wrong_key.code(), "invalid_dpop_proof");
    let stale = device.proof_with("POST", "/auth/refresh", None, None, 400);
    let body = json!({ "refresh_token": stolen });
    let reply = send(
        &keyward,
        dpop_request(
            Method::POST,
            "/auth/refresh",
            None,
            Some(&stale),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(
        reply.code(),
        "invalid_dpop_proof",
        "a proof older than five minutes"
    );

    // None of that touched the session: the device refreshes fine, once per proof, and the
    // refresh counts as the device being seen.
    let user_id = &keyward_server::UserId::parse(signed["user"]["id"].as_str().unwrap()).unwrap();
    let seen_at_sign_up = keyward.store().devices(user_id).await.unwrap()[0].last_seen_at;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let proof = device.proof("POST", "/auth/refresh", None);
    let ok = send(
        &keyward,
        dpop_request(
            Method::POST,
            "/auth/refresh",
            None,
            Some(&proof),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["data"]["tokens"]["token_type"], "DPoP");
    let seen = keyward.store().devices(user_id).await.unwrap()[0].last_seen_at;
    assert!(
        seen > seen_at_sign_up,
        "the refresh updated the device's last use"
    );
    let next = ok.body["data"]["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({ "refresh_token": next });
    let replay = send(
        &keyward,
        dpop_request(
            Method::POST,
            "/auth/refresh",
            None,
            Some(&proof),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(
        replay.code(),
        "invalid_dpop_proof",
        "a proof is accepted once"
    );
    assert_eq!(
        refresh_bound(&keyward, &next, &device).await.status,
        StatusCode::OK
    );

    let refused = keyward
        .store()
        .recent_audit(100, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "dpop_refused")
        .count();
    assert_eq!(refused, 4);
}

#[tokio::test]
async fn a_bound_access_token_needs_a_matching_proof_on_every_request() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let device = TestDevice::new();
    let token = access(&sign_up_bound(&keyward, "api@example.com", &device).await);

    let me = |scheme: &'static str, proof: Option<String>| {
        let token = token.clone();
        let keyward = keyward.clone();
        async move {
            send(
                &keyward,
                dpop_request(
                    Method::GET,
                    "/auth/me",
                    Some((scheme, &token)),
                    proof.as_deref(),
                    None,
                ),
            )
            .await
        }
    };
    assert_eq!(
        me("Bearer", None).await.code(),
        "invalid_token",
        "a bound token is no bearer token"
    );
    let missing = me("DPoP", None).await;
    assert_eq!(missing.code(), "dpop_required");
    assert!(
        missing.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("DPoP")
    );
    for (label, proof) in [
        (
            "wrong method",
            device.proof("POST", "/auth/me", Some(&token)),
        ),
        (
            "wrong URL",
            device.proof("GET", "/auth/sessions", Some(&token)),
        ),
        (
            "wrong ath",
            device.proof("GET", "/auth/me", Some("another token")),
        ),
        ("no ath", device.proof("GET", "/auth/me", None)),
        (
            "wrong key",
            TestDevice::new().proof("GET", "/auth/me", Some(&token)),
        ),
        (
            "stale",
            device.proof_with("GET", "/auth/me", Some(&token), None, 301),
        ),
    ] {
        assert_eq!(
            me("DPoP", Some(proof)).await.code(),
            "invalid_dpop_proof",
            "{label}"
        );
    }
    let proof = device.proof("GET", "/auth/me", Some(&token));
    let ok = me("DPoP", Some(proof.clone())).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["data"]["user"]["email"], "api@example.com");
    assert_eq!(
        me("DPoP", Some(proof)).await.code(),
        "invalid_dpop_proof",
        "replayed"
    );
}

#[tokio::test]
async fn devices_are_listed_renamed_and_revoking_one_ends_its_sessions() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let laptop = TestDevice::new();
    let phone = TestDevice::new();
    let on_laptop = sign_up_bound(&keyward, "owner@example.com", &laptop).await;
    let proof = phone.proof("POST", "/auth/sign-in", None);
    let body = json!({ "email": "owner@example.com", "password": PASSWORD });
    let on_phone = send(
        &keyward,
        dpop_request(
            Method::POST,
            "/auth/sign-in",
            None,
            Some(&proof),
            Some(&body),
        ),
    )
    .await
    .body["data"]
        .clone();
    let phone_token = access(&on_phone);

    let list = list_devices;
    let devices = send(&keyward, list(&phone, &phone_token)).await.body["data"]["devices"].clone();
    let devices = devices.as_array().unwrap();
    assert_eq!(devices.len(), 2);
    let current: Vec<_> = devices.iter().filter(|d| d["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["jkt"], phone.jkt());
    assert_eq!(current[0]["name"], "Chrome on Linux");
    let laptop_id = devices.iter().find(|d| d["jkt"] == laptop.jkt()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let uri = format!("/auth/devices/{laptop_id}");
    let proof = phone.proof("PATCH", &uri, Some(&phone_token));
    let rename = dpop_request(
        Method::PATCH,
        &uri,
        Some(("DPoP", &phone_token)),
        Some(&proof),
        Some(&json!({"name": "Work laptop"})),
    );
    assert_eq!(send(&keyward, rename).await.status, StatusCode::NO_CONTENT);
    let name_of_laptop = |devices: &Value| {
        devices["data"]["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == laptop_id.as_str())
            .unwrap()["name"]
            .clone()
    };
    let listed = send(&keyward, list(&phone, &phone_token)).await.body;
    assert_eq!(name_of_laptop(&listed), "Work laptop");
    // A blank name gives the device its default name back.
    let proof = phone.proof("PATCH", &uri, Some(&phone_token));
    let blank = dpop_request(
        Method::PATCH,
        &uri,
        Some(("DPoP", &phone_token)),
        Some(&proof),
        Some(&json!({"name": "  "})),
    );
    assert_eq!(send(&keyward, blank).await.status, StatusCode::NO_CONTENT);
    let listed = send(&keyward, list(&phone, &phone_token)).await.body;
    assert_eq!(name_of_laptop(&listed), "Chrome on Linux");

    // Revoke the laptop from the phone: the laptop's tokens stop working at once.
    let proof = phone.proof("DELETE", &uri, Some(&phone_token));
    let revoke = dpop_request(
        Method::DELETE,
        &uri,
        Some(("DPoP", &phone_token)),
        Some(&proof),
        None,
    );
    assert_eq!(send(&keyward, revoke).await.status, StatusCode::NO_CONTENT);
    let laptop_token = access(&on_laptop);
    let proof = laptop.proof("GET", "/auth/me", Some(&laptop_token));
    let me = send(
        &keyward,
        dpop_request(
            Method::GET,
            "/auth/me",
            Some(("DPoP", &laptop_token)),
            Some(&proof),
            None,
        ),
    )
    .await;
    assert_eq!(me.code(), "session_revoked");
    assert_eq!(
        refresh_bound(&keyward, &refresh_token(&on_laptop), &laptop)
            .await
            .code(),
        "session_revoked"
    );
    let devices = send(&keyward, list(&phone, &phone_token)).await.body["data"]["devices"].clone();
    assert_eq!(devices.as_array().unwrap().len(), 1);

    // Someone else's device is not found; garbage ids neither.
    let stranger = TestDevice::new();
    let other = access(&sign_up_bound(&keyward, "stranger@example.com", &stranger).await);
    let phone_id = devices[0]["id"].as_str().unwrap();
    for uri in [
        format!("/auth/devices/{phone_id}"),
        "/auth/devices/not-an-id".to_owned(),
    ] {
        let proof = stranger.proof("DELETE", &uri, Some(&other));
        let reply = send(
            &keyward,
            dpop_request(
                Method::DELETE,
                &uri,
                Some(("DPoP", &other)),
                Some(&proof),
                None,
            ),
        )
        .await;
        assert_eq!(reply.code(), "not_found", "{uri}");
    }
}

#[tokio::test]
async fn a_device_answers_a_challenge_once_with_its_own_key() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let device = TestDevice::new();
    let token = access(&sign_up_bound(&keyward, "sync@example.com", &device).await);
    let id = own_device_id(&keyward, &device, &token).await;

    let audience = "https://sync.example.com";
    let challenge = |_: ()| challenge_request(&device, &token, &id, audience);
    let issued = send(&keyward, challenge(())).await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let value = issued.body["data"]["challenge"]
        .as_str()
        .unwrap()
        .to_owned();

    let verify =
        |signer: &TestDevice, challenge: &str| challenge_answer(signer, challenge, audience);
    let thief = send(&keyward, verify(&TestDevice::new(), &value)).await;
    assert_eq!(thief.code(), "invalid_dpop_proof");
    // The failed attempt used the challenge up: even the device cannot answer it now.
    assert_eq!(
        send(&keyward, verify(&device, &value)).await.code(),
        "invalid_dpop_proof"
    );

    let fresh = send(&keyward, challenge(())).await.body["data"]["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = send(&keyward, verify(&device, &fresh)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["data"]["device_id"], id.as_str());
    assert_eq!(
        send(&keyward, verify(&device, &fresh)).await.code(),
        "invalid_dpop_proof",
        "single use"
    );
}

#[tokio::test]
async fn with_nonces_on_a_proof_without_the_servers_nonce_is_sent_back_for_one() {
    let db = TestDb::new().await;
    let mut settings = db.settings();
    settings.dpop_nonce = true;
    let keyward = keyward_server::Keyward::start(settings).await.unwrap();
    let device = TestDevice::new();
    let body = json!({ "email": "nonce@example.com", "password": PASSWORD });

    let first = device.proof("POST", "/auth/sign-up", None);
    let asked = send(
        &keyward,
        dpop_request(
            Method::POST,
            "/auth/sign-up",
            None,
            Some(&first),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(asked.code(), "use_dpop_nonce");
    let nonce = asked.headers["dpop-nonce"].to_str().unwrap().to_owned();
    assert!(
        keyward.store().users(10, 0).await.unwrap().is_empty(),
        "nothing written"
    );

    let second = device.proof_with("POST", "/auth/sign-up", None, Some(&nonce), 0);
    let ok = send(
        &keyward,
        dpop_request(
            Method::POST,
            "/auth/sign-up",
            None,
            Some(&second),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let wrong = device.proof_with("POST", "/auth/refresh", None, Some("made-up"), 0);
    let body = json!({ "refresh_token": refresh_token(&ok.body["data"]) });
    let reply = send(
        &keyward,
        dpop_request(
            Method::POST,
            "/auth/refresh",
            None,
            Some(&wrong),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(reply.code(), "use_dpop_nonce");
}

#[tokio::test]
async fn a_server_that_requires_device_keys_refuses_sign_ins_without_one() {
    let db = TestDb::new().await;
    let mut settings = db.settings();
    settings.require_dpop = true;
    let keyward = keyward_server::Keyward::start(settings).await.unwrap();
    let plain = send(
        &keyward,
        post(
            "/auth/sign-up",
            &json!({ "email": "plain@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    assert_eq!(plain.code(), "dpop_required");
    sign_up_bound(&keyward, "bound@example.com", &TestDevice::new()).await;
}
