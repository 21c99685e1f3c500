//! Keyward as an OpenID Connect provider (issue 22). So far: the clients an operator registers
//! through the admin API (the CLI's are in tests/cli.rs), and machine clients' tokens
//! (`client_credentials`), verified here with an independent JWT library.

#![cfg(feature = "oidc-provider")]

use crate::common;
mod rp;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use keyward_server::{Keyward, Settings, SmtpUrl};
use serde_json::{Value, json};

/// A server and an admin key for it.
async fn with_admin_key(settings: Settings) -> (Keyward, String) {
    let keyward = Keyward::start(settings).await.expect("the server starts");
    let (_, key) = keyward.create_admin_key("console").await.unwrap();
    (keyward, key)
}

async fn register(keyward: &Keyward, key: &str, body: &Value) -> Reply {
    let request = json_request(Method::POST, "/auth/admin/clients", Some(key), body);
    send(keyward, request).await
}

async fn clients(keyward: &Keyward, key: &str) -> Vec<Value> {
    let reply = send(keyward, authed(Method::GET, "/auth/admin/clients", key)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["data"]["clients"].as_array().unwrap().clone()
}

/// The `detail.client` of the newest audit events of `kind`, newest first.
async fn audited(keyward: &Keyward, key: &str, kind: &str) -> Vec<String> {
    let uri = format!("/auth/admin/audit?kind={kind}");
    let reply = send(keyward, authed(Method::GET, &uri, key)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"]["client"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn an_admin_registers_changes_and_deletes_clients() {
    let db = TestDb::new().await;
    let (keyward, key) = with_admin_key(db.settings()).await;
    let made = register(
        &keyward,
        &key,
        &json!({
            "name": "Admin console",
            "type": "confidential",
            // Kept exactly as given: a query, an explicit port, no trailing slash added.
            "redirect_uris": ["https://console.example.com:8443/callback?from=keyward"],
        }),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let client = &made.body["data"]["client"];
    let id = client["client_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("kwc_") && id.len() == 26, "{id}");
    let secret = made.body["data"]["client_secret"].as_str().unwrap();
    assert!(
        secret.starts_with("kwcs_") && secret.len() == 48,
        "{secret}"
    );
    assert_eq!(client["type"], "confidential");
    assert_eq!(
        client["redirect_uris"],
        json!(["https://console.example.com:8443/callback?from=keyward"])
    );
    assert_eq!(client["scopes"], json!(["openid", "email", "profile"]));
    assert_eq!(
        client["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(client["post_logout_redirect_uris"], json!([]));
    assert_eq!(client["skip_consent"], false);

    // Listed and read back, never with its secret.
    let listed = clients(&keyward, &key).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(&listed[0], client);
    let one = send(
        &keyward,
        authed(Method::GET, &format!("/auth/admin/clients/{id}"), &key),
    )
    .await;
    assert_eq!(&one.body["data"], client);
    assert!(!one.body.to_string().contains(secret));

    // A change replaces what it names, and keeps the rest.
    let changed = send(
        &keyward,
        json_request(
            Method::PATCH,
            &format!("/auth/admin/clients/{id}"),
            Some(&key),
            &json!({
                "redirect_uris": ["https://console.example.com/cb", "http://127.0.0.1:7777/cb"],
                "post_logout_redirect_uris": ["https://console.example.com/"],
                "scopes": ["openid", "org", "billing:read"],
                "skip_consent": true,
            }),
        ),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let now = &changed.body["data"];
    assert_eq!(now["name"], "Admin console");
    assert_eq!(
        now["redirect_uris"],
        json!(["https://console.example.com/cb", "http://127.0.0.1:7777/cb"])
    );
    assert_eq!(now["scopes"], json!(["openid", "org", "billing:read"]));
    assert_eq!(now["skip_consent"], true);
    assert_eq!(clients(&keyward, &key).await[0], *now);

    // Deleted: gone from the list, and its id unknown.
    let deleted = send(
        &keyward,
        authed(Method::DELETE, &format!("/auth/admin/clients/{id}"), &key),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(clients(&keyward, &key).await.is_empty());
    for method in [Method::GET, Method::DELETE] {
        let again = send(
            &keyward,
            authed(method, &format!("/auth/admin/clients/{id}"), &key),
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
        assert_eq!(again.code(), "not_found");
    }

    // A change's audit event says what changed, from what to what.
    let uri = "/auth/admin/audit?kind=oidc_client_updated";
    let event =
        send(&keyward, authed(Method::GET, uri, &key)).await.body["data"]["events"][0].clone();
    let changes = &event["detail"]["changes"];
    assert_eq!(
        changes["skip_consent"],
        json!({ "from": false, "to": true })
    );
    assert_eq!(
        changes["redirect_uris"]["from"],
        json!(["https://console.example.com:8443/callback?from=keyward"])
    );
    assert!(changes.get("name").is_none(), "{changes}");

    // Each change is audited, naming the client.
    for kind in [
        "oidc_client_created",
        "oidc_client_updated",
        "oidc_client_deleted",
    ] {
        assert_eq!(audited(&keyward, &key, kind).await, [id.as_str()], "{kind}");
    }
}

#[tokio::test]
async fn secrets_rotate_with_a_days_overlap_or_at_once() {
    let db = TestDb::new().await;
    let (keyward, key) = with_admin_key(db.settings()).await;
    let made = register(
        &keyward,
        &key,
        &json!({
            "name": "Billing",
            "type": "confidential",
            "grant_types": ["client_credentials"],
            "audience": "https://billing.example.com",
            "scopes": ["invoices:read"],
        }),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    // A machine client: no redirect URIs, no OpenID Connect scopes by default.
    assert_eq!(made.body["data"]["client"]["redirect_uris"], json!([]));
    let id = made.body["data"]["client"]["client_id"].as_str().unwrap();
    let first = made.body["data"]["client_secret"].as_str().unwrap();
    let rotate = format!("/auth/admin/clients/{id}/rotate-secret");

    // Without a body: the previous secret is accepted for a day more.
    let rotated = send(&keyward, authed(Method::POST, &rotate, &key)).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let second = rotated.body["data"]["client_secret"].as_str().unwrap();
    assert!(second.starts_with("kwcs_") && second != first);
    let until = rotated.body["data"]["client"]["previous_secret_until"]
        .as_str()
        .unwrap();
    let until = keyward_server::Timestamp::parse_rfc3339(until).unwrap();
    #[allow(clippy::disallowed_methods)] // the test's own clock, beside the server's
    let day = keyward_server::Timestamp::now().plus(std::time::Duration::from_secs(24 * 3600));
    let gap = if until > day {
        day.until(until)
    } else {
        until.until(day)
    };
    assert!(gap < std::time::Duration::from_secs(60), "{until}");

    // `now`: the previous one is refused at once.
    let rotated = send(
        &keyward,
        json_request(Method::POST, &rotate, Some(&key), &json!({ "now": true })),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    assert!(rotated.body["data"]["client"]["previous_secret_until"].is_null());
    assert_eq!(
        audited(&keyward, &key, "oidc_client_secret_rotated").await,
        [id, id]
    );

    // A public client has none to rotate.
    let public = register(
        &keyward,
        &key,
        &json!({
            "name": "Mobile",
            "type": "public",
            "redirect_uris": ["http://localhost:4000/callback"],
        }),
    )
    .await;
    assert_eq!(public.status, StatusCode::CREATED, "{:?}", public.body);
    assert!(public.body["data"]["client_secret"].is_null());
    let public_id = public.body["data"]["client"]["client_id"].as_str().unwrap();
    let refused = send(
        &keyward,
        authed(
            Method::POST,
            &format!("/auth/admin/clients/{public_id}/rotate-secret"),
            &key,
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.code(), "invalid_request");
}

#[tokio::test]
async fn registrations_that_would_be_unsafe_are_refused_and_change_nothing() {
    let db = TestDb::new().await;
    let settings = Settings {
        production: true,
        issuer: "https://auth.example.com".into(),
        allowed_origins: vec!["https://auth.example.com".into()],
        // Production needs one; nothing here sends mail.
        smtp_url: Some(SmtpUrl("smtps://mail.example.com:465".into())),
        ..db.settings()
    };
    let (keyward, key) = with_admin_key(settings).await;
    let good = json!({
        "name": "Shop",
        "type": "confidential",
        "redirect_uris": ["https://shop.example.com/callback"],
    });
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let refused = [
        // The consent page shows the name: a right-to-left override would make "Shop\u{202e}lave"
        // read as another app's name there.
        (
            "an invisible override",
            with("name", json!("Shop\u{202e}lave")),
        ),
        ("a blank name", with("name", json!(" "))),
        (
            "a fragment",
            with("redirect_uris", json!(["https://shop.example.com/cb#x"])),
        ),
        (
            "a wildcard",
            with("redirect_uris", json!(["https://*.example.com/cb"])),
        ),
        (
            "http in production",
            with("redirect_uris", json!(["http://shop.example.com/cb"])),
        ),
        (
            "another scheme",
            with("redirect_uris", json!(["javascript:alert(1)"])),
        ),
        (
            "a relative URI",
            with("redirect_uris", json!(["/callback"])),
        ),
        (
            "spaces around",
            with("redirect_uris", json!([" https://shop.example.com/cb"])),
        ),
        (
            "credentials",
            with("redirect_uris", json!(["https://u:p@shop.example.com/cb"])),
        ),
        (
            "a control character",
            with("redirect_uris", json!(["https://shop.example.com/c\tb"])),
        ),
        (
            "a space inside",
            with("redirect_uris", json!(["https://shop.example.com/c b"])),
        ),
        ("no redirect URI", with("redirect_uris", json!([]))),
        (
            "eleven redirect URIs",
            with(
                "redirect_uris",
                json!(
                    (0..11)
                        .map(|n| format!("https://shop.example.com/{n}"))
                        .collect::<Vec<_>>()
                ),
            ),
        ),
        (
            "an unsafe post-logout URI",
            with(
                "post_logout_redirect_uris",
                json!(["http://evil.example.com/"]),
            ),
        ),
        (
            "the implicit grant",
            with("grant_types", json!(["implicit"])),
        ),
        (
            "the password grant",
            with("grant_types", json!(["password"])),
        ),
        (
            "refresh alone",
            with("grant_types", json!(["refresh_token"])),
        ),
        ("no grant", with("grant_types", json!([]))),
        (
            "client credentials without an audience",
            with(
                "grant_types",
                json!(["authorization_code", "client_credentials"]),
            ),
        ),
        (
            "the issuer as audience",
            with("audience", json!("https://auth.example.com/")),
        ),
        (
            "the userinfo endpoint as audience",
            with(
                "audience",
                json!("https://auth.example.com/auth/oidc/userinfo"),
            ),
        ),
        (
            "a scope with a space",
            with("scopes", json!(["openid email"])),
        ),
        ("a scope with a quote", with("scopes", json!(["a\"b"]))),
        ("an empty name", with("name", json!("  "))),
        ("a name too long", with("name", json!("x".repeat(101)))),
        ("an unknown type", with("type", json!("trusted"))),
        ("an unknown field", with("client_secret", json!("mine"))),
    ];
    for (what, body) in &refused {
        let reply = register(&keyward, &key, body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{what}: {:?}",
            reply.body
        );
        assert_eq!(reply.code(), "invalid_request", "{what}");
    }
    // A public client cannot use client credentials, whatever it names.
    let public = json!({
        "name": "SPA",
        "type": "public",
        "grant_types": ["client_credentials"],
        "audience": "https://api.example.com",
    });
    let reply = register(&keyward, &key, &public).await;
    assert_eq!(reply.code(), "invalid_request", "{:?}", reply.body);
    assert!(clients(&keyward, &key).await.is_empty());

    // Loopback http is fine in production (native apps and CLIs listen there).
    let made = register(
        &keyward,
        &key,
        &with(
            "redirect_uris",
            json!([
                "http://127.0.0.1:53682/cb",
                "http://[::1]:53682/cb",
                "http://localhost/cb"
            ]),
        ),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let client = made.body["data"]["client"].clone();
    let id = client["client_id"].as_str().unwrap();

    // A change is checked with the rest of the registration, and a refused one changes nothing.
    let patch = |body: Value| {
        json_request(
            Method::PATCH,
            &format!("/auth/admin/clients/{id}"),
            Some(&key),
            &body,
        )
    };
    for (what, body) in [
        ("nothing", json!({})),
        (
            "an unsafe URI",
            json!({ "redirect_uris": ["https://x.example.com/#frag"] }),
        ),
        // Machine-only while it keeps redirect URIs.
        (
            "a grant that clashes",
            json!({ "grant_types": ["client_credentials"], "audience": "https://api.example.com" }),
        ),
        ("its type", json!({ "type": "public" })),
        (
            "an own audience",
            json!({ "audience": "https://auth.example.com" }),
        ),
    ] {
        let reply = send(&keyward, patch(body)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{what}: {:?}",
            reply.body
        );
        assert_eq!(reply.code(), "invalid_request", "{what}");
    }
    assert_eq!(clients(&keyward, &key).await, [client]);
    assert!(
        audited(&keyward, &key, "oidc_client_updated")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn ids_that_are_not_client_ids_are_simply_not_found() {
    let db = TestDb::new().await;
    let (keyward, key) = with_admin_key(db.settings()).await;
    for id in ["kwc_%00AAAAAAAAAAAAAAAAAAAAA", "nope", "kwc_", "%E2%80%AE"] {
        for method in [Method::GET, Method::DELETE, Method::PATCH] {
            let uri = format!("/auth/admin/clients/{id}");
            let request = json_request(method.clone(), &uri, Some(&key), &json!({ "name": "x" }));
            let reply = send(&keyward, request).await;
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "{method} {id}: {:?}",
                reply.body
            );
        }
    }
}

#[tokio::test]
async fn only_admins_manage_clients() {
    let db = TestDb::new().await;
    let (keyward, key) = with_admin_key(db.settings()).await;
    let user = sign_up(&keyward, "someone@example.com").await;
    let token = access(&user);
    let body = json!({
        "name": "Mine",
        "type": "public",
        "redirect_uris": ["https://mine.example.com/cb"],
    });
    for presented in [None, Some(token.as_str())] {
        let request = json_request(Method::POST, "/auth/admin/clients", presented, &body);
        let reply = send(&keyward, request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:?}", reply.body);
    }
    assert!(clients(&keyward, &key).await.is_empty());
}

/// The `client_id` and secret of a registration's answer.
fn id_and_secret(made: &Reply) -> (String, String) {
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let data = &made.body["data"];
    let id = data["client"]["client_id"].as_str().unwrap();
    (
        id.to_owned(),
        data["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// A server that is an OpenID Connect provider, with an admin key.
async fn provider(db: &TestDb) -> (Keyward, String) {
    with_admin_key(Settings {
        oidc_provider: true,
        ..db.settings()
    })
    .await
}

/// A machine client (`client_credentials`) for `https://api.example.com`: its id and secret.
async fn machine_client(keyward: &Keyward, key: &str) -> (String, String) {
    let made = register(
        keyward,
        key,
        &json!({
            "name": "Invoicing robot",
            "type": "confidential",
            "grant_types": ["client_credentials"],
            "audience": "https://api.example.com",
            "scopes": ["invoices:read", "invoices:write"],
        }),
    )
    .await;
    id_and_secret(&made)
}

/// `POST /auth/oidc/token` with `form` (already encoded), HTTP Basic `basic` and a DPoP proof
/// when given.
fn token_request(form: &str, basic: Option<(&str, &str)>, proof: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/auth/oidc/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let credentials = STANDARD.encode(format!("{id}:{secret}"));
        request = request.header(header::AUTHORIZATION, format!("Basic {credentials}"));
    }
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    request.body(Body::from(form.to_owned())).unwrap()
}

/// A `client_credentials` token request with HTTP Basic: the answer.
async fn machine_token(keyward: &Keyward, id: &str, secret: &str) -> Reply {
    let request = token_request("grant_type=client_credentials", Some((id, secret)), None);
    send(keyward, request).await
}

/// The claims of `token`, verified with `jsonwebtoken` from the JWKS for `audience`.
async fn verified(keyward: &Keyward, token: &str, audience: &str) -> Value {
    let jwks: JwkSet =
        serde_json::from_value(send(keyward, get("/.well-known/jwks.json")).await.body).unwrap();
    let header = decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&keyward.settings().issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    decode::<Value>(token, &key, &validation).unwrap().claims
}

#[tokio::test]
async fn a_machine_client_gets_a_token_for_its_api() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (id, secret) = machine_client(&keyward, &key).await;

    // HTTP Basic (client_secret_basic), every scope of the client by default.
    let reply = machine_token(&keyward, &id, &secret).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 900);
    assert_eq!(reply.body["scope"], "invoices:read invoices:write");
    assert!(reply.body.get("refresh_token").is_none());
    let token = reply.body["access_token"].as_str().unwrap();
    let claims = verified(&keyward, token, "https://api.example.com").await;
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["aud"], json!(["https://api.example.com"]));
    assert_eq!(claims["scope"], "invoices:read invoices:write");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert!(claims.get("sid").is_none() && claims.get("amr").is_none());

    // A parameter without a value is one left out (RFC 6749 §3.1): every scope again.
    let form =
        format!("grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=");
    let reply = send(&keyward, token_request(&form, None, None)).await;
    assert_eq!(
        reply.body["scope"], "invoices:read invoices:write",
        "{:?}",
        reply.body
    );

    // The form (client_secret_post), with fewer scopes, asked for in any order.
    let form = format!(
        "grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=invoices%3Aread"
    );
    let reply = send(&keyward, token_request(&form, None, None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["scope"], "invoices:read");
    let claims = verified(
        &keyward,
        reply.body["access_token"].as_str().unwrap(),
        "https://api.example.com",
    )
    .await;
    assert_eq!(claims["scope"], "invoices:read");

    // Each token is audited, naming the client.
    assert_eq!(
        audited(&keyward, &key, "oidc_client_token").await,
        [id.as_str(), id.as_str(), id.as_str()]
    );
}

#[tokio::test]
async fn a_machine_token_is_never_a_users_token() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (id, secret) = machine_client(&keyward, &key).await;
    let reply = machine_token(&keyward, &id, &secret).await;
    let token = reply.body["access_token"].as_str().unwrap().to_owned();

    for (method, uri) in [
        (Method::GET, "/auth/me"),
        (Method::GET, "/auth/sessions"),
        (Method::GET, "/auth/admin/users"),
        (Method::POST, "/auth/connect-ticket"),
    ] {
        let reply = send(&keyward, authed(method, uri, &token)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{uri}: {:?}",
            reply.body
        );
    }
    assert!(keyward.verify_access_token(&token).await.is_err());
    let (_, server_key) = keyward.create_server_key("api in go").await.unwrap();
    let introspected = send(
        &keyward,
        json_request(
            Method::POST,
            "/auth/introspect",
            Some(&server_key),
            &json!({ "token": token }),
        ),
    )
    .await;
    assert_eq!(introspected.status, StatusCode::OK);
    assert_eq!(introspected.body["active"], false);
}

#[tokio::test]
async fn token_requests_are_refused_in_oauths_words() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (id, secret) = machine_client(&keyward, &key).await;
    let web = register(
        &keyward,
        &key,
        &json!({
            "name": "Web app",
            "type": "confidential",
            "redirect_uris": ["https://web.example.com/cb"],
        }),
    )
    .await;
    let web_id = web.body["data"]["client"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let web_secret = web.body["data"]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let spa = register(
        &keyward,
        &key,
        &json!({ "name": "SPA", "type": "public", "redirect_uris": ["https://spa.example.com/cb"] }),
    )
    .await;
    let spa_id = spa.body["data"]["client"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let cc = "grant_type=client_credentials";
    let with_secret = format!("{cc}&client_id={id}&client_secret={secret}");
    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "a wrong secret (Basic)",
            token_request(cc, Some((&id, "kwcs_wrong")), None),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "a wrong secret (form)",
            token_request(
                &format!("{cc}&client_id={id}&client_secret=kwcs_wrong"),
                None,
                None,
            ),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "an unknown client",
            token_request(cc, Some(("kwc_nobody", &secret)), None),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "a well-formed unknown client",
            token_request(cc, Some(("kwc_AAAAAAAAAAAAAAAAAAAAAA", &secret)), None),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "no client at all",
            token_request(cc, None, None),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "a malformed Basic header",
            {
                let mut request = token_request(cc, None, None);
                let value = "Basic not-base64!".parse().unwrap();
                request.headers_mut().insert(header::AUTHORIZATION, value);
                request
            },
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "a public client",
            token_request(&format!("{cc}&client_id={spa_id}"), None, None),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "a client without the grant",
            token_request(cc, Some((&web_id, &web_secret)), None),
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            "a user's scope",
            token_request(&format!("{with_secret}&scope=openid"), None, None),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "a scope it lacks",
            token_request(&format!("{with_secret}&scope=payroll:read"), None, None),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "the password grant",
            token_request(
                &format!("grant_type=password&client_id={id}&client_secret={secret}"),
                None,
                None,
            ),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "no grant",
            token_request(
                &format!("client_id={id}&client_secret={secret}"),
                None,
                None,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "a parameter twice",
            token_request(
                &format!("{with_secret}&scope=invoices:read&scope=invoices:write"),
                None,
                None,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "two ways to authenticate",
            token_request(&with_secret, Some((&id, &secret)), None),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "JSON",
            json_request(
                Method::POST,
                "/auth/oidc/token",
                None,
                &json!({ "grant_type": "client_credentials" }),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (what, request, status, error) in cases {
        let basic = request
            .headers()
            .get(header::AUTHORIZATION)
            .is_some_and(|v| v.to_str().unwrap().starts_with("Basic"));
        let reply = send(&keyward, request).await;
        assert_eq!(reply.status, status, "{what}: {:?}", reply.body);
        assert_eq!(reply.body["error"], error, "{what}");
        assert!(reply.body["error_description"].is_string(), "{what}");
        assert_eq!(reply.headers["cache-control"], "no-store", "{what}");
        // RFC 6749 §5.2: a client that tried Basic is challenged to use it.
        assert_eq!(
            reply.headers.contains_key(header::WWW_AUTHENTICATE),
            basic && error == "invalid_client",
            "{what}"
        );
    }
    // No token was audited; each secret that failed was (a request with none guessed nothing).
    assert!(
        audited(&keyward, &key, "oidc_client_token")
            .await
            .is_empty()
    );
    assert_eq!(
        audited(&keyward, &key, "oidc_client_auth_failed").await,
        [
            "kwc_AAAAAAAAAAAAAAAAAAAAAA",
            "(not a client id)",
            id.as_str(),
            id.as_str()
        ]
    );

    // With the provider off, the endpoint is not there.
    let off = with_admin_key(db.settings()).await.0;
    let reply = send(&off, token_request(cc, Some((&id, &secret)), None)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.code(), "not_found");
}

#[tokio::test]
async fn guessing_secrets_from_one_address_is_slowed_but_the_right_secret_still_works() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (id, secret) = machine_client(&keyward, &key).await;
    let cc = "grant_type=client_credentials";
    for n in 0..10 {
        let wrong = format!("kwcs_guess{n}");
        let reply = send(&keyward, token_request(cc, Some((&id, &wrong)), None)).await;
        assert_eq!(reply.body["error"], "invalid_client");
    }
    // Past ten failures from this address, the next is refused without a look (nor an audit
    // row), for the rest of the window.
    let reply = send(
        &keyward,
        token_request(cc, Some((&id, "kwcs_guess10")), None),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        reply.body
    );
    assert_eq!(reply.body["error"], "rate_limited");
    let retry: u64 = reply.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry), "{retry}");
    assert_eq!(
        audited(&keyward, &key, "oidc_client_auth_failed")
            .await
            .len(),
        10
    );
    // Anyone can name a client: its own right secret, from the same address, still works.
    let reply = machine_token(&keyward, &id, &secret).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

#[tokio::test]
async fn rotated_secrets_overlap_for_a_day_or_end_at_once_and_deleted_clients_get_nothing() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (id, first) = machine_client(&keyward, &key).await;
    let cc = "grant_type=client_credentials";
    let status = |secret: String| {
        let keyward = keyward.clone();
        let id = id.clone();
        async move {
            send(&keyward, token_request(cc, Some((&id, &secret)), None))
                .await
                .status
        }
    };
    let rotate = |body: Value| {
        json_request(
            Method::POST,
            &format!("/auth/admin/clients/{id}/rotate-secret"),
            Some(&key),
            &body,
        )
    };
    let second = send(&keyward, rotate(json!({}))).await.body["data"]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(status(first.clone()).await, StatusCode::OK);
    assert_eq!(status(second.clone()).await, StatusCode::OK);

    let third = send(&keyward, rotate(json!({ "now": true }))).await.body["data"]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(status(first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(third.clone()).await, StatusCode::OK);

    let deleted = send(
        &keyward,
        authed(Method::DELETE, &format!("/auth/admin/clients/{id}"), &key),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(status(third).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_asked_for_with_a_dpop_proof_is_bound_to_its_key() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (id, secret) = machine_client(&keyward, &key).await;
    let device = TestDevice::new();
    let proof = device.proof("POST", "/auth/oidc/token", None);
    let cc = "grant_type=client_credentials";
    let reply = send(
        &keyward,
        token_request(cc, Some((&id, &secret)), Some(&proof)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["token_type"], "DPoP");
    let claims = verified(
        &keyward,
        reply.body["access_token"].as_str().unwrap(),
        "https://api.example.com",
    )
    .await;
    assert_eq!(claims["cnf"]["jkt"], device.jkt());

    // The same proof again, or one for another URL, is refused.
    let elsewhere = device.proof("POST", "/auth/refresh", None);
    for (what, proof) in [("replayed", proof), ("for another URL", elsewhere)] {
        let reply = send(
            &keyward,
            token_request(cc, Some((&id, &secret)), Some(&proof)),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{what}: {:?}",
            reply.body
        );
        assert_eq!(reply.body["error"], "invalid_dpop_proof", "{what}");
    }
}

/// A browser on the provider's pages: its one cookie, and every answer raw (pages are HTML).
struct Browser {
    keyward: Keyward,
    cookie: Option<String>,
    /// The `Origin` of its form posts: the provider's own.
    origin: String,
}

/// An answer as it came: status, `Location`, body.
struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Page {
    /// The value of the hidden input `name`.
    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} in {}", self.body));
        let rest = &self.body[start + marker.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Browser {
    fn new(keyward: &Keyward) -> Self {
        Self {
            keyward: keyward.clone(),
            cookie: None,
            origin: keyward.settings().issuer.clone(),
        }
    }

    async fn go(&mut self, request: Request<Body>) -> Page {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let mut request = request;
        if let Some(cookie) = &self.cookie {
            request
                .headers_mut()
                .insert(header::COOKIE, cookie.parse().unwrap());
        }
        let response = self.keyward.router().oneshot(request).await.unwrap();
        if let Some(set) = response.headers().get(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=Lax"),
                "{set}"
            );
            self.cookie = Some(set.split(';').next().unwrap().to_owned());
        }
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&mut self, uri: &str) -> Page {
        self.go(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// A form POST from `origin`.
    async fn post_from(&mut self, origin: &str, uri: &str, form: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, origin)
            .body(Body::from(body))
            .unwrap();
        self.go(request).await
    }

    async fn post(&mut self, uri: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.origin.clone();
        self.post_from(&origin, uri, form).await
    }
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    use sha2::Digest as _;
    let verifier = format!("v-{}", "x".repeat(50));
    let challenge = b64(&sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A web app that signs its users in: its id and secret.
async fn web_client(keyward: &Keyward, key: &str) -> (String, String) {
    let made = register(
        keyward,
        key,
        &json!({
            "name": "Reports <app>",
            "type": "confidential",
            "redirect_uris": ["https://rp.example.com/cb"],
            "audience": "https://reports.example.com/api",
        }),
    )
    .await;
    id_and_secret(&made)
}

fn authorize_uri(client_id: &str, redirect_uri: &str, extra: &str) -> String {
    let redirect =
        url::form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect::<String>();
    format!(
        "/auth/oidc/authorize?client_id={client_id}&redirect_uri={redirect}&response_type=code\
         &scope=openid%20email%20profile&state=st4te{extra}"
    )
}

/// The query parameter `name` of `url`.
fn query_of(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Signs in on the provider's page from `sign_in` (its URL) and allows the client: the URL the
/// browser is sent back to.
async fn sign_in_and_allow(browser: &mut Browser, sign_in: &str, email: &str) -> String {
    let form = browser.get(sign_in).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let (req, csrf) = (form.hidden("req"), form.hidden("csrf"));
    let signed = browser
        .post(
            "/auth/oidc/sign-in",
            &[
                ("req", &req),
                ("csrf", &csrf),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let next = signed.location.unwrap();
    // Consent is remembered: once given, the sign-in goes straight back.
    if !next.starts_with("/auth/oidc/consent?req=") {
        return next;
    }
    allow(browser, &next).await
}

/// The browser goes to `authorize` (a path on the provider) and is sent back to the app, signing
/// in as `email` and allowing the app when asked: where it is sent back to.
async fn through_the_pages(browser: &mut Browser, authorize: &str, email: &str) -> String {
    let start = browser.get(authorize).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let next = start.location.unwrap();
    if next.starts_with("/auth/oidc/sign-in") {
        sign_in_and_allow(browser, &next, email).await
    } else {
        next
    }
}

/// Allows the client on the consent page at `consent_uri`: the URL the browser is sent back to.
async fn allow(browser: &mut Browser, consent_uri: &str) -> String {
    let consent = browser.get(consent_uri).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    // The client's name is shown as text, never as markup.
    assert!(
        consent.body.contains("Reports &lt;app&gt;"),
        "{}",
        consent.body
    );
    let allowed = browser
        .post(
            "/auth/oidc/consent",
            &[
                ("req", &consent.hidden("req")),
                ("csrf", &consent.hidden("csrf")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::SEE_OTHER, "{}", allowed.body);
    allowed.location.unwrap()
}

#[tokio::test]
async fn a_second_app_signs_a_user_in_with_a_code_and_pkce() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (client_id, secret) = web_client(&keyward, &key).await;
    let user = sign_up(&keyward, "alice@example.com").await;
    let user_id = user["user"]["id"].as_str().unwrap().to_owned();
    let (verifier, challenge) = pkce();

    // Discovery names the endpoints.
    let discovered = send(&keyward, get("/.well-known/openid-configuration")).await;
    assert_eq!(discovered.status, StatusCode::OK);
    assert_eq!(discovered.body["issuer"], "http://localhost:8787");
    assert_eq!(
        discovered.body["authorization_endpoint"],
        "http://localhost:8787/auth/oidc/authorize"
    );
    assert_eq!(
        discovered.body["code_challenge_methods_supported"],
        json!(["S256"])
    );

    let mut browser = Browser::new(&keyward);
    let extra = format!("&nonce=n0nce&code_challenge={challenge}&code_challenge_method=S256");
    let start = browser
        .get(&authorize_uri(
            &client_id,
            "https://rp.example.com/cb",
            &extra,
        ))
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let sign_in_page = start.location.unwrap();
    assert!(
        sign_in_page.starts_with("/auth/oidc/sign-in?req="),
        "{sign_in_page}"
    );
    let back = sign_in_and_allow(&mut browser, &sign_in_page, "alice@example.com").await;
    assert!(
        back.starts_with("https://rp.example.com/cb?code="),
        "{back}"
    );
    assert_eq!(query_of(&back, "state").as_deref(), Some("st4te"));
    assert_eq!(
        query_of(&back, "iss").as_deref(),
        Some("http://localhost:8787")
    );
    let code = query_of(&back, "code").unwrap();

    // The exchange: tokens for the client.
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb\
         &code_verifier={verifier}"
    );
    let tokens = send(
        &keyward,
        token_request(&form, Some((&client_id, &secret)), None),
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["scope"], "openid email profile");
    let access = tokens.body["access_token"].as_str().unwrap().to_owned();
    let id_token = tokens.body["id_token"].as_str().unwrap();

    // The ID token, verified with an independent library from the JWKS.
    let jwks: JwkSet =
        serde_json::from_value(send(&keyward, get("/.well-known/jwks.json")).await.body).unwrap();
    let header = decode_header(id_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let verifying = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&keyward.settings().issuer]);
    validation.set_audience(&[client_id.as_str()]);
    let claims = decode::<Value>(id_token, &verifying, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["azp"], client_id.as_str());
    assert_eq!(claims["amr"], json!(["pwd"]));
    {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(access.as_bytes());
        assert_eq!(claims["at_hash"], b64(&digest[..16]));
    }
    // The access token is for the client's API and userinfo.
    let access_claims = verified(&keyward, &access, "https://reports.example.com/api").await;
    assert_eq!(access_claims["client_id"], client_id.as_str());
    assert_eq!(access_claims["sub"], user_id.as_str());

    // Userinfo answers what the scopes allow.
    let info = send(
        &keyward,
        authed(Method::GET, "/auth/oidc/userinfo", &access),
    )
    .await;
    assert_eq!(info.status, StatusCode::OK, "{:?}", info.body);
    assert_eq!(info.body["sub"], user_id.as_str());
    assert_eq!(info.body["email"], "alice@example.com");
    // It is never a user's own token here, nor a user's token there.
    let me = send(&keyward, authed(Method::GET, "/auth/me", &access)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let own = send(
        &keyward,
        authed(Method::GET, "/auth/oidc/userinfo", &access_of(&user)),
    )
    .await;
    assert_eq!(own.status, StatusCode::UNAUTHORIZED);
    assert_eq!(own.body["error"], "invalid_token");
    // The grant is not one of the user's sessions.
    let sessions = send(
        &keyward,
        authed(Method::GET, "/auth/sessions", &access_of(&user)),
    )
    .await;
    let listed = sessions.body["data"]["sessions"].as_array().unwrap().len();
    assert_eq!(
        listed, 2,
        "the app's and the provider page's: {:?}",
        sessions.body
    );

    // The same code again: refused, and what it issued is revoked.
    let again = send(
        &keyward,
        token_request(&form, Some((&client_id, &secret)), None),
    )
    .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body["error"], "invalid_grant");
    let info = send(
        &keyward,
        authed(Method::GET, "/auth/oidc/userinfo", &access),
    )
    .await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED, "{:?}", info.body);
    assert_eq!(
        audited(&keyward, &key, "oidc_code_replayed").await,
        [client_id.as_str()]
    );

    // Signed in at the provider, consent given: the next authorization goes straight back.
    let next = browser
        .get(&authorize_uri(
            &client_id,
            "https://rp.example.com/cb",
            &extra,
        ))
        .await;
    let next = next.location.unwrap();
    assert!(
        next.starts_with("https://rp.example.com/cb?code="),
        "{next}"
    );
}

/// The first-party access token of a sign-up or sign-in answer.
fn access_of(data: &Value) -> String {
    access(data)
}

#[tokio::test]
async fn authorization_requests_that_are_not_right_are_refused() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (client_id, _) = web_client(&keyward, &key).await;
    let spa = register(
        &keyward,
        &key,
        &json!({ "name": "SPA", "type": "public", "redirect_uris": ["https://spa.example.com/cb"] }),
    )
    .await;
    let spa_id = spa.body["data"]["client"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut browser = Browser::new(&keyward);

    // Never a redirect to an address the client did not register, byte for byte.
    for redirect in [
        "https://rp.example.com/cb/",
        "https://RP.example.com/cb",
        "https://rp.example.com/cb?x=1",
        "http://rp.example.com/cb",
        "https://evil.example.com/cb",
    ] {
        let page = browser.get(&authorize_uri(&client_id, redirect, "")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{redirect}");
        assert!(page.location.is_none(), "{redirect}");
    }
    let page = browser
        .get(&authorize_uri(
            "kwc_AAAAAAAAAAAAAAAAAAAAAA",
            "https://rp.example.com/cb",
            "",
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.location.is_none());

    // The rest go back to the client, with its state and the issuer.
    let (_, challenge) = pkce();
    for (what, uri, error) in [
        (
            "the implicit flow",
            authorize_uri(&client_id, "https://rp.example.com/cb", "")
                .replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            "a public client without PKCE",
            authorize_uri(&spa_id, "https://spa.example.com/cb", ""),
            "invalid_request",
        ),
        (
            "plain PKCE",
            authorize_uri(
                &spa_id,
                "https://spa.example.com/cb",
                &format!("&code_challenge={challenge}&code_challenge_method=plain"),
            ),
            "invalid_request",
        ),
        (
            "a scope the client lacks",
            authorize_uri(&client_id, "https://rp.example.com/cb", "")
                .replace("scope=openid", "scope=admin%20openid"),
            "invalid_scope",
        ),
        (
            "prompt=none while signed out",
            authorize_uri(&client_id, "https://rp.example.com/cb", "&prompt=none"),
            "login_required",
        ),
    ] {
        let page = browser.get(&uri).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{what}: {}", page.body);
        let location = page.location.unwrap();
        assert_eq!(
            query_of(&location, "error").as_deref(),
            Some(error),
            "{what}: {location}"
        );
        assert_eq!(
            query_of(&location, "state").as_deref(),
            Some("st4te"),
            "{what}"
        );
        assert_eq!(
            query_of(&location, "iss").as_deref(),
            Some("http://localhost:8787"),
            "{what}"
        );
    }
}

#[tokio::test]
async fn codes_are_bound_to_their_verifier_and_forms_to_this_site() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (client_id, secret) = web_client(&keyward, &key).await;
    sign_up(&keyward, "bob@example.com").await;
    let (verifier, challenge) = pkce();
    let extra = format!("&code_challenge={challenge}&code_challenge_method=S256");
    let mut browser = Browser::new(&keyward);
    let start = browser
        .get(&authorize_uri(
            &client_id,
            "https://rp.example.com/cb",
            &extra,
        ))
        .await;
    let sign_in_page = start.location.unwrap();

    // A sign-in form posted from another site, or without its token, is refused.
    let form = browser.get(&sign_in_page).await;
    let (req, csrf) = (form.hidden("req"), form.hidden("csrf"));
    let fields = [
        ("req", req.as_str()),
        ("csrf", csrf.as_str()),
        ("email", "bob@example.com"),
        ("password", PASSWORD),
    ];
    let cross = browser
        .post_from("https://evil.example.com", "/auth/oidc/sign-in", &fields)
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let forged = browser
        .post(
            "/auth/oidc/sign-in",
            &[
                ("req", &req),
                ("csrf", "forged"),
                ("email", "bob@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(browser.cookie.is_none());
    // A wrong password is said on the page, and signs nobody in.
    let wrong = browser
        .post(
            "/auth/oidc/sign-in",
            &[
                ("req", &req),
                ("csrf", &csrf),
                ("email", "bob@example.com"),
                ("password", "wrong password!"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("not right"), "{}", wrong.body);
    assert!(browser.cookie.is_none());

    let back = sign_in_and_allow(&mut browser, &sign_in_page, "bob@example.com").await;
    let code = query_of(&back, "code").unwrap();
    let exchange = |verifier: &str| {
        format!(
            "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb\
             &code_verifier={verifier}"
        )
    };
    // A wrong verifier spends the code: the right one then gets nothing either.
    let wrong = format!("w-{}", "y".repeat(50));
    for verifier in [wrong.as_str(), verifier.as_str()] {
        let reply = send(
            &keyward,
            token_request(&exchange(verifier), Some((&client_id, &secret)), None),
        )
        .await;
        assert_eq!(reply.body["error"], "invalid_grant", "{:?}", reply.body);
    }

    // A consent posted from another site is refused.
    let extra = format!("{extra}&prompt=consent");
    let start = browser
        .get(&authorize_uri(
            &client_id,
            "https://rp.example.com/cb",
            &extra,
        ))
        .await;
    let consent = browser.get(&start.location.unwrap()).await;
    let fields = [
        ("req", consent.hidden("req")),
        ("csrf", consent.hidden("csrf")),
        ("decision", "allow".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cross = browser
        .post_from("https://evil.example.com", "/auth/oidc/consent", &fields)
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // Refusing sends the user back with access_denied.
    let denied = browser
        .post(
            "/auth/oidc/consent",
            &[fields[0], fields[1], ("decision", "deny")],
        )
        .await;
    let location = denied.location.unwrap();
    assert_eq!(
        query_of(&location, "error").as_deref(),
        Some("access_denied")
    );
}

/// The code a browser gets back for `client_id` (already signed in and consented, or going
/// through `sign_in_and_allow` when it is sent to the sign-in page), exchanged for tokens.
async fn exchange(keyward: &Keyward, (client_id, secret): (&str, &str), back: &str) -> Reply {
    let code = query_of(back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb"
    );
    send(
        keyward,
        token_request(&form, Some((client_id, secret)), None),
    )
    .await
}

#[tokio::test]
async fn fresh_sign_ins_when_asked_one_browser_session_and_deleted_clients() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (client_id, secret) = web_client(&keyward, &key).await;
    let user = sign_up(&keyward, "carol@example.com").await;
    let mut browser = Browser::new(&keyward);
    let start = browser
        .get(&authorize_uri(&client_id, "https://rp.example.com/cb", ""))
        .await;
    sign_in_and_allow(&mut browser, &start.location.unwrap(), "carol@example.com").await;
    let first_cookie = browser.cookie.clone().unwrap();

    // max_age=0 (and prompt=login) ask for a sign-in after the request: once, not in a loop.
    for extra in ["&max_age=0", "&prompt=login"] {
        let start = browser
            .get(&authorize_uri(
                &client_id,
                "https://rp.example.com/cb",
                extra,
            ))
            .await;
        let sign_in = start.location.unwrap();
        assert!(
            sign_in.starts_with("/auth/oidc/sign-in"),
            "{extra}: {sign_in}"
        );
        let back = sign_in_and_allow(&mut browser, &sign_in, "carol@example.com").await;
        assert!(query_of(&back, "code").is_some(), "{extra}: {back}");
    }
    // A sign-in at the provider ends the one before: the first cookie no longer works, and
    // only the app's session and the provider's latest are listed.
    let mut stale = Browser::new(&keyward);
    stale.cookie = Some(first_cookie);
    let again = stale
        .get(&authorize_uri(&client_id, "https://rp.example.com/cb", ""))
        .await;
    assert!(again.location.unwrap().starts_with("/auth/oidc/sign-in"));
    let sessions = send(
        &keyward,
        authed(Method::GET, "/auth/sessions", &access(&user)),
    )
    .await;
    assert_eq!(
        sessions.body["data"]["sessions"].as_array().unwrap().len(),
        2
    );

    // A grant's tokens die with its client; a request sealed before goes nowhere.
    let start = browser
        .get(&authorize_uri(
            &client_id,
            "https://rp.example.com/cb",
            "&prompt=consent",
        ))
        .await;
    let consent = browser.get(&start.location.unwrap()).await;
    let allowed = browser
        .post(
            "/auth/oidc/consent",
            &[
                ("req", &consent.hidden("req")),
                ("csrf", &consent.hidden("csrf")),
                ("decision", "allow"),
            ],
        )
        .await;
    let tokens = exchange(&keyward, (&client_id, &secret), &allowed.location.unwrap()).await;
    let token = tokens.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        send(&keyward, authed(Method::GET, "/auth/oidc/userinfo", &token))
            .await
            .status,
        StatusCode::OK
    );
    let start = browser
        .get(&authorize_uri(
            &client_id,
            "https://rp.example.com/cb",
            "&prompt=consent",
        ))
        .await;
    let consent = browser.get(&start.location.unwrap()).await;
    let deleted = send(
        &keyward,
        authed(
            Method::DELETE,
            &format!("/auth/admin/clients/{client_id}"),
            &key,
        ),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(&keyward, authed(Method::GET, "/auth/oidc/userinfo", &token))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    for decision in ["allow", "deny"] {
        let answer = browser
            .post(
                "/auth/oidc/consent",
                &[
                    ("req", &consent.hidden("req")),
                    ("csrf", &consent.hidden("csrf")),
                    ("decision", decision),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{decision}");
        assert!(answer.location.is_none(), "{decision}");
    }
}

#[tokio::test]
async fn userinfo_is_for_openid_grants_and_requests_carry_nothing_strange() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let made = register(
        &keyward,
        &key,
        &json!({
            "name": "Reports <app>",
            "type": "confidential",
            "redirect_uris": ["https://rp.example.com/cb"],
            "scopes": ["openid", "email", "reports:read"],
            "audience": "https://reports.example.com/api",
        }),
    )
    .await;
    let client_id = made.body["data"]["client"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = made.body["data"]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    sign_up(&keyward, "dave@example.com").await;
    let mut browser = Browser::new(&keyward);

    // Without openid: an access token for the API, no ID token, and userinfo refuses it.
    let uri = authorize_uri(&client_id, "https://rp.example.com/cb", "")
        .replace("scope=openid%20email%20profile", "scope=reports%3Aread");
    let start = browser.get(&uri).await;
    let back = sign_in_and_allow(&mut browser, &start.location.unwrap(), "dave@example.com").await;
    let tokens = exchange(&keyward, (&client_id, &secret), &back).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    assert!(tokens.body.get("id_token").is_none());
    let token = tokens.body["access_token"].as_str().unwrap();
    let claims = verified(&keyward, token, "https://reports.example.com/api").await;
    assert_eq!(claims["aud"], json!(["https://reports.example.com/api"]));
    let info = send(&keyward, authed(Method::POST, "/auth/oidc/userinfo", token)).await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED);

    // A nonce with a control character goes back as invalid_request; a state with one, or too
    // long, is not sent back at all.
    let page = browser
        .get(&authorize_uri(
            &client_id,
            "https://rp.example.com/cb",
            "&nonce=a%00b",
        ))
        .await;
    let location = page.location.unwrap();
    assert_eq!(
        query_of(&location, "error").as_deref(),
        Some("invalid_request")
    );
    for state in ["a%0Ab".to_owned(), "s".repeat(600)] {
        let uri = authorize_uri(&client_id, "https://rp.example.com/cb", "")
            .replace("state=st4te", &format!("state={state}"));
        let page = browser.get(&uri).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(page.location.is_none());
    }
}

#[tokio::test]
async fn consent_is_asked_once_remembered_and_asked_again_after_the_user_takes_it_back() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (client_id, secret) = web_client(&keyward, &key).await;
    let user = sign_up(&keyward, "erin@example.com").await;
    let token = access(&user);
    let mut browser = Browser::new(&keyward);
    let narrow = authorize_uri(&client_id, "https://rp.example.com/cb", "")
        .replace("scope=openid%20email%20profile", "scope=openid%20email");
    let start = browser.get(&narrow).await;
    let first = sign_in_and_allow(&mut browser, &start.location.unwrap(), "erin@example.com").await;
    assert!(query_of(&first, "code").is_some(), "{first}");

    // Remembered: the same scopes go straight back, with a code.
    let again = browser.get(&narrow).await.location.unwrap();
    assert!(query_of(&again, "code").is_some(), "{again}");
    // More scopes: asked again, and then remembered with the rest.
    let wider = authorize_uri(&client_id, "https://rp.example.com/cb", "");
    let asked = browser.get(&wider).await.location.unwrap();
    assert!(asked.starts_with("/auth/oidc/consent?req="), "{asked}");
    let back = allow(&mut browser, &asked).await;
    let tokens = exchange(&keyward, (&client_id, &secret), &back).await;
    let grant_token = tokens.body["access_token"].as_str().unwrap().to_owned();

    // The user sees the app, with what it may know.
    let apps = send(
        &keyward,
        authed(Method::GET, "/auth/connected-apps", &token),
    )
    .await;
    assert_eq!(apps.status, StatusCode::OK, "{:?}", apps.body);
    let listed = apps.body["data"]["apps"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["client_id"], client_id.as_str());
    assert_eq!(listed[0]["name"], "Reports <app>");
    assert_eq!(listed[0]["scopes"], json!(["openid", "email", "profile"]));

    // And takes it back: the app's tokens for them die, and it asks again.
    let uri = format!("/auth/connected-apps/{client_id}");
    let taken = send(&keyward, authed(Method::DELETE, &uri, &token)).await;
    assert_eq!(taken.status, StatusCode::NO_CONTENT);
    let info = send(
        &keyward,
        authed(Method::GET, "/auth/oidc/userinfo", &grant_token),
    )
    .await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED);
    let apps = send(
        &keyward,
        authed(Method::GET, "/auth/connected-apps", &token),
    )
    .await;
    assert!(apps.body["data"]["apps"].as_array().unwrap().is_empty());
    let asked = browser.get(&narrow).await.location.unwrap();
    assert!(asked.starts_with("/auth/oidc/consent?req="), "{asked}");
    let again = send(&keyward, authed(Method::DELETE, &uri, &token)).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(
        audited(&keyward, &key, "oidc_consent_revoked").await,
        [client_id.as_str()]
    );
    assert_eq!(
        audited(&keyward, &key, "oidc_consent_granted").await.len(),
        2
    );
}

/// A web app with a page to return to after logout: its id and secret.
async fn web_client_with_logout(keyward: &Keyward, key: &str) -> (String, String) {
    let made = register(
        keyward,
        key,
        &json!({
            "name": "Reports <app>",
            "type": "confidential",
            "redirect_uris": ["https://rp.example.com/cb"],
            "post_logout_redirect_uris": ["https://rp.example.com/bye"],
        }),
    )
    .await;
    id_and_secret(&made)
}

/// Signs in through the pages and exchanges the code: the token answer.
async fn signed_in_app(
    keyward: &Keyward,
    browser: &mut Browser,
    (client_id, secret): (&str, &str),
    email: &str,
) -> Value {
    let authorize = authorize_uri(client_id, "https://rp.example.com/cb", "");
    let back = through_the_pages(browser, &authorize, email).await;
    let tokens = exchange(keyward, (client_id, secret), &back).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    tokens.body
}

#[tokio::test]
async fn an_app_signs_its_user_out_and_revokes_its_tokens() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (client_id, secret) = web_client_with_logout(&keyward, &key).await;
    let user = sign_up(&keyward, "frank@example.com").await;
    let mut browser = Browser::new(&keyward);
    let app = (client_id.as_str(), secret.as_str());
    let tokens = signed_in_app(&keyward, &mut browser, app, "frank@example.com").await;
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let userinfo = |token: String| {
        let keyward = keyward.clone();
        async move {
            send(&keyward, authed(Method::GET, "/auth/oidc/userinfo", &token))
                .await
                .status
        }
    };

    // An unregistered place to go after: refused, nobody signed out.
    let bad = format!(
        "/auth/oidc/end-session?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.example.com%2F"
    );
    let page = browser.get(&bad).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.location.is_none());
    assert_eq!(userinfo(access_token.clone()).await, StatusCode::OK);
    // A hint this server did not sign: refused too.
    let forged = format!(
        "/auth/oidc/end-session?id_token_hint={}x",
        &id_token[..id_token.len() - 1]
    );
    assert_eq!(browser.get(&forged).await.status, StatusCode::BAD_REQUEST);

    // The app's logout, with the hint of this browser's session: signed out at once.
    let logout = format!(
        "/auth/oidc/end-session?id_token_hint={id_token}\
         &post_logout_redirect_uri=https%3A%2F%2Frp.example.com%2Fbye&state=s1"
    );
    let page = browser.get(&logout).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.unwrap();
    assert!(
        location.starts_with("https://rp.example.com/bye?"),
        "{location}"
    );
    assert_eq!(query_of(&location, "state").as_deref(), Some("s1"));
    // The grant's tokens and the browser's sign-in are over; the app's own session is not.
    assert_eq!(userinfo(access_token).await, StatusCode::UNAUTHORIZED);
    let start = browser
        .get(&authorize_uri(&client_id, "https://rp.example.com/cb", ""))
        .await;
    assert!(start.location.unwrap().starts_with("/auth/oidc/sign-in"));
    let me = send(&keyward, authed(Method::GET, "/auth/me", &access(&user))).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        audited(&keyward, &key, "oidc_logout").await,
        [client_id.as_str()]
    );

    // Without a hint, the user confirms, on this site only.
    let tokens = signed_in_app(&keyward, &mut browser, app, "frank@example.com").await;
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let page = browser
        .get(&format!("/auth/oidc/end-session?client_id={client_id}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let fields = [
        ("then", page.hidden("then")),
        ("client", page.hidden("client")),
        ("csrf", page.hidden("csrf")),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The app named in the form is covered by its anti-forgery token.
    let mut other_app = fields.clone();
    other_app[1].1 = "kwc_AAAAAAAAAAAAAAAAAAAAAA";
    let forged = browser
        .post("/auth/oidc/end-session/confirm", &other_app)
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let cross = browser
        .post_from(
            "https://evil.example.com",
            "/auth/oidc/end-session/confirm",
            &fields,
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert_eq!(userinfo(access_token.clone()).await, StatusCode::OK);
    let confirmed = browser
        .post("/auth/oidc/end-session/confirm", &fields)
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(userinfo(access_token).await, StatusCode::UNAUTHORIZED);
    // Recorded with the app that asked.
    assert_eq!(
        audited(&keyward, &key, "oidc_logout").await,
        [client_id.as_str(), client_id.as_str()]
    );

    // Revocation (RFC 7009): the client ends its own token; anything else changes nothing.
    let tokens = signed_in_app(&keyward, &mut browser, app, "frank@example.com").await;
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let (other_id, other_secret) = web_client(&keyward, &key).await;
    let revoke = |form: String, basic: (String, String)| {
        let keyward = keyward.clone();
        async move {
            let request = Request::post("/auth/oidc/revoke")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(
                    header::AUTHORIZATION,
                    format!(
                        "Basic {}",
                        STANDARD.encode(format!("{}:{}", basic.0, basic.1))
                    ),
                )
                .body(Body::from(form))
                .unwrap();
            send(&keyward, request).await
        }
    };
    let mine = (client_id.clone(), secret.clone());
    let theirs = (other_id, other_secret);
    let reply = revoke(format!("token={access_token}"), theirs).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(userinfo(access_token.clone()).await, StatusCode::OK);
    let reply = revoke("token=not-a-token".into(), mine.clone()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = revoke(String::new(), mine.clone()).await;
    assert_eq!(reply.body["error"], "invalid_request");
    let reply = revoke(
        format!("token={access_token}"),
        (client_id.clone(), "kwcs_wrong".into()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = revoke(
        format!("token={access_token}&token_type_hint=access_token"),
        mine,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(userinfo(access_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        audited(&keyward, &key, "oidc_token_revoked").await,
        [client_id.as_str()]
    );
}

#[tokio::test]
async fn a_grant_refreshes_with_rotation_and_refresh_tokens_never_cross() {
    let db = TestDb::new().await;
    // No grace: a used refresh token presented again is reuse at once.
    let (keyward, key) = with_admin_key(Settings {
        oidc_provider: true,
        refresh_grace: std::time::Duration::ZERO,
        ..db.settings()
    })
    .await;
    let (client_id, secret) = web_client(&keyward, &key).await;
    let (other_id, other_secret) = web_client_with_logout(&keyward, &key).await;
    let user = sign_up(&keyward, "grace@example.com").await;
    let mut browser = Browser::new(&keyward);
    let app = (client_id.as_str(), secret.as_str());
    let tokens = signed_in_app(&keyward, &mut browser, app, "grace@example.com").await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(first.starts_with("kwr_"), "{tokens}");
    let refresh_form = |token: &str| format!("grant_type=refresh_token&refresh_token={token}");

    // A grant's refresh token is refused at the app's own refresh, and stays unspent.
    let crossed = refresh(&keyward, &first).await;
    assert_eq!(crossed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(crossed.code(), "invalid_refresh_token");
    // A first-party refresh token is refused at the token endpoint; it still works at home.
    let own = refresh_token(&user);
    let reply = send(
        &keyward,
        token_request(&refresh_form(&own), Some((&client_id, &secret)), None),
    )
    .await;
    assert_eq!(reply.body["error"], "invalid_grant", "{:?}", reply.body);
    assert_eq!(refresh(&keyward, &own).await.status, StatusCode::OK);
    // Another client cannot use it either.
    let reply = send(
        &keyward,
        token_request(
            &refresh_form(&first),
            Some((&other_id, &other_secret)),
            None,
        ),
    )
    .await;
    assert_eq!(reply.body["error"], "invalid_grant", "{:?}", reply.body);

    // Asking for a scope that was not granted is refused, and spends nothing (without grace,
    // a spent token shown again would end the grant).
    let wider = format!("{}&scope=openid%20admin", refresh_form(&first));
    let reply = send(
        &keyward,
        token_request(&wider, Some((&client_id, &secret)), None),
    )
    .await;
    assert_eq!(reply.body["error"], "invalid_scope", "{:?}", reply.body);

    // The client refreshes: new tokens, a rotated refresh token, an ID token without nonce.
    let next = send(
        &keyward,
        token_request(&refresh_form(&first), Some((&client_id, &secret)), None),
    )
    .await;
    assert_eq!(next.status, StatusCode::OK, "{:?}", next.body);
    let second = next.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let id_token = next.body["id_token"].as_str().unwrap();
    let claims = claims_of(id_token);
    assert_eq!(claims["sub"], user["user"]["id"]);
    assert!(claims.get("nonce").is_none());
    let access_token = next.body["access_token"].as_str().unwrap().to_owned();
    let info = send(
        &keyward,
        authed(Method::GET, "/auth/oidc/userinfo", &access_token),
    )
    .await;
    assert_eq!(info.status, StatusCode::OK);

    // The first refresh token again: reuse, and the grant ends with all its tokens.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let reused = send(
        &keyward,
        token_request(&refresh_form(&first), Some((&client_id, &secret)), None),
    )
    .await;
    assert_eq!(reused.body["error"], "invalid_grant", "{:?}", reused.body);
    assert_eq!(
        audited(&keyward, &key, "refresh_reuse_detected").await,
        [client_id.as_str()]
    );
    let info = send(
        &keyward,
        authed(Method::GET, "/auth/oidc/userinfo", &access_token),
    )
    .await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED);
    let after = send(
        &keyward,
        token_request(&refresh_form(&second), Some((&client_id, &secret)), None),
    )
    .await;
    assert_eq!(after.body["error"], "invalid_grant", "{:?}", after.body);
    // The user's own session is untouched.
    let me = send(&keyward, authed(Method::GET, "/auth/me", &access(&user))).await;
    assert_eq!(me.status, StatusCode::OK);
}

#[tokio::test]
async fn grants_end_with_their_sign_in_their_consent_and_their_revoked_refresh_token() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (client_id, secret) = web_client(&keyward, &key).await;
    let user = sign_up(&keyward, "hana@example.com").await;
    let mut browser = Browser::new(&keyward);
    let app = (client_id.as_str(), secret.as_str());
    let refresh_with = |token: &str, scope: Option<&str>| {
        let form = match scope {
            Some(scope) => format!("grant_type=refresh_token&refresh_token={token}&scope={scope}"),
            None => format!("grant_type=refresh_token&refresh_token={token}"),
        };
        token_request(&form, Some((&client_id, &secret)), None)
    };

    // A refresh may ask for fewer scopes, never more.
    let tokens = signed_in_app(&keyward, &mut browser, app, "hana@example.com").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let wider = send(
        &keyward,
        refresh_with(&refresh_token, Some("openid%20admin")),
    )
    .await;
    assert_eq!(wider.body["error"], "invalid_scope", "{:?}", wider.body);
    let narrower = send(&keyward, refresh_with(&refresh_token, Some("openid"))).await;
    assert_eq!(narrower.status, StatusCode::OK, "{:?}", narrower.body);
    assert_eq!(narrower.body["scope"], "openid");
    let refresh_token = narrower.body["refresh_token"].as_str().unwrap().to_owned();

    // Revoking the refresh token (RFC 7009) ends the grant.
    let revoke = Request::post("/auth/oidc/revoke")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}"))),
        )
        .body(Body::from(format!(
            "token={refresh_token}&token_type_hint=refresh_token"
        )))
        .unwrap();
    assert_eq!(send(&keyward, revoke).await.status, StatusCode::OK);
    let after = send(&keyward, refresh_with(&refresh_token, None)).await;
    assert_eq!(after.body["error"], "invalid_grant", "{:?}", after.body);

    // The user ends the provider's session from their own session list: its grants end too.
    let tokens = signed_in_app(&keyward, &mut browser, app, "hana@example.com").await;
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let sessions = send(
        &keyward,
        authed(Method::GET, "/auth/sessions", &access(&user)),
    )
    .await;
    let own = user["session_id"].as_str().unwrap();
    let provider_session = sessions.body["data"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .find(|id| id != own)
        .unwrap();
    let ended = send(
        &keyward,
        authed(
            Method::DELETE,
            &format!("/auth/sessions/{provider_session}"),
            &access(&user),
        ),
    )
    .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT);
    let info = send(
        &keyward,
        authed(Method::GET, "/auth/oidc/userinfo", &access_token),
    )
    .await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED);
    let after = send(&keyward, refresh_with(&refresh_token, None)).await;
    assert_eq!(after.body["error"], "invalid_grant", "{:?}", after.body);

    // A code issued before the user took their consent back is void.
    let start = browser
        .get(&authorize_uri(&client_id, "https://rp.example.com/cb", ""))
        .await;
    let back = sign_in_and_allow(&mut browser, &start.location.unwrap(), "hana@example.com").await;
    let uri = format!("/auth/connected-apps/{client_id}");
    let taken = send(&keyward, authed(Method::DELETE, &uri, &access(&user))).await;
    assert_eq!(taken.status, StatusCode::NO_CONTENT);
    let late = exchange(&keyward, app, &back).await;
    assert_eq!(late.body["error"], "invalid_grant", "{:?}", late.body);
}

#[tokio::test]
async fn first_party_apps_that_skip_consent_are_listed_and_can_be_disconnected() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let made = register(
        &keyward,
        &key,
        &json!({
            "name": "Reports <app>",
            "type": "confidential",
            "redirect_uris": ["https://rp.example.com/cb"],
            "skip_consent": true,
        }),
    )
    .await;
    let (client_id, secret) = id_and_secret(&made);
    let user = sign_up(&keyward, "ivan@example.com").await;
    let mut browser = Browser::new(&keyward);
    let start = browser
        .get(&authorize_uri(&client_id, "https://rp.example.com/cb", ""))
        .await;
    // No consent page: straight back after the sign-in.
    let back = sign_in_and_allow(&mut browser, &start.location.unwrap(), "ivan@example.com").await;
    let tokens = exchange(&keyward, (&client_id, &secret), &back).await;
    let access_token = tokens.body["access_token"].as_str().unwrap().to_owned();
    let apps = send(
        &keyward,
        authed(Method::GET, "/auth/connected-apps", &access(&user)),
    )
    .await;
    assert_eq!(
        apps.body["data"]["apps"][0]["client_id"],
        client_id.as_str()
    );
    let uri = format!("/auth/connected-apps/{client_id}");
    let taken = send(&keyward, authed(Method::DELETE, &uri, &access(&user))).await;
    assert_eq!(taken.status, StatusCode::NO_CONTENT);
    let info = send(
        &keyward,
        authed(Method::GET, "/auth/oidc/userinfo", &access_token),
    )
    .await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED);
}

/// A confidential web app returning to `https://rp.example.com/cb`, with `fields` added (or
/// replacing those): its id and secret.
async fn app_with(keyward: &Keyward, key: &str, fields: Value) -> (String, String) {
    let mut body = json!({
        "name": "Reports <app>",
        "type": "confidential",
        "redirect_uris": ["https://rp.example.com/cb"],
    });
    if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    id_and_secret(&register(keyward, key, &body).await)
}

/// A new organization made by the user holding `token`: its id.
async fn new_org(keyward: &Keyward, token: &str, name: &str) -> String {
    let made = send(
        keyward,
        json_request(
            Method::POST,
            "/auth/orgs",
            Some(token),
            &json!({ "name": name }),
        ),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    made.body["data"]["org"]["id"].as_str().unwrap().to_owned()
}

/// The organizations offered on a consent page, the checked one first.
fn offered_orgs(page: &Page) -> Vec<String> {
    let mut offered: Vec<(bool, String)> = page
        .body
        .split("<input type=\"radio\" name=\"org\" value=\"")
        .skip(1)
        .map(|rest| {
            let (id, after) = rest.split_once('"').unwrap();
            (after.starts_with(" checked"), id.to_owned())
        })
        .collect();
    offered.sort_by_key(|(checked, _)| !checked);
    offered.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn the_user_chooses_the_organization_an_app_learns_and_it_follows_their_membership() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let app = app_with(
        &keyward,
        &key,
        json!({ "scopes": ["openid", "email", "org"] }),
    )
    .await;
    let user = sign_up(&keyward, "orgs@example.com").await;
    let token = access(&user);
    let acme = new_org(&keyward, &token, "Acme <Corp>").await;
    let globex = new_org(&keyward, &token, "Globex").await;
    let stranger = sign_up(&keyward, "stranger@example.com").await;
    let theirs = new_org(&keyward, &access(&stranger), "Initech").await;
    let with_org = "&scope=openid%20email%20org";
    let authorize = authorize_uri(&app.0, "https://rp.example.com/cb", with_org);
    let authorize = authorize.replace("&scope=openid%20email%20profile", "");

    // Signed in, the consent page offers the user's two organizations, as text.
    let mut browser = Browser::new(&keyward);
    let start = browser.get(&authorize).await;
    let form = browser.get(start.location.as_deref().unwrap()).await;
    let signed = browser
        .post(
            "/auth/oidc/sign-in",
            &[
                ("req", &form.hidden("req")),
                ("csrf", &form.hidden("csrf")),
                ("email", "orgs@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let consent_uri = signed.location.unwrap();
    let consent = browser.get(&consent_uri).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    let offered = offered_orgs(&consent);
    assert_eq!(offered.len(), 2, "{}", consent.body);
    assert!(offered.contains(&acme) && offered.contains(&globex));
    assert!(
        consent.body.contains("Acme &lt;Corp&gt; (owner)"),
        "{}",
        consent.body
    );
    let (req, csrf) = (consent.hidden("req"), consent.hidden("csrf"));
    let answer = |org: &str| {
        vec![
            ("req", req.clone()),
            ("csrf", csrf.clone()),
            ("decision", "allow".to_owned()),
            ("org", org.to_owned()),
        ]
    };

    // Another user's organization, or no organization id at all: refused, no code, no consent.
    for forged in [theirs.as_str(), "not-an-org"] {
        let form = answer(forged);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = browser.post("/auth/oidc/consent", &form).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert!(refused.location.is_none());
    }
    assert!(
        audited(&keyward, &key, "oidc_consent_granted")
            .await
            .is_empty()
    );

    // The user chooses Globex: the ID token, the access token and userinfo name it and the role.
    let form = answer(&globex);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let back = browser.post("/auth/oidc/consent", &form).await;
    let tokens = exchange(&keyward, (&app.0, &app.1), &back.location.unwrap()).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    let id_claims = claims_of(tokens.body["id_token"].as_str().unwrap());
    assert_eq!(id_claims["org"], globex.as_str());
    assert_eq!(id_claims["org_role"], "owner");
    let access_token = tokens.body["access_token"].as_str().unwrap().to_owned();
    let access_claims = claims_of(&access_token);
    assert_eq!(access_claims["org"], globex.as_str());
    assert_eq!(access_claims["org_role"], "owner");
    let info = send(
        &keyward,
        authed(Method::GET, "/auth/oidc/userinfo", &access_token),
    )
    .await;
    assert_eq!(info.body["org"], globex.as_str(), "{:?}", info.body);
    assert_eq!(info.body["org_role"], "owner");

    // Remembered: the next sign-in goes straight back, with Globex, and the page offers it
    // first when the app asks again.
    let again = browser.get(&authorize).await;
    let tokens = exchange(&keyward, (&app.0, &app.1), &again.location.unwrap()).await;
    let id_claims = claims_of(tokens.body["id_token"].as_str().unwrap());
    assert_eq!(id_claims["org"], globex.as_str());
    let asked = browser.get(&format!("{authorize}&prompt=consent")).await;
    let page = browser.get(&asked.location.unwrap()).await;
    assert_eq!(offered_orgs(&page)[0], globex);

    // Once Globex is gone, the grant's next tokens name no organization.
    let refresh_form = format!(
        "grant_type=refresh_token&refresh_token={}",
        tokens.body["refresh_token"].as_str().unwrap()
    );
    let deleted = send(
        &keyward,
        authed(Method::DELETE, &format!("/auth/orgs/{globex}"), &token),
    )
    .await;
    assert!(deleted.status.is_success(), "{:?}", deleted.body);
    let renewed = send(
        &keyward,
        token_request(&refresh_form, Some((&app.0, &app.1)), None),
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK, "{:?}", renewed.body);
    let id_claims = claims_of(renewed.body["id_token"].as_str().unwrap());
    assert!(id_claims.get("org").is_none(), "{id_claims}");
    // Userinfo answers as things are now, whatever an older access token says.
    let info = send(
        &keyward,
        authed(Method::GET, "/auth/oidc/userinfo", &access_token),
    )
    .await;
    assert_eq!(info.status, StatusCode::OK, "{:?}", info.body);
    assert!(info.body.get("org").is_none(), "{:?}", info.body);
    assert!(
        claims_of(renewed.body["access_token"].as_str().unwrap())
            .get("org")
            .is_none()
    );

    // An app without the `org` scope learns no organization, whatever was chosen.
    let plain = authorize_uri(&app.0, "https://rp.example.com/cb", "").replace("%20profile", "");
    let back = browser.get(&plain).await.location.unwrap();
    let tokens = exchange(&keyward, (&app.0, &app.1), &back).await;
    assert!(
        claims_of(tokens.body["id_token"].as_str().unwrap())
            .get("org")
            .is_none()
    );
}

#[tokio::test]
async fn an_app_that_skips_consent_gets_the_users_only_organization() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let fields = json!({ "name": "Console", "scopes": ["openid", "org"], "skip_consent": true });
    let app = app_with(&keyward, &key, fields).await;
    let user = sign_up(&keyward, "solo@example.com").await;
    let authorize = authorize_uri(&app.0, "https://rp.example.com/cb", "")
        .replace("scope=openid%20email%20profile", "scope=openid%20org");
    // In no organization: none.
    let mut browser = Browser::new(&keyward);
    let sign_in = browser.get(&authorize).await.location.unwrap();
    let back = sign_in_and_allow(&mut browser, &sign_in, "solo@example.com").await;
    let tokens = exchange(&keyward, (&app.0, &app.1), &back).await;
    assert!(
        claims_of(tokens.body["id_token"].as_str().unwrap())
            .get("org")
            .is_none()
    );

    // In exactly one: that one.
    let org = new_org(&keyward, &access(&user), "Solo").await;
    let back = browser.get(&authorize).await.location.unwrap();
    let tokens = exchange(&keyward, (&app.0, &app.1), &back).await;
    let claims = claims_of(tokens.body["id_token"].as_str().unwrap());
    assert_eq!(claims["org"], org.as_str(), "{claims}");
    assert_eq!(claims["org_role"], "owner");

    // In two, none chosen: none, rather than a guess.
    new_org(&keyward, &access(&user), "Second").await;
    let back = browser.get(&authorize).await.location.unwrap();
    let tokens = exchange(&keyward, (&app.0, &app.1), &back).await;
    assert!(
        claims_of(tokens.body["id_token"].as_str().unwrap())
            .get("org")
            .is_none()
    );
}

/// `GET /auth/oidc/userinfo` with `authorization` and, when given, a DPoP proof.
fn userinfo_request(authorization: &str, proof: Option<&str>) -> Request<Body> {
    let mut request =
        Request::get("/auth/oidc/userinfo").header(header::AUTHORIZATION, authorization);
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_code_exchanged_with_a_dpop_proof_binds_the_grant_to_the_clients_key() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (client_id, secret) = web_client(&keyward, &key).await;
    let app = (client_id.as_str(), secret.as_str());
    sign_up(&keyward, "bound@example.com").await;
    let (device, thief) = (TestDevice::new(), TestDevice::new());
    let token_proof = |device: &TestDevice| device.proof("POST", "/auth/oidc/token", None);
    let mut browser = Browser::new(&keyward);
    // A code for `dpop_jkt` (when given), and where the browser came back with it.
    let code_for = async |browser: &mut Browser, jkt: Option<&str>| {
        let extra = jkt
            .map(|jkt| format!("&dpop_jkt={jkt}"))
            .unwrap_or_default();
        let authorize = authorize_uri(&client_id, "https://rp.example.com/cb", &extra);
        through_the_pages(browser, &authorize, "bound@example.com").await
    };
    let exchange_with = |back: &str, proof: Option<String>| {
        let code = query_of(back, "code").unwrap_or_else(|| panic!("no code in {back}"));
        let form = format!(
            "grant_type=authorization_code&code={code}\
             &redirect_uri=https%3A%2F%2Frp.example.com%2Fcb"
        );
        send(&keyward, token_request(&form, Some(app), proof.as_deref()))
    };

    // A malformed dpop_jkt goes back to the app as invalid_request.
    let refused = code_for(&mut browser, Some("not-a-thumbprint")).await;
    assert_eq!(
        query_of(&refused, "error").as_deref(),
        Some("invalid_request")
    );

    // A code bound to the device's key: no proof, or the thief's, is refused (and spends it).
    let jkt = device.jkt();
    for proof in [None, Some(token_proof(&thief))] {
        let back = code_for(&mut browser, Some(&jkt)).await;
        let reply = exchange_with(&back, proof).await;
        assert_eq!(
            reply.body["error"], "invalid_dpop_proof",
            "{:?}",
            reply.body
        );
        let again = exchange_with(&back, Some(token_proof(&device))).await;
        assert_eq!(again.body["error"], "invalid_grant", "{:?}", again.body);
    }

    // With the device's proof: DPoP-bound tokens.
    let back = code_for(&mut browser, Some(&jkt)).await;
    let tokens = exchange_with(&back, Some(token_proof(&device))).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    assert_eq!(tokens.body["token_type"], "DPoP");
    let access_token = tokens.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&access_token)["cnf"]["jkt"], jkt.as_str());

    // Userinfo takes it only as DPoP, with a proof by that key for that request.
    let at_userinfo =
        |device: &TestDevice| device.proof("GET", "/auth/oidc/userinfo", Some(&access_token));
    let bearer = format!("Bearer {access_token}");
    let dpop = format!("DPoP {access_token}");
    let refusals = [
        (bearer.as_str(), None, "invalid_token"),
        (dpop.as_str(), None, "invalid_dpop_proof"),
        (
            dpop.as_str(),
            Some(at_userinfo(&thief)),
            "invalid_dpop_proof",
        ),
        (
            dpop.as_str(),
            Some(device.proof("GET", "/auth/oidc/userinfo", None)),
            "invalid_dpop_proof",
        ),
    ];
    for (authorization, proof, error) in refusals {
        let reply = send(&keyward, userinfo_request(authorization, proof.as_deref())).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:?}", reply.body);
        assert_eq!(reply.body["error"], error, "{:?}", reply.body);
        let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        let scheme = authorization.split(' ').next().unwrap();
        assert!(challenge.starts_with(scheme), "{challenge}");
    }
    let proof = at_userinfo(&device);
    let reply = send(&keyward, userinfo_request(&dpop, Some(&proof))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    // The same proof twice is a replay.
    let reply = send(&keyward, userinfo_request(&dpop, Some(&proof))).await;
    assert_eq!(reply.body["error"], "invalid_dpop_proof");

    // Its refresh token needs a proof by the key: without one, or with the thief's, it is
    // refused and not spent.
    let refresh_token = tokens.body["refresh_token"].as_str().unwrap();
    let form = format!("grant_type=refresh_token&refresh_token={refresh_token}");
    for proof in [None, Some(token_proof(&thief))] {
        let reply = send(&keyward, token_request(&form, Some(app), proof.as_deref())).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
        assert_eq!(
            reply.body["error"], "invalid_dpop_proof",
            "{:?}",
            reply.body
        );
    }
    let renewed = send(
        &keyward,
        token_request(&form, Some(app), Some(&token_proof(&device))),
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK, "{:?}", renewed.body);
    assert_eq!(renewed.body["token_type"], "DPoP");
    let renewed_access = renewed.body["access_token"].as_str().unwrap();
    assert_eq!(claims_of(renewed_access)["cnf"]["jkt"], jkt.as_str());

    // A grant started without a proof stays unbound: a proof at its refresh (a thief binding it
    // to a key of theirs) is refused before the token is spent.
    let back = code_for(&mut browser, None).await;
    let plain = exchange_with(&back, None).await;
    assert_eq!(plain.body["token_type"], "Bearer", "{:?}", plain.body);
    let form = format!(
        "grant_type=refresh_token&refresh_token={}",
        plain.body["refresh_token"].as_str().unwrap()
    );
    let bound = send(
        &keyward,
        token_request(&form, Some(app), Some(&token_proof(&thief))),
    )
    .await;
    assert_eq!(
        bound.body["error"], "invalid_dpop_proof",
        "{:?}",
        bound.body
    );
    let unbound = send(&keyward, token_request(&form, Some(app), None)).await;
    assert_eq!(unbound.body["token_type"], "Bearer", "{:?}", unbound.body);

    // Discovery says so.
    let discovered = send(&keyward, get("/.well-known/openid-configuration")).await;
    assert_eq!(
        discovered.body["dpop_signing_alg_values_supported"],
        json!(["ES256"])
    );
}

#[tokio::test]
async fn browser_apps_on_any_site_may_fetch_the_protocol_endpoints_and_nothing_else() {
    let db = TestDb::new().await;
    let (keyward, _) = provider(&db).await;
    let off = Keyward::start(db.settings()).await.unwrap();
    let preflight = |path: &str, origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri(path)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type,dpop")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = |reply: &Reply| {
        reply
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let spa = "https://spa.example.net";
    for path in [
        "/auth/oidc/token",
        "/auth/oidc/userinfo",
        "/auth/oidc/revoke",
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        let reply = send(&keyward, preflight(path, spa)).await;
        assert_eq!(allowed(&reply).as_deref(), Some(spa), "{path}");
        assert!(
            !reply
                .headers
                .contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
        );
        // Not while the provider is off, and never for `null`.
        assert_eq!(
            allowed(&send(&off, preflight(path, spa)).await),
            None,
            "{path}"
        );
        assert_eq!(
            allowed(&send(&keyward, preflight(path, "null")).await),
            None
        );
    }
    // The answer itself, a refusal included, is readable there.
    let mut request = token_request("grant_type=authorization_code", None, None);
    request
        .headers_mut()
        .insert(header::ORIGIN, spa.parse().unwrap());
    let reply = send(&keyward, request).await;
    assert!(reply.status.is_client_error(), "{:?}", reply.body);
    assert_eq!(allowed(&reply).as_deref(), Some(spa));
    // Keyward's own API and the pages stay closed to other sites.
    for path in [
        "/auth/refresh",
        "/auth/sign-in",
        "/auth/connected-apps",
        "/auth/oidc/authorize",
        "/auth/oidc/sign-in",
        "/auth/oidc/consent",
        "/auth/admin/clients",
    ] {
        let reply = send(&keyward, preflight(path, spa)).await;
        assert_eq!(allowed(&reply), None, "{path}");
    }
}

#[tokio::test]
async fn an_app_signing_a_user_in_again_and_again_keeps_twenty_live_grants() {
    let db = TestDb::new().await;
    let (keyward, key) = provider(&db).await;
    let (client_id, secret) = web_client(&keyward, &key).await;
    let app = (client_id.as_str(), secret.as_str());
    sign_up(&keyward, "again@example.com").await;
    let mut browser = Browser::new(&keyward);
    let mut refresh_tokens = Vec::new();
    for _ in 0..21 {
        let tokens = signed_in_app(&keyward, &mut browser, app, "again@example.com").await;
        refresh_tokens.push(tokens["refresh_token"].as_str().unwrap().to_owned());
    }
    let refreshed = |token: &str| {
        let form = format!("grant_type=refresh_token&refresh_token={token}");
        send(&keyward, token_request(&form, Some(app), None))
    };
    // The oldest grant ended when the 21st began; the next oldest lives on.
    let oldest = refreshed(&refresh_tokens[0]).await;
    assert_eq!(oldest.body["error"], "invalid_grant", "{:?}", oldest.body);
    let next = refreshed(&refresh_tokens[1]).await;
    assert_eq!(next.status, StatusCode::OK, "{:?}", next.body);
    let newest = refreshed(&refresh_tokens[20]).await;
    assert_eq!(newest.status, StatusCode::OK, "{:?}", newest.body);
    let reasons = send(
        &keyward,
        authed(Method::GET, "/auth/admin/audit?kind=session_revoked", &key),
    )
    .await;
    let events = reasons.body["data"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["reason"], "evicted");
    assert_eq!(events[0]["detail"]["client"], client_id.as_str());
}

/// `POST /auth/oidc/browser-session {req}` with the app session's `token`, from `origin`.
fn browser_session_request(req: &str, token: Option<&str>, origin: Option<&str>) -> Request<Body> {
    let mut request = json_request(
        Method::POST,
        "/auth/oidc/browser-session",
        token,
        &json!({ "req": req }),
    );
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert(header::ORIGIN, origin.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn the_apps_own_sign_in_page_signs_users_in_for_other_apps() {
    let db = TestDb::new().await;
    // Only a path on the issuer's origin: nothing a browser could read as another site.
    let refused_config = |result: &Result<Keyward, keyward_server::Error>| match result {
        Err(keyward_server::Error::Config { setting, .. }) => Some(*setting),
        _ => None,
    };
    for page in [
        "https://elsewhere.example/sign-in",
        "//elsewhere.example/sign-in",
        "/\\elsewhere.example/sign-in",
        "/%5Celsewhere.example",
        "sign-in",
    ] {
        let refused = Keyward::start(Settings {
            oidc_provider: true,
            oidc_sign_in_page: Some(page.into()),
            ..db.settings()
        })
        .await;
        assert_eq!(
            refused_config(&refused),
            Some("oidc-sign-in-page"),
            "{page}"
        );
    }
    // The provider's pages are at the root of its origin.
    let refused = Keyward::start(Settings {
        oidc_provider: true,
        issuer: "https://example.com/auth-server".into(),
        ..db.settings()
    })
    .await;
    assert_eq!(refused_config(&refused), Some("issuer"));
    // Without an app page, app sessions never become sign-ins at the provider.
    let (plain, _) = provider(&db).await;
    let someone = sign_up(&plain, "plain@example.com").await;
    let reply = send(
        &plain,
        browser_session_request(
            "x.y",
            Some(&access(&someone)),
            Some("http://localhost:8787"),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{:?}", reply.body);
    let (keyward, key) = with_admin_key(Settings {
        oidc_provider: true,
        oidc_sign_in_page: Some("/sign-in".into()),
        ..db.settings()
    })
    .await;
    let (client_id, secret) = web_client(&keyward, &key).await;
    let app = (client_id.as_str(), secret.as_str());
    let user = sign_up(&keyward, "page@example.com").await;
    let own = "http://localhost:8787";

    // The authorization request goes to the app's page, with the sealed request.
    let mut browser = Browser::new(&keyward);
    let authorize = authorize_uri(&client_id, "https://rp.example.com/cb", "");
    let start = browser.get(&authorize).await;
    let page = start.location.unwrap();
    assert!(page.starts_with("/sign-in?oidc_req="), "{page}");
    let req = page.trim_start_matches("/sign-in?oidc_req=").to_owned();

    // Signed in there (by any method the app has), the page hands the request back. Not
    // without the session's token, not from another site, not with a forged request.
    let token = access(&user);
    let refusals = [
        (
            browser_session_request(&req, None, Some(own)),
            StatusCode::UNAUTHORIZED,
        ),
        (
            browser_session_request(&req, Some(&token), Some("https://evil.example")),
            StatusCode::FORBIDDEN,
        ),
        (
            browser_session_request(&req, Some(&token), None),
            StatusCode::FORBIDDEN,
        ),
        (
            browser_session_request("eyJmb3JnZWQiOnRydWV9.AAAA", Some(&token), Some(own)),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (request, status) in refusals {
        let reply = browser.go(request).await;
        assert_eq!(reply.status, status, "{}", reply.body);
        assert!(browser.cookie.is_none(), "a refusal set a cookie");
    }
    // A page whose own Referrer-Policy is `no-referrer` makes the browser send `Origin: null`;
    // then the browser's `Sec-Fetch-Site` says where the call comes from.
    let mut from_null = browser_session_request(&req, Some(&token), Some("null"));
    let fetch_site = header::HeaderName::from_static("sec-fetch-site");
    from_null
        .headers_mut()
        .insert(fetch_site.clone(), "cross-site".parse().unwrap());
    let refused = browser.go(from_null).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(browser.cookie.is_none());
    let mut from_null = browser_session_request(&req, Some(&token), Some("null"));
    from_null
        .headers_mut()
        .insert(fetch_site, "same-origin".parse().unwrap());
    let handed = browser.go(from_null).await;
    assert_eq!(handed.status, StatusCode::OK, "{}", handed.body);
    assert!(browser.cookie.is_some());
    let next: Value = serde_json::from_str(&handed.body).unwrap();
    let continue_to = next["data"]["continue_to"].as_str().unwrap();
    assert_eq!(continue_to, format!("/auth/oidc/continue?req={req}"));
    // Handed back again with the same session: the same cookie stays, no new one is made.
    let cookie = browser.cookie.clone();
    let again = browser
        .go(browser_session_request(&req, Some(&token), Some(own)))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(browser.cookie, cookie);

    // Then on: consent, the code, tokens for the same user and the same sign-in.
    let consent = browser.get(continue_to).await.location.unwrap();
    assert!(consent.starts_with("/auth/oidc/consent"), "{consent}");
    let back = allow(&mut browser, &consent).await;
    let tokens = exchange(&keyward, app, &back).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    let id_claims = claims_of(tokens.body["id_token"].as_str().unwrap());
    assert_eq!(id_claims["sub"], user["user"]["id"]);
    assert_eq!(id_claims["sid"], claims_of(&token)["sid"]);

    // An app that asks for a fresh sign-in gets one: the session from before the request is
    // not enough.
    let fresh = browser.get(&format!("{authorize}&prompt=login")).await;
    let page = fresh.location.unwrap();
    let req = page.trim_start_matches("/sign-in?oidc_req=").to_owned();
    let stale = browser
        .go(browser_session_request(&req, Some(&token), Some(own)))
        .await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED, "{}", stale.body);
    assert!(
        stale.body.contains("reauthentication_required"),
        "{}",
        stale.body
    );
    let again = sign_in(&keyward, "page@example.com").await;
    let handed = browser
        .go(browser_session_request(
            &req,
            Some(&access(&again)),
            Some(own),
        ))
        .await;
    assert_eq!(handed.status, StatusCode::OK, "{}", handed.body);
    // The browser's previous sign-in here (the first session) ended with it.
    let me = send(&keyward, authed(Method::GET, "/auth/me", &token)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);

    // Signing out of the app signs out of the provider: the next request goes to the page.
    let out = send(
        &keyward,
        json_request(
            Method::POST,
            "/auth/sign-out",
            Some(&access(&again)),
            &json!({}),
        ),
    )
    .await;
    assert!(out.status.is_success(), "{:?}", out.body);
    let start = browser.get(&authorize).await;
    assert!(start.location.unwrap().starts_with("/sign-in?oidc_req="));
}
