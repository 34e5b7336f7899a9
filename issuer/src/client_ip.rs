//! The client's address: the socket peer, or what a trusted proxy says it forwarded for.

use std::net::IpAddr;

use http::HeaderMap;

/// The peer, unless the peer is a trusted proxy: then the right-most `X-Forwarded-For` entry
/// that is not itself a trusted proxy. Entries further left are the client's own claims and
/// are never believed; anything unparsable stops the walk at the last trusted hop.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
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
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
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
}
