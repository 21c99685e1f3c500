//! The account lifecycle over email: verification, password reset and change, email change,
//! magic links (DESIGN.md, "Account lifecycle").
//!
//! An emailed link carries `type` and a token (`kwl_` + 256 random bits, stored only as its
//! SHA-256) and opens a page of the app; opening it changes nothing, the app's page POSTs the
//! token. Each token is single use (taken in one statement) and lives 24 hours (verification),
//! one hour (reset, email change) or 15 minutes (magic link). The links of an hour's mails of a
//! kind to an address work (a stranger asking for more mail does not spend the one its owner is
//! opening); a magic link's code only from the newest mail. Mail is counted per address and IP
//! (five an hour), per address (twenty) and per IP (thirty).
//!
//! Mails are queued in the database with what they record, and sent by the runtime's sender:
//! a request never waits for a mail server. The requests anyone can make about any address
//! (forgot password, magic link) answer 202 at once, before looking the address up: the answer
//! and its timing say nothing about whether it has an account.
//!
//! Proving the mailbox (a reset or a magic link) on an account whose address was never verified
//! removes what was set before anyone proved it: the password, when someone else signed up
//! first with that address to be waiting inside the account when its owner arrives
//! (pre-hijacking), the passkeys and the second factor; the sessions end first. A verification
//! link does the same unless the account's holder uses it: signed in to the account, or with a
//! device proof by the device that asked for the link or by one of the account's live sessions
//! (the owner opening a squatter's verification mail must not make the squatter's password
//! "proved"). An address change is confirmed only from the browser that asked for it
//! (`sign_in_required`), so whoever reads the new mailbox cannot attach it to someone else's
//! account.
//!
//! A password reset or change, a proved mailbox, a confirmed new address and a sign-out
//! everywhere forget every link and code still out for the account (and every sign-in waiting
//! for its second factor): an intruder's pending email change dies with the owner's reset.
//! A magic link's 6-digit code takes five tries per mail, each counted before it is compared,
//! and ten wrong codes an hour per address whatever the rate-limit setting.

use std::time::Duration;

use keyward_proto::{
    ChangeEmail, ChangePassword, ErrorCode, ForgotPassword, ResetPassword, SendMagicLink,
    SignInAnswer, User, VerifyMagicLink,
};

use super::accounts::{device_check, first_factor, require_recent_auth, signed_up, user_view};
use super::audit::{self, AuditKind, Client, EventExt as _};
use super::core::Core;
use super::dpop;
use super::email::Email;
use super::limits::{self, Limit};
use super::mail::{self, MailKind};
use super::password::{Password, Verdict};
use super::sessions::{self, Start};
use super::tokens::AccessClaims;
use super::{Jkt, Random, Timestamp, UserId, b64, sha256, unb64};
use crate::store::{AccountTokenRow, Revoke, UserRow};
use crate::{EmailVerification, Error};

const VERIFY_TTL: Duration = Duration::from_secs(24 * 3600);
const RESET_TTL: Duration = Duration::from_secs(3600);
const CHANGE_TTL: Duration = Duration::from_secs(3600);
const MAGIC_TTL: Duration = Duration::from_secs(15 * 60);

const TOKEN_PREFIX: &str = "kwl_";

/// How long the link of a mail of `kind` works.
fn ttl_of(kind: MailKind) -> Duration {
    match kind {
        MailKind::VerifyEmail => VERIFY_TTL,
        MailKind::MagicLink => MAGIC_TTL,
        MailKind::ChangeEmail => CHANGE_TTL,
        _ => RESET_TTL,
    }
}

