//! A real SMTP server for the mail tests: aiosmtpd (PyPI, installed by `cargo xtask setup` into
//! `target/tools/aiosmtpd`), writing what it receives into a Maildir that the tests read.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An aiosmtpd process on a port of its own; killed when dropped.
pub struct Smtp {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// A mail as received.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The first link in the text that carries a `token`, and that token.
    pub fn link(&self) -> (String, String) {
        let link = self
            .text
            .split_whitespace()
            .find(|word| word.starts_with("http") && word.contains("token="))
            .unwrap_or_else(|| panic!("no link in {}", self.text))
            .to_owned();
        let token = link
            .split(['?', '&'])
            .find_map(|pair| pair.strip_prefix("token="))
            .unwrap()
            .to_owned();
        (link, token)
    }

    /// The 6-digit code in the text.
    pub fn code(&self) -> String {
        self.text
            .split(|c: char| !c.is_ascii_digit())
            .find(|word| word.len() == 6)
            .unwrap_or_else(|| panic!("no code in {}", self.text))
            .to_owned()
    }
}

impl Smtp {
    pub fn start() -> Self {
        let python =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/aiosmtpd/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `cargo xtask setup` (it installs aiosmtpd for the mail tests)",
            python.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, dir }
    }

    /// What Keyward's `smtp_url` is for this server (plain SMTP on the loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail received so far.
    pub fn mails(&self) -> Vec<Mail> {
        let dir = self.dir.path().join("maildir/new");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        paths
            .iter()
            .filter_map(|path| {
                let bytes = std::fs::read(path).ok()?;
                let message = mail_parser::MessageParser::default().parse(&bytes)?;
                let address = |list: Option<&mail_parser::Address>| {
                    list.and_then(|a| a.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_owned()
                };
                Some(Mail {
                    to: address(message.to()),
                    from: address(message.from()),
                    subject: message.subject().unwrap_or_default().to_owned(),
                    text: message.body_text(0).unwrap_or_default().into_owned(),
                    html: message.body_html(0).unwrap_or_default().into_owned(),
                })
            })
            .collect()
    }

    /// The mails to `to`, waiting (up to 15 s) until there are at least `count`.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mails: Vec<Mail> = self.mails().into_iter().filter(|m| m.to == to).collect();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{count} mail(s) to {to} expected, {} arrived: {:?}",
                mails.len(),
                self.mails()
                    .iter()
                    .map(|m| (&m.to, &m.subject))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The newest mail to `to`, once there are `count`.
    pub async fn nth(&self, to: &str, count: usize) -> Mail {
        self.wait_for(to, count).await.remove(count - 1)
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
