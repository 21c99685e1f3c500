//! TOTP multi-factor authentication (RFC 6238 through `totp-rs`: SHA-1, 6 digits, 30-second
//! steps, one step either side).
//!
//! - **Enrolment**: a signed-in user with a recent sign-in gets a fresh 160-bit secret (sealed
//!   at rest under the master secret, bound to the user), its `otpauth://` URI and a QR code as
//!   SVG; the first code from the app confirms it, and ten recovery codes come back, shown once
//!   (only keyed hashes are kept).
//! - **Sign-in**: from then on every first factor (password, magic link; a passkey with user
//!   verification is two factors by itself) answers `mfa_required` with a ticket: single use,
//!   5 minutes, five wrong codes at most, bound to the device key the first factor was proved
//!   with. `POST /auth/mfa/verify` with the ticket and a code (or a recovery code) starts the
//!   session, `amr` holding `otp` too.
//! - **Replay**: a code is accepted once: the time step it belongs to must be later than the
//!   last accepted one (one statement, so two uses at once cannot both pass).
//! - Disabling and new recovery codes need a current code (or a recovery code) and a recent
//!   sign-in. Every step is audited.
//! - **Step-up**: a signed-in session proves a code again (`POST /auth/mfa/step-up`); the
//!   session's next tokens carry `otp`, `aal` 2 and a fresh `auth_time` (the enrolling session
//!   gets `otp` on confirmation, without a fresh `auth_time`).

use std::time::Duration;

use keyward_proto::{AuthSuccess, ErrorCode, MfaRequired, RecoveryCodes, TotpEnrolment, VerifyMfa};
use totp_rs::{Algorithm, TOTP};

use super::accounts::require_recent_auth;
use super::audit::{self, AuditKind, Client, EventExt as _};
use super::core::Core;
use super::dpop::{self, Proof};
use super::lifecycle::live_user;
use super::limits::{self, Limit};
use super::sessions;
use super::tokens::AccessClaims;
use super::{Random, Timestamp, UserId, accounts, b64, constant_time_eq, sha256, unb64};
use crate::Error;
use crate::store::{MfaTicketRow, Revoke, UserRow};

const STEP_SECONDS: u64 = 30;
const TICKET_TTL: Duration = Duration::from_secs(5 * 60);
const TICKET_PREFIX: &str = "kwm_";
const RECOVERY_CODES: usize = 10;
/// The recovery codes' alphabet: Crockford's base32 (no i, l, o, u to misread).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Codes tried per IP (a wrong one costs the same as a right one).
pub const CODES_PER_IP: Limit = Limit {
    name: "mfa:ip",
    max: 30,
    window: Duration::from_secs(600),
};

/// Wrong codes for one account (over every ticket and client) before codes for it are refused
/// for the rest of the hour.
pub const FAILURES_PER_USER: Limit = Limit {
    name: "mfa:user_failures",
    max: 10,
    window: Duration::from_secs(3600),
};

fn wrong_code() -> Error {
    Error::rejected(
        ErrorCode::InvalidMfaCode,
        "This code is wrong, or was used already.",
    )
}

fn invalid_ticket() -> Error {
    Error::rejected(
        ErrorCode::InvalidTicket,
        "This sign-in expired (5 minutes) or took too many wrong codes: sign in again.",
    )
}

/// What the sealed secret is bound to: its user (moved to another user, it does not open).
fn context(user_id: &UserId) -> Vec<u8> {
    format!("keyward totp v1 {user_id}").into_bytes()
}

fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> Result<TOTP, Error> {
    // The issuer and account name go into the otpauth URI, where a colon is not allowed.
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECONDS,
        secret,
        Some(issuer.replace(':', " ")),
        account.replace(':', " "),
    )
    .map_err(|err| Error::internal(format!("TOTP parameters refused: {err}")))
}

