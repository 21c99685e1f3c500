//! The wasm-bindgen exports of the npm package's core (cargo feature `js`): one `Core` object
//! per client, holding every secret and security decision. The package's JavaScript (`npm/`)
//! wraps it in the API apps use (`createAuthClient`, events, `KeywardError`) and builds the
//! plain endpoints (sessions, devices, passkey management) on [`Core::call`].
//!
//! Values cross as plain JS: wire objects as the server sent them (snake_case; the JS side
//! renames them), request bodies as JSON text, errors as `Error`s named `KeywardError` with a
//! `code`.

use std::future::Future;

use js_sys::{Array, Function, Promise};
use keyward_proto::SignOutScope;
use wasm_bindgen::prelude::*;
use web_sys::{AbortSignal, Request};

use crate::client::{AuthClient, Options, Passkey, SignOutReason};
use crate::wire::get;
use crate::{Error, Subscription};

/// The client's core (made by `Core.open`).
#[wasm_bindgen]
pub struct Core {
    client: AuthClient,
    _changes: Subscription,
}

fn settle(future: impl Future<Output = Result<JsValue, Error>> + 'static) -> Promise {
    crate::promise(async move { future.await.map_err(|e| e.to_js()) })
}

fn text(value: &JsValue, name: &str) -> Option<String> {
    get(value, name).as_string()
}

#[wasm_bindgen]
impl Core {
    /// Opens the vault and restores the stored session (no network). `options`:
    /// `{serverUrl, storageName?, memoryOnly?, apiOrigins?}`; `onChange(reason, why, state,
    /// user)` is called on every change.
    pub fn open(options: JsValue, on_change: Function) -> Promise {
        settle(async move {
            let mut rust = Options::new(text(&options, "serverUrl").unwrap_or_default());
            if let Some(name) = text(&options, "storageName") {
                rust.storage_name = name;
            }
            rust.memory_only = get(&options, "memoryOnly").is_truthy();
            if let Ok(origins) = get(&options, "apiOrigins").dyn_into::<Array>() {
                rust.api_origins = origins.iter().filter_map(|o| o.as_string()).collect();
            }
            let client = AuthClient::new(rust).await;
            // The new state and user go with the news, so the listener never calls back in.
            let changes = client.on_change(move |snapshot, change| {
                let why = change.why().map_or(JsValue::UNDEFINED, JsValue::from);
                let user = snapshot
                    .user
                    .as_ref()
                    .map_or(JsValue::NULL, crate::wire::user_to_js);
                let _ = on_change.call4(
                    &JsValue::UNDEFINED,
                    &change.reason().into(),
                    &why,
                    &snapshot.state.as_str().into(),
                    &user,
                );
            });
            Ok(Core {
                client,
                _changes: changes,
            }
            .into())
        })
    }

    /// `loading`, `signedOut`, `signedIn` or `offline`.
    pub fn state(&self) -> JsValue {
        self.client.state().as_str().into()
    }

    /// The user as the server sent it, or `null`.
    pub fn user(&self) -> JsValue {
        self.client
            .user()
            .as_ref()
            .map_or(JsValue::NULL, crate::wire::user_to_js)
    }

    /// The session's id, or `undefined`.
    #[wasm_bindgen(js_name = sessionId)]
    pub fn session_id(&self) -> Option<String> {
        self.client.session_id()
    }

    /// Whether the session survives a reload.
    pub fn persistent(&self) -> bool {
        self.client.is_persistent()
    }

    /// A token request (`body`: JSON text); a session in the answer becomes this client's.
    #[wasm_bindgen(js_name = tokenRequest)]
    pub fn token_request(&self, path: String, body: JsValue) -> Promise {
        let client = self.client.clone();
        settle(async move { client.token_request(&path, &body).await })
    }

