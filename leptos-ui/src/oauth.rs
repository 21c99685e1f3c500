//! Sign-in with OpenID Connect providers, and the providers linked to the account. The page a
//! provider sends the browser back to finishes what this tab started as soon as one of these
//! components shows there: [`OAuthButtons`] (signed out: a sign-in) or [`LinkedAccounts`]
//! (signed in: a link); the code then leaves the address bar.

use std::cell::Cell;

use keyward_client::{AuthClient, Identity, OAuthOutcome, OAuthProviderInfo, SignedIn};
use leptos::prelude::*;

use crate::auth::{Auth, Feedback, use_auth};
use crate::components::{ErrorMessage, invalid};

thread_local! {
    /// Whether this page's address was read for a provider's answer (once per page load).
    static READ: Cell<bool> = const { Cell::new(false) };
}

/// Finishes what the provider sent the browser back with, once per page: a sign-in (or its
/// second factor's ticket), a link (`linked` then runs), or a refusal shown in `feedback`.
fn complete_once(auth: Auth, feedback: Feedback, linked: impl Fn(Identity) + 'static) {
    if READ.with(|read| read.replace(true)) {
        return;
    }
    auth.run_with(feedback, move |client: AuthClient| async move {
        match client.oauth_complete().await? {
            Some(OAuthOutcome::SignedIn(SignedIn::MfaRequired { ticket })) => {
                auth.set_mfa_ticket(Some(ticket));
            }
            Some(OAuthOutcome::Linked(identity)) => linked(identity),
            Some(OAuthOutcome::Refused(code)) => {
                invalid(feedback, &code, OAuthOutcome::message(&code));
            }
            Some(OAuthOutcome::SignedIn(SignedIn::User(_))) | None => {}
        }
        Ok(())
    });
}

/// The providers the server signs in with, as they are loaded.
fn providers(auth: Auth, feedback: Feedback) -> RwSignal<Vec<OAuthProviderInfo>> {
    let providers = RwSignal::new(Vec::new());
    auth.run_with(feedback, move |client: AuthClient| async move {
        providers.set(client.oauth_providers().await?);
        Ok(())
    });
    providers
}

/// A button per provider in `providers` (`{label} {name}`), each running `action` with the
/// provider's id.
#[component]
fn ProviderButtons(
    providers: Signal<Vec<OAuthProviderInfo>>,
    class: &'static str,
    label: &'static str,
    action: impl Fn(String) + Copy + Send + Sync + 'static,
    feedback: Feedback,
) -> impl IntoView {
    view! {
        <For each=move || providers.get() key=|p| p.id.clone() let(provider)>
            {
                let id = provider.id.clone();
                view! {
                    <button class=format!("kw-button {class}") type="button" data-provider=provider.id.clone()
                        on:click=move |_| action(id.clone()) disabled=move || feedback.pending.get()>
                        {format!("{label} {}", provider.name)}
                    </button>
                }
            }
        </For>
    }
}

/// "Continue with …", one button per provider the server signs in with; nothing when it has
/// none. The browser leaves for the provider and comes back to `redirect_to` (this page by
/// default), where this component finishes the sign-in.
#[component]
pub fn OAuthButtons(
    /// The app's page the provider sends the browser back to.
    #[prop(optional, into)]
    redirect_to: Option<String>,
) -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    complete_once(auth, feedback, |_| {});
    let providers = providers(auth, feedback);
    let redirect_to = StoredValue::new(redirect_to);
    let start = move |id: String| {
        auth.run_with(feedback, move |client: AuthClient| async move {
            let back = redirect_to.get_value();
            client.oauth_sign_in(&id, back.as_deref()).await
        });
    };
    view! {
        <section class="kw-oauth">
            <ProviderButtons providers=Signal::derive(move || providers.get()) class="kw-oauth-provider"
                label="Continue with" action=start feedback=feedback/>
            <ErrorMessage feedback=feedback/>
        </section>
    }
}

/// The providers linked to the signed-in account, each with "Unlink", and a "Link" button for
/// each provider not linked yet (linking needs a recent sign-in; the last way to sign in cannot
/// be unlinked). Finishes a link when the provider sends the browser back here.
#[component]
pub fn LinkedAccounts(
    /// The app's page the provider sends the browser back to (this page by default).
    #[prop(optional, into)]
    redirect_to: Option<String>,
) -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let identities = RwSignal::new(Vec::<Identity>::new());
    let reload = move || {
        auth.run_with(feedback, move |client: AuthClient| async move {
            identities.set(client.identities().await?);
            Ok(())
        });
    };
    complete_once(auth, feedback, move |_| reload());
    Effect::new(move |_| {
        if auth.signed_in() {
            reload();
        }
    });
    let providers = providers(auth, feedback);
    let redirect_to = StoredValue::new(redirect_to);
    let link = move |id: String| {
        auth.run_with(feedback, move |client: AuthClient| async move {
            let back = redirect_to.get_value();
            client.oauth_link(&id, back.as_deref()).await
        });
    };
    let unlink = move |id: String| {
        auth.run_with(feedback, move |client: AuthClient| async move {
            client.unlink_identity(&id).await?;
            identities.set(client.identities().await?);
            Ok(())
        });
    };
    let name_of = move |id: &str| {
        providers.with(|all| {
            all.iter()
                .find(|p| p.id == id)
                .map_or_else(|| id.to_owned(), |p| p.name.clone())
        })
    };
    let unlinked = move || {
        let linked = identities.get();
        providers
            .get()
            .into_iter()
            .filter(|p| !linked.iter().any(|i| i.provider == p.id))
            .collect::<Vec<_>>()
    };
    view! {
        <section class="kw-linked-accounts">
            <h3 class="kw-heading">"Linked accounts"</h3>
            <ul class="kw-list kw-identities">
                <For each=move || identities.get() key=|i| i.id.clone() let(identity)>
                    <li class="kw-item" data-identity-id=identity.id.clone() data-provider=identity.provider.clone()>
                        // Named once the providers' list is in, whichever arrives first.
                        <span class="kw-item-name">{
                            let provider = identity.provider.clone();
                            move || name_of(&provider)
                        }</span>
                        <span class="kw-item-detail">{identity.email.clone().map(|e| format!(" {e}"))}</span>
                        {
                            let id = identity.id.clone();
                            view! { <button class="kw-button kw-unlink" type="button" on:click=move |_| unlink(id.clone())>"Unlink"</button> }
                        }
                    </li>
                </For>
            </ul>
            <ProviderButtons providers=Signal::derive(unlinked) class="kw-link-provider" label="Link"
                action=link feedback=feedback/>
            <ErrorMessage feedback=feedback/>
        </section>
    }
}
