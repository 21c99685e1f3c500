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
//!
//! A WebSocket cannot carry the token in a header, so `/ws` is opened with a connect ticket:
//!
//! ```text
//! curl -s localhost:8787/auth/connect-ticket -H "authorization: Bearer <access_token>" \
//!   -H 'content-type: application/json' -d '{"url":"ws://localhost:8787/ws"}'
//! websocat 'ws://localhost:8787/ws?ticket=<ticket>'
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{FromRef, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use keyward_server::sync::{Connection, SyncAuth};
use keyward_server::{AuthUser, Keyward, RequirePermission, UserId, permission};
use serde::{Deserialize, Serialize};

/// The app's state: its own data, and the Keyward handle the extractor needs.
#[derive(Clone)]
pub struct App {
    keyward: Keyward,
    todos: Arc<Mutex<HashMap<UserId, Vec<Todo>>>>,
    /// Each organization's shared list.
    team_todos: Arc<Mutex<HashMap<String, Vec<Todo>>>>,
}

permission!(
    /// Reading an organization's to-dos: every built-in role but none has `*:read`.
    TodosRead = "todos:read"
);
permission!(
    /// Adding to them: members, admins and owners (`*:write`), not viewers or billing.
    TodosWrite = "todos:write"
);

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
        team_todos: Arc::default(),
    };
    Router::new()
        .route("/api/todos", get(list_todos).post(add_todo))
        .route("/api/team/todos", get(team_todos).post(add_team_todo))
        .route("/api/whoami", get(whoami))
        .route("/api/hello", get(hello))
        .route("/api/hello/signed-in", get(hello_signed_in))
        .route("/api/hello/permitted", get(hello_permitted))
        .route("/ws", get(ws))
        .route("/ws/hello", get(ws_hello))
        .with_state(state)
        .merge(keyward.router())
}

/// The same kind of route without authentication (a baseline for the benchmarks).
async fn hello() -> &'static str {
    "hello"
}

/// The same route behind authentication (the benchmarks' measure of what verifying a token
/// costs: the handler is the same, so the difference is the extractor's).
async fn hello_signed_in(_: AuthUser) -> &'static str {
    "hello"
}

/// The same route behind a permission check (the benchmarks' measure of what checking the
/// token's role costs over verifying it).
async fn hello_permitted(_: RequirePermission<TodosRead>) -> &'static str {
    "hello"
}

/// Who the token says you are.
async fn whoami(user: AuthUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "user_id": user.user_id,
        "session_id": user.session_id,
        "amr": user.claims.amr,
        "org": user.org(),
        "org_role": user.org_role(),
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

/// The active organization's to-dos, for a role that grants `todos:read` (checked from the
/// token, before this runs; a member removed a moment ago is refused already).
async fn team_todos(
    State(app): State<App>,
    RequirePermission(user, _): RequirePermission<TodosRead>,
) -> Json<Vec<Todo>> {
    let org = user.org().unwrap_or_default();
    let todos = app
        .team_todos
        .lock()
        .map(|t| t.get(org).cloned())
        .ok()
        .flatten();
    Json(todos.unwrap_or_default())
}

/// Adds to the active organization's to-dos, for a role that grants `todos:write`.
async fn add_team_todo(
    State(app): State<App>,
    RequirePermission(user, _): RequirePermission<TodosWrite>,
    Json(todo): Json<Todo>,
) -> Json<Vec<Todo>> {
    let org = user.org().unwrap_or_default().to_owned();
    let mut all = app
        .team_todos
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let list = all.entry(org).or_default();
    list.push(todo);
    Json(list.clone())
}

/// `/ws`'s query: the connect ticket.
#[derive(Deserialize)]
struct Connect {
    /// Absent reads as empty, which is refused like any bad ticket.
    #[serde(default)]
    ticket: String,
}

/// A WebSocket for signed-in users: it says who you are (`{"user_id": …}`), then echoes. A
/// browser cannot put its access token on a WebSocket, so it first asks Keyward for a connect
/// ticket for this URL (`POST /auth/connect-ticket` with its token, and its DPoP proof when the
/// session is device-bound) and opens `/ws?ticket=…`. The ticket is redeemed before the
/// upgrade: a used, late or foreign ticket is answered 401 and no socket opens. The socket is
/// closed (1008, with the reason's code) as soon as its session is signed out or revoked, its
/// device revoked, or the token behind the ticket expires.
async fn ws(
    State(app): State<App>,
    headers: HeaderMap,
    Query(connect): Query<Connect>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // The URL this route serves, as the client addressed it (the query does not count). Kept
    // simple for the example: `ws://`, since it serves plain HTTP, and the request's own `Host`.
    // A real app writes its public URL here instead (`wss://api.example.com/ws` behind a TLS
    // proxy): the `Host` header is the client's to choose, so taking it from the request lets
    // a ticket issued for another server that shares this Keyward be used here.
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return (StatusCode::BAD_REQUEST, "a Host header is needed").into_response();
    };
    let sync = SyncAuth::new(app.keyward.clone(), format!("ws://{host}/ws"));
    match sync.connect(Some(&connect.ticket)).await {
        Ok(connection) => upgrade
            .read_buffer_size(READ_BUFFER)
            .on_upgrade(move |socket| greet_then_echo(socket, Some(connection))),
        // Keyward's own answer: 401 `invalid_ticket` with the error envelope.
        Err(refused) => refused.into_response(),
    }
}

/// The same WebSocket without authentication (a baseline for the benchmarks): greets with no
/// user, then echoes.
async fn ws_hello(upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(|socket| greet_then_echo(socket, None))
}

/// How much a socket reads at a time. tungstenite's default, 128 KiB, is zeroed before every
/// read, so each small message (and each new socket) cost a 128 KiB `memset`: measured, a
/// twentieth of the server's CPU when sockets open and close quickly. Longer messages are read
/// in several pieces.
const READ_BUFFER: usize = 8 * 1024;

/// Says who the connection is, then echoes until either side closes or, for `connection`, its
/// session ends.
async fn greet_then_echo(mut socket: WebSocket, mut connection: Option<Connection>) {
    let user_id = connection
        .as_ref()
        .and_then(|c| c.identity().map(|who| who.user_id));
    let hello = serde_json::json!({ "user_id": user_id }).to_string();
    if socket.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    loop {
        let message = tokio::select! {
            why = async {
                match &mut connection {
                    Some(connection) => connection.ended().await,
                    None => std::future::pending().await,
                }
            } => {
                let frame = CloseFrame {
                    code: close_code::POLICY,
                    reason: why.code().into(),
                };
                let _ = socket.send(Message::Close(Some(frame))).await;
                return;
            }
            message = socket.recv() => message,
        };
        match message {
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            // Pings are answered by axum itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_)) | Err(_)) | None => return,
        }
    }
}
