//! Browser tests: run in headless Chromium by `cargo xtask test`
//! (`cargo test --target wasm32-unknown-unknown -p keyward-client`).
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Uint8Array};
use keyward_client::browser::Capabilities;
use keyward_client::device_key::DeviceKey;
use keyward_client::idb::Database;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn verify(key: &DeviceKey, data: &[u8], signature: &[u8]) -> bool {
    let subtle = keyward_client::browser::subtle().unwrap();
    let params = web_sys::EcdsaParams::new_with_str("ECDSA", "SHA-256");
    let promise = subtle
        .verify_with_object_and_u8_array_and_u8_array(&params, key.public_key(), signature, data)
        .unwrap();
    JsFuture::from(promise).await.unwrap().as_bool().unwrap()
}

#[wasm_bindgen_test]
async fn a_non_extractable_device_key_survives_a_reload_from_indexeddb() {
    const DB: &str = "keyward-test-device-key";
    Database::delete_database(DB).await.unwrap();

    let created = {
        let db = Database::open(DB).await.unwrap();
        DeviceKey::load_or_create(&db).await.unwrap()
    }; // the connection closes here, as on a page reload

    let db = Database::open(DB).await.unwrap();
    let reloaded = DeviceKey::load_or_create(&db).await.unwrap();

    // The same key came back: a signature by the created key verifies with the reloaded one.
    let message = b"keyward device proof";
    let signature = created.sign(message).await.unwrap();
    assert_eq!(signature.len(), 64, "ES256 signatures are r || s");
    assert!(verify(&reloaded, message, &signature).await);
    assert!(!verify(&reloaded, b"another message", &signature).await);
    // Its public coordinates (the DPoP `jwk`) come back from the record as they were made.
    assert_eq!((reloaded.x(), reloaded.y()), (created.x(), created.y()));
    assert_eq!(created.x().len(), 43, "32 bytes, base64url");

    // A record stored before the coordinates were kept with it: they are exported again.
    let record = db.get("device_key").await.unwrap().unwrap();
    let older = js_sys::Object::new();
    for half in ["privateKey", "publicKey"] {
        let value = js_sys::Reflect::get(&record, &half.into()).unwrap();
        js_sys::Reflect::set(&older, &half.into(), &value).unwrap();
    }
    db.put("device_key", &older.into()).await.unwrap();
    let from_older = DeviceKey::load_or_create(&db).await.unwrap();
    assert_eq!((from_older.x(), from_older.y()), (created.x(), created.y()));
    assert!(verify(&from_older, message, &signature).await);

    // It is a P-256 ECDSA key whose private half cannot be read out.
    let private = reloaded.private_key();
    assert!(!private.extractable());
    let algorithm = private.algorithm().unwrap();
    let curve = js_sys::Reflect::get(&algorithm, &"namedCurve".into()).unwrap();
    assert_eq!(curve.as_string().as_deref(), Some("P-256"));
    let usages: Vec<String> = Array::from(&private.usages())
        .iter()
        .filter_map(|u| u.as_string())
        .collect();
    assert_eq!(usages, vec!["sign".to_owned()]);
    let subtle = keyward_client::browser::subtle().unwrap();
    let export = JsFuture::from(subtle.export_key("pkcs8", private).unwrap()).await;
    assert!(export.is_err(), "the private key must not be exportable");

    // The public half is exportable (the server learns it from the DPoP proof's `jwk`).
    let spki = JsFuture::from(subtle.export_key("spki", reloaded.public_key()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        Uint8Array::new(&spki).length(),
        91,
        "P-256 SubjectPublicKeyInfo"
    );
}

#[wasm_bindgen_test]
async fn a_fresh_database_gets_a_new_key_and_deleted_records_are_gone() {
    const DB: &str = "keyward-test-fresh";
    Database::delete_database(DB).await.unwrap();
    let db = Database::open(DB).await.unwrap();
    assert_eq!(db.get("device_key").await.unwrap(), None);

    let first = DeviceKey::load_or_create(&db).await.unwrap();
    db.delete("device_key").await.unwrap();
    let second = DeviceKey::load_or_create(&db).await.unwrap();

    let signature = first.sign(b"m").await.unwrap();
    assert!(
        !verify(&second, b"m", &signature).await,
        "a new key after the old one was lost"
    );
}

#[wasm_bindgen_test]
fn chromium_offers_every_api_the_client_uses() {
    let caps = Capabilities::detect();
    assert!(caps.web_crypto && caps.indexed_db && caps.broadcast_channel && caps.web_locks);
    assert!(caps.passkeys);
}

/// base64url-decodes with the browser's own `atob`, independently of the client's encoder.
fn unb64(part: &str) -> Vec<u8> {
    let padded = format!("{part}{}", "=".repeat((4 - part.len() % 4) % 4));
    let standard = padded.replace('-', "+").replace('_', "/");
    let atob = js_sys::Reflect::get(&js_sys::global(), &"atob".into()).unwrap();
    let binary = js_sys::Function::from(atob)
        .call1(&wasm_bindgen::JsValue::UNDEFINED, &standard.into())
        .unwrap()
        .as_string()
        .unwrap();
    binary.chars().map(|c| c as u8).collect()
}

#[wasm_bindgen_test]
async fn a_dpop_proof_carries_the_public_key_and_verifies_with_it() {
    use keyward_client::dpop::{Claims, proof};
    let key = DeviceKey::generate().await.unwrap();
    let text = proof(
        &key,
        Claims {
            method: "GET",
            url: "https://api.example.com/todos?page=2#top",
            access_token: Some("the.access.token"),
            nonce: Some("server-nonce"),
            issued_at: 1_800_000_000.7,
        },
    )
    .await
    .unwrap();
    let parts: Vec<&str> = text.split('.').collect();
    assert_eq!(parts.len(), 3);
    let json = |part: &str| -> serde_json::Value { serde_json::from_slice(&unb64(part)).unwrap() };
    let header = json(parts[0]);
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["jwk"]["x"], key.x());
    assert!(header["jwk"].get("d").is_none(), "never the private key");
    let claims = json(parts[1]);
    assert_eq!(claims["htm"], "GET");
    assert_eq!(claims["htu"], "https://api.example.com/todos");
    assert_eq!(claims["iat"], 1_800_000_000);
    assert_eq!(claims["nonce"], "server-nonce");
    // base64url(SHA-256("the.access.token")), computed with openssl.
    assert_eq!(claims["ath"], "R2a7yCsxS8BpCgk-2VRP3xHZJ8n6zSvOygTlU97Z9m0");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));

    let signed = format!("{}.{}", parts[0], parts[1]);
    assert!(verify(&key, signed.as_bytes(), &unb64(parts[2])).await);
}
