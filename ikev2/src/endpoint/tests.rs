//! In-process initiator <-> responder loops over the public API (a virtual link, virtual time).
//! The full scenario harness lives in ikev2/tests/; these pin the core's own behaviour.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::config::Mode;
use crate::config::{
    Action, AddrSpec, AuthConfig, AuthKind, ChildConfig, ConnConfig, Psk, TsConfig,
};
use crate::event::{AuthFailure, IkeState};
use crate::output::{Command, KernelEvent};
use crate::output::{Direction, KernelOp};
use crate::proposal::ProposalSet;
use crate::rng::TestRng;
use crate::wire::Identity;

const WEST: &str = "192.0.2.1:500";
const EAST: &str = "192.0.2.2:500";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Connection "net" with child "net", PSK `correct-horse-battery-staple`, IKE
/// aes256gcm16-prfsha256-x25519 and ESP aes256gcm16; tests override fields as needed.
fn conn(local: &str, remote: &str, lid: &str, rid: &str, lts: &str, rts: &str) -> ConnConfig {
    let ts = |s: &str| -> Vec<TsConfig> {
        s.split(',')
            .map(|t| {
                if t == "dynamic" {
                    TsConfig::Dynamic
                } else {
                    TsConfig::Range(t.parse().unwrap())
                }
            })
            .collect()
    };
    ConnConfig {
        name: "net".into(),
        local_addrs: vec![AddrSpec::Addr(addr(local).ip())],
        remote_addrs: vec![AddrSpec::Addr(addr(remote).ip())],
        local_port: 500,
        remote_port: 500,
        ike_proposals: ProposalSet::parse_ike("aes256gcm16-prfsha256-x25519").unwrap(),
        local: AuthConfig {
            auth: AuthKind::Psk,
            id: Some(Identity::parse(lid).unwrap()),
        },
        remote: AuthConfig {
            auth: AuthKind::Psk,
            id: Some(Identity::parse(rid).unwrap()),
        },
        psk: Some(Psk::new(b"correct-horse-battery-staple".to_vec())),
        encap: false,
        dpd_delay: Duration::ZERO,
        rekey_time: Duration::from_secs(14400),
        children: vec![ChildConfig {
            name: "net".into(),
            local_ts: ts(lts),
            remote_ts: ts(rts),
            esp_proposals: ProposalSet::parse_esp("aes256gcm16").unwrap(),
            mode: Mode::Tunnel,
            start_action: Action::None,
            dpd_action: Action::None,
            close_action: Action::None,
            rekey_time: Duration::from_secs(3600),
            life_time: Duration::from_secs(3960),
            rekey_bytes: 0,
            life_bytes: 0,
        }],
    }
}

fn west_cfg() -> ConnConfig {
    conn(
        WEST,
        EAST,
        "west.example",
        "east.example",
        "10.1.0.0/24",
        "10.2.0.0/24",
    )
}

fn east_cfg() -> ConnConfig {
    conn(
        EAST,
        WEST,
        "east.example",
        "west.example",
        "10.2.0.0/24",
        "10.1.0.0/24",
    )
}

fn config(c: ConnConfig) -> Config {
    Config {
        settings: Default::default(),
        connections: vec![c],
    }
}

/// Two endpoints on a perfect link; `drop_to_east` loses datagrams for east.
struct Pair {
    now: Instant,
    west: Endpoint<TestRng>,
    east: Endpoint<TestRng>,
    west_events: Vec<Event>,
    east_events: Vec<Event>,
    west_kernel: Vec<KernelOp>,
    east_kernel: Vec<KernelOp>,
    /// Datagrams seen on the link, in order: (to_east, bytes).
    wire: Vec<(bool, Vec<u8>)>,
    drop_to_east: bool,
    kernel_fail_east: bool,
}

impl Pair {
    fn new(w: ConnConfig, e: ConnConfig) -> Self {
        Pair {
            now: Instant::now(),
            west: Endpoint::new(config(w), TestRng::new(1)),
            east: Endpoint::new(config(e), TestRng::new(2)),
            west_events: vec![],
            east_events: vec![],
            west_kernel: vec![],
            east_kernel: vec![],
            wire: vec![],
            drop_to_east: false,
            kernel_fail_east: false,
        }
    }

    /// Delivers outputs until both sides are quiet.
    fn run(&mut self) {
        for _ in 0..100 {
            let mut moved = false;
            while let Some(o) = self.west.poll_output() {
                moved = true;
                match o {
                    Output::Send { from, to, bytes } => {
                        assert_eq!((from, to), (addr(WEST), addr(EAST)));
                        self.wire.push((true, bytes.clone()));
                        if !self.drop_to_east {
                            self.east.handle_datagram(self.now, to, from, &bytes);
                        }
                    }
                    Output::Kernel { token, op } => {
                        self.west_kernel.push(op);
                        self.west.handle_kernel(
                            self.now,
                            KernelEvent::OpResult {
                                token,
                                result: Ok(()),
                            },
                        );
                    }
                    Output::Event(e) => self.west_events.push(e),
                }
            }
            while let Some(o) = self.east.poll_output() {
                moved = true;
                match o {
                    Output::Send { from, to, bytes } => {
                        self.wire.push((false, bytes.clone()));
                        self.west.handle_datagram(self.now, to, from, &bytes);
                    }
                    Output::Kernel { token, op } => {
                        self.east_kernel.push(op);
                        let result = if self.kernel_fail_east {
                            Err(crate::output::KernelError::new(
                                crate::output::KernelErrorKind::Exists,
                                "EEXIST",
                            ))
                        } else {
                            Ok(())
                        };
                        self.east
                            .handle_kernel(self.now, KernelEvent::OpResult { token, result });
                    }
                    Output::Event(e) => self.east_events.push(e),
                }
            }
            if !moved {
                return;
            }
        }
        panic!("endpoints did not settle");
    }

    /// West starts connection "net"; nothing is delivered yet.
    fn start(&mut self) {
        self.west.handle_command(
            self.now,
            Command::Initiate {
                conn: "net".into(),
                child: None,
            },
        );
    }

    fn initiate(&mut self) {
        self.start();
        self.run();
    }

    fn deliver_east(&mut self, datagrams: &[Vec<u8>]) {
        for b in datagrams {
            self.east
                .handle_datagram(self.now, addr(EAST), addr(WEST), b);
        }
    }

    fn deliver_west(&mut self, datagrams: &[Vec<u8>]) {
        for b in datagrams {
            self.west
                .handle_datagram(self.now, addr(WEST), addr(EAST), b);
        }
    }

