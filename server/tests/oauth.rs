//! Sign-in with an OpenID Connect provider, against a real one (`oidc-provider` from npm, in a
//! Node process): the whole flow to a device-bound session, and the refusals (a tampered
//! `state`, another browser, a wrong `iss`, a replayed code, a page outside the allowed
//! origins, an address that belongs to an account already).
#![cfg(feature = "oauth")]
// Tests stand outside the server: they read the clock as a client would.
#![allow(clippy::disallowed_methods)]

use crate::common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::oidc::{CLIENT_ID, CLIENT_SECRET, Provider};
use common::smtp::Smtp;
use common::*;
use keyward_server::{Claims, Keyward, OAuthProvider, Settings};
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
    begin_at(keyward, "test", redirect_to).await
}

/// `GET /auth/oauth/{id}/start`: the provider's URL and the binding cookie (`name=value`).
async fn begin_at(keyward: &Keyward, id: &str, redirect_to: &str) -> (String, String) {
    let uri = format!(
        "/auth/oauth/{id}/start?redirect_to={}&code_challenge={}",
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

/// A provider that rotates its signing key: the next sign-in reads its keys again and passes.
#[tokio::test]
async fn a_rotated_provider_key_is_fetched_again() {
    let db = TestDb::new().await;
    let issuer = db.settings().issuer;
    let callback = format!("{issuer}/auth/oauth/test/callback");
    let provider = Provider::start(&callback);
    let keyward = start_with(&db, &provider).await;
    let back = sign_in_as(&keyward, &provider, "rot", "rot@example.com").await;
    assert!(param(&back, "keyward_code").is_some(), "{back}");

    // The provider restarts with a new key (its metadata are still fresh here).
    let port = provider.port();
    drop(provider);
    let provider = Provider::start_on(port, &callback);
    let back = sign_in_as(&keyward, &provider, "rot", "rot@example.com").await;
    assert!(param(&back, "keyward_code").is_some(), "{back}");
}

/// Two sign-ins started in one browser (two tabs) both finish: each has its own cookie.
#[tokio::test]
async fn two_sign_ins_started_in_one_browser_both_finish() {
    let db = TestDb::new().await;
    let issuer = db.settings().issuer;
    let provider = Provider::start(&format!("{issuer}/auth/oauth/test/callback"));
    let keyward = start_with(&db, &provider).await;
    provider.next("tab", "tab@example.com", true).await;
    let (first, first_cookie) = begin(&keyward, APP).await;
    let (second, second_cookie) = begin(&keyward, APP).await;
    assert_ne!(
        first_cookie.split('=').next(),
        second_cookie.split('=').next(),
        "one cookie each"
    );
    let jar = format!("{first_cookie}; {second_cookie}");
    for location in [second, first] {
        let back = provider.walk(&location, &callback_url(&keyward)).await;
        let landed = finish(&keyward, &back, Some(&jar)).await;
        assert!(param(&landed, "keyward_code").is_some(), "{landed}");
    }
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

#[tokio::test]
async fn a_first_provider_sign_in_the_apps_hook_refuses_leaves_no_account() {
    let db = TestDb::new().await;
    let issuer = db.settings().issuer;
    let provider = Provider::start(&format!("{issuer}/auth/oauth/test/callback"));
    let keyward = start_with(&db, &provider).await;
    let keyward = keyward.with_sign_in_hook(|attempt| async move {
        if attempt.email.starts_with("held") {
            return Err("Your account is on hold.".to_owned());
        }
        Ok(Claims::new())
    });

    // The hook is asked when the app exchanges the code: refused there, with its reason, and
    // nothing was made, neither at the callback nor at the exchange.
    let back = sign_in_as(&keyward, &provider, "held", "held@example.com").await;
    let code = param(&back, "keyward_code").expect("a code");
    let refused = exchange(&keyward, &TestDevice::new(), &code).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(refused.body["error"]["message"], "Your account is on hold.");
    assert_eq!(accounts(&keyward).await, 0);
    let kinds = audit_kinds(&keyward, 50).await;
    assert!(!kinds.contains(&"sign_up".to_owned()), "{kinds:?}");

    // Once the app lets it in, the same identity's first sign-in makes the account, with the
    // hook's claims in its tokens; the next sign-in finds it.
    let keyward = keyward.with_sign_in_hook(|attempt| async move {
        let mut claims = Claims::new();
        claims.insert("new_user".into(), attempt.new_user.into());
        claims.insert("amr".into(), attempt.amr.join(" ").into());
        Ok(claims)
    });
    let back = sign_in_as(&keyward, &provider, "held", "held@example.com").await;
    let code = param(&back, "keyward_code").unwrap();
    let made = exchange(&keyward, &TestDevice::new(), &code).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert_eq!(made.body["data"]["user"]["email_verified"], true);
    let ext = &claims_of(&access(&made.body["data"]))["ext"];
    assert_eq!(*ext, json!({ "new_user": true, "amr": "fed" }));
    let back = sign_in_as(&keyward, &provider, "held", "held@example.com").await;
    let code = param(&back, "keyward_code").unwrap();
    let again = exchange(&keyward, &TestDevice::new(), &code).await;
    assert_eq!(
        again.body["data"]["user"]["id"],
        made.body["data"]["user"]["id"]
    );
    assert_eq!(
        claims_of(&access(&again.body["data"]))["ext"]["new_user"],
        false
    );
    assert_eq!(accounts(&keyward).await, 1);
    let kinds = audit_kinds(&keyward, 50).await;
    let made = kinds.iter().filter(|kind| *kind == "sign_up").count();
    assert_eq!(made, 1, "{kinds:?}");
}

/// `POST /auth/oauth/test/link` by the session of `token`.
async fn link_start(keyward: &Keyward, token: &str) -> Reply {
    let body = json!({ "redirect_to": APP, "code_challenge": challenge(VERIFIER) });
    let request = json_request(Method::POST, "/auth/oauth/test/link", Some(token), &body);
    send(keyward, request).await
}

/// `POST /auth/identities` by the session of `token`.
async fn link_finish(keyward: &Keyward, token: &str, code: &str, verifier: &str) -> Reply {
    let body = json!({ "code": code, "code_verifier": verifier });
    let request = json_request(Method::POST, "/auth/identities", Some(token), &body);
    send(keyward, request).await
}

/// A link by the session of `token` through the provider as `sub`: where the provider's
/// callback sends the browser (any browser: no cookie).
async fn link_as(
    keyward: &Keyward,
    provider: &Provider,
    token: &str,
    (sub, email, verified): (&str, &str, bool),
) -> url::Url {
    provider.next(sub, email, verified).await;
    let started = link_start(keyward, token).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let url = started.body["data"]["url"].as_str().unwrap();
    assert!(url.starts_with(&provider.issuer), "{url}");
    let back = provider.walk(url, &callback_url(keyward)).await;
    finish(keyward, &back, None).await
}

/// An address that has an account is joined only by its signed-in owner: the provider's
/// sign-in is refused (`account_exists`), the owner signs in and links it, then the provider
/// signs in to that account. A link is finished only by the session and page that started it;
/// an identity of another account, or an address the provider does not vouch for, is never
/// linked; the last way to sign in is never unlinked.
#[tokio::test]
async fn an_owner_links_a_provider_by_signing_in_and_never_unlinks_the_last_way_in() {
    let db = TestDb::new().await;
    let issuer = db.settings().issuer;
    let provider = Provider::start(&format!("{issuer}/auth/oauth/test/callback"));
    let keyward = start_with(&db, &provider).await;
    let owner = sign_up(&keyward, "lin@example.com").await;
    let user_id = owner["user"]["id"].clone();
    let token = access(&owner);

    let landed = sign_in_as(&keyward, &provider, "lin", "lin@example.com").await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("account_exists")
    );
    // A link comes back only to a page of an allowed origin.
    let body =
        json!({ "redirect_to": "https://evil.example/", "code_challenge": challenge(VERIFIER) });
    let request = json_request(Method::POST, "/auth/oauth/test/link", Some(&token), &body);
    let reply = send(&keyward, request).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::FORBIDDEN, "redirect_not_allowed")
    );

    // The owner links it. Another session of the same account cannot finish it (and leaves
    // it to its own), nor can a page without the verifier.
    let landed = link_as(
        &keyward,
        &provider,
        &token,
        ("lin", "lin@example.com", true),
    )
    .await;
    assert!(landed.as_str().starts_with(APP), "{landed}");
    let code = param(&landed, "keyward_code").expect("a link code");
    let other = access(&sign_in(&keyward, "lin@example.com").await);
    let reply = link_finish(&keyward, &other, &code, VERIFIER).await;
    assert_eq!(reply.code(), "invalid_link");
    let reply = link_finish(&keyward, &token, &code, VERIFIER).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["identity"]["provider"], "test");
    assert_eq!(reply.body["data"]["identity"]["email"], "lin@example.com");
    let identity = reply.body["data"]["identity"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = link_finish(&keyward, &token, &code, VERIFIER).await;
    assert_eq!(reply.code(), "invalid_link", "single use");
    let landed = link_as(
        &keyward,
        &provider,
        &token,
        ("lin", "lin@example.com", true),
    )
    .await;
    let code = param(&landed, "keyward_code").unwrap();
    let reply = link_finish(&keyward, &token, &code, "another page's verifier").await;
    assert_eq!(reply.code(), "invalid_link");

    // From now on the provider signs in to the owner's account.
    let landed = sign_in_as(&keyward, &provider, "lin", "lin@example.com").await;
    let code = param(&landed, "keyward_code").expect("a sign-in code");
    let reply = exchange(&keyward, &TestDevice::new(), &code).await;
    assert_eq!(reply.body["data"]["user"]["id"], user_id, "{}", reply.body);

    // An address the provider does not vouch for is not linked, nor is another account's
    // identity.
    let landed = link_as(
        &keyward,
        &provider,
        &token,
        ("unv", "unv@example.com", false),
    )
    .await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("email_unverified")
    );
    let solo = TestDevice::new();
    let landed = sign_in_as(&keyward, &provider, "solo", "solo@example.com").await;
    let reply = exchange(&keyward, &solo, &param(&landed, "keyward_code").unwrap()).await;
    let solo_token = access(&reply.body["data"]);
    let landed = link_as(
        &keyward,
        &provider,
        &token,
        ("solo", "solo@example.com", true),
    )
    .await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("identity_taken")
    );

    // The account made by the provider has no other way in: its identity stays.
    let path = "/auth/identities";
    let proof = solo.proof("GET", path, Some(&solo_token));
    let request = dpop_request(
        Method::GET,
        path,
        Some(("DPoP", &solo_token)),
        Some(&proof),
        None,
    );
    let listed = send(&keyward, request).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let solo_identity = listed.body["data"]["identities"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/auth/identities/{solo_identity}");
    let proof = solo.proof("DELETE", &path, Some(&solo_token));
    let request = dpop_request(
        Method::DELETE,
        &path,
        Some(("DPoP", &solo_token)),
        Some(&proof),
        None,
    );
    let reply = send(&keyward, request).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::CONFLICT, "last_sign_in_method")
    );

    // The owner has a password: the provider can go, and signs in to nothing after.
    let listed = send(&keyward, authed(Method::GET, "/auth/identities", &token)).await;
    assert_eq!(
        listed.body["data"]["identities"][0]["id"],
        identity.as_str()
    );
    let path = format!("/auth/identities/{identity}");
    let reply = send(&keyward, authed(Method::DELETE, &path, &token)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let reply = send(&keyward, authed(Method::DELETE, &path, &token)).await;
    assert_eq!(reply.code(), "not_found");
    let landed = sign_in_as(&keyward, &provider, "lin", "lin@example.com").await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("account_exists")
    );
    let kinds = audit_kinds(&keyward, 50).await;
    for kind in ["identity_linked", "identity_unlinked", "oauth_failed"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

/// Pre-hijacking through a provider: whoever signed up first with someone else's address and
/// linked their own provider loses it when the owner proves the mailbox (as the password).
#[tokio::test]
async fn proving_the_mailbox_unlinks_a_provider_linked_before_it_was_proved() {
    let (db, smtp) = (TestDb::new().await, Smtp::start());
    let issuer = db.settings().issuer;
    let provider = Provider::start(&format!("{issuer}/auth/oauth/test/callback"));
    let settings = Settings {
        smtp_url: Some(keyward_server::SmtpUrl(smtp.url())),
        app_url: Some(APP.into()),
        oauth: vec![OAuthProvider {
            id: "test".into(),
            name: None,
            issuer: provider.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
        }],
        ..db.settings()
    };
    let keyward = Keyward::start(settings).await.expect("the server starts");
    let squatter = sign_up(&keyward, "victim@example.com").await;
    let token = access(&squatter);
    let landed = link_as(
        &keyward,
        &provider,
        &token,
        ("mal", "mal@example.com", true),
    )
    .await;
    let code = param(&landed, "keyward_code").unwrap();
    let reply = link_finish(&keyward, &token, &code, VERIFIER).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    // The owner signs in by a magic link.
    let body = json!({ "email": "victim@example.com" });
    let reply = send(&keyward, post("/auth/magic-link", &body)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let mails = smtp.wait_for("victim@example.com", 2).await;
    let magic = mails
        .iter()
        .find(|m| m.subject.contains("sign-in link"))
        .unwrap();
    let body = json!({ "token": magic.link().1 });
    let reply = send(&keyward, post("/auth/magic-link/verify", &body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let owner = reply.body["data"].clone();

    let listed = send(
        &keyward,
        authed(Method::GET, "/auth/identities", &access(&owner)),
    )
    .await;
    assert_eq!(listed.body["data"]["identities"], json!([]));
    // The squatter's provider signs in to an account of its own, not the owner's.
    let landed = sign_in_as(&keyward, &provider, "mal", "mal@example.com").await;
    let code = param(&landed, "keyward_code").unwrap();
    let reply = exchange(&keyward, &TestDevice::new(), &code).await;
    assert_eq!(reply.body["data"]["user"]["email"], "mal@example.com");
    assert_ne!(reply.body["data"]["user"]["id"], owner["user"]["id"]);
}

/// GitHub and X cannot run here: small local servers speak their documented OAuth 2 and user
/// APIs (the authorization endpoint, the token endpoint with PKCE and the client's secret as
/// each expects it, GitHub's `/user` and `/user/emails`, X's `/2/users/me`).
mod plain {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::{Form, Query, State};
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse, Redirect, Response};
    use axum::routing::{get, post};
    use serde_json::{Value, json};

    /// Who signs in next, and the codes handed out (code → challenge, redirect URI).
    #[derive(Default)]
    pub struct Mock {
        pub user: Value,
        pub emails: Value,
        pub codes: HashMap<String, (String, String)>,
        pub secret_seen: Vec<String>,
    }

    pub type Shared = Arc<Mutex<Mock>>;

    /// Serves `router` on a free loopback port: its base URL.
    pub async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        url
    }

    fn authorize(mock: &Shared, query: &HashMap<String, String>) -> Response {
        assert_eq!(
            query.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        assert_eq!(query.get("response_type").map(String::as_str), Some("code"));
        let code = format!("code-{}", mock.lock().unwrap().codes.len());
        let redirect = query["redirect_uri"].clone();
        mock.lock().unwrap().codes.insert(
            code.clone(),
            (query["code_challenge"].clone(), redirect.clone()),
        );
        let state =
            url::form_urlencoded::byte_serialize(query["state"].as_bytes()).collect::<String>();
        Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
    }

    /// Whether `form`'s code and verifier match a code handed out.
    fn proved(mock: &Shared, form: &HashMap<String, String>) -> bool {
        use sha2::Digest as _;
        let Some((challenge, redirect)) = mock.lock().unwrap().codes.remove(&form["code"]) else {
            return false;
        };
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        super::b64(&sha2::Sha256::digest(verifier.as_bytes())) == challenge
            && form.get("redirect_uri") == Some(&redirect)
    }

    fn bearer(headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some("Bearer the-access-token")
    }

    /// GitHub: the secret in the token request's body, the answer JSON when asked for it (and
    /// an `error` with status 200 when the code is bad, as GitHub does); the user APIs want a
    /// `User-Agent`.
    pub fn github(mock: Shared) -> Router {
        Router::new()
            .route(
                "/login/oauth/authorize",
                get(|State(mock): State<Shared>, Query(q): Query<HashMap<String, String>>| async move {
                    authorize(&mock, &q)
                }),
            )
            .route(
                "/login/oauth/access_token",
                post(|State(mock): State<Shared>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>| async move {
                    assert_eq!(headers[header::ACCEPT], "application/json");
                    mock.lock().unwrap().secret_seen.push(form.get("client_secret").cloned().unwrap_or_default());
                    if form.get("client_secret").map(String::as_str) != Some("gh-secret") || !proved(&mock, &form) {
                        return axum::Json(json!({ "error": "bad_verification_code", "error_description": "The code passed is incorrect or expired." }));
                    }
                    axum::Json(json!({ "access_token": "the-access-token", "token_type": "bearer", "scope": "read:user,user:email" }))
                }),
            )
            .route(
                "/api/v3/user",
                get(|State(mock): State<Shared>, headers: HeaderMap| async move {
                    if !bearer(&headers) || !headers.contains_key(header::USER_AGENT) {
                        return (StatusCode::FORBIDDEN, axum::Json(json!({ "message": "Forbidden" })));
                    }
                    (StatusCode::OK, axum::Json(mock.lock().unwrap().user.clone()))
                }),
            )
            .route(
                "/api/v3/user/emails",
                get(|State(mock): State<Shared>, headers: HeaderMap| async move {
                    if !bearer(&headers) {
                        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "message": "Requires authentication" })));
                    }
                    (StatusCode::OK, axum::Json(mock.lock().unwrap().emails.clone()))
                }),
            )
            .with_state(mock)
    }

    /// X: the client's secret by HTTP Basic; `confirmed_email` only when asked for.
    pub fn x(mock: Shared) -> Router {
        Router::new()
            .route(
                "/i/oauth2/authorize",
                get(|State(mock): State<Shared>, Query(q): Query<HashMap<String, String>>| async move {
                    assert!(q["scope"].split(' ').any(|s| s == "users.email"), "{q:?}");
                    authorize(&mock, &q)
                }),
            )
            .route(
                "/2/oauth2/token",
                post(|State(mock): State<Shared>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>| async move {
                    use base64::Engine as _;
                    let basic = base64::engine::general_purpose::STANDARD.encode("x-client:x-secret");
                    let authorized = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&format!("Basic {basic}"));
                    if !authorized || !proved(&mock, &form) {
                        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": "invalid_request", "error_description": "Value passed for the authorization code was invalid." })));
                    }
                    (StatusCode::OK, axum::Json(json!({ "token_type": "bearer", "expires_in": 7200, "access_token": "the-access-token", "scope": "users.read tweet.read users.email" })))
                }),
            )
            .route(
                "/2/users/me",
                get(|State(mock): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                    if !bearer(&headers) {
                        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "title": "Unauthorized" })));
                    }
                    let mut user = mock.lock().unwrap().user.clone();
                    if q.get("user.fields").map(String::as_str) != Some("confirmed_email") {
                        user.as_object_mut().unwrap().remove("confirmed_email");
                    }
                    (StatusCode::OK, axum::Json(json!({ "data": user })))
                }),
            )
            .with_state(mock)
    }
}

