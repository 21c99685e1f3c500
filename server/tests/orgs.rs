//! Organizations and roles: every endpoint against every role, a non-member and a member of
//! another organization (table-driven); privilege escalation; the last owner, also under
//! concurrent demotions. On SQLite, and on PostgreSQL under `cargo xtask test`.

use crate::common;

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
    // Not a user id at all: no member either (the organization is there all the same).
    let body = json!({ "user_id": "not-a-user" });
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
    assert_eq!(
        reply.code(),
        "unknown_role",
        "neither built in nor configured"
    );

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
    // Invisible formatting characters would let a name read as another (a right-to-left
    // override turns "Acme\u{202e}cni" into "Acmeinc" on screen), or hide in it.
    for name in [
        "Acme\u{202e}cni",
        "Ac\u{200b}me",
        "\u{feff}Acme",
        "Ac\u{2066}me",
    ] {
        let hidden = send(&keyward, make(json!({ "name": name }))).await;
        assert_eq!(hidden.code(), "invalid_request", "{name:?}");
    }
    let listed = send(&keyward, authed(Method::GET, "/auth/orgs", &token)).await;
    assert_eq!(listed.body["data"]["orgs"].as_array().unwrap().len(), 3);
}

/// Two organizations renamed to one slug at the same moment: one gets it, the other is told
/// `slug_taken`, however the two transactions interleave (on PostgreSQL they run at once).
#[tokio::test]
async fn two_organizations_renamed_to_one_slug_at_once_get_it_once() {
    let db = TestDb::new().await;
    let keyward = db.start().await;
    let token = access(&sign_up(&keyward, "racer@example.com").await);
    let make = |name: &str| {
        let keyward = keyward.clone();
        let request = json_request(
            Method::POST,
            "/auth/orgs",
            Some(&token),
            &json!({ "name": name }),
        );
        async move {
            let reply = send(&keyward, request).await;
            reply.body["data"]["org"]["id"].as_str().unwrap().to_owned()
        }
    };
    for round in 0..8 {
        let (a, b) = (make("A").await, make("B").await);
        let slug = format!("raced-{round}");
        let rename = |id: String| {
            let request = json_request(
                Method::PATCH,
                &format!("/auth/orgs/{id}"),
                Some(&token),
                &json!({ "slug": slug }),
            );
            let keyward = keyward.clone();
            async move { send(&keyward, request).await }
        };
        let (first, second) = tokio::join!(rename(a), rename(b));
        let mut outcomes = [
            (first.status.as_u16(), first.code().to_owned()),
            (second.status.as_u16(), second.code().to_owned()),
        ];
        outcomes.sort();
        assert_eq!(
            outcomes,
            [(200, String::new()), (409, "slug_taken".to_owned())],
            "round {round}"
        );
    }
}

/// The claims of an access token (its payload, not verified: the server did that).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&unb64(payload)).unwrap()
}

/// Refreshes with `refresh_with`: the new access and refresh tokens.
async fn refreshed(keyward: &Keyward, refresh_with: &str) -> (String, String) {
    let reply = refresh(keyward, refresh_with).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    (
        access(&reply.body["data"]),
        refresh_token(&reply.body["data"]),
    )
}