    /// A passkey ceremony: `signIn` `{email?}`, `signUp` `{email, name?}`, `register`
    /// `{name?}`, `autofill` `{signal?}`.
    pub fn passkey(&self, ceremony: String, input: JsValue) -> Promise {
        let client = self.client.clone();
        settle(async move {
            let (email, name) = (text(&input, "email"), text(&input, "name"));
            let signal = Some(get(&input, "signal")).filter(|s| s.is_object());
            let ceremony = match ceremony.as_str() {
                "signUp" => Passkey::SignUp {
                    email: email.as_deref().unwrap_or_default(),
                    name: name.as_deref(),
                },
                "register" => Passkey::Register {
                    name: name.as_deref(),
                },
                "autofill" => Passkey::Autofill {
                    signal: signal.as_ref(),
                },
                _ => Passkey::SignIn {
                    email: email.as_deref(),
                },
            };
            Ok(client.passkey(ceremony).await?.unwrap_or(JsValue::NULL))
        })
    }

    /// Signs out: `session`, `others` or `all`.
    #[wasm_bindgen(js_name = signOut)]
    pub fn sign_out(&self, scope: String) -> Promise {
        let client = self.client.clone();
        settle(async move {
            let scope = match scope.as_str() {
                "others" => SignOutScope::Others,
                "all" => SignOutScope::All,
                _ => SignOutScope::Session,
            };
            client.sign_out(scope).await.map(|()| JsValue::UNDEFINED)
        })
    }

    /// Ends the session here (the server already knows: it was just revoked from this page).
    pub fn forget(&self) -> Promise {
        let client = self.client.clone();
        settle(async move {
            client.forget(SignOutReason::User).await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// A valid access token (refreshed first when needed).
    #[wasm_bindgen(js_name = accessToken)]
    pub fn access_token(&self) -> Promise {
        let client = self.client.clone();
        settle(async move { client.access_token().await.map(JsValue::from) })
    }

    /// The cached access token while it is valid; `undefined` otherwise.
    #[wasm_bindgen(js_name = cachedToken)]
    pub fn cached_token(&self) -> Option<String> {
        self.client.cached_access_token()
    }

    /// Refreshes now.
    pub fn refresh(&self) -> Promise {
        let client = self.client.clone();
        settle(async move { client.refresh().await.map(|()| JsValue::UNDEFINED) })
    }

    /// Reads the user again; resolves with it (as the server sent it).
    #[wasm_bindgen(js_name = reloadUser)]
    pub fn reload_user(&self) -> Promise {
        let client = self.client.clone();
        settle(async move {
            client.reload_user().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `data` of an authorized call to the auth server (`body`: JSON text or `undefined`).
    pub fn call(
        &self,
        method: String,
        path: String,
        body: JsValue,
        signal: Option<AbortSignal>,
    ) -> Promise {
        let client = self.client.clone();
        settle(async move {
            let body = Some(body).filter(|b| b.is_string());
            client
                .call(&method, &path, body.as_ref(), signal.as_ref())
                .await
        })
    }

    /// `fetch` with the session's token, to the auth server and the app's API origins only.
    pub fn fetch(&self, request: Request) -> Promise {
        let client = self.client.clone();
        settle(async move { client.fetch(request).await.map(JsValue::from) })
    }

    /// `{Authorization, DPoP?}` for one request made by another HTTP client.
    #[wasm_bindgen(js_name = createProof)]
    pub fn create_proof(&self, method: String, url: String) -> Promise {
        let client = self.client.clone();
        settle(async move { client.create_proof(&method, &url).await })
    }

    /// A connect ticket for a WebSocket or EventSource at `url`.
    #[wasm_bindgen(js_name = connectTicket)]
    pub fn connect_ticket(&self, url: String) -> Promise {
        let client = self.client.clone();
        settle(async move { client.connect_ticket(&url).await.map(JsValue::from) })
    }

    /// Signs a device challenge with this browser's key.
    #[wasm_bindgen(js_name = signChallenge)]
    pub fn sign_challenge(&self, challenge: String) -> Promise {
        let client = self.client.clone();
        settle(async move { client.sign_challenge(&challenge).await.map(JsValue::from) })
    }
}
