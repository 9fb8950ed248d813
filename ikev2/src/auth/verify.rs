//! Checking a peer's AUTH payload against the public key of its (already validated) certificate.

use ring::signature::{self as rs, UnparsedPublicKey, VerificationAlgorithm};

use super::error::AuthError;
use super::keys::PublicKey;
use super::scheme::{split_digital_signature, Curve, HashAlg, SigAlg, SignatureScheme};
use crate::consts::AuthMethod;

/// Verifies `auth_data` (the AUTH payload after method and reserved octets) for `method` over
/// `signed_octets` with `key`; returns the scheme that was verified, for the log.
///
/// RSA keys must have at least 2048 bits (ring's floor, also for method 1's SHA-1).
pub fn verify_signature(
    key: &PublicKey,
    method: AuthMethod,
    auth_data: &[u8],
    signed_octets: &[u8],
) -> Result<SignatureScheme, AuthError> {
    let mismatch = |wanted: String| AuthError::KeyMismatch {
        key: key.kind(),
        wanted,
    };
    let (scheme, sig, der) = match method {
        AuthMethod::RSA_SIG => (SignatureScheme::RsaPkcs1(HashAlg::Sha1), auth_data, false),
        AuthMethod::ECDSA_SHA256_P256 => (
            SignatureScheme::Ecdsa(Curve::P256, HashAlg::Sha256),
            auth_data,
            false,
        ),
        AuthMethod::ECDSA_SHA384_P384 => (
            SignatureScheme::Ecdsa(Curve::P384, HashAlg::Sha384),
            auth_data,
            false,
        ),
        AuthMethod::ECDSA_SHA512_P521 => (
            SignatureScheme::Ecdsa(Curve::P521, HashAlg::Sha512),
            auth_data,
            false,
        ),
        AuthMethod::DIGITAL_SIGNATURE => {
            let (alg_id, sig) =
                split_digital_signature(auth_data).ok_or_else(|| AuthError::UnsupportedMethod {
                    method,
                    detail: "AlgorithmIdentifier length exceeds the AUTH data".into(),
                })?;
            let alg = SigAlg::from_algorithm_identifier(alg_id).ok_or_else(|| {
                AuthError::UnsupportedMethod {
                    method,
                    detail: format!(
                        "unknown or unsupported AlgorithmIdentifier {}",
                        alg_id
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<String>()
                    ),
                }
            })?;
            let scheme = match (alg, key) {
                (SigAlg::RsaPkcs1(h), PublicKey::Rsa(_)) => SignatureScheme::RsaPkcs1(h),
                (SigAlg::RsaPss(h), PublicKey::Rsa(_)) => SignatureScheme::RsaPss(h),
                (SigAlg::Ecdsa(h), PublicKey::Ecdsa(c, _)) => SignatureScheme::Ecdsa(*c, h),
                (SigAlg::Ed25519, PublicKey::Ed25519(_)) => SignatureScheme::Ed25519,
                (alg, _) => return Err(mismatch(format!("{alg:?}"))),
            };
            (scheme, sig, true)
        }
        other => {
            return Err(AuthError::UnsupportedMethod {
                method: other,
                detail: "not a signature method".into(),
            })
        }
    };
    let ring_alg: Option<&'static dyn VerificationAlgorithm> = match (scheme, der) {
        (SignatureScheme::RsaPkcs1(HashAlg::Sha1), _) => {
            Some(&rs::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY)
        }
        (SignatureScheme::RsaPkcs1(HashAlg::Sha256), _) => Some(&rs::RSA_PKCS1_2048_8192_SHA256),
        (SignatureScheme::RsaPkcs1(HashAlg::Sha384), _) => Some(&rs::RSA_PKCS1_2048_8192_SHA384),
        (SignatureScheme::RsaPkcs1(HashAlg::Sha512), _) => Some(&rs::RSA_PKCS1_2048_8192_SHA512),
        (SignatureScheme::RsaPss(HashAlg::Sha256), _) => Some(&rs::RSA_PSS_2048_8192_SHA256),
        (SignatureScheme::RsaPss(HashAlg::Sha384), _) => Some(&rs::RSA_PSS_2048_8192_SHA384),
        (SignatureScheme::RsaPss(HashAlg::Sha512), _) => Some(&rs::RSA_PSS_2048_8192_SHA512),
        (SignatureScheme::Ecdsa(Curve::P256, HashAlg::Sha256), false) => {
            Some(&rs::ECDSA_P256_SHA256_FIXED)
        }
        (SignatureScheme::Ecdsa(Curve::P384, HashAlg::Sha384), false) => {
            Some(&rs::ECDSA_P384_SHA384_FIXED)
        }
        (SignatureScheme::Ecdsa(Curve::P256, HashAlg::Sha256), true) => {
            Some(&rs::ECDSA_P256_SHA256_ASN1)
        }
        (SignatureScheme::Ecdsa(Curve::P256, HashAlg::Sha384), true) => {
            Some(&rs::ECDSA_P256_SHA384_ASN1)
        }
        (SignatureScheme::Ecdsa(Curve::P384, HashAlg::Sha256), true) => {
            Some(&rs::ECDSA_P384_SHA256_ASN1)
        }
        (SignatureScheme::Ecdsa(Curve::P384, HashAlg::Sha384), true) => {
            Some(&rs::ECDSA_P384_SHA384_ASN1)
        }
        (SignatureScheme::Ed25519, _) => Some(&rs::ED25519),
        _ => None,
    };
    let key_bytes = match key {
        PublicKey::Rsa(k) | PublicKey::Ecdsa(_, k) | PublicKey::Ed25519(k) => k.as_slice(),
    };
    let key_fits = match (scheme, key) {
        (SignatureScheme::RsaPkcs1(_) | SignatureScheme::RsaPss(_), PublicKey::Rsa(_)) => true,
        (SignatureScheme::Ecdsa(c, _), PublicKey::Ecdsa(kc, _)) => c == *kc,
        (SignatureScheme::Ed25519, PublicKey::Ed25519(_)) => true,
        _ => false,
    };
    if !key_fits {
        return Err(mismatch(format!("{scheme} (method {method})")));
    }
    let ok = match (ring_alg, scheme) {
        (Some(alg), _) => UnparsedPublicKey::new(alg, key_bytes)
            .verify(signed_octets, sig)
            .is_ok(),
        (None, SignatureScheme::Ecdsa(Curve::P521, HashAlg::Sha512)) => {
            verify_p521(key_bytes, sig, der, signed_octets)
        }
        (None, _) => {
            return Err(AuthError::UnsupportedMethod {
                method,
                detail: format!("{scheme} is not supported"),
            })
        }
    };
    if ok {
        Ok(scheme)
    } else {
        Err(AuthError::SignatureInvalid { scheme })
    }
}

/// ring has no P-521; the RustCrypto crate already used for the P-521 key exchange verifies it.
fn verify_p521(point: &[u8], sig: &[u8], der: bool, msg: &[u8]) -> bool {
    use p521::ecdsa::signature::Verifier;
    let Ok(vk) = p521::ecdsa::VerifyingKey::from_sec1_bytes(point) else {
        return false;
    };
    let sig = if der {
        p521::ecdsa::Signature::from_der(sig)
    } else {
        p521::ecdsa::Signature::from_slice(sig)
    };
    sig.is_ok_and(|s| vk.verify(msg, &s).is_ok())
}
