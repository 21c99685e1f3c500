//! Security regressions: the known ways to forge a token, to smuggle one in from elsewhere, to
//! overload a request, to call from a foreign origin, to spoof an account with a look-alike
//! address, or to learn which addresses have accounts. Each is refused with its stable code.

// Tests stand outside the server: they read the clock as a client would.
#![allow(clippy::disallowed_methods)]

use crate::common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::process::Process;
use common::*;
use keyward_server::{Keyward, MasterSecret, Settings};
use serde_json::{Value, json};

fn part(value: &Value) -> String {
    b64(value.to_string().as_bytes())
}

/// `header.claims` signed HS256 with `secret`.
fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    use aws_lc_rs::hmac;
    let input = format!("{}.{}", part(header), part(claims));
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!(
        "{input}.{}",
        b64(hmac::sign(&key, input.as_bytes()).as_ref())
    )
}

async fn me(keyward: &Keyward, token: &str) -> Reply {
    send(keyward, authed(Method::GET, "/auth/me", token)).await
}

/// Forged tokens: `alg: none`, the public key used as an HMAC secret, `kid` pointing nowhere or
/// somewhere odd, keys smuggled in the header, claims swapped under a real signature.
#[tokio::test]
async fn forged_access_tokens_are_refused() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let token = access(&sign_up(&keyward, "victim@example.com").await);
    assert_eq!(me(&keyward, &token).await.status, StatusCode::OK);

    let mut pieces = token.split('.');
    let (head, payload, signature) = (
        pieces.next().unwrap(),
        pieces.next().unwrap(),
        pieces.next().unwrap(),
    );
    let claims: Value = serde_json::from_slice(&unb64(payload)).unwrap();
    let mut other = claims.clone();
    other["sub"] = json!("00000000-0000-0000-0000-000000000000");
    let jwks = send(&keyward, get("/.well-known/jwks.json")).await;
    let jwk = jwks.body["keys"][0].clone();
    let kid = jwk["kid"].as_str().unwrap();
    let point = [
        &[4u8][..],
        &unb64(jwk["x"].as_str().unwrap()),
        &unb64(jwk["y"].as_str().unwrap()),
    ]
    .concat();
    let attacker = TestDevice::new();
    let es256 = |extra: Value| {
        let mut header = json!({ "alg": "ES256", "typ": "at+jwt" });
        header
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        attacker.sign_jwt(&header, &claims)
    };
    let hs = json!({ "alg": "HS256", "typ": "at+jwt", "kid": kid });

    let forged = [
        (
            "alg none",
            format!(
                "{}.{payload}.",
                part(&json!({ "alg": "none", "typ": "at+jwt", "kid": kid }))
            ),
        ),
        (
            "alg none keeping the signature",
            format!(
                "{}.{payload}.{signature}",
                part(&json!({ "alg": "none", "typ": "at+jwt", "kid": kid }))
            ),
        ),
        (
            "HS256 keyed with the published JWK",
            hs256(jwk.to_string().as_bytes(), &hs, &claims),
        ),
        (
            "HS256 keyed with the public point",
            hs256(&point, &hs, &claims),
        ),
        ("no kid", es256(json!({}))),
        ("kid of a missing key", es256(json!({ "kid": "missing" }))),
        (
            "kid as a path",
            es256(json!({ "kid": "../../../../dev/null" })),
        ),
        ("kid as SQL", es256(json!({ "kid": "' OR '1'='1" }))),
        (
            "the server's kid, another key",
            es256(json!({ "kid": kid })),
        ),
        (
            "an embedded jwk",
            es256(json!({ "kid": kid, "jwk": attacker.jwk() })),
        ),
        (
            "a jku to the attacker's keys",
            es256(json!({ "kid": kid, "jku": "https://evil.example/jwks.json" })),
        ),
        (
            "other claims under the real signature",
            format!("{head}.{}.{signature}", part(&other)),
        ),
        (
            "a DPoP proof as a token",
            attacker.proof("GET", "/auth/me", None),
        ),
    ];
    for (what, forged) in forged {
        let reply = me(&keyward, &forged).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(reply.code(), "invalid_token", "{what}");
        assert!(
            reply.headers.contains_key(header::WWW_AUTHENTICATE),
            "{what}"
        );
    }
    assert_eq!(me(&keyward, &token).await.status, StatusCode::OK);
}

