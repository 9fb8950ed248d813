//! The proposal engine against real strongSwan 5.9.8 exchanges (tests/data/strongswan-5.9.8):
//! what we would send for the same configuration equals what strongSwan sent, and what we select
//! as responder equals what strongSwan's responder selected.
//!
//! IKE_SA_INIT proposals are read from the pcap bytes with a small SA payload walker written here
//! (independent of the crate's codec); proposals inside SK payloads come from the decrypted
//! descriptions in the JSON files ("ESP #1 SPI 59b3f361: ENCR_AES_CBC_128/...").

use std::path::PathBuf;

use rswan_ikev2::consts::{KeGroup, ProtocolId, TransformType};
use rswan_ikev2::proposal::{check_response, select, ProposalSet};
use rswan_ikev2::wire::sa::{Proposal, Transform};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/strongswan-5.9.8")
        .join(name)
}

struct Case {
    name: &'static str,
    ike_i: &'static str,
    esp_i: &'static str,
    ike_r: &'static str,
    esp_r: &'static str,
}

/// The swanctl.conf proposals of each case (README.md, "Configuration files").
const CASES: &[Case] = &[
    Case {
        name: "psk-gcm-ecp256",
        ike_i: "aes256gcm16-prfsha256-ecp256",
        esp_i: "aes256gcm16",
        ike_r: "aes256gcm16-prfsha256-ecp256",
        esp_r: "aes256gcm16",
    },
    Case {
        name: "psk-cbc-modp2048",
        ike_i: "aes256-sha256-modp2048",
        esp_i: "aes128-sha256-modp2048",
        ike_r: "aes256-sha256-modp2048",
        esp_r: "aes128-sha256-modp2048",
    },
    Case {
        name: "psk-chacha-x25519",
        ike_i: "chacha20poly1305-prfsha256-x25519",
        esp_i: "chacha20poly1305",
        ike_r: "chacha20poly1305-prfsha256-x25519",
        esp_r: "chacha20poly1305",
    },
    Case {
        name: "invalid-ke",
        ike_i: "aes256gcm16-prfsha256-ecp256-modp2048",
        esp_i: "aes256gcm16",
        ike_r: "aes256gcm16-prfsha256-modp2048",
        esp_r: "aes256gcm16",
    },
    Case {
        name: "mismatch",
        ike_i: "aes128-sha1-modp1024",
        esp_i: "aes128-sha1",
        ike_r: "aes256-sha256-ecp384",
        esp_r: "aes256-sha256",
    },
    Case {
        name: "wrong-psk",
        ike_i: "aes128-sha256-ecp256",
        esp_i: "aes128-sha256",
        ike_r: "aes128-sha256-ecp256",
        esp_r: "aes128-sha256",
    },
    Case {
        name: "transport-mode",
        ike_i: "aes256gcm16-prfsha384-ecp384",
        esp_i: "aes256gcm16",
        ike_r: "aes256gcm16-prfsha384-ecp384",
        esp_r: "aes256gcm16",
    },
];

fn case(name: &str) -> &'static Case {
    CASES.iter().find(|c| c.name == name).unwrap()
}

// ---- pcap: the SA payloads of IKE_SA_INIT messages ----

struct InitMessage {
    is_response: bool,
    proposals: Vec<Proposal>,
}

fn be16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

fn decode_sa_body(body: &[u8]) -> Vec<Proposal> {
    let mut out = Vec::new();
    let mut q = 0;
    while q < body.len() {
        let plen = be16(body, q + 2);
        let p = &body[q..q + plen];
        let (num, proto, spi_size, count) = (p[4], p[5], usize::from(p[6]), p[7]);
        let spi = p[8..8 + spi_size].to_vec();
        let mut t = 8 + spi_size;
        let mut transforms = Vec::new();
        for _ in 0..count {
            let tlen = be16(p, t + 2);
            let mut key_length = None;
            let mut a = t + 8;
            while a < t + tlen {
                let atype = be16(p, a);
                assert_eq!(atype, 0x8000 | 14, "only Key Length attributes expected");
                key_length = Some(u16::try_from(be16(p, a + 2)).unwrap());
                a += 4;
            }
            transforms.push(Transform {
                ttype: TransformType(p[t + 4]),
                id: u16::try_from(be16(p, t + 6)).unwrap(),
                key_length,
                other_attrs: Vec::new(),
            });
            t += tlen;
        }
        assert_eq!(t, plen, "transform lengths add up to the proposal length");
        out.push(Proposal {
            num,
            protocol: ProtocolId(proto),
            spi,
            transforms,
        });
        q += plen;
    }
    out
}

