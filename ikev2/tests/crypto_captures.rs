//! The crypto module against real strongSwan 5.9.8 bytes: key derivation reproduces the keys both
//! daemons logged, every SK payload in the captures opens with the sender's keys, the PSK AUTH
//! payloads verify, and the NAT-D hashes match.

mod common;

use std::net::SocketAddr;

use common::capture::{load_case, CapturedIke, Case, CASES};
use rswan_ikev2::consts::{EncrId, IntegId, PrfId};
use rswan_ikev2::crypto::{
    derive_child_keys, derive_ike_keys, ike_keys_from_skeyseed, natd_hash, psk_auth,
    rekey_skeyseed, sk, verify_psk_auth, AuthInput, CryptoError, Encr, IkeKeys, Integ, Prf,
    SkCipher,
};
use serde_json::Value;

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hexf(v: &Value, k: &str) -> Vec<u8> {
    hex(v[k].as_str().unwrap_or_else(|| panic!("missing {k}")))
}

fn spi(v: &Value, k: &str) -> [u8; 8] {
    hexf(v, k).try_into().expect("8-octet SPI")
}

fn encr_of(alg: &Value) -> Encr {
    let id = match alg["encr"].as_str().expect("encr") {
        "ENCR_AES_CBC" => EncrId::AES_CBC,
        "ENCR_AES_GCM_16" => EncrId::AES_GCM_16,
        "ENCR_CHACHA20_POLY1305" => EncrId::CHACHA20_POLY1305,
        other => panic!("encr {other}"),
    };
    Encr::new(id, alg["encr_key_bits"].as_u64().map(|b| b as u16)).expect("supported encr")
}

fn integ_of(alg: &Value) -> Option<Integ> {
    let id = match alg["integ"].as_str().expect("integ") {
        "NONE" => return None,
        "AUTH_HMAC_SHA2_256_128" => IntegId::HMAC_SHA2_256_128,
        "AUTH_HMAC_SHA2_384_192" => IntegId::HMAC_SHA2_384_192,
        "AUTH_HMAC_SHA1_96" => IntegId::HMAC_SHA1_96,
        other => panic!("integ {other}"),
    };
    Some(Integ::new(id).expect("supported integ"))
}

fn prf_of(alg: &Value) -> Prf {
    let id = match alg["prf"].as_str().expect("prf") {
        "PRF_HMAC_SHA2_256" => PrfId::HMAC_SHA2_256,
        "PRF_HMAC_SHA2_384" => PrfId::HMAC_SHA2_384,
        "PRF_HMAC_SHA2_512" => PrfId::HMAC_SHA2_512,
        "PRF_HMAC_SHA1" => PrfId::HMAC_SHA1,
        other => panic!("prf {other}"),
    };
    Prf::new(id).expect("supported prf")
}

fn cipher_of(sa: &Value) -> SkCipher {
    SkCipher::new(encr_of(&sa["algorithms"]), integ_of(&sa["algorithms"])).expect("valid suite")
}

