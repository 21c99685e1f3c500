//! Access tokens: compact JWS, ES256, `typ: at+jwt` (RFC 9068), verified locally.
//!
//! The encoding is written here rather than taken from a JWT crate on purpose: the verifier is on
//! every request's path, and holding each public key parsed once (aws-lc-rs `ParsedPublicKey`)
//! is what a general-purpose crate does not do (jsonwebtoken re-parses the key per call; see
//! DESIGN.md). The format checks are strict and few: exactly three base64url parts, `alg` must
//! be `ES256`, `typ` must be `at+jwt`, `kid` must name a key we publish. Standard JWT libraries
//! verify these tokens from the JWKS alone (a test does so with `jsonwebtoken`).

use std::time::Duration;

use keyward_proto::ErrorCode;
use serde::{Deserialize, Serialize};

use super::keys::KeyRing;
use super::{Jkt, SessionId, Timestamp, UserId, b64, unb64};
use crate::Error;

/// The claims of a Keyward access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the server's public URL.
    pub iss: String,
    /// Audience: the APIs the token is for.
    pub aud: String,
    /// Subject: the user id.
    pub sub: UserId,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// The session the token belongs to.
    pub sid: SessionId,
    /// How the user authenticated: `pwd`, `passkey`, `otp`, `mfa`, `oauth`, `magic`.
    pub amr: Vec<String>,
    /// When the user last proved who they are (seconds since the epoch, as OpenID Connect's
    /// `auth_time`): the sign-in, not the refresh that issued this token. Changing credentials
    /// needs it recent. Absent (0) in tokens from before it existed: never recent.
    #[serde(default)]
    pub auth_time: i64,
    /// Authenticator assurance level (NIST SP 800-63B): 2 when the sign-in proved two factors
    /// (`amr` with `otp`, or a passkey with user verification), else 1. Absent (0) in tokens from
    /// before it existed.
    #[serde(default)]
    pub aal: u8,
    /// Confirmation: the device key's JWK thumbprint, when the token is DPoP-bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The organization the session acts for (its id), when one is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The user's role in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_role: Option<String>,
    /// The permissions that role grants (`resource:action`, with `*` wildcards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// What the app's sign-in hook added to the session (a JSON object), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The assurance level of a sign-in by `amr` (see [`AccessClaims::aal`]).
pub fn aal_of<S: AsRef<str>>(amr: &[S]) -> u8 {
    if amr
        .iter()
        .any(|m| matches!(m.as_ref(), "otp" | "mfa" | "passkey"))
    {
        2
    } else {
        1
    }
}

/// RFC 7800 confirmation claim for DPoP (RFC 9449 §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The bound key's RFC 7638 thumbprint.
    pub jkt: Jkt,
}

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// The claim that marks a token issued to an OpenID Connect client, read apart from the rest:
/// there at all (even `null`), it is such a token.
#[derive(Deserialize)]
struct IssuedTo {
    #[serde(default, deserialize_with = "there")]
    client_id: Option<()>,
}

/// `Some(())` for a field that is there, whatever its value.
fn there<'de, D: serde::Deserializer<'de>>(field: D) -> Result<Option<()>, D::Error> {
    serde::de::IgnoredAny::deserialize(field).map(|_| Some(()))
}

/// Tokens longer than this are refused before any parsing (ours are well under 1 KiB).
const MAX_TOKEN_LEN: usize = 4096;

/// How far in the future `iat` may be (servers' clocks differ a little).
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Signs `claims` with the ring's signing key.
pub fn sign(ring: &KeyRing, claims: &AccessClaims) -> Result<String, Error> {
    sign_jws(ring, "at+jwt", claims)
}

/// Signs `claims` as a JWS of type `typ` with the ring's signing key: every token Keyward
/// issues (its users' access tokens; as an OpenID Connect provider, its clients' tokens).
pub fn sign_jws<T: Serialize>(ring: &KeyRing, typ: &str, claims: &T) -> Result<String, Error> {
    let key = ring.signing();
    let header = Header {
        alg: "ES256",
        typ,
        kid: key.kid(),
    };
    let mut token = encode(&header)?;
    token.push('.');
    token.push_str(&encode(claims)?);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64(&signature));
    Ok(token)
}

/// What a token must match besides its signature.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The `iss` claim.
    pub issuer: &'a str,
    /// The `aud` claim.
    pub audience: &'a str,
    /// The time to check `exp` and `iat` against.
    pub now: Timestamp,
}

/// Verifies `token` and returns its claims: `invalid_token` for anything malformed, forged, or
/// for another issuer or audience; `token_expired` once `exp` has passed.
pub fn verify(ring: &KeyRing, token: &str, expected: &Expected<'_>) -> Result<AccessClaims, Error> {
    let invalid = || Error::rejected(ErrorCode::InvalidToken, "The access token is not valid.");
    let payload = verify_jws(ring, token, "at+jwt").ok_or_else(invalid)?;
    let claims: AccessClaims = serde_json::from_slice(&payload).map_err(|_| invalid())?;
    if claims.iss != expected.issuer || claims.aud != expected.audience {
        return Err(invalid());
    }
    // A token issued to an OpenID Connect client (with `client_id`) is never a user's token
    // here, whatever else it says (its `aud` is an array, and never this server's own, too).
    let issued_to: IssuedTo = serde_json::from_slice(&payload).map_err(|_| invalid())?;
    if issued_to.client_id.is_some() {
        return Err(invalid());
    }
    if claims.iat > expected.now.plus(CLOCK_SKEW).seconds() {
        return Err(invalid());
    }
    if claims.exp <= expected.now.seconds() {
        return Err(Error::rejected(
            ErrorCode::TokenExpired,
            "The access token has expired.",
        ));
    }
    Ok(claims)
}

