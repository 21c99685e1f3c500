//! Live connections of a sync server (`keyward_server::sync`): a connect ticket opens one with
//! the session's identity and scopes, and it ends when the session is revoked (here at once, on
//! another server within the sync interval), when its device is revoked, when the user's role
//! in the organization changes, or when its token expires unless renewed in band; visitors
//! connect only in mixed mode, with their own scopes.

// Tests stand outside the server: they read the clock as a client would.
#![allow(clippy::disallowed_methods)]

use crate::common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::*;
use keyward_server::sync::{Connection, Ended, Scopes, SyncAuth};
use keyward_server::{Keyward, Settings};
use serde_json::{Value, json};

const SYNC: &str = "wss://sync.example.com/ws";

/// A ticket for the sync endpoint, asked with `token`.
async fn ticket(keyward: &Keyward, token: &str) -> String {
    connect_ticket(keyward, token, SYNC).await
}

/// `POST /auth/connect-ticket` for the sync endpoint by `device`, with its bound `token`.
async fn ask_bound(keyward: &Keyward, device: &TestDevice, token: &str) -> Reply {
    let proof = device.proof("POST", "/auth/connect-ticket", Some(token));
    send(
        keyward,
        dpop_request(
            Method::POST,
            "/auth/connect-ticket",
            Some(("DPoP", token)),
            Some(&proof),
            Some(&json!({ "url": SYNC })),
        ),
    )
    .await
}

/// The endpoint of these tests: three collections; a user's own data is their todos and notes.
fn endpoint(keyward: &Keyward) -> SyncAuth {
    SyncAuth::new(keyward.clone(), SYNC)
        .collections(["todos", "notes", "billing"])
        .personal(Scopes::none().write(["todos", "notes"]))
}

/// Waits, from now on and in the background, for `connection` to end: why, if within `limit`.
/// Started before what ends it, so the wake-up itself is tested, not a later look.
fn waiting(mut connection: Connection, limit: Duration) -> tokio::task::JoinHandle<Option<Ended>> {
    tokio::spawn(async move { tokio::time::timeout(limit, connection.ended()).await.ok() })
}

/// How `connection` ends, if it does within `limit`.
async fn ends_within(connection: &mut Connection, limit: Duration) -> Option<Ended> {
    tokio::time::timeout(limit, connection.ended()).await.ok()
}

async fn sign_out(keyward: &Keyward, token: &str, scope: &str) {
    let reply = send(
        keyward,
        json_request(
            Method::POST,
            "/auth/sign-out",
            Some(token),
            &json!({ "scope": scope }),
        ),
    )
    .await;
    assert!(reply.status.is_success(), "{}", reply.body);
}

#[tokio::test]
async fn a_ticket_opens_a_connection_that_ends_at_once_when_its_session_is_signed_out() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let user = sign_up(&keyward, "ada@example.com").await;
    let token = access(&user);
    let sync = endpoint(&keyward);

    let mut connection = sync
        .connect(Some(&ticket(&keyward, &token).await))
        .await
        .unwrap();
    let who = connection.identity().unwrap();
    assert_eq!(Value::from(who.user_id.to_string()), user["user"]["id"]);
    assert_eq!(Value::from(who.session_id.to_string()), user["session_id"]);
    // No organization: the user's own data, as the endpoint says it is.
    assert!(connection.scopes().can_write("todos") && connection.scopes().can_read("notes"));
    assert!(!connection.scopes().can_read("billing"));
    assert_eq!(
        ends_within(&mut connection, Duration::from_millis(300)).await,
        None
    );

    // Another session of the same user stays connected when this one signs out.
    let other = sign_in(&keyward, "ada@example.com").await;
    let mut kept = sync
        .connect(Some(&ticket(&keyward, &access(&other)).await))
        .await
        .unwrap();
    let ended = waiting(connection, Duration::from_secs(5));
    sign_out(&keyward, &token, "session").await;
    assert_eq!(ended.await.unwrap(), Some(Ended::Revoked));
    assert_eq!(Ended::Revoked.code(), "session_revoked");
    assert_eq!(
        ends_within(&mut kept, Duration::from_millis(300)).await,
        None
    );
}

#[tokio::test]
async fn a_revocation_on_one_server_closes_connections_held_by_another_within_the_sync_interval() {
    let db = TestDb::new().await;
    let here = db.start().await;
    let there = db.start().await;
    let user = sign_up(&here, "grace@example.com").await;
    let token = access(&user);
    // The ticket from the server that redeems it: on SQLite a ticket is kept by the process
    // that issued it (tests/connect_tickets.rs).
    let connection = endpoint(&there)
        .connect(Some(&ticket(&there, &token).await))
        .await
        .unwrap();
    // `there` reads revocations every second: it ends the connection then (the limit leaves
    // room for a busy machine; without the sync it would last the token's 15 minutes).
    let ended = waiting(connection, Duration::from_secs(3));
    sign_out(&here, &token, "all").await;
    assert_eq!(ended.await.unwrap(), Some(Ended::Revoked));
}

