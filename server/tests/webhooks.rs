//! Webhooks, received by a real receiver process that verifies every signature with the
//! Standard Webhooks reference implementation for Python: every account event arrives once,
//! signed; a failed attempt is retried; nothing is lost across a `kill -9`; an endpoint that
//! answers 410 is disabled; private addresses are refused; and the delivery log and redelivery.

use crate::common;
use crate::common::passkeys as phone;

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::process::{self, Process};
use common::webhooks::{Received, Receiver};
use common::*;
use keyward_server::{Keyward, Settings};
use serde_json::{Value, json};

/// Every event type, as DESIGN.md lists them.
const TYPES: [&str; 18] = [
    "user.created",
    "user.updated",
    "user.deleted",
    "user.disabled",
    "user.signed_in",
    "password.changed",
    "password.reset",
    "email.verified",
    "email.changed",
    "session.revoked",
    "device.revoked",
    "passkey.added",
    "passkey.removed",
    "mfa.enabled",
    "mfa.disabled",
    "org.member.added",
    "org.member.removed",
    "org.member.role_changed",
];

async fn start(db: &TestDb, allow_private: bool) -> Keyward {
    let settings = Settings {
        webhook_allow_private: allow_private,
        rate_limits: false,
        ..db.settings()
    };
    Keyward::start(settings).await.expect("the server starts")
}

async fn call(keyward: &Keyward, token: &str, method: Method, uri: &str, body: Value) -> Reply {
    send(keyward, json_request(method, uri, Some(token), &body)).await
}

