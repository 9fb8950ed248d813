//! Traffic selector payloads TSi/TSr (RFC 7296 section 3.13). The [`TrafficSelector`] they carry
//! and the narrowing operations are version-neutral and live in rswan-ike.

use core::fmt;
use std::net::IpAddr;

use super::encode::{patch_len, reserve_len};
use super::error::DecodeError;
use super::reader::Reader;
use crate::consts::TsType;

pub use rswan_ike::selector::{narrow, narrow_capped, TrafficSelector, TsError};

/// The TS Type an address-range selector is sent as.
fn ts_type(ts: &TrafficSelector) -> TsType {
    if ts.is_ipv4() {
        TsType::IPV4_ADDR_RANGE
    } else {
        TsType::IPV6_ADDR_RANGE
    }
}

fn decode_entry(
    ts_type: TsType,
    ip_proto: u8,
    body: &[u8],
) -> Result<TrafficSelector, DecodeError> {
    let mut r = Reader::new(body);
    let start_port = r.u16("traffic selector")?;
    let end_port = r.u16("traffic selector")?;
    let (start_addr, end_addr) = if ts_type == TsType::IPV4_ADDR_RANGE {
        let s: [u8; 4] = r.array("traffic selector")?;
        let e: [u8; 4] = r.array("traffic selector")?;
        (IpAddr::from(s), IpAddr::from(e))
    } else {
        let s: [u8; 16] = r.array("traffic selector")?;
        let e: [u8; 16] = r.array("traffic selector")?;
        (IpAddr::from(s), IpAddr::from(e))
    };
    r.finish("traffic selector")?;
    // Both addresses were read with the family of `ts_type`, so this cannot be None.
    TrafficSelector::from_wire(ip_proto, (start_port, end_port), start_addr, end_addr).ok_or(
        DecodeError::BadField {
            what: "traffic selector address families",
            expected: "one family",
            found: 2,
        },
    )
}

/// One entry of a TS payload: an address range, or a selector type we do not interpret (kept so the
/// payload re-encodes exactly, e.g. RFC 9478 security labels).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TsEntry {
    Ip(TrafficSelector),
    Other {
        ts_type: TsType,
        /// The octet after TS Type (IP Protocol ID for address ranges, reserved for labels).
        second: u8,
        data: Vec<u8>,
    },
}

/// The most selectors one TSi/TSr payload can carry: its count is one octet.
pub const MAX_TS_PER_PAYLOAD: usize = 255;

/// A TS payload cannot hold this many selectors (more than [`MAX_TS_PER_PAYLOAD`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManySelectors(pub usize);

impl fmt::Display for TooManySelectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} traffic selectors do not fit one TS payload (at most {MAX_TS_PER_PAYLOAD})",
            self.0
        )
    }
}

impl std::error::Error for TooManySelectors {}

/// TSi or TSr payload body. Holds at most [`MAX_TS_PER_PAYLOAD`] selectors by construction, so
/// that encoding cannot fail.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct TsPayload {
    selectors: Vec<TsEntry>,
}

impl TsPayload {
    pub fn new(
        selectors: impl IntoIterator<Item = TrafficSelector>,
    ) -> Result<Self, TooManySelectors> {
        Self::from_entries(selectors.into_iter().map(TsEntry::Ip).collect())
    }

    pub fn from_entries(selectors: Vec<TsEntry>) -> Result<Self, TooManySelectors> {
        if selectors.len() > MAX_TS_PER_PAYLOAD {
            return Err(TooManySelectors(selectors.len()));
        }
        Ok(TsPayload { selectors })
    }

    pub fn entries(&self) -> &[TsEntry] {
        &self.selectors
    }

