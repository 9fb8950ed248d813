//! Peer identities: what IDi/IDr (IKEv2, RFC 7296 section 3.5) and IDii/IDir (IKEv1, RFC 2407
//! section 4.6.2) carry and what configuration names. Both versions number the ID types the same
//! way (IKEv1 adds subnet and range types, which name traffic selectors there, not peers); the
//! payload framing around them is each protocol crate's.

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::der::{encode_dn, format_dn};
use crate::registry;

registry! {
    /// Identification type (RFC 7296 section 3.5; the IKEv1 registry, RFC 2407 section 4.6.2.1, uses
    /// the same numbers).
    IdType(u8) {
        IPV4_ADDR = 1 => "ID_IPV4_ADDR",
        FQDN = 2 => "ID_FQDN",
        RFC822_ADDR = 3 => "ID_RFC822_ADDR",
        IPV6_ADDR = 5 => "ID_IPV6_ADDR",
        DER_ASN1_DN = 9 => "ID_DER_ASN1_DN",
        DER_ASN1_GN = 10 => "ID_DER_ASN1_GN",
        KEY_ID = 11 => "ID_KEY_ID",
        NULL = 13 => "ID_NULL",
    }
}

/// Identity data that does not fit its type (an address of the wrong length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityDataError {
    pub what: &'static str,
    pub expected: &'static str,
    pub found: u64,
}

impl fmt::Display for IdentityDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, found {}",
            self.what, self.expected, self.found
        )
    }
}

impl std::error::Error for IdentityDataError {}

/// A peer identity as carried in IDi/IDr and written in configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// ID_FQDN, e.g. `east.example`.
    Fqdn(String),
    /// ID_RFC822_ADDR, e.g. `user@example.org`.
    Rfc822(String),
    /// ID_DER_ASN1_DN: the DER encoding of an X.501 Name.
    DerAsn1Dn(Vec<u8>),
    /// ID_KEY_ID: opaque octets.
    KeyId(Vec<u8>),
    /// ID_NULL (RFC 7619): no identity.
    Null,
    /// Any other type, or an FQDN/RFC822 that is not UTF-8: kept as received.
    Other {
        id_type: IdType,
        data: Vec<u8>,
    },
}

/// Why a configured identity string was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityParseError {
    pub input: String,
    pub reason: &'static str,
}

impl fmt::Display for IdentityParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "identity {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for IdentityParseError {}

impl Identity {
    pub fn id_type(&self) -> IdType {
        match self {
            Identity::Ipv4(_) => IdType::IPV4_ADDR,
            Identity::Ipv6(_) => IdType::IPV6_ADDR,
            Identity::Fqdn(_) => IdType::FQDN,
            Identity::Rfc822(_) => IdType::RFC822_ADDR,
            Identity::DerAsn1Dn(_) => IdType::DER_ASN1_DN,
            Identity::KeyId(_) => IdType::KEY_ID,
            Identity::Null => IdType::NULL,
            Identity::Other { id_type, .. } => *id_type,
        }
    }

    /// The Identification Data octets.
    pub fn data(&self) -> Vec<u8> {
        match self {
            Identity::Ipv4(a) => a.octets().to_vec(),
            Identity::Ipv6(a) => a.octets().to_vec(),
            Identity::Fqdn(s) | Identity::Rfc822(s) => s.as_bytes().to_vec(),
            Identity::DerAsn1Dn(d) | Identity::KeyId(d) | Identity::Other { data: d, .. } => {
                d.clone()
            }
            Identity::Null => Vec::new(),
        }
    }

    /// Whether a peer's `received` identity satisfies this configured one, as strongSwan compares:
    /// FQDN and RFC822 names case-insensitively, and a configured name starting with `*` matches any
    /// received name of the same type ending in the rest (`*.example.org`, `*@example.org`).
    /// Everything else must be equal.
    pub fn matches(&self, received: &Identity) -> bool {
        let names = match (self, received) {
            (Identity::Fqdn(want), Identity::Fqdn(got))
            | (Identity::Rfc822(want), Identity::Rfc822(got)) => Some((want, got)),
            _ => None,
        };
        match names {
            Some((want, got)) => match want.strip_prefix('*') {
                Some(suffix) => {
                    got.len() >= suffix.len()
                        && got
                            .get(got.len() - suffix.len()..)
                            .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
                }
                None => want.eq_ignore_ascii_case(got),
            },
            None => self == received,
        }
    }

