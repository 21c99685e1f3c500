//! Connect tickets: how a signed-in client opens a WebSocket or an EventSource, which cannot
//! carry its access token in a header.
//!
//! The client asks for a ticket for the URL it is about to open (`POST /auth/connect-ticket`,
//! with its access token, and for a device-bound session a DPoP proof: the proof of the device
//! key is checked here, since the handshake cannot carry one), then puts the ticket in that URL
//! (`?ticket=…`). The server behind the URL redeems it (in process:
//! `Keyward::redeem_connect_ticket`) and learns who is connecting. A ticket is:
//!
//! - 256 random bits (`kwt_` + base64url); only its SHA-256 is kept: on PostgreSQL in the
//!   database, so that any server process sharing it redeems the ticket; on SQLite, which one
//!   server process serves, in that process's memory (a restart forgets the tickets not yet
//!   used, and the client asks for another, as for one too old);
//! - good once: redeeming deletes it (on PostgreSQL in one statement), so of two redemptions at
//!   once exactly one succeeds; a redemption that is refused (another URL, too late) uses it up
//!   as well, so it cannot be tried twice;
//! - good for 30 seconds: long enough to open a connection, short enough that a ticket seen in a
//!   log or a proxy's access line (it travels in a URL) is dead;
//! - good at one URL: scheme, host, port and path, after normalisation (lower-case scheme and
//!   host, no default port), without the query and fragment, as DPoP compares a proof's `htu`;
//!   a ticket for one server cannot be replayed to another;
//! - good while its session is: a ticket of a session revoked since (sign-out, its device
//!   revoked, reuse detected) or of a user deleted since is refused;
//! - asked for at most 120 times a minute per session from each server process (`rate_limited`
//!   past that, while rate limits are on): each waits until used or 30 s old, so one session
//!   cannot fill the room every user's tickets share.
//!
//! Every refusal at redemption is the same `invalid_ticket`, whichever check failed: the answer
//! tells whoever holds a ticket nothing about it.

use std::time::Duration;

use keyward_proto::{ConnectTicket, ErrorCode};

use super::core::Core;
use super::tokens::AccessClaims;
use super::{DeviceId, OrgId, Random, SessionId, Timestamp, UserId, b64, sha256, unb64};
use crate::Error;
use crate::store::TicketRow;

/// How long a ticket can be redeemed.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

/// The longest URL a ticket can be bound to.
const MAX_URL_LEN: usize = 2048;

const TICKET_PREFIX: &str = "kwt_";

/// Who a redeemed connect ticket speaks for: the user, the session that asked for it and, for a
/// device-bound session, its device; and the organization the session acts for, with the
/// user's role there, as of the redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TicketIdentity {
    /// The user.
    pub user_id: UserId,
    /// The session that asked for the ticket (the access token's `sid`).
    pub session_id: SessionId,
    /// The device the session is bound to (DPoP); `None` for a Bearer session.
    pub device_id: Option<DeviceId>,
    /// The organization the session acts for, when one is active and the user is still in it.
    pub org: Option<OrgId>,
    /// The user's role in it.
    pub org_role: Option<String>,
    /// When the access token behind it expires: a live connection opened with it ends then,
    /// unless renewed ([`crate::sync::Connection::renew`]).
    pub token_expires_at: Timestamp,
}

/// A ticket, parsed: `kwt_` and 32 bytes in base64url.
#[derive(Clone, PartialEq, Eq)]
struct Ticket(String);

impl Ticket {
    fn generate(random: &Random) -> Self {
        Self(format!("{TICKET_PREFIX}{}", b64(&random.bytes::<32>())))
    }

    /// `None` for anything that is not one of ours, so garbage never reaches the database.
    fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix(TICKET_PREFIX)?;
        (body.len() == 43 && unb64(body).is_some_and(|bytes| bytes.len() == 32))
            .then(|| Self(text.to_owned()))
    }

    /// What is kept of it (in the database, or on SQLite in memory).
    fn hash(&self) -> Vec<u8> {
        sha256(self.0.as_bytes()).to_vec()
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ticket(<redacted>)")
    }
}

