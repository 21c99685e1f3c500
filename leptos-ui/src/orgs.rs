//! Organizations: switching the active one, making one, its members and invitations, joining
//! from an invitation's link, and showing what the active role allows.
//!
//! What the page offers follows the session's token ([`use_permission`],
//! [`RequirePermission`]): the same claims the app's API checks, re-read at every refresh, so a
//! role change shows here with the session's next tokens. Hiding a button is for people; the
//! API's own check (`RequirePermission` in axum) is what refuses.
//!
//! [`MemberList`] and [`InviteForm`] act on the active organization, where the session's token
//! says what the role may do: members can be changed and removed with `members:update` and
//! `members:remove`, invited with `members:invite` (owners and admins have all three).

use keyward_client::{AuthClient, Invitation, Member, OrgMembership};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::auth::{Auth, Feedback, use_auth};
use crate::components::{ErrorMessage, invalid};
use crate::lifecycle::Notice;

/// The roles offered by default when inviting or changing a member (the server's own roles can
/// be offered through the components' `roles`).
const ROLES: [&str; 4] = ["admin", "member", "billing", "viewer"];

/// Whether the active organization's role grants `permission`, as a signal that follows the
/// session's tokens (`false` with no active organization).
pub fn use_permission(permission: impl Into<String>) -> Signal<bool> {
    let auth = use_auth();
    let permission = permission.into();
    Signal::derive(move || auth.can(&permission))
}

/// Its children when the active organization's role grants `permission`, `fallback` (nothing
/// by default) otherwise; it switches as the session's tokens change.
#[component]
pub fn RequirePermission(
    /// The permission, `resource:action` (`todos:write`).
    #[prop(into)]
    permission: String,
    /// Shown when the role does not grant it.
    #[prop(optional, into)]
    fallback: Option<ViewFn>,
    /// What needs it.
    children: ChildrenFn,
) -> impl IntoView {
    let allowed = use_permission(permission);
    move || {
        if allowed.get() {
            children().into_any()
        } else {
            fallback.as_ref().map_or_else(|| ().into_any(), ViewFn::run)
        }
    }
}

/// Runs `load` with the client whenever the user's organizations may have changed (and the
/// active one with them), while someone is signed in.
fn reload_with_orgs<F, Fut>(auth: Auth, feedback: Feedback, load: F)
where
    F: Fn(AuthClient) -> Fut + Copy + 'static,
    Fut: Future<Output = Result<(), keyward_client::Error>> + 'static,
{
    Effect::new(move |_| {
        auth.orgs_changed().track();
        if auth.signed_in() {
            auth.run_with(feedback, load);
        }
    });
}

/// Runs `action`, then tells every organization view to reload.
fn change<F, Fut, T>(auth: Auth, feedback: Feedback, action: F)
where
    F: FnOnce(AuthClient) -> Fut + 'static,
    Fut: Future<Output = Result<T, keyward_client::Error>> + 'static,
{
    auth.run_with(feedback, move |client| async move {
        action(client).await?;
        auth.touch_orgs();
        Ok(())
    });
}

