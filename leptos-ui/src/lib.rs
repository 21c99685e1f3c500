//! Leptos 0.8 components and hooks for Keyward, built directly on the `keyward-client` Rust API
//! (no JavaScript hop).
//!
//! This crate is the foundation's placeholder: it compiles against Leptos 0.8 and the client
//! crate, and exports nothing yet. `<AuthProvider>`, `use_auth()`, `<RequireAuth>`, the sign-in
//! and sign-up forms, `<PasskeyButton>` and `<SessionList>` arrive with the client core; the
//! README's feature table says what works today.

pub use keyward_client;
