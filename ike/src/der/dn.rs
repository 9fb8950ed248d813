//! Distinguished names for ID_DER_ASN1_DN: the string form used in configuration and logs
//! (`C=CH, O=Example, CN=moon.example`) to and from the DER encoding of an X.501 Name.
//!
//! Only single-valued RDNs with string values are produced. A DER name this module cannot render
//! so that it encodes back to the same octets is shown as hex by [`crate::identity::Identity`]'s
//! Display.

use super::{push_tlv, Der};

/// Attribute short names and their OIDs (content octets of the DER OBJECT IDENTIFIER).
const ATTRS: &[(&str, &[u8])] = &[
    ("C", &[0x55, 0x04, 0x06]),
    ("ST", &[0x55, 0x04, 0x08]),
    ("L", &[0x55, 0x04, 0x07]),
    ("O", &[0x55, 0x04, 0x0a]),
    ("OU", &[0x55, 0x04, 0x0b]),
    ("CN", &[0x55, 0x04, 0x03]),
    ("SN", &[0x55, 0x04, 0x04]),
    ("serialNumber", &[0x55, 0x04, 0x05]),
    ("T", &[0x55, 0x04, 0x0c]),
    ("G", &[0x55, 0x04, 0x2a]),
    ("E", &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
    (
        "DC",
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
    ),
    (
        "UID",
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
    ),
];

/// The short name of a DN attribute (`CN`, `O`, ...) by its OID content octets, for display.
pub fn attribute_name(oid: &[u8]) -> Option<&'static str> {
    ATTRS.iter().find(|(_, o)| *o == oid).map(|(n, _)| *n)
}

/// Other spellings accepted on input.
const ALIASES: &[(&str, &str)] = &[
    ("emailAddress", "E"),
    ("Email", "E"),
    ("S", "ST"),
    ("title", "T"),
    ("GN", "G"),
    ("givenName", "G"),
];

const TAG_SEQUENCE: u8 = super::SEQUENCE;
const TAG_SET: u8 = 0x31;
const TAG_OID: u8 = super::OID;
const TAG_UTF8: u8 = 0x0c;
const TAG_PRINTABLE: u8 = 0x13;
const TAG_T61: u8 = 0x14;
const TAG_IA5: u8 = 0x16;

fn is_printable_string(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// DER for a name written as `KEY=value, KEY=value` (or with `/` separators, as OpenSSL prints).
pub fn encode_dn(s: &str) -> Result<Vec<u8>, &'static str> {
    let parts: Vec<&str> = if s.starts_with('/') {
        s.split('/').skip(1).collect()
    } else {
        s.split(',').collect()
    };
    let mut rdns = Vec::new();
    for part in parts {
        let (key, value) = part.split_once('=').ok_or("RDN without '='")?;
        let (key, value) = (key.trim(), value.trim());
        let key = ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(key))
            .map_or(key, |(_, k)| k);
        let oid = ATTRS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, oid)| *oid)
            .ok_or("unknown attribute type in distinguished name")?;
        if value.is_empty() {
            return Err("empty value in distinguished name");
        }
        let tag = match key {
            "E" | "DC" => {
                if !value.is_ascii() {
                    return Err("non-ASCII value for E or DC");
                }
                TAG_IA5
            }
            _ if is_printable_string(value) => TAG_PRINTABLE,
            _ => TAG_UTF8,
        };
        let mut atv = Vec::new();
        push_tlv(&mut atv, TAG_OID, oid);
        push_tlv(&mut atv, tag, value.as_bytes());
        let mut seq = Vec::new();
        push_tlv(&mut seq, TAG_SEQUENCE, &atv);
        push_tlv(&mut rdns, TAG_SET, &seq);
    }
    let mut out = Vec::new();
    push_tlv(&mut out, TAG_SEQUENCE, &rdns);
    Ok(out)
}

/// Reads one DER TLV with the expected tag; returns (content, rest).
fn read_tlv(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let mut d = Der(b);
    let tlv = d.expect(tag)?;
    Some((tlv.content, d.0))
}

