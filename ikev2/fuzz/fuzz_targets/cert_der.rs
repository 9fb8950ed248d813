//! Peer-supplied certificate material: the X.509 fields we parse ourselves (subject, issuer,
//! validity, subjectAltName, SPKI), DNs as log text, public keys from an SPKI, the AlgorithmIdentifier
//! of RFC 7427 AUTH data, and a whole verification against a fixed CA. Private keys (from the
//! operator's files) go through the same DER code and are parsed too. Nothing may panic.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rswan_ikev2::auth::{
    name_string, parse_signature_hashes, spki_sha1, split_digital_signature, verify_peer,
    verify_signature, CertInfo, PrivateKey, PublicKey, SigAlg, TrustAnchors,
};
use rswan_ikev2::consts::AuthMethod;
use rswan_ikev2::wire::{dn, Identity};

/// A P-256 CA made with openssl for these seeds (corpus/cert_der/README.md).
const CA: &[u8] = include_bytes!("../fixtures/cert_der/ca.der");
/// 2027-06-01, inside the seed certificates' validity.
const NOW: u64 = 1_811_808_000;

/// The length of the DER TLV at the start of `data` (definite lengths up to 4 octets).
fn tlv_len(data: &[u8]) -> Option<usize> {
    let first = usize::from(*data.get(1)?);
    if first < 0x80 {
        return Some(2 + first);
    }
    let n = first - 0x80;
    if n == 0 || n > 4 {
        return None;
    }
    let len = data
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    len.checked_add(2 + n)
}

fn anchors() -> &'static TrustAnchors {
    static A: OnceLock<TrustAnchors> = OnceLock::new();
    A.get_or_init(|| TrustAnchors::from_der(vec![CA.to_vec()]).expect("fixture CA"))
}

fn use_key(key: &PublicKey, data: &[u8]) {
    let _ = key.kind();
    for method in [
        AuthMethod::RSA_SIG,
        AuthMethod::ECDSA_SHA256_P256,
        AuthMethod::DIGITAL_SIGNATURE,
    ] {
        let _ = verify_signature(key, method, data, b"signed octets");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(info) = CertInfo::parse(data) {
        let _ = name_string(info.issuer);
        let _ = name_string(info.subject);
        let _ = dn::format_dn(info.subject);
        for s in &info.san {
            let _ = s.to_string();
        }
        if let Some(key) = PublicKey::from_spki(info.spki) {
            use_key(&key, data);
        }
    }
    let _ = spki_sha1(data);
    let _ = name_string(data);
    let _ = dn::format_dn(data);
    if let Some(key) = PublicKey::from_spki(data) {
        use_key(&key, data);
    }
    let _ = SigAlg::from_algorithm_identifier(data);
    if let Some((alg, sig)) = split_digital_signature(data) {
        let _ = SigAlg::from_algorithm_identifier(alg);
        let _ = sig.len();
    }
    let _ = parse_signature_hashes(data);

    // The input as the peer's end-entity certificate, then as an end-entity certificate (its first
    // TLV) followed by an intermediate.
    let id = Identity::Fqdn("peer.example".into());
    let _ = verify_peer(
        anchors(),
        data,
        &[],
        &id,
        NOW,
        AuthMethod::DIGITAL_SIGNATURE,
        data,
        b"signed octets",
    );
    if let Some(at) = tlv_len(data).filter(|&n| n < data.len()) {
        let (ee, inter) = data.split_at(at);
        let _ = verify_peer(
            anchors(),
            ee,
            &[inter],
            &id,
            NOW,
            AuthMethod::ECDSA_SHA256_P256,
            data,
            b"signed octets",
        );
    }

    if let Ok(k) = PrivateKey::from_pem_or_der(data) {
        let _ = k.kind();
        let _ = k.public_key().kind();
    }
});