#[tokio::test]
async fn on_postgresql_another_server_hears_of_a_revocation_at_once_not_at_its_next_read() {
    let db = TestDb::new().await;
    if db.kind == keyward_server::DatabaseKind::Sqlite {
        // One server process serves an SQLite database: there is no other server to tell.
        return;
    }
    let here = db.start().await;
    // `there` reads revocations once an hour: only the database's notification can end its
    // connection within the limit.
    let hour = Duration::from_secs(3600);
    let there = Keyward::start_polling_every(db.settings(), hour)
        .await
        .unwrap();
    let user = sign_up(&here, "notified@example.com").await;
    let token = access(&user);
    let connection = endpoint(&there)
        .connect(Some(&ticket(&here, &token).await))
        .await
        .unwrap();
    let ended = waiting(connection, Duration::from_secs(10));
    sign_out(&here, &token, "all").await;
    assert_eq!(ended.await.unwrap(), Some(Ended::Revoked));
}

#[tokio::test]
async fn a_revoked_device_ends_its_connections_and_its_session_gets_no_new_ticket() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let device = TestDevice::new();
    let user = sign_up_bound(&keyward, "bound@example.com", &device).await;
    let token = access(&user);
    let device_id = own_device_id(&keyward, &device, &token).await;
    let reply = ask_bound(&keyward, &device, &token).await;
    let bound_ticket = reply.body["data"]["ticket"].as_str().unwrap().to_owned();
    let connection = endpoint(&keyward)
        .connect(Some(&bound_ticket))
        .await
        .unwrap();
    assert_eq!(
        connection
            .identity()
            .unwrap()
            .device_id
            .map(|d| d.to_string()),
        Some(device_id.clone())
    );

    let ended = waiting(connection, Duration::from_secs(5));
    // Revoked from another browser signed in to the same account.
    let other = sign_in(&keyward, "bound@example.com").await;
    let revoke = send(
        &keyward,
        authed(
            Method::DELETE,
            &format!("/auth/devices/{device_id}"),
            &access(&other),
        ),
    )
    .await;
    assert!(revoke.status.is_success(), "{}", revoke.body);
    assert_eq!(ended.await.unwrap(), Some(Ended::Revoked));
    let again = ask_bound(&keyward, &device, &token).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn scopes_follow_the_organization_role_and_a_role_change_ends_the_connection() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let user = sign_up(&keyward, "lin@example.com").await;
    let (org, in_org) = act_for_new_org(&keyward, &user, "Acme").await;

    // By the role's permissions (an owner: `*:*`), or by the app's own rule.
    let sync = endpoint(&keyward);
    let connection = sync
        .connect(Some(&ticket(&keyward, &in_org).await))
        .await
        .unwrap();
    let who = connection.identity().unwrap();
    assert_eq!(who.org.map(|o| o.to_string()), Some(org.clone()));
    assert_eq!(who.org_role.as_deref(), Some("owner"));
    assert!(connection.scopes().can_write("billing"));
    let custom = sync
        .clone()
        .resolve_scopes(|who, _| match who.org_role.as_deref() {
            Some("owner") => Scopes::none().read(["notes"]),
            _ => Scopes::none(),
        });
    let read_only = custom
        .connect(Some(&ticket(&keyward, &in_org).await))
        .await
        .unwrap();
    assert!(read_only.scopes().can_read("notes") && !read_only.scopes().can_write("notes"));
    assert!(!read_only.scopes().can_read("todos"));

    // The organization is deleted: the owner's role there is gone, and so is the connection.
    let ended = waiting(connection, Duration::from_secs(5));
    let deleted = send(
        &keyward,
        authed(Method::DELETE, &format!("/auth/orgs/{org}"), &in_org),
    )
    .await;
    assert!(deleted.status.is_success(), "{}", deleted.body);
    assert_eq!(ended.await.unwrap(), Some(Ended::RoleChanged));
}

