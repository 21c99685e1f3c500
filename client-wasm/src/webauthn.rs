//! WebAuthn in the browser, through its own JSON helpers: the server's options go to
//! `PublicKeyCredential.parse…OptionsFromJSON`, the credential comes back through `toJSON()`. No
//! WebAuthn types in the wasm: the browser already speaks the server's format.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::Error;

fn global(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &name.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn method(target: &JsValue, name: &str) -> Option<Function> {
    Reflect::get(target, &name.into()).ok()?.dyn_into().ok()
}

fn public_key_credential() -> Option<JsValue> {
    global("PublicKeyCredential")
}

/// Whether passkeys work here: WebAuthn with its JSON helpers (Chrome 129+, Safari 18+,
/// Firefox 119+).
pub fn supported() -> bool {
    public_key_credential().is_some_and(|pkc| {
        method(&pkc, "parseCreationOptionsFromJSON").is_some()
            && method(&pkc, "parseRequestOptionsFromJSON").is_some()
    })
}

/// Whether a platform authenticator (Touch ID, Windows Hello, Android) can create passkeys.
pub async fn platform_authenticator_available() -> bool {
    let Some(pkc) = public_key_credential() else {
        return false;
    };
    let Some(check) = method(&pkc, "isUserVerifyingPlatformAuthenticatorAvailable") else {
        return false;
    };
    match check
        .call0(&pkc)
        .ok()
        .and_then(|p| p.dyn_into::<Promise>().ok())
    {
        Some(promise) => JsFuture::from(promise).await.ok().and_then(|v| v.as_bool()) == Some(true),
        None => false,
    }
}

/// What a ceremony ends with.
pub(crate) fn failure(thrown: &JsValue) -> Error {
    let name = thrown
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.name()))
        .unwrap_or_default();
    // The user closed the dialog, it timed out, or the page aborted it: all say "not now".
    if name == "NotAllowedError" || name == "AbortError" {
        Error::Cancelled
    } else {
        Error::browser("the passkey dialog", thrown)
    }
}

/// Runs `navigator.credentials.create` (`create`) or `.get` with the server's `{publicKey}`
/// options and returns the credential as JSON text (for the `…/verify` body). With `autofill`,
/// `.get` runs as the browser's autofill (`mediation: "conditional"`) and ends `Ok(None)` when
/// the signal it carries aborts it.
pub async fn ceremony(
    create: bool,
    options: &JsValue,
    autofill: Option<Option<&JsValue>>,
) -> Result<Option<JsValue>, Error> {
    if !supported() {
        return Err(Error::Unsupported {
            api: "PublicKeyCredential.parseCreationOptionsFromJSON",
        });
    }
    let signal = autofill.flatten();
    let started = crate::io::ceremony(create, options, autofill.is_some(), signal)
        .map_err(|e| failure(&e))?;
    match JsFuture::from(started).await {
        // Aborted by the page (autofill stopped): not a failure, just over.
        Ok(credential) if credential.is_undefined() => Ok(None),
        Ok(credential) if credential.is_null() => Err(Error::Cancelled),
        Ok(credential) => Ok(Some(credential)),
        Err(thrown) => Err(failure(&thrown)),
    }
}
