//! The payload chain (RFC 7296 section 3.2): the two payload sets and their generic header.
//!
//! Cleartext payloads ([`Payload`]) and payloads found inside SK ([`InnerPayload`]) are separate
//! types: IDi, AUTH, TSi and the other payloads that are only meaningful under encryption have no
//! cleartext variant, so an unprotected one is rejected by the decoder and can never reach a handler.

use super::auth::AuthPayload;
use super::cert::{CertPayload, CertReqPayload};
use super::cp::CpPayload;
use super::delete::DeletePayload;
use super::encode::{patch_len, reserve_len};
use super::error::DecodeError;
use super::id::IdPayload;
use super::ke::KePayload;
use super::notify::Notify;
use super::reader::Reader;
use super::sa::SaPayload;
use super::sk::{SkPayload, SkfPayload};
use super::ts::TsPayload;
use crate::consts::PayloadType;

/// Generic payload header length.
pub const GENERIC_HEADER_LEN: usize = 4;
const CRITICAL: u8 = 0x80;

/// A payload type this codec does not interpret, kept verbatim. Handlers skip it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownPayload {
    /// Never one of the types the codec decodes (those would not round-trip).
    pub ptype: PayloadType,
    /// Always false after decoding: an unknown critical payload is [`DecodeError::UnsupportedCritical`].
    pub critical: bool,
    pub body: Vec<u8>,
}

/// A payload outside SK.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Payload {
    Sa(SaPayload),
    Ke(KePayload),
    Nonce(Vec<u8>),
    Notify(Notify),
    VendorId(Vec<u8>),
    CertReq(CertReqPayload),
    /// Must be the last payload of a message.
    Sk(SkPayload),
    /// Must be the last (and in practice only) payload of a message.
    Skf(SkfPayload),
    Unknown(UnknownPayload),
}

/// A payload inside SK, after decryption.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InnerPayload {
    Sa(SaPayload),
    Ke(KePayload),
    IdI(IdPayload),
    IdR(IdPayload),
    Cert(CertPayload),
    CertReq(CertReqPayload),
    Auth(AuthPayload),
    Nonce(Vec<u8>),
    Notify(Notify),
    Delete(DeletePayload),
    VendorId(Vec<u8>),
    TsI(TsPayload),
    TsR(TsPayload),
    Cp(CpPayload),
    /// The EAP message, undecoded (RFC 7296 section 3.16).
    Eap(Vec<u8>),
    Unknown(UnknownPayload),
}

impl Payload {
    pub fn ptype(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Skf(_) => PayloadType::SKF,
            Payload::Unknown(u) => u.ptype,
        }
    }

    /// Next Payload to write in this payload's own header when it is last: SK/SKF name the first
    /// inner payload there.
    fn next_when_last(&self) -> PayloadType {
        match self {
            Payload::Sk(sk) => sk.first_inner,
            Payload::Skf(skf) => skf.first_inner,
            _ => PayloadType::NONE,
        }
    }

    fn critical(&self) -> bool {
        matches!(self, Payload::Unknown(u) if u.critical)
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Payload::Sa(p) => p.encode_body(out),
            Payload::Ke(p) => p.encode_body(out),
            Payload::Nonce(b) | Payload::VendorId(b) => out.extend_from_slice(b),
            Payload::Notify(p) => p.encode_body(out),
            Payload::CertReq(p) => p.encode_body(out),
            Payload::Sk(p) => out.extend_from_slice(&p.body),
            Payload::Skf(p) => p.encode_body(out),
            Payload::Unknown(u) => out.extend_from_slice(&u.body),
        }
    }
}

