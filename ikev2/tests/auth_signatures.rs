//! AUTH signatures for methods 1, 9, 10, 11 and 14: sign with our key, verify with the public key,
//! and fail on tampered octets, a wrong key, or a key of the wrong type.

mod auth_pki;

use auth_pki::{key_pair, octets, private_key, Alg, RSA_KEY_1};
use rcgen::PublicKeyData;
use rswan_ikev2::auth::{
    choose_scheme, sign, split_digital_signature, verify_signature, AuthError, Curve, HashAlg,
    PrivateKey, PublicKey, SigAlg, SignChoice, SignatureScheme, SUPPORTED_HASHES,
};
use rswan_ikev2::consts::AuthMethod;
use rswan_ikev2::rng::TestRng;

fn p521_key(seed: u8) -> PrivateKey {
    let mut bytes = [seed; 66];
    bytes[0] = 0; // below the group order
    PrivateKey::EcdsaP521(p521::SecretKey::from_slice(&bytes).unwrap())
}

fn choice(method: AuthMethod, scheme: SignatureScheme) -> SignChoice {
    SignChoice { method, scheme }
}

/// Signs, verifies, then checks that a flipped octet, a different key of the same type, and a
/// truncated signature are each rejected.
fn round_trip(key: &PrivateKey, other: &PrivateKey, c: SignChoice) -> Vec<u8> {
    let msg = octets(7);
    let mut rng = TestRng::new(1);
    let auth = sign(key, c, &msg, &mut rng).unwrap();
    assert_eq!(auth.method, c.method);
    let pubkey = key.public_key();
    assert_eq!(
        verify_signature(&pubkey, c.method, &auth.data, &msg),
        Ok(c.scheme),
        "{c:?}"
    );

    let mut tampered = msg.clone();
    tampered[3] ^= 1;
    assert_eq!(
        verify_signature(&pubkey, c.method, &auth.data, &tampered),
        Err(AuthError::SignatureInvalid { scheme: c.scheme })
    );
    let wrong = other.public_key();
    assert_ne!(wrong, pubkey);
    assert_eq!(
        verify_signature(&wrong, c.method, &auth.data, &msg),
        Err(AuthError::SignatureInvalid { scheme: c.scheme })
    );
    let short = &auth.data[..auth.data.len() - 1];
    assert!(verify_signature(&pubkey, c.method, short, &msg).is_err());
    auth.data
}

#[test]
fn rsa_method_1_is_sha1_pkcs1_and_raw() {
    let key = private_key(&key_pair(Alg::Rsa1));
    let other = private_key(&key_pair(Alg::Rsa2));
    let data = round_trip(
        &key,
        &other,
        choice(
            AuthMethod::RSA_SIG,
            SignatureScheme::RsaPkcs1(HashAlg::Sha1),
        ),
    );
    assert_eq!(
        data.len(),
        256,
        "raw 2048-bit signature, no AlgorithmIdentifier"
    );
    // PKCS#1 v1.5 is deterministic: same key and octets, same signature.
    let again = sign(
        &key,
        choice(
            AuthMethod::RSA_SIG,
            SignatureScheme::RsaPkcs1(HashAlg::Sha1),
        ),
        &octets(7),
        &mut TestRng::new(99),
    )
    .unwrap();
    assert_eq!(again.data, data);
}