/// The user's organizations, their role in each, and which one the session acts for; choosing
/// another activates it (the session's new tokens carry its role and permissions).
#[component]
pub fn OrgSwitcher() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let orgs = RwSignal::new(Vec::<OrgMembership>::new());
    reload_with_orgs(auth, feedback, move |client| async move {
        orgs.set(client.orgs().await?);
        Ok(())
    });
    let active = move || auth.active_org().get().map(|org| org.id);
    let switch = move |event: leptos::ev::Event| {
        let id = event_target_value(&event);
        if id.is_empty() {
            return;
        }
        auth.run_with(feedback, move |client| async move {
            client.activate_org(&id).await
        });
    };
    view! {
        <section class="kw-org-switcher">
            <p class="kw-notice" hidden=move || !orgs.with(Vec::is_empty)>"You are not in an organization yet."</p>
            <label class="kw-field" hidden=move || orgs.with(Vec::is_empty)>
                <span class="kw-label">"Organization"</span>
                <select class="kw-input" name="org" on:change=switch disabled=move || feedback.pending.get()>
                    <option value="" disabled=true selected=move || active().is_none()>"Choose one…"</option>
                    <For each=move || orgs.get() key=|m| (m.org.id.clone(), m.role.clone(), m.org.name.clone()) let(membership)>
                        {
                            let id = membership.org.id.clone();
                            view! {
                                <option value=membership.org.id.clone() data-slug=membership.org.slug.clone()
                                    prop:selected=move || active().as_deref() == Some(id.as_str())>
                                    {format!("{} ({})", membership.org.name, membership.role)}
                                </option>
                            }
                        }
                    </For>
                </select>
            </label>
            <ErrorMessage feedback=feedback/>
        </section>
    }
}

/// Makes an organization (the user is its owner) and acts for it.
#[component]
pub fn CreateOrgForm() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let name = RwSignal::new(String::new());
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let chosen = name.get_untracked();
        if chosen.trim().is_empty() {
            return invalid(
                feedback,
                "invalid_request",
                "Enter the organization's name.",
            );
        }
        change(auth, feedback, move |client| async move {
            let made = client.create_org(chosen.trim(), None).await?;
            name.set(String::new());
            client.activate_org(&made.org.id).await
        });
    };
    view! {
        <form class="kw-form kw-create-org" on:submit=submit novalidate>
            <label class="kw-field">
                <span class="kw-label">"New organization"</span>
                <input class="kw-input" name="org-name" autocomplete="organization" required bind:value=name/>
            </label>
            <ErrorMessage feedback=feedback/>
            <button class="kw-button kw-primary" type="submit" disabled=move || feedback.pending.get()>"Create"</button>
        </form>
    }
}

/// `<option>`s for `roles`, `current` selected.
fn role_options(roles: &[String], current: &str) -> impl IntoView + use<> {
    roles
        .iter()
        .map(|role| view! { <option value=role.clone() selected=role == current>{role.clone()}</option> })
        .collect_view()
}

/// The roles a component offers: `roles`, or the built-in ones below owner.
fn offered(roles: Option<Vec<String>>) -> StoredValue<Vec<String>> {
    StoredValue::new(roles.unwrap_or_else(|| ROLES.map(String::from).to_vec()))
}

