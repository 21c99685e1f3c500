//! Account lifecycle: email verification, password reset and change, email change, magic links
//! (DESIGN.md, "Account lifecycle"). Every emailed link carries `type` and `token` and points at a
//! page of the app; opening it changes nothing until that page POSTs the token here.

use serde::{Deserialize, Serialize};

/// A token from an emailed link: `POST /auth/email/verification/confirm`,
/// `POST /auth/email/change/confirm`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkToken {
    /// The link's `token` parameter.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub token: String,
}

/// `POST /auth/password/forgot`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForgotPassword {
    /// The account's email address. The answer is the same whether or not it has an account.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    /// The app's page the link opens (an allowed origin); the server's app URL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub redirect_to: Option<String>,
}

/// `POST /auth/password/reset`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// The reset link's `token`.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub token: String,
    /// The new password: 8 to 1024 characters, not a common one.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub password: String,
}

/// `POST /auth/password/change`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password the account has now.
    pub current_password: String,
    /// The new one: 8 to 1024 characters, not a common one.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub new_password: String,
}

/// `POST /auth/email/change`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeEmail {
    /// The new address: it gets the confirm link; the address changes only on confirmation.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub new_email: String,
    /// The app's page the link opens (an allowed origin); the server's app URL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub redirect_to: Option<String>,
}

/// `POST /auth/magic-link`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendMagicLink {
    /// Where to send it. The answer is the same whether or not it has an account.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    /// The app's page the link opens (an allowed origin); the server's app URL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub redirect_to: Option<String>,
}

/// `POST /auth/magic-link/verify`: the link's `token`, or the address and the 6-digit code from
/// the same mail (typed on another device).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum VerifyMagicLink {
    /// By the link's `token`.
    Link(LinkToken),
    /// By the mail's code.
    Code(MagicCode),
}

/// A magic link's code, with the address its mail went to.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MagicCode {
    /// The address the mail went to.
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    /// The mail's 6-digit code.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]{6}$"))]
    pub code: String,
}