/// Decodes a string value of any of the DER string types used in names.
fn read_string(b: &[u8]) -> Option<(&str, &[u8])> {
    let tag = *b.first()?;
    if ![TAG_UTF8, TAG_PRINTABLE, TAG_T61, TAG_IA5].contains(&tag) {
        return None;
    }
    let (content, rest) = read_tlv(b, tag)?;
    Some((core::str::from_utf8(content).ok()?, rest))
}

/// The attributes of a DER name whose RDNs are single-valued with known types and plain string
/// values, in order; `None` for anything else.
fn plain_attributes(der: &[u8]) -> Option<Vec<(&'static str, &str)>> {
    let (mut rdns, rest) = read_tlv(der, TAG_SEQUENCE)?;
    if !rest.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (set, rest) = read_tlv(rdns, TAG_SET)?;
        rdns = rest;
        let (atv, set_rest) = read_tlv(set, TAG_SEQUENCE)?;
        if !set_rest.is_empty() {
            return None; // multi-valued RDN
        }
        let (oid, atv) = read_tlv(atv, TAG_OID)?;
        let (value, atv) = read_string(atv)?;
        if !atv.is_empty() || value.contains([',', '/', '=']) || value.chars().any(char::is_control)
        {
            return None;
        }
        let name = ATTRS.iter().find(|(_, o)| *o == oid)?.0;
        parts.push((name, value));
    }
    Some(parts)
}

/// The string form of a DER name, if every attribute has a known type and a plain string value
/// and the string parses back to the same name; otherwise `None` (callers then show hex).
///
/// The string type of a value may differ from what [`encode_dn`] would pick (OpenSSL writes
/// UTF8String where we write PrintableString): IKE compares such names as equal, as strongSwan
/// does, so the readable form still stands for the same identity.
pub fn format_dn(der: &[u8]) -> Option<String> {
    let parts = plain_attributes(der)?;
    let s = parts
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(", ");
    let reencoded = encode_dn(&s).ok()?;
    (reencoded == der || plain_attributes(&reencoded)? == parts).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_known_der() {
        // C=CH, CN=moon: SEQUENCE { SET { SEQUENCE { 2.5.4.6, PrintableString "CH" } }, ... }
        let der = encode_dn("C=CH, CN=moon").unwrap();
        assert_eq!(
            der,
            [
                0x30, 0x1c, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'C',
                b'H', 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03, 0x13, 0x04, b'm', b'o',
                b'o', b'n',
            ]
        );
        assert_eq!(format_dn(&der).unwrap(), "C=CH, CN=moon");
        assert_eq!(encode_dn("/C=CH/CN=moon").unwrap(), der);
    }

    #[test]
    fn string_types_and_long_lengths() {
        let long = "x".repeat(200);
        let s = format!("E=a@b.example, O=Zürich, CN={long}");
        let der = encode_dn(&s).unwrap();
        assert_eq!(format_dn(&der).unwrap(), s);
        // '@' is not in PrintableString: E uses IA5String; "Zürich" needs UTF8String.
        assert!(der.windows(2).any(|w| w == [TAG_IA5, 11]));
        assert!(der.windows(2).any(|w| w == [TAG_UTF8, 7]));
    }

    #[test]
    fn rejects_and_falls_back() {
        assert!(encode_dn("CN").is_err());
        assert!(encode_dn("XX=1").is_err());
        assert!(encode_dn("CN=").is_err());
        // Truncated or foreign DER: no string form.
        let der = encode_dn("C=CH, CN=moon").unwrap();
        for k in 0..der.len() {
            assert_eq!(format_dn(&der[..k]), None);
        }
        assert_eq!(format_dn(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        // Another string type for the same text (OpenSSL's UTF8String) is the same name.
        let mut utf8 = der.clone();
        utf8[11] = TAG_UTF8;
        assert_eq!(format_dn(&utf8).unwrap(), "C=CH, CN=moon");
        // An attribute type we cannot name: no string form.
        let mut unknown = der.clone();
        unknown[10] = 0x7f;
        assert_eq!(format_dn(&unknown), None);
    }
}