/// Tokens genuinely signed with this deployment's keys but for another issuer or audience,
/// tokens of another deployment, and expired tokens are refused; the same settings are accepted.
#[tokio::test]
async fn tokens_for_another_issuer_audience_or_deployment_and_expired_ones_are_refused() {
    let db = TestDb::new().await;
    // `exp` is whole seconds (issued-at rounded down + TTL), so a token lives between TTL - 1 s
    // and TTL: with 4 s it is certainly valid for the first check and certainly expired 4.2 s
    // after it was issued.
    let keyward = Keyward::start(Settings {
        access_ttl: Duration::from_secs(4),
        ..db.settings()
    })
    .await
    .unwrap();
    // Servers on the same database with the same secret share the signing keys.
    let sibling = |settings: Settings| async { Keyward::start(settings).await.unwrap() };
    let same = sibling(db.settings()).await;
    let other_issuer = sibling(Settings {
        issuer: "http://localhost:9999".into(),
        ..db.settings()
    })
    .await;
    let other_audience = sibling(Settings {
        audience: Some("https://api.other.example".into()),
        ..db.settings()
    })
    .await;
    let elsewhere_db = TestDb::new().await;
    let elsewhere = sibling(Settings {
        secret: Some(MasterSecret::new(
            b"another deployment's secret, 32+ bytes".to_vec(),
        )),
        ..elsewhere_db.settings()
    })
    .await;

    let token = |server: Keyward, email: &'static str| async move {
        access(&sign_up(&server, email).await)
    };
    let accepted = token(same, "same@example.com").await;
    assert_eq!(me(&keyward, &accepted).await.status, StatusCode::OK);
    for (what, token) in [
        (
            "another issuer",
            token(other_issuer, "iss@example.com").await,
        ),
        (
            "another audience",
            token(other_audience, "aud@example.com").await,
        ),
        (
            "another deployment",
            token(elsewhere, "elsewhere@example.com").await,
        ),
    ] {
        let reply = me(&keyward, &token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(reply.code(), "invalid_token", "{what}");
    }

    let short = access(&sign_up(&keyward, "short@example.com").await);
    assert_eq!(me(&keyward, &short).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let expired = me(&keyward, &short).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.code(), "token_expired");
}

