//! Known-answer tests for the crypto primitives, from the data files in tests/data/kat/ (each names
//! its source in its first line).

use std::collections::HashMap;
use std::path::PathBuf;

use rswan_ikev2::consts::{EncrId, IntegId, KeGroup, PrfId};
use rswan_ikev2::crypto::{
    aead_open, aead_seal, cbc_decrypt, cbc_encrypt, sk, CryptoError, Encr, Integ, KeyExchange, Prf,
    SkCipher,
};
use rswan_ikev2::rng::Rng;

type Record = HashMap<String, String>;

fn kat_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/kat")
        .join(name)
}

/// Blank-line separated records of `name = value` lines; `#` lines are comments.
fn load(name: &str) -> Vec<Record> {
    let text = std::fs::read_to_string(kat_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut records = Vec::new();
    let mut cur = Record::new();
    for line in text.lines().chain(std::iter::once("")) {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !cur.is_empty() {
                records.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let (k, v) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("{name}: bad line {line:?}"));
        cur.insert(k.to_string(), v.to_string());
    }
    assert!(!records.is_empty(), "{name} has no records");
    records
}

fn hex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn field(r: &Record, k: &str) -> Vec<u8> {
    hex(r
        .get(k)
        .unwrap_or_else(|| panic!("missing field {k} in {r:?}")))
}

/// Hands out exactly the given octets, so a "generated" private key is a known test key.
struct FixedRng(Vec<u8>);

impl Rng for FixedRng {
    fn fill(&mut self, dest: &mut [u8]) {
        assert!(dest.len() <= self.0.len(), "FixedRng exhausted");
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
}

#[test]
fn every_kat_file_names_its_source() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/kat");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("kat dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with("# source: "),
            "{} lacks a source header",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 9, "expected the KAT files, found {n}");
}

fn prf_for(name: &str) -> Prf {
    let id = match name {
        "HMAC_MD5" => PrfId::HMAC_MD5,
        "HMAC_SHA1" => PrfId::HMAC_SHA1,
        "HMAC_SHA2_256" | "PRF_HMAC_SHA2_256" => PrfId::HMAC_SHA2_256,
        "HMAC_SHA2_384" | "PRF_HMAC_SHA2_384" => PrfId::HMAC_SHA2_384,
        "HMAC_SHA2_512" | "PRF_HMAC_SHA2_512" => PrfId::HMAC_SHA2_512,
        other => panic!("unknown alg {other}"),
    };
    Prf::new(id).expect("supported PRF")
}

#[test]
fn hmac_md5_and_sha1_match_rfc2202() {
    let records = load("hmac_rfc2202.txt");
    assert_eq!(records.len(), 12);
    for r in &records {
        let prf = prf_for(&r["alg"]);
        let out = prf.compute(&field(r, "key"), &[&field(r, "data")]);
        assert_eq!(out.as_bytes(), field(r, "mac").as_slice(), "{}", r["alg"]);
    }
}

#[test]
fn hmac_sha2_matches_rfc4231() {
    for r in &load("hmac_sha2_rfc4231.txt") {
        let prf = prf_for(&r["alg"]);
        let data = field(r, "data");
        // Feeding the data in two parts must give the same MAC as one part.
        let (a, b) = data.split_at(data.len() / 2);
        let out = prf.compute(&field(r, "key"), &[a, b]);
        assert_eq!(out.as_bytes(), field(r, "mac").as_slice(), "{}", r["alg"]);
    }
}

#[test]
fn prf_and_truncated_integrity_match_rfc4868() {
    let mut integ_checked = 0;
    for r in &load("prf_integ_rfc4868.txt") {
        let alg = r["alg"].as_str();
        let (key, data, mac) = (field(r, "key"), field(r, "data"), field(r, "mac"));
        if let Some(rest) = alg.strip_prefix("AUTH_") {
            let id = match rest {
                "HMAC_SHA2_256_128" => IntegId::HMAC_SHA2_256_128,
                "HMAC_SHA2_384_192" => IntegId::HMAC_SHA2_384_192,
                "HMAC_SHA2_512_256" => IntegId::HMAC_SHA2_512_256,
                other => panic!("unknown {other}"),
            };
            let integ = Integ::new(id).expect("supported");
            assert_eq!(integ.icv_len(), mac.len());
            let mut icv = vec![0u8; integ.icv_len()];
            integ.compute(&key, &[&data], &mut icv).expect("compute");
            assert_eq!(icv, mac, "{alg}");
            integ.verify(&key, &[&data], &mac).expect("verify");
            let mut bad = mac.clone();
            bad[0] ^= 1;
            assert_eq!(
                integ.verify(&key, &[&data], &bad),
                Err(CryptoError::IntegrityCheckFailed)
            );
            integ_checked += 1;
        } else {
            let out = prf_for(alg).compute(&key, &[&data]);
            assert_eq!(out.as_bytes(), mac.as_slice(), "{alg}");
        }
    }
    assert_eq!(integ_checked, 9);
}

