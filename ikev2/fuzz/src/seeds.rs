//! The committed seeds of `established_peer`, written by
//! `RSWAN_FUZZ_WRITE_SEEDS=1 cargo test --lib` in ikev2/fuzz (they depend on the recorded SA's
//! SPIs, so they are rewritten when the setup changes).

use std::net::{IpAddr, Ipv4Addr};

use rswan_ikev2::consts::{KeGroup, NotifyType, ProtocolId, TransformType};
use rswan_ikev2::wire::{
    encode_inner, DeletePayload, InnerPayload, KePayload, Notify, Proposal, SaPayload,
    TrafficSelector, Transform, TsPayload,
};

use crate::established::{recorded, Record, CTL_TIME_PASSES};

const INFORMATIONAL: u8 = 2;
const CREATE_CHILD_SA: u8 = 1;

/// The body of one payload (its encoding without the generic header) and its type.
fn body(p: InnerPayload) -> (u8, Vec<u8>) {
    let (t, mut b) = encode_inner(&[p]);
    (t.0, b.split_off(4))
}

fn transform(ttype: TransformType, id: u16, key_length: Option<u16>) -> Transform {
    Transform {
        ttype,
        id,
        key_length,
        other_attrs: vec![],
    }
}

fn esp_sa(spi: u32) -> InnerPayload {
    InnerPayload::Sa(SaPayload {
        proposals: vec![Proposal {
            num: 1,
            protocol: ProtocolId::ESP,
            spi: spi.to_be_bytes().to_vec(),
            transforms: vec![
                transform(TransformType::ENCR, 20, Some(256)),
                transform(TransformType::ESN, 0, None),
            ],
        }],
    })
}

/// Seeds are ours: at most a few dozen selectors, within what a TS payload holds.
fn ts(sel: Vec<TrafficSelector>) -> TsPayload {
    TsPayload::new(sel).expect("seed with at most 255 selectors")
}

/// `n` selectors for TCP to one port each, anywhere: narrowed against each of B's local subnets.
fn many_ports(n: u16) -> TsPayload {
    ts((0..n)
        .map(|i| {
            TrafficSelector::any_ipv4()
                .with_protocol(6)
                .with_ports(1000 + i, 1000 + i)
        })
        .collect())
}

fn new_child_payloads(spi: u32, selectors: u16) -> Vec<(u8, Vec<u8>)> {
    let tsi = TrafficSelector::from_cidr(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)), 24).expect("net");
    vec![
        body(esp_sa(spi)),
        body(InnerPayload::Nonce(vec![0x5a; 32])),
        body(InnerPayload::TsI(ts(vec![tsi]))),
        body(InnerPayload::TsR(many_ports(selectors))),
    ]
}

/// A generated TSr ([`crate::established::GEN_TSR`]): `n` TCP selectors for one port each,
/// anywhere, from port 2000 up.
fn generated_tsr(n: u8) -> (u8, Vec<u8>) {
    let mut b = vec![n, 7, 6, 0, 16];
    b.extend_from_slice(&2000u16.to_be_bytes());
    b.extend_from_slice(&2000u16.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0, 255, 255, 255, 255]);
    (crate::established::GEN_TSR, b)
}

fn input(setup: u8, records: &[Record]) -> Vec<u8> {
    let mut out = vec![setup];
    for (i, r) in records.iter().enumerate() {
        r.write(&mut out, i + 1 == records.len());
    }
    out
}

fn rec(ctl: u8, payloads: Vec<(u8, Vec<u8>)>) -> Record {
    Record {
        ctl,
        payloads,
        ..Record::default()
    }
}