/// Over a real connection: an oversized token, header or body is refused without harm, and the
/// server goes on answering.
#[tokio::test]
async fn oversized_headers_and_bodies_are_refused() {
    let db = TestDb::new().await;
    let server = Process::start(&db, &[]).await;

    let long_token = format!("Bearer {}", "a".repeat(100 * 1024));
    let reply = server
        .send(
            Request::get("/auth/me")
                .header(header::AUTHORIZATION, long_token)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.code(), "invalid_token");

    let long_proof = "a".repeat(100 * 1024);
    let reply = server
        .send(dpop_request(
            Method::POST,
            "/auth/sign-up",
            None,
            Some(&long_proof),
            Some(&json!({ "email": "proof@example.com", "password": PASSWORD })),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(reply.code(), "invalid_dpop_proof");

    let huge_header = Request::get("/healthz")
        .header("x-padding", "a".repeat(1024 * 1024))
        .body(Body::empty())
        .unwrap();
    // hyper refuses a head over its buffer (~400 KiB) or with over 100 headers: 431, closed.
    let reply = server.send(huge_header).await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let mut many = Request::get("/healthz");
    for i in 0..200 {
        many = many.header(format!("x-h{i}"), "1");
    }
    let reply = server.send(many.body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    let body = json!({ "email": "big@example.com", "password": "p".repeat(1024 * 1024) });
    let reply = server.send(post("/auth/sign-up", &body)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.code(), "payload_too_large");

    assert_eq!(server.send(get("/healthz")).await.status, StatusCode::OK);
    let keyward = db.start().await;
    assert!(keyward.store().users(10, 0).await.unwrap().is_empty());
}

/// Browsers may read answers only from the allowed origins; no credentials are ever allowed.
#[tokio::test]
async fn cors_answers_only_the_allowed_origins() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/auth/refresh")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type,dpop")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = send(&keyward, preflight("http://localhost:8787")).await;
    assert_eq!(
        allowed.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://localhost:8787"
    );
    assert!(
        !allowed
            .headers
            .contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
    );

    for origin in [
        "https://evil.example",
        "http://localhost:8787.evil.example",
        "http://localhost:9999",
        "null",
    ] {
        let reply = send(&keyward, preflight(origin)).await;
        assert!(
            !reply
                .headers
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "preflight from {origin}"
        );
        let mut request = post(
            "/auth/sign-in",
            &json!({ "email": "a@example.com", "password": PASSWORD }),
        );
        request
            .headers_mut()
            .insert(header::ORIGIN, origin.parse().unwrap());
        let reply = send(&keyward, request).await;
        assert!(
            !reply
                .headers
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "answer to {origin}"
        );
    }
}

/// Every endpoint that takes a page for emailed links (`redirect_to`) refuses any page outside
/// the allowed origins, so none can be turned into an open redirect or a phishing mail that
/// carries a real token to another site.
#[tokio::test]
async fn emailed_links_only_go_to_allowed_origins() {
    let db = TestDb::new().await;
    let keyward = Keyward::start(Settings {
        app_url: Some("https://app.example.com/account".into()),
        ..db.settings()
    })
    .await
    .unwrap();
    let token = access(&sign_up(&keyward, "redirect@example.com").await);
    let foreign = [
        "https://evil.example/reset",
        "https://app.example.com.evil.example/",
        "https://app.example.com@evil.example/",
        "https://user@app.example.com/",
        "//evil.example/",
        "javascript:alert(1)",
        "data:text/html,hi",
        "http://app.example.com/",
        "not a url",
    ];
    for target in foreign {
        let requests = [
            post(
                "/auth/password/forgot",
                &json!({ "email": "redirect@example.com", "redirect_to": target }),
            ),
            post(
                "/auth/magic-link",
                &json!({ "email": "redirect@example.com", "redirect_to": target }),
            ),
            json_request(
                Method::POST,
                "/auth/email/change",
                Some(&token),
                &json!({ "new_email": "other@example.com", "redirect_to": target }),
            ),
        ];
        for request in requests {
            let uri = request.uri().to_string();
            let reply = send(&keyward, request).await;
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::FORBIDDEN, "redirect_not_allowed"),
                "{uri} with {target}"
            );
        }
    }
    let outbox = keyward.store().recent_mail(50).await.unwrap();
    assert!(
        outbox.iter().all(|mail| !mail.text_body.contains("evil")),
        "no mail went out for a refused page"
    );
}

