//! The account lifecycle's components: the emailed links (verification, password reset, address
//! change, magic link), password change, magic-link sign-in, and TOTP setup and challenge. Like
//! the others, unstyled by default with stable `kw-*` classes, labelled inputs, announced errors.

use keyward_client::{AuthClient, SignedIn, TotpEnrolment};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::auth::{Auth, Feedback, use_auth};
use crate::components::{ErrorMessage, invalid};
use crate::orgs::AcceptInvitation;
use crate::remember::{self, Method};

/// An informational line, announced politely (`role="status"`).
#[component]
pub(crate) fn Notice(message: RwSignal<Option<String>>) -> impl IntoView {
    view! {
        <p class="kw-notice" role="status" aria-live="polite">{move || message.get()}</p>
    }
}

/// Runs a first factor's `answer`: signed in, or the sign-in waits for its second factor
/// (`<MfaChallenge/>` shows). Remembers `method` and `email` for the next visit.
pub(crate) async fn first_factor(
    auth: Auth,
    answer: Result<SignedIn, keyward_client::Error>,
    method: Method,
    email: &str,
) -> Result<(), keyward_client::Error> {
    match answer? {
        SignedIn::User(_) => {}
        SignedIn::MfaRequired { ticket } => auth.set_mfa_ticket(Some(ticket)),
    }
    remember::save(method, Some(email));
    Ok(())
}

/// What an emailed link asks for, read from the page's address (`?type=…&token=…`) and then
/// taken out of it (history and screenshots never keep a live token). Renders the matching
/// component: [`VerifyEmail`], [`ResetPassword`], an address change's confirmation, a
/// magic-link sign-in, or an invitation to join an organization ([`AcceptInvitation`]);
/// nothing when the page was not opened from a link.
#[component]
pub fn EmailedLink() -> impl IntoView {
    let Some((kind, token)) = take_link_from_address() else {
        return ().into_any();
    };
    match kind.as_str() {
        "verify_email" => view! { <VerifyEmail token=token/> }.into_any(),
        "reset_password" => view! { <ResetPassword token=token/> }.into_any(),
        "change_email" => view! { <ConfirmEmailChange token=token/> }.into_any(),
        "magic_link" => view! { <MagicLinkSignIn token=token/> }.into_any(),
        "org_invitation" => view! { <AcceptInvitation token=token/> }.into_any(),
        _ => ().into_any(),
    }
}

/// `type` and `token` of the address's query, removed from the address bar.
fn take_link_from_address() -> Option<(String, String)> {
    let [kind, token] = take_from_address(["type", "token"])?;
    Some((kind, token))
}

/// The query parameters `names` of the page's address, taken out of the address bar (so they
/// are neither bookmarked nor sent on), when all of them are there.
pub(crate) fn take_from_address<const N: usize>(names: [&str; N]) -> Option<[String; N]> {
    let window = web_sys::window()?;
    let location = window.location();
    let params = web_sys::UrlSearchParams::new_with_str(&location.search().ok()?).ok()?;
    let mut values = Vec::with_capacity(N);
    for name in names {
        values.push(params.get(name)?);
    }
    for name in names {
        params.delete(name);
    }
    let query = String::from(params.to_string());
    let query = if query.is_empty() {
        query
    } else {
        format!("?{query}")
    };
    let clean = format!(
        "{}{query}{}",
        location.pathname().ok()?,
        location.hash().ok()?
    );
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&clean));
    }
    values.try_into().ok()
}

/// With `token` (from a verification link): a button that confirms the address (opened from the
/// browser that signed up, or one signed in to the account: anywhere else, confirming takes the
/// address back from whoever signed up with it). Without: for a
/// signed-in user whose address is not verified, a notice and a button that sends the link
/// again; nothing otherwise.
#[component]
pub fn VerifyEmail(
    /// The verification link's token.
    #[prop(optional, into)]
    token: Option<String>,
) -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let notice = RwSignal::new(None::<String>);
    if let Some(token) = token {
        return on_click(
            token,
            "kw-verify-email",
            "Confirm my email address",
            |client, token| async move {
                let user = client.confirm_email(&token).await?;
                Ok(format!("{} is confirmed.", user.email))
            },
        )
        .into_any();
    }
    let resend = move |_| {
        auth.run_with(feedback, move |client: AuthClient| async move {
            client.send_verification().await?;
            notice.set(Some("A new link is on its way.".into()));
            Ok(())
        });
    };
    (move || {
        let user = auth.user().get().filter(|user| !user.email_verified)?;
        Some(view! {
            <section class="kw-verify-email" data-state="unverified">
                <p class="kw-notice">{format!("Confirm {} with the link we mailed you.", user.email)}</p>
                <button class="kw-button kw-resend" type="button" on:click=resend disabled=move || feedback.pending.get()>"Send the link again"</button>
                <Notice message=notice/>
                <ErrorMessage feedback=feedback/>
            </section>
        })
    })
    .into_any()
}