    fn advance_to_west_deadline(&mut self) -> bool {
        match self.west.poll_timeout() {
            Some(t) => {
                self.now = self.now.max(t);
                self.west.handle_timeout(self.now);
                self.run();
                true
            }
            None => false,
        }
    }
}

fn failures(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| matches!(e, Event::NegotiationFailed { .. }))
        .map(|e| e.to_string())
        .collect()
}

fn child_up(events: &[Event]) -> Option<(u32, u32)> {
    events.iter().find_map(|e| match e {
        Event::ChildSaUp {
            spi_in, spi_out, ..
        } => Some((*spi_in, *spi_out)),
        _ => None,
    })
}

fn add_sa(ops: &[KernelOp], dir: Direction) -> &crate::output::SaSpec {
    ops.iter()
        .find_map(|o| match o {
            KernelOp::AddSa(s) if s.direction == dir => Some(s),
            _ => None,
        })
        .unwrap()
}

#[test]
fn psk_gcm_x25519_establishes_ike_and_child() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    assert!(failures(&p.west_events).is_empty(), "{:?}", p.west_events);
    assert!(failures(&p.east_events).is_empty(), "{:?}", p.east_events);
    // Four messages: IKE_SA_INIT and IKE_AUTH, each a request and a response.
    assert_eq!(p.wire.len(), 4);
    let (w_in, w_out) = child_up(&p.west_events).expect("west child up");
    let (e_in, e_out) = child_up(&p.east_events).expect("east child up");
    assert_eq!((w_in, w_out), (e_out, e_in));
    // Both sides derived the same keys for each direction.
    let w_out_sa = add_sa(&p.west_kernel, Direction::Out);
    let e_in_sa = add_sa(&p.east_kernel, Direction::In);
    assert_eq!(w_out_sa.spi, e_in_sa.spi);
    assert_eq!(*w_out_sa.encr.key, *e_in_sa.encr.key);
    assert_eq!(w_out_sa.encr.key.len(), 36, "AES-256 key plus 4-octet salt");
    assert_eq!(w_out_sa.encr.icv_bits, Some(128));
    assert!(w_out_sa.integ.is_none());
    let w_in_sa = add_sa(&p.west_kernel, Direction::In);
    let e_out_sa = add_sa(&p.east_kernel, Direction::Out);
    assert_eq!(*w_in_sa.encr.key, *e_out_sa.encr.key);
    assert_ne!(*w_in_sa.encr.key, *w_out_sa.encr.key);
    // Tunnel mode: out/in/fwd policies.
    let pols = p
        .west_kernel
        .iter()
        .filter(|o| matches!(o, KernelOp::AddPolicy(_)))
        .count();
    assert_eq!(pols, 3);

    let ws = p.west.status();
    let ike = &ws.connections[0].ike_sas[0];
    assert_eq!(ike.state.as_str(), "ESTABLISHED");
    assert!(ike.initiator);
    assert_eq!(ike.remote_id.as_deref(), Some("east.example"));
    let algs = ike.algorithms.as_ref().unwrap();
    assert_eq!(
        (algs.encr.as_str(), algs.encr_keysize),
        ("AES_GCM_16", Some(256))
    );
    assert_eq!(algs.prf, "PRF_HMAC_SHA2_256");
    assert_eq!(algs.dh_group, "CURVE_25519");
    assert_eq!((ike.nat_local, ike.nat_remote), (Some(false), Some(false)));
    let child = &ike.children[0];
    assert_eq!(child.state.as_str(), "INSTALLED");
    assert_eq!(child.local_ts, vec!["10.1.0.0/24"]);
    assert_eq!(child.remote_ts, vec!["10.2.0.0/24"]);
    let es = p.east.status();
    assert_eq!(es.connections[0].ike_sas[0].state.as_str(), "ESTABLISHED");
    assert!(!es.connections[0].ike_sas[0].initiator);
    assert_eq!(es.half_open, 0);
    // Every state change went through the one transition function.
    let changes: Vec<String> = p
        .west_events
        .iter()
        .filter_map(|e| match e {
            Event::IkeStateChange { old, new, .. } => Some(format!("{old:?}->{new}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            "None->INIT_SENT",
            "Some(InitSent)->AUTH_SENT",
            "Some(AuthSent)->ESTABLISHED"
        ]
    );
    let child_changes: Vec<String> = p
        .west_events
        .iter()
        .filter(|e| matches!(e, Event::ChildStateChange { .. }))
        .map(|e| e.to_string())
        .collect();
    assert_eq!(child_changes.len(), 2, "{child_changes:?}");
    assert!(child_changes[0].ends_with("created in state INSTALLING"));
    assert!(child_changes[1].ends_with("state change: INSTALLING => INSTALLED"));
    // Nothing outstanding once established: the next deadline is the (jittered) rekey, no
    // retransmission.
    assert!(
        only_lifecycle_timers(&p.west),
        "retransmit deadline left once established: {:?}",
        p.west.poll_timeout()
    );
}

/// True when the endpoint's next deadline is no retransmission but a rekey at least 45 min out
/// (child rekey_time 1 h minus at most 6 min of jitter, IKE 4 h).
fn only_lifecycle_timers(ep: &Endpoint<TestRng>) -> bool {
    let soonest = ep
        .status()
        .connections
        .iter()
        .flat_map(|c| c.ike_sas.iter())
        .filter_map(|s| s.established_at)
        .min();
    match (ep.poll_timeout(), soonest) {
        (None, _) => true,
        (Some(t), Some(up)) => t.saturating_duration_since(up) >= Duration::from_secs(45 * 60),
        (Some(_), None) => false,
    }
}

#[test]
fn wrong_psk_is_reported_by_both_sides() {
    let mut e = east_cfg();
    e.psk = Some(Psk::new(b"this-is-not-the-right-psk".to_vec()));
    let mut p = Pair::new(west_cfg(), e);
    p.initiate();
    let ef = failures(&p.east_events);
    assert!(
        ef.iter()
            .any(|f| f.contains("authentication of 'west.example' failed: PSK mismatch")),
        "{ef:?}"
    );
    let wf = failures(&p.west_events);
    assert!(
        wf.iter().any(|f| f.contains("AUTHENTICATION_FAILED")),
        "{wf:?}"
    );
    assert!(p.west.status().connections[0].ike_sas.is_empty());
    assert!(p.east.status().connections[0].ike_sas.is_empty());
    assert!(matches!(
        p.east.status().connections[0]
            .last_failure
            .as_ref()
            .unwrap()
            .reason,
        FailureReason::AuthenticationFailed {
            why: AuthFailure::PskMismatch,
            ..
        }
    ));
    assert!(child_up(&p.west_events).is_none());
}

#[test]
fn invalid_ke_retry_reuses_spi_and_nonce() {
    let mut w = west_cfg();
    w.ike_proposals = ProposalSet::parse_ike("aes256gcm16-prfsha256-ecp256-x25519").unwrap();
    let mut p = Pair::new(w, east_cfg());
    p.initiate();
    assert!(failures(&p.west_events).is_empty(), "{:?}", p.west_events);
    // INIT, INVALID_KE, INIT again, INIT response, AUTH, AUTH response.
    assert_eq!(p.wire.len(), 6);
    let first = Message::decode(&p.wire[0].1).unwrap();
    let refused = Message::decode(&p.wire[1].1).unwrap();
    let retry = Message::decode(&p.wire[2].1).unwrap();
    assert_eq!(refused.header.spi_r, 0);
    assert_eq!(
        refused
            .notify(NotifyType::INVALID_KE_PAYLOAD)
            .unwrap()
            .invalid_ke_group(),
        Some(crate::consts::KeGroup::CURVE_25519)
    );
    assert_eq!(first.header.spi_i, retry.header.spi_i);
    assert_eq!(retry.header.message_id, 0);
    let nonce = |m: &Message| {
        m.payloads.iter().find_map(|p| match p {
            Payload::Nonce(n) => Some(n.clone()),
            _ => None,
        })
    };
    assert_eq!(nonce(&first), nonce(&retry));
    let ke = |m: &Message| {
        m.payloads.iter().find_map(|p| match p {
            Payload::Ke(k) => Some(k.group),
            _ => None,
        })
    };
    assert_eq!(ke(&retry), Some(crate::consts::KeGroup::CURVE_25519));
    assert!(child_up(&p.west_events).is_some());
}

#[test]
fn esp_mismatch_keeps_ike_sa_up() {
    let mut e = east_cfg();
    e.children[0].esp_proposals = ProposalSet::parse_esp("aes128-sha256").unwrap();
    let mut p = Pair::new(west_cfg(), e);
    p.initiate();
    let ef = failures(&p.east_events);
    assert!(
        ef.iter()
            .any(|f| f.contains("ESP") && f.contains("encryption")),
        "{ef:?}"
    );
    let wf = failures(&p.west_events);
    assert!(
        wf.iter()
            .any(|f| f.contains("NO_PROPOSAL_CHOSEN") && f.contains("'net'")),
        "{wf:?}"
    );
    let ws = p.west.status();
    assert_eq!(ws.connections[0].ike_sas[0].state.as_str(), "ESTABLISHED");
    assert!(ws.connections[0].ike_sas[0].children.is_empty());
    assert_eq!(
        p.east.status().connections[0].ike_sas[0].state.as_str(),
        "ESTABLISHED"
    );
}

#[test]
fn ike_proposal_mismatch_names_the_transform() {
    let mut e = east_cfg();
    e.ike_proposals = ProposalSet::parse_ike("aes256-sha256-ecp384").unwrap();
    let mut p = Pair::new(west_cfg(), e);
    p.initiate();
    let ef = failures(&p.east_events);
    assert!(
        ef.iter()
            .any(|f| f.contains("IKE proposal mismatch: encryption")),
        "{ef:?}"
    );
    let wf = failures(&p.west_events);
    assert!(
        wf.iter()
            .any(|f| f.contains("IKE_SA_INIT with NO_PROPOSAL_CHOSEN")),
        "{wf:?}"
    );
    assert!(
        p.east.status().connections[0].ike_sas.is_empty(),
        "no state for a refused INIT"
    );
}

#[test]
fn silent_peer_is_lost_after_the_retransmit_budget() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.drop_to_east = true;
    let t0 = p.now;
    p.initiate();
    let mut rounds = 0;
    while p.advance_to_west_deadline() {
        rounds += 1;
        assert!(rounds < 20);
    }
    // 1 original + 5 retransmits, identical bytes.
    assert_eq!(p.wire.len(), 6);
    assert!(p.wire.iter().all(|(_, b)| *b == p.wire[0].1));
    let elapsed = (p.now - t0).as_secs_f64();
    assert!((165.0..166.0).contains(&elapsed), "{elapsed}");
    let wf = failures(&p.west_events);
    assert_eq!(wf, vec!["<net> peer 192.0.2.2 lost after 5 retransmits"]);
    assert!(p.west.status().connections[0].ike_sas.is_empty());
}

