//! Connect tickets: a signed-in client (device-bound or not) gets a single-use, 30-second ticket
//! for one WebSocket or EventSource URL, and a server in the same process redeems it with
//! `Keyward::redeem_connect_ticket`. (Expiry, with a controlled clock, is in
//! `src/domain/scenarios.rs`.)

use crate::common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use keyward_proto::ErrorCode;

use keyward_server::{DatabaseKind, SessionId, TicketIdentity, TicketRow, UserId};
use serde_json::{Value, json};

const SYNC: &str = "wss://sync.example.com/ws";
const PATH: &str = "/auth/connect-ticket";

/// `POST /auth/connect-ticket` with `body`, by `device` with its bound `token`.
fn bound_request(device: &TestDevice, token: &str, body: &Value) -> Request<Body> {
    let proof = device.proof("POST", PATH, Some(token));
    dpop_request(
        Method::POST,
        PATH,
        Some(("DPoP", token)),
        Some(&proof),
        Some(body),
    )
}

/// The code a redemption was refused with.
fn refusal(result: Result<TicketIdentity, keyward_server::Error>) -> ErrorCode {
    result
        .expect_err("the ticket is refused")
        .code()
        .expect("a refusal, not an internal error")
}

fn user_of(data: &Value) -> UserId {
    UserId::parse(data["user"]["id"].as_str().unwrap()).unwrap()
}

