//! The components. Unstyled by default, with stable `kw-*` class names; `<KeywardStyles/>` adds
//! a stylesheet that looks good out of the box. Every input has a label and an `autocomplete`,
//! errors are announced (`role="alert"`), buttons are disabled while their action runs.

use keyward_client::{AuthClient, AuthState, Options, SignOutScope};
use keyward_proto::{Device, Passkey, Session};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::auth::{Auth, Feedback, use_auth};
use crate::lifecycle::first_factor;
use crate::remember::{self, Method};

/// Makes the client and its reactive state available to everything inside (through
/// [`use_auth`]). Until the stored session has been read, `state` is `Loading`, so a page renders
/// one stable loading view rather than flickering between signed-out and signed-in.
#[component]
pub fn AuthProvider(
    /// A client you created already (`AuthClient::new(...).await` before mounting): the
    /// session is then known from the first render.
    #[prop(optional)]
    client: Option<AuthClient>,
    /// Or the server's auth URL (e.g. `"/auth"`), to create the client here.
    #[prop(optional, into)]
    server_url: Option<String>,
    /// The app.
    children: Children,
) -> impl IntoView {
    let auth = Auth::new();
    provide_context(auth);
    match (client, server_url) {
        (Some(client), _) => auth.attach(client),
        (None, Some(url)) => spawn_local(async move {
            auth.attach(AuthClient::new(Options::new(url)).await);
        }),
        (None, None) => leptos::logging::error!("<AuthProvider> needs `client` or `server_url`"),
    }
    children()
}

/// Its children when someone is signed in (or offline with a kept session), `fallback` when
/// not, and a loading view while the stored session is read.
#[component]
pub fn RequireAuth(
    /// Shown to signed-out visitors (typically the sign-in form).
    #[prop(into)]
    fallback: ViewFn,
    /// Shown while the session is read; a quiet "Loading…" by default.
    #[prop(optional, into)]
    loading: Option<ViewFn>,
    /// The protected view.
    children: ChildrenFn,
) -> impl IntoView {
    let auth = use_auth();
    move || match auth.state().get() {
        AuthState::Loading => match &loading {
            Some(view) => view.run(),
            None => view! { <p class="kw-loading" aria-busy="true">"Loading…"</p> }.into_any(),
        },
        AuthState::SignedIn | AuthState::Offline => children().into_any(),
        AuthState::SignedOut => fallback.run(),
    }
}

/// An always-present live region: the message appears in it, so screen readers announce it.
#[component]
pub(crate) fn ErrorMessage(feedback: Feedback) -> impl IntoView {
    view! {
        <p class="kw-error" role="alert" aria-live="assertive">
            {move || feedback.error.get().map(|e| e.message)}
        </p>
    }
}

pub(crate) fn invalid(feedback: Feedback, code: &str, message: &str) {
    feedback.error.set(Some(crate::AuthError {
        code: code.to_owned(),
        message: message.to_owned(),
    }));
}

/// Email and password sign-in. The email field also offers passkeys in the browser's autofill
/// (`autocomplete="username webauthn"`), and starts with the address this browser last signed
/// in with. An account with a second factor continues in `<MfaChallenge/>`; the form hides
/// meanwhile.
#[component]
pub fn SignInForm() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let last = remember::load();
    let last_used = last.as_ref().is_some_and(|l| l.method == Method::Password);
    let email = RwSignal::new(last.and_then(|l| l.email).unwrap_or_default());
    let password = RwSignal::new(String::new());
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let (address, secret) = (email.get_untracked(), password.get_untracked());
        if !address.contains('@') {
            return invalid(feedback, "invalid_email", "Enter your email address.");
        }
        if secret.is_empty() {
            return invalid(feedback, "invalid_request", "Enter your password.");
        }
        auth.run_with(feedback, move |client| async move {
            let answer = client.sign_in(&address, &secret).await;
            first_factor(auth, answer, Method::Password, &address).await
        });
    };
    view! {
        <form class="kw-form kw-sign-in-form" on:submit=submit novalidate hidden=move || auth.mfa_ticket().get().is_some()>
            {last_used.then(|| view! { <span class="kw-badge kw-last-used">"Last used"</span> })}
            <label class="kw-field">
                <span class="kw-label">"Email"</span>
                <input class="kw-input" type="email" name="email" autocomplete="username webauthn" required bind:value=email/>
            </label>
            <label class="kw-field">
                <span class="kw-label">"Password"</span>
                <input class="kw-input" type="password" name="password" autocomplete="current-password" required bind:value=password/>
            </label>
            <ErrorMessage feedback=feedback/>
            <button class="kw-button kw-primary" type="submit" disabled=move || feedback.pending.get()>"Sign in"</button>
        </form>
    }
}