#[test]
fn retransmitted_request_gets_the_cached_response() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    let auth_req = p.wire[2].1.clone();
    let auth_resp = p.wire[3].1.clone();
    p.east
        .handle_datagram(p.now, addr(EAST), addr(WEST), &auth_req);
    match p.east.poll_output() {
        Some(Output::Send { bytes, .. }) => assert_eq!(bytes, auth_resp),
        o => panic!("expected resend, got {o:?}"),
    }
    assert!(p.east.poll_output().is_none(), "processed only once");
    // A late duplicate of the response is stale for the initiator.
    p.west
        .handle_datagram(p.now, addr(WEST), addr(EAST), &auth_resp);
    assert!(matches!(
        p.west.poll_output(),
        Some(Output::Event(Event::Dropped {
            reason: DropReason::UnexpectedResponse(_),
            ..
        }))
    ));
}

#[test]
fn terminate_ike_deletes_on_both_sides() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    p.west
        .handle_command(p.now, Command::TerminateIke { conn: "net".into() });
    p.run();
    for ev in [&p.west_events, &p.east_events] {
        assert!(ev.iter().any(|e| matches!(e, Event::IkeSaDown { .. })));
        assert!(ev.iter().any(|e| matches!(e, Event::ChildSaDown { .. })));
    }
    assert!(p.west.status().connections[0].ike_sas.is_empty());
    assert!(p.east.status().connections[0].ike_sas.is_empty());
    for ops in [&p.west_kernel, &p.east_kernel] {
        assert_eq!(
            ops.iter()
                .filter(|o| matches!(o, KernelOp::DeleteSa { .. }))
                .count(),
            2
        );
        assert_eq!(
            ops.iter()
                .filter(|o| matches!(o, KernelOp::DeletePolicy { .. }))
                .count(),
            3
        );
    }
}

