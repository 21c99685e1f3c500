//! Keyward as an OpenID Connect provider, from the app's side, in the typed Rust face (`typed`
//! feature): the app's sign-in page hands a pending authorization request back to Keyward once
//! the user is signed in (setting `oidc_sign_in_page`), and the security page lists the other
//! apps the user let sign them in, and disconnects them.

use keyward_proto::{BrowserSessionStarted, ConnectedApp, ConnectedApps};
use wasm_bindgen::JsValue;

use crate::Error;
use crate::client::AuthClient;
use crate::typed::{segment, typed};

/// The query parameter Keyward opens the app's sign-in page with.
pub const OIDC_REQUEST: &str = "oidc_req";

impl AuthClient {
    /// Hands the pending authorization request `req` (the page's `oidc_req`) back to Keyward
    /// for this session: the browser gets the provider's cookie, and this is where it goes next
    /// (consent, or back to the app that asked). `reauthentication_required` when that app asks
    /// for a sign-in newer than this session's.
    pub async fn continue_authorization(&self, req: &str) -> Result<String, Error> {
        let answer: BrowserSessionStarted = typed(
            self.send(
                "POST",
                "/oidc/browser-session",
                &[("req", JsValue::from_str(req))],
            )
            .await?,
        )?;
        Ok(answer.continue_to)
    }

    /// The other apps the user let sign them in through Keyward, newest first.
    pub async fn connected_apps(&self) -> Result<Vec<ConnectedApp>, Error> {
        let list: ConnectedApps = typed(self.call("GET", "/connected-apps", None, None).await?)?;
        Ok(list.apps)
    }

    /// Disconnects an app: its sign-ins for the user end at once, and it asks again next time.
    pub async fn disconnect_app(&self, client_id: &str) -> Result<(), Error> {
        let path = ["/connected-apps/", &segment(client_id)].concat();
        self.call("DELETE", &path, None, None).await?;
        Ok(())
    }
}
