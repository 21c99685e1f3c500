//! The client's storage and refresh logic in headless Chromium: the vault's encryption, what
//! happens to unreadable records, and refresh timing under a controlled clock.
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Object, Reflect, Uint8Array};
use keyward_client::idb::Database;
use keyward_client::schedule::{Clock, Freshness, freshness, refresh_at};
use keyward_client::vault::{StoredSession, Vault};
use keyward_client::{AuthClient, AuthState, Error, Options};
use keyward_proto::{TokenType, Tokens, User};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const ACCESS: &str = "eyJhbGciOiJFUzI1NiJ9.access-token-payload.signature";
const REFRESH: &str = "kwr_refresh-token-that-must-never-be-readable";

fn session(issued_at: i64, lifetime_ms: i64) -> StoredSession {
    StoredSession {
        user: User {
            id: "user-1".into(),
            email: "vault@example.com".into(),
            email_verified: false,
            name: Some("Vault".into()),
            created_at: "2026-11-22T00:00:00Z".into(),
        },
        session_id: "session-1".into(),
        tokens: Tokens {
            access_token: ACCESS.into(),
            refresh_token: REFRESH.into(),
            token_type: TokenType::Bearer,
            expires_in: (lifetime_ms / 1000) as u64,
        },
        issued_at,
        expires_at: issued_at + lifetime_ms,
    }
}

/// Every byte IndexedDB holds for `db`, as text, to search for secrets.
async fn raw_records(db: &str) -> String {
    let db = Database::open(db).await.unwrap();
    let mut text = String::new();
    for key in ["session", "vault_key"] {
        if let Some(value) = db.get(key).await.unwrap() {
            if let Ok(data) = Reflect::get(&value, &"data".into()) {
                text.push_str(&String::from_utf8_lossy(&Uint8Array::new(&data).to_vec()));
            }
            if let Ok(json) = js_sys::JSON::stringify(&value) {
                text.push_str(&String::from(json));
            }
        }
    }
    text
}

#[wasm_bindgen_test]
async fn the_session_round_trips_through_the_vault_encrypted() {
    const DB: &str = "keyward-test-vault";
    Database::delete_database(DB).await.unwrap();
    let stored = session(1_000, 900_000);
    {
        let (vault, restored) = Vault::open(DB).await;
        assert!(vault.is_persistent());
        assert_eq!(restored.session, None);
        assert!(
            restored.device.is_some(),
            "a device key is made on first use"
        );
        vault.save(&stored).await.unwrap();
    }
    // A page load restores it (one read of all the records), and so does a later load().
    let (reopened, restored) = Vault::open(DB).await;
    assert_eq!(restored.session.as_ref(), Some(&stored));
    assert_eq!(reopened.load().await, Ok(Some(stored)));

    let raw = raw_records(DB).await;
    assert!(!raw.is_empty());
    for secret in [ACCESS, REFRESH, "vault@example.com", "access-token-payload"] {
        assert!(!raw.contains(secret), "{secret} is readable in IndexedDB");
    }

    reopened.clear().await.unwrap();
    assert_eq!(Vault::open(DB).await.1.session, None);
}

#[wasm_bindgen_test]
async fn a_tampered_record_or_a_lost_key_reads_as_signed_out_not_a_crash() {
    const DB: &str = "keyward-test-tamper";
    Database::delete_database(DB).await.unwrap();
    Vault::open(DB)
        .await
        .0
        .save(&session(1_000, 900_000))
        .await
        .unwrap();

    // Flip one ciphertext byte.
    let db = Database::open(DB).await.unwrap();
    let record = db.get("session").await.unwrap().unwrap();
    let data = Uint8Array::new(&Reflect::get(&record, &"data".into()).unwrap());
    data.set_index(3, data.get_index(3) ^ 0x01);
    let tampered = Object::new();
    Reflect::set(
        &tampered,
        &"iv".into(),
        &Reflect::get(&record, &"iv".into()).unwrap(),
    )
    .unwrap();
    Reflect::set(&tampered, &"data".into(), &data).unwrap();
    db.put("session", &tampered.into()).await.unwrap();
    assert_eq!(Vault::open(DB).await.1.session, None);
    assert_eq!(
        db.get("session").await.unwrap(),
        None,
        "the unreadable record is removed"
    );

    // Garbage in place of a record.
    db.put("session", &JsValue::from_str("not a record"))
        .await
        .unwrap();
    assert_eq!(Vault::open(DB).await.0.load().await, Ok(None));

    // The key is lost (evicted) while the ciphertext stays.
    Vault::open(DB)
        .await
        .0
        .save(&session(1_000, 900_000))
        .await
        .unwrap();
    db.delete("vault_key").await.unwrap();
    let (fresh, restored) = Vault::open(DB).await;
    assert_eq!(restored.session, None);
    assert_eq!(fresh.load().await, Ok(None));
    // And the vault works again with its new key.
    fresh.save(&session(2_000, 900_000)).await.unwrap();
    assert_eq!(
        Vault::open(DB).await.1.session,
        Some(session(2_000, 900_000))
    );
}

#[wasm_bindgen_test]
fn a_token_is_due_when_less_than_a_minute_or_a_quarter_of_its_life_remains() {
    // 15 minutes: due one minute before expiry.
    assert_eq!(refresh_at(0.0, 900_000.0), 840_000.0);
    // 20 seconds: due five seconds before (a quarter), not a minute before (that is its whole life).
    assert_eq!(refresh_at(0.0, 20_000.0), 15_000.0);
    assert_eq!(
        freshness(0.0, 20_000.0, 14_999.0),
        Freshness::Fresh {
            refresh_at: 15_000.0
        }
    );
    assert_eq!(freshness(0.0, 20_000.0, 15_000.0), Freshness::Due);
    assert_eq!(freshness(0.0, 20_000.0, 20_000.0), Freshness::Expired);
    // A token issued "in the future" by a skewed clock is never refreshed early in a loop.
    assert_eq!(refresh_at(10_000.0, 5_000.0), 5_000.0);
}

struct FakeClock(Rc<Cell<f64>>);

impl Clock for FakeClock {
    fn now(&self) -> f64 {
        self.0.get()
    }
}

#[wasm_bindgen_test]
async fn a_fresh_token_needs_no_network_and_an_unreachable_server_keeps_the_session() {
    const DB: &str = "keyward-test-client";
    Database::delete_database(DB).await.unwrap();
    Vault::open(DB)
        .await
        .0
        .save(&session(1_000_000, 900_000))
        .await
        .unwrap();
    let now = Rc::new(Cell::new(1_000_000.0 + 60_000.0));
    let options = Options {
        // Nothing listens there: any network call fails.
        server_url: "http://127.0.0.1:9/auth".into(),
        storage_name: DB.into(),
        memory_only: false,
        api_origins: Vec::new(),
    };
    let client = AuthClient::with_clock(options, Box::new(FakeClock(Rc::clone(&now)))).await;
    assert_eq!(client.state(), AuthState::SignedIn);
    assert_eq!(client.user().unwrap().email, "vault@example.com");

    // Restored from the vault and fresh: no network needed.
    assert_eq!(client.access_token().await.unwrap(), ACCESS);

    // Expired, and the server cannot be reached: an error, but the session stays.
    now.set(1_000_000.0 + 900_001.0);
    let error = client.access_token().await.unwrap_err();
    assert!(matches!(error, Error::Network(_)), "{error:?}");
    assert_eq!(client.state(), AuthState::Offline);
    assert_eq!(client.user().unwrap().email, "vault@example.com");
    assert!(
        Vault::open(DB).await.1.session.is_some(),
        "the stored session survives"
    );
}
