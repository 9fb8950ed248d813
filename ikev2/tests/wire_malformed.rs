//! Malformed input: truncations, lying length fields, forbidden and unknown payloads. The decoder
//! must return a typed error (never panic) and, where it accepts a mutated message, re-encode it to
//! something that decodes to the same value.

mod common;

use common::capture::{load_case, CapturedIke, CASES};
use rswan_ikev2::consts::{NotifyType, PayloadType};
use rswan_ikev2::wire::{DecodeError, Header, Message, Payload, HEADER_LEN};

fn all_messages() -> Vec<(String, CapturedIke)> {
    CASES
        .iter()
        .flat_map(|name| {
            load_case(name)
                .ike
                .into_iter()
                .map(move |m| (format!("{name} frame {}", m.frame), m))
        })
        .collect()
}

fn set_length(b: &mut [u8]) {
    let len = u32::try_from(b.len()).unwrap();
    b[24..28].copy_from_slice(&len.to_be_bytes());
}

/// Offsets of every generic payload header in a message's cleartext chain.
fn payload_offsets(b: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut off = HEADER_LEN;
    let mut next = b[16];
    while next != 0 && off + 4 <= b.len() {
        out.push(off);
        if next == PayloadType::SK.0 || next == PayloadType::SKF.0 {
            break;
        }
        next = b[off];
        off += usize::from(u16::from_be_bytes([b[off + 2], b[off + 3]]));
    }
    out
}

/// A successful decode must be a fixpoint of encode/decode.
fn check_fixpoint(ctx: &str, m: &Message) {
    let again = Message::decode(&m.encode()).unwrap_or_else(|e| panic!("{ctx}: re-decode: {e}"));
    assert_eq!(&again, m, "{ctx}");
}

#[test]
fn every_truncation_is_an_error() {
    for (ctx, m) in all_messages() {
        for k in 0..m.bytes.len() {
            let cut = &m.bytes[..k];
            // As captured: the header's Length no longer matches.
            assert!(Message::decode(cut).is_err(), "{ctx} cut at {k}");
            // With Length patched to the cut size, the payload chain itself must be found short.
            if k >= HEADER_LEN {
                let mut b = cut.to_vec();
                set_length(&mut b);
                assert!(
                    Message::decode(&b).is_err(),
                    "{ctx} cut at {k}, length patched"
                );
            }
        }
    }
}

#[test]
fn header_length_that_lies() {
    for (ctx, m) in all_messages() {
        for delta in [-1i64, 1, 1000, -(m.bytes.len() as i64)] {
            let mut b = m.bytes.clone();
            let lie = (m.bytes.len() as i64 + delta) as u32;
            b[24..28].copy_from_slice(&lie.to_be_bytes());
            assert_eq!(
                Message::decode(&b),
                Err(DecodeError::MessageLength {
                    header: lie,
                    datagram: m.bytes.len()
                }),
                "{ctx}"
            );
        }
        // Extra octets after a message whose Length is honest about the message alone.
        let mut b = m.bytes.clone();
        b.push(0);
        assert!(matches!(
            Message::decode(&b),
            Err(DecodeError::MessageLength { .. })
        ));
    }
}

