//! The components mounted in headless Chromium: validation, error display, pending states and
//! the signed-out / signed-in transitions.
#![cfg(target_arch = "wasm32")]

use keyward_client::vault::{StoredSession, Vault};
use keyward_leptos::*;
use keyward_proto::{TokenType, Tokens};
use leptos::mount::mount_to;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

/// Nothing listens there: every request fails as a network error.
const UNREACHABLE: &str = "http://127.0.0.1:9/auth";

fn container() -> HtmlElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let div = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&div).unwrap();
    div.unchecked_into()
}

/// Lets the reactive system and pending promises run.
async fn settle(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

fn find(root: &Element, selector: &str) -> Element {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no {selector}"))
}

fn text(root: &Element, selector: &str) -> String {
    find(root, selector).text_content().unwrap_or_default()
}

fn type_into(root: &Element, selector: &str, value: &str) {
    let input: HtmlInputElement = find(root, selector).unchecked_into();
    input.set_value(value);
    input
        .dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
}

fn submit(root: &Element, selector: &str) {
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = web_sys::Event::new_with_event_init_dict("submit", &init).unwrap();
    find(root, selector).dispatch_event(&event).unwrap();
}

async fn client(storage: &str, memory_only: bool) -> AuthClient {
    AuthClient::new(Options {
        server_url: UNREACHABLE.into(),
        storage_name: storage.into(),
        memory_only,
        api_origins: Vec::new(),
    })
    .await
}

#[wasm_bindgen_test]
async fn the_sign_in_form_checks_its_input_then_reports_the_server_being_unreachable() {
    let client = client("kw-leptos-form", true).await;
    let root = container();
    let _mounted = mount_to(root.clone(), move || {
        view! { <AuthProvider client=client><SignInForm/></AuthProvider> }
    });
    let root: Element = root.into();
    let email: HtmlInputElement = find(&root, "input[type=email]").unchecked_into();
    assert_eq!(email.autocomplete(), "username webauthn");
    let password: HtmlInputElement = find(&root, "input[type=password]").unchecked_into();
    assert_eq!(password.autocomplete(), "current-password");
    assert_eq!(
        find(&root, ".kw-error").get_attribute("role").as_deref(),
        Some("alert")
    );

    submit(&root, "form");
    settle(0).await;
    assert_eq!(text(&root, ".kw-error"), "Enter your email address.");

    type_into(&root, "input[type=email]", "ada@example.com");
    submit(&root, "form");
    settle(0).await;
    assert_eq!(text(&root, ".kw-error"), "Enter your password.");

    type_into(&root, "input[type=password]", "correct horse battery");
    submit(&root, "form");
    let button: web_sys::HtmlButtonElement = find(&root, "button[type=submit]").unchecked_into();
    settle(0).await;
    assert!(button.disabled(), "disabled while the request runs");
    settle(1500).await;
    assert!(!button.disabled());
    assert_eq!(
        text(&root, ".kw-error"),
        "The server cannot be reached. Check your connection."
    );
}

#[wasm_bindgen_test]
async fn sign_up_refuses_a_short_password_before_sending() {
    let client = client("kw-leptos-signup", true).await;
    let root = container();
    let _mounted = mount_to(root.clone(), move || {
        view! { <AuthProvider client=client><SignUpForm/></AuthProvider> }
    });
    let root: Element = root.into();
    let password: HtmlInputElement = find(&root, "input[type=password]").unchecked_into();
    assert_eq!(password.autocomplete(), "new-password");
    type_into(&root, "input[type=email]", "new@example.com");
    type_into(&root, "input[type=password]", "short");
    submit(&root, "form");
    settle(0).await;
    assert_eq!(
        text(&root, ".kw-error"),
        "Choose a password of at least 8 characters."
    );
}

#[wasm_bindgen_test]
async fn require_auth_follows_the_session_from_signed_in_to_signed_out() {
    const STORAGE: &str = "kw-leptos-session";
    keyward_client::idb::Database::delete_database(STORAGE)
        .await
        .unwrap();
    let now = js_sys::Date::now() as i64;
    Vault::open(STORAGE)
        .await
        .0
        .save(&StoredSession {
            user: User {
                id: "user-1".into(),
                email: "grace@example.com".into(),
                email_verified: true,
                name: Some("Grace".into()),
                created_at: "2026-11-22T00:00:00Z".into(),
            },
            session_id: "session-1".into(),
            tokens: Tokens {
                access_token: "access".into(),
                refresh_token: "refresh".into(),
                token_type: TokenType::Bearer,
                expires_in: 900,
            },
            issued_at: now,
            expires_at: now + 900_000,
        })
        .await
        .unwrap();
    let client = client(STORAGE, false).await;
    let root = container();
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <AuthProvider client=client>
                <RequireAuth fallback=|| view! { <p class="signed-out">"Please sign in"</p> }>
                    <UserMenu/>
                </RequireAuth>
            </AuthProvider>
        }
    });
    let root: Element = root.into();
    settle(0).await;
    assert_eq!(text(&root, ".kw-user-name"), "Grace");
    assert!(root.query_selector(".signed-out").unwrap().is_none());

    // Signing out works locally even though the server cannot be told.
    let button: HtmlElement = find(&root, ".kw-sign-out").unchecked_into();
    button.click();
    settle(1500).await;
    assert_eq!(text(&root, ".signed-out"), "Please sign in");
    assert!(root.query_selector(".kw-user-menu").unwrap().is_none());
}