/// The time step `code` is right for at `now` (one step either side), if any.
fn matching_step(totp: &TOTP, code: &str, now: Timestamp) -> Option<i64> {
    let now = u64::try_from(now.seconds()).ok()?;
    let current = now / STEP_SECONDS;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| {
            constant_time_eq(
                totp.generate(step * STEP_SECONDS).as_bytes(),
                code.as_bytes(),
            )
        })
        .and_then(|step| i64::try_from(step).ok())
}

/// The user's confirmed TOTP, opened.
async fn confirmed_totp(core: &Core, user: &UserRow) -> Result<Option<TOTP>, Error> {
    let Some(row) = core.store.totp(&user.id).await? else {
        return Ok(None);
    };
    if row.confirmed_at.is_none() {
        return Ok(None);
    }
    let secret = core
        .secrets()
        .open(&context(&user.id), &row.secret)
        .ok_or_else(|| Error::internal("a TOTP secret does not open under the master secret"))?;
    Ok(Some(totp(secret, &core.settings.app_name(), &user.email)?))
}

/// Whether a code (app or recovery) proves `user`'s second factor now; a recovery code is used
/// up, an app code's step too.
async fn second_factor(
    core: &Core,
    user: &UserRow,
    code: &str,
    recovery_allowed: bool,
    now: Timestamp,
) -> Result<bool, Error> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let Some(totp) = confirmed_totp(core, user).await? else {
            return Ok(false);
        };
        return match matching_step(&totp, code, now) {
            Some(step) => Ok(core.store.use_totp_step(&user.id, step).await?),
            None => Ok(false),
        };
    }
    if !recovery_allowed {
        return Ok(false);
    }
    let hash = recovery_hash(core, &user.id, code);
    Ok(core.store.use_recovery_code(&user.id, &hash).await?)
}

/// What is stored of a recovery code: keyed, bound to its user, case and dash ignored.
fn recovery_hash(core: &Core, user_id: &UserId, code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    core.secrets()
        .code_hash(user_id.to_string().as_bytes(), &normal)
        .to_vec()
}

/// Ten new recovery codes (`xxxxx-xxxxx`, 50 bits each) and their hashes.
fn recovery_codes(core: &Core, user_id: &UserId, random: &Random) -> (Vec<String>, Vec<Vec<u8>>) {
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes = random.bytes::<10>();
            let chars: String = bytes
                .iter()
                .filter_map(|b| ALPHABET.get(usize::from(b % 32)).copied().map(char::from))
                .collect();
            let (first, second) = chars.split_at(5);
            let code = format!("{first}-{second}");
            let hash = recovery_hash(core, user_id, &code);
            (code, hash)
        })
        .unzip()
}

/// `POST /auth/mfa/totp`: starts enrolment (a recent sign-in is needed): a new secret, its
/// `otpauth://` URI and QR code. `mfa_already_enabled` when the account has one confirmed.
pub async fn enrol(
    core: &Core,
    claims: &AccessClaims,
    now: Timestamp,
    random: &Random,
) -> Result<TotpEnrolment, Error> {
    require_recent_auth(core, claims, now)?;
    let user = live_user(core, &claims.sub).await?;
    let secret = random.bytes::<20>().to_vec();
    let sealed = core
        .secrets()
        .seal(&context(&user.id), &secret, random.bytes())?;
    if !core
        .store
        .start_totp(&user.id, &sealed, now.millis())
        .await?
    {
        return Err(Error::rejected(
            ErrorCode::MfaAlreadyEnabled,
            "This account has a second factor already: disable it first.",
        ));
    }
    let totp = totp(secret, &core.settings.app_name(), &user.email)?;
    let otpauth_uri = totp.get_url();
    let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
        .map_err(|err| Error::internal(format!("QR code: {err}")))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(TotpEnrolment {
        secret: totp.get_secret_base32(),
        otpauth_uri,
        qr_svg,
    })
}

