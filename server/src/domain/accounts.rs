//! Accounts: sign-up, sign-in with email and password, and reading the signed-in user.

use keyward_proto::{AuthSuccess, ErrorCode, SignInAnswer, SignInRequest, SignUpRequest, User};

use super::audit::{self, Client, EventExt as _};
use super::core::Core;
use super::dpop::{self, Proof};
use super::email::Email;
use super::limits::{self, LOCKOUT_DURATION, LOCKOUT_THRESHOLD};
use super::mail::MailKind;
use super::password::{Password, Verdict};
use super::sessions::{self, Start};
use super::tokens::AccessClaims;
use super::{Random, Timestamp, UserId};
use super::{lifecycle, mfa};
use crate::store::UserRow;
use crate::{EmailVerification, Error};

/// The longest display name accepted.
const MAX_NAME_CHARS: usize = 200;

/// `POST /auth/sign-up`: creates the account and signs it in.
pub async fn sign_up(
    core: &Core,
    request: SignUpRequest,
    dpop: &dpop::Request,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<AuthSuccess, Error> {
    let email = Email::parse(&request.email)?;
    let password = Password::new(request.password)?;
    password.check_common()?;
    let name = parse_name(request.name)?;
    limits::check(
        &core.store,
        core.settings.rate_limits,
        limits::SIGN_UP_PER_IP,
        &client.ip_key(),
        now,
    )
    .await?;
    // After the rate limit: a refused request must not grow the set of recorded proofs.
    let device = device_proof(core, dpop, now).await?;
    // Hash before looking at the email, so a taken address answers no faster than a new one.
    let hash = core.hasher.hash(&password, random.bytes()).await?;
    let user = UserRow {
        id: UserId::new(now, random.bytes()),
        email: email.as_str().to_owned(),
        email_key: email.key().to_owned(),
        email_verified_at: None,
        name,
        password_hash: Some(hash),
        created_at: now.millis(),
        disabled_at: None,
        last_sign_in_at: None,
    };
    let start = Start {
        user: &user,
        sign_up: true,
        amr: &["pwd"],
        client,
        event: audit::AuditKind::SignUp,
        device: device.as_ref(),
        way_in: None,
    };
    signed_up(core, start, now, random).await
}

/// Creates the account `start.user` with its first session (and a passkey-only sign-up's
/// passkey) in one transaction, and answers the sign-up; `email_taken` when the address is
/// taken (and nothing is written).
pub async fn signed_up(
    core: &Core,
    start: Start<'_>,
    now: Timestamp,
    random: &Random,
) -> Result<AuthSuccess, Error> {
    let user = user_view(start.user);
    let (account, client) = (start.user, start.client);
    let started = sessions::start(
        core,
        Start {
            sign_up: true,
            ..start
        },
        now,
        random,
    )
    .await?
    .ok_or_else(|| {
        Error::rejected(
            ErrorCode::EmailTaken,
            "An account with this email address exists already. Sign in instead.",
        )
    })?;
    let device = start.device.map(|proof| &proof.jkt);
    lifecycle::after_sign_up(core, account, device, now, random).await;
    if core.settings.email_verification == EmailVerification::Required
        && account.email_verified_at.is_none()
    {
        // The account exists (with its passkey, for a passkey sign-up), but nobody signs in to
        // it before its address is proved: the session just made ends at once.
        let event = audit::event(audit::AuditKind::SessionRevoked, now, client)
            .user(&account.id)
            .session(&started.session_id)
            .detail(serde_json::json!({ "reason": "email_not_verified" }));
        let which = crate::store::Revoke::All;
        sessions::revoke(core, &account.id, which, "email_not_verified", &event, now).await?;
        return Err(Error::rejected(
            ErrorCode::EmailNotVerified,
            "Account created: confirm your email address with the link just sent, then sign in.",
        ));
    }
    Ok(AuthSuccess {
        user,
        session_id: started.session_id.to_string(),
        tokens: started.tokens,
    })
}

/// `POST /auth/sign-in`: checks the password and starts a session.
///
/// In order: rate limits (per IP, per email + IP), the device proof, the lockout, the password
/// (an unknown email is verified against a dummy hash, so it takes as long as a known one), then
/// on failure the failure count (the 10th consecutive failure from one client locks the email
/// for that client for 15 minutes, known or not, so a lock reveals nothing either; the owner
/// signing in from another client is not locked out by a stranger). Over every client, 100
/// failures in an hour lock the email for the rest of that hour: one client alone cannot get
/// there (its own lock holds it to 40 an hour), guessing from many addresses at once stops there.
pub async fn sign_in(
    core: &Core,
    request: SignInRequest,
    dpop: &dpop::Request,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<SignInAnswer, Error> {
    let email = Email::parse(&request.email)?;
    let store = &core.store;
    let enabled = core.settings.rate_limits;
    let ip_key = client.ip_key();
    limits::check(store, enabled, limits::SIGN_IN_PER_IP, &ip_key, now).await?;
    let account_key = format!("{}:{ip_key}", email.key());
    limits::check(
        store,
        enabled,
        limits::SIGN_IN_PER_ACCOUNT,
        &account_key,
        now,
    )
    .await?;
    // After the rate limits: a refused request must not grow the set of recorded proofs.
    let device = device_proof(core, dpop, now).await?;

    // The lockout counts failures per email *and client*: a stranger's failures lock the
    // stranger out, not the account's owner signing in from elsewhere.
    let failures = store.sign_in_failures(&account_key).await?;
    let locked = limits::locked(failures.and_then(|f| f.locked_until), now).and(
        // And a cap over every client, which no one client can reach by itself: guessing
        // from many addresses at once stops here.
        limits::exceeded(store, limits::SIGN_IN_FAILURES_PER_EMAIL, email.key(), now).await,
    );
    if let Err(locked) = locked {
        let event = audit::event(audit::AuditKind::SignInLocked, now, client)
            .detail(serde_json::json!({ "email": email.as_str() }));
        store.insert_audit(&event).await?;
        return Err(locked);
    }

    let user = store.user_by_email(email.key()).await?;
    let verdict = match Password::candidate(request.password) {
        Some(password) => {
            let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
            core.hasher
                .verify(&password, stored, random.bytes())
                .await?
        }
        None => Verdict::Mismatch,
    };
    let user = match (verdict, user) {
        (Verdict::Mismatch, user) | (_, user @ None) => {
            let user = user.as_ref();
            return Err(failed(core, &email, &account_key, user, client, now, random).await?);
        }
        (Verdict::MatchRehashed(upgraded), Some(user)) => {
            store
                .set_password_hash(&user.id, &upgraded, now.millis())
                .await?;
            user
        }
        (Verdict::Match, Some(user)) => user,
    };
    if failures.is_some() {
        store.clear_sign_in_failures(&account_key).await?;
    }
    first_factor(core, &user, &["pwd"], client, device.as_ref(), now, random).await
}

/// Starts a session for `user`, who has just proved `amr` (bound to `device`'s key when
/// given), and answers the sign-in.
pub async fn signed_in(
    core: &Core,
    user: &UserRow,
    amr: &[&str],
    client: &Client,
    device: Option<&Proof>,
    now: Timestamp,
    random: &Random,
) -> Result<AuthSuccess, Error> {
    ensure_verified(core, user, client, device, now, random).await?;
    let start = Start {
        user,
        sign_up: false,
        amr,
        client,
        event: audit::AuditKind::SignIn,
        device,
        way_in: None,
    };
    let started = sessions::start(core, start, now, random)
        .await?
        .ok_or_else(|| Error::internal("a sign-in session was refused as a sign-up"))?;
    Ok(AuthSuccess {
        user: user_view(user),
        session_id: started.session_id.to_string(),
        tokens: started.tokens,
    })
}

/// A first factor `amr` proved for `user` (bound to `device`'s key when given): a session, or,
/// when the account has a second factor, the ticket to finish with it (see `mfa`).
pub async fn first_factor(
    core: &Core,
    user: &UserRow,
    amr: &[&str],
    client: &Client,
    device: Option<&Proof>,
    now: Timestamp,
    random: &Random,
) -> Result<SignInAnswer, Error> {
    ensure_verified(core, user, client, device, now, random).await?;
    if let Some(required) = mfa::gate(core, user, amr, device, now, random).await? {
        return Ok(SignInAnswer::Mfa(required));
    }
    let success = signed_in(core, user, amr, client, device, now, random).await?;
    Ok(SignInAnswer::Session(success))
}

/// `email_not_verified` for an account whose address is not proved yet, where the server
/// requires it: the right credentials, but the link goes out again (within its limits) instead
/// of a session.
async fn ensure_verified(
    core: &Core,
    user: &UserRow,
    client: &Client,
    device: Option<&Proof>,
    now: Timestamp,
    random: &Random,
) -> Result<(), Error> {
    if core.settings.email_verification != EmailVerification::Required
        || user.email_verified_at.is_some()
    {
        return Ok(());
    }
    let (kind, device) = (MailKind::VerifyEmail, device.map(|proof| &proof.jkt));
    lifecycle::mail_link_logged(core, kind, user, (Some(client), device), now, random).await;
    Err(Error::rejected(
        ErrorCode::EmailNotVerified,
        "Confirm your email address first: a new link is on its way.",
    ))
}

/// The device key a sign-in or sign-up proves (its DPoP proof, checked and recorded as used),
/// which the new session is bound to; `dpop_required` when the server requires one and none
/// came. Call it after the request's rate limits.
pub async fn device_proof(
    core: &Core,
    dpop: &dpop::Request,
    now: Timestamp,
) -> Result<Option<Proof>, Error> {
    let proof = device_check(core, dpop, now)?;
    if let Some(proof) = &proof {
        core.record_dpop(proof, now).await?;
    }
    Ok(proof)
}

/// [`device_proof`] without recording the proof: for requests that must refuse a bad proof
/// before using up something else (a passkey ceremony), and record it after.
pub fn device_check(
    core: &Core,
    dpop: &dpop::Request,
    now: Timestamp,
) -> Result<Option<Proof>, Error> {
    let proof = core.check_dpop(dpop, None, now)?;
    if proof.is_none() && core.settings.require_dpop {
        return Err(Error::rejected(
            ErrorCode::DpopRequired,
            "This server requires a device key: sign in with a DPoP proof.",
        ));
    }
    Ok(proof)
}

/// Records a failed sign-in and returns the error to answer with.
async fn failed(
    core: &Core,
    email: &Email,
    account_key: &str,
    user: Option<&UserRow>,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<Error, Error> {
    limits::count(
        &core.store,
        limits::SIGN_IN_FAILURES_PER_EMAIL,
        email.key(),
        now,
    )
    .await?;
    let record = core
        .store
        .record_sign_in_failure(
            account_key,
            now.millis(),
            LOCKOUT_THRESHOLD,
            now.plus(LOCKOUT_DURATION).millis(),
        )
        .await?;
    let just_locked = record.locked_until.is_some();
    let kind = if just_locked {
        audit::AuditKind::SignInLocked
    } else {
        audit::AuditKind::SignInFailed
    };
    let mut event = audit::event(kind, now, client).detail(serde_json::json!({
        "email": email.as_str(),
        "failures": record.failures,
    }));
    if let Some(user) = user {
        event = event.user(&user.id);
    }
    core.store.insert_audit(&event).await?;
    if just_locked && let Some(user) = user {
        let kind = MailKind::AccountLocked;
        lifecycle::mail_link_logged(core, kind, user, (Some(client), None), now, random).await;
    }
    Ok(Error::rejected(
        ErrorCode::InvalidCredentials,
        "Wrong email or password.",
    ))
}

/// Refuses with `reauthentication_required` unless the user behind `claims` signed in within
/// `recent_auth` of `now`: what adding or removing a way to sign in asks for, so that a stolen
/// access token (or script in the page) cannot add the attacker's own credential. A new sign-in,
/// with a password or a passkey, makes it recent.
pub fn require_recent_auth(
    core: &Core,
    claims: &AccessClaims,
    now: Timestamp,
) -> Result<(), Error> {
    let signed_in = Timestamp::from_millis(claims.auth_time.saturating_mul(1000));
    if now <= signed_in.plus(core.settings.recent_auth) {
        return Ok(());
    }
    Err(Error::rejected(
        ErrorCode::ReauthenticationRequired,
        "This needs a recent sign-in: sign in again (with your password or a passkey), then retry.",
    ))
}

/// `GET /auth/me`: the user the token belongs to. An account deleted since the token was issued
/// answers `session_revoked` (the client then forgets the session).
pub async fn me(core: &Core, user_id: &UserId) -> Result<User, Error> {
    let user = core.store.user(user_id).await?.ok_or_else(|| {
        Error::rejected(ErrorCode::SessionRevoked, "This account no longer exists.")
    })?;
    Ok(user_view(&user))
}

/// A user as the API shows it.
pub fn user_view(user: &UserRow) -> User {
    User {
        id: user.id.to_string(),
        email: user.email.clone(),
        email_verified: user.email_verified_at.is_some(),
        name: user.name.clone(),
        created_at: Timestamp::from_millis(user.created_at).to_rfc3339(),
    }
}

/// The refusal of a session for an account an administrator disabled.
pub(crate) fn disabled() -> Error {
    Error::rejected(
        ErrorCode::AccountDisabled,
        "This account is disabled: it cannot sign in. Ask the app's administrators.",
    )
}

/// A display name as given: trimmed, at most 200 characters, no control or invisible formatting characters; blank is
/// none.
pub fn parse_name(name: Option<String>) -> Result<Option<String>, Error> {
    let Some(name) = name else { return Ok(None) };
    let Some(name) = super::fit_name(&name, MAX_NAME_CHARS) else {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "The name must be at most 200 characters, without control or invisible formatting characters.",
        ));
    };
    Ok((!name.is_empty()).then(|| name.to_owned()))
}
