//! Regression tests for the security review's findings over HTTP: each one failed before its
//! fix. (The ones that need a controlled clock are in the server's scenario tests.)

// Tests stand outside the server: they read the clock as a client would.
#![allow(clippy::disallowed_methods)]

use crate::common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use common::*;
use keyward_server::Keyward;
use serde_json::json;

/// `request` as if it came over a TCP connection from `peer`.
fn from(peer: &str, mut request: Request<Body>) -> Request<Body> {
    let addr: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(addr));
    request
}

/// `request` from `peer`, carrying `X-Forwarded-For: forwarded`.
fn forwarded(peer: &str, forwarded_for: &str, mut request: Request<Body>) -> Request<Body> {
    request
        .headers_mut()
        .insert("x-forwarded-for", forwarded_for.parse().unwrap());
    from(peer, request)
}

/// Waits, when needed, until a rate-limit window of `window_secs` has at least `needed_secs`
/// left: the limits count in fixed windows of the wall clock, and a count that straddles two
/// windows starts again halfway.
async fn fresh_window(window_secs: u64, needed_secs: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = now.as_millis() as u64 % (window_secs * 1000);
    let left = window_secs * 1000 - into;
    if left < needed_secs * 1000 {
        tokio::time::sleep(std::time::Duration::from_millis(left + 50)).await;
    }
}

fn wrong_password(email: &str) -> Request<Body> {
    post(
        "/auth/sign-in",
        &json!({ "email": email, "password": "not the password" }),
    )
}

/// Finding 3: a thief holding only a device-bound session's refresh token used to spend the
/// session's refresh budget (30 a minute) with proofs that were then refused, so the user's own
/// refresh was answered 429. Only accepted rotations count now.
#[tokio::test]
async fn refusing_a_thiefs_refreshes_does_not_spend_the_users_budget() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let device = TestDevice::new();
    let signed = sign_up_bound(&keyward, "budget@example.com", &device).await;
    fresh_window(60, 15).await;
    let stolen = refresh_token(&signed);
    let thief = TestDevice::new();
    for _ in 0..40 {
        let reply = refresh_bound(&keyward, &stolen, &thief).await;
        assert_eq!(reply.code(), "invalid_dpop_proof");
        let reply = refresh(&keyward, &stolen).await;
        assert_eq!(reply.code(), "dpop_required");
    }
    let mine = refresh_bound(&keyward, &stolen, &device).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
}

