//! The JS face of the client: what the `keyward` npm package exports (camelCase, Promises,
//! TypeScript types for everything).

use js_sys::{Function, Promise, Reflect};
use keyward_proto::{ErrorCode, SignOutScope};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use web_sys::Request;

use crate::Error;
use crate::browser::Capabilities;
use crate::client::{AuthClient, Options, Snapshot};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Which browser APIs Keyward can use here. */
export interface Capabilities {
  /** WebCrypto (`crypto.subtle`): device keys and token encryption. */
  webCrypto: boolean;
  /** IndexedDB: persistent keys and tokens. Without it a session lasts for the page's lifetime. */
  indexedDb: boolean;
  /** Web Locks: one token refresh at a time across tabs. */
  webLocks: boolean;
  /** BroadcastChannel: tabs share a refresh's result. */
  broadcastChannel: boolean;
  /** WebAuthn: passkeys. */
  passkeys: boolean;
}

/** Options for `createAuthClient`. */
export interface AuthClientOptions {
  /** The Keyward server's auth prefix, e.g. `"https://auth.example.com/auth"`. */
  serverUrl: string;
  /** IndexedDB database name (also names the cross-tab lock and channel). Default `"keyward"`. */
  storageName?: string;
  /** Keep the session in memory only: it ends with the page. Default `false`. */
  memoryOnly?: boolean;
}

/** `"loading"` while the stored session is read; `"offline"` when signed in but the server is unreachable. */
export type AuthState = "loading" | "signedOut" | "signedIn" | "offline";

/** A user as the server shows it. */
export interface User {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string | null;
  /** RFC 3339. */
  createdAt: string;
}

/** What `onChange` listeners receive. */
export interface AuthSnapshot {
  state: AuthState;
  user: User | null;
}

/** One signed-in session of the user. */
export interface Session {
  id: string;
  /** Whether it is this client's session. */
  current: boolean;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  userAgent: string | null;
  ip: string | null;
}

/** A device key the user signed in with (a browser profile, an app install). */
export interface Device {
  id: string;
  /** From the user agent at first sign-in, unless renamed. */
  name: string;
  /** RFC 7638 thumbprint of its public key: the `cnf.jkt` of its tokens. */
  jkt: string;
  /** Whether it is this browser. */
  current: boolean;
  createdAt: string;
  lastSeenAt: string;
}