/// The active organization's members with their roles. With `members:update` a member's role
/// can be changed, with `members:remove` they can be removed, and an owner can hand the
/// ownership to another member; anyone can leave (an organization's last owner cannot). The
/// server refuses what the role may not do (an admin cannot touch an owner), and the refusal is
/// shown.
#[component]
pub fn MemberList(
    /// The roles a member can be given [default: admin, member, billing, viewer; owners are
    /// also offered owner].
    #[prop(optional)]
    roles: Option<Vec<String>>,
) -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let members = RwSignal::new(Vec::<Member>::new());
    let roles = offered(roles);
    reload_with_orgs(auth, feedback, move |client| async move {
        let list = match client.active_org() {
            Some(org) => client.members(&org.id).await?,
            None => Vec::new(),
        };
        members.set(list);
        Ok(())
    });
    let org = move || auth.active_org().get_untracked().map(|org| org.id);
    let set_role = move |user_id: String, role: String| {
        let Some(org) = org() else { return };
        change(auth, feedback, move |client| async move {
            client.change_role(&org, &user_id, &role).await
        });
    };
    let remove = move |user_id: String| {
        let Some(org) = org() else { return };
        change(auth, feedback, move |client| async move {
            client.remove_member(&org, &user_id).await
        });
    };
    let transfer = move |user_id: String| {
        let Some(org) = org() else { return };
        change(auth, feedback, move |client| async move {
            client.transfer_org(&org, &user_id).await
        });
    };
    let leave = move |_| {
        let Some(org) = org() else { return };
        change(auth, feedback, move |client| async move {
            client.leave_org(&org).await
        });
    };
    let row = move |member: Member| {
        let me = auth
            .user()
            .get_untracked()
            .is_some_and(|u| u.id == member.user.id);
        let active = auth.active_org().get_untracked();
        let may = |permission: &str| active.as_ref().is_some_and(|org| org.can(permission));
        let owner = active.as_ref().is_some_and(|org| org.role == "owner");
        let id = StoredValue::new(member.user.id.clone());
        let mut choices = roles.get_value();
        if owner {
            choices.insert(0, "owner".into());
        }
        if !choices.contains(&member.role) {
            choices.push(member.role.clone());
        }
        let name = member
            .user
            .name
            .clone()
            .unwrap_or_else(|| member.user.email.clone());
        view! {
            <li class="kw-item kw-member" class:kw-current=me data-email=member.user.email.clone() data-role=member.role.clone()>
                <span class="kw-item-name">{name}</span>
                <span class="kw-item-detail">{member.user.email.clone()}</span>
                {if me || !may("members:update") {
                    view! { <span class="kw-badge kw-role">{member.role.clone()}</span> }.into_any()
                } else {
                    view! {
                        <label class="kw-field kw-inline">
                            <span class="kw-label">"Role"</span>
                            <select class="kw-input" name="role" disabled=move || feedback.pending.get()
                                on:change=move |event| set_role(id.get_value(), event_target_value(&event))>
                                {role_options(&choices, &member.role)}
                            </select>
                        </label>
                    }.into_any()
                }}
                {me.then(|| view! {
                    <span class="kw-badge">"you"</span>
                    <button class="kw-button kw-leave" type="button" on:click=leave>"Leave"</button>
                })}
                {(!me && owner && member.role != "owner").then(|| view! {
                    <button class="kw-button kw-transfer" type="button" on:click=move |_| transfer(id.get_value())>"Make owner"</button>
                })}
                {(!me && may("members:remove")).then(|| view! {
                    <button class="kw-button kw-revoke" type="button" on:click=move |_| remove(id.get_value())>"Remove"</button>
                })}
            </li>
        }
    };
    move || {
        auth.active_org().get().map(|_| {
            view! {
                <section class="kw-members">
                    <ul class="kw-list">
                        <For each=move || members.get() key=|m| (m.user.id.clone(), m.role.clone()) let(member)>
                            {row(member)}
                        </For>
                    </ul>
                    <ErrorMessage feedback=feedback/>
                </section>
            }
        })
    }
}