/// Adds an endpoint at `url` taking `events` (all when `None`): its id and secret.
async fn add_endpoint(
    keyward: &Keyward,
    key: &str,
    url: &str,
    events: Option<&[&str]>,
) -> (String, String) {
    let mut body = json!({ "url": url });
    if let Some(events) = events {
        body["events"] = json!(events);
    }
    let reply = call(keyward, key, Method::POST, "/auth/admin/webhooks", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let data = &reply.body["data"];
    (
        data["id"].as_str().unwrap().to_owned(),
        data["secret"].as_str().unwrap().to_owned(),
    )
}

fn ok(reply: &Reply) {
    assert!(reply.status.is_success(), "{} {}", reply.status, reply.body);
}

/// Signs in `email` with `password`: the auth answer's `data`.
async fn sign_in_with(keyward: &Keyward, email: &str, password: &str) -> Value {
    let body = json!({ "email": email, "password": password });
    let reply = send(keyward, post("/auth/sign-in", &body)).await;
    ok(&reply);
    reply.body["data"].clone()
}

/// Makes every account event happen once at least, through the API as users and an
/// administrator would.
async fn every_event(keyward: &Keyward, key: &str) -> (String, String) {
    // user.created; email.verified and user.updated; user.signed_in; session.revoked.
    let alice = sign_up(keyward, "alice@example.com").await;
    let alice_id = alice["user"]["id"].as_str().unwrap().to_owned();
    let token = access(&alice);
    verify_email(keyward, "alice@example.com", &token).await;
    let second = sign_in(keyward, "alice@example.com").await;
    ok(&call(
        keyward,
        &access(&second),
        Method::POST,
        "/auth/sign-out",
        json!({}),
    )
    .await);

    // mfa.enabled, mfa.disabled.
    let enrolment = call(keyward, &token, Method::POST, "/auth/mfa/totp", json!({})).await;
    let secret = enrolment.body["data"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = json!({ "code": totp(&secret, 0) });
    ok(&call(
        keyward,
        &token,
        Method::POST,
        "/auth/mfa/totp/confirm",
        code,
    )
    .await);
    let code = json!({ "code": totp(&secret, 1) });
    ok(&call(keyward, &token, Method::DELETE, "/auth/mfa/totp", code).await);

    // passkey.added, passkey.removed.
    let mut device = phone::Phone::new();
    let pia = phone::user_with_passkey(keyward, &mut device, "pia@example.com").await;
    let pia_token = access(&pia);
    let listed = send(keyward, authed(Method::GET, "/auth/passkeys", &pia_token)).await;
    let passkey = listed.body["data"]["passkeys"][0]["id"].as_str().unwrap();
    let uri = format!("/auth/passkeys/{passkey}");
    ok(&send(keyward, authed(Method::DELETE, &uri, &pia_token)).await);

    // password.changed, password.reset, email.changed.
    let body = json!({ "current_password": PASSWORD, "new_password": "a new fine passphrase" });
    ok(&call(keyward, &token, Method::POST, "/auth/password/change", body).await);
    let forgot = json!({ "email": "alice@example.com" });
    ok(&send(keyward, post("/auth/password/forgot", &forgot)).await);
    let link = mailed_token(keyward, "reset_password", "alice@example.com").await;
    let reset = json!({ "token": link, "password": "the reset passphrase" });
    ok(&send(keyward, post("/auth/password/reset", &reset)).await);
    let alice = sign_in_with(keyward, "alice@example.com", "the reset passphrase").await;
    let token = access(&alice);
    let change = json!({ "new_email": "alice@example.org" });
    ok(&call(keyward, &token, Method::POST, "/auth/email/change", change).await);
    let link = mailed_token(keyward, "change_email", "alice@example.org").await;
    let confirm = json!({ "token": link });
    ok(&call(
        keyward,
        &token,
        Method::POST,
        "/auth/email/change/confirm",
        confirm,
    )
    .await);

    // device.revoked.
    let laptop = TestDevice::new();
    let bob = sign_up_bound(keyward, "bob@example.com", &laptop).await;
    let bob_token = access(&bob);
    let id = own_device_id(keyward, &laptop, &bob_token).await;
    let uri = format!("/auth/devices/{id}");
    let proof = laptop.proof("DELETE", &uri, Some(&bob_token));
    let revoke = dpop_request(
        Method::DELETE,
        &uri,
        Some(("DPoP", &bob_token)),
        Some(&proof),
        None,
    );
    ok(&send(keyward, revoke).await);

    // org.member.added (twice: the maker, and an invitee), role_changed, removed.
    let made = call(
        keyward,
        &token,
        Method::POST,
        "/auth/orgs",
        json!({ "name": "Acme" }),
    )
    .await;
    let org = made.body["data"]["org"]["id"].as_str().unwrap().to_owned();
    let invite = json!({ "email": "carol@example.com", "role": "member" });
    let uri = format!("/auth/orgs/{org}/invitations");
    ok(&call(keyward, &token, Method::POST, &uri, invite).await);
    let carol = sign_up(keyward, "carol@example.com").await;
    let carol_id = carol["user"]["id"].as_str().unwrap().to_owned();
    verify_email(keyward, "carol@example.com", &access(&carol)).await;
    let link = mailed_token(keyward, "org_invitation", "carol@example.com").await;
    let accept = json!({ "token": link });
    ok(&call(
        keyward,
        &access(&carol),
        Method::POST,
        "/auth/invitations/accept",
        accept,
    )
    .await);
    let member = format!("/auth/orgs/{org}/members/{carol_id}");
    ok(&call(
        keyward,
        &token,
        Method::PATCH,
        &member,
        json!({ "role": "admin" }),
    )
    .await);
    ok(&call(keyward, &token, Method::DELETE, &member, json!({})).await);
    // Deleting the organization ends the memberships left (alice's): removed too.
    let uri = format!("/auth/orgs/{org}");
    ok(&call(keyward, &token, Method::DELETE, &uri, json!({})).await);

    // Carol's own organization: her deletion ends her membership there.
    let own = call(
        keyward,
        &access(&carol),
        Method::POST,
        "/auth/orgs",
        json!({ "name": "Carol's" }),
    )
    .await;
    ok(&own);

    // user.disabled, user.updated (enabled), session.revoked (by an admin), user.deleted.
    let admin = |action: &str| format!("/auth/admin/users/{carol_id}{action}");
    ok(&call(keyward, key, Method::POST, &admin("/disable"), json!({})).await);
    ok(&call(keyward, key, Method::POST, &admin("/enable"), json!({})).await);
    ok(&call(keyward, key, Method::DELETE, &admin("/sessions"), json!({})).await);
    ok(&call(keyward, key, Method::DELETE, &admin(""), json!({})).await);
    (alice_id, carol_id)
}

/// The delivery log of `endpoint`, once `done` holds of it (an answer is recorded a moment
/// after the receiver logged the request).
async fn log_once(
    keyward: &Keyward,
    key: &str,
    endpoint: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let uri = format!("/auth/admin/webhooks/{endpoint}/deliveries");
    let mut deliveries = Vec::new();
    for _ in 0..100 {
        let log = send(keyward, authed(Method::GET, &uri, key)).await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.body);
        deliveries = log.body["data"]["deliveries"].as_array().unwrap().clone();
        if done(&deliveries) {
            return deliveries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the delivery log of {endpoint} did not settle: {deliveries:#?}");
}

/// The deliveries `received` got at `path`.
fn at<'a>(received: &'a [Received], path: &str) -> Vec<&'a Received> {
    received.iter().filter(|r| r.path == path).collect()
}

#[tokio::test]
async fn every_account_event_arrives_once_signed_and_a_failed_attempt_is_retried() {
    let db = TestDb::new().await;
    let keyward = start(&db, true).await;
    let (_, key) = keyward.create_admin_key("webhooks").await.unwrap();
    let mut receiver = Receiver::start();
    let (_, all_secret) = add_endpoint(&keyward, &key, &receiver.url("/ok/all"), None).await;
    receiver.trust("/ok/all", &all_secret);
    let only = Some(&["user.created"][..]);
    let (flaky, flaky_secret) =
        add_endpoint(&keyward, &key, &receiver.url("/flaky/created"), only).await;
    receiver.trust("/flaky/created", &flaky_secret);
    assert!(all_secret.starts_with("whsec_") && all_secret != flaky_secret);

    let (alice_id, carol_id) = every_event(&keyward, &key).await;

    let received = receiver
        .wait_for(Duration::from_secs(30), |got| {
            let kinds: HashSet<&str> = at(got, "/ok/all").iter().map(|r| r.kind()).collect();
            let retried = at(got, "/flaky/created")
                .iter()
                .filter(|r| r.answered == 204)
                .count();
            TYPES.iter().all(|t| kinds.contains(t)) && retried == 4
        })
        .await;
    for delivery in &received {
        assert!(delivery.verified, "{delivery:?}");
    }
    // Every event once: no message twice, and each message one event of a listed type.
    let all = at(&received, "/ok/all");
    let ids: HashSet<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), all.len(), "a message arrived twice: {all:#?}");
    for delivery in &all {
        assert!(TYPES.contains(&delivery.kind()), "{delivery:?}");
        assert!(delivery.payload["timestamp"].is_string(), "{delivery:?}");
    }
    // Alice's sign-up is about her, and carries the same id on both endpoints.
    let created = all
        .iter()
        .find(|r| r.kind() == "user.created" && r.payload["data"]["user_id"] == alice_id.as_str())
        .expect("alice's user.created");
    // A membership change is about the member, made by the owner; nothing names the admin key.
    let removed = |member: &str, reason: Option<&str>| {
        let found = all.iter().find(|r| {
            let data = &r.payload["data"];
            r.kind() == "org.member.removed"
                && data["user_id"] == member
                && data["reason"].as_str() == reason
        });
        &found.expect("the member's org.member.removed").payload["data"]
    };
    let data = removed(&carol_id, None);
    assert_eq!(data["actor_id"], alice_id.as_str(), "{data}");
    assert!(data["org"].is_string(), "{data}");
    let data = removed(&alice_id, Some("org_deleted"));
    assert_eq!(data.get("actor_id"), None, "her own doing: {data}");
    // An account's deletion ends its memberships, each announced, naming no admin key.
    let data = removed(&carol_id, Some("user_deleted"));
    assert!(data["org"].is_string(), "{data}");
    assert_eq!(data.get("actor_id"), None, "{data}");
    let deleted = all.iter().find(|r| r.kind() == "user.deleted").unwrap();
    assert_eq!(
        deleted.payload["data"],
        json!({ "user_id": carol_id }),
        "no admin key, no address"
    );
    // The filtered endpoint got only sign-ups (alice, pia, bob, carol), each first refused,
    // then the same message again.
    let flaky_got = at(&received, "/flaky/created");
    assert!(
        flaky_got.iter().all(|r| r.kind() == "user.created"),
        "{flaky_got:#?}"
    );
    let mut tries: HashMap<&str, Vec<u16>> = HashMap::new();
    for delivery in &flaky_got {
        tries
            .entry(&delivery.id)
            .or_default()
            .push(delivery.answered);
    }
    assert_eq!(tries.len(), 4, "{tries:?}");
    assert!(
        tries.values().all(|answers| answers == &[500, 204]),
        "{tries:?}"
    );
    assert!(tries.contains_key(created.id.as_str()));

    // The delivery log says so.
    let deliveries = log_once(&keyward, &key, &flaky, |log| {
        log.len() == 4 && log.iter().all(|d| d["status"] != "pending")
    })
    .await;
    for delivery in &deliveries {
        assert_eq!(delivery["status"], "delivered", "{delivery}");
        assert_eq!(delivery["attempts"], 2, "{delivery}");
        assert_eq!(delivery["last_status"], 204, "{delivery}");
    }
    let endpoints = send(&keyward, authed(Method::GET, "/auth/admin/webhooks", &key)).await;
    let listed = endpoints.body["data"]["endpoints"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed.iter().all(|e| e.get("secret").is_none()),
        "{listed:?}"
    );
    let filtered = listed.iter().find(|e| e["id"] == flaky.as_str()).unwrap();
    assert_eq!(filtered["events"], json!(["user.created"]));
}

