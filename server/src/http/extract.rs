//! Extractors: JSON bodies with designed errors, and [`AuthUser`] for protected routes. (The
//! client's address and agent: `client`.)

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{
    FromRef, FromRequest, FromRequestParts, OptionalFromRequestParts, OriginalUri, Request,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use keyward_proto::ErrorCode;
use serde::de::DeserializeOwned;

use crate::domain::core::Core;
use crate::domain::tokens::AccessClaims;
use crate::domain::{SessionId, Timestamp, UserId, dpop};
use crate::{Error, Keyward};

/// The largest request body accepted.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// A JSON request body. Malformed JSON, a wrong type, a missing or unknown field answer
/// `invalid_request`; a body over 64 KiB `payload_too_large`; another content type
/// `unsupported_media_type`. Nothing is read into the handler unless the whole body is valid.
pub(crate) struct ApiJson<T>(pub T);

/// Like [`ApiJson`], but an empty body reads as `T::default()` (for bodies that are optional).
pub(crate) struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let (is_json, bytes) = read_body(req, state).await?;
        parse(is_json, &bytes).map(Self)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let (is_json, bytes) = read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        parse(is_json, &bytes).map(Self)
    }
}

pub(crate) async fn read_body<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<(bool, Bytes), Error> {
    let is_json = is_json(req.headers());
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::rejected(
                ErrorCode::PayloadTooLarge,
                "The request body is larger than 64 KiB.",
            )
        } else {
            Error::rejected(
                ErrorCode::InvalidRequest,
                "The request body could not be read.",
            )
        }
    })?;
    Ok((is_json, bytes))
}

fn parse<T: DeserializeOwned>(is_json: bool, bytes: &[u8]) -> Result<T, Error> {
    if !is_json {
        return Err(Error::rejected(
            ErrorCode::UnsupportedMediaType,
            "Send the body as JSON, with Content-Type: application/json.",
        ));
    }
    // Every body this API takes is an object; serde would also read a struct from an array
    // (`["a@example.com", "password"]` as a sign-in), which no client sends on purpose.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(Error::rejected(
            ErrorCode::InvalidRequest,
            "The request body must be a JSON object.",
        ));
    }
    serde_json::from_slice(bytes).map_err(|err| {
        let what = match err.classify() {
            serde_json::error::Category::Data => {
                format!("The request body is not as expected: {err}.")
            }
            _ => "The request body is not valid JSON.".to_owned(),
        };
        Error::rejected(ErrorCode::InvalidRequest, what)
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || (mime.len() > 5
                    && mime
                        .get(..12)
                        .is_some_and(|p| p.eq_ignore_ascii_case("application/"))
                    && mime.to_ascii_lowercase().ends_with("+json"))
        })
}

/// The signed-in user of a request, from its access token, verified locally: ES256 signature by
/// a key in our JWKS, `iss`, `aud`, expiry, and a session that has not been revoked. A token
/// bound to a device key must come as `Authorization: DPoP …` with a DPoP proof by that key
/// (method, URL, time, `ath`, never replayed); as a Bearer token it is refused. Use it in your
/// own handlers:
///
/// ```
/// use keyward_server::AuthUser;
///
/// async fn todos(user: AuthUser) -> String {
///     format!("todos of {}", user.user_id)
/// }
/// ```
///
/// Your router's state must give a [`Keyward`] (`impl FromRef<YourState> for Keyward`). A request
/// without a valid token is answered 401 with the error envelope and a `WWW-Authenticate`
/// challenge.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user's id (`sub`).
    pub user_id: UserId,
    /// The session's id (`sid`).
    pub session_id: SessionId,
    /// Every claim of the token (shared with the verification cache).
    pub claims: Arc<AccessClaims>,
}

impl AuthUser {
    /// Refuses with `step_up_required` (401, with RFC 9470's `insufficient_user_authentication`
    /// challenge) unless the sign-in behind this token proved two factors (`aal` 2): for your
    /// most sensitive routes.
    pub fn require_aal2(&self) -> Result<(), Error> {
        if self.claims.aal >= 2 {
            return Ok(());
        }
        Err(Error::rejected(
            ErrorCode::StepUpRequired,
            "This needs a sign-in with two factors.",
        ))
    }

