//! The RFC 7427 AlgorithmIdentifier encodings of the digital-signature AUTH method, byte for byte.

mod common;

use rswan_ikev2::auth::{
    encode_digital_signature, parse_signature_hashes, signature_hash_notify,
    split_digital_signature, HashAlg, SigAlg,
};
use rswan_ikev2::consts::NotifyType;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Our encodings against RFC 7427 Appendix A's forms (sha*WithRSAEncryption with NULL parameters,
/// ecdsa-with-SHA* without), RFC 8420 for Ed25519, and RSASSA-PSS with SHA-256/MGF1-SHA-256/salt 32.
#[test]
fn algorithm_identifiers_byte_for_byte() {
    let cases = [
        (
            SigAlg::RsaPkcs1(HashAlg::Sha1),
            "300d06092a864886f70d0101050500",
        ),
        (
            SigAlg::RsaPkcs1(HashAlg::Sha256),
            "300d06092a864886f70d01010b0500",
        ),
        (
            SigAlg::RsaPkcs1(HashAlg::Sha384),
            "300d06092a864886f70d01010c0500",
        ),
        (
            SigAlg::RsaPkcs1(HashAlg::Sha512),
            "300d06092a864886f70d01010d0500",
        ),
        (SigAlg::Ecdsa(HashAlg::Sha256), "300a06082a8648ce3d040302"),
        (SigAlg::Ecdsa(HashAlg::Sha384), "300a06082a8648ce3d040303"),
        (SigAlg::Ecdsa(HashAlg::Sha512), "300a06082a8648ce3d040304"),
        (SigAlg::Ed25519, "300506032b6570"),
        (
            SigAlg::RsaPss(HashAlg::Sha256),
            "3041 06092a864886f70d01010a 3034 a00f300d06096086480165030402010500
             a11c301a06092a864886f70d010108300d06096086480165030402010500 a203020120",
        ),
    ];
    for (alg, want) in cases {
        assert_eq!(alg.algorithm_identifier().unwrap(), hex(want), "{alg:?}");
        assert_eq!(SigAlg::from_algorithm_identifier(&hex(want)), Some(alg));
    }
}

/// Cross-check with the independent encodings rustls ships (pki_types::alg_id holds the
/// AlgorithmIdentifier contents, without the outer SEQUENCE header).
#[test]
fn algorithm_identifiers_match_pki_types() {
    use rustls_pki_types::alg_id;
    let cases = [
        (SigAlg::RsaPkcs1(HashAlg::Sha256), alg_id::RSA_PKCS1_SHA256),
        (SigAlg::RsaPkcs1(HashAlg::Sha384), alg_id::RSA_PKCS1_SHA384),
        (SigAlg::RsaPkcs1(HashAlg::Sha512), alg_id::RSA_PKCS1_SHA512),
        (SigAlg::RsaPss(HashAlg::Sha256), alg_id::RSA_PSS_SHA256),
        (SigAlg::RsaPss(HashAlg::Sha384), alg_id::RSA_PSS_SHA384),
        (SigAlg::RsaPss(HashAlg::Sha512), alg_id::RSA_PSS_SHA512),
        (SigAlg::Ecdsa(HashAlg::Sha256), alg_id::ECDSA_SHA256),
        (SigAlg::Ecdsa(HashAlg::Sha384), alg_id::ECDSA_SHA384),
        (SigAlg::Ecdsa(HashAlg::Sha512), alg_id::ECDSA_SHA512),
        (SigAlg::Ed25519, alg_id::ED25519),
    ];
    for (alg, theirs) in cases {
        let ours = alg.algorithm_identifier().unwrap();
        assert_eq!(&ours[2..], theirs.as_ref(), "{alg:?}");
        assert_eq!(usize::from(ours[1]), theirs.as_ref().len());
    }
}

