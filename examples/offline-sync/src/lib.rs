//! An offline-first sync server for a shared todo list, on `keyward_server::sync`.
//!
//! Clients keep the list and their own edits locally, and sync over a WebSocket at `/sync`
//! whenever they are online:
//!
//! - a browser opens `/sync?ticket=kwt_…` with a connect ticket it just asked Keyward for (a
//!   WebSocket cannot carry the access token); a visitor without one may watch, not write;
//! - the server answers `{"type": "todos", "todos": […]}` at once, and again to every connection
//!   after each change;
//! - a client sends its edits, each with an id of its own making: `{"type": "add", "id", "title"}`
//!   or `{"type": "done", "id", "done"}`; each is authorized when it arrives (a write scope on
//!   `todos`), answered `{"type": "ack", "id"}` or `{"type": "refused", "id", "code"}`, and an
//!   edit sent twice (replayed after a reconnect) changes nothing the second time;
//! - `{"type": "renew", "ticket"}` keeps a connection open past its access token's expiry;
//! - the connection is closed (1008, with the reason's code: `session_revoked`,
//!   `role_changed`, `token_expired`) as soon as its session or device is revoked, on any
//!   server sharing the database, within a second.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keyward_server::Keyward;
use keyward_server::sync::{Connection, Scopes, SyncAuth};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::broadcast;

/// One todo of the shared list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Todo {
    /// Made by the client that added it, so that a replayed add is recognised.
    pub id: String,
    /// What to do.
    pub title: String,
    /// Whether it is done.
    pub done: bool,
    /// Who added it (a Keyward user id).
    pub by: String,
}

/// The longest title, in characters.
const MAX_TITLE: usize = 200;

/// The most todos the shared list keeps (an example's list lives in memory).
const MAX_TODOS: usize = 1000;

/// An edit a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Edit {
    Add { id: String, title: String },
    Done { id: String, done: bool },
    Renew { ticket: String },
}

/// The shared list, and the channel that hands every connection the list after each change
/// (serialized once, by the change).
#[derive(Clone)]
struct Shared {
    keyward: Keyward,
    todos: Arc<Mutex<Vec<Todo>>>,
    changed: broadcast::Sender<Arc<str>>,
}

/// The sync server's routes, with Keyward's merged in (`/auth/…`, and the app's page when
/// `--static-dir` is given).
pub fn app(keyward: Keyward) -> Router {
    let (changed, _) = broadcast::channel(64);
    let shared = Shared {
        keyward: keyward.clone(),
        todos: Arc::default(),
        changed,
    };
    Router::new()
        .route("/sync", get(sync))
        .with_state(shared)
        .merge(keyward.router())
}

/// `/sync`'s query.
#[derive(Deserialize)]
struct Connect {
    ticket: Option<String>,
}

async fn sync(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(connect): Query<Connect>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // The URL tickets are bound to, as the client addressed it. Kept simple for the example:
    // `ws://` and the request's own `Host`. A real server writes its public URL here
    // (`wss://sync.example.com/sync`): the `Host` is the client's to choose.
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return (StatusCode::BAD_REQUEST, "a Host header is needed").into_response();
    };
    let auth = SyncAuth::new(shared.keyward.clone(), format!("ws://{host}/sync"))
        .collections(["todos"])
        // Everyone signed in shares the one list; visitors watch it.
        .personal(Scopes::none().write(["todos"]))
        .anonymous(Scopes::none().read(["todos"]));
    match auth.connect(connect.ticket.as_deref()).await {
        // Edits are small: a message over 16 KiB closes the socket. Reading 8 KiB at a time
        // rather than tungstenite's 128 KiB, which it zeroes before every read.
        Ok(connection) => upgrade
            .max_message_size(16 * 1024)
            .read_buffer_size(8 * 1024)
            .on_upgrade(move |socket| serve(socket, connection, shared)),
        // Keyward's own answer: 401 `invalid_ticket` (or `unauthorized`) with its envelope.
        Err(refused) => refused.into_response(),
    }
}

/// The list as a message.
fn list(shared: &Shared) -> String {
    let todos = shared
        .todos
        .lock()
        .map(|todos| todos.clone())
        .unwrap_or_default();
    json!({ "type": "todos", "todos": todos }).to_string()
}

