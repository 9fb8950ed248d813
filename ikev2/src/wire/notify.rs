//! Notify payload (RFC 7296 section 3.10) with constructors for the notifies the engine sends.

use super::error::DecodeError;
use super::reader::Reader;
use crate::consts::{KeGroup, NotifyType, ProtocolId};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Notify {
    /// ProtocolId::NONE when no SPI is given (most notifies), IKE/AH/ESP otherwise.
    pub protocol: ProtocolId,
    pub spi: Vec<u8>,
    pub ntype: NotifyType,
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify without SPI or data (status or error).
    pub fn new(ntype: NotifyType) -> Self {
        Notify::with_data(ntype, Vec::new())
    }

    pub fn with_data(ntype: NotifyType, data: Vec<u8>) -> Self {
        Notify {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            ntype,
            data,
        }
    }

    /// COOKIE (RFC 7296 section 2.6).
    pub fn cookie(cookie: Vec<u8>) -> Self {
        Notify::with_data(NotifyType::COOKIE, cookie)
    }

    /// INVALID_KE_PAYLOAD carrying the group the responder wants (RFC 7296 section 1.3).
    pub fn invalid_ke(group: KeGroup) -> Self {
        Notify::with_data(
            NotifyType::INVALID_KE_PAYLOAD,
            group.0.to_be_bytes().to_vec(),
        )
    }

    /// REKEY_SA for the Child SA with this SPI (RFC 7296 section 1.3.3).
    pub fn rekey_sa(protocol: ProtocolId, spi: u32) -> Self {
        Notify {
            protocol,
            spi: spi.to_be_bytes().to_vec(),
            ntype: NotifyType::REKEY_SA,
            data: Vec::new(),
        }
    }

    /// NAT_DETECTION_SOURCE_IP with its SHA-1 hash (RFC 7296 section 2.23).
    pub fn nat_detection_source(hash: [u8; 20]) -> Self {
        Notify::with_data(NotifyType::NAT_DETECTION_SOURCE_IP, hash.to_vec())
    }

    pub fn nat_detection_destination(hash: [u8; 20]) -> Self {
        Notify::with_data(NotifyType::NAT_DETECTION_DESTINATION_IP, hash.to_vec())
    }

    /// SIGNATURE_HASH_ALGORITHMS (RFC 7427 section 4) listing hash algorithm numbers.
    pub fn signature_hash_algorithms(algs: &[u16]) -> Self {
        Notify::with_data(
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            algs.iter().flat_map(|a| a.to_be_bytes()).collect(),
        )
    }

    pub fn is_error(&self) -> bool {
        self.ntype.is_error()
    }

    /// The group requested by an INVALID_KE_PAYLOAD notify, if this is one and it is well formed.
    pub fn invalid_ke_group(&self) -> Option<KeGroup> {
        match (self.ntype, self.data.as_slice()) {
            (NotifyType::INVALID_KE_PAYLOAD, [a, b]) => Some(KeGroup(u16::from_be_bytes([*a, *b]))),
            _ => None,
        }
    }

    /// The 4-octet SPI (ESP/AH) as a number, e.g. for REKEY_SA.
    pub fn spi_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    }

    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let protocol = ProtocolId(r.u8("Notify payload")?);
        let spi_size = usize::from(r.u8("Notify payload")?);
        let ntype = NotifyType(r.u16("Notify payload")?);
        let spi = r.take(spi_size, "Notify SPI")?.to_vec();
        Ok(Notify {
            protocol,
            spi,
            ntype,
            data: r.rest().to_vec(),
        })
    }

    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.protocol.0);
        out.push(u8::try_from(self.spi.len()).expect("SPI of at most 255 octets"));
        out.extend_from_slice(&self.ntype.0.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_ke_matches_capture() {
        // invalid-ke frame 2: N(INVALID_KE_PAYLOAD) with data 000e.
        let n = Notify::invalid_ke(KeGroup::MODP_2048);
        let mut out = Vec::new();
        n.encode_body(&mut out);
        assert_eq!(out, [0, 0, 0x00, 0x11, 0x00, 0x0e]);
        let back = Notify::decode_body(&out).unwrap();
        assert_eq!(back.invalid_ke_group(), Some(KeGroup::MODP_2048));
        assert!(back.is_error());
    }

    #[test]
    fn rekey_sa_carries_spi() {
        let n = Notify::rekey_sa(ProtocolId::ESP, 0x59b3_f361);
        let mut out = Vec::new();
        n.encode_body(&mut out);
        assert_eq!(out, [3, 4, 0x40, 0x09, 0x59, 0xb3, 0xf3, 0x61]);
        let back = Notify::decode_body(&out).unwrap();
        assert_eq!(back.spi_u32(), Some(0x59b3_f361));
        assert!(!back.is_error());
    }

    #[test]
    fn spi_size_past_end_is_rejected() {
        assert!(matches!(
            Notify::decode_body(&[3, 4, 0x40, 0x09, 1, 2]),
            Err(DecodeError::Truncated {
                what: "Notify SPI",
                ..
            })
        ));
    }
}
