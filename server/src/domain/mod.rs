//! The decisions: accounts, sessions, tokens, keys, limits. Pure logic over the store: functions
//! take the time (`now`) and randomness as arguments, and no axum or sqlx type appears here, so
//! tests control expiry and grace windows without sleeping. How refresh works is in
//! [`sessions`]; how tokens are signed and checked in [`tokens`].

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod core;
pub mod devices;
pub mod dpop;
pub mod email;
pub mod gateway;
pub mod hooks;
pub mod keys;
pub mod lifecycle;
pub mod limits;
pub mod mail;
pub mod mfa;
#[cfg(feature = "oauth")]
pub mod oauth;
#[cfg(feature = "oidc-provider")]
pub mod oidc_provider;
pub mod orgs;
pub mod passkeys;
pub mod password;
pub mod revocation;
#[cfg(test)]
mod scenarios;
pub mod server_keys;
pub mod sessions;
pub mod tickets;
pub mod tokens;
pub mod verified;
pub mod webhooks;

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// A point in time: milliseconds since the Unix epoch, UTC. Stored as such in both databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The wall clock. Only the HTTP layer and background tasks read it, once per request.
    #[allow(clippy::disallowed_methods)] // the one reading of the system clock
    pub fn now() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self(ms)
    }

    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (JWT `iat`/`exp`).
    pub const fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Later by `d`.
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(millis_of(d)))
    }

    /// Earlier by `d`.
    pub fn minus(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(millis_of(d)))
    }

    /// How long from `self` until `later` (zero when `later` is not later).
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }

    /// RFC 3339 in UTC, as the API shows times: `2026-11-22T06:19:12.957Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    }

    /// An RFC 3339 time (`2026-12-01T00:00:00Z`, any offset), or `None`.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Self)
    }
}

fn millis_of(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new id: UUIDv7 (time-ordered, so new rows land at the end of the index) from
            /// `now` and 10 random bytes.
            pub fn new(now: Timestamp, random: [u8; 10]) -> Self {
                let ms = u64::try_from(now.millis()).unwrap_or(0);
                Self(uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid())
            }

            /// Parses the text form; `None` for anything that is not a UUID.
            pub fn parse(text: &str) -> Option<Self> {
                uuid::Uuid::try_parse(text).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&text).ok_or_else(|| serde::de::Error::custom("not a UUID"))
            }
        }
    };
}

uuid_id!(
    /// A user's id.
    UserId
);
uuid_id!(
    /// A session's id (the access token's `sid`).
    SessionId
);
uuid_id!(
    /// A device's id.
    DeviceId
);
uuid_id!(
    /// An organization's id.
    OrgId
);
uuid_id!(
    /// A server key's id.
    ServerKeyId
);
uuid_id!(
    /// A webhook endpoint's id.
    WebhookId
);

impl UserId {
    /// The UUID (WebAuthn's user handle).
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

/// A device key's RFC 7638 thumbprint (SHA-256, base64url): what a device-bound session and its
/// tokens (`cnf.jkt`) are bound to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jkt(String);

impl Jkt {
    /// Parses a thumbprint: 43 base64url characters (32 bytes); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 43 && unb64(text).is_some_and(|bytes| bytes.len() == 32))
            .then(|| Self(text.to_owned()))
    }

    /// The thumbprint of `jwk`, computed here (see `keys::thumbprint_of`).
    pub(crate) fn of(jwk: &serde_json::Value) -> Option<Self> {
        keys::thumbprint_of(jwk).map(Self)
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Jkt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Jkt {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Jkt {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("not a JWK thumbprint"))
    }
}

/// Where the domain's random bytes come from, handed in like the time: the operating system's
/// generator at the edges ([`Random::os`]: the HTTP handlers, start-up), or a seeded, repeatable
/// stream in tests ([`Random::seeded`]). (What libraries draw for themselves, webauthn-rs's
/// challenges and aws-lc's ECDSA nonces, stays theirs.)
#[derive(Debug)]
pub struct Random {
    seeded: Option<Seeded>,
}

#[derive(Debug)]
struct Seeded {
    seed: u64,
    drawn: std::sync::atomic::AtomicU64,
}

impl Random {
    /// The operating system's CSPRNG.
    pub const fn os() -> Self {
        Self { seeded: None }
    }

