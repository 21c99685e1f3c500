//! The few wire values the core itself reads and writes (the user, the token pair, a sign-in's
//! answer), by hand through js-sys. The browser parses and prints the JSON; serde stays out of
//! the npm build, where it weighed more than the whole client (DESIGN.md, "Client").

use js_sys::{Object, Reflect};
use keyward_proto::{TokenType, Tokens, User};
use wasm_bindgen::JsValue;

use crate::Error;

/// `value[name]`; `undefined` when `value` is not an object.
pub(crate) fn get(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

fn text(value: &JsValue, name: &str) -> Option<String> {
    get(value, name).as_string()
}

/// A plain object with `fields`.
pub(crate) fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&object, &(*name).into(), value);
    }
    object.into()
}

/// `JSON.stringify(value)`.
pub(crate) fn json(value: &JsValue) -> Result<JsValue, Error> {
    js_sys::JSON::stringify(value)
        .map(JsValue::from)
        .map_err(|_| Error::Corrupt { what: "request" })
}

/// An optional string as JS: the string, or `null`.
pub(crate) fn nullable(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from)
}

/// A `user` as the server sends it.
pub fn user_from_js(value: &JsValue) -> Option<User> {
    Some(User {
        id: text(value, "id")?,
        email: text(value, "email")?,
        email_verified: get(value, "email_verified").as_bool().unwrap_or(false),
        name: text(value, "name"),
        created_at: text(value, "created_at").unwrap_or_default(),
    })
}

/// A `user` in the wire's form (snake_case), as kept in the vault.
pub fn user_to_js(user: &User) -> JsValue {
    object(&[
        ("id", user.id.as_str().into()),
        ("email", user.email.as_str().into()),
        ("email_verified", user.email_verified.into()),
        ("name", nullable(user.name.as_deref())),
        ("created_at", user.created_at.as_str().into()),
    ])
}

/// A `tokens` object as the server sends it.
pub fn tokens_from_js(value: &JsValue) -> Option<Tokens> {
    Some(Tokens {
        access_token: text(value, "access_token")?,
        refresh_token: text(value, "refresh_token")?,
        token_type: match text(value, "token_type")?.as_str() {
            "DPoP" => TokenType::DPoP,
            _ => TokenType::Bearer,
        },
        expires_in: get(value, "expires_in").as_f64()?.max(0.0) as u64,
    })
}

/// `tokens` in the wire's form.
pub fn tokens_to_js(tokens: &Tokens) -> JsValue {
    let token_type = match tokens.token_type {
        TokenType::DPoP => "DPoP",
        TokenType::Bearer => "Bearer",
    };
    object(&[
        ("access_token", tokens.access_token.as_str().into()),
        ("refresh_token", tokens.refresh_token.as_str().into()),
        ("token_type", token_type.into()),
        ("expires_in", (tokens.expires_in as f64).into()),
    ])
}

/// A successful sign-in's `{user, session_id, tokens}`; `None` for another answer (such as
/// `{mfa_required, mfa_ticket}`).
pub fn signed_in(data: &JsValue) -> Option<(User, String, Tokens)> {
    Some((
        user_from_js(&get(data, "user"))?,
        text(data, "session_id")?,
        tokens_from_js(&get(data, "tokens"))?,
    ))
}
