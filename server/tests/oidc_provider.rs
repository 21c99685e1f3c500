//! Keyward as an OpenID Connect provider (issue 22). So far: the clients an operator registers
//! through the admin API (the CLI's are in tests/cli.rs).

#![cfg(feature = "oidc-provider")]

mod common;

use axum::http::{Method, StatusCode};
use common::*;
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
