//! The account lifecycle in the typed Rust face (`typed` feature): email verification, password
//! reset and change, email change, magic links and TOTP, each one call to the server (DESIGN.md,
//! "Account lifecycle"). The npm package makes the same calls from its `keyward/email`,
//! `keyward/password`, `keyward/magic-link` and `keyward/mfa` modules.
//!
//! Requests that carry a link's token or a code go with a proof by this browser's device key
//! ([`AuthClient::token_request`]): a session in the answer is bound to it, and a verification
//! link confirmed from the device that signed up keeps the account as it is.

use keyward_proto::{RecoveryCodes, TotpEnrolment, User};
use wasm_bindgen::JsValue;

use crate::Error;
use crate::client::{AuthClient, SignedIn, sign_in_answer, signed_in_user};
use crate::typed::typed;
use crate::wire::{self, nullable};

impl AuthClient {
    /// JSON text of an object with `fields`.
    fn body(fields: &[(&str, JsValue)]) -> Result<JsValue, Error> {
        wire::json(&wire::object(fields))
    }

    /// An authorized `POST` to the auth server with `fields` as its JSON body.
    async fn post(&self, path: &str, fields: &[(&str, JsValue)]) -> Result<JsValue, Error> {
        self.send("POST", path, fields).await
    }

    /// The user a confirmation answered; the signed-in user is re-read when it is them.
    async fn confirmed(&self, data: &JsValue) -> Result<User, Error> {
        let user = signed_in_user(data)?;
        if self.user().is_some_and(|me| me.id == user.id) {
            self.reload_user().await?;
        }
        Ok(user)
    }

    /// Sends (again) the verification mail to the signed-in user's address.
    pub async fn send_verification(&self) -> Result<(), Error> {
        self.post("/email/verification", &[]).await.map(drop)
    }

    /// Confirms an address with the `token` of its verification link; the verified user.
    pub async fn confirm_email(&self, token: &str) -> Result<User, Error> {
        let body = Self::body(&[("token", token.into())])?;
        let data = self
            .token_request("/email/verification/confirm", &body)
            .await?;
        self.confirmed(&data).await
    }

    /// Asks for a password reset mail to `email` (the answer is the same for any address);
    /// its link opens `redirect_to` (a page of the app) or the app's default page.
    pub async fn forgot_password(
        &self,
        email: &str,
        redirect_to: Option<&str>,
    ) -> Result<(), Error> {
        self.ask_for_mail("/password/forgot", email, redirect_to)
            .await
    }

    /// A mail anyone may ask for about any address, with a link to `redirect_to`.
    async fn ask_for_mail(
        &self,
        path: &str,
        email: &str,
        redirect_to: Option<&str>,
    ) -> Result<(), Error> {
        let body = Self::body(&[
            ("email", email.into()),
            ("redirect_to", nullable(redirect_to)),
        ])?;
        self.token_request(path, &body).await.map(drop)
    }

    /// Sets a new password with the `token` of a reset link. Every session ends; sign in with
    /// the new password next.
    pub async fn reset_password(&self, token: &str, password: &str) -> Result<(), Error> {
        let body = Self::body(&[("token", token.into()), ("password", password.into())])?;
        self.token_request("/password/reset", &body).await.map(drop)
    }

    /// Changes the signed-in user's password (the current one, and a recent sign-in, needed);
    /// the user's other sessions end.
    pub async fn change_password(&self, current: &str, next: &str) -> Result<(), Error> {
        let fields = [
            ("current_password", current.into()),
            ("new_password", next.into()),
        ];
        self.post("/password/change", &fields).await.map(drop)
    }

    /// Asks to move the signed-in account to `new_email` (a recent sign-in needed): a link
    /// goes there, a notice to the current address.
    pub async fn change_email(
        &self,
        new_email: &str,
        redirect_to: Option<&str>,
    ) -> Result<(), Error> {
        let fields = [
            ("new_email", new_email.into()),
            ("redirect_to", nullable(redirect_to)),
        ];
        self.post("/email/change", &fields).await.map(drop)
    }