#[test]
fn terminate_child_keeps_ike_and_liveness_works() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    p.west.handle_command(
        p.now,
        Command::TerminateChild {
            conn: "net".into(),
            child: "net".into(),
        },
    );
    p.run();
    assert!(p.east_events.iter().any(|e| matches!(
        e,
        Event::ChildSaDown {
            reason: DownReason::PeerDelete,
            ..
        }
    )));
    assert!(p.west_events.iter().any(|e| matches!(
        e,
        Event::ChildSaDown {
            reason: DownReason::LocalDelete,
            ..
        }
    )));
    assert!(p.west.status().connections[0].ike_sas[0]
        .children
        .is_empty());
    assert!(p.east.status().connections[0].ike_sas[0]
        .children
        .is_empty());
    let before = p.wire.len();
    p.now += Duration::from_secs(10);
    p.east
        .handle_command(p.now, Command::Liveness { conn: "net".into() });
    p.run();
    assert_eq!(
        p.wire.len(),
        before + 2,
        "empty INFORMATIONAL and its response"
    );
    assert_eq!(
        p.east.status().connections[0].ike_sas[0].last_peer_message,
        Some(p.now)
    );
}

#[test]
fn cookie_challenge_then_success() {
    let mut e = config(east_cfg());
    e.settings.cookie_threshold = 0;
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.east = Endpoint::new(e, TestRng::new(2));
    p.initiate();
    assert!(failures(&p.west_events).is_empty(), "{:?}", p.west_events);
    let challenge = Message::decode(&p.wire[1].1).unwrap();
    let cookie = challenge.notify(NotifyType::COOKIE).unwrap().data.clone();
    let retry = Message::decode(&p.wire[2].1).unwrap();
    match retry.payloads.first() {
        Some(Payload::Notify(n)) => {
            assert_eq!(n.ntype, NotifyType::COOKIE);
            assert_eq!(n.data, cookie);
        }
        other => panic!("COOKIE must come first, got {other:?}"),
    }
    assert!(child_up(&p.east_events).is_some());
}

#[test]
fn transport_mode_and_narrowing() {
    let mut w = west_cfg();
    w.children[0].mode = Mode::Transport;
    w.children[0].local_ts = vec![TsConfig::Dynamic];
    w.children[0].remote_ts = vec![TsConfig::Dynamic];
    let mut e = east_cfg();
    e.children[0].mode = Mode::Transport;
    e.children[0].local_ts = vec![TsConfig::Dynamic];
    e.children[0].remote_ts = vec![TsConfig::Dynamic];
    let mut p = Pair::new(w, e);
    p.initiate();
    let ws = p.west.status();
    let c = &ws.connections[0].ike_sas[0].children[0];
    assert_eq!(c.mode, Mode::Transport);
    assert_eq!(
        (c.local_ts[0].as_str(), c.remote_ts[0].as_str()),
        ("192.0.2.1/32", "192.0.2.2/32")
    );
    assert_eq!(
        p.west_kernel
            .iter()
            .filter(|o| matches!(o, KernelOp::AddPolicy(_)))
            .count(),
        2
    );

    // Narrowing: west asks for 10.0.0.0/8 <-> 10.2.0.0/16, east allows only /24s.
    let mut w = west_cfg();
    w.children[0].local_ts = vec![TsConfig::Range("10.0.0.0/8".parse().unwrap())];
    w.children[0].remote_ts = vec![TsConfig::Range("10.2.0.0/16".parse().unwrap())];
    let mut p = Pair::new(w, east_cfg());
    p.initiate();
    let ws = p.west.status();
    let c = &ws.connections[0].ike_sas[0].children[0];
    assert_eq!(
        (c.local_ts[0].as_str(), c.remote_ts[0].as_str()),
        ("10.1.0.0/24", "10.2.0.0/24")
    );
}

#[test]
fn ts_unacceptable_keeps_ike_sa() {
    let mut w = west_cfg();
    w.children[0].local_ts = vec![TsConfig::Range("172.16.0.0/16".parse().unwrap())];
    let mut p = Pair::new(w, east_cfg());
    p.initiate();
    let ef = failures(&p.east_events);
    assert!(
        ef.iter()
            .any(|f| f.contains("traffic selectors unacceptable")),
        "{ef:?}"
    );
    let wf = failures(&p.west_events);
    assert!(wf.iter().any(|f| f.contains("TS_UNACCEPTABLE")), "{wf:?}");
    assert_eq!(
        p.west.status().connections[0].ike_sas[0].state.as_str(),
        "ESTABLISHED"
    );
}

#[test]
fn kernel_failure_fails_the_child_only() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.kernel_fail_east = true;
    p.initiate();
    let ef = failures(&p.east_events);
    assert!(
        ef.iter().any(|f| f.contains("kernel: child 'net': EEXIST")),
        "{ef:?}"
    );
    // East told west to delete the child again; west removed it.
    assert!(p.west.status().connections[0].ike_sas[0]
        .children
        .is_empty());
    assert_eq!(
        p.east.status().connections[0].ike_sas[0].state.as_str(),
        "ESTABLISHED"
    );
}

#[test]
fn garbage_and_unknown_spis_are_dropped_without_panic() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    let inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0; 27],
        vec![0xff; 28],
        p.wire[2].1[..40].to_vec(),
        {
            let mut b = p.wire[2].1.clone();
            let n = b.len();
            b[n - 1] ^= 1; // ICV broken
            b
        },
    ];
    for b in inputs {
        p.east.handle_datagram(p.now, addr(EAST), addr(WEST), &b);
        while let Some(o) = p.east.poll_output() {
            assert!(matches!(o, Output::Event(Event::Dropped { .. })), "{o:?}");
        }
    }
    assert_eq!(
        p.east.status().connections[0].ike_sas[0].state.as_str(),
        "ESTABLISHED"
    );
}

#[test]
fn major_version_3_gets_invalid_major_version() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.start();
    let Some(Output::Event(_)) = p.west.poll_output() else {
        panic!()
    };
    let Some(Output::Send { mut bytes, .. }) = p.west.poll_output() else {
        panic!()
    };
    bytes[17] = 0x30;
    p.east
        .handle_datagram(p.now, addr(EAST), addr(WEST), &bytes);
    let Some(Output::Send { bytes: reply, .. }) = p.east.poll_output() else {
        panic!()
    };
    let m = Message::decode(&reply).unwrap();
    assert!(m.header.flags.is_response());
    assert!(m.notify(NotifyType::INVALID_MAJOR_VERSION).is_some());
    assert!(p.east.status().connections[0].ike_sas.is_empty());
}

