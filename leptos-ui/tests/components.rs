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

/// A session of Grace's in the vault `storage`, with `access_token`.
async fn store_session(storage: &str, access_token: &str) {
    keyward_client::idb::Database::delete_database(storage)
        .await
        .unwrap();
    let now = js_sys::Date::now() as i64;
    Vault::open(storage)
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
                access_token: access_token.into(),
                refresh_token: "refresh".into(),
                token_type: TokenType::Bearer,
                expires_in: 900,
            },
            issued_at: now,
            expires_at: now + 900_000,
        })
        .await
        .unwrap();
}

/// A JWT with `claims` (unsigned: the client reads claims, the server checks signatures).
fn token_with(claims: &str) -> String {
    let payload = web_sys::window().unwrap().btoa(claims).unwrap();
    let payload = payload
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_");
    format!("eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln")
}

#[wasm_bindgen_test]
async fn require_auth_follows_the_session_from_signed_in_to_signed_out() {
    const STORAGE: &str = "kw-leptos-session";
    store_session(STORAGE, "access").await;
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

#[wasm_bindgen_test]
async fn permission_gates_follow_what_the_token_grants_in_the_active_organization() {
    const STORAGE: &str = "kw-leptos-org";
    // The note makes `+` and `/` in plain base64: the payload is read as base64url.
    let claims = r#"{"sub":"user-1","note":"???>>>~~~","org":"org-1","org_role":"member","permissions":["*:read","todos:*"]}"#;
    let token = token_with(claims);
    assert!(token.contains('-') && token.contains('_'), "{token}");
    store_session(STORAGE, &token).await;
    let client = client(STORAGE, false).await;
    let active = client.active_org().unwrap();
    assert_eq!(
        (active.id.as_str(), active.role.as_str()),
        ("org-1", "member")
    );
    assert!(client.can("todos:write") && client.can("billing:read"));
    assert!(!client.can("billing:update"), "*:read grants reading only");
    assert!(!client.can("todo:write"), "todos:* grants nothing of todo");
    let root = container();
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <AuthProvider client=client>
                <RequirePermission permission="todos:write">
                    <p class="writer">"You can write"</p>
                </RequirePermission>
                <RequirePermission permission="members:invite" fallback=|| view! { <p class="no-invite">"Ask an admin"</p> }>
                    <p class="inviter">"Invite"</p>
                </RequirePermission>
            </AuthProvider>
        }
    });
    let root: Element = root.into();
    settle(0).await;
    assert_eq!(text(&root, ".writer"), "You can write");
    assert_eq!(text(&root, ".no-invite"), "Ask an admin");
    assert!(root.query_selector(".inviter").unwrap().is_none());
}

#[wasm_bindgen_test]
async fn without_an_active_organization_nothing_is_permitted() {
    const STORAGE: &str = "kw-leptos-no-org";
    store_session(
        STORAGE,
        &token_with(r#"{"sub":"user-1","permissions":["*:*"]}"#),
    )
    .await;
    let signed_in = client(STORAGE, false).await;
    assert_eq!(signed_in.active_org(), None);
    assert!(
        !signed_in.can("todos:read"),
        "permissions without an organization grant nothing"
    );
    store_session("kw-leptos-bad-token", "not a token").await;
    let garbled = client("kw-leptos-bad-token", false).await;
    assert_eq!(garbled.active_org(), None);
}
