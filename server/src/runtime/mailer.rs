//! The mail sender: delivers what the domain queued in `mail_outbox` over SMTP (lettre), when
//! an SMTP server is set. It wakes when a mail is queued, and looks every few seconds anyway
//! (mail queued by another server process, retries coming due). A failed attempt is retried
//! with growing delays (30 s, 1 min, 2 min, … up to 4 hours between tries, about two days in
//! all); a mail the server refused for good, or still failing after that, is marked `failed`
//! and audited. Each attempt holds the mail for a minute, so of several server processes one
//! sends it, and a crash mid-send lets another retry it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use crate::Error;
use crate::domain::Timestamp;
use crate::domain::audit::{self, AuditKind, Client, EventExt as _};
use crate::domain::core::Core;
use crate::store::MailRow;

/// How long one attempt holds a mail (mails are taken one at a time, so a slow server does not
/// let a lease run out on mails still waiting their turn).
const LEASE: Duration = Duration::from_secs(60);
/// How often the queue is looked at without a wake-up.
const POLL: Duration = Duration::from_secs(5);
/// Attempts before a mail is given up.
const MAX_ATTEMPTS: i64 = 20;

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The SMTP transport for `url`, checked at start-up (a malformed URL is a configuration
/// error, not a failed mail later).
pub fn transport(url: &str) -> Result<Transport, Error> {
    Ok(Transport::from_url(url)
        .map_err(|err| Error::Config {
            setting: "smtp-url",
            reason: format!("{err}"),
        })?
        .timeout(Some(Duration::from_secs(20)))
        .build())
}

/// Starts the sender for `core`, when it has an SMTP server; it stops with the last handle.
pub fn spawn(core: &Arc<Core>) -> Result<(), Error> {
    let Some(url) = &core.settings.smtp_url else {
        return Ok(());
    };
    let transport = transport(&url.0)?;
    let from: Mailbox = core
        .settings
        .mail_from()
        .parse()
        .map_err(|err| Error::Config {
            setting: "mail-from",
            reason: format!("`{}` is not a mailbox: {err}", core.settings.mail_from()),
        })?;
    let weak: Weak<Core> = Arc::downgrade(core);
    let queued = Arc::clone(&core.mail_queued);
    tokio::spawn(async move {
        loop {
            let woken = queued.notified();
            let Some(core) = weak.upgrade() else { break };
            if let Err(err) = send_due(&core, &transport, &from).await {
                tracing::warn!(%err, "the mail queue could not be read; retrying");
            }
            drop(core);
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    });
    Ok(())
}

/// Sends every mail due now.
async fn send_due(core: &Core, transport: &Transport, from: &Mailbox) -> Result<(), Error> {
    loop {
        let now = Timestamp::now();
        let due = core
            .store
            .claim_mail(now.millis(), now.plus(LEASE).millis(), 1)
            .await?;
        if due.is_empty() {
            return Ok(());
        }
        for mail in due {
            let sent = match message(&mail, from) {
                Ok(message) => transport
                    .send(message)
                    .await
                    .map(drop)
                    .map_err(|err| (err.is_permanent(), err.to_string())),
                Err(reason) => Err((true, reason)),
            };
            let now = Timestamp::now();
            match sent {
                Ok(()) => core.store.mail_sent(&mail.id, now.millis()).await?,
                Err((permanent, reason)) => failed(core, &mail, permanent, &reason, now).await?,
            }
        }
    }
}

fn message(mail: &MailRow, from: &Mailbox) -> Result<Message, String> {
    let to: Mailbox = mail
        .to_address
        .parse()
        .map_err(|err| format!("the address does not parse: {err}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text_body.clone(),
            mail.html_body.clone(),
        ))
        .map_err(|err| format!("the message cannot be built: {err}"))
}

/// Records a failed attempt: another later, or (refused for good, or out of attempts) none.
async fn failed(
    core: &Core,
    mail: &MailRow,
    permanent: bool,
    reason: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let give_up = permanent || mail.attempts >= MAX_ATTEMPTS;
    let retry_at = (!give_up).then(|| now.plus(backoff(mail.attempts)).millis());
    tracing::warn!(
        mail = %mail.id,
        kind = %mail.kind,
        attempts = mail.attempts,
        give_up,
        %reason,
        "a mail could not be sent"
    );
    let event =
        audit::event(AuditKind::MailFailed, now, &Client::default()).detail(serde_json::json!({
            "mail": mail.id,
            "kind": mail.kind,
            "to": mail.to_address,
            "attempts": mail.attempts,
            "gave_up": give_up,
            "error": reason,
        }));
    let event = match mail_user(core, mail).await {
        Some(user) => event.user(&user),
        None => event,
    };
    core.store
        .mail_not_sent(&mail.id, reason, retry_at, &event)
        .await?;
    Ok(())
}

async fn mail_user(core: &Core, mail: &MailRow) -> Option<crate::UserId> {
    let email = crate::domain::email::Email::parse(&mail.to_address).ok()?;
    Some(core.store.user_by_email(email.key()).await.ok()??.id)
}

/// The wait after `attempts` failed tries: 30 s, doubling, at most 4 hours.
fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    Duration::from_secs(30u64.saturating_mul(1 << exponent)).min(Duration::from_secs(4 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_four_hours_over_about_two_days() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(10), Duration::from_secs(4 * 3600));
        let total: Duration = (1..MAX_ATTEMPTS).map(backoff).sum();
        assert!(total > Duration::from_secs(36 * 3600), "{total:?}");
        assert!(total < Duration::from_secs(72 * 3600), "{total:?}");
    }
}
