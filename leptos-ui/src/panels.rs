//! Whole panels made of the other components, for a page that wants every way in or every
//! setting at once: the demo app's pages and the sign-in page Keyward ships.

use leptos::prelude::*;

use crate::components::{PasskeyButton, SessionList, SignInForm, SignUpForm};
use crate::lifecycle::{
    ChangeEmail, ChangePassword, ForgotPassword, MagicLinkForm, MfaChallenge, MfaSetup, VerifyEmail,
};
use crate::oauth::{LinkedAccounts, OAuthButtons};
use crate::provider::ConnectedApps;

/// Every way to sign in: the authenticator step when a sign-in asks for it, the password form, a
/// passkey, each OpenID Connect provider the server offers, a link by email, and the way back
/// from a forgotten password; beside them, unless `sign_up` is false, a new account.
#[component]
pub fn SignInChoices(
    /// Whether to offer a new account beside signing in.
    #[prop(default = true)]
    sign_up: bool,
) -> impl IntoView {
    view! {
        <div class="kw-sign-in-choices">
            <section class="kw-sign-in-choice">
                <h2 class="kw-heading">"Sign in"</h2>
                <MfaChallenge/>
                <SignInForm/>
                <PasskeyButton/>
                <OAuthButtons/>
                <details class="kw-sign-in-by-mail">
                    <summary>"Sign in with a link by email"</summary>
                    <MagicLinkForm/>
                </details>
                <details class="kw-forgot">
                    <summary>"Forgot your password?"</summary>
                    <ForgotPassword/>
                </details>
            </section>
            {sign_up.then(|| view! {
                <section class="kw-sign-up-choice">
                    <h2 class="kw-heading">"Create an account"</h2>
                    <SignUpForm/>
                </section>
            })}
        </div>
    }
}

/// The signed-in user's security page: the address's verification, two-factor authentication,
/// the password, the address, sessions, devices and passkeys, linked providers, and the apps
/// that sign in with this account.
#[component]
pub fn AccountSecurity() -> impl IntoView {
    view! {
        <div class="kw-account-security">
            <VerifyEmail/>
            <h3 class="kw-heading">"Two-factor authentication"</h3>
            <MfaSetup/>
            <h3 class="kw-heading">"Password"</h3>
            <ChangePassword/>
            <h3 class="kw-heading">"Email address"</h3>
            <ChangeEmail/>
            <SessionList/>
            <LinkedAccounts/>
            <ConnectedApps/>
        </div>
    }
}
