//! Organizations and roles: every endpoint against every role, a non-member and a member of
//! another organization (table-driven); privilege escalation; the last owner, also under
//! concurrent demotions. On SQLite, and on PostgreSQL under `cargo xtask test`.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use keyward_server::{Keyward, OrgId, Timestamp, UserId};
use serde_json::{Value, json};

struct Org {
    keyward: Keyward,
    id: String,
    tokens: Vec<(&'static str, String)>,
    users: Vec<(&'static str, String)>,
}

impl Org {
    fn token(&self, who: &str) -> &str {
        &self.tokens.iter().find(|(w, _)| *w == who).unwrap().1
    }
    fn user(&self, who: &str) -> &str {
        &self.users.iter().find(|(w, _)| *w == who).unwrap().1
    }
    async fn call(&self, who: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        let body = body.unwrap_or(json!({}));
        let request = json_request(method, path, Some(self.token(who)), &body);
        send(&self.keyward, request).await
    }
    /// `who`'s role, as the owner (or, during a transfer, the admin) reads the member list.
    async fn role_of(&self, who: &str) -> Option<String> {
        let path = format!("/auth/orgs/{}/members", self.id);
        let listed = self.call("admin", Method::GET, &path, None).await;
        listed.body["data"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user"]["id"] == self.user(who))
            .map(|m| m["role"].as_str().unwrap().to_owned())
    }

    async fn set_role(&self, who: &str, role: &str) {
        let path = format!("/auth/orgs/{}/members/{}", self.id, self.user(who));
        let reply = self
            .call("owner", Method::PATCH, &path, Some(json!({ "role": role })))
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    }
}

/// An organization with an owner, an admin, a member, a billing member, a viewer, the target of
/// member changes (a member), an outsider and a member of another organization.
async fn org(db: &TestDb) -> Org {
    let keyward = Keyward::start(db.settings())
        .await
        .expect("the server starts");
    let mut tokens = Vec::new();
    let mut users = Vec::new();
    let roles = [
        "owner", "admin", "member", "billing", "viewer", "target", "outsider", "other",
    ];
    for who in roles {
        let data = sign_up(&keyward, &format!("{who}@example.com")).await;
        tokens.push((who, access(&data)));
        users.push((who, data["user"]["id"].as_str().unwrap().to_owned()));
    }
    let token = |who: &str| tokens.iter().find(|(w, _)| *w == who).unwrap().1.clone();
    let body = json!({ "name": "Acme", "slug": "acme" });
    let reply = send(
        &keyward,
        json_request(Method::POST, "/auth/orgs", Some(&token("owner")), &body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["role"], "owner");
    let id = reply.body["data"]["org"]["id"].as_str().unwrap().to_owned();
    let body = json!({ "name": "Other" });
    let reply = send(
        &keyward,
        json_request(Method::POST, "/auth/orgs", Some(&token("other")), &body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let org_id = OrgId::parse(&id).unwrap();
    let now = Timestamp::from_millis(1_800_000_000_000).millis();
    for (who, role) in [
        ("admin", "admin"),
        ("member", "member"),
        ("billing", "billing"),
        ("viewer", "viewer"),
        ("target", "member"),
    ] {
        let user = UserId::parse(&users.iter().find(|(w, _)| *w == who).unwrap().1).unwrap();
        assert!(
            keyward
                .store()
                .add_org_member(&org_id, &user, role, now)
                .await
                .unwrap()
        );
    }
    Org {
        keyward,
        id,
        tokens,
        users,
    }
}

const ACTORS: [&str; 7] = [
    "owner", "admin", "member", "billing", "viewer", "outsider", "other",
];

/// What each actor gets: allowed (2xx), `forbidden`, or `not_found` (outside the organization).
fn expect(actor: &str, at_least: &str) -> StatusCode {
    let rank = |r: &str| {
        ["viewer", "billing", "member", "admin", "owner"]
            .iter()
            .position(|x| *x == r)
    };
    match rank(actor) {
        None => StatusCode::NOT_FOUND,
        Some(level) if level >= rank(at_least).unwrap() => StatusCode::OK,
        Some(_) => StatusCode::FORBIDDEN,
    }
}

fn outcome(reply: &Reply) -> StatusCode {
    if reply.status.is_success() {
        StatusCode::OK
    } else {
        reply.status
    }
}

#[tokio::test]
async fn every_org_endpoint_allows_exactly_the_roles_it_should() {
    let db = TestDb::new().await;
    let org = org(&db).await;
    let base = format!("/auth/orgs/{}", org.id);
    let target = format!("{base}/members/{}", org.user("target"));
    for actor in ACTORS {
        let reply = org.call(actor, Method::GET, &base, None).await;
        assert_eq!(
            outcome(&reply),
            expect(actor, "viewer"),
            "GET org as {actor}: {}",
            reply.body
        );
        let reply = org
            .call(actor, Method::GET, &format!("{base}/members"), None)
            .await;
        assert_eq!(
            outcome(&reply),
            expect(actor, "viewer"),
            "GET members as {actor}: {}",
            reply.body
        );
        if reply.status == StatusCode::OK {
            assert_eq!(reply.body["data"]["members"].as_array().unwrap().len(), 6);
        }
        let body = json!({ "name": format!("Acme by {actor}") });
        let reply = org.call(actor, Method::PATCH, &base, Some(body)).await;
        assert_eq!(
            outcome(&reply),
            expect(actor, "admin"),
            "PATCH org as {actor}: {}",
            reply.body
        );

        let body = json!({ "role": "viewer" });
        let reply = org.call(actor, Method::PATCH, &target, Some(body)).await;
        assert_eq!(
            outcome(&reply),
            expect(actor, "admin"),
            "PATCH member as {actor}: {}",
            reply.body
        );
        let changed = reply.status.is_success();
        let role = org.role_of("target").await;
        let expected = if changed { "viewer" } else { "member" };
        assert_eq!(
            role.as_deref(),
            Some(expected),
            "{actor}: changed exactly when told so"
        );
        org.set_role("target", "member").await;

        let reply = org.call(actor, Method::DELETE, &target, None).await;
        assert_eq!(
            outcome(&reply),
            expect(actor, "admin"),
            "DELETE member as {actor}: {}",
            reply.body
        );
        let role = org.role_of("target").await;
        let removed = reply.status.is_success();
        assert_eq!(
            role.is_none(),
            removed,
            "{actor}: removed exactly when told so"
        );
        if removed {
            let user = UserId::parse(org.user("target")).unwrap();
            let id = OrgId::parse(&org.id).unwrap();
            let store = org.keyward.store();
            assert!(store.add_org_member(&id, &user, "member", 0).await.unwrap());
        }

        let body = json!({ "user_id": org.user("target") });
        let reply = org
            .call(actor, Method::POST, &format!("{base}/transfer"), Some(body))
            .await;
        if actor == "owner" {
            assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
        } else {
            assert_eq!(
                outcome(&reply),
                expect(actor, "owner"),
                "transfer as {actor}: {}",
                reply.body
            );
        }
        if actor == "owner" {
            // Back: the target (owner now) hands it back, and its role is reset.
            assert_eq!(org.role_of("target").await.as_deref(), Some("owner"));
            assert_eq!(org.role_of("owner").await.as_deref(), Some("admin"));
            let body = json!({ "user_id": org.user("owner") });
            let reply = org
                .call(
                    "target",
                    Method::POST,
                    &format!("{base}/transfer"),
                    Some(body),
                )
                .await;
            assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
            org.set_role("target", "member").await;
        }

        if actor != "owner" {
            let reply = org.call(actor, Method::DELETE, &base, None).await;
            assert_eq!(
                outcome(&reply),
                expect(actor, "owner"),
                "DELETE org as {actor}: {}",
                reply.body
            );
        }
    }
    // The other organization's member sees only their own.
    let listed = org.call("other", Method::GET, "/auth/orgs", None).await;
    let names: Vec<&str> = listed.body["data"]["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["org"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Other"]);
    let reply = org.call("owner", Method::DELETE, &base, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let reply = org.call("admin", Method::GET, &base, None).await;
    assert_eq!(reply.code(), "not_found", "gone for its members too");
}

#[tokio::test]
async fn nobody_grants_above_their_role_or_touches_their_equals_and_an_org_keeps_an_owner() {
    let db = TestDb::new().await;
    let org = org(&db).await;
    let base = format!("/auth/orgs/{}", org.id);
    let member = |who: &str| format!("{base}/members/{}", org.user(who));
    let role = |r: &str| Some(json!({ "role": r }));

    for (actor, whom, to) in [
        ("admin", "target", "owner"),
        ("admin", "owner", "member"),
        ("member", "member", "admin"),
        ("member", "viewer", "member"),
        ("billing", "billing", "owner"),
    ] {
        let reply = org
            .call(actor, Method::PATCH, &member(whom), role(to))
            .await;
        assert_eq!(reply.code(), "forbidden", "{actor} makes {whom} {to}");
    }
    let reply = org
        .call("admin", Method::DELETE, &member("owner"), None)
        .await;
    assert_eq!(
        reply.code(),
        "forbidden",
        "an admin cannot remove the owner"
    );
    let reply = org
        .call("admin", Method::PATCH, &member("admin"), role("owner"))
        .await;
    assert_eq!(reply.code(), "forbidden", "nor make themselves owner");
    let body = json!({ "user_id": org.user("owner") });
    let transfer = format!("{base}/transfer");
    let reply = org.call("owner", Method::POST, &transfer, Some(body)).await;
    assert_eq!(
        reply.status,
        StatusCode::NO_CONTENT,
        "a transfer to oneself"
    );
    let owner = org.role_of("owner").await;
    assert_eq!(owner.as_deref(), Some("owner"), "changes nothing");
    let body = json!({ "user_id": org.user("outsider") });
    let reply = org.call("owner", Method::POST, &transfer, Some(body)).await;
    assert_eq!(reply.code(), "not_a_member");

    // Ids that do not belong together: another organization's owner on this one's member, this
    // one's owner on the other organization's, a member of neither.
    let listed = org.call("other", Method::GET, "/auth/orgs", None).await;
    let other_org = listed.body["data"]["orgs"][0]["org"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/auth/orgs/{other_org}/members/{}", org.user("target"));
    let reply = org
        .call("other", Method::PATCH, &path, role("viewer"))
        .await;
    assert_eq!(reply.code(), "not_found");
    let path = format!("/auth/orgs/{other_org}/members/{}", org.user("other"));
    let reply = org.call("owner", Method::DELETE, &path, None).await;
    assert_eq!(reply.code(), "not_found");
    let reply = org
        .call("owner", Method::DELETE, &member("outsider"), None)
        .await;
    assert_eq!(reply.code(), "not_found");
    assert_eq!(org.role_of("target").await.as_deref(), Some("member"));
    org.set_role("target", "admin").await;
    let reply = org
        .call("admin", Method::PATCH, &member("target"), role("viewer"))
        .await;
    assert_eq!(reply.code(), "forbidden", "nor another admin");
    let reply = org
        .call(
            "admin",
            Method::PATCH,
            &base,
            Some(json!({ "slug": "Not A Slug" })),
        )
        .await;
    assert_eq!(reply.code(), "invalid_request");
    let reply = org
        .call("owner", Method::PATCH, &member("target"), role("emperor"))
        .await;
    assert_eq!(reply.code(), "invalid_request");

    // The only owner can neither leave nor step down.
    let reply = org
        .call("owner", Method::DELETE, &member("owner"), None)
        .await;
    assert_eq!(reply.code(), "last_owner");
    let reply = org
        .call("owner", Method::PATCH, &member("owner"), role("admin"))
        .await;
    assert_eq!(reply.code(), "last_owner");
    // Anyone else may leave.
    let reply = org
        .call("viewer", Method::DELETE, &member("viewer"), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);

    // Two owners leaving at once: one goes, the other is told the organization needs it.
    org.set_role("admin", "owner").await;
    let (of_admin, of_owner) = (member("admin"), member("owner"));
    let (a, b) = tokio::join!(
        org.call("owner", Method::DELETE, &of_owner, None),
        org.call("admin", Method::DELETE, &of_admin, None),
    );
    let mut codes = [a.code().to_owned(), b.code().to_owned()];
    codes.sort();
    assert_eq!(codes, ["", "last_owner"], "{} / {}", a.body, b.body);
    let listed = org
        .call("target", Method::GET, &format!("{base}/members"), None)
        .await;
    let owners = listed.body["data"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "owner")
        .count();
    assert_eq!(owners, 1);
}

#[tokio::test]
async fn slugs_are_unique_and_made_from_the_name_when_left_out() {
    let db = TestDb::new().await;
    let keyward = Keyward::start(db.settings())
        .await
        .expect("the server starts");
    let token = access(&sign_up(&keyward, "maker@example.com").await);
    let make = |body: Value| json_request(Method::POST, "/auth/orgs", Some(&token), &body);
    let reply = send(&keyward, make(json!({ "name": "Acme Rockets, Inc." }))).await;
    let slug = reply.body["data"]["org"]["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(slug.starts_with("acme-rockets-inc-"), "{slug}");
    let again = send(&keyward, make(json!({ "name": "Acme Rockets, Inc." }))).await;
    assert_ne!(again.body["data"]["org"]["slug"], slug.as_str());
    let taken = send(&keyward, make(json!({ "name": "Copy", "slug": slug }))).await;
    assert_eq!(
        (taken.status, taken.code()),
        (StatusCode::CONFLICT, "slug_taken")
    );
    let body = json!({ "name": "Meta", "metadata": { "plan": "pro" } });
    let reply = send(&keyward, make(body)).await;
    assert_eq!(
        reply.body["data"]["org"]["metadata"],
        json!({ "plan": "pro" })
    );
    let blank = send(&keyward, make(json!({ "name": "  " }))).await;
    assert_eq!(blank.code(), "invalid_request");
    let listed = send(&keyward, authed(Method::GET, "/auth/orgs", &token)).await;
    assert_eq!(listed.body["data"]["orgs"].as_array().unwrap().len(), 3);
}
