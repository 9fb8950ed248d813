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
