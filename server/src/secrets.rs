//! The master secret and what is derived from it.
//!
//! Nothing secret is stored in the clear: signing keys are sealed with AES-256-GCM under a key
//! derived (HKDF-SHA256) from the master secret, so a copy of the database alone cannot sign
//! tokens. Each use gets its own derived key (HKDF `info`), so no two purposes share a key.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hkdf::Hkdf;
use hmac::Mac;
use sha2::Sha256;

use crate::Error;

/// The master secret (`KEYWARD_SECRET`). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterSecret(Vec<u8>);

/// The shortest master secret accepted in production: 32 bytes (256 bits).
pub const MIN_SECRET_LEN: usize = 32;

impl MasterSecret {
    /// Wraps the secret's bytes (any text of at least 32 bytes; `openssl rand -base64 48`
    /// makes a good one).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// How many bytes it has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The derived keys, one per purpose.
    pub fn derive(&self) -> DerivedKeys {
        let hkdf = Hkdf::<Sha256>::new(Some(b"keyward master secret v1"), &self.0);
        let expand = |info: &[u8]| {
            let mut key = [0u8; 32];
            // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
            let _ = hkdf.expand(info, &mut key);
            key
        };
        DerivedKeys {
            sealing: expand(b"keyward signing keys at rest v1"),
            refresh: expand(b"keyward refresh token chain v1"),
            nonce: expand(b"keyward dpop nonces v1"),
            codes: expand(b"keyward emailed codes v1"),
            oidc: expand(b"keyward oidc requests and csrf v1"),
        }
    }
}

impl fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterSecret(<{} bytes, redacted>)", self.0.len())
    }
}

/// Keys derived from the master secret.
#[derive(Clone)]
pub struct DerivedKeys {
    sealing: [u8; 32],
    refresh: [u8; 32],
    nonce: [u8; 32],
    codes: [u8; 32],
    oidc: [u8; 32],
}

impl fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedKeys(<redacted>)")
    }
}

const NONCE_LEN: usize = 12;

impl DerivedKeys {
    /// Encrypts `plaintext` with AES-256-GCM, bound to `context` (authenticated, not secret: a
    /// sealed value moved to another record fails to open). Output: nonce ‖ ciphertext ‖ tag.
    pub fn seal(
        &self,
        context: &[u8],
        plaintext: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, Error> {
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.sealing));
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| Error::internal("AES-GCM sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Self::seal`] made with the same `context`; `None` when the key or context
    /// differ or the bytes were changed.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.sealing));
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .ok()
    }

    /// The refresh token that follows `token` in its session's chain: HMAC-SHA256 under a key
    /// only the server has. Deriving (instead of drawing) the successor lets a retry inside the
    /// grace window get the very same successor back while the database stores only hashes.
    pub fn refresh_successor(&self, token: &[u8]) -> [u8; 32] {
        hmac(&self.refresh, token)
    }

    /// What is stored for the 6-digit `code` mailed with the link whose token hashes to
    /// `token_hash`: HMAC-SHA256 under a key only the server has, bound to that link. (A plain
    /// hash of six digits would be reversed by trying all million.)
    pub fn code_hash(&self, token_hash: &[u8], code: &str) -> [u8; 32] {
        hmac(&self.codes, &[token_hash, code.as_bytes()].concat())
    }

    /// The OpenID Connect provider's seal of `message` (a pending authorization request, or a
    /// form's anti-forgery token): HMAC-SHA256 under a key only the server has, so a browser
    /// carries what the server asked for and cannot change it.
    pub fn oidc_mac(&self, message: &[u8]) -> [u8; 32] {
        hmac(&self.oidc, message)
    }

    /// The DPoP nonce of time window `window`: stateless, so every server process sharing the
    /// master secret issues and accepts the same nonces.
    pub fn dpop_nonce(&self, window: i64) -> [u8; 32] {
        hmac(&self.nonce, &window.to_be_bytes())
    }
}

fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail for 32 bytes.
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_secret_and_context() {
        let keys = MasterSecret::new(b"0123456789abcdef0123456789abcdef".to_vec()).derive();
        let sealed = keys.seal(b"kid-1", b"private key", [7; 12]).unwrap();
        assert_eq!(
            keys.open(b"kid-1", &sealed).as_deref(),
            Some(&b"private key"[..])
        );
        assert_eq!(
            keys.open(b"kid-2", &sealed),
            None,
            "moved to another record"
        );

        let other = MasterSecret::new(b"another secret of thirty-two bytes!".to_vec()).derive();
        assert_eq!(
            other.open(b"kid-1", &sealed),
            None,
            "another deployment's secret"
        );

        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(keys.open(b"kid-1", &tampered), None);
        assert_eq!(keys.open(b"kid-1", &sealed[..5]), None);
    }

    #[test]
    fn the_refresh_chain_is_deterministic_per_secret() {
        let a = MasterSecret::new(vec![1; 32]).derive();
        let b = MasterSecret::new(vec![2; 32]).derive();
        assert_eq!(a.refresh_successor(b"t"), a.refresh_successor(b"t"));
        assert_ne!(a.refresh_successor(b"t"), a.refresh_successor(b"u"));
        assert_ne!(a.refresh_successor(b"t"), b.refresh_successor(b"t"));
        assert!(format!("{:?}", MasterSecret::new(vec![1; 32])).contains("redacted"));
    }
}