impl InnerPayload {
    pub fn ptype(&self) -> PayloadType {
        match self {
            InnerPayload::Sa(_) => PayloadType::SA,
            InnerPayload::Ke(_) => PayloadType::KE,
            InnerPayload::IdI(_) => PayloadType::IDI,
            InnerPayload::IdR(_) => PayloadType::IDR,
            InnerPayload::Cert(_) => PayloadType::CERT,
            InnerPayload::CertReq(_) => PayloadType::CERTREQ,
            InnerPayload::Auth(_) => PayloadType::AUTH,
            InnerPayload::Nonce(_) => PayloadType::NONCE,
            InnerPayload::Notify(_) => PayloadType::NOTIFY,
            InnerPayload::Delete(_) => PayloadType::DELETE,
            InnerPayload::VendorId(_) => PayloadType::VENDOR_ID,
            InnerPayload::TsI(_) => PayloadType::TSI,
            InnerPayload::TsR(_) => PayloadType::TSR,
            InnerPayload::Cp(_) => PayloadType::CP,
            InnerPayload::Eap(_) => PayloadType::EAP,
            InnerPayload::Unknown(u) => u.ptype,
        }
    }

    fn critical(&self) -> bool {
        matches!(self, InnerPayload::Unknown(u) if u.critical)
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            InnerPayload::Sa(p) => p.encode_body(out),
            InnerPayload::Ke(p) => p.encode_body(out),
            InnerPayload::IdI(p) | InnerPayload::IdR(p) => p.encode_body(out),
            InnerPayload::Cert(p) => p.encode_body(out),
            InnerPayload::CertReq(p) => p.encode_body(out),
            InnerPayload::Auth(p) => p.encode_body(out),
            InnerPayload::Nonce(b) | InnerPayload::VendorId(b) | InnerPayload::Eap(b) => {
                out.extend_from_slice(b)
            }
            InnerPayload::Notify(p) => p.encode_body(out),
            InnerPayload::Delete(p) => p.encode_body(out),
            InnerPayload::TsI(p) | InnerPayload::TsR(p) => p.encode_body(out),
            InnerPayload::Cp(p) => p.encode_body(out),
            InnerPayload::Unknown(u) => out.extend_from_slice(&u.body),
        }
    }
}

/// Payload types only accepted inside SK.
fn only_inside_sk(t: PayloadType) -> bool {
    matches!(
        t,
        PayloadType::IDI
            | PayloadType::IDR
            | PayloadType::CERT
            | PayloadType::AUTH
            | PayloadType::DELETE
            | PayloadType::TSI
            | PayloadType::TSR
            | PayloadType::CP
            | PayloadType::EAP
    )
}

/// One generic payload header and the body it delimits.
struct Generic<'a> {
    next: PayloadType,
    critical: bool,
    body: &'a [u8],
}

fn read_generic<'a>(r: &mut Reader<'a>, ptype: PayloadType) -> Result<Generic<'a>, DecodeError> {
    let next = PayloadType(r.u8("generic payload header")?);
    // The other seven bits are RESERVED: ignored on receipt, sent as zero.
    let critical = r.u8("generic payload header")? & CRITICAL != 0;
    let length = usize::from(r.u16("generic payload header")?);
    let available = r.remaining() + GENERIC_HEADER_LEN;
    if length < GENERIC_HEADER_LEN || length > available {
        return Err(DecodeError::PayloadLength {
            ptype,
            length,
            min: GENERIC_HEADER_LEN,
            available,
        });
    }
    let body = r.take(length - GENERIC_HEADER_LEN, "payload body")?;
    Ok(Generic {
        next,
        critical,
        body,
    })
}

fn unknown(ptype: PayloadType, g: &Generic<'_>) -> Result<UnknownPayload, DecodeError> {
    if g.critical {
        return Err(DecodeError::UnsupportedCritical(ptype));
    }
    Ok(UnknownPayload {
        ptype,
        critical: false,
        body: g.body.to_vec(),
    })
}