/// Cases whose JSON carries IKE SA keys (all but `mismatch`).
fn keyed_cases() -> Vec<Case> {
    let cases: Vec<Case> = CASES
        .iter()
        .map(|n| load_case(n))
        .filter(|c| c.json["ike_sas"].as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    assert_eq!(cases.len(), 6, "six cases have keys");
    cases
}

/// Derives every IKE SA of a case from the logged g^ir, nonces and SPIs (rekeyed SAs from the old
/// SA's *derived* SK_d), checking each against the log on the way.
fn derive_all_ike_sas(case: &Case) -> Vec<IkeKeys> {
    let mut out: Vec<IkeKeys> = Vec::new();
    for (n, sa) in case.json["ike_sas"]
        .as_array()
        .expect("ike_sas")
        .iter()
        .enumerate()
    {
        let prf = prf_of(&sa["algorithms"]);
        let cipher = cipher_of(sa);
        let (ni, nr, g_ir) = (hexf(sa, "nonce_i"), hexf(sa, "nonce_r"), hexf(sa, "g_ir"));
        let (spi_i, spi_r) = (spi(sa, "spi_i"), spi(sa, "spi_r"));
        let (seed, keys) = match sa["rekey_of"].as_u64() {
            None => derive_ike_keys(prf, &cipher, &g_ir, &ni, &nr, &spi_i, &spi_r).expect("derive"),
            Some(old) => {
                let old_sa = &case.json["ike_sas"][old as usize];
                let old_keys = &out[old as usize];
                let seed = rekey_skeyseed(
                    prf_of(&old_sa["algorithms"]),
                    old_keys.sk_d.as_bytes(),
                    &g_ir,
                    &ni,
                    &nr,
                );
                let keys =
                    ike_keys_from_skeyseed(prf, &cipher, seed.as_bytes(), &ni, &nr, &spi_i, &spi_r)
                        .expect("derive");
                (seed, keys)
            }
        };
        let what = format!("{} IKE SA {n}", case.name);
        assert_eq!(
            seed.as_bytes(),
            hexf(sa, "skeyseed").as_slice(),
            "{what}: SKEYSEED"
        );
        for (name, got) in [
            ("sk_d", &keys.sk_d),
            ("sk_ai", &keys.sk_ai),
            ("sk_ar", &keys.sk_ar),
            ("sk_ei", &keys.sk_ei),
            ("sk_er", &keys.sk_er),
            ("sk_pi", &keys.sk_pi),
            ("sk_pr", &keys.sk_pr),
        ] {
            assert_eq!(got.as_bytes(), hexf(sa, name).as_slice(), "{what}: {name}");
        }
        out.push(keys);
    }
    out
}

#[test]
fn ike_sa_keys_including_the_rekeyed_sa_derive_to_the_logged_values() {
    let mut rekeyed = 0;
    for case in keyed_cases() {
        let keys = derive_all_ike_sas(&case);
        rekeyed += case.json["ike_sas"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|sa| !sa["rekey_of"].is_null())
            .count();
        assert!(!keys.is_empty());
    }
    assert_eq!(rekeyed, 1, "psk-cbc-modp2048 rekeys its IKE SA once");
}

#[test]
fn child_sa_keys_with_and_without_pfs_derive_to_the_logged_values() {
    let (mut plain, mut pfs, mut on_rekeyed_ike_sa) = (0, 0, 0);
    for case in keyed_cases() {
        let ike = derive_all_ike_sas(&case);
        for (n, child) in case.json["child_sas"]
            .as_array()
            .expect("child_sas")
            .iter()
            .enumerate()
        {
            let ike_index = child["ike_sa"].as_u64().expect("ike_sa") as usize;
            let ike_sa = &case.json["ike_sas"][ike_index];
            let encr = encr_of(&child["algorithms"]);
            let integ_len = integ_of(&child["algorithms"]).map_or(0, Integ::key_len);
            let pfs_secret = child["g_ir_pfs"].as_str().map(hex);
            let keys = derive_child_keys(
                prf_of(&ike_sa["algorithms"]),
                ike[ike_index].sk_d.as_bytes(),
                pfs_secret.as_deref(),
                &hexf(child, "nonce_i"),
                &hexf(child, "nonce_r"),
                encr.key_len(),
                integ_len,
            )
            .expect("derive");
            let what = format!("{} Child SA {n}", case.name);
            assert_eq!(
                keys.encr_i.as_bytes(),
                hexf(child, "encr_key_i").as_slice(),
                "{what}: encr_i"
            );
            assert_eq!(
                keys.encr_r.as_bytes(),
                hexf(child, "encr_key_r").as_slice(),
                "{what}: encr_r"
            );
            let integ_i = child["integ_key_i"].as_str().map(hex).unwrap_or_default();
            let integ_r = child["integ_key_r"].as_str().map(hex).unwrap_or_default();
            assert_eq!(
                keys.integ_i.as_bytes(),
                integ_i.as_slice(),
                "{what}: integ_i"
            );
            assert_eq!(
                keys.integ_r.as_bytes(),
                integ_r.as_slice(),
                "{what}: integ_r"
            );
            if pfs_secret.is_some() {
                pfs += 1;
            } else {
                plain += 1;
            }
            if ike_index > 0 {
                on_rekeyed_ike_sa += 1;
            }
        }
    }
    assert_eq!(
        plain, 5,
        "one IKE_AUTH Child SA per keyed case but wrong-psk"
    );
    assert_eq!(pfs, 2, "two PFS Child SA rekeys in psk-cbc-modp2048");
    assert_eq!(
        on_rekeyed_ike_sa, 1,
        "one Child SA keyed from the rekeyed IKE SA's SK_d"
    );
}

fn payload_type(name: &str) -> u8 {
    match name {
        "SA" => 33,
        "KE" => 34,
        "IDi" => 35,
        "IDr" => 36,
        "CERT" => 37,
        "CERTREQ" => 38,
        "AUTH" => 39,
        "Nonce" | "No" => 40,
        "N" | "Notify" => 41,
        "D" | "Delete" => 42,
        "V" => 43,
        "TSi" => 44,
        "TSr" => 45,
        "CP" => 47,
        "EAP" => 48,
        other => panic!("payload name {other}"),
    }
}

/// (type, body) of each payload in a chain of generic payload headers.
fn walk(first: u8, mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut next = first;
    while next != 0 {
        assert!(bytes.len() >= 4, "truncated payload header");
        let len = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
        assert!(len >= 4 && len <= bytes.len(), "payload length {len}");
        out.push((next, bytes[4..len].to_vec()));
        next = bytes[0];
        bytes = &bytes[len..];
    }
    assert!(bytes.is_empty(), "octets after the last payload");
    out
}

fn frame(case: &Case, frame: u64) -> &CapturedIke {
    case.ike
        .iter()
        .find(|m| m.frame as u64 == frame)
        .unwrap_or_else(|| panic!("{}: no frame {frame}", case.name))
}

const FLAG_INITIATOR: u8 = 0x08;
const FLAG_RESPONSE: u8 = 0x20;

/// Opens a protected message with the keys of the side that sent it: the I flag, not
/// request/response, says whether SK_ei/SK_ai or SK_er/SK_ar apply.
fn open_with_sender_keys(
    sa: &Value,
    keys: &IkeKeys,
    bytes: &[u8],
) -> Result<(u8, Vec<u8>), CryptoError> {
    let cipher = cipher_of(sa);
    if bytes[19] & FLAG_INITIATOR != 0 {
        sk::open(&cipher, keys.sk_ei.as_bytes(), keys.sk_ai.as_bytes(), bytes)
    } else {
        sk::open(&cipher, keys.sk_er.as_bytes(), keys.sk_ar.as_bytes(), bytes)
    }
}

fn open_with_other_keys(
    sa: &Value,
    keys: &IkeKeys,
    bytes: &[u8],
) -> Result<(u8, Vec<u8>), CryptoError> {
    let cipher = cipher_of(sa);
    if bytes[19] & FLAG_INITIATOR != 0 {
        sk::open(&cipher, keys.sk_er.as_bytes(), keys.sk_ar.as_bytes(), bytes)
    } else {
        sk::open(&cipher, keys.sk_ei.as_bytes(), keys.sk_ai.as_bytes(), bytes)
    }
}

#[test]
fn every_sk_payload_opens_with_the_senders_keys_and_not_the_peers() {
    let (mut opened, mut from_original_responder_requests) = (0, 0);
    for case in keyed_cases() {
        let ike = derive_all_ike_sas(&case);
        for msg in case.json["messages"].as_array().expect("messages") {
            let Some(last) = msg["payloads"].as_array().and_then(|p| p.last()) else {
                continue;
            };
            if last["type"] != "SK" {
                continue;
            }
            let f = msg["frame"].as_u64().unwrap();
            let bytes = &frame(&case, f).bytes;
            let sa_index = msg["ike_sa"].as_u64().expect("ike_sa of SK message") as usize;
            let sa = &case.json["ike_sas"][sa_index];
            let flags = msg["flags"].as_str().unwrap();
            assert_eq!(
                bytes[19] & FLAG_INITIATOR != 0,
                flags.contains('I'),
                "{} frame {f}",
                case.name
            );
            if bytes[19] & (FLAG_INITIATOR | FLAG_RESPONSE) == 0 {
                from_original_responder_requests += 1;
            }

            let (first, plain) = open_with_sender_keys(sa, &ike[sa_index], bytes)
                .unwrap_or_else(|e| panic!("{} frame {f}: {e}", case.name));
            let inner = walk(first, &plain);
            let expected: Vec<u8> = msg["inner_payloads"]
                .as_array()
                .expect("inner_payloads")
                .iter()
                .map(|p| payload_type(p["type"].as_str().unwrap()))
                .collect();
            let got: Vec<u8> = inner.iter().map(|(t, _)| *t).collect();
            assert_eq!(
                got, expected,
                "{} frame {f}: inner payload types",
                case.name
            );

            assert_eq!(
                open_with_other_keys(sa, &ike[sa_index], bytes),
                Err(CryptoError::IntegrityCheckFailed),
                "{} frame {f}: the peer's keys must not authenticate it",
                case.name
            );
            opened += 1;
        }
    }
    assert!(opened >= 40, "only {opened} SK payloads opened");
    assert!(
        from_original_responder_requests >= 3,
        "requests sent by the original responder are covered"
    );
}

/// (ID payload body, AUTH payload body) from a decrypted IKE_AUTH message, if it has an AUTH.
fn id_and_auth(inner: &[(u8, Vec<u8>)], id_type: u8) -> (Vec<u8>, Option<Vec<u8>>) {
    let id = inner
        .iter()
        .find(|(t, _)| *t == id_type)
        .map(|(_, b)| b.clone())
        .expect("ID payload");
    let auth = inner.iter().find(|(t, _)| *t == 39).map(|(_, b)| b.clone());
    (id, auth)
}

struct AuthSides {
    init_octets: Vec<u8>,
    resp_octets: Vec<u8>,
    nonce_i: Vec<u8>,
    nonce_r: Vec<u8>,
    id_i: Vec<u8>,
    id_r: Vec<u8>,
    auth_i: Vec<u8>,
    auth_r: Option<Vec<u8>>,
    prf: Prf,
    keys: IkeKeys,
}

fn auth_sides(case: &Case) -> AuthSides {
    let check = &case.json["auth_check"];
    let sa_index = check["ike_sa"].as_u64().unwrap() as usize;
    let sa = &case.json["ike_sas"][sa_index];
    let keys = derive_all_ike_sas(case).swap_remove(sa_index);
    let req = &frame(case, check["ike_auth_request_frame"].as_u64().unwrap()).bytes;
    let resp = &frame(case, check["ike_auth_response_frame"].as_u64().unwrap()).bytes;
    let (first, plain) = open_with_sender_keys(sa, &keys, req).expect("open IKE_AUTH request");
    let (id_i, auth_i) = id_and_auth(&walk(first, &plain), 35);
    let (first, plain) = open_with_sender_keys(sa, &keys, resp).expect("open IKE_AUTH response");
    let inner = walk(first, &plain);
    let (id_r, auth_r) = if inner.iter().any(|(t, _)| *t == 36) {
        id_and_auth(&inner, 36)
    } else {
        (Vec::new(), None)
    };
    let auth_i = auth_i.expect("initiator AUTH");
    AuthSides {
        init_octets: frame(case, check["ike_sa_init_request_frame"].as_u64().unwrap())
            .bytes
            .clone(),
        resp_octets: frame(case, check["ike_sa_init_response_frame"].as_u64().unwrap())
            .bytes
            .clone(),
        nonce_i: hexf(sa, "nonce_i"),
        nonce_r: hexf(sa, "nonce_r"),
        id_i,
        id_r,
        auth_i,
        auth_r,
        prf: prf_of(&sa["algorithms"]),
        keys,
    }
}

fn psk(case: &Case, who: &str) -> Vec<u8> {
    let psks = &case.json["auth_check"]["psks"];
    psks[who]
        .as_str()
        .or_else(|| psks["shared"].as_str())
        .expect("psk")
        .as_bytes()
        .to_vec()
}

#[test]
fn both_psk_auth_payloads_verify_over_the_raw_ike_sa_init_messages() {
    let mut verified = 0;
    for case in keyed_cases() {
        if case.name == "wrong-psk" {
            continue;
        }
        let s = auth_sides(&case);
        assert_eq!(
            s.id_i,
            hexf(&case.json["peers"]["initiator"], "id_payload_body"),
            "{}",
            case.name
        );
        assert_eq!(
            s.id_r,
            hexf(&case.json["peers"]["responder"], "id_payload_body"),
            "{}",
            case.name
        );
        // AUTH payload body: method (2 = shared key), 3 reserved octets, the value.
        assert_eq!(s.auth_i[0], 2);
        let init = AuthInput {
            real_message: &s.init_octets,
            peer_nonce: &s.nonce_r,
            sk_p: s.keys.sk_pi.as_bytes(),
            id_body: &s.id_i,
        };
        verify_psk_auth(s.prf, &psk(&case, "initiator"), &init, &s.auth_i[4..])
            .unwrap_or_else(|e| panic!("{}: initiator AUTH: {e}", case.name));
        assert_eq!(
            psk_auth(s.prf, &psk(&case, "initiator"), &init).as_bytes(),
            &s.auth_i[4..]
        );

        let auth_r = s.auth_r.as_ref().expect("responder AUTH");
        let resp = AuthInput {
            real_message: &s.resp_octets,
            peer_nonce: &s.nonce_i,
            sk_p: s.keys.sk_pr.as_bytes(),
            id_body: &s.id_r,
        };
        verify_psk_auth(s.prf, &psk(&case, "responder"), &resp, &auth_r[4..])
            .unwrap_or_else(|e| panic!("{}: responder AUTH: {e}", case.name));
        // Swapping the roles' inputs must break it (nonce and SK_p belong to one side).
        let swapped = AuthInput {
            sk_p: s.keys.sk_pi.as_bytes(),
            ..resp
        };
        assert_eq!(
            verify_psk_auth(s.prf, &psk(&case, "responder"), &swapped, &auth_r[4..]),
            Err(CryptoError::AuthenticationFailed)
        );
        verified += 2;
    }
    assert_eq!(verified, 10);
}

#[test]
fn wrong_psk_initiator_auth_fails_with_the_responders_psk() {
    let case = load_case("wrong-psk");
    let s = auth_sides(&case);
    assert!(s.auth_r.is_none(), "the responder answered without AUTH");
    let input = AuthInput {
        real_message: &s.init_octets,
        peer_nonce: &s.nonce_r,
        sk_p: s.keys.sk_pi.as_bytes(),
        id_body: &s.id_i,
    };
    let (init_psk, resp_psk) = (psk(&case, "initiator"), psk(&case, "responder"));
    assert_ne!(init_psk, resp_psk);
    verify_psk_auth(s.prf, &init_psk, &input, &s.auth_i[4..])
        .expect("matches the initiator's own PSK");
    assert_eq!(
        verify_psk_auth(s.prf, &resp_psk, &input, &s.auth_i[4..]),
        Err(CryptoError::AuthenticationFailed)
    );
}

#[test]
fn nat_detection_hashes_in_ike_sa_init_match() {
    let mut checked = 0;
    for name in CASES {
        let case = load_case(name);
        let genuine_source = case.json["natd_source_hash_genuine"]
            .as_bool()
            .unwrap_or(true);
        for msg in case.json["messages"].as_array().expect("messages") {
            if msg["exchange"] != "IKE_SA_INIT" {
                continue;
            }
            let m = frame(&case, msg["frame"].as_u64().unwrap());
            let b = &m.bytes;
            let spi_i: [u8; 8] = b[0..8].try_into().unwrap();
            let spi_r: [u8; 8] = b[8..16].try_into().unwrap();
            for (ty, body) in walk(b[16], &b[28..]) {
                if ty != 41 || body.len() < 4 {
                    continue;
                }
                let spi_size = body[1] as usize;
                let notify = u16::from_be_bytes([body[2], body[3]]);
                let data = &body[4 + spi_size..];
                let (addr, must_match): (SocketAddr, bool) = match notify {
                    16388 => (m.src, genuine_source),
                    16389 => (m.dst, true),
                    _ => continue,
                };
                let expect = natd_hash(&spi_i, &spi_r, addr);
                assert_eq!(
                    expect.as_slice() == data,
                    must_match,
                    "{name} frame {} notify {notify}",
                    m.frame
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} NAT-D payloads");
}
