//! Sign-in with an OpenID Connect provider, against a real one (`oidc-provider` from npm, in a
//! Node process): the whole flow to a device-bound session, and the refusals (a tampered
//! `state`, another browser, a wrong `iss`, a replayed code, a page outside the allowed
//! origins, an address that belongs to an account already).
#![cfg(feature = "oauth")]
// Tests stand outside the server: they read the clock as a client would.
#![allow(clippy::disallowed_methods)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::oidc::{CLIENT_ID, CLIENT_SECRET, Provider};
use common::*;
use keyward_server::{Keyward, OAuthProvider, Settings};
use serde_json::json;

const APP: &str = "https://app.example.com/signed-in";

async fn start_with(db: &TestDb, provider: &Provider) -> Keyward {
    let settings = Settings {
        app_url: Some(APP.into()),
        oauth: vec![OAuthProvider {
            id: "test".into(),
            name: Some("Test provider".into()),
            issuer: provider.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
        }],
        ..db.settings()
    };
    Keyward::start(settings).await.expect("the server starts")
}

fn callback_url(keyward: &Keyward) -> String {
    format!("{}/auth/oauth/test/callback", keyward.settings().issuer)
}

/// The verifier every test page keeps, and its challenge.
const VERIFIER: &str = "the-page-that-started-the-sign-in-keeps-this";

fn challenge(verifier: &str) -> String {
    use sha2::Digest as _;
    b64(&sha2::Sha256::digest(verifier.as_bytes()))
}

/// `GET /auth/oauth/test/start`: the provider's URL and the binding cookie (`name=value`).
async fn begin(keyward: &Keyward, redirect_to: &str) -> (String, String) {
    let uri = format!(
        "/auth/oauth/test/start?redirect_to={}&code_challenge={}",
        url::form_urlencoded::byte_serialize(redirect_to.as_bytes()).collect::<String>(),
        challenge(VERIFIER)
    );
    let reply = send(keyward, get(&uri)).await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
    let location = reply.headers[header::LOCATION].to_str().unwrap().to_owned();
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let binding = cookie.split(';').next().unwrap().to_owned();
    (location, binding)
}

