//! Organizations, their members and invitations, and what the active one allows, in the typed
//! Rust face (`typed` feature; DESIGN.md, "Organizations and roles"). The npm package makes the
//! same calls from `keyward/orgs`.
//!
//! The active organization, its role and permissions are read from the session's access token
//! ([`AuthClient::active_org`]), with no request: a UI that hides what a role may not do stays in
//! step with what the app's API will check, because both read the same token. That is a
//! convenience for the page, not a security boundary: the API checks the token itself.

use keyward_proto::{
    CreateOrg, Invitation, InvitationAnswer, InvitationList, Member, MemberList, OrgAnswer,
    OrgList, OrgMembership, UpdateOrg, permits,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use crate::Error;
use crate::client::AuthClient;
use crate::typed::{segment, typed};
use crate::wire::{self, nullable};

/// The organization the session acts for, as its access token says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ActiveOrg {
    /// The organization's id.
    #[serde(rename = "org")]
    pub id: String,
    /// The session's role in it.
    #[serde(rename = "org_role")]
    pub role: String,
    /// What the role grants (`resource:action`, with `*` wildcards).
    #[serde(default)]
    pub permissions: Vec<String>,
}

impl ActiveOrg {
    /// Whether the role grants `permission`, matched by whole segments (`todos:*` grants
    /// `todos:read`; `todo:*` does not).
    pub fn can(&self, permission: &str) -> bool {
        self.permissions
            .iter()
            .any(|granted| permits(granted, permission))
    }
}

/// `/orgs/{id}` followed by `rest`, the id encoded.
fn at(id: &str, rest: &str) -> String {
    ["/orgs/", &segment(id), rest].concat()
}

/// JSON text of `value`, maps as objects (serde-wasm-bindgen makes JS `Map`s of them by
/// default, which `JSON.stringify` writes as `{}`).
fn json_of<T: Serialize>(value: &T) -> Result<JsValue, Error> {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    let value = value
        .serialize(&serializer)
        .map_err(|_| Error::Corrupt { what: "request" })?;
    wire::json(&value)
}

/// The claims of a JWT, without checking it (the server does; this only reads what it says).
fn claims(token: &str) -> Option<JsValue> {
    let payload = token.split('.').nth(1)?;
    let standard: String = payload
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    let text = web_sys::window()?.atob(&standard).ok()?;
    js_sys::JSON::parse(&text).ok()
}

impl AuthClient {
    /// Creates an organization (the caller is its owner); its slug is made from the name when
    /// it has none.
    pub async fn create_org(&self, org: &CreateOrg) -> Result<OrgAnswer, Error> {
        let body = json_of(org)?;
        typed(self.call("POST", "/orgs", Some(&body), None).await?)
    }

    /// The caller's organizations and their role in each, oldest membership first.
    pub async fn orgs(&self) -> Result<Vec<OrgMembership>, Error> {
        let list: OrgList = typed(self.call("GET", "/orgs", None, None).await?)?;
        Ok(list.orgs)
    }

    /// One of the caller's organizations (`not_found` for any other).
    pub async fn org(&self, id: &str) -> Result<OrgAnswer, Error> {
        typed(self.call("GET", &at(id, ""), None, None).await?)
    }

    /// Changes an organization's name, slug or metadata (admin or owner).
    pub async fn update_org(&self, id: &str, changes: &UpdateOrg) -> Result<OrgAnswer, Error> {
        let body = json_of(changes)?;
        typed(self.call("PATCH", &at(id, ""), Some(&body), None).await?)
    }

    /// Deletes an organization, its memberships and invitations (owner only).
    pub async fn remove_org(&self, id: &str) -> Result<(), Error> {
        self.call("DELETE", &at(id, ""), None, None).await?;
        self.refresh_if_active(id).await;
        Ok(())
    }

    /// Acts for `id` from now on; returns once the session's new tokens carry its role and
    /// permissions ([`AuthClient::active_org`]).
    pub async fn activate_org(&self, id: &str) -> Result<OrgAnswer, Error> {
        let answer = typed(self.call("POST", &at(id, "/activate"), None, None).await?)?;
        // A refresh already running (the token was due) may have been answered before the
        // activation: then one more gets the tokens that carry it.
        self.refresh().await?;
        if self.active_org().is_none_or(|active| active.id != id) {
            self.refresh().await?;
        }
        Ok(answer)
    }

    /// The organization the session acts for, its role and permissions, as the session's
    /// access token says (no request). A role change reaches it with the next refresh.
    pub fn active_org(&self) -> Option<ActiveOrg> {
        let claims = claims(&self.held_access_token()?)?;
        serde_wasm_bindgen::from_value(claims).ok()
    }

