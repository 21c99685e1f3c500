//! A real OpenID Connect provider for the tests: `tests/fixtures/oidc-provider.mjs` (the
//! `oidc-provider` package from npm) in a Node process on a free port, and a browser's walk
//! through it: its redirects followed, its cookies kept, until it sends the browser back.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use openidconnect::reqwest;

/// The client the provider knows.
pub const CLIENT_ID: &str = "keyward-test";
pub const CLIENT_SECRET: &str = "keyward-test-secret";

/// A running provider; stopped when dropped.
pub struct Provider {
    child: Child,
    /// Its issuer URL.
    pub issuer: String,
}

impl Provider {
    /// Starts one that sends browsers back to `redirect_uri`.
    pub fn start(redirect_uri: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        Self::start_on(port, redirect_uri)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.issuer
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the issuer has a port")
    }

    /// Starts one on `port` (with a signing key of its own: a restart rotates the key).
    pub fn start_on(port: u16, redirect_uri: &str) -> Self {
        // The test's own HTTP client uses the process's TLS provider (none is built in).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut child = Command::new("node")
            .arg(root.join("tests/fixtures/oidc-provider.mjs"))
            .args([&port.to_string(), CLIENT_ID, CLIENT_SECRET, redirect_uri])
            .current_dir(&root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tests/fixtures/oidc-provider.mjs (run `cargo xtask setup`)");
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut line).expect("the provider starts");
        // Keep reading, so that a later line never meets a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let issuer = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("the provider said {line:?}"))
            .to_owned();
        Self { child, issuer }
    }

    /// Who signs in next: `sub`, `email`, `email_verified`.
    pub async fn next(&self, sub: &str, email: &str, verified: bool) {
        let body = serde_json::json!({ "sub": sub, "email": email, "email_verified": verified, "name": sub });
        let reply = reqwest::Client::new()
            .post(format!("{}/_test/next", self.issuer))
            .body(body.to_string())
            .send()
            .await
            .expect("the provider answers");
        assert!(reply.status().is_success());
    }

    /// Walks a browser from `url` (the provider's authorization URL) through the provider until
    /// it is sent to a URL starting with `back`; that URL.
    pub async fn walk(&self, url: &str, back: &str) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let mut cookies: Vec<(String, String)> = Vec::new();
        let mut url = url.to_owned();
        for _ in 0..20 {
            if url.starts_with(back) {
                return url;
            }
            let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let reply = http
                .get(&url)
                .header("cookie", jar.join("; "))
                .send()
                .await
                .expect("the provider answers");
            for set in reply.headers().get_all("set-cookie") {
                let pair = set.to_str().unwrap_or("").split(';').next().unwrap_or("");
                if let Some((name, value)) = pair.split_once('=') {
                    cookies.retain(|(k, _)| k != name);
                    cookies.push((name.to_owned(), value.to_owned()));
                }
            }
            let location = reply
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or_else(|| panic!("no redirect from {url}: {}", reply.status()))
                .to_owned();
            url = reqwest::Url::parse(&url)
                .and_then(|base| base.join(&location))
                .expect("a URL")
                .to_string();
        }
        panic!("the provider never sent the browser back");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
