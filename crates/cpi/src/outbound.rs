//! Where IntegraMon may send requests: the one place that decides which outbound targets are
//! allowed, for every outbound call (tenants' API and token URLs today; webhooks and SMTP use the
//! same pieces: [`client_builder`] for HTTP, [`check_addr`] for anything that connects itself).
//!
//! Two rules:
//! * Redirects are followed only within the same origin (scheme, host and port), at most
//!   [`MAX_REDIRECTS`] times. A redirect elsewhere is an error that names the target, so a
//!   server cannot bounce our credentials or our read access to a host the operator did not
//!   configure (e.g. `127.0.0.1:9100/metrics`).
//! * With `OUTBOUND_DENY_PRIVATE=true` ([`OutboundPolicy::deny_private`]), private, loopback,
//!   link-local and other non-global addresses are refused. The check runs on the addresses a
//!   name resolves to, inside the HTTP client's resolver, right before connecting: a name that
//!   resolves to `127.0.0.1`, a redirect to such a name, or DNS that changes its answer between
//!   a check and the connect cannot get around it. IP literals never reach a resolver, so they
//!   are checked on the URL before each request and each redirect.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Redirects followed within one origin before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Every refusal's text contains this, so callers can tell it from other connect failures.
pub const REFUSED_MARKER: &str = "refused by OUTBOUND_DENY_PRIVATE";

/// The operator's rules for outbound calls (`OUTBOUND_DENY_PRIVATE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Refuse private, loopback, link-local and other non-global targets. Off by default:
    /// relays, proxies and test tenants often live inside the network.
    pub deny_private: bool,
}

impl OutboundPolicy {
    pub fn deny_private() -> Self {
        Self { deny_private: true }
    }
}

/// A target the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub target: String,
    pub addr: IpAddr,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {} ({}), {REFUSED_MARKER}",
            self.target,
            describe(self.addr),
            self.addr
        )
    }
}

impl StdError for Refused {}

/// A redirect to another origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossOriginRedirect {
    pub from: String,
    pub to: String,
}

/// Every cross-origin redirect's text contains this.
pub const REDIRECT_MARKER: &str = "redirect to another host refused";

impl fmt::Display for CrossOriginRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{REDIRECT_MARKER}: {} redirected to {}; IntegraMon follows redirects only within the same scheme, host and port",
            self.from, self.to
        )
    }
}

impl StdError for CrossOriginRedirect {}

/// True for addresses that are not on the public internet: loopback, private (RFC 1918, IPv6
/// unique local), link-local, shared (CGNAT), unspecified, broadcast, multicast, documentation
/// and benchmarking ranges, and IPv4 addresses hidden in IPv6 (mapped, compatible, NAT64).
pub fn is_non_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_non_global(v4),
        IpAddr::V6(v6) => v6_non_global(v6),
    }
}

fn v4_non_global(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn v6_non_global(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_non_global(v4);
    }
    let s = ip.segments();
    // ::a.b.c.d (deprecated IPv4-compatible) and 64:ff9b::/96 (NAT64) reach an IPv4 host.
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return v4_non_global(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_non_global(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
}

fn describe(ip: IpAddr) -> &'static str {
    let loopback = match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    if loopback {
        "a loopback address"
    } else {
        "a private, link-local or otherwise non-public address"
    }
}

/// Checks one address against the policy. For callers that connect by themselves (SMTP): call
/// it on the address actually connected to.
pub fn check_addr(policy: OutboundPolicy, target: &str, ip: IpAddr) -> Result<(), Refused> {
    if policy.deny_private && is_non_global(ip) {
        return Err(Refused {
            target: target.to_string(),
            addr: ip,
        });
    }
    Ok(())
}

/// Checks a URL whose host is an IP literal (names are checked when they are resolved).
pub fn check_url(policy: OutboundPolicy, url: &Url) -> Result<(), Refused> {
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    check_addr(policy, &origin(url), ip)
}

fn origin(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => url.as_str().to_string(),
    }
}

/// Same scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A reqwest client builder with the outbound rules in place: the checking resolver, the
/// same-origin redirect policy and no proxy from the environment (a proxy would connect for us,
/// out of the resolver's sight). Add timeouts, TLS and the user agent on top.
pub fn client_builder(policy: OutboundPolicy) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(Arc::new(CheckingResolver { policy }))
        .redirect(redirect_policy(policy))
}

fn redirect_policy(policy: OutboundPolicy) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let first = attempt.previous().first().cloned();
        let hops = attempt.previous().len();
        let next = attempt.url().clone();
        if let Some(first) = &first
            && !same_origin(first, &next)
        {
            return attempt.error(CrossOriginRedirect {
                from: origin(first),
                to: next.to_string(),
            });
        }
        if let Err(e) = check_url(policy, &next) {
            return attempt.error(e);
        }
        if hops > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        attempt.follow()
    })
}

/// Resolves with the system resolver, then drops refused addresses; fails when none is left.
struct CheckingResolver {
    policy: OutboundPolicy,
}

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match check_addr(policy, &host, a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused.get_or_insert(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty()
                && let Some(e) = refused
            {
                return Err(Box::new(e) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_global_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fc12::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "ff02::1",
        ] {
            assert!(is_non_global(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_non_global(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ip_literal_urls_are_checked_only_when_denying() {
        let url = Url::parse("http://[::1]:8080/api/v1").unwrap();
        assert!(check_url(OutboundPolicy::default(), &url).is_ok());
        let e = check_url(OutboundPolicy::deny_private(), &url).unwrap_err();
        assert!(e.to_string().contains(REFUSED_MARKER), "{e}");
        assert!(e.to_string().contains("loopback"), "{e}");
        let named = Url::parse("http://localhost:8080/api/v1").unwrap();
        assert!(check_url(OutboundPolicy::deny_private(), &named).is_ok());
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = Url::parse("https://t.example.com/api/v1").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("https://t.example.com:443/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://t.example.com/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://t.example.com:8443/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://evil.example/x").unwrap()
        ));
    }
}
