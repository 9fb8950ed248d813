//! Our private key (loaded from a PEM or DER file) and a peer's public key (from its certificate).

use core::fmt;
use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use zeroize::{Zeroize, Zeroizing};

use super::error::AuthError;
use super::scheme::Curve;
use super::x509::split_spki;
use crate::der::{Der, INTEGER, OCTET_STRING, OID, SEQUENCE};

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Our signing key. Every variant wipes its secret on drop (the RustCrypto key types do so
/// themselves; the Ed25519 seed is held in `Zeroizing`).
pub enum PrivateKey {
    Rsa(Box<rsa::PrivateKey>),
    EcdsaP256(p256::SecretKey),
    EcdsaP384(p384::SecretKey),
    EcdsaP521(p521::SecretKey),
    Ed25519(Zeroizing<[u8; 32]>),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.kind())
    }
}

impl PrivateKey {
    /// "RSA", "ECDSA P-256", ... for logs (never the key).
    pub fn kind(&self) -> String {
        match self {
            PrivateKey::Rsa(_) => "RSA".into(),
            PrivateKey::EcdsaP256(_) => "ECDSA P-256".into(),
            PrivateKey::EcdsaP384(_) => "ECDSA P-384".into(),
            PrivateKey::EcdsaP521(_) => "ECDSA P-521".into(),
            PrivateKey::Ed25519(_) => "Ed25519".into(),
        }
    }

    /// Parses PEM (PKCS#8 "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY", SEC1 "EC PRIVATE KEY") or raw
    /// PKCS#8 DER.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, AuthError> {
        // The decoded DER is a copy of the secret: wipe it once the key object holds it.
        let mut decoded = PrivateKeyDer::from_pem_slice(bytes);
        let key = Self::from_decoded(&decoded, bytes);
        if let Ok(der) = decoded.as_mut() {
            der.zeroize();
        }
        key
    }

    fn from_decoded(
        decoded: &Result<PrivateKeyDer<'static>, rustls_pki_types::pem::Error>,
        bytes: &[u8],
    ) -> Result<Self, AuthError> {
        let bad = |reason: &str| AuthError::BadPrivateKey(reason.to_string());
        match decoded {
            Ok(PrivateKeyDer::Pkcs8(k)) => Self::from_pkcs8_der(k.secret_pkcs8_der()),
            Ok(PrivateKeyDer::Pkcs1(k)) => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                rsa::PrivateKey::from_pkcs1_der(k.secret_pkcs1_der())
                    .map(|k| PrivateKey::Rsa(Box::new(k)))
                    .map_err(|_| bad("malformed PKCS#1 RSA key"))
            }
            Ok(PrivateKeyDer::Sec1(k)) => {
                let der = k.secret_sec1_der();
                if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
                    Ok(PrivateKey::EcdsaP256(k))
                } else if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
                    Ok(PrivateKey::EcdsaP384(k))
                } else if let Ok(k) = p521::SecretKey::from_sec1_der(der) {
                    Ok(PrivateKey::EcdsaP521(k))
                } else {
                    Err(bad(
                        "EC key on a curve other than P-256, P-384 or P-521, or malformed",
                    ))
                }
            }
            Ok(_) => Err(bad("unsupported key encoding")),
            Err(_) if bytes.first() == Some(&SEQUENCE) => Self::from_pkcs8_der(bytes),
            Err(_) => Err(bad("no PEM private key found")),
        }
    }

    /// Parses a PKCS#8 PrivateKeyInfo, dispatching on its algorithm.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, AuthError> {
        use p256::pkcs8::DecodePrivateKey;
        let bad = |reason: &str| AuthError::BadPrivateKey(reason.to_string());
        let mut info = Der::only_sequence(der).ok_or_else(|| bad("malformed PKCS#8"))?;
        info.expect(INTEGER)
            .ok_or_else(|| bad("malformed PKCS#8"))?;
        let mut alg = info
            .expect(SEQUENCE)
            .map(|t| Der(t.content))
            .ok_or_else(|| bad("malformed PKCS#8"))?;
        let oid = alg
            .expect(OID)
            .ok_or_else(|| bad("malformed PKCS#8"))?
            .content;
        let curve = alg.optional(OID).map(|t| t.content);
        let malformed = |what: &str| bad(&format!("malformed {what} key"));
        match (oid, curve) {
            (OID_RSA | OID_RSA_PSS, _) => {
                use rsa::pkcs8::DecodePrivateKey as _;
                rsa::PrivateKey::from_pkcs8_der(der)
                    .map(|k| PrivateKey::Rsa(Box::new(k)))
                    .map_err(|_| malformed("RSA"))
            }
            (OID_EC, Some(OID_P256)) => p256::SecretKey::from_pkcs8_der(der)
                .map(PrivateKey::EcdsaP256)
                .map_err(|_| malformed("P-256")),
            (OID_EC, Some(OID_P384)) => p384::SecretKey::from_pkcs8_der(der)
                .map(PrivateKey::EcdsaP384)
                .map_err(|_| malformed("P-384")),
            (OID_EC, Some(OID_P521)) => p521::SecretKey::from_pkcs8_der(der)
                .map(PrivateKey::EcdsaP521)
                .map_err(|_| malformed("P-521")),
            (OID_EC, _) => Err(bad("EC key on a curve other than P-256, P-384 or P-521")),
            (OID_ED25519, None) => {
                // privateKey is an OCTET STRING holding CurvePrivateKey ::= OCTET STRING (32 octets).
                let outer = info
                    .expect(OCTET_STRING)
                    .ok_or_else(|| malformed("Ed25519"))?;
                let mut inner = Der(outer.content);
                let seed = inner
                    .expect(OCTET_STRING)
                    .filter(|_| inner.is_empty())
                    .and_then(|t| <[u8; 32]>::try_from(t.content).ok())
                    .ok_or_else(|| malformed("Ed25519"))?;
                Ok(PrivateKey::Ed25519(Zeroizing::new(seed)))
            }
            _ => Err(bad(
                "unsupported key algorithm (need RSA, ECDSA or Ed25519)",
            )),
        }
    }

    /// The SubjectPublicKeyInfo-level public key, to check that a certificate belongs to this key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::Rsa(k) => {
                use rsa::pkcs1::EncodeRsaPublicKey;
                let der = k
                    .to_public_key()
                    .to_pkcs1_der()
                    .map(|d| d.as_bytes().to_vec())
                    .unwrap_or_default();
                PublicKey::Rsa(der)
            }
            PrivateKey::EcdsaP256(k) => {
                PublicKey::Ecdsa(Curve::P256, k.public_key().to_sec1_bytes().to_vec())
            }
            PrivateKey::EcdsaP384(k) => {
                PublicKey::Ecdsa(Curve::P384, k.public_key().to_sec1_bytes().to_vec())
            }
            PrivateKey::EcdsaP521(k) => {
                PublicKey::Ecdsa(Curve::P521, k.public_key().to_sec1_bytes().to_vec())
            }
            PrivateKey::Ed25519(seed) => {
                use ring::signature::KeyPair;
                let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed[..]);
                PublicKey::Ed25519(
                    pair.map(|p| p.public_key().as_ref().to_vec())
                        .unwrap_or_default(),
                )
            }
        }
    }
}