/// Applies `edit` by `user`: whether it changed the list, or why it was refused.
fn apply(shared: &Shared, user: &str, edit: Edit) -> Result<bool, &'static str> {
    let mut todos = shared
        .todos
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(match edit {
        Edit::Add { id, title } => {
            if todos.iter().any(|todo| todo.id == id) {
                return Ok(false);
            }
            let title = title.trim();
            if title.is_empty() || title.chars().count() > MAX_TITLE || id.len() > 64 {
                return Err("invalid_request");
            }
            if todos.len() >= MAX_TODOS {
                return Err("list_full");
            }
            todos.push(Todo {
                id,
                title: title.to_owned(),
                done: false,
                by: user.to_owned(),
            });
            true
        }
        Edit::Done { id, done } => todos
            .iter_mut()
            .find(|todo| todo.id == id && todo.done != done)
            .map(|todo| todo.done = done)
            .is_some(),
        Edit::Renew { .. } => false,
    })
}

/// One connection: the list now and after each change, the client's edits as they come,
/// closed when Keyward says the connection has ended.
async fn serve(mut socket: WebSocket, mut connection: Connection, shared: Shared) {
    let mut changes = shared.changed.subscribe();
    if socket
        .send(Message::Text(list(&shared).into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let message = tokio::select! {
            // An end first: nothing is taken from a connection that has ended.
            biased;
            why = connection.ended() => {
                let frame = CloseFrame { code: close_code::POLICY, reason: why.code().into() };
                let _ = socket.send(Message::Close(Some(frame))).await;
                return;
            }
            changed = changes.recv() => {
                // A connection that fell behind gets the list as it is now.
                let text = changed.unwrap_or_else(|_| list(&shared).into());
                if socket.send(Message::Text(text.as_ref().into())).await.is_err() {
                    return;
                }
                continue;
            }
            message = socket.recv() => message,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => return,
        };
        let (answer, changed) = answer(&mut connection, &shared, text.as_str()).await;
        // The writer gets the new list before the ack, so what it just sent never vanishes
        // from its view between the two (the others get the list from the broadcast).
        if let Some(list) = changed
            && socket
                .send(Message::Text(list.as_ref().into()))
                .await
                .is_err()
        {
            return;
        }
        if socket.send(Message::Text(answer.into())).await.is_err() {
            return;
        }
    }
}

/// What the server answers a client's message with (authorized when it arrives), and the new
/// list when it changed it.
async fn answer(
    connection: &mut Connection,
    shared: &Shared,
    text: &str,
) -> (String, Option<Arc<str>>) {
    let refused = |id: Option<&str>, code: &str| {
        (
            json!({ "type": "refused", "id": id, "code": code }).to_string(),
            None,
        )
    };
    let Ok(edit) = serde_json::from_str::<Edit>(text) else {
        return refused(None, "invalid_request");
    };
    let id = match &edit {
        Edit::Add { id, .. } | Edit::Done { id, .. } => id.clone(),
        // A visitor has no session to renew: refused before a ticket is looked up.
        Edit::Renew { .. } if connection.identity().is_none() => {
            return refused(None, "forbidden");
        }
        Edit::Renew { ticket } => {
            return match connection.renew(ticket).await {
                Ok(()) => (json!({ "type": "renewed" }).to_string(), None),
                Err(error) => refused(None, error.code().map_or("internal", |code| code.as_str())),
            };
        }
    };
    // Authorized now, not when the connection opened: an edit queued offline and replayed
    // later is judged by what the session may do at replay time.
    if let Some(why) = connection.has_ended() {
        return refused(Some(&id), why.code());
    }
    let user = connection.identity().map(|who| who.user_id.to_string());
    let (Some(user), true) = (user, connection.scopes().can_write("todos")) else {
        return refused(Some(&id), "forbidden");
    };
    match apply(shared, &user, edit) {
        Ok(changed) => {
            let changed = changed.then(|| Arc::<str>::from(list(shared)));
            if let Some(list) = &changed {
                let _ = shared.changed.send(Arc::clone(list));
            }
            (json!({ "type": "ack", "id": id }).to_string(), changed)
        }
        Err(code) => refused(Some(&id), code),
    }
}
