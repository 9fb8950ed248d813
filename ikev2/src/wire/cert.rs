//! Certificate and Certificate Request payloads (RFC 7296 sections 3.6 and 3.7).

use super::error::DecodeError;
use super::reader::Reader;
use crate::consts::CertEncoding;

/// CERT: one certificate (or CRL, hash-and-URL, raw key) in the given encoding.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertPayload {
    pub encoding: CertEncoding,
    pub data: Vec<u8>,
}

/// CERTREQ: for X.509, a concatenation of 20-octet SHA-1 hashes of trusted CAs' public keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertReqPayload {
    pub encoding: CertEncoding,
    pub authorities: Vec<u8>,
}

fn decode(body: &[u8], what: &'static str) -> Result<(CertEncoding, Vec<u8>), DecodeError> {
    let mut r = Reader::new(body);
    let encoding = CertEncoding(r.u8(what)?);
    Ok((encoding, r.rest().to_vec()))
}

impl CertPayload {
    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let (encoding, data) = decode(body, "CERT payload")?;
        Ok(CertPayload { encoding, data })
    }

    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.data);
    }
}

impl CertReqPayload {
    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let (encoding, authorities) = decode(body, "CERTREQ payload")?;
        Ok(CertReqPayload {
            encoding,
            authorities,
        })
    }

    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.authorities);
    }

    /// The 20-octet CA key hashes of an X.509 request; `None` if the data is not a whole number of them.
    pub fn ca_hashes(&self) -> Option<impl Iterator<Item = &[u8]>> {
        let hashes = self.authorities.chunks_exact(20);
        hashes.remainder().is_empty().then_some(hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_and_certreq_layout() {
        let c = CertPayload {
            encoding: CertEncoding::X509_SIGNATURE,
            data: vec![0x30, 0x82],
        };
        let mut out = Vec::new();
        c.encode_body(&mut out);
        assert_eq!(out, [4, 0x30, 0x82]);
        assert_eq!(CertPayload::decode_body(&out).unwrap(), c);
        assert!(CertPayload::decode_body(&[]).is_err());

        let r = CertReqPayload {
            encoding: CertEncoding::X509_SIGNATURE,
            authorities: [[1u8; 20], [2u8; 20]].concat(),
        };
        let mut out = Vec::new();
        r.encode_body(&mut out);
        assert_eq!(out.len(), 41);
        let back = CertReqPayload::decode_body(&out).unwrap();
        assert_eq!(back, r);
        let hashes: Vec<_> = back.ca_hashes().unwrap().collect();
        assert_eq!(hashes, vec![&[1u8; 20][..], &[2u8; 20][..]]);
    }
}