/// Reads our private key, refusing a file that other users can read: a leaked IKE key lets anyone
/// impersonate this host, and the file mode is the operator's last line of defence.
pub fn load_private_key(path: impl AsRef<Path>) -> Result<PrivateKey, AuthError> {
    use std::os::unix::fs::PermissionsExt;
    let path = path.as_ref();
    let io = |e: std::io::Error| AuthError::KeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o7777;
    if mode & 0o044 != 0 {
        return Err(AuthError::KeyFileReadable {
            path: path.display().to_string(),
            mode,
        });
    }
    let mut bytes = std::fs::read(path).map_err(io)?;
    let key = PrivateKey::from_pem_or_der(&bytes);
    bytes.zeroize();
    key.map_err(|e| AuthError::KeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// A public key as found in a SubjectPublicKeyInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// DER RSAPublicKey (modulus, exponent).
    Rsa(Vec<u8>),
    /// Uncompressed SEC1 point.
    Ecdsa(Curve, Vec<u8>),
    Ed25519(Vec<u8>),
}

impl PublicKey {
    /// The key in a DER SubjectPublicKeyInfo; `None` for algorithms we cannot verify with.
    pub fn from_spki(spki: &[u8]) -> Option<PublicKey> {
        let (oid, params, key) = split_spki(spki)?;
        match oid {
            OID_RSA | OID_RSA_PSS => Some(PublicKey::Rsa(key.to_vec())),
            OID_EC => {
                let mut p = Der(params);
                let curve = match p.expect(OID)?.content {
                    OID_P256 => Curve::P256,
                    OID_P384 => Curve::P384,
                    OID_P521 => Curve::P521,
                    _ => return None,
                };
                Some(PublicKey::Ecdsa(curve, key.to_vec()))
            }
            OID_ED25519 if params.is_empty() && key.len() == 32 => {
                Some(PublicKey::Ed25519(key.to_vec()))
            }
            _ => None,
        }
    }

    /// "RSA", "ECDSA P-256", ... for messages.
    pub fn kind(&self) -> String {
        match self {
            PublicKey::Rsa(_) => "RSA".into(),
            PublicKey::Ecdsa(c, _) => format!("ECDSA {c}"),
            PublicKey::Ed25519(_) => "Ed25519".into(),
        }
    }
}