    /// Refuses with `reauthentication_required` (401, RFC 9470) unless the user signed in (or
    /// last proved who they are) within `max_age`.
    #[allow(clippy::disallowed_methods)] // an edge: the embedding app's route calls it
    pub fn require_recent_auth(&self, max_age: std::time::Duration) -> Result<(), Error> {
        let signed_in = Timestamp::from_millis(self.claims.auth_time.saturating_mul(1000));
        if Timestamp::now() <= signed_in.plus(max_age) {
            return Ok(());
        }
        Err(Error::rejected(
            ErrorCode::ReauthenticationRequired,
            "This needs a recent sign-in: sign in again, then retry.",
        ))
    }
}

impl AuthUser {
    /// The organization the token acts for (`org`, its id), if one is active.
    pub fn org(&self) -> Option<&str> {
        self.claims.org.as_deref()
    }

    /// The user's role in it (`org_role`).
    pub fn org_role(&self) -> Option<&str> {
        self.claims.org_role.as_deref()
    }

    /// Whether the token's organization role grants `permission` (`resource:action`), matched
    /// by whole segments against the token's `permissions` (`todos:*`, `*:read`, `*:*`).
    /// Checked locally, from the token alone. Without an active organization, nothing is
    /// granted.
    pub fn can(&self, permission: &str) -> bool {
        self.claims.org.is_some()
            && self
                .claims
                .permissions
                .iter()
                .any(|granted| crate::domain::orgs::permits(granted, permission))
    }

    /// Refuses with `forbidden` (403) unless the token's organization role grants
    /// `permission` (see [`AuthUser::can`]). A member removed from the organization, or whose
    /// role changed, has their current token refused (`invalid_token`) before this is asked:
    /// the client refreshes, and the new token carries what is true now.
    ///
    /// ```
    /// use keyward_server::{AuthUser, Error};
    ///
    /// async fn delete_todo(user: AuthUser) -> Result<&'static str, Error> {
    ///     user.require_permission("todos:delete")?;
    ///     Ok("deleted")
    /// }
    /// ```
    pub fn require_permission(&self, permission: &str) -> Result<(), Error> {
        if self.can(permission) {
            return Ok(());
        }
        let message = if self.claims.org.is_none() {
            format!("This needs `{permission}` in an organization: activate one first.")
        } else {
            format!("Your role in this organization does not grant `{permission}`.")
        };
        Err(Error::rejected(ErrorCode::Forbidden, message))
    }
}

/// A permission a route requires, for [`RequirePermission`]. Name one with
/// [`permission!`](crate::permission).
pub trait Permission {
    /// `resource:action`.
    const NAME: &'static str;
}

/// Names a permission for [`RequirePermission`]: `permission!(TodosWrite = "todos:write");`
/// makes a type `TodosWrite` that stands for it.
#[macro_export]
macro_rules! permission {
    ($(#[$meta:meta])* $vis:vis $name:ident = $permission:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::Permission for $name {
            const NAME: &'static str = $permission;
        }
    };
}

/// An [`AuthUser`] whose active organization role grants `P`: the route answers `forbidden`
/// (403) otherwise, before the handler runs.
///
/// ```
/// use keyward_server::{RequirePermission, permission};
///
/// permission!(TodosWrite = "todos:write");
///
/// async fn add_todo(RequirePermission(user, _): RequirePermission<TodosWrite>) -> String {
///     format!("added for {}", user.user_id)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RequirePermission<P: Permission>(pub AuthUser, pub std::marker::PhantomData<P>);

impl<S, P> FromRequestParts<S> for RequirePermission<P>
where
    S: Send + Sync,
    Keyward: FromRef<S>,
    P: Permission + Send,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let user = <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        user.require_permission(P::NAME)?;
        Ok(Self(user, std::marker::PhantomData))
    }
}

/// Signed in or not: `None` without an `Authorization` header; a header that does not verify is
/// refused as for [`AuthUser`].
impl<S> OptionalFromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Keyward: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Error> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Keyward: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let keyward = Keyward::from_ref(state);
        let core = keyward.core();
        let (claims, _) = verified(core, &parts.headers, Timestamp::now(), || {
            dpop_request(parts, core.settings.public_origin())
        })
        .await?;
        let user = Self {
            user_id: claims.sub,
            session_id: claims.sid,
            claims,
        };
        super::check::run(&keyward, &user, parts, state).await?;
        Ok(user)
    }
}

