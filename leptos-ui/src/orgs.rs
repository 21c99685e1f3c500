//! Organizations: switching the active one, making one, its members and invitations, joining
//! from an invitation's link, and showing what the active role allows.
//!
//! What the page offers follows the session's token ([`use_permission`],
//! [`RequirePermission`]): the claims the app's API checks with its own `RequirePermission`,
//! re-read at every refresh, so a role change shows here with the session's next tokens.
//! Hiding a button is for people; the API's check is what refuses.
//!
//! [`MemberList`] and [`InviteForm`] act on the active organization. They offer role changes
//! and removal to a role granting `members:update` and `members:remove`, invitations to one
//! granting `members:invite`. The server decides these by role level instead (admins and
//! owners, never on someone at or above one's own level), which the built-in roles match: an
//! app role of its own should grant `members:*` only when it inherits `admin`, or its people
//! see buttons the server refuses (and the refusal is shown).

use keyward_client::{AuthClient, AuthState, Error, Member};
use keyward_proto::CreateOrg;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::auth::{Auth, Feedback, use_auth};
use crate::components::{ErrorMessage, invalid};
use crate::lifecycle::Notice;

/// The roles offered by default when inviting or changing a member (the server's own roles can
/// be offered through the components' `roles`).
const ROLES: [&str; 4] = ["admin", "member", "billing", "viewer"];

/// Whether the active organization's role grants `permission`, as a signal that follows the
/// session's tokens (`false` with no active organization, and while the session is read).
pub fn use_permission(permission: impl Into<String>) -> Signal<bool> {
    let auth = use_auth();
    let permission = permission.into();
    Memo::new(move |_| auth.can(&permission)).into()
}

/// Its children when the active organization's role grants `permission`, `fallback` (nothing
/// by default) otherwise, nothing while the session is read; it switches as the session's
/// tokens change.
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
    let auth = use_auth();
    let allowed = use_permission(permission);
    let loading = Memo::new(move |_| auth.state().get() == AuthState::Loading);
    move || {
        if loading.get() {
            ().into_any()
        } else if allowed.get() {
            children().into_any()
        } else {
            fallback.as_ref().map_or_else(|| ().into_any(), ViewFn::run)
        }
    }
}

/// Items as last loaded: for which organization (the user's own list: none), by which load.
#[derive(Clone)]
struct Listed<T> {
    org: Option<String>,
    load: u64,
    items: Vec<T>,
}

impl<T: Clone> Listed<T> {
    /// Each item with the load it came from (its rows' key: a reload redraws them all, so a
    /// select the server refused shows the kept value again).
    fn rows(list: Option<&Self>) -> Vec<(u64, T)> {
        list.map(|list| list.items.iter().map(|i| (list.load, i.clone())).collect())
            .unwrap_or_default()
    }
}

/// A list kept loaded by `load` while someone is signed in, again whenever the user's
/// organizations may have changed: for the active organization (`None` without one) when
/// `per_org`, else for the user. An answer overtaken by a later load is dropped, and the rows
/// of another organization are cleared before this one's load, so a list never shows (nor acts
/// on) another organization's items.
fn keep_loaded<T, F, Fut>(
    auth: Auth,
    feedback: Feedback,
    per_org: bool,
    load: F,
) -> RwSignal<Option<Listed<T>>>
where
    T: Send + Sync + 'static,
    F: Fn(AuthClient, Option<String>) -> Fut + Copy + 'static,
    Fut: Future<Output = Result<Vec<T>, Error>> + 'static,
{
    let list = RwSignal::new(None::<Listed<T>>);
    let loads = StoredValue::new(0_u64);
    let signed_in = Memo::new(move |_| auth.signed_in());
    let org = Memo::new(move |_| {
        auth.active_org()
            .with(|org| org.as_ref().map(|org| org.id.clone()))
    });
    Effect::new(move |_| {
        auth.orgs_changed().track();
        let org = if per_org { org.get() } else { None };
        if !signed_in.get() || (per_org && org.is_none()) {
            list.set(None);
            return;
        }
        let load_number = loads.get_value() + 1;
        loads.set_value(load_number);
        if list.with_untracked(|list| list.as_ref().is_some_and(|list| list.org != org)) {
            list.set(None);
        }
        auth.run_with(feedback, move |client| async move {
            let items = load(client, org.clone()).await?;
            if loads.get_value() == load_number {
                list.set(Some(Listed {
                    org,
                    load: load_number,
                    items,
                }));
            }
            Ok(())
        });
    });
    list
}

