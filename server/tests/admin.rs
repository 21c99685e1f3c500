//! The admin API with admin keys: paging through users (every one seen once while users are
//! being added), searching them, one user in full, ending their sessions; and the keys that are
//! refused.

mod common;

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use common::*;
use keyward_server::{DatabaseKind, Keyward, Timestamp, UserId};
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

    // A cursor this API did not hand out, and limits out of range, are the caller's mistakes.
    for uri in [
        "/auth/admin/users?cursor=bm90LWEtY3Vyc29y",
        "/auth/admin/users?limit=0",
        "/auth/admin/users?limit=201",
        "/auth/admin/users?limit=ten",
        "/auth/admin/users?limit=5&limit=6",
    ] {
        let reply = admin_get(&keyward, &key, uri).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(reply.code(), "invalid_request", "{uri}");
    }
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
