//! The last way this browser signed in, and with which address, kept in `localStorage` so the
//! sign-in form can offer it again. Nothing secret: a method name and an email address. (Two
//! calls on `web_sys::Storage`; no crate is needed for that.)

const KEY: &str = "keyward:last-sign-in";

/// How someone signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Email and password.
    Password,
    /// A passkey.
    Passkey,
    /// A magic link or its code.
    MagicLink,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Passkey => "passkey",
            Self::MagicLink => "magic_link",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Password, Self::Passkey, Self::MagicLink]
            .into_iter()
            .find(|method| method.as_str() == text)
    }
}

/// The last sign-in on this browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSignIn {
    /// How.
    pub method: Method,
    /// With which address, when the method had one.
    pub email: Option<String>,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The last sign-in, if this browser remembers one.
pub fn load() -> Option<LastSignIn> {
    let text = storage()?.get_item(KEY).ok()??;
    let (method, email) = text.split_once(' ').unwrap_or((&text, ""));
    Some(LastSignIn {
        method: Method::parse(method)?,
        email: (!email.is_empty()).then(|| email.to_owned()),
    })
}

/// The address of the last sign-in, or empty.
pub fn last_email() -> String {
    load().and_then(|last| last.email).unwrap_or_default()
}

/// Remembers a sign-in (storage refused, as in some private windows: nothing is kept).
pub fn save(method: Method, email: Option<&str>) {
    if let Some(storage) = storage() {
        let text = format!("{} {}", method.as_str(), email.unwrap_or_default());
        let _ = storage.set_item(KEY, text.trim_end());
    }
}
