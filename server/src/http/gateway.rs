//! For resource servers that are not this process: `POST /auth/introspect` and `POST
//! /auth/connect-ticket/redeem` (with a server key), and `GET /auth/forward` (for gateways).

use axum::Json;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use std::marker::PhantomData;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_proto::{
    Envelope, ErrorCode, ErrorEnvelope, IntrospectRequest, Introspection, RedeemTicket,
    TicketRedeemed,
};

use super::extract::{ApiJson, dpop_proof, read_body, verified};
use crate::domain::server_keys::KeyKind;
use crate::domain::{ServerKeyId, Timestamp, dpop, gateway, server_keys, tickets};
use crate::{Error, Keyward};

/// Which kinds of key an endpoint takes.
pub(crate) trait KeyKinds {
    const KINDS: &'static [KeyKind];
}

/// A request made with a live key of one of `K`'s kinds (`Authorization: Bearer kws_…` or
/// `kwa_…`): the key's id.
pub(crate) struct ApiKey<K>(pub(crate) ServerKeyId, pub(crate) PhantomData<K>);

impl<S, K: KeyKinds> FromRequestParts<S> for ApiKey<K>
where
    S: Send + Sync,
    Keyward: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let keyward = Keyward::from_ref(state);
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let (id, _) =
            server_keys::authenticate(keyward.core(), authorization, K::KINDS, Timestamp::now())
                .await?;
        Ok(Self(id, PhantomData))
    }
}

/// Server keys only: ticket redemption.
pub(crate) enum ServerKeys {}

impl KeyKinds for ServerKeys {
    const KINDS: &'static [KeyKind] = &[KeyKind::Server];
}

/// Server or admin keys: introspection.
pub(crate) enum ServerOrAdminKeys {}

impl KeyKinds for ServerOrAdminKeys {
    const KINDS: &'static [KeyKind] = &[KeyKind::Server, KeyKind::Admin];
}

/// A request made with a live server key.
pub(crate) type ServerKey = ApiKey<ServerKeys>;

/// The body of an introspection: a form, as RFC 7662 sends it, or JSON.
pub(crate) struct IntrospectBody(IntrospectRequest);

impl<S: Send + Sync> FromRequest<S> for IntrospectBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return ApiJson::from_request(req, state)
                .await
                .map(|ApiJson(body)| Self(body));
        }
        let (_, bytes) = read_body(req, state).await?;
        let mut token = None;
        let mut hint = None;
        for (name, value) in url::form_urlencoded::parse(&bytes) {
            let slot = match &*name {
                "token" => &mut token,
                "token_type_hint" => &mut hint,
                _ => continue,
            };
            // RFC 6749 §3.1: a parameter is sent once.
            if slot.replace(value.into_owned()).is_some() {
                return Err(Error::rejected(
                    ErrorCode::InvalidRequest,
                    format!("`{name}` is sent once."),
                ));
            }
        }
        let token = token
            .ok_or_else(|| Error::rejected(ErrorCode::InvalidRequest, "The form needs `token`."))?;
        Ok(Self(IntrospectRequest {
            token,
            token_type_hint: hint,
        }))
    }
}

