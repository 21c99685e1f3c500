//! The sync server over real sockets: signed-in clients share the list and see each other's
//! edits at once; an edit replayed after a reconnect changes nothing twice; a visitor watches
//! and cannot write; a signed-out session's socket is closed at once, and gets no new ticket.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::BodyExt as _;
use keyward_server::{Keyward, MasterSecret, Settings};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt as _;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The sync server on a fresh SQLite database in `dir`, on a free port.
async fn start(dir: &tempfile::TempDir) -> (axum::Router, SocketAddr) {
    let keyward = Keyward::start(Settings {
        database_url: format!("sqlite://{}", dir.path().join("sync.db").display()),
        secret: Some(MasterSecret::new(vec![7; 32])),
        ..Settings::default()
    })
    .await
    .unwrap();
    let app = example_offline_sync::app(keyward);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app
        .clone()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    (app, addr)
}

async fn call(
    app: &axum::Router,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = Request::post(path).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Signs up `email`: its access token.
async fn sign_up(app: &axum::Router, email: &str) -> String {
    let body = json!({ "email": email, "password": "correct horse battery" });
    let (status, body) = call(app, "/auth/sign-up", None, body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A socket to `/sync`, with a fresh ticket asked with `token`, or as a visitor.
async fn open(app: &axum::Router, addr: SocketAddr, token: Option<&str>) -> Socket {
    let url = format!("ws://{addr}/sync");
    let with = match token {
        Some(token) => {
            let (status, body) = call(
                app,
                "/auth/connect-ticket",
                Some(token),
                json!({ "url": url }),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            format!("{url}?ticket={}", body["data"]["ticket"].as_str().unwrap())
        }
        None => url,
    };
    let (socket, _) = tokio_tungstenite::connect_async(with).await.unwrap();
    socket
}

/// The next message: JSON text, or the close frame's reason as `{"closed": reason}`.
async fn next(socket: &mut Socket) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a message within 5 s")
        .expect("the socket is open")
        .unwrap();
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
        Message::Close(frame) => json!({ "closed": frame.map(|f| f.reason.to_string()) }),
        other => panic!("unexpected {other:?}"),
    }
}

/// The next message that is not a list (a writer also gets the broadcast of its own change).
async fn answer(socket: &mut Socket) -> Value {
    loop {
        let message = next(socket).await;
        if message["type"] != "todos" {
            return message;
        }
    }
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The titles in a `todos` message.
fn titles(message: &Value) -> Vec<&str> {
    assert_eq!(message["type"], "todos", "{message}");
    message["todos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|todo| todo["title"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn signed_in_clients_share_the_list_and_a_replayed_edit_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let (app, addr) = start(&dir).await;
    let ada = sign_up(&app, "ada@example.com").await;
    let lin = sign_up(&app, "lin@example.com").await;
    let mut first = open(&app, addr, Some(&ada)).await;
    let mut second = open(&app, addr, Some(&lin)).await;
    assert!(titles(&next(&mut first).await).is_empty());
    assert!(titles(&next(&mut second).await).is_empty());

    let add = json!({ "type": "add", "id": "ada-1", "title": "Water the plants" });
    send(&mut first, add.clone()).await;
    // The writer gets the new list, then the ack; the other client the list.
    assert_eq!(titles(&next(&mut first).await), ["Water the plants"]);
    let ack = json!({ "type": "ack", "id": "ada-1" });
    assert_eq!(answer(&mut first).await, ack);
    assert_eq!(titles(&next(&mut second).await), ["Water the plants"]);

    // The same edit again (a client replaying its queue after a reconnect): acknowledged,
    // nothing added.
    let mut again = open(&app, addr, Some(&ada)).await;
    assert_eq!(titles(&next(&mut again).await), ["Water the plants"]);
    send(&mut again, add).await;
    assert_eq!(answer(&mut again).await, ack);
    let done = json!({ "type": "done", "id": "ada-1", "done": true });
    send(&mut again, done).await;
    let list = next(&mut again).await;
    assert_eq!(list["todos"][0]["done"], true);
    assert_eq!(list["todos"].as_array().unwrap().len(), 1);
    assert_eq!(answer(&mut again).await, ack);

    // A title that is blank or too long is refused, and changes nothing.
    for title in ["   ".to_owned(), "x".repeat(201)] {
        let bad = json!({ "type": "add", "id": "bad", "title": title });
        send(&mut again, bad).await;
        let refused = json!({ "type": "refused", "id": "bad", "code": "invalid_request" });
        assert_eq!(answer(&mut again).await, refused);
    }
}

#[tokio::test]
async fn a_visitor_watches_and_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let (app, addr) = start(&dir).await;
    let mut visitor = open(&app, addr, None).await;
    assert!(titles(&next(&mut visitor).await).is_empty());
    let renew = json!({ "type": "renew", "ticket": "kwt_x" });
    send(&mut visitor, renew).await;
    let refused = json!({ "type": "refused", "id": null, "code": "forbidden" });
    assert_eq!(next(&mut visitor).await, refused);
    send(
        &mut visitor,
        json!({ "type": "add", "id": "v-1", "title": "Spam" }),
    )
    .await;
    assert_eq!(
        next(&mut visitor).await,
        json!({ "type": "refused", "id": "v-1", "code": "forbidden" })
    );
    // A signed-in edit reaches the visitor.
    let ada = sign_up(&app, "ada@example.com").await;
    let mut writer = open(&app, addr, Some(&ada)).await;
    next(&mut writer).await;
    send(
        &mut writer,
        json!({ "type": "add", "id": "a-1", "title": "Hello" }),
    )
    .await;
    assert_eq!(titles(&next(&mut visitor).await), ["Hello"]);
}

#[tokio::test]
async fn a_signed_out_session_is_disconnected_at_once_and_gets_no_new_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let (app, addr) = start(&dir).await;
    let ada = sign_up(&app, "ada@example.com").await;
    let mut socket = open(&app, addr, Some(&ada)).await;
    next(&mut socket).await;
    let (status, _) = call(&app, "/auth/sign-out", Some(&ada), json!({})).await;
    assert!(status.is_success());
    assert_eq!(
        next(&mut socket).await,
        json!({ "closed": "session_revoked" })
    );
    let url = format!("ws://{addr}/sync");
    let (status, body) = call(
        &app,
        "/auth/connect-ticket",
        Some(&ada),
        json!({ "url": url }),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}