/// Decodes the cleartext payload chain that follows the IKE header.
pub(crate) fn decode_cleartext(
    first: PayloadType,
    data: &[u8],
) -> Result<Vec<Payload>, DecodeError> {
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    let mut ptype = first;
    while ptype != PayloadType::NONE {
        let g = read_generic(&mut r, ptype)?;
        let p = match ptype {
            PayloadType::SA => Payload::Sa(SaPayload::decode_body(g.body)?),
            PayloadType::KE => Payload::Ke(KePayload::decode_body(g.body)?),
            PayloadType::NONCE => Payload::Nonce(g.body.to_vec()),
            PayloadType::NOTIFY => Payload::Notify(Notify::decode_body(g.body)?),
            PayloadType::VENDOR_ID => Payload::VendorId(g.body.to_vec()),
            PayloadType::CERTREQ => Payload::CertReq(CertReqPayload::decode_body(g.body)?),
            PayloadType::SK | PayloadType::SKF => {
                // Its Next Payload names the first inner payload; nothing may follow it.
                if !r.is_empty() {
                    return Err(DecodeError::EncryptedNotLast {
                        ptype,
                        trailing: r.remaining(),
                    });
                }
                out.push(if ptype == PayloadType::SK {
                    Payload::Sk(SkPayload {
                        first_inner: g.next,
                        body: g.body.to_vec(),
                    })
                } else {
                    Payload::Skf(SkfPayload::decode_body(g.next, g.body)?)
                });
                return Ok(out);
            }
            t if only_inside_sk(t) => return Err(DecodeError::NotAllowedInCleartext(t)),
            t => Payload::Unknown(unknown(t, &g)?),
        };
        out.push(p);
        ptype = g.next;
    }
    r.finish("last payload")?;
    Ok(out)
}

/// Decodes the payloads of a decrypted SK payload (padding and Pad Length already removed).
pub fn decode_inner(
    first: PayloadType,
    plaintext: &[u8],
) -> Result<Vec<InnerPayload>, DecodeError> {
    let mut r = Reader::new(plaintext);
    let mut out = Vec::new();
    let mut ptype = first;
    while ptype != PayloadType::NONE {
        let g = read_generic(&mut r, ptype)?;
        let p = match ptype {
            PayloadType::SA => InnerPayload::Sa(SaPayload::decode_body(g.body)?),
            PayloadType::KE => InnerPayload::Ke(KePayload::decode_body(g.body)?),
            PayloadType::IDI => InnerPayload::IdI(IdPayload::decode_body(g.body)?),
            PayloadType::IDR => InnerPayload::IdR(IdPayload::decode_body(g.body)?),
            PayloadType::CERT => InnerPayload::Cert(CertPayload::decode_body(g.body)?),
            PayloadType::CERTREQ => InnerPayload::CertReq(CertReqPayload::decode_body(g.body)?),
            PayloadType::AUTH => InnerPayload::Auth(AuthPayload::decode_body(g.body)?),
            PayloadType::NONCE => InnerPayload::Nonce(g.body.to_vec()),
            PayloadType::NOTIFY => InnerPayload::Notify(Notify::decode_body(g.body)?),
            PayloadType::DELETE => InnerPayload::Delete(DeletePayload::decode_body(g.body)?),
            PayloadType::VENDOR_ID => InnerPayload::VendorId(g.body.to_vec()),
            PayloadType::TSI => InnerPayload::TsI(TsPayload::decode_body(g.body)?),
            PayloadType::TSR => InnerPayload::TsR(TsPayload::decode_body(g.body)?),
            PayloadType::CP => InnerPayload::Cp(CpPayload::decode_body(g.body)?),
            PayloadType::EAP => InnerPayload::Eap(g.body.to_vec()),
            t @ (PayloadType::SK | PayloadType::SKF) => {
                return Err(DecodeError::NestedEncrypted(t))
            }
            t => InnerPayload::Unknown(unknown(t, &g)?),
        };
        out.push(p);
        ptype = g.next;
    }
    r.finish("last inner payload")?;
    Ok(out)
}

fn encode_one(
    ptype_next: PayloadType,
    critical: bool,
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    out.push(ptype_next.0);
    out.push(if critical { CRITICAL } else { 0 });
    let at = reserve_len(out);
    body(out);
    patch_len(out, at, start, "payload");
}

/// Encodes a cleartext chain, returning the offset of the SK/SKF body (IV) if the chain ends in one.
pub(crate) fn encode_cleartext(payloads: &[Payload], out: &mut Vec<u8>) -> Option<usize> {
    let mut sk_body = None;
    for (i, p) in payloads.iter().enumerate() {
        let next = match payloads.get(i + 1) {
            Some(n) => {
                debug_assert!(
                    !matches!(p, Payload::Sk(_) | Payload::Skf(_)),
                    "SK/SKF must be the last payload"
                );
                n.ptype()
            }
            None => p.next_when_last(),
        };
        encode_one(next, p.critical(), out, |out| {
            let body_start = out.len();
            p.encode_body(out);
            match p {
                Payload::Sk(_) => sk_body = Some(body_start),
                Payload::Skf(_) => sk_body = Some(body_start + super::sk::SKF_FIXED_LEN),
                _ => {}
            }
        });
    }
    sk_body
}