/** A passkey of the user. */
export interface Passkey {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface PasskeyRegisterInput {
  /** A name for people; "Passkey on <device>" when absent. */
  name?: string;
}

export interface PasskeySignInInput {
  /** The account's email; without it any passkey of this site can answer (usernameless). */
  email?: string;
}

export interface PasskeySignUpInput {
  email: string;
  name?: string;
}

export interface PasskeyAutofillInput {
  /** Aborting it stops the autofill offer; the promise then resolves with `null`. */
  signal?: AbortSignal;
}

export interface SignUpInput {
  email: string;
  /** 8 to 1024 characters. */
  password: string;
  name?: string;
}

export interface SignInInput {
  email: string;
  password: string;
}

export interface SignOutOptions {
  /** `"session"` (default): this one; `"others"`: every other; `"all"`: every session of the user. */
  scope?: "session" | "others" | "all";
}

/** The server's stable codes, and the client's own (`network`, `signed_out`, `cancelled`, `unsupported`, `browser`, `corrupt`). */
export type ErrorCode =
  | "invalid_request" | "payload_too_large" | "unsupported_media_type" | "not_found"
  | "method_not_allowed" | "invalid_email" | "weak_password" | "password_too_long"
  | "email_taken" | "invalid_credentials" | "account_locked" | "unauthorized"
  | "invalid_token" | "token_expired" | "session_revoked" | "invalid_refresh_token"
  | "refresh_token_expired" | "refresh_token_reused" | "dpop_required"
  | "invalid_dpop_proof" | "use_dpop_nonce" | "passkey_invalid" | "challenge_expired"
  | "reauthentication_required" | "last_sign_in_method"
  | "rate_limited" | "internal" | "unavailable" | "unknown"
  | "network" | "signed_out" | "cancelled" | "unsupported" | "browser" | "corrupt";

/** Every rejected promise of this package rejects with one of these. Branch on `code`. */
export interface KeywardError extends Error {
  name: "KeywardError";
  code: ErrorCode;
  /** The HTTP status, when the server answered. */
  status?: number;
}
"#;

/// The browser client (create it with `createAuthClient`).
#[wasm_bindgen(js_name = AuthClient)]
pub struct JsAuthClient {
    client: AuthClient,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsOptions {
    server_url: String,
    storage_name: Option<String>,
    memory_only: Option<bool>,
}

/// Creates the client and restores a stored session (no network round trip).
#[wasm_bindgen(js_name = createAuthClient, unchecked_return_type = "Promise<AuthClient>")]
pub fn create_auth_client(
    #[wasm_bindgen(unchecked_param_type = "AuthClientOptions")] options: JsValue,
) -> Promise {
    crate::promise(async move {
        let options: JsOptions = serde_wasm_bindgen::from_value(options).map_err(|_| {
            error_to_js(&Error::Server {
                code: ErrorCode::InvalidRequest,
                message: "createAuthClient needs { serverUrl: string }".into(),
                status: 0,
            })
        })?;
        let mut rust_options = Options::new(options.server_url);
        if let Some(name) = options.storage_name {
            rust_options.storage_name = name;
        }
        rust_options.memory_only = options.memory_only.unwrap_or(false);
        let client = AuthClient::new(rust_options).await;
        Ok(JsAuthClient { client }.into())
    })
}

#[derive(Deserialize)]
struct SignUpInput {
    email: String,
    password: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct SignInInput {
    email: String,
    password: String,
}

#[derive(Deserialize, Default)]
struct SignOutOptions {
    scope: Option<SignOutScope>,
}

fn input<T: serde::de::DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(value).map_err(|err| {
        error_to_js(&Error::Server {
            code: ErrorCode::InvalidRequest,
            message: format!("{what}: {err}"),
            status: 0,
        })
    })
}

#[wasm_bindgen(js_class = AuthClient)]
impl JsAuthClient {
    /// `"loading"`, `"signedOut"`, `"signedIn"` or `"offline"`.
    #[wasm_bindgen(getter, unchecked_return_type = "AuthState")]
    pub fn state(&self) -> String {
        self.client.state().as_str().to_owned()
    }

    /// The signed-in user, or `null`.
    #[wasm_bindgen(getter, unchecked_return_type = "User | null")]
    pub fn user(&self) -> JsValue {
        user_to_js(self.client.user().as_ref())
    }