    /// Whether the active organization's role grants `permission` (no request; `false` with no
    /// active organization).
    pub fn can(&self, permission: &str) -> bool {
        self.active_org().is_some_and(|org| org.can(permission))
    }

    /// The members of an organization, oldest first.
    pub async fn members(&self, org: &str) -> Result<Vec<Member>, Error> {
        let list: MemberList = typed(self.call("GET", &at(org, "/members"), None, None).await?)?;
        Ok(list.members)
    }

    /// Gives a member another role (admin or more; never above one's own, never to someone at
    /// or above one's own level).
    pub async fn change_role(&self, org: &str, user_id: &str, role: &str) -> Result<(), Error> {
        let path = at(org, &["/members/", &segment(user_id)].concat());
        self.send("PATCH", &path, &[("role", role.into())])
            .await
            .map(drop)
    }

    /// Removes a member (admin or more, as for a role change).
    pub async fn remove_member(&self, org: &str, user_id: &str) -> Result<(), Error> {
        let path = at(org, &["/members/", &segment(user_id)].concat());
        self.call("DELETE", &path, None, None).await.map(drop)
    }

    /// Leaves an organization (its last owner cannot: transfer the ownership first).
    pub async fn leave_org(&self, org: &str) -> Result<(), Error> {
        let me = self.user().ok_or(Error::SignedOut)?.id;
        self.remove_member(org, &me).await?;
        self.refresh_if_active(org).await;
        Ok(())
    }

    /// Makes a member the owner (owner only); the caller becomes an admin.
    pub async fn transfer_org(&self, org: &str, user_id: &str) -> Result<(), Error> {
        self.send(
            "POST",
            &at(org, "/transfer"),
            &[("user_id", user_id.into())],
        )
        .await?;
        self.refresh_if_active(org).await;
        Ok(())
    }

    /// Mails `email` an invitation to join with `role` (7 days, single use); its link opens
    /// `redirect_to` (a page of the app) or the app's default page. A pending invitation to the
    /// address is replaced.
    pub async fn invite(
        &self,
        org: &str,
        email: &str,
        role: &str,
        redirect_to: Option<&str>,
    ) -> Result<Invitation, Error> {
        let fields = [
            ("email", email.into()),
            ("role", role.into()),
            ("redirect_to", nullable(redirect_to)),
        ];
        let answer: InvitationAnswer =
            typed(self.send("POST", &at(org, "/invitations"), &fields).await?)?;
        Ok(answer.invitation)
    }

    /// The pending invitations, newest first.
    pub async fn invitations(&self, org: &str) -> Result<Vec<Invitation>, Error> {
        let data = self
            .call("GET", &at(org, "/invitations"), None, None)
            .await?;
        Ok(typed::<InvitationList>(data)?.invitations)
    }

    /// Sends an invitation again, with a new link (the old one stops working) and 7 more days.
    pub async fn resend_invitation(&self, org: &str, id: &str) -> Result<Invitation, Error> {
        let path = at(org, &["/invitations/", &segment(id), "/resend"].concat());
        let answer: InvitationAnswer = typed(self.call("POST", &path, None, None).await?)?;
        Ok(answer.invitation)
    }

    /// Revokes an invitation: its link stops working.
    pub async fn revoke_invitation(&self, org: &str, id: &str) -> Result<(), Error> {
        let path = at(org, &["/invitations/", &segment(id)].concat());
        self.call("DELETE", &path, None, None).await.map(drop)
    }

    /// Joins with the `token` of an invitation's link (signed in to an account whose verified
    /// address is the invited one): the organization and the role it gave.
    pub async fn accept_invitation(&self, token: &str) -> Result<OrgAnswer, Error> {
        let fields = [("token", token.into())];
        typed(self.send("POST", "/invitations/accept", &fields).await?)
    }

    /// After a change to `org` that may change what the session's token says about it: new
    /// tokens, when `org` is the active one. The change is made whatever this refresh does: one
    /// that fails (offline) leaves the old claims until the next one, which the client makes
    /// by itself.
    async fn refresh_if_active(&self, org: &str) {
        if self.active_org().is_some_and(|active| active.id == org) {
            let _ = self.refresh().await;
        }
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use std::collections::BTreeMap;

    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn metadata_goes_as_a_json_object() {
        let changes = UpdateOrg {
            name: None,
            slug: None,
            metadata: Some(BTreeMap::from([("plan".to_owned(), "pro".to_owned())])),
        };
        let text = json_of(&changes).unwrap().as_string().unwrap();
        assert_eq!(text, r#"{"metadata":{"plan":"pro"}}"#);
    }
}
