//! Responder selection, mismatch reports, the initiator's response check and PFS prediction.

use rswan_ikev2::consts::{EncrId, EsnId, IntegId, KeGroup, PrfId, ProtocolId, TransformType};
use rswan_ikev2::proposal::{
    check_response, predict_pfs_mismatch, select, Algorithms, ChildAlgorithms, EncrAlg,
    IkeAlgorithms, Mismatch, ProposalSet, ResponseError,
};
use rswan_ikev2::wire::sa::{AttrValue, Attribute, Proposal, Transform};

fn ike(s: &str) -> ProposalSet {
    ProposalSet::parse_ike(s).unwrap()
}

fn esp(s: &str) -> ProposalSet {
    ProposalSet::parse_esp(s).unwrap()
}

fn tr(ttype: TransformType, id: u16, key_length: Option<u16>) -> Transform {
    Transform {
        ttype,
        id,
        key_length,
        other_attrs: Vec::new(),
    }
}

#[test]
fn responder_order_wins_over_peer_order() {
    let ours = ike("aes256gcm16-prfsha256-ecp256,aes128-sha256-modp2048");
    let peer = ike("aes128-sha256-modp2048,aes256gcm16-prfsha256-ecp256").to_wire(&[]);
    let s = select(&ours, &peer).unwrap();
    assert_eq!(
        s.proposal.num, 2,
        "our first proposal matches the peer's second"
    );
    assert_eq!(
        s.algorithms,
        Algorithms::Ike(IkeAlgorithms {
            encr: EncrAlg::new(EncrId::AES_GCM_16, 256),
            integ: None,
            prf: PrfId::HMAC_SHA2_256,
            ke: KeGroup::ECP_256,
        })
    );

    // Within one proposal, our order of algorithms decides too.
    let ours = ike("aes128-aes256-sha1-sha256-x25519-ecp256");
    let peer = ike("aes256-aes128-sha256-sha1-ecp256-x25519").to_wire(&[]);
    let s = select(&ours, &peer).unwrap();
    assert_eq!(
        s.algorithms.to_string(),
        "AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/CURVE_25519"
    );
    // Exactly one transform per type, in wire order, with the key length.
    let got: Vec<(u8, u16, Option<u16>)> = s
        .proposal
        .transforms
        .iter()
        .map(|t| (t.ttype.0, t.id, t.key_length))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 12, Some(128)),
            (3, 2, None),
            (2, 2, None),
            (4, 31, None)
        ]
    );
}

