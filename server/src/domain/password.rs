//! Passwords: argon2id hashing on a few dedicated threads that keep their memory.
//!
//! A hash costs 15–17 ms of one core (m = 19 MiB, t = 2, p = 1: OWASP's first recommendation).
//! Hashing on the async worker threads would stall every token check queued behind it, so the
//! hashes run on one thread per core, fed from one queue; the rest wait asynchronously.
//!
//! Each of these threads allocates its 19 MiB of argon2 memory once, on its first hash, and
//! reuses it. The crate's own `hash_password` allocates and frees that block on every call,
//! which glibc's allocator keeps around per thread arena: a burst of sign-ups grew the server
//! from 15 MB to over 850 MB. With the memory owned by the threads, it stays at 19 MiB per core.
//! The PHC string is built and read with the argon2 crate's own types, so the stored format is
//! exactly the one `Argon2::hash_password` writes (a test checks both ways).

use std::fmt;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use keyward_proto::ErrorCode;

use super::Random;
use crate::Error;

/// A password that meets the length rules. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

const MIN_CHARS: usize = 8;
const MAX_CHARS: usize = 1024;

/// Stored hashes asking for more memory than this (256 MiB) are not computed: they cannot come
/// from Keyward, and would let a tampered row exhaust the server's memory.
const MAX_M_COST: u32 = 256 * 1024;

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

    /// Refuses the most common passwords (a list of 10,000 shipped in the binary, compared
    /// without case): they fall to the first guesses of any attack.
    pub fn check_common(&self) -> Result<(), Error> {
        static COMMON: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
            std::sync::OnceLock::new();
        let common = COMMON.get_or_init(|| {
            include_str!("common_passwords.txt")
                .lines()
                .filter(|line| !line.starts_with('#') && !line.is_empty())
                .collect()
        });
        if common.contains(self.0.to_lowercase().as_str()) {
            return Err(Error::rejected(
                ErrorCode::PasswordTooCommon,
                "This password is one of the most common ones: choose another.",
            ));
        }
        Ok(())
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

/// Work for a hashing thread, given that thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Hashes and verifies passwords with argon2id on dedicated threads (one per core by default).
/// Cheap to clone; the threads end when the last clone is dropped.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    jobs: Sender<Job>,
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
    /// A hasher with OWASP's argon2id parameters (19 MiB, 2 passes, 1 lane), on one thread per
    /// core; its dummy hash is of a password drawn from `random`.
    pub fn new(random: &Random) -> Result<Self, Error> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_params(Params::DEFAULT, threads, random)
    }

    /// A hasher with other parameters (tests use cheap ones to exercise rehashing).
    pub fn with_params(params: Params, threads: usize, random: &Random) -> Result<Self, Error> {
        let password = random.bytes::<32>();
        // Computed here with memory that is freed at once: the threads allocate theirs only
        // when the first password arrives, so an idle server stays small.
        let dummy = hash_with(&mut Vec::new(), &params, &password, random.bytes())?;
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("keyward-argon2-{index}"))
                .spawn(move || work(&queue))
                .map_err(|err| Error::internal(format!("cannot start a hashing thread: {err}")))?;
        }
        Ok(Self {
            params,
            jobs,
            dummy: dummy.into(),
        })
    }

    /// Hashes `password` with `salt` (PHC string, `$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub async fn hash(&self, password: &Password, salt: [u8; 16]) -> Result<String, Error> {
        let params = self.params.clone();
        let secret = password.0.clone();
        self.on_pool(move |memory| hash_with(memory, &params, secret.as_bytes(), salt))
            .await?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when `stored` is `None`
    /// (unknown account, or one without a password), so both cases take the same time.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
        rehash_salt: [u8; 16],
    ) -> Result<Verdict, Error> {
        let exists = stored.is_some();
        let stored: Arc<str> = stored.map_or_else(|| Arc::clone(&self.dummy), Arc::from);
        let params = self.params.clone();
        let secret = password.0.clone();
        self.on_pool(move |memory| {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                // A hash this code cannot read never matches; say so in the logs.
                tracing::error!("a stored password hash is not a valid PHC string");
                return Ok(Verdict::Mismatch);
            };
            let matched = verify_with(memory, &parsed, secret.as_bytes());
            if !matched || !exists {
                return Ok(Verdict::Mismatch);
            }
            if is_current(&parsed, &params) {
                Ok(Verdict::Match)
            } else {
                hash_with(memory, &params, secret.as_bytes(), rehash_salt)
                    .map(Verdict::MatchRehashed)
            }
        })
        .await?
    }

    async fn on_pool<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, Error> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            // The caller may have gone (its request was cancelled); nothing to tell then.
            let _ = reply.send(job(memory));
        });
        self.jobs
            .send(job)
            .map_err(|_| Error::internal("the password hashing threads have stopped"))?;
        answer
            .await
            .map_err(|_| Error::internal("a password hashing job failed"))
    }
}

/// A hashing thread: takes jobs from the shared queue until every [`Hasher`] is gone.
fn work(queue: &Mutex<Receiver<Job>>) {
    let mut memory = Vec::new();
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        job(&mut memory);
    }
}