/// Invites by email to the active organization, and lists its pending invitations with resend
/// and revoke; shown when the session's role there grants `members:invite`. The mailed link
/// opens `redirect_to` (or the app's default page), where `<EmailedLink/>` offers to join.
#[component]
pub fn InviteForm(
    /// The roles an invitation can give [default: admin, member, billing, viewer].
    #[prop(optional)]
    roles: Option<Vec<String>>,
    /// The page the mail's link opens (an allowed origin); the app's default page otherwise.
    #[prop(optional, into)]
    redirect_to: Option<String>,
) -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let notice = RwSignal::new(None::<String>);
    let pending = RwSignal::new(Vec::<Invitation>::new());
    let roles = offered(roles);
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(String::from("member"));
    let redirect_to = StoredValue::new(redirect_to);
    let allowed = use_permission("members:invite");
    reload_with_orgs(auth, feedback, move |client| async move {
        let list = match client.active_org().filter(|org| org.can("members:invite")) {
            Some(org) => client.invitations(&org.id).await?,
            None => Vec::new(),
        };
        pending.set(list);
        Ok(())
    });
    let org = move || auth.active_org().get_untracked().map(|org| org.id);
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let (address, given) = (email.get_untracked(), role.get_untracked());
        if !address.contains('@') {
            return invalid(feedback, "invalid_email", "Enter the address to invite.");
        }
        let Some(org) = org() else { return };
        notice.set(None);
        change(auth, feedback, move |client| async move {
            let back = redirect_to.get_value();
            let sent = client
                .invite(&org, &address, &given, back.as_deref())
                .await?;
            email.set(String::new());
            notice.set(Some(format!("Invitation sent to {}.", sent.email)));
            Ok::<_, keyward_client::Error>(())
        });
    };
    let resend = move |id: String| {
        let Some(org) = org() else { return };
        change(auth, feedback, move |client| async move {
            let sent = client.resend_invitation(&org, &id).await?;
            notice.set(Some(format!("Invitation sent again to {}.", sent.email)));
            Ok::<_, keyward_client::Error>(())
        });
    };
    let revoke = move |id: String| {
        let Some(org) = org() else { return };
        change(auth, feedback, move |client| async move {
            client.revoke_invitation(&org, &id).await
        });
    };
    move || {
        allowed.get().then(|| view! {
            <section class="kw-invite">
                <form class="kw-form kw-invite-form" on:submit=submit novalidate>
                    <label class="kw-field">
                        <span class="kw-label">"Invite by email"</span>
                        <input class="kw-input" type="email" name="invite-email" autocomplete="off" required bind:value=email/>
                    </label>
                    <label class="kw-field">
                        <span class="kw-label">"Role"</span>
                        <select class="kw-input" name="invite-role" on:change=move |event| role.set(event_target_value(&event))>
                            {role_options(&roles.get_value(), &role.get_untracked())}
                        </select>
                    </label>
                    <Notice message=notice/>
                    <ErrorMessage feedback=feedback/>
                    <button class="kw-button kw-primary" type="submit" disabled=move || feedback.pending.get()>"Send the invitation"</button>
                </form>
                <ul class="kw-list kw-invitations">
                    <For each=move || pending.get() key=|i| (i.id.clone(), i.created_at.clone()) let(invitation)>
                        {
                            let (again, gone) = (invitation.id.clone(), invitation.id.clone());
                            view! {
                                <li class="kw-item kw-invitation" data-email=invitation.email.clone()>
                                    <span class="kw-item-name">{invitation.email.clone()}</span>
                                    <span class="kw-item-detail">{format!("as {}, until {}", invitation.role, invitation.expires_at)}</span>
                                    <button class="kw-button kw-resend" type="button" on:click=move |_| resend(again.clone())>"Send again"</button>
                                    <button class="kw-button kw-revoke" type="button" on:click=move |_| revoke(gone.clone())>"Revoke"</button>
                                </li>
                            }
                        }
                    </For>
                </ul>
            </section>
        })
    }
}

/// The page opened from an invitation's link (`<EmailedLink/>` shows it): a button that joins
/// the organization, once signed in to the account of the invited, verified address.
#[component]
pub fn AcceptInvitation(
    /// The invitation link's token.
    #[prop(into)]
    token: String,
) -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let notice = RwSignal::new(None::<String>);
    let token = StoredValue::new(token);
    let join = move |_| {
        change(auth, feedback, move |client| async move {
            let joined = client.accept_invitation(&token.get_value()).await?;
            notice.set(Some(format!(
                "You joined {} as {}.",
                joined.org.name, joined.role
            )));
            Ok::<_, keyward_client::Error>(())
        });
    };
    let done = move || notice.with(Option::is_some);
    view! {
        <section class="kw-accept-invitation" data-state=move || if done() { "done" } else { "ready" }>
            <p class="kw-notice" hidden=move || auth.signed_in() || done()>
                "Sign in with the invited address (or create its account), then join."
            </p>
            <button class="kw-button kw-primary kw-link-confirm" type="button" on:click=join
                disabled=move || feedback.pending.get() || !auth.signed_in() hidden=done>"Join the organization"</button>
            <Notice message=notice/>
            <ErrorMessage feedback=feedback/>
        </section>
    }
}
