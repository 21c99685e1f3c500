//! An API of your own, protected by Keyward: the Keyward router is merged in (`/auth/…`,
//! `/.well-known/jwks.json`), and your handlers take an [`AuthUser`], which verifies the access
//! token locally (no call to the auth server per request).
//!
//! Run with `cargo run -p example-axum-api`, then:
//!
//! ```text
//! curl -s localhost:8787/auth/sign-up -H 'content-type: application/json' \
//!   -d '{"email":"you@example.com","password":"correct horse battery"}'
//! curl -s localhost:8787/api/todos -H "authorization: Bearer <access_token>"
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRef, State};
use axum::routing::get;
use axum::{Json, Router};
use keyward_server::{AuthUser, Keyward, UserId};
use serde::{Deserialize, Serialize};

/// The app's state: its own data, and the Keyward handle the extractor needs.
#[derive(Clone)]
pub struct App {
    keyward: Keyward,
    todos: Arc<Mutex<HashMap<UserId, Vec<Todo>>>>,
}

/// This is all [`AuthUser`] needs from your state.
impl FromRef<App> for Keyward {
    fn from_ref(app: &App) -> Keyward {
        app.keyward.clone()
    }
}

/// One to-do item.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Todo {
    /// What to do.
    pub title: String,
}

/// The whole application: your routes plus Keyward's.
pub fn app(keyward: Keyward) -> Router {
    let state = App {
        keyward: keyward.clone(),
        todos: Arc::default(),
    };
    Router::new()
        .route("/api/todos", get(list_todos).post(add_todo))
        .route("/api/whoami", get(whoami))
        .route("/api/hello", get(hello))
        .with_state(state)
        .merge(keyward.router())
}

/// The same kind of route without authentication (a baseline for the benchmarks).
async fn hello() -> &'static str {
    "hello"
}

/// Who the token says you are.
async fn whoami(user: AuthUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "user_id": user.user_id,
        "session_id": user.session_id,
        "amr": user.claims.amr,
    }))
}

async fn list_todos(State(app): State<App>, user: AuthUser) -> Json<Vec<Todo>> {
    let todos = app
        .todos
        .lock()
        .map(|t| t.get(&user.user_id).cloned())
        .ok()
        .flatten();
    Json(todos.unwrap_or_default())
}

async fn add_todo(
    State(app): State<App>,
    user: AuthUser,
    Json(todo): Json<Todo>,
) -> Json<Vec<Todo>> {
    let mut all = app
        .todos
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mine = all.entry(user.user_id).or_default();
    mine.push(todo);
    Json(mine.clone())
}