    /// A repeatable stream from `seed` (SHA-256 of the seed and a counter): tests only, never
    /// for secrets.
    #[cfg(test)]
    pub const fn seeded(seed: u64) -> Self {
        Self {
            seeded: Some(Seeded {
                seed,
                drawn: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Fills `buf`.
    ///
    /// The OS generator failing means the machine cannot do cryptography at all; there is no
    /// safe way to continue, so this is the one place that aborts instead of returning an error.
    pub fn fill(&self, buf: &mut [u8]) {
        match &self.seeded {
            None => {
                // The one draw from the operating system (the edges hand this source in).
                #[allow(clippy::panic, clippy::disallowed_methods)]
                if let Err(err) = getrandom::fill(buf) {
                    panic!("the operating system's random number generator failed: {err}");
                }
            }
            Some(seeded) => {
                for chunk in buf.chunks_mut(32) {
                    let n = seeded
                        .drawn
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let block = sha256(&[seeded.seed.to_be_bytes(), n.to_be_bytes()].concat());
                    // `chunks_mut(32)`: every chunk fits in one 32-byte block.
                    let len = chunk.len();
                    chunk.copy_from_slice(block.get(..len).unwrap_or_default());
                }
            }
        }
    }

    /// `N` random bytes.
    pub fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut buf = [0u8; N];
        self.fill(&mut buf);
        buf
    }
}

/// Whether `c` has no place in a name people read: a control character, a line or paragraph
/// separator, or an invisible formatting one (the soft hyphen, the Arabic letter mark, the
/// Mongolian vowel separator, zero-width spaces and joiners, directional marks, embeddings,
/// overrides and isolates, the byte order mark, interlinear annotation marks), which would let a
/// name hide text or read as another (a right-to-left override turns "Acme\u{202e}cni" into
/// "Acmeinc" on screen). The OpenAPI document's name patterns list the same characters.
pub fn unfit_for_names(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{61c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// A name people read, as sent, trimmed: `None` when it is longer than `max` characters or has a
/// character [`unfit_for_names`] anywhere, even at an end trimming would take away (a name that is
/// only a tab is refused, as the OpenAPI pattern says, not read as a blank one).
pub fn fit_name(sent: &str, max: usize) -> Option<&str> {
    let name = sent.trim();
    (!sent.chars().any(unfit_for_names) && name.chars().count() <= max).then_some(name)
}

/// Whether `a` and `b` are equal, in a time that depends on their length only (codes and their
/// keyed hashes).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// base64url without padding (JOSE's encoding).
pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes base64url without padding; `None` for anything else.
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_but_an_unfit_character_anywhere_refuses_it() {
        assert_eq!(fit_name("  Old phone ", 100), Some("Old phone"));
        assert_eq!(fit_name(" ", 100), Some(""));
        assert_eq!(
            fit_name(&"é".repeat(100), 100),
            Some("é".repeat(100).as_str())
        );
        assert_eq!(fit_name(&"é".repeat(101), 100), None);
        for sent in [
            "\u{b}",
            "\tOld",
            "Old\n",
            "Acme\u{202e}cni",
            "\u{feff}Acme",
            "Acme\u{61c}",
            "Acme\u{2028}Inc",
            "Acme\u{fff9}",
        ] {
            assert_eq!(fit_name(sent, 100), None, "{sent:?}");
        }
    }

    #[test]
    fn timestamps_print_as_rfc3339_utc() {
        assert_eq!(
            Timestamp::from_millis(1_795_000_000_123).to_rfc3339(),
            "2026-11-18T11:06:40.123Z"
        );
        let t = Timestamp::from_millis(10_000);
        assert_eq!(t.plus(Duration::from_secs(5)).millis(), 15_000);
        assert_eq!(t.until(t.minus(Duration::from_secs(1))), Duration::ZERO);
    }

    #[test]
    fn ids_are_time_ordered_uuids_and_parse_back() {
        let a = SessionId::new(Timestamp::from_millis(1_000), [1; 10]);
        let b = SessionId::new(Timestamp::from_millis(2_000), [0; 10]);
        assert!(a < b);
        assert_eq!(SessionId::parse(&a.to_string()), Some(a));
        assert_eq!(SessionId::parse("not-a-uuid"), None);
        assert_eq!(SessionId::parse("' OR 1=1"), None);
    }
}