#[tokio::test]
async fn a_connection_ends_with_its_token_unless_renewed_in_band_by_its_own_session() {
    let db = TestDb::new().await;
    // `exp` is whole seconds: a 3 s token lives 2 to 3 s.
    let keyward = Keyward::start(Settings {
        access_ttl: Duration::from_secs(3),
        ..db.settings()
    })
    .await
    .unwrap();
    let user = sign_up(&keyward, "renew@example.com").await;
    let sync = endpoint(&keyward);
    let mut connection = sync
        .connect(Some(&ticket(&keyward, &access(&user)).await))
        .await
        .unwrap();
    let first_deadline = connection.identity().unwrap().token_expires_at;

    // Another session's ticket (the same user's, signed in elsewhere), or one for another
    // endpoint, does not renew it, and leaves it as it was; its own, from a fresh token, does.
    let elsewhere = sign_in(&keyward, "renew@example.com").await;
    let foreign = ticket(&keyward, &access(&elsewhere)).await;
    let before = connection.identity().cloned();
    assert!(connection.renew(&foreign).await.is_err());
    let for_elsewhere =
        connect_ticket(&keyward, &access(&user), "wss://other.example.com/ws").await;
    assert!(connection.renew(&for_elsewhere).await.is_err());
    assert_eq!(connection.identity().cloned(), before);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let renewed = refresh(&keyward, &refresh_token(&user)).await;
    let fresh = ticket(&keyward, &access(&renewed.body["data"])).await;
    connection.renew(&fresh).await.unwrap();
    assert!(connection.identity().unwrap().token_expires_at > first_deadline);
    // Past the first token's expiry (the second's is a second or more later) it is still open;
    // it ends with the second's.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let past_first = Duration::from_millis((first_deadline.millis() - now + 200).max(0) as u64);
    assert_eq!(ends_within(&mut connection, past_first).await, None);
    assert_eq!(
        ends_within(&mut connection, Duration::from_millis(3000)).await,
        Some(Ended::Expired)
    );
}

#[tokio::test]
async fn visitors_connect_only_in_mixed_mode_and_only_with_their_scopes() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let closed = endpoint(&keyward);
    let refused = closed.connect(None).await.unwrap_err();
    assert_eq!(refused.code().map(|c| c.as_str()), Some("unauthorized"));
    let bad = closed.connect(Some("kwt_nonsense")).await.unwrap_err();
    assert_eq!(bad.code().map(|c| c.as_str()), Some("invalid_ticket"));

    let mixed = endpoint(&keyward).anonymous(Scopes::none().read(["notes"]));
    let mut visitor = mixed.connect(None).await.unwrap();
    assert!(visitor.identity().is_none());
    assert!(visitor.scopes().can_read("notes"));
    assert!(!visitor.scopes().can_write("notes") && !visitor.scopes().can_read("todos"));
    assert_eq!(
        ends_within(&mut visitor, Duration::from_millis(200)).await,
        None
    );
    // A signed-in user on the same endpoint gets their own scopes.
    let user = sign_up(&keyward, "mixed@example.com").await;
    let member = mixed
        .connect(Some(&ticket(&keyward, &access(&user)).await))
        .await
        .unwrap();
    assert!(member.scopes().can_write("todos"));
}

#[tokio::test]
async fn a_client_that_sends_headers_connects_with_its_token_and_a_bound_one_with_its_proof() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let sync = endpoint(&keyward);
    let headers = |pairs: &[(&str, &str)]| {
        let mut map = axum::http::HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    };

    let user = sign_up(&keyward, "native@example.com").await;
    let bearer = format!("Bearer {}", access(&user));
    let connection = sync
        .connect_with_token(&headers(&[("authorization", &bearer)]))
        .await
        .unwrap();
    assert_eq!(
        connection.identity().map(|who| who.session_id.to_string()),
        user["session_id"].as_str().map(str::to_owned)
    );
    let ended = waiting(connection, Duration::from_secs(5));
    sign_out(&keyward, &access(&user), "session").await;
    assert_eq!(ended.await.unwrap(), Some(Ended::Revoked));
    let refused = sync
        .connect_with_token(&headers(&[("authorization", &bearer)]))
        .await
        .unwrap_err();
    assert_eq!(refused.code().map(|c| c.as_str()), Some("session_revoked"));

    // A device-bound token: with a proof for `GET` at the endpoint, once.
    let device = TestDevice::new();
    let bound = sign_up_bound(&keyward, "native-bound@example.com", &device).await;
    let token = access(&bound);
    let scheme = format!("DPoP {token}");
    // The handshake is an HTTP GET: the proof is for the endpoint's https URL.
    let proof = device.proof_at("GET", "https://sync.example.com/ws", &token);
    let connection = sync
        .connect_with_token(&headers(&[("authorization", &scheme), ("dpop", &proof)]))
        .await
        .unwrap();
    assert!(connection.identity().unwrap().device_id.is_some());
    for (what, pairs) in [
        ("no proof", vec![("authorization", scheme.as_str())]),
        (
            "the proof again",
            vec![("authorization", scheme.as_str()), ("dpop", proof.as_str())],
        ),
        (
            "as a Bearer token",
            vec![("authorization", bearer.as_str())],
        ),
    ] {
        assert!(
            sync.connect_with_token(&headers(&pairs)).await.is_err(),
            "{what}"
        );
    }
    let elsewhere = device.proof_at("GET", "https://other.example.com/ws", &token);
    let pairs = [
        ("authorization", scheme.as_str()),
        ("dpop", elsewhere.as_str()),
    ];
    assert!(
        sync.connect_with_token(&headers(&pairs)).await.is_err(),
        "another endpoint's proof"
    );
}
