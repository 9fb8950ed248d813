//! Every IKE message strongSwan 5.9.8 sent in the seven captured cases decodes, re-encodes to the
//! identical octets, and decodes to what the case's JSON says the frame holds.

mod common;

use common::capture::{load_case, CASES};
use common::describe::{hex, json_type_name, proposal_string};
use rswan_ikev2::consts::PayloadType;
use rswan_ikev2::wire::{Message, Payload, HEADER_LEN};
use serde_json::Value;

#[test]
fn every_captured_message_round_trips_exactly() {
    let mut total = 0;
    for name in CASES {
        let case = load_case(name);
        for m in &case.ike {
            let msg = Message::decode(&m.bytes)
                .unwrap_or_else(|e| panic!("{name} frame {}: {e}", m.frame));
            assert_eq!(msg.encode(), m.bytes, "{name} frame {}", m.frame);
            total += 1;
        }
    }
    assert_eq!(total, 8 + 22 + 8 + 10 + 2 + 4 + 4);
}

fn check_payload(ctx: &str, p: &Payload, j: &Value) {
    assert_eq!(
        json_type_name(p.ptype()),
        j["type"].as_str().unwrap(),
        "{ctx}"
    );
    match p {
        Payload::Sa(sa) => {
            let got: Vec<String> = sa.proposals.iter().map(proposal_string).collect();
            let want: Vec<&str> = j["proposals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(got, want, "{ctx}");
        }
        Payload::Ke(ke) => {
            assert_eq!(
                u64::from(ke.group.0),
                j["dh_group"].as_u64().unwrap(),
                "{ctx}"
            )
        }
        Payload::Nonce(n) => assert_eq!(hex(n), j["data"].as_str().unwrap(), "{ctx}"),
        Payload::Notify(n) => {
            assert_eq!(n.ntype.to_string(), j["notify"].as_str().unwrap(), "{ctx}");
            // The JSON omits "data" for notifies without any, and spells out INVALID_KE's group.
            let want = j["data"].as_str().unwrap_or("");
            match n.invalid_ke_group() {
                Some(g) => assert_eq!(format!("DH group {} ({g})", g.0), want, "{ctx}"),
                None => assert_eq!(hex(&n.data), want, "{ctx}"),
            }
        }
        Payload::Sk(_) => {}
        other => panic!("{ctx}: strongSwan sent no {:?} in cleartext", other.ptype()),
    }
}

#[test]
fn decoded_messages_match_json_description() {
    for name in CASES {
        let case = load_case(name);
        for m in &case.ike {
            let ctx = format!("{name} frame {}", m.frame);
            let j = case.message_json(m.frame);
            let msg = Message::decode(&m.bytes).unwrap();
            let h = &msg.header;
            assert_eq!(
                h.exchange.to_string(),
                j["exchange"].as_str().unwrap(),
                "{ctx}"
            );
            assert_eq!(
                u64::from(h.message_id),
                j["msg_id"].as_u64().unwrap(),
                "{ctx}"
            );
            assert_eq!(h.flags.to_string(), j["flags"].as_str().unwrap(), "{ctx}");
            assert_eq!(
                format!("{:016x}", h.spi_i),
                j["spi_i"].as_str().unwrap(),
                "{ctx}"
            );
            assert_eq!(
                format!("{:016x}", h.spi_r),
                j["spi_r"].as_str().unwrap(),
                "{ctx}"
            );

            let want = j["payloads"].as_array().unwrap();
            assert_eq!(msg.payloads.len(), want.len(), "{ctx}: payload count");
            for (i, (p, jp)) in msg.payloads.iter().zip(want).enumerate() {
                check_payload(&format!("{ctx} payload {i}"), p, jp);
            }

            // An SK payload's Next Payload names the first payload strongSwan put inside.
            if let Some(sk) = msg.sk() {
                let inner = j["inner_payloads"].as_array().unwrap();
                let first = inner.first().map_or("NONE".to_string(), |p| {
                    p["type"].as_str().unwrap().to_string()
                });
                assert_eq!(json_type_name(sk.first_inner), first, "{ctx}: first inner");
                assert_eq!(msg.sk_body_offset(), Some(HEADER_LEN + 4), "{ctx}");
                assert!(sk.body.len() > 16, "{ctx}: SK body holds IV, data and ICV");
            } else {
                assert!(j.get("inner_payloads").is_none(), "{ctx}");
            }
        }
    }
}

#[test]
fn invalid_ke_and_mismatch_responses() {
    // Decoded values a responder/initiator acts upon, checked against the README's notes.
    let case = load_case("invalid-ke");
    let resp = Message::decode(&case.ike[1].bytes).unwrap();
    assert_eq!(resp.header.spi_r, 0);
    let n = resp
        .notify(rswan_ikev2::consts::NotifyType::INVALID_KE_PAYLOAD)
        .unwrap();
    assert_eq!(
        n.invalid_ke_group(),
        Some(rswan_ikev2::consts::KeGroup::MODP_2048)
    );

    let case = load_case("mismatch");
    let resp = Message::decode(&case.ike[1].bytes).unwrap();
    assert_eq!(resp.header.spi_r, 0);
    assert!(resp.header.flags.is_response());
    let types: Vec<PayloadType> = resp.payloads.iter().map(Payload::ptype).collect();
    assert_eq!(types, [PayloadType::NOTIFY]);
    assert!(resp
        .notify(rswan_ikev2::consts::NotifyType::NO_PROPOSAL_CHOSEN)
        .is_some());
}
