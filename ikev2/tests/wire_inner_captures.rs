//! The payloads inside every SK payload strongSwan sent: decrypted with the logged keys (by
//! `crypto::sk`), they decode with `decode_inner` to what the case's JSON lists, and `encode_inner`
//! gives back the exact decrypted octets.

mod common;

use common::capture::{load_case, CASES};
use common::describe::{hex, json_type_name, proposal_string};
use rswan_ikev2::consts::{EncrId, IntegId, PayloadType};
use rswan_ikev2::crypto::sk;
use rswan_ikev2::crypto::{Encr, Integ, SkCipher};
use rswan_ikev2::wire::{decode_inner, encode_inner, InnerPayload, Message, TsEntry};
use serde_json::Value;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn cipher(alg: &Value) -> SkCipher {
    let encr_name = alg["encr"].as_str().unwrap().trim_start_matches("ENCR_");
    let encr_id = (0..=1024u16)
        .map(EncrId)
        .find(|e| e.name() == Some(encr_name))
        .unwrap_or_else(|| panic!("unknown {encr_name}"));
    let key_bits = alg["encr_key_bits"].as_u64().map(|b| b as u16);
    let integ = match alg["integ"].as_str().unwrap() {
        "NONE" => None,
        n => {
            let n = n.trim_start_matches("AUTH_");
            let id = (1..=1024u16)
                .map(IntegId)
                .find(|i| i.name() == Some(n))
                .unwrap_or_else(|| panic!("unknown {n}"));
            Some(Integ::new(id).unwrap())
        }
    };
    SkCipher::new(Encr::new(encr_id, key_bits).unwrap(), integ).unwrap()
}

/// "10.1.0.0-10.1.0.255 proto 0 ports 0-65535", the JSON's notation.
fn ts_string(e: &TsEntry) -> String {
    match e {
        TsEntry::Ip(t) => format!(
            "{}-{} proto {} ports {}-{}",
            t.start_addr(),
            t.end_addr(),
            t.ip_proto(),
            t.start_port(),
            t.end_port()
        ),
        other => panic!("unexpected selector {other:?}"),
    }
}

fn check_inner(ctx: &str, p: &InnerPayload, j: &Value) {
    assert_eq!(
        json_type_name(p.ptype()),
        j["type"].as_str().unwrap(),
        "{ctx}"
    );
    let strs = |k: &str| -> Vec<String> {
        j[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    match p {
        InnerPayload::IdI(id) | InnerPayload::IdR(id) => {
            assert_eq!(
                u64::from(id.id.id_type().0),
                j["id_type"].as_u64().unwrap(),
                "{ctx}"
            );
            assert_eq!(id.id.to_string(), j["id_data"].as_str().unwrap(), "{ctx}");
        }
        InnerPayload::Auth(a) => {
            assert_eq!(
                u64::from(a.method.0),
                j["auth_method"].as_u64().unwrap(),
                "{ctx}"
            );
            assert_eq!(hex(&a.data), j["data"].as_str().unwrap(), "{ctx}");
        }
        InnerPayload::Sa(sa) => {
            let got: Vec<String> = sa.proposals.iter().map(proposal_string).collect();
            assert_eq!(got, strs("proposals"), "{ctx}");
        }
        InnerPayload::TsI(ts) | InnerPayload::TsR(ts) => {
            let got: Vec<String> = ts.entries().iter().map(ts_string).collect();
            assert_eq!(got, strs("ts"), "{ctx}");
        }
        InnerPayload::Notify(n) => {
            assert_eq!(n.ntype.to_string(), j["notify"].as_str().unwrap(), "{ctx}");
            let want = j["data"].as_str().unwrap_or("");
            if n.spi.is_empty() {
                assert_eq!(hex(&n.data), want, "{ctx}");
            } else {
                // The JSON shows REKEY_SA's SPI as "ESP SPI 59b3f361".
                assert!(n.data.is_empty(), "{ctx}");
                assert_eq!(format!("{} SPI {}", n.protocol, hex(&n.spi)), want, "{ctx}");
            }
        }
        InnerPayload::Nonce(n) => assert_eq!(hex(n), j["data"].as_str().unwrap(), "{ctx}"),
        InnerPayload::Ke(ke) => {
            assert_eq!(
                u64::from(ke.group.0),
                j["dh_group"].as_u64().unwrap(),
                "{ctx}"
            )
        }
        InnerPayload::Delete(d) => {
            assert_eq!(
                d.protocol.to_string(),
                j["delete"].as_str().unwrap(),
                "{ctx}"
            );
            let got: Vec<String> = d.spis.iter().map(|s| hex(s)).collect();
            assert_eq!(got, strs("spis"), "{ctx}");
        }
        other => panic!("{ctx}: strongSwan sent no {:?}", other.ptype()),
    }
}

#[test]
fn every_sk_payload_decodes_to_the_json_inner_payloads() {
    let mut messages = 0;
    let mut payloads = 0;
    for name in CASES {
        let case = load_case(name);
        for m in &case.ike {
            let j = case.message_json(m.frame);
            let Some(sa_index) = j["ike_sa"].as_u64() else {
                continue;
            };
            let ctx = format!("{name} frame {}", m.frame);
            let sa = &case.json["ike_sas"][sa_index as usize];
            let msg = Message::decode(&m.bytes).unwrap();
            let (ek, ik) = if msg.header.flags.is_initiator() {
                ("sk_ei", "sk_ai")
            } else {
                ("sk_er", "sk_ar")
            };
            let (first, plaintext) = sk::open(
                &cipher(&sa["algorithms"]),
                &unhex(sa[ek].as_str().unwrap()),
                &unhex(sa[ik].as_str().unwrap()),
                &m.bytes,
            )
            .unwrap_or_else(|e| panic!("{ctx}: {e:?}"));
            assert_eq!(first, msg.sk().unwrap().first_inner.0, "{ctx}");

            let inner = decode_inner(PayloadType(first), &plaintext)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let want = j["inner_payloads"].as_array().unwrap();
            assert_eq!(inner.len(), want.len(), "{ctx}: inner payload count");
            for (i, (p, jp)) in inner.iter().zip(want).enumerate() {
                check_inner(&format!("{ctx} inner {i}"), p, jp);
            }
            assert_eq!(
                encode_inner(&inner),
                (PayloadType(first), plaintext),
                "{ctx}"
            );
            messages += 1;
            payloads += inner.len();
        }
    }
    // All SK messages of the seven cases (58 IKE messages minus 16 in cleartext).
    assert_eq!(messages, 42);
    assert!(payloads > 100, "{payloads}");
}