/// The access token of a request with `headers`, verified (see [`AuthUser`]); a device-bound
/// one with the DPoP proof of the request `dpop` describes. The claims, and the token.
pub(crate) async fn verified<'h>(
    core: &Core,
    headers: &'h HeaderMap,
    now: Timestamp,
    dpop: impl FnOnce() -> Result<dpop::Request, Error>,
) -> Result<(Arc<AccessClaims>, &'h str), Error> {
    let (scheme, token) = authorization(headers)?;
    let claims = core.verify_access(token, now).await?;
    match (scheme, &claims.cnf) {
        (Scheme::Bearer, None) => {}
        (Scheme::Bearer, Some(_)) => {
            return Err(Error::rejected(
                ErrorCode::InvalidToken,
                "This token is bound to a device key: send it as `Authorization: DPoP` with a DPoP proof.",
            ));
        }
        (Scheme::DPoP, None) => {
            return Err(Error::rejected(
                ErrorCode::InvalidToken,
                "This token is not bound to a device key: send it as `Authorization: Bearer`.",
            ));
        }
        (Scheme::DPoP, Some(_)) => {
            core.check_binding(claims.cnf.as_ref(), token, Some(&dpop()?), now)
                .await?;
        }
    }
    Ok((claims, token))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    DPoP,
}

fn authorization(headers: &HeaderMap) -> Result<(Scheme, &str), Error> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or_else(|| {
        Error::rejected(
            ErrorCode::Unauthorized,
            "Sign in first: this needs an access token.",
        )
    })?;
    let invalid = || {
        Error::rejected(
            ErrorCode::InvalidToken,
            "Send the access token as `Authorization: Bearer <token>` (or `DPoP <token>`).",
        )
    };
    // One header: with two, whatever reads the other one (an app behind a gateway) would read
    // a token that was never checked.
    if values.next().is_some() {
        return Err(invalid());
    }
    let value = value.to_str().map_err(|_| invalid())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(invalid)?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::DPoP
    } else {
        return Err(invalid());
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(invalid());
    }
    Ok((scheme, token))
}

/// The request's one `DPoP` header, if it has one (two are refused).
pub(crate) fn dpop_proof(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let mut values = headers.get_all("dpop").iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => value.to_str().map(|v| Some(v.to_owned())).map_err(|_| {
            Error::rejected(ErrorCode::InvalidDpopProof, "The DPoP header is not ASCII.")
        }),
        (Some(_), Some(_)) => Err(Error::rejected(
            ErrorCode::InvalidDpopProof,
            "A request carries one DPoP header, not several.",
        )),
    }
}

/// What a request offers for DPoP: its one `DPoP` header (two are refused), its method, and its
/// URL as the client addressed it (the public origin from the issuer, and the path before any
/// `nest` stripped a prefix).
pub(crate) struct Dpop(pub dpop::Request);

impl<S> FromRequestParts<S> for Dpop
where
    S: Send + Sync,
    Keyward: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let keyward = Keyward::from_ref(state);
        dpop_request(parts, keyward.core().settings.public_origin()).map(Self)
    }
}

fn dpop_request(parts: &Parts, origin: String) -> Result<dpop::Request, Error> {
    let proof = dpop_proof(&parts.headers)?;
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path(), |OriginalUri(uri)| uri.path());
    Ok(dpop::Request {
        proof,
        method: parts.method.as_str().to_owned(),
        url: format!("{origin}{path}"),
    })
}

/// The parameters of a query string, each named at most once; `None` when one of `names`
/// comes twice (which one would count is not for a client to choose). Never fails on
/// encoding, so bad input is answered by the endpoint, in JSON.
pub(crate) fn parameters<const N: usize>(
    raw: Option<&str>,
    names: [&str; N],
) -> Option<[Option<String>; N]> {
    let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if let Some(i) = names.iter().position(|name| *name == key) {
            let slot = found.get_mut(i)?;
            if slot.is_some() {
                return None;
            }
            *slot = Some(value.into_owned());
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        let mut headers = HeaderMap::new();
        for (value, expected) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&headers), expected, "{value}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
