//! The Keyward demo app, in Leptos (client-side rendered). Built and served by
//! `cargo xtask demo` at http://localhost:8787, together with the server and the example API
//! (`examples/axum-api`), whose `/api/todos` the protected page calls with `auth.fetch`.

use keyward_leptos::*;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

fn main() {
    mount_to_body(App);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Page {
    Home,
    Todos,
    Team,
    Security,
}

impl Page {
    fn from_hash(hash: &str) -> Self {
        match hash {
            "#todos" => Self::Todos,
            "#team" => Self::Team,
            "#security" => Self::Security,
            _ => Self::Home,
        }
    }
}

fn current_hash() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

#[component]
fn App() -> impl IntoView {
    let page = RwSignal::new(Page::from_hash(&current_hash()));
    let on_hash = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
        page.set(Page::from_hash(&current_hash()));
    });
    if let Some(window) = web_sys::window() {
        window.set_onhashchange(Some(on_hash.as_ref().unchecked_ref()));
    }
    on_hash.forget();
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    view! {
        <KeywardStyles/>
        <AuthProvider server_url=format!("{origin}/auth")>
            <header class="app-header">
                <strong class="app-name">"Keyward"</strong>
                <nav>
                    <a href="#">"Home"</a>
                    <a href="#todos">"Todos"</a>
                    <a href="#team">"Team"</a>
                    <a href="#security">"Security"</a>
                </nav>
                <UserMenu/>
            </header>
            <main class="app-main">
                // A page opened from a mailed link: verification, reset, address change, magic
                // link, invitation.
                <EmailedLink/>
                // Another app sent the user here to sign in (Keyward as its OpenID Connect
                // provider, `--oidc-sign-in-page /`): once signed in, back to it.
                <ContinueAuthorization/>
                {move || match page.get() {
                    Page::Home => view! { <Home/> }.into_any(),
                    Page::Todos => view! {
                        <RequireAuth fallback=|| view! { <SignInChoices/> }>
                            <Todos/>
                        </RequireAuth>
                    }.into_any(),
                    Page::Team => view! {
                        <RequireAuth fallback=|| view! { <SignInChoices/> }>
                            <Team/>
                        </RequireAuth>
                    }.into_any(),
                    Page::Security => view! {
                        <RequireAuth fallback=|| view! { <SignInChoices/> }>
                            <h2>"Security"</h2>
                            <AccountSecurity/>
                        </RequireAuth>
                    }.into_any(),
                }}
            </main>
        </AuthProvider>
    }
}

#[component]
fn Home() -> impl IntoView {
    view! {
        <h1>"Authentication, in Rust from the browser to the database"</h1>
        <p>"Sign up, then visit the protected Todos page: it calls an API protected by Keyward's extractor, with a device-bound (DPoP) token."</p>
        <RequireAuth fallback=|| view! { <SignInChoices/> }>
            <p class="welcome">"You are signed in. Try the " <a href="#todos">"Todos"</a> " page, or review your " <a href="#security">"sessions and devices"</a> "."</p>
        </RequireAuth>
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Todo {
    title: String,
}

/// Calls the example API's `path` with the client's `fetch` (token and DPoP proof added).
async fn api(
    auth: Auth,
    method: &str,
    path: &str,
    body: Option<&Todo>,
) -> Result<Vec<Todo>, String> {
    let client = auth.client().ok_or("not ready")?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(todo) = body {
        let headers = web_sys::Headers::new().map_err(|_| "headers")?;
        headers
            .set("content-type", "application/json")
            .map_err(|_| "headers")?;
        init.set_headers(&headers);
        let json = serde_wasm_bindgen::to_value(todo).map_err(|e| e.to_string())?;
        let text = js_sys::JSON::stringify(&json).map_err(|_| "json")?;
        init.set_body(&text.into());
    }
    let request = web_sys::Request::new_with_str_and_init(path, &init).map_err(|_| "request")?;
    let response = client.fetch(request).await.map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("the API answered {}", response.status()));
    }
    let json = JsFuture::from(response.json().map_err(|_| "body")?)
        .await
        .map_err(|_| "body")?;
    serde_wasm_bindgen::from_value::<Vec<Todo>>(json).map_err(|e| e.to_string())
}

