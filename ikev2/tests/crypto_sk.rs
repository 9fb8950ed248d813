//! SK and SKF payload protection: round trips for every supported suite, and rejection of anything
//! tampered, truncated or keyed wrongly.

use rswan_ikev2::consts::{EncrId, IntegId};
use rswan_ikev2::crypto::sk::{self, FragmentPos};
use rswan_ikev2::crypto::{cbc_encrypt, CryptoError, Encr, Integ, SkCipher};
use rswan_ikev2::rng::{Rng, TestRng};

fn suites() -> Vec<SkCipher> {
    let mut out = Vec::new();
    for bits in [128, 192, 256] {
        for integ in [
            IntegId::HMAC_SHA1_96,
            IntegId::HMAC_SHA2_256_128,
            IntegId::HMAC_SHA2_384_192,
            IntegId::HMAC_SHA2_512_256,
        ] {
            out.push(
                SkCipher::new(
                    Encr::new(EncrId::AES_CBC, Some(bits)).unwrap(),
                    Some(Integ::new(integ).unwrap()),
                )
                .unwrap(),
            );
        }
        for gcm in [EncrId::AES_GCM_8, EncrId::AES_GCM_12, EncrId::AES_GCM_16] {
            out.push(SkCipher::new(Encr::new(gcm, Some(bits)).unwrap(), None).unwrap());
        }
    }
    out.push(SkCipher::new(Encr::new(EncrId::CHACHA20_POLY1305, None).unwrap(), None).unwrap());
    out.push(
        SkCipher::new(
            Encr::new(EncrId::TRIPLE_DES, None).unwrap(),
            Some(Integ::new(IntegId::HMAC_MD5_96).unwrap()),
        )
        .unwrap(),
    );
    out
}

fn keys(cipher: &SkCipher, rng: &mut TestRng) -> (Vec<u8>, Vec<u8>) {
    let mut e = vec![0u8; cipher.encr_key_len()];
    let mut a = vec![0u8; cipher.integ_key_len()];
    rng.fill(&mut e);
    rng.fill(&mut a);
    (e, a)
}