    /// Confirms an address change with the `token` of the link sent to the new address (from
    /// a browser signed in to the account); the user with the new address.
    pub async fn confirm_email_change(&self, token: &str) -> Result<User, Error> {
        let body = Self::body(&[("token", token.into())])?;
        let data = self.token_request("/email/change/confirm", &body).await?;
        self.confirmed(&data).await
    }

    /// Mails `email` a sign-in link and a 6-digit code (the answer is the same for any
    /// address); the link opens `redirect_to` or the app's default page.
    pub async fn send_magic_link(
        &self,
        email: &str,
        redirect_to: Option<&str>,
    ) -> Result<(), Error> {
        self.ask_for_mail("/magic-link", email, redirect_to).await
    }

    /// Signs in with a magic link's `token` (from the link the page was opened with).
    pub async fn complete_magic_link(&self, token: &str) -> Result<SignedIn, Error> {
        let body = Self::body(&[("token", token.into())])?;
        let data = self.token_request("/magic-link/verify", &body).await?;
        sign_in_answer(&data)
    }

    /// Signs in with the 6-digit code of the magic-link mail sent to `email` (typed on any
    /// device).
    pub async fn complete_magic_link_code(
        &self,
        email: &str,
        code: &str,
    ) -> Result<SignedIn, Error> {
        let body = Self::body(&[("email", email.into()), ("code", code.into())])?;
        let data = self.token_request("/magic-link/verify", &body).await?;
        sign_in_answer(&data)
    }

    /// Starts adding an authenticator app (a recent sign-in needed): the secret, its
    /// `otpauth://` URI and QR code.
    pub async fn enrol_totp(&self) -> Result<TotpEnrolment, Error> {
        typed(self.post("/mfa/totp", &[]).await?)
    }

    /// Confirms the app with its first code: the second factor is on; the ten recovery codes
    /// (shown once).
    pub async fn confirm_totp(&self, code: &str) -> Result<Vec<String>, Error> {
        let codes: RecoveryCodes = typed(
            self.post("/mfa/totp/confirm", &[("code", code.into())])
                .await?,
        )?;
        Ok(codes.recovery_codes)
    }

    /// Finishes a sign-in that answered [`SignedIn::MfaRequired`] with a code from the app.
    pub async fn verify_mfa(&self, ticket: &str, code: &str) -> Result<User, Error> {
        let body = Self::body(&[("mfa_ticket", ticket.into()), ("code", code.into())])?;
        signed_in_user(&self.token_request("/mfa/verify", &body).await?)
    }

    /// The same with a recovery code (each works once).
    pub async fn recover_mfa(&self, ticket: &str, recovery_code: &str) -> Result<User, Error> {
        let fields = [
            ("mfa_ticket", ticket.into()),
            ("recovery_code", recovery_code.into()),
        ];
        signed_in_user(
            &self
                .token_request("/mfa/verify", &Self::body(&fields)?)
                .await?,
        )
    }

    /// Turns the second factor off (a current code or a recovery code, and a recent sign-in).
    pub async fn disable_totp(&self, code: &str) -> Result<(), Error> {
        let body = Self::body(&[("code", code.into())])?;
        self.call("DELETE", "/mfa/totp", Some(&body), None)
            .await
            .map(drop)
    }

    /// Ten new recovery codes (a current code and a recent sign-in); the old ones stop working.
    pub async fn regenerate_recovery_codes(&self, code: &str) -> Result<Vec<String>, Error> {
        let data = self
            .post("/mfa/recovery-codes", &[("code", code.into())])
            .await?;
        let codes: RecoveryCodes = typed(data)?;
        Ok(codes.recovery_codes)
    }

    /// Proves a code again from this session (for what needs a recent or two-factor
    /// sign-in); returns once the session's new tokens carry it.
    pub async fn step_up(&self, code: &str) -> Result<(), Error> {
        self.post("/mfa/step-up", &[("code", code.into())]).await?;
        self.refresh().await
    }
}
