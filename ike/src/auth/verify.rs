//! Checking a peer's AUTH payload against the public key of its (already validated) certificate.

use ring::signature::{self as rs, UnparsedPublicKey, VerificationAlgorithm};

use super::error::AuthError;
use super::keys::PublicKey;
use super::method::AuthMethod;
use super::scheme::{split_digital_signature, Curve, HashAlg, SigAlg, SignatureScheme};

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
    let (scheme, sig, der) = scheme_of(key, method, auth_data)?;
    let ring_alg = ring_algorithm(scheme, der);
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
        (None, SignatureScheme::Ecdsa(curve, hash)) => {
            verify_ecdsa_prehashed(curve, hash, key_bytes, sig, der, signed_octets)
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

/// The scheme `method` names (for RFC 7427, the AlgorithmIdentifier in `auth_data`), the
/// signature octets, and whether the signature is DER-encoded (RFC 7427) rather than raw.
fn scheme_of<'a>(
    key: &PublicKey,
    method: AuthMethod,
    auth_data: &'a [u8],
) -> Result<(SignatureScheme, &'a [u8], bool), AuthError> {
    Ok(match method {
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
        AuthMethod::DIGITAL_SIGNATURE => digital_signature_scheme(key, auth_data)?,
        other => {
            return Err(AuthError::UnsupportedMethod {
                method: other,
                detail: "not a signature method".into(),
            })
        }
    })
}

/// RFC 7427 digital signature: the AlgorithmIdentifier picks the scheme, which must fit `key`.
fn digital_signature_scheme<'a>(
    key: &PublicKey,
    auth_data: &'a [u8],
) -> Result<(SignatureScheme, &'a [u8], bool), AuthError> {
    let method = AuthMethod::DIGITAL_SIGNATURE;
    let (alg_id, sig) =
        split_digital_signature(auth_data).ok_or_else(|| AuthError::UnsupportedMethod {
            method,
            detail: "AlgorithmIdentifier length exceeds the AUTH data".into(),
        })?;
    let alg =
        SigAlg::from_algorithm_identifier(alg_id).ok_or_else(|| AuthError::UnsupportedMethod {
            method,
            detail: format!(
                "unknown or unsupported AlgorithmIdentifier {}",
                alg_id
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ),
        })?;
    let scheme = match (alg, key) {
        (SigAlg::RsaPkcs1(h), PublicKey::Rsa(_)) => SignatureScheme::RsaPkcs1(h),
        (SigAlg::RsaPss(h), PublicKey::Rsa(_)) => SignatureScheme::RsaPss(h),
        (SigAlg::Ecdsa(h), PublicKey::Ecdsa(c, _)) => SignatureScheme::Ecdsa(*c, h),
        (SigAlg::Ed25519, PublicKey::Ed25519(_)) => SignatureScheme::Ed25519,
        (alg, _) => {
            return Err(AuthError::KeyMismatch {
                key: key.kind(),
                wanted: format!("{alg:?}"),
            })
        }
    };
    Ok((scheme, sig, true))
}

/// ring's verifier for `scheme`; `None` where ring has none (see [`verify_ecdsa_prehashed`]).
fn ring_algorithm(
    scheme: SignatureScheme,
    der: bool,
) -> Option<&'static dyn VerificationAlgorithm> {
    match (scheme, der) {
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
    }
}

/// ring covers P-256/P-384 with SHA-256/SHA-384 only and has no P-521, while RFC 7427 lets a
/// peer pair any hash it saw in our SIGNATURE_HASH_ALGORITHMS with any curve (libreswan signs
/// with SHA-512 whatever the curve). The RustCrypto crates already used for the key exchange
/// verify the rest over the digest; a digest longer than the curve is truncated to it, as
/// FIPS 186-4 specifies.
fn verify_ecdsa_prehashed(
    curve: Curve,
    hash: HashAlg,
    point: &[u8],
    sig: &[u8],
    der: bool,
    msg: &[u8],
) -> bool {
    use sha2::Digest;
    let digest: Vec<u8> = match hash {
        HashAlg::Sha256 => sha2::Sha256::digest(msg).to_vec(),
        HashAlg::Sha384 => sha2::Sha384::digest(msg).to_vec(),
        HashAlg::Sha512 => sha2::Sha512::digest(msg).to_vec(),
        HashAlg::Sha1 | HashAlg::Identity => return false,
    };
    macro_rules! verify {
        ($c:ident) => {{
            use $c::ecdsa::signature::hazmat::PrehashVerifier;
            let Ok(vk) = $c::ecdsa::VerifyingKey::from_sec1_bytes(point) else {
                return false;
            };
            let sig = if der {
                $c::ecdsa::Signature::from_der(sig)
            } else {
                $c::ecdsa::Signature::from_slice(sig)
            };
            sig.is_ok_and(|s| vk.verify_prehash(&digest, &s).is_ok())
        }};
    }
    match curve {
        Curve::P256 => verify!(p256),
        Curve::P384 => verify!(p384),
        Curve::P521 => verify!(p521),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scheme::encode_digital_signature;
    use sha2::Digest;

    /// What libreswan sends as initiator with an ECDSA key: method 14, ecdsa-with-SHA512.
    #[test]
    fn ecdsa_with_any_announced_hash_verifies_on_every_curve() {
        let msg = b"InitiatorSignedOctets";
        macro_rules! case {
            ($c:ident, $curve:expr, $hash:ty, $h:expr) => {{
                use $c::ecdsa::signature::hazmat::PrehashSigner;
                // 0x0101...01 is a valid scalar on every curve.
                let sk =
                    $c::ecdsa::SigningKey::from_slice(&vec![1u8; $curve.scalar_len()]).unwrap();
                let point = sk.verifying_key().to_sec1_bytes().to_vec();
                let sig: $c::ecdsa::Signature = sk.sign_prehash(&<$hash>::digest(msg)).unwrap();
                let auth =
                    encode_digital_signature(SigAlg::Ecdsa($h), sig.to_der().as_bytes()).unwrap();
                let key = PublicKey::Ecdsa($curve, point);
                let got = verify_signature(&key, AuthMethod::DIGITAL_SIGNATURE, &auth, msg);
                assert_eq!(got.unwrap(), SignatureScheme::Ecdsa($curve, $h));
                // The same signature over other octets must not verify.
                let bad = verify_signature(&key, AuthMethod::DIGITAL_SIGNATURE, &auth, b"other");
                assert!(
                    matches!(bad, Err(AuthError::SignatureInvalid { .. })),
                    "{bad:?}"
                );
            }};
        }
        case!(p256, Curve::P256, sha2::Sha512, HashAlg::Sha512);
        case!(p256, Curve::P256, sha2::Sha384, HashAlg::Sha384);
        case!(p384, Curve::P384, sha2::Sha512, HashAlg::Sha512);
        case!(p521, Curve::P521, sha2::Sha256, HashAlg::Sha256);
        case!(p521, Curve::P521, sha2::Sha512, HashAlg::Sha512);
    }
}