    /// Creates an account and signs it in.
    #[wasm_bindgen(js_name = signUp, unchecked_return_type = "Promise<User>")]
    pub fn sign_up(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SignUpInput")] input_: JsValue,
    ) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let input: SignUpInput = input(input_, "signUp")?;
            let user = client
                .sign_up(&input.email, &input.password, input.name.as_deref())
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(user_to_js(Some(&user)))
        })
    }

    /// Signs in with email and password.
    #[wasm_bindgen(js_name = signIn, unchecked_return_type = "Promise<User>")]
    pub fn sign_in(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SignInInput")] input_: JsValue,
    ) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let input: SignInInput = input(input_, "signIn")?;
            let user = client
                .sign_in(&input.email, &input.password)
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(user_to_js(Some(&user)))
        })
    }

    /// Signs out; `{ scope: "others" }` keeps this session, `"all"` ends every one.
    #[wasm_bindgen(js_name = signOut, unchecked_return_type = "Promise<void>")]
    pub fn sign_out(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SignOutOptions")] options: Option<JsValue>,
    ) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let options: SignOutOptions = match options.filter(|o| !o.is_null()) {
                Some(options) => input(options, "signOut")?,
                None => SignOutOptions::default(),
            };
            client
                .sign_out(options.scope.unwrap_or_default())
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// A valid access token (refreshed first when needed), for a WebSocket or a sync engine.
    #[wasm_bindgen(js_name = getAccessToken, unchecked_return_type = "Promise<string>")]
    pub fn get_access_token(&self) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            client
                .access_token()
                .await
                .map(JsValue::from)
                .map_err(|e| error_to_js(&e))
        })
    }

    /// `fetch` with the access token; retried once after a refresh if the token was refused.
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RequestInfo | URL")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestInit")] init: Option<JsValue>,
    ) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let init = init.unwrap_or(JsValue::UNDEFINED);
            let request = new_request(&input, &init).map_err(|e| error_to_js(&e))?;
            client
                .fetch(request)
                .await
                .map(JsValue::from)
                .map_err(|e| error_to_js(&e))
        })
    }

    /// Calls `listener` with `{ state, user }` on every change. Returns the function that
    /// unsubscribes.
    #[wasm_bindgen(js_name = onChange, unchecked_return_type = "() => void")]
    pub fn on_change(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(snapshot: AuthSnapshot) => void")]
        listener: Function,
    ) -> JsValue {
        let subscription = self.client.on_change(move |snapshot| {
            let _ = listener.call1(&JsValue::UNDEFINED, &snapshot_to_js(snapshot));
        });
        let mut subscription = Some(subscription);
        Closure::<dyn FnMut()>::new(move || drop(subscription.take())).into_js_value()
    }

    /// The user's sessions: `list()` and `revoke(id)`.
    #[wasm_bindgen(getter)]
    pub fn sessions(&self) -> Sessions {
        Sessions {
            client: self.client.clone(),
        }
    }

    /// Passkeys: sign in, sign up, register, autofill, manage.
    #[wasm_bindgen(getter)]
    pub fn passkeys(&self) -> Passkeys {
        Passkeys {
            client: self.client.clone(),
        }
    }

    /// The user's devices: `list()`, `current()`, `rename(id, name)`, `revoke(id)`,
    /// `signChallenge(challenge)`.
    #[wasm_bindgen(getter)]
    pub fn devices(&self) -> Devices {
        Devices {
            client: self.client.clone(),
        }
    }
}

/// The user's devices (from `auth.devices`). Sessions are bound to this browser's device key,
/// which WebCrypto made non-extractable: tokens copied out of the page work nowhere else.
#[wasm_bindgen]
pub struct Devices {
    client: AuthClient,
}

#[wasm_bindgen]
impl Devices {
    /// Devices not revoked, most recently seen first; `current` marks this browser.
    #[wasm_bindgen(unchecked_return_type = "Promise<Device[]>")]
    pub fn list(&self) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let devices = client.devices().await.map_err(|e| error_to_js(&e))?;
            let array = js_sys::Array::new();
            for device in &devices {
                array.push(&camel(device));
            }
            Ok(array.into())
        })
    }

    /// This browser's device, or `null` when the session is not bound to one.
    #[wasm_bindgen(unchecked_return_type = "Promise<Device | null>")]
    pub fn current(&self) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let device = client.current_device().await.map_err(|e| error_to_js(&e))?;
            Ok(device.as_ref().map_or(JsValue::NULL, camel))
        })
    }

    /// Renames a device.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn rename(&self, id: String, name: String) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            client
                .rename_device(&id, &name)
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Revokes a device and every session bound to it; revoking this one signs out here.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn revoke(&self, id: String) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            client
                .revoke_device(&id)
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Signs a device challenge with this browser's key: the proof to hand to the server that
    /// asked (it checks it with `POST /auth/devices/challenge/verify`).
    #[wasm_bindgen(js_name = signChallenge, unchecked_return_type = "Promise<string>")]
    pub fn sign_challenge(&self, challenge: String) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            client
                .sign_challenge(&challenge)
                .await
                .map(JsValue::from)
                .map_err(|e| error_to_js(&e))
        })
    }
}

/// Passkeys (from `auth.passkeys`). A dialog the user closes rejects with code `cancelled`.
#[wasm_bindgen]
pub struct Passkeys {
    client: AuthClient,
}

#[derive(Deserialize, Default)]
struct PasskeyInput {
    name: Option<String>,
    email: Option<String>,
}

fn optional_input(value: Option<JsValue>, what: &str) -> Result<PasskeyInput, JsValue> {
    match value.filter(|v| !v.is_null() && !v.is_undefined()) {
        Some(value) => input(value, what),
        None => Ok(PasskeyInput::default()),
    }
}

