//! Parsing proposal strings in strongSwan's keyword syntax, and the set-level helpers.

use rswan_ikev2::consts::{EncrId, IntegId, KeGroup, PrfId, ProtocolId, TransformType};
use rswan_ikev2::proposal::{allowed_keywords, implemented, EncrAlg, ParseError, ProposalSet};
use rswan_ikev2::wire::sa::Transform;

const ENCR: u8 = 1;
const PRF: u8 = 2;
const INTEG: u8 = 3;
const KE: u8 = 4;
const ESN: u8 = 5;

/// The keyword table written out with IANA numbers (independently of the implementation's
/// table): keyword, transform type, transform id, key length.
fn expected_keywords() -> Vec<(String, u8, u16, Option<u16>)> {
    let mut v: Vec<(String, u8, u16, Option<u16>)> = Vec::new();
    let mut add = |k: &str, t: u8, id: u16, kl: Option<u16>| v.push((k.to_string(), t, id, kl));
    add("3des", ENCR, 3, None);
    add("aes", ENCR, 12, Some(128));
    for b in [128u16, 192, 256] {
        add(&format!("aes{b}"), ENCR, 12, Some(b));
        add(&format!("aes{b}ctr"), ENCR, 13, Some(b));
        for (mode, base) in [("ccm", 14u16), ("gcm", 18u16)] {
            for (suffix, off) in [
                ("8", 0u16),
                ("64", 0),
                ("12", 1),
                ("96", 1),
                ("16", 2),
                ("128", 2),
                ("", 2),
            ] {
                add(&format!("aes{b}{mode}{suffix}"), ENCR, base + off, Some(b));
            }
        }
        add(&format!("camellia{b}"), ENCR, 23, Some(b));
    }
    add("camellia", ENCR, 23, Some(128));
    add("chacha20poly1305", ENCR, 28, None);
    for (k, id) in [
        ("sha", 2u16),
        ("sha1", 2),
        ("sha256", 12),
        ("sha2_256", 12),
        ("sha384", 13),
        ("sha2_384", 13),
        ("sha512", 14),
        ("sha2_512", 14),
        ("md5", 1),
        ("aesxcbc", 5),
        ("aescmac", 8),
    ] {
        add(k, INTEG, id, None);
    }
    for (k, id) in [
        ("prfsha1", 2u16),
        ("prfsha256", 5),
        ("prfsha384", 6),
        ("prfsha512", 7),
        ("prfmd5", 1),
        ("prfaesxcbc", 4),
        ("prfaescmac", 8),
    ] {
        add(k, PRF, id, None);
    }
    for (k, id) in [
        ("none", 0u16),
        ("modpnone", 0),
        ("modp768", 1),
        ("modp1024", 2),
        ("modp1536", 5),
        ("modp2048", 14),
        ("modp3072", 15),
        ("modp4096", 16),
        ("modp6144", 17),
        ("modp8192", 18),
        ("ecp256", 19),
        ("ecp384", 20),
        ("ecp521", 21),
        ("curve25519", 31),
        ("x25519", 31),
        ("curve448", 32),
        ("x448", 32),
    ] {
        add(k, KE, id, None);
    }
    add("esn", ESN, 1, None);
    add("noesn", ESN, 0, None);
    v
}

fn of_type(ts: &[Transform], t: u8) -> Vec<(u16, Option<u16>)> {
    ts.iter()
        .filter(|x| x.ttype.0 == t)
        .map(|x| (x.id, x.key_length))
        .collect()
}

fn is_aead_id(id: u16) -> bool {
    matches!(id, 14..=16 | 18..=20 | 28)
}