/// Runs `action`, then tells every organization view to reload (also when it failed: what the
/// server refused shows as it is).
fn change<F, Fut, T>(auth: Auth, feedback: Feedback, action: F)
where
    F: FnOnce(AuthClient) -> Fut + 'static,
    Fut: Future<Output = Result<T, Error>> + 'static,
{
    auth.run_with(feedback, move |client| async move {
        let outcome = action(client).await;
        auth.notify_orgs_changed();
        outcome.map(drop)
    });
}

/// The user's organizations, their role in each, and which one the session acts for; choosing
/// another activates it (the session's new tokens carry its role and permissions).
#[component]
pub fn OrgSwitcher() -> impl IntoView {
    let auth = use_auth();
    let (loading, feedback) = (Feedback::new(), Feedback::new());
    let orgs = keep_loaded(auth, loading, false, |client, _| async move {
        client.orgs().await
    });
    let active = move || auth.active_org().get().map(|org| org.id);
    let none = move || orgs.with(|list| list.as_ref().is_none_or(|list| list.items.is_empty()));
    let switch = move |event: leptos::ev::Event| {
        let id = event_target_value(&event);
        if !id.is_empty() {
            change(auth, feedback, move |client| async move {
                client.activate_org(&id).await
            });
        }
    };
    view! {
        <section class="kw-org-switcher">
            <p class="kw-notice" hidden=move || !none() || orgs.with(Option::is_none)>"You are not in an organization yet."</p>
            <label class="kw-field" hidden=none>
                <span class="kw-label">"Organization"</span>
                <select class="kw-input" name="org" on:change=switch disabled=move || feedback.pending.get()>
                    <option value="" disabled=true prop:selected=move || active().is_none()>"Choose one…"</option>
                    <For each=move || Listed::rows(orgs.get().as_ref()) key=|(load, m)| (*load, m.org.id.clone()) let((_, membership))>
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
            <ErrorMessage feedback=loading/>
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
        let chosen = name.get_untracked().trim().to_owned();
        if chosen.is_empty() {
            return invalid(
                feedback,
                "invalid_request",
                "Enter the organization's name.",
            );
        }
        change(auth, feedback, move |client| async move {
            let org = CreateOrg {
                name: chosen,
                slug: None,
                metadata: None,
            };
            let made = client.create_org(&org).await?;
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
fn offered(roles: Option<Vec<String>>) -> Vec<String> {
    roles.unwrap_or_else(|| ROLES.map(String::from).to_vec())
}

/// The active organization's members with their roles. A role granting `members:update` can
/// change a member's role, one granting `members:remove` can remove them, and an owner can hand
/// the ownership to another member; anyone can leave (an organization's last owner cannot).
/// The server refuses what the role may not do (an admin cannot touch an owner); the refusal
/// is shown and the list shows what is kept.
#[component]
pub fn MemberList(
    /// The roles a member can be given [default: admin, member, billing, viewer; owners are
    /// also offered owner].
    #[prop(optional)]
    roles: Option<Vec<String>>,
) -> impl IntoView {
    let auth = use_auth();
    let (loading, feedback) = (Feedback::new(), Feedback::new());
    let roles = StoredValue::new(offered(roles));
    let members = keep_loaded(auth, loading, true, |client, org| async move {
        client.members(&org.unwrap_or_default()).await
    });
    // Each acts on the organization its list was loaded for.
    let org = move || members.with_untracked(|list| list.as_ref().and_then(|l| l.org.clone()));
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
    view! {
        <section class="kw-members" hidden=move || auth.active_org().with(Option::is_none)>
            <ul class="kw-list">
                <For each=move || Listed::rows(members.get().as_ref()) key=|(load, m)| (*load, m.user.id.clone()) let((_, member))>
                    {row(member)}
                </For>
            </ul>
            <ErrorMessage feedback=loading/>
            <ErrorMessage feedback=feedback/>
        </section>
    }
}

/// Invites by email to the active organization, and lists its pending invitations with resend
/// and revoke; shown when the session's role there grants `members:invite`. The mailed link
/// opens `redirect_to` (or the app's default page), where `<EmailedLink/>` offers to join.
#[component]
pub fn InviteForm(
    /// The roles an invitation can give [default: admin, member, billing, viewer]; `member`
    /// is chosen at first when it is one of them, else the first.
    #[prop(optional)]
    roles: Option<Vec<String>>,
    /// The page the mail's link opens (an allowed origin); the app's default page otherwise.
    #[prop(optional, into)]
    redirect_to: Option<String>,
) -> impl IntoView {
    let auth = use_auth();
    let (loading, feedback) = (Feedback::new(), Feedback::new());
    let notice = RwSignal::new(None::<String>);
    let roles = offered(roles);
    let first = if roles.iter().any(|r| r == "member") {
        "member".to_owned()
    } else {
        roles.first().cloned().unwrap_or_default()
    };
    let roles = StoredValue::new(roles);
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(first);
    let redirect_to = StoredValue::new(redirect_to);
    let allowed = use_permission("members:invite");
    let pending = keep_loaded(auth, loading, true, |client, org| async move {
        if !client.can("members:invite") {
            return Ok(Vec::new());
        }
        client.invitations(&org.unwrap_or_default()).await
    });
    let org = move || pending.with_untracked(|list| list.as_ref().and_then(|l| l.org.clone()));
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
            Ok(())
        });
    };
    let resend = move |id: String| {
        let Some(org) = org() else { return };
        change(auth, feedback, move |client| async move {
            let sent = client.resend_invitation(&org, &id).await?;
            notice.set(Some(format!("Invitation sent again to {}.", sent.email)));
            Ok(())
        });
    };
    let revoke = move |id: String| {
        let Some(org) = org() else { return };
        change(auth, feedback, move |client| async move {
            client.revoke_invitation(&org, &id).await
        });
    };
    view! {
        <section class="kw-invite" hidden=move || !allowed.get()>
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
                <For each=move || Listed::rows(pending.get().as_ref()) key=|(load, i)| (*load, i.id.clone()) let((_, invitation))>
                    {
                        let id = StoredValue::new(invitation.id.clone());
                        view! {
                            <li class="kw-item kw-invitation" data-email=invitation.email.clone()>
                                <span class="kw-item-name">{invitation.email.clone()}</span>
                                <span class="kw-item-detail">{format!("as {}, until {}", invitation.role, invitation.expires_at)}</span>
                                <button class="kw-button kw-resend" type="button" on:click=move |_| resend(id.get_value())>"Send again"</button>
                                <button class="kw-button kw-revoke" type="button" on:click=move |_| revoke(id.get_value())>"Revoke"</button>
                            </li>
                        }
                    }
                </For>
            </ul>
            <ErrorMessage feedback=loading/>
        </section>
    }
}

/// The page opened from an invitation's link (`<EmailedLink/>` shows it): a button that joins
/// the organization, once signed in to the account of the invited address, verified.
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
            Ok(())
        });
    };
    let done = move || notice.with(Option::is_some);
    view! {
        <section class="kw-accept-invitation" data-state=move || if done() { "done" } else { "ready" }>
            <p class="kw-notice" hidden=move || auth.signed_in() || done()>
                "Sign in to the account of the invited address (its address verified), then join."
            </p>
            <button class="kw-button kw-primary kw-link-confirm" type="button" on:click=join
                disabled=move || feedback.pending.get() || !auth.signed_in() hidden=done>"Join the organization"</button>
            <Notice message=notice/>
            <ErrorMessage feedback=feedback/>
        </section>
    }
}