async fn start_plain(db: &TestDb, id: &str, issuer: &str, client: (&str, &str)) -> Keyward {
    let settings = Settings {
        app_url: Some(APP.into()),
        oauth: vec![OAuthProvider {
            id: id.into(),
            name: None,
            issuer: issuer.into(),
            client_id: client.0.into(),
            client_secret: client.1.into(),
        }],
        ..db.settings()
    };
    Keyward::start(settings).await.expect("the server starts")
}

/// A browser's walk from `keyward`'s start for `id` through a mock provider (one redirect) and
/// back: the app's page it lands on.
async fn walk_plain(keyward: &Keyward, id: &str) -> url::Url {
    let (location, cookie) = begin_at(keyward, id, APP).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let reply = http.get(&location).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 303, "{location}");
    let back = reply.headers()["location"].to_str().unwrap().to_owned();
    finish(keyward, &back, Some(&cookie)).await
}

#[tokio::test]
async fn github_signs_in_with_its_verified_primary_address_and_not_with_an_unverified_one() {
    let db = TestDb::new().await;
    let mock = plain::Shared::default();
    mock.lock().unwrap().user =
        json!({ "login": "octocat", "id": 583231, "name": "The Octocat", "email": null });
    mock.lock().unwrap().emails = json!([
        { "email": "octo-old@example.com", "primary": false, "verified": true, "visibility": null },
        { "email": "octocat@example.com", "primary": true, "verified": true, "visibility": "private" },
    ]);
    let issuer = plain::serve(plain::github(mock.clone())).await;
    let keyward = start_plain(&db, "github", &issuer, ("gh-client", "gh-secret")).await;

    let landed = walk_plain(&keyward, "github").await;
    let code = param(&landed, "keyward_code").unwrap_or_else(|| panic!("{landed}"));
    let device = TestDevice::new();
    let reply = exchange(&keyward, &device, &code).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["user"]["email"], "octocat@example.com");
    assert_eq!(reply.body["data"]["user"]["name"], "The Octocat");
    assert_eq!(
        mock.lock().unwrap().secret_seen,
        ["gh-secret"],
        "the secret went in the body"
    );
    let token = access(&reply.body["data"]);
    let proof = device.proof("GET", "/auth/identities", Some(&token));
    let request = dpop_request(
        Method::GET,
        "/auth/identities",
        Some(("DPoP", &token)),
        Some(&proof),
        None,
    );
    let listed = send(&keyward, request).await;
    assert_eq!(listed.body["data"]["identities"][0]["provider"], "github");

    // Another GitHub account whose only address GitHub has not verified makes no account.
    mock.lock().unwrap().user = json!({ "login": "mallory", "id": 666, "name": null });
    mock.lock().unwrap().emails = json!([{ "email": "victim@example.com", "primary": true, "verified": false, "visibility": null }]);
    let landed = walk_plain(&keyward, "github").await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("email_unverified")
    );

    // A wrong client secret: GitHub answers 200 with an error, which signs nobody in.
    let other = start_plain(
        &TestDb::new().await,
        "github",
        &issuer,
        ("gh-client", "wrong"),
    )
    .await;
    let landed = walk_plain(&other, "github").await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("invalid_response")
    );
}