#[test]
fn every_keyword_parses_to_its_transform() {
    let expected = expected_keywords();
    let mut table: Vec<&str> = allowed_keywords().collect();
    table.sort_unstable();
    let mut ours: Vec<&str> = expected.iter().map(|e| e.0.as_str()).collect();
    ours.sort_unstable();
    assert_eq!(table, ours, "keyword table differs from the expected list");

    for (kw, t, id, kl) in &expected {
        // Put the keyword into a minimal valid proposal and find its transform on the wire.
        // Encryption and integrity are tried in ESP, whose ciphers the kernel runs, so that
        // keywords rswan's IKE crypto lacks are still checked for the right transform.
        let (proto, text) = match *t {
            ENCR if is_aead_id(*id) => (ProtocolId::ESP, kw.to_string()),
            ENCR => (ProtocolId::ESP, format!("{kw}-sha256")),
            INTEG => (ProtocolId::ESP, format!("aes128-{kw}")),
            PRF => (ProtocolId::IKE, format!("aes128gcm16-{kw}-ecp256")),
            _ => (ProtocolId::ESP, format!("aes128-sha256-{kw}")),
        };
        let kind = TransformType(*t);
        if !implemented(proto, kind, *id, kl.unwrap_or(0)) {
            assert_eq!(
                ProposalSet::parse(proto, &text),
                Err(ParseError::NotImplemented {
                    keyword: kw.clone(),
                    protocol: proto,
                    proposal: text.clone()
                }),
                "{text}"
            );
            continue;
        }
        let set = ProposalSet::parse(proto, &text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let wire = set.to_wire(&[]);
        assert_eq!(wire.len(), 1, "{text}");
        assert_eq!(
            of_type(&wire[0].transforms, *t),
            vec![(*id, *kl)],
            "keyword {kw} in {text}"
        );
        // Upper case works too.
        let upper = ProposalSet::parse(proto, &text.to_ascii_uppercase()).unwrap();
        assert_eq!(upper.to_wire(&[]), wire, "{text} in upper case");
    }
}

#[test]
fn algorithms_rswan_cannot_run_are_config_errors() {
    // IKE is protected by rswan's own crypto, which has no Camellia, AES-CTR or XCBC; ESP
    // ciphers run in the kernel, so the same keywords are fine there.
    for (text, keyword) in [
        ("camellia256-sha256-ecp256", "camellia256"),
        ("aes128ctr-sha256-ecp256", "aes128ctr"),
        ("aes128-aesxcbc-ecp256", "aesxcbc"),
    ] {
        assert_eq!(
            ProposalSet::parse_ike(text),
            Err(ParseError::NotImplemented {
                keyword: keyword.into(),
                protocol: ProtocolId::IKE,
                proposal: text.into()
            })
        );
    }
    assert!(ProposalSet::parse_esp("camellia256-aes128ctr-sha256-aesxcbc").is_ok());
    // PFS runs here, so an ESP KE group must be one rswan implements.
    let e = ProposalSet::parse_esp("aes128-sha256-curve448").unwrap_err();
    assert_eq!(
        e.to_string(),
        "'curve448' (in proposal 'aes128-sha256-curve448') is not implemented by rswan for ESP"
    );
}

#[test]
fn ike_prf_is_derived_from_integrity_like_strongswan() {
    let set = ProposalSet::parse_ike("aes128-sha1-sha256-sha512-md5-modp2048").unwrap();
    let w = &set.to_wire(&[])[0];
    assert_eq!(
        of_type(&w.transforms, PRF),
        vec![(2, None), (5, None), (7, None), (1, None)]
    );
    // An explicit PRF wins over derivation.
    let set = ProposalSet::parse_ike("aes128-sha256-prfsha384-modp2048").unwrap();
    assert_eq!(
        of_type(&set.to_wire(&[])[0].transforms, PRF),
        vec![(6, None)]
    );
}

#[test]
fn several_algorithms_per_type_keep_their_order() {
    let set = ProposalSet::parse_ike("aes128-aes256-sha256-sha1-ecp256-modp2048").unwrap();
    let w = set.to_wire(&[]);
    assert_eq!(w.len(), 1);
    let ids: Vec<(u8, u16, Option<u16>)> = w[0]
        .transforms
        .iter()
        .map(|t| (t.ttype.0, t.id, t.key_length))
        .collect();
    assert_eq!(
        ids,
        vec![
            (ENCR, 12, Some(128)),
            (ENCR, 12, Some(256)),
            (INTEG, 12, None),
            (INTEG, 2, None),
            (PRF, 5, None),
            (PRF, 2, None),
            (KE, 19, None),
            (KE, 14, None),
        ]
    );
    assert_eq!(
        set.to_string(),
        "IKE:AES_CBC_128/AES_CBC_256/HMAC_SHA2_256_128/HMAC_SHA1_96/PRF_HMAC_SHA2_256/\
         PRF_HMAC_SHA1/ECP_256/MODP_2048"
    );
}

#[test]
fn comma_separated_proposals_are_numbered_from_one_and_carry_the_spi() {
    let set = ProposalSet::parse_esp("aes256gcm16 , aes128-sha256-modp2048-esn-noesn").unwrap();
    let w = set.to_wire(&[0xc0, 0xff, 0xee, 0x01]);
    assert_eq!(w.len(), 2);
    assert_eq!((w[0].num, w[1].num), (1, 2));
    assert!(w
        .iter()
        .all(|p| p.protocol == ProtocolId::ESP && p.spi == [0xc0, 0xff, 0xee, 0x01]));
    // ESN defaults to NO_ESN when not written.
    assert_eq!(of_type(&w[0].transforms, ESN), vec![(0, None)]);
    assert_eq!(of_type(&w[1].transforms, ESN), vec![(1, None), (0, None)]);
    assert_eq!(of_type(&w[1].transforms, KE), vec![(14, None)]);
    assert_eq!(
        set.to_string(),
        "ESP:AES_GCM_16_256/NO_EXT_SEQ, ESP:AES_CBC_128/HMAC_SHA2_256_128/MODP_2048/EXT_SEQ/NO_EXT_SEQ"
    );
}

#[test]
fn unknown_keyword_is_named_and_allowed_ones_listed() {
    let err = ProposalSet::parse_ike("aes256-sha256-modp2048,aes257-sha256-ecp256").unwrap_err();
    assert_eq!(
        err,
        ParseError::UnknownKeyword {
            keyword: "aes257".into(),
            proposal: "aes257-sha256-ecp256".into()
        }
    );
    let text = err.to_string();
    assert!(
        text.starts_with("unknown algorithm 'aes257' in proposal 'aes257-sha256-ecp256'; allowed: default, 3des, aes, "),
        "{text}"
    );
    for k in [
        "aes256gcm16",
        "chacha20poly1305",
        "prfsha384",
        "x25519",
        "modp2048",
        "noesn",
    ] {
        assert!(text.contains(k), "allowed list lacks {k}: {text}");
    }
}

#[test]
fn inconsistent_proposals_are_rejected_with_a_reason() {
    let cases: Vec<(ProtocolId, &str, ParseError)> = vec![
        (
            ProtocolId::IKE,
            "aes256gcm16-sha256-prfsha256-ecp256",
            ParseError::AeadWithIntegrity {
                proposal: "aes256gcm16-sha256-prfsha256-ecp256".into(),
            },
        ),
        (
            ProtocolId::ESP,
            "aes128gcm16-sha1",
            ParseError::AeadWithIntegrity {
                proposal: "aes128gcm16-sha1".into(),
            },
        ),
        (
            ProtocolId::IKE,
            "aes256gcm16-ecp256",
            ParseError::MissingPrf {
                proposal: "aes256gcm16-ecp256".into(),
            },
        ),
        (
            ProtocolId::IKE,
            "aes256-aes256gcm16-sha256-ecp256",
            ParseError::MixedAead {
                proposal: "aes256-aes256gcm16-sha256-ecp256".into(),
            },
        ),
        (
            ProtocolId::IKE,
            "aes256-prfsha256-ecp256",
            ParseError::MissingIntegrity {
                protocol: ProtocolId::IKE,
                proposal: "aes256-prfsha256-ecp256".into(),
            },
        ),
        (
            ProtocolId::ESP,
            "aes256",
            ParseError::MissingIntegrity {
                protocol: ProtocolId::ESP,
                proposal: "aes256".into(),
            },
        ),
        (
            ProtocolId::IKE,
            "sha256-modp2048",
            ParseError::MissingEncryption {
                protocol: ProtocolId::IKE,
                proposal: "sha256-modp2048".into(),
            },
        ),
        (
            ProtocolId::IKE,
            "aes256-sha256",
            ParseError::MissingKeGroup {
                proposal: "aes256-sha256".into(),
            },
        ),
        (
            ProtocolId::IKE,
            "aes256-sha256-none",
            ParseError::MissingKeGroup {
                proposal: "aes256-sha256-none".into(),
            },
        ),
        (
            ProtocolId::IKE,
            "aes256-sha256-modp2048-esn",
            ParseError::NotValidFor {
                keyword: "esn".into(),
                protocol: ProtocolId::IKE,
                proposal: "aes256-sha256-modp2048-esn".into(),
            },
        ),
        (
            ProtocolId::ESP,
            "aes256-sha256-prfsha256",
            ParseError::NotValidFor {
                keyword: "prfsha256".into(),
                protocol: ProtocolId::ESP,
                proposal: "aes256-sha256-prfsha256".into(),
            },
        ),
        (
            ProtocolId::IKE,
            "aes256-sha256-modp2048,",
            ParseError::EmptyProposal {
                input: "aes256-sha256-modp2048,".into(),
            },
        ),
        (
            ProtocolId::IKE,
            "aes256--sha256-modp2048",
            ParseError::EmptyProposal {
                input: "aes256--sha256-modp2048".into(),
            },
        ),
        (
            ProtocolId::IKE,
            "default-modp1024",
            ParseError::DefaultNotAlone {
                proposal: "default-modp1024".into(),
            },
        ),
        (
            ProtocolId::AH,
            "sha256",
            ParseError::UnsupportedProtocol(ProtocolId::AH),
        ),
    ];
    let many = vec!["aes128-sha256-ecp256"; 256].join(",");
    assert_eq!(
        ProposalSet::parse_ike(&many),
        Err(ParseError::TooManyProposals { count: 256 })
    );
    let most = vec!["aes128-sha256-ecp256"; 255].join(",");
    assert_eq!(
        ProposalSet::parse_ike(&most).unwrap().to_wire(&[])[254].num,
        255
    );
    for (proto, text, expected) in cases {
        assert_eq!(ProposalSet::parse(proto, text), Err(expected), "{text}");
    }
    let e = ProposalSet::parse_ike("aes256gcm16-sha256-prfsha256-ecp256").unwrap_err();
    assert_eq!(
        e.to_string(),
        "proposal 'aes256gcm16-sha256-prfsha256-ecp256' combines an AEAD algorithm with an \
         integrity algorithm; AEAD proposals take no integrity algorithm"
    );
    let e = ProposalSet::parse_ike("aes256gcm16-ecp256").unwrap_err();
    assert_eq!(
        e.to_string(),
        "IKE proposal 'aes256gcm16-ecp256' needs a PRF (e.g. prfsha256)"
    );
}

#[test]
fn default_is_strongswan_598_without_legacy() {
    let ike = ProposalSet::parse_ike("default").unwrap();
    assert_eq!(ike, ProposalSet::default_ike());
    assert_eq!(ike.proposals().len(), 2);
    let classic = &ike.proposals()[0];
    let aead = &ike.proposals()[1];
    assert!(!classic.is_aead() && aead.is_aead());
    assert_eq!(classic.encr()[0].id, EncrId::AES_CBC);
    assert_eq!(aead.encr()[0].id, EncrId::AES_GCM_16);
    assert!(aead
        .encr()
        .iter()
        .any(|e| e.id == EncrId::CHACHA20_POLY1305));
    assert_eq!(classic.integ()[0], IntegId::HMAC_SHA2_256_128);
    assert_eq!(classic.prf()[0], PrfId::HMAC_SHA2_256);
    assert!(aead.integ().is_empty());
    for p in ike.proposals() {
        assert_eq!(p.ke()[0], KeGroup::ECP_256);
        assert_eq!(*p.ke().last().unwrap(), KeGroup::MODP_2048);
        assert!(p.ke().contains(&KeGroup::CURVE_25519));
    }
    assert!(!ike.uses_legacy(), "{:?}", ike.legacy_algorithms());
    // Only what rswan can run, like strongSwan's plugin-filtered default.
    assert!(ike
        .unsupported_algorithms(|t, id, bits| implemented(ProtocolId::IKE, t, id, bits))
        .is_empty());
    assert_eq!(
        classic.encr()[..3],
        [
            EncrAlg::new(EncrId::AES_CBC, 128),
            EncrAlg::new(EncrId::AES_CBC, 192),
            EncrAlg::new(EncrId::AES_CBC, 256)
        ]
    );
    assert_eq!(
        aead.encr()[..3],
        [
            EncrAlg::new(EncrId::AES_GCM_16, 128),
            EncrAlg::new(EncrId::AES_GCM_16, 192),
            EncrAlg::new(EncrId::AES_GCM_16, 256)
        ]
    );

    // The keyword puts the classic proposal first; the fallback for an unset esp_proposals
    // puts AES-GCM first. Neither has a KE group.
    let esp_kw = ProposalSet::parse_esp("default").unwrap();
    assert_eq!(
        esp_kw.to_string(),
        "ESP:AES_CBC_128/AES_CBC_192/AES_CBC_256/HMAC_SHA2_256_128/HMAC_SHA2_384_192/\
         HMAC_SHA2_512_256/HMAC_SHA1_96/AES_XCBC_96/NO_EXT_SEQ, \
         ESP:AES_GCM_16_128/AES_GCM_16_192/AES_GCM_16_256/NO_EXT_SEQ"
    );
    let esp = ProposalSet::default_esp();
    assert_eq!(
        esp.to_string(),
        "ESP:AES_GCM_16_128/AES_GCM_16_192/AES_GCM_16_256/NO_EXT_SEQ, \
         ESP:AES_CBC_128/AES_CBC_192/AES_CBC_256/HMAC_SHA2_256_128/HMAC_SHA2_384_192/\
         HMAC_SHA2_512_256/HMAC_SHA1_96/AES_XCBC_96/NO_EXT_SEQ"
    );
    assert!(esp.pfs_groups().is_empty());

    // `default` combines with explicit proposals.
    let mixed = ProposalSet::parse_ike("aes256-sha1-modp1024,default").unwrap();
    assert_eq!(mixed.proposals().len(), 3);
}

#[test]
fn legacy_algorithms_only_when_written_and_reported() {
    let set = ProposalSet::parse_ike("3des-md5-modp1024,aes256-sha256-modp1536").unwrap();
    assert!(set.uses_legacy());
    assert_eq!(
        set.legacy_algorithms(),
        vec![
            "3DES_CBC",
            "HMAC_MD5_96",
            "PRF_HMAC_MD5",
            "MODP_1024",
            "MODP_1536"
        ]
    );
    let modern =
        ProposalSet::parse_ike("aes256-sha1-modp2048,aes128gcm16-prfsha256-x25519").unwrap();
    assert!(!modern.uses_legacy());
    assert!(modern.legacy_algorithms().is_empty());
}

#[test]
fn without_ke_drops_groups_for_ike_auth() {
    let esp = ProposalSet::parse_esp("aes128-sha256-modp2048-ecp256").unwrap();
    assert_eq!(esp.pfs_groups(), vec![KeGroup::MODP_2048, KeGroup::ECP_256]);
    let auth = esp.without_ke();
    assert!(auth.ke_ignored() && !esp.ke_ignored());
    let w = auth.to_wire(&[1, 2, 3, 4]);
    assert!(w[0].transforms.iter().all(|t| t.ttype != TransformType::KE));
    assert_eq!(w[0].transforms.len(), 3);
    // The original still sends its groups (CREATE_CHILD_SA).
    assert_eq!(
        of_type(&esp.to_wire(&[1, 2, 3, 4])[0].transforms, KE).len(),
        2
    );
}

#[test]
fn esp_none_makes_pfs_optional_and_is_sent() {
    let esp = ProposalSet::parse_esp("aes128-sha256-modp2048-modpnone").unwrap();
    assert_eq!(esp.pfs_groups(), vec![KeGroup::MODP_2048]);
    assert_eq!(
        of_type(&esp.to_wire(&[0; 4])[0].transforms, KE),
        vec![(14, None), (0, None)]
    );
}

#[test]
fn invalid_ke_helpers_move_the_requested_group_first() {
    let set = ProposalSet::parse_ike(
        "aes256gcm16-prfsha256-ecp256-modp2048-x25519,aes256-sha256-ecp384,aes128-sha256-x25519-modp2048",
    )
    .unwrap();
    assert_eq!(set.first_ke_group(), Some(KeGroup::ECP_256));
    assert!(set.accepts_group(KeGroup::MODP_2048));
    assert!(!set.accepts_group(KeGroup::MODP_1024));
    assert!(set.with_group_first(KeGroup::MODP_1024).is_none());

    let retry = set.with_group_first(KeGroup::MODP_2048).unwrap();
    assert_eq!(retry.first_ke_group(), Some(KeGroup::MODP_2048));
    let kes: Vec<Vec<KeGroup>> = retry.proposals().iter().map(|p| p.ke().to_vec()).collect();
    assert_eq!(
        kes,
        vec![
            vec![KeGroup::MODP_2048, KeGroup::ECP_256, KeGroup::CURVE_25519],
            vec![KeGroup::MODP_2048, KeGroup::CURVE_25519],
            // The proposal without the group moves behind those with it.
            vec![KeGroup::ECP_384],
        ]
    );
    assert_eq!(retry.proposals()[2].encr()[0].key_bits, 256);
    assert_eq!(retry.proposals()[1].encr()[0].key_bits, 128);
}

#[test]
fn retain_algorithms_filters_and_drops_unusable_proposals() {
    let set = ProposalSet::parse_esp(
        "aes128ctr-sha256,aes256-aes128ctr-sha256-modp2048,aes256gcm16-ecp521",
    )
    .unwrap();
    let no_ctr = |t: TransformType, id: u16, _bits: u16| {
        let ctr = t == TransformType::ENCR && id == EncrId::AES_CTR.0;
        let ecp521 = t == TransformType::KE && id == KeGroup::ECP_521.0;
        !ctr && !ecp521
    };
    let kept = set.retain_algorithms(no_ctr).unwrap();
    // The CTR-only proposal is gone, CTR is gone from the second one, and the third lost its only
    // PFS group so it is dropped rather than becoming a proposal without PFS.
    assert_eq!(
        kept.to_string(),
        "ESP:AES_CBC_256/HMAC_SHA2_256_128/MODP_2048/NO_EXT_SEQ"
    );
    assert!(set.retain_algorithms(|_, _, _| false).is_none());
    assert_eq!(
        set.unsupported_algorithms(no_ctr),
        vec!["AES_CTR_128", "ECP_521"]
    );
    assert!(set.unsupported_algorithms(|_, _, _| true).is_empty());
    // KE NONE is not an algorithm and is never reported.
    let optional = ProposalSet::parse_esp("aes128-sha256-modp2048-none").unwrap();
    assert_eq!(
        optional.unsupported_algorithms(|t, _, _| t != TransformType::KE),
        vec!["MODP_2048"]
    );
}
