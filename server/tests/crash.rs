//! Crash safety: `kill -9` of a real `keyward serve` under load, then a restart on the same
//! database. Runs on SQLite and (in the PostgreSQL pass) on PostgreSQL.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use common::process::{Process, send_to};
use common::*;
use serde_json::json;
use tokio::sync::Mutex;

/// What a client knows: the last refresh token the server acknowledged.
struct Holder {
    email: String,
    latest: String,
    refreshed: u64,
}

const CLIENTS: usize = 24;
const KILLS: usize = 3;

/// Many clients refresh in a loop while new users sign up; the server is killed with SIGKILL
/// mid-load and restarted, three times. After each restart every client refreshes with the
/// token it holds (its latest, or one whose rotation was never acknowledged and so is inside the
/// grace window), and every acknowledged sign-up is there: user, session and audit event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_refresh_load_loses_nothing_that_was_acknowledged() {
    let db = TestDb::new().await;
    let mut server = Process::start(&db, &["--rate-limits", "off"]).await;

    let mut holders = Vec::new();
    for i in 0..CLIENTS {
        let email = format!("client{i}@example.com");
        let latest = refresh_token(&server.sign_up(&email, None).await);
        holders.push(Arc::new(Mutex::new(Holder {
            email,
            latest,
            refreshed: 0,
        })));
    }
    let mut signed_up: Vec<(String, String)> = Vec::new();

    for round in 0..KILLS {
        let running = Arc::new(AtomicBool::new(true));
        let addr = server.addr;
        let mut load = Vec::new();
        for holder in &holders {
            let (holder, running) = (Arc::clone(holder), Arc::clone(&running));
            load.push(tokio::spawn(async move {
                while running.load(Ordering::Relaxed) {
                    let mut holder = holder.lock().await;
                    let request = post("/auth/refresh", &json!({ "refresh_token": holder.latest }));
                    match send_to(addr, request).await {
                        Ok(reply) if reply.status == StatusCode::OK => {
                            holder.latest = refresh_token(&reply.body["data"]);
                            holder.refreshed += 1;
                        }
                        Ok(reply) => panic!("{}: refresh refused: {}", holder.email, reply.body),
                        // The server is gone: keep the last acknowledged token.
                        Err(_) => break,
                    }
                }
            }));
        }
        let sign_ups = {
            let running = Arc::clone(&running);
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    if !running.load(Ordering::Relaxed) {
                        break;
                    }
                    let email = format!("new{round}-{n}@example.com");
                    match send_to(addr, sign_up_request(&email, None)).await {
                        Ok(reply) if reply.status == StatusCode::CREATED => {
                            let id = reply.body["data"]["user"]["id"].as_str().unwrap();
                            acknowledged.push((email, id.to_owned()));
                        }
                        Ok(reply) => panic!("sign-up refused: {}", reply.body),
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        };

        tokio::time::sleep(Duration::from_millis(600 + 150 * round as u64)).await;
        server.kill();
        running.store(false, Ordering::Relaxed);
        for task in load {
            task.await.unwrap();
        }
        signed_up.extend(sign_ups.await.unwrap());
        server.restart().await;

        for holder in &holders {
            let mut holder = holder.lock().await;
            let reply = server
                .send(post(
                    "/auth/refresh",
                    &json!({ "refresh_token": holder.latest }),
                ))
                .await;
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "after kill {}: {} lost its session: {}",
                round + 1,
                holder.email,
                reply.body
            );
            holder.latest = refresh_token(&reply.body["data"]);
        }
    }

    // Every acknowledged sign-up survived all the kills: the account signs in, and its user and
    // its sign-up event are in the database.
    let keyward = db.start().await;
    let users = keyward.store().users(100_000, 0).await.unwrap();
    let events = keyward.store().recent_audit(100_000, None).await.unwrap();
    for (email, id) in &signed_up {
        assert!(
            users.iter().any(|user| user.id.to_string() == *id),
            "{email} lost"
        );
        assert!(
            events
                .iter()
                .any(|event| event.kind == "sign_up" && event.user_id.as_deref() == Some(id)),
            "the sign-up event of {email} lost"
        );
    }
    for (email, _) in signed_up.iter().step_by(7) {
        sign_in(&keyward, email).await;
    }
    let mut refreshed = 0;
    for holder in &holders {
        refreshed += holder.lock().await.refreshed;
    }
    assert!(refreshed > 0, "the load never ran");
    eprintln!(
        "crash safety ({:?}): {KILLS} kills survived, {CLIENTS} clients, {refreshed} refreshes and {} sign-ups acknowledged, 0 lost",
        db.kind,
        signed_up.len()
    );
}
