//! WebAuthn in the browser, through its own JSON helpers: the server's options go to
//! `PublicKeyCredential.parse…OptionsFromJSON`, the credential comes back through `toJSON()`. No
//! WebAuthn types in the wasm: the browser already speaks the server's format.

use js_sys::{Function, Object, Promise, Reflect};
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
fn failure(thrown: &JsValue) -> Error {
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
    let kind = if create { "create" } else { "get" };
    let mediation = autofill.map(|_| "conditional");
    let signal = autofill.flatten();
    let unsupported = Error::Unsupported {
        api: "PublicKeyCredential.parseCreationOptionsFromJSON",
    };
    let pkc = public_key_credential().ok_or(unsupported.clone())?;
    let parser = if kind == "create" {
        "parseCreationOptionsFromJSON"
    } else {
        "parseRequestOptionsFromJSON"
    };
    let parse = method(&pkc, parser).ok_or(unsupported.clone())?;
    let json = Reflect::get(options, &"publicKey".into()).map_err(|_| Error::Corrupt {
        what: "passkey options",
    })?;
    let public_key = parse
        .call1(&pkc, &json)
        .map_err(|e| Error::browser("reading the passkey options", &e))?;
    let request = Object::new();
    let _ = Reflect::set(&request, &"publicKey".into(), &public_key);
    if let Some(mediation) = mediation {
        let _ = Reflect::set(&request, &"mediation".into(), &mediation.into());
    }
    if let Some(signal) = signal {
        let _ = Reflect::set(&request, &"signal".into(), signal);
    }
    let credentials = global("navigator")
        .and_then(|n| Reflect::get(&n, &"credentials".into()).ok())
        .ok_or(unsupported.clone())?;
    let call = method(&credentials, kind).ok_or(unsupported)?;
    let promise: Promise = call
        .call1(&credentials, &request)
        .map_err(|e| failure(&e))?
        .dyn_into()
        .map_err(|_| Error::Corrupt {
            what: "navigator.credentials",
        })?;
    let outcome = JsFuture::from(promise).await;
    // Aborted by the page (autofill stopped): not a failure, just over.
    let aborted = signal.is_some_and(|s| {
        Reflect::get(s, &"aborted".into())
            .ok()
            .and_then(|a| a.as_bool())
            == Some(true)
    });
    let credential = match outcome {
        _ if aborted => return Ok(None),
        Ok(credential) if credential.is_null() => return Err(Error::Cancelled),
        Ok(credential) => credential,
        Err(thrown) => return Err(failure(&thrown)),
    };
    let to_json = method(&credential, "toJSON").ok_or(Error::Unsupported {
        api: "PublicKeyCredential.toJSON",
    })?;
    let json = to_json
        .call0(&credential)
        .map_err(|e| Error::browser("PublicKeyCredential.toJSON", &e))?;
    js_sys::JSON::stringify(&json)
        .map(|text| Some(text.into()))
        .map_err(|e| Error::browser("JSON.stringify", &e))
}
