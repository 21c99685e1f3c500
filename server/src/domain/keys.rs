//! Signing keys: ES256 (ECDSA P-256) key pairs made on first start, sealed at rest under the
//! master secret, rotated by `keyward keys rotate`.
//!
//! The newest key signs. A rotated-out key stays published in the JWKS until every token it
//! signed has expired (its retirement + the access-token lifetime + a margin for servers that
//! have not reloaded their keys yet), so rotation never breaks a signed-in user.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey,
};
use keyward_proto::{Jwk, Jwks};

use super::{Random, Timestamp, b64, sha256};
use crate::Error;
use crate::secrets::DerivedKeys;
use crate::store::SigningKeyRow;

/// How often running servers re-read the keys (to pick up a rotation made elsewhere).
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// Length of an uncompressed P-256 point: 0x04 ‖ x ‖ y.
const POINT_LEN: usize = 65;

/// The private key that signs, with its id.
pub struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    /// The key id (`kid` header): the key's RFC 7638 JWK thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `message`: ES256, `r ‖ s` (64 bytes).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|sig| sig.as_ref().to_vec())
            .map_err(|_| Error::internal("ES256 signing failed"))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <private key redacted>)", self.kid)
    }
}

/// A public key that verifies, parsed once.
pub struct VerifyingKey {
    public: ParsedPublicKey,
}

impl VerifyingKey {
    /// From an uncompressed P-256 point; `None` when it is not a point on the curve.
    pub fn from_point(point: &[u8]) -> Option<Self> {
        ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .ok()
            .map(|public| Self { public })
    }

    /// Whether `signature` (`r ‖ s`) is this key's ES256 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.public.verify_sig(message, signature).is_ok()
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifyingKey")
    }
}

/// The key set a server works with: one signing key, every key that may still verify, and the
/// JWKS document, serialised once.
#[derive(Debug)]
pub struct KeyRing {
    signing: SigningKey,
    verifying: HashMap<String, Arc<VerifyingKey>>,
    jwks: Jwks,
}

impl KeyRing {
    /// Builds the ring from stored keys: the newest unretired one signs (its private key is
    /// unsealed here), every key still inside its publication window verifies.
    pub fn from_rows(
        rows: &[SigningKeyRow],
        keys: &DerivedKeys,
        now: Timestamp,
        access_ttl: Duration,
    ) -> Result<Self, Error> {
        let active = rows
            .iter()
            .filter(|row| row.retired_at.is_none())
            .max_by_key(|row| row.created_at)
            .ok_or_else(|| Error::internal("no active signing key"))?;
        let pkcs8 = keys
            .open(active.kid.as_bytes(), &active.sealed_private_key)
            .ok_or_else(|| Error::Config {
                setting: "secret",
                reason: "the stored signing keys cannot be decrypted with this KEYWARD_SECRET \
                         (it differs from the one they were made with)"
                    .into(),
            })?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
            .map_err(|_| Error::internal("a stored signing key is not a P-256 PKCS#8 key"))?;
        let signing = SigningKey {
            kid: active.kid.clone(),
            pair,
        };
        let mut verifying = HashMap::new();
        let mut jwks = Jwks { keys: Vec::new() };
        for row in rows {
            let published = row.retired_at.is_none_or(|retired| {
                published_until(Timestamp::from_millis(retired), access_ttl) > now
            });
            if !published {
                continue;
            }
            let Some(key) = VerifyingKey::from_point(&row.public_key) else {
                return Err(Error::internal("a stored public key is not a P-256 point"));
            };
            let Some(jwk) = public_jwk(&row.public_key, Some(&row.kid)) else {
                return Err(Error::internal("a stored public key is not a P-256 point"));
            };
            verifying.insert(row.kid.clone(), Arc::new(key));
            jwks.keys.push(jwk);
        }
        Ok(Self {
            signing,
            verifying,
            jwks,
        })
    }

    /// The key that signs new tokens.
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// The key with id `kid`, when it may still verify.
    pub fn verifying(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.verifying.get(kid)
    }

    /// The published key set.
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }
}

/// Until when a key retired at `retired` stays published: its last tokens' lifetime, plus the
/// reload interval (a server that has not noticed the rotation may sign with it that much
/// longer), plus a minute of clock skew.
pub fn published_until(retired: Timestamp, access_ttl: Duration) -> Timestamp {
    retired
        .plus(access_ttl)
        .plus(RELOAD_INTERVAL)
        .plus(Duration::from_secs(60))
}

/// A fresh signing key, sealed for storage.
pub fn generate(
    keys: &DerivedKeys,
    now: Timestamp,
    random: &Random,
) -> Result<SigningKeyRow, Error> {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(|_| Error::internal("P-256 key generation failed"))?;
    let pkcs8 = pair
        .to_pkcs8v1()
        .map_err(|_| Error::internal("P-256 key export failed"))?;
    let public_key = pair.public_key().as_ref().to_vec();
    let kid = public_jwk(&public_key, None)
        .map(|jwk| thumbprint(&jwk.x, &jwk.y))
        .ok_or_else(|| Error::internal("P-256 key generation gave a malformed point"))?;
    let sealed_private_key = keys.seal(kid.as_bytes(), pkcs8.as_ref(), random.bytes())?;
    Ok(SigningKeyRow {
        kid,
        created_at: now.millis(),
        retired_at: None,
        public_key,
        sealed_private_key,
    })
}