/// Runs argon2 into `out` with `memory`, grown to what `params` needs.
fn compute(
    memory: &mut Vec<Block>,
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    if params.m_cost() > MAX_M_COST {
        return Err(argon2::Error::MemoryTooMuch);
    }
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let memory = memory
        .get_mut(..blocks)
        .ok_or(argon2::Error::MemoryTooLittle)?;
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, out, memory)
}

fn hash_with(
    memory: &mut Vec<Block>,
    params: &Params,
    password: &[u8],
    salt: [u8; 16],
) -> Result<String, Error> {
    let failed = |err: &dyn fmt::Display| Error::internal(format!("argon2 failed: {err}"));
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    compute(
        memory,
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password,
        &salt,
        &mut out,
    )
    .map_err(|err| failed(&err))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: params.try_into().map_err(|err| failed(&err))?,
        salt: Some(Salt::new(&salt).map_err(|err| failed(&err))?),
        hash: Some(Output::new(&out).map_err(|err| failed(&err))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` hashes to `stored`, with `stored`'s own algorithm, version and parameters.
/// The comparison is constant-time (`Output`'s `PartialEq`).
fn verify_with(memory: &mut Vec<Block>, stored: &PasswordHash, password: &[u8]) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(stored) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if let Err(err) = compute(memory, algorithm, version, params, password, salt, &mut out) {
        tracing::error!("a stored password hash cannot be computed: {err}");
        return false;
    }
    Output::new(&out).is_ok_and(|computed| computed == *expected)
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
        let old = Hasher::with_params(cheap(), 1, &Random::seeded(3)).unwrap();
        let password = Password::new("correct horse battery".into()).unwrap();
        let stored = old.hash(&password, [5; 16]).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{stored}"
        );
        assert_eq!(
            old.verify(&password, Some(&stored), [6; 16]).await.unwrap(),
            Verdict::Match
        );

        let wrong = Password::new("wrong horse battery".into()).unwrap();
        assert_eq!(
            old.verify(&wrong, Some(&stored), [6; 16]).await.unwrap(),
            Verdict::Mismatch
        );

        let current =
            Hasher::with_params(Params::new(128, 2, 1, None).unwrap(), 1, &Random::seeded(3))
                .unwrap();
        let Verdict::MatchRehashed(upgraded) = current
            .verify(&password, Some(&stored), [6; 16])
            .await
            .unwrap()
        else {
            panic!("an old hash must be upgraded");
        };
        assert!(
            upgraded.starts_with("$argon2id$v=19$m=128,t=2,p=1$"),
            "{upgraded}"
        );
        assert_eq!(
            current
                .verify(&password, Some(&upgraded), [6; 16])
                .await
                .unwrap(),
            Verdict::Match
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_matches_even_with_the_dummy_password() {
        let hasher = Hasher::with_params(cheap(), 1, &Random::seeded(3)).unwrap();
        let password = Password::new("anything at all".into()).unwrap();
        assert_eq!(
            hasher.verify(&password, None, [6; 16]).await.unwrap(),
            Verdict::Mismatch
        );
        let garbage = hasher
            .verify(&password, Some("not a hash"), [6; 16])
            .await
            .unwrap();
        assert_eq!(garbage, Verdict::Mismatch);
    }

    #[tokio::test]
    async fn the_stored_format_is_the_argon2_crates_own_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(256, 2, 1, None).unwrap();
        let hasher = Hasher::with_params(params.clone(), 2, &Random::seeded(3)).unwrap();
        let password = Password::new("correct horse battery".into()).unwrap();
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);

        let ours = hasher.hash(&password, [5; 16]).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        reference
            .verify_password(b"correct horse battery", &parsed)
            .expect("the argon2 crate accepts our hash");
        assert!(
            reference
                .verify_password(b"correct horse batterY", &parsed)
                .is_err()
        );

        let theirs = reference
            .hash_password(b"correct horse battery")
            .unwrap()
            .to_string();
        assert_eq!(
            hasher
                .verify(&password, Some(&theirs), [6; 16])
                .await
                .unwrap(),
            Verdict::Match
        );
        // Argon2i and argon2d hashes (other libraries' defaults) verify too, and are upgraded.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(64, 3, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery")
        .unwrap()
        .to_string();
        assert!(matches!(
            hasher
                .verify(&password, Some(&argon2i), [6; 16])
                .await
                .unwrap(),
            Verdict::MatchRehashed(_)
        ));
    }

    #[tokio::test]
    async fn a_hash_asking_for_absurd_memory_is_refused_not_computed() {
        let hasher = Hasher::with_params(cheap(), 1, &Random::seeded(3)).unwrap();
        let password = Password::new("correct horse battery".into()).unwrap();
        let stored = hasher.hash(&password, [5; 16]).await.unwrap();
        let greedy = stored.replace("m=64,", "m=4194304,");
        assert_eq!(
            hasher
                .verify(&password, Some(&greedy), [6; 16])
                .await
                .unwrap(),
            Verdict::Mismatch
        );
    }
}
