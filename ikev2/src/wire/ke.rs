//! Key Exchange payload (RFC 7296 section 3.4).

use super::error::DecodeError;
use super::reader::Reader;
use crate::consts::KeGroup;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KePayload {
    pub group: KeGroup,
    /// The public value, exactly as long as the group defines (checked by the crypto layer).
    pub data: Vec<u8>,
}

impl KePayload {
    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let group = KeGroup(r.u16("KE payload")?);
        let _reserved = r.u16("KE payload")?;
        Ok(KePayload {
            group,
            data: r.rest().to_vec(),
        })
    }

    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.group.0.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_group_reserved_data() {
        let ke = KePayload {
            group: KeGroup::MODP_2048,
            data: vec![0xaa, 0xbb],
        };
        let mut out = Vec::new();
        ke.encode_body(&mut out);
        assert_eq!(out, [0x00, 0x0e, 0x00, 0x00, 0xaa, 0xbb]);
        assert_eq!(KePayload::decode_body(&out).unwrap(), ke);
        assert!(KePayload::decode_body(&out[..3]).is_err());
    }
}
