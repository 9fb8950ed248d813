//! The opt-in key export API (`Endpoint::ike_sa_keys`): after a real negotiation both sides
//! report the same SPIs, transforms and SK_e/SK_a keys, and those keys open the IKE_AUTH request
//! as it went over the wire, which is what a capture decryption with them needs.

mod harness;

use rswan_ikev2::consts::{EncrId, IntegId};
use rswan_ikev2::crypto::{sk, Encr, Integ, SkCipher};

use harness::*;

/// The first IKE_AUTH request (exchange type 35) A sent, without a non-ESP marker.
fn ike_auth_request(p: &Peer) -> Vec<u8> {
    p.sent
        .iter()
        .map(|(_, d)| {
            let b = &d.bytes;
            if b.len() > 4 && b[..4] == [0, 0, 0, 0] {
                b[4..].to_vec()
            } else {
                b.clone()
            }
        })
        .find(|b| b.len() > 28 && b[18] == 35 && b[19] & 0x20 == 0)
        .expect("an IKE_AUTH request on the wire")
}

fn check(ike: &str, encr: EncrId, bits: u16, integ: Option<IntegId>, sk_e_len: usize) {
    let mut w = Pair::with_proposals(ike, "aes128gcm16").build(7);
    establish(&mut w);
    let a = w.a.ep.ike_sa_keys(|_, _| true);
    let b = w.b.ep.ike_sa_keys(|_, _| true);
    assert_eq!((a.len(), b.len()), (1, 1), "{ike}: one IKE SA each");
    let (a, b) = (&a[0], &b[0]);
    assert_eq!((a.spi_i, a.spi_r), (b.spi_i, b.spi_r), "{ike}: SPIs");
    assert_eq!(
        (a.encr, a.encr_key_bits, a.integ),
        (encr, bits, integ),
        "{ike}"
    );
    assert_eq!(
        (b.encr, b.encr_key_bits, b.integ),
        (encr, bits, integ),
        "{ike}"
    );
    assert_eq!(*a.sk_ei, *b.sk_ei, "{ike}: SK_ei");
    assert_eq!(*a.sk_er, *b.sk_er, "{ike}: SK_er");
    assert_eq!(*a.sk_ai, *b.sk_ai, "{ike}: SK_ai");
    assert_eq!(*a.sk_ar, *b.sk_ar, "{ike}: SK_ar");
    assert_eq!(a.sk_ei.len(), sk_e_len, "{ike}: SK_ei length");
    assert_ne!(*a.sk_ei, *a.sk_er, "{ike}: the two directions differ");

    let cipher = SkCipher::new(
        Encr::new(encr, Some(bits)).unwrap(),
        integ.map(|i| Integ::new(i).unwrap()),
    )
    .unwrap();
    let msg = ike_auth_request(&w.a);
    let (first, _) = sk::open(&cipher, &a.sk_ei, &a.sk_ai, &msg).expect("SK_ei opens IKE_AUTH");
    assert_eq!(first, 35, "{ike}: the first inner payload is IDi");
    assert!(
        sk::open(&cipher, &a.sk_er, &a.sk_ar, &msg).is_err(),
        "{ike}: the responder's keys do not open the initiator's message"
    );
    assert!(
        w.a.ep.ike_sa_keys(|_, _| false).is_empty(),
        "the filter skips SAs already exported"
    );
}

#[test]
fn exported_keys_open_ike_auth_with_aead() {
    check(
        "aes256gcm16-prfsha256-x25519",
        EncrId::AES_GCM_16,
        256,
        None,
        36,
    );
}

#[test]
fn exported_keys_open_ike_auth_with_cbc_and_hmac() {
    check(
        "aes128-sha256-ecp256",
        EncrId::AES_CBC,
        128,
        Some(IntegId::HMAC_SHA2_256_128),
        16,
    );
}