/// Mails about one address asked for from one IP (verification, reset, magic link, change): a
/// few an hour. Per IP too, so a stranger spends the stranger's budget, not the owner's.
pub const MAIL_PER_EMAIL_AND_IP: Limit = Limit {
    name: "mail:email_ip",
    max: 5,
    window: Duration::from_secs(3600),
};
/// Mails about one address over every IP: the most a mailbox gets in an hour.
pub const MAIL_PER_EMAIL: Limit = Limit {
    name: "mail:email",
    max: 20,
    window: Duration::from_secs(3600),
};
/// Mail requests per IP.
pub const MAIL_PER_IP: Limit = Limit {
    name: "mail:ip",
    max: 30,
    window: Duration::from_secs(3600),
};
/// Tokens and codes tried per IP (a wrong one costs the same as a right one).
pub const LINK_TRIES_PER_IP: Limit = Limit {
    name: "link:ip",
    max: 60,
    window: Duration::from_secs(600),
};

/// Wrong magic-link codes for one address, over every mail and client, whatever the rate-limit
/// setting: past this, codes for it are refused for the rest of the hour (links still work).
pub const CODE_FAILURES_PER_EMAIL: Limit = Limit {
    name: "magic_code:email_failures",
    max: 10,
    window: Duration::from_secs(3600),
};

fn invalid_link() -> Error {
    Error::rejected(
        ErrorCode::InvalidLink,
        "This link or code is unknown, used already, or expired: ask for a new mail.",
    )
}

/// A new token for a link, and what the database keeps of it.
pub(super) fn new_token(random: &Random) -> (String, Vec<u8>) {
    let token = format!("{TOKEN_PREFIX}{}", b64(&random.bytes::<32>()));
    let hash = sha256(token.as_bytes()).to_vec();
    (token, hash)
}

/// The hash of a token as it came back; `None` for anything that is not one of ours.
pub(super) fn token_hash(text: &str) -> Option<Vec<u8>> {
    let body = text.strip_prefix(TOKEN_PREFIX)?;
    (body.len() == 43 && unb64(body).is_some_and(|b| b.len() == 32))
        .then(|| sha256(text.as_bytes()).to_vec())
}

/// Queues a mail of `kind` to `email` with a fresh link (and, for a magic link, a code) to
/// `base`, and stores what the link stands for, in one transaction.
#[allow(clippy::too_many_arguments)]
async fn issue(
    core: &Core,
    kind: MailKind,
    user_id: Option<UserId>,
    email: &str,
    base: &url::Url,
    extra: &[(&str, &str)],
    device: Option<&Jkt>,
    now: Timestamp,
    random: &Random,
) -> Result<(), Error> {
    let (token, hash) = new_token(random);
    // A lock notice carries a reset link: the app's page handles it as one.
    let purpose = match kind {
        MailKind::AccountLocked => MailKind::ResetPassword,
        kind => kind,
    };
    let link = mail::link(base, purpose, &token);
    let code = (kind == MailKind::MagicLink).then(|| six_digits(random));
    let mut values = vec![("link", link.as_str())];
    if let Some(code) = &code {
        values.push(("code", code));
    }
    values.extend_from_slice(extra);
    let row = AccountTokenRow {
        code_hash: code
            .as_deref()
            .map(|code| core.secrets().code_hash(&hash, code).to_vec()),
        token_hash: hash,
        purpose: purpose.as_str().to_owned(),
        user_id,
        email: email.to_owned(),
        created_at: now.millis(),
        expires_at: now.plus(ttl_of(kind)).millis(),
        jkt: device.cloned(),
    };
    let message = core
        .mail
        .compose(&core.settings, kind, email, &values, now, random);
    core.store.issue_account_token(&row, &message).await?;
    core.mail_queued.notify_one();
    Ok(())
}

/// A notice (no link of its own beyond `values`) to `email`.
async fn notify(
    core: &Core,
    kind: MailKind,
    email: &str,
    values: &[(&str, &str)],
    now: Timestamp,
    random: &Random,
) -> Result<(), Error> {
    let message = core
        .mail
        .compose(&core.settings, kind, email, values, now, random);
    core.store.queue_mail(&message).await?;
    core.mail_queued.notify_one();
    Ok(())
}

