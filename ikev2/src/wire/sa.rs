//! SA payload (RFC 7296 section 3.3): proposals, transforms, transform attributes.
//!
//! These types are the shared contract between the codec and the proposal engine: the engine builds
//! and selects `Proposal`s, the codec encodes and decodes them exactly.

use crate::consts::{ProtocolId, TransformAttrType, TransformType};

/// One transform attribute other than Key Length (kept so re-encoding is exact).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attribute {
    pub attr_type: TransformAttrType,
    /// TV format (AF bit set): 2-octet value. TLV format: variable.
    pub value: AttrValue,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttrValue {
    Tv(u16),
    Tlv(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Transform {
    pub ttype: TransformType,
    /// Transform ID within `ttype`'s registry (EncrId, PrfId, IntegId, KeGroup, EsnId).
    pub id: u16,
    /// The Key Length attribute (TV, type 14), in bits, when present.
    pub key_length: Option<u16>,
    /// Any other attributes, in wire order after Key Length.
    pub other_attrs: Vec<Attribute>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// Proposal number (1-based, as on the wire).
    pub num: u8,
    pub protocol: ProtocolId,
    /// Empty in IKE_SA_INIT; 8 octets for IKE in CREATE_CHILD_SA; 4 octets for ESP/AH.
    pub spi: Vec<u8>,
    pub transforms: Vec<Transform>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct SaPayload {
    pub proposals: Vec<Proposal>,
}

// ---- codec ----

use super::encode::{patch_len, put_u16, reserve_len};
use super::error::DecodeError;
use super::reader::Reader;

/// "Last Substruc" values (RFC 7296 section 3.3.1 and 3.3.2).
const MORE_PROPOSALS: u8 = 2;
const MORE_TRANSFORMS: u8 = 3;
const LAST: u8 = 0;
/// Attribute Format bit: set for TV (fixed 2-octet value), clear for TLV.
const AF: u16 = 0x8000;

impl SaPayload {
    /// Decodes an SA payload body (after the generic payload header).
    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let mut proposals = Vec::new();
        loop {
            let last = r.u8("proposal header")?;
            let _reserved = r.u8("proposal header")?;
            let len = usize::from(r.u16("proposal header")?);
            // The 4 octets just read count towards the proposal length.
            if len < 8 {
                return Err(DecodeError::BadField {
                    what: "proposal length",
                    expected: "at least 8",
                    found: len as u64,
                });
            }
            let p = r.take(len - 4, "proposal")?;
            proposals.push(Proposal::decode_rest(p)?);
            match last {
                LAST => break,
                MORE_PROPOSALS if !r.is_empty() => {}
                MORE_PROPOSALS => {
                    return Err(DecodeError::Truncated {
                        what: "proposal announced by Last Substruc 2",
                        needed: 8,
                        available: 0,
                    })
                }
                other => {
                    return Err(DecodeError::BadField {
                        what: "proposal Last Substruc",
                        expected: "0 or 2",
                        found: other.into(),
                    })
                }
            }
        }
        r.finish("last proposal")?;
        Ok(SaPayload { proposals })
    }

    pub fn encode_body(&self, out: &mut Vec<u8>) {
        for (i, p) in self.proposals.iter().enumerate() {
            let last = i + 1 == self.proposals.len();
            let start = out.len();
            out.push(if last { LAST } else { MORE_PROPOSALS });
            out.push(0);
            let at = reserve_len(out);
            p.encode_rest(out);
            patch_len(out, at, start, "proposal");
        }
    }
}

impl Proposal {
    /// Decodes what follows the proposal's length field.
    fn decode_rest(p: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(p);
        let num = r.u8("proposal")?;
        let protocol = ProtocolId(r.u8("proposal")?);
        let spi_size = usize::from(r.u8("proposal")?);
        let n_transforms = usize::from(r.u8("proposal")?);
        let spi = r.take(spi_size, "proposal SPI")?.to_vec();
        let mut transforms = Vec::with_capacity(n_transforms.min(64));
        while !r.is_empty() {
            let last = r.u8("transform header")?;
            let _reserved = r.u8("transform header")?;
            let len = usize::from(r.u16("transform header")?);
            if len < 8 {
                return Err(DecodeError::BadField {
                    what: "transform length",
                    expected: "at least 8",
                    found: len as u64,
                });
            }
            let t = r.take(len - 4, "transform")?;
            transforms.push(Transform::decode_rest(t)?);
            let expected_last = if r.is_empty() { LAST } else { MORE_TRANSFORMS };
            if last != expected_last {
                return Err(DecodeError::BadField {
                    what: "transform Last Substruc",
                    expected: if r.is_empty() { "0 (last)" } else { "3 (more)" },
                    found: last.into(),
                });
            }
        }
        if transforms.len() != n_transforms {
            return Err(DecodeError::CountMismatch {
                what: "proposal transforms",
                declared: n_transforms,
                found: transforms.len(),
            });
        }
        Ok(Proposal {
            num,
            protocol,
            spi,
            transforms,
        })
    }

    fn encode_rest(&self, out: &mut Vec<u8>) {
        out.push(self.num);
        out.push(self.protocol.0);
        out.push(u8::try_from(self.spi.len()).expect("SPI of at most 255 octets"));
        out.push(u8::try_from(self.transforms.len()).expect("at most 255 transforms per proposal"));
        out.extend_from_slice(&self.spi);
        for (i, t) in self.transforms.iter().enumerate() {
            let last = i + 1 == self.transforms.len();
            let start = out.len();
            out.push(if last { LAST } else { MORE_TRANSFORMS });
            out.push(0);
            let at = reserve_len(out);
            t.encode_rest(out);
            patch_len(out, at, start, "transform");
        }
    }
}

impl Transform {
    fn decode_rest(t: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(t);
        let ttype = TransformType(r.u8("transform")?);
        let _reserved = r.u8("transform")?;
        let id = r.u16("transform")?;
        let mut key_length = None;
        let mut other_attrs = Vec::new();
        while !r.is_empty() {
            let af_type = r.u16("transform attribute")?;
            let attr_type = TransformAttrType(af_type & !AF);
            let value = if af_type & AF != 0 {
                AttrValue::Tv(r.u16("transform attribute")?)
            } else {
                let len = usize::from(r.u16("transform attribute")?);
                AttrValue::Tlv(r.take(len, "transform attribute value")?.to_vec())
            };
            match (attr_type, value) {
                (TransformAttrType::KEY_LENGTH, AttrValue::Tv(bits)) if key_length.is_none() => {
                    key_length = Some(bits)
                }
                (TransformAttrType::KEY_LENGTH, AttrValue::Tv(_)) => {
                    return Err(DecodeError::BadField {
                        what: "transform Key Length attributes",
                        expected: "at most one",
                        found: 2,
                    })
                }
                (TransformAttrType::KEY_LENGTH, AttrValue::Tlv(v)) => {
                    return Err(DecodeError::BadField {
                        what: "Key Length attribute",
                        expected: "TV format",
                        found: v.len() as u64,
                    })
                }
                (attr_type, value) => other_attrs.push(Attribute { attr_type, value }),
            }
        }
        Ok(Transform {
            ttype,
            id,
            key_length,
            other_attrs,
        })
    }

    fn encode_rest(&self, out: &mut Vec<u8>) {
        out.push(self.ttype.0);
        out.push(0);
        put_u16(out, self.id);
        if let Some(bits) = self.key_length {
            put_u16(out, AF | TransformAttrType::KEY_LENGTH.0);
            put_u16(out, bits);
        }
        for a in &self.other_attrs {
            match &a.value {
                AttrValue::Tv(v) => {
                    put_u16(out, AF | a.attr_type.0);
                    put_u16(out, *v);
                }
                AttrValue::Tlv(v) => {
                    put_u16(out, a.attr_type.0 & !AF);
                    put_u16(out, super::encode::len_u16(v.len(), "transform attribute"));
                    out.extend_from_slice(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::{EncrId, KeGroup, PrfId};

    /// SA body of psk-gcm-ecp256 frame 1, laid out by hand from RFC 7296 section 3.3:
    /// one IKE proposal, AES-GCM-16 with 256-bit key, PRF-HMAC-SHA2-256, ECP-256.
    const GCM_SA: &[u8] = &[
        0x00, 0x00, 0x00, 0x24, // last proposal, length 36
        0x01, 0x01, 0x00, 0x03, // #1, IKE, no SPI, 3 transforms
        0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x14, 0x80, 0x0e, 0x01,
        0x00, // ENCR 20, KL 256
        0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05, // PRF 5
        0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x13, // KE 19, last
    ];

    fn gcm_model() -> SaPayload {
        let t = |ttype, id, key_length| Transform {
            ttype,
            id,
            key_length,
            other_attrs: vec![],
        };
        SaPayload {
            proposals: vec![Proposal {
                num: 1,
                protocol: ProtocolId::IKE,
                spi: vec![],
                transforms: vec![
                    t(TransformType::ENCR, EncrId::AES_GCM_16.0, Some(256)),
                    t(TransformType::PRF, PrfId::HMAC_SHA2_256.0, None),
                    t(TransformType::KE, KeGroup::ECP_256.0, None),
                ],
            }],
        }
    }

    #[test]
    fn decodes_hand_built_sa() {
        assert_eq!(SaPayload::decode_body(GCM_SA).unwrap(), gcm_model());
    }

    #[test]
    fn encodes_hand_built_sa() {
        let mut out = Vec::new();
        gcm_model().encode_body(&mut out);
        assert_eq!(out, GCM_SA);
    }

    #[test]
    fn esp_spi_and_tlv_attribute_round_trip() {
        let sa = SaPayload {
            proposals: vec![
                Proposal {
                    num: 1,
                    protocol: ProtocolId::ESP,
                    spi: vec![0xaf, 0x56, 0xb7, 0x1c],
                    transforms: vec![Transform {
                        ttype: TransformType::ENCR,
                        id: 12,
                        key_length: Some(128),
                        other_attrs: vec![
                            Attribute {
                                attr_type: TransformAttrType(99),
                                value: AttrValue::Tlv(vec![1, 2, 3]),
                            },
                            Attribute {
                                attr_type: TransformAttrType(100),
                                value: AttrValue::Tv(7),
                            },
                        ],
                    }],
                },
                Proposal {
                    num: 2,
                    protocol: ProtocolId::ESP,
                    spi: vec![0, 0, 0, 1],
                    transforms: vec![],
                },
            ],
        };
        let mut out = Vec::new();
        sa.encode_body(&mut out);
        // First proposal announces a second one.
        assert_eq!(out[0], MORE_PROPOSALS);
        assert_eq!(SaPayload::decode_body(&out).unwrap(), sa);
    }

    #[test]
    fn wrong_transform_count_is_rejected() {
        let mut b = GCM_SA.to_vec();
        b[7] = 4;
        assert_eq!(
            SaPayload::decode_body(&b),
            Err(DecodeError::CountMismatch {
                what: "proposal transforms",
                declared: 4,
                found: 3
            })
        );
    }

    #[test]
    fn last_substruc_must_match_position() {
        let mut b = GCM_SA.to_vec();
        b[28] = 3; // the last transform claims more follow
        assert!(matches!(
            SaPayload::decode_body(&b),
            Err(DecodeError::BadField {
                what: "transform Last Substruc",
                ..
            })
        ));
        let mut b = GCM_SA.to_vec();
        b[0] = 2; // the only proposal claims more follow
        assert!(matches!(
            SaPayload::decode_body(&b),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn proposal_length_past_payload_is_rejected() {
        let mut b = GCM_SA.to_vec();
        b[3] = 0x25;
        assert!(matches!(
            SaPayload::decode_body(&b),
            Err(DecodeError::Truncated {
                what: "proposal",
                ..
            })
        ));
    }

    #[test]
    fn key_length_as_tlv_is_rejected() {
        // The ENCR transform's Key Length rewritten as TLV type 14 with an empty value.
        let mut b = GCM_SA.to_vec();
        b[16..20].copy_from_slice(&[0x00, 0x0e, 0x00, 0x00]);
        assert!(matches!(
            SaPayload::decode_body(&b),
            Err(DecodeError::BadField {
                what: "Key Length attribute",
                ..
            })
        ));
    }
}
