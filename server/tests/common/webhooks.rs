//! A real webhook receiver for the webhook tests: `webhook_receiver.py`, which verifies every
//! delivery with the Standard Webhooks reference implementation for Python (`standardwebhooks`
//! from PyPI, installed by `cargo xtask setup` into `target/tools/standardwebhooks`), and logs
//! what it saw.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A receiver process on a port of its own; killed when dropped.
pub struct Receiver {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    secrets: BTreeMap<String, String>,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// The URL's path.
    pub path: String,
    /// `webhook-id`.
    pub id: String,
    /// Whether the signature verified (with the secret of the path).
    pub verified: bool,
    /// Why not.
    pub error: Option<String>,
    /// What the receiver answered.
    pub answered: u16,
    /// The verified body.
    pub payload: Value,
}

impl Received {
    /// The event type.
    pub fn kind(&self) -> &str {
        self.payload["type"].as_str().unwrap_or_default()
    }
}

impl Receiver {
    pub fn start() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = root.join("../target/tools/standardwebhooks/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `cargo xtask setup` (it installs the Standard Webhooks verifier)",
            python.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(python)
            .arg(root.join("tests/common/webhook_receiver.py"))
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("the receiver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(dir.path().join("port")) {
                break text.trim().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "the receiver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        };
        Self {
            child,
            port,
            dir,
            secrets: BTreeMap::new(),
        }
    }

    /// The URL of `path` (`/ok/…`, `/flaky/…` or `/gone/…`) on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Deliveries to `path` are verified with `secret` (`whsec_…`).
    pub fn trust(&mut self, path: &str, secret: &str) {
        self.secrets.insert(path.to_owned(), secret.to_owned());
        let text = serde_json::to_string(&self.secrets).unwrap();
        let tmp = self.dir.path().join("secrets.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, self.dir.path().join("secrets.json")).unwrap();
    }

    /// Every request so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let text =
            std::fs::read_to_string(self.dir.path().join("received.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .map(|v| Received {
                path: v["path"].as_str().unwrap_or_default().to_owned(),
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                verified: v["verified"].as_bool().unwrap_or(false),
                error: v["error"].as_str().map(str::to_owned),
                answered: v["answered"].as_u64().unwrap_or(0) as u16,
                payload: v["payload"].clone(),
            })
            .collect()
    }

    /// The `webhook-id` of every request that arrived so far, in order, answered or not yet.
    #[allow(dead_code)] // not every test file waits on requests in flight
    pub fn arrived(&self) -> Vec<String> {
        let text =
            std::fs::read_to_string(self.dir.path().join("arrived.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|v| v["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits (up to `within`) until `done` holds of what was received; returns it.
    pub async fn wait_for(
        &self,
        within: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get what was expected within {within:?}; it got {received:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