fn session_of(data: &Value) -> SessionId {
    SessionId::parse(data["session_id"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_device_bound_session_gets_a_ticket_that_is_good_once_at_its_url() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let device = TestDevice::new();
    let signed = sign_up_bound(&keyward, "bound@example.com", &device).await;
    let token = access(&signed);

    let reply = send(
        &keyward,
        bound_request(&device, &token, &json!({ "url": SYNC })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let data = &reply.body["data"];
    assert_eq!(data["expires_in"], 30);
    let ticket = data["ticket"].as_str().unwrap();
    assert!(ticket.starts_with("kwt_") && ticket.len() == 47, "{ticket}");

    // The device was last seen over a minute ago: the connection counts as seeing it.
    let old = "UPDATE devices SET last_seen_at = 1000 WHERE user_id = $1";
    assert_eq!(db.execute(old, &user_of(&signed).to_string()).await, 1);
    let identity = keyward.redeem_connect_ticket(ticket, SYNC).await.unwrap();
    assert_eq!(identity.user_id, user_of(&signed));
    assert_eq!(identity.session_id, session_of(&signed));
    // Noted without making the connection wait: soon after.
    let mut seen = 1000;
    for _ in 0..100 {
        seen = keyward.store().devices(&user_of(&signed)).await.unwrap()[0].last_seen_at;
        if seen > 1000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen > 1000, "the connection noted the device seen ({seen})");
    let device_id = own_device_id(&keyward, &device, &token).await;
    assert_eq!(
        identity.device_id.map(|id| id.to_string()),
        Some(device_id),
        "the ticket names the session's device"
    );

    assert_eq!(
        refusal(keyward.redeem_connect_ticket(ticket, SYNC).await),
        ErrorCode::InvalidTicket,
        "a ticket is good once"
    );
}

#[tokio::test]
async fn a_bearer_session_gets_a_ticket_without_a_device() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let signed = sign_up(&keyward, "bearer@example.com").await;
    let issued = connect_ticket(&keyward, &access(&signed), SYNC).await;

    let identity = keyward.redeem_connect_ticket(&issued, SYNC).await.unwrap();
    assert_eq!(identity.user_id, user_of(&signed));
    assert_eq!(identity.session_id, session_of(&signed));
    assert_eq!(identity.device_id, None);
    assert_eq!(
        refusal(keyward.redeem_connect_ticket(&issued, SYNC).await),
        ErrorCode::InvalidTicket
    );
}

#[tokio::test]
async fn a_ticket_is_refused_at_another_url_and_used_up_by_the_attempt() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let token = access(&sign_up(&keyward, "elsewhere@example.com").await);

    for other in [
        "wss://sync.example.com/other",
        "wss://evil.example.com/ws",
        "ws://sync.example.com/ws",
        "https://sync.example.com/ws",
        "wss://sync.example.com:8443/ws",
        "wss://sync.example.com/ws/",
        "wss://sync.example.com/WS",
    ] {
        let tried = connect_ticket(&keyward, &token, SYNC).await;
        assert_eq!(
            refusal(keyward.redeem_connect_ticket(&tried, other).await),
            ErrorCode::InvalidTicket,
            "{other}"
        );
        assert_eq!(
            refusal(keyward.redeem_connect_ticket(&tried, SYNC).await),
            ErrorCode::InvalidTicket,
            "a ticket tried at {other} cannot be tried again"
        );
    }
}

#[tokio::test]
async fn only_the_query_and_fragment_may_differ_and_urls_compare_normalised() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let token = access(&sign_up(&keyward, "query@example.com").await);

    for (issued_for, redeemed_at) in [
        (
            "wss://sync.example.com/ws?room=1",
            "wss://sync.example.com/ws?room=2#x",
        ),
        (SYNC, "wss://sync.example.com/ws?token=abc"),
        ("WSS://Sync.Example.COM:443/ws", SYNC),
        ("ws://localhost:80/ws", "ws://localhost/ws"),
        ("https://api.example.com", "https://api.example.com/"),
        (
            "http://127.0.0.1:8787/events",
            "http://127.0.0.1:8787/events?since=5",
        ),
    ] {
        let issued = connect_ticket(&keyward, &token, issued_for).await;
        assert!(
            keyward
                .redeem_connect_ticket(&issued, redeemed_at)
                .await
                .is_ok(),
            "issued for {issued_for}, redeemed at {redeemed_at}"
        );
    }
}

#[tokio::test]
async fn a_ticket_of_a_session_that_ended_is_refused() {
    let db = TestDb::new().await;
    let keyward = db.start().await;

    // Signed out after the ticket was issued.
    let token = access(&sign_up(&keyward, "gone@example.com").await);
    let signed_out = connect_ticket(&keyward, &token, SYNC).await;
    let out = send(&keyward, authed(Method::POST, "/auth/sign-out", &token)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    assert_eq!(
        refusal(keyward.redeem_connect_ticket(&signed_out, SYNC).await),
        ErrorCode::InvalidTicket
    );

    // A device-bound session whose device was revoked.
    let device = TestDevice::new();
    let signed = sign_up_bound(&keyward, "revoked-device@example.com", &device).await;
    let token = access(&signed);
    let reply = send(
        &keyward,
        bound_request(&device, &token, &json!({ "url": SYNC })),
    )
    .await;
    let device_revoked = reply.body["data"]["ticket"].as_str().unwrap().to_owned();
    let id = own_device_id(&keyward, &device, &token).await;
    let uri = format!("/auth/devices/{id}");
    let proof = device.proof("DELETE", &uri, Some(&token));
    let revoke = dpop_request(
        Method::DELETE,
        &uri,
        Some(("DPoP", &token)),
        Some(&proof),
        None,
    );
    assert_eq!(send(&keyward, revoke).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        refusal(keyward.redeem_connect_ticket(&device_revoked, SYNC).await),
        ErrorCode::InvalidTicket
    );

    // A user deleted (by an administrator, directly in the database here).
    let signed = sign_up(&keyward, "deleted@example.com").await;
    let user_deleted = connect_ticket(&keyward, &access(&signed), SYNC).await;
    let deleted = db
        .execute(
            "DELETE FROM users WHERE id = $1",
            &user_of(&signed).to_string(),
        )
        .await;
    assert_eq!(deleted, 1);
    assert_eq!(
        refusal(keyward.redeem_connect_ticket(&user_deleted, SYNC).await),
        ErrorCode::InvalidTicket
    );
}

#[tokio::test]
async fn on_postgresql_any_server_redeems_a_ticket_once_and_on_sqlite_the_one_that_issued_it() {
    let db = TestDb::new().await;
    let here = db.start().await;
    let there = db.start().await;
    let token = access(&sign_up(&here, "two-servers@example.com").await);
    let issued = connect_ticket(&here, &token, SYNC).await;
    match db.kind {
        // Tickets are rows: the other server redeems it, and then nobody.
        DatabaseKind::Postgres => {
            there.redeem_connect_ticket(&issued, SYNC).await.unwrap();
            for server in [&here, &there] {
                let again = server.redeem_connect_ticket(&issued, SYNC).await;
                assert_eq!(refusal(again), ErrorCode::InvalidTicket);
            }
        }
        // One process serves SQLite, and keeps its tickets in memory (as it keeps DPoP proof
        // ids): another process on the file does not know the ticket, which stays good where
        // it was issued; and a restart forgets the tickets not yet used.
        DatabaseKind::Sqlite => {
            let elsewhere = there.redeem_connect_ticket(&issued, SYNC).await;
            assert_eq!(refusal(elsewhere), ErrorCode::InvalidTicket);
            here.redeem_connect_ticket(&issued, SYNC).await.unwrap();
            let unused = connect_ticket(&here, &token, SYNC).await;
            here.shutdown().await;
            let restarted = db.start().await;
            let after = restarted.redeem_connect_ticket(&unused, SYNC).await;
            assert_eq!(refusal(after), ErrorCode::InvalidTicket);
        }
    }
}

#[tokio::test]
async fn a_bad_url_is_refused_with_invalid_request_and_no_ticket() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let token = access(&sign_up(&keyward, "bad-url@example.com").await);

    let long = format!("wss://sync.example.com/{}", "a".repeat(2100));
    for url in [
        "",
        "not a url",
        "/ws",
        "sync.example.com/ws",
        "ftp://sync.example.com/ws",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "file:///etc/passwd",
        "wss://user:secret@sync.example.com/ws",
        "wss://exa mple.com/ws",
        &long,
    ] {
        let reply = send(
            &keyward,
            json_request(Method::POST, PATH, Some(&token), &json!({ "url": url })),
        )
        .await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{url:?}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("URL"), "{message}");
    }
    for body in [
        json!({}),
        json!({ "url": 42 }),
        json!({ "url": SYNC, "x": 1 }),
    ] {
        let reply = send(
            &keyward,
            json_request(Method::POST, PATH, Some(&token), &body),
        )
        .await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{body}"
        );
    }

    // A server redeeming at a URL that is not one is told so, and the ticket stays good.
    let unused = connect_ticket(&keyward, &token, SYNC).await;
    assert_eq!(
        refusal(keyward.redeem_connect_ticket(&unused, "not a url").await),
        ErrorCode::InvalidRequest
    );
    keyward.redeem_connect_ticket(&unused, SYNC).await.unwrap();
}