/// A to-do list the example API keeps at `path`: its items, a status line and the new item's
/// title.
#[derive(Clone, Copy)]
struct TodoList {
    auth: Auth,
    path: &'static str,
    /// What the status line counts ("todo(s)", "team todo(s)").
    noun: &'static str,
    todos: RwSignal<Vec<Todo>>,
    status: RwSignal<String>,
    title: RwSignal<String>,
}

impl TodoList {
    fn new(auth: Auth, path: &'static str, noun: &'static str) -> Self {
        Self {
            auth,
            path,
            noun,
            todos: RwSignal::new(Vec::new()),
            status: RwSignal::new(String::from("Loading…")),
            title: RwSignal::new(String::new()),
        }
    }

    /// Calls the API (`GET`, or `POST` with `body`) and shows its answer.
    fn call(self, method: &'static str, body: Option<Todo>) {
        leptos::task::spawn_local(async move {
            match api(self.auth, method, self.path, body.as_ref()).await {
                Ok(list) => {
                    let count = list.len();
                    self.status
                        .set(format!("{count} {}, from the protected API", self.noun));
                    self.todos.set(list);
                }
                Err(error) => self.status.set(format!("The API call failed: {error}")),
            }
        });
    }

    /// The status line, of class `class`.
    fn status_line(self, class: &'static str) -> impl IntoView {
        let status = self.status;
        view! { <p class=class aria-live="polite">{move || status.get()}</p> }
    }

    /// The items, in a list of class `class`.
    fn items(self, class: &'static str) -> impl IntoView {
        let todos = self.todos;
        view! {
            <ul class=class>
                <For each=move || todos.get().into_iter().enumerate() key=|(i, t)| (*i, t.title.clone()) let((_, todo))>
                    <li>{todo.title}</li>
                </For>
            </ul>
        }
    }

    /// The form that adds one (its field labelled `label`), of class `class`.
    fn form(self, class: &'static str, label: &'static str) -> impl IntoView {
        let title = self.title;
        view! {
            <form class=format!("kw-form {class}") on:submit=move |event| self.add(event)>
                <label class="kw-field">
                    <span class="kw-label">{label}</span>
                    <input class="kw-input" name="title" autocomplete="off" bind:value=title/>
                </label>
                <button class="kw-button kw-primary" type="submit">"Add"</button>
            </form>
        }
    }

    /// Adds the typed title.
    fn add(self, event: leptos::ev::SubmitEvent) {
        event.prevent_default();
        let title = self.title.get_untracked();
        if title.trim().is_empty() {
            return;
        }
        self.title.set(String::new());
        self.call("POST", Some(Todo { title }));
    }
}

#[component]
fn Todos() -> impl IntoView {
    let list = TodoList::new(use_auth(), "/api/todos", "todo(s)");
    list.call("GET", None);
    view! {
        <h2>"Todos"</h2>
        {list.status_line("api-status")}
        {list.form("todo-form", "New todo")}
        {list.items("todos")}
    }
}

/// Teams: the user's organizations, the active one's to-dos (an API route that checks
/// `todos:read`, and a form shown only where the role grants `todos:write`), its members and
/// invitations.
#[component]
fn Team() -> impl IntoView {
    let auth = use_auth();
    view! {
        <h2>"Team"</h2>
        <OrgSwitcher/>
        <CreateOrgForm/>
        {move || auth.active_org().get().map(|org| view! {
            <p class="active-team">"You act here as " <strong class="active-role">{org.role}</strong> "."</p>
            <TeamTodos/>
            <h3>"Members"</h3>
            <MemberList/>
            <InviteForm/>
        })}
    }
}

/// The active team's to-dos, from `/api/team/todos`.
#[component]
fn TeamTodos() -> impl IntoView {
    // `Team` makes this view again whenever the session acts for another team or with another
    // role: one load each time.
    let list = TodoList::new(use_auth(), "/api/team/todos", "team todo(s)");
    list.call("GET", None);
    view! {
        {list.status_line("team-status")}
        {list.items("team-todos")}
        <RequirePermission permission="todos:write"
            fallback=|| view! { <p class="read-only">"Your role here reads the team's todos; it does not change them."</p> }>
            {list.form("team-todo-form", "New team todo")}
        </RequirePermission>
    }
}