    /// Builds an identity from a type and its data as received.
    pub fn from_wire(id_type: IdType, data: &[u8]) -> Result<Self, IdentityDataError> {
        Ok(match id_type {
            IdType::IPV4_ADDR => {
                let a: [u8; 4] = data.try_into().map_err(|_| IdentityDataError {
                    what: "ID_IPV4_ADDR length",
                    expected: "4",
                    found: data.len() as u64,
                })?;
                Identity::Ipv4(a.into())
            }
            IdType::IPV6_ADDR => {
                let a: [u8; 16] = data.try_into().map_err(|_| IdentityDataError {
                    what: "ID_IPV6_ADDR length",
                    expected: "16",
                    found: data.len() as u64,
                })?;
                Identity::Ipv6(a.into())
            }
            IdType::FQDN | IdType::RFC822_ADDR => match core::str::from_utf8(data) {
                Ok(s) if id_type == IdType::FQDN => Identity::Fqdn(s.to_string()),
                Ok(s) => Identity::Rfc822(s.to_string()),
                Err(_) => Identity::Other {
                    id_type,
                    data: data.to_vec(),
                },
            },
            IdType::DER_ASN1_DN => Identity::DerAsn1Dn(data.to_vec()),
            IdType::KEY_ID => Identity::KeyId(data.to_vec()),
            // ID_NULL with data is kept as received rather than silently losing the data.
            IdType::NULL if data.is_empty() => Identity::Null,
            _ => Identity::Other {
                id_type,
                data: data.to_vec(),
            },
        })
    }

    /// Parses a configured identity, following swanctl.conf's conventions:
    /// an IP address is ID_IPV4_ADDR/ID_IPV6_ADDR; `@name` forces ID_FQDN; `@@user@x` forces
    /// ID_RFC822_ADDR; a string with `@` is ID_RFC822_ADDR; typed prefixes `ipv4:`, `ipv6:`, `fqdn:`,
    /// `dns:`, `rfc822:`, `email:`, `userfqdn:`, `keyid:`, `asn1dn:`; after a prefix `#` introduces
    /// hex octets (`keyid:#0a0b`, `asn1dn:#3012...`); a string with `=` is a distinguished name
    /// (`C=CH, O=Example, CN=moon`, DER-encoded as ID_DER_ASN1_DN); `%null` is ID_NULL; anything
    /// else is ID_FQDN.
    pub fn parse(s: &str) -> Result<Self, IdentityParseError> {
        let err = |reason| IdentityParseError {
            input: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("empty"));
        }
        if s == "%null" {
            return Ok(Identity::Null);
        }
        if let Some((prefix, rest)) = s.split_once(':') {
            let bytes = || -> Result<Vec<u8>, IdentityParseError> {
                match rest.strip_prefix('#') {
                    Some(hex) => decode_hex(hex).ok_or_else(|| err("invalid hex after '#'")),
                    None => Ok(rest.as_bytes().to_vec()),
                }
            };
            let text = || -> Result<String, IdentityParseError> {
                if rest.is_empty() {
                    Err(err("empty after prefix"))
                } else {
                    Ok(rest.to_string())
                }
            };
            match prefix {
                "ipv4" => {
                    return rest
                        .parse()
                        .map(Identity::Ipv4)
                        .map_err(|_| err("not an IPv4 address"))
                }
                "ipv6" => {
                    return rest
                        .parse()
                        .map(Identity::Ipv6)
                        .map_err(|_| err("not an IPv6 address"))
                }
                "fqdn" | "dns" => return text().map(Identity::Fqdn),
                "rfc822" | "email" | "userfqdn" => return text().map(Identity::Rfc822),
                "keyid" => return bytes().map(Identity::KeyId),
                "asn1dn" => {
                    return match rest.strip_prefix('#') {
                        Some(_) => bytes().map(Identity::DerAsn1Dn),
                        None => encode_dn(rest).map(Identity::DerAsn1Dn).map_err(err),
                    }
                }
                _ => {}
            }
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(match ip {
                IpAddr::V4(a) => Identity::Ipv4(a),
                IpAddr::V6(a) => Identity::Ipv6(a),
            });
        }
        if let Some(user) = s.strip_prefix("@@") {
            return if user.is_empty() {
                Err(err("empty after @@"))
            } else {
                Ok(Identity::Rfc822(user.to_string()))
            };
        }
        if let Some(name) = s.strip_prefix('@') {
            return if name.is_empty() {
                Err(err("empty after @"))
            } else {
                Ok(Identity::Fqdn(name.to_string()))
            };
        }
        if s.contains('=') {
            return encode_dn(s).map(Identity::DerAsn1Dn).map_err(err);
        }
        if s.contains('@') {
            return Ok(Identity::Rfc822(s.to_string()));
        }
        Ok(Identity::Fqdn(s.to_string()))
    }
}