#[tokio::test]
async fn an_active_org_rides_in_the_tokens_and_a_role_change_or_removal_reaches_them_at_once() {
    let db = TestDb::new().await;
    let org = org(&db).await;
    let keyward = &org.keyward;
    let data = sign_in(keyward, "member@example.com").await;
    let (token, refresh_with) = (access(&data), refresh_token(&data));
    assert!(claims(&token).get("org").is_none(), "no organization yet");

    let path = format!("/auth/orgs/{}/activate", org.id);
    let reply = send(
        keyward,
        json_request(Method::POST, &path, Some(&token), &json!({})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["role"], "member");
    let (token, refresh_with) = refreshed(keyward, &refresh_with).await;
    let carried = claims(&token);
    assert_eq!(carried["org"], org.id.as_str());
    assert_eq!(carried["org_role"], "member");
    assert_eq!(carried["permissions"], json!(["*:read", "*:write"]));
    assert_eq!(
        send(keyward, authed(Method::GET, "/auth/me", &token))
            .await
            .status,
        StatusCode::OK
    );

    // Demoted: the token with the old role is refused at once; a refresh carries the new one.
    org.set_role("member", "viewer").await;
    let refused = send(keyward, authed(Method::GET, "/auth/me", &token)).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (token, refresh_with) = refreshed(keyward, &refresh_with).await;
    assert_eq!(claims(&token)["org_role"], "viewer");
    assert_eq!(claims(&token)["permissions"], json!(["*:read"]));
    assert_eq!(
        send(keyward, authed(Method::GET, "/auth/me", &token))
            .await
            .status,
        StatusCode::OK
    );

    // Removed: refused at once, and the next token carries no organization.
    let path = format!("/auth/orgs/{}/members/{}", org.id, org.user("member"));
    let reply = org.call("owner", Method::DELETE, &path, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let refused = send(keyward, authed(Method::GET, "/auth/me", &token)).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (token, _) = refreshed(keyward, &refresh_with).await;
    let carried = claims(&token);
    assert!(
        carried.get("org").is_none() && carried.get("permissions").is_none(),
        "{carried}"
    );
    assert_eq!(
        send(keyward, authed(Method::GET, "/auth/me", &token))
            .await
            .status,
        StatusCode::OK
    );

    // Nobody activates an organization they are not in.
    let path = format!("/auth/orgs/{}/activate", org.id);
    let reply = send(
        keyward,
        json_request(Method::POST, &path, Some(&token), &json!({})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = org.call("outsider", Method::POST, &path, None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
}

#[tokio::test]
async fn an_invitation_is_accepted_once_by_its_verified_address_only() {
    let db = TestDb::new().await;
    let org = org(&db).await;
    let keyward = &org.keyward;
    let invitations = format!("/auth/orgs/{}/invitations", org.id);

    // Members below admin neither invite nor see invitations; admins invite up to their role.
    for who in ["member", "billing", "viewer"] {
        let body = json!({ "email": "new@example.com", "role": "viewer" });
        let reply = org.call(who, Method::POST, &invitations, Some(body)).await;
        assert_eq!(reply.code(), "forbidden", "{who}");
        let reply = org.call(who, Method::GET, &invitations, None).await;
        assert_eq!(reply.code(), "forbidden", "{who}");
    }
    let reply = org.call("outsider", Method::GET, &invitations, None).await;
    assert_eq!(reply.code(), "not_found");
    let body = json!({ "email": "new@example.com", "role": "owner" });
    let reply = org
        .call("admin", Method::POST, &invitations, Some(body))
        .await;
    assert_eq!(reply.code(), "forbidden", "an admin cannot invite an owner");
    let body = json!({ "email": "new@example.com", "role": "overlord" });
    let reply = org
        .call("admin", Method::POST, &invitations, Some(body))
        .await;
    assert_eq!(reply.code(), "unknown_role");
    let body = json!({ "email": "Member@Example.com", "role": "viewer" });
    let reply = org
        .call("admin", Method::POST, &invitations, Some(body))
        .await;
    assert_eq!(reply.code(), "already_a_member");
    let listed = org.call("admin", Method::GET, &invitations, None).await;
    assert_eq!(
        listed.body["data"]["invitations"],
        json!([]),
        "refusals invite nobody"
    );

    let body = json!({ "email": "New@Example.com", "role": "member" });
    let reply = org
        .call("admin", Method::POST, &invitations, Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let invitation = reply.body["data"]["invitation"].clone();
    assert_eq!(invitation["email"], "new@example.com");
    let first_link = mailed_token(keyward, "org_invitation", "New@example.com").await;
    let mail = keyward.store().recent_mail(1).await.unwrap().remove(0);
    assert!(mail.subject.contains("Acme"), "{}", mail.subject);

    // Sent again: a new link, the old one dead.
    let resend = format!(
        "{invitations}/{}/resend",
        invitation["id"].as_str().unwrap()
    );
    let reply = org.call("admin", Method::POST, &resend, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let link = mailed_token(keyward, "org_invitation", "new@example.com").await;
    assert_ne!(link, first_link);
    let listed = org.call("owner", Method::GET, &invitations, None).await;
    assert_eq!(
        listed.body["data"]["invitations"].as_array().unwrap().len(),
        1
    );

    // Another account, even verified, cannot use it; nor can the address's unverified holder.
    let accept = |token: &str, link: &str| {
        json_request(
            Method::POST,
            "/auth/invitations/accept",
            Some(token),
            &json!({ "token": link }),
        )
    };
    let stranger = access(&sign_up(keyward, "stranger@example.com").await);
    verify_email(keyward, "stranger@example.com", &stranger).await;
    let reply = send(keyward, accept(&stranger, &link)).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::FORBIDDEN, "email_mismatch")
    );
    let invitee = access(&sign_up(keyward, "new@example.com").await);
    let reply = send(keyward, accept(&invitee, &link)).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::FORBIDDEN, "email_not_verified")
    );
    verify_email(keyward, "new@example.com", &invitee).await;
    let reply = send(keyward, accept(&invitee, &first_link)).await;
    assert_eq!(reply.code(), "invalid_link", "the replaced link is dead");

    let reply = send(keyward, accept(&invitee, &link)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["role"], "member");
    assert_eq!(reply.body["data"]["org"]["id"], org.id.as_str());
    let reply = send(keyward, accept(&invitee, &link)).await;
    assert_eq!(reply.code(), "invalid_link", "used once");
    let listed = org.call("owner", Method::GET, &invitations, None).await;
    assert_eq!(listed.body["data"]["invitations"], json!([]));
    let members = org
        .call(
            "owner",
            Method::GET,
            &format!("/auth/orgs/{}/members", org.id),
            None,
        )
        .await;
    assert_eq!(members.body["data"]["members"].as_array().unwrap().len(), 7);

    // An invitation dies with its sender's authority: sent by an admin who is then demoted.
    let body = json!({ "email": "demoted@example.com", "role": "admin" });
    let reply = org
        .call("admin", Method::POST, &invitations, Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let link = mailed_token(keyward, "org_invitation", "demoted@example.com").await;
    org.set_role("admin", "member").await;
    let joiner = access(&sign_up(keyward, "demoted@example.com").await);
    verify_email(keyward, "demoted@example.com", &joiner).await;
    let reply = send(keyward, accept(&joiner, &link)).await;
    assert_eq!(reply.code(), "invalid_link", "{}", reply.body);
    org.set_role("admin", "admin").await;

    // Revoked: dead too.
    let body = json!({ "email": "later@example.com", "role": "viewer" });
    let reply = org
        .call("owner", Method::POST, &invitations, Some(body))
        .await;
    let id = reply.body["data"]["invitation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let link = mailed_token(keyward, "org_invitation", "later@example.com").await;
    let revoke = format!("{invitations}/{id}");
    let reply = org.call("member", Method::DELETE, &revoke, None).await;
    assert_eq!(reply.code(), "forbidden");
    let reply = org.call("admin", Method::DELETE, &revoke, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let reply = org.call("admin", Method::DELETE, &revoke, None).await;
    assert_eq!(reply.code(), "not_found");
    let later = access(&sign_up(keyward, "later@example.com").await);
    verify_email(keyward, "later@example.com", &later).await;
    let reply = send(keyward, accept(&later, &link)).await;
    assert_eq!(reply.code(), "invalid_link");
    for garbage in ["", "kwl_", "nonsense"] {
        let reply = send(keyward, accept(&later, garbage)).await;
        assert_eq!(reply.code(), "invalid_link", "{garbage}");
    }
}

#[tokio::test]
async fn two_accepts_of_one_invitation_at_once_make_one_membership() {
    let db = TestDb::new().await;
    let org = org(&db).await;
    let keyward = &org.keyward;
    let invitations = format!("/auth/orgs/{}/invitations", org.id);
    let body = json!({ "email": "twice@example.com", "role": "viewer" });
    let reply = org
        .call("owner", Method::POST, &invitations, Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let link = mailed_token(keyward, "org_invitation", "twice@example.com").await;
    let invitee = access(&sign_up(keyward, "twice@example.com").await);
    verify_email(keyward, "twice@example.com", &invitee).await;
    let second = access(&sign_in(keyward, "twice@example.com").await);
    let accept = |token: &str| {
        json_request(
            Method::POST,
            "/auth/invitations/accept",
            Some(token),
            &json!({ "token": link }),
        )
    };
    let (a, b) = tokio::join!(
        send(keyward, accept(&invitee)),
        send(keyward, accept(&second))
    );
    let mut outcomes = [a.status, b.status];
    outcomes.sort();
    assert_eq!(
        outcomes,
        [StatusCode::OK, StatusCode::UNAUTHORIZED],
        "{} {}",
        a.body,
        b.body
    );
    let members = org
        .call(
            "owner",
            Method::GET,
            &format!("/auth/orgs/{}/members", org.id),
            None,
        )
        .await;
    let joined = members.body["data"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["user"]["email"] == "twice@example.com")
        .count();
    assert_eq!(joined, 1);
}

#[tokio::test]
async fn custom_roles_from_the_settings_are_granted_and_carried() {
    let db = TestDb::new().await;
    let mut settings = db.settings();
    settings.roles = vec![keyward_server::CustomRole {
        name: "editor".into(),
        permissions: vec!["reports:*".into()],
        inherits: Some("viewer".into()),
    }];
    let keyward = Keyward::start(settings).await.unwrap();
    let owner = sign_up(&keyward, "boss@example.com").await;
    let editor = sign_up(&keyward, "ed@example.com").await;
    let created = send(
        &keyward,
        json_request(
            Method::POST,
            "/auth/orgs",
            Some(&access(&owner)),
            &json!({ "name": "Press" }),
        ),
    )
    .await;
    let id = created.body["data"]["org"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let org_id = OrgId::parse(&id).unwrap();
    let user = UserId::parse(editor["user"]["id"].as_str().unwrap()).unwrap();
    assert!(
        keyward
            .store()
            .add_org_member(&org_id, &user, "viewer", 0)
            .await
            .unwrap()
    );
    let path = format!("/auth/orgs/{id}/members/{user}");
    let reply = send(
        &keyward,
        json_request(
            Method::PATCH,
            &path,
            Some(&access(&owner)),
            &json!({ "role": "editor" }),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let activate = format!("/auth/orgs/{id}/activate");
    let reply = send(
        &keyward,
        json_request(Method::POST, &activate, Some(&access(&editor)), &json!({})),
    )
    .await;
    assert_eq!(reply.body["data"]["role"], "editor");
    let reply = refresh(&keyward, &refresh_token(&editor)).await;
    let token = access(&reply.body["data"]);
    assert_eq!(claims(&token)["org_role"], "editor");
    assert_eq!(
        claims(&token)["permissions"],
        json!(["*:read", "reports:*"])
    );
    let reply = send(
        &keyward,
        json_request(
            Method::PATCH,
            &path,
            Some(&access(&owner)),
            &json!({ "role": "chief" }),
        ),
    )
    .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::CONFLICT, "unknown_role")
    );
}
