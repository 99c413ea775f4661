//! Addresses and blocks of them: the proxies the service trusts, and where webhooks may and may
//! not be delivered.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
pub fn canonical(address: IpAddr) -> IpAddr {
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

/// Whether a webhook may be delivered to `address`: only to addresses on the public internet,
/// unless `allowed` names a block it is in (a deployment's own network, say). Refused: loopback,
/// private (RFC 1918, unique local), link-local (cloud metadata lives there), carrier-grade NAT,
/// unspecified, multicast, broadcast and reserved, documentation and benchmarking ranges, and
/// IPv4 addresses reached through IPv6 (mapped, NAT64, 6to4) by the IPv4 rules.
pub fn deliverable(address: IpAddr, allowed: &[AddressBlock]) -> bool {
    let address = canonical(address);
    if allowed.iter().any(|block| block.contains(address)) {
        return true;
    }
    match address {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

fn public_v6(v6: Ipv6Addr) -> bool {
    let segments = v6.segments();
    let embedded_v4 = |high: u16, low: u16| {
        Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8)
    };
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach an IPv4 address: judge that.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return public_v4(embedded_v4(segments[6], segments[7]));
    }
    if segments[0] == 0x2002 {
        return public_v4(embedded_v4(segments[1], segments[2]));
    }
    !(v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] == 0x2001 && segments[1] == 0x0db8)
        || v6.to_ipv4_mapped().is_some()
        || segments[..6] == [0, 0, 0, 0, 0, 0])
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn webhooks_go_only_to_the_public_internet_unless_a_block_is_allowed() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.10",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "::127.0.0.1",
        ] {
            assert!(!deliverable(ip(refused), &[]), "{refused}");
        }
        for public in [
            "8.8.8.8",
            "81.2.69.142",
            "2a00:1450:4009:81f::200e",
            "64:ff9b::808:808",
        ] {
            assert!(deliverable(ip(public), &[]), "{public}");
        }
        let own_network = [AddressBlock::parse("10.20.0.0/16").unwrap()];
        assert!(deliverable(ip("10.20.3.4"), &own_network));
        assert!(!deliverable(ip("10.21.3.4"), &own_network));
        let loopback = [AddressBlock::parse("127.0.0.0/8").unwrap()];
        assert!(deliverable(ip("::ffff:127.0.0.1"), &loopback));
    }
}
