//! Transform descriptors, prf+ limits, cookies and NAT-D hashing.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use rswan_ikev2::consts::{EncrId, IntegId, PrfId};
use rswan_ikev2::crypto::{
    aead_seal, cbc_encrypt, derive_child_keys, natd_hash, prf_plus, CookieJar, CryptoError, Encr,
    Integ, Prf, SkCipher, COOKIE_LEN,
};
use rswan_ikev2::rng::TestRng;

#[test]
fn encr_descriptors_report_rfc_lengths() {
    // (id, key bits, key material incl. salt, iv, block, icv, aead)
    let table = [
        (EncrId::AES_CBC, Some(128), 16, 16, 16, 0, false),
        (EncrId::AES_CBC, Some(192), 24, 16, 16, 0, false),
        (EncrId::AES_CBC, Some(256), 32, 16, 16, 0, false),
        (EncrId::AES_GCM_8, Some(128), 20, 8, 16, 8, true),
        (EncrId::AES_GCM_12, Some(192), 28, 8, 16, 12, true),
        (EncrId::AES_GCM_16, Some(256), 36, 8, 16, 16, true),
        (EncrId::CHACHA20_POLY1305, None, 36, 8, 1, 16, true),
        (EncrId::TRIPLE_DES, None, 24, 8, 8, 0, false),
    ];
    for (id, bits, key, iv, block, icv, aead) in table {
        let e = Encr::new(id, bits).unwrap();
        assert_eq!(
            (
                e.key_len(),
                e.iv_len(),
                e.block_len(),
                e.icv_len(),
                e.is_aead()
            ),
            (key, iv, block, icv, aead),
            "{id}"
        );
    }
    for (id, bits) in [
        (EncrId::AES_CBC, None),
        (EncrId::AES_CBC, Some(64)),
        (EncrId::AES_GCM_16, None),
        (EncrId::CHACHA20_POLY1305, Some(128)),
        (EncrId::TRIPLE_DES, Some(128)),
        (EncrId::AES_CTR, Some(128)),
        (EncrId::NULL, None),
    ] {
        assert_eq!(
            Encr::new(id, bits),
            Err(CryptoError::UnsupportedEncr { id, key_bits: bits })
        );
    }
}

#[test]
fn integ_and_prf_descriptors_report_rfc_lengths() {
    for (id, key, icv) in [
        (IntegId::HMAC_MD5_96, 16, 12),
        (IntegId::HMAC_SHA1_96, 20, 12),
        (IntegId::HMAC_SHA2_256_128, 32, 16),
        (IntegId::HMAC_SHA2_384_192, 48, 24),
        (IntegId::HMAC_SHA2_512_256, 64, 32),
    ] {
        let i = Integ::new(id).unwrap();
        assert_eq!((i.key_len(), i.icv_len()), (key, icv), "{id}");
    }
    assert_eq!(
        Integ::new(IntegId::AES_XCBC_96),
        Err(CryptoError::UnsupportedInteg(IntegId::AES_XCBC_96))
    );
    for (id, len) in [
        (PrfId::HMAC_SHA1, 20),
        (PrfId::HMAC_SHA2_256, 32),
        (PrfId::HMAC_SHA2_384, 48),
        (PrfId::HMAC_SHA2_512, 64),
    ] {
        let p = Prf::new(id).unwrap();
        assert_eq!((p.output_len(), p.key_len()), (len, len));
        assert!(!p.is_legacy());
    }
    assert!(Prf::new(PrfId::HMAC_MD5).unwrap().is_legacy());
    assert_eq!(
        Prf::new(PrfId::AES128_XCBC),
        Err(CryptoError::UnsupportedPrf(PrfId::AES128_XCBC))
    );
}

#[test]
fn sk_cipher_requires_integrity_exactly_for_non_aead() {
    let cbc = Encr::new(EncrId::AES_CBC, Some(128)).unwrap();
    let gcm = Encr::new(EncrId::AES_GCM_16, Some(128)).unwrap();
    let sha = Integ::new(IntegId::HMAC_SHA2_256_128).unwrap();
    assert!(matches!(
        SkCipher::new(cbc, None),
        Err(CryptoError::InvalidSuite(_))
    ));
    assert!(matches!(
        SkCipher::new(gcm, Some(sha)),
        Err(CryptoError::InvalidSuite(_))
    ));
    let s = SkCipher::new(gcm, None).unwrap();
    assert_eq!(
        (s.encr_key_len(), s.integ_key_len(), s.icv_len()),
        (20, 0, 16)
    );
}

#[test]
fn prf_plus_chains_blocks_and_stops_at_255() {
    let prf = Prf::new(PrfId::HMAC_SHA2_256).unwrap();
    let key = b"key";
    // T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S | 0x02).
    let out = prf_plus(prf, key, &[b"se", b"ed"], 40).unwrap();
    let t1 = prf.compute(key, &[b"seed", &[1]]);
    let t2 = prf.compute(key, &[t1.as_bytes(), b"seed", &[2]]);
    assert_eq!(&out.as_bytes()[..32], t1.as_bytes());
    assert_eq!(&out.as_bytes()[32..], &t2.as_bytes()[..8]);
    assert_eq!(
        prf_plus(prf, key, &[b"s"], 255 * 32).unwrap().len(),
        255 * 32
    );
    assert_eq!(
        prf_plus(prf, key, &[b"s"], 255 * 32 + 1).map(|_| ()),
        Err(CryptoError::PrfPlusTooLong {
            requested: 255 * 32 + 1,
            max: 255 * 32
        })
    );
}