/// Account creation with email and password (8 characters at least, checked before sending).
#[component]
pub fn SignUpForm() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let (address, secret, display) = (
            email.get_untracked(),
            password.get_untracked(),
            name.get_untracked(),
        );
        if !address.contains('@') {
            return invalid(feedback, "invalid_email", "Enter your email address.");
        }
        if secret.chars().count() < 8 {
            return invalid(
                feedback,
                "weak_password",
                "Choose a password of at least 8 characters.",
            );
        }
        let display = (!display.trim().is_empty()).then_some(display);
        auth.run_with(feedback, move |client| async move {
            client.sign_up(&address, &secret, display.as_deref()).await
        });
    };
    view! {
        <form class="kw-form kw-sign-up-form" on:submit=submit novalidate>
            <label class="kw-field">
                <span class="kw-label">"Name"</span>
                <input class="kw-input" type="text" name="name" autocomplete="name" bind:value=name/>
            </label>
            <label class="kw-field">
                <span class="kw-label">"Email"</span>
                <input class="kw-input" type="email" name="email" autocomplete="email" required bind:value=email/>
            </label>
            <label class="kw-field">
                <span class="kw-label">"Password"</span>
                <input class="kw-input" type="password" name="password" autocomplete="new-password" minlength="8" required bind:value=password/>
            </label>
            <ErrorMessage feedback=feedback/>
            <button class="kw-button kw-primary" type="submit" disabled=move || feedback.pending.get()>"Create account"</button>
        </form>
    }
}

/// Signs in with a passkey, or (with `register`) adds one to the signed-in account. Renders
/// nothing where passkeys are unsupported.
#[component]
pub fn PasskeyButton(
    /// Register a passkey instead of signing in with one.
    #[prop(optional)]
    register: bool,
) -> impl IntoView {
    if !keyward_client::webauthn::supported() {
        return None;
    }
    let auth = use_auth();
    let feedback = Feedback::new();
    let click = move |_| {
        if register {
            auth.run_with(feedback, |client| async move {
                client.register_passkey(None).await
            });
        } else {
            auth.run_with(feedback, |client| async move {
                let user = client.sign_in_with_passkey(None).await?;
                remember::save(Method::Passkey, Some(&user.email));
                Ok(())
            });
        }
    };
    let label = if register {
        "Add a passkey"
    } else {
        "Sign in with a passkey"
    };
    let last_used = !register && remember::load().is_some_and(|l| l.method == Method::Passkey);
    Some(view! {
        <div class="kw-passkey">
            {last_used.then(|| view! { <span class="kw-badge kw-last-used">"Last used"</span> })}
            <button class="kw-button kw-passkey-button" type="button" on:click=click disabled=move || feedback.pending.get()>{label}</button>
            <ErrorMessage feedback=feedback/>
        </div>
    })
}

/// Signs out of this session.
#[component]
pub fn SignOutButton() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let click = move |_| {
        auth.run_with(feedback, |client| async move {
            client.sign_out(SignOutScope::Session).await
        });
    };
    view! {
        <button class="kw-button kw-sign-out" type="button" on:click=click disabled=move || feedback.pending.get()>"Sign out"</button>
    }
}

