//! DPoP proofs (RFC 9449): how a client shows, on each request, that it holds the private key
//! its session is bound to.
//!
//! A proof is a JWS (`typ: dpop+jwt`, `alg: ES256`) carrying its public key (`jwk`) and
//! claiming one request: method (`htm`), URL without query (`htu`), time (`iat`), a unique id
//! (`jti`), and, with an access token, that token's hash (`ath`). A server accepts it once, for
//! that request, within a few minutes. The session is bound to the key's RFC 7638 thumbprint, so
//! a refresh or access token copied out of the browser is useless without the key, which the
//! browser will not export.

use std::time::Duration;

use keyward_proto::ErrorCode;
use serde::Deserialize;
use serde_json::Value;

use super::keys::VerifyingKey;
use super::{Jkt, Timestamp, b64, sha256, unb64};
use crate::Error;

/// How old a proof may be.
pub const MAX_AGE: Duration = Duration::from_secs(300);
/// How far ahead of the server's clock a proof's `iat` may be.
pub const MAX_AHEAD: Duration = Duration::from_secs(60);
/// Proofs longer than this are refused unread.
const MAX_PROOF_LEN: usize = 4096;

/// What a request carries: its `DPoP` header (if any), its method and its URL as the client
/// addressed it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The `DPoP` header.
    pub proof: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The request URL without query, as the server is reached publicly.
    pub url: String,
}

/// A verified proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of the key that signed it.
    pub jkt: Jkt,
    /// Its unique id.
    pub jti: String,
    /// The nonce it carries, if any.
    pub nonce: Option<String>,
    /// When the client made it (its `iat`, seconds since the epoch).
    pub iat: i64,
}

#[derive(Deserialize)]
struct Header {
    typ: String,
    alg: String,
    jwk: Value,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

fn invalid(why: &str) -> Error {
    Error::rejected(
        ErrorCode::InvalidDpopProof,
        format!("The DPoP proof is not valid: {why}."),
    )
}

/// Checks `proof` for the request `method` `url` at `now` (and, for a resource request, that it
/// names `access_token`). Replay and nonce are checked by the caller ([`Core`]).
///
/// [`Core`]: super::core::Core
pub fn verify(
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now: Timestamp,
) -> Result<Proof, Error> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(invalid("it is too long"));
    }
    let mut parts = proof.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("it is not a compact JWS"));
    };
    let header: Header = unb64(header)
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or_else(|| invalid("its header is malformed"))?;
    if header.typ != "dpop+jwt" {
        return Err(invalid("its typ is not dpop+jwt"));
    }
    if header.alg != "ES256" {
        return Err(invalid("only ES256 is accepted"));
    }
    let (x, y) =
        ec_coordinates(&header.jwk).ok_or_else(|| invalid("its jwk is not a public P-256 key"))?;
    let point = [
        &[0x04][..],
        &unb64(x).unwrap_or_default(),
        &unb64(y).unwrap_or_default(),
    ]
    .concat();
    let key =
        VerifyingKey::from_point(&point).ok_or_else(|| invalid("its jwk is not a P-256 point"))?;
    let signed = proof.get(..header_len(proof, payload)).unwrap_or_default();
    let signature = unb64(signature).ok_or_else(|| invalid("its signature is malformed"))?;
    if !key.verify(signed.as_bytes(), &signature) {
        return Err(invalid("its signature does not verify"));
    }
    let claims: Claims = unb64(payload)
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or_else(|| invalid("its claims are malformed"))?;
    if claims.jti.is_empty() || claims.jti.len() > 128 {
        return Err(invalid("its jti must be 1 to 128 characters"));
    }
    if claims.htm != method {
        return Err(invalid("it is for another HTTP method"));
    }
    if normalize_url(&claims.htu).is_none_or(|htu| Some(htu) != normalize_url(url)) {
        return Err(invalid("it is for another URL"));
    }
    if claims.iat < now.minus(MAX_AGE).seconds() || claims.iat > now.plus(MAX_AHEAD).seconds() {
        return Err(invalid("its iat is too far from the server's time"));
    }
    if let Some(token) = access_token {
        let expected = b64(&sha256(token.as_bytes()));
        if claims.ath.as_deref() != Some(expected.as_str()) {
            return Err(invalid("its ath does not match the access token"));
        }
    }
    Ok(Proof {
        jkt: Jkt::of(&header.jwk).ok_or_else(|| invalid("its jwk is incomplete"))?,
        jti: claims.jti,
        nonce: claims.nonce,
        iat: claims.iat,
    })
}

