//! The typed Rust face (cargo feature `typed`, on by default), for `keyward-leptos` and other
//! Rust apps: the account's sessions, devices and passkeys as `keyward-proto` types (the account
//! lifecycle is in `lifecycle.rs`), read with
//! serde-wasm-bindgen. The npm build leaves this feature off (no serde in its wasm); its plain
//! JS modules make the same calls through [`AuthClient::call`].

use keyward_proto::{Device, DeviceList, Passkey, PasskeyList, Session, SessionList, User};
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use crate::client::{AuthClient, Passkey as Ceremony, SignOutReason};
use crate::wire;
use crate::{Error, client};

pub(crate) fn typed<T: DeserializeOwned>(data: JsValue) -> Result<T, Error> {
    serde_wasm_bindgen::from_value(data).map_err(|_| Error::Corrupt {
        what: "server answer",
    })
}

/// `text` as one segment of a URL path (encoded).
pub(crate) fn segment(text: &str) -> String {
    js_sys::encode_uri_component(text).into()
}

fn path(collection: &str, id: &str) -> String {
    [collection, "/", &segment(id)].concat()
}

impl AuthClient {
    /// An authorized call to the auth server with `fields` as its JSON body.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        fields: &[(&str, JsValue)],
    ) -> Result<JsValue, Error> {
        let body = wire::json(&wire::object(fields))?;
        self.call(method, path, Some(&body), None).await
    }

    /// The user's live sessions, newest first, the current one marked.
    pub async fn sessions(&self) -> Result<Vec<Session>, Error> {
        let list: SessionList = typed(self.call("GET", "/sessions", None, None).await?)?;
        Ok(list.sessions)
    }

    /// Revokes one of the user's sessions. Revoking this one signs this client out.
    pub async fn revoke_session(&self, id: &str) -> Result<(), Error> {
        self.call("DELETE", &path("/sessions", id), None, None)
            .await?;
        if self.session_id().as_deref() == Some(id) {
            self.forget(SignOutReason::User).await;
        }
        Ok(())
    }

    /// The user's devices (device keys), most recently seen first; this one marked `current`.
    pub async fn devices(&self) -> Result<Vec<Device>, Error> {
        let list: DeviceList = typed(self.call("GET", "/devices", None, None).await?)?;
        Ok(list.devices)
    }

    /// This browser's device, when the session is bound to one.
    pub async fn current_device(&self) -> Result<Option<Device>, Error> {
        Ok(self.devices().await?.into_iter().find(|d| d.current))
    }

    /// Renames a device.
    pub async fn rename_device(&self, id: &str, name: &str) -> Result<(), Error> {
        let body = wire::json(&wire::object(&[("name", name.into())]))?;
        self.call("PATCH", &path("/devices", id), Some(&body), None)
            .await
            .map(drop)
    }

    /// Revokes a device and every session bound to it; revoking this one signs out here.
    pub async fn revoke_device(&self, id: &str) -> Result<(), Error> {
        let current = self.current_device().await?.is_some_and(|d| d.id == id);
        self.call("DELETE", &path("/devices", id), None, None)
            .await?;
        if current {
            self.forget(SignOutReason::User).await;
        }
        Ok(())
    }

    /// The user's passkeys.
    pub async fn passkeys(&self) -> Result<Vec<Passkey>, Error> {
        let list: PasskeyList = typed(self.call("GET", "/passkeys", None, None).await?)?;
        Ok(list.passkeys)
    }

    /// Renames a passkey.
    pub async fn rename_passkey(&self, id: &str, name: &str) -> Result<(), Error> {
        let body = wire::json(&wire::object(&[("name", name.into())]))?;
        self.call("PATCH", &path("/passkeys", id), Some(&body), None)
            .await
            .map(drop)
    }

    /// Removes a passkey.
    pub async fn remove_passkey(&self, id: &str) -> Result<(), Error> {
        self.call("DELETE", &path("/passkeys", id), None, None)
            .await
            .map(drop)
    }

    /// Registers a passkey to the signed-in account (the browser shows its dialog).
    pub async fn register_passkey(&self, name: Option<&str>) -> Result<Passkey, Error> {
        let data = self.passkey(Ceremony::Register { name }).await?;
        typed(data.ok_or(Error::Cancelled)?)
    }

    /// Signs in with a passkey: the account's (with `email`), or any of this site's (without).
    pub async fn sign_in_with_passkey(&self, email: Option<&str>) -> Result<User, Error> {
        let data = self.passkey(Ceremony::SignIn { email }).await?;
        client::signed_in_user(&data.ok_or(Error::Cancelled)?)
    }

    /// Creates an account with a passkey and no password, and signs it in.
    pub async fn sign_up_with_passkey(
        &self,
        email: &str,
        name: Option<&str>,
    ) -> Result<User, Error> {
        let data = self.passkey(Ceremony::SignUp { email, name }).await?;
        client::signed_in_user(&data.ok_or(Error::Cancelled)?)
    }

    /// Offers the site's passkeys in the browser's autofill until the user picks one (then
    /// signs in and returns the user) or `signal` aborts (then `None`).
    pub async fn passkey_autofill(&self, signal: Option<&JsValue>) -> Result<Option<User>, Error> {
        match self.passkey(Ceremony::Autofill { signal }).await? {
            Some(data) => client::signed_in_user(&data).map(Some),
            None => Ok(None),
        }
    }
}
