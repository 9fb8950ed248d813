//! Encrypted (SK, RFC 7296 section 3.14) and Encrypted Fragment (SKF, RFC 7383 section 2.5)
//! payloads, kept as opaque octets: protection and unprotection live in `crypto::sk`, which works on
//! the encoded message bytes.

use super::error::DecodeError;
use super::reader::Reader;
use crate::consts::PayloadType;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SkPayload {
    /// Type of the first payload inside (the SK payload's Next Payload field).
    pub first_inner: PayloadType,
    /// IV || ciphertext || ICV.
    pub body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SkfPayload {
    /// Type of the first inner payload in fragment 1; NONE in the others.
    pub first_inner: PayloadType,
    /// 1-based, at most `total_fragments`.
    pub fragment_number: u16,
    pub total_fragments: u16,
    /// IV || ciphertext || ICV of this fragment.
    pub body: Vec<u8>,
}

/// Octets of the SKF fixed part after the generic payload header.
pub const SKF_FIXED_LEN: usize = 4;

impl SkfPayload {
    pub fn decode_body(first_inner: PayloadType, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let fragment_number = r.u16("SKF payload")?;
        let total_fragments = r.u16("SKF payload")?;
        if fragment_number == 0 || total_fragments == 0 || fragment_number > total_fragments {
            return Err(DecodeError::BadField {
                what: "SKF fragment number",
                expected: "1 ..= Total Fragments (non-zero)",
                found: fragment_number.into(),
            });
        }
        Ok(SkfPayload {
            first_inner,
            fragment_number,
            total_fragments,
            body: r.rest().to_vec(),
        })
    }

    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.fragment_number.to_be_bytes());
        out.extend_from_slice(&self.total_fragments.to_be_bytes());
        out.extend_from_slice(&self.body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skf_layout_and_numbering() {
        let f = SkfPayload {
            first_inner: PayloadType::IDI,
            fragment_number: 1,
            total_fragments: 3,
            body: vec![9, 9],
        };
        let mut out = Vec::new();
        f.encode_body(&mut out);
        assert_eq!(out, [0, 1, 0, 3, 9, 9]);
        assert_eq!(SkfPayload::decode_body(PayloadType::IDI, &out).unwrap(), f);
        for bad in [[0, 0, 0, 3], [0, 4, 0, 3], [0, 1, 0, 0]] {
            assert!(matches!(
                SkfPayload::decode_body(PayloadType::NONE, &bad),
                Err(DecodeError::BadField { .. })
            ));
        }
    }
}