/// No endpoint takes a URL to send the browser to, beyond `redirect_to` (checked above), so none
/// can be turned into an open redirect. This fails as soon as one appears, so that it gets its
/// open-redirect tests.
#[tokio::test]
async fn no_endpoint_takes_a_redirect_target_unchecked() {
    let mut spec: Value = serde_json::from_str(&keyward_server::openapi_json()).unwrap();
    // A connect ticket's `url` is never followed nor redirected to: it is only compared with the
    // URL the ticket is redeemed at (tests/connect_tickets.rs).
    let schemas = spec["components"]["schemas"].as_object_mut().unwrap();
    assert!(schemas.remove("ConnectTicketRequest").is_some());
    // Nor at its redemption by a server in another process (tests/gateway.rs: another URL is
    // refused).
    assert!(schemas.remove("RedeemTicket").is_some());
    // An enrolment's `otpauth_uri` is an answer for the authenticator app (a QR code), never a
    // target the server follows or sends a browser to.
    assert!(schemas.remove("TotpEnrolment").is_some());
    assert!(schemas.remove("Envelope_TotpEnrolment").is_some());
    // `redirect_to`: tested by `emailed_links_only_go_to_allowed_origins`, and an invitation's
    // by tests/orgs.rs (`an_invitation_is_accepted_once_by_its_verified_address_only`).
    for checked in ["ForgotPassword", "SendMagicLink", "ChangeEmail", "Invite"] {
        let schema = schemas.remove(checked).unwrap();
        let mut names = Vec::new();
        collect_names(&schema, &mut names);
        assert!(names.contains(&"redirect_to".to_owned()), "{checked}");
    }
    // The OpenID Connect sign-in's `redirect_to`: tested in tests/oauth.rs (a foreign page is
    // refused with `redirect_not_allowed`; planted parameters are dropped).
    #[cfg(feature = "oauth")]
    {
        let start = spec["paths"]["/auth/oauth/{provider}/start"]["get"]["parameters"]
            .as_array_mut()
            .expect("the sign-in's start takes parameters");
        let before = start.len();
        start.retain(|p| p["name"] != "redirect_to");
        assert_eq!(start.len() + 1, before);
        // A link's `redirect_to`: tested in tests/oauth.rs (a foreign page is refused). Its
        // answer's `url` is the provider's authorization URL, made by the server.
        let schemas = spec["components"]["schemas"].as_object_mut().unwrap();
        let link = schemas.remove("OAuthLink").unwrap();
        let mut names = Vec::new();
        collect_names(&link, &mut names);
        assert!(names.contains(&"redirect_to".to_owned()));
        assert!(schemas.remove("OAuthLinkStarted").is_some());
        assert!(schemas.remove("Envelope_OAuthLinkStarted").is_some());
    }
    // The admin API's `next_cursor`s: opaque page cursors the server makes (base64url of a time
    // and an id, or of an event's id; tests/admin.rs refuses any other), never a place to go.
    for (page, items) in [("UserPage", "users"), ("AuditPage", "events")] {
        let schemas = spec["components"]["schemas"].as_object_mut().unwrap();
        let schema = schemas.remove(page).unwrap();
        let mut names = Vec::new();
        collect_names(&schema, &mut names);
        names.sort();
        let mut expected = [items, "next_cursor"];
        expected.sort_unstable();
        assert_eq!(names, expected, "{page}");
        assert!(schemas.remove(&format!("Envelope_{page}")).is_some());
    }
    // Webhooks: `url` is where the server posts events, never where a browser is sent; it must
    // name a public address (tests/webhooks.rs refuses private ones when made and when
    // delivered, and the server follows no redirect). The delivery log's `next_cursor` is an
    // opaque page cursor, its `next_attempt_at` a time.
    {
        let schemas = spec["components"]["schemas"].as_object_mut().unwrap();
        for (schema, expected) in [
            ("NewWebhook", &["events", "url"][..]),
            ("WebhookChanges", &["events", "url"]),
            (
                "WebhookEndpoint",
                &[
                    "configured",
                    "created_at",
                    "disabled_at",
                    "disabled_reason",
                    "events",
                    "id",
                    "previous_secret_until",
                    "url",
                ],
            ),
            ("WebhookCreated", &["secret"]),
            ("WebhookDeliveryPage", &["deliveries", "next_cursor"]),
        ] {
            let removed = schemas.remove(schema).unwrap();
            let mut names = Vec::new();
            collect_names(&removed, &mut names);
            names.sort();
            assert_eq!(names, expected, "{schema}");
        }
        for envelope in [
            "Envelope_WebhookCreated",
            "Envelope_WebhookEndpoint",
            "Envelope_WebhookEndpoints",
            "Envelope_WebhookDeliveryPage",
            "Envelope_WebhookDelivery",
        ] {
            assert!(schemas.remove(envelope).is_some(), "{envelope}");
        }
        let delivery = schemas.remove("WebhookDelivery").unwrap();
        let mut names = Vec::new();
        collect_names(&delivery, &mut names);
        assert!(names.contains(&"next_attempt_at".to_owned()), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("url")), "{names:?}");
    }
    // OpenID Connect clients: their redirect URIs are registered by an admin, checked there
    // (https, or http on a loopback address; no fragment, wildcard or credentials:
    // tests/oidc_provider.rs) and kept as given, to be compared byte for byte with an
    // authorization request's, never by prefix.
    #[cfg(feature = "oidc-provider")]
    {
        let schemas = spec["components"]["schemas"].as_object_mut().unwrap();
        for schema in ["NewClient", "ClientChanges", "OidcClient"] {
            let removed = schemas.remove(schema).unwrap();
            let mut names = Vec::new();
            collect_names(&removed, &mut names);
            names.retain(|name| name.contains("uri"));
            names.sort();
            assert_eq!(
                names,
                ["post_logout_redirect_uris", "redirect_uris"],
                "{schema}"
            );
        }
        // The token endpoint's `redirect_uri` is only compared, byte for byte, with the one
        // its code was issued for (a code for another is `invalid_grant`), never followed.
        // (The authorization endpoint, a page outside this document, redirects only to a
        // registered URI, byte for byte: `authorization_requests_that_are_not_right_are_refused`.)
        let form = schemas.remove("TokenForm").unwrap();
        let mut names = Vec::new();
        collect_names(&form, &mut names);
        names.retain(|name| name.contains("uri"));
        assert_eq!(names, ["redirect_uri"]);
        // `continue_to` is an answer, never taken: always `/auth/oidc/continue?req=…` on this
        // server, for a request this server sealed (checked before anything is answered:
        // `the_apps_own_sign_in_page_signs_users_in_for_other_apps`).
        for schema in ["BrowserSessionStarted", "Envelope_BrowserSessionStarted"] {
            let removed = schemas.remove(schema).unwrap();
            let mut names = Vec::new();
            collect_names(&removed, &mut names);
            names.retain(|name| name.contains("continue"));
            assert_eq!(names, ["continue_to"], "{schema}");
        }
        for schema in [
            "ClientRegistered",
            "Envelope_ClientRegistered",
            "Envelope_OidcClient",
            "Envelope_OidcClients",
            "OidcClients",
        ] {
            assert!(schemas.remove(schema).is_some(), "{schema}");
        }
    }
    let mut names = Vec::new();
    collect_names(&spec, &mut names);
    let redirecting: Vec<&String> = names
        .iter()
        .filter(|name| {
            let name = name.to_ascii_lowercase();
            [
                "redirect", "return", "next", "callback", "continue", "url", "uri",
            ]
            .iter()
            .any(|word| name.contains(word))
        })
        .collect();
    assert!(
        redirecting.is_empty(),
        "parameters that look like redirect targets, add open-redirect tests: {redirecting:?}"
    );
}

