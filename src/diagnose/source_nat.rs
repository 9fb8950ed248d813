//! Source NAT in front of the selector: a masquerade/snat rule in an nftables postrouting NAT
//! chain that also catches LAN-to-remote-LAN traffic rewrites the source after the IPsec policy
//! matched; the kernel then looks the policy up again with the new source, finds none, and the
//! packet leaves unencrypted (or hits a block policy). The rules are read with `nft -j list
//! ruleset` in the daemon's network namespace.
//!
//! The walk is deliberately conservative: only rules whose every match is understood (addresses,
//! prefixes, sets, ranges, `oif`/`oifname`, `nfproto`) are judged; the first rule it cannot judge
//! ends the walk of its chain without a finding, and an `accept`/`return` that matches the flow
//! first exempts it. A finding is therefore a rule that certainly applies to the flow.

use std::net::IpAddr;

use serde_json::Value;

/// One LAN-to-remote flow of a Child SA's selectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The interface the route to `dst` leaves by (unknown: `oif` matches cannot be judged).
    pub oif: Option<String>,
}

/// Runs `nft -j list ruleset`; `None` when nft is missing or fails (no nftables, no rights).
pub fn read_ruleset() -> Option<Value> {
    let out = std::process::Command::new("nft")
        .args(["-j", "list", "ruleset"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// What a match says about the flow.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Judged {
    Yes,
    No,
    Unknown,
}

fn parse_ip(v: &Value) -> Option<IpAddr> {
    v.as_str()?.parse().ok()
}

fn in_prefix(addr: IpAddr, net: IpAddr, len: u64) -> Option<bool> {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            Some(u32::from(a) & mask == u32::from(n) & mask)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if len <= 128 => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            Some(u128::from(a) & mask == u128::from(n) & mask)
        }
        (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => Some(false),
        _ => None,
    }
}

/// Whether `addr` is in the right-hand side of an address match (address, prefix, range, set).
fn addr_in(addr: IpAddr, right: &Value) -> Option<bool> {
    if let Some(ip) = parse_ip(right) {
        return Some(ip == addr);
    }
    if let Some(p) = right.get("prefix") {
        let net = parse_ip(p.get("addr")?)?;
        return in_prefix(addr, net, p.get("len")?.as_u64()?);
    }
    if let Some(r) = right.get("range").and_then(Value::as_array) {
        let (lo, hi) = (parse_ip(r.first()?)?, parse_ip(r.get(1)?)?);
        return Some(lo <= addr && addr <= hi && lo.is_ipv4() == addr.is_ipv4());
    }
    if let Some(set) = right.get("set").and_then(Value::as_array) {
        let mut any = false;
        for e in set {
            any |= addr_in(addr, e)?;
        }
        return Some(any);
    }
    None
}

fn name_in(name: &str, right: &Value) -> Option<bool> {
    let one = |pat: &str| match pat.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pat,
    };
    if let Some(s) = right.as_str() {
        return Some(one(s));
    }
    let set = right.get("set")?.as_array()?;
    let mut any = false;
    for e in set {
        any |= one(e.as_str()?);
    }
    Some(any)
}

fn judge_match(m: &Value, flow: &Flow) -> Judged {
    let op = m.get("op").and_then(Value::as_str).unwrap_or("");
    let (Some(left), Some(right)) = (m.get("left"), m.get("right")) else {
        return Judged::Unknown;
    };
    let hit = if let Some(p) = left.get("payload") {
        let proto = p.get("protocol").and_then(Value::as_str);
        let field = p.get("field").and_then(Value::as_str);
        let fits = match proto {
            Some("ip") => flow.dst.is_ipv4(),
            Some("ip6") => flow.dst.is_ipv6(),
            _ => return Judged::Unknown,
        };
        if !fits {
            // An ip match never matches an ip6 packet (and vice versa), whatever the operator.
            return Judged::No;
        }
        match field {
            Some("saddr") => addr_in(flow.src, right),
            Some("daddr") => addr_in(flow.dst, right),
            _ => None,
        }
    } else if let Some(key) = left
        .get("meta")
        .and_then(|m| m.get("key"))
        .and_then(Value::as_str)
    {
        match key {
            "oifname" | "oif" => flow.oif.as_deref().and_then(|o| name_in(o, right)),
            "nfproto" => right
                .as_str()
                .map(|p| p == if flow.dst.is_ipv4() { "ipv4" } else { "ipv6" }),
            _ => None,
        }
    } else {
        None
    };
    match (hit, op) {
        (Some(h), "==" | "in") => bool_judged(h),
        (Some(h), "!=") => bool_judged(!h),
        _ => Judged::Unknown,
    }
}

