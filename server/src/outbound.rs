//! Requests the server makes to others (OAuth providers, webhook endpoints): TLS on the same
//! aws-lc-rs provider as the rest of the process, and, for addresses operators or attackers may
//! name, a resolver that refuses every address that is not public.
//!
//! The check happens where the address is resolved for the connection itself, so a name that
//! resolves to a public address when an endpoint is made and to `127.0.0.1` when a delivery
//! connects (DNS rebinding) is still refused: reqwest connects only to what the resolver gave.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::Error;

/// A TLS client configuration trusting the Web PKI roots (webpki-roots), on aws-lc-rs.
pub fn tls(what: &str) -> Result<rustls::ClientConfig, Error> {
    let crypto = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(crypto)
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::internal(format!("TLS for {what}: {err}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An HTTP client that follows no redirect (an endpoint must not lead the server elsewhere),
/// with `timeout` per request; with `public_only`, it connects only to public addresses, and
/// never through a proxy from the environment.
pub fn client(what: &str, timeout: Duration, public_only: bool) -> Result<reqwest::Client, Error> {
    let builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls(what)?)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout);
    // A proxy would resolve the name itself, past the check.
    let builder = if public_only {
        builder.no_proxy().dns_resolver(Arc::new(PublicOnly))
    } else {
        builder
    };
    builder
        .build()
        .map_err(|err| Error::internal(format!("HTTP client for {what}: {err}")))
}

/// Resolves names with the system resolver and keeps only public addresses: a name with none
/// left fails to resolve.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = public_addresses(&host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why a host cannot be reached from here.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// It does not resolve.
    #[error("`{0}` does not resolve: {1}")]
    Unresolved(String, String),
    /// It resolves only to addresses that are not public.
    #[error("`{0}` is not a public address (private, loopback, link-local or reserved)")]
    NotPublic(String),
}

/// The public addresses `host` (a name or an address) resolves to; refused when there is none.
pub async fn public_addresses(host: &str) -> Result<Vec<SocketAddr>, Refused> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return if is_public(ip) {
            Ok(vec![SocketAddr::new(ip, 0)])
        } else {
            Err(Refused::NotPublic(host.to_owned()))
        };
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, 0))
        .await
        .map_err(|err| Refused::Unresolved(host.to_owned(), err.to_string()))?
        .collect();
    let public: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| is_public(a.ip()))
        .collect();
    if public.is_empty() || public.len() < addrs.len() {
        // A name with one private address among public ones is refused too: which one a
        // connection gets is not ours to choose.
        Err(Refused::NotPublic(host.to_owned()))
    } else {
        Ok(public)
    }
}

/// Whether `ip` is an address on the public internet: not private (RFC 1918, unique local),
/// loopback, link-local (cloud metadata lives there), shared (CGNAT), documentation,
/// benchmarking, multicast, reserved or unspecified; an IPv4 address embedded in IPv6 is judged
/// as itself.
///
/// Written out rather than taken from `std`: `IpAddr::is_global` is still unstable.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let [a, b, ..] = v6.segments();
            // NAT64 (64:ff9b::/96): the IPv4 address in its last 32 bits.
            if v6.segments().starts_with(&[0x64, 0xff9b, 0, 0, 0, 0]) {
                let [.., w, x, y, z] = v6.octets();
                return is_public_v4(Ipv4Addr::new(w, x, y, z));
            }
            // The local-use NAT64 prefix (64:ff9b:1::/48), and IPv4-translated addresses
            // (::ffff:0:a.b.c.d): whatever they wrap, not ours to reach.
            if v6.segments().starts_with(&[0x64, 0xff9b, 1])
                || v6.segments().starts_with(&[0, 0, 0, 0, 0xffff, 0])
            {
                return false;
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (a & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (a & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (a & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (a == 0x2001 && b < 0x0200) // IETF protocol assignments 2001::/23, Teredo
                || (a == 0x2001 && b == 0x0db8) // documentation
                || a == 0x2002 // 6to4: may wrap any IPv4 address
                || v6.segments().starts_with(&[0x100, 0, 0, 0]) // discard-only 100::/64
                || is_v4_compatible(v6))
        }
    }
}

/// `::a.b.c.d` (deprecated IPv4-compatible addresses).
fn is_v4_compatible(v6: Ipv6Addr) -> bool {
    v6.segments().starts_with(&[0, 0, 0, 0, 0, 0])
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(a == 0 // "this network"
        || v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || v4.is_documentation()
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || v4.is_multicast()
        || a >= 240) // reserved, and the broadcast address
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().unwrap())
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "::127.0.0.1",
            "64:ff9b:1::808:808",
            "::ffff:0:808:808",
        ] {
            assert!(!public(private), "{private} is not public");
        }
        for public_ip in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(public(public_ip), "{public_ip} is public");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        assert!(matches!(
            public_addresses("localhost").await,
            Err(Refused::NotPublic(_))
        ));
        assert!(matches!(
            public_addresses("[::1]").await,
            Err(Refused::NotPublic(_))
        ));
        assert!(public_addresses("93.184.216.34").await.is_ok());
    }
}
