//! Real passkey ceremonies against the server, with a software authenticator (passkey-rs):
//! register, sign in with and without an email, sign up with a passkey only, and every refusal.

use crate::common;
use crate::common::passkeys as phone;

use axum::http::{Method, StatusCode};
use common::*;
use phone::{ORIGIN, Phone, call, passkey_sign_up_answer, user_with_passkey};
use serde_json::{Value, json};

#[tokio::test]
async fn a_registered_passkey_signs_in_with_an_email_and_without_one() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let mut phone = Phone::new();
    let signed = user_with_passkey(&keyward, &mut phone, "ada@example.com").await;

    // With an email: the options name the passkey.
    let options = call(
        &keyward,
        "/auth/passkeys/sign-in/options",
        None,
        &json!({"email": "ada@example.com"}),
    )
    .await;
    assert_eq!(
        options.body["data"]["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        options.body["data"].get("mediation").is_none()
            || options.body["data"]["mediation"].is_null()
    );
    let assertion = phone.get(ORIGIN, &options.body["data"]).await;
    let reply = call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["user"]["id"], signed["user"]["id"]);
    let token = access(&reply.body["data"]);
    let claims: Value = {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims["amr"], json!(["passkey"]));
    let me = send(&keyward, authed(Method::GET, "/auth/me", &token)).await;
    assert_eq!(me.status, StatusCode::OK);

    // Without: any discoverable passkey answers, and the user is found from it.
    let options = call(&keyward, "/auth/passkeys/sign-in/options", None, &json!({})).await;
    assert!(
        options.body["data"]["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty())
    );
    let assertion = phone.get(ORIGIN, &options.body["data"]).await;
    let reply = call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["user"]["email"], "ada@example.com");

    let list = send(&keyward, authed(Method::GET, "/auth/passkeys", &token)).await;
    let passkeys = list.body["data"]["passkeys"].as_array().unwrap();
    assert_eq!(passkeys.len(), 1);
    assert!(passkeys[0]["last_used_at"].is_string());
}

#[tokio::test]
async fn the_same_ceremony_finished_twice_is_refused() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let mut phone = Phone::new();
    user_with_passkey(&keyward, &mut phone, "twice@example.com").await;
    let options = call(
        &keyward,
        "/auth/passkeys/sign-in/options",
        None,
        &json!({"email": "twice@example.com"}),
    )
    .await;
    let assertion = phone.get(ORIGIN, &options.body["data"]).await;
    assert_eq!(
        call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion)
            .await
            .status,
        StatusCode::OK
    );
    let again = call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion).await;
    assert_eq!(again.code(), "challenge_expired");
}

#[tokio::test]
async fn a_usernameless_answer_whose_user_handle_names_another_user_is_refused() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let mut phone = Phone::new();
    user_with_passkey(&keyward, &mut phone, "owner@example.com").await;
    let victim = sign_up(&keyward, "victim@example.com").await;

    let options = call(&keyward, "/auth/passkeys/sign-in/options", None, &json!({})).await;
    let mut assertion = phone.get(ORIGIN, &options.body["data"]).await;
    // The owner's credential, claiming to be the victim: the handle is not signed.
    let victim_id = uuid_bytes(victim["user"]["id"].as_str().unwrap());
    assertion["response"]["userHandle"] = json!(base64_url(&victim_id));
    let reply = call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion).await;
    assert_eq!(reply.code(), "passkey_invalid", "{}", reply.body);
}

