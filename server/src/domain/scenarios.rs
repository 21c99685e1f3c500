//! Scenario tests of the domain with a controlled clock, on the database the test run selects:
//! grace windows, idle timeouts, lifetimes, lockouts and rate-limit windows without sleeping.

// The scenarios start from the real time and move it by hand: the database's own clock (which
// revocations are read by) must agree with them.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::Duration;

use keyward_proto::{
    AuthSuccess, ErrorCode, SignInAnswer, SignInRequest, SignOutScope, SignUpRequest,
};

use super::audit::Client;
use super::core::Core;
use super::password::{Hasher, Password};
use super::{Random, SessionId, Timestamp, UserId, accounts, dpop, passkeys, sessions, tickets};
use crate::Settings;
use crate::testing::TestDb;

const PASSWORD: &str = "correct horse battery staple";

/// The scenarios' randomness: repeatable, and one stream for all, so ids never collide.
static RANDOM: Random = Random::seeded(7);
const MINUTE: Duration = Duration::from_secs(60);

async fn core(db: &TestDb, adjust: impl FnOnce(&mut Settings)) -> Arc<Core> {
    let mut settings = db.settings();
    adjust(&mut settings);
    crate::runtime::start(settings).await.unwrap()
}

fn client(ip: &str) -> Client {
    Client {
        ip: Some(ip.into()),
        user_agent: Some("scenario".into()),
    }
}

async fn sign_up(core: &Core, email: &str, now: Timestamp) -> AuthSuccess {
    let request = SignUpRequest {
        email: email.into(),
        password: PASSWORD.into(),
        name: None,
    };
    accounts::sign_up(
        core,
        request,
        &no_proof("/auth/sign-up"),
        &client("198.51.100.1"),
        now,
        &RANDOM,
    )
    .await
    .unwrap()
}

async fn sign_in(
    core: &Core,
    email: &str,
    password: &str,
    ip: &str,
    now: Timestamp,
) -> Result<AuthSuccess, crate::Error> {
    let request = SignInRequest {
        email: email.into(),
        password: password.into(),
    };
    accounts::sign_in(
        core,
        request,
        &no_proof("/auth/sign-in"),
        &client(ip),
        now,
        &RANDOM,
    )
    .await
    .map(|answer| match answer {
        SignInAnswer::Session(success) => success,
        SignInAnswer::Mfa(_) => panic!("no account here has a second factor"),
    })
}

/// A request without a DPoP proof, to `path`.
fn no_proof(path: &str) -> dpop::Request {
    dpop::Request {
        proof: None,
        method: "POST".into(),
        url: format!("http://localhost:8787{path}"),
    }
}

async fn refresh(
    core: &Core,
    token: &str,
    client: &Client,
    now: Timestamp,
) -> Result<keyward_proto::Tokens, crate::Error> {
    sessions::refresh(
        core,
        token,
        &no_proof("/auth/refresh"),
        client,
        now,
        &RANDOM,
    )
    .await
}

fn code<T: std::fmt::Debug>(result: Result<T, crate::Error>) -> ErrorCode {
    result
        .unwrap_err()
        .code()
        .expect("a refusal, not an internal error")
}

#[tokio::test]
async fn a_rotation_records_the_use_once_and_a_grace_replay_writes_nothing() {
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let t0 = Timestamp::now();
    let signed = sign_up(&core, "rotation@example.com", t0).await;
    let user = UserId::parse(&signed.user.id).unwrap();
    let c = client("198.51.100.7");
    let last_used = |core: Arc<Core>, at: Timestamp| async move {
        let sessions = core
            .store
            .live_sessions(&user, at.millis(), 0)
            .await
            .unwrap();
        assert_eq!(sessions.len(), 1);
        sessions[0].last_used_at
    };
    let rotations = |core: Arc<Core>| async move {
        let events = core.store.recent_audit(50, Some(&user)).await.unwrap();
        events.iter().filter(|e| e.kind == "refresh").count()
    };

    let t1 = t0.plus(MINUTE);
    let first = refresh(&core, &signed.tokens.refresh_token, &c, t1)
        .await
        .unwrap();
    assert_eq!(last_used(Arc::clone(&core), t1).await, t1.millis());
    assert_eq!(rotations(Arc::clone(&core)).await, 1);

    // A second tab with the same token, two seconds later: the same successor, nothing written.
    let t2 = t1.plus(Duration::from_secs(2));
    let again = refresh(&core, &signed.tokens.refresh_token, &c, t2)
        .await
        .unwrap();
    assert_eq!(again.refresh_token, first.refresh_token);
    assert_eq!(last_used(Arc::clone(&core), t2).await, t1.millis());
    assert_eq!(rotations(Arc::clone(&core)).await, 1);

    // The successor rotates in turn.
    let t3 = t2.plus(MINUTE);
    refresh(&core, &first.refresh_token, &c, t3).await.unwrap();
    assert_eq!(last_used(Arc::clone(&core), t3).await, t3.millis());
    assert_eq!(rotations(Arc::clone(&core)).await, 2);
}