/// Finding 3, the other half: on a session without a device key, a thief refreshing 30 times a
/// minute used to get the victim's replay answered 429 (transient for the client), so reuse
/// detection never fired. Reuse is decided before the budget is counted.
#[tokio::test]
async fn a_replay_is_detected_as_reuse_even_when_the_session_is_over_its_budget() {
    let db = TestDb::new().await;
    let mut settings = db.settings();
    // No grace: the thief's rotations and the victim's replay are a few ms apart here.
    settings.refresh_grace = std::time::Duration::ZERO;
    let keyward = Keyward::start(settings).await.unwrap();
    let signed = sign_up(&keyward, "victim@example.com").await;
    fresh_window(60, 15).await;
    let victims = refresh_token(&signed);

    // The thief copied the token and rotates the session over and over.
    let mut thiefs = victims.clone();
    for _ in 0..31 {
        let reply = refresh(&keyward, &thiefs).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        thiefs = reply.body["data"]["tokens"]["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    let replay = refresh(&keyward, &victims).await;
    assert_eq!(replay.code(), "refresh_token_reused", "{}", replay.body);
    assert_eq!(refresh(&keyward, &thiefs).await.code(), "session_revoked");
}

/// Finding 4: a refresh whose answer never reached the device (a timeout, a dropped
/// connection) and is retried after the grace window used to revoke the session as "reuse". On a
/// device-bound session the last used token still gets its successor while that successor has
/// not been used; on a session without a device key that leeway would let a copied token keep
/// pace with the user's, so there it stays a replay.
#[tokio::test]
async fn a_refresh_retried_after_a_lost_answer_gets_the_same_successor_until_it_is_used() {
    let db = TestDb::new().await;
    let mut settings = db.settings();
    settings.refresh_grace = std::time::Duration::ZERO;
    let keyward = Keyward::start(settings).await.unwrap();
    let device = TestDevice::new();
    let signed = sign_up_bound(&keyward, "lost@example.com", &device).await;
    let first = refresh_token(&signed);

    let lost = refresh_bound(&keyward, &first, &device).await;
    assert_eq!(lost.status, StatusCode::OK);
    let successor = lost.body["data"]["tokens"]["refresh_token"].clone();
    let retried = refresh_bound(&keyward, &first, &device).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["data"]["tokens"]["refresh_token"], successor);
    let kinds = audit_kinds(&keyward, 20).await;
    assert!(kinds.contains(&"refresh_retried".to_owned()), "{kinds:?}");

    // Once the successor has been used, the old token is a replay.
    let next = refresh_bound(&keyward, successor.as_str().unwrap(), &device).await;
    assert_eq!(next.status, StatusCode::OK);
    assert_eq!(
        refresh_bound(&keyward, &first, &device).await.code(),
        "refresh_token_reused"
    );

    // Without a device key, a used token after the grace window is a replay at once.
    let plain = sign_up(&keyward, "plain-lost@example.com").await;
    let first = refresh_token(&plain);
    assert_eq!(refresh(&keyward, &first).await.status, StatusCode::OK);
    assert_eq!(
        refresh(&keyward, &first).await.code(),
        "refresh_token_reused"
    );
}

/// Finding 5: `Keyward::verify_access_token`, documented for sync servers, accepted a
/// device-bound token without any proof, which made a stolen bound token usable there.
#[tokio::test]
async fn verifying_a_bound_token_outside_axum_needs_its_proof() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let device = TestDevice::new();
    let bound = access(&sign_up_bound(&keyward, "sync-bound@example.com", &device).await);
    let refused = keyward.verify_access_token(&bound).await;
    assert_eq!(
        refused.err().and_then(|e| e.code()).map(|c| c.as_str()),
        Some("dpop_required")
    );
    let url = "http://localhost:8787/sync";
    let thiefs = TestDevice::new().proof("GET", "/sync", Some(&bound));
    let refused = keyward
        .verify_access_token_with_proof(&bound, &thiefs, "GET", url)
        .await;
    assert_eq!(
        refused.err().and_then(|e| e.code()).map(|c| c.as_str()),
        Some("invalid_dpop_proof")
    );
    let proof = device.proof("GET", "/sync", Some(&bound));
    let claims = keyward
        .verify_access_token_with_proof(&bound, &proof, "GET", url)
        .await
        .unwrap();
    assert_eq!(claims.cnf.as_ref().unwrap().jkt.as_str(), device.jkt());
    let replayed = keyward
        .verify_access_token_with_proof(&bound, &proof, "GET", url)
        .await;
    assert!(replayed.is_err(), "a proof is good once");
    let plain = access(&sign_up(&keyward, "sync-plain@example.com").await);
    assert!(keyward.verify_access_token(&plain).await.is_ok());
}

/// Finding 2: without `ConnectInfo`, or behind a proxy, every client shared one rate-limit
/// bucket, so one client could block sign-in for everyone. With the proxy listed in
/// `trusted_proxies`, each client is counted under its own address; a client's own
/// `X-Forwarded-For` is never believed.
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_rate_limit() {
    let db = TestDb::new().await;
    let mut settings = db.settings();
    settings.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    let keyward = Keyward::start(settings).await.unwrap();
    fresh_window(60, 20).await;

    // 31 clients behind the proxy, one failed sign-in each: nobody is limited (one bucket for
    // all of them allowed 30).
    for n in 0..31 {
        let reply = send(
            &keyward,
            forwarded(
                "10.0.0.2:4000",
                &format!("203.0.113.{n}"),
                wrong_password(&format!("user{n}@example.com")),
            ),
        )
        .await;
        assert_eq!(reply.code(), "invalid_credentials", "client {n}");
    }
    // One client behind the proxy is limited after 30, whatever it claims after the proxy
    // (only the rightmost address the trusted proxy saw counts).
    for n in 0..31 {
        let reply = send(
            &keyward,
            forwarded(
                "10.0.0.2:4000",
                &format!("198.18.0.{n}, 198.51.100.9"),
                wrong_password(&format!("other{n}@example.com")),
            ),
        )
        .await;
        let expected = if n < 30 {
            "invalid_credentials"
        } else {
            "rate_limited"
        };
        assert_eq!(reply.code(), expected, "attempt {n}");
    }
    // A client that is not a trusted proxy cannot pick its bucket with the header.
    for n in 0..31 {
        let reply = send(
            &keyward,
            forwarded(
                "192.0.2.7:5000",
                &format!("203.0.113.{n}"),
                wrong_password(&format!("spoof{n}@example.com")),
            ),
        )
        .await;
        let expected = if n < 30 {
            "invalid_credentials"
        } else {
            "rate_limited"
        };
        assert_eq!(reply.code(), expected, "spoofing attempt {n}");
    }
}

