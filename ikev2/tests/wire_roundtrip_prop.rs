//! Property: for every generated message (and every generated list of inner payloads), encode then
//! decode gives back the same value, and decoding the encoding of a decoded value is stable.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;
use rswan_ikev2::consts::*;
use rswan_ikev2::wire::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

/// Payload types from the private-use range, which this codec never interprets.
fn unknown_payload() -> impl Strategy<Value = UnknownPayload> {
    (128u8..=255, bytes(24)).prop_map(|(t, body)| UnknownPayload {
        ptype: PayloadType(t),
        critical: false,
        body,
    })
}

fn attribute() -> impl Strategy<Value = Attribute> {
    // Any type but Key Length (14), which has its own field; the top bit is the format flag.
    let attr_type = (0u16..0x8000)
        .prop_filter("not Key Length", |t| *t != 14)
        .prop_map(TransformAttrType);
    let value = prop_oneof![
        any::<u16>().prop_map(AttrValue::Tv),
        bytes(8).prop_map(AttrValue::Tlv)
    ];
    (attr_type, value).prop_map(|(attr_type, value)| Attribute { attr_type, value })
}

fn transform() -> impl Strategy<Value = Transform> {
    (
        1u8..=5,
        any::<u16>(),
        proptest::option::of(any::<u16>()),
        vec(attribute(), 0..3),
    )
        .prop_map(|(t, id, key_length, other_attrs)| Transform {
            ttype: TransformType(t),
            id,
            key_length,
            other_attrs,
        })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (
        any::<u8>(),
        0u8..=3,
        prop_oneof![Just(0usize), Just(4), Just(8)].prop_flat_map(|n| vec(any::<u8>(), n)),
        vec(transform(), 0..6),
    )
        .prop_map(|(num, p, spi, transforms)| Proposal {
            num,
            protocol: ProtocolId(p),
            spi,
            transforms,
        })
}

fn sa() -> impl Strategy<Value = SaPayload> {
    vec(proposal(), 1..4).prop_map(|proposals| SaPayload { proposals })
}

fn ke() -> impl Strategy<Value = KePayload> {
    (any::<u16>(), bytes(64)).prop_map(|(g, data)| KePayload {
        group: KeGroup(g),
        data,
    })
}

fn notify() -> impl Strategy<Value = Notify> {
    (any::<u8>(), bytes(8), any::<u16>(), bytes(32)).prop_map(|(p, spi, t, data)| Notify {
        protocol: ProtocolId(p),
        spi,
        ntype: NotifyType(t),
        data,
    })
}

fn certreq() -> impl Strategy<Value = CertReqPayload> {
    (any::<u8>(), bytes(40)).prop_map(|(e, authorities)| CertReqPayload {
        encoding: CertEncoding(e),
        authorities,
    })
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| Identity::Ipv4(Ipv4Addr::from(a))),
        any::<[u8; 16]>().prop_map(|a| Identity::Ipv6(Ipv6Addr::from(a))),
        "[a-z0-9.-]{0,20}".prop_map(Identity::Fqdn),
        "\\PC{0,12}@[a-z.]{1,10}".prop_map(Identity::Rfc822),
        bytes(20).prop_map(Identity::DerAsn1Dn),
        bytes(20).prop_map(Identity::KeyId),
        Just(Identity::Null),
        // Types the codec does not interpret.
        (14u8..=255, bytes(8)).prop_map(|(t, data)| Identity::Other {
            id_type: IdType(t),
            data
        }),
    ]
}

fn id_payload() -> impl Strategy<Value = IdPayload> {
    (identity(), any::<[u8; 3]>()).prop_map(|(id, reserved)| IdPayload { id, reserved })
}

fn ip_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(a, b)| (IpAddr::V4(a.min(b).into()), IpAddr::V4(a.max(b).into()))),
        (any::<u128>(), any::<u128>())
            .prop_map(|(a, b)| (IpAddr::V6(a.min(b).into()), IpAddr::V6(a.max(b).into()))),
    ]
}

