//! The [`TrafficSelector`] type with the set operations a responder needs to narrow a proposal (RFC
//! 7296 section 2.9). Version-neutral: IKEv2 carries selectors in TSi/TSr payloads, IKEv1 in Quick
//! Mode ID payloads (subnet and range types), and the kernel ops name them the same way either way;
//! the payload codecs are the protocol crates'.

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address range with an IP protocol and a port range. Start and end address are always of the
/// same family (the constructors and the decoder guarantee it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrafficSelector {
    ip_proto: u8,
    start_port: u16,
    end_port: u16,
    start_addr: IpAddr,
    end_addr: IpAddr,
}

/// Why a traffic selector could not be built or parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsError {
    pub input: String,
    pub reason: &'static str,
}

impl fmt::Display for TsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "traffic selector {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for TsError {}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a).into(),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v: u128, v4: bool) -> IpAddr {
    if v4 {
        // Only called with values derived from IPv4 addresses, which fit.
        IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX)))
    } else {
        IpAddr::V6(Ipv6Addr::from(v))
    }
}

fn addr_bits(v4: bool) -> u8 {
    if v4 {
        32
    } else {
        128
    }
}

impl TrafficSelector {
    /// A selector from its parts. Fails if the addresses are of different families or the range is
    /// reversed.
    pub fn new(
        ip_proto: u8,
        ports: (u16, u16),
        start_addr: IpAddr,
        end_addr: IpAddr,
    ) -> Result<Self, TsError> {
        let err = |reason| TsError {
            input: format!("{start_addr}-{end_addr}"),
            reason,
        };
        if start_addr.is_ipv4() != end_addr.is_ipv4() {
            return Err(err("start and end address of different families"));
        }
        if to_u128(start_addr) > to_u128(end_addr) {
            return Err(err("start address after end address"));
        }
        if ports.0 > ports.1 {
            return Err(err("start port after end port"));
        }
        Ok(TrafficSelector {
            ip_proto,
            start_port: ports.0,
            end_port: ports.1,
            start_addr,
            end_addr,
        })
    }

    /// All addresses in `addr/prefix`, any protocol, any port. Host bits in `addr` are ignored.
    pub fn from_cidr(addr: IpAddr, prefix: u8) -> Result<Self, TsError> {
        let v4 = addr.is_ipv4();
        let bits = addr_bits(v4);
        if prefix > bits {
            return Err(TsError {
                input: format!("{addr}/{prefix}"),
                reason: "prefix length longer than the address",
            });
        }
        let host_mask: u128 = if prefix == 0 {
            if v4 {
                u32::MAX.into()
            } else {
                u128::MAX
            }
        } else {
            (1u128 << (bits - prefix)) - 1
        };
        let a = to_u128(addr);
        Ok(TrafficSelector {
            ip_proto: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: from_u128(a & !host_mask, v4),
            end_addr: from_u128(a | host_mask, v4),
        })
    }

    /// Exactly one address.
    pub fn host(addr: IpAddr) -> Self {
        TrafficSelector {
            ip_proto: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: addr,
            end_addr: addr,
        }
    }

    /// Every address of a family, built directly so that no path here can fail.
    fn any(start: IpAddr, end: IpAddr) -> Self {
        TrafficSelector {
            ip_proto: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: start,
            end_addr: end,
        }
    }

    pub fn any_ipv4() -> Self {
        Self::any(Ipv4Addr::UNSPECIFIED.into(), Ipv4Addr::BROADCAST.into())
    }

    pub fn any_ipv6() -> Self {
        Self::any(
            Ipv6Addr::UNSPECIFIED.into(),
            Ipv6Addr::from(u128::MAX).into(),
        )
    }

    /// The same addresses restricted to one IP protocol (0 = any).
    pub fn with_protocol(mut self, ip_proto: u8) -> Self {
        self.ip_proto = ip_proto;
        self
    }

    /// The same selector restricted to a port range (for ICMP: type and code, RFC 4301 section 4.4.1.1).
    pub fn with_ports(mut self, start: u16, end: u16) -> Self {
        self.start_port = start;
        self.end_port = end;
        self
    }

