//! A server process for the commands that load or fuzz one: `keyward serve` or the example API
//! on a free port, stopped when dropped, and the few HTTP calls they make to it.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;
use crate::cmd::{self, free_port};

/// A server (`example-axum-api`, or `keyward` with `serve` first in `args`) on a free port with
/// rate limits off, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    pub(crate) port: u16,
    pub(crate) database_url: String,
}

/// The master secret of the servers these commands start (and of the CLI run on their
/// databases).
pub(crate) const SECRET: &str = "keyward benchmark secret, not for production use";

impl Server {
    pub(crate) fn start(
        binary: &Path,
        args: &[&str],
        database_url: &str,
        log: &Path,
    ) -> Result<Self> {
        let port = free_port()?;
        let log =
            std::fs::File::create(log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let child = Command::new(binary)
            .args(args)
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--database-url", database_url])
            .args(["--issuer", &format!("http://localhost:{port}")])
            .args(["--rate-limits", "off"])
            .env("KEYWARD_SECRET", SECRET)
            .env("KEYWARD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start {}: {e}", binary.display()))?;
        let server = Self {
            child,
            base: format!("http://localhost:{port}"),
            port,
            database_url: database_url.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http("GET", port, "/healthz", None, None).is_ok_and(|(status, _)| status == 200) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("the server did not answer /healthz within 30 s".into())
    }

    pub(crate) fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// A tiny HTTP/1.1 client for setup requests: (status, body).
pub(crate) fn http(
    method: &str,
    port: u16,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Result<(u16, String)> {
    use std::io::Write as _;
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let body = body.unwrap_or("");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        let _ = write!(request, "Authorization: Bearer {token}\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

pub(crate) fn json_field(body: &str, name: &str) -> Option<String> {
    cmd::json_string(body, name).map(str::to_owned)
}

/// Signs in `email`; returns (access token, refresh token).
pub(crate) fn sign_in(port: u16, email: &str) -> Result<(String, String)> {
    let body = format!(r#"{{"email":"{email}","password":"bench-password-123"}}"#);
    let (status, answer) = http("POST", port, "/auth/sign-in", Some(&body), None)?;
    if status != 200 {
        return Err(format!("sign-in answered {status}: {answer}"));
    }
    Ok((
        json_field(&answer, "access_token").ok_or("no access token")?,
        json_field(&answer, "refresh_token").ok_or("no refresh token")?,
    ))
}

pub(crate) fn sign_up(port: u16, email: &str) -> Result {
    let body = format!(r#"{{"email":"{email}","password":"bench-password-123"}}"#);
    let (status, answer) = http("POST", port, "/auth/sign-up", Some(&body), None)?;
    match status {
        201 | 409 => Ok(()),
        _ => Err(format!("sign-up answered {status}: {answer}")),
    }
}