/// An INFORMATIONAL request header from the original initiator (flags 0x08), Message ID 7.
fn header() -> Vec<u8> {
    let mut h = vec![0u8; 28];
    h[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    h[8..16].copy_from_slice(&[9, 10, 11, 12, 13, 14, 15, 16]);
    h[16] = 0; // patched by seal
    h[17] = 0x20;
    h[18] = 37;
    h[19] = 0x08;
    h[20..24].copy_from_slice(&7u32.to_be_bytes());
    h
}

#[test]
fn every_suite_round_trips_with_the_rfc_layout() {
    let mut rng = TestRng::new(1);
    for cipher in suites() {
        let (ek, ak) = keys(&cipher, &mut rng);
        let encr = cipher.encr();
        for len in [0usize, 1, 7, 8, 15, 16, 17, 100, 1000] {
            let inner: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let msg = sk::seal(&cipher, &ek, &ak, &header(), 41, &inner, &mut rng).expect("seal");
            // Header: Next Payload SK, Length patched; the rest untouched.
            assert_eq!(msg[16], 46);
            assert_eq!(
                u32::from_be_bytes(msg[24..28].try_into().unwrap()) as usize,
                msg.len()
            );
            assert_eq!(&msg[..16], &header()[..16]);
            assert_eq!(&msg[17..24], &header()[17..24]);
            // SK header: first inner payload type, not critical, payload length to the end.
            assert_eq!((msg[28], msg[29]), (41, 0));
            assert_eq!(
                u16::from_be_bytes([msg[30], msg[31]]) as usize,
                msg.len() - 28
            );
            let encrypted = msg.len() - 32 - encr.iv_len() - cipher.icv_len();
            assert_eq!(encrypted % encr.pad_to(), 0, "{cipher:?}");
            assert!(
                encrypted > len && encrypted <= len + encr.pad_to(),
                "minimal padding"
            );

            let (first, plain) = sk::open(&cipher, &ek, &ak, &msg).expect("open");
            assert_eq!(
                (first, plain.as_slice()),
                (41, inner.as_slice()),
                "{cipher:?} len {len}"
            );
        }
    }
}

#[test]
fn a_flipped_bit_anywhere_is_rejected() {
    let mut rng = TestRng::new(2);
    for cipher in suites() {
        let (ek, ak) = keys(&cipher, &mut rng);
        let msg = sk::seal(
            &cipher,
            &ek,
            &ak,
            &header(),
            41,
            b"some inner payloads",
            &mut rng,
        )
        .unwrap();
        for i in 0..msg.len() {
            let mut bad = msg.clone();
            bad[i] ^= 0x01;
            let got = sk::open(&cipher, &ek, &ak, &bad);
            assert!(
                matches!(
                    got,
                    Err(CryptoError::IntegrityCheckFailed | CryptoError::Malformed(_))
                ),
                "{cipher:?}: flip at {i} gave {got:?}"
            );
        }
    }
}

#[test]
fn wrong_keys_and_wrong_key_lengths_fail_cleanly() {
    let mut rng = TestRng::new(3);
    for cipher in suites() {
        let (ek, ak) = keys(&cipher, &mut rng);
        let msg = sk::seal(&cipher, &ek, &ak, &header(), 41, b"x", &mut rng).unwrap();
        let (ek2, ak2) = keys(&cipher, &mut rng);
        let other = if cipher.encr().is_aead() {
            sk::open(&cipher, &ek2, &ak, &msg)
        } else {
            sk::open(&cipher, &ek, &ak2, &msg)
        };
        assert_eq!(other, Err(CryptoError::IntegrityCheckFailed), "{cipher:?}");
        assert!(
            sk::open(&cipher, &ek[1..], &ak, &msg).is_err(),
            "short encr key"
        );
        assert!(matches!(
            sk::seal(&cipher, &ek[1..], &ak, &header(), 41, b"x", &mut rng),
            Err(CryptoError::KeyLength { .. })
        ));
    }
}

#[test]
fn truncated_or_inconsistent_messages_are_malformed_not_panics() {
    let mut rng = TestRng::new(4);
    for cipher in suites() {
        let (ek, ak) = keys(&cipher, &mut rng);
        let msg = sk::seal(&cipher, &ek, &ak, &header(), 41, b"payload", &mut rng).unwrap();
        for cut in 0..msg.len() {
            assert!(
                sk::open(&cipher, &ek, &ak, &msg[..cut]).is_err(),
                "{cipher:?} cut at {cut}"
            );
        }
        let mut longer = msg.clone();
        longer.push(0);
        assert!(matches!(
            sk::open(&cipher, &ek, &ak, &longer),
            Err(CryptoError::Malformed(_))
        ));
        // Consistent lengths but an SK payload too short to hold IV, pad length and ICV.
        let mut tiny = msg[..32].to_vec();
        tiny[24..28].copy_from_slice(&32u32.to_be_bytes());
        tiny[30..32].copy_from_slice(&4u16.to_be_bytes());
        assert!(matches!(
            sk::open(&cipher, &ek, &ak, &tiny),
            Err(CryptoError::Malformed(_))
        ));
    }
    assert!(matches!(
        sk::seal(
            &suites()[0],
            &[0; 16],
            &[0; 20],
            &[0u8; 27],
            41,
            b"",
            &mut rng
        ),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn cbc_pad_length_beyond_the_plaintext_is_bad_padding() {
    // Build a message whose ICV is valid but whose last decrypted octet claims 255 octets of padding.
    let encr = Encr::new(EncrId::AES_CBC, Some(128)).unwrap();
    let integ = Integ::new(IntegId::HMAC_SHA2_256_128).unwrap();
    let cipher = SkCipher::new(encr, Some(integ)).unwrap();
    let (ek, ak) = ([7u8; 16], [9u8; 32]);
    let iv = [1u8; 16];
    let mut pt = [0u8; 16];
    pt[15] = 0xff;
    cbc_encrypt(encr, &ek, &iv, &mut pt).unwrap();
    let mut msg = header();
    msg[16] = 46;
    let total = 28 + 4 + 16 + 16 + 16;
    msg[24..28].copy_from_slice(&(total as u32).to_be_bytes());
    msg.extend_from_slice(&[41, 0]);
    msg.extend_from_slice(&((total - 28) as u16).to_be_bytes());
    msg.extend_from_slice(&iv);
    msg.extend_from_slice(&pt);
    let mut icv = [0u8; 16];
    integ.compute(&ak, &[&msg], &mut icv).unwrap();
    msg.extend_from_slice(&icv);
    assert_eq!(
        sk::open(&cipher, &ek, &ak, &msg),
        Err(CryptoError::BadPadding)
    );
}

#[test]
fn skf_fragments_round_trip_and_authenticate_their_position() {
    let mut rng = TestRng::new(5);
    for cipher in suites() {
        let (ek, ak) = keys(&cipher, &mut rng);
        let pos = FragmentPos {
            number: 2,
            total: 3,
        };
        let msg = sk::seal_fragment(
            &cipher,
            &ek,
            &ak,
            &header(),
            0,
            pos,
            b"second part",
            &mut rng,
        )
        .unwrap();
        assert_eq!(msg[16], 53, "Next Payload SKF");
        assert_eq!(&msg[32..36], &[0, 2, 0, 3]);
        let opened = sk::open_fragment(&cipher, &ek, &ak, &msg).expect("open fragment");
        assert_eq!(
            (opened.pos, opened.next_payload, opened.plaintext.as_slice()),
            (pos, 0, &b"second part"[..])
        );

        // Fragment number and total are authenticated (AAD for AEAD, under the ICV for CBC).
        let mut moved = msg.clone();
        moved[33] = 1;
        assert_eq!(
            sk::open_fragment(&cipher, &ek, &ak, &moved),
            Err(CryptoError::IntegrityCheckFailed)
        );
        // An SKF message is not an SK message and the other way round.
        assert!(matches!(
            sk::open(&cipher, &ek, &ak, &msg),
            Err(CryptoError::Malformed(_))
        ));
        let whole = sk::seal(&cipher, &ek, &ak, &header(), 41, b"x", &mut rng).unwrap();
        assert!(matches!(
            sk::open_fragment(&cipher, &ek, &ak, &whole),
            Err(CryptoError::Malformed(_))
        ));
    }
    let cipher = &suites()[0];
    for bad in [
        FragmentPos {
            number: 0,
            total: 1,
        },
        FragmentPos {
            number: 3,
            total: 2,
        },
    ] {
        assert!(
            sk::seal_fragment(cipher, &[0; 16], &[0; 20], &header(), 0, bad, b"", &mut rng)
                .is_err()
        );
    }
}

#[test]
fn fresh_ivs_make_equal_plaintexts_differ() {
    let mut rng = TestRng::new(6);
    for cipher in suites() {
        let (ek, ak) = keys(&cipher, &mut rng);
        let a = sk::seal(&cipher, &ek, &ak, &header(), 41, b"same", &mut rng).unwrap();
        let b = sk::seal(&cipher, &ek, &ak, &header(), 41, b"same", &mut rng).unwrap();
        assert_ne!(a, b, "{cipher:?}");
    }
}