    pub fn ip_proto(&self) -> u8 {
        self.ip_proto
    }
    pub fn start_port(&self) -> u16 {
        self.start_port
    }
    pub fn end_port(&self) -> u16 {
        self.end_port
    }
    pub fn start_addr(&self) -> IpAddr {
        self.start_addr
    }
    pub fn end_addr(&self) -> IpAddr {
        self.end_addr
    }
    pub fn is_ipv4(&self) -> bool {
        self.start_addr.is_ipv4()
    }
    /// True when no packet can match: a reversed address or port range (the latter is RFC 4301's
    /// OPAQUE ports, start 65535 end 0).
    pub fn is_empty(&self) -> bool {
        to_u128(self.start_addr) > to_u128(self.end_addr) || self.start_port > self.end_port
    }

    /// Every packet matched by `other` is matched by `self`.
    pub fn contains(&self, other: &TrafficSelector) -> bool {
        if other.is_empty() {
            return true;
        }
        self.is_ipv4() == other.is_ipv4()
            && (self.ip_proto == 0 || self.ip_proto == other.ip_proto)
            && self.start_port <= other.start_port
            && other.end_port <= self.end_port
            && to_u128(self.start_addr) <= to_u128(other.start_addr)
            && to_u128(other.end_addr) <= to_u128(self.end_addr)
    }

    /// The packets matched by both, or `None` if there are none.
    pub fn intersection(&self, other: &TrafficSelector) -> Option<TrafficSelector> {
        if self.is_ipv4() != other.is_ipv4() || self.is_empty() || other.is_empty() {
            return None;
        }
        let ip_proto = match (self.ip_proto, other.ip_proto) {
            (0, p) | (p, 0) => p,
            (a, b) if a == b => a,
            _ => return None,
        };
        let start_port = self.start_port.max(other.start_port);
        let end_port = self.end_port.min(other.end_port);
        let start = to_u128(self.start_addr).max(to_u128(other.start_addr));
        let end = to_u128(self.end_addr).min(to_u128(other.end_addr));
        if start_port > end_port || start > end {
            return None;
        }
        let v4 = self.is_ipv4();
        Some(TrafficSelector {
            ip_proto,
            start_port,
            end_port,
            start_addr: from_u128(start, v4),
            end_addr: from_u128(end, v4),
        })
    }

    /// `Some((network, prefix_len))` if the address range is exactly one CIDR block.
    pub fn to_prefix(&self) -> Option<(IpAddr, u8)> {
        match self.to_prefixes().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// The address range as the smallest list of CIDR blocks (XFRM selectors are prefixes).
    pub fn to_prefixes(&self) -> Vec<(IpAddr, u8)> {
        let v4 = self.is_ipv4();
        let bits = u32::from(addr_bits(v4));
        let mut out = Vec::new();
        let mut start = to_u128(self.start_addr);
        let end = to_u128(self.end_addr);
        if start > end {
            return out;
        }
        loop {
            // The largest block aligned at `start` that ends at or before `end`. `start` is a multiple
            // of 2^k, so `start + 2^k - 1` cannot overflow for k < 128.
            let fits = |k: u32| {
                if k == 128 {
                    end == u128::MAX
                } else {
                    start + ((1u128 << k) - 1) <= end
                }
            };
            let mut k = start.trailing_zeros().min(bits);
            while k > 0 && !fits(k) {
                k -= 1;
            }
            out.push((from_u128(start, v4), (bits - k) as u8));
            let block_last = if k == 128 {
                u128::MAX
            } else {
                start + ((1u128 << k) - 1)
            };
            if block_last >= end {
                break;
            }
            start = block_last + 1;
        }
        out
    }

    /// A selector exactly as a peer sent it: only the families must agree. Reversed ranges are
    /// kept (they match nothing, which is what narrowing needs), unlike [`TrafficSelector::new`].
    pub fn from_wire(
        ip_proto: u8,
        ports: (u16, u16),
        start_addr: IpAddr,
        end_addr: IpAddr,
    ) -> Option<Self> {
        (start_addr.is_ipv4() == end_addr.is_ipv4()).then_some(TrafficSelector {
            ip_proto,
            start_port: ports.0,
            end_port: ports.1,
            start_addr,
            end_addr,
        })
    }
}

/// The selectors of `proposed` (the peer's TSi or TSr) narrowed to what `allowed` (our config)
/// permits: every non-empty pairwise intersection, in the peer's order, without duplicates. An empty
/// result means TS_UNACCEPTABLE.
pub fn narrow(proposed: &[TrafficSelector], allowed: &[TrafficSelector]) -> Vec<TrafficSelector> {
    narrow_capped(proposed, allowed, usize::MAX).unwrap_or_default()
}

/// [`narrow`], given up (`None`) as soon as the result holds more than `cap` selectors: the
/// intersections of a peer's selectors with ours multiply, and neither the work nor the result
/// may grow past what one payload is allowed to carry.
pub fn narrow_capped(
    proposed: &[TrafficSelector],
    allowed: &[TrafficSelector],
    cap: usize,
) -> Option<Vec<TrafficSelector>> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for p in proposed {
        for a in allowed {
            if let Some(i) = p.intersection(a) {
                if !out.iter().any(|o| o.contains(&i)) {
                    out.retain(|o| !i.contains(o));
                    out.push(i);
                    if out.len() > cap {
                        return None;
                    }
                }
            }
        }
    }
    Some(out)
}

