//! The certificate fields authentication needs besides what rustls-webpki checks: subject, issuer,
//! subjectAltName entries, the SubjectPublicKeyInfo and the validity period (for messages).

use core::fmt;
use std::net::IpAddr;

use crate::der::format_dn;
use crate::der::{Der, BIT_STRING, INTEGER, OID, SEQUENCE};

const TAG_VERSION: u8 = 0xa0;
const TAG_EXTENSIONS: u8 = 0xa3;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;

/// One subjectAltName entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SanEntry {
    Dns(String),
    Email(String),
    Ip(IpAddr),
    /// directoryName: the DER of the Name.
    Dn(Vec<u8>),
    /// Any other GeneralName form, by its context tag number.
    Other(u8),
}

impl fmt::Display for SanEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SanEntry::Dns(s) => write!(f, "DNS:{s}"),
            SanEntry::Email(s) => write!(f, "email:{s}"),
            SanEntry::Ip(a) => write!(f, "IP:{a}"),
            SanEntry::Dn(d) => write!(f, "dirName:{}", name_string(d)),
            SanEntry::Other(t) => write!(f, "GeneralName[{t}]"),
        }
    }
}

/// A parsed certificate's fields, borrowing from its DER.
#[derive(Clone, Debug)]
pub struct CertInfo<'a> {
    /// DER of the issuer Name.
    pub issuer: &'a [u8],
    /// DER of the subject Name.
    pub subject: &'a [u8],
    /// The whole SubjectPublicKeyInfo TLV (what CERTREQ hashes with SHA-1).
    pub spki: &'a [u8],
    pub not_before: u64,
    pub not_after: u64,
    pub san: Vec<SanEntry>,
}

/// The (attribute OID, string value) pairs of a DER Name, whatever string types it uses
/// (certificates mix PrintableString and UTF8String; an ID_DER_ASN1_DN may use the other one).
pub(crate) fn dn_attributes(der: &[u8]) -> Option<Vec<(&[u8], &str)>> {
    let mut rdns = Der::only_sequence(der)?;
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let mut set = Der(rdns.expect(0x31)?.content);
        while !set.is_empty() {
            let mut atv = Der(set.expect(SEQUENCE)?.content);
            let oid = atv.expect(OID)?.content;
            let value = atv.any()?;
            if !matches!(value.tag, 0x0c | 0x13 | 0x14 | 0x16 | 0x1e) || !atv.is_empty() {
                return None;
            }
            out.push((oid, core::str::from_utf8(value.content).ok()?));
        }
    }
    Some(out)
}

