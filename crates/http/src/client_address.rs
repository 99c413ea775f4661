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

/// A block of addresses, as in `10.0.0.0/8`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressBlock {
    network: IpAddr,
    prefix: u8,
}

impl AddressBlock {
    /// Parses `address` or `address/prefix`; the address's bits past the prefix must be zero.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or address block"))?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("`{text}` has a prefix length outside 0–{width}"))?,
        };
        let block = Self { network, prefix };
        if !block.contains(network) || masked(network, prefix) != bits(network) {
            return Err(format!("`{text}` has address bits set past its prefix"));
        }
        Ok(block)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        match (self.network, address) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                masked(address, self.prefix) == bits(self.network)
            }
            _ => false,
        }
    }
}

/// An IPv4 address reached over IPv6 (`::ffff:a.b.c.d`) is that IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn masked(address: IpAddr, prefix: u8) -> u128 {
    let width: u32 = if address.is_ipv4() { 32 } else { 128 };
    let host_bits = width - u32::from(prefix);
    let value = bits(address);
    if host_bits >= 128 {
        0
    } else {
        value >> host_bits << host_bits
    }
}

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
    fn blocks_parse_and_contain() {
        let block = AddressBlock::parse("10.0.0.0/8").unwrap();
        assert!(block.contains(ip("10.200.3.4")));
        assert!(!block.contains(ip("11.0.0.1")));
        assert!(block.contains(ip("::ffff:10.1.2.3")));
        assert!(AddressBlock::parse("fd00::/8")
            .unwrap()
            .contains(ip("fd12::1")));
        assert!(AddressBlock::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("8.8.8.8")));
        assert!(AddressBlock::parse("::1").unwrap().contains(ip("::1")));
        assert!(AddressBlock::parse("10.0.0.1/8").is_err());
        assert!(AddressBlock::parse("10.0.0.0/33").is_err());
        assert!(AddressBlock::parse("proxy").is_err());
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
