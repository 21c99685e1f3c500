//! Real `keyward serve` processes, for what only a process shows: `kill -9` and a restart, two
//! processes sharing one database, the limits of a real HTTP connection, the client's address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt as _;

use serde_json::Value;

use super::{Reply, TestDb, TestDevice, get, reply_of, sign_up_request};

/// The master secret every test process shares (the same as [`TestDb::settings`]), so a token
/// issued by one process verifies at another, as behind a load balancer.
pub const SECRET: &str = "keyward test secret, 32+ bytes long";

/// Every process answers as this issuer; [`super::TestDevice`] signs its DPoP proofs for it.
pub const ISSUER: &str = "http://localhost:8787";

/// A `keyward serve` child process on a port of its own; killed when dropped.
pub struct Process {
    child: Option<Child>,
    pub addr: SocketAddr,
    database_url: String,
    args: Vec<String>,
}

impl Process {
    /// Starts `keyward serve` on `db` with extra `args` and waits until `/healthz` answers.
    pub async fn start(db: &TestDb, args: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut process = Self {
            child: None,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            database_url: db.url.clone(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        process.spawn().await;
        process
    }

    async fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_keyward"))
            .arg("serve")
            .args(["--bind", &self.addr.to_string()])
            .args(["--database-url", &self.database_url])
            .args(["--issuer", ISSUER])
            .args(&self.args)
            .env("KEYWARD_SECRET", SECRET)
            .env("KEYWARD_LOG", "error")
            .env_remove("KEYWARD_CONFIG")
            .stdout(Stdio::null())
            .spawn()
            .expect("the keyward binary starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(reply) = try_send(self.addr, None, get("/healthz")).await
                && reply.status == StatusCode::OK
            {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("keyward serve on {} exited: {status}", self.addr);
            }
            assert!(
                Instant::now() < deadline,
                "keyward serve did not answer on {}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `kill -9`: no shutdown, nothing flushed, connections cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process (if it runs) and starts it again on the same port and database.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Signs up `email` (device-bound with `device`) and returns the `data` of the answer.
    pub async fn sign_up(&self, email: &str, device: Option<&TestDevice>) -> Value {
        let reply = self.send(sign_up_request(email, device)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["data"].clone()
    }

    /// Sends `request` from 127.0.0.1.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        self.send_from(None, request).await
    }

    /// Sends `request` from `source` (any 127.x.y.z address reaches the server on Linux), so
    /// per-IP limits see distinct clients.
    pub async fn send_from(&self, source: Option<IpAddr>, request: Request<Body>) -> Reply {
        try_send(self.addr, source, request)
            .await
            .unwrap_or_else(|err| panic!("request to {} failed: {err}", self.addr))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `request` to the server on `addr`; `Err` when no answer came (the server is gone).
pub async fn send_to(addr: SocketAddr, request: Request<Body>) -> Result<Reply, String> {
    try_send(addr, None, request).await
}

/// One request on a fresh HTTP/1.1 connection (hyper's client), from `source` when given.
async fn try_send(
    addr: SocketAddr,
    source: Option<IpAddr>,
    mut request: Request<Body>,
) -> Result<Reply, String> {
    let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| e.to_string())?;
    }
    let stream = socket.connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    request
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_static("localhost"));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(reply_of(parts.status, parts.headers, &bytes))
}