/// Whether two DER Names are the same name: identical octets, or the same attributes in the same
/// order with values equal up to ASCII case and string type.
pub(crate) fn same_dn(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    match (dn_attributes(a), dn_attributes(b)) {
        (Some(x), Some(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(&y)
                    .all(|((o1, v1), (o2, v2))| o1 == o2 && v1.eq_ignore_ascii_case(v2))
        }
        _ => false,
    }
}

/// A DER Name in `C=CH, CN=moon` form for messages, or `#hex` if it is not a plain string name.
pub fn name_string(der: &[u8]) -> String {
    if let Some(s) = format_dn(der) {
        return if s.is_empty() {
            "(empty name)".into()
        } else {
            s
        };
    }
    let rendered = dn_attributes(der).map(|attrs| {
        attrs
            .iter()
            .map(|(oid, v)| match crate::der::dn::attribute_name(oid) {
                Some(n) => format!("{n}={v}"),
                None => format!("{}={v}", oid_string(oid)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    });
    match rendered {
        Some(s) if !s.is_empty() => s,
        _ => {
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            format!("#{hex}")
        }
    }
}

/// Dotted form of OID content octets.
fn oid_string(oid: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut acc: u64 = 0;
    for (i, b) in oid.iter().enumerate() {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() && i < 8 {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

impl<'a> CertInfo<'a> {
    /// Parses the fields; `None` if the DER is not a well-formed X.509 v1-v3 certificate.
    pub fn parse(cert: &'a [u8]) -> Option<Self> {
        let mut outer = Der::only_sequence(cert)?;
        let mut tbs = Der(outer.expect(SEQUENCE)?.content);
        tbs.optional(TAG_VERSION);
        tbs.expect(INTEGER)?;
        tbs.expect(SEQUENCE)?; // signature algorithm
        let issuer = tbs.expect(SEQUENCE)?.whole;
        let mut validity = Der(tbs.expect(SEQUENCE)?.content);
        let not_before = parse_time(&mut validity)?;
        let not_after = parse_time(&mut validity)?;
        let subject = tbs.expect(SEQUENCE)?.whole;
        let spki = tbs.expect(SEQUENCE)?.whole;
        let mut san = Vec::new();
        while let Some(tlv) = tbs.any() {
            if tlv.tag == TAG_EXTENSIONS {
                san = parse_san(tlv.content)?;
            }
        }
        Some(CertInfo {
            issuer,
            subject,
            spki,
            not_before,
            not_after,
            san,
        })
    }
}

/// The algorithm OID, its parameters (whole TLV, may be empty) and the key bits of an SPKI.
pub(crate) fn split_spki(spki: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut d = Der::only_sequence(spki)?;
    let mut alg = Der(d.expect(SEQUENCE)?.content);
    let oid = alg.expect(OID)?.content;
    let params = alg.any().map_or(&[][..], |t| t.whole);
    let bits = d.expect(BIT_STRING)?.content;
    let (&unused, key) = bits.split_first()?;
    (unused == 0 && d.is_empty()).then_some((oid, params, key))
}

fn parse_san(extensions: &[u8]) -> Option<Vec<SanEntry>> {
    let mut exts = Der(Der::only_sequence(extensions)?.0);
    let mut out = Vec::new();
    while !exts.is_empty() {
        let mut ext = Der(exts.expect(SEQUENCE)?.content);
        let oid = ext.expect(OID)?.content;
        ext.optional(BOOLEAN);
        let value = ext.expect(OCTET_STRING)?.content;
        if oid != OID_SUBJECT_ALT_NAME {
            continue;
        }
        let mut names = Der::only_sequence(value)?;
        while let Some(gn) = names.any() {
            let text = || core::str::from_utf8(gn.content).ok().map(str::to_string);
            out.push(match gn.tag {
                0x81 => SanEntry::Email(text()?),
                0x82 => SanEntry::Dns(text()?),
                0x87 => match gn.content.len() {
                    4 => SanEntry::Ip(IpAddr::from(<[u8; 4]>::try_from(gn.content).ok()?)),
                    16 => SanEntry::Ip(IpAddr::from(<[u8; 16]>::try_from(gn.content).ok()?)),
                    _ => return None,
                },
                0xa4 => SanEntry::Dn(gn.content.to_vec()),
                t => SanEntry::Other(t & 0x1f),
            });
        }
    }
    Some(out)
}

fn digits(b: &[u8]) -> Option<u64> {
    b.iter().try_fold(0u64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) as seconds since the Unix epoch.
fn parse_time(d: &mut Der<'_>) -> Option<u64> {
    let tlv = d.any()?;
    let (year, rest) = match (tlv.tag, tlv.content.len()) {
        (TAG_UTC_TIME, 13) => {
            let yy = digits(tlv.content.get(..2)?)?;
            (
                if yy >= 50 { 1900 + yy } else { 2000 + yy },
                tlv.content.get(2..)?,
            )
        }
        (TAG_GENERALIZED_TIME, 15) => (digits(tlv.content.get(..4)?)?, tlv.content.get(4..)?),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let f = |i: usize| rest.get(i..i + 2).and_then(digits);
    let (month, day, h, m, s) = (f(0)?, f(2)?, f(4)?, f(6)?, f(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(days * 86400 + h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 (H. Hinnant's algorithm), for dates from 1970 on.
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

/// `2026-11-27 00:42:37 UTC` for a Unix time.
pub fn format_time(t: u64) -> String {
    let (days, secs) = (t / 86400, t % 86400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let mut d = Der(b"\x17\x0d260101000000Z");
        let t = parse_time(&mut d).unwrap();
        assert_eq!(t, 1_767_225_600);
        assert_eq!(format_time(t), "2026-01-01 00:00:00 UTC");
        let mut d = Der(b"\x18\x0f20500228235959Z");
        assert_eq!(
            format_time(parse_time(&mut d).unwrap()),
            "2050-02-28 23:59:59 UTC"
        );
        assert!(parse_time(&mut Der(b"\x17\x0d261301000000Z")).is_none());
        assert!(parse_time(&mut Der(b"\x17\x0d2601010000001")).is_none());
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(CertInfo::parse(&[]).is_none());
        assert!(CertInfo::parse(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_none());
    }
}
