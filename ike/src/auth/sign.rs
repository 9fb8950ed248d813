//! Producing our AUTH payload over the signed octets.
//!
//! Randomness: RSA signing takes the caller's [`Rng`] (PSS salt and RSA blinding); ECDSA uses RFC 6979
//! deterministic nonces and Ed25519 is deterministic, so no signature draws from the OS.

use core::convert::Infallible;

use rsa::rand_core::{TryCryptoRng, TryRng};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};

use super::error::AuthError;
use super::keys::PrivateKey;
use super::method::AuthMethod;
use super::scheme::{encode_digital_signature, HashAlg, SigAlg, SignatureScheme};
use crate::rng::Rng;

/// The AUTH method and signature scheme to sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignChoice {
    pub method: AuthMethod,
    pub scheme: SignatureScheme,
}

/// Picks how to sign. `peer_hashes` is the peer's SIGNATURE_HASH_ALGORITHMS list, or `None` if it
/// sent none (then only the RFC 7296/RFC 4754 methods are possible). With RFC 7427, ECDSA uses the
/// curve's own hash and RSA the first of SHA-256, SHA-384, SHA-512 the peer accepts (SHA-256 first:
/// every RFC 7427 implementation has it); `rsa_pss` selects RSASSA-PSS over PKCS#1 v1.5.
pub fn choose_scheme(
    key: &PrivateKey,
    peer_hashes: Option<&[HashAlg]>,
    rsa_pss: bool,
) -> Result<SignChoice, AuthError> {
    let digital = |scheme| SignChoice {
        method: AuthMethod::DIGITAL_SIGNATURE,
        scheme,
    };
    let peer = peer_hashes.unwrap_or(&[]);
    match key {
        PrivateKey::Ed25519(_) if peer.contains(&HashAlg::Identity) => {
            Ok(digital(SignatureScheme::Ed25519))
        }
        PrivateKey::Ed25519(_) => Err(AuthError::UnsupportedMethod {
            method: AuthMethod::DIGITAL_SIGNATURE,
            detail: "Ed25519 needs the peer to announce the Identity hash (RFC 8420) in \
                     SIGNATURE_HASH_ALGORITHMS"
                .into(),
        }),
        PrivateKey::EcdsaP256(_) | PrivateKey::EcdsaP384(_) | PrivateKey::EcdsaP521(_) => {
            let curve = match key {
                PrivateKey::EcdsaP256(_) => super::scheme::Curve::P256,
                PrivateKey::EcdsaP384(_) => super::scheme::Curve::P384,
                _ => super::scheme::Curve::P521,
            };
            let scheme = SignatureScheme::Ecdsa(curve, curve.natural_hash());
            if peer.contains(&curve.natural_hash()) {
                Ok(digital(scheme))
            } else {
                Ok(SignChoice {
                    method: curve.rfc4754_method(),
                    scheme,
                })
            }
        }
        PrivateKey::Rsa(_) => {
            let hash = [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512]
                .into_iter()
                .find(|h| peer.contains(h));
            match (hash, rsa_pss) {
                (Some(h), true) => Ok(digital(SignatureScheme::RsaPss(h))),
                (Some(h), false) => Ok(digital(SignatureScheme::RsaPkcs1(h))),
                (None, true) => Err(AuthError::UnsupportedMethod {
                    method: AuthMethod::DIGITAL_SIGNATURE,
                    detail:
                        "RSASSA-PSS needs RFC 7427 with SHA-256, SHA-384 or SHA-512, which the \
                             peer did not announce"
                            .into(),
                }),
                (None, false) => Ok(SignChoice {
                    method: AuthMethod::RSA_SIG,
                    scheme: SignatureScheme::RsaPkcs1(HashAlg::Sha1),
                }),
            }
        }
    }
}

