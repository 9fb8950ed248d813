//! Signature schemes, RFC 7427 hash algorithm numbers, and the AlgorithmIdentifier prefix of the
//! digital-signature AUTH method (14).

use core::fmt;

use super::method::AuthMethod;

use crate::der::{push_tlv, Der, INTEGER, NULL, OID, SEQUENCE};

/// RFC 7427 section 7 hash algorithm numbers (the SIGNATURE_HASH_ALGORITHMS notify data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    Sha1 = 1,
    Sha256 = 2,
    Sha384 = 3,
    Sha512 = 4,
    /// "Identity": the signature algorithm hashes internally (Ed25519, RFC 8420).
    Identity = 5,
}

impl HashAlg {
    pub fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => HashAlg::Sha1,
            2 => HashAlg::Sha256,
            3 => HashAlg::Sha384,
            4 => HashAlg::Sha512,
            5 => HashAlg::Identity,
            _ => return None,
        })
    }

    fn oid(self) -> Option<&'static [u8]> {
        Some(match self {
            HashAlg::Sha256 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
            HashAlg::Sha384 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02],
            HashAlg::Sha512 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03],
            HashAlg::Sha1 | HashAlg::Identity => return None,
        })
    }

    pub(crate) fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
            HashAlg::Identity => 0,
        }
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HashAlg::Sha1 => "SHA-1",
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
            HashAlg::Sha512 => "SHA-512",
            HashAlg::Identity => "identity",
        })
    }
}

/// The hash algorithms we accept in RFC 7427 signatures, for our SIGNATURE_HASH_ALGORITHMS notify.
/// SHA-1 is left out on purpose: we still verify method 1 (RFC 7296's RSA with SHA-1) for old peers,
/// but do not invite SHA-1 where a choice exists.
pub const SUPPORTED_HASHES: &[HashAlg] = &[
    HashAlg::Sha256,
    HashAlg::Sha384,
    HashAlg::Sha512,
    HashAlg::Identity,
];

/// The peer's hash algorithms from its SIGNATURE_HASH_ALGORITHMS notify data; unknown numbers are
/// skipped, an odd length yields `None` (malformed notify).
pub fn parse_signature_hashes(data: &[u8]) -> Option<Vec<HashAlg>> {
    let pairs = data.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    Some(
        pairs
            .filter_map(|p| HashAlg::from_u16(u16::from_be_bytes([p[0], p[1]])))
            .collect(),
    )
}

/// The elliptic curves of ECDSA keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        })
    }
}

impl Curve {
    /// The hash RFC 4754 pairs with the curve (and that we prefer with RFC 7427).
    pub fn natural_hash(self) -> HashAlg {
        match self {
            Curve::P256 => HashAlg::Sha256,
            Curve::P384 => HashAlg::Sha384,
            Curve::P521 => HashAlg::Sha512,
        }
    }

    /// The RFC 4754 AUTH method for this curve.
    pub fn rfc4754_method(self) -> AuthMethod {
        match self {
            Curve::P256 => AuthMethod::ECDSA_SHA256_P256,
            Curve::P384 => AuthMethod::ECDSA_SHA384_P384,
            Curve::P521 => AuthMethod::ECDSA_SHA512_P521,
        }
    }

    /// Octets of one of r and s in the RFC 4754 fixed-length encoding.
    pub fn scalar_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// What a signature is made with, independent of how the AUTH payload frames it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    RsaPkcs1(HashAlg),
    RsaPss(HashAlg),
    Ecdsa(Curve, HashAlg),
    Ed25519,
}

impl fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureScheme::RsaPkcs1(h) => write!(f, "RSA PKCS#1 v1.5 {h}"),
            SignatureScheme::RsaPss(h) => write!(f, "RSASSA-PSS {h}"),
            SignatureScheme::Ecdsa(c, h) => write!(f, "ECDSA {c} {h}"),
            SignatureScheme::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