/// The base64url `x` and `y` of a public EC P-256 JWK; `None` for any other key, and for one
/// that carries private material (`d`).
fn ec_coordinates(jwk: &Value) -> Option<(&str, &str)> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if field("kty")? != "EC" || field("crv")? != "P-256" || jwk.get("d").is_some() {
        return None;
    }
    Some((field("x")?, field("y")?))
}

fn header_len(proof: &str, payload: &str) -> usize {
    proof.find('.').map_or(0, |dot| dot + 1 + payload.len())
}

/// `scheme://host[:port]/path` with scheme and host lower-cased, the default port dropped, and
/// no query or fragment (RFC 9449 §4.3 compares URLs so, following RFC 3986 §6).
pub fn normalize_url(url: &str) -> Option<String> {
    let url = url.split(['?', '#']).next()?;
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let authority = authority.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host.to_owned(),
        _ => authority,
    };
    if authority.is_empty() || (scheme != "http" && scheme != "https") {
        return None;
    }
    Some(format!("{scheme}://{authority}{path}"))
}

/// Until when `proof` must be remembered so that it is never accepted twice: a proof is refused
/// anyway once its `iat` is more than [`MAX_AGE`] old, so that long after its `iat`, whenever it
/// was seen; plus [`MAX_AHEAD`], because another server sharing the record may run that much
/// behind this one and still take the proof as fresh; plus a second for the whole seconds of
/// `iat`. A proof replayed late costs no memory: it is refused on its time before it is recorded.
pub fn forget_at(proof: &Proof) -> Timestamp {
    Timestamp::from_millis(proof.iat.saturating_mul(1000))
        .plus(MAX_AGE)
        .plus(MAX_AHEAD)
        .plus(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::keys::thumbprint_of;

    #[test]
    fn a_proof_is_remembered_until_its_iat_is_too_old_not_for_a_fixed_time_after_it_came() {
        let proof = |iat| Proof {
            jkt: Jkt::parse(RFC_JKT).unwrap(),
            jti: "j".into(),
            nonce: None,
            iat,
        };
        assert_eq!(forget_at(&proof(1_000)), at(1_361));
        // One made almost five minutes ago is forgotten a minute (the clock margin) after it can
        // no longer be accepted, not six minutes after it arrived.
        let now = at(10_000);
        let old = proof(10_000 - 299);
        assert!(forget_at(&old) <= now.plus(Duration::from_secs(62)));
    }

    /// RFC 9449 §4.1, figure 4: a proof for a token request.
    const RFC_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
    /// RFC 9449 §7.1, figure 13: a proof for a resource request, with `ath`.
    const RFC_RESOURCE_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
    /// The access token of figure 13, and the thumbprint of the RFC's key (§6.1).
    const RFC_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(seconds * 1000)
    }

    #[test]
    fn the_rfc_7638_thumbprint_example() {
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint_of(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn the_rfc_9449_example_proofs_verify_and_name_the_rfc_thumbprint() {
        let proof = verify(
            RFC_PROOF,
            "POST",
            "https://server.example.com/token",
            None,
            at(1_562_262_620),
        )
        .unwrap();
        assert_eq!(proof.jti, "-BwC3ESc6acc2lTc");
        assert_eq!(proof.jkt.as_str(), RFC_JKT);

        let resource = verify(
            RFC_RESOURCE_PROOF,
            "GET",
            "https://resource.example.org/protectedresource?x=1",
            Some(RFC_ACCESS_TOKEN),
            at(1_562_262_620),
        )
        .unwrap();
        assert_eq!(resource.jkt.as_str(), RFC_JKT);
    }

    fn refused(result: Result<Proof, Error>) -> bool {
        result.is_err_and(|e| e.code() == Some(ErrorCode::InvalidDpopProof))
    }

    #[test]
    fn proofs_for_another_request_time_token_or_key_are_refused() {
        let now = at(1_562_262_620);
        let url = "https://server.example.com/token";
        assert!(
            refused(verify(RFC_PROOF, "GET", url, None, now)),
            "wrong method"
        );
        assert!(
            refused(verify(
                RFC_PROOF,
                "POST",
                "https://server.example.com/other",
                None,
                now
            )),
            "wrong URL"
        );
        assert!(
            refused(verify(
                RFC_PROOF,
                "POST",
                "https://evil.example/token",
                None,
                now
            )),
            "wrong host"
        );
        assert!(
            refused(verify(
                RFC_PROOF,
                "POST",
                url,
                None,
                at(1_562_262_616 + 301)
            )),
            "stale iat"
        );
        assert!(
            refused(verify(RFC_PROOF, "POST", url, None, at(1_562_262_616 - 61))),
            "iat in the future"
        );
        let resource_url = "https://resource.example.org/protectedresource";
        assert!(
            refused(verify(
                RFC_RESOURCE_PROOF,
                "GET",
                resource_url,
                Some("another token"),
                now
            )),
            "wrong ath"
        );
        assert!(
            refused(verify(RFC_PROOF, "POST", url, Some(RFC_ACCESS_TOKEN), now)),
            "missing ath"
        );

        // The same claims under a header naming another key: the signature no longer verifies.
        let (_, rest) = RFC_PROOF.split_once('.').unwrap();
        let other_key = b64(br#"{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}"#);
        assert!(
            refused(verify(
                &format!("{other_key}.{rest}"),
                "POST",
                url,
                None,
                now
            )),
            "wrong key"
        );

        let (_, payload_and_sig) = RFC_PROOF.split_once('.').unwrap();
        let payload = payload_and_sig.split('.').next().unwrap();
        for header in [
            r#"{"typ":"dpop+jwt","alg":"none","jwk":{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}}"#,
            r#"{"typ":"dpop+jwt","alg":"HS256","jwk":{"kty":"oct","k":"c2VjcmV0"}}"#,
            r#"{"typ":"JWT","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}}"#,
            r#"{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","d":"secret"}}"#,
        ] {
            let forged = format!("{}.{payload}.", b64(header.as_bytes()));
            assert!(refused(verify(&forged, "POST", url, None, now)), "{header}");
            let with_sig = format!(
                "{}.{payload}.{}",
                b64(header.as_bytes()),
                RFC_PROOF.rsplit('.').next().unwrap()
            );
            assert!(
                refused(verify(&with_sig, "POST", url, None, now)),
                "{header}"
            );
        }
        for garbage in ["", "a.b", "a.b.c.d", &"x".repeat(5000)] {
            assert!(refused(verify(garbage, "POST", url, None, now)));
        }
    }

    #[test]
    fn urls_compare_after_normalisation() {
        assert_eq!(
            normalize_url("HTTPS://Server.Example.COM:443/token?x=1#f").as_deref(),
            Some("https://server.example.com/token")
        );
        assert_eq!(
            normalize_url("http://localhost:8787/auth/refresh").as_deref(),
            Some("http://localhost:8787/auth/refresh")
        );
        assert_ne!(
            normalize_url("https://a.example/Token"),
            normalize_url("https://a.example/token")
        );
        assert_eq!(normalize_url("ftp://a.example/x"), None);
    }
}