#[wasm_bindgen]
impl Passkeys {
    /// Whether passkeys work in this browser.
    #[wasm_bindgen(js_name = isSupported)]
    pub fn is_supported(&self) -> bool {
        crate::webauthn::supported()
    }

    /// Whether this device has a built-in authenticator (Touch ID, Windows Hello, Android).
    #[wasm_bindgen(js_name = isPlatformAuthenticatorAvailable, unchecked_return_type = "Promise<boolean>")]
    pub fn is_platform_authenticator_available(&self) -> Promise {
        crate::promise(async {
            Ok(crate::webauthn::platform_authenticator_available()
                .await
                .into())
        })
    }

    /// Registers a passkey to the signed-in account.
    #[wasm_bindgen(unchecked_return_type = "Promise<Passkey>")]
    pub fn register(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "PasskeyRegisterInput")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let options = optional_input(options, "passkeys.register")?;
            let passkey = client
                .register_passkey(options.name.as_deref())
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(camel(&passkey))
        })
    }

    /// Signs in with a passkey: the account's (with `email`), or one the user picks (without).
    #[wasm_bindgen(js_name = signIn, unchecked_return_type = "Promise<User>")]
    pub fn sign_in(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "PasskeySignInInput")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let options = optional_input(options, "passkeys.signIn")?;
            let user = client
                .sign_in_with_passkey(options.email.as_deref())
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(user_to_js(Some(&user)))
        })
    }

    /// Creates an account with a passkey and no password.
    #[wasm_bindgen(js_name = signUp, unchecked_return_type = "Promise<User>")]
    pub fn sign_up(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PasskeySignUpInput")] options: JsValue,
    ) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let options: PasskeyInput = input(options, "passkeys.signUp")?;
            let email = options.email.unwrap_or_default();
            let user = client
                .sign_up_with_passkey(&email, options.name.as_deref())
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(user_to_js(Some(&user)))
        })
    }

    /// Offers passkeys in the browser's autofill (for an input with
    /// `autocomplete="username webauthn"`): resolves with the user once one is picked, or `null`
    /// when `signal` aborts.
    #[wasm_bindgen(unchecked_return_type = "Promise<User | null>")]
    pub fn autofill(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "PasskeyAutofillInput")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let signal = options
                .and_then(|o| Reflect::get(&o, &"signal".into()).ok())
                .filter(|s| !s.is_undefined() && !s.is_null());
            let user = client
                .passkey_autofill(signal.as_ref())
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(user_to_js(user.as_ref()))
        })
    }

    /// The user's passkeys.
    #[wasm_bindgen(unchecked_return_type = "Promise<Passkey[]>")]
    pub fn list(&self) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let passkeys = client.passkeys().await.map_err(|e| error_to_js(&e))?;
            let array = js_sys::Array::new();
            for passkey in &passkeys {
                array.push(&camel(passkey));
            }
            Ok(array.into())
        })
    }

    /// Renames a passkey.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn rename(&self, id: String, name: String) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            client
                .rename_passkey(&id, &name)
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Removes a passkey.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn remove(&self, id: String) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            client
                .remove_passkey(&id)
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// The user's sessions (from `auth.sessions`).
#[wasm_bindgen]
pub struct Sessions {
    client: AuthClient,
}