/// Finding 2: IPv6 clients were keyed per address, and anyone holds a /64 of them. Addresses of
/// one /64 share a bucket now.
#[tokio::test]
async fn ipv6_clients_are_limited_per_64_prefix() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    fresh_window(60, 15).await;
    for n in 0..31u32 {
        let peer = format!("[2001:db8:1:2:{n:x}::1]:4000");
        let reply = send(
            &keyward,
            from(&peer, wrong_password(&format!("v6-{n}@example.com"))),
        )
        .await;
        let expected = if n < 30 {
            "invalid_credentials"
        } else {
            "rate_limited"
        };
        assert_eq!(reply.code(), expected, "address {n}");
    }
    let elsewhere = send(
        &keyward,
        from(
            "[2001:db8:1:3::1]:4000",
            wrong_password("v6-other@example.com"),
        ),
    )
    .await;
    assert_eq!(elsewhere.code(), "invalid_credentials");
}

/// Finding 8: a sign-up's DPoP proof was recorded (in the replay set) before the rate limit was
/// checked, so refused requests could grow that set without bound. A refused request records
/// nothing: the same proof then works from a client that is not limited.
#[tokio::test]
async fn a_rate_limited_sign_up_records_no_proof() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let sign_up = |email: &str, proof: &str| {
        dpop_request(
            Method::POST,
            "/auth/sign-up",
            None,
            Some(proof),
            Some(&json!({ "email": email, "password": PASSWORD })),
        )
    };
    let device = TestDevice::new();
    fresh_window(600, 30).await;
    for n in 0..30 {
        let proof = device.proof("POST", "/auth/sign-up", None);
        let reply = send(
            &keyward,
            from(
                "192.0.2.1:1",
                sign_up(&format!("many{n}@example.com"), &proof),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let proof = device.proof("POST", "/auth/sign-up", None);
    let limited = send(
        &keyward,
        from("192.0.2.1:1", sign_up("limited@example.com", &proof)),
    )
    .await;
    assert_eq!(limited.code(), "rate_limited");
    let elsewhere = send(
        &keyward,
        from("192.0.2.2:1", sign_up("limited@example.com", &proof)),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.body);
}

/// Finding 9: ten failed sign-ins by anyone locked the account for everyone for 15 minutes, so a
/// stranger could keep it locked for good. The lock is per email and client now: the owner,
/// elsewhere, still signs in.
#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out() {
    let db = TestDb::new().await;
    let mut settings = db.settings();
    // The per-IP limits would stop the stranger first; the lockout is what is tested here.
    settings.rate_limits = false;
    let keyward = Keyward::start(settings).await.unwrap();
    sign_up(&keyward, "owner@example.com").await;
    for _ in 0..10 {
        let reply = send(
            &keyward,
            from("198.51.100.66:1", wrong_password("owner@example.com")),
        )
        .await;
        assert_eq!(reply.code(), "invalid_credentials");
    }
    let stranger = send(
        &keyward,
        from("198.51.100.66:1", wrong_password("owner@example.com")),
    )
    .await;
    assert_eq!(stranger.code(), "account_locked");
    let owner = send(
        &keyward,
        from(
            "203.0.113.5:1",
            post(
                "/auth/sign-in",
                &json!({ "email": "owner@example.com", "password": PASSWORD }),
            ),
        ),
    )
    .await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
}

/// Finding 9, the other side: with the lock per client, guessing from many addresses at once
/// would have no limit. Over every client, 100 failures in an hour lock the email; no single
/// client can get there by itself.
#[tokio::test]
async fn guessing_from_many_addresses_at_once_locks_the_email() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    sign_up(&keyward, "target@example.com").await;
    fresh_window(3600, 60).await;
    for n in 0..100u32 {
        let peer = format!("198.18.{}.{}:1", n / 200, n % 200 + 1);
        let reply = send(&keyward, from(&peer, wrong_password("target@example.com"))).await;
        assert_eq!(reply.code(), "invalid_credentials", "client {n}");
    }
    let right = post(
        "/auth/sign-in",
        &json!({ "email": "target@example.com", "password": PASSWORD }),
    );
    let locked = send(&keyward, from("203.0.113.200:1", right)).await;
    assert_eq!(locked.code(), "account_locked", "{}", locked.body);
    assert!(locked.headers.get("retry-after").is_some());
    // Other accounts are untouched.
    sign_up(&keyward, "bystander@example.com").await;
    assert_eq!(
        sign_in(&keyward, "bystander@example.com").await["user"]["email"],
        "bystander@example.com"
    );
}