/// (file name, contents) of every seed.
pub fn established_peer() -> Vec<(&'static str, Vec<u8>)> {
    let a_spi = recorded().a_child_spi_in;
    let delete_child = body(InnerPayload::Delete(DeletePayload {
        protocol: ProtocolId::ESP,
        spi_size: 4,
        spis: vec![a_spi.to_be_bytes().to_vec()],
    }));
    let delete_ike = body(InnerPayload::Delete(DeletePayload {
        protocol: ProtocolId::IKE,
        spi_size: 0,
        spis: vec![],
    }));
    let mut rekey = vec![body(InnerPayload::Notify(Notify {
        protocol: ProtocolId::ESP,
        spi: a_spi.to_be_bytes().to_vec(),
        ntype: NotifyType::REKEY_SA,
        data: vec![],
    }))];
    rekey.extend(new_child_payloads(0x0102_0304, 1));
    let ike_rekey = vec![
        body(InnerPayload::Sa(SaPayload {
            proposals: vec![Proposal {
                num: 1,
                protocol: ProtocolId::IKE,
                spi: 0x1122_3344_5566_7788u64.to_be_bytes().to_vec(),
                transforms: vec![
                    transform(TransformType::ENCR, 20, Some(256)),
                    transform(TransformType::PRF, 5, None),
                    transform(TransformType::KE, 31, None),
                ],
            }],
        })),
        body(InnerPayload::Nonce(vec![0xa5; 32])),
        body(InnerPayload::Ke(KePayload {
            group: KeGroup(31),
            data: vec![9; 32],
        })),
    ];
    vec![
        (
            "seed-informational-empty",
            input(0, &[rec(INFORMATIONAL, vec![])]),
        ),
        (
            "seed-informational-delete-child",
            input(0, &[rec(INFORMATIONAL, vec![delete_child.clone()])]),
        ),
        (
            "seed-informational-delete-ike",
            input(0, &[rec(INFORMATIONAL, vec![delete_ike.clone()])]),
        ),
        (
            "seed-create-child-30-selectors",
            input(
                0,
                &[rec(CREATE_CHILD_SA, new_child_payloads(0x0a0b_0c0d, 30))],
            ),
        ),
        ("seed-rekey-child", input(0, &[rec(CREATE_CHILD_SA, rekey)])),
        (
            "seed-rekey-ike",
            input(0, &[rec(CREATE_CHILD_SA, ike_rekey)]),
        ),
        (
            "seed-ike-auth-30-selectors",
            input(
                1,
                &[rec(0, new_child_payloads(0x0a0b_0c0e, 30)[..].to_vec())],
            ),
        ),
        (
            "seed-create-child-generated-tsr",
            input(
                0,
                &[rec(CREATE_CHILD_SA, {
                    let mut p = new_child_payloads(0x0a0b_0c10, 1);
                    p[3] = generated_tsr(12);
                    p
                })],
            ),
        ),
        (
            "seed-create-delete-then-timers",
            input(
                0,
                &[
                    rec(CREATE_CHILD_SA, new_child_payloads(0x0a0b_0c0f, 2)),
                    rec(INFORMATIONAL | CTL_TIME_PASSES, vec![delete_child]),
                    rec(INFORMATIONAL, vec![delete_ike]),
                ],
            ),
        ),
    ]
}

/// `proposal_parse` seeds: which protocol (0 IKE, 1 ESP), our proposal string, a newline, and the
/// SA payload body of the peer's offer.
pub fn proposal_parse() -> Vec<(String, Vec<u8>)> {
    use rswan_ikev2::proposal::ProposalSet;
    let cases: [(u8, &str, &str); 8] = [
        (
            0,
            "aes256gcm16-prfsha256-x25519",
            "aes256gcm16-prfsha256-x25519",
        ),
        (
            0,
            "aes128-sha256-prfsha256-ecp256,aes256gcm16-prfsha384-ecp384",
            "aes256-sha384-ecp384-modp2048,aes128gcm16-prfsha256-x25519",
        ),
        (0, "default", "3des-md5-modp1024"),
        (
            0,
            "aes192ccm12-aes256gcm8-prfsha512-x448-ecp521-curve25519",
            "default",
        ),
        (1, "aes256gcm16", "aes256gcm16-esn-noesn"),
        (
            1,
            "aes128-sha256-modp2048,chacha20poly1305-x25519",
            "aes128-sha1-sha256-modp2048-ecp256",
        ),
        (1, "default", "aes256-sha512-noesn,null-sha256"),
        (
            1,
            "aes128-aes256-sha1_160-sha384-md5_128-esn",
            "aes128gcm12-aes128ctr-sha256_96",
        ),
    ];
    let mut out = Vec::new();
    for (i, (esp, ours, theirs)) in cases.into_iter().enumerate() {
        let peer = if esp == 1 {
            ProposalSet::parse_esp(theirs)
        } else {
            ProposalSet::parse_ike(theirs)
        };
        let mut data = vec![esp];
        data.extend_from_slice(ours.as_bytes());
        data.push(b'\n');
        if let Ok(peer) = peer {
            let spi: &[u8] = if esp == 1 { &[0xc0, 1, 2, 3] } else { &[] };
            SaPayload {
                proposals: peer.to_wire(spi),
            }
            .encode_body(&mut data);
        }
        out.push((
            format!("seed-{}-{i}", if esp == 1 { "esp" } else { "ike" }),
            data,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every seed is answered by the responder (so it was sealed with the right keys and Message
    /// ID); with RSWAN_FUZZ_WRITE_SEEDS=1 they are (re)written.
    #[test]
    fn established_peer_seeds() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/established_peer");
        let write = std::env::var_os("RSWAN_FUZZ_WRITE_SEEDS").is_some();
        for (name, data) in super::established_peer() {
            if write {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(name), &data).unwrap();
            }
            let answered = crate::established::run(&data);
            assert!(answered > 0, "{name}: no answer");
        }
    }

    #[test]
    fn proposal_parse_seeds() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/proposal_parse");
        if std::env::var_os("RSWAN_FUZZ_WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            for (name, data) in super::proposal_parse() {
                std::fs::write(dir.join(name), &data).unwrap();
            }
        }
    }
}