#[wasm_bindgen]
impl Sessions {
    /// Live sessions, newest first; `current` marks this client's.
    #[wasm_bindgen(unchecked_return_type = "Promise<Session[]>")]
    pub fn list(&self) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            let sessions = client.sessions().await.map_err(|e| error_to_js(&e))?;
            let array = js_sys::Array::new();
            for session in &sessions {
                array.push(&camel(session));
            }
            Ok(array.into())
        })
    }

    /// Ends one session (its tokens stop working at once); ending this client's signs it out.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn revoke(&self, id: String) -> Promise {
        let client = self.client.clone();
        crate::promise(async move {
            client
                .revoke_session(&id)
                .await
                .map_err(|e| error_to_js(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// The version of the `keyward` package.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Which browser APIs Keyward can use here.
#[wasm_bindgen(js_name = capabilities, unchecked_return_type = "Capabilities")]
pub fn capabilities() -> JsValue {
    serde_wasm_bindgen::to_value(&Capabilities::detect()).unwrap_or(JsValue::NULL)
}

fn new_request(input: &JsValue, init: &JsValue) -> Result<Request, Error> {
    let request = if init.is_undefined() || init.is_null() {
        match input.dyn_ref::<Request>() {
            Some(request) => Request::new_with_request(request),
            None => Request::new_with_str(
                &js_sys::JsString::from(input.clone())
                    .as_string()
                    .unwrap_or_default(),
            ),
        }
    } else {
        let init: &web_sys::RequestInit = init.unchecked_ref();
        match input.dyn_ref::<Request>() {
            Some(request) => Request::new_with_request_and_init(request, init),
            None => Request::new_with_str_and_init(
                &js_sys::JsString::from(input.clone())
                    .as_string()
                    .unwrap_or_default(),
                init,
            ),
        }
    };
    request.map_err(|e| Error::browser("new Request", &e))
}

/// Serialises with camelCase keys (the wire uses snake_case, JS APIs camelCase).
fn camel<T: serde::Serialize>(value: &T) -> JsValue {
    let value = serde_wasm_bindgen::to_value(value).unwrap_or(JsValue::NULL);
    rename_keys(&value);
    value
}

fn rename_keys(value: &JsValue) {
    if let Some(array) = value.dyn_ref::<js_sys::Array>() {
        array.for_each(&mut |item, _, _| rename_keys(&item));
        return;
    }
    let Some(object) = value.dyn_ref::<js_sys::Object>() else {
        return;
    };
    if value.is_function() {
        return;
    }
    for key in js_sys::Object::keys(object).iter() {
        let Some(name) = key.as_string() else {
            continue;
        };
        let child = Reflect::get(object, &key).unwrap_or(JsValue::UNDEFINED);
        rename_keys(&child);
        if name.contains('_') {
            let camel = to_camel(&name);
            let _ = Reflect::set(object, &camel.into(), &child);
            let _ = Reflect::delete_property(object, &key);
        }
    }
}

fn to_camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn user_to_js(user: Option<&keyward_proto::User>) -> JsValue {
    user.map_or(JsValue::NULL, camel)
}

fn snapshot_to_js(snapshot: &Snapshot) -> JsValue {
    let object = js_sys::Object::new();
    let _ = Reflect::set(&object, &"state".into(), &snapshot.state.as_str().into());
    let _ = Reflect::set(&object, &"user".into(), &user_to_js(snapshot.user.as_ref()));
    object.into()
}

/// A `KeywardError`: an `Error` with `name`, `code` and, when the server answered, `status`.
pub(crate) fn error_to_js(error: &Error) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    js.set_name("KeywardError");
    let _ = Reflect::set(&js, &"code".into(), &error.code().into());
    if let Error::Server { status, .. } = error
        && *status != 0
    {
        let _ = Reflect::set(&js, &"status".into(), &(*status).into());
    }
    js.into()
}

/// Reads back what [`error_to_js`] made (errors cross shared promises as JS values).
pub(crate) fn error_from_js(value: &JsValue) -> Error {
    let get = |name: &str| Reflect::get(value, &name.into()).ok();
    let code = get("code").and_then(|c| c.as_string()).unwrap_or_default();
    let message = get("message")
        .and_then(|m| m.as_string())
        .unwrap_or_default();
    let status = get("status")
        .and_then(|s| s.as_f64())
        .map_or(0, |s| s as u16);
    match code.as_str() {
        "network" => Error::Network(message),
        "signed_out" => Error::SignedOut,
        "cancelled" => Error::Cancelled,
        "browser" | "unsupported" | "corrupt" | "" => Error::Browser {
            operation: "refresh",
            message,
        },
        server => Error::Server {
            code: serde_wasm_bindgen::from_value(server.into()).unwrap_or(ErrorCode::Unknown),
            message,
            status,
        },
    }
}