/// The payload of `token`, a JWS of type `typ` signed by one of the ring's keys (`ES256`, a
/// `kid` it publishes); `None` for anything malformed or forged. The claims are the caller's to
/// check.
pub fn verify_jws(ring: &KeyRing, token: &str, typ: &str) -> Option<Vec<u8>> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let header_json = unb64(header)?;
    let header: Header<'_> = serde_json::from_slice(&header_json).ok()?;
    if header.alg != "ES256" || header.typ != typ {
        return None;
    }
    let key = ring.verifying(header.kid)?;
    let signature = unb64(signature)?;
    let signed_len = header_len_plus_payload(token, payload);
    let signed = token.get(..signed_len)?;
    if !key.verify(signed.as_bytes(), &signature) {
        return None;
    }
    unb64(payload)
}

/// The `kid` a token's header names, without verifying anything.
pub fn kid_of(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let header = unb64(token.split('.').next()?)?;
    serde_json::from_slice::<Header<'_>>(&header)
        .ok()
        .map(|h| h.kid.to_owned())
}

/// The length of `header.payload` inside `token`.
fn header_len_plus_payload(token: &str, payload: &str) -> usize {
    token.find('.').map_or(0, |dot| dot + 1 + payload.len())
}

/// base64url of `value`'s JSON.
fn encode<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_vec(value)
        .map(|bytes| b64(&bytes))
        .map_err(|_| Error::internal("JSON encoding failed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::keys;
    use crate::secrets::MasterSecret;

    const TTL: Duration = Duration::from_secs(900);

    fn ring(now: Timestamp) -> KeyRing {
        let derived = MasterSecret::new(vec![3; 32]).derive();
        let row = keys::generate(&derived, now, &crate::domain::Random::seeded(2)).unwrap();
        KeyRing::from_rows(&[row], &derived, now, TTL).unwrap()
    }

    fn claims(now: Timestamp) -> AccessClaims {
        AccessClaims {
            iss: "https://auth.example.com".into(),
            aud: "https://auth.example.com".into(),
            sub: UserId::new(now, [1; 10]),
            iat: now.seconds(),
            exp: now.plus(TTL).seconds(),
            jti: "jti".into(),
            sid: SessionId::new(now, [2; 10]),
            amr: vec!["pwd".into()],
            auth_time: now.seconds(),
            aal: 1,
            cnf: None,
            org: None,
            org_role: None,
            permissions: Vec::new(),
            ext: None,
        }
    }

    fn expected(now: Timestamp) -> Expected<'static> {
        Expected {
            issuer: "https://auth.example.com",
            audience: "https://auth.example.com",
            now,
        }
    }

    fn code(result: Result<AccessClaims, Error>) -> Option<ErrorCode> {
        result.err().and_then(|e| e.code())
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let ring = ring(now);
        let token = sign(&ring, &claims(now)).unwrap();
        assert_eq!(verify(&ring, &token, &expected(now)).unwrap(), claims(now));
        let later = now.plus(TTL);
        assert_eq!(
            code(verify(&ring, &token, &expected(later))),
            Some(ErrorCode::TokenExpired)
        );
    }

    #[test]
    fn forged_and_foreign_tokens_are_invalid() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let ring = ring(now);
        let token = sign(&ring, &claims(now)).unwrap();
        let (head, rest) = token.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();

        let mut forged = claims(now);
        forged.sub = UserId::new(now, [9; 10]);
        let forged_payload = b64(&serde_json::to_vec(&forged).unwrap());
        let none_header = b64(br#"{"alg":"none","typ":"at+jwt","kid":"x"}"#);
        let hs_header = b64(br#"{"alg":"HS256","typ":"at+jwt","kid":"x"}"#);
        let other_ring = self::ring(now);
        let foreign = sign(&other_ring, &claims(now)).unwrap();
        let mut other_aud = claims(now);
        other_aud.aud = "https://other.example".into();
        let other_aud = sign(&ring, &other_aud).unwrap();
        let mut other_iss = claims(now);
        other_iss.iss = "https://evil.example".into();
        let other_iss = sign(&ring, &other_iss).unwrap();
        let mut future = claims(now);
        future.iat = now.plus(Duration::from_secs(3600)).seconds();
        let future = sign(&ring, &future).unwrap();

        let mut with_client = serde_json::to_value(claims(now)).unwrap();
        with_client["client_id"] = "kwc_AAAAAAAAAAAAAAAAAAAAAA".into();
        let mut with_null_client = with_client.clone();
        with_null_client["client_id"] = serde_json::Value::Null;
        let with_client = sign_jws(&ring, "at+jwt", &with_client).unwrap();
        let with_null_client = sign_jws(&ring, "at+jwt", &with_null_client).unwrap();

        for bad in [
            String::new(),
            "garbage".into(),
            with_client,
            with_null_client,
            format!("{head}.{forged_payload}.{signature}"),
            format!("{none_header}.{payload}."),
            format!("{hs_header}.{payload}.{signature}"),
            format!("{head}.{payload}"),
            format!("{head}.{payload}.{signature}.extra"),
            format!("{head}.{payload}.!!!"),
            foreign,
            other_aud,
            other_iss,
            future,
            "a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(
                code(verify(&ring, &bad, &expected(now))),
                Some(ErrorCode::InvalidToken),
                "{bad}"
            );
        }
    }
}