#[test]
fn half_open_sa_times_out() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.start();
    // Deliver only IKE_SA_INIT to east; its response never reaches west.
    while let Some(o) = p.west.poll_output() {
        if let Output::Send { from, to, bytes } = o {
            p.east.handle_datagram(p.now, to, from, &bytes);
        }
    }
    while p.east.poll_output().is_some() {}
    assert_eq!(p.east.status().half_open, 1);
    let deadline = p.east.poll_timeout().unwrap();
    assert_eq!(deadline - p.now, Duration::from_secs(30));
    p.east.handle_timeout(deadline);
    let mut evs = vec![];
    while let Some(Output::Event(e)) = p.east.poll_output() {
        evs.push(e);
    }
    assert!(failures(&evs)
        .iter()
        .any(|f| f.contains("half-open IKE SA timed out")));
    assert_eq!(p.east.status().half_open, 0);
    let _ = IkeState::HalfOpen;
}

#[test]
fn identity_selection_any_remote_and_idr_mismatch() {
    // %any as remote id: west learns east's identity from IDr.
    let mut w = west_cfg();
    w.remote.id = None;
    let mut p = Pair::new(w, east_cfg());
    p.initiate();
    assert!(failures(&p.west_events).is_empty(), "{:?}", p.west_events);
    assert_eq!(
        p.west.status().connections[0].ike_sas[0]
            .remote_id
            .as_deref(),
        Some("east.example")
    );
    // West asks for IDr other.example, which east is not: east finds no connection.
    let mut w = west_cfg();
    w.remote.id = Some(Identity::parse("other.example").unwrap());
    let mut p = Pair::new(w, east_cfg());
    p.initiate();
    let ef = failures(&p.east_events);
    assert!(
        ef.iter().any(|f| f.contains("no matching connection")),
        "{ef:?}"
    );
    assert!(failures(&p.west_events)
        .iter()
        .any(|f| f.contains("AUTHENTICATION_FAILED")));
    assert!(p.east.status().unmatched_failures.len() == 1);
}

#[test]
fn unknown_critical_payload_in_init_is_rejected_with_its_type() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.start();
    let req = loop {
        match p.west.poll_output() {
            Some(Output::Send { bytes, .. }) => break bytes,
            Some(_) => continue,
            None => panic!("no request"),
        }
    };
    let mut m = Message::decode(&req).unwrap();
    m.payloads
        .push(Payload::Unknown(crate::wire::UnknownPayload {
            ptype: crate::consts::PayloadType(201),
            critical: true,
            body: vec![1, 2, 3],
        }));
    p.east
        .handle_datagram(p.now, addr(EAST), addr(WEST), &m.encode());
    let Some(Output::Send { bytes, .. }) = p.east.poll_output() else {
        panic!("expected an answer")
    };
    let r = Message::decode(&bytes).unwrap();
    let n = r.notify(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD).unwrap();
    assert_eq!(n.data, vec![201]);
    assert_eq!(r.header.spi_r, 0);
    assert!(p.east.status().connections[0].ike_sas.is_empty());
}

#[test]
fn authenticated_garbage_gets_invalid_syntax_and_the_sa_stays() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    let sa = p.west.sas.values().next().unwrap();
    let c = sa.crypto.as_ref().unwrap();
    let hdr = Message {
        header: Header {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            minor_version: 0,
            exchange: ExchangeType::INFORMATIONAL,
            flags: Flags::new(true, false),
            message_id: sa.requests.next_id(),
        },
        payloads: vec![],
    }
    .encode();
    // A Notify whose length runs past the plaintext.
    let inner = [0u8, 0, 0, 40, 0, 0, 0, 0];
    let mut rng = TestRng::new(77);
    let bytes = crate::crypto::sk::seal(
        &c.cipher,
        c.keys.sk_ei.as_bytes(),
        c.keys.sk_ai.as_bytes(),
        &hdr,
        crate::consts::PayloadType::NOTIFY.0,
        &inner,
        &mut rng,
    )
    .unwrap();
    p.east
        .handle_datagram(p.now, addr(EAST), addr(WEST), &bytes);
    let mut reply = None;
    while let Some(o) = p.east.poll_output() {
        if let Output::Send { bytes, .. } = o {
            reply = Some(bytes);
        }
    }
    let reply = reply.expect("INVALID_SYNTAX response");
    let east_sa = p.east.sas.values().next().unwrap();
    let inner = exchange::open(p.west.sas.values().next().unwrap(), &reply).unwrap();
    assert!(exchange::has_notify(&inner, NotifyType::INVALID_SYNTAX));
    assert_eq!(east_sa.state(), IkeState::Established);
}

#[test]
fn mutated_handshake_messages_never_panic() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    let wire = p.wire.clone();
    let mut rng = TestRng::new(42);
    for round in 0..400 {
        let (to_east, orig) = &wire[round % wire.len()];
        let mut b = orig.clone();
        match rng.next_u64() % 3 {
            0 => {
                let i = (rng.next_u64() as usize) % b.len();
                b[i] ^= 1 << (rng.next_u64() % 8);
            }
            1 => b.truncate((rng.next_u64() as usize) % b.len()),
            _ => {
                let i = 28 + (rng.next_u64() as usize) % (b.len() - 28);
                b[i] = rng.next_u64() as u8;
            }
        }
        // Fresh pairs in both the established and the connecting state see the same garbage.
        let mut fresh = Pair::new(west_cfg(), east_cfg());
        fresh.start();
        for ep in [&mut p.east, &mut p.west, &mut fresh.east, &mut fresh.west] {
            let (l, r) = if *to_east {
                (addr(EAST), addr(WEST))
            } else {
                (addr(WEST), addr(EAST))
            };
            ep.handle_datagram(p.now, l, r, &b);
            while ep.poll_output().is_some() {}
        }
    }
}