#[test]
fn child_keys_split_keymat_in_rfc_order() {
    let prf = Prf::new(PrfId::HMAC_SHA2_256).unwrap();
    let (sk_d, ni, nr, g) = ([3u8; 32], [1u8; 16], [2u8; 16], [4u8; 64]);
    let keymat = prf_plus(prf, &sk_d, &[&g, &ni, &nr], 2 * (20 + 32)).unwrap();
    let k = derive_child_keys(prf, &sk_d, Some(&g), &ni, &nr, 20, 32).unwrap();
    let km = keymat.as_bytes();
    assert_eq!(k.encr_i.as_bytes(), &km[..20]);
    assert_eq!(k.integ_i.as_bytes(), &km[20..52]);
    assert_eq!(k.encr_r.as_bytes(), &km[52..72]);
    assert_eq!(k.integ_r.as_bytes(), &km[72..]);
    let no_pfs = derive_child_keys(prf, &sk_d, None, &ni, &nr, 20, 32).unwrap();
    assert_ne!(no_pfs.encr_i.as_bytes(), k.encr_i.as_bytes());
}

#[test]
fn cookies_verify_for_their_initiator_only_and_survive_one_rotation() {
    let mut rng = TestRng::new(9);
    let mut jar = CookieJar::new(&mut rng);
    let ip: SocketAddr = (Ipv4Addr::new(192, 0, 2, 1), 500).into();
    let spi = [1u8; 8];
    let c = jar.cookie(b"nonce-i", ip, &spi);
    assert_eq!(c.len(), COOKIE_LEN);
    assert!(jar.verify(&c, b"nonce-i", ip, &spi));
    assert!(!jar.verify(&c, b"nonce-x", ip, &spi), "other nonce");
    assert!(
        !jar.verify(
            &c,
            b"nonce-i",
            (Ipv4Addr::new(192, 0, 2, 9), 500).into(),
            &spi
        ),
        "other address"
    );
    assert!(
        !jar.verify(
            &c,
            b"nonce-i",
            (Ipv4Addr::new(192, 0, 2, 1), 501).into(),
            &spi
        ),
        "other source port: a cookie cannot be replayed from another port"
    );
    assert!(!jar.verify(&c, b"nonce-i", ip, &[2u8; 8]), "other SPI");
    assert!(
        !jar.verify(&c[..COOKIE_LEN - 1], b"nonce-i", ip, &spi),
        "truncated"
    );
    assert!(!jar.verify(&[], b"nonce-i", ip, &spi), "empty");
    jar.rotate(&mut rng);
    assert!(
        jar.verify(&c, b"nonce-i", ip, &spi),
        "previous secret still accepted"
    );
    let c2 = jar.cookie(b"nonce-i", ip, &spi);
    assert_ne!(c, c2);
    jar.rotate(&mut rng);
    assert!(!jar.verify(&c, b"nonce-i", ip, &spi), "two rotations ago");
    assert!(jar.verify(&c2, b"nonce-i", ip, &spi));
}

#[test]
fn natd_hash_covers_spis_address_and_port() {
    let a: SocketAddr = (Ipv4Addr::new(192, 0, 2, 1), 500).into();
    let h = natd_hash(&[1; 8], &[0; 8], a);
    assert_ne!(
        h,
        natd_hash(&[1; 8], &[0; 8], (Ipv4Addr::new(192, 0, 2, 1), 4500).into())
    );
    assert_ne!(h, natd_hash(&[1; 8], &[2; 8], a));
    let v6: SocketAddr = (Ipv6Addr::LOCALHOST, 500).into();
    assert_ne!(natd_hash(&[1; 8], &[0; 8], v6), h);
}

#[test]
fn raw_cipher_calls_with_the_wrong_mode_or_lengths_are_errors_not_panics() {
    let cbc = Encr::new(EncrId::AES_CBC, Some(128)).unwrap();
    let gcm = Encr::new(EncrId::AES_GCM_16, Some(128)).unwrap();
    let mut buf = [0u8; 32];
    let mut tag = [0u8; 16];
    assert!(matches!(
        aead_seal(cbc, &[0; 16], &[0; 8], b"", &mut buf, &mut tag),
        Err(CryptoError::InvalidSuite(_))
    ));
    assert!(matches!(
        cbc_encrypt(gcm, &[0; 20], &[0; 8], &mut buf),
        Err(CryptoError::InvalidSuite(_))
    ));
    assert!(matches!(
        cbc_encrypt(cbc, &[0; 16], &[0; 16], &mut buf[..15]),
        Err(CryptoError::Malformed(_))
    ));
    assert!(matches!(
        cbc_encrypt(cbc, &[0; 16], &[0; 8], &mut buf),
        Err(CryptoError::Malformed(_))
    ));
    assert!(matches!(
        aead_seal(gcm, &[0; 20], &[0; 7], b"", &mut buf, &mut tag),
        Err(CryptoError::Malformed(_))
    ));
    assert!(matches!(
        aead_seal(gcm, &[0; 20], &[0; 8], b"", &mut buf, &mut tag[..8]),
        Err(CryptoError::Malformed(_))
    ));
    assert!(matches!(
        aead_seal(gcm, &[0; 16], &[0; 8], b"", &mut buf, &mut tag),
        Err(CryptoError::KeyLength { .. })
    ));
}