/// Every parameter name and schema property name in an OpenAPI document.
fn collect_names(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                names.extend(properties.keys().cloned());
            }
            if map.contains_key("in")
                && let Some(Value::String(name)) = map.get("name")
            {
                names.push(name.clone());
            }
            for child in map.values() {
                collect_names(child, names);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_names(item, names)),
        _ => {}
    }
}

/// SQL in an address is data or refused, never code; look-alike addresses never reach, or
/// duplicate, another account.
#[tokio::test]
async fn sql_ish_and_confusable_emails_reach_no_other_account() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    sign_up(&keyward, "admin@example.com").await;
    sign_up(&keyward, "o'brien@example.com").await;
    sign_in(&keyward, "o'brien@example.com").await;

    let attempt = |path: &'static str, email: &str| {
        let body = json!({ "email": email, "password": PASSWORD });
        let keyward = keyward.clone();
        async move { send(&keyward, post(path, &body)).await }
    };
    for email in [
        "admin@example.com' OR '1'='1",
        "admin@example.com'; DROP TABLE users; --",
        "\"admin'--\"@example.com",
        "admin@example.com\u{0}",
        "admin@example.com\nbcc: x@example.com",
        // Cyrillic а and Greek ο in the local part: not ASCII, refused.
        "\u{430}dmin@example.com",
        "adm\u{3bf}n@example.com",
        // Full-width letters: refused in the local part.
        "\u{ff41}dmin@example.com",
    ] {
        for path in ["/auth/sign-in", "/auth/sign-up"] {
            let reply = attempt(path, email).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path} {email:?}");
            assert_eq!(reply.code(), "invalid_email", "{path} {email:?}");
        }
    }

    // Case and full-width letters in the domain name the same account, which exists already.
    for email in ["ADMIN@EXAMPLE.COM", "admin@\u{ff45}\u{ff58}ample.com"] {
        let taken = attempt("/auth/sign-up", email).await;
        assert_eq!(taken.code(), "email_taken", "{email}");
        let signed = attempt("/auth/sign-in", email).await;
        assert_eq!(signed.status, StatusCode::OK, "{email}");
        assert_eq!(signed.body["data"]["user"]["email"], "admin@example.com");
    }

    // A Cyrillic а in the domain is another domain: a separate account, shown in punycode so
    // it cannot pass for the real one, and admin's password does not open it.
    let lookalike = "admin@ex\u{430}mple.com";
    let reply = attempt("/auth/sign-in", lookalike).await;
    assert_eq!(reply.code(), "invalid_credentials");
    let created = attempt("/auth/sign-up", lookalike).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let shown = created.body["data"]["user"]["email"].as_str().unwrap();
    assert!(shown.contains("xn--"), "{shown}");
    assert_ne!(created.body["data"]["user"]["id"], json!(null));

    let emails: Vec<String> = keyward
        .store()
        .users(100, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.email)
        .collect();
    assert_eq!(emails.len(), 3, "{emails:?}");
}

