//! Scalar value syntaxes of the configuration, as in swanctl.conf: durations (`4h`), byte counts
//! (`512m`), booleans (`yes`), secrets (`0x..`, `0s..`), identities, traffic selectors, addresses.
//!
//! Every parser returns a message that says what is allowed; the schema's deserializers turn it into
//! a serde error so the YAML library attaches file position and key path.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

/// `90s`, `30m`, `4h`, `1d`, or a plain number of seconds (also fractional: `4.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1.0),
        Some((i, 'm')) => (&t[..i], 60.0),
        Some((i, 'h')) => (&t[..i], 3600.0),
        Some((i, 'd')) => (&t[..i], 86400.0),
        _ => (t, 1.0),
    };
    let bad = || {
        format!("invalid duration '{text}': expected a number of seconds or a number with suffix s, m, h or d (e.g. 90s, 30m, 4h)")
    };
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    let secs = n * mult;
    if secs > 100.0 * 365.0 * 86400.0 {
        return Err(format!("duration '{text}' is too long (at most 100 years)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `1000`, `64k`, `512m`, `2g` (multiples of 1024, as swanctl.conf).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1u64 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1u64 << 30),
        _ => (t, 1),
    };
    let n: u64 = num.trim().parse().map_err(|_| {
        format!("invalid byte count '{text}': expected a whole number with optional suffix k, m or g (e.g. 500m)")
    })?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("byte count '{text}' is too large"))
}

/// YAML 1.2 has only `true`/`false`; swanctl users write `yes`/`no`, so both are accepted.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "enabled" | "1" => Ok(true),
        "no" | "false" | "disabled" | "0" => Ok(false),
        _ => Err(format!(
            "invalid boolean '{text}': expected yes or no (also true/false)"
        )),
    }
}

/// The scalar's text exactly as written (serde_norway hands a plain scalar such as `0x0102` or
/// `007` to a string visitor verbatim, which secrets and durations rely on).
pub fn de_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

pub fn de_secret_text<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Zeroizing<String>>, D::Error> {
    String::deserialize(d).map(|s| Some(Zeroizing::new(s)))
}

/// A YAML list, or a swanctl-style comma-separated string (`10.1.0.0/16, 10.2.0.0/16`). Items keep
/// their text as written.
pub fn de_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    d.deserialize_any(ListVisitor { keep_dn: false }).map(Some)
}

struct ListVisitor {
    /// A string with `=` is a distinguished name, whose commas separate attributes, not items.
    keep_dn: bool,
}

impl<'de> serde::de::Visitor<'de> for ListVisitor {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list, or a comma-separated string")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if self.keep_dn && v.contains('=') {
            return Ok(vec![v.trim().to_owned()]);
        }
        Ok(v.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(vec![v.to_string()])
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            let item = item.trim().to_owned();
            if !item.is_empty() {
                out.push(item);
            }
        }
        Ok(out)
    }
}

/// A list of identities: as [`de_list`], except that a single string holding a distinguished
/// name (`"C=CH, O=Example, CN=gw"`) is one identity, not split at its commas.
pub fn de_id_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    d.deserialize_any(ListVisitor { keep_dn: true }).map(Some)
}

/// Key material, wiped from memory when dropped. Never printed: `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

/// swanctl.conf secret syntax: `0x` + hex, `0s` + base64, anything else is the text itself.
pub fn parse_secret(text: &str) -> Result<Secret, String> {
    let bytes = if let Some(hex) = text.strip_prefix("0x") {
        decode_hex(hex).ok_or_else(|| {
            "invalid 0x secret: expected an even number of hex digits after 0x".to_owned()
        })?
    } else if let Some(b64) = text.strip_prefix("0s") {
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| format!("invalid 0s secret: expected base64 after 0s ({e})"))?
    } else {
        text.as_bytes().to_vec()
    };
    if bytes.is_empty() {
        return Err("secret is empty".to_owned());
    }
    Ok(Secret::new(bytes))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks(2)
        .map(|pair| {
            let hi = *pair.first()?;
            let lo = *pair.get(1)?;
            let v = |c: u8| (c as char).to_digit(16);
            Some((v(hi)? << 4 | v(lo)?) as u8)
        })
        .collect()
}