/// Other spellings peers send: PKCS#1 without the NULL, PSS with hash parameters absent and with an
/// explicit trailerField. Refused: PSS with SHA-1 defaults and a salt that is not the hash length.
#[test]
fn accepted_and_refused_variants() {
    let accepted = [
        (
            "300b06092a864886f70d01010b",
            SigAlg::RsaPkcs1(HashAlg::Sha256),
        ),
        (
            "303d 06092a864886f70d01010a 3030 a00d300b0609608648016503040201
             a11a301806092a864886f70d010108300b0609608648016503040201 a203020120",
            SigAlg::RsaPss(HashAlg::Sha256),
        ),
        (
            "3046 06092a864886f70d01010a 3039 a00f300d06096086480165030402010500
             a11c301a06092a864886f70d010108300d06096086480165030402010500 a203020120 a303020101",
            SigAlg::RsaPss(HashAlg::Sha256),
        ),
    ];
    for (der, alg) in accepted {
        assert_eq!(
            SigAlg::from_algorithm_identifier(&hex(der)),
            Some(alg),
            "{der}"
        );
    }
    let refused = [
        // RSASSA-PSS with empty parameters (SHA-1, MGF1-SHA-1, salt 20).
        "300f06092a864886f70d01010a3002",
        // salt length 20 with SHA-256.
        "3041 06092a864886f70d01010a 3034 a00f300d06096086480165030402010500
         a11c301a06092a864886f70d010108300d06096086480165030402010500 a203020114",
        // MGF1 with SHA-384 under SHA-256.
        "3041 06092a864886f70d01010a 3034 a00f300d06096086480165030402010500
         a11c301a06092a864886f70d010108300d06096086480165030402020500 a203020120",
        // ecdsa-with-SHA1.
        "300906072a8648ce3d0401",
        // Ed25519 with parameters.
        "300706032b65700500",
    ];
    for der in refused {
        assert_eq!(SigAlg::from_algorithm_identifier(&hex(der)), None, "{der}");
    }
}

#[test]
fn auth_data_framing() {
    let data = encode_digital_signature(SigAlg::Ecdsa(HashAlg::Sha256), &[0xaa, 0xbb]).unwrap();
    assert_eq!(data, hex("0c 300a06082a8648ce3d040302 aabb"));
    let (id, sig) = split_digital_signature(&data).unwrap();
    assert_eq!(id.len(), 12);
    assert_eq!(sig, [0xaa, 0xbb]);
    assert_eq!(split_digital_signature(&data[..5]), None);
}

#[test]
fn signature_hash_algorithms_notify() {
    let n = signature_hash_notify();
    assert_eq!(n.ntype, NotifyType::SIGNATURE_HASH_ALGORITHMS);
    // SHA2-256, SHA2-384, SHA2-512, Identity: SHA-1 is not offered.
    assert_eq!(n.data, hex("0002 0003 0004 0005"));
    assert_eq!(
        parse_signature_hashes(&hex("0001 0002 0003 0004 0005 0006")).unwrap(),
        [
            HashAlg::Sha1,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
            HashAlg::Identity
        ]
    );
}

/// strongSwan 5.9.8's IKE_SA_INIT request and response (real capture) both carry
/// SIGNATURE_HASH_ALGORITHMS; we read the same list we send, and would choose RFC 7427 with it.
#[test]
fn strongswan_signature_hash_algorithms_from_capture() {
    let case = common::capture::load_case("psk-gcm-ecp256");
    let mut seen = 0;
    for ike in case.ike.iter().take(2) {
        let msg = rswan_ikev2::wire::Message::decode(&ike.bytes).unwrap();
        let n = msg
            .notifies()
            .find(|n| n.ntype == NotifyType::SIGNATURE_HASH_ALGORITHMS)
            .expect("strongSwan announces RFC 7427 in IKE_SA_INIT");
        let hashes = parse_signature_hashes(&n.data).unwrap();
        assert_eq!(
            hashes,
            [
                HashAlg::Sha256,
                HashAlg::Sha384,
                HashAlg::Sha512,
                HashAlg::Identity
            ]
        );
        assert_eq!(n.data, signature_hash_notify().data);
        seen += 1;
    }
    assert_eq!(seen, 2);
}