/// Who is signed in, with a sign-out button; says so when the server is unreachable.
#[component]
pub fn UserMenu() -> impl IntoView {
    let auth = use_auth();
    move || {
        auth.user().get().map(|user| {
            let offline = auth.state().get() == AuthState::Offline;
            view! {
                <div class="kw-user-menu">
                    <span class="kw-user-name">{user.name.clone().unwrap_or_else(|| user.email.clone())}</span>
                    {offline.then(|| view! { <span class="kw-offline">" (offline)"</span> })}
                    <SignOutButton/>
                </div>
            }
        })
    }
}

/// The user's sessions, devices and passkeys, with revoke / remove; the current session and
/// device are marked.
#[component]
pub fn SessionList() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let sessions = RwSignal::new(Vec::<Session>::new());
    let devices = RwSignal::new(Vec::<Device>::new());
    let passkeys = RwSignal::new(Vec::<Passkey>::new());
    let reload = move || {
        auth.run_with(feedback, move |client| async move {
            sessions.set(client.sessions().await?);
            devices.set(client.devices().await?);
            passkeys.set(client.passkeys().await?);
            Ok(())
        });
    };
    Effect::new(move |_| {
        if auth.signed_in() {
            reload();
        }
    });
    let revoke_session = move |id: String| {
        auth.run_with(feedback, move |client| async move {
            client.revoke_session(&id).await
        });
        reload();
    };
    let revoke_device = move |id: String| {
        auth.run_with(feedback, move |client| async move {
            client.revoke_device(&id).await
        });
        reload();
    };
    let remove_passkey = move |id: String| {
        auth.run_with(feedback, move |client| async move {
            client.remove_passkey(&id).await
        });
        reload();
    };
    view! {
        <section class="kw-security">
            <h3 class="kw-heading">"Sessions"</h3>
            <ul class="kw-list kw-sessions">
                <For each=move || sessions.get() key=|s| s.id.clone() let(session)>
                    <li class="kw-item" class:kw-current=session.current data-session-id=session.id.clone()>
                        <span class="kw-item-name">{session.user_agent.clone().unwrap_or_else(|| "Unknown client".into())}</span>
                        <span class="kw-item-detail">{format!(" since {}", session.created_at)}</span>
                        {if session.current {
                            view! { <span class="kw-badge">"this session"</span> }.into_any()
                        } else {
                            let id = session.id.clone();
                            view! { <button class="kw-button kw-revoke" type="button" on:click=move |_| revoke_session(id.clone())>"Revoke"</button> }.into_any()
                        }}
                    </li>
                </For>
            </ul>
            <h3 class="kw-heading">"Devices"</h3>
            <ul class="kw-list kw-devices">
                <For each=move || devices.get() key=|d| d.id.clone() let(device)>
                    <li class="kw-item" class:kw-current=device.current data-device-id=device.id.clone()>
                        <span class="kw-item-name">{device.name.clone()}</span>
                        {device.current.then(|| view! { <span class="kw-badge">"this device"</span> })}
                        {
                            let id = device.id.clone();
                            view! { <button class="kw-button kw-revoke" type="button" on:click=move |_| revoke_device(id.clone())>"Revoke"</button> }
                        }
                    </li>
                </For>
            </ul>
            <h3 class="kw-heading">"Passkeys"</h3>
            <ul class="kw-list kw-passkeys">
                <For each=move || passkeys.get() key=|p| p.id.clone() let(passkey)>
                    <li class="kw-item" data-passkey-id=passkey.id.clone()>
                        <span class="kw-item-name">{passkey.name.clone()}</span>
                        {
                            let id = passkey.id.clone();
                            view! { <button class="kw-button kw-revoke" type="button" on:click=move |_| remove_passkey(id.clone())>"Remove"</button> }
                        }
                    </li>
                </For>
            </ul>
            <PasskeyButton register=true/>
            <ErrorMessage feedback=feedback/>
        </section>
    }
}

/// The optional stylesheet (the components are unstyled without it).
#[component]
pub fn KeywardStyles() -> impl IntoView {
    view! { <style>{include_str!("../style.css")}</style> }
}