/// An IKE identity, with strongSwan's inference rules for untyped text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// `%any`: matches every peer identity (remote side only).
    Any,
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Fqdn(String),
    Email(String),
    /// A distinguished name in text form, e.g. `C=CH, O=Example, CN=gw`.
    Dn(String),
    KeyId(Vec<u8>),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Any => f.write_str("%any"),
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Ipv6(a) => write!(f, "{a}"),
            Identity::Fqdn(s) | Identity::Email(s) | Identity::Dn(s) => f.write_str(s),
            Identity::KeyId(k) => {
                f.write_str("keyid:")?;
                k.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// `%any`, an IP address, `@fqdn`, `user@example.org`, a DN containing `=`, or a typed form
/// `ipv4:`, `ipv6:`, `fqdn:`/`dns:`, `email:`/`rfc822:`/`userfqdn:`, `asn1dn:`, `keyid:` (hex).
pub fn parse_identity(text: &str) -> Result<Identity, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("identity is empty".to_owned());
    }
    if t == "%any" || t == "%any6" {
        return Ok(Identity::Any);
    }
    if let Some((prefix, rest)) = t.split_once(':') {
        let bad_ip = || format!("invalid identity '{t}': '{rest}' is not an IP address");
        match prefix {
            "ipv4" => return rest.parse().map(Identity::Ipv4).map_err(|_| bad_ip()),
            "ipv6" => return rest.parse().map(Identity::Ipv6).map_err(|_| bad_ip()),
            "fqdn" | "dns" => return Ok(Identity::Fqdn(rest.to_owned())),
            "email" | "rfc822" | "userfqdn" => return Ok(Identity::Email(rest.to_owned())),
            "asn1dn" => return dn(rest).map_err(|e| format!("invalid identity '{t}': {e}")),
            "keyid" => {
                return decode_hex(rest)
                    .map(Identity::KeyId)
                    .ok_or_else(|| format!("invalid identity '{t}': keyid: needs hex digits"))
            }
            _ => {}
        }
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(match ip {
            IpAddr::V4(a) => Identity::Ipv4(a),
            IpAddr::V6(a) => Identity::Ipv6(a),
        });
    }
    if let Some(rest) = t.strip_prefix('@') {
        return Ok(Identity::Fqdn(rest.to_owned()));
    }
    if t.contains('=') {
        return dn(t).map_err(|e| format!("invalid identity '{t}': {e}"));
    }
    if t.contains('@') {
        return Ok(Identity::Email(t.to_owned()));
    }
    Ok(Identity::Fqdn(t.to_owned()))
}

/// A distinguished name as written (`C=CH, O=Example, CN=gw`, or OpenSSL's `/C=CH/CN=gw`), or
/// `#` + hex DER. Checked here with the core's encoder so that `--check` catches what the
/// negotiation could not send.
fn dn(text: &str) -> Result<Identity, String> {
    let text = text.trim();
    dn_der(text)?;
    Ok(Identity::Dn(text.to_owned()))
}

/// The DER of an [`Identity::Dn`]'s text: what goes into an ID_DER_ASN1_DN payload.
pub fn dn_der(text: &str) -> Result<Vec<u8>, String> {
    if let Some(hex) = text.strip_prefix('#') {
        return decode_hex(hex)
            .filter(|d| d.first() == Some(&0x30))
            .ok_or_else(|| "'#' must be followed by the hex DER of a Name (30...)".to_owned());
    }
    rswan_ikev2::wire::dn::encode_dn(text).map_err(|e| {
        format!("{e}; expected a distinguished name such as \"C=CH, O=Example, CN=gw.example\" (attributes C, ST, L, O, OU, CN, SN, serialNumber, T, G, E, DC, UID)")
    })
}

/// An address range with optional protocol and port range: what a traffic selector carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    pub start: IpAddr,
    pub end: IpAddr,
    /// IP protocol number; 0 = any.
    pub protocol: u8,
    pub port_start: u16,
    pub port_end: u16,
}

/// What `local_ts`/`remote_ts` may hold: `dynamic` is the outer address, decided at runtime.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TsSpec {
    Dynamic,
    Fixed(TrafficSelector),
}

impl fmt::Display for TsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsSpec::Dynamic => f.write_str("dynamic"),
            TsSpec::Fixed(ts) => write!(f, "{ts}"),
        }
    }
}

impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match range_prefix(self.start, self.end) {
            Some(p) => write!(f, "{}/{p}", self.start)?,
            None => write!(f, "{}-{}", self.start, self.end)?,
        }
        if self.protocol != 0 || self.port_start != 0 || self.port_end != u16::MAX {
            write!(f, "[{}", self.protocol)?;
            if self.port_start == self.port_end {
                write!(f, "/{}", self.port_start)?;
            } else if self.port_start != 0 || self.port_end != u16::MAX {
                write!(f, "/{}-{}", self.port_start, self.port_end)?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// The prefix length if `start..=end` is exactly one CIDR block.
pub fn range_prefix(start: IpAddr, end: IpAddr) -> Option<u8> {
    let (s, e, bits) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (u128::from(u32::from(s)), u128::from(u32::from(e)), 32),
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128),
        _ => return None,
    };
    let host = s ^ e;
    // host must be a run of low one-bits, and start must have those bits clear.
    if host & host.wrapping_add(1) != 0 || s & host != 0 {
        return None;
    }
    Some((bits - host.count_ones()) as u8)
}

/// `10.1.0.0/16`, `10.1.0.5`, `10.1.0.1-10.1.0.9` or `dynamic`; the fixed forms optionally followed
/// by `[proto/port]` as in swanctl.conf: `10.1.0.0/16[tcp/443]`, `0.0.0.0/0[icmp]`, `[6/80-90]`.
pub fn parse_ts(text: &str) -> Result<TsSpec, String> {
    let t = text.trim();
    let (net, protoport) = match t.split_once('[') {
        Some((net, rest)) => {
            let pp = rest.strip_suffix(']').ok_or_else(|| {
                format!("invalid traffic selector '{t}': missing ']' after protocol/port")
            })?;
            (net.trim(), Some(pp))
        }
        None => (t, None),
    };
    if net == "dynamic" {
        if protoport.is_some() {
            return Err(format!(
                "invalid traffic selector '{t}': protocol/port restrictions on dynamic are not supported; write the address instead"
            ));
        }
        return Ok(TsSpec::Dynamic);
    }
    let (protocol, port_start, port_end) = match protoport {
        None => (0, 0, u16::MAX),
        Some(pp) => {
            parse_protoport(pp).map_err(|e| format!("invalid traffic selector '{t}': {e}"))?
        }
    };
    let (start, end) = parse_range(net).map_err(|e| {
        format!("invalid traffic selector '{t}': {e}; expected a subnet (10.1.0.0/16), an address, a range (a-b) or dynamic, optionally with [proto/port]")
    })?;
    Ok(TsSpec::Fixed(TrafficSelector {
        start,
        end,
        protocol,
        port_start,
        port_end,
    }))
}

fn parse_protoport(pp: &str) -> Result<(u8, u16, u16), String> {
    let (proto, port) = match pp.split_once('/') {
        Some((p, port)) => (p.trim(), Some(port.trim())),
        None => (pp.trim(), None),
    };
    let protocol = match proto {
        "" | "any" | "%any" => 0,
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "ipv6-icmp" | "icmp6" => 58,
        "sctp" => 132,
        "gre" => 47,
        n => n.parse().map_err(|_| {
            format!("unknown protocol '{n}' (use tcp, udp, icmp, ipv6-icmp, sctp, gre or a number)")
        })?,
    };
    let (ps, pe) = match port {
        None | Some("" | "%any") => (0, u16::MAX),
        Some(p) => match p.split_once('-') {
            Some((a, b)) => (parse_port(a)?, parse_port(b)?),
            None => {
                let v = parse_port(p)?;
                (v, v)
            }
        },
    };
    if ps > pe {
        return Err(format!("port range {ps}-{pe} is reversed"));
    }
    Ok((protocol, ps, pe))
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.trim()
        .parse()
        .map_err(|_| format!("invalid port '{p}' (0-65535)"))
}