/// Asks for a password reset mail. The answer is the same whether or not the address has an
/// account.
#[component]
pub fn ForgotPassword(
    /// The page the mail's link opens (an allowed origin); the app's default page otherwise.
    #[prop(optional, into)]
    redirect_to: Option<String>,
) -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let notice = RwSignal::new(None::<String>);
    let email = RwSignal::new(remember::last_email());
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let address = email.get_untracked();
        if !address.contains('@') {
            return invalid(feedback, "invalid_email", "Enter your email address.");
        }
        let redirect_to = redirect_to.clone();
        auth.run_with(feedback, move |client| async move {
            client
                .forgot_password(&address, redirect_to.as_deref())
                .await?;
            notice.set(Some(format!(
                "If {address} has an account, a reset link is on its way."
            )));
            Ok(())
        });
    };
    let field = ("Email", "email", "username");
    email_form(
        "kw-forgot-password",
        field,
        "Mail me a reset link",
        email,
        submit,
        (feedback, notice),
    )
}

/// A form of one email field (`label`, `name`, `autocomplete`) and a submit button.
fn email_form(
    class: &'static str,
    (label, name, autocomplete): (&'static str, &'static str, &'static str),
    button: &'static str,
    email: RwSignal<String>,
    submit: impl FnMut(SubmitEvent) + 'static,
    (feedback, notice): (Feedback, RwSignal<Option<String>>),
) -> impl IntoView {
    view! {
        <form class=format!("kw-form {class}") on:submit=submit novalidate>
            <label class="kw-field">
                <span class="kw-label">{label}</span>
                <input class="kw-input" type="email" name=name autocomplete=autocomplete required bind:value=email/>
            </label>
            <Notice message=notice/>
            <ErrorMessage feedback=feedback/>
            <button class="kw-button" type="submit" disabled=move || feedback.pending.get()>{button}</button>
        </form>
    }
}

/// Chooses a new password with the token of a reset link. Every session of the account ends;
/// the next sign-in (with the new password) still asks for the second factor.
#[component]
pub fn ResetPassword(
    /// The reset link's token.
    #[prop(into)]
    token: String,
) -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let notice = RwSignal::new(None::<String>);
    let password = RwSignal::new(String::new());
    let done = RwSignal::new(false);
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let secret = password.get_untracked();
        if secret.chars().count() < 8 {
            return invalid(
                feedback,
                "weak_password",
                "Choose a password of at least 8 characters.",
            );
        }
        let token = token.clone();
        auth.run_with(feedback, move |client| async move {
            client.reset_password(&token, &secret).await?;
            done.set(true);
            notice.set(Some("Your password is changed: sign in with it.".into()));
            Ok(())
        });
    };
    view! {
        <form class="kw-form kw-reset-password" on:submit=submit novalidate data-state=move || if done.get() { "done" } else { "pending" }>
            <label class="kw-field">
                <span class="kw-label">"New password"</span>
                <input class="kw-input" type="password" name="new-password" autocomplete="new-password" minlength="8" required bind:value=password/>
            </label>
            <Notice message=notice/>
            <ErrorMessage feedback=feedback/>
            <button class="kw-button kw-primary" type="submit" disabled=move || feedback.pending.get() || done.get()>"Set the new password"</button>
        </form>
    }
}

/// Changes the signed-in user's password: the current one is asked for (and a recent sign-in
/// is needed); the user's other sessions end.
#[component]
pub fn ChangePassword() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let notice = RwSignal::new(None::<String>);
    let current = RwSignal::new(String::new());
    let next = RwSignal::new(String::new());
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let (old, new) = (current.get_untracked(), next.get_untracked());
        if new.chars().count() < 8 {
            return invalid(
                feedback,
                "weak_password",
                "Choose a password of at least 8 characters.",
            );
        }
        auth.run_with(feedback, move |client| async move {
            client.change_password(&old, &new).await?;
            current.set(String::new());
            next.set(String::new());
            notice.set(Some(
                "Password changed. Your other sessions were signed out.".into(),
            ));
            Ok(())
        });
    };
    view! {
        <form class="kw-form kw-change-password" on:submit=submit novalidate>
            <label class="kw-field">
                <span class="kw-label">"Current password"</span>
                <input class="kw-input" type="password" name="current-password" autocomplete="current-password" required bind:value=current/>
            </label>
            <label class="kw-field">
                <span class="kw-label">"New password"</span>
                <input class="kw-input" type="password" name="new-password" autocomplete="new-password" minlength="8" required bind:value=next/>
            </label>
            <Notice message=notice/>
            <ErrorMessage feedback=feedback/>
            <button class="kw-button kw-primary" type="submit" disabled=move || feedback.pending.get()>"Change password"</button>
        </form>
    }
}

