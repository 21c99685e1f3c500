//! The post-authentication hook: the app's say before a session starts. It sees who is signing
//! in (or up) and how, and may refuse, with a reason the user is shown, or add claims to the
//! session's access tokens (under `ext`, at most [`MAX_CLAIMS_BYTES`]; kept on the session, so
//! every refreshed token carries them too).
//!
//! Two kinds, run in this order when both are set:
//! - the app's own, registered with [`crate::Keyward::with_sign_in_hook`] (an app that nests the
//!   router);
//! - an HTTP hook (the `keyward` binary's settings `sign_in_hook_*`): a POST signed as webhooks
//!   are (Standard Webhooks), answered `{"allow": true, "claims": {…}}` or `{"allow": false,
//!   "reason": "…"}`, within a timeout. A hook that fails (times out, answers otherwise) refuses
//!   the sign-in (`unavailable`), unless the operator chose to let sign-ins through without it.
//!
//! Hooks run before the transaction that makes the session (and, for a sign-up, the user): a
//! refusal or a failure leaves nothing half-made. What the sign-in used up on the way stays used
//! (a magic link, a recovery code, a provider's code), and a provider's first sign-in made its
//! account at the callback, before the hook: a refusal there leaves the account without a
//! session. A refusal is `200 {"allow": false}`: any other status is a failure.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use keyward_proto::ErrorCode;
use serde::{Deserialize, Serialize};

use super::core::Core;
use super::{Random, Timestamp, UserId, b64};
use crate::Error;
use crate::settings::SignInHookSettings;

/// The most the claims a hook adds may take, as JSON: every access token carries them.
pub const MAX_CLAIMS_BYTES: usize = 1024;

/// The most of an HTTP hook's answer that is read.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// A sign-in about to start a session, as a hook sees it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SignInAttempt {
    /// The user (for a sign-up, the id the account is about to get).
    pub user_id: UserId,
    /// Their address.
    pub email: String,
    /// Whether this makes the account (a sign-up). Tentative: the address may turn out taken, and
    /// then no account is made.
    pub new_user: bool,
    /// How they authenticated (`pwd`, `passkey`, `otp`, `fed` for a provider, …).
    pub amr: Vec<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
}

/// Claims a hook adds to the session's access tokens (under `ext`).
pub type Claims = serde_json::Map<String, serde_json::Value>;

type Outcome = Pin<Box<dyn Future<Output = Result<Claims, String>> + Send>>;

/// The app's hook: `Ok(claims)` lets the sign-in through with them (none: empty), `Err(reason)`
/// refuses it.
#[derive(Clone)]
pub struct SignInHook(Arc<dyn Fn(SignInAttempt) -> Outcome + Send + Sync>);

impl SignInHook {
    /// Wraps `hook`.
    pub fn new<F, Fut>(hook: F) -> Self
    where
        F: Fn(SignInAttempt) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Claims, String>> + Send + 'static,
    {
        Self(Arc::new(move |attempt| Box::pin(hook(attempt))))
    }
}

impl std::fmt::Debug for SignInHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInHook")
    }
}

/// The HTTP hook, ready to call. Its `Debug` leaves the key out.
pub struct HttpHook {
    settings: SignInHookSettings,
    key: Vec<u8>,
    http: reqwest::Client,
}

impl HttpHook {
    /// The hook `settings` describe (checked when the settings were validated).
    pub fn new(settings: &SignInHookSettings) -> Result<Self, Error> {
        let key = settings.key().ok_or_else(|| Error::Config {
            setting: "sign-in-hook-secret",
            reason: "not a Standard Webhooks secret (`whsec_` and base64)".into(),
        })?;
        // The operator's own service, often on a private network: any address.
        let http = crate::outbound::client("the sign-in hook", settings.timeout, false)?;
        Ok(Self {
            settings: settings.clone(),
            key,
            http,
        })
    }
}

impl std::fmt::Debug for HttpHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpHook")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What the HTTP hook answers.
#[derive(Debug, Deserialize)]
struct Answer {
    allow: bool,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    claims: Option<Claims>,
}

fn refused(reason: &str) -> Error {
    let reason = reason.trim();
    let reason = if reason.is_empty() {
        "The sign-in was refused."
    } else {
        reason
    };
    Error::rejected(
        ErrorCode::Forbidden,
        reason.chars().take(300).collect::<String>(),
    )
}

/// Runs the hooks for `attempt` at `now`: the claims to keep on the session (JSON), if any; or
/// the refusal.
pub async fn run(
    core: &Core,
    attempt: &SignInAttempt,
    now: Timestamp,
    random: &Random,
) -> Result<Option<String>, Error> {
    let mut claims = Claims::new();
    if let Some(hook) = core.sign_in_hook() {
        let added = (hook.0)(attempt.clone())
            .await
            .map_err(|why| refused(&why))?;
        claims.extend(added);
    }
    if let Some(hook) = &core.http_hook {
        match call(hook, attempt, now, random).await {
            Ok(Answer {
                allow: false,
                reason,
                ..
            }) => {
                return Err(refused(reason.as_deref().unwrap_or_default()));
            }
            Ok(Answer { claims: added, .. }) => claims.extend(added.unwrap_or_default()),
            Err(why) if hook.settings.fail_open => {
                tracing::warn!(%why, "the sign-in hook failed; the sign-in goes through without it");
            }
            Err(why) => {
                tracing::warn!(%why, "the sign-in hook failed; the sign-in is refused");
                return Err(Error::rejected(
                    ErrorCode::Unavailable,
                    "Signing in is not possible right now. Try again in a moment.",
                ));
            }
        }
    }
    if claims.is_empty() {
        return Ok(None);
    }
    let text = serde_json::Value::Object(claims).to_string();
    if text.len() > MAX_CLAIMS_BYTES {
        tracing::warn!(
            bytes = text.len(),
            "a sign-in hook added more claims than tokens carry"
        );
        return Err(Error::rejected(
            ErrorCode::Unavailable,
            "Signing in is not possible right now. Try again in a moment.",
        ));
    }
    Ok(Some(text))
}

/// Calls the HTTP hook: its answer, or why there is none.
async fn call(
    hook: &HttpHook,
    attempt: &SignInAttempt,
    now: Timestamp,
    random: &Random,
) -> Result<Answer, String> {
    let body = serde_json::json!({
        "type": "user.signing_in",
        "timestamp": now.to_rfc3339(),
        "data": attempt,
    })
    .to_string();
    let id = format!("hook_{}", b64(&random.bytes::<16>()));
    let signature = standardwebhooks::Webhook::from_bytes(hook.key.clone())
        .and_then(|signer| signer.sign(&id, now.seconds(), body.as_bytes()))
        .map_err(|err| format!("signing failed: {err}"))?;
    let answer = hook
        .http
        .post(&hook.settings.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", now.seconds().to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|err| format!("no answer: {err}"))?;
    let status = answer.status();
    if !status.is_success() {
        return Err(format!("it answered {status}"));
    }
    // Read up to the limit, never more: a broken hook must not fill the server's memory.
    let mut answer = answer;
    let mut bytes = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|err| format!("its answer broke off: {err}"))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_ANSWER_BYTES {
            return Err("its answer is over 16 KB".into());
        }
    }
    serde_json::from_slice(&bytes)
        .map_err(|err| format!("its answer is not the hook's JSON: {err}"))
}
