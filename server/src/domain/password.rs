//! Passwords: argon2id hashing on a bounded pool of blocking threads.
//!
//! A hash costs 15–17 ms of one core (m = 19 MiB, t = 2, p = 1: OWASP's first recommendation).
//! Hashing on the async worker threads would stall every token check queued behind it, so each
//! hash runs on tokio's blocking pool, and a semaphore lets at most one hash per core run at a
//! time; the rest wait asynchronously.

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use keyward_proto::ErrorCode;
use tokio::sync::Semaphore;

use crate::Error;

/// A password that meets the length rules. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

const MIN_CHARS: usize = 8;
const MAX_CHARS: usize = 1024;

impl Password {
    /// Checks the length rule (8 to 1024 characters, counted as Unicode scalar values).
    pub fn new(input: String) -> Result<Self, Error> {
        let chars = input.chars().count();
        if chars < MIN_CHARS {
            return Err(Error::rejected(
                ErrorCode::WeakPassword,
                "The password must be at least 8 characters long.",
            ));
        }
        if chars > MAX_CHARS {
            return Err(Error::rejected(
                ErrorCode::PasswordTooLong,
                "The password must be at most 1024 characters long.",
            ));
        }
        Ok(Self(input))
    }

    /// A password as typed at sign-in: no length rule (the rule may have changed since sign-up),
    /// but nothing longer than the maximum is ever hashed.
    pub fn candidate(input: String) -> Option<Self> {
        (input.chars().count() <= MAX_CHARS).then_some(Self(input))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Whether a password matched, and whether its stored hash should be replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Wrong password (or no account: the caller cannot tell, by design).
    Mismatch,
    /// Right password, hash up to date.
    Match,
    /// Right password; the stored hash used older parameters, here is one with today's.
    MatchRehashed(String),
}

/// Hashes and verifies passwords with argon2id, at most `permits` at a time.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does not exist, so an
    /// unknown email costs the same time as a known one.
    dummy: Arc<str>,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// A hasher with OWASP's argon2id parameters (19 MiB, 2 passes, 1 lane), running at most
    /// one hash per core at a time.
    pub fn new() -> Result<Self, Error> {
        let permits = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_params(Params::DEFAULT, permits)
    }

    /// A hasher with other parameters (tests use cheap ones to exercise rehashing).
    pub fn with_params(params: Params, permits: usize) -> Result<Self, Error> {
        let mut random = [0u8; 32];
        crate::domain::fill_random(&mut random);
        let dummy = hash_with(&params, &random)?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(permits.max(1))),
            dummy: dummy.into(),
        })
    }

    /// Hashes `password` (PHC string, `$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub async fn hash(&self, password: &Password) -> Result<String, Error> {
        let params = self.params.clone();
        let secret = password.0.clone();
        self.on_pool(move || hash_with(&params, secret.as_bytes()))
            .await?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when `stored` is `None`
    /// (unknown account, or one without a password), so both cases take the same time.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<Verdict, Error> {
        let exists = stored.is_some();
        let stored: Arc<str> = stored.map_or_else(|| Arc::clone(&self.dummy), Arc::from);
        let params = self.params.clone();
        let secret = password.0.clone();
        self.on_pool(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                // A hash this code cannot read never matches; say so in the logs.
                tracing::error!("a stored password hash is not a valid PHC string");
                return Ok(Verdict::Mismatch);
            };
            let matched = Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok();
            if !matched || !exists {
                return Ok(Verdict::Mismatch);
            }
            if is_current(&parsed, &params) {
                Ok(Verdict::Match)
            } else {
                hash_with(&params, secret.as_bytes()).map(Verdict::MatchRehashed)
            }
        })
        .await?
    }

    async fn on_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::internal("the password hashing pool is closed"))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| Error::internal("a password hashing task failed"))
    }
}

fn hash_with(params: &Params, password: &[u8]) -> Result<String, Error> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|err| Error::internal(format!("argon2 failed: {err}")))
}

/// Whether `hash` was made with argon2id v1.3 and exactly `params`.
fn is_current(hash: &PasswordHash, params: &Params) -> bool {
    let same_params = Params::try_from(hash).is_ok_and(|stored| {
        stored.m_cost() == params.m_cost()
            && stored.t_cost() == params.t_cost()
            && stored.p_cost() == params.p_cost()
    });
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && same_params
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(64, 1, 1, None).unwrap()
    }

    #[test]
    fn length_rules_count_characters_not_bytes() {
        assert_eq!(
            Password::new("short".into()).unwrap_err().code(),
            Some(ErrorCode::WeakPassword)
        );
        assert!(Password::new("ääääää12".into()).is_ok());
        assert_eq!(
            Password::new("x".repeat(1025)).unwrap_err().code(),
            Some(ErrorCode::PasswordTooLong)
        );
        assert!(Password::new("x".repeat(1024)).is_ok());
        assert!(
            format!("{:?}", Password::new("hunter2hunter2".into()).unwrap()).contains("redacted")
        );
    }

    #[tokio::test]
    async fn hashes_verify_and_old_parameters_are_upgraded() {
        let old = Hasher::with_params(cheap(), 1).unwrap();
        let password = Password::new("correct horse battery".into()).unwrap();
        let stored = old.hash(&password).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{stored}"
        );
        assert_eq!(
            old.verify(&password, Some(&stored)).await.unwrap(),
            Verdict::Match
        );

        let wrong = Password::new("wrong horse battery".into()).unwrap();
        assert_eq!(
            old.verify(&wrong, Some(&stored)).await.unwrap(),
            Verdict::Mismatch
        );

        let current = Hasher::with_params(Params::new(128, 2, 1, None).unwrap(), 1).unwrap();
        let Verdict::MatchRehashed(upgraded) =
            current.verify(&password, Some(&stored)).await.unwrap()
        else {
            panic!("an old hash must be upgraded");
        };
        assert!(
            upgraded.starts_with("$argon2id$v=19$m=128,t=2,p=1$"),
            "{upgraded}"
        );
        assert_eq!(
            current.verify(&password, Some(&upgraded)).await.unwrap(),
            Verdict::Match
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_matches_even_with_the_dummy_password() {
        let hasher = Hasher::with_params(cheap(), 1).unwrap();
        let password = Password::new("anything at all".into()).unwrap();
        assert_eq!(
            hasher.verify(&password, None).await.unwrap(),
            Verdict::Mismatch
        );
        let garbage = hasher.verify(&password, Some("not a hash")).await.unwrap();
        assert_eq!(garbage, Verdict::Mismatch);
    }
}