/// A URL a ticket is bound to, normalised as the WHATWG URL standard does (scheme and host
/// lower-cased, the scheme's default port dropped, dot segments resolved, an empty path as
/// `/`), without its query and fragment.
///
/// Accepted: `ws`, `wss`, `http` or `https` (any case), `://`, a host name of ASCII labels
/// (letters, digits and single inner hyphens; the last label starts with a letter, so that it
/// is not read as an IPv4 address) or a dotted IPv4 address, an optional port up to 65535, then
/// any visible ASCII starting with `/`, `?` or `#`; at most 2048 characters. Exactly what the
/// OpenAPI document's pattern for `url` says (see `ConnectTicketRequest`), so a client can check
/// before sending. Left out: user names and passwords, IPv6 literals, and internationalised
/// names (in their `xn--` form a label could fail to decode, which no pattern can tell).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConnectUrl(String);

impl ConnectUrl {
    fn parse(text: &str) -> Option<Self> {
        if text.len() > MAX_URL_LEN || !fits_pattern(text) {
            return None;
        }
        let mut url = url::Url::parse(text).ok()?;
        url.set_query(None);
        url.set_fragment(None);
        Some(Self(url.into()))
    }
}

/// Whether `text` fits the pattern described at [`ConnectUrl`].
fn fits_pattern(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    if !["ws", "wss", "http", "https"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
    {
        return false;
    }
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if !tail.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    port.is_none_or(is_port) && (is_host_name(host) || is_ipv4(host))
}

/// 1 to 4 digits, or 5 not starting with `0`, up to 65535.
fn is_port(port: &str) -> bool {
    let digits = port.bytes().all(|b| b.is_ascii_digit());
    match port.len() {
        1..=4 => digits,
        5 => digits && !port.starts_with('0') && port.parse::<u32>().is_ok_and(|p| p <= 65_535),
        _ => false,
    }
}

/// Dot-separated labels of ASCII letters and digits with single hyphens inside; the last label
/// starts with a letter.
fn is_host_name(host: &str) -> bool {
    let label = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && !label.contains("--")
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let last_starts_with_a_letter = host
        .rsplit('.')
        .next()
        .and_then(|last| last.bytes().next())
        .is_some_and(|b| b.is_ascii_alphabetic());
    last_starts_with_a_letter && host.split('.').all(label)
}

/// Four decimal octets, 0 to 255, without leading zeros.
fn is_ipv4(host: &str) -> bool {
    let octet = |octet: &str| {
        (1..=3).contains(&octet.len())
            && octet.bytes().all(|b| b.is_ascii_digit())
            && (octet == "0" || !octet.starts_with('0'))
            && octet.parse::<u16>().is_ok_and(|n| n <= 255)
    };
    host.split('.').count() == 4 && host.split('.').all(octet)
}

fn refused() -> Error {
    Error::rejected(
        ErrorCode::InvalidTicket,
        "The ticket is unknown, used, expired or for another URL. Get a new one.",
    )
}

/// `POST /auth/connect-ticket`: a ticket for the caller's session, good once, for 30 seconds,
/// at `url`.
pub async fn issue(
    core: &Core,
    claims: &AccessClaims,
    url: &str,
    now: Timestamp,
    random: &Random,
) -> Result<ConnectTicket, Error> {
    let url = ConnectUrl::parse(url).ok_or_else(|| {
        Error::rejected(
            ErrorCode::InvalidRequest,
            "The url must be a ws, wss, http or https URL with a host name or IPv4 address, an \
             optional port, and visible ASCII only (no user name or password), at most 2048 \
             characters.",
        )
    })?;
    core.ticket_counts.check(
        core.settings.rate_limits,
        super::limits::CONNECT_TICKETS_PER_SESSION,
        claims.sid,
        now,
    )?;
    let ticket = Ticket::generate(random);
    let row = TicketRow {
        hash: ticket.hash(),
        session_id: claims.sid,
        user_id: claims.sub,
        url: url.0,
        expires_at: now.plus(TICKET_TTL).millis(),
        token_expires_at: claims.exp.saturating_mul(1000),
    };
    // The access token was good, but its session may have been revoked by another server a
    // moment ago (revocations reach the others within a second): the ticket is then not kept.
    if !core.store.insert_connect_ticket(&row).await? {
        return Err(Error::rejected(
            ErrorCode::SessionRevoked,
            "This session has been signed out.",
        ));
    }
    Ok(ConnectTicket {
        ticket: ticket.0,
        expires_in: TICKET_TTL.as_secs(),
    })
}

/// Notes that `device` was seen at `now`, without waiting: for the device list, not a
/// condition of anything.
pub(crate) fn seen(core: &Core, device: &DeviceId, now: Timestamp) {
    core.store.note_device_seen(device, now.millis());
}

/// Redeems `ticket` at `url` (the URL the redeeming server serves, as the client addressed it):
/// uses it up, then checks it is on time, for this URL, and that its session is live. Every
/// refusal is `invalid_ticket`; a `url` that is not a URL is the caller's mistake,
/// `invalid_request`, and leaves the ticket unused.
pub async fn redeem(
    core: &Core,
    ticket: &str,
    url: &str,
    now: Timestamp,
) -> Result<TicketIdentity, Error> {
    let url = ConnectUrl::parse(url).ok_or_else(|| {
        Error::rejected(
            ErrorCode::InvalidRequest,
            "A ticket is redeemed at a ws, wss, http or https URL with a host name or IPv4 \
             address, an optional port, and visible ASCII only (no user name or password), at \
             most 2048 characters.",
        )
    })?;
    let ticket = Ticket::parse(ticket).ok_or_else(refused)?;
    let redeemed = core
        .store
        .redeem_connect_ticket(&ticket.hash(), &url.0)
        .await?
        .ok_or_else(refused)?;
    let on_time = now < Timestamp::from_millis(redeemed.expires_at);
    let live = redeemed.live_user == Some(redeemed.user_id);
    if !(on_time && redeemed.here && live) {
        return Err(refused());
    }
    let (org, org_role) = match (redeemed.org_id, redeemed.org_role) {
        (Some(org), Some(role)) => (Some(org), Some(role)),
        _ => (None, None),
    };
    if let Some(device) = &redeemed.device_id {
        seen(core, device, now);
    }
    Ok(TicketIdentity {
        user_id: redeemed.user_id,
        session_id: redeemed.session_id,
        device_id: redeemed.device_id,
        org,
        org_role,
        // A ticket from before the token's expiry was kept: as long as the ticket itself.
        token_expires_at: Timestamp::from_millis(
            redeemed.token_expires_at.unwrap_or(redeemed.expires_at),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tickets_parse_and_none_prints() {
        let ticket = Ticket::generate(&Random::seeded(3));
        assert!(ticket.0.starts_with("kwt_") && ticket.0.len() == 47);
        assert_eq!(Ticket::parse(&ticket.0), Some(ticket.clone()));
        let refresh = format!("kwr_{}", &ticket.0[4..]);
        for bad in ["", "kwt_", "kwt_short", &ticket.0[1..], &refresh] {
            assert_eq!(Ticket::parse(bad), None, "{bad}");
        }
        assert!(!format!("{ticket:?}").contains(&ticket.0[4..]));
    }

    #[test]
    fn urls_compare_without_query_fragment_default_port_or_case() {
        let url = |text: &str| ConnectUrl::parse(text).map(|u| u.0);
        assert_eq!(
            url("WSS://Sync.Example.COM:443/ws?room=1#top").as_deref(),
            Some("wss://sync.example.com/ws")
        );
        assert_eq!(url("ws://localhost:80").as_deref(), Some("ws://localhost/"));
        assert_eq!(
            url("http://127.0.0.1:8787/a/../events").as_deref(),
            Some("http://127.0.0.1:8787/events")
        );
        assert_ne!(url("wss://a.example/WS"), url("wss://a.example/ws"));
        for good in [
            "ws://a",
            "wss://a-b.c-d.example:65535/x?y#z",
            "https://0.10.200.255:0000/",
            "http://9.example.com:12345",
            "wss://a.example/%zz/@/\\x",
        ] {
            assert!(url(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "/ws",
            "ws:/a/ws",
            "ftp://a.example/x",
            "javascript:alert(1)",
            "mailto:a@example.com",
            "wss://user:pw@a.example/ws",
            "wss://user@a.example/ws",
            "wss://[::1]/ws",
            "wss://xn--bcher-kva.example/ws",
            "wss://a..example/ws",
            "wss://-a.example/ws",
            "wss://a-.example/ws",
            "wss://example.1/ws",
            "wss://example.com./ws",
            "wss://1.2.3/ws",
            "wss://1.2.3.256/ws",
            "wss://01.2.3.4/ws",
            "wss://a.example:65536/ws",
            "wss://a.example:00080/ws",
            "wss://a.example:/ws",
            "wss://a.example:8:9/ws",
            "wss://a.example/w s",
            "wss://a.example/\u{e9}",
            "wss://a.example\\ws",
            "wss://a*.example/ws",
        ] {
            assert_eq!(url(bad), None, "{bad}");
        }
        let long = format!("wss://a.example/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(url(&long), None);
    }
}