/// The `webhook-id` of the first request to reach `receiver` (within 10 s), answered or not.
async fn first_arrival(receiver: &Receiver) -> String {
    for _ in 0..200 {
        if let Some(first) = receiver.arrived().first() {
            return first.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing arrived within 10 s");
}

/// An admin's redelivery of a delivery that is being sent: the attempt in flight must not
/// record its outcome over the redelivery, which is sent again.
#[tokio::test]
async fn a_delivery_redelivered_while_it_is_being_sent_is_sent_again() {
    let db = TestDb::new().await;
    let keyward = start(&db, true).await;
    let (_, key) = keyward.create_admin_key("webhooks").await.unwrap();
    let mut receiver = Receiver::start();
    let (slow, secret) = add_endpoint(&keyward, &key, &receiver.url("/slow/z"), None).await;
    receiver.trust("/slow/z", &secret);

    sign_up(&keyward, "inflight@example.com").await;
    // The first attempt has arrived, and its answer is 3 s away.
    let msg = first_arrival(&receiver).await;
    let log = log_once(&keyward, &key, &slow, |log| log.len() == 1).await;
    let redeliver = format!(
        "/auth/admin/webhooks/{slow}/deliveries/{}/redeliver",
        log[0]["id"]
    );
    let reply = send(&keyward, authed(Method::POST, &redeliver, &key)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert!(
        receiver.received().is_empty(),
        "the first attempt was answered before the redelivery: the test proves nothing"
    );

    // Both attempts arrive, with the same id, and the delivery ends delivered.
    let got = receiver
        .wait_for(Duration::from_secs(20), |got| {
            got.iter().filter(|r| r.id == msg).count() == 2
        })
        .await;
    assert!(got.iter().all(|r| r.verified), "{got:#?}");
    log_once(&keyward, &key, &slow, |log| {
        log.len() == 1 && log[0]["status"] == "delivered"
    })
    .await;
}

#[tokio::test]
async fn a_server_that_stops_mid_send_hands_its_endpoint_to_another_at_once() {
    let db = TestDb::new().await;
    let first = start(&db, true).await;
    let (_, key) = first.create_admin_key("webhooks").await.unwrap();
    let mut receiver = Receiver::start();
    let only = Some(&["user.created"][..]);
    let (_, secret) = add_endpoint(&first, &key, &receiver.url("/slow/handover"), only).await;
    receiver.trust("/slow/handover", &secret);

    sign_up(&first, "handover@example.com").await;
    // The first server's attempt has arrived; its answer is 3 s away when the server stops.
    let msg = first_arrival(&receiver).await;
    first.shutdown().await;

    // Another server takes the endpoint over at once (not when the first's minute-long hold
    // would have run out) and sends the delivery again, with the same id.
    let second = start(&db, true).await;
    let mut again = 0;
    for _ in 0..150 {
        again = receiver.arrived().iter().filter(|id| **id == msg).count();
        if again >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(again, 2, "the second server did not send it within 15 s");
    let got = receiver
        .wait_for(Duration::from_secs(20), |got| {
            got.iter().filter(|r| r.id == msg).count() == 2
        })
        .await;
    assert!(got.iter().all(|r| r.verified), "{got:#?}");
    drop(second);
}

#[tokio::test]
async fn an_endpoint_that_answers_410_is_disabled_and_an_admin_enables_it_and_redelivers() {
    let db = TestDb::new().await;
    let keyward = start(&db, true).await;
    let (_, key) = keyward.create_admin_key("webhooks").await.unwrap();
    let mut receiver = Receiver::start();
    let (gone, secret) = add_endpoint(&keyward, &key, &receiver.url("/gone/x"), None).await;
    receiver.trust("/gone/x", &secret);
    let (fine, old_secret) = add_endpoint(&keyward, &key, &receiver.url("/ok/y"), None).await;
    receiver.trust("/ok/y", &old_secret);
    let gone_got = |got: &[Received]| at(got, "/gone/x").len();

    sign_up(&keyward, "first@example.com").await;
    receiver
        .wait_for(Duration::from_secs(10), |got| gone_got(got) == 1)
        .await;
    // The answer is recorded once it came back: looked at until then.
    let mut endpoint = Value::Null;
    for _ in 0..50 {
        let listed = send(&keyward, authed(Method::GET, "/auth/admin/webhooks", &key)).await;
        let endpoints = listed.body["data"]["endpoints"].as_array().unwrap().clone();
        endpoint = endpoints
            .into_iter()
            .find(|e| e["id"] == gone.as_str())
            .unwrap();
        if endpoint["disabled_at"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(endpoint["disabled_at"].is_string(), "{endpoint}");
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );

    // Disabled, it takes no events (the other endpoint does), and the refused one failed.
    sign_up(&keyward, "second@example.com").await;
    receiver
        .wait_for(Duration::from_secs(10), |got| at(got, "/ok/y").len() >= 2)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(gone_got(&receiver.received()), 1);
    let deliveries = log_once(&keyward, &key, &gone, |log| log.len() == 1).await;
    assert_eq!(deliveries[0]["status"], "failed");
    assert_eq!(deliveries[0]["last_status"], 410);
    // Nor a test message: it would only wait.
    let test = format!("/auth/admin/webhooks/{gone}/test");
    let refused = send(&keyward, authed(Method::POST, &test, &key)).await;
    assert_eq!(refused.code(), "invalid_request", "{}", refused.body);

    // Enabled again, it takes the next event.
    let enable = format!("/auth/admin/webhooks/{gone}/enable");
    ok(&send(&keyward, authed(Method::POST, &enable, &key)).await);
    sign_up(&keyward, "third@example.com").await;
    let got = receiver
        .wait_for(Duration::from_secs(10), |got| gone_got(got) == 2)
        .await;
    assert!(got.iter().all(|r| r.verified), "{got:#?}");

    // The log filtered by status: what was given up (both of the endpoint that answers 410),
    // what was delivered (all of the other's).
    log_once(&keyward, &key, &gone, |log| {
        log.len() == 2 && log.iter().all(|d| d["status"] != "pending")
    })
    .await;
    log_once(&keyward, &key, &fine, |log| {
        log.len() == 3 && log.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    let by = |endpoint: &str, status: &str| {
        let uri = format!("/auth/admin/webhooks/{endpoint}/deliveries?status={status}");
        send(&keyward, authed(Method::GET, &uri, &key))
    };
    let statuses = |reply: Reply| -> Vec<String> {
        let page = reply.body["data"]["deliveries"].as_array().unwrap().clone();
        page.iter()
            .map(|d| d["status"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(statuses(by(&gone, "failed").await), ["failed", "failed"]);
    assert!(statuses(by(&gone, "delivered").await).is_empty());
    let delivered = statuses(by(&fine, "delivered").await);
    assert_eq!(delivered, ["delivered", "delivered", "delivered"]);
    assert!(statuses(by(&fine, "failed").await).is_empty());
    assert_eq!(by(&gone, "lost").await.code(), "invalid_request");

    // An admin sends a delivered one again: the same message id arrives a second time.
    let log = log_once(&keyward, &key, &fine, |log| {
        log.last().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    let first = log.last().unwrap().clone();
    let uri = format!("/auth/admin/webhooks/{fine}/deliveries");
    let msg = first["msg_id"].as_str().unwrap().to_owned();
    let redeliver = format!("{uri}/{}/redeliver", first["id"]);
    let reply = send(&keyward, authed(Method::POST, &redeliver, &key)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let got = receiver
        .wait_for(Duration::from_secs(10), |got| {
            at(got, "/ok/y").iter().filter(|r| r.id == msg).count() == 2
        })
        .await;
    assert!(got.iter().all(|r| r.verified));
    let missing = format!("{uri}/999999/redeliver");
    let reply = send(&keyward, authed(Method::POST, &missing, &key)).await;
    assert_eq!(reply.code(), "not_found");

    // A rotated secret: for a day each message is signed by both, so the receiver verifies it
    // still on the old secret, and on the new one once it takes it.
    let rotate = format!("/auth/admin/webhooks/{fine}/rotate-secret");
    let rotated = send(&keyward, authed(Method::POST, &rotate, &key)).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_secret = rotated.body["data"]["secret"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != old_secret);
    assert!(rotated.body["data"]["previous_secret_until"].is_string());
    for (email, trusted) in [
        ("fourth@example.com", &old_secret),
        ("fifth@example.com", &new_secret),
    ] {
        receiver.trust("/ok/y", trusted);
        let before = at(&receiver.received(), "/ok/y").len();
        sign_up(&keyward, email).await;
        let got = receiver
            .wait_for(Duration::from_secs(10), |got| {
                at(got, "/ok/y").len() > before
            })
            .await;
        let fresh = at(&got, "/ok/y").split_off(before);
        assert!(fresh.iter().all(|r| r.verified), "{email}: {fresh:#?}");
    }

    // Deleted, it is gone with its log.
    let uri = format!("/auth/admin/webhooks/{gone}");
    let reply = send(&keyward, authed(Method::DELETE, &uri, &key)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let log = send(
        &keyward,
        authed(Method::GET, &format!("{uri}/deliveries"), &key),
    )
    .await;
    assert_eq!(log.code(), "not_found");
    let kinds = audit_kinds(&keyward, 50).await;
    for kind in [
        "webhook_created",
        "webhook_enabled",
        "webhook_redelivered",
        "webhook_secret_rotated",
        "webhook_deleted",
    ] {
        assert!(kinds.contains(&kind.to_owned()), "{kind}: {kinds:?}");
    }
}

#[tokio::test]
async fn webhooks_to_private_addresses_are_refused_unless_allowed() {
    let db = TestDb::new().await;
    let receiver = Receiver::start();
    {
        let keyward = start(&db, false).await;
        let (_, key) = keyward.create_admin_key("webhooks").await.unwrap();
        for url in [
            receiver.url("/ok/x"),
            format!("http://localhost:{}/ok/x", receiver.port),
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "http://10.0.0.1/".to_owned(),
            "http://[::1]:8080/".to_owned(),
            "http://[::ffff:127.0.0.1]/".to_owned(),
            "ftp://example.com/".to_owned(),
            "http://user:pass@example.com/".to_owned(),
            "not a url".to_owned(),
        ] {
            let body = json!({ "url": url });
            let reply = call(&keyward, &key, Method::POST, "/auth/admin/webhooks", body).await;
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::BAD_REQUEST, "invalid_request"),
                "{url}: {}",
                reply.body
            );
        }
        let body = json!({ "url": "https://example.com/", "events": ["user.exploded"] });
        let reply = call(&keyward, &key, Method::POST, "/auth/admin/webhooks", body).await;
        assert_eq!(reply.code(), "invalid_request");
        let listed = send(&keyward, authed(Method::GET, "/auth/admin/webhooks", &key)).await;
        assert_eq!(
            listed.body["data"]["endpoints"],
            json!([]),
            "nothing was made"
        );
        let user = sign_up(&keyward, "user@example.com").await;
        let reply = send(
            &keyward,
            authed(Method::GET, "/auth/admin/webhooks", &access(&user)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }

    // A name that resolved to an allowed address when the endpoint was made and resolves to a
    // private one when it is delivered to (the operator turned private addresses off since, as
    // DNS rebinding would change the answer) is refused at delivery, and so is an address
    // written in the URL: nothing is sent.
    let by_name = format!("http://localhost:{}/ok/x", receiver.port);
    let endpoints = {
        let keyward = start(&db, true).await;
        let (_, key) = keyward.create_admin_key("maker").await.unwrap();
        [
            add_endpoint(&keyward, &key, &by_name, None).await.0,
            add_endpoint(&keyward, &key, &receiver.url("/ok/x"), None)
                .await
                .0,
        ]
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let keyward = start(&db, false).await;
    let (_, key) = keyward.create_admin_key("reader").await.unwrap();
    sign_up(&keyward, "later@example.com").await;
    for endpoint in endpoints {
        let log = log_once(&keyward, &key, &endpoint, |log| {
            log.first().is_some_and(|d| d["last_error"].is_string())
        })
        .await;
        let error = log.first().unwrap()["last_error"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(error.contains("is not a public address"), "{error}");
    }
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
}

/// `keyward webhooks …` on `db`.
#[tokio::test]
async fn an_endpoint_changes_its_url_and_its_event_types() {
    let db = TestDb::new().await;
    let keyward = start(&db, true).await;
    let (_, key) = keyward.create_admin_key("webhooks").await.unwrap();
    let mut receiver = Receiver::start();
    let only_sign_ins = Some(&["user.signed_in"][..]);
    let (id, secret) =
        add_endpoint(&keyward, &key, &receiver.url("/ok/before"), only_sign_ins).await;
    receiver.trust("/ok/before", &secret);
    receiver.trust("/ok/after", &secret);
    let uri = format!("/auth/admin/webhooks/{id}");

    // Sign-ups only from now on, at another URL.
    let change = json!({ "url": receiver.url("/ok/after"), "events": ["user.created"] });
    let changed = call(&keyward, &key, Method::PATCH, &uri, change).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["data"]["url"], receiver.url("/ok/after"));
    assert_eq!(changed.body["data"]["events"], json!(["user.created"]));
    sign_up(&keyward, "ann@example.com").await;
    sign_in(&keyward, "ann@example.com").await;
    receiver
        .wait_for(Duration::from_secs(10), |got| !got.is_empty())
        .await;
    // `events: null`: every type again; the URL, left out, stays.
    let changed = call(
        &keyward,
        &key,
        Method::PATCH,
        &uri,
        json!({ "events": null }),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["data"]["url"], receiver.url("/ok/after"));
    assert!(
        changed.body["data"].get("events").is_none(),
        "{}",
        changed.body
    );
    sign_in(&keyward, "ann@example.com").await;
    receiver
        .wait_for(Duration::from_secs(10), |got| got.len() >= 2)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // At the new URL only: the sign-up, then only the sign-in made once every type was taken.
    let got = receiver.received();
    assert!(at(&got, "/ok/before").is_empty(), "{got:#?}");
    let kinds: Vec<&str> = at(&got, "/ok/after").iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, ["user.created", "user.signed_in"], "{got:#?}");
    assert!(got.iter().all(|r| r.verified), "{got:#?}");

    // Refused, and nothing changed: an unknown type, an empty list, a URL that is not http(s),
    // a body that is not the changes (nothing to change, a misspelt field), an endpoint that does
    // not exist.
    for (uri, body) in [
        (uri.as_str(), json!({ "events": ["user.teleported"] })),
        (uri.as_str(), json!({ "events": [] })),
        (uri.as_str(), json!({ "url": "ftp://example.com/hook" })),
        (uri.as_str(), json!({ "events": "user.created" })),
        (uri.as_str(), json!({})),
        (uri.as_str(), json!({ "url": null })),
        (uri.as_str(), json!({ "event": ["user.created"] })),
    ] {
        let refused = call(&keyward, &key, Method::PATCH, uri, body.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.body
        );
    }
    let missing = "/auth/admin/webhooks/0193a4b0-0000-7000-8000-000000000000";
    let refused = call(
        &keyward,
        &key,
        Method::PATCH,
        missing,
        json!({ "events": null }),
    )
    .await;
    assert_eq!(refused.code(), "not_found", "{}", refused.body);
    let listed = send(&keyward, authed(Method::GET, "/auth/admin/webhooks", &key)).await;
    let endpoint = &listed.body["data"]["endpoints"][0];
    assert_eq!(endpoint["url"], receiver.url("/ok/after"));
    assert!(endpoint.get("events").is_none(), "{endpoint}");
    // Each change is in the audit log.
    let audit = "/auth/admin/audit?kind=webhook_updated";
    let log = send(&keyward, authed(Method::GET, audit, &key)).await;
    assert_eq!(
        log.body["data"]["events"].as_array().unwrap().len(),
        2,
        "{}",
        log.body
    );
}

#[tokio::test]
async fn a_test_message_reaches_its_endpoint_alone_whatever_types_it_takes() {
    let db = TestDb::new().await;
    let keyward = start(&db, true).await;
    let (_, key) = keyward.create_admin_key("webhooks").await.unwrap();
    let mut receiver = Receiver::start();
    let only = Some(&["user.deleted"][..]);
    let (id, secret) = add_endpoint(&keyward, &key, &receiver.url("/ok/tested"), only).await;
    receiver.trust("/ok/tested", &secret);
    let (_, other) = add_endpoint(&keyward, &key, &receiver.url("/ok/other"), None).await;
    receiver.trust("/ok/other", &other);

    let uri = format!("/auth/admin/webhooks/{id}/test");
    let queued = call(&keyward, &key, Method::POST, &uri, json!({})).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
    assert_eq!(queued.body["data"]["type"], "webhook.test");
    let msg_id = queued.body["data"]["msg_id"].as_str().unwrap().to_owned();
    receiver
        .wait_for(Duration::from_secs(10), |got| !got.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "to that endpoint alone: {got:#?}");
    let test = &got[0];
    assert_eq!(test.path, "/ok/tested");
    assert!(test.verified, "{test:?}");
    assert_eq!(test.id, msg_id);
    assert_eq!(test.kind(), "webhook.test");
    assert_eq!(test.payload["data"], json!({ "endpoint_id": id }));
    log_once(&keyward, &key, &id, |log| {
        log.len() == 1 && log[0]["status"] == "delivered"
    })
    .await;
    let missing = "/auth/admin/webhooks/0193a4b0-0000-7000-8000-000000000000/test";
    let refused = call(&keyward, &key, Method::POST, missing, json!({})).await;
    assert_eq!(refused.code(), "not_found", "{}", refused.body);
}

/// Two servers on one database, each with its sender, both making events: of the two, one
/// sends to an endpoint at a time (it holds the endpoint), so every message arrives once, each
/// delivered at its first attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_send_each_message_once() {
    let db = TestDb::new().await;
    let (first, second) = (start(&db, true).await, start(&db, true).await);
    let (_, key) = first.create_admin_key("webhooks").await.unwrap();
    let mut receiver = Receiver::start();
    let only = Some(&["user.created"][..]);
    let (endpoint, secret) = add_endpoint(&first, &key, &receiver.url("/ok/both"), only).await;
    receiver.trust("/ok/both", &secret);

    let mut users = HashSet::new();
    for n in 0..24 {
        let server = if n % 2 == 0 { &first } else { &second };
        let signed = sign_up(server, &format!("u{n}@example.com")).await;
        users.insert(signed["user"]["id"].as_str().unwrap().to_owned());
    }
    receiver
        .wait_for(Duration::from_secs(20), |got| got.len() >= users.len())
        .await;
    // Another look of both senders, for a message sent twice to show.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = receiver.received();
    let ids: HashSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "a message arrived twice: {got:#?}");
    let about: HashSet<String> = got
        .iter()
        .filter_map(|r| r.payload["data"]["user_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(about, users);
    assert!(
        got.iter().all(|r| r.verified && r.answered == 204),
        "{got:#?}"
    );
    let deliveries = log_once(&second, &key, &endpoint, |log| {
        log.len() == users.len() && log.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    assert!(
        deliveries.iter().all(|d| d["attempts"] == 1),
        "{deliveries:#?}"
    );
}

fn cli(db: &TestDb, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("webhooks")
        .args(args)
        .args(["--database-url", &db.url, "--webhook-allow-private", "true"])
        .env("KEYWARD_SECRET", process::SECRET)
        .env("KEYWARD_LOG", "error")
        .env_remove("KEYWARD_CONFIG")
        .output()
        .expect("the keyward binary runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_cli_changes_an_endpoint() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::new());
    let made = cli(
        &db,
        &["create", "http://127.0.0.1:9/a", "--events", "user.created"],
    );
    let id = made.split_whitespace().next().unwrap().to_owned();
    let changed = cli(
        &db,
        &[
            "update",
            &id,
            "--url",
            "http://127.0.0.1:9/b",
            "--events",
            "user.deleted,user.created",
        ],
    );
    assert!(
        changed.contains("http://127.0.0.1:9/b  events: user.deleted,user.created"),
        "{changed}"
    );
    let changed = cli(&db, &["update", &id, "--all-events"]);
    assert!(
        changed.contains("http://127.0.0.1:9/b  events: all"),
        "{changed}"
    );
    assert!(cli(&db, &["list"]).contains("events: all"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_lost_across_a_kill_9() {
    let db = TestDb::new().await;
    let mut receiver = Receiver::start();
    let made = cli(
        &db,
        &[
            "create",
            &receiver.url("/flaky/all"),
            "--events",
            "user.created",
        ],
    );
    let secret = made
        .lines()
        .find(|line| line.starts_with("whsec_"))
        .expect("the secret is printed");
    receiver.trust("/flaky/all", secret);
    assert!(cli(&db, &["list"]).contains("/flaky/all"));

    // Sign-ups, then SIGKILL before the refused first attempts are retried (5 s later); the
    // restarted server sends them (one caught mid-attempt would wait for its hold to end).
    let mut server = Process::start(&db, &["--webhook-allow-private", "true"]).await;
    let mut users = HashSet::new();
    for n in 0..10 {
        let signed = server.sign_up(&format!("u{n}@example.com"), None).await;
        users.insert(signed["user"]["id"].as_str().unwrap().to_owned());
    }
    // Every first attempt was refused (500) before the kill: the retries are what is at stake.
    receiver
        .wait_for(Duration::from_secs(10), |got| got.len() == 10)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let delivered = |got: &[Received]| -> HashSet<String> {
        got.iter()
            .filter(|r| r.answered == 204)
            .filter_map(|r| r.payload["data"]["user_id"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(
        delivered(&receiver.received()).is_empty(),
        "{:?}",
        receiver.received()
    );

    server.restart().await;
    let got = receiver
        .wait_for(Duration::from_secs(75), |got| delivered(got) == users)
        .await;
    assert!(got.iter().all(|r| r.verified), "{got:#?}");
    let log = cli(
        &db,
        &["deliveries", made.split_whitespace().next().unwrap()],
    );
    assert_eq!(log.matches("delivered").count(), 10, "{log}");
}

#[tokio::test]
async fn endpoints_from_the_configuration_are_kept_in_step_with_it_at_each_start() {
    let db = TestDb::new().await;
    let mut receiver = Receiver::start();
    let secret = format!("whsec_{}", {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([9u8; 24])
    });
    receiver.trust("/ok/configured", &secret);
    let configured = |events: Option<&[&str]>| keyward_server::ConfiguredWebhook {
        url: receiver.url("/ok/configured"),
        secret: secret.clone(),
        events: events.map(|types| types.iter().map(|t| (*t).to_owned()).collect()),
    };
    let start_with = |webhooks: Vec<keyward_server::ConfiguredWebhook>| {
        let settings = Settings {
            webhook_allow_private: true,
            webhooks,
            ..db.settings()
        };
        async move { Keyward::start(settings).await.expect("the server starts") }
    };

    // Made at start, signed with the configured secret, taking the configured types.
    let keyward = start_with(vec![configured(Some(&["user.created"]))]).await;
    let (_, key) = keyward.create_admin_key("console").await.unwrap();
    sign_up(&keyward, "conf@example.com").await;
    let got = receiver
        .wait_for(Duration::from_secs(10), |got| got.len() == 1)
        .await;
    assert!(
        got[0].verified && got[0].kind() == "user.created",
        "{got:?}"
    );
    let listed = send(&keyward, authed(Method::GET, "/auth/admin/webhooks", &key)).await;
    let endpoint = listed.body["data"]["endpoints"][0].clone();
    assert_eq!(endpoint["configured"], true, "{endpoint}");
    assert_eq!(endpoint["events"], json!(["user.created"]));
    let id = endpoint["id"].as_str().unwrap().to_owned();
    // Removed through the API, it would come back at the next start: refused.
    let uri = format!("/auth/admin/webhooks/{id}");
    let refused = send(&keyward, authed(Method::DELETE, &uri, &key)).await;
    assert_eq!(refused.code(), "invalid_request", "{}", refused.body);
    // So would a secret rotated through the API: its secret is the configuration's.
    let rotate = format!("{uri}/rotate-secret");
    let refused = send(&keyward, authed(Method::POST, &rotate, &key)).await;
    assert_eq!(refused.code(), "invalid_request", "{}", refused.body);
    // And so would its events changed through the API.
    let change = json!({ "events": null });
    let refused = call(&keyward, &key, Method::PATCH, &uri, change).await;
    assert_eq!(refused.code(), "invalid_request", "{}", refused.body);
    drop(keyward);

    // Its events changed: the same endpoint (and log), now taking every type.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let keyward = start_with(vec![configured(None)]).await;
    let listed = send(&keyward, authed(Method::GET, "/auth/admin/webhooks", &key)).await;
    let endpoints = listed.body["data"]["endpoints"].as_array().unwrap().clone();
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    assert_eq!(endpoints[0]["id"], id.as_str());
    assert!(endpoints[0].get("events").is_none(), "{}", endpoints[0]);
    drop(keyward);

    // Gone from the configuration: gone.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let keyward = start_with(Vec::new()).await;
    let listed = send(&keyward, authed(Method::GET, "/auth/admin/webhooks", &key)).await;
    assert_eq!(listed.body["data"]["endpoints"], json!([]));
}
