//! Mail: what each kind of mail says (built-in templates, replaceable from files), and the
//! links in it. Mail is queued in the database (see `store::lifecycle`) and sent by the
//! runtime's sender; nothing here talks to a mail server.

use std::collections::HashMap;
use std::path::Path;

use keyward_proto::ErrorCode;

use super::{Random, Timestamp};
use crate::store::MailRow;
use crate::{Error, Settings};

/// What a mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// A link that proves the address (sign-up, or asked again).
    VerifyEmail,
    /// A link to choose a new password.
    ResetPassword,
    /// A sign-in link and code.
    MagicLink,
    /// A link, to the new address, that confirms an address change.
    ChangeEmail,
    /// A notice to the old address that a change was asked for.
    EmailChanged,
    /// A notice that the password was changed or reset.
    PasswordChanged,
    /// A notice that repeated failed sign-ins locked the account, with a reset link.
    AccountLocked,
    /// An invitation to join an organization.
    OrgInvitation,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [MailKind; 8] = [
        Self::VerifyEmail,
        Self::ResetPassword,
        Self::MagicLink,
        Self::ChangeEmail,
        Self::EmailChanged,
        Self::PasswordChanged,
        Self::AccountLocked,
        Self::OrgInvitation,
    ];

    /// The stored name, also the template files' name and a link's `type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::MagicLink => "magic_link",
            Self::ChangeEmail => "change_email",
            Self::EmailChanged => "email_changed",
            Self::PasswordChanged => "password_changed",
            Self::AccountLocked => "account_locked",
            Self::OrgInvitation => "org_invitation",
        }
    }

    /// The built-in subject, text and HTML (with `{{…}}` placeholders).
    fn built_in(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::VerifyEmail => (
                "Confirm your email address for {{app}}",
                "Hello,\n\nconfirm that {{email}} is your address for {{app}}:\n\n{{link}}\n\nOpen it in the browser you signed up with (or one signed in to {{app}}): anywhere else, confirming takes the address back for whoever reads this mail, and the account's password and passkeys are removed. The link works for 24 hours. If you did not sign up for {{app}}, ignore this mail.\n",
                "<p>Hello,</p><p>confirm that {{email}} is your address for {{app}}:</p><p><a href=\"{{link}}\">Confirm my email address</a></p><p>Open it in the browser you signed up with (or one signed in to {{app}}): anywhere else, confirming takes the address back for whoever reads this mail, and the account's password and passkeys are removed. The link works for 24 hours. If you did not sign up for {{app}}, ignore this mail.</p>",
            ),
            Self::ResetPassword => (
                "Reset your {{app}} password",
                "Hello,\n\nsomeone (we hope you) asked to reset the password of {{email}} on {{app}}. Choose a new one here:\n\n{{link}}\n\nThe link works for one hour, once. If it was not you, ignore this mail: your password stays as it is.\n",
                "<p>Hello,</p><p>someone (we hope you) asked to reset the password of {{email}} on {{app}}.</p><p><a href=\"{{link}}\">Choose a new password</a></p><p>The link works for one hour, once. If it was not you, ignore this mail: your password stays as it is.</p>",
            ),
            Self::MagicLink => (
                "Your {{app}} sign-in link",
                "Hello,\n\nsign in to {{app}} as {{email}} with this link:\n\n{{link}}\n\nor type this code where you asked for it: {{code}}\n\nBoth work for 15 minutes, once. If you did not ask to sign in, ignore this mail.\n",
                "<p>Hello,</p><p>sign in to {{app}} as {{email}}:</p><p><a href=\"{{link}}\">Sign in</a></p><p>or type this code where you asked for it: <strong>{{code}}</strong></p><p>Both work for 15 minutes, once. If you did not ask to sign in, ignore this mail.</p>",
            ),
            Self::ChangeEmail => (
                "Confirm your new email address for {{app}}",
                "Hello,\n\nconfirm that {{email}} is your new address for {{app}}:\n\n{{link}}\n\nThe link works for one hour. Until then your account keeps its old address.\n",
                "<p>Hello,</p><p>confirm that {{email}} is your new address for {{app}}:</p><p><a href=\"{{link}}\">Confirm my new address</a></p><p>The link works for one hour. Until then your account keeps its old address.</p>",
            ),
            Self::EmailChanged => (
                "Your {{app}} email address is being changed",
                "Hello,\n\nsomeone signed in to your {{app}} account asked to change its address from {{email}} to {{new_email}}. It changes once the new address is confirmed.\n\nIf this was not you, reset your password now and sign out everywhere.\n",
                "<p>Hello,</p><p>someone signed in to your {{app}} account asked to change its address from {{email}} to {{new_email}}. It changes once the new address is confirmed.</p><p>If this was not you, reset your password now and sign out everywhere.</p>",
            ),
            Self::PasswordChanged => (
                "Your {{app}} password was changed",
                "Hello,\n\nthe password of {{email}} on {{app}} was just changed, and your other sessions were signed out.\n\nIf this was not you, reset your password now.\n",
                "<p>Hello,</p><p>the password of {{email}} on {{app}} was just changed, and your other sessions were signed out.</p><p>If this was not you, reset your password now.</p>",
            ),
            Self::AccountLocked => (
                "Too many failed sign-ins on your {{app}} account",
                "Hello,\n\nafter repeated failed sign-ins, {{email}} is locked on {{app}} for a while. If it was you and you forgot your password, choose a new one:\n\n{{link}}\n\nIf it was not you, nothing else is needed: the lock protects you.\n",
                "<p>Hello,</p><p>after repeated failed sign-ins, {{email}} is locked on {{app}} for a while. If it was you and you forgot your password:</p><p><a href=\"{{link}}\">Choose a new password</a></p><p>If it was not you, nothing else is needed: the lock protects you.</p>",
            ),
            Self::OrgInvitation => (
                "{{inviter}} invited you to {{org}} on {{app}}",
                "Hello,\n\n{{inviter}} invited {{email}} to join {{org}} on {{app}} as {{role}}. Accept here, signed in to {{app}} with this address (or after signing up with it):\n\n{{link}}\n\nThe invitation works for 7 days, once. If you do not know {{inviter}}, ignore this mail.\n",
                "<p>Hello,</p><p>{{inviter}} invited {{email}} to join <strong>{{org}}</strong> on {{app}} as {{role}}.</p><p><a href=\"{{link}}\">Accept the invitation</a></p><p>Accept it signed in to {{app}} with this address (or after signing up with it). The invitation works for 7 days, once. If you do not know {{inviter}}, ignore this mail.</p>",
            ),
        }
    }
}

