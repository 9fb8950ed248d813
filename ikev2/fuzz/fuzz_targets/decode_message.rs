//! Any octets: `Message::decode`, `decode_inner` and `dn::format_dn` return, never panic; whatever
//! decodes re-encodes to the same length and decodes again to the same value, and the re-encoding
//! is a fixpoint.
//! (Byte equality with the input is not required: RESERVED bits are ignored on receipt and sent as
//! zero, as RFC 7296 requires. Exact equality for real messages is tested on the captures.)

#![no_main]

use libfuzzer_sys::fuzz_target;
use rswan_ikev2::consts::PayloadType;
use rswan_ikev2::wire::{decode_inner, dn, encode_inner, Message};

fuzz_target!(|data: &[u8]| {
    // Received ID_DER_ASN1_DN data is rendered in log lines.
    if let Some(s) = dn::format_dn(data) {
        assert_eq!(dn::encode_dn(&s).as_deref(), Ok(data));
    }

    if let Ok(m) = Message::decode(data) {
        let enc = m.encode();
        assert_eq!(enc.len(), data.len(), "re-encoding changed the length");
        let again = Message::decode(&enc).expect("re-encoded message must decode");
        assert_eq!(again, m);
        assert_eq!(again.encode(), enc);
        if let Some(off) = m.sk_body_offset() {
            assert!(off <= data.len());
        }
    }

    // The same octets as a decrypted SK body: first octet is the SK header's Next Payload.
    if let Some((&first, plaintext)) = data.split_first() {
        if let Ok(inner) = decode_inner(PayloadType(first), plaintext) {
            let (f, enc) = encode_inner(&inner);
            assert_eq!(enc.len(), plaintext.len(), "re-encoding changed the length");
            if !inner.is_empty() {
                assert_eq!(f, PayloadType(first));
            }
            assert_eq!(
                decode_inner(f, &enc).expect("re-encoded inner must decode"),
                inner
            );
        }
    }
});
