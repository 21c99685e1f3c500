//! Access tokens already verified, remembered until they expire.
//!
//! ES256 verification costs ~55 µs of CPU; an API sees the same token on every request of a
//! session for up to 15 minutes. Remembering a successful verification (keyed by the whole token,
//! compared in full, so nothing but that exact token can hit) turns all but the first into a
//! hash lookup. What can change during a token's life is checked on every request regardless:
//! revocation (the revoked-session set) and, for DPoP, the proof.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::Timestamp;
use super::tokens::AccessClaims;

/// At most this many tokens are remembered; past it, expired ones are dropped, then all.
const CAPACITY: usize = 100_000;

/// Verified tokens and their claims.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    entries: RwLock<HashMap<Box<str>, Arc<AccessClaims>>>,
}

impl VerifiedTokens {
    /// The claims of `token` if it was verified before and has not expired at `now`.
    pub fn get(&self, token: &str, now: Timestamp) -> Option<Arc<AccessClaims>> {
        let entries = self.entries.read().ok()?;
        entries
            .get(token)
            .filter(|claims| claims.exp > now.seconds())
            .cloned()
    }

    /// Remembers that `token` verified to `claims`.
    pub fn insert(&self, token: &str, claims: Arc<AccessClaims>, now: Timestamp) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= CAPACITY {
            entries.retain(|_, claims| claims.exp > now.seconds());
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(token.into(), claims);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            iss: "i".into(),
            aud: "a".into(),
            sub: crate::domain::UserId::new(Timestamp::from_millis(0), [1; 10]),
            exp,
            iat: 0,
            jti: "j".into(),
            sid: crate::domain::SessionId::new(Timestamp::from_millis(0), [2; 10]),
            amr: vec![],
            auth_time: 0,
            aal: 1,
            cnf: None,
            org: None,
            org_role: None,
            permissions: Vec::new(),
            ext: None,
        })
    }

    #[test]
    fn only_the_exact_token_hits_and_only_until_it_expires() {
        let cache = VerifiedTokens::default();
        let now = Timestamp::from_millis(1_000_000);
        cache.insert("a.b.c", claims(2_000), now);
        assert!(cache.get("a.b.c", now).is_some());
        assert!(cache.get("a.b.d", now).is_none());
        assert!(
            cache
                .get("a.b.c", Timestamp::from_millis(2_000_000))
                .is_none()
        );
    }
}
