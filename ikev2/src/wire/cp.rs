//! Configuration payload (RFC 7296 section 3.15).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::encode::len_u16;
use super::error::DecodeError;
use super::reader::Reader;
use crate::consts::{CfgAttrType, CfgType};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CfgAttr {
    pub attr_type: CfgAttrType,
    /// Empty in a CFG_REQUEST that asks for an attribute without suggesting a value.
    pub value: Vec<u8>,
}

impl CfgAttr {
    pub fn request(attr_type: CfgAttrType) -> Self {
        CfgAttr {
            attr_type,
            value: Vec::new(),
        }
    }

    /// The address of an INTERNAL_IP4_ADDRESS/DNS/NBNS/DHCP attribute.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        <[u8; 4]>::try_from(self.value.as_slice())
            .ok()
            .map(Ipv4Addr::from)
    }

    /// The address of an INTERNAL_IP6_DNS/DHCP attribute (16 octets) or the address part of an
    /// INTERNAL_IP6_ADDRESS (16 octets + prefix length).
    pub fn ipv6(&self) -> Option<Ipv6Addr> {
        self.value
            .get(..16)
            .and_then(|v| <[u8; 16]>::try_from(v).ok())
            .map(Ipv6Addr::from)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CpPayload {
    pub cfg_type: CfgType,
    pub attrs: Vec<CfgAttr>,
}

impl CpPayload {
    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let cfg_type = CfgType(r.u8("CP payload")?);
        let _reserved = r.take(3, "CP payload")?;
        let mut attrs = Vec::new();
        while !r.is_empty() {
            // The top bit is reserved (RFC 7296 section 3.15.1) and ignored.
            let attr_type = CfgAttrType(r.u16("configuration attribute")? & 0x7fff);
            let len = usize::from(r.u16("configuration attribute")?);
            let value = r.take(len, "configuration attribute value")?.to_vec();
            attrs.push(CfgAttr { attr_type, value });
        }
        Ok(CpPayload { cfg_type, attrs })
    }

    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.cfg_type.0);
        out.extend_from_slice(&[0, 0, 0]);
        for a in &self.attrs {
            out.extend_from_slice(&(a.attr_type.0 & 0x7fff).to_be_bytes());
            out.extend_from_slice(&len_u16(a.value.len(), "configuration attribute").to_be_bytes());
            out.extend_from_slice(&a.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_reply_layout() {
        let req = CpPayload {
            cfg_type: CfgType::CFG_REQUEST,
            attrs: vec![
                CfgAttr::request(CfgAttrType::INTERNAL_IP4_ADDRESS),
                CfgAttr::request(CfgAttrType::INTERNAL_IP4_DNS),
            ],
        };
        let mut out = Vec::new();
        req.encode_body(&mut out);
        assert_eq!(out, [1, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0]);
        assert_eq!(CpPayload::decode_body(&out).unwrap(), req);

        let reply = CpPayload::decode_body(&[2, 0, 0, 0, 0, 1, 0, 4, 10, 3, 0, 1]).unwrap();
        assert_eq!(reply.attrs[0].ipv4(), Some(Ipv4Addr::new(10, 3, 0, 1)));
    }

    #[test]
    fn attribute_length_past_end_is_rejected() {
        assert!(matches!(
            CpPayload::decode_body(&[2, 0, 0, 0, 0, 1, 0, 5, 10, 3, 0, 1]),
            Err(DecodeError::Truncated { .. })
        ));
    }
}
