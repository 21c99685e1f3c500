//! A phone for the passkey tests: a software authenticator (passkey-rs) behind a WebAuthn client,
//! and the ceremonies it goes through with the server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use passkey_authenticator::{
    Authenticator, CredentialStore, DiscoverabilitySupport, StoreInfo, UiHint, UserCheck,
    UserValidationMethod,
};
use passkey_client::{Client, DefaultClientData};
use passkey_types::Passkey;
use passkey_types::ctap2::make_credential::{
    PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity,
};
use passkey_types::ctap2::{Aaguid, Ctap2Error, StatusCode as CtapStatus};
use passkey_types::webauthn::{
    CredentialCreationOptions, CredentialRequestOptions, PublicKeyCredentialDescriptor,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;

use crate::common::{Reply, access, json_request, send, sign_up};

pub const ORIGIN: &str = "http://localhost:8787";

/// The authenticator's credentials. Unlike passkey-rs's MemoryStore it answers discoverable
/// requests (no allow list) and keeps the user handle; `force` makes it answer with a chosen
/// credential whatever is asked (to play a misbehaving authenticator).
#[derive(Clone, Default)]
pub struct Store {
    pub credentials: Arc<Mutex<Vec<Passkey>>>,
    pub force: Arc<Mutex<Option<Passkey>>>,
}

#[async_trait::async_trait]
impl CredentialStore for Store {
    type PasskeyItem = Passkey;

    async fn find_credentials(
        &self,
        ids: Option<&[PublicKeyCredentialDescriptor]>,
        _rp_id: &str,
        _user_handle: Option<&[u8]>,
    ) -> Result<Vec<Passkey>, CtapStatus> {
        if let Some(forced) = self.force.lock().await.clone() {
            return Ok(vec![forced]);
        }
        let all = self.credentials.lock().await;
        let found: Vec<Passkey> = match ids {
            Some(ids) if !ids.is_empty() => all
                .iter()
                .filter(|p| ids.iter().any(|id| id.id == p.credential_id))
                .cloned()
                .collect(),
            _ => all.iter().rev().cloned().collect(),
        };
        if found.is_empty() {
            Err(Ctap2Error::NoCredentials.into())
        } else {
            Ok(found)
        }
    }

    async fn save_credential(
        &mut self,
        mut cred: Passkey,
        user: PublicKeyCredentialUserEntity,
        _rp: PublicKeyCredentialRpEntity,
        _options: passkey_types::ctap2::make_credential::Options,
    ) -> Result<(), CtapStatus> {
        cred.user_handle = Some(user.id.clone());
        self.credentials.lock().await.push(cred);
        Ok(())
    }

    async fn update_credential(&mut self, cred: &Passkey) -> Result<(), CtapStatus> {
        let mut all = self.credentials.lock().await;
        if let Some(stored) = all
            .iter_mut()
            .find(|p| p.credential_id == cred.credential_id)
        {
            *stored = cred.clone();
        }
        Ok(())
    }

    async fn get_info(&self) -> StoreInfo {
        StoreInfo {
            discoverability: DiscoverabilitySupport::Full,
        }
    }
}

/// A user who is always there and always verified (a fingerprint that always matches).
pub struct Verified;

#[async_trait::async_trait]
impl UserValidationMethod for Verified {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        _presence: bool,
        _verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence: true,
            verification: true,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

pub struct Phone {
    pub store: Store,
    client: Client<
        Store,
        Verified,
        passkey_crypto::AvailableBackend,
        public_suffix::PublicSuffixList,
        (),
    >,
}

impl Phone {
    pub fn new() -> Self {
        let store = Store::default();
        let authenticator = Authenticator::new(
            Aaguid::new_empty(),
            store.clone(),
            Verified,
            passkey_crypto::AvailableBackend,
        );
        // http://localhost is a secure context for WebAuthn, as in browsers.
        let client = Client::new(authenticator).allows_insecure_localhost(true);
        Self { store, client }
    }

    pub async fn create(&mut self, origin: &str, options: &Value) -> Value {
        let options: CredentialCreationOptions = serde_json::from_value(options.clone()).unwrap();
        let created = self
            .client
            .register(&Url::parse(origin).unwrap(), options, DefaultClientData)
            .await
            .expect("the authenticator makes a credential");
        serde_json::to_value(created).unwrap()
    }

    pub async fn get(&mut self, origin: &str, options: &Value) -> Value {
        let options: CredentialRequestOptions = serde_json::from_value(options.clone()).unwrap();
        let asserted = self
            .client
            .authenticate(&Url::parse(origin).unwrap(), options, DefaultClientData)
            .await
            .expect("the authenticator signs");
        serde_json::to_value(asserted).unwrap()
    }
}

pub async fn call(
    keyward: &keyward_server::Keyward,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Reply {
    send(keyward, json_request(Method::POST, path, token, body)).await
}

/// `phone`'s answer to the options of a passkey-only sign-up asked with `body`.
pub async fn passkey_sign_up_answer(
    keyward: &keyward_server::Keyward,
    phone: &mut Phone,
    body: &Value,
) -> Value {
    let options = call(keyward, "/auth/passkeys/sign-up/options", None, body).await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    phone.create(ORIGIN, &options.body["data"]).await
}

/// Signs up `email` with a password and registers a passkey on `phone`.
pub async fn user_with_passkey(
    keyward: &keyward_server::Keyward,
    phone: &mut Phone,
    email: &str,
) -> Value {
    let signed = sign_up(keyward, email).await;
    let token = access(&signed);
    let options = call(
        keyward,
        "/auth/passkeys/register/options",
        Some(&token),
        &json!({"name": "Test phone"}),
    )
    .await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    let selection = &options.body["data"]["publicKey"]["authenticatorSelection"];
    assert_eq!(
        selection["residentKey"], "required",
        "discoverable, so usernameless works"
    );
    let created = phone.create(ORIGIN, &options.body["data"]).await;
    let verified = call(
        keyward,
        "/auth/passkeys/register/verify",
        Some(&token),
        &created,
    )
    .await;
    assert_eq!(verified.status, StatusCode::CREATED, "{}", verified.body);
    assert_eq!(verified.body["data"]["name"], "Test phone");
    signed
}