impl SignatureScheme {
    pub fn hash(self) -> HashAlg {
        match self {
            SignatureScheme::RsaPkcs1(h)
            | SignatureScheme::RsaPss(h)
            | SignatureScheme::Ecdsa(_, h) => h,
            SignatureScheme::Ed25519 => HashAlg::Identity,
        }
    }
}

/// The signature algorithm named by a method-14 AlgorithmIdentifier. The curve of an ECDSA
/// signature is not in it: it comes from the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigAlg {
    RsaPkcs1(HashAlg),
    RsaPss(HashAlg),
    Ecdsa(HashAlg),
    Ed25519,
}

const PKCS1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
const ECDSA_WITH: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

fn oid_with(prefix: &[u8], last: u8) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.push(last);
    v
}

fn alg_id(oid: &[u8], params: Option<&[u8]>) -> Vec<u8> {
    let mut inner = Vec::new();
    push_tlv(&mut inner, OID, oid);
    if let Some(p) = params {
        inner.extend_from_slice(p);
    }
    let mut out = Vec::new();
    push_tlv(&mut out, SEQUENCE, &inner);
    out
}

fn hash_alg_id(h: HashAlg) -> Option<Vec<u8>> {
    Some(alg_id(h.oid()?, Some(&[NULL, 0])))
}

impl SigAlg {
    /// The DER AlgorithmIdentifier we send: RSA PKCS#1 with NULL parameters, ECDSA and Ed25519
    /// without, RSASSA-PSS with hash = MGF1 hash and salt length = hash length (RFC 7427 A.4.3).
    pub fn algorithm_identifier(self) -> Option<Vec<u8>> {
        Some(match self {
            SigAlg::RsaPkcs1(h) => {
                let last = match h {
                    HashAlg::Sha1 => 0x05,
                    HashAlg::Sha256 => 0x0b,
                    HashAlg::Sha384 => 0x0c,
                    HashAlg::Sha512 => 0x0d,
                    HashAlg::Identity => return None,
                };
                alg_id(&oid_with(PKCS1, last), Some(&[NULL, 0]))
            }
            SigAlg::Ecdsa(h) => {
                let last = match h {
                    HashAlg::Sha256 => 0x02,
                    HashAlg::Sha384 => 0x03,
                    HashAlg::Sha512 => 0x04,
                    _ => return None,
                };
                alg_id(&oid_with(ECDSA_WITH, last), None)
            }
            SigAlg::RsaPss(h) => {
                let hash = hash_alg_id(h)?;
                let mut params = Vec::new();
                push_tlv(&mut params, 0xa0, &hash);
                push_tlv(
                    &mut params,
                    0xa1,
                    &alg_id(&oid_with(PKCS1, 0x08), Some(&hash)),
                );
                let mut salt = Vec::new();
                push_tlv(&mut salt, INTEGER, &[h.output_len() as u8]);
                push_tlv(&mut params, 0xa2, &salt);
                let mut seq = Vec::new();
                push_tlv(&mut seq, SEQUENCE, &params);
                alg_id(&oid_with(PKCS1, 0x0a), Some(&seq))
            }
            SigAlg::Ed25519 => alg_id(ED25519, None),
        })
    }

    /// Reads a DER AlgorithmIdentifier; `None` for anything we do not verify.
    pub fn from_algorithm_identifier(der: &[u8]) -> Option<SigAlg> {
        let mut d = Der::only_sequence(der)?;
        let oid = d.expect(OID)?.content;
        let params = d;
        let no_params_or_null = |p: Der<'_>| p.is_empty() || p.0 == [NULL, 0];
        if oid == ED25519 {
            return params.is_empty().then_some(SigAlg::Ed25519);
        }
        if let Some(last) = oid.strip_prefix(ECDSA_WITH) {
            let h = match last {
                [0x02] => HashAlg::Sha256,
                [0x03] => HashAlg::Sha384,
                [0x04] => HashAlg::Sha512,
                _ => return None,
            };
            return no_params_or_null(params).then_some(SigAlg::Ecdsa(h));
        }
        let last = oid.strip_prefix(PKCS1)?;
        let h = match last {
            [0x05] => HashAlg::Sha1,
            [0x0b] => HashAlg::Sha256,
            [0x0c] => HashAlg::Sha384,
            [0x0d] => HashAlg::Sha512,
            [0x0a] => return parse_pss_params(params),
            _ => return None,
        };
        no_params_or_null(params).then_some(SigAlg::RsaPkcs1(h))
    }
}