/// Encodes inner payloads for an SK payload: the type of the first one (for the SK header's Next
/// Payload field) and the plaintext to pad and encrypt.
pub fn encode_inner(payloads: &[InnerPayload]) -> (PayloadType, Vec<u8>) {
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads
            .get(i + 1)
            .map_or(PayloadType::NONE, InnerPayload::ptype);
        encode_one(next, p.critical(), &mut out, |out| p.encode_body(out));
    }
    let first = payloads
        .first()
        .map_or(PayloadType::NONE, InnerPayload::ptype);
    (first, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::NotifyType;
    use crate::wire::id::Identity;

    #[test]
    fn inner_chain_round_trip_and_first_type() {
        let inner = vec![
            InnerPayload::IdI(IdPayload::new(Identity::Fqdn("west.example".into()))),
            InnerPayload::Notify(Notify::new(NotifyType::INITIAL_CONTACT)),
            InnerPayload::Auth(AuthPayload {
                method: crate::consts::AuthMethod::SHARED_KEY_MIC,
                data: vec![7; 32],
            }),
        ];
        let (first, bytes) = encode_inner(&inner);
        assert_eq!(first, PayloadType::IDI);
        // IDi header: next = Notify, not critical, length 4 + 16.
        assert_eq!(&bytes[..4], &[41, 0, 0, 20]);
        assert_eq!(decode_inner(first, &bytes).unwrap(), inner);
    }

    #[test]
    fn empty_inner_is_none() {
        let (first, bytes) = encode_inner(&[]);
        assert_eq!(first, PayloadType::NONE);
        assert!(bytes.is_empty());
        assert_eq!(decode_inner(PayloadType::NONE, &[]).unwrap(), vec![]);
        // Octets after the chain has ended are an error, not silently ignored.
        assert!(matches!(
            decode_inner(PayloadType::NONE, &[0]),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn unknown_payloads_inner() {
        // Type 200, not critical: kept. Then type 201 critical: rejected.
        let ok = [0, 0, 0, 6, 0xaa, 0xbb];
        assert_eq!(
            decode_inner(PayloadType(200), &ok).unwrap(),
            vec![InnerPayload::Unknown(UnknownPayload {
                ptype: PayloadType(200),
                critical: false,
                body: vec![0xaa, 0xbb]
            })]
        );
        let crit = [0, 0x80, 0, 4];
        assert_eq!(
            decode_inner(PayloadType(201), &crit),
            Err(DecodeError::UnsupportedCritical(PayloadType(201)))
        );
        // The critical bit of a known payload is ignored (RFC 7296 section 3.2).
        let nonce = [0, 0x80, 0, 5, 1];
        assert_eq!(
            decode_inner(PayloadType::NONCE, &nonce).unwrap(),
            vec![InnerPayload::Nonce(vec![1])]
        );
    }

    #[test]
    fn sk_inside_sk_is_rejected() {
        assert_eq!(
            decode_inner(PayloadType::SK, &[0, 0, 0, 4]),
            Err(DecodeError::NestedEncrypted(PayloadType::SK))
        );
    }

    #[test]
    fn payload_length_lies() {
        // Shorter than the generic header.
        assert!(matches!(
            decode_inner(PayloadType::NONCE, &[0, 0, 0, 3]),
            Err(DecodeError::PayloadLength { length: 3, .. })
        ));
        // Longer than the data.
        assert!(matches!(
            decode_inner(PayloadType::NONCE, &[0, 0, 0, 9, 1]),
            Err(DecodeError::PayloadLength {
                length: 9,
                available: 5,
                ..
            })
        ));
        // Next Payload announces a payload that is not there.
        assert!(matches!(
            decode_inner(PayloadType::NONCE, &[40, 0, 0, 5, 1]),
            Err(DecodeError::Truncated { .. })
        ));
    }
}