/// A failed sign-in takes as long for an unknown address as for a known one with a wrong
/// password (the unknown one verifies against a dummy hash), so timing does not tell which
/// addresses have accounts. Samples are interleaved so that load on the machine hits both.
#[tokio::test]
async fn sign_in_takes_as_long_for_unknown_emails_as_for_known_ones() {
    const SAMPLES: usize = 25;
    let db = TestDb::new().await;
    let keyward = Keyward::start(Settings {
        rate_limits: false,
        ..db.settings()
    })
    .await
    .unwrap();
    for i in 0..SAMPLES {
        sign_up(&keyward, &format!("known{i}@example.com")).await;
    }
    let wrong = |email: String| {
        post(
            "/auth/sign-in",
            &json!({ "email": email, "password": "wrong password" }),
        )
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        for (email, times) in [
            (format!("known{i}@example.com"), &mut known),
            (format!("nobody{i}@example.com"), &mut unknown),
        ] {
            let started = Instant::now();
            let reply = send(&keyward, wrong(email)).await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(reply.code(), "invalid_credentials");
        }
    }
    let quartiles = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        [
            times[times.len() / 4],
            times[times.len() / 2],
            times[times.len() * 3 / 4],
        ]
    };
    let (known, unknown) = (quartiles(&mut known), quartiles(&mut unknown));
    let ratio = known[1] / unknown[1];
    // Without the dummy hash an unknown address answers 20–100× faster than a known one.
    assert!(
        (0.5..2.0).contains(&ratio),
        "median known {:.1} ms vs unknown {:.1} ms (quartiles ms {known:?} / {unknown:?})",
        known[1],
        unknown[1]
    );
}