fn parse_hash_alg_id(der: &[u8]) -> Option<HashAlg> {
    let mut d = Der::only_sequence(der)?;
    let oid = d.expect(OID)?.content;
    if !(d.is_empty() || d.0 == [NULL, 0]) {
        return None;
    }
    [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512]
        .into_iter()
        .find(|h| h.oid() == Some(oid))
}

/// RSASSA-PSS-params (RFC 4055): only the combinations ring verifies, i.e. MGF1 with the same hash
/// and a salt as long as the hash. SHA-1 defaults (absent fields) are refused.
fn parse_pss_params(mut params: Der<'_>) -> Option<SigAlg> {
    let mut p = Der(params.expect(SEQUENCE)?.content);
    if !params.is_empty() {
        return None;
    }
    let hash = parse_hash_alg_id(p.expect(0xa0)?.content)?;
    let mut mgf = Der::only_sequence(p.expect(0xa1)?.content)?;
    if mgf.expect(OID)?.content != oid_with(PKCS1, 0x08).as_slice()
        || parse_hash_alg_id(mgf.0)? != hash
    {
        return None;
    }
    let mut salt = Der(p.expect(0xa2)?.content);
    let salt = salt.expect(INTEGER)?.content;
    if salt != [hash.output_len() as u8] {
        return None;
    }
    if let Some(t) = p.optional(0xa3) {
        let mut t = Der(t.content);
        if t.expect(INTEGER)?.content != [1] {
            return None;
        }
    }
    p.is_empty().then_some(SigAlg::RsaPss(hash))
}

/// Method-14 AUTH data: one octet of AlgorithmIdentifier length, the AlgorithmIdentifier, the
/// signature.
pub fn encode_digital_signature(alg: SigAlg, signature: &[u8]) -> Option<Vec<u8>> {
    let id = alg.algorithm_identifier()?;
    let len = u8::try_from(id.len()).ok()?;
    let mut out = Vec::with_capacity(1 + id.len() + signature.len());
    out.push(len);
    out.extend_from_slice(&id);
    out.extend_from_slice(signature);
    Some(out)
}

/// Splits method-14 AUTH data into the AlgorithmIdentifier DER and the signature.
pub fn split_digital_signature(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = data.split_first()?;
    let len = usize::from(len);
    Some((rest.get(..len)?, rest.get(len..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_parses_back() {
        let all = [
            SigAlg::RsaPkcs1(HashAlg::Sha1),
            SigAlg::RsaPkcs1(HashAlg::Sha256),
            SigAlg::RsaPkcs1(HashAlg::Sha384),
            SigAlg::RsaPkcs1(HashAlg::Sha512),
            SigAlg::RsaPss(HashAlg::Sha256),
            SigAlg::RsaPss(HashAlg::Sha384),
            SigAlg::RsaPss(HashAlg::Sha512),
            SigAlg::Ecdsa(HashAlg::Sha256),
            SigAlg::Ecdsa(HashAlg::Sha384),
            SigAlg::Ecdsa(HashAlg::Sha512),
            SigAlg::Ed25519,
        ];
        for a in all {
            let der = a.algorithm_identifier().unwrap();
            assert_eq!(SigAlg::from_algorithm_identifier(&der), Some(a), "{a:?}");
            for k in 0..der.len() {
                assert_eq!(SigAlg::from_algorithm_identifier(&der[..k]), None);
            }
        }
    }

    #[test]
    fn notify_parsing() {
        assert_eq!(
            parse_signature_hashes(&[0, 2, 0, 9, 0, 5]),
            Some(vec![HashAlg::Sha256, HashAlg::Identity])
        );
        assert_eq!(parse_signature_hashes(&[0, 2, 0]), None);
    }
}
