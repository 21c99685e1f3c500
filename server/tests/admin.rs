//! The admin API with admin keys: paging through users (every one seen once while users are
//! being added), searching them, one user in full, ending their sessions, disabling, enabling
//! and deleting accounts (their tokens refused at once, on every server), mailing a password
//! reset, reading the audit log; and the keys that are refused.

use crate::common;

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use common::smtp::Smtp;
use common::*;
use keyward_server::{
    AuthUser, DatabaseKind, Keyward, OrgId, Settings, SmtpUrl, Timestamp, UserId,
};
use serde_json::{Value, json};

/// `GET uri` with `key` as the bearer.
async fn admin_get(keyward: &Keyward, key: &str, uri: &str) -> Reply {
    send(keyward, authed(Method::GET, uri, key)).await
}

/// Inserts `count` users made at `at` (ms; many share a millisecond, as under load), named
/// `<tag>-<n>@example.com`, as the store writes them; returns their ids. Thousands of sign-ups
/// through the API would spend the test's minutes hashing passwords.
async fn insert_users(db: &TestDb, tag: &str, count: usize, at: i64) -> Vec<String> {
    use sqlx::Connection as _;
    let users: Vec<(String, String)> = (0..count)
        .map(|n| {
            // The count in the last bytes (the first ones share bits with the UUID's version).
            let mut random = [0u8; 10];
            random[2..].copy_from_slice(&(n as u64).to_be_bytes());
            let id = UserId::new(Timestamp::from_millis(at), random).to_string();
            (id, format!("{tag}-{n}@example.com"))
        })
        .collect();
    let sql = "INSERT INTO users (id, email, email_key, name, created_at, updated_at) \
               VALUES ($1, $2, $2, NULL, $3, $3)";
    macro_rules! insert_all {
        ($conn:expr) => {{
            let mut conn = $conn;
            let mut tx = conn.begin().await.unwrap();
            for (id, email) in &users {
                sqlx::query(sql)
                    .bind(id)
                    .bind(email)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
        }};
    }
    match db.kind {
        DatabaseKind::Sqlite => {
            insert_all!(sqlx::SqliteConnection::connect(&db.url).await.unwrap())
        }
        DatabaseKind::Postgres => insert_all!(sqlx::PgConnection::connect(&db.url).await.unwrap()),
    }
    users.into_iter().map(|(id, _)| id).collect()
}

fn ids_of(page: &Value) -> Vec<String> {
    page["data"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn paging_sees_every_user_once_while_users_are_added() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (_, key) = keyward.create_admin_key("console").await.unwrap();
    assert!(key.starts_with("kwa_") && key.len() == 47, "{key}");
    // 1,500 users over three milliseconds: pages must break ties by id.
    let mut before = Vec::new();
    for (n, tag) in ["a", "b", "c"].into_iter().enumerate() {
        before.extend(insert_users(&db, tag, 500, 1_700_000_000_000 + n as i64).await);
    }
    let mut seen = Vec::new();
    let mut added = Vec::new();
    let mut cursor: Option<String> = None;
    for page_number in 0.. {
        let uri = match &cursor {
            Some(cursor) => format!("/auth/admin/users?limit=200&cursor={cursor}"),
            None => "/auth/admin/users?limit=200".to_owned(),
        };
        let page = admin_get(&keyward, &key, &uri).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(ids_of(&page.body));
        // Users keep signing up while the admin pages.
        if page_number < 3 {
            let tag = format!("new{page_number}");
            added.extend(insert_users(&db, &tag, 30, 1_800_000_000_000 + page_number).await);
        }
        match page.body["data"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a user was listed twice");
    for id in before.iter().chain(&added) {
        assert!(unique.contains(id), "user {id} was never listed");
    }
    assert_eq!(seen.len(), before.len() + added.len());

    // Searched, page by page: a prefix few users start with (500: read through the index
    // ranges) and one many do (1,000 and more: read in the order users were made).
    let many = insert_users(&db, "many", 1000, 1_900_000_000_000).await;
    for (query, expected) in [("b-", &before[500..1000]), ("many-", &many[..])] {
        let found = all_pages(&keyward, &key, &format!("query={query}")).await;
        assert_eq!(
            found, expected,
            "{query}: every match once, in the order made"
        );
    }

    // A cursor this API did not hand out, limits out of range, times that are not RFC 3339 or
    // make an empty range, and a parameter given twice are the caller's mistakes.
    for uri in [
        "/auth/admin/users?cursor=bm90LWEtY3Vyc29y",
        "/auth/admin/users?limit=0",
        "/auth/admin/users?limit=201",
        "/auth/admin/users?limit=ten",
        "/auth/admin/users?limit=5&limit=6",
        "/auth/admin/users?created_since=yesterday",
        "/auth/admin/users?created_before=2026-02-01",
        "/auth/admin/users?created_since=2026-02-01T00:00:00Z&created_since=2026-03-01T00:00:00Z",
        // A range that holds no time at all.
        "/auth/admin/users?created_since=2026-03-01T00:00:00Z&created_before=2026-02-01T00:00:00Z",
        "/auth/admin/users?created_since=2026-03-01T00:00:00Z&created_before=2026-03-01T00:00:00Z",
    ] {
        let reply = admin_get(&keyward, &key, uri).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(reply.code(), "invalid_request", "{uri}");
    }
}

/// Every page of `GET /auth/admin/users?<filter>`, 100 at a time: the ids, in order.
async fn all_pages(keyward: &Keyward, key: &str, filter: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(cursor) => format!("/auth/admin/users?{filter}&limit=100&cursor={cursor}"),
            None => format!("/auth/admin/users?{filter}&limit=100"),
        };
        let page = admin_get(keyward, key, &uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
        found.extend(ids_of(&page.body));
        match page.body["data"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return found,
        }
    }
}

#[tokio::test]
async fn search_by_when_users_were_made_alone_and_with_a_prefix() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (_, key) = keyward.create_admin_key("console").await.unwrap();
    // January, February (the last millisecond of the month too) and March 2026.
    let (jan, feb, feb_end, mar) = (
        1_767_225_600_000,
        1_769_904_000_000,
        1_772_323_199_999,
        1_772_323_200_000,
    );
    let january = insert_users(&db, "jan", 150, jan).await;
    let mut february = insert_users(&db, "feb", 150, feb).await;
    // A prefix a thousand users start with is read in the order users were made.
    let many_before = insert_users(&db, "many-e", 200, jan + 1).await;
    february.extend(insert_users(&db, "many", 1000, feb + 1).await);
    february.extend(insert_users(&db, "late", 1, feb_end).await);
    let march = insert_users(&db, "mar", 150, mar).await;
    let since = "created_since=2026-02-01T00:00:00Z";
    let before = "created_before=2026-03-01T00:00:00Z";

    // February, at or after its first instant and before March's: paged, each once, in order.
    assert_eq!(
        all_pages(&keyward, &key, &format!("{since}&{before}")).await,
        february
    );
    // Each bound alone.
    let from_february: Vec<String> = february.iter().chain(&march).cloned().collect();
    assert_eq!(all_pages(&keyward, &key, since).await, from_february);
    let to_march: Vec<String> = january
        .iter()
        .chain(&many_before)
        .chain(&february)
        .cloned()
        .collect();
    assert_eq!(all_pages(&keyward, &key, before).await, to_march);
    // With a prefix few users start with (read through the index ranges) and one many do.
    let feb_matches = all_pages(&keyward, &key, &format!("query=feb-1&{since}&{before}")).await;
    assert_eq!(
        feb_matches.len(),
        61,
        "feb-1, feb-10 … feb-19, feb-100 … feb-149"
    );
    assert!(feb_matches.iter().all(|id| february.contains(id)));
    assert!(
        all_pages(&keyward, &key, &format!("query=jan-&{since}"))
            .await
            .is_empty()
    );
    let many = all_pages(&keyward, &key, &format!("query=many-&{since}")).await;
    assert_eq!(many, february[150..1150]);
    let many_early = all_pages(&keyward, &key, &format!("query=many-&{before}")).await;
    assert_eq!(many_early.len(), 1200);
    assert_eq!(many_early[..200], many_before[..]);
}

#[tokio::test]
async fn search_matches_the_start_of_an_address_or_a_name_in_any_case() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (_, key) = keyward.create_admin_key("console").await.unwrap();
    for (email, name) in [
        ("ada@example.com", None),
        ("Adam.Smith@example.com", Some("Zed")),
        ("bob@example.com", Some("Adalbert")),
        ("carol@example.com", Some("Carol Ada")),
        ("a_b@example.com", None),
    ] {
        let body = json!({ "email": email, "password": PASSWORD, "name": name });
        let reply = send(&keyward, post("/auth/sign-up", &body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let emails = |page: &Value| -> Vec<String> {
        page["data"]["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    let search = |query: &'static str| {
        let (keyward, key) = (&keyward, &key);
        async move {
            let reply = admin_get(keyward, key, &format!("/auth/admin/users?query={query}")).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            emails(&reply.body)
        }
    };
    assert_eq!(
        search("ADA").await,
        [
            "ada@example.com",
            "Adam.Smith@example.com",
            "bob@example.com"
        ]
    );
    assert_eq!(search("adam.s").await, ["Adam.Smith@example.com"]);
    // `%` and `_` are characters here, not wildcards.
    assert_eq!(search("a_").await, ["a_b@example.com"]);
    assert!(search("%25").await.is_empty());
    assert!(search("nobody").await.is_empty());
    assert_eq!(search("").await.len(), 5);
}

#[tokio::test]
async fn one_user_in_full_and_their_sessions_ended_at_once() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (key_id, key) = keyward.create_admin_key("support").await.unwrap();
    let user = sign_up(&keyward, "eve@example.com").await;
    let second = sign_in(&keyward, "eve@example.com").await;
    let id = user["user"]["id"].as_str().unwrap().to_owned();

    let detail = admin_get(&keyward, &key, &format!("/auth/admin/users/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    let data = &detail.body["data"];
    assert_eq!(data["user"]["email"], "eve@example.com");
    assert_eq!(data["sessions"].as_array().unwrap().len(), 2);
    assert!(
        data["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["current"] == false)
    );
    for list in ["devices", "passkeys", "identities", "orgs"] {
        assert!(data[list].is_array(), "{list}");
    }

    let ended = send(
        &keyward,
        authed(
            Method::DELETE,
            &format!("/auth/admin/users/{id}/sessions"),
            &key,
        ),
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.body["data"]["ended"], 2);
    // Refused at once: the access tokens, and the refresh tokens.
    for data in [&user, &second] {
        let me = send(&keyward, authed(Method::GET, "/auth/me", &access(data))).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED);
        assert_eq!(me.code(), "session_revoked");
        let refreshed = refresh(&keyward, &refresh_token(data)).await;
        assert_eq!(
            refreshed.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            refreshed.body
        );
    }
    let after = admin_get(&keyward, &key, &format!("/auth/admin/users/{id}")).await;
    assert_eq!(after.body["data"]["sessions"], json!([]));
    // The audit log names the key that did it.
    let events = keyward.store().recent_audit(5, None).await.unwrap();
    let event = events
        .iter()
        .find(|e| e.kind == "admin_ended_sessions")
        .expect("audited");
    assert!(
        format!("{:?}", event.detail).contains(&key_id.to_string()),
        "{event:?}"
    );
    // They can sign in again.
    sign_in(&keyward, "eve@example.com").await;

    for uri in [
        "/auth/admin/users/not-a-user".to_owned(),
        format!(
            "/auth/admin/users/{}",
            UserId::new(Timestamp::from_millis(1), [1; 10])
        ),
    ] {
        let missing = admin_get(&keyward, &key, &uri).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(missing.code(), "not_found");
    }
}

#[tokio::test]
async fn admin_routes_refuse_user_tokens_server_keys_and_revoked_keys() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let user = sign_up(&keyward, "mallory@example.com").await;
    let id = user["user"]["id"].as_str().unwrap().to_owned();
    let (_, server_key) = keyward.create_server_key("sync").await.unwrap();
    let (revoked_id, revoked) = keyward.create_admin_key("old laptop").await.unwrap();
    assert!(keyward.revoke_admin_key(&revoked_id).await.unwrap());
    // A server key's id does not revoke an admin key, nor the other way round.
    let (admin_id, key) = keyward.create_admin_key("console").await.unwrap();
    assert!(!keyward.revoke_server_key(&admin_id).await.unwrap());
    let forged = format!("kwa_{}", "A".repeat(43));
    let token = access(&user);
    for (what, presented) in [
        ("a user's access token", token.as_str()),
        ("a server key", server_key.as_str()),
        ("a revoked admin key", revoked.as_str()),
        ("an unknown admin key", forged.as_str()),
        ("a malformed key", "kwa_nope"),
    ] {
        for (method, uri) in [
            (Method::GET, "/auth/admin/users".to_owned()),
            (Method::GET, format!("/auth/admin/users/{id}")),
            (Method::DELETE, format!("/auth/admin/users/{id}/sessions")),
            (Method::POST, format!("/auth/admin/users/{id}/disable")),
            (Method::POST, format!("/auth/admin/users/{id}/enable")),
            (
                Method::POST,
                format!("/auth/admin/users/{id}/password-reset"),
            ),
            (Method::DELETE, format!("/auth/admin/users/{id}")),
            (Method::GET, "/auth/admin/audit".to_owned()),
            (Method::GET, "/auth/admin/webhooks".to_owned()),
            (Method::POST, "/auth/admin/webhooks".to_owned()),
            (Method::DELETE, format!("/auth/admin/webhooks/{id}")),
            (Method::PATCH, format!("/auth/admin/webhooks/{id}")),
            (Method::POST, format!("/auth/admin/webhooks/{id}/enable")),
            (Method::POST, format!("/auth/admin/webhooks/{id}/test")),
            (
                Method::POST,
                format!("/auth/admin/webhooks/{id}/rotate-secret"),
            ),
            (Method::GET, format!("/auth/admin/webhooks/{id}/deliveries")),
            (
                Method::POST,
                format!("/auth/admin/webhooks/{id}/deliveries/1/redeliver"),
            ),
            (Method::GET, "/auth/admin/clients".to_owned()),
            (Method::POST, "/auth/admin/clients".to_owned()),
            (Method::GET, format!("/auth/admin/clients/{id}")),
            (Method::PATCH, format!("/auth/admin/clients/{id}")),
            (Method::DELETE, format!("/auth/admin/clients/{id}")),
            (
                Method::POST,
                format!("/auth/admin/clients/{id}/rotate-secret"),
            ),
        ] {
            let reply = send(&keyward, authed(method, &uri, presented)).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what} on {uri}");
            assert_eq!(reply.code(), "unauthorized", "{what} on {uri}");
        }
    }
    // Nothing was ended by the refused calls.
    let me = send(&keyward, authed(Method::GET, "/auth/me", &token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        admin_get(&keyward, &key, "/auth/admin/users").await.status,
        StatusCode::OK
    );

    // An admin key may introspect too.
    let introspected = send(
        &keyward,
        json_request(
            Method::POST,
            "/auth/introspect",
            Some(&key),
            &json!({ "token": token }),
        ),
    )
    .await;
    assert_eq!(introspected.status, StatusCode::OK);
    assert_eq!(introspected.body["active"], true);
    // But it redeems no tickets: that is a server key's.
    let redeem = send(
        &keyward,
        json_request(
            Method::POST,
            "/auth/connect-ticket/redeem",
            Some(&key),
            &json!({ "ticket": "kwt_x", "url": "wss://sync.example.com/ws" }),
        ),
    )
    .await;
    assert_eq!(redeem.code(), "unauthorized");
}

/// `method uri` with the admin key `key`.
async fn admin_call(keyward: &Keyward, key: &str, method: Method, uri: &str) -> Reply {
    send(keyward, authed(method, uri, key)).await
}

/// Asks an app's route on `keyward` (which verifies the token locally, as a Rust API does: no
/// database read) with `token` until it is refused, for up to 5 s (a server learns of another's
/// revocations within a second); the code it was refused with.
async fn refused_soon(keyward: &Keyward, token: &str) -> String {
    use tower::ServiceExt as _;
    let app = axum::Router::new()
        .route(
            "/api/me",
            axum::routing::get(|user: AuthUser| async move {
                axum::Json(json!({ "sub": user.claims.sub.to_string() }))
            }),
        )
        .with_state(keyward.clone());
    for _ in 0..50 {
        let response = app
            .clone()
            .oneshot(authed(Method::GET, "/api/me", token))
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        if status != StatusCode::OK {
            return reply_of(status, headers, &bytes).code().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    "still accepted".into()
}

#[tokio::test]
async fn a_disabled_account_is_signed_out_at_once_and_signs_in_again_only_once_enabled() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    // A second server on the same database: it hears of the disabling through the database.
    let other = db.start().await;
    let (key_id, key) = keyward.create_admin_key("support").await.unwrap();
    let first = sign_up(&keyward, "dan@example.com").await;
    let second = sign_in(&other, "dan@example.com").await;
    let id = first["user"]["id"].as_str().unwrap().to_owned();

    let disabled = admin_call(
        &keyward,
        &key,
        Method::POST,
        &format!("/auth/admin/users/{id}/disable"),
    )
    .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_eq!(disabled.body["data"]["ended"], 2);
    assert_eq!(disabled.body["data"]["user"]["email"], "dan@example.com");
    assert!(disabled.body["data"]["user"]["disabled_at"].is_string());
    // Every token refused at once here, within a second on the other server; no refresh.
    for session in [&first, &second] {
        let me = send(&keyward, authed(Method::GET, "/auth/me", &access(session))).await;
        assert_eq!(me.code(), "session_revoked");
        assert_eq!(
            refused_soon(&other, &access(session)).await,
            "session_revoked"
        );
        assert_eq!(
            refresh(&keyward, &refresh_token(session)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // No new session, by any server, whatever the password's worth.
    for server in [&keyward, &other] {
        let body = json!({ "email": "dan@example.com", "password": PASSWORD });
        let refused = send(server, post("/auth/sign-in", &body)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert_eq!(refused.code(), "account_disabled");
    }
    // Disabling again changes nothing; the list shows who is disabled.
    let again = admin_call(
        &keyward,
        &key,
        Method::POST,
        &format!("/auth/admin/users/{id}/disable"),
    )
    .await;
    assert_eq!(again.body["data"]["ended"], 0);
    assert_eq!(
        again.body["data"]["user"]["disabled_at"],
        disabled.body["data"]["user"]["disabled_at"]
    );
    let listed = admin_get(&keyward, &key, "/auth/admin/users?query=dan").await;
    assert!(
        listed.body["data"]["users"][0]["disabled_at"].is_string(),
        "{}",
        listed.body
    );

    let enabled = admin_call(
        &keyward,
        &key,
        Method::POST,
        &format!("/auth/admin/users/{id}/enable"),
    )
    .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    assert!(
        enabled.body["data"].get("disabled_at").is_none(),
        "{}",
        enabled.body
    );
    let back = sign_in(&other, "dan@example.com").await;
    let me = send(&keyward, authed(Method::GET, "/auth/me", &access(&back))).await;
    assert_eq!(me.status, StatusCode::OK);
    // The sessions that ended stay ended.
    assert_eq!(
        refresh(&keyward, &refresh_token(&first)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let detail = admin_get(&keyward, &key, &format!("/auth/admin/users/{id}")).await;
    assert!(
        detail.body["data"]["user"]["last_sign_in_at"].is_string(),
        "{}",
        detail.body
    );

    // Audited, with the key that did it.
    let audit = admin_get(&keyward, &key, &format!("/auth/admin/audit?user_id={id}")).await;
    let kinds: Vec<&str> = audit.body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["admin_disabled_user", "admin_enabled_user"] {
        let event = audit.body["data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} in {kinds:?}"));
        assert_eq!(event["detail"]["admin_key"], key_id.to_string());
    }
    let unknown = UserId::new(Timestamp::from_millis(1), [1; 10]);
    for action in ["disable", "enable", "password-reset"] {
        let missing = admin_call(
            &keyward,
            &key,
            Method::POST,
            &format!("/auth/admin/users/{unknown}/{action}"),
        )
        .await;
        assert_eq!(missing.code(), "not_found", "{action}");
    }
}

#[tokio::test]
async fn a_deleted_account_takes_its_data_and_its_tokens_are_refused_on_every_server() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let other = db.start().await;
    let (_, key) = keyward.create_admin_key("support").await.unwrap();
    let owner = sign_up(&keyward, "owner@example.com").await;
    let member = sign_up(&keyward, "member@example.com").await;
    let loner = sign_up(&keyward, "loner@example.com").await;
    let id_of = |data: &Value| data["user"]["id"].as_str().unwrap().to_owned();
    let (owner_id, member_id, loner_id) = (id_of(&owner), id_of(&member), id_of(&loner));
    let (shared, _) = act_for_new_org(&keyward, &owner, "Shared").await;
    let now = Timestamp::from_millis(1_800_000_000_000).millis();
    let (shared, member_user) = (
        OrgId::parse(&shared).unwrap(),
        UserId::parse(&member_id).unwrap(),
    );
    assert!(
        keyward
            .store()
            .add_org_member(&shared, &member_user, "member", now)
            .await
            .unwrap()
    );
    let (own, loner_token) = act_for_new_org(&keyward, &loner, "Alone").await;
    // A session past its lifetime whose last access token is still valid.
    let lapsed = sign_in(&keyward, "loner@example.com").await;
    let lapsed_id = lapsed["session_id"].as_str().unwrap().to_owned();
    let lapse = "UPDATE sessions SET expires_at = 1 WHERE id = $1";
    assert_eq!(db.execute(lapse, &lapsed_id).await, 1);

    // The last owner of an organization with other members: ownership moves first.
    let refused = admin_call(
        &keyward,
        &key,
        Method::DELETE,
        &format!("/auth/admin/users/{owner_id}"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.code(), "last_owner");
    let me = send(&keyward, authed(Method::GET, "/auth/me", &access(&owner))).await;
    assert_eq!(me.status, StatusCode::OK, "nothing was deleted");

    // Alone in their organization: it goes with them.
    let deleted = admin_call(
        &keyward,
        &key,
        Method::DELETE,
        &format!("/auth/admin/users/{loner_id}"),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(
        admin_get(&keyward, &key, &format!("/auth/admin/users/{loner_id}"))
            .await
            .code(),
        "not_found"
    );
    for token in [access(&loner), loner_token, access(&lapsed)] {
        let here = send(&keyward, authed(Method::GET, "/auth/me", &token)).await;
        assert_eq!(here.code(), "session_revoked");
        assert_eq!(refused_soon(&other, &token).await, "session_revoked");
    }
    assert_eq!(
        refresh(&other, &refresh_token(&loner)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let org = send(
        &keyward,
        authed(Method::GET, &format!("/auth/orgs/{own}"), &access(&owner)),
    )
    .await;
    assert_eq!(org.code(), "not_found");
    // The address is free again, for a new account.
    let again = send(
        &keyward,
        post(
            "/auth/sign-up",
            &json!({ "email": "loner@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_ne!(id_of(&again.body["data"]), loner_id);
    // The member is still there; the audit log keeps the deletion.
    let me = send(&keyward, authed(Method::GET, "/auth/me", &access(&member))).await;
    assert_eq!(me.status, StatusCode::OK);
    let audit = admin_get(&keyward, &key, "/auth/admin/audit?kind=admin_deleted_user").await;
    let events = audit.body["data"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{}", audit.body);
    assert_eq!(
        (events[0]["user_id"].as_str(), &events[0]["detail"]["email"]),
        (Some(loner_id.as_str()), &json!("loner@example.com"))
    );
    // So does the organization that went with them, as an owner's deletion of it is recorded.
    let audit = admin_get(&keyward, &key, "/auth/admin/audit?kind=org_deleted").await;
    let events = audit.body["data"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{}", audit.body);
    assert_eq!(events[0]["detail"]["org"], own.as_str());
    assert_eq!(events[0]["detail"]["reason"], "user_deleted");
    let missing = admin_call(
        &keyward,
        &key,
        Method::DELETE,
        &format!("/auth/admin/users/{loner_id}"),
    )
    .await;
    assert_eq!(missing.code(), "not_found");
}

#[tokio::test]
async fn an_admin_mails_a_password_reset_and_never_sets_a_password() {
    let (db, smtp) = (TestDb::new().await, Smtp::start());
    let settings = Settings {
        smtp_url: Some(SmtpUrl(smtp.url())),
        app_url: Some("https://app.example.com/account".into()),
        ..db.settings()
    };
    let keyward = Keyward::start(settings).await.expect("the server starts");
    let (_, key) = keyward.create_admin_key("support").await.unwrap();
    let user = sign_up(&keyward, "forgetful@example.com").await;
    let id = user["user"]["id"].as_str().unwrap();
    let started = admin_call(
        &keyward,
        &key,
        Method::POST,
        &format!("/auth/admin/users/{id}/password-reset"),
    )
    .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let mail = smtp.wait_for("forgetful@example.com", 2).await;
    let reset = mail
        .iter()
        .find(|m| m.subject.contains("password"))
        .expect("a reset mail");
    let (link, token) = reset.link();
    assert!(link.contains("type=reset_password"), "{link}");
    let new = "a passphrase only the user knows";
    let body = json!({ "token": token, "password": new });
    let reply = send(&keyward, post("/auth/password/reset", &body)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let body = json!({ "email": "forgetful@example.com", "password": new });
    assert_eq!(
        send(&keyward, post("/auth/sign-in", &body)).await.status,
        StatusCode::OK
    );
    let audit = admin_get(
        &keyward,
        &key,
        "/auth/admin/audit?kind=admin_started_password_reset",
    )
    .await;
    assert_eq!(
        audit.body["data"]["events"].as_array().unwrap().len(),
        1,
        "{}",
        audit.body
    );
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_filtered_by_user_kind_and_time() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let (_, key) = keyward.create_admin_key("auditor").await.unwrap();
    let ann = sign_up(&keyward, "ann@example.com").await;
    let ann_id = ann["user"]["id"].as_str().unwrap().to_owned();
    sign_up(&keyward, "ben@example.com").await;
    for _ in 0..3 {
        sign_in(&keyward, "ann@example.com").await;
        sign_in(&keyward, "ben@example.com").await;
    }
    let wrong = json!({ "email": "ann@example.com", "password": "not the password" });
    assert_eq!(
        send(&keyward, post("/auth/sign-in", &wrong)).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Two at a time, newest first, every event once.
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = format!(
            "/auth/admin/audit?limit=2{}",
            cursor
                .as_ref()
                .map_or(String::new(), |c| format!("&cursor={c}"))
        );
        let page = admin_get(&keyward, &key, &uri).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        ids.extend(
            page.body["data"]["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page.body["data"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(ids, sorted, "newest first, none twice");
    let all = admin_get(&keyward, &key, "/auth/admin/audit?limit=200").await;
    assert_eq!(
        all.body["data"]["events"].as_array().unwrap().len(),
        ids.len()
    );

    let events = |uri: String| {
        let (keyward, key) = (&keyward, &key);
        async move {
            let page = admin_get(keyward, key, &uri).await;
            assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
            page.body["data"]["events"].as_array().unwrap().clone()
        }
    };
    let ann_sign_ins = events(format!("/auth/admin/audit?user_id={ann_id}&kind=sign_in")).await;
    assert_eq!(ann_sign_ins.len(), 3);
    assert!(
        ann_sign_ins
            .iter()
            .all(|e| e["user_id"] == ann_id.as_str() && e["kind"] == "sign_in")
    );
    let failed = events("/auth/admin/audit?kind=sign_in_failed".into()).await;
    assert_eq!(failed.len(), 1);
    let later = events("/auth/admin/audit?since=2999-01-01T00:00:00Z".into()).await;
    assert!(later.is_empty());
    let since = events("/auth/admin/audit?since=2000-01-01T00:00:00%2B02:00".into()).await;
    assert_eq!(since.len(), ids.len());

    for uri in [
        "/auth/admin/audit?user_id=not-a-user",
        "/auth/admin/audit?kind=DROP%20TABLE",
        "/auth/admin/audit?since=yesterday",
        "/auth/admin/audit?cursor=bm9wZQ",
        "/auth/admin/audit?limit=0",
        "/auth/admin/audit?kind=a&kind=b",
    ] {
        let reply = admin_get(&keyward, &key, uri).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{uri}"
        );
    }
}

/// `user` (an auth answer) acts for `org`, of which they are a member: the session's next
/// tokens (an auth answer's `data`).
async fn act_for(keyward: &Keyward, user: &Value, org: &str) -> Value {
    let activated = send(
        keyward,
        authed(
            Method::POST,
            &format!("/auth/orgs/{org}/activate"),
            &access(user),
        ),
    )
    .await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
    let renewed = refresh(keyward, &refresh_token(user)).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    renewed.body["data"].clone()
}

#[tokio::test]
async fn members_of_the_admin_organization_with_keyward_admin_administer_with_their_sessions() {
    let db = TestDb::new().await;
    let setup = db.start().await;
    let operator = sign_up(&setup, "operator@example.com").await;
    let (operators, operator_token) = act_for_new_org(&setup, &operator, "Operators").await;
    let operator_id = operator["user"]["id"].as_str().unwrap().to_owned();
    let keyward = Keyward::start(Settings {
        admin_org: Some(operators.clone()),
        ..db.settings()
    })
    .await
    .expect("the server starts");

    let helper = sign_up(&keyward, "helper@example.com").await;
    let helper_id = UserId::parse(helper["user"]["id"].as_str().unwrap()).unwrap();
    let org = OrgId::parse(&operators).unwrap();
    let now = Timestamp::from_millis(1_800_000_000_000).millis();
    assert!(
        keyward
            .store()
            .add_org_member(&org, &helper_id, "viewer", now)
            .await
            .unwrap()
    );
    let helper = act_for(&keyward, &helper, &operators).await;
    // The owner of another organization is no administrator of the server.
    let stranger = sign_up(&keyward, "stranger@example.com").await;
    let (_, stranger_token) = act_for_new_org(&keyward, &stranger, "Elsewhere").await;
    let target = sign_up(&keyward, "target@example.com").await;
    let target_id = target["user"]["id"].as_str().unwrap().to_owned();

    // The admin organization's owner may (`*:*` grants keyward:admin); the log names them.
    let listed = admin_get(&keyward, &operator_token, "/auth/admin/users").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let disable = format!("/auth/admin/users/{target_id}/disable");
    let disabled = admin_call(&keyward, &operator_token, Method::POST, &disable).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    let kind = "/auth/admin/audit?kind=admin_disabled_user";
    let audit = admin_get(&keyward, &operator_token, kind).await;
    let by = &audit.body["data"]["events"][0]["detail"]["admin_user"];
    assert_eq!(by, operator_id.as_str(), "{}", audit.body);

    // A viewer there, another organization's owner, and a session acting for no organization
    // may not, and change nothing.
    let enable = format!("/auth/admin/users/{target_id}/enable");
    let no_org = access(&stranger);
    for (who, token) in [
        ("a viewer of the admin organization", access(&helper)),
        ("another organization's owner", stranger_token),
        ("a session for no organization", no_org),
    ] {
        let reply = admin_call(&keyward, &token, Method::POST, &enable).await;
        let outcome = (reply.status, reply.code());
        assert_eq!(outcome, (StatusCode::FORBIDDEN, "forbidden"), "{who}");
    }
    let detail = format!("/auth/admin/users/{target_id}");
    let shown = admin_get(&keyward, &operator_token, &detail).await;
    assert!(
        shown.body["data"]["user"]["disabled_at"].is_string(),
        "still disabled"
    );

    // Made an admin there, the helper may, from their next token; demoted, that token is
    // refused at once.
    let role = format!("/auth/orgs/{operators}/members/{helper_id}");
    let change = |to: &'static str| {
        let (keyward, role, token) = (&keyward, &role, &operator_token);
        async move {
            let body = json!({ "role": to });
            let reply = send(
                keyward,
                json_request(Method::PATCH, role, Some(token), &body),
            )
            .await;
            assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
        }
    };
    change("admin").await;
    let promoted = refresh(&keyward, &refresh_token(&helper)).await;
    let promoted = access(&promoted.body["data"]);
    let enabled = admin_call(&keyward, &promoted, Method::POST, &enable).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    change("viewer").await;
    let refused = admin_call(&keyward, &promoted, Method::POST, &disable).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    let shown = admin_get(&keyward, &operator_token, &detail).await;
    assert!(
        shown.body["data"]["user"].get("disabled_at").is_none(),
        "not disabled again"
    );
}