#[test]
fn ecp_groups_match_rfc5903() {
    for r in &load("ecp_rfc5903.txt") {
        let group = match r["group"].as_str() {
            "ECP_256" => KeGroup::ECP_256,
            "ECP_384" => KeGroup::ECP_384,
            "ECP_521" => KeGroup::ECP_521,
            other => panic!("{other}"),
        };
        let ke_i = KeyExchange::generate(group, &mut FixedRng(field(r, "i"))).expect("i");
        let ke_r = KeyExchange::generate(group, &mut FixedRng(field(r, "r"))).expect("r");
        assert_eq!(ke_i.public_value(), field(r, "gi").as_slice(), "{group} gi");
        assert_eq!(ke_r.public_value(), field(r, "gr").as_slice(), "{group} gr");
        let gir = field(r, "gir");
        assert_eq!(
            ke_i.shared_secret(&field(r, "gr"))
                .expect("i side")
                .as_bytes(),
            gir.as_slice()
        );
        assert_eq!(
            ke_r.shared_secret(&field(r, "gi"))
                .expect("r side")
                .as_bytes(),
            gir.as_slice()
        );
    }
}

#[test]
fn x25519_matches_rfc7748() {
    let records = load("x25519_rfc7748.txt");
    for r in &records {
        if let Some(scalar) = r.get("scalar") {
            let ke = KeyExchange::generate(KeGroup::CURVE_25519, &mut FixedRng(hex(scalar)))
                .expect("gen");
            let out = ke.shared_secret(&field(r, "u")).expect("shared");
            assert_eq!(out.as_bytes(), field(r, "out").as_slice());
        } else {
            let alice = KeyExchange::generate(
                KeGroup::CURVE_25519,
                &mut FixedRng(field(r, "alice_private")),
            )
            .unwrap();
            let bob =
                KeyExchange::generate(KeGroup::CURVE_25519, &mut FixedRng(field(r, "bob_private")))
                    .unwrap();
            assert_eq!(alice.public_value(), field(r, "alice_public").as_slice());
            assert_eq!(bob.public_value(), field(r, "bob_public").as_slice());
            let shared = field(r, "shared");
            assert_eq!(
                alice.shared_secret(bob.public_value()).unwrap().as_bytes(),
                shared.as_slice()
            );
            assert_eq!(
                bob.shared_secret(alice.public_value()).unwrap().as_bytes(),
                shared.as_slice()
            );
        }
    }
}

/// RFC 7634 Appendix B is a whole IKEv2 message with an SK payload: opening it checks the AAD
/// (header + SK header), nonce (salt | IV) and layout; sealing with the same IV must give it back.
#[test]
fn chacha20poly1305_sk_payload_matches_rfc7634_appendix_b() {
    let r = &load("chacha20poly1305_ikev2_rfc7634.txt")[0];
    let keymat = field(r, "keymat");
    let message = field(r, "message");
    let cipher = SkCipher::new(Encr::new(EncrId::CHACHA20_POLY1305, None).unwrap(), None).unwrap();
    assert_eq!(cipher.encr_key_len(), 36);

    let (first, inner) = sk::open(&cipher, &keymat, &[], &message).expect("open");
    assert_eq!(first, 41, "Next Payload of the SK header is Notify");
    let plaintext = field(r, "plaintext");
    assert_eq!(
        inner.as_slice(),
        &plaintext[..plaintext.len() - 1],
        "inner payloads without pad length"
    );

    let sealed = sk::seal(
        &cipher,
        &keymat,
        &[],
        &message[..28],
        41,
        &inner,
        &mut FixedRng(field(r, "iv")),
    )
    .expect("seal");
    assert_eq!(sealed, message);

    let mut ct = field(r, "ciphertext_icv");
    let tag = ct.split_off(ct.len() - 16);
    aead_open(
        cipher.encr(),
        &keymat,
        &field(r, "iv"),
        &field(r, "aad"),
        &mut ct,
        &tag,
    )
    .expect("raw open");
    assert_eq!(ct, plaintext);
}

#[test]
fn aes_cbc_matches_rfc3602() {
    for r in &load("aes_cbc_rfc3602.txt") {
        let key = field(r, "key");
        let encr = Encr::new(EncrId::AES_CBC, Some((key.len() * 8) as u16)).unwrap();
        let mut buf = field(r, "plaintext");
        cbc_encrypt(encr, &key, &field(r, "iv"), &mut buf).unwrap();
        assert_eq!(buf, field(r, "ciphertext"));
        cbc_decrypt(encr, &key, &field(r, "iv"), &mut buf).unwrap();
        assert_eq!(buf, field(r, "plaintext"));
    }
}

