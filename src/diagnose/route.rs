//! Route lookups for the diagnosis from /proc/net/route and /proc/net/ipv6_route (the main
//! table of the daemon's network namespace): longest prefix, then lowest metric. Policy routing
//! rules and other tables are not consulted, which the report says.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// RTF_UP and RTF_REJECT from <linux/route.h>.
const RTF_UP: u32 = 0x0001;
const RTF_REJECT: u32 = 0x0200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub interface: String,
    pub prefix_len: u8,
    pub gateway: Option<IpAddr>,
    /// Route MTU (0 = the interface's).
    pub mtu: u32,
    metric: u32,
}

/// Parses /proc/net/route. Addresses are the kernel's big-endian words printed in host order.
pub fn parse_v4(text: &str) -> Vec<(Ipv4Addr, Route)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let hex = |i: usize| f.get(i).and_then(|s| u32::from_str_radix(s, 16).ok());
            let dec = |i: usize| f.get(i).and_then(|s| s.parse::<u32>().ok());
            let (dst, gw, flags, metric, mask) = (hex(1)?, hex(2)?, hex(3)?, dec(6)?, hex(7)?);
            if flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
                return None;
            }
            let addr = |v: u32| Ipv4Addr::from(v.to_ne_bytes());
            let prefix_len = u32::from_be_bytes(mask.to_ne_bytes()).leading_ones() as u8;
            Some((
                addr(dst),
                Route {
                    interface: f.first()?.to_string(),
                    prefix_len,
                    gateway: (gw != 0).then(|| IpAddr::V4(addr(gw))),
                    mtu: dec(8).unwrap_or(0),
                    metric,
                },
            ))
        })
        .collect()
}

/// Parses /proc/net/ipv6_route: dst plen src plen nexthop metric refcnt use flags iface.
pub fn parse_v6(text: &str) -> Vec<(Ipv6Addr, Route)> {
    let addr = |s: &str| u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from);
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let dst = addr(f[0])?;
            let plen = u8::from_str_radix(f[1], 16).ok()?;
            let gw = addr(f[4])?;
            let metric = u32::from_str_radix(f[5], 16).ok()?;
            let flags = u32::from_str_radix(f[8], 16).ok()?;
            if flags & RTF_UP == 0 || flags & RTF_REJECT != 0 || f[9] == "lo" && plen == 0 {
                return None;
            }
            Some((
                dst,
                Route {
                    interface: f[9].to_owned(),
                    prefix_len: plen,
                    gateway: (!gw.is_unspecified()).then_some(IpAddr::V6(gw)),
                    mtu: 0,
                    metric,
                },
            ))
        })
        .collect()
}

fn in_prefix(a: IpAddr, net: IpAddr, len: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

/// The route the main table picks for `dst` among `routes`.
pub fn lookup(routes: &[(IpAddr, Route)], dst: IpAddr) -> Option<Route> {
    routes
        .iter()
        .filter(|(net, r)| in_prefix(dst, *net, r.prefix_len))
        .min_by(|(_, a), (_, b)| {
            b.prefix_len
                .cmp(&a.prefix_len)
                .then(a.metric.cmp(&b.metric))
        })
        .map(|(_, r)| r.clone())
}

/// The main-table routes of this namespace, both families.
pub fn read() -> Vec<(IpAddr, Route)> {
    let mut v: Vec<(IpAddr, Route)> = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/proc/net/route") {
        v.extend(parse_v4(&t).into_iter().map(|(a, r)| (IpAddr::V4(a), r)));
    }
    if let Ok(t) = std::fs::read_to_string("/proc/net/ipv6_route") {
        v.extend(parse_v6(&t).into_iter().map(|(a, r)| (IpAddr::V6(a), r)));
    }
    v
}

/// Loopback and local addresses live in the `local` table, which /proc does not show.
pub fn resolve(routes: &[(IpAddr, Route)], dst: IpAddr) -> Option<Route> {
    if dst.is_loopback() {
        return Some(Route {
            interface: "lo".into(),
            prefix_len: if dst.is_ipv4() { 8 } else { 128 },
            gateway: None,
            mtu: 0,
            metric: 0,
        });
    }
    lookup(routes, dst)
}

/// The interface's MTU from sysfs (per namespace under `ip netns exec`).
pub fn interface_mtu(ifname: &str) -> Option<u32> {
    if ifname.contains('/') || ifname.contains("..") {
        return None;
    }
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
lan0\t0001010A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t1400\t0\t0
";

    #[test]
    fn longest_prefix_wins_and_default_route_catches_the_rest() {
        let routes: Vec<(IpAddr, Route)> = parse_v4(V4)
            .into_iter()
            .map(|(a, r)| (IpAddr::V4(a), r))
            .collect();
        let r = lookup(&routes, "10.1.1.7".parse().unwrap()).unwrap();
        assert_eq!(
            (r.interface.as_str(), r.prefix_len, r.mtu),
            ("lan0", 24, 1400)
        );
        let r = lookup(&routes, "192.0.2.2".parse().unwrap()).unwrap();
        assert_eq!(r.interface, "eth0");
        assert_eq!(r.prefix_len, 0);
        assert_eq!(r.gateway, Some("10.0.2.1".parse().unwrap()));
    }

    #[test]
    fn no_route_without_default() {
        let routes: Vec<(IpAddr, Route)> = parse_v4(V4)
            .into_iter()
            .skip(1)
            .map(|(a, r)| (IpAddr::V4(a), r))
            .collect();
        assert!(lookup(&routes, "192.0.2.2".parse().unwrap()).is_none());
    }

    #[test]
    fn ipv6_routes_parse() {
        let t = "20010db8000000010000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth1\n";
        let routes: Vec<(IpAddr, Route)> = parse_v6(t)
            .into_iter()
            .map(|(a, r)| (IpAddr::V6(a), r))
            .collect();
        let r = lookup(&routes, "2001:db8:0:1::5".parse().unwrap()).unwrap();
        assert_eq!(r.interface, "eth1");
        assert!(lookup(&routes, "2001:db8:0:2::5".parse().unwrap()).is_none());
    }
}
