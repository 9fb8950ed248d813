//! The responder and initiator against IKE_SA_INIT messages that strongSwan 5.9.8 really sent
//! (ikev2/tests/data/strongswan-5.9.8): proposal choice, NAT-D hash compatibility, and the exact
//! bytes of strongSwan's own unprotected error responses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::config::{AddrSpec, AuthConfig, AuthKind, ConnConfig, Psk};
use crate::consts::KeGroup;
use crate::output::Command;
use crate::proposal::ProposalSet;
use crate::rng::TestRng;
use crate::wire::Identity;

/// UDP payloads of IPv4 packets in a little-endian Ethernet pcap, frame numbers 1-based, with the
/// non-ESP marker stripped on port 4500 (ESP packets are returned as `None`).
fn frames(case: &str) -> Vec<Option<(SocketAddr, SocketAddr, Vec<u8>)>> {
    let path = format!(
        "{}/tests/data/strongswan-5.9.8/{case}.pcap",
        env!("CARGO_MANIFEST_DIR")
    );
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let u32le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let len = u32le(&data[off + 8..]);
        let pkt = &data[off + 16..off + 16 + len];
        off += 16 + len;
        let ip = &pkt[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 17 {
            out.push(None);
            continue;
        }
        let src = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
        let dst = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
        let udp = &ip[ihl..];
        let sport = u16::from_be_bytes([udp[0], udp[1]]);
        let dport = u16::from_be_bytes([udp[2], udp[3]]);
        let mut payload = &udp[8..];
        if sport == 4500 || dport == 4500 {
            if payload[..4] != [0, 0, 0, 0] {
                out.push(None);
                continue;
            }
            payload = &payload[4..];
        }
        out.push(Some((
            SocketAddr::new(src, sport),
            SocketAddr::new(dst, dport),
            payload.to_vec(),
        )));
    }
    out
}

fn frame(case: &str, n: usize) -> (SocketAddr, SocketAddr, Vec<u8>) {
    frames(case)[n - 1].clone().unwrap()
}

fn east(ike: &str) -> Config {
    Config {
        settings: Default::default(),
        connections: vec![ConnConfig {
            name: "net".into(),
            local_addrs: vec![AddrSpec::Addr("192.0.2.2".parse().unwrap())],
            remote_addrs: vec![AddrSpec::Addr("192.0.2.1".parse().unwrap())],
            local_port: 500,
            remote_port: 500,
            ike_proposals: ProposalSet::parse_ike(ike).unwrap(),
            local: AuthConfig {
                auth: AuthKind::Psk,
                id: Some(Identity::parse("east.example").unwrap()),
            },
            remote: AuthConfig {
                auth: AuthKind::Psk,
                id: Some(Identity::parse("west.example").unwrap()),
            },
            psk: Some(Psk::new(b"correct-horse-battery-staple".to_vec())),
            encap: false,
            dpd_delay: Duration::ZERO,
            rekey_time: Duration::ZERO,
            children: vec![],
        }],
    }
}

fn drain(ep: &mut Endpoint<TestRng>) -> (Vec<Vec<u8>>, Vec<Event>) {
    let (mut sent, mut events) = (vec![], vec![]);
    while let Some(o) = ep.poll_output() {
        match o {
            Output::Send { bytes, .. } => sent.push(bytes),
            Output::Event(e) => events.push(e),
            Output::Kernel { .. } => {}
        }
    }
    (sent, events)
}