#[tokio::test]
async fn a_credential_of_another_user_a_wrong_origin_or_rp_id_and_an_expired_challenge_are_refused()
{
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let mut alice_phone = Phone::new();
    let mut bob_phone = Phone::new();
    user_with_passkey(&keyward, &mut alice_phone, "alice@example.com").await;
    user_with_passkey(&keyward, &mut bob_phone, "bob@example.com").await;

    // Bob's sign-in answered with Alice's credential.
    let alice_credential = alice_phone.store.credentials.lock().await[0].clone();
    *bob_phone.store.force.lock().await = Some(alice_credential);
    let options = call(
        &keyward,
        "/auth/passkeys/sign-in/options",
        None,
        &json!({"email": "bob@example.com"}),
    )
    .await;
    let assertion = bob_phone.get(ORIGIN, &options.body["data"]).await;
    assert_eq!(
        call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion)
            .await
            .code(),
        "passkey_invalid"
    );
    *bob_phone.store.force.lock().await = None;

    // Another origin (a phishing page on another port).
    let options = call(
        &keyward,
        "/auth/passkeys/sign-in/options",
        None,
        &json!({"email": "bob@example.com"}),
    )
    .await;
    let assertion = bob_phone
        .get("http://localhost:9999", &options.body["data"])
        .await;
    assert_eq!(
        call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion)
            .await
            .code(),
        "passkey_invalid"
    );

    // Another relying party: a look-alike site that relays our options under its own rp id.
    let mut options = call(
        &keyward,
        "/auth/passkeys/sign-in/options",
        None,
        &json!({"email": "bob@example.com"}),
    )
    .await
    .body["data"]
        .clone();
    options["publicKey"]["rpId"] = json!("keyward-login.example");
    let assertion = bob_phone
        .get("https://keyward-login.example", &options)
        .await;
    assert_eq!(
        call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion)
            .await
            .code(),
        "passkey_invalid"
    );

    // A ceremony left for more than five minutes.
    let options = call(
        &keyward,
        "/auth/passkeys/sign-in/options",
        None,
        &json!({"email": "bob@example.com"}),
    )
    .await;
    expire_ceremonies(&db).await;
    let assertion = bob_phone.get(ORIGIN, &options.body["data"]).await;
    assert_eq!(
        call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion)
            .await
            .code(),
        "challenge_expired"
    );

    // And after all that, Bob still signs in.
    let options = call(
        &keyward,
        "/auth/passkeys/sign-in/options",
        None,
        &json!({"email": "bob@example.com"}),
    )
    .await;
    let assertion = bob_phone.get(ORIGIN, &options.body["data"]).await;
    assert_eq!(
        call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_account_can_be_made_with_a_passkey_and_no_password() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let mut phone = Phone::new();
    let created = passkey_sign_up_answer(
        &keyward,
        &mut phone,
        &json!({"email": "nopass@example.com", "name": "No Pass"}),
    )
    .await;
    let device = TestDevice::new();
    let proof = device.proof("POST", "/auth/passkeys/sign-up/verify", None);
    let reply = send(
        &keyward,
        dpop_request(
            Method::POST,
            "/auth/passkeys/sign-up/verify",
            None,
            Some(&proof),
            Some(&created),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["user"]["name"], "No Pass");
    assert_eq!(
        reply.body["data"]["tokens"]["token_type"], "DPoP",
        "bound to the device key"
    );

    // No password works for this account; the passkey does.
    let password = send(
        &keyward,
        post(
            "/auth/sign-in",
            &json!({"email": "nopass@example.com", "password": "anything at all"}),
        ),
    )
    .await;
    assert_eq!(password.code(), "invalid_credentials");
    let options = call(&keyward, "/auth/passkeys/sign-in/options", None, &json!({})).await;
    let assertion = phone.get(ORIGIN, &options.body["data"]).await;
    assert_eq!(
        call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion)
            .await
            .status,
        StatusCode::OK
    );

    // The email is now taken, for passkey and password sign-ups alike.
    let again = call(
        &keyward,
        "/auth/passkeys/sign-up/options",
        None,
        &json!({"email": "NoPass@example.com"}),
    )
    .await;
    assert_eq!(again.code(), "email_taken");
}