fn bool_judged(b: bool) -> Judged {
    if b {
        Judged::Yes
    } else {
        Judged::No
    }
}

/// nft-like text of a rule's expressions, for the operator.
fn describe(family: &str, table: &str, chain: &str, exprs: &[Value]) -> String {
    let mut parts = Vec::new();
    for e in exprs {
        if let Some(m) = e.get("match") {
            let left = m.get("left");
            let l = if let Some(p) = left.and_then(|l| l.get("payload")) {
                format!(
                    "{} {}",
                    p.get("protocol").and_then(Value::as_str).unwrap_or("?"),
                    p.get("field").and_then(Value::as_str).unwrap_or("?")
                )
            } else if let Some(k) = left.and_then(|l| l.get("meta")).and_then(|m| m.get("key")) {
                k.as_str().unwrap_or("meta").to_owned()
            } else {
                "?".to_owned()
            };
            let r = m.get("right").map(short).unwrap_or_default();
            let op = match m.get("op").and_then(Value::as_str) {
                Some("!=") => "!= ",
                _ => "",
            };
            parts.push(format!("{l} {op}{r}"));
        } else if e.get("masquerade").is_some() {
            parts.push("masquerade".into());
        } else if let Some(s) = e.get("snat") {
            let to = s.get("addr").map(short).unwrap_or_default();
            parts.push(format!("snat to {to}").trim_end().to_owned());
        }
    }
    format!("table {family} {table} chain {chain}: {}", parts.join(" "))
}

fn short(v: &Value) -> String {
    if let Some(s) = v.as_str() {
        return s.to_owned();
    }
    if let Some(p) = v.get("prefix") {
        return format!(
            "{}/{}",
            p.get("addr").and_then(Value::as_str).unwrap_or("?"),
            p.get("len").and_then(Value::as_u64).unwrap_or(0)
        );
    }
    if let Some(s) = v.get("set").and_then(Value::as_array) {
        return format!(
            "{{ {} }}",
            s.iter().map(short).collect::<Vec<_>>().join(", ")
        );
    }
    v.to_string()
}

/// The NAT rules that rewrite the source of one of `flows`, described.
pub fn find(ruleset: &Value, flows: &[Flow]) -> Vec<String> {
    let Some(items) = ruleset.get("nftables").and_then(Value::as_array) else {
        return vec![];
    };
    let mut found = Vec::new();
    let chains = items.iter().filter_map(|i| i.get("chain")).filter(|c| {
        c.get("type").and_then(Value::as_str) == Some("nat")
            && c.get("hook").and_then(Value::as_str) == Some("postrouting")
    });
    for chain in chains {
        let family = chain.get("family").and_then(Value::as_str).unwrap_or("");
        let table = chain.get("table").and_then(Value::as_str).unwrap_or("");
        let name = chain.get("name").and_then(Value::as_str).unwrap_or("");
        let rules: Vec<&Vec<Value>> = items
            .iter()
            .filter_map(|i| i.get("rule"))
            .filter(|r| {
                r.get("family").and_then(Value::as_str) == Some(family)
                    && r.get("table").and_then(Value::as_str) == Some(table)
                    && r.get("chain").and_then(Value::as_str) == Some(name)
            })
            .filter_map(|r| r.get("expr").and_then(Value::as_array))
            .collect();
        for flow in flows {
            let fits = match family {
                "ip" => flow.dst.is_ipv4(),
                "ip6" => flow.dst.is_ipv6(),
                "inet" => true,
                _ => false,
            };
            if !fits {
                continue;
            }
            if let Some(rule) = first_nat(&rules, flow) {
                let d = describe(family, table, name, rule);
                if !found.contains(&d) {
                    found.push(d);
                }
            }
        }
    }
    found
}

