//! Leptos 0.8 components and hooks for Keyward, built directly on the `keyward-client` Rust API
//! (no JavaScript hop).
//!
//! Three lines give an app sign-in, protected views and a security page:
//!
//! ```no_run
//! use keyward_leptos::*;
//! use leptos::prelude::*;
//!
//! #[component]
//! fn App() -> impl IntoView {
//!     view! {
//!         <AuthProvider server_url="/auth">
//!             <RequireAuth fallback=|| view! { <SignInForm/> <SignUpForm/> }>
//!                 <UserMenu/> <SessionList/>
//!             </RequireAuth>
//!         </AuthProvider>
//!     }
//! }
//!
//! fn main() {
//!     leptos::mount::mount_to_body(App);
//! }
//! ```
//!
//! | piece | what |
//! |---|---|
//! | [`AuthProvider`] | creates (or takes) the client; renders a stable loading state until the stored session is read |
//! | [`use_auth`] | the reactive state (`state`, `user`, `error`, `pending`) and the actions |
//! | [`RequireAuth`] | its children when signed in (or offline), a fallback otherwise |
//! | [`SignInForm`], [`SignUpForm`] | labelled, `autocomplete`d, errors announced, disabled while pending |
//! | [`PasskeyButton`] | sign in with, or register, a passkey; hidden where passkeys are unsupported |
//! | [`SignOutButton`], [`UserMenu`] | who is signed in, and the way out |
//! | [`SessionList`] | sessions, devices and passkeys, with revoke; the current ones marked |
//! | [`EmailedLink`] | the page opened from a mailed link: confirms the address, resets the password, confirms an address change or signs in by magic link (and takes the token out of the address bar) |
//! | [`VerifyEmail`], [`ForgotPassword`], [`ResetPassword`], [`ChangePassword`], [`ChangeEmail`] | the account lifecycle's forms |
//! | [`MagicLinkForm`] | sign-in by a mailed link or its 6-digit code |
//! | [`MfaSetup`], [`MfaChallenge`] | TOTP: the QR code and recovery codes; the second step of a sign-in |
//! | [`OAuthButtons`] | "Continue with …" for each OpenID Connect provider; finishes the sign-in on the page the provider sends the browser back to |
//! | [`LinkedAccounts`] | the providers linked to the account, with unlink and link (finished on return) |
//! | [`OrgSwitcher`], [`CreateOrgForm`] | the user's organizations and their roles; choosing one makes it the session's active one |
//! | [`MemberList`], [`InviteForm`] | the active organization's members (role change, remove, transfer, leave) and invitations (invite by email, resend, revoke) |
//! | [`AcceptInvitation`] | joins from an invitation's link (`<EmailedLink/>` shows it) |
//! | [`RequirePermission`], [`use_permission`] | its children, or a signal, by what the active organization's role grants (`todos:write`), from the session's token |
//! | [`ContinueAuthorization`] | on the page other apps send users to when Keyward is their OpenID Connect provider (setting `oidc_sign_in_page`): once signed in by any form there, goes on to consent or back to that app |
//! | [`ConnectedApps`] | the other apps the user let sign them in, with disconnect |
//! | [`SignInChoices`], [`AccountSecurity`] | whole panels: every way to sign in (and a new account), every security setting |
//! | [`KeywardStyles`] | an optional stylesheet; without it everything is unstyled, with stable `kw-*` classes |
//!
//! The sign-in forms remember the last way this browser signed in, and the address (in
//! `localStorage`; nothing secret), and mark it "Last used".

mod auth;
mod components;
mod lifecycle;
mod oauth;
mod orgs;
mod panels;
mod provider;
mod remember;

pub use auth::{Auth, AuthError, Feedback, use_auth};
pub use components::{
    AuthProvider, KeywardStyles, PasskeyButton, RequireAuth, SessionList, SignInForm,
    SignOutButton, SignUpForm, UserMenu,
};
pub use keyward_client::{self, ActiveOrg, AuthClient, AuthState, Options, SignedIn, User};
pub use lifecycle::{
    ChangeEmail, ChangePassword, EmailedLink, ForgotPassword, MagicLinkForm, MfaChallenge,
    MfaSetup, ResetPassword, VerifyEmail,
};
pub use oauth::{LinkedAccounts, OAuthButtons};
pub use orgs::{
    AcceptInvitation, CreateOrgForm, InviteForm, MemberList, OrgSwitcher, RequirePermission,
    use_permission,
};
pub use panels::{AccountSecurity, SignInChoices};
pub use provider::{ConnectedApps, ContinueAuthorization};
pub use remember::{LastSignIn, Method as SignInMethod};
