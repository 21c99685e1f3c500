//! Tokens as others see them: an independent JWT library verifies them from the JWKS alone;
//! concurrent refreshes with one token agree; the OpenAPI document describes every route.

use crate::common;

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;

#[tokio::test]
async fn an_independent_jwt_library_verifies_access_tokens_from_the_jwks() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let signed = sign_up(&keyward, "jwks@example.com").await;
    let token = access(&signed);

    let reply = send(&keyward, get("/.well-known/jwks.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let jwks: JwkSet = serde_json::from_value(reply.body).unwrap();

    let header = decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&["http://localhost:8787"]);
    validation.set_audience(&["http://localhost:8787"]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = decode::<Value>(&token, &key, &validation).unwrap().claims;
    assert_eq!(claims["sub"], signed["user"]["id"]);
    assert_eq!(claims["sid"], signed["session_id"]);
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 900);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    // The same library refuses a token whose payload was changed.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&serde_json::json!({"sub": "x"})).unwrap());
    parts[1] = &forged;
    assert!(decode::<Value>(&parts.join("."), &key, &validation).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_with_one_token_all_get_the_same_successor() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let signed = sign_up(&keyward, "tabs@example.com").await;
    let token = refresh_token(&signed);

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let keyward = keyward.clone();
            let token = token.clone();
            tokio::spawn(async move { refresh(&keyward, &token).await })
        })
        .collect();
    let mut successors = HashSet::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        successors.insert(
            reply.body["data"]["tokens"]["refresh_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(successors.len(), 1, "every tab got the same successor");

    // The session lives on: the successor refreshes, and the new access token works.
    let successor = successors.into_iter().next().unwrap();
    let next = refresh(&keyward, &successor).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    let access = next.body["data"]["tokens"]["access_token"]
        .as_str()
        .unwrap();
    let me = send(&keyward, authed(Method::GET, "/auth/me", access)).await;
    assert_eq!(me.status, StatusCode::OK);
    let rotations = keyward
        .store()
        .recent_audit(100, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "refresh")
        .count();
    assert_eq!(
        rotations, 2,
        "one rotation for the twenty, one for the next"
    );
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_describes_every_route() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let reply = send(&keyward, get("/auth/openapi.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, method) in [
        ("/auth/sign-up", "post"),
        ("/auth/sign-in", "post"),
        ("/auth/refresh", "post"),
        ("/auth/sign-out", "post"),
        ("/auth/me", "get"),
        ("/auth/sessions", "get"),
        ("/auth/sessions/{id}", "delete"),
        ("/.well-known/jwks.json", "get"),
        ("/healthz", "get"),
    ] {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is missing");
        for (status, response) in operation["responses"].as_object().unwrap() {
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{method} {path} {status} has no description"
            );
        }
    }
    let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
    assert!(
        codes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "refresh_token_reused"),
        "{codes}"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // The constraints the server checks are stated, so generated clients check them before
    // sending (the security review's finding 10; schemathesis holds the server to them).
    let schemas = &doc["components"]["schemas"];
    let sign_up = &schemas["SignUpRequest"]["properties"];
    assert_eq!(sign_up["email"]["format"], "email");
    assert_eq!(sign_up["email"]["maxLength"], 254);
    assert_eq!(sign_up["password"]["minLength"], 8);
    assert_eq!(sign_up["password"]["maxLength"], 1024);
    assert_eq!(sign_up["name"]["maxLength"], 200);
    assert!(sign_up["name"]["pattern"].is_string());
    assert_eq!(
        schemas["SignInRequest"]["properties"]["email"]["format"],
        "email"
    );
    assert_eq!(
        schemas["RenameDevice"]["properties"]["name"]["maxLength"],
        100
    );
    let register = &doc["paths"]["/auth/passkeys/register/verify"]["post"]["requestBody"];
    assert!(
        register.to_string().contains("RegistrationResponse"),
        "{register}"
    );
}