fn ike_sa_init_messages(case: &str) -> Vec<InitMessage> {
    let pcap = std::fs::read(data(&format!("{case}.pcap"))).unwrap();
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = &pcap[off + 16..off + 16 + incl];
        off += 16 + incl;
        let ip = &frame[14..];
        if ip[9] != 17 {
            continue;
        }
        let udp = &ip[usize::from(ip[0] & 0x0f) * 4..];
        let (sport, dport) = (be16(udp, 0), be16(udp, 2));
        let mut ike = &udp[8..];
        if sport == 4500 || dport == 4500 {
            if ike.len() < 4 || ike[..4] != [0, 0, 0, 0] {
                continue; // ESP in UDP
            }
            ike = &ike[4..];
        }
        if ike[18] != 34 {
            continue; // not IKE_SA_INIT
        }
        let is_response = ike[19] & 0x20 != 0;
        let mut next = ike[16];
        let mut p = 28;
        let mut proposals = Vec::new();
        while next != 0 {
            let len = be16(ike, p + 2);
            if next == 33 {
                proposals = decode_sa_body(&ike[p + 4..p + len]);
            }
            next = ike[p];
            p += len;
        }
        out.push(InitMessage {
            is_response,
            proposals,
        });
    }
    out
}

// ---- JSON: decrypted proposal descriptions ----

fn transform_from_name(name: &str) -> Transform {
    let t = |ttype: u8, id: u16, key_length: Option<u16>| Transform {
        ttype: TransformType(ttype),
        id,
        key_length,
        other_attrs: Vec::new(),
    };
    if let Some(bits) = name.strip_prefix("ENCR_AES_CBC_") {
        return t(1, 12, Some(bits.parse().unwrap()));
    }
    if let Some(bits) = name.strip_prefix("ENCR_AES_GCM_16_") {
        return t(1, 20, Some(bits.parse().unwrap()));
    }
    match name {
        "ENCR_CHACHA20_POLY1305" => t(1, 28, None),
        "AUTH_HMAC_SHA1_96" => t(3, 2, None),
        "AUTH_HMAC_SHA2_256_128" => t(3, 12, None),
        "PRF_HMAC_SHA1" => t(2, 2, None),
        "PRF_HMAC_SHA2_256" => t(2, 5, None),
        "PRF_HMAC_SHA2_384" => t(2, 6, None),
        "MODP_1024" => t(4, 2, None),
        "MODP_2048" => t(4, 14, None),
        "ECP_256" => t(4, 19, None),
        "ECP_384" => t(4, 20, None),
        "CURVE_25519" => t(4, 31, None),
        "NO_ESN" => t(5, 0, None),
        other => panic!("unexpected transform name {other}"),
    }
}