fn proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        58 => "ipv6-icmp",
        132 => "sctp",
        _ => return None,
    })
}

impl fmt::Display for TrafficSelector {
    /// swanctl.conf syntax: `10.1.0.0/24`, `192.0.2.1-192.0.2.9`, with `[tcp/80]`-style suffixes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_prefix() {
            Some((a, p)) if !self.is_empty() => write!(f, "{a}/{p}")?,
            _ => write!(f, "{}-{}", self.start_addr, self.end_addr)?,
        }
        let any_port = self.start_port == 0 && self.end_port == u16::MAX;
        if self.ip_proto != 0 || !any_port {
            f.write_str("[")?;
            match proto_name(self.ip_proto) {
                Some(n) => f.write_str(n)?,
                None => write!(f, "{}", self.ip_proto)?,
            }
            if !any_port {
                if self.start_port == self.end_port {
                    write!(f, "/{}", self.start_port)?;
                } else {
                    write!(f, "/{}-{}", self.start_port, self.end_port)?;
                }
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for TrafficSelector {
    type Err = TsError;

    /// Accepts `addr`, `addr/prefix`, `start-end`, each optionally followed by `[proto]` or
    /// `[proto/port]` / `[proto/lo-hi]`, where proto is a number or tcp, udp, icmp, ipv6-icmp, sctp.
    fn from_str(s: &str) -> Result<Self, TsError> {
        let err = |reason| TsError {
            input: s.to_string(),
            reason,
        };
        let (addrs, suffix) = match s.split_once('[') {
            Some((a, rest)) => (
                a,
                Some(rest.strip_suffix(']').ok_or_else(|| err("missing ']'"))?),
            ),
            None => (s, None),
        };
        let addrs = addrs.trim();
        let mut ts = if let Some((a, p)) = addrs.split_once('/') {
            let a: IpAddr = a.parse().map_err(|_| err("not an IP address"))?;
            let p: u8 = p.parse().map_err(|_| err("not a prefix length"))?;
            TrafficSelector::from_cidr(a, p).map_err(|e| err(e.reason))?
        } else if let Some((a, b)) = addrs.split_once('-') {
            let a: IpAddr = a.parse().map_err(|_| err("not an IP address"))?;
            let b: IpAddr = b.parse().map_err(|_| err("not an IP address"))?;
            TrafficSelector::new(0, (0, u16::MAX), a, b).map_err(|e| err(e.reason))?
        } else {
            TrafficSelector::host(addrs.parse().map_err(|_| err("not an IP address"))?)
        };
        if let Some(suffix) = suffix {
            let (proto, ports) = match suffix.split_once('/') {
                Some((p, ports)) => (p, Some(ports)),
                None => (suffix, None),
            };
            ts.ip_proto = match proto {
                "" | "any" => 0,
                "icmp" => 1,
                "tcp" => 6,
                "udp" => 17,
                "ipv6-icmp" | "icmpv6" => 58,
                "sctp" => 132,
                n => n.parse().map_err(|_| err("unknown protocol"))?,
            };
            if let Some(ports) = ports {
                let port = |p: &str| p.parse::<u16>().map_err(|_| err("not a port number"));
                let (lo, hi) = match ports.split_once('-') {
                    Some((lo, hi)) => (port(lo)?, port(hi)?),
                    None if ports == "%any" || ports.is_empty() => (0, u16::MAX),
                    None => {
                        let p = port(ports)?;
                        (p, p)
                    }
                };
                if lo > hi {
                    return Err(err("start port after end port"));
                }
                ts.start_port = lo;
                ts.end_port = hi;
            }
        }
        Ok(ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> TrafficSelector {
        s.parse().unwrap()
    }

    #[test]
    fn any_is_the_whole_family() {
        assert_eq!(TrafficSelector::any_ipv4(), ts("0.0.0.0/0"));
        assert_eq!(TrafficSelector::any_ipv6(), ts("::/0"));
    }

    #[test]
    fn parse_and_display() {
        for s in [
            "10.1.0.0/24",
            "0.0.0.0/0",
            "192.0.2.1/32",
            "10.0.0.1-10.0.0.9",
            "10.0.0.0/8[tcp/80]",
            "10.0.0.0/8[udp]",
            "10.0.0.0/8[47]",
            "2001:db8::/32[tcp/1000-2000]",
            "::/0",
        ] {
            assert_eq!(ts(s).to_string(), s);
        }
        assert_eq!(
            ts("10.1.0.7/24").start_addr(),
            "10.1.0.0".parse::<IpAddr>().unwrap()
        );
        assert!("10.0.0.0/33".parse::<TrafficSelector>().is_err());
        assert!("10.0.0.9-10.0.0.1".parse::<TrafficSelector>().is_err());
        assert!("10.0.0.1-::1".parse::<TrafficSelector>().is_err());
        assert!("10.0.0.0/8[tcp/90-80]".parse::<TrafficSelector>().is_err());
        assert!("10.0.0.0/8[bogus]".parse::<TrafficSelector>().is_err());
    }

    #[test]
    fn contains_and_intersection() {
        let net = ts("10.0.0.0/8");
        let sub = ts("10.1.0.0/24[tcp/80]");
        assert!(net.contains(&sub));
        assert!(!sub.contains(&net));
        assert_eq!(net.intersection(&sub), Some(sub));
        assert_eq!(
            ts("10.0.0.0-10.0.0.100").intersection(&ts("10.0.0.50-10.0.0.200")),
            Some(ts("10.0.0.50-10.0.0.100"))
        );
        assert_eq!(ts("10.0.0.0/24").intersection(&ts("10.0.1.0/24")), None);
        assert_eq!(
            ts("10.0.0.0/8[tcp]").intersection(&ts("10.0.0.0/8[udp]")),
            None
        );
        assert_eq!(ts("10.0.0.0/8").intersection(&ts("::/0")), None);
        assert!(!ts("0.0.0.0/0").contains(&ts("::1/128")));
    }

    #[test]
    fn capped_narrowing_gives_up_past_the_cap() {
        let peer: Vec<_> = (0..10u8)
            .map(|i| ts(&format!("10.0.0.{i}/32[udp/{}]", 1000 + u16::from(i))))
            .collect();
        let ours = [ts("10.0.0.0/24"), ts("10.0.0.0/28[udp]")];
        assert_eq!(narrow_capped(&peer, &ours, 10).map(|v| v.len()), Some(10));
        assert_eq!(narrow_capped(&peer, &ours, 9), None);
    }

    #[test]
    fn narrowing_keeps_peer_order_and_drops_covered() {
        // Peer proposes 0.0.0.0/0 and a host; we allow two subnets.
        let proposed = [ts("0.0.0.0/0"), ts("10.1.0.5/32")];
        let allowed = [ts("10.1.0.0/24"), ts("10.3.0.0/16")];
        assert_eq!(
            narrow(&proposed, &allowed),
            vec![ts("10.1.0.0/24"), ts("10.3.0.0/16")]
        );
        assert!(narrow(&[ts("192.168.0.0/16")], &allowed).is_empty());
        // A host the peer asked for inside our subnet narrows to that host.
        assert_eq!(
            narrow(&[ts("10.1.0.5/32")], &allowed),
            vec![ts("10.1.0.5/32")]
        );
    }

    #[test]
    fn prefixes_of_ranges() {
        assert_eq!(
            ts("10.0.0.1-10.0.0.6").to_prefixes(),
            vec![
                ("10.0.0.1".parse().unwrap(), 32),
                ("10.0.0.2".parse().unwrap(), 31),
                ("10.0.0.4".parse().unwrap(), 31),
                ("10.0.0.6".parse().unwrap(), 32),
            ]
        );
        assert_eq!(
            ts("0.0.0.0/0").to_prefix(),
            Some(("0.0.0.0".parse().unwrap(), 0))
        );
        assert_eq!(ts("::/0").to_prefix(), Some(("::".parse().unwrap(), 0)));
        assert_eq!(
            ts("2001:db8::/64").to_prefix(),
            Some(("2001:db8::".parse().unwrap(), 64))
        );
        assert_eq!(ts("10.0.0.0-10.0.0.2").to_prefix(), None);
    }
}