#[tokio::test]
async fn a_ticket_needs_a_signed_in_user_with_the_proof_a_bound_token_needs() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let body = json!({ "url": SYNC });

    let anonymous = send(&keyward, post(PATH, &body)).await;
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let forged = send(
        &keyward,
        json_request(Method::POST, PATH, Some("not.a.token"), &body),
    )
    .await;
    assert_eq!(
        (forged.status, forged.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );

    // A bound token is no bearer token, and needs a proof by its own key.
    let device = TestDevice::new();
    let token = access(&sign_up_bound(&keyward, "proof@example.com", &device).await);
    let as_bearer = send(
        &keyward,
        json_request(Method::POST, PATH, Some(&token), &body),
    )
    .await;
    assert_eq!(as_bearer.code(), "invalid_token");
    let no_proof = send(
        &keyward,
        dpop_request(
            Method::POST,
            PATH,
            Some(("DPoP", &token)),
            None,
            Some(&body),
        ),
    )
    .await;
    assert_eq!(no_proof.code(), "dpop_required");
    let thief = TestDevice::new();
    let stolen = send(&keyward, bound_request(&thief, &token, &body)).await;
    assert_eq!(
        (stolen.status, stolen.code()),
        (StatusCode::UNAUTHORIZED, "invalid_dpop_proof")
    );

    // Things that are not tickets are refused the same way as used ones.
    let refresh = refresh_token(&sign_up(&keyward, "garbage@example.com").await);
    for garbage in ["", "kwt_", "kwt_short", "kwt_' OR 1=1 --", refresh.as_str()] {
        assert_eq!(
            refusal(keyward.redeem_connect_ticket(garbage, SYNC).await),
            ErrorCode::InvalidTicket,
            "{garbage:?}"
        );
    }
}

#[tokio::test]
async fn two_redemptions_at_once_give_one_success() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let token = access(&sign_up(&keyward, "race@example.com").await);

    for _ in 0..5 {
        let raced = connect_ticket(&keyward, &token, SYNC).await;
        let attempts: Vec<_> = (0..2)
            .map(|_| {
                let keyward = keyward.clone();
                let ticket = raced.clone();
                tokio::spawn(async move { keyward.redeem_connect_ticket(&ticket, SYNC).await })
            })
            .collect();
        let mut successes = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(_) => successes += 1,
                Err(err) => assert_eq!(err.code(), Some(ErrorCode::InvalidTicket)),
            }
        }
        assert_eq!(successes, 1);
    }
}

