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
//! | [`KeywardStyles`] | an optional stylesheet; without it everything is unstyled, with stable `kw-*` classes |

mod auth;
mod components;

pub use auth::{Auth, AuthError, Feedback, use_auth};
pub use components::{
    AuthProvider, KeywardStyles, PasskeyButton, RequireAuth, SessionList, SignInForm,
    SignOutButton, SignUpForm, UserMenu,
};
pub use keyward_client::{self, AuthClient, AuthState, Options, User};