#[test]
fn rsa_method_14_pkcs1_and_pss_with_each_hash() {
    let key = private_key(&key_pair(Alg::Rsa1));
    let other = private_key(&key_pair(Alg::Rsa2));
    for h in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
        for scheme in [SignatureScheme::RsaPkcs1(h), SignatureScheme::RsaPss(h)] {
            let data = round_trip(&key, &other, choice(AuthMethod::DIGITAL_SIGNATURE, scheme));
            let (alg_id, sig) = split_digital_signature(&data).unwrap();
            assert_eq!(sig.len(), 256);
            let expect = match scheme {
                SignatureScheme::RsaPss(h) => SigAlg::RsaPss(h),
                _ => SigAlg::RsaPkcs1(h),
            };
            assert_eq!(SigAlg::from_algorithm_identifier(alg_id), Some(expect));
        }
    }
    // A PKCS#1 signature presented as PSS (same key, same octets) must not verify.
    let msg = octets(7);
    let pkcs1 = sign(
        &key,
        choice(
            AuthMethod::DIGITAL_SIGNATURE,
            SignatureScheme::RsaPkcs1(HashAlg::Sha256),
        ),
        &msg,
        &mut TestRng::new(1),
    )
    .unwrap();
    let (_, sig) = split_digital_signature(&pkcs1.data).unwrap();
    let mut as_pss = vec![0u8];
    let id = SigAlg::RsaPss(HashAlg::Sha256)
        .algorithm_identifier()
        .unwrap();
    as_pss[0] = id.len() as u8;
    as_pss.extend_from_slice(&id);
    as_pss.extend_from_slice(sig);
    assert!(verify_signature(
        &key.public_key(),
        AuthMethod::DIGITAL_SIGNATURE,
        &as_pss,
        &msg
    )
    .is_err());
}

#[test]
fn pss_salt_comes_from_the_passed_rng() {
    let key = private_key(&key_pair(Alg::Rsa1));
    let c = choice(
        AuthMethod::DIGITAL_SIGNATURE,
        SignatureScheme::RsaPss(HashAlg::Sha256),
    );
    let a = sign(&key, c, &octets(1), &mut TestRng::new(5)).unwrap();
    let b = sign(&key, c, &octets(1), &mut TestRng::new(5)).unwrap();
    let d = sign(&key, c, &octets(1), &mut TestRng::new(6)).unwrap();
    assert_eq!(a, b, "same Rng seed, same PSS signature");
    assert_ne!(a, d, "different seed, different salt");
}

#[test]
fn ecdsa_rfc4754_methods_are_fixed_r_s() {
    let cases = [
        (
            Alg::P256,
            Curve::P256,
            AuthMethod::ECDSA_SHA256_P256,
            HashAlg::Sha256,
            64,
        ),
        (
            Alg::P384,
            Curve::P384,
            AuthMethod::ECDSA_SHA384_P384,
            HashAlg::Sha384,
            96,
        ),
    ];
    for (alg, curve, method, hash, len) in cases {
        let key = private_key(&key_pair(alg));
        let other = private_key(&key_pair(alg));
        let data = round_trip(
            &key,
            &other,
            choice(method, SignatureScheme::Ecdsa(curve, hash)),
        );
        assert_eq!(data.len(), len, "{curve}: r|s, not DER");
        // RFC 6979: deterministic, no randomness drawn.
        let again = sign(
            &key,
            choice(method, SignatureScheme::Ecdsa(curve, hash)),
            &octets(7),
            &mut TestRng::new(42),
        )
        .unwrap();
        assert_eq!(again.data, data);
    }
    let key = p521_key(3);
    let data = round_trip(
        &key,
        &p521_key(4),
        choice(
            AuthMethod::ECDSA_SHA512_P521,
            SignatureScheme::Ecdsa(Curve::P521, HashAlg::Sha512),
        ),
    );
    assert_eq!(data.len(), 132);
}

#[test]
fn ecdsa_method_14_is_der() {
    let cases = [
        (Alg::P256, Curve::P256, HashAlg::Sha256),
        (Alg::P384, Curve::P384, HashAlg::Sha384),
    ];
    for (alg, curve, hash) in cases {
        let key = private_key(&key_pair(alg));
        let other = private_key(&key_pair(alg));
        let data = round_trip(
            &key,
            &other,
            choice(
                AuthMethod::DIGITAL_SIGNATURE,
                SignatureScheme::Ecdsa(curve, hash),
            ),
        );
        let (alg_id, sig) = split_digital_signature(&data).unwrap();
        assert_eq!(
            SigAlg::from_algorithm_identifier(alg_id),
            Some(SigAlg::Ecdsa(hash))
        );
        assert_eq!(sig[0], 0x30, "ECDSA-Sig-Value SEQUENCE");
        assert_eq!(usize::from(sig[1]) + 2, sig.len());
    }
    let data = round_trip(
        &p521_key(3),
        &p521_key(4),
        choice(
            AuthMethod::DIGITAL_SIGNATURE,
            SignatureScheme::Ecdsa(Curve::P521, HashAlg::Sha512),
        ),
    );
    let (_, sig) = split_digital_signature(&data).unwrap();
    assert_eq!(sig[0], 0x30);
}