/// Walks a chain for `flow`: the first rule that certainly applies and rewrites the source.
fn first_nat<'a>(rules: &[&'a Vec<Value>], flow: &Flow) -> Option<&'a Vec<Value>> {
    'rules: for rule in rules {
        for e in rule.iter() {
            let obj = e.as_object()?;
            let Some((key, _)) = obj.iter().next() else {
                continue;
            };
            match key.as_str() {
                "match" => match judge_match(&e["match"], flow) {
                    Judged::Yes => {}
                    Judged::No => continue 'rules,
                    Judged::Unknown => return None,
                },
                "counter" | "log" | "comment" => {}
                "masquerade" | "snat" => return Some(rule),
                // accept/return end the chain for this flow; anything else (jump, goto, other
                // statements) cannot be followed here.
                _ => return None,
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Flow {
        Flow {
            src: "10.1.0.0".parse().unwrap(),
            dst: "10.2.0.0".parse().unwrap(),
            oif: Some("eth0".into()),
        }
    }

    fn ruleset(rules: &[&str]) -> Value {
        let mut items = vec![
            serde_json::json!({"chain": {"family": "ip", "table": "nat", "name": "postrouting", "type": "nat", "hook": "postrouting", "prio": 100}}),
        ];
        for r in rules {
            let expr: Value = serde_json::from_str(r).unwrap();
            items.push(serde_json::json!({"rule": {"family": "ip", "table": "nat", "chain": "postrouting", "expr": expr}}));
        }
        serde_json::json!({ "nftables": items })
    }

    const MASQ_ETH0: &str = r#"[{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}}, {"counter": {"packets": 0, "bytes": 0}}, {"masquerade": null}]"#;

    #[test]
    fn masquerade_on_the_peer_interface_catches_the_lan() {
        let found = find(&ruleset(&[MASQ_ETH0]), &[flow()]);
        assert_eq!(
            found,
            vec!["table ip nat chain postrouting: oifname eth0 masquerade"]
        );
        let snat = r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.1.0.0", "len": 24}}}}, {"snat": {"addr": "192.0.2.1"}}]"#;
        assert_eq!(find(&ruleset(&[snat]), &[flow()]).len(), 1);
    }

    #[test]
    fn exempted_or_unrelated_or_unjudgeable_rules_are_not_reported() {
        let exempt = r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "10.2.0.0", "len": 24}}}}, {"accept": null}]"#;
        assert!(find(&ruleset(&[exempt, MASQ_ETH0]), &[flow()]).is_empty());
        let not_remote = r#"[{"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"set": [{"prefix": {"addr": "10.2.0.0", "len": 16}}, "10.9.0.1"]}}}, {"masquerade": null}]"#;
        assert!(find(&ruleset(&[not_remote]), &[flow()]).is_empty());
        let other_if = r#"[{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "wan1"}}, {"masquerade": null}]"#;
        assert!(find(&ruleset(&[other_if]), &[flow()]).is_empty());
        let ipsec_aware = r#"[{"match": {"op": "==", "left": {"rt": {"key": "ipsec"}}, "right": true}}, {"accept": null}]"#;
        assert!(
            find(&ruleset(&[ipsec_aware, MASQ_ETH0]), &[flow()]).is_empty(),
            "a rule we cannot judge ends the walk without a finding"
        );
        let mut no_route = flow();
        no_route.oif = None;
        assert!(find(&ruleset(&[MASQ_ETH0]), &[no_route]).is_empty());
        let v6 = Flow {
            src: "fd00:1::".parse().unwrap(),
            dst: "fd00:2::".parse().unwrap(),
            oif: Some("eth0".into()),
        };
        assert!(
            find(&ruleset(&[MASQ_ETH0]), &[v6]).is_empty(),
            "an ip-family chain never sees IPv6"
        );
        assert!(find(&serde_json::json!({"nftables": "garbage"}), &[flow()]).is_empty());
    }
}
