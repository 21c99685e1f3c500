//! `POST /auth/connect-ticket`.

use axum::Json;
use axum::extract::State;
use keyward_proto::{ConnectTicket, ConnectTicketRequest, Envelope, ErrorEnvelope};

use super::extract::{ApiJson, AuthUser};
use crate::domain::{Random, Timestamp, tickets};
use crate::{Error, Keyward};

/// A connect ticket for a WebSocket or EventSource, which cannot send the access token in a
/// header: single use, valid 30 seconds, bound to this session and to `url` (without its query
/// and fragment). Put it in the URL (`?ticket=…`); the server behind the URL redeems it.
#[utoipa::path(
    post,
    path = "/auth/connect-ticket",
    tag = "tickets",
    security(("bearer" = [])),
    request_body = ConnectTicketRequest,
    responses(
        (status = 200, description = "The ticket.", body = Envelope<ConnectTicket>),
        (status = 400, description = "`invalid_request`: the url is not a ws, wss, http or https URL with a host name or IPv4 address and visible ASCII only, has a user name or password, or is over 2048 characters.", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired` or `session_revoked`; for a device-bound token `dpop_required`, `invalid_dpop_proof` or `use_dpop_nonce`.", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: this session asked this server for more than 120 tickets this minute; `Retry-After` says when to ask again.", body = ErrorEnvelope),
        (status = 503, description = "`unavailable`: on SQLite, where tickets wait in the server's memory, too many are waiting to be used (229,376); try again shortly.", body = ErrorEnvelope),
    )
)]
pub(crate) async fn connect_ticket(
    State(keyward): State<Keyward>,
    user: AuthUser,
    ApiJson(body): ApiJson<ConnectTicketRequest>,
) -> Result<Json<Envelope<ConnectTicket>>, Error> {
    let ticket = tickets::issue(
        keyward.core(),
        &user.claims,
        &body.url,
        Timestamp::now(),
        &Random::os(),
    )
    .await?;
    Ok(Json(Envelope::new(ticket)))
}