#[test]
fn ipv6_with_key_id_and_default_ip_identity() {
    const W6: &str = "[2001:db8::1]:500";
    const E6: &str = "[2001:db8::2]:500";
    let mut w = conn(
        W6,
        E6,
        "keyid:#0a0b0c",
        "2001:db8::2",
        "2001:db8:1::/48",
        "2001:db8:2::/48",
    );
    let mut e = conn(
        E6,
        W6,
        "2001:db8::2",
        "keyid:#0a0b0c",
        "2001:db8:2::/48",
        "2001:db8:1::/48",
    );
    // East's own identity defaults to its address when not configured.
    e.local.id = None;
    w.ike_proposals = ProposalSet::parse_ike("aes128-sha256-ecp256").unwrap();
    e.ike_proposals = w.ike_proposals.clone();
    w.children[0].esp_proposals = ProposalSet::parse_esp("aes128-sha256").unwrap();
    e.children[0].esp_proposals = w.children[0].esp_proposals.clone();
    let mut p = Pair {
        west: Endpoint::new(config(w), TestRng::new(11)),
        east: Endpoint::new(config(e), TestRng::new(12)),
        ..Pair::new(west_cfg(), east_cfg())
    };
    // Deliver by hand: Pair::run asserts the IPv4 test addresses.
    p.start();
    for _ in 0..10 {
        while let Some(o) = p.west.poll_output() {
            match o {
                Output::Send { from, to, bytes } => p.east.handle_datagram(p.now, to, from, &bytes),
                Output::Kernel { op, .. } => p.west_kernel.push(op),
                Output::Event(e) => p.west_events.push(e),
            }
        }
        while let Some(o) = p.east.poll_output() {
            match o {
                Output::Send { from, to, bytes } => p.west.handle_datagram(p.now, to, from, &bytes),
                Output::Kernel { op, .. } => p.east_kernel.push(op),
                Output::Event(e) => p.east_events.push(e),
            }
        }
    }
    assert!(failures(&p.west_events).is_empty(), "{:?}", p.west_events);
    assert!(failures(&p.east_events).is_empty(), "{:?}", p.east_events);
    let ws = p.west.status();
    let ike = &ws.connections[0].ike_sas[0];
    assert_eq!(ike.remote_id.as_deref(), Some("2001:db8::2"));
    assert_eq!(ike.children[0].local_ts, vec!["2001:db8:1::/48"]);
    let es = p.east.status();
    assert_eq!(
        es.connections[0].ike_sas[0].remote_id.as_deref(),
        Some("keyid:#0a0b0c")
    );
    // CBC + HMAC: separate integrity keys of the right length.
    let out = add_sa(&p.west_kernel, Direction::Out);
    assert_eq!(out.encr.key.len(), 16);
    assert_eq!(out.integ.as_ref().unwrap().key.len(), 32);
    assert_eq!(
        *out.integ.as_ref().unwrap().key,
        *add_sa(&p.east_kernel, Direction::In)
            .integ
            .as_ref()
            .unwrap()
            .key
    );
}

#[test]
fn childless_ike_sa_when_no_children_are_configured() {
    let mut w = west_cfg();
    w.children.clear();
    let mut p = Pair::new(w, east_cfg());
    p.initiate();
    assert!(failures(&p.west_events).is_empty(), "{:?}", p.west_events);
    assert!(failures(&p.east_events).is_empty(), "{:?}", p.east_events);
    for ep in [&p.west, &p.east] {
        let st = ep.status();
        assert_eq!(st.connections[0].ike_sas[0].state.as_str(), "ESTABLISHED");
        assert!(st.connections[0].ike_sas[0].children.is_empty());
    }
    assert!(p.west_kernel.is_empty() && p.east_kernel.is_empty());
}

#[test]
fn responder_follows_an_initiator_floating_to_4500() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.start();
    let sends = |ep: &mut Endpoint<TestRng>| {
        let mut v = vec![];
        while let Some(o) = ep.poll_output() {
            if let Output::Send { from, to, bytes } = o {
                v.push((from, to, bytes));
            } else if let Output::Kernel { token, .. } = o {
                ep.handle_kernel(
                    p.now,
                    KernelEvent::OpResult {
                        token,
                        result: Ok(()),
                    },
                );
            }
        }
        v
    };
    let init = sends(&mut p.west);
    p.east
        .handle_datagram(p.now, addr(EAST), addr(WEST), &init[0].2);
    let resp = sends(&mut p.east);
    p.west
        .handle_datagram(p.now, addr(WEST), addr(EAST), &resp[0].2);
    let auth = sends(&mut p.west);
    // The IKE_AUTH request arrives on 4500 (as strongSwan sends it with MOBIKE enabled).
    let e4500 = addr("192.0.2.2:4500");
    let w4500 = addr("192.0.2.1:4500");
    p.east.handle_datagram(p.now, e4500, w4500, &auth[0].2);
    let out = sends(&mut p.east);
    assert_eq!((out[0].0, out[0].1), (e4500, w4500));
    let st = p.east.status();
    let ike = &st.connections[0].ike_sas[0];
    assert_eq!((ike.local, ike.remote), (e4500, w4500));
    // A retransmission is answered on the path it came from, too.
    p.east.handle_datagram(p.now, e4500, w4500, &auth[0].2);
    let again = sends(&mut p.east);
    assert_eq!(
        (again[0].0, again[0].1, &again[0].2),
        (e4500, w4500, &out[0].2)
    );
}

#[test]
fn initial_contact_after_a_peer_restart_replaces_the_stale_sa() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    let old_spi_in = child_up(&p.east_events).unwrap().0;
    // West restarts: all its state is gone, east still holds the old SAs.
    p.west = Endpoint::new(config(west_cfg()), TestRng::new(100));
    p.east_events.clear();
    p.east_kernel.clear();
    p.initiate();
    assert!(failures(&p.east_events).is_empty(), "{:?}", p.east_events);
    let st = p.east.status();
    assert_eq!(st.connections[0].ike_sas.len(), 1, "old IKE SA replaced");
    assert_ne!(st.connections[0].ike_sas[0].children[0].spi_in, old_spi_in);
    assert!(p.east_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::Replaced,
            ..
        }
    )));
    // The stale kernel state is removed before the new state is added.
    let first_add = p
        .east_kernel
        .iter()
        .position(|o| matches!(o, KernelOp::AddSa(_)))
        .unwrap();
    let last_del = p
        .east_kernel
        .iter()
        .rposition(|o| matches!(o, KernelOp::DeleteSa { .. } | KernelOp::DeletePolicy { .. }))
        .unwrap();
    assert!(last_del < first_add, "{:?}", p.east_kernel);
}