/// "ESP #1 SPI 59b3f361: ENCR_AES_CBC_128/AUTH_HMAC_SHA2_256_128/NO_ESN"
fn proposal_from_description(d: &str) -> Proposal {
    let (head, body) = d.split_once(": ").unwrap();
    let mut words = head.split(' ');
    let protocol = match words.next().unwrap() {
        "IKE" => ProtocolId::IKE,
        "ESP" => ProtocolId::ESP,
        other => panic!("protocol {other}"),
    };
    let num: u8 = words
        .next()
        .unwrap()
        .trim_start_matches('#')
        .parse()
        .unwrap();
    let spi = match (words.next(), words.next()) {
        (Some("SPI"), Some(hex)) => (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect(),
        _ => Vec::new(),
    };
    Proposal {
        num,
        protocol,
        spi,
        transforms: body.split('/').map(transform_from_name).collect(),
    }
}

/// Every `"proposals": [...]` list of the per-frame descriptions, in message order (each list
/// holds one proposal in these captures).
fn described_proposals(case: &str) -> Vec<Proposal> {
    let json = std::fs::read_to_string(data(&format!("{case}.json"))).unwrap();
    let mut out = Vec::new();
    for part in json.split("\"proposals\": [").skip(1) {
        let list = &part[..part.find(']').unwrap()];
        let items: Vec<&str> = list.split('"').skip(1).step_by(2).collect();
        assert_eq!(items.len(), 1, "{case}: {list}");
        out.push(proposal_from_description(items[0]));
    }
    out
}

// ---- tests ----

#[test]
fn ike_sa_init_offers_equal_what_strongswan_sent() {
    for c in CASES {
        let msgs = ike_sa_init_messages(c.name);
        let first = msgs.iter().find(|m| !m.is_response).unwrap();
        let ours = ProposalSet::parse_ike(c.ike_i).unwrap().to_wire(&[]);
        assert_eq!(
            ours, first.proposals,
            "{}: first IKE_SA_INIT request",
            c.name
        );
    }
}

#[test]
fn invalid_ke_retry_offer_equals_strongswans() {
    let msgs = ike_sa_init_messages("invalid-ke");
    let requests: Vec<&InitMessage> = msgs.iter().filter(|m| !m.is_response).collect();
    assert_eq!(requests.len(), 2);
    let ours = ProposalSet::parse_ike(case("invalid-ke").ike_i).unwrap();
    assert_eq!(ours.first_ke_group(), Some(KeGroup::ECP_256));
    let retry = ours.with_group_first(KeGroup::MODP_2048).unwrap();
    assert_eq!(retry.to_wire(&[]), requests[1].proposals);
    assert_ne!(ours.to_wire(&[]), requests[1].proposals);
    assert_eq!(retry.first_ke_group(), Some(KeGroup::MODP_2048));
}

#[test]
fn responder_selection_equals_strongswans_choice() {
    for c in CASES.iter().filter(|c| c.name != "mismatch") {
        let msgs = ike_sa_init_messages(c.name);
        // The last request/response pair is the one that established the SA.
        let req = msgs.iter().rev().find(|m| !m.is_response).unwrap();
        let resp = msgs.iter().rev().find(|m| m.is_response).unwrap();
        let ours = ProposalSet::parse_ike(c.ike_r).unwrap();
        let chosen = select(&ours, &req.proposals).unwrap_or_else(|m| panic!("{}: {m}", c.name));
        assert_eq!(resp.proposals.len(), 1);
        assert_eq!(chosen.proposal, resp.proposals[0], "{}", c.name);
        assert_eq!(chosen.response_proposal(&[]), resp.proposals[0]);
    }
}

#[test]
fn initiator_accepts_strongswans_responses() {
    // strongSwan's "selected proposal" log lines (README.md, Cases table).
    let expected = [
        ("psk-gcm-ecp256", "AES_GCM_16_256/PRF_HMAC_SHA2_256/ECP_256"),
        (
            "psk-cbc-modp2048",
            "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
        ),
        (
            "psk-chacha-x25519",
            "CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519",
        ),
        ("invalid-ke", "AES_GCM_16_256/PRF_HMAC_SHA2_256/MODP_2048"),
        (
            "wrong-psk",
            "AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256",
        ),
        ("transport-mode", "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384"),
    ];
    for (name, text) in expected {
        let c = case(name);
        let mut ours = ProposalSet::parse_ike(c.ike_i).unwrap();
        if name == "invalid-ke" {
            ours = ours.with_group_first(KeGroup::MODP_2048).unwrap();
        }
        let offered = ours.to_wire(&[]);
        let msgs = ike_sa_init_messages(name);
        let resp = msgs.iter().rev().find(|m| m.is_response).unwrap();
        let algs = check_response(&ours, &offered, &resp.proposals[0])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(algs.to_string(), text, "{name}");
        assert!(algs.as_ike().is_some());
    }
}

#[test]
fn child_sa_offers_and_choices_equal_strongswans() {
    for c in CASES
        .iter()
        .filter(|c| !["mismatch", "wrong-psk"].contains(&c.name))
    {
        let d = described_proposals(c.name);
        // Skip the IKE_SA_INIT descriptions; the next two are IKE_AUTH request and response.
        let auth = d
            .iter()
            .position(|p| p.protocol == ProtocolId::ESP)
            .unwrap();
        let (req, resp) = (&d[auth], &d[auth + 1]);
        let esp_i = ProposalSet::parse_esp(c.esp_i).unwrap();
        assert_eq!(
            esp_i.without_ke().to_wire(&req.spi),
            vec![req.clone()],
            "{}: IKE_AUTH offer",
            c.name
        );
        let esp_r = ProposalSet::parse_esp(c.esp_r).unwrap().without_ke();
        let chosen = select(&esp_r, std::slice::from_ref(req)).unwrap();
        assert_eq!(
            chosen.response_proposal(&resp.spi),
            *resp,
            "{}: IKE_AUTH choice",
            c.name
        );
        let algs = check_response(
            &esp_i.without_ke(),
            &esp_i.without_ke().to_wire(&req.spi),
            resp,
        )
        .unwrap();
        assert_eq!(algs.as_child().unwrap().ke, None);
    }
}

#[test]
fn pfs_rekey_and_ike_rekey_offers_equal_strongswans() {
    let c = case("psk-cbc-modp2048");
    let d = described_proposals(c.name);
    let esp_i = ProposalSet::parse_esp(c.esp_i).unwrap();
    let esp_r = ProposalSet::parse_esp(c.esp_r).unwrap();
    let ike_i = ProposalSet::parse_ike(c.ike_i).unwrap();
    let ike_r = ProposalSet::parse_ike(c.ike_r).unwrap();
    // Descriptions 4/5 and 8/9: CREATE_CHILD_SA rekeys with PFS; 6/7: the IKE SA rekey.
    for (rq, rs) in [(4, 5), (8, 9)] {
        let (req, resp) = (&d[rq], &d[rs]);
        assert_eq!(esp_i.to_wire(&req.spi), vec![req.clone()]);
        let chosen = select(&esp_r, std::slice::from_ref(req)).unwrap();
        assert_eq!(chosen.response_proposal(&resp.spi), *resp);
        let algs = check_response(&esp_i, &esp_i.to_wire(&req.spi), resp).unwrap();
        assert_eq!(
            algs.to_string(),
            "AES_CBC_128/HMAC_SHA2_256_128/MODP_2048/NO_EXT_SEQ"
        );
    }
    let (req, resp) = (&d[6], &d[7]);
    assert_eq!(req.spi.len(), 8);
    assert_eq!(ike_i.to_wire(&req.spi), vec![req.clone()]);
    let chosen = select(&ike_r, std::slice::from_ref(req)).unwrap();
    assert_eq!(chosen.response_proposal(&resp.spi), *resp);
}

#[test]
fn captured_mismatch_names_encryption_first() {
    let c = case("mismatch");
    let msgs = ike_sa_init_messages(c.name);
    let offer = &msgs.iter().find(|m| !m.is_response).unwrap().proposals;
    // strongSwan's responder answered only N(NO_PROPOSAL_CHOSEN).
    assert!(msgs
        .iter()
        .find(|m| m.is_response)
        .unwrap()
        .proposals
        .is_empty());
    let ours = ProposalSet::parse_ike(c.ike_r).unwrap();
    let m = select(&ours, offer).unwrap_err();
    assert_eq!(m.protocol, ProtocolId::IKE);
    assert_eq!(m.first_failing, Some(TransformType::ENCR));
    assert_eq!(m.theirs, vec!["AES_CBC_128"]);
    assert_eq!(m.ours, vec!["AES_CBC_256"]);
    assert_eq!(
        m.to_string(),
        "IKE proposal mismatch: encryption — peer offered AES_CBC_128; we accept AES_CBC_256"
    );
    // The initiator's side of the same case is legacy (SHA1 aside: MODP_1024).
    let initiator = ProposalSet::parse_ike(c.ike_i).unwrap();
    assert_eq!(initiator.legacy_algorithms(), vec!["MODP_1024"]);
}