/// One kind's subject, text and HTML.
#[derive(Debug, Clone)]
struct Template {
    subject: String,
    text: String,
    html: String,
}

/// The mail templates: built in, each file of the templates directory replacing its part.
#[derive(Debug, Clone)]
pub struct Templates {
    templates: HashMap<MailKind, Template>,
}

impl Templates {
    /// The built-in templates, with the files of `dir` (`<kind>.subject`, `<kind>.txt`,
    /// `<kind>.html`) in place of theirs. A file that cannot be read is a configuration error.
    pub fn load(dir: Option<&Path>) -> Result<Self, Error> {
        let mut templates = HashMap::new();
        for kind in MailKind::ALL {
            let (subject, text, html) = kind.built_in();
            let read = |extension: &str, built_in: &str| -> Result<String, Error> {
                let Some(dir) = dir else {
                    return Ok(built_in.to_owned());
                };
                let path = dir.join(format!("{}.{extension}", kind.as_str()));
                match std::fs::read_to_string(&path) {
                    Ok(text) => Ok(text),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                        Ok(built_in.to_owned())
                    }
                    Err(err) => Err(Error::Config {
                        setting: "mail-templates",
                        reason: format!("cannot read {}: {err}", path.display()),
                    }),
                }
            };
            let template = Template {
                subject: read("subject", subject)?.trim().to_owned(),
                text: read("txt", text)?,
                html: read("html", html)?,
            };
            templates.insert(kind, template);
        }
        Ok(Self { templates })
    }

    /// A mail of `kind` to `to`, with `values` (`("link", …)`, `("code", …)`) and the app's
    /// name (`{{app}}`) and the address (`{{email}}`) filled in; escaped for the HTML part.
    /// Queued as `pending` when an SMTP server is set, else kept in the outbox.
    pub fn compose(
        &self,
        settings: &Settings,
        kind: MailKind,
        to: &str,
        values: &[(&str, &str)],
        now: Timestamp,
        random: &Random,
    ) -> MailRow {
        let app = settings.app_name();
        let mut all: Vec<(&str, &str)> = vec![("app", &app), ("email", to)];
        all.extend_from_slice(values);
        let fill = |template: &str, escape: bool| {
            let mut out = template.to_owned();
            for (name, value) in &all {
                let value = if escape {
                    html_escape(value)
                } else {
                    (*value).to_owned()
                };
                out = out.replace(&format!("{{{{{name}}}}}"), &value);
            }
            out
        };
        let template = self.templates.get(&kind);
        let (subject, text, html) = match template {
            Some(t) => (
                fill(&t.subject, false),
                fill(&t.text, false),
                fill(&t.html, true),
            ),
            None => Default::default(),
        };
        MailRow {
            id: uuid::Builder::from_random_bytes(random.bytes())
                .into_uuid()
                .to_string(),
            created_at: now.millis(),
            kind: kind.as_str().to_owned(),
            to_address: to.to_owned(),
            // A header must stay on one line.
            subject: subject.replace(['\r', '\n'], " "),
            text_body: text,
            html_body: html,
            status: if settings.smtp_url.is_some() {
                "pending"
            } else {
                "outbox"
            }
            .to_owned(),
            attempts: 0,
            next_attempt_at: now.millis(),
            last_error: None,
            sent_at: None,
        }
    }
}