#[test]
fn payload_lengths_that_lie() {
    let mut checked = 0;
    for (ctx, m) in all_messages() {
        for off in payload_offsets(&m.bytes) {
            let orig = u16::from_be_bytes([m.bytes[off + 2], m.bytes[off + 3]]);
            for lie in [0u16, 3, orig - 1, orig + 1, orig + 4, u16::MAX] {
                let mut b = m.bytes.clone();
                b[off + 2..off + 4].copy_from_slice(&lie.to_be_bytes());
                let ctx = format!("{ctx}: payload at {off} length {orig} -> {lie}");
                match Message::decode(&b) {
                    Err(_) => {}
                    // A shorter payload can still parse if the rest happens to form valid payloads;
                    // it must then be self-consistent.
                    Ok(msg) => check_fixpoint(&ctx, &msg),
                }
                // Lengths below the generic header or beyond the message are always rejected.
                if lie < 4 || usize::from(lie) > m.bytes.len() - off {
                    assert!(
                        matches!(Message::decode(&b), Err(DecodeError::PayloadLength { .. })),
                        "{ctx}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "only {checked} mutations");
}

#[test]
fn every_single_octet_mutation_is_handled() {
    for (ctx, m) in all_messages().into_iter().step_by(3) {
        for i in 0..m.bytes.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut b = m.bytes.clone();
                b[i] ^= x;
                if let Ok(msg) = Message::decode(&b) {
                    check_fixpoint(&format!("{ctx} octet {i} ^ {x:#x}"), &msg);
                }
            }
        }
    }
}

/// psk-gcm-ecp256's IKE_SA_INIT request with one more payload of `ptype` appended.
fn init_with_extra(ptype: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let m = &load_case("psk-gcm-ecp256").ike[0];
    let mut b = m.bytes.clone();
    let last = *payload_offsets(&b).last().unwrap();
    assert_eq!(b[last], 0);
    b[last] = ptype;
    b.extend_from_slice(&[0, flags]);
    b.extend_from_slice(&u16::try_from(4 + body.len()).unwrap().to_be_bytes());
    b.extend_from_slice(body);
    set_length(&mut b);
    b
}

#[test]
fn unknown_critical_payload_is_unsupported_critical() {
    let b = init_with_extra(200, 0x80, &[1, 2, 3]);
    let err = Message::decode(&b).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedCritical(PayloadType(200)));
    assert_eq!(err.notify_type(), NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
}

#[test]
fn unknown_noncritical_payload_is_kept_and_round_trips() {
    let b = init_with_extra(200, 0x00, &[1, 2, 3]);
    let m = Message::decode(&b).unwrap();
    match m.payloads.last().unwrap() {
        Payload::Unknown(u) => {
            assert_eq!(u.ptype, PayloadType(200));
            assert_eq!(u.body, [1, 2, 3]);
        }
        other => panic!("expected Unknown, got {other:?}"),
    }
    assert_eq!(m.encode(), b);
}

#[test]
fn sk_only_payloads_in_cleartext_are_rejected() {
    for t in [
        PayloadType::IDI,
        PayloadType::IDR,
        PayloadType::AUTH,
        PayloadType::CERT,
        PayloadType::TSI,
        PayloadType::TSR,
        PayloadType::DELETE,
        PayloadType::CP,
        PayloadType::EAP,
    ] {
        // A well-formed body does not help: the payload is refused for where it is, even if
        // marked non-critical.
        let b = init_with_extra(t.0, 0, &[2, 0, 0, 0, b'x']);
        assert_eq!(
            Message::decode(&b),
            Err(DecodeError::NotAllowedInCleartext(t)),
            "{t}"
        );
    }
}

#[test]
fn idi_replacing_a_captured_payload_is_rejected() {
    // psk-gcm-ecp256 frame 1: retag its first notify (NAT_DETECTION_SOURCE_IP) as IDi.
    let m = &load_case("psk-gcm-ecp256").ike[0];
    let offs = payload_offsets(&m.bytes);
    let mut b = m.bytes.clone();
    // The Nonce payload (third) announces the first notify.
    assert_eq!(b[offs[2]], PayloadType::NOTIFY.0);
    b[offs[2]] = PayloadType::IDI.0;
    assert_eq!(
        Message::decode(&b),
        Err(DecodeError::NotAllowedInCleartext(PayloadType::IDI))
    );
}

#[test]
fn major_version_other_than_2_is_typed_and_peekable() {
    for (ctx, m) in all_messages() {
        for version in [0x10u8, 0x30, 0xf0] {
            let mut b = m.bytes.clone();
            b[17] = version;
            let err = Message::decode(&b).unwrap_err();
            assert_eq!(
                err,
                DecodeError::InvalidMajorVersion {
                    major: version >> 4,
                    minor: 0
                },
                "{ctx}"
            );
            assert_eq!(err.notify_type(), NotifyType::INVALID_MAJOR_VERSION);
            // The responder can still read what it needs to answer.
            let raw = Header::peek(&b).unwrap();
            assert_eq!(raw.major_version, version >> 4);
            assert_eq!(&raw.header.spi_i.to_be_bytes(), &m.bytes[..8]);
        }
        // A higher minor version is accepted and kept (RFC 7296 section 2.5).
        let mut b = m.bytes.clone();
        b[17] = 0x21;
        let msg = Message::decode(&b).unwrap();
        assert_eq!(msg.header.minor_version, 1);
        assert_eq!(msg.encode(), b);
    }
}

#[test]
fn errors_say_what_was_expected_and_found() {
    let e = DecodeError::MessageLength {
        header: 300,
        datagram: 264,
    };
    assert_eq!(
        e.to_string(),
        "IKE header Length says 300 octets, datagram has 264"
    );
    let m = &load_case("psk-gcm-ecp256").ike[0];
    let e = Message::decode(&m.bytes[..20]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "truncated IKE header: expected 28 octets, found 20"
    );
    assert_eq!(
        DecodeError::NotAllowedInCleartext(PayloadType::AUTH).to_string(),
        "AUTH payload outside SK: it is only accepted encrypted"
    );
}