#[tokio::test]
async fn x_signs_in_with_the_address_it_confirmed() {
    let db = TestDb::new().await;
    let mock = plain::Shared::default();
    mock.lock().unwrap().user = json!({ "id": "2244994945", "name": "X Dev", "username": "XDevelopers", "confirmed_email": "xdev@example.com" });
    let issuer = plain::serve(plain::x(mock.clone())).await;
    let keyward = start_plain(&db, "x", &issuer, ("x-client", "x-secret")).await;

    let landed = walk_plain(&keyward, "x").await;
    let code = param(&landed, "keyward_code").unwrap_or_else(|| panic!("{landed}"));
    let reply = exchange(&keyward, &TestDevice::new(), &code).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["user"]["email"], "xdev@example.com");
    let first = reply.body["data"]["user"]["id"].clone();

    // The same X account again, its address changed meanwhile: the same Keyward account (the
    // identity is X's id, never the address).
    mock.lock().unwrap().user["confirmed_email"] = json!("renamed@example.com");
    let landed = walk_plain(&keyward, "x").await;
    let reply = exchange(
        &keyward,
        &TestDevice::new(),
        &param(&landed, "keyward_code").unwrap(),
    )
    .await;
    assert_eq!(reply.body["data"]["user"]["id"], first);

    // An X account without a confirmed address cannot make an account.
    mock.lock().unwrap().user = json!({ "id": "42", "name": "No Mail" });
    let landed = walk_plain(&keyward, "x").await;
    assert_eq!(
        param(&landed, "login_error").as_deref(),
        Some("email_required")
    );
}
