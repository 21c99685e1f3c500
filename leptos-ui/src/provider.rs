//! Keyward as an OpenID Connect provider for the operator's other apps, on this app's pages:
//! [`ContinueAuthorization`] on the sign-in page other apps send users to (setting
//! `oidc_sign_in_page`), and [`ConnectedApps`] on the security page.

use keyward_client::{AuthClient, AuthState, ConnectedApp, OIDC_REQUEST, SignOutScope};
use leptos::prelude::*;

use crate::auth::{Feedback, use_auth};
use crate::components::ErrorMessage;
use crate::lifecycle::{signed_in_by_mailed_link, take_from_address};

/// Where this tab keeps the pending request while the user signs in (a magic link's code or a
/// provider's sign-in may bring the page back without it in the address), with when it came:
/// `{ms} {req}`.
const KEPT: &str = "keyward:oidc-req";

/// How long a kept request is worth keeping: as long as Keyward honours it.
const KEPT_FOR_MS: f64 = 10.0 * 60.0 * 1000.0;

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

fn forget_request() {
    if let Some(storage) = session_storage() {
        let _ = storage.remove_item(KEPT);
    }
}

/// The pending authorization request: the address's `oidc_req` (then kept for this tab and
/// taken out of the address bar, so it is neither bookmarked nor sent on), or the one this tab
/// kept in the last ten minutes.
fn pending_request() -> Option<String> {
    let now = js_sys::Date::now();
    if let Some([req]) = take_from_address([OIDC_REQUEST]) {
        if let Some(storage) = session_storage() {
            let _ = storage.set_item(KEPT, &format!("{now} {req}"));
        }
        return Some(req);
    }
    let kept = session_storage()?.get_item(KEPT).ok().flatten()?;
    let (at, req) = kept.split_once(' ')?;
    if at.parse::<f64>().is_ok_and(|at| now - at < KEPT_FOR_MS) {
        Some(req.to_owned())
    } else {
        forget_request();
        None
    }
}

/// On the page Keyward sends users to when another app asks them to sign in (`?oidc_req=…`;
/// setting `oidc_sign_in_page`). Once the user signs in here, by any form on the page, it hands
/// the request back to Keyward and the browser goes on (to consent, or straight back to that
/// app). A user who was signed in already, or who signed in with a mailed link (anyone can hand
/// out a link to their own account with a request beside it), is asked first ("Continue as …"):
/// being signed in to this app is not by itself a choice to sign in to another. When that app
/// asks for a fresh sign-in, the user is offered to sign in again; nothing ends by itself. Shows
/// nothing on a page opened otherwise.
#[component]
pub fn ContinueAuthorization() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let Some(req) = pending_request() else {
        return ().into_any();
    };
    let req = StoredValue::new(req);
    // Whether the user was signed out here at some point: then signing in was for this.
    let signed_in_here = StoredValue::new(false);
    let started = StoredValue::new(false);
    let fresh_sign_in_asked = RwSignal::new(false);
    let go = move || {
        if started.get_value() {
            return;
        }
        started.set_value(true);
        auth.run_with(feedback, move |client: AuthClient| async move {
            match client.continue_authorization(&req.get_value()).await {
                Ok(next) => {
                    forget_request();
                    // Only ever a path on this server.
                    if next.starts_with('/')
                        && !next.starts_with("//")
                        && let Some(window) = web_sys::window()
                    {
                        let _ = window.location().assign(&next);
                    }
                    Ok(())
                }
                Err(error) if error.code() == "reauthentication_required" => {
                    started.set_value(false);
                    fresh_sign_in_asked.set(true);
                    Err(error)
                }
                // This request is gone (expired, or not Keyward's): start again from the app.
                Err(error) if error.code() == "invalid_request" => {
                    forget_request();
                    Err(error)
                }
                Err(error) => {
                    started.set_value(false);
                    Err(error)
                }
            }
        });
    };
    // A sign-in by a mailed link (whoever's link it is) is asked about, as one from before.
    Effect::new(move |_| match auth.state().get() {
        AuthState::SignedOut => signed_in_here.set_value(true),
        AuthState::SignedIn if signed_in_here.get_value() && !signed_in_by_mailed_link() => go(),
        _ => {}
    });
    let sign_in_again = move |_| {
        fresh_sign_in_asked.set(false);
        auth.run_with(feedback, |client: AuthClient| async move {
            client.sign_out(SignOutScope::Session).await
        });
    };
    let email = move || auth.user().get().map(|user| user.email).unwrap_or_default();
    view! {
        <section class="kw-continue-authorization">
            {move || match (auth.signed_in(), fresh_sign_in_asked.get()) {
                (false, _) => view! {
                    <p class="kw-notice">"Another app asks you to sign in with your account here."</p>
                }.into_any(),
                (true, true) => view! {
                    <p class="kw-notice">"The app asks you to sign in again."</p>
                    <button class="kw-button kw-sign-in-again" type="button" on:click=sign_in_again
                        disabled=move || feedback.pending.get()>"Sign in again"</button>
                }.into_any(),
                (true, false) => view! {
                    <p class="kw-notice">{move || format!("Another app asks to sign you in as {}.", email())}</p>
                    <button class="kw-button kw-primary kw-continue" type="button" on:click=move |_| go()
                        disabled=move || feedback.pending.get()>"Continue"</button>
                }.into_any(),
            }}
            <ErrorMessage feedback=feedback/>
        </section>
    }
    .into_any()
}

/// The other apps the user let sign them in with this account (name, what each may know, since
/// when), each with "Disconnect": its sign-ins end at once and it asks again next time. Nothing
/// when there are none.
#[component]
pub fn ConnectedApps() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let apps = RwSignal::new(Vec::<ConnectedApp>::new());
    Effect::new(move |_| {
        if auth.signed_in() {
            auth.run_with(feedback, move |client: AuthClient| async move {
                apps.set(client.connected_apps().await?);
                Ok(())
            });
        }
    });
    let disconnect = move |id: String| {
        auth.run_with(feedback, move |client: AuthClient| async move {
            client.disconnect_app(&id).await?;
            apps.set(client.connected_apps().await?);
            Ok(())
        });
    };
    view! {
        <section class="kw-connected-apps" class:kw-empty=move || apps.with(Vec::is_empty)>
            <h3 class="kw-heading">"Connected apps"</h3>
            <ul class="kw-list">
                <For each=move || apps.get() key=|app| app.client_id.clone() let(app)>
                    <li class="kw-item" data-client-id=app.client_id.clone()>
                        <span class="kw-item-name">{app.name.clone()}</span>
                        <span class="kw-item-detail">
                            {format!(" may know {} since {}", app.scopes.join(", "), app.granted_at)}
                        </span>
                        {
                            let id = app.client_id.clone();
                            view! {
                                <button class="kw-button kw-revoke" type="button"
                                    on:click=move |_| disconnect(id.clone())
                                    disabled=move || feedback.pending.get()>"Disconnect"</button>
                            }
                        }
                    </li>
                </For>
            </ul>
            <ErrorMessage feedback=feedback/>
        </section>
    }
}