/// A CIDR, single address or `a-b` range, as an inclusive address range.
pub fn parse_range(net: &str) -> Result<(IpAddr, IpAddr), String> {
    if let Some((a, b)) = net.split_once('-') {
        let a: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("'{a}' is not an IP address"))?;
        let b: IpAddr = b
            .trim()
            .parse()
            .map_err(|_| format!("'{b}' is not an IP address"))?;
        if a.is_ipv4() != b.is_ipv4() {
            return Err("range mixes IPv4 and IPv6".to_owned());
        }
        if a > b {
            return Err("range start is above its end".to_owned());
        }
        return Ok((a, b));
    }
    let (addr, prefix) = match net.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (net, None),
    };
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("'{addr}' is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u32 = match prefix {
        None => max,
        Some(p) => p
            .trim()
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("prefix '/{p}' is not between 0 and {max}"))?,
    };
    Ok(match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            let start = u32::from(a) & mask;
            (IpAddr::V4(start.into()), IpAddr::V4((start | !mask).into()))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            let start = u128::from(a) & mask;
            (IpAddr::V6(start.into()), IpAddr::V6((start | !mask).into()))
        }
    })
}

/// `local_addrs`/`remote_addrs` entries: `%any`, an address, a subnet or a range. Hostnames would
/// need DNS at runtime, which the daemon does not do yet; the error says so.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AddrSpec {
    Any,
    Addr { addr: IpAddr },
    Subnet { addr: IpAddr, prefix: u8 },
}

impl AddrSpec {
    /// A single address: the one to initiate to or bind from.
    pub fn host(&self) -> Option<IpAddr> {
        match self {
            AddrSpec::Addr { addr } => Some(*addr),
            _ => None,
        }
    }
}

impl fmt::Display for AddrSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrSpec::Any => f.write_str("%any"),
            AddrSpec::Addr { addr } => write!(f, "{addr}"),
            AddrSpec::Subnet { addr, prefix } => write!(f, "{addr}/{prefix}"),
        }
    }
}

pub fn parse_addr(text: &str) -> Result<AddrSpec, String> {
    let t = text.trim();
    if t == "%any" || t == "%any4" || t == "%any6" {
        return Ok(AddrSpec::Any);
    }
    if let Ok(addr) = t.parse::<IpAddr>() {
        return Ok(AddrSpec::Addr { addr });
    }
    if t.contains('/') {
        let (start, end) = parse_range(t).map_err(|e| format!("invalid address '{t}': {e}"))?;
        let prefix = range_prefix(start, end).unwrap_or(0);
        return Ok(AddrSpec::Subnet {
            addr: start,
            prefix,
        });
    }
    Err(format!(
        "invalid address '{t}': expected an IP address, a subnet (10.0.0.0/8) or %any (hostnames and ranges are not supported)"
    ))
}