#[test]
fn delete_collisions_settle_on_both_sides() {
    // Both sides delete the Child SA at once.
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    let cmd = Command::TerminateChild {
        conn: "net".into(),
        child: "net".into(),
    };
    p.west.handle_command(p.now, cmd.clone());
    p.east.handle_command(p.now, cmd);
    p.run();
    for ep in [&p.west, &p.east] {
        let st = ep.status();
        assert_eq!(st.connections[0].ike_sas[0].state.as_str(), "ESTABLISHED");
        assert!(st.connections[0].ike_sas[0].children.is_empty());
    }
    let downs = |ev: &[Event]| {
        ev.iter()
            .filter(|e| matches!(e, Event::ChildSaDown { .. }))
            .count()
    };
    assert_eq!((downs(&p.west_events), downs(&p.east_events)), (1, 1));
    assert!(only_lifecycle_timers(&p.west));
    assert!(only_lifecycle_timers(&p.east));

    // Both sides delete the IKE SA at once.
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    p.west
        .handle_command(p.now, Command::TerminateIke { conn: "net".into() });
    p.east
        .handle_command(p.now, Command::TerminateIke { conn: "net".into() });
    p.run();
    assert!(p.west.status().connections[0].ike_sas.is_empty());
    assert!(p.east.status().connections[0].ike_sas.is_empty());
    assert_eq!(p.west.poll_timeout(), None);
}

#[test]
fn shutdown_sends_delete_and_tears_down_locally() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    p.west.handle_command(p.now, Command::Shutdown);
    assert!(p.west.status().connections[0].ike_sas.is_empty());
    p.run();
    assert!(p.east.status().connections[0].ike_sas.is_empty());
    assert!(p.east_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::PeerDelete,
            ..
        }
    )));
}

#[test]
fn reload_keeps_unchanged_and_deletes_removed_connections() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    p.west.reload(p.now, config(west_cfg()));
    p.run();
    assert_eq!(p.west.status().connections[0].ike_sas.len(), 1);
    p.west.reload(p.now, Config::default());
    p.run();
    assert!(p.west.status().connections.is_empty());
    assert!(p.east.status().connections[0].ike_sas.is_empty());
}

#[test]
fn unanswered_liveness_check_tears_down_with_a_configured_budget() {
    let mut w = config(west_cfg());
    w.settings.retransmit = crate::timer::RetransmitPolicy {
        timeout: Duration::from_secs(1),
        base: 2.0,
        tries: 2,
        limit: None,
    };
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.west = Endpoint::new(w, TestRng::new(1));
    p.initiate();
    p.drop_to_east = true;
    let t0 = p.now;
    let sent = p.wire.len();
    p.west
        .handle_command(p.now, Command::Liveness { conn: "net".into() });
    p.run();
    while p.advance_to_west_deadline() {}
    // The empty INFORMATIONAL, then 2 retransmits, then 4 s of waiting: 1 + 2 + 4 = 7 s.
    assert_eq!(p.wire.len() - sent, 3);
    assert_eq!(p.now - t0, Duration::from_secs(7));
    assert!(p.west_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::PeerLost { retransmits: 2 },
            ..
        }
    )));
    assert!(p.west_events.iter().any(|e| matches!(
        e,
        Event::ChildSaDown {
            reason: DownReason::IkeSaGone,
            ..
        }
    )));
    assert!(p.west.status().connections[0].ike_sas.is_empty());
    assert_eq!(
        failures(&p.west_events).last().unwrap(),
        "<net> peer 192.0.2.2 lost after 2 retransmits"
    );
}

#[test]
fn pfs_mismatch_predicted_at_setup_is_a_warning_naming_the_child() {
    let mut ep = Endpoint::new(config(east_cfg()), TestRng::new(7));
    let cc = ep.cx.config.connections[0].children[0].clone();
    // The peer's IKE_AUTH offer lists only MODP_2048; the child has no PFS group.
    let peer = ProposalSet::parse_esp("aes256gcm16-modp2048")
        .unwrap()
        .to_wire(&[1, 2, 3, 4]);
    crate::exchange::child::warn_pfs_prediction(&mut ep.cx, "net", &cc, &peer);
    let ev = match ep.poll_output() {
        Some(Output::Event(e)) => e,
        other => panic!("expected a warning, got {other:?}"),
    };
    assert_eq!(ev.level(), LogLevel::Warn);
    assert_eq!(
        ev.to_string(),
        "<net> Child SA rekey will fail: PFS mismatch: peer requires MODP_2048, child 'net' has no PFS group"
    );
    // An offer that allows no PFS predicts nothing.
    let ok = ProposalSet::parse_esp("aes256gcm16-modp2048-none, aes256gcm16")
        .unwrap()
        .to_wire(&[1, 2, 3, 4]);
    crate::exchange::child::warn_pfs_prediction(&mut ep.cx, "net", &cc, &ok);
    assert!(ep.poll_output().is_none());
}

// ---------------------------------------------------------------------------------------------
// The transition table's payload checks (exchange/table.rs)
// ---------------------------------------------------------------------------------------------

/// Drains `ep`'s outputs: the datagrams it sent and its events (kernel operations succeed).
fn drain(ep: &mut Endpoint<TestRng>, now: Instant) -> (Vec<Vec<u8>>, Vec<Event>) {
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    while let Some(o) = ep.poll_output() {
        match o {
            Output::Send { bytes, .. } => sent.push(bytes),
            Output::Event(e) => events.push(e),
            Output::Kernel { token, .. } => {
                let ok = KernelEvent::OpResult {
                    token,
                    result: Ok(()),
                };
                ep.handle_kernel(now, ok);
            }
        }
    }
    (sent, events)
}

/// West's protected request of `exchange` carrying `inner`, delivered to east; east's answer,
/// opened by west, and east's events.
fn request_to_east(
    p: &mut Pair,
    exchange: ExchangeType,
    message_id: u32,
    inner: &[InnerPayload],
) -> (Vec<InnerPayload>, Vec<Event>) {
    let west_sa = p.west.sas.values().next().unwrap();
    let mut rng = TestRng::new(99);
    let bytes = exchange::seal(&mut rng, west_sa, exchange, false, message_id, inner).unwrap();
    p.east
        .handle_datagram(p.now, addr(EAST), addr(WEST), &bytes);
    let (sent, events) = drain(&mut p.east, p.now);
    let west_sa = p.west.sas.values().next().unwrap();
    let reply = sent.first().expect("east answers");
    (exchange::open(west_sa, reply).unwrap(), events)
}

fn ts_payload(ts: &str) -> crate::wire::TsPayload {
    let sel: crate::wire::TrafficSelector = ts.parse().unwrap();
    crate::wire::TsPayload::new([sel]).unwrap()
}