impl FromStr for Identity {
    type Err = IdentityParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Identity::parse(s)
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let pairs = s.as_bytes().chunks_exact(2);
    // from_str_radix alone would accept a '+' sign.
    if !pairs.remainder().is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    pairs
        .map(|h| {
            core::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

fn write_hex(f: &mut fmt::Formatter<'_>, data: &[u8]) -> fmt::Result {
    data.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

/// Peer-supplied text goes into logs: control characters are escaped so it cannot forge lines.
fn write_text(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    for c in s.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Identity {
    /// The configuration syntax, so that what is logged can be pasted into swanctl.conf.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Ipv6(a) => write!(f, "{a}"),
            Identity::Fqdn(s) => {
                // A name that would parse as something else needs the explicit prefix.
                if s.contains(['@', '=', ':']) || s.parse::<IpAddr>().is_ok() || s == "%null" {
                    f.write_str("fqdn:")?;
                }
                write_text(f, s)
            }
            Identity::Rfc822(s) => {
                if !s.contains('@') || s.starts_with('@') || s.contains(['=', ':']) {
                    f.write_str("rfc822:")?;
                }
                write_text(f, s)
            }
            Identity::DerAsn1Dn(d) => match format_dn(d) {
                Some(dn) => f.write_str(&dn),
                None => {
                    f.write_str("asn1dn:#")?;
                    write_hex(f, d)
                }
            },
            Identity::KeyId(d) => {
                f.write_str("keyid:#")?;
                write_hex(f, d)
            }
            Identity::Null => f.write_str("%null"),
            Identity::Other { id_type, data } => {
                write!(f, "{id_type}:#")?;
                write_hex(f, data)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_config_strings() {
        let cases = [
            ("192.0.2.1", Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 1))),
            (
                "2001:db8::1",
                Identity::Ipv6("2001:db8::1".parse().unwrap()),
            ),
            ("east.example", Identity::Fqdn("east.example".into())),
            ("@east.example", Identity::Fqdn("east.example".into())),
            ("user@x", Identity::Rfc822("user@x".into())),
            ("@@user@x", Identity::Rfc822("user@x".into())),
            ("keyid:#0a0b", Identity::KeyId(vec![0x0a, 0x0b])),
            ("keyid:abc", Identity::KeyId(b"abc".to_vec())),
            ("fqdn:192.0.2.1", Identity::Fqdn("192.0.2.1".into())),
            ("asn1dn:#3000", Identity::DerAsn1Dn(vec![0x30, 0x00])),
            ("%null", Identity::Null),
        ];
        for (s, want) in cases {
            assert_eq!(Identity::parse(s).unwrap(), want, "{s}");
        }
        assert!(Identity::parse("").is_err());
        assert!(Identity::parse("keyid:#0g").is_err());
        assert!(Identity::parse("keyid:#+1").is_err());
        assert_eq!(
            Identity::parse("C=CH, CN=east").unwrap(),
            Identity::DerAsn1Dn(encode_dn("C=CH, CN=east").unwrap())
        );
        assert!(Identity::parse("C=CH, XX=east").is_err());
        assert!(Identity::parse("ipv4:east").is_err());
    }

    #[test]
    fn display_parses_back() {
        for s in [
            "192.0.2.1",
            "east.example",
            "user@x",
            "keyid:#0a0b",
            "fqdn:192.0.2.1",
            "fqdn:a@b",
            "rfc822:nobody",
            "asn1dn:#3000",
            "C=CH, O=Example, CN=moon.example",
            "%null",
        ] {
            let id = Identity::parse(s).unwrap();
            assert_eq!(id.to_string(), s);
            assert_eq!(Identity::parse(&id.to_string()).unwrap(), id);
        }
    }

    #[test]
    fn matching_like_strongswan() {
        let id = |s| Identity::parse(s).unwrap();
        assert!(id("east.example").matches(&id("EAST.Example")));
        assert!(!id("east.example").matches(&id("west.example")));
        assert!(id("*.example").matches(&id("east.example")));
        assert!(!id("*.example").matches(&id("east.example.org")));
        assert!(id("*@example.org").matches(&id("carol@EXAMPLE.org")));
        // Same text, different type: no match.
        assert!(!id("*@example.org").matches(&id("fqdn:carol@example.org")));
        assert!(id("192.0.2.1").matches(&id("192.0.2.1")));
        assert!(!id("192.0.2.1").matches(&id("192.0.2.2")));
        // A multi-byte character where the suffix would start must not panic.
        assert!(!id("*b.example").matches(&Identity::Fqdn("é.example".into())));
    }

    #[test]
    fn display_escapes_control_characters() {
        let id = Identity::Fqdn("evil\nline".into());
        assert_eq!(id.to_string(), "evil\\nline");
    }
}
