//! Who is asking: the client's address (for rate limits, lockouts and the audit log) and its
//! `User-Agent`.
//!
//! The address is the TCP peer's, unless that peer is one of the `trusted_proxies`: then the
//! forwarding header the proxies write (`X-Forwarded-For` by default, or RFC 7239 `Forwarded`)
//! is read from the right, skipping trusted proxies, and the first address that is not one is
//! the client. Everything left of it was written by the client and is never believed; a request
//! that does not come from a trusted proxy is taken at its peer address whatever its headers
//! say. Only one header is read: a proxy that appends to one passes the other through from the
//! client untouched.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use ipnet::IpNet;

use crate::Keyward;
use crate::domain::audit::Client;
use crate::settings::ForwardedHeader;

/// The longest `User-Agent` kept (sessions list it; nobody needs more).
const MAX_USER_AGENT: usize = 512;

/// Whether the missing-peer warning was logged (once per process is enough).
static WARNED_NO_PEER: AtomicBool = AtomicBool::new(false);

impl<S> FromRequestParts<S> for Client
where
    S: Send + Sync,
    Keyward: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keyward = Keyward::from_ref(state);
        let settings = &keyward.core().settings;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        if peer.is_none() && !WARNED_NO_PEER.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "requests carry no peer address, so every client shares one rate-limit bucket: \
                 serve the router with `into_make_service_with_connect_info::<SocketAddr>()`"
            );
        }
        let ip = peer.map(|peer| {
            address(
                peer,
                &parts.headers,
                &settings.trusted_proxies,
                settings.forwarded_header,
            )
        });
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| truncate(agent, MAX_USER_AGENT).to_owned());
        Ok(Self {
            ip: ip.map(|ip| ip.to_string()),
            user_agent,
        })
    }
}

/// The client's address: `peer`, or, when `peer` is a trusted proxy, the rightmost address in
/// the forwarding header that is not a trusted proxy.
fn address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet], which: ForwardedHeader) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers, which);
    let mut client = peer;
    for hop in hops.iter().rev() {
        // An entry that is not an address (`unknown`, an obfuscated name) ends the chain: the
        // hop that wrote it (trusted) is as far as anything can be believed.
        let Some(ip) = hop else { break };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// The addresses in the forwarding header, left to right, over every instance of it; `None`
/// for an entry that is not an address.
fn forwarded_hops(headers: &HeaderMap, which: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let name = match which {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let mut hops = Vec::new();
    for value in headers.get_all(name) {
        // A header that is not ASCII cannot be read: it ends the chain like a bad entry.
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in value.split(',') {
            let hop = match which {
                ForwardedHeader::XForwardedFor => parse_node(element),
                ForwardedHeader::Forwarded => element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, node)| parse_node(node)),
            };
            hops.push(hop);
        }
    }
    hops
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`,
/// `[2001:db8::1]:443`, optionally in quotes (RFC 7239).
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    // `[2001:db8::1]` without a port.
    text.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse().ok())
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peers_header_is_read_and_from_the_right() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        let xff = ForwardedHeader::XForwardedFor;
        let spoofed = headers("x-forwarded-for", &["1.2.3.4, 198.51.100.7"]);
        assert_eq!(
            address(ip("10.1.2.3"), &spoofed, &trusted, xff),
            ip("198.51.100.7")
        );
        assert_eq!(
            address(ip("192.0.2.9"), &spoofed, &trusted, xff),
            ip("192.0.2.9"),
            "an untrusted peer's header is ignored"
        );
        let chain = headers(
            "x-forwarded-for",
            &["203.0.113.1", "198.51.100.7, 10.0.0.5"],
        );
        assert_eq!(
            address(ip("10.0.0.6"), &chain, &trusted, xff),
            ip("198.51.100.7")
        );
        let all_trusted = headers("x-forwarded-for", &["10.0.0.7"]);
        assert_eq!(
            address(ip("10.0.0.6"), &all_trusted, &trusted, xff),
            ip("10.0.0.7")
        );
        let garbage = headers("x-forwarded-for", &["203.0.113.1, unknown"]);
        assert_eq!(
            address(ip("10.0.0.6"), &garbage, &trusted, xff),
            ip("10.0.0.6")
        );
        assert_eq!(
            address(ip("10.0.0.6"), &HeaderMap::new(), &trusted, xff),
            ip("10.0.0.6")
        );
        assert_eq!(
            address(ip("::ffff:10.0.0.6"), &spoofed, &trusted, xff),
            ip("198.51.100.7"),
            "an IPv4 peer on a dual-stack socket"
        );
    }

    #[test]
    fn the_forwarded_header_is_read_only_when_chosen() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let both = {
            let mut map = headers(
                "forwarded",
                &[r#"for=192.0.2.60;proto=https, For="[2001:db8:cafe::17]:4711""#],
            );
            map.append("x-forwarded-for", "198.51.100.1".parse().unwrap());
            map
        };
        assert_eq!(
            address(ip("10.0.0.1"), &both, &trusted, ForwardedHeader::Forwarded),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            address(
                ip("10.0.0.1"),
                &both,
                &trusted,
                ForwardedHeader::XForwardedFor
            ),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn long_user_agents_are_cut_on_a_character_boundary() {
        let agent = "é".repeat(300);
        let cut = truncate(&agent, MAX_USER_AGENT);
        assert!(cut.len() <= MAX_USER_AGENT && cut.chars().all(|c| c == 'é'));
    }
}
