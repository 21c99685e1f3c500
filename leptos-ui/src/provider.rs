//! Keyward as an OpenID Connect provider for the operator's other apps, on this app's pages:
//! [`ContinueAuthorization`] on the sign-in page other apps send users to (setting
//! `oidc_sign_in_page`), and [`ConnectedApps`] on the security page.

use keyward_client::{AuthClient, AuthState, ConnectedApp, OIDC_REQUEST, SignOutScope};
use leptos::prelude::*;

use crate::auth::{Feedback, use_auth};
use crate::components::ErrorMessage;

/// Where this tab keeps the pending request while the user signs in (a magic link's code or a
/// provider's sign-in may bring the page back without it in the address).
const KEPT: &str = "keyward:oidc-req";

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// The pending authorization request: the address's `oidc_req` (then kept for this tab), or
/// the one this tab kept.
fn pending_request() -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    let from_address = web_sys::UrlSearchParams::new_with_str(&search)
        .ok()
        .and_then(|params| params.get(OIDC_REQUEST));
    let storage = session_storage();
    match from_address {
        Some(req) => {
            if let Some(storage) = storage {
                let _ = storage.set_item(KEPT, &req);
            }
            Some(req)
        }
        None => storage?.get_item(KEPT).ok().flatten(),
    }
}

/// On the page Keyward sends users to when another app asks them to sign in (`?oidc_req=…`):
/// says so, and once the user is signed in, by any form on the page, hands the request back
/// to Keyward and sends the browser on (to consent, or straight back to that app). When that
/// app asks for a fresh sign-in, this session is signed out so the user signs in again. Shows
/// nothing on a page opened otherwise.
#[component]
pub fn ContinueAuthorization() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let Some(req) = pending_request() else {
        return ().into_any();
    };
    let req = StoredValue::new(req);
    let started = StoredValue::new(false);
    Effect::new(move |_| {
        if auth.state().get() != AuthState::SignedIn || started.get_value() {
            return;
        }
        started.set_value(true);
        auth.run_with(feedback, move |client: AuthClient| async move {
            match client.continue_authorization(&req.get_value()).await {
                Ok(next) => {
                    if let Some(storage) = session_storage() {
                        let _ = storage.remove_item(KEPT);
                    }
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().assign(&next);
                    }
                    Ok(())
                }
                Err(error) if error.code() == "reauthentication_required" => {
                    started.set_value(false);
                    client.sign_out(SignOutScope::Session).await?;
                    Err(error)
                }
                Err(error) => Err(error),
            }
        });
    });
    view! {
        <section class="kw-continue-authorization">
            <p class="kw-notice">
                {move || if auth.signed_in() {
                    "Taking you back to the app that asked…"
                } else {
                    "Another app asks you to sign in with your account here."
                }}
            </p>
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