fn ts_entry() -> impl Strategy<Value = TsEntry> {
    prop_oneof![
        (any::<u8>(), any::<u16>(), any::<u16>(), ip_pair()).prop_map(|(p, lo, hi, (a, b))| {
            TsEntry::Ip(
                TrafficSelector::new(p, (0, u16::MAX), a, b)
                    .unwrap()
                    .with_ports(lo, hi),
            )
        }),
        (9u8..=255, any::<u8>(), bytes(12)).prop_map(|(t, second, data)| TsEntry::Other {
            ts_type: TsType(t),
            second,
            data
        }),
    ]
}

fn ts_payload() -> impl Strategy<Value = TsPayload> {
    vec(ts_entry(), 0..4).prop_map(|selectors| TsPayload::from_entries(selectors).unwrap())
}

fn delete() -> impl Strategy<Value = DeletePayload> {
    prop_oneof![Just(0u8), Just(4), Just(8)].prop_flat_map(|size| {
        let spis = if size == 0 {
            Just(vec![]).boxed()
        } else {
            vec(vec(any::<u8>(), usize::from(size)), 0..4).boxed()
        };
        (any::<u8>(), spis).prop_map(move |(p, spis)| DeletePayload {
            protocol: ProtocolId(p),
            spi_size: size,
            spis,
        })
    })
}

fn cp() -> impl Strategy<Value = CpPayload> {
    let attr = (0u16..0x8000, bytes(16)).prop_map(|(t, value)| CfgAttr {
        attr_type: CfgAttrType(t),
        value,
    });
    (any::<u8>(), vec(attr, 0..4)).prop_map(|(t, attrs)| CpPayload {
        cfg_type: CfgType(t),
        attrs,
    })
}

fn cleartext_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        sa().prop_map(Payload::Sa),
        ke().prop_map(Payload::Ke),
        bytes(64).prop_map(Payload::Nonce),
        notify().prop_map(Payload::Notify),
        bytes(16).prop_map(Payload::VendorId),
        certreq().prop_map(Payload::CertReq),
        unknown_payload().prop_map(Payload::Unknown),
    ]
}

fn inner_type() -> impl Strategy<Value = PayloadType> {
    prop_oneof![(33u8..=48).prop_map(PayloadType), Just(PayloadType::NONE)]
        .prop_filter("not SK", |t| *t != PayloadType::SK)
}

