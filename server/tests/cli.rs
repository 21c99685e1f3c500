//! The `keyward` binary: operator commands against a real database, and the production checks.

use crate::common;

use std::process::{Command, Output};

use axum::http::{Method, StatusCode};
use common::*;

const SECRET: &str = "keyward test secret, 32+ bytes long";

fn keyward(args: &[&str], database_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .args(["--database-url", database_url])
        .env("KEYWARD_SECRET", SECRET)
        .env("KEYWARD_LOG", "error")
        .env_remove("KEYWARD_CONFIG")
        .output()
        .expect("the keyward binary runs")
}

/// `keyward args…` on the database at `url`, off the test's runtime (a server may be running
/// on it).
fn run_keyward(url: &str, args: &[&str]) -> impl Future<Output = Output> + use<> {
    let url = url.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    async move {
        tokio::task::spawn_blocking(move || {
            keyward(&args.iter().map(String::as_str).collect::<Vec<_>>(), &url)
        })
        .await
        .unwrap()
    }
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn users_list_audit_and_keys_rotate_work_on_the_servers_database() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let migrate = tokio::task::spawn_blocking(move || keyward(&["migrate"], &url))
        .await
        .unwrap();
    assert!(stdout(&migrate).contains("migrations applied"));

    let server = db.start().await;
    sign_up(&server, "operator@example.com").await;

    let url = db.url.clone();
    let (users, audit, rotate) = tokio::task::spawn_blocking(move || {
        (
            keyward(&["users", "list"], &url),
            keyward(&["audit", "--limit", "10"], &url),
            keyward(&["keys", "rotate"], &url),
        )
    })
    .await
    .unwrap();
    // Without an SMTP server the sign-up's verification mail waits in the outbox, link and all.
    let url = db.url.clone();
    let outbox = tokio::task::spawn_blocking(move || keyward(&["outbox"], &url))
        .await
        .unwrap();
    let outbox = stdout(&outbox);
    assert!(
        outbox.contains("verify_email  to operator@example.com  (outbox")
            && outbox.contains("Subject: Confirm your email address")
            && outbox.contains("?type=verify_email&token=kwl_")
            && outbox.contains("1 mail(s)"),
        "{outbox}"
    );
    let users = stdout(&users);
    assert!(
        users.contains("operator@example.com") && users.contains("1 user(s)"),
        "{users}"
    );
    let audit = stdout(&audit);
    assert!(audit.contains("sign_up"), "{audit}");
    let rotate = stdout(&rotate);
    let new_kid = rotate
        .lines()
        .find_map(|line| line.strip_prefix("new signing key: "))
        .expect("the new kid is printed")
        .to_owned();

    // A server started now signs with the new key and still publishes the old one.
    let restarted = db.start().await;
    let reply = send(&restarted, get("/.well-known/jwks.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let kids: Vec<&str> = reply.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(kids.contains(&new_kid.as_str()));
}

#[tokio::test]
async fn admin_keys_and_user_operations_from_the_command_line() {
    let db = TestDb::new().await;
    let server = db.start().await;
    let user = sign_up(&server, "ops@example.com").await;
    let id = user["user"]["id"].as_str().unwrap().to_owned();
    // `keyward <args>` against the server's database, its output.
    let run = |args: &[&str]| {
        let url = db.url.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        async move {
            let output = tokio::task::spawn_blocking(move || {
                keyward(&args.iter().map(String::as_str).collect::<Vec<_>>(), &url)
            })
            .await
            .unwrap();
            stdout(&output)
        }
    };

    let created = run(&["admin-keys", "create", "--name", "console"]).await;
    let key = created
        .lines()
        .find(|line| line.starts_with("kwa_"))
        .unwrap_or_else(|| panic!("no key printed: {created}"))
        .to_owned();
    let key_id = created
        .split_whitespace()
        .nth(2)
        .expect("the key's id")
        .to_owned();
    let listed = send(&server, authed(Method::GET, "/auth/admin/users", &key)).await;
    assert_eq!(listed.status, StatusCode::OK);
    let admin_keys = run(&["admin-keys", "list"]).await;
    assert!(
        admin_keys.contains(&key_id) && admin_keys.contains("live"),
        "{admin_keys}"
    );
    let server_keys = run(&["server-keys", "list"]).await;
    assert!(!server_keys.contains(&key_id), "{server_keys}");

    let users = run(&["users", "list", "--query", "OPS"]).await;
    assert!(
        users.contains(&id) && users.contains("1 user(s)"),
        "{users}"
    );
    let shown = run(&["users", "show", &id]).await;
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["user"]["email"], "ops@example.com");
    assert_eq!(shown["sessions"].as_array().unwrap().len(), 1);
    let ended = run(&["users", "end-sessions", &id]).await;
    assert!(ended.contains("1 session(s) ended"), "{ended}");
    // Another process ended them: a running server hears of it within a second or so.
    let mut refused = false;
    for _ in 0..30 {
        let me = send(&server, authed(Method::GET, "/auth/me", &access(&user))).await;
        if me.code() == "session_revoked" {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        refused,
        "the running server still takes the ended session's token"
    );

    run(&["admin-keys", "revoke", &key_id]).await;
    let refused = send(&server, authed(Method::GET, "/auth/admin/users", &key)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn disable_enable_delete_and_the_audit_log_from_the_command_line() {
    let db = TestDb::new().await;
    let server = db.start().await;
    let user = sign_up(&server, "leaver@example.com").await;
    let id = user["user"]["id"].as_str().unwrap().to_owned();
    let run = |args: &[&str]| run_keyward(&db.url, args);
    let sign_in_code = || async {
        let body = serde_json::json!({ "email": "leaver@example.com", "password": PASSWORD });
        send(&server, post("/auth/sign-in", &body))
            .await
            .code()
            .to_owned()
    };

    let disabled = stdout(&run(&["users", "disable", &id]).await);
    assert!(disabled.contains("1 session(s) ended"), "{disabled}");
    assert_eq!(sign_in_code().await, "account_disabled");
    let listed = stdout(&run(&["users", "list", "--query", "leaver"]).await);
    assert!(listed.contains("(disabled)"), "{listed}");
    stdout(&run(&["users", "enable", &id]).await);
    assert_eq!(sign_in_code().await, "");

    let audit = stdout(&run(&["audit", "--kind", "admin_disabled_user", "--user", &id]).await);
    assert_eq!(audit.lines().count(), 1, "{audit}");
    assert!(audit.contains(r#""by":"cli""#), "{audit}");
    let none = stdout(&run(&["audit", "--since", "2999-01-01T00:00:00Z"]).await);
    assert!(none.is_empty(), "{none}");

    // A deletion cannot be undone: it needs --yes.
    let unconfirmed = run(&["users", "delete", &id]).await;
    assert!(!unconfirmed.status.success());
    assert!(String::from_utf8_lossy(&unconfirmed.stderr).contains("--yes"));
    assert_eq!(sign_in_code().await, "");
    let deleted = stdout(&run(&["users", "delete", &id, "--yes"]).await);
    assert!(deleted.contains(&id), "{deleted}");
    assert_eq!(sign_in_code().await, "invalid_credentials");
    let gone = run(&["users", "show", &id]).await;
    assert!(!gone.status.success());
}

#[cfg(feature = "oidc-provider")]
#[tokio::test]
async fn clients_are_registered_changed_rotated_and_deleted_from_the_command_line() {
    let db = TestDb::new().await;
    let server = db.start().await;
    let (_, key) = server.create_admin_key("console").await.unwrap();
    let run = |args: &[&str]| run_keyward(&db.url, args);
    let listed = || async {
        let reply = send(&server, authed(Method::GET, "/auth/admin/clients", &key)).await;
        reply.body["data"]["clients"].as_array().unwrap().clone()
    };

    let made = stdout(
        &run(&[
            "clients",
            "create",
            "--type",
            "confidential",
            "--name",
            "Reports",
            "--redirect-uri",
            "https://reports.example.com/callback",
            "--scope",
            "openid",
            "--scope",
            "email",
        ])
        .await,
    );
    let id = made.split_whitespace().next().unwrap().to_owned();
    assert!(id.starts_with("kwc_"), "{made}");
    assert!(made.lines().any(|line| line.starts_with("kwcs_")), "{made}");
    let clients = listed().await;
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0]["client_id"], id.as_str());
    assert_eq!(clients[0]["scopes"], serde_json::json!(["openid", "email"]));

    // Refused as through the API, with the reason, and nothing made.
    let refused = run(&[
        "clients",
        "create",
        "--type",
        "public",
        "--name",
        "Robot",
        "--grant",
        "client_credentials",
        "--client-audience",
        "https://api.example.com",
    ])
    .await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("public client"));
    assert_eq!(listed().await.len(), 1);

    let updated = stdout(
        &run(&[
            "clients",
            "update",
            &id,
            "--redirect-uri",
            "https://reports.example.com/cb2",
            "--skip-consent",
        ])
        .await,
    );
    assert!(
        updated.contains("https://reports.example.com/cb2"),
        "{updated}"
    );
    let clients = listed().await;
    assert_eq!(
        clients[0]["redirect_uris"],
        serde_json::json!(["https://reports.example.com/cb2"])
    );
    assert_eq!(clients[0]["skip_consent"], true);

    let rotated = stdout(&run(&["clients", "rotate-secret", &id, "--now"]).await);
    assert!(rotated.contains("refused from now on"), "{rotated}");
    let shown = stdout(&run(&["clients", "list"]).await);
    assert!(
        shown.contains(&id) && shown.contains("1 client(s)"),
        "{shown}"
    );
    assert!(!shown.contains("kwcs_"), "{shown}");

    stdout(&run(&["clients", "delete", &id]).await);
    assert!(listed().await.is_empty());
    let audit = stdout(&run(&["audit", "--kind", "oidc_client_deleted"]).await);
    assert!(
        audit.contains(r#""by":"cli""#) && audit.contains(&id),
        "{audit}"
    );
}

#[test]
fn production_mode_refuses_unsafe_settings_with_a_one_line_reason() {
    for (args, env, reason) in [
        (vec!["serve", "--production"], None, "issuer"),
        (
            vec!["serve", "--issuer", "https://auth.example.com"],
            Some(("KEYWARD_ENV", "production")),
            "KEYWARD_SECRET",
        ),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
        command
            .args(&args)
            .env_remove("KEYWARD_SECRET")
            .env("KEYWARD_LOG", "error");
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(reason), "{stderr}");
    }
}
