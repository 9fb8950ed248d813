//! Delete payload (RFC 7296 section 3.11).

use super::error::DecodeError;
use super::reader::Reader;
use crate::consts::ProtocolId;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeletePayload {
    pub protocol: ProtocolId,
    /// 0 for IKE (the SA is the one the message travels on), 4 for ESP/AH.
    pub spi_size: u8,
    /// Each exactly `spi_size` octets.
    pub spis: Vec<Vec<u8>>,
}

impl DeletePayload {
    /// Deletes the IKE SA this message is protected by.
    pub fn ike() -> Self {
        DeletePayload {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// Deletes Child SAs by their inbound SPIs (as the sender receives on them).
    pub fn esp(spis: &[u32]) -> Self {
        DeletePayload {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        }
    }

    /// The 4-octet SPIs as numbers (empty if `spi_size` is not 4).
    pub fn spis_u32(&self) -> Vec<u32> {
        self.spis
            .iter()
            .filter_map(|s| {
                <[u8; 4]>::try_from(s.as_slice())
                    .ok()
                    .map(u32::from_be_bytes)
            })
            .collect()
    }

    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let protocol = ProtocolId(r.u8("Delete payload")?);
        let spi_size = r.u8("Delete payload")?;
        let count = usize::from(r.u16("Delete payload")?);
        let rest = r.rest();
        let size = usize::from(spi_size);
        // With SPI size 0 the count must be 0 too: there is nothing to count.
        let found = if size == 0 {
            if !rest.is_empty() {
                return Err(DecodeError::TrailingBytes {
                    what: "Delete payload with SPI size 0",
                    count: rest.len(),
                });
            }
            0
        } else {
            let partial = rest.chunks_exact(size).remainder().len();
            if partial != 0 {
                return Err(DecodeError::TrailingBytes {
                    what: "Delete payload SPIs",
                    count: partial,
                });
            }
            rest.len() / size
        };
        if found != count {
            return Err(DecodeError::CountMismatch {
                what: "Delete payload SPIs",
                declared: count,
                found,
            });
        }
        let spis = if size == 0 {
            Vec::new()
        } else {
            rest.chunks_exact(size).map(<[u8]>::to_vec).collect()
        };
        Ok(DeletePayload {
            protocol,
            spi_size,
            spis,
        })
    }

    pub fn encode_body(&self, out: &mut Vec<u8>) {
        debug_assert!(self
            .spis
            .iter()
            .all(|s| s.len() == usize::from(self.spi_size)));
        out.push(self.protocol.0);
        out.push(self.spi_size);
        let n = u16::try_from(self.spis.len()).expect("at most 65535 SPIs");
        out.extend_from_slice(&n.to_be_bytes());
        for s in &self.spis {
            out.extend_from_slice(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_delete_layout() {
        let mut out = Vec::new();
        DeletePayload::ike().encode_body(&mut out);
        assert_eq!(out, [1, 0, 0, 0]);
        assert_eq!(
            DeletePayload::decode_body(&out).unwrap(),
            DeletePayload::ike()
        );
    }

    #[test]
    fn esp_delete_layout() {
        let d = DeletePayload::esp(&[0x59b3_f361, 1]);
        let mut out = Vec::new();
        d.encode_body(&mut out);
        assert_eq!(out, [3, 4, 0, 2, 0x59, 0xb3, 0xf3, 0x61, 0, 0, 0, 1]);
        let back = DeletePayload::decode_body(&out).unwrap();
        assert_eq!(back.spis_u32(), vec![0x59b3_f361, 1]);
    }

    #[test]
    fn count_must_match() {
        assert_eq!(
            DeletePayload::decode_body(&[3, 4, 0, 2, 0, 0, 0, 1]),
            Err(DecodeError::CountMismatch {
                what: "Delete payload SPIs",
                declared: 2,
                found: 1
            })
        );
        assert!(DeletePayload::decode_body(&[3, 4, 0, 1, 0, 0, 1]).is_err());
        assert!(DeletePayload::decode_body(&[1, 0, 0, 1]).is_err());
    }
}
