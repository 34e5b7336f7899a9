//! The client's address: the socket peer, or what a trusted proxy says it forwarded for.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// `TRUSTED_PROXIES`: `10.0.0.0/8, 192.168.1.1`, CIDRs or single addresses (a /32 or /128).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl common::settings::FromSetting for TrustedProxies {
    fn from_setting(list: &str, _: &common::settings::Kind) -> Result<Self, String> {
        let cidr = |text: &str| {
            text.parse()
                .ok()
                .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
        };
        let entries = list.split(',').map(str::trim).filter(|e| !e.is_empty());
        let proxies = entries.map(cidr).collect::<Option<Vec<_>>>();
        proxies
            .map(TrustedProxies)
            .ok_or_else(|| "must be a comma-separated list of CIDRs or addresses".to_owned())
    }
}

/// The peer, unless the peer is a trusted proxy: then the right-most `X-Forwarded-For` entry
/// that is not itself a trusted proxy. Entries further left are the client's own claims and
/// are never believed; anything unparsable stops the walk at the last trusted hop.
///
/// Every address is canonical ([`IpAddr::to_canonical`]): on a dual-stack listener an IPv4
/// peer arrives as `::ffff:a.b.c.d`, and a proxy may forward either spelling. The IPv4 form is
/// what `TRUSTED_PROXIES` is matched against and what rate limits, lockout, stored login
/// addresses and events see, so one client has one address whichever way it came.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(&peer, trusted) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !is_trusted(&client, trusted) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// `ip` is canonical; an IPv4 address also matches an entry written in its IPv4-mapped IPv6
/// form (`::ffff:10.0.0.0/104`), so either spelling in `TRUSTED_PROXIES` works.
fn is_trusted(ip: &IpAddr, trusted: &[ipnet::IpNet]) -> bool {
    let mapped = match ip {
        IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
        IpAddr::V6(_) => None,
    };
    trusted
        .iter()
        .any(|net| net.contains(ip) || mapped.is_some_and(|mapped| net.contains(&mapped)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in xff {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(ip("203.0.113.9"), &headers(&["1.2.3.4"]), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("203.0.113.9"), &headers(&[]), &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_peer_forwards_the_right_most_untrusted_hop() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let forwarded = headers(&["198.51.100.7, 203.0.113.5, 10.1.1.1"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &forwarded, &trusted),
            ip("203.0.113.5")
        );
        let split = headers(&["198.51.100.7", "203.0.113.5"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &split, &trusted),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn garbage_in_the_header_stops_at_the_last_trusted_hop() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&["not-an-ip"]), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&["1.2.3.4, junk"]), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&[]), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn an_ipv4_mapped_peer_is_matched_and_reported_as_ipv4() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        // A dual-stack listener sees an IPv4 proxy as ::ffff:10.0.0.2.
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), &headers(&["203.0.113.5"]), &trusted),
            ip("203.0.113.5")
        );
        // An untrusted mapped peer is the client, in its IPv4 form.
        assert_eq!(
            client_ip(ip("::ffff:203.0.113.9"), &headers(&["1.2.3.4"]), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), &headers(&[]), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn forwarded_hops_are_canonical_too() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        // A mapped trusted hop is skipped like its IPv4 form; a mapped client is reported as IPv4.
        let forwarded = headers(&["::ffff:198.51.100.7, ::ffff:10.1.1.1"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &forwarded, &trusted),
            ip("198.51.100.7")
        );
        // A real IPv6 client stays IPv6.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&["2001:db8::1"]), &trusted),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn a_trusted_entry_in_mapped_form_matches_an_ipv4_peer() {
        let trusted = vec!["::ffff:10.0.0.0/104".parse().unwrap()];
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&["203.0.113.5"]), &trusted),
            ip("203.0.113.5")
        );
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), &headers(&["203.0.113.5"]), &trusted),
            ip("203.0.113.5")
        );
    }
}