#[tokio::test]
async fn the_route_is_in_the_openapi_document() {
    let doc: Value = serde_json::from_str(&keyward_server::openapi_json()).unwrap();
    let operation = &doc["paths"][PATH]["post"];
    assert!(operation.is_object(), "{}", doc["paths"]);
    for status in ["200", "400", "401"] {
        let description = operation["responses"][status]["description"].as_str();
        assert!(description.is_some_and(|d| !d.is_empty()), "{status}");
    }
    // The constraints on `url` are stated, so that clients can check before sending (and
    // schemathesis holds the server to them).
    let url = &doc["components"]["schemas"]["ConnectTicketRequest"]["properties"]["url"];
    assert_eq!(url["maxLength"], 2048);
    assert!(url["pattern"].as_str().is_some_and(|p| p.starts_with('^')));
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].to_string();
    assert!(codes.contains("invalid_ticket"), "{codes}");
}

#[tokio::test]
async fn tickets_asked_and_redeemed_at_once_each_count_once_for_their_own_session() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (a, b, gone) = (
        sign_up(&keyward, "first@example.com").await,
        sign_up(&keyward, "second@example.com").await,
        sign_up(&keyward, "gone@example.com").await,
    );
    // Another server signed `gone` out a moment ago.
    let revoke = "UPDATE sessions SET revoked_at = 1000 WHERE id = $1";
    let gone_session = session_of(&gone).to_string();
    assert_eq!(db.execute(revoke, &gone_session).await, 1);
    // Tickets asked for together are stored together (one statement on PostgreSQL, one read of
    // their sessions on SQLite): each still for its own session, and none for the revoked one.
    let ask = |who: &Value| {
        let (keyward, token) = (keyward.clone(), access(who));
        let request = json_request(Method::POST, PATH, Some(&token), &json!({ "url": SYNC }));
        tokio::spawn(async move { send(&keyward, request).await })
    };
    // The revoked session's tickets go straight to the store, as its token would once it passed
    // this server's check, so that only the store's own check can refuse them.
    let store_for_gone = |n: u8| {
        let keyward = keyward.clone();
        let row = TicketRow {
            hash: vec![n; 32],
            session_id: session_of(&gone),
            user_id: user_of(&gone),
            url: SYNC.to_owned(),
            expires_at: i64::MAX,
            token_expires_at: i64::MAX,
        };
        tokio::spawn(async move { keyward.store().insert_connect_ticket(&row).await.unwrap() })
    };
    let mut asking = Vec::new();
    let mut refusing = Vec::new();
    for n in 0..40u8 {
        match n % 4 {
            0 => refusing.push(store_for_gone(n)),
            1 | 3 => asking.push((ask(&a), session_of(&a))),
            _ => asking.push((ask(&b), session_of(&b))),
        }
    }
    let mut tickets = Vec::new();
    for (task, session) in asking {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let ticket = reply.body["data"]["ticket"].as_str().unwrap().to_owned();
        tickets.push((ticket, session));
    }
    for task in refusing {
        assert!(!task.await.unwrap(), "no ticket for a revoked session");
    }
    // Redemptions that arrive together are grouped too: each ticket goes to its own session,
    // and one ticket sent eight times at once is good exactly once.
    let twice = connect_ticket(&keyward, &access(&a), SYNC).await;
    let redeem = |ticket: &str| {
        let (keyward, ticket) = (keyward.clone(), ticket.to_owned());
        tokio::spawn(async move { keyward.redeem_connect_ticket(&ticket, SYNC).await })
    };
    let redeeming: Vec<_> = tickets.iter().map(|(ticket, _)| redeem(ticket)).collect();
    let replaying: Vec<_> = (0..8).map(|_| redeem(&twice)).collect();
    let (mut redeemed, mut replayed) = (Vec::new(), Vec::new());
    for task in redeeming {
        redeemed.push(task.await.unwrap());
    }
    for task in replaying {
        replayed.push(task.await.unwrap());
    }
    for ((_, session), identity) in tickets.iter().zip(redeemed) {
        assert_eq!(identity.unwrap().session_id, *session);
    }
    let good = replayed.iter().filter(|r| r.is_ok()).count();
    assert_eq!(good, 1, "one ticket, eight redemptions at once");
    for refused in replayed.into_iter().filter(Result::is_err) {
        assert_eq!(refusal(refused), ErrorCode::InvalidTicket);
    }
    // And none of them again.
    for (ticket, _) in &tickets {
        let again = keyward.redeem_connect_ticket(ticket, SYNC).await;
        assert_eq!(refusal(again), ErrorCode::InvalidTicket);
    }
}
