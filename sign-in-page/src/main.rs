//! The sign-in page Keyward ships, for `keyward serve` as the OpenID Connect provider of the
//! operator's apps when no app of theirs has a sign-in page on Keyward's origin. Built by
//! `cargo xtask sign-in-page` (release) or `cargo xtask test` (debug) into a directory that
//! `keyward serve --static-dir <dir> --oidc-sign-in-page /` serves.
//!
//! Another app sends the user here (`/?oidc_req=…`); they sign in by any way the server offers
//! (password and the authenticator code, a passkey, a provider, a link by email) and the page goes
//! on to consent and back to that app. Mailed links open here too when `app_url` is this origin
//! (by default it is the first allowed origin: the issuer's, unless other apps are listed).
//! Signed in, the page is the account's security page: sessions, passkeys, two-factor, and the
//! apps the user let sign in, with disconnect.

use keyward_leptos::*;
use leptos::prelude::*;

fn main() {
    mount_to_body(Page);
}

#[component]
fn Page() -> impl IntoView {
    let origin = window().location().origin().unwrap_or_default();
    view! {
        <KeywardStyles/>
        <AuthProvider server_url=format!("{origin}/auth")>
            <header class="page-header">
                <strong class="page-name">"Your account"</strong>
                <UserMenu/>
            </header>
            <main class="page-main">
                <EmailedLink/>
                <ContinueAuthorization/>
                <RequireAuth fallback=|| view! { <SignInChoices/> }>
                    <AccountSecurity/>
                </RequireAuth>
            </main>
        </AuthProvider>
    }
}