#[tokio::test]
async fn passkeys_can_be_renamed_and_removed_and_a_removed_one_no_longer_signs_in() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let mut phone = Phone::new();
    let signed = user_with_passkey(&keyward, &mut phone, "tidy@example.com").await;
    let token = access(&signed);
    let list = send(&keyward, authed(Method::GET, "/auth/passkeys", &token)).await;
    let id = list.body["data"]["passkeys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let rename = json_request(
        Method::PATCH,
        &format!("/auth/passkeys/{id}"),
        Some(&token),
        &json!({"name": "Old phone"}),
    );
    assert_eq!(send(&keyward, rename).await.status, StatusCode::NO_CONTENT);
    let list = send(&keyward, authed(Method::GET, "/auth/passkeys", &token)).await;
    assert_eq!(list.body["data"]["passkeys"][0]["name"], "Old phone");
    // A control character is refused wherever it is, as the OpenAPI pattern says: a name of one
    // vertical tab is not taken for a blank one (which would mean the default name).
    for name in ["\u{b}", "\tOld phone"] {
        let body = json!({ "name": name });
        let rename = json_request(
            Method::PATCH,
            &format!("/auth/passkeys/{id}"),
            Some(&token),
            &body,
        );
        assert_eq!(send(&keyward, rename).await.code(), "invalid_request");
        let options = json_request(
            Method::POST,
            "/auth/passkeys/register/options",
            Some(&token),
            &body,
        );
        assert_eq!(send(&keyward, options).await.code(), "invalid_request");
    }
    let list = send(&keyward, authed(Method::GET, "/auth/passkeys", &token)).await;
    assert_eq!(list.body["data"]["passkeys"][0]["name"], "Old phone");

    let options = call(&keyward, "/auth/passkeys/sign-in/options", None, &json!({})).await;
    let assertion = phone.get(ORIGIN, &options.body["data"]).await;
    assert_eq!(
        send(
            &keyward,
            authed(Method::DELETE, &format!("/auth/passkeys/{id}"), &token)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion)
            .await
            .code(),
        "passkey_invalid"
    );
    assert_eq!(
        send(
            &keyward,
            authed(Method::DELETE, &format!("/auth/passkeys/{id}"), &token)
        )
        .await
        .code(),
        "not_found"
    );
}

/// The security review's finding 1: removing the last passkey of an account without a password
/// locked its owner out for good. The last way to sign in stays; with a second one it can go.
#[tokio::test]
async fn the_last_passkey_of_an_account_without_a_password_cannot_be_removed() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let mut phone = Phone::new();
    let created =
        passkey_sign_up_answer(&keyward, &mut phone, &json!({"email": "only@example.com"})).await;
    let signed = call(&keyward, "/auth/passkeys/sign-up/verify", None, &created).await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.body);
    let token = access(&signed.body["data"]);
    let list = send(&keyward, authed(Method::GET, "/auth/passkeys", &token)).await;
    let first = list.body["data"]["passkeys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let remove = |id: &str| authed(Method::DELETE, &format!("/auth/passkeys/{id}"), &token);
    let refused = send(&keyward, remove(&first)).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::CONFLICT, "last_sign_in_method")
    );
    let options = call(&keyward, "/auth/passkeys/sign-in/options", None, &json!({})).await;
    let assertion = phone.get(ORIGIN, &options.body["data"]).await;
    assert_eq!(
        call(&keyward, "/auth/passkeys/sign-in/verify", None, &assertion)
            .await
            .status,
        StatusCode::OK,
        "the passkey still signs in"
    );

    // A second passkey (on another phone): now either can go, but not both.
    let mut other = Phone::new();
    let options = call(
        &keyward,
        "/auth/passkeys/register/options",
        Some(&token),
        &json!({}),
    )
    .await;
    let created = other.create(ORIGIN, &options.body["data"]).await;
    let added = call(
        &keyward,
        "/auth/passkeys/register/verify",
        Some(&token),
        &created,
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let second = added.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        send(&keyward, remove(&first)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&keyward, remove(&second)).await.code(),
        "last_sign_in_method"
    );
}

fn uuid_bytes(id: &str) -> Vec<u8> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Moves every pending ceremony's expiry into the past (as if five minutes went by).
async fn expire_ceremonies(db: &TestDb) {
    use sqlx::Connection as _;
    match db.kind {
        keyward_server::DatabaseKind::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query("UPDATE passkey_ceremonies SET expires_at = 0")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        keyward_server::DatabaseKind::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query("UPDATE passkey_ceremonies SET expires_at = 0")
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}