/// Moves the signed-in account to another address (a recent sign-in is needed): a link goes
/// there, a notice to the current one; the address changes when the link is opened here.
#[component]
pub fn ChangeEmail() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let notice = RwSignal::new(None::<String>);
    let email = RwSignal::new(String::new());
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let address = email.get_untracked();
        if !address.contains('@') {
            return invalid(feedback, "invalid_email", "Enter the new address.");
        }
        auth.run_with(feedback, move |client| async move {
            client.change_email(&address, None).await?;
            notice.set(Some(format!(
                "Open the link we mailed to {address}, in this browser."
            )));
            Ok(())
        });
    };
    let field = ("New email", "new-email", "email");
    email_form(
        "kw-change-email",
        field,
        "Change email",
        email,
        submit,
        (feedback, notice),
    )
}

/// Confirms an address change from its link (in the browser that asked for it).
#[component]
fn ConfirmEmailChange(token: String) -> impl IntoView {
    on_click(
        token,
        "kw-confirm-email-change",
        "Confirm my new address",
        |client, token| async move {
            let user = client.confirm_email_change(&token).await?;
            Ok(format!("Your address is now {}.", user.email))
        },
    )
}

thread_local! {
    /// Whether this page signed in, or began to, with a mailed link's token.
    static BY_MAILED_LINK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this page signed in, or began to, with a mailed link's token. Anyone may hand out a
/// link to their own account, beside whatever else they put in the address: such a sign-in is
/// not by itself a choice to go on to another app.
pub(crate) fn signed_in_by_mailed_link() -> bool {
    BY_MAILED_LINK.get()
}

/// Signs in with a magic link's token.
#[component]
fn MagicLinkSignIn(token: String) -> impl IntoView {
    let auth = use_auth();
    on_click(
        token,
        "kw-magic-link-sign-in",
        "Sign in",
        move |client, token| async move {
            BY_MAILED_LINK.set(true);
            let answer = client.complete_magic_link(&token).await;
            let email = client.user().map(|user| user.email).unwrap_or_default();
            first_factor(auth, answer, Method::MagicLink, &email).await?;
            Ok("Signed in.".into())
        },
    )
}

/// A mailed link's action behind a button (`label`): a mail scanner that runs the page must not
/// confirm an address or sign itself in. The section (class `class`) has `data-state`
/// `ready`, then `done`.
fn on_click<F, Fut>(
    token: String,
    class: &'static str,
    label: &'static str,
    action: F,
) -> impl IntoView
where
    F: FnOnce(AuthClient, String) -> Fut + 'static,
    Fut: Future<Output = Result<String, keyward_client::Error>> + 'static,
{
    let auth = use_auth();
    let feedback = Feedback::new();
    let notice = RwSignal::new(None::<String>);
    let action = StoredValue::new_local(Some((token, action)));
    let click = move |_| {
        let Some((token, action)) = action.try_update_value(Option::take).flatten() else {
            return;
        };
        auth.run_with(feedback, move |client| async move {
            notice.set(Some(action(client, token).await?));
            Ok(())
        });
    };
    view! {
        <section class=class data-state=move || if notice.get().is_some() { "done" } else { "ready" }>
            <button class="kw-button kw-primary kw-link-confirm" type="button" on:click=click
                disabled=move || feedback.pending.get() || auth.state().get() == keyward_client::AuthState::Loading
                hidden=move || notice.get().is_some()>{label}</button>
            <Notice message=notice/>
            <ErrorMessage feedback=feedback/>
        </section>
    }
}

/// Sign-in by email: a link and a 6-digit code are mailed; the code typed here (or the link
/// opened on any device) signs in. Hidden while a sign-in waits for its second factor.
#[component]
pub fn MagicLinkForm(
    /// The page the mail's link opens (an allowed origin); the app's default page otherwise.
    #[prop(optional, into)]
    redirect_to: Option<String>,
) -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let notice = RwSignal::new(None::<String>);
    let email = RwSignal::new(remember::last_email());
    let code = RwSignal::new(String::new());
    let sent = RwSignal::new(false);
    let send = move |event: SubmitEvent| {
        event.prevent_default();
        let address = email.get_untracked();
        if !address.contains('@') {
            return invalid(feedback, "invalid_email", "Enter your email address.");
        }
        let redirect_to = redirect_to.clone();
        auth.run_with(feedback, move |client| async move {
            client
                .send_magic_link(&address, redirect_to.as_deref())
                .await?;
            sent.set(true);
            notice.set(Some(format!(
                "Check {address}: open the link, or type its code here."
            )));
            Ok(())
        });
    };
    let verify = move |event: SubmitEvent| {
        event.prevent_default();
        let (address, typed) = (email.get_untracked(), code.get_untracked());
        auth.run_with(feedback, move |client| async move {
            let answer = client
                .complete_magic_link_code(&address, typed.trim())
                .await;
            first_factor(auth, answer, Method::MagicLink, &address).await
        });
    };
    view! {
        <div class="kw-magic-link" hidden=move || auth.mfa_ticket().get().is_some()>
            <form class="kw-form kw-magic-link-form" on:submit=send novalidate>
                <label class="kw-field">
                    <span class="kw-label">"Email"</span>
                    <input class="kw-input" type="email" name="email" autocomplete="username" required bind:value=email/>
                </label>
                <button class="kw-button" type="submit" disabled=move || feedback.pending.get()>"Email me a sign-in link"</button>
            </form>
            <form class="kw-form kw-magic-code-form" on:submit=verify novalidate hidden=move || !sent.get()>
                <label class="kw-field">
                    <span class="kw-label">"Code from the mail"</span>
                    <input class="kw-input" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" bind:value=code/>
                </label>
                <button class="kw-button kw-primary" type="submit" disabled=move || feedback.pending.get()>"Sign in"</button>
            </form>
            <Notice message=notice/>
            <ErrorMessage feedback=feedback/>
        </div>
    }
}

