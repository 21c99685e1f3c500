//! [`Core`]: everything a running Keyward holds, shared by every request.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::audit::{self, AuditKind, Client, EventExt as _};
use super::dpop::{self, Proof};
use super::keys::{self, KeyRing};
use super::mail::Templates;
use super::password::Hasher;
use super::revocation::RevokedSessions;
use super::tokens::{self, AccessClaims, Confirmation, Expected};
use super::verified::VerifiedTokens;
use super::{Random, Timestamp, WebhookId};
use crate::secrets::DerivedKeys;
use crate::store::Store;
use crate::{Error, Settings};

/// A running Keyward's state: settings, database, keys, the revoked-session set, the password
/// hashing pool.
#[derive(Debug)]
pub struct Core {
    /// The settings it was started with (validated).
    pub settings: Settings,
    /// The database.
    pub store: Store,
    /// Password hashing.
    pub hasher: Hasher,
    /// Sessions whose access tokens are refused.
    pub revoked: RevokedSessions,
    /// The mail templates.
    pub mail: Templates,
    /// Wakes the mail sender when a mail is queued (it also looks every few seconds).
    pub mail_queued: Arc<tokio::sync::Notify>,
    /// The organization roles in force (built-in and the app's).
    pub roles: super::orgs::Roles,
    /// The OpenID Connect providers (discovered on first use).
    #[cfg(feature = "oauth")]
    pub oauth: super::oauth::Providers,
    /// The HTTP sign-in hook, when the settings name one.
    pub http_hook: Option<super::hooks::HttpHook>,
    /// The app's sign-in hook, once it registered one.
    sign_in_hook: RwLock<Option<super::hooks::SignInHook>>,
    /// Set when this process stops ([`crate::Keyward::shutdown`]): the background senders take
    /// no more work.
    pub stopping: AtomicBool,
    /// The webhook endpoints this process's sender holds, with their leases: released when it
    /// stops, so another server takes them over at once rather than when the hold runs out.
    pub webhook_holds: Mutex<HashMap<WebhookId, String>>,
    /// Connect tickets asked for per session, counted in this process's memory.
    pub ticket_counts: super::limits::LocalCounts<super::SessionId>,
    verified: VerifiedTokens,
    webauthn: webauthn_rs::Webauthn,
    secrets: DerivedKeys,
    keys: RwLock<Arc<KeyRing>>,
    last_key_reload: Mutex<Timestamp>,
}

/// DPoP nonces change every 5 minutes; the previous one stays valid, so a nonce lives 5 to 10.
const NONCE_WINDOW_MS: i64 = 5 * 60 * 1000;

/// How often an unknown `kid` may trigger a reload of the keys (a rotation made by another
/// process), so garbage tokens cannot make the server hammer its database.
const UNKNOWN_KID_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

impl Core {
    /// A Keyward from its parts, made at start-up (see `runtime::start`), with the mail
    /// templates (a template file that cannot be read is a configuration error).
    pub fn new(
        settings: Settings,
        store: Store,
        webauthn: webauthn_rs::Webauthn,
        secrets: DerivedKeys,
        ring: KeyRing,
        hasher: Hasher,
        now: Timestamp,
    ) -> Result<Self, Error> {
        let mail = Templates::load(settings.mail_templates.as_deref())?;
        let roles = super::orgs::Roles::new(&settings.roles)?;
        #[cfg(feature = "oauth")]
        let oauth = super::oauth::Providers::new(settings.oauth.len())?;
        let http_hook = settings
            .sign_in_hook
            .as_ref()
            .map(super::hooks::HttpHook::new)
            .transpose()?;
        Ok(Self {
            http_hook,
            sign_in_hook: RwLock::new(None),
            stopping: AtomicBool::new(false),
            webhook_holds: Mutex::default(),
            ticket_counts: super::limits::LocalCounts::default(),
            #[cfg(feature = "oauth")]
            oauth,
            roles,
            settings,
            store,
            hasher,
            revoked: RevokedSessions::default(),
            mail,
            mail_queued: Arc::default(),
            verified: VerifiedTokens::default(),
            webauthn,
            secrets,
            keys: RwLock::new(Arc::new(ring)),
            last_key_reload: Mutex::new(now),
        })
    }