#[test]
fn ed25519_method_14() {
    let key = private_key(&key_pair(Alg::Ed25519));
    let other = private_key(&key_pair(Alg::Ed25519));
    let data = round_trip(
        &key,
        &other,
        choice(AuthMethod::DIGITAL_SIGNATURE, SignatureScheme::Ed25519),
    );
    // RFC 8420: id-Ed25519 without parameters, then the 64-octet signature.
    assert_eq!(data[..8], [7, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
    assert_eq!(data.len(), 8 + 64);
}

#[test]
fn key_type_and_method_must_agree() {
    let msg = octets(1);
    let p256 = private_key(&key_pair(Alg::P256));
    let rsa = PrivateKey::from_pem_or_der(RSA_KEY_1.as_bytes()).unwrap();
    let mut rng = TestRng::new(1);
    // Signing: an ECDSA key cannot do method 1, P-256 cannot do method 10.
    let e = sign(
        &p256,
        choice(
            AuthMethod::RSA_SIG,
            SignatureScheme::RsaPkcs1(HashAlg::Sha1),
        ),
        &msg,
        &mut rng,
    );
    assert!(matches!(e, Err(AuthError::KeyMismatch { .. })), "{e:?}");
    let e = sign(
        &p256,
        choice(
            AuthMethod::ECDSA_SHA384_P384,
            SignatureScheme::Ecdsa(Curve::P384, HashAlg::Sha384),
        ),
        &msg,
        &mut rng,
    );
    assert!(matches!(e, Err(AuthError::KeyMismatch { .. })), "{e:?}");
    // Verification: a P-256 signature under method 10 and an RSA signature checked with an EC key.
    let good = sign(
        &p256,
        choice(
            AuthMethod::ECDSA_SHA256_P256,
            SignatureScheme::Ecdsa(Curve::P256, HashAlg::Sha256),
        ),
        &msg,
        &mut rng,
    )
    .unwrap();
    assert!(verify_signature(
        &p256.public_key(),
        AuthMethod::ECDSA_SHA384_P384,
        &good.data,
        &msg
    )
    .is_err());
    let rsa_sig = sign(
        &rsa,
        choice(
            AuthMethod::RSA_SIG,
            SignatureScheme::RsaPkcs1(HashAlg::Sha1),
        ),
        &msg,
        &mut rng,
    )
    .unwrap();
    let e = verify_signature(&p256.public_key(), AuthMethod::RSA_SIG, &rsa_sig.data, &msg);
    assert!(matches!(e, Err(AuthError::KeyMismatch { .. })), "{e:?}");
    // PSK is not a signature method.
    assert!(matches!(
        verify_signature(
            &rsa.public_key(),
            AuthMethod::SHARED_KEY_MIC,
            &rsa_sig.data,
            &msg
        ),
        Err(AuthError::UnsupportedMethod { .. })
    ));
    // Method 14 with an AlgorithmIdentifier we do not know, and with a length past the data.
    let mut unknown = vec![
        0x0b, 0x30, 0x09, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01,
    ];
    unknown.extend_from_slice(&[0u8; 64]);
    let e = verify_signature(
        &p256.public_key(),
        AuthMethod::DIGITAL_SIGNATURE,
        &unknown,
        &msg,
    );
    assert!(e.unwrap_err().to_string().contains("2a8648ce3d0401"));
    assert!(verify_signature(
        &p256.public_key(),
        AuthMethod::DIGITAL_SIGNATURE,
        &[200, 0x30],
        &msg
    )
    .is_err());
    assert!(
        verify_signature(&p256.public_key(), AuthMethod::DIGITAL_SIGNATURE, &[], &msg).is_err()
    );
}

#[test]
fn choosing_a_scheme_from_the_peers_hashes() {
    let rsa = PrivateKey::from_pem_or_der(RSA_KEY_1.as_bytes()).unwrap();
    let p256 = private_key(&key_pair(Alg::P256));
    let p384 = private_key(&key_pair(Alg::P384));
    let ed = private_key(&key_pair(Alg::Ed25519));
    let all = Some(SUPPORTED_HASHES);
    let m14 = AuthMethod::DIGITAL_SIGNATURE;

    assert_eq!(
        choose_scheme(&rsa, all, false).unwrap(),
        choice(m14, SignatureScheme::RsaPkcs1(HashAlg::Sha256))
    );
    assert_eq!(
        choose_scheme(&rsa, all, true).unwrap(),
        choice(m14, SignatureScheme::RsaPss(HashAlg::Sha256))
    );
    assert_eq!(
        choose_scheme(&rsa, Some(&[HashAlg::Sha1, HashAlg::Sha512]), false).unwrap(),
        choice(m14, SignatureScheme::RsaPkcs1(HashAlg::Sha512))
    );
    assert_eq!(
        choose_scheme(&p384, all, false).unwrap(),
        choice(m14, SignatureScheme::Ecdsa(Curve::P384, HashAlg::Sha384))
    );
    assert_eq!(
        choose_scheme(&ed, all, false).unwrap(),
        choice(m14, SignatureScheme::Ed25519)
    );

    // Peer without RFC 7427 (no SIGNATURE_HASH_ALGORITHMS): the RFC 7296 / RFC 4754 methods.
    assert_eq!(
        choose_scheme(&rsa, None, false).unwrap(),
        choice(
            AuthMethod::RSA_SIG,
            SignatureScheme::RsaPkcs1(HashAlg::Sha1)
        )
    );
    assert_eq!(
        choose_scheme(&p256, None, false).unwrap(),
        choice(
            AuthMethod::ECDSA_SHA256_P256,
            SignatureScheme::Ecdsa(Curve::P256, HashAlg::Sha256)
        )
    );
    // P-256 key, peer only takes SHA-512: fall back to method 9 rather than a hash we do not sign with.
    assert_eq!(
        choose_scheme(&p256, Some(&[HashAlg::Sha512]), false)
            .unwrap()
            .method,
        AuthMethod::ECDSA_SHA256_P256
    );
    assert!(choose_scheme(&ed, None, false).is_err());
    assert!(choose_scheme(&ed, Some(&[HashAlg::Sha256]), false).is_err());
    assert!(choose_scheme(&rsa, None, true).is_err());

    // What we choose, we can sign and verify.
    for key in [&rsa, &p256, &p384, &ed] {
        for peer in [None, all] {
            let Ok(c) = choose_scheme(key, peer, false) else {
                continue;
            };
            let auth = sign(key, c, &octets(2), &mut TestRng::new(1)).unwrap();
            assert_eq!(
                verify_signature(&key.public_key(), auth.method, &auth.data, &octets(2)),
                Ok(c.scheme)
            );
        }
    }
}

#[test]
fn public_key_from_spki_matches_private_key() {
    for alg in [Alg::Rsa1, Alg::P256, Alg::P384, Alg::Ed25519] {
        let kp = key_pair(alg);
        let spki = kp.subject_public_key_info();
        let from_spki = PublicKey::from_spki(&spki).unwrap();
        assert_eq!(from_spki, private_key(&kp).public_key(), "{alg:?}");
    }
    assert_eq!(PublicKey::from_spki(&[0x30, 0x00]), None);
}