#[test]
fn unexpected_payload_in_informational_gets_invalid_syntax_and_changes_nothing() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    let children = p.east.sas.values().next().unwrap().children.len();
    let id = p.west.sas.values().next().unwrap().requests.next_id();
    let tsi = InnerPayload::TsI(ts_payload("10.1.0.0/16"));
    let (reply, events) = request_to_east(&mut p, ExchangeType::INFORMATIONAL, id, &[tsi]);
    assert!(exchange::has_notify(&reply, NotifyType::INVALID_SYNTAX));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Dropped { reason: DropReason::Malformed(m), .. } if m.contains("TSi")
    )));
    let east_sa = p.east.sas.values().next().unwrap();
    assert_eq!(east_sa.state(), IkeState::Established);
    assert_eq!(east_sa.children.len(), children);
}

#[test]
fn duplicate_sa_in_create_child_sa_gets_invalid_syntax_and_changes_nothing() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    let children = p.east.sas.values().next().unwrap().children.len();
    let west_sa = p.west.sas.values().next().unwrap();
    let id = west_sa.requests.next_id();
    let proposals = west_cfg().children[0].esp_proposals.to_wire(&[1, 2, 3, 4]);
    let sa = InnerPayload::Sa(crate::wire::SaPayload { proposals });
    let inner = [
        sa.clone(),
        sa,
        InnerPayload::Nonce(vec![7; 32]),
        InnerPayload::TsI(ts_payload("10.1.0.0/16")),
        InnerPayload::TsR(ts_payload("10.2.0.0/16")),
    ];
    let (reply, events) = request_to_east(&mut p, ExchangeType::CREATE_CHILD_SA, id, &inner);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Dropped { reason: DropReason::Malformed(m), .. } if m.contains("more than one SA")
    )));
    assert_eq!(
        reply,
        vec![InnerPayload::Notify(Notify::new(
            NotifyType::INVALID_SYNTAX
        ))]
    );
    let east_sa = p.east.sas.values().next().unwrap();
    assert_eq!(east_sa.state(), IkeState::Established);
    assert_eq!(east_sa.children.len(), children);
}

#[test]
fn unknown_non_critical_payload_is_skipped() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.initiate();
    let id = p.west.sas.values().next().unwrap().requests.next_id();
    let unknown = InnerPayload::Unknown(crate::wire::UnknownPayload {
        ptype: crate::consts::PayloadType(200),
        critical: false,
        body: vec![1, 2, 3],
    });
    let (reply, events) = request_to_east(&mut p, ExchangeType::INFORMATIONAL, id, &[unknown]);
    // Answered like an empty INFORMATIONAL (a liveness check).
    assert!(reply.is_empty(), "{reply:?}");
    assert!(!events.iter().any(|e| matches!(e, Event::Dropped { .. })));
    let east_sa = p.east.sas.values().next().unwrap();
    assert_eq!(east_sa.state(), IkeState::Established);
}

#[test]
fn duplicate_auth_in_ike_auth_gets_invalid_syntax_and_establishes_nothing() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.start();
    let (init, _) = drain(&mut p.west, p.now);
    p.deliver_east(&init);
    let (resp, _) = drain(&mut p.east, p.now);
    p.deliver_west(&resp);
    let (auth, _) = drain(&mut p.west, p.now);
    let request = auth.first().expect("IKE_AUTH request");
    let id = Header::peek(request).unwrap().header.message_id;
    let east_sa = p.east.sas.values().next().unwrap();
    let mut inner = exchange::open(east_sa, request).unwrap();
    let dup = inner
        .iter()
        .find(|x| matches!(x, InnerPayload::Auth(_)))
        .cloned()
        .unwrap();
    inner.push(dup);
    let (reply, events) = request_to_east(&mut p, ExchangeType::IKE_AUTH, id, &inner);
    assert!(exchange::has_notify(&reply, NotifyType::INVALID_SYNTAX));
    assert!(!events.iter().any(|e| matches!(e, Event::IkeSaUp { .. })));
    assert!(!events.iter().any(|e| matches!(e, Event::ChildSaUp { .. })));
    assert!(p
        .east
        .sas
        .values()
        .all(|sa| sa.state() != IkeState::Established));
}

#[test]
fn duplicate_sa_in_ike_sa_init_is_dropped_without_state() {
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.start();
    let (init, _) = drain(&mut p.west, p.now);
    let mut m = Message::decode(init.first().unwrap()).unwrap();
    let sa = m
        .payloads
        .iter()
        .find(|x| matches!(x, Payload::Sa(_)))
        .cloned()
        .unwrap();
    m.payloads.insert(0, sa);
    p.east
        .handle_datagram(p.now, addr(EAST), addr(WEST), &m.encode());
    let (sent, events) = drain(&mut p.east, p.now);
    // Unauthenticated: no INVALID_SYNTAX (RFC 7296 section 3.10.1), no half-open SA.
    assert!(sent.is_empty());
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Dropped { reason: DropReason::Malformed(m), .. } if m.contains("more than one SA")
    )));
    assert!(p.east.status().connections[0].ike_sas.is_empty());
    assert_eq!(p.east.status().half_open, 0);
}

#[test]
fn handlers_take_the_sa_where_the_table_says() {
    use crate::exchange::table::{self, Next};
    let state = |ep: &Endpoint<TestRng>| ep.sas.values().next().map(|sa| sa.state());
    let next = |row: Option<&table::Row>| match row.map(|r| r.next) {
        Some(Next::To(s)) => Some(s),
        other => panic!("row without a state to go to: {other:?}"),
    };
    let mut p = Pair::new(west_cfg(), east_cfg());
    p.start();
    let (init, _) = drain(&mut p.west, p.now);
    p.deliver_east(&init);
    assert_eq!(state(&p.east), next(table::init_request_row()));
    let (resp, _) = drain(&mut p.east, p.now);
    p.deliver_west(&resp);
    let init_response = table::response_row(ExchangeType::IKE_SA_INIT, &Purpose::IkeSaInit);
    assert_eq!(state(&p.west), next(init_response));
    p.run();
    let auth_request = table::request_row(ExchangeType::IKE_AUTH, IkeState::HalfOpen, true);
    assert_eq!(state(&p.east), next(auth_request));
    let auth_response = table::response_row(ExchangeType::IKE_AUTH, &Purpose::IkeAuth);
    assert_eq!(state(&p.west), next(auth_response));
}