#[tokio::test]
async fn a_rotation_that_fails_rolls_back_alone() {
    use super::audit::EventExt as _;
    use crate::store::RefreshRow;

    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let t0 = Timestamp::now();
    let a = sign_up(&core, "alone-a@example.com", t0).await;
    let b = sign_up(&core, "alone-b@example.com", t0).await;
    let hash = |token: &str| super::sha256(token.as_bytes()).to_vec();
    let session_of = |token: String| {
        let core = Arc::clone(&core);
        async move {
            let found = core.store.refresh_token(&hash(&token)).await.unwrap();
            found.unwrap().session.id
        }
    };
    let (a_session, b_session) = (
        session_of(a.tokens.refresh_token.clone()).await,
        session_of(b.tokens.refresh_token.clone()).await,
    );
    let t1 = t0.plus(MINUTE);
    let c = client("198.51.100.8");
    let event = |session: &SessionId| {
        super::audit::event(super::audit::AuditKind::Refresh, t1, &c).session(session)
    };

    // B's successor collides with A's current token: B's rotation fails in the database, while
    // A's, sent at the same moment, succeeds.
    let clash = RefreshRow {
        token_hash: hash(&a.tokens.refresh_token),
        session_id: b_session,
        issued_at: t1.millis(),
    };
    let fine = RefreshRow {
        token_hash: hash("kwr_the-successor-of-a"),
        session_id: a_session,
        issued_at: t1.millis(),
    };
    let (b_old, a_old) = (hash(&b.tokens.refresh_token), hash(&a.tokens.refresh_token));
    let (b_event, a_event) = (event(&b_session), event(&a_session));
    let (failed, won) = tokio::join!(
        core.store
            .rotate_refresh_token(&b_old, &clash, None, &b_event),
        core.store
            .rotate_refresh_token(&a_old, &fine, None, &a_event),
    );
    assert!(failed.is_err(), "{failed:?}");
    assert!(won.unwrap(), "A's rotation committed");

    // Nothing of B's rotation stayed: its token is unused, and B refreshes normally.
    let b_token = core
        .store
        .refresh_token(&hash(&b.tokens.refresh_token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b_token.used_at, None);
    refresh(&core, &b.tokens.refresh_token, &c, t1)
        .await
        .unwrap();
    let a_token = core
        .store
        .refresh_token(&hash(&a.tokens.refresh_token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a_token.used_at, Some(t1.millis()));
}

#[tokio::test]
async fn a_used_refresh_token_gets_the_same_successor_within_the_grace_window_and_revokes_after_it()
{
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let t0 = Timestamp::now();
    let signed = sign_up(&core, "tab@example.com", t0).await;
    let r0 = signed.tokens.refresh_token;
    let c = client("198.51.100.2");

    let t1 = t0.plus(MINUTE);
    let first = refresh(&core, &r0, &c, t1).await.unwrap();
    let again = refresh(&core, &r0, &c, t1.plus(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(
        again.refresh_token, first.refresh_token,
        "the same successor inside the window"
    );
    assert_ne!(again.access_token, first.access_token);
    let second = refresh(
        &core,
        &first.refresh_token,
        &c,
        t1.plus(Duration::from_secs(6)),
    )
    .await
    .unwrap();

    // Eleven seconds after it was used, the old token is a replay: the session is revoked.
    let late = t1.plus(Duration::from_secs(11));
    assert_eq!(
        code(refresh(&core, &r0, &c, late).await),
        ErrorCode::RefreshTokenReused
    );
    assert_eq!(
        code(refresh(&core, &second.refresh_token, &c, late).await),
        ErrorCode::SessionRevoked,
        "the legitimate holder's newest token dies with the session"
    );
    assert_eq!(
        code(core.verify_access(&second.access_token, late).await),
        ErrorCode::SessionRevoked,
        "and its access token is refused at once"
    );
    let events = core
        .store
        .recent_audit(50, UserId::parse(&signed.user.id).as_ref())
        .await
        .unwrap();
    let reuse = events
        .iter()
        .find(|e| e.kind == "refresh_reuse_detected")
        .expect("an audit event");
    assert_eq!(
        reuse.session_id.as_deref(),
        Some(signed.session_id.as_str())
    );
    assert_eq!(reuse.ip.as_deref(), Some("198.51.100.2"));
}

#[tokio::test]
async fn a_session_ends_when_idle_too_long_or_past_its_lifetime() {
    let db = TestDb::new().await;
    let core = core(&db, |s| {
        s.session_idle_timeout = Duration::from_secs(3600);
        s.refresh_ttl = Duration::from_secs(2 * 3600);
        s.rate_limits = false;
    })
    .await;
    let t0 = Timestamp::now();
    let c = client("198.51.100.3");

    // Idle: refreshed after 59 minutes, then silent for 61.
    let idle = sign_up(&core, "idle@example.com", t0).await;
    let r1 = refresh(&core, &idle.tokens.refresh_token, &c, t0.plus(59 * MINUTE))
        .await
        .unwrap();
    let late = t0.plus(59 * MINUTE).plus(61 * MINUTE);
    assert_eq!(
        code(refresh(&core, &r1.refresh_token, &c, late).await),
        ErrorCode::RefreshTokenExpired
    );

    // Lifetime: refreshed every 50 minutes, still over after two hours.
    let busy = sign_in(&core, "idle@example.com", PASSWORD, "198.51.100.3", t0)
        .await
        .unwrap();
    let mut token = busy.tokens.refresh_token;
    for step in 1..=2 {
        token = refresh(&core, &token, &c, t0.plus(step * 50 * MINUTE))
            .await
            .unwrap()
            .refresh_token;
    }
    let past = t0.plus(121 * MINUTE);
    assert_eq!(
        code(refresh(&core, &token, &c, past).await),
        ErrorCode::RefreshTokenExpired
    );
}

#[tokio::test]
async fn ten_failures_lock_an_email_for_fifteen_minutes_even_with_rate_limits_off() {
    let db = TestDb::new().await;
    let core = core(&db, |s| s.rate_limits = false).await;
    let t0 = Timestamp::now();
    sign_up(&core, "locked@example.com", t0).await;
    let ip = "198.51.100.4";

    for attempt in 0..10 {
        let at = t0.plus(Duration::from_secs(attempt));
        let result = sign_in(&core, "locked@example.com", "wrong password", ip, at).await;
        assert_eq!(
            code(result),
            ErrorCode::InvalidCredentials,
            "attempt {attempt}"
        );
    }
    // Locked now: even the right password is refused, with the time left.
    let t1 = t0.plus(Duration::from_secs(20));
    let locked = sign_in(&core, "locked@example.com", PASSWORD, ip, t1)
        .await
        .unwrap_err();
    let crate::Error::Rejected {
        code: locked_code,
        retry_after,
        ..
    } = locked
    else {
        panic!("expected a refusal");
    };
    assert_eq!(locked_code, ErrorCode::AccountLocked);
    let left = retry_after.unwrap();
    assert!(left > 14 * MINUTE && left <= 15 * MINUTE, "{left:?}");

    // The failures are counted per email and client.
    let record = format!("locked@example.com:{ip}");
    assert!(
        core.store
            .sign_in_failures(&record)
            .await
            .unwrap()
            .is_some()
    );

    // After the lock, the right password works and the count starts again.
    let t2 = t0.plus(15 * MINUTE).plus(Duration::from_secs(10));
    sign_in(&core, "locked@example.com", PASSWORD, ip, t2)
        .await
        .unwrap();
    assert_eq!(core.store.sign_in_failures(&record).await.unwrap(), None);

    // An unknown email locks the same way, so a lock says nothing about whether it exists.
    for attempt in 0..10 {
        let at = t0.plus(Duration::from_secs(attempt));
        let _ = sign_in(&core, "ghost@example.com", "whatever pass", ip, at).await;
    }
    let ghost = sign_in(&core, "ghost@example.com", "whatever pass", ip, t1).await;
    assert_eq!(code(ghost), ErrorCode::AccountLocked);

    let kinds: Vec<String> = core
        .store
        .recent_audit(100, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().filter(|k| *k == "sign_in_failed").count() >= 9);
    assert!(kinds.iter().any(|k| k == "sign_in_locked"));
}

#[tokio::test]
async fn sign_ins_are_limited_per_email_and_ip_with_a_retry_after() {
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let minute_start = Timestamp::from_millis(Timestamp::now().millis() / 60_000 * 60_000);
    sign_up(&core, "busy@example.com", minute_start).await;
    let ip = "198.51.100.5";

    for i in 0..5 {
        let at = minute_start.plus(Duration::from_secs(i));
        sign_in(&core, "busy@example.com", PASSWORD, ip, at)
            .await
            .unwrap();
    }
    let at = minute_start.plus(Duration::from_secs(10));
    let limited = sign_in(&core, "busy@example.com", PASSWORD, ip, at)
        .await
        .unwrap_err();
    let crate::Error::Rejected {
        code: limited_code,
        retry_after,
        ..
    } = limited
    else {
        panic!("expected a refusal");
    };
    assert_eq!(limited_code, ErrorCode::RateLimited);
    assert_eq!(retry_after, Some(Duration::from_secs(50)));

    // Another address is not affected; the next window is open again.
    sign_in(&core, "busy@example.com", PASSWORD, "198.51.100.99", at)
        .await
        .unwrap();
    sign_in(
        &core,
        "busy@example.com",
        PASSWORD,
        ip,
        minute_start.plus(MINUTE),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn sign_ups_are_limited_per_ip() {
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let now = Timestamp::now();
    for i in 0..30 {
        sign_up(&core, &format!("user{i}@example.com"), now).await;
    }
    let request = SignUpRequest {
        email: "one.more@example.com".into(),
        password: PASSWORD.into(),
        name: None,
    };
    let limited = accounts::sign_up(
        &core,
        request,
        &no_proof("/auth/sign-up"),
        &client("198.51.100.1"),
        now,
        &RANDOM,
    )
    .await;
    assert_eq!(code(limited), ErrorCode::RateLimited);
    assert!(
        core.store
            .user_by_email("one.more@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_oldest_sessions_are_evicted_beyond_the_per_user_limit() {
    let db = TestDb::new().await;
    let core = core(&db, |s| {
        s.max_sessions_per_user = 2;
        s.rate_limits = false;
    })
    .await;
    let t0 = Timestamp::now();
    let first = sign_up(&core, "many@example.com", t0).await;
    let second = sign_in(
        &core,
        "many@example.com",
        PASSWORD,
        "198.51.100.6",
        t0.plus(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    let third = sign_in(
        &core,
        "many@example.com",
        PASSWORD,
        "198.51.100.6",
        t0.plus(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    let now = t0.plus(Duration::from_secs(3));

    assert_eq!(
        code(core.verify_access(&first.tokens.access_token, now).await),
        ErrorCode::SessionRevoked
    );
    assert_eq!(
        code(refresh(&core, &first.tokens.refresh_token, &client("x"), now).await),
        ErrorCode::SessionRevoked
    );
    core.verify_access(&second.tokens.access_token, now)
        .await
        .unwrap();
    let claims = core
        .verify_access(&third.tokens.access_token, now)
        .await
        .unwrap();
    let live = sessions::list(&core, &claims, now).await.unwrap();
    assert_eq!(live.len(), 2);
}

#[tokio::test]
async fn rotating_the_signing_key_keeps_earlier_tokens_valid() {
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let t0 = Timestamp::now();
    let before = sign_up(&core, "rotate@example.com", t0).await;
    let old_kid = core.keys().signing().kid().to_owned();

    let new_kid = core
        .rotate_keys(t0.plus(Duration::from_secs(1)), &RANDOM, &client("x"))
        .await
        .unwrap();
    assert_ne!(new_kid, old_kid);
    assert_eq!(core.keys().jwks().keys.len(), 2, "both keys published");
    let now = t0.plus(Duration::from_secs(2));
    core.verify_access(&before.tokens.access_token, now)
        .await
        .unwrap();

    let after = sign_in(&core, "rotate@example.com", PASSWORD, "198.51.100.7", now)
        .await
        .unwrap();
    assert_eq!(
        super::tokens::kid_of(&after.tokens.access_token).as_deref(),
        Some(new_kid.as_str())
    );
    core.verify_access(&after.tokens.access_token, now)
        .await
        .unwrap();

    // Once every token the old key signed has expired, it leaves the JWKS.
    let much_later = now.plus(core.settings.access_ttl).plus(5 * MINUTE);
    core.reload_keys(much_later).await.unwrap();
    let kids: Vec<_> = core
        .keys()
        .jwks()
        .keys
        .iter()
        .filter_map(|k| k.kid.clone())
        .collect();
    assert_eq!(kids, vec![new_kid]);
}

#[tokio::test]
async fn two_servers_on_one_database_share_revocations_and_rotations() {
    let db = TestDb::new().await;
    let a = core(&db, |_| {}).await;
    let b = core(&db, |_| {}).await;
    let t0 = Timestamp::now();
    let signed = sign_up(&a, "shared@example.com", t0).await;
    let token = &signed.tokens.access_token;
    b.verify_access(token, t0).await.unwrap();

    let claims = a.verify_access(token, t0).await.unwrap();
    sessions::sign_out(&a, &claims, SignOutScope::Session, &client("x"), t0)
        .await
        .unwrap();
    assert_eq!(
        code(a.verify_access(token, t0).await),
        ErrorCode::SessionRevoked
    );
    // B learns of it with its next sync (every second in a running server).
    b.revoked
        .sync(
            &b.store,
            t0.plus(Duration::from_secs(1)),
            b.settings.access_ttl,
        )
        .await
        .unwrap();
    assert_eq!(
        code(b.verify_access(token, t0).await),
        ErrorCode::SessionRevoked
    );

    // A key rotated by A: B verifies A's new tokens after reloading on the unknown kid.
    a.rotate_keys(t0, &RANDOM, &client("x")).await.unwrap();
    let fresh = sign_in(&a, "shared@example.com", PASSWORD, "198.51.100.8", t0)
        .await
        .unwrap();
    let later = t0.plus(Duration::from_secs(10));
    b.verify_access(&fresh.tokens.access_token, later)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_password_hashed_with_older_parameters_is_upgraded_at_sign_in() {
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let t0 = Timestamp::now();
    let cheap =
        Hasher::with_params(argon2::Params::new(64, 1, 1, None).unwrap(), 1, &RANDOM).unwrap();
    let old_hash = cheap
        .hash(&Password::new(PASSWORD.into()).unwrap(), RANDOM.bytes())
        .await
        .unwrap();
    let user = sign_up(&core, "legacy@example.com", t0).await.user;
    let user_id = UserId::parse(&user.id).unwrap();
    core.store
        .set_password_hash(&user_id, &old_hash, t0.millis())
        .await
        .unwrap();

    sign_in(&core, "legacy@example.com", PASSWORD, "198.51.100.9", t0)
        .await
        .unwrap();

    let stored = core
        .store
        .user(&user_id)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    sign_in(&core, "legacy@example.com", PASSWORD, "198.51.100.9", t0)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_proof_id_sent_many_times_at_once_is_recorded_once_and_again_after_it_expires() {
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let now = Timestamp::now().millis();
    let attempts: Vec<_> = (0..12)
        .map(|i| {
            let core = Arc::clone(&core);
            // Two ids: one sent eight times, one four times, all at once.
            let id = if i % 3 == 0 { "jkt:b" } else { "jkt:a" };
            tokio::spawn(async move { core.store.record_dpop_proof(id, now, now + 1000).await })
        })
        .collect();
    let mut fresh = 0;
    for attempt in attempts {
        fresh += usize::from(attempt.await.unwrap().unwrap());
    }
    assert_eq!(fresh, 2, "each id is new exactly once");
    assert!(
        !core
            .store
            .record_dpop_proof("jkt:a", now + 999, now + 2000)
            .await
            .unwrap()
    );
    assert!(
        core.store
            .record_dpop_proof("jkt:a", now + 1000, now + 2000)
            .await
            .unwrap(),
        "a record that has expired is taken over"
    );
}

/// Finding 6: revocations reached other servers by the revoking process's wall clock with a 5 s
/// overlap, so a process whose clock ran behind wrote revocations the others never read. They
/// are read by the database's clock now.
#[tokio::test]
async fn a_revocation_by_a_server_whose_clock_is_behind_reaches_the_others() {
    let db = TestDb::new().await;
    let a = core(&db, |_| {}).await;
    let b = core(&db, |_| {}).await;
    let now = Timestamp::now();
    let signed = sign_up(&a, "skew@example.com", now).await;
    let claims = a
        .verify_access(&signed.tokens.access_token, now)
        .await
        .unwrap();
    b.revoked
        .sync(&b.store, now, b.settings.access_ttl)
        .await
        .unwrap();

    // A's clock is a minute behind.
    let behind = now.minus(MINUTE);
    sessions::sign_out(
        &a,
        &claims,
        SignOutScope::Session,
        &client("198.51.100.2"),
        behind,
    )
    .await
    .unwrap();
    let later = now.plus(Duration::from_secs(1));
    b.revoked
        .sync(&b.store, later, b.settings.access_ttl)
        .await
        .unwrap();
    assert!(b.revoked.contains(&claims.sid));
    assert_eq!(
        b.verify_access(&signed.tokens.access_token, later)
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::SessionRevoked)
    );
}

/// Finding 1: a stolen access token (or script in the page) could add a passkey of its own and
/// keep the account. Adding or removing a passkey needs a sign-in within `recent_auth`.
#[tokio::test]
async fn adding_a_passkey_needs_a_recent_sign_in() {
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let t0 = Timestamp::now();
    let signed = sign_up(&core, "recent@example.com", t0).await;
    let c = client("198.51.100.3");
    let fresh = core
        .verify_access(&signed.tokens.access_token, t0)
        .await
        .unwrap();
    assert!(
        passkeys::register_options(&core, &fresh, None, &c, t0)
            .await
            .is_ok()
    );

    // Eleven minutes on, the session's tokens are refreshed, but nobody signed in again.
    let t1 = t0.plus(11 * MINUTE);
    let renewed = refresh(&core, &signed.tokens.refresh_token, &c, t1)
        .await
        .unwrap();
    let stale = core.verify_access(&renewed.access_token, t1).await.unwrap();
    let refused = passkeys::register_options(&core, &stale, None, &c, t1).await;
    assert_eq!(
        refused.err().and_then(|e| e.code()).map(|c| c.as_str()),
        Some("reauthentication_required")
    );
    let removal = passkeys::remove(
        &core,
        &stale,
        "0190c0de-0000-7000-8000-000000000000",
        &c,
        t1,
    )
    .await;
    assert_eq!(
        removal.err().and_then(|e| e.code()).map(|c| c.as_str()),
        Some("reauthentication_required")
    );

    // Signing in again makes it recent.
    let again = sign_in(&core, "recent@example.com", PASSWORD, "198.51.100.3", t1)
        .await
        .unwrap();
    let recent = core
        .verify_access(&again.tokens.access_token, t1)
        .await
        .unwrap();
    assert!(
        passkeys::register_options(&core, &recent, None, &c, t1)
            .await
            .is_ok()
    );
}

/// Finding 9: the audit log only grew. Events past `audit_retention` are deleted by the upkeep;
/// younger ones still cannot be deleted by anyone.
#[tokio::test]
async fn audit_events_past_their_retention_are_deleted_and_no_others() {
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let now = Timestamp::now();
    let year = Duration::from_secs(365 * 24 * 3600);
    let old = sign_up(&core, "old@example.com", now.minus(year).minus(MINUTE)).await;
    let new = sign_up(&core, "new@example.com", now).await;
    let count = |user: String| {
        let store = core.store.clone();
        let user = UserId::parse(&user).unwrap();
        async move { store.recent_audit(100, Some(&user)).await.unwrap().len() }
    };
    assert_eq!(count(old.user.id.clone()).await, 1);

    crate::runtime::upkeep(&core, now, 0).await.unwrap();
    assert_eq!(count(old.user.id.clone()).await, 0, "past a year: deleted");
    assert_eq!(count(new.user.id.clone()).await, 1);
    let delete = "DELETE FROM audit_events";
    let refused = match db.kind {
        crate::DatabaseKind::Sqlite => {
            use sqlx::Connection as _;
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query(delete).execute(&mut conn).await.is_err()
        }
        crate::DatabaseKind::Postgres => {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(delete).execute(&mut conn).await.is_err()
        }
    };
    assert!(refused, "younger events cannot be deleted");
    assert_eq!(count(new.user.id.clone()).await, 1);
}

/// A connect ticket stands in for a header a WebSocket cannot send, for 30 seconds: redeemed a
/// moment before that it works; at 30 seconds it is refused; the upkeep purges the expired ones.
#[tokio::test]
async fn a_connect_ticket_is_good_for_thirty_seconds_and_purged_once_expired() {
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let t0 = Timestamp::now();
    let signed = sign_up(&core, "ticket@example.com", t0).await;
    let claims = core
        .verify_access(&signed.tokens.access_token, t0)
        .await
        .unwrap();
    let url = "wss://sync.example.com/ws";
    let second = Duration::from_secs(1);

    let on_time = tickets::issue(&core, &claims, url, t0, &RANDOM)
        .await
        .unwrap();
    assert_eq!(on_time.expires_in, 30);
    let just_before = t0.plus(30 * second).minus(Duration::from_millis(1));
    let identity = tickets::redeem(&core, &on_time.ticket, url, just_before)
        .await
        .unwrap();
    assert_eq!(identity.user_id, claims.sub);
    assert_eq!(identity.session_id, claims.sid);

    let late = tickets::issue(&core, &claims, url, t0, &RANDOM)
        .await
        .unwrap();
    assert_eq!(
        code(tickets::redeem(&core, &late.ticket, url, t0.plus(30 * second)).await),
        ErrorCode::InvalidTicket
    );

    // The upkeep deletes the tickets that have expired, and only those.
    let expired = tickets::issue(&core, &claims, url, t0, &RANDOM)
        .await
        .unwrap();
    let live = tickets::issue(&core, &claims, url, t0.plus(20 * second), &RANDOM)
        .await
        .unwrap();
    crate::runtime::upkeep(&core, t0.plus(31 * second), 0)
        .await
        .unwrap();
    // Redeemed with a clock from before its expiry, the purged ticket is simply not there.
    assert_eq!(
        code(tickets::redeem(&core, &expired.ticket, url, t0.plus(10 * second)).await),
        ErrorCode::InvalidTicket
    );
    tickets::redeem(&core, &live.ticket, url, t0.plus(40 * second))
        .await
        .unwrap();
}

/// One session gets at most 120 connect tickets a minute: past that `rate_limited`, with the time
/// left in the minute; another session of the same user has its own count, and the next minute
/// the first gets tickets again. Each ticket waits 30 s (in a row, or on SQLite in the server's
/// memory, which every user's tickets share up to a cap): unlimited, one session could fill it.
/// With rate limits off (load tests), nothing is refused. (Each server process counts in its
/// own memory: see `limits::LocalCounts`.)
#[tokio::test]
async fn a_session_gets_at_most_120_connect_tickets_a_minute() {
    let db = TestDb::new().await;
    let unlimited = core(&db, |settings| settings.rate_limits = false).await;
    let core = core(&db, |_| {}).await;
    let minute = Timestamp::from_millis(Timestamp::now().millis() / 60_000 * 60_000);
    let url = "wss://sync.example.com/ws";
    let signed = sign_up(&core, "sockets@example.com", minute).await;
    let claims = core
        .verify_access(&signed.tokens.access_token, minute)
        .await
        .unwrap();
    for n in 0..120 {
        let at = minute.plus(Duration::from_millis(n * 100));
        tickets::issue(&core, &claims, url, at, &RANDOM)
            .await
            .unwrap();
    }
    let at = minute.plus(Duration::from_secs(45));
    let crate::Error::Rejected {
        code: refused,
        retry_after,
        ..
    } = tickets::issue(&core, &claims, url, at, &RANDOM)
        .await
        .unwrap_err()
    else {
        panic!("expected a refusal");
    };
    assert_eq!(
        (refused, retry_after),
        (ErrorCode::RateLimited, Some(Duration::from_secs(15)))
    );

    let other = sign_in(&core, "sockets@example.com", PASSWORD, "198.51.100.2", at)
        .await
        .unwrap();
    let other = core
        .verify_access(&other.tokens.access_token, at)
        .await
        .unwrap();
    tickets::issue(&core, &other, url, at, &RANDOM)
        .await
        .unwrap();
    tickets::issue(&core, &claims, url, minute.plus(MINUTE), &RANDOM)
        .await
        .unwrap();

    let next = minute.plus(MINUTE).plus(Duration::from_secs(1));
    for _ in 0..130 {
        tickets::issue(&unlimited, &claims, url, next, &RANDOM)
            .await
            .unwrap();
    }
}

/// An access token still good here whose session another server revoked a moment ago (this
/// one learns of it within a second) gets no connect ticket: the session row decides.
#[tokio::test]
async fn no_connect_ticket_for_a_session_revoked_elsewhere() {
    let db = TestDb::new().await;
    let a = core(&db, |_| {}).await;
    let b = core(&db, |_| {}).await;
    let now = Timestamp::now();
    let signed = sign_up(&a, "elsewhere@example.com", now).await;
    let token = &signed.tokens.access_token;
    let on_b = b.verify_access(token, now).await.unwrap();
    let on_a = a.verify_access(token, now).await.unwrap();
    sessions::sign_out(&a, &on_a, SignOutScope::Session, &client("x"), now)
        .await
        .unwrap();

    let url = "wss://sync.example.com/ws";
    assert_eq!(
        code(tickets::issue(&b, &on_b, url, now, &RANDOM).await),
        ErrorCode::SessionRevoked
    );
}

/// Emailed links stop working at the end of their lifetime: verification 24 hours, password
/// reset one hour, magic link 15 minutes; a second before, they work.
#[tokio::test]
async fn emailed_links_expire_with_their_purpose() {
    use super::lifecycle;
    use keyward_proto::{ForgotPassword, ResetPassword, SendMagicLink, VerifyMagicLink};
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let t0 = Timestamp::now();
    let who = client("198.51.100.9");
    let second = Duration::from_secs(1);
    let hour = 60 * MINUTE;

    sign_up(&core, "late@example.com", t0).await;
    let token = wait_for_token(&core, "late@example.com", "verify_email").await;
    let unproved = no_proof("/auth/email/verification/confirm");
    let late = t0.plus(24 * hour);
    let late = lifecycle::confirm_verification(&core, &token, None, &unproved, &who, late).await;
    assert_eq!(code(late), ErrorCode::InvalidLink);
    sign_up(&core, "early@example.com", t0).await;
    let token = wait_for_token(&core, "early@example.com", "verify_email").await;
    let early = t0.plus(24 * hour - second);
    lifecycle::confirm_verification(&core, &token, None, &unproved, &who, early)
        .await
        .unwrap();

    let forgot = |email: &str| ForgotPassword {
        email: email.into(),
        redirect_to: None,
    };
    let reset = |token: String| ResetPassword {
        token,
        password: "a fresh long passphrase".into(),
    };
    for (email, at, expired) in [
        ("late@example.com", t0.plus(hour), true),
        ("early@example.com", t0.plus(hour - second), false),
    ] {
        lifecycle::forgot_password(&core, forgot(email), &who, t0)
            .await
            .unwrap()
            .send(&core, t0, &RANDOM)
            .await;
        let token = wait_for_token(&core, email, "reset_password").await;
        let outcome = lifecycle::reset_password(&core, reset(token), &who, at, &RANDOM).await;
        assert_eq!(outcome.is_err(), expired, "{email}");
    }

    let magic = SendMagicLink {
        email: "magic@example.com".into(),
        redirect_to: None,
    };
    lifecycle::send_magic_link(&core, magic, &who, t0)
        .await
        .unwrap()
        .send(&core, t0, &RANDOM)
        .await;
    let token = wait_for_token(&core, "magic@example.com", "magic_link").await;
    let verify = VerifyMagicLink::Link(keyward_proto::LinkToken { token });
    let proof = no_proof("/auth/magic-link/verify");
    let at = t0.plus(15 * MINUTE);
    let late = lifecycle::verify_magic_link(&core, verify, &proof, &who, at, &RANDOM).await;
    assert_eq!(code(late), ErrorCode::InvalidLink);
}

/// The token of the newest `kind` mail to `to`, once the request's background work queued it.
async fn wait_for_token(core: &Core, to: &str, kind: &str) -> String {
    for _ in 0..200 {
        let mails = core.store.recent_mail(50).await.unwrap();
        if let Some(mail) = mails.iter().find(|m| m.to_address == to && m.kind == kind) {
            let start = mail.text_body.find("token=").unwrap() + "token=".len();
            return mail.text_body[start..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no {kind} mail to {to}");
}

/// A provider's `keyward_code` works for sixty seconds and once; a link's code only for the
/// session that started it, and never as a sign-in's.
#[cfg(feature = "oauth")]
#[tokio::test]
async fn a_provider_code_lasts_sixty_seconds_and_a_link_code_is_its_sessions() {
    use crate::store::{OAuthCode, PendingLink};
    let db = TestDb::new().await;
    let core = core(&db, |_| {}).await;
    let t0 = Timestamp::from_millis(1_800_000_000_000);
    let signed = sign_up(&core, "code@example.com", t0).await;
    let user = UserId::parse(&signed.user.id).unwrap();
    let session = SessionId::parse(&signed.session_id).unwrap();
    let expires = t0.plus(Duration::from_secs(60)).millis();

    core.store
        .insert_oauth_code(b"late", &OAuthCode::SignIn(user), "challenge", expires)
        .await
        .unwrap();
    let late = core.store.take_oauth_code(b"late", expires).await.unwrap();
    assert_eq!(late, None, "not at sixty seconds");
    core.store
        .insert_oauth_code(b"in-time", &OAuthCode::SignIn(user), "challenge", expires)
        .await
        .unwrap();
    let in_time = core.store.take_oauth_code(b"in-time", expires - 1).await;
    assert!(in_time.unwrap().is_some());
    let again = core.store.take_oauth_code(b"in-time", expires - 1).await;
    assert_eq!(again.unwrap(), None, "once");

    let link = PendingLink {
        user_id: user,
        app_challenge: "challenge".into(),
        provider: "test".into(),
        issuer: "https://idp.example".into(),
        subject: "sub".into(),
        email: None,
    };
    core.store
        .insert_link_code(b"link", &session, &link, expires)
        .await
        .unwrap();
    let as_sign_in = core.store.take_oauth_code(b"link", t0.millis()).await;
    assert_eq!(as_sign_in.unwrap(), None, "a link code signs nobody in");
    let other = SessionId::new(t0, [7; 10]);
    let elsewhere = core
        .store
        .take_link_code(b"link", &other, t0.millis())
        .await;
    assert_eq!(elsewhere.unwrap(), None, "another session's");
    let late = core.store.take_link_code(b"link", &session, expires).await;
    assert_eq!(late.unwrap(), None, "not at sixty seconds");
}