/// The second step of a sign-in on an account with a second factor: a code from the
/// authenticator app, or a recovery code. Shows only while a sign-in waits for it (after
/// `<SignInForm/>` or `<MagicLinkForm/>`).
#[component]
pub fn MfaChallenge() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let code = RwSignal::new(String::new());
    let recovery = RwSignal::new(String::new());
    let finish = move |recovering: bool| {
        let Some(ticket) = auth.mfa_ticket().get_untracked() else {
            return;
        };
        let typed = if recovering {
            recovery.get_untracked()
        } else {
            code.get_untracked()
        };
        auth.run_with(feedback, move |client| async move {
            let outcome = if recovering {
                client.recover_mfa(&ticket, typed.trim()).await
            } else {
                client.verify_mfa(&ticket, typed.trim()).await
            };
            match outcome {
                Ok(_) => {
                    auth.set_mfa_ticket(None);
                    Ok(())
                }
                // The sign-in is over (5 minutes, or too many wrong codes): start again.
                Err(error) if error.code() == "invalid_ticket" => {
                    auth.set_mfa_ticket(None);
                    Err(error)
                }
                Err(error) => Err(error),
            }
        });
    };
    let verify = move |event: SubmitEvent| {
        event.prevent_default();
        finish(false);
    };
    let recover = move |event: SubmitEvent| {
        event.prevent_default();
        finish(true);
    };
    move || {
        auth.mfa_ticket().get()?;
        Some(view! {
            <section class="kw-mfa-challenge">
                <form class="kw-form kw-mfa-code-form" on:submit=verify novalidate>
                    <label class="kw-field">
                        <span class="kw-label">"Code from your authenticator app"</span>
                        <input class="kw-input" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" bind:value=code/>
                    </label>
                    <button class="kw-button kw-primary" type="submit" disabled=move || feedback.pending.get()>"Verify"</button>
                </form>
                <form class="kw-form kw-mfa-recovery-form" on:submit=recover novalidate>
                    <label class="kw-field">
                        <span class="kw-label">"Or a recovery code"</span>
                        <input class="kw-input" type="text" name="recovery-code" autocomplete="off" bind:value=recovery/>
                    </label>
                    <button class="kw-button" type="submit" disabled=move || feedback.pending.get()>"Use the recovery code"</button>
                </form>
                <button class="kw-button kw-cancel" type="button" on:click=move |_| auth.set_mfa_ticket(None)>"Cancel"</button>
                <ErrorMessage feedback=feedback/>
            </section>
        })
    }
}