    /// The address-range selectors, skipping types we do not interpret.
    pub fn ip_selectors(&self) -> impl Iterator<Item = &TrafficSelector> {
        self.selectors.iter().filter_map(|e| match e {
            TsEntry::Ip(ts) => Some(ts),
            TsEntry::Other { .. } => None,
        })
    }

    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let count = usize::from(r.u8("TS payload")?);
        let _reserved = r.take(3, "TS payload")?;
        let mut selectors = Vec::with_capacity(count);
        while !r.is_empty() {
            let ts_type = TsType(r.u8("traffic selector header")?);
            let second = r.u8("traffic selector header")?;
            let len = usize::from(r.u16("traffic selector header")?);
            let want = match ts_type {
                TsType::IPV4_ADDR_RANGE => Some(16),
                TsType::IPV6_ADDR_RANGE => Some(40),
                _ => None,
            };
            if let Some(want) = want {
                if len != want {
                    return Err(DecodeError::BadField {
                        what: "traffic selector length",
                        expected: if want == 16 {
                            "16 for IPv4"
                        } else {
                            "40 for IPv6"
                        },
                        found: len as u64,
                    });
                }
            } else if len < 4 {
                return Err(DecodeError::BadField {
                    what: "traffic selector length",
                    expected: "at least 4",
                    found: len as u64,
                });
            }
            let body = r.take(len - 4, "traffic selector")?;
            selectors.push(match want {
                Some(_) => TsEntry::Ip(decode_entry(ts_type, second, body)?),
                None => TsEntry::Other {
                    ts_type,
                    second,
                    data: body.to_vec(),
                },
            });
        }
        if selectors.len() != count {
            return Err(DecodeError::CountMismatch {
                what: "TS payload selectors",
                declared: count,
                found: selectors.len(),
            });
        }
        Ok(TsPayload { selectors })
    }

    pub fn encode_body(&self, out: &mut Vec<u8>) {
        // At most 255 by construction (`from_entries`, `decode_body`).
        out.push(u8::try_from(self.selectors.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&[0, 0, 0]);
        for e in &self.selectors {
            let start = out.len();
            match e {
                TsEntry::Ip(ts) => {
                    out.push(ts_type(ts).0);
                    out.push(ts.ip_proto());
                    let at = reserve_len(out);
                    out.extend_from_slice(&ts.start_port().to_be_bytes());
                    out.extend_from_slice(&ts.end_port().to_be_bytes());
                    for a in [ts.start_addr(), ts.end_addr()] {
                        match a {
                            IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                            IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
                        }
                    }
                    patch_len(out, at, start, "traffic selector");
                }
                TsEntry::Other {
                    ts_type,
                    second,
                    data,
                } => {
                    out.push(ts_type.0);
                    out.push(*second);
                    let at = reserve_len(out);
                    out.extend_from_slice(data);
                    patch_len(out, at, start, "traffic selector");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> TrafficSelector {
        s.parse().unwrap()
    }

    #[test]
    fn more_than_255_selectors_are_refused_not_encoded() {
        let many = (0..=255u8).map(|i| ts(&format!("10.0.{i}.0/24")));
        assert_eq!(TsPayload::new(many), Err(TooManySelectors(256)));
        let full = TsPayload::new((0..255u8).map(|i| ts(&format!("10.0.{i}.0/24")))).unwrap();
        let mut out = Vec::new();
        full.encode_body(&mut out);
        assert_eq!(out[0], 255);
        assert_eq!(TsPayload::decode_body(&out).unwrap(), full);
    }

    #[test]
    fn ipv4_range_layout() {
        // TSi of psk-gcm-ecp256: 10.1.0.0-10.1.0.255, any protocol, all ports.
        let p = TsPayload::new([ts("10.1.0.0/24")]).unwrap();
        let mut out = Vec::new();
        p.encode_body(&mut out);
        assert_eq!(
            out,
            [
                1, 0, 0, 0, // one selector
                7, 0, 0, 16, // IPv4 range, proto 0, length 16
                0, 0, 0xff, 0xff, // ports 0-65535
                10, 1, 0, 0, 10, 1, 0, 255,
            ]
        );
        assert_eq!(TsPayload::decode_body(&out).unwrap(), p);
    }

    #[test]
    fn ipv6_and_unknown_round_trip() {
        let p = TsPayload {
            selectors: vec![
                TsEntry::Ip(ts("2001:db8::/32[tcp/443]")),
                TsEntry::Other {
                    ts_type: TsType(10),
                    second: 0,
                    data: b"label".to_vec(),
                },
            ],
        };
        let mut out = Vec::new();
        p.encode_body(&mut out);
        assert_eq!(out.len(), 4 + 40 + 4 + 5);
        assert_eq!(TsPayload::decode_body(&out).unwrap(), p);
    }

    #[test]
    fn bad_lengths_and_counts() {
        let mut out = Vec::new();
        TsPayload::new([ts("10.1.0.0/24")])
            .unwrap()
            .encode_body(&mut out);
        let mut b = out.clone();
        b[7] = 40; // an IPv4 range claiming IPv6 size
        assert!(matches!(
            TsPayload::decode_body(&b),
            Err(DecodeError::BadField { .. })
        ));
        let mut b = out.clone();
        b[0] = 2;
        assert!(matches!(
            TsPayload::decode_body(&b),
            Err(DecodeError::CountMismatch { .. })
        ));
    }
}
