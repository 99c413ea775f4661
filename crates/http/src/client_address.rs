//! The address of the client a request came from, seen through the proxies this deployment
//! trusts (`WAYMARK_TRUSTED_PROXIES`), for request budgets and sign-in throttling.
//!
//! Behind a load balancer every request's peer is the balancer, so budgets per peer would be one
//! budget for everybody. A trusted proxy appends the address it received the request from to
//! `X-Forwarded-For`; read from the right, each entry a trusted proxy wrote is believed, and the
//! first address that is not a trusted proxy is the client. Entries further left were written by
//! the client or by proxies nobody vouches for, so they are never read: a client cannot choose
//! its address by sending the header itself.

use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;
use std::net::IpAddr;
use waymark_domain::network::canonical;
pub use waymark_domain::network::AddressBlock;

/// The proxies whose `X-Forwarded-For` entries are believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<AddressBlock>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and blocks; empty trusts nobody.
    pub fn parse(list: &[String]) -> Result<Self, String> {
        list.iter()
            .map(|entry| AddressBlock::parse(entry))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(address))
    }

    /// The client behind `peer`, given the request's headers.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        // Every X-Forwarded-For header, in order, as one list read from its right end.
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for entry in forwarded.iter().rev() {
            match entry.parse::<IpAddr>() {
                Ok(address) => {
                    client = canonical(address);
                    if !self.trusts(client) {
                        break;
                    }
                }
                // A garbled entry ends what can be believed; the proxy that passed it on is
                // the last address known.
                Err(_) => break,
            }
        }
        client
    }
}

/// The client of a request, or `None` when the connection has no peer address (a Unix socket).
pub fn of_service_request(req: &ServiceRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    Some(trusted(req.request()).client_of(peer, req.headers()))
}

/// As [`of_service_request`], for a handler.
pub fn of_request(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    Some(trusted(req).client_of(peer, req.headers()))
}

fn trusted(req: &HttpRequest) -> TrustedProxies {
    req.app_data::<actix_web::web::Data<TrustedProxies>>()
        .map(|proxies| proxies.get_ref().clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            TrustedProxies::default().client_of(ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted = proxies(&["172.28.0.0/16"]);
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            trusted.client_of(ip("172.28.0.5"), &headers),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn entries_the_client_wrote_are_not_believed() {
        let trusted = proxies(&["172.28.0.0/16"]);
        // The client sent "1.2.3.4" itself; the proxy appended the address it saw.
        let headers = forwarded(&["1.2.3.4, 203.0.113.9"]);
        assert_eq!(
            trusted.client_of(ip("172.28.0.5"), &headers),
            ip("203.0.113.9")
        );
        let split = forwarded(&["1.2.3.4", "203.0.113.9"]);
        assert_eq!(
            trusted.client_of(ip("172.28.0.5"), &split),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_walked_through() {
        let trusted = proxies(&["10.0.0.0/8", "172.28.0.2"]);
        let headers = forwarded(&["203.0.113.9, 10.1.1.1"]);
        assert_eq!(
            trusted.client_of(ip("172.28.0.2"), &headers),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_garbled_entry_stops_the_walk() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = forwarded(&["203.0.113.9, unknown, 10.0.0.7"]);
        assert_eq!(trusted.client_of(ip("10.0.0.1"), &headers), ip("10.0.0.7"));
        // Only trusted proxies in the header: the furthest one is all that is known.
        assert_eq!(
            trusted.client_of(ip("10.0.0.1"), &forwarded(&[])),
            ip("10.0.0.1")
        );
    }
}