/// The public JWK of an uncompressed P-256 point.
pub fn public_jwk(point: &[u8], kid: Option<&str>) -> Option<Jwk> {
    if point.len() != POINT_LEN || point.first() != Some(&0x04) {
        return None;
    }
    let (x, y) = point.get(1..)?.split_at_checked(32)?;
    Some(Jwk {
        kty: "EC".into(),
        crv: "P-256".into(),
        x: b64(x),
        y: b64(y),
        kid: kid.map(str::to_owned),
        alg: kid.map(|_| "ES256".into()),
        use_: kid.map(|_| "sig".into()),
    })
}

/// The RFC 7638 thumbprint of a P-256 public key given by its base64url coordinates.
pub fn thumbprint(x: &str, y: &str) -> String {
    let jwk = serde_json::json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y });
    thumbprint_of(&jwk).unwrap_or_default()
}

/// The RFC 7638 thumbprint of any public JWK (EC, RSA, OKP): SHA-256 over its required members
/// in lexicographic order, without whitespace. `None` when a required member is missing.
pub fn thumbprint_of(jwk: &serde_json::Value) -> Option<String> {
    let required: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let members: std::collections::BTreeMap<&str, &str> = required
        .iter()
        .map(|&name| Some((name, jwk.get(name)?.as_str()?)))
        .collect::<Option<_>>()?;
    let canonical = serde_json::to_string(&members).ok()?;
    Some(b64(&sha256(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MasterSecret;

    fn derived() -> DerivedKeys {
        MasterSecret::new(vec![9; 32]).derive()
    }

    #[test]
    fn thumbprints_are_computed_over_the_canonical_jwk() {
        // The canonical member order and the absence of whitespace are what RFC 7638 fixes;
        // this pins our serialisation of a P-256 key to it (the RFC's own example, an RSA key,
        // is checked in the DPoP tests).
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
        let expected = b64(&sha256(
            br#"{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        ));
        assert_eq!(thumbprint(x, y), expected);
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": "k"});
        assert_eq!(thumbprint_of(&jwk), Some(expected));
    }

    #[test]
    fn a_generated_key_signs_what_its_published_jwk_verifies() {
        let now = Timestamp::from_millis(1_000_000);
        let row = generate(&derived(), now, &Random::seeded(4)).unwrap();
        let ring = KeyRing::from_rows(
            std::slice::from_ref(&row),
            &derived(),
            now,
            Duration::from_secs(900),
        )
        .unwrap();
        assert_eq!(ring.signing().kid(), row.kid);
        let jwk = &ring.jwks().keys[0];
        assert_eq!(jwk.kid.as_deref(), Some(row.kid.as_str()));
        assert_eq!(thumbprint(&jwk.x, &jwk.y), row.kid);

        let signature = ring.signing().sign(b"header.payload").unwrap();
        assert_eq!(signature.len(), 64);
        let from_jwk = from_coordinates(&jwk.x, &jwk.y).unwrap();
        assert!(from_jwk.verify(b"header.payload", &signature));
        assert!(!from_jwk.verify(b"header.payloaX", &signature));
    }

    #[test]
    fn retired_keys_stay_published_until_their_tokens_expired_then_leave() {
        let ttl = Duration::from_secs(900);
        let t0 = Timestamp::from_millis(1_000_000);
        let mut old = generate(&derived(), t0, &Random::seeded(4)).unwrap();
        let new = generate(
            &derived(),
            t0.plus(Duration::from_secs(1)),
            &Random::seeded(5),
        )
        .unwrap();
        let retired = t0.plus(Duration::from_secs(1));
        old.retired_at = Some(retired.millis());
        let rows = [old.clone(), new.clone()];

        let soon = KeyRing::from_rows(&rows, &derived(), retired.plus(ttl), ttl).unwrap();
        assert_eq!(soon.signing().kid(), new.kid);
        assert!(soon.verifying(&old.kid).is_some());
        assert_eq!(soon.jwks().keys.len(), 2);

        let later = published_until(retired, ttl).plus(Duration::from_millis(1));
        let ring = KeyRing::from_rows(&rows, &derived(), later, ttl).unwrap();
        assert!(ring.verifying(&old.kid).is_none());
        assert_eq!(ring.jwks().keys.len(), 1);
    }

    #[test]
    fn keys_sealed_under_another_secret_are_refused_with_a_clear_reason() {
        let now = Timestamp::from_millis(0);
        let row = generate(&derived(), now, &Random::seeded(4)).unwrap();
        let other = MasterSecret::new(vec![1; 32]).derive();
        let err = KeyRing::from_rows(&[row], &other, now, Duration::from_secs(60)).unwrap_err();
        assert!(err.to_string().contains("KEYWARD_SECRET"), "{err}");
    }

    /// A verifying key from a JWK's coordinates, the way a relying party reads our JWKS.
    fn from_coordinates(x: &str, y: &str) -> Option<VerifyingKey> {
        let (x, y) = (crate::domain::unb64(x)?, crate::domain::unb64(y)?);
        VerifyingKey::from_point(&[&[0x04][..], &x, &y].concat())
    }

    #[test]
    fn points_off_the_curve_are_refused() {
        assert!(from_coordinates(&b64(&[1; 32]), &b64(&[2; 32])).is_none());
        assert!(VerifyingKey::from_point(&[4; 65]).is_none());
        assert!(from_coordinates("short", "short").is_none());
    }
}
