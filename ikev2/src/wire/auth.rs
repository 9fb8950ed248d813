//! Authentication payload (RFC 7296 section 3.8).

use super::error::DecodeError;
use super::reader::Reader;
use crate::consts::AuthMethod;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuthPayload {
    pub method: AuthMethod,
    pub data: Vec<u8>,
}

impl AuthPayload {
    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let method = AuthMethod(r.u8("AUTH payload")?);
        let _reserved = r.take(3, "AUTH payload")?;
        Ok(AuthPayload {
            method,
            data: r.rest().to_vec(),
        })
    }

    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.method.0);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_method_reserved_data() {
        let a = AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: vec![1, 2, 3],
        };
        let mut out = Vec::new();
        a.encode_body(&mut out);
        assert_eq!(out, [2, 0, 0, 0, 1, 2, 3]);
        assert_eq!(AuthPayload::decode_body(&out).unwrap(), a);
        assert!(AuthPayload::decode_body(&out[..3]).is_err());
    }
}
