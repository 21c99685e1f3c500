//! Entry points for the fuzz targets in `fuzz/` (built only by `cargo fuzz`, which sets
//! `--cfg fuzzing`): every parser of untrusted bytes, called as a request would call it. Each
//! must return (accept or refuse), never panic, whatever the bytes.

use std::sync::LazyLock;
use std::time::Duration;

use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential, Uuid, Webauthn};

use crate::Settings;
use crate::domain::keys::{self, KeyRing};
use crate::domain::{Timestamp, b64, dpop, email::Email, passkeys, tokens};
use crate::secrets::MasterSecret;

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

static RING: LazyLock<KeyRing> = LazyLock::new(|| {
    let derived = MasterSecret::new(vec![7; 32]).derive();
    let row = keys::generate(&derived, NOW, &crate::domain::Random::os()).expect("a signing key");
    KeyRing::from_rows(&[row], &derived, NOW, Duration::from_secs(900)).expect("a key ring")
});

static RELYING_PARTY: LazyLock<Webauthn> =
    LazyLock::new(|| passkeys::relying_party(&Settings::default()).expect("a relying party"));

/// An access token, as `Authorization: Bearer` brings it.
pub fn access_token(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = tokens::kid_of(token);
    let expected = tokens::Expected {
        issuer: "http://localhost:8787",
        audience: "http://localhost:8787",
        now: NOW,
    };
    let _ = tokens::verify(&RING, token, &expected);
}

/// A DPoP proof, as the `DPoP` header brings it, for a refresh and for a resource request; and
/// the URL normalisation its `htu` goes through.
pub fn dpop_proof(data: &[u8]) {
    let Ok(proof) = std::str::from_utf8(data) else {
        return;
    };
    let url = "http://localhost:8787/auth/refresh";
    let _ = dpop::verify(proof, "POST", url, None, NOW);
    let _ = dpop::verify(proof, "GET", url, Some("token"), NOW);
    let _ = dpop::normalize_url(proof);
}

/// A browser's WebAuthn answers: the JSON bodies of a registration and of a sign-in as the
/// routes parse them, and an attestation object (CBOR) checked by the relying party inside an
/// otherwise well-formed registration answer to a real ceremony.
pub fn webauthn(data: &[u8]) {
    let _ = serde_json::from_slice::<RegisterPublicKeyCredential>(data);
    let _ = serde_json::from_slice::<PublicKeyCredential>(data);
    let _ = passkeys::challenge_of(data);

    let Ok((options, state)) =
        RELYING_PARTY.start_passkey_registration(Uuid::nil(), "fuzz", "fuzz", None)
    else {
        return;
    };
    let client_data = serde_json::json!({
        "type": "webauthn.create",
        "challenge": b64(options.public_key.challenge.as_ref()),
        "origin": "http://localhost:8787",
    });
    let answer = serde_json::json!({
        "id": "AAAA",
        "rawId": "AAAA",
        "type": "public-key",
        "extensions": {},
        "response": {
            "attestationObject": b64(data),
            "clientDataJSON": b64(client_data.to_string().as_bytes()),
        },
    });
    if let Ok(answer) = serde_json::from_value::<RegisterPublicKeyCredential>(answer) {
        let _ = RELYING_PARTY.finish_passkey_registration(&answer, &state);
    }
}

/// A configuration file (`keyward.toml`), parsed, resolved and validated; and an email address.
pub fn settings(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::cli::settings_from_config(text);
    let _ = Email::parse(text);
}