/// Six decimal digits, uniformly (rejection sampling: no digit more likely than another).
fn six_digits(random: &Random) -> String {
    loop {
        let n = u32::from_be_bytes(random.bytes());
        // The largest multiple of a million that fits: values above it would skew the digits.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// Counts a try of a link or code from `client` (`LINK_TRIES_PER_IP`).
async fn link_try(core: &Core, client: &Client, now: Timestamp) -> Result<(), Error> {
    let on = core.settings.rate_limits;
    limits::check(&core.store, on, LINK_TRIES_PER_IP, &client.ip_key(), now).await
}

/// Takes the token `text` for `kind`: `invalid_link` when it is malformed, unknown, used or
/// expired.
async fn take(
    core: &Core,
    text: &str,
    kind: MailKind,
    client: &Client,
    now: Timestamp,
) -> Result<AccountTokenRow, Error> {
    link_try(core, client, now).await?;
    let hash = token_hash(text).ok_or_else(invalid_link)?;
    take_counted(core, &hash, kind, now).await
}

/// Takes the token with `hash` for `kind`, its try counted already.
async fn take_counted(
    core: &Core,
    hash: &[u8],
    kind: MailKind,
    now: Timestamp,
) -> Result<AccountTokenRow, Error> {
    let row = core
        .store
        .take_account_token(hash, kind.as_str())
        .await?
        .ok_or_else(invalid_link)?;
    if row.expires_at <= now.millis() {
        return Err(invalid_link());
    }
    Ok(row)
}

/// Mails `user` a link of `kind` to the app's default page, asked for from `device` (its key's
/// thumbprint, if any); with `client`, within the mail limits of that client and the address.
async fn mail_link(
    core: &Core,
    kind: MailKind,
    user: &UserRow,
    (client, device): (Option<&Client>, Option<&Jkt>),
    now: Timestamp,
    random: &Random,
) -> Result<(), Error> {
    if let Some(client) = client {
        mail_limits(core, &Email::parse(&user.email)?, client, now).await?;
    }
    let base = mail::link_base(&core.settings, None)?;
    issue(
        core,
        kind,
        Some(user.id),
        &user.email,
        &base,
        &[],
        device,
        now,
        random,
    )
    .await
}

/// Mails `user` a password reset link, as an administrator asked (who never sets a password
/// themselves). Outside the mail limits: administrators are trusted.
pub(crate) async fn mail_reset(
    core: &Core,
    user: &UserRow,
    now: Timestamp,
    random: &Random,
) -> Result<(), Error> {
    mail_link(
        core,
        MailKind::ResetPassword,
        user,
        (None, None),
        now,
        random,
    )
    .await
}

/// [`mail_link`] where nobody waits for the outcome (a failure is logged): the verification
/// link again to an account that tried to sign in before proving its address (`required`
/// mode), or a reset link to an account that failed sign-ins just locked. With `client`, within
/// the mail limits, so a stranger cannot flood the mailbox.
pub async fn mail_link_logged(
    core: &Core,
    kind: MailKind,
    user: &UserRow,
    asked: (Option<&Client>, Option<&Jkt>),
    now: Timestamp,
    random: &Random,
) {
    if let Err(err) = mail_link(core, kind, user, asked, now, random).await {
        tracing::info!(%err, kind = kind.as_str(), "no mail");
    }
}

/// Sends the verification mail for a new account (at sign-up, from `device`), unless
/// verification is off. A failure is logged, never the sign-up's.
pub async fn after_sign_up(
    core: &Core,
    user: &UserRow,
    device: Option<&Jkt>,
    now: Timestamp,
    random: &Random,
) {
    if core.settings.email_verification != EmailVerification::Off
        && user.email_verified_at.is_none()
    {
        let kind = MailKind::VerifyEmail;
        mail_link_logged(core, kind, user, (None, device), now, random).await;
    }
}

/// `POST /auth/email/verification`: sends (again) the verification mail to the signed-in
/// user's address. Nothing is sent when it is verified already; 202 either way.
pub async fn send_verification(
    core: &Core,
    claims: &AccessClaims,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<(), Error> {
    let user = live_user(core, &claims.sub).await?;
    if user.email_verified_at.is_some() {
        return Ok(());
    }
    let device = claims.cnf.as_ref().map(|cnf| &cnf.jkt);
    let asked = (Some(client), device);
    mail_link(core, MailKind::VerifyEmail, &user, asked, now, random).await
}

/// `POST /auth/email/verification/confirm`: the address the link went to is the account's, and
/// verified from now on. Used by the account's holder (see [`by_holder`]) the account stays as
/// it is; used by anyone else, the mailbox's owner is taking the address back from whoever
/// signed up with it: what nobody proved goes (module docs), and that device is not signed in.
pub async fn confirm_verification(
    core: &Core,
    token: &str,
    signed_in: Option<&AccessClaims>,
    dpop: &dpop::Request,
    client: &Client,
    now: Timestamp,
) -> Result<User, Error> {
    // The proof first: a refused one leaves the link unspent.
    let proof = proof_of(core, signed_in, dpop, now)?;
    let row = take(core, token, MailKind::VerifyEmail, client, now).await?;
    if let Some(proof) = &proof {
        core.record_dpop(proof, now).await?;
    }
    let user_id = row.user_id.ok_or_else(invalid_link)?;
    let email = Email::parse(&row.email).map_err(|_| invalid_link())?;
    let user = live_user(core, &user_id)
        .await
        .map_err(|_| invalid_link())?;
    // The account's address changed since the mail: this link proves nothing about it.
    if user.email_key != email.key() {
        return Err(invalid_link());
    }
    let holder = by_holder(core, &row, &user_id, signed_in, proof.as_ref(), now).await?;
    let unproven = user.email_verified_at.is_none() && !holder;
    let event = audit::event(AuditKind::EmailVerified, now, client)
        .user(&user_id)
        .detail(serde_json::json!({
            "email": email.as_str(),
            "by": if holder { "holder" } else { "link_elsewhere" },
            "unproven_credentials_removed": unproven,
        }));
    if unproven {
        // Every session ends first: none can add a credential while they are removed.
        end_sessions(core, &user_id, Revoke::All, "mailbox_proved", client, now).await?;
    }
    let verified = core
        .store
        .verify_email(&user_id, email.key(), now.millis(), unproven, &event)
        .await?;
    // The address changed in the meantime.
    if !verified {
        return Err(invalid_link());
    }
    if unproven {
        core.store.forget_pending(&user_id).await?;
    }
    Ok(user_view(&live_user(core, &user_id).await?))
}

/// The device proof a link's confirmation came with, checked (not yet recorded); none when the
/// request is signed in (its access token's proof was checked already) or sent none.
fn proof_of(
    core: &Core,
    signed_in: Option<&AccessClaims>,
    dpop: &dpop::Request,
    now: Timestamp,
) -> Result<Option<dpop::Proof>, Error> {
    if signed_in.is_some() {
        return Ok(None);
    }
    core.check_dpop(dpop, None, now)
}

/// Whether a link (`row`) for `user_id` is used by the account's holder: signed in to it, or
/// from the device that asked for the link, or from a device of one of its live sessions. A
/// link opened anywhere else is used by whoever reads the mailbox, who may not be whoever set
/// the account's credentials (pre-hijacking).
async fn by_holder(
    core: &Core,
    row: &AccountTokenRow,
    user_id: &UserId,
    signed_in: Option<&AccessClaims>,
    proof: Option<&dpop::Proof>,
    now: Timestamp,
) -> Result<bool, Error> {
    if let Some(claims) = signed_in {
        return Ok(claims.sub == *user_id);
    }
    let Some(proof) = proof else {
        return Ok(false);
    };
    if row.jkt.as_ref() == Some(&proof.jkt) {
        return Ok(true);
    }
    let idle_cutoff = now.minus(core.settings.session_idle_timeout).millis();
    let sessions = core
        .store
        .live_sessions(user_id, now.millis(), idle_cutoff)
        .await?;
    Ok(sessions
        .iter()
        .any(|session| session.jkt.as_ref() == Some(&proof.jkt)))
}

/// A mail asked for by anyone about any address (forgot password, magic link), checked and
/// counted, not yet looked up: [`Deferred::send`] does that after the answer has gone (see
/// the module docs on timing).
#[derive(Debug)]
pub struct Deferred {
    kind: MailKind,
    email: Email,
    base: url::Url,
}

impl Deferred {
    /// Looks the address up and queues the mail: a reset link only for an account, a magic
    /// link for any address. A failure is logged (the request was answered already).
    pub async fn send(self, core: &Core, now: Timestamp, random: &Random) {
        let sent = async {
            let user = core.store.user_by_email(self.email.key()).await?;
            if self.kind == MailKind::ResetPassword && user.is_none() {
                return Ok(());
            }
            let user_id = user.as_ref().map(|u| u.id);
            let to = user
                .as_ref()
                .map_or(self.email.as_str(), |u| u.email.as_str());
            let base = &self.base;
            issue(core, self.kind, user_id, to, base, &[], None, now, random).await
        };
        if let Err(err) = sent.await {
            tracing::warn!(%err, kind = self.kind.as_str(), "a mail could not be queued");
        }
    }
}

/// `POST /auth/password/forgot`: the checks (address, page, limits); the caller answers 202 and
/// then [`Deferred::send`]s.
pub async fn forgot_password(
    core: &Core,
    request: ForgotPassword,
    client: &Client,
    now: Timestamp,
) -> Result<Deferred, Error> {
    deferred(
        core,
        MailKind::ResetPassword,
        &request.email,
        request.redirect_to,
        client,
        now,
    )
    .await
}

async fn deferred(
    core: &Core,
    kind: MailKind,
    email: &str,
    redirect_to: Option<String>,
    client: &Client,
    now: Timestamp,
) -> Result<Deferred, Error> {
    let email = Email::parse(email)?;
    let base = mail::link_base(&core.settings, redirect_to.as_deref())?;
    mail_limits(core, &email, client, now).await?;
    Ok(Deferred { kind, email, base })
}

/// `POST /auth/password/reset`: sets the new password and ends every session of the account.
/// The mailbox is proved: an unverified address becomes verified, and passkeys added before
/// that are removed (module docs). Nobody is signed in: the next sign-in still asks for every
/// factor the account has.
pub async fn reset_password(
    core: &Core,
    request: ResetPassword,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<(), Error> {
    // The rules first: a refused password must not use up the link.
    let password = Password::new(request.password)?;
    password.check_common()?;
    let row = take(core, &request.token, MailKind::ResetPassword, client, now).await?;
    let user_id = row.user_id.ok_or_else(invalid_link)?;
    let user = live_user(core, &user_id)
        .await
        .map_err(|_| invalid_link())?;
    if user.email_key != Email::parse(&row.email).map_err(|_| invalid_link())?.key() {
        return Err(invalid_link());
    }
    let hash = core.hasher.hash(&password, random.bytes()).await?;
    // Every session ends first: none can add a credential while the others are removed.
    end_sessions(core, &user.id, Revoke::All, "password_reset", client, now).await?;
    if user.email_verified_at.is_none() {
        let event = audit::event(AuditKind::EmailVerified, now, client)
            .user(&user.id)
            .detail(serde_json::json!({ "email": user.email, "by": "password_reset", "unproven_credentials_removed": true }));
        let key = &user.email_key;
        core.store
            .verify_email(&user.id, key, now.millis(), true, &event)
            .await?;
    }
    let event = audit::event(AuditKind::PasswordReset, now, client).user(&user.id);
    core.store
        .change_password(&user.id, &hash, now.millis(), &event)
        .await?;
    core.store.forget_pending(&user.id).await?;
    notify(
        core,
        MailKind::PasswordChanged,
        &user.email,
        &[],
        now,
        random,
    )
    .await
}

/// `POST /auth/password/change`: needs the current password and a recent sign-in; the other
/// sessions end, this one stays.
pub async fn change_password(
    core: &Core,
    claims: &AccessClaims,
    request: ChangePassword,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<(), Error> {
    require_recent_auth(core, claims, now)?;
    let password = Password::new(request.new_password)?;
    password.check_common()?;
    limits::check(
        &core.store,
        core.settings.rate_limits,
        limits::SIGN_IN_PER_ACCOUNT,
        &format!("change:{}", claims.sub),
        now,
    )
    .await?;
    let user = live_user(core, &claims.sub).await?;
    let verdict = match Password::candidate(request.current_password) {
        Some(current) => {
            let stored = user.password_hash.as_deref();
            core.hasher.verify(&current, stored, random.bytes()).await?
        }
        None => Verdict::Mismatch,
    };
    if verdict == Verdict::Mismatch || user.password_hash.is_none() {
        return Err(Error::rejected(
            ErrorCode::InvalidCredentials,
            "The current password is wrong.",
        ));
    }
    let hash = core.hasher.hash(&password, random.bytes()).await?;
    let event = audit::event(AuditKind::PasswordChanged, now, client)
        .user(&user.id)
        .session(&claims.sid);
    core.store
        .change_password(&user.id, &hash, now.millis(), &event)
        .await?;
    let which = Revoke::AllBut(&claims.sid);
    end_sessions(core, &user.id, which, "password_changed", client, now).await?;
    core.store.forget_pending(&user.id).await?;
    notify(
        core,
        MailKind::PasswordChanged,
        &user.email,
        &[],
        now,
        random,
    )
    .await
}

/// `POST /auth/email/change`: needs a recent sign-in. A confirm link goes to the new address
/// and a notice to the old one; the address changes only when the link is used. 202 whether
/// or not the new address is taken (then no link goes out).
pub async fn change_email(
    core: &Core,
    claims: &AccessClaims,
    request: ChangeEmail,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<(), Error> {
    require_recent_auth(core, claims, now)?;
    let new = Email::parse(&request.new_email)?;
    let base = mail::link_base(&core.settings, request.redirect_to.as_deref())?;
    let user = live_user(core, &claims.sub).await?;
    mail_limits(core, &new, client, now).await?;
    if new.key() == user.email_key {
        return Ok(());
    }
    let event = audit::event(AuditKind::EmailChangeRequested, now, client)
        .user(&user.id)
        .detail(serde_json::json!({ "from": user.email, "to": new.as_str() }));
    core.store.insert_audit(&event).await?;
    let values = [("new_email", new.as_str())];
    notify(
        core,
        MailKind::EmailChanged,
        &user.email,
        &values,
        now,
        random,
    )
    .await?;
    if core.store.user_by_email(new.key()).await?.is_some() {
        return Ok(());
    }
    let kind = MailKind::ChangeEmail;
    let device = claims.cnf.as_ref().map(|cnf| &cnf.jkt);
    let to = new.as_str();
    issue(
        core,
        kind,
        Some(user.id),
        to,
        &base,
        &[],
        device,
        now,
        random,
    )
    .await
}

/// `POST /auth/email/change/confirm`: moves the account to the address the link went to (now
/// verified), when the browser that asked uses it (its device key's proof, or signed in to the
/// account): `sign_in_required` otherwise, and the link stays usable. `email_taken` when another account took the address
/// meanwhile.
pub async fn confirm_email_change(
    core: &Core,
    token: &str,
    signed_in: Option<&AccessClaims>,
    dpop: &dpop::Request,
    client: &Client,
    now: Timestamp,
) -> Result<User, Error> {
    let proof = proof_of(core, signed_in, dpop, now)?;
    link_try(core, client, now).await?;
    let hash = token_hash(token).ok_or_else(invalid_link)?;
    let kind = MailKind::ChangeEmail.as_str();
    let pending = core.store.account_token(&hash, kind).await?;
    let pending = pending
        .filter(|row| row.expires_at > now.millis())
        .ok_or_else(invalid_link)?;
    let owner = pending.user_id.ok_or_else(invalid_link)?;
    // Only the device that asked (or a request signed in to the account): not any device with
    // a session, which a login CSRF could have made of the new address's owner's browser.
    let asked_here = match (signed_in, &proof) {
        (Some(claims), _) => claims.sub == owner,
        (None, Some(proof)) => pending.jkt.as_ref() == Some(&proof.jkt),
        (None, None) => false,
    };
    if !asked_here {
        return Err(Error::rejected(
            ErrorCode::SignInRequired,
            "Open this link in the browser that asked for the change, signed in to the account.",
        ));
    }
    let row = take_counted(core, &hash, MailKind::ChangeEmail, now).await?;
    if let Some(proof) = &proof {
        core.record_dpop(proof, now).await?;
    }
    let user_id = row.user_id.ok_or_else(invalid_link)?;
    let new = Email::parse(&row.email).map_err(|_| invalid_link())?;
    let user = live_user(core, &user_id)
        .await
        .map_err(|_| invalid_link())?;
    let event = audit::event(AuditKind::EmailChanged, now, client)
        .user(&user_id)
        .detail(serde_json::json!({ "from": user.email, "to": new.as_str() }));
    let changed = core
        .store
        .change_email(&user_id, new.as_str(), new.key(), now.millis(), &event)
        .await?;
    if !changed {
        return Err(Error::rejected(
            ErrorCode::EmailTaken,
            "Another account has this email address now.",
        ));
    }
    core.store.forget_pending(&user_id).await?;
    Ok(user_view(&live_user(core, &user_id).await?))
}

/// `POST /auth/magic-link`: the checks (address, page, limits); the caller answers 202 and
/// then [`Deferred::send`]s a mail with a sign-in link and a 6-digit code, to any valid address
/// (one without an account gets one when the link is used).
pub async fn send_magic_link(
    core: &Core,
    request: SendMagicLink,
    client: &Client,
    now: Timestamp,
) -> Result<Deferred, Error> {
    deferred(
        core,
        MailKind::MagicLink,
        &request.email,
        request.redirect_to,
        client,
        now,
    )
    .await
}

/// `POST /auth/magic-link/verify`: by the link's token, or by the address and the mail's code
/// (five wrong codes end that mail's code). Signs in, bound to the device key like any other
/// sign-in; an address without an account gets one (verified: the mailbox is proved). An
/// account whose address was never verified loses what nobody proved (module docs).
pub async fn verify_magic_link(
    core: &Core,
    request: VerifyMagicLink,
    dpop: &dpop::Request,
    client: &Client,
    now: Timestamp,
    random: &Random,
) -> Result<SignInAnswer, Error> {
    // The proof first: a client asked for a server nonce retries with the link unspent. It is
    // recorded once the link is taken.
    let device = device_check(core, dpop, now)?;
    let row = match &request {
        VerifyMagicLink::Link(link) => {
            take(core, &link.token, MailKind::MagicLink, client, now).await?
        }
        VerifyMagicLink::Code(typed) => {
            take_by_code(core, &typed.email, &typed.code, client, now).await?
        }
    };
    if let Some(proof) = &device {
        core.record_dpop(proof, now).await?;
    }
    let email = Email::parse(&row.email).map_err(|_| invalid_link())?;
    let existing = core.store.user_by_email(email.key()).await?;
    match existing {
        Some(user) => {
            let user = if user.email_verified_at.is_none() {
                let event = audit::event(AuditKind::EmailVerified, now, client)
                    .user(&user.id)
                    .detail(serde_json::json!({ "email": user.email, "by": "magic_link", "unproven_credentials_removed": true }));
                // Every session ends first: none can add a credential while they are removed.
                let which = Revoke::All;
                end_sessions(core, &user.id, which, "mailbox_proved", client, now).await?;
                core.store
                    .verify_email(&user.id, &user.email_key, now.millis(), true, &event)
                    .await?;
                core.store.forget_pending(&user.id).await?;
                live_user(core, &user.id).await?
            } else {
                user
            };
            let device = device.as_ref();
            first_factor(core, &user, &["magic"], client, device, now, random).await
        }
        None => {
            let user = UserRow {
                id: UserId::new(now, random.bytes()),
                email: email.as_str().to_owned(),
                email_key: email.key().to_owned(),
                email_verified_at: Some(now.millis()),
                name: None,
                password_hash: None,
                created_at: now.millis(),
                disabled_at: None,
                last_sign_in_at: None,
            };
            let start = Start {
                user: &user,
                sign_up: true,
                amr: &["magic"],
                client,
                event: AuditKind::SignUp,
                device: device.as_ref(),
                way_in: None,
            };
            signed_up(core, start, now, random)
                .await
                .map(SignInAnswer::Session)
        }
    }
}

/// The magic link whose code `code` was mailed to `email`, taken; a wrong code counts against
/// that mail (five end it).
async fn take_by_code(
    core: &Core,
    email: &str,
    code: &str,
    client: &Client,
    now: Timestamp,
) -> Result<AccountTokenRow, Error> {
    link_try(core, client, now).await?;
    let email = Email::parse(email).map_err(|_| invalid_link())?;
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_link());
    }
    // Mails go to the account's address as stored; a new address, as typed.
    let to = match core.store.user_by_email(email.key()).await? {
        Some(user) => user.email,
        None => email.as_str().to_owned(),
    };
    // Whatever the rate-limit setting: codes are six digits.
    limits::exceeded(&core.store, CODE_FAILURES_PER_EMAIL, email.key(), now).await?;
    let kind = MailKind::MagicLink.as_str();
    let row = core
        .store
        .try_code(&to, kind, now.millis())
        .await?
        .ok_or_else(invalid_link)?;
    let expected = core.secrets().code_hash(&row.token_hash, code);
    let matches = row
        .code_hash
        .as_deref()
        .is_some_and(|stored| super::constant_time_eq(stored, &expected));
    if !matches {
        limits::count(&core.store, CODE_FAILURES_PER_EMAIL, email.key(), now).await?;
        return Err(invalid_link());
    }
    core.store
        .take_token_for_code(&row.token_hash)
        .await?
        .ok_or_else(invalid_link)
}

/// The per-address and per-IP limits on mail.
async fn mail_limits(
    core: &Core,
    email: &Email,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let (store, on) = (&core.store, core.settings.rate_limits);
    let ip = client.ip_key();
    limits::check(store, on, MAIL_PER_IP, &ip, now).await?;
    let email_and_ip = format!("{}:{ip}", email.key());
    limits::check(store, on, MAIL_PER_EMAIL_AND_IP, &email_and_ip, now).await?;
    limits::check(store, on, MAIL_PER_EMAIL, email.key(), now).await
}

/// The account `user_id`; `session_revoked` when it no longer exists.
pub(super) async fn live_user(core: &Core, user_id: &UserId) -> Result<UserRow, Error> {
    core.store
        .user(user_id)
        .await?
        .ok_or_else(|| Error::rejected(ErrorCode::SessionRevoked, "This account no longer exists."))
}

async fn end_sessions(
    core: &Core,
    user_id: &UserId,
    which: Revoke<'_>,
    reason: &str,
    client: &Client,
    now: Timestamp,
) -> Result<(), Error> {
    let event = audit::event(AuditKind::SessionRevoked, now, client)
        .user(user_id)
        .detail(serde_json::json!({ "reason": reason }));
    sessions::revoke(core, user_id, which, reason, &event, now).await?;
    Ok(())
}