/// Finding 7: a device's answer to a challenge could be replayed to any verifier within 60 s. A
/// challenge is issued for one audience now, and only a verifier naming that audience accepts
/// the answer.
#[tokio::test]
async fn a_challenge_answer_is_accepted_only_by_the_audience_it_was_issued_for() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let device = TestDevice::new();
    let token = access(&sign_up_bound(&keyward, "aud@example.com", &device).await);
    let id = own_device_id(&keyward, &device, &token).await;
    let issue = |audience: &str| challenge_request(&device, &token, &id, audience);
    let answer = |challenge: &str, audience: &str| challenge_answer(&device, challenge, audience);
    let for_sync = send(&keyward, issue("https://sync.example.com")).await;
    assert_eq!(for_sync.status, StatusCode::OK, "{}", for_sync.body);
    let challenge = for_sync.body["data"]["challenge"].as_str().unwrap();
    let elsewhere = send(&keyward, answer(challenge, "https://evil.example")).await;
    assert_eq!(elsewhere.code(), "invalid_dpop_proof", "{}", elsewhere.body);

    let for_sync = send(&keyward, issue("https://sync.example.com")).await;
    let challenge = for_sync.body["data"]["challenge"].as_str().unwrap();
    let right = send(&keyward, answer(challenge, "https://sync.example.com")).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
    assert_eq!(right.body["data"]["device_id"], id.as_str());
}

/// Beside a static site, a request no route takes still gets the error envelope with its stable
/// code (the site's file server answered other methods than GET with a bare 405, which a client
/// cannot tell from anything else), and the site's files are not served to it.
#[tokio::test]
async fn beside_a_static_site_an_unknown_route_is_not_found_with_its_code() {
    use tower::ServiceExt as _;
    let db = TestDb::new().await;
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "<!doctype html>").unwrap();
    let settings = keyward_server::Settings {
        static_dir: Some(site.path().to_owned()),
        ..db.settings()
    };
    let keyward = Keyward::start(settings).await.unwrap();
    for (method, path) in [
        ("DELETE", "/auth/orgs/org_1/"),
        ("PATCH", "/auth/nothing-here"),
        ("POST", "/index.html"),
        ("GET", "/auth/nothing-here"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let response = keyward.router().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{method} {path}");
    }
}

/// A site Keyward serves (`static_dir`: the app, or the sign-in page Keyward ships, where other
/// apps send users and where they disconnect them) is never framed by another site, which could
/// otherwise trick a click on Continue or Disconnect, and its address (a pending request) is not
/// sent to other sites. Headers the site sets itself are not this list's business: there are none
/// here.
#[tokio::test]
async fn a_static_site_is_never_framed_and_keeps_its_address_to_itself() {
    use tower::ServiceExt as _;
    let db = TestDb::new().await;
    let site = tempfile::tempdir().unwrap();
    std::fs::write(
        site.path().join("index.html"),
        "<!doctype html><title>page</title>",
    )
    .unwrap();
    std::fs::write(site.path().join("page.js"), "export default 1;").unwrap();
    let settings = keyward_server::Settings {
        static_dir: Some(site.path().to_owned()),
        ..db.settings()
    };
    let keyward = Keyward::start(settings).await.unwrap();
    for path in ["/", "/?oidc_req=abc", "/index.html", "/page.js"] {
        let response = keyward.router().oneshot(get(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(
            header("content-security-policy"),
            "frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    }
}