/// The callback at `url` (as the provider sent it), with `cookie`: where it sends the browser.
async fn finish(keyward: &Keyward, url: &str, cookie: Option<&str>) -> url::Url {
    let path = url
        .split_once("/auth/oauth/")
        .map(|(_, rest)| format!("/auth/oauth/{rest}"))
        .unwrap();
    let mut request = Request::builder().method(Method::GET).uri(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let reply = send(keyward, request.body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
    url::Url::parse(reply.headers[header::LOCATION].to_str().unwrap()).unwrap()
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A whole sign-in as `sub`: the app's page it ends on.
async fn sign_in_as(keyward: &Keyward, provider: &Provider, sub: &str, email: &str) -> url::Url {
    provider.next(sub, email, true).await;
    let (location, cookie) = begin(keyward, APP).await;
    let back = provider.walk(&location, &callback_url(keyward)).await;
    finish(keyward, &back, Some(&cookie)).await
}

async fn exchange(keyward: &Keyward, device: &TestDevice, code: &str) -> Reply {
    exchange_with(keyward, device, code, VERIFIER).await
}

async fn exchange_with(
    keyward: &Keyward,
    device: &TestDevice,
    code: &str,
    verifier: &str,
) -> Reply {
    let path = "/auth/oauth/exchange";
    let proof = device.proof("POST", path, None);
    let body = json!({ "code": code, "code_verifier": verifier });
    send(
        keyward,
        dpop_request(Method::POST, path, None, Some(&proof), Some(&body)),
    )
    .await
}

#[tokio::test]
async fn a_provider_sign_in_ends_in_a_device_bound_session_and_its_code_works_once() {
    let db = TestDb::new().await;
    let keyward_settings_issuer = db.settings().issuer;
    let provider = Provider::start(&format!(
        "{keyward_settings_issuer}/auth/oauth/test/callback"
    ));
    let keyward = start_with(&db, &provider).await;

    let listed = send(&keyward, get("/auth/oauth/providers")).await;
    assert_eq!(
        listed.body["data"]["providers"],
        json!([{ "id": "test", "name": "Test provider" }])
    );

    let back = sign_in_as(&keyward, &provider, "ada", "ada@example.com").await;
    assert!(back.as_str().starts_with(APP), "{back}");
    assert_eq!(param(&back, "login_error"), None, "{back}");
    let code = param(&back, "keyward_code").expect("a code");
    assert!(!back.as_str().contains("access_token") && !back.as_str().contains("id_token"));

    let device = TestDevice::new();
    let reply = exchange(&keyward, &device, &code).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["tokens"]["token_type"], "DPoP");
    assert_eq!(reply.body["data"]["user"]["email"], "ada@example.com");
    assert_eq!(reply.body["data"]["user"]["email_verified"], true);
    let user_id = reply.body["data"]["user"]["id"].clone();
    assert_eq!(
        exchange(&keyward, &device, &code).await.code(),
        "invalid_link",
        "single use"
    );

    // The same identity again: the same account.
    let back = sign_in_as(&keyward, &provider, "ada", "ada@example.com").await;
    let code = param(&back, "keyward_code").unwrap();
    let reply = exchange(&keyward, &TestDevice::new(), &code).await;
    assert_eq!(reply.body["data"]["user"]["id"], user_id);
}

#[tokio::test]
async fn tampered_answers_other_browsers_foreign_pages_and_taken_addresses_are_refused() {
    let db = TestDb::new().await;
    let issuer = db.settings().issuer;
    let provider = Provider::start(&format!("{issuer}/auth/oauth/test/callback"));
    let keyward = start_with(&db, &provider).await;

    // A page outside the allowed origins never gets a code.
    let uri = format!(
        "/auth/oauth/test/start?redirect_to=https%3A%2F%2Fevil.example%2F&code_challenge={}",
        challenge(VERIFIER)
    );
    let uri = uri.as_str();
    let reply = send(&keyward, get(uri)).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::FORBIDDEN, "redirect_not_allowed")
    );
    assert_eq!(
        send(
            &keyward,
            get(&format!(
                "/auth/oauth/nope/start?code_challenge={}",
                challenge(VERIFIER)
            ))
        )
        .await
        .code(),
        "not_found"
    );

    let walk = |sub: &'static str| {
        let (keyward, provider) = (&keyward, &provider);
        async move {
            provider
                .next(sub, &format!("{sub}@example.com"), true)
                .await;
            let (location, cookie) = begin(keyward, APP).await;
            let back = provider.walk(&location, &callback_url(keyward)).await;
            (back, cookie)
        }
    };

    // A tampered `state`.
    let (back, cookie) = walk("tess").await;
    let state = url::Url::parse(&back).unwrap();
    let state = param(&state, "state").unwrap();
    let tampered = back.replace(&state, &format!("{state}x"));
    let landed = finish(&keyward, &tampered, Some(&cookie)).await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("invalid_state")
    );
    assert_eq!(param(&landed, "keyward_code"), None);

    // The right answer in other browsers (no binding cookie, another one) finds nothing, and
    // leaves the sign-in to its browser, once.
    let (back, cookie) = walk("otto").await;
    let landed = finish(&keyward, &back, None).await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("invalid_state")
    );
    let (_, other) = begin(&keyward, APP).await;
    let landed = finish(&keyward, &back, Some(&other)).await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("invalid_state")
    );
    let landed = finish(&keyward, &back, Some(&cookie)).await;
    assert!(param(&landed, "keyward_code").is_some(), "{landed}");
    let landed = finish(&keyward, &back, Some(&cookie)).await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("invalid_state"),
        "single use"
    );

    // Another issuer named in the answer (a mix-up, RFC 9207).
    let (back, cookie) = walk("iris").await;
    let iss = url::form_urlencoded::byte_serialize(provider.issuer.as_bytes()).collect::<String>();
    let mixed = back.replace(&format!("iss={iss}"), "iss=https%3A%2F%2Fattacker.example");
    assert_ne!(mixed, back, "the provider names itself: {back}");
    let landed = finish(&keyward, &mixed, Some(&cookie)).await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("invalid_response")
    );

    // An address that has an account already: nothing joins silently.
    sign_up(&keyward, "owner@example.com").await;
    provider.next("someone", "owner@example.com", true).await;
    let (location, cookie) = begin(&keyward, APP).await;
    let back = provider.walk(&location, &callback_url(&keyward)).await;
    let landed = finish(&keyward, &back, Some(&cookie)).await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("account_exists")
    );
    let reply = send(
        &keyward,
        post(
            "/auth/sign-in",
            &json!({ "email": "owner@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the owner's account is as it was"
    );
}

/// An account with a second factor is asked for it after a provider's sign-in too.
#[tokio::test]
async fn a_provider_sign_in_still_asks_for_the_second_factor() {
    let db = TestDb::new().await;
    let issuer = db.settings().issuer;
    let provider = Provider::start(&format!("{issuer}/auth/oauth/test/callback"));
    let keyward = start_with(&db, &provider).await;
    let device = TestDevice::new();
    let back = sign_in_as(&keyward, &provider, "two", "two@example.com").await;
    let reply = exchange(&keyward, &device, &param(&back, "keyward_code").unwrap()).await;
    let token = access(&reply.body["data"]);

    // TOTP turned on from that device-bound session, with a code computed as an app would.
    let authed = |path: &str, body: serde_json::Value| {
        let proof = device.proof("POST", path, Some(&token));
        dpop_request(
            Method::POST,
            path,
            Some(("DPoP", &token)),
            Some(&proof),
            Some(&body),
        )
    };
    let enrolment = send(&keyward, authed("/auth/mfa/totp", json!({}))).await;
    assert_eq!(enrolment.status, StatusCode::OK, "{}", enrolment.body);
    let secret = enrolment.body["data"]["secret"].as_str().unwrap();
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap();
    let app = totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        None,
        String::new(),
    );
    let code = app.generate_current().unwrap();
    let confirmed = send(
        &keyward,
        authed("/auth/mfa/totp/confirm", json!({ "code": code })),
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);

    let back = sign_in_as(&keyward, &provider, "two", "two@example.com").await;
    let reply = exchange(
        &keyward,
        &TestDevice::new(),
        &param(&back, "keyward_code").unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["mfa_required"], true, "{}", reply.body);
    assert!(reply.body["data"]["tokens"].is_null());
}

/// Review findings: someone else's code sent to a victim's page (login CSRF), a code planted
/// in `redirect_to`, an address the provider does not vouch for, a changed `nonce`, and an
/// exchange without a device proof.
#[tokio::test]
async fn codes_are_the_starting_pages_and_only_vouched_addresses_make_accounts() {
    let db = TestDb::new().await;
    let issuer = db.settings().issuer;
    let provider = Provider::start(&format!("{issuer}/auth/oauth/test/callback"));
    let keyward = start_with(&db, &provider).await;

    // The attacker's own sign-in, its code shown by a page that did not start it.
    let back = sign_in_as(&keyward, &provider, "mallory", "mallory@example.com").await;
    let code = param(&back, "keyward_code").unwrap();
    let other_page = "the victim's page holds another verifier";
    let victim = exchange_with(&keyward, &TestDevice::new(), &code, other_page).await;
    assert_eq!(victim.code(), "invalid_link");

    // Without a proof there is no session to bind: refused, and the code is still good.
    let back = sign_in_as(&keyward, &provider, "mallory", "mallory@example.com").await;
    let code = param(&back, "keyward_code").unwrap();
    let body = json!({ "code": code, "code_verifier": VERIFIER });
    let bare = send(&keyward, post("/auth/oauth/exchange", &body)).await;
    assert_eq!(bare.code(), "dpop_required");
    let proved = exchange(&keyward, &TestDevice::new(), &code).await;
    assert_eq!(proved.status, StatusCode::OK, "{}", proved.body);

    // A code planted in the page's address is dropped; the server's own is the only one.
    provider.next("pat", "pat@example.com", true).await;
    let planted = format!("{APP}?tab=2&keyward_code=kwo_planted&login_error=x");
    let (location, cookie) = begin(&keyward, &planted).await;
    let back = provider.walk(&location, &callback_url(&keyward)).await;
    let landed = finish(&keyward, &back, Some(&cookie)).await;
    let codes: Vec<_> = landed
        .query_pairs()
        .filter(|(k, _)| k == "keyward_code")
        .collect();
    assert_eq!(codes.len(), 1, "{landed}");
    assert_ne!(codes[0].1, "kwo_planted");
    assert_eq!(param(&landed, "login_error"), None);
    assert_eq!(param(&landed, "tab").as_deref(), Some("2"));

    // An address the provider does not say is verified makes no account.
    provider.next("vic", "vic@example.com", false).await;
    let (location, cookie) = begin(&keyward, APP).await;
    let back = provider.walk(&location, &callback_url(&keyward)).await;
    let landed = finish(&keyward, &back, Some(&cookie)).await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("email_unverified")
    );
    let body = json!({ "email": "vic@example.com", "password": PASSWORD });
    let reply = send(&keyward, post("/auth/sign-up", &body)).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "still free: {}",
        reply.body
    );

    // An ID token for another `nonce` than the sign-in's.
    provider.next("nina", "nina@example.com", true).await;
    let (location, cookie) = begin(&keyward, APP).await;
    let nonce = param(&url::Url::parse(&location).unwrap(), "nonce").unwrap();
    let changed = location.replace(&format!("nonce={nonce}"), "nonce=another-nonce");
    assert_ne!(changed, location);
    let back = provider.walk(&changed, &callback_url(&keyward)).await;
    let landed = finish(&keyward, &back, Some(&cookie)).await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("invalid_response")
    );
}