#[test]
fn triple_des_cbc_matches_nist_mmt() {
    let encr = Encr::new(EncrId::TRIPLE_DES, None).unwrap();
    assert!(encr.is_legacy());
    assert_eq!(
        (encr.key_len(), encr.iv_len(), encr.block_len()),
        (24, 8, 8)
    );
    for r in &load("3des_cbc_nist_mmt.txt") {
        let mut buf = field(r, "plaintext");
        cbc_encrypt(encr, &field(r, "key"), &field(r, "iv"), &mut buf).unwrap();
        assert_eq!(buf, field(r, "ciphertext"));
        cbc_decrypt(encr, &field(r, "key"), &field(r, "iv"), &mut buf).unwrap();
        assert_eq!(buf, field(r, "plaintext"));
    }
}

#[test]
fn aes_gcm_matches_gcm_spec_vectors_for_all_icv_and_key_sizes() {
    let mut seen = Vec::new();
    for r in &load("aes_gcm_mcgrew_viega.txt") {
        let icv: usize = r["icv_len"].parse().unwrap();
        let keymat = field(r, "keymat");
        let id = match icv {
            8 => EncrId::AES_GCM_8,
            12 => EncrId::AES_GCM_12,
            _ => EncrId::AES_GCM_16,
        };
        let encr = Encr::new(id, Some(((keymat.len() - 4) * 8) as u16)).unwrap();
        assert_eq!(encr.key_len(), keymat.len());
        let (iv, aad) = (field(r, "iv"), field(r, "aad"));
        let mut expected = field(r, "ciphertext_icv");
        let expected_tag = expected.split_off(expected.len() - icv);

        let mut buf = field(r, "plaintext");
        let mut tag = vec![0u8; icv];
        aead_seal(encr, &keymat, &iv, &aad, &mut buf, &mut tag).unwrap();
        assert_eq!(
            (&buf, &tag),
            (&expected, &expected_tag),
            "{icv} {}",
            encr.key_bits()
        );

        let mut bad = expected_tag.clone();
        bad[icv - 1] ^= 0x80;
        assert_eq!(
            aead_open(encr, &keymat, &iv, &aad, &mut buf.clone(), &bad),
            Err(CryptoError::IntegrityCheckFailed)
        );
        aead_open(encr, &keymat, &iv, &aad, &mut buf, &expected_tag).unwrap();
        assert_eq!(buf, field(r, "plaintext"));
        seen.push((encr.key_bits(), icv));
    }
    for want in [(128, 8), (128, 12), (128, 16), (192, 16), (256, 16)] {
        assert!(seen.contains(&want), "no vector for {want:?}");
    }
}

/// NIST CAVP SP 800-135 IKEv2 KDF: SKEYSEED, the IKE SA DKM, Child SA DKM with and without a
/// new Diffie-Hellman secret, and the rekey SKEYSEED.
#[test]
fn ikev2_kdf_matches_nist_cavs_vector() {
    use rswan_ikev2::crypto::{derive_child_keys, prf_plus, rekey_skeyseed, skeyseed};
    let r = &load("ikev2_kdf_nist_cavs.txt")[0];
    let prf = prf_for("HMAC_SHA1");
    let (ni, nr, gir, gir_new) = (
        field(r, "ni"),
        field(r, "nr"),
        field(r, "gir"),
        field(r, "gir_new"),
    );
    let seed = skeyseed(prf, &ni, &nr, &gir);
    assert_eq!(seed.as_bytes(), field(r, "skeyseed").as_slice());
    let dkm = field(r, "dkm");
    let got = prf_plus(
        prf,
        seed.as_bytes(),
        &[&ni, &nr, &field(r, "spi_i"), &field(r, "spi_r")],
        dkm.len(),
    )
    .unwrap();
    assert_eq!(got.as_bytes(), dkm.as_slice());

    let sk_d = &dkm[..prf.key_len()];
    let half = dkm.len() / 2;
    for (pfs, name) in [
        (None, "dkm_child"),
        (Some(gir_new.as_slice()), "dkm_child_dh"),
    ] {
        // encr_i | integ_i | encr_r | integ_r laid end to end is the whole Child SA DKM.
        let k = derive_child_keys(prf, sk_d, pfs, &ni, &nr, half / 2, half - half / 2).unwrap();
        let joined = [
            k.encr_i.as_bytes(),
            k.integ_i.as_bytes(),
            k.encr_r.as_bytes(),
            k.integ_r.as_bytes(),
        ]
        .concat();
        assert_eq!(joined, field(r, name), "{name}");
    }
    let rekey = rekey_skeyseed(prf, sk_d, &gir_new, &ni, &nr);
    assert_eq!(rekey.as_bytes(), field(r, "skeyseed_rekey").as_slice());
}
