//! Identification payloads IDi/IDr (RFC 7296 section 3.5). The [`Identity`] they carry is
//! version-neutral and lives in rswan-ike.

use super::error::DecodeError;
use super::reader::Reader;
use crate::consts::IdType;

pub use rswan_ike::identity::{Identity, IdentityDataError, IdentityParseError};

impl From<IdentityDataError> for DecodeError {
    fn from(e: IdentityDataError) -> Self {
        DecodeError::BadField {
            what: e.what,
            expected: e.expected,
            found: e.found,
        }
    }
}

/// IDi or IDr payload body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdPayload {
    pub id: Identity,
    /// The three RESERVED octets as received. AUTH is computed over the payload body as sent
    /// (RFC 7296 section 2.15), so they are kept rather than assumed zero.
    pub reserved: [u8; 3],
}

impl IdPayload {
    pub fn new(id: Identity) -> Self {
        IdPayload {
            id,
            reserved: [0; 3],
        }
    }

    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let id_type = IdType(r.u8("ID payload")?);
        let reserved = r.array("ID payload")?;
        let id = Identity::from_wire(id_type, r.rest())?;
        Ok(IdPayload { id, reserved })
    }

    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.id.id_type().0);
        out.extend_from_slice(&self.reserved);
        out.extend_from_slice(&self.id.data());
    }

    /// The payload body (IDType | RESERVED | data), the octets AUTH signs (RFC 7296 section 2.15).
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_body(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn decode_hex(s: &str) -> Option<Vec<u8>> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
            .collect()
    }

    #[test]
    fn fqdn_body_matches_capture() {
        // "id_payload_body" of the initiator in every strongSwan case.
        let body = decode_hex("02000000776573742e6578616d706c65").unwrap();
        let p = IdPayload::decode_body(&body).unwrap();
        assert_eq!(p.id, Identity::Fqdn("west.example".into()));
        assert_eq!(p.body(), body);
    }

    #[test]
    fn address_identities() {
        let p = IdPayload::decode_body(&[1, 0, 0, 0, 192, 0, 2, 1]).unwrap();
        assert_eq!(p.id, Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 1)));
        assert!(matches!(
            IdPayload::decode_body(&[1, 0, 0, 0, 192, 0, 2]),
            Err(DecodeError::BadField { .. })
        ));
        let mut v6 = vec![5, 0, 0, 0];
        v6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        let p = IdPayload::decode_body(&v6).unwrap();
        assert_eq!(p.id.to_string(), "2001:db8::1");
        assert_eq!(p.body(), v6);
    }

    #[test]
    fn reserved_octets_survive_for_auth() {
        let body = [2, 1, 2, 3, b'a'];
        assert_eq!(IdPayload::decode_body(&body).unwrap().body(), body);
    }

    #[test]
    fn unknown_type_and_bad_utf8_kept_raw() {
        let p = IdPayload::decode_body(&[200, 0, 0, 0, 0xff]).unwrap();
        assert_eq!(
            p.id,
            Identity::Other {
                id_type: IdType(200),
                data: vec![0xff]
            }
        );
        let p = IdPayload::decode_body(&[2, 0, 0, 0, 0xff, 0xfe]).unwrap();
        assert_eq!(p.body(), [2, 0, 0, 0, 0xff, 0xfe]);
    }
}