#[test]
fn selected_proposal_keeps_peer_number_and_spi() {
    let ours = esp("aes128gcm16");
    let mut peer = esp("aes256-sha256,aes128gcm16-aes256gcm16").to_wire(&[0xde, 0xad, 0xbe, 0xef]);
    peer[1].num = 7;
    let s = select(&ours, &peer).unwrap();
    assert_eq!(s.proposal.num, 7);
    assert_eq!(s.proposal.spi, vec![0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(s.response_proposal(&[1, 2, 3, 4]).spi, vec![1, 2, 3, 4]);
    assert_eq!(s.response_proposal(&[1, 2, 3, 4]).num, 7);
    assert_eq!(
        s.algorithms,
        Algorithms::Child(ChildAlgorithms {
            encr: EncrAlg::new(EncrId::AES_GCM_16, 128),
            integ: None,
            ke: None,
            esn: EsnId::NO_ESN,
        })
    );
    assert_eq!(s.algorithms.to_string(), "AES_GCM_16_128/NO_EXT_SEQ");
}

#[test]
fn unknown_transforms_and_other_protocols_are_skipped() {
    let ours = ike("aes256-sha256-ecp256");
    let mut peer = ike("aes256-sha256-ecp256").to_wire(&[]);
    // Unknown ids of known types, a transform with an attribute we do not know, and an AH
    // proposal: none of them may make selection fail.
    peer[0]
        .transforms
        .insert(0, tr(TransformType::ENCR, 1031, Some(256)));
    peer[0]
        .transforms
        .insert(1, tr(TransformType::INTEG, 999, None));
    peer[0].transforms.push(tr(TransformType::KE, 4242, None));
    let mut odd = tr(TransformType::ENCR, EncrId::AES_CBC.0, Some(128));
    odd.other_attrs.push(Attribute {
        attr_type: 77.into(),
        value: AttrValue::Tv(1),
    });
    peer[0].transforms.push(odd);
    let ah = Proposal {
        num: 1,
        protocol: ProtocolId::AH,
        spi: vec![0; 4],
        transforms: vec![tr(TransformType::INTEG, 12, None)],
    };
    peer.insert(0, ah);
    let s = select(&ours, &peer).unwrap();
    assert_eq!(
        s.algorithms.to_string(),
        "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256"
    );
    assert_eq!(s.proposal.protocol, ProtocolId::IKE);

    // A proposal demanding a transform type we do not negotiate (an RFC 9370 additional key
    // exchange, type 6) cannot be selected; one allowing NONE for it can.
    let mut peer = ike("aes256-sha256-ecp256").to_wire(&[]);
    peer[0].transforms.push(tr(TransformType(6), 36, None));
    let m = select(&ours, &peer).unwrap_err();
    assert_eq!(m.first_failing, None);
    assert_eq!(
        m.theirs,
        vec!["AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256/UNKNOWN_6_36"]
    );
    peer[0].transforms.push(tr(TransformType(6), 0, None));
    peer[0].transforms.retain(|t| t.id != 36);
    assert!(select(&ours, &peer).is_ok());
}

#[test]
fn key_length_must_match() {
    let ours = ike("aes256-sha256-ecp256");
    let peer = ike("aes128-aes192-sha256-ecp256").to_wire(&[]);
    let m = select(&ours, &peer).unwrap_err();
    assert_eq!(
        m.to_string(),
        "IKE proposal mismatch: encryption — peer offered AES_CBC_128, AES_CBC_192; we accept AES_CBC_256"
    );
}

#[test]
fn mismatch_names_integrity() {
    let ours = ike("aes256-sha256-sha512-ecp256");
    let peer = ike("aes256-sha1-md5-ecp256").to_wire(&[]);
    let m = select(&ours, &peer).unwrap_err();
    assert_eq!(
        m,
        Mismatch {
            protocol: ProtocolId::IKE,
            first_failing: Some(TransformType::INTEG),
            ours: vec!["HMAC_SHA2_256_128".into(), "HMAC_SHA2_512_256".into()],
            theirs: vec!["HMAC_SHA1_96".into(), "HMAC_MD5_96".into()],
        }
    );
    assert_eq!(
        m.to_string(),
        "IKE proposal mismatch: integrity — peer offered HMAC_SHA1_96, HMAC_MD5_96; \
         we accept HMAC_SHA2_256_128, HMAC_SHA2_512_256"
    );
}

#[test]
fn mismatch_names_prf() {
    let ours = ike("aes256gcm16-prfsha384-ecp256");
    let peer = ike("aes256gcm16-prfsha256-ecp256").to_wire(&[]);
    let m = select(&ours, &peer).unwrap_err();
    assert_eq!(m.first_failing, Some(TransformType::PRF));
    assert_eq!(
        m.to_string(),
        "IKE proposal mismatch: PRF — peer offered PRF_HMAC_SHA2_256; we accept PRF_HMAC_SHA2_384"
    );
}

#[test]
fn mismatch_names_ke_group() {
    let ours = ike("aes128-sha256-ecp256-x25519");
    let peer = ike("aes128-sha256-modp1024").to_wire(&[]);
    let m = select(&ours, &peer).unwrap_err();
    assert_eq!(m.first_failing, Some(TransformType::KE));
    assert_eq!(
        m.to_string(),
        "IKE proposal mismatch: KE group — peer offered MODP_1024; we accept ECP_256, CURVE_25519"
    );
}

#[test]
fn mismatch_names_esn() {
    let ours = esp("aes256gcm16-esn");
    let peer = esp("aes256gcm16-noesn").to_wire(&[0; 4]);
    let m = select(&ours, &peer).unwrap_err();
    assert_eq!(m.first_failing, Some(TransformType::ESN));
    assert_eq!(
        m.to_string(),
        "ESP proposal mismatch: ESN — peer offered NO_EXT_SEQ; we accept EXT_SEQ"
    );
}

#[test]
fn esp_mismatch_names_encryption_across_all_peer_proposals() {
    let ours = esp("aes256gcm16,aes256-sha256");
    let peer = esp("aes128gcm16,aes128-sha1,chacha20poly1305").to_wire(&[0; 4]);
    let m = select(&ours, &peer).unwrap_err();
    assert_eq!(
        m.to_string(),
        "ESP proposal mismatch: encryption — peer offered AES_GCM_16_128, AES_CBC_128, \
         CHACHA20_POLY1305; we accept AES_GCM_16_256, AES_CBC_256"
    );
    // No peer proposal of our protocol at all.
    let m = select(&ours, &[]).unwrap_err();
    assert_eq!(
        m.to_string(),
        "ESP proposal mismatch: encryption — peer offered nothing; we accept AES_GCM_16_256, AES_CBC_256"
    );
}

#[test]
fn no_single_proposal_combining_is_reported_with_full_lists() {
    // Each type overlaps somewhere, but not within one pair of proposals.
    let ours = ike("aes256-sha256-ecp256");
    let peer = ike("aes256-sha1-ecp256,aes128-sha256-ecp256").to_wire(&[]);
    let m = select(&ours, &peer).unwrap_err();
    assert_eq!(m.first_failing, None);
    assert_eq!(
        m.to_string(),
        "IKE proposal mismatch: no proposal combines the acceptable transforms — peer offered \
         AES_CBC_256/HMAC_SHA1_96/PRF_HMAC_SHA1/ECP_256, \
         AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256; \
         we accept AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256"
    );
}

#[test]
fn esp_pfs_rules() {
    let spi = [9, 9, 9, 9];
    // We require PFS, the peer offers none: KE group is what fails.
    let m = select(
        &esp("aes128-sha256-modp2048"),
        &esp("aes128-sha256").to_wire(&spi),
    )
    .unwrap_err();
    assert_eq!(
        m.to_string(),
        "ESP proposal mismatch: KE group — peer offered NONE; we accept MODP_2048"
    );
    // The peer requires PFS, we have none.
    let m = select(
        &esp("aes128-sha256"),
        &esp("aes128-sha256-ecp256").to_wire(&spi),
    )
    .unwrap_err();
    assert_eq!(
        m.to_string(),
        "ESP proposal mismatch: KE group — peer offered ECP_256; we accept NONE"
    );
    // PFS optional on our side (modpnone) accepts a peer without PFS, and picks a group when
    // the peer offers one.
    let optional = esp("aes128-sha256-modp2048-modpnone");
    let s = select(&optional, &esp("aes128-sha256").to_wire(&spi)).unwrap();
    assert_eq!(s.algorithms.as_child().unwrap().ke, None);
    assert!(s
        .proposal
        .transforms
        .iter()
        .all(|t| t.ttype != TransformType::KE));
    let s = select(&optional, &esp("aes128-sha256-modp2048").to_wire(&spi)).unwrap();
    assert_eq!(
        s.algorithms.as_child().unwrap().ke,
        Some(KeGroup::MODP_2048)
    );
    assert_eq!(
        s.algorithms.to_string(),
        "AES_CBC_128/HMAC_SHA2_256_128/MODP_2048/NO_EXT_SEQ"
    );
    // In IKE_AUTH (without_ke) KE is not negotiated: a peer that still sends a group is accepted
    // and the answer carries no KE.
    let s = select(
        &esp("aes128-sha256-modp2048").without_ke(),
        &esp("aes128-sha256-ecp384").to_wire(&spi),
    )
    .unwrap();
    assert_eq!(s.algorithms.as_child().unwrap().ke, None);
    assert!(s
        .proposal
        .transforms
        .iter()
        .all(|t| t.ttype != TransformType::KE));
}

fn esp_chosen(spi: [u8; 4], ts: Vec<Transform>) -> Proposal {
    Proposal {
        num: 1,
        protocol: ProtocolId::ESP,
        spi: spi.to_vec(),
        transforms: ts,
    }
}

#[test]
fn check_response_accepts_a_proper_choice() {
    let ours = esp("aes128-aes256-sha256-sha1-modp2048-ecp256-esn-noesn");
    let offered = ours.to_wire(&[1, 1, 1, 1]);
    let chosen = esp_chosen(
        [2, 2, 2, 2],
        vec![
            tr(TransformType::ENCR, 12, Some(256)),
            tr(TransformType::INTEG, 2, None),
            tr(TransformType::KE, 19, None),
            tr(TransformType::ESN, 1, None),
        ],
    );
    assert_eq!(
        check_response(&ours, &offered, &chosen).unwrap(),
        Algorithms::Child(ChildAlgorithms {
            encr: EncrAlg::new(EncrId::AES_CBC, 256),
            integ: Some(IntegId::HMAC_SHA1_96),
            ke: Some(KeGroup::ECP_256),
            esn: EsnId::ESN,
        })
    );
}

#[test]
fn check_response_rejects_what_we_did_not_offer() {
    let ours = esp("aes128-sha256-modp2048");
    let offered = ours.to_wire(&[1, 1, 1, 1]);
    let base = vec![
        tr(TransformType::ENCR, 12, Some(128)),
        tr(TransformType::INTEG, 12, None),
        tr(TransformType::KE, 14, None),
        tr(TransformType::ESN, 0, None),
    ];
    let with = |i: usize, t: Transform| {
        let mut v = base.clone();
        v[i] = t;
        esp_chosen([2; 4], v)
    };
    assert!(check_response(&ours, &offered, &esp_chosen([2; 4], base.clone())).is_ok());

    // A different key size of the same cipher.
    assert_eq!(
        check_response(
            &ours,
            &offered,
            &with(0, tr(TransformType::ENCR, 12, Some(256)))
        ),
        Err(ResponseError::NotOffered {
            ttype: TransformType::ENCR,
            name: "AES_CBC_256".into()
        })
    );
    // A group we did not offer.
    let e = check_response(&ours, &offered, &with(2, tr(TransformType::KE, 2, None))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "responder chose KE group MODP_1024, which we did not offer in that proposal"
    );
    // Two transforms of one type.
    let mut two = base.clone();
    two.push(tr(TransformType::INTEG, 12, None));
    assert_eq!(
        check_response(&ours, &offered, &esp_chosen([2; 4], two)),
        Err(ResponseError::DuplicateTransform(TransformType::INTEG))
    );
    // A missing required type.
    let mut none = base.clone();
    none.retain(|t| t.ttype != TransformType::ESN);
    assert_eq!(
        check_response(&ours, &offered, &esp_chosen([2; 4], none)),
        Err(ResponseError::MissingTransform(TransformType::ESN))
    );
    // We required PFS; the answer has no KE.
    let mut no_ke = base.clone();
    no_ke.retain(|t| t.ttype != TransformType::KE);
    assert_eq!(
        check_response(&ours, &offered, &esp_chosen([2; 4], no_ke)),
        Err(ResponseError::MissingTransform(TransformType::KE))
    );
    // A proposal number we never sent, the wrong protocol, the wrong SPI size.
    let mut bad_num = esp_chosen([2; 4], base.clone());
    bad_num.num = 2;
    assert_eq!(
        check_response(&ours, &offered, &bad_num),
        Err(ResponseError::UnknownProposalNumber(2))
    );
    let mut bad_proto = esp_chosen([2; 4], base.clone());
    bad_proto.protocol = ProtocolId::AH;
    assert!(matches!(
        check_response(&ours, &offered, &bad_proto),
        Err(ResponseError::WrongProtocol { .. })
    ));
    let mut bad_spi = esp_chosen([2; 4], base.clone());
    bad_spi.spi = vec![1, 2];
    assert_eq!(
        check_response(&ours, &offered, &bad_spi),
        Err(ResponseError::WrongSpiSize {
            expected: 4,
            got: 2
        })
    );
    // In IKE_AUTH we offered no KE, so a group in the answer is out of place.
    let auth = ours.without_ke();
    assert_eq!(
        check_response(&auth, &auth.to_wire(&[1; 4]), &esp_chosen([2; 4], base)),
        Err(ResponseError::UnexpectedTransform(TransformType::KE))
    );
}

#[test]
fn check_response_ike_rules() {
    let ours = ike("aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048");
    let offered = ours.to_wire(&[]);
    let gcm = |extra: Option<Transform>| {
        let mut ts = vec![
            tr(TransformType::ENCR, 20, Some(256)),
            tr(TransformType::PRF, 5, None),
            tr(TransformType::KE, 19, None),
        ];
        ts.extend(extra);
        Proposal {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: Vec::new(),
            transforms: ts,
        }
    };
    assert_eq!(
        check_response(&ours, &offered, &gcm(None))
            .unwrap()
            .to_string(),
        "AES_GCM_16_256/PRF_HMAC_SHA2_256/ECP_256"
    );
    // Integrity NONE with AEAD is tolerated, a real integrity algorithm is not.
    assert!(check_response(
        &ours,
        &offered,
        &gcm(Some(tr(TransformType::INTEG, 0, None)))
    )
    .is_ok());
    assert_eq!(
        check_response(
            &ours,
            &offered,
            &gcm(Some(tr(TransformType::INTEG, 12, None)))
        ),
        Err(ResponseError::UnexpectedTransform(TransformType::INTEG))
    );
    // A choice mixing proposal 2's group into proposal 1.
    let mut mixed = gcm(None);
    mixed.transforms[2] = tr(TransformType::KE, 14, None);
    assert!(matches!(
        check_response(&ours, &offered, &mixed),
        Err(ResponseError::NotOffered {
            ttype: TransformType::KE,
            ..
        })
    ));
    // An ESN transform has no place in IKE.
    assert_eq!(
        check_response(&ours, &offered, &gcm(Some(tr(TransformType::ESN, 0, None)))),
        Err(ResponseError::UnexpectedTransform(TransformType::ESN))
    );
    // Classic proposal 2 needs integrity.
    let cbc = Proposal {
        num: 2,
        protocol: ProtocolId::IKE,
        spi: Vec::new(),
        transforms: vec![
            tr(TransformType::ENCR, 12, Some(256)),
            tr(TransformType::PRF, 5, None),
            tr(TransformType::KE, 14, None),
        ],
    };
    assert_eq!(
        check_response(&ours, &offered, &cbc),
        Err(ResponseError::MissingTransform(TransformType::INTEG))
    );
}

#[test]
fn pfs_mismatch_is_predicted_only_when_certain() {
    let spi = [5; 4];
    let no_pfs = esp("aes128-sha256");
    let peer_requires = esp("aes128-sha256-modp2048,aes256gcm16-modp2048").to_wire(&spi);
    let p = predict_pfs_mismatch("net", &no_pfs, &peer_requires).unwrap();
    assert_eq!(p.peer_requires, vec![KeGroup::MODP_2048]);
    assert_eq!(
        p.to_string(),
        "peer requires MODP_2048, child 'net' has no PFS group"
    );

    let other_groups = esp("aes128-sha256-ecp256-x25519");
    assert_eq!(
        predict_pfs_mismatch("net", &other_groups, &peer_requires)
            .unwrap()
            .to_string(),
        "peer requires MODP_2048, child 'net' accepts only ECP_256, CURVE_25519"
    );
    // A shared group, a peer proposal without KE, or one allowing NONE: no certainty.
    assert!(predict_pfs_mismatch("net", &esp("aes128-sha256-modp2048"), &peer_requires).is_none());
    let optional = esp("aes128-sha256-modp2048,aes128-sha256").to_wire(&spi);
    assert!(predict_pfs_mismatch("net", &no_pfs, &optional).is_none());
    let with_none = esp("aes128-sha256-modp2048-none").to_wire(&spi);
    assert!(predict_pfs_mismatch("net", &no_pfs, &with_none).is_none());
    assert!(predict_pfs_mismatch("net", &no_pfs, &[]).is_none());
}

/// Deterministic pseudo-random input (no RNG dependency): selection, the response check and the
/// parser must answer every input with a value or an error, never a panic.
#[test]
fn arbitrary_input_never_panics() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let sets = [
        ike("aes256-sha256-ecp256,aes128gcm16-prfsha256-x25519"),
        esp("aes128-sha256-modp2048-none,aes256gcm16-esn"),
        esp("aes128-sha256").without_ke(),
        ProposalSet::default_ike(),
    ];
    let ids = [0u16, 1, 2, 3, 5, 12, 14, 19, 20, 28, 31, 1031, u16::MAX];
    for _ in 0..3000 {
        let mut proposals = Vec::new();
        for n in 0..next(4) {
            let mut transforms = Vec::new();
            for _ in 0..next(8) {
                transforms.push(Transform {
                    ttype: TransformType(u8::try_from(next(8)).unwrap()),
                    id: ids[usize::try_from(next(ids.len() as u64)).unwrap()],
                    key_length: [None, Some(128), Some(256), Some(0)]
                        [usize::try_from(next(4)).unwrap()],
                    other_attrs: Vec::new(),
                });
            }
            proposals.push(Proposal {
                num: u8::try_from(n + next(2)).unwrap(),
                protocol: ProtocolId(u8::try_from(next(5)).unwrap()),
                spi: vec![0; usize::try_from(next(9)).unwrap()],
                transforms,
            });
        }
        for set in &sets {
            let _ = select(set, &proposals).map_err(|m| m.to_string());
            let offered = set.to_wire(&[1, 2, 3, 4]);
            for chosen in &proposals {
                let _ = check_response(set, &offered, chosen).map_err(|e| e.to_string());
            }
            let _ = predict_pfs_mismatch("c", set, &proposals).map(|p| p.to_string());
        }
    }
    let words = [
        "aes256",
        "sha1",
        "prfsha256",
        "-",
        ",",
        "x25519",
        "esn",
        "default",
        "gcm",
        " ",
        "none",
    ];
    for _ in 0..3000 {
        let s: String = (0..next(10))
            .map(|_| words[usize::try_from(next(words.len() as u64)).unwrap()])
            .collect();
        let _ = ProposalSet::parse_ike(&s).map_err(|e| e.to_string());
        let _ = ProposalSet::parse_esp(&s).map_err(|e| e.to_string());
    }
}