#[test]
fn answers_strongswan_init_and_agrees_on_nat_detection() {
    // transport-mode ran without forced encapsulation: both NAT-D hashes are genuine.
    let (src, dst, req) = frame("transport-mode", 1);
    let mut ep = Endpoint::new(east("aes256gcm16-prfsha384-ecp384"), TestRng::new(5));
    ep.handle_datagram(Instant::now(), dst, src, &req);
    let (sent, events) = drain(&mut ep);
    assert_eq!(sent.len(), 1, "{events:?}");
    let resp = Message::decode(&sent[0]).unwrap();
    assert_eq!(
        resp.header.spi_i,
        Message::decode(&req).unwrap().header.spi_i
    );
    assert_ne!(resp.header.spi_r, 0);
    let sa = resp
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::Sa(s) => Some(s),
            _ => None,
        })
        .unwrap();
    assert_eq!(sa.proposals.len(), 1);
    let ke = resp
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        })
        .unwrap();
    assert_eq!((ke.group, ke.data.len()), (KeGroup::ECP_384, 96));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::NatDetected {
            local_behind_nat: false,
            remote_behind_nat: false,
            ..
        }
    )));
    let st = ep.status();
    let ike = &st.connections[0].ike_sas[0];
    let algs = ike.algorithms.as_ref().unwrap();
    assert_eq!(
        (
            algs.encr.as_str(),
            algs.prf.as_str(),
            algs.dh_group.as_str()
        ),
        ("AES_GCM_16", "PRF_HMAC_SHA2_384", "ECP_384")
    );
    assert_eq!(st.half_open, 1);

    // psk-gcm-ecp256: strongSwan forced encapsulation with a random NAT_DETECTION_SOURCE_IP, and
    // logged "remote host is behind NAT"; so must we.
    let (src, dst, req) = frame("psk-gcm-ecp256", 1);
    let mut ep = Endpoint::new(east("aes256gcm16-prfsha256-ecp256"), TestRng::new(6));
    ep.handle_datagram(Instant::now(), dst, src, &req);
    let (_, events) = drain(&mut ep);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::NatDetected {
            local_behind_nat: false,
            remote_behind_nat: true,
            ..
        }
    )));
}

#[test]
fn no_proposal_chosen_is_byte_identical_to_strongswan() {
    let (src, dst, req) = frame("mismatch", 1);
    let (_, _, theirs) = frame("mismatch", 2);
    let mut ep = Endpoint::new(east("aes256-sha256-ecp384"), TestRng::new(7));
    ep.handle_datagram(Instant::now(), dst, src, &req);
    let (sent, events) = drain(&mut ep);
    assert_eq!(sent, vec![theirs]);
    let failure = events
        .iter()
        .find(|e| matches!(e, Event::NegotiationFailed { .. }))
        .unwrap()
        .to_string();
    assert!(
        failure.contains("IKE proposal mismatch: encryption"),
        "{failure}"
    );
    assert!(ep.status().connections[0].ike_sas.is_empty());
}

#[test]
fn invalid_ke_is_byte_identical_to_strongswan() {
    let (src, dst, req) = frame("invalid-ke", 1);
    let (_, _, theirs) = frame("invalid-ke", 2);
    let mut ep = Endpoint::new(east("aes256gcm16-prfsha256-modp2048"), TestRng::new(8));
    ep.handle_datagram(Instant::now(), dst, src, &req);
    let (sent, _) = drain(&mut ep);
    assert_eq!(sent, vec![theirs]);
    assert!(ep.status().connections[0].ike_sas.is_empty());

    // The retried request (MODP_2048 KE, same SPIi and Ni) is accepted.
    let (src, dst, retry) = frame("invalid-ke", 3);
    ep.handle_datagram(Instant::now(), dst, src, &retry);
    let (sent, _) = drain(&mut ep);
    assert_eq!(sent.len(), 1);
    assert_eq!(ep.status().half_open, 1);
}

#[test]
fn initiator_follows_strongswans_invalid_ke() {
    let mut cfg = east("aes256gcm16-prfsha256-ecp256-modp2048");
    let c = &mut cfg.connections[0];
    std::mem::swap(&mut c.local_addrs, &mut c.remote_addrs);
    let mut ep = Endpoint::new(cfg, TestRng::new(9));
    let now = Instant::now();
    ep.handle_command(
        now,
        Command::Initiate {
            conn: "net".into(),
            child: None,
        },
    );
    let (sent, _) = drain(&mut ep);
    let ours = Message::decode(&sent[0]).unwrap();
    // strongSwan's answer, with its SPIi replaced by ours (the message is unauthenticated).
    let (src, dst, mut theirs) = frame("invalid-ke", 2);
    theirs[..8].copy_from_slice(&ours.header.spi_i.to_be_bytes());
    ep.handle_datagram(now, dst, src, &theirs);
    let (sent, _) = drain(&mut ep);
    let retry = Message::decode(&sent[0]).unwrap();
    assert_eq!(retry.header.spi_i, ours.header.spi_i);
    let ke = retry
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::Ke(k) => Some(k.group),
            _ => None,
        })
        .unwrap();
    assert_eq!(ke, KeGroup::MODP_2048);
}