/// `POST /auth/mfa/totp/confirm`: the first code from the app turns the second factor on;
/// answers the ten recovery codes. `invalid_mfa_code` for a wrong code, `mfa_not_enabled` when
/// no enrolment is in progress.
pub async fn confirm(
    core: &Core,
    claims: &AccessClaims,
    code: &str,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<RecoveryCodes, Error> {
    limit(core, client, now).await?;
    let user = live_user(core, &claims.sub).await?;
    let row = core
        .store
        .totp(&user.id)
        .await?
        .filter(|r| r.confirmed_at.is_none());
    let Some(row) = row else {
        return Err(not_enabled());
    };
    let secret = core
        .secrets()
        .open(&context(&user.id), &row.secret)
        .ok_or_else(|| Error::internal("a TOTP secret does not open under the master secret"))?;
    let totp = totp(secret, &core.settings.app_name(), &user.email)?;
    let step = matching_step(&totp, code.trim(), now).ok_or_else(wrong_code)?;
    let (codes, hashes) = recovery_codes(core, &user.id, random);
    let event = audit::event(AuditKind::MfaEnabled, now, client)
        .user(&user.id)
        .session(&claims.sid);
    let confirmed = core
        .store
        .confirm_totp(&user.id, step, &hashes, now.millis(), &event)
        .await?;
    if !confirmed {
        return Err(wrong_code());
    }
    // Sessions signed in before the second factor existed end: none keeps one factor's
    // standing on an account that now has two.
    let event = audit::event(AuditKind::SessionRevoked, now, client)
        .user(&user.id)
        .detail(serde_json::json!({ "reason": "mfa_enabled" }));
    let which = Revoke::AllBut(&claims.sid);
    sessions::revoke(core, &user.id, which, "mfa_enabled", &event, now).await?;
    // This one just proved a code of the app it enrolled: its next tokens say so (when it
    // signed in is unchanged). The second factor is on whatever happens here: the codes must
    // reach the user.
    let event = audit::event(AuditKind::SteppedUp, now, client)
        .user(&user.id)
        .session(&claims.sid);
    let signed_in = claims.auth_time.saturating_mul(1000);
    if let Err(err) = proved_otp(core, claims, signed_in, &event).await {
        tracing::info!(%err, "the enrolling session was not marked two-factor");
    }
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// `POST /auth/mfa/recovery-codes`: ten new recovery codes (the old ones stop working); needs a
/// current code and a recent sign-in.
pub async fn regenerate(
    core: &Core,
    claims: &AccessClaims,
    code: &str,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<RecoveryCodes, Error> {
    let user = checked(core, claims, code, client, now).await?;
    let (codes, hashes) = recovery_codes(core, &user.id, random);
    let event = audit::event(AuditKind::RecoveryCodesRegenerated, now, client)
        .user(&user.id)
        .session(&claims.sid);
    core.store
        .replace_recovery_codes(&user.id, &hashes, now.millis(), &event)
        .await?;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// `DELETE /auth/mfa/totp`: turns the second factor off; needs a current code (or a recovery
/// code) and a recent sign-in.
pub async fn disable(
    core: &Core,
    claims: &AccessClaims,
    code: &str,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let user = checked(core, claims, code, client, now).await?;
    let event = audit::event(AuditKind::MfaDisabled, now, client)
        .user(&user.id)
        .session(&claims.sid);
    core.store.disable_totp(&user.id, &event).await?;
    Ok(())
}

/// `POST /auth/mfa/step-up`: the signed-in session proves the second factor again (an app
/// code or a recovery code): its next tokens (the client refreshes at once) carry `otp` in
/// `amr`, `aal` 2 and a fresh `auth_time`. No recent sign-in is needed: this is how a session
/// becomes recent.
pub async fn step_up(
    core: &Core,
    claims: &AccessClaims,
    code: &str,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let user = proved(core, claims, code, client, now).await?;
    let event = audit::event(AuditKind::SteppedUp, now, client)
        .user(&user.id)
        .session(&claims.sid);
    proved_otp(core, claims, now.millis(), &event).await
}

/// Records on the session behind `claims` that it proved a code at `auth_time` (ms), its
/// methods gaining `otp`; `session_revoked` when it ended meanwhile.
async fn proved_otp(
    core: &Core,
    claims: &AccessClaims,
    auth_time: i64,
    event: &crate::store::AuditRow,
) -> Result<(), Error> {
    let mut amr: Vec<&str> = claims.amr.iter().map(String::as_str).collect();
    if !amr.contains(&"otp") {
        amr.push("otp");
    }
    let live = core
        .store
        .step_up_session(&claims.sub, &claims.sid, &amr.join(" "), auth_time, event)
        .await?;
    if !live {
        return Err(Error::rejected(
            ErrorCode::SessionRevoked,
            "This session has been signed out. Sign in again.",
        ));
    }
    Ok(())
}

/// The signed-in user, once a recent sign-in and `code` (app or recovery) prove the second
/// factor; the attempt is counted and a wrong one audited.
async fn checked(
    core: &Core,
    claims: &AccessClaims,
    code: &str,
    client: &Client,
    now: Timestamp,
) -> Result<UserRow, Error> {
    require_recent_auth(core, claims, now)?;
    proved(core, claims, code, client, now).await
}

/// The signed-in user, once `code` (app or recovery) proves the second factor; the attempt is
/// counted and a wrong one audited.
async fn proved(
    core: &Core,
    claims: &AccessClaims,
    code: &str,
    client: &Client,
    now: Timestamp,
) -> Result<UserRow, Error> {
    limit(core, client, now).await?;
    let user = live_user(core, &claims.sub).await?;
    if confirmed_totp(core, &user).await?.is_none() {
        return Err(not_enabled());
    }
    failure_lock(core, &user.id, now).await?;
    if !second_factor(core, &user, code, true, now).await? {
        return Err(failed(core, &user.id, client, now).await?);
    }
    Ok(user)
}

/// After a first factor (`amr`) proved by `device`: `None` when the account has no second
/// factor (or `amr` counts as two already), else the ticket to finish the sign-in with.
pub async fn gate(
    core: &Core,
    user: &UserRow,
    amr: &[&str],
    device: Option<&Proof>,
    now: Timestamp,
    random: &Random,
) -> Result<Option<MfaRequired>, Error> {
    // A passkey with user verification is something held and something known (or are).
    if amr.contains(&"passkey")
        || core
            .store
            .totp(&user.id)
            .await?
            .is_none_or(|r| r.confirmed_at.is_none())
    {
        return Ok(None);
    }
    let ticket = format!("{TICKET_PREFIX}{}", b64(&random.bytes::<32>()));
    let row = MfaTicketRow {
        ticket_hash: sha256(ticket.as_bytes()).to_vec(),
        user_id: user.id,
        amr: amr.join(" "),
        jkt: device.map(|proof| proof.jkt.as_str().to_owned()),
        attempts: 0,
        expires_at: now.plus(TICKET_TTL).millis(),
    };
    core.store.insert_mfa_ticket(&row).await?;
    Ok(Some(MfaRequired {
        mfa_required: true,
        mfa_ticket: ticket,
        methods: vec!["totp".into(), "recovery_code".into()],
    }))
}

/// `POST /auth/mfa/verify`: finishes a sign-in with the ticket and an app code (or a recovery
/// code), from the device the first factor was proved with; the session's `amr` adds `otp`.
pub async fn verify(
    core: &Core,
    request: VerifyMfa,
    dpop: &dpop::Request,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<AuthSuccess, Error> {
    limit(core, client, now).await?;
    let (ticket, code, recovery) = match &request {
        VerifyMfa::Totp(answer) => (&answer.mfa_ticket, &answer.code, false),
        VerifyMfa::Recovery(answer) => (&answer.mfa_ticket, &answer.recovery_code, true),
    };
    let hash = ticket
        .strip_prefix(TICKET_PREFIX)
        .filter(|body| body.len() == 43 && unb64(body).is_some_and(|b| b.len() == 32))
        .map(|_| sha256(ticket.as_bytes()).to_vec())
        .ok_or_else(invalid_ticket)?;
    let row = core
        .store
        .try_mfa_ticket(&hash, now.millis())
        .await?
        .ok_or_else(invalid_ticket)?;
    let device = accounts::device_proof(core, dpop, now).await?;
    if row.jkt.as_deref() != device.as_ref().map(|proof| proof.jkt.as_str()) {
        return Err(Error::rejected(
            ErrorCode::InvalidDpopProof,
            "Finish the sign-in from the device that started it (the same device key).",
        ));
    }
    let user = live_user(core, &row.user_id).await?;
    failure_lock(core, &user.id, now).await?;
    let method = if recovery { code.as_str() } else { code.trim() };
    // A recovery code must not pass for an app code, nor the other way round.
    let shaped = recovery != (method.len() == 6 && method.bytes().all(|b| b.is_ascii_digit()));
    if !shaped || !second_factor(core, &user, method, recovery, now).await? {
        return Err(failed(core, &user.id, client, now).await?);
    }
    if !core.store.take_mfa_ticket(&hash).await? {
        return Err(invalid_ticket());
    }
    let mut amr: Vec<&str> = row.amr.split(' ').filter(|m| !m.is_empty()).collect();
    amr.push("otp");
    accounts::signed_in(core, &user, &amr, client, device.as_ref(), now, random).await
}

/// `account_locked` once an account took too many wrong codes this hour, whatever the
/// rate-limit setting: six digits must not be guessable from many addresses or tickets.
async fn failure_lock(core: &Core, user_id: &UserId, now: Timestamp) -> Result<(), Error> {
    limits::exceeded(&core.store, FAILURES_PER_USER, &user_id.to_string(), now).await
}

/// Counts and audits a wrong code for `user_id`; the error to answer with.
async fn failed(
    core: &Core,
    user_id: &UserId,
    client: &Client,
    now: Timestamp,
) -> Result<Error, Error> {
    limits::count(&core.store, FAILURES_PER_USER, &user_id.to_string(), now).await?;
    let event = audit::event(AuditKind::MfaFailed, now, client).user(user_id);
    core.store.insert_audit(&event).await?;
    Ok(wrong_code())
}

fn not_enabled() -> Error {
    Error::rejected(
        ErrorCode::MfaNotEnabled,
        "This account has no second factor (or its enrolment was not started).",
    )
}

async fn limit(core: &Core, client: &Client, now: Timestamp) -> Result<(), Error> {
    let on = core.settings.rate_limits;
    limits::check(&core.store, on, CODES_PER_IP, &client.ip_key(), now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B (SHA-1 rows; its 8-digit codes end in our 6-digit ones).
    #[test]
    fn codes_match_rfc_6238_test_vectors() {
        let totp = totp(b"12345678901234567890".to_vec(), "Keyward", "a@example.com").unwrap();
        for (time, expected) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp.generate(time), expected[2..], "at {time}");
            let now = Timestamp::from_millis(i64::try_from(time).unwrap() * 1000);
            let step = i64::try_from(time / STEP_SECONDS).unwrap();
            assert_eq!(matching_step(&totp, &expected[2..], now), Some(step));
            // One step either side, not two.
            let later = now.plus(Duration::from_secs(30));
            assert_eq!(matching_step(&totp, &expected[2..], later), Some(step));
            let much_later = now.plus(Duration::from_secs(61));
            assert_eq!(matching_step(&totp, &expected[2..], much_later), None);
        }
    }

    #[test]
    fn recovery_codes_are_ten_distinct_readable_codes() {
        let alphabet = std::str::from_utf8(ALPHABET).unwrap();
        assert_eq!(
            alphabet
                .chars()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            32,
            "32 distinct symbols: no bias"
        );
        assert!(!alphabet.contains(['i', 'l', 'o', 'u']));
    }
}