fn encrypted() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (inner_type(), bytes(80))
            .prop_map(|(first_inner, body)| Payload::Sk(SkPayload { first_inner, body })),
        (inner_type(), 1u16..=8, 0u16..8, bytes(80)).prop_map(|(first_inner, total, n, body)| {
            Payload::Skf(SkfPayload {
                first_inner,
                fragment_number: n % total + 1,
                total_fragments: total,
                body,
            })
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let header = (
        any::<u64>(),
        any::<u64>(),
        0u8..16,
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
    )
        .prop_map(|(spi_i, spi_r, minor_version, x, f, message_id)| Header {
            spi_i,
            spi_r,
            minor_version,
            exchange: ExchangeType(x),
            flags: Flags(f),
            message_id,
        });
    (
        header,
        vec(cleartext_payload(), 0..6),
        proptest::option::of(encrypted()),
    )
        .prop_map(|(header, mut payloads, sk)| {
            payloads.extend(sk);
            Message { header, payloads }
        })
}

fn inner_payload() -> impl Strategy<Value = InnerPayload> {
    prop_oneof![
        sa().prop_map(InnerPayload::Sa),
        ke().prop_map(InnerPayload::Ke),
        id_payload().prop_map(InnerPayload::IdI),
        id_payload().prop_map(InnerPayload::IdR),
        (any::<u8>(), bytes(40)).prop_map(|(e, data)| InnerPayload::Cert(CertPayload {
            encoding: CertEncoding(e),
            data
        })),
        certreq().prop_map(InnerPayload::CertReq),
        (any::<u8>(), bytes(40)).prop_map(|(m, data)| InnerPayload::Auth(AuthPayload {
            method: AuthMethod(m),
            data
        })),
        bytes(64).prop_map(InnerPayload::Nonce),
        notify().prop_map(InnerPayload::Notify),
        delete().prop_map(InnerPayload::Delete),
        bytes(16).prop_map(InnerPayload::VendorId),
        ts_payload().prop_map(InnerPayload::TsI),
        ts_payload().prop_map(InnerPayload::TsR),
        cp().prop_map(InnerPayload::Cp),
        bytes(32).prop_map(InnerPayload::Eap),
        unknown_payload().prop_map(InnerPayload::Unknown),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn message_encode_then_decode_is_identity(m in message()) {
        let bytes = m.encode();
        prop_assert_eq!(bytes.len() as u64, u64::from(u32::from_be_bytes(bytes[24..28].try_into().unwrap())));
        let back = Message::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &m);
        // And the bytes are canonical: re-encoding the decoded value gives them again.
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn inner_encode_then_decode_is_identity(p in vec(inner_payload(), 0..8)) {
        let (first, bytes) = encode_inner(&p);
        let back = decode_inner(first, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(encode_inner(&back), (first, bytes));
    }

    #[test]
    fn truncated_inner_never_decodes(p in vec(inner_payload(), 1..6), cut in any::<prop::sample::Index>()) {
        let (first, bytes) = encode_inner(&p);
        let k = cut.index(bytes.len());
        prop_assert!(decode_inner(first, &bytes[..k]).is_err());
    }

    #[test]
    fn traffic_selector_intersection_is_contained_in_both(
        a in ts_entry(), b in ts_entry()
    ) {
        if let (TsEntry::Ip(a), TsEntry::Ip(b)) = (a, b) {
            match a.intersection(&b) {
                Some(i) => {
                    prop_assert!(a.contains(&i) && b.contains(&i));
                    prop_assert_eq!(b.intersection(&a), Some(i));
                }
                None => prop_assert!(!a.contains(&b) || b.is_empty()),
            }
        }
    }

    #[test]
    fn narrowing_stays_within_both_sides(
        proposed in vec(ts_entry(), 0..4), allowed in vec(ts_entry(), 0..4)
    ) {
        let ip = |v: &[TsEntry]| -> Vec<TrafficSelector> {
            v.iter().filter_map(|e| match e { TsEntry::Ip(t) => Some(*t), _ => None }).collect()
        };
        let (p, a) = (ip(&proposed), ip(&allowed));
        let n = narrow(&p, &a);
        for t in &n {
            prop_assert!(p.iter().any(|x| x.contains(t)), "{} not within proposed", t);
            prop_assert!(a.iter().any(|x| x.contains(t)), "{} not within allowed", t);
        }
        // Nothing both sides share is lost.
        for x in &p {
            for y in &a {
                if let Some(i) = x.intersection(y) {
                    prop_assert!(n.iter().any(|t| t.contains(&i)), "{} lost", i);
                }
            }
        }
    }

    #[test]
    fn configured_identity_display_parses_back(id in prop_oneof![
        any::<[u8; 4]>().prop_map(|a| Identity::Ipv4(Ipv4Addr::from(a))),
        any::<[u8; 16]>().prop_map(|a| Identity::Ipv6(Ipv6Addr::from(a))),
        "[ -~]{1,24}".prop_map(Identity::Fqdn),
        "[ -~]{1,24}".prop_map(Identity::Rfc822),
        bytes(20).prop_map(Identity::DerAsn1Dn),
        bytes(20).prop_map(Identity::KeyId),
        Just(Identity::Null),
    ]) {
        let shown = id.to_string();
        prop_assert_eq!(Identity::parse(&shown).map_err(|e| TestCaseError::fail(e.to_string()))?, id);
    }
}