/// Our AUTH data: `choice.scheme` over `signed_octets`, framed for `choice.method` (raw for 1,
/// r|s for 9/10/11, AlgorithmIdentifier + signature for 14). The protocol crate puts it in its
/// AUTH (IKEv2) or SIG (IKEv1) payload.
pub fn sign_data(
    key: &PrivateKey,
    choice: SignChoice,
    signed_octets: &[u8],
    rng: &mut dyn Rng,
) -> Result<Vec<u8>, AuthError> {
    let SignChoice { method, scheme } = choice;
    let mismatch = || AuthError::KeyMismatch {
        key: key.kind(),
        wanted: format!("{scheme} (method {method})"),
    };
    let legacy_ok = match (method, scheme) {
        (AuthMethod::RSA_SIG, SignatureScheme::RsaPkcs1(HashAlg::Sha1)) => true,
        (m, SignatureScheme::Ecdsa(c, h)) if m == c.rfc4754_method() => h == c.natural_hash(),
        (AuthMethod::DIGITAL_SIGNATURE, _) => false,
        _ => return Err(mismatch()),
    };
    let der_ecdsa = method == AuthMethod::DIGITAL_SIGNATURE;
    let failed = || AuthError::SigningFailed { scheme };
    // The three curves differ only in their crate's types: RFC 6979 nonces, then the raw r|s
    // form of RFC 4754 (methods 9-11) or DER inside an RFC 7427 signature (method 14).
    macro_rules! ecdsa_sign {
        ($curve:ident, $k:expr) => {{
            let sig: $curve::ecdsa::Signature = $curve::ecdsa::SigningKey::from($k)
                .try_sign(signed_octets)
                .map_err(|_| failed())?;
            if der_ecdsa {
                sig.to_der().as_bytes().to_vec()
            } else {
                sig.to_bytes().to_vec()
            }
        }};
    }
    let sig = match (key, scheme) {
        (PrivateKey::Rsa(k), SignatureScheme::RsaPkcs1(h)) => rsa_pkcs1(k, h, signed_octets, rng)?,
        (PrivateKey::Rsa(k), SignatureScheme::RsaPss(h)) => rsa_pss(k, h, signed_octets, rng)?,
        (
            PrivateKey::EcdsaP256(k),
            SignatureScheme::Ecdsa(super::scheme::Curve::P256, HashAlg::Sha256),
        ) => {
            ecdsa_sign!(p256, k)
        }
        (
            PrivateKey::EcdsaP384(k),
            SignatureScheme::Ecdsa(super::scheme::Curve::P384, HashAlg::Sha384),
        ) => {
            ecdsa_sign!(p384, k)
        }
        (
            PrivateKey::EcdsaP521(k),
            SignatureScheme::Ecdsa(super::scheme::Curve::P521, HashAlg::Sha512),
        ) => {
            ecdsa_sign!(p521, k)
        }
        (PrivateKey::Ed25519(seed), SignatureScheme::Ed25519) => {
            ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed[..])
                .map_err(|_| failed())?
                .sign(signed_octets)
                .as_ref()
                .to_vec()
        }
        _ => return Err(mismatch()),
    };
    let data = if legacy_ok {
        sig
    } else {
        let alg = match scheme {
            SignatureScheme::RsaPkcs1(h) => SigAlg::RsaPkcs1(h),
            SignatureScheme::RsaPss(h) => SigAlg::RsaPss(h),
            SignatureScheme::Ecdsa(_, h) => SigAlg::Ecdsa(h),
            SignatureScheme::Ed25519 => SigAlg::Ed25519,
        };
        encode_digital_signature(alg, &sig).ok_or_else(mismatch)?
    };
    Ok(data)
}

/// Feeds the caller's [`Rng`] to the RustCrypto RSA code.
struct RngAdapter<'a>(&'a mut dyn Rng);

impl TryRng for RngAdapter<'_> {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill(dst);
        Ok(())
    }
}

// The production Rng is the OS CSPRNG; tests pass a seeded one on purpose.
impl TryCryptoRng for RngAdapter<'_> {}

fn rsa_pkcs1(
    k: &rsa::PrivateKey,
    h: HashAlg,
    msg: &[u8],
    rng: &mut dyn Rng,
) -> Result<Vec<u8>, AuthError> {
    use rsa::pkcs1v15::SigningKey;
    let mut r = RngAdapter(rng);
    let k = k.clone();
    let sig = match h {
        HashAlg::Sha1 => Some(SigningKey::<sha1::Sha1>::new(k).try_sign_with_rng(&mut r, msg)),
        HashAlg::Sha256 => Some(SigningKey::<sha2::Sha256>::new(k).try_sign_with_rng(&mut r, msg)),
        HashAlg::Sha384 => Some(SigningKey::<sha2::Sha384>::new(k).try_sign_with_rng(&mut r, msg)),
        HashAlg::Sha512 => Some(SigningKey::<sha2::Sha512>::new(k).try_sign_with_rng(&mut r, msg)),
        HashAlg::Identity => None,
    };
    signed(sig, SignatureScheme::RsaPkcs1(h))
}

/// An RSA signature's octets; `None` is a hash the scheme does not sign with. Either failure
/// names only the scheme: the rsa crate's error says nothing an operator could act on.
fn signed<S: SignatureEncoding, E>(
    sig: Option<Result<S, E>>,
    scheme: SignatureScheme,
) -> Result<Vec<u8>, AuthError> {
    match sig {
        Some(Ok(s)) => Ok(s.to_vec()),
        _ => Err(AuthError::SigningFailed { scheme }),
    }
}

fn rsa_pss(
    k: &rsa::PrivateKey,
    h: HashAlg,
    msg: &[u8],
    rng: &mut dyn Rng,
) -> Result<Vec<u8>, AuthError> {
    use rsa::pss::SigningKey;
    let mut r = RngAdapter(rng);
    let k = k.clone();
    // Salt length = hash length, as our AlgorithmIdentifier says and ring's verifier requires.
    let sig = match h {
        HashAlg::Sha256 => Some(SigningKey::<sha2::Sha256>::new(k).try_sign_with_rng(&mut r, msg)),
        HashAlg::Sha384 => Some(SigningKey::<sha2::Sha384>::new(k).try_sign_with_rng(&mut r, msg)),
        HashAlg::Sha512 => Some(SigningKey::<sha2::Sha512>::new(k).try_sign_with_rng(&mut r, msg)),
        HashAlg::Sha1 | HashAlg::Identity => None,
    };
    signed(sig, SignatureScheme::RsaPss(h))
}