/// Listings and `--json` show these values in the same text form the configuration uses.
macro_rules! serialize_as_text {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_text!(Identity, TsSpec, AddrSpec, TrafficSelector);

/// Formats a duration the way the config writes it (`4h`, `90s`), for listings.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 {
        format!("{:.3}s", d.as_secs_f64())
    } else if s != 0 && s.is_multiple_of(86400) {
        format!("{}d", s / 86400)
    } else if s != 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s != 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_swanctl_suffixes() {
        assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(4 * 3600)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("4.5"), Ok(Duration::from_millis(4500)));
        let e = parse_duration("4 hours").unwrap_err();
        assert!(e.contains("s, m, h or d"), "{e}");
        assert!(parse_duration("-5s").is_err());
        assert_eq!(fmt_duration(Duration::from_secs(14400)), "4h");
        assert_eq!(fmt_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn bytes_use_binary_multiples() {
        assert_eq!(parse_bytes("64k"), Ok(65536));
        assert_eq!(parse_bytes("2g"), Ok(2 << 30));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("1t").is_err());
        assert!(parse_bytes("99999999999999999g").is_err());
    }

    #[test]
    fn secrets_decode_hex_base64_and_text() {
        assert_eq!(parse_secret("0x0102ff").unwrap().expose(), &[1, 2, 255]);
        assert_eq!(parse_secret("0sAQL/").unwrap().expose(), &[1, 2, 255]);
        assert_eq!(parse_secret("hello").unwrap().expose(), b"hello");
        assert!(parse_secret("0x123").is_err());
        assert!(parse_secret("0s!!").is_err());
        assert!(!format!("{:?}", parse_secret("hunter2").unwrap()).contains("hunter2"));
    }

    #[test]
    fn identities_are_inferred_like_strongswan() {
        assert_eq!(
            parse_identity("192.0.2.1"),
            Ok(Identity::Ipv4([192, 0, 2, 1].into()))
        );
        assert_eq!(
            parse_identity("@gw.example"),
            Ok(Identity::Fqdn("gw.example".into()))
        );
        assert_eq!(
            parse_identity("moon.strongswan.org"),
            Ok(Identity::Fqdn("moon.strongswan.org".into()))
        );
        assert_eq!(parse_identity("a@b.c"), Ok(Identity::Email("a@b.c".into())));
        assert_eq!(
            parse_identity("CN=gw, O=x"),
            Ok(Identity::Dn("CN=gw, O=x".into()))
        );
        assert_eq!(parse_identity("%any"), Ok(Identity::Any));
        assert_eq!(
            parse_identity("keyid:0a0b"),
            Ok(Identity::KeyId(vec![10, 11]))
        );
        assert!(parse_identity("ipv4:nope").is_err());
    }

    #[test]
    fn distinguished_names_are_checked_with_the_core_encoder() {
        let moon = "C=CH, O=strongSwan, CN=moon.strongswan.org";
        assert_eq!(parse_identity(moon), Ok(Identity::Dn(moon.into())));
        assert_eq!(
            dn_der(moon).unwrap(),
            rswan_ikev2::wire::dn::encode_dn(moon).unwrap()
        );
        assert_eq!(
            parse_identity("asn1dn:/C=CH/CN=moon"),
            Ok(Identity::Dn("/C=CH/CN=moon".into()))
        );
        assert_eq!(dn_der("#3000").unwrap(), vec![0x30, 0x00]);
        let e = parse_identity("C=CH, XX=moon").unwrap_err();
        assert!(
            e.contains("unknown attribute type") && e.contains("CN, SN"),
            "{e}"
        );
        let e = parse_identity("C=CH, CN=").unwrap_err();
        assert!(e.contains("empty value"), "{e}");
        let e = parse_identity("asn1dn:#zz").unwrap_err();
        assert!(e.contains("hex DER"), "{e}");
    }

    #[test]
    fn traffic_selectors_cover_subnets_ranges_and_ports() {
        let TsSpec::Fixed(ts) = parse_ts("10.1.2.3/16").unwrap() else {
            panic!()
        };
        assert_eq!(ts.start, "10.1.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(ts.end, "10.1.255.255".parse::<IpAddr>().unwrap());
        assert_eq!((ts.protocol, ts.port_start, ts.port_end), (0, 0, 65535));
        let TsSpec::Fixed(ts) = parse_ts("0.0.0.0/0[tcp/443]").unwrap() else {
            panic!()
        };
        assert_eq!(ts.end, "255.255.255.255".parse::<IpAddr>().unwrap());
        assert_eq!((ts.protocol, ts.port_start, ts.port_end), (6, 443, 443));
        let TsSpec::Fixed(ts) = parse_ts("fd00::/64").unwrap() else {
            panic!()
        };
        assert_eq!(
            ts.end,
            "fd00::ffff:ffff:ffff:ffff".parse::<IpAddr>().unwrap()
        );
        assert_eq!(parse_ts("dynamic"), Ok(TsSpec::Dynamic));
        assert!(parse_ts("dynamic[udp/500]").is_err());
        assert_eq!(
            parse_ts("10.1.0.0/24[tcp/443]").unwrap().to_string(),
            "10.1.0.0/24[6/443]"
        );
        assert_eq!(
            parse_ts("10.1.0.1-10.1.0.9").unwrap().to_string(),
            "10.1.0.1-10.1.0.9"
        );
        assert!(parse_ts("10.1.0.0/33").unwrap_err().contains("prefix"));
        assert!(parse_ts("10.1.0.0/16[bogus]")
            .unwrap_err()
            .contains("unknown protocol"));
        assert!(parse_ts("10.0.0.9-10.0.0.1").is_err());
    }

    #[test]
    fn addresses_reject_hostnames_with_reason() {
        assert_eq!(parse_addr("%any"), Ok(AddrSpec::Any));
        assert_eq!(
            parse_addr("2001:db8::1").unwrap().host(),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(parse_addr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(parse_addr("vpn.example.org")
            .unwrap_err()
            .contains("hostnames"));
    }
}