/// Turns on a second factor: shows the QR code and secret for an authenticator app, confirms
/// with its first code, then shows the ten recovery codes once. On an account that has one,
/// offers new recovery codes and turning it off (each with a current code).
#[component]
pub fn MfaSetup() -> impl IntoView {
    let auth = use_auth();
    let feedback = Feedback::new();
    let notice = RwSignal::new(None::<String>);
    let enrolment = RwSignal::new(None::<TotpEnrolment>);
    let codes = RwSignal::new(Vec::<String>::new());
    let enabled = RwSignal::new(false);
    let code = RwSignal::new(String::new());
    let start = move |_| {
        auth.run_with(feedback, move |client| async move {
            match client.enrol_totp().await {
                Ok(started) => {
                    enrolment.set(Some(started));
                    Ok(())
                }
                Err(error) if error.code() == "mfa_already_enabled" => {
                    enabled.set(true);
                    Ok(())
                }
                Err(error) => Err(error),
            }
        });
    };
    let confirm = move |event: SubmitEvent| {
        event.prevent_default();
        let typed = code.get_untracked();
        auth.run_with(feedback, move |client| async move {
            codes.set(client.confirm_totp(typed.trim()).await?);
            enrolment.set(None);
            enabled.set(true);
            code.set(String::new());
            notice.set(Some(
                "Two-factor authentication is on. Keep these recovery codes somewhere safe: they are shown once.".into(),
            ));
            Ok(())
        });
    };
    let manage = move |disable: bool| {
        let typed = code.get_untracked();
        auth.run_with(feedback, move |client| async move {
            if disable {
                client.disable_totp(typed.trim()).await?;
                enabled.set(false);
                codes.set(Vec::new());
                notice.set(Some("Two-factor authentication is off.".into()));
            } else {
                codes.set(client.regenerate_recovery_codes(typed.trim()).await?);
                notice.set(Some(
                    "New recovery codes; the old ones no longer work.".into(),
                ));
            }
            code.set(String::new());
            Ok(())
        });
    };
    let qr = move || {
        enrolment.get().map(|started| {
            // An image, not markup: the server's SVG never becomes part of the page's DOM.
            let source = format!(
                "data:image/svg+xml,{}",
                String::from(js_sys::encode_uri_component(&started.qr_svg))
            );
            view! {
                <div class="kw-mfa-enrolment">
                    <img class="kw-mfa-qr" src=source alt="QR code for your authenticator app" width="200" height="200"/>
                    <p class="kw-item-detail">"Or type this key: " <code class="kw-mfa-secret">{started.secret}</code></p>
                    <form class="kw-form kw-mfa-confirm-form" on:submit=confirm novalidate>
                        <label class="kw-field">
                            <span class="kw-label">"First code from the app"</span>
                            <input class="kw-input" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" bind:value=code/>
                        </label>
                        <button class="kw-button kw-primary" type="submit" disabled=move || feedback.pending.get()>"Turn on"</button>
                    </form>
                </div>
            }
        })
    };
    view! {
        <section class="kw-mfa-setup" data-state=move || if enabled.get() { "on" } else { "off" }>
            <button class="kw-button kw-mfa-start" type="button" on:click=start hidden=move || enabled.get() || enrolment.get().is_some()>"Set up two-factor authentication"</button>
            {qr}
            <ol class="kw-list kw-recovery-codes">
                <For each=move || codes.get() key=|c| c.clone() let(recovery)>
                    <li><code>{recovery}</code></li>
                </For>
            </ol>
            <form class="kw-form kw-mfa-manage" novalidate hidden=move || !enabled.get() on:submit=move |event: SubmitEvent| event.prevent_default()>
                <label class="kw-field">
                    <span class="kw-label">"Current code (or a recovery code)"</span>
                    <input class="kw-input" type="text" name="code" autocomplete="one-time-code" bind:value=code/>
                </label>
                <button class="kw-button kw-mfa-regenerate" type="button" on:click=move |_| manage(false) disabled=move || feedback.pending.get()>"New recovery codes"</button>
                <button class="kw-button kw-mfa-disable" type="button" on:click=move |_| manage(true) disabled=move || feedback.pending.get()>"Turn off"</button>
            </form>
            <Notice message=notice/>
            <ErrorMessage feedback=feedback/>
        </section>
    }
}