/// RFC 7662 token introspection, for an API or sync server in another language: whether an
/// access token is good now (signed here, not expired, its session live, its user there) and
/// its claims. The answer is RFC 7662's own shape, not in the `data` envelope: `{"active":
/// false}` and nothing more for any token that is not good. A DPoP-bound token answers
/// `token_type: "DPoP"` and `cnf.jkt`: the caller checks the request's DPoP proof against that
/// key itself. Needs a server key (`keyward server-keys create`) or an admin key.
#[utoipa::path(
    post,
    path = "/auth/introspect",
    tag = "resource servers",
    security(("server_key" = []), ("admin_key" = [])),
    request_body(
        content(
            (IntrospectRequest = "application/x-www-form-urlencoded"),
            (IntrospectRequest = "application/json"),
        ),
    ),
    responses(
        (status = 200, description = "The token's state (RFC 7662 §2.2).", body = Introspection),
        (status = 401, description = "`unauthorized`: no live server or admin key.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn introspect(
    State(keyward): State<Keyward>,
    _key: ApiKey<ServerOrAdminKeys>,
    IntrospectBody(body): IntrospectBody,
) -> Result<Response, Error> {
    let answer = gateway::introspect(keyward.core(), &body.token, Timestamp::now()).await?;
    let mut response = Json(answer).into_response();
    private(&mut response);
    Ok(response)
}

/// Redeems a connect ticket for a sync server in another process or language, as
/// `Keyward::redeem_connect_ticket` does in process: once, within 30 seconds, at the URL it was
/// issued for, while its session is live. Needs a server key.
#[utoipa::path(
    post,
    path = "/auth/connect-ticket/redeem",
    tag = "resource servers",
    security(("server_key" = [])),
    request_body = RedeemTicket,
    responses(
        (status = 200, description = "Who the ticket speaks for.", body = Envelope<TicketRedeemed>),
        (status = 401, description = "`unauthorized`: no live server key; `invalid_ticket`: the ticket is unknown, used, late, for another URL, or its session ended.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn redeem_ticket(
    State(keyward): State<Keyward>,
    _key: ServerKey,
    ApiJson(body): ApiJson<RedeemTicket>,
) -> Result<Json<Envelope<TicketRedeemed>>, Error> {
    let who = tickets::redeem(keyward.core(), &body.ticket, &body.url, Timestamp::now()).await?;
    Ok(Json(Envelope::new(TicketRedeemed {
        user_id: who.user_id.to_string(),
        session_id: who.session_id.to_string(),
        device_id: who.device_id.map(|id| id.to_string()),
        org: who.org.map(|id| id.to_string()),
        org_role: who.org_role,
        token_expires_at: who.token_expires_at.millis() / 1000,
    })))
}

/// The identity headers a gateway forwards to the app (and must strip from clients' requests).
pub const USER_ID: &str = "x-keyward-user-id";
/// The user's address.
pub const EMAIL: &str = "x-keyward-email";
/// The session.
pub const SESSION_ID: &str = "x-keyward-session-id";
/// The active organization.
pub const ORG: &str = "x-keyward-org";
/// The user's role there.
pub const ORG_ROLE: &str = "x-keyward-org-role";

/// Forward auth, for a gateway in front of an app: nginx `auth_request`, Traefik ForwardAuth,
/// Caddy `forward_auth`. The gateway sends the request's `Authorization` (and `DPoP`) header
/// here; the token is checked as the app's own extractor would, and its session and user in
/// the database. 200 with `X-Keyward-User-Id`, `X-Keyward-Email`, `X-Keyward-Session-Id`,
/// `X-Keyward-Org` and `X-Keyward-Org-Role` (these two empty without an active organization),
/// which the gateway hands to the app; 401 otherwise. For a DPoP-bound token the gateway also sends the
/// request's `X-Forwarded-Method`, `X-Forwarded-Proto`, `X-Forwarded-Host` and
/// `X-Forwarded-Uri`, which the proof must be for (Traefik and Caddy send them; nginx is told
/// to). No key needed: it only says whether a token the caller holds is good.
#[utoipa::path(
    get,
    path = "/auth/forward",
    tag = "resource servers",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token is good: the identity is in the `X-Keyward-*` headers."),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired` or `session_revoked`; for a device-bound token `dpop_required`, `invalid_dpop_proof` or `use_dpop_nonce`.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn forward(
    State(keyward): State<Keyward>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let core = keyward.core();
    let now = Timestamp::now();
    let (claims, _) = verified(core, &headers, now, || forwarded_request(&headers)).await?;
    let checked = gateway::live(core, claims, now).await?;
    let mut response = StatusCode::OK.into_response();
    private(&mut response);
    let claims = &checked.claims;
    let identity = [
        (USER_ID, Some(claims.sub.to_string())),
        (EMAIL, Some(checked.email.clone())),
        (SESSION_ID, Some(claims.sid.to_string())),
        (ORG, claims.org.clone()),
        (ORG_ROLE, claims.org_role.clone()),
    ];
    for (name, value) in identity {
        // Every name, empty when there is no value (no active organization): a gateway that
        // copies the headers without first removing a client's (Caddy's `copy_headers`, some
        // versions) then still overwrites them. Ids, roles and addresses are visible ASCII
        // (addresses are stored in their ASCII form); anything else is refused rather than left
        // out, for the same reason.
        let value = HeaderValue::from_str(value.as_deref().unwrap_or_default())
            .map_err(|_| Error::internal("an identity value that is not a header value"))?;
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), value);
    }
    Ok(response)
}

/// An answer about someone's token is theirs alone: no cache keeps it or hands it to another.
fn private(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Authorization, DPoP"),
    );
}

/// The request the gateway is asking about, as its `X-Forwarded-*` headers describe it, with
/// its `DPoP` header: what a device-bound token's proof must be for. Each header once, with one
/// value (the gateway sets them, as docs/gateways.md shows: a list would mean a client's value
/// came along); the scheme `http` or `https`, a host without a path or user, a path from `/`.
fn forwarded_request(headers: &HeaderMap) -> Result<dpop::Request, Error> {
    let refused = || {
        Error::rejected(
            ErrorCode::InvalidDpopProof,
            "A device-bound token is checked against the request's method and URL: the gateway \
             must forward X-Forwarded-Method, X-Forwarded-Proto, X-Forwarded-Host and \
             X-Forwarded-Uri, once each, with one value.",
        )
    };
    let one = |name: &str| {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => value
                .to_str()
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(refused),
            _ => Err(refused()),
        }
    };
    let method = one("x-forwarded-method")?;
    let proto = one("x-forwarded-proto")?;
    let host = one("x-forwarded-host")?;
    let uri = one("x-forwarded-uri")?;
    let host_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !matches!(proto, "http" | "https") || !host_ok || !uri.starts_with('/') {
        return Err(refused());
    }
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    Ok(dpop::Request {
        proof: dpop_proof(headers)?,
        method: method.to_owned(),
        url: format!("{proto}://{host}{path}"),
    })
}