/// `text` for HTML: every character that could end a text or an attribute escaped.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page an emailed link opens: `redirect_to` when it is a page of an allowed origin (never
/// a wildcard: links only go to the app), else the app URL; `redirect_not_allowed` for any
/// other `redirect_to`.
pub fn link_base(settings: &Settings, redirect_to: Option<&str>) -> Result<url::Url, Error> {
    let refused = || {
        Error::rejected(
            ErrorCode::RedirectNotAllowed,
            "redirect_to must be a page of an allowed origin.",
        )
    };
    let Some(target) = redirect_to else {
        return url::Url::parse(&settings.app_url())
            .map_err(|_| Error::internal("the app URL does not parse"));
    };
    let url = url::Url::parse(target).map_err(|_| refused())?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(refused());
    }
    let origin = url.origin().ascii_serialization();
    let mut allowed = settings.origins();
    if let Some(app) = &settings.app_url
        && let Ok(app) = url::Url::parse(app)
    {
        allowed.push(app.origin().ascii_serialization());
    }
    if allowed.iter().any(|o| o != "*" && *o == origin) && url.username().is_empty() {
        Ok(url)
    } else {
        Err(refused())
    }
}

/// `base` with `type` and `token` added to its query (its fragment dropped).
pub fn link(base: &url::Url, kind: MailKind, token: &str) -> String {
    let mut url = base.clone();
    url.set_fragment(None);
    url.query_pairs_mut()
        .append_pair("type", kind.as_str())
        .append_pair("token", token);
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_go_only_to_allowed_origins_and_carry_type_and_token() {
        let settings = Settings {
            allowed_origins: vec!["https://app.example.com".into()],
            ..Settings::default()
        };
        let base = link_base(
            &settings,
            Some("https://app.example.com/auth/callback?x=1#top"),
        )
        .unwrap();
        assert_eq!(
            link(&base, MailKind::ResetPassword, "kwl_abc"),
            "https://app.example.com/auth/callback?x=1&type=reset_password&token=kwl_abc"
        );
        for bad in [
            "https://evil.example/",
            "https://app.example.com.evil.example/",
            "javascript:alert(1)",
            "https://user@app.example.com/",
            "//evil.example/",
        ] {
            let err = link_base(&settings, Some(bad)).unwrap_err();
            assert!(
                err.to_string().contains("redirect_not_allowed"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            link_base(&settings, None).unwrap().as_str(),
            "https://app.example.com/"
        );
        let wildcard = Settings {
            allowed_origins: vec!["*".into()],
            ..Settings::default()
        };
        assert!(link_base(&wildcard, Some("https://anything.example/")).is_err());
    }

    #[test]
    fn templates_fill_values_and_escape_them_in_html() {
        let templates = Templates::load(None).unwrap();
        let settings = Settings {
            app_name: Some("Todo <App>".into()),
            ..Settings::default()
        };
        let mail = templates.compose(
            &settings,
            MailKind::MagicLink,
            "a@example.com",
            &[
                ("link", "https://app.example.com/?a=1&b=2"),
                ("code", "123456"),
            ],
            Timestamp::from_millis(1),
            &Random::seeded(1),
        );
        assert_eq!(mail.subject, "Your Todo <App> sign-in link");
        assert!(mail.text_body.contains("https://app.example.com/?a=1&b=2"));
        assert!(mail.text_body.contains("123456"));
        assert!(mail.html_body.contains("Todo &lt;App&gt;"));
        assert!(
            mail.html_body
                .contains("href=\"https://app.example.com/?a=1&amp;b=2\"")
        );
        assert!(!mail.html_body.contains("{{"));
        assert_eq!(mail.status, "outbox");
    }
}