    /// The app's sign-in hook, if it registered one.
    pub fn sign_in_hook(&self) -> Option<super::hooks::SignInHook> {
        self.sign_in_hook.read().map_or_else(
            |poisoned| poisoned.into_inner().clone(),
            |hook| hook.clone(),
        )
    }

    /// Registers the app's sign-in hook (replacing any earlier one).
    pub fn set_sign_in_hook(&self, hook: super::hooks::SignInHook) {
        match self.sign_in_hook.write() {
            Ok(mut slot) => *slot = Some(hook),
            Err(poisoned) => *poisoned.into_inner() = Some(hook),
        }
    }

    /// One round trip to the database: which one, when it answers.
    pub async fn health(&self) -> Result<crate::DatabaseKind, Error> {
        self.store.ping().await?;
        Ok(self.store.kind())
    }

    /// The current key ring.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.read().map_or_else(
            |poisoned| Arc::clone(&poisoned.into_inner()),
            |ring| Arc::clone(&ring),
        )
    }

    /// The WebAuthn relying party.
    pub fn webauthn(&self) -> &webauthn_rs::Webauthn {
        &self.webauthn
    }

    /// The keys derived from the master secret.
    pub fn secrets(&self) -> &DerivedKeys {
        &self.secrets
    }

    /// Re-reads the signing keys (to see a rotation made by another process).
    pub async fn reload_keys(&self, now: Timestamp) -> Result<(), Error> {
        let rows = self.store.signing_keys().await?;
        let ring = KeyRing::from_rows(&rows, &self.secrets, now, self.settings.access_ttl)?;
        if let Ok(mut keys) = self.keys.write() {
            *keys = Arc::new(ring);
        }
        if let Ok(mut last) = self.last_key_reload.lock() {
            *last = now;
        }
        Ok(())
    }

    /// Makes a new signing key; the current one is retired but keeps verifying (and stays in
    /// the JWKS) until its tokens have expired. Returns the new key's id.
    pub async fn rotate_keys(
        &self,
        now: Timestamp,
        random: &Random,
        client: &Client,
    ) -> Result<String, Error> {
        let key = keys::generate(&self.secrets, now, random)?;
        let event = audit::event(AuditKind::KeyRotated, now, client)
            .detail(serde_json::json!({ "kid": key.kid, "reason": "rotation" }));
        self.store.add_signing_key(&key, &event).await?;
        self.reload_keys(now).await?;
        Ok(key.kid)
    }

    /// Verifies an access token as the `AuthUser` extractor does: signature, `alg`, `kid`,
    /// `iss`, `aud`, expiry, and that its session has not been revoked.
    pub async fn verify_access(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Arc<AccessClaims>, Error> {
        let claims = match self.verified.get(token, now) {
            Some(claims) => claims,
            None => {
                let mut ring = self.keys();
                let unknown_kid =
                    tokens::kid_of(token).is_some_and(|kid| ring.verifying(&kid).is_none());
                if unknown_kid && self.may_reload_for_unknown_kid(now) {
                    self.reload_keys(now).await?;
                    ring = self.keys();
                }
                let claims = Arc::new(tokens::verify(&ring, token, &self.expected(now))?);
                self.verified.insert(token, Arc::clone(&claims), now);
                claims
            }
        };
        if self.revoked.contains(&claims.sid) {
            return Err(Error::rejected(
                keyward_proto::ErrorCode::SessionRevoked,
                "This session has been signed out.",
            ));
        }
        if let Some(org) = &claims.org
            && self
                .revoked
                .org_role_changed(&claims.sub, org, claims.org_role.as_deref())
        {
            // `invalid_token`: clients refresh and retry, and the new token carries the role
            // as it is now (or no organization).
            return Err(Error::rejected(
                keyward_proto::ErrorCode::InvalidToken,
                "Your role in this token's organization has changed: refresh the token.",
            ));
        }
        Ok(claims)
    }

    /// Checks that a device-bound token (`cnf.jkt`) comes with a proof by its key for
    /// `request` (method, URL, time, `ath`, never replayed): `dpop_required` without one,
    /// `invalid_dpop_proof` for another key's. A token without `cnf` passes as it is.
    pub async fn check_binding(
        &self,
        cnf: Option<&Confirmation>,
        token: &str,
        request: Option<&dpop::Request>,
        now: Timestamp,
    ) -> Result<(), Error> {
        let Some(cnf) = cnf else {
            return Ok(());
        };
        let proof = match request {
            Some(request) => self.check_dpop(request, Some(token), now)?,
            None => None,
        };
        match proof {
            None => Err(Error::rejected(
                keyward_proto::ErrorCode::DpopRequired,
                "A DPoP-bound token needs a DPoP proof in the `DPoP` header.",
            )),
            // Another key's proof is refused before it is recorded: only the token's own key
            // adds to the replay record.
            Some(proof) if proof.jkt != cnf.jkt => Err(Error::rejected(
                keyward_proto::ErrorCode::InvalidDpopProof,
                "The DPoP proof is not valid: it is signed by another key than the token's.",
            )),
            Some(proof) => self.record_dpop(&proof, now).await,
        }
    }

    /// Checks the DPoP proof of `request` (if it has one) without recording it: signature,
    /// method, URL, time, `ath` for `access_token`, and the server nonce when nonces are on.
    /// Costs no storage, so it can come before a request's rate limits and ceremonies;
    /// [`Core::record_dpop`] must follow before the proof is relied on.
    pub fn check_dpop(
        &self,
        request: &dpop::Request,
        access_token: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<Proof>, Error> {
        let Some(text) = request.proof.as_deref() else {
            return Ok(None);
        };
        let proof = dpop::verify(text, &request.method, &request.url, access_token, now)?;
        if self.settings.dpop_nonce {
            let window = now.millis().div_euclid(NONCE_WINDOW_MS);
            let valid = [window, window - 1].map(|w| super::b64(&self.secrets.dpop_nonce(w)));
            if !proof.nonce.as_ref().is_some_and(|n| valid.contains(n)) {
                return Err(Error::UseDpopNonce {
                    nonce: self.dpop_nonce(now),
                });
            }
        }
        Ok(Some(proof))
    }

    /// Records `proof` as used; `invalid_dpop_proof` if it was used before (on any server
    /// sharing a PostgreSQL).
    pub async fn record_dpop(&self, proof: &Proof, now: Timestamp) -> Result<(), Error> {
        let id = format!("{}:{}", proof.jkt, proof.jti);
        let fresh = self
            .store
            .record_dpop_proof(&id, now.millis(), dpop::forget_at(proof).millis())
            .await?;
        if fresh {
            Ok(())
        } else {
            Err(Error::rejected(
                keyward_proto::ErrorCode::InvalidDpopProof,
                "The DPoP proof is not valid: it was used before.",
            ))
        }
    }

    /// The DPoP nonce to hand out at `now` (valid for this window and the next).
    pub fn dpop_nonce(&self, now: Timestamp) -> String {
        super::b64(
            &self
                .secrets
                .dpop_nonce(now.millis().div_euclid(NONCE_WINDOW_MS)),
        )
    }

    /// What tokens must say to be ours, at `now`.
    pub fn expected(&self, now: Timestamp) -> Expected<'_> {
        Expected {
            issuer: &self.settings.issuer,
            audience: self.settings.audience(),
            now,
        }
    }

    fn may_reload_for_unknown_kid(&self, now: Timestamp) -> bool {
        self.last_key_reload
            .lock()
            .is_ok_and(|last| now >= last.plus(UNKNOWN_KID_RELOAD_INTERVAL))
    }
}
