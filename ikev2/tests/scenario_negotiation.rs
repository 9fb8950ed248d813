//! Negotiation outcomes other than "everything matches": wrong PSK, proposal mismatches naming the
//! transform type at fault, INVALID_KE_PAYLOAD recovery, cookies, traffic selector rejection and
//! narrowing, transport mode, and a Child SA refused while the IKE SA stays up.

mod harness;

use std::time::Duration;

use rswan_ikev2::config::{Mode, TsConfig};
use rswan_ikev2::consts::{ExchangeType, NotifyType, ProtocolId, TransformType};
use rswan_ikev2::event::{AuthFailure, Event, FailureReason};
use rswan_ikev2::sa::status::IkeStatusState;

use harness::setup::{A_ADDR, A_CHILD, A_CONN, B_ADDR, B_CHILD, B_CONN};
use harness::*;

/// Runs until both sides have reported a failure or went quiet, bounded.
fn run_to_failure(w: &mut World) {
    w.initiate(Side::A, A_CONN);
    let _ = w.run_until(ESTABLISH_LIMIT, |w| has_failed(&w.a) && has_failed(&w.b));
    // Let any trailing messages (e.g. a Delete) settle.
    w.run_for(Duration::from_secs(5));
}

/// Every NegotiationFailed event of `p` names `conn` and the other peer's address.
fn assert_failure_events_name(p: &Peer, conn: &str, peer: &str) {
    let mut n = 0;
    for e in p.events() {
        if let Event::NegotiationFailed {
            conn: c,
            peer: addr,
            ..
        } = e
        {
            n += 1;
            assert_eq!(
                c.as_deref(),
                Some(conn),
                "{}: failure without its connection: {e}",
                p.name
            );
            assert_eq!(
                addr.ip().to_string(),
                peer.split(':').next().unwrap(),
                "{}: failure names the wrong peer: {e}",
                p.name
            );
        }
    }
    assert!(n > 0, "{}: no failure reported", p.name);
}

fn assert_nothing_installed(w: &World) {
    for p in [&w.a, &w.b] {
        assert!(
            p.kernel.is_empty(),
            "{}: kernel holds {:?} {:?}",
            p.name,
            p.kernel.sas.keys(),
            p.kernel.policies
        );
        assert!(
            established_ike(p).is_empty(),
            "{}: an IKE SA is up: {:?}",
            p.name,
            established_ike(p)
        );
    }
}

#[test]
fn wrong_psk_is_reported_by_both_sides() {
    let mut pair = Pair::default();
    pair.b.psk = b"not-the-same-secret-at-all-00000".to_vec();
    let mut w = pair.build(1);
    run_to_failure(&mut w);
    assert_nothing_installed(&w);
    // The responder checks the initiator's AUTH first and names who failed and why.
    assert!(
        failures(&w.b).iter().any(|r| matches!(
            r,
            FailureReason::AuthenticationFailed { peer_id, why: AuthFailure::PskMismatch } if peer_id.contains("alice.example")
        )),
        "B: {:?}",
        failures(&w.b)
    );
    // The initiator learns it from AUTHENTICATION_FAILED.
    assert!(
        failures(&w.a).iter().any(|r| matches!(
            r,
            FailureReason::PeerRejectedAuthentication
                | FailureReason::PeerError {
                    notify: NotifyType::AUTHENTICATION_FAILED,
                    ..
                }
        )),
        "A: {:?}",
        failures(&w.a)
    );
    assert_failure_events_name(&w.a, A_CONN, B_ADDR);
    assert_failure_events_name(&w.b, B_CONN, A_ADDR);
    // No half-open or failed SA lingers on either side.
    assert!(ike_sas(&w.a).is_empty(), "A: {:?}", ike_sas(&w.a));
    assert!(ike_sas(&w.b).is_empty(), "B: {:?}", ike_sas(&w.b));
}

/// The responder's report names `ttype` and both offers; the initiator reports the peer's
/// NO_PROPOSAL_CHOSEN for IKE_SA_INIT.
fn ike_mismatch(a_ike: &str, b_ike: &str, ttype: TransformType, ours: &str, theirs: &str) {
    let mut pair = Pair::default();
    pair.a.ike = a_ike.into();
    pair.b.ike = b_ike.into();
    let mut w = pair.build(3);
    run_to_failure(&mut w);
    assert_nothing_installed(&w);
    let fb = failures(&w.b);
    let m = fb
        .iter()
        .find_map(|r| match r {
            FailureReason::ProposalMismatch {
                protocol: ProtocolId::IKE,
                mismatch,
                ..
            } => Some(mismatch),
            _ => None,
        })
        .unwrap_or_else(|| panic!("B: no IKE proposal mismatch in {fb:?}"));
    assert_eq!(
        m.first_failing,
        Some(ttype),
        "B names the wrong transform type: {m}"
    );
    assert!(
        m.ours.iter().any(|s| s.contains(ours)),
        "B's own offer missing in {m}"
    );
    assert!(
        m.theirs.iter().any(|s| s.contains(theirs)),
        "A's offer missing in {m}"
    );
    let fa = failures(&w.a);
    assert!(
        fa.iter().any(|r| matches!(
            r,
            FailureReason::PeerError {
                exchange: ExchangeType::IKE_SA_INIT,
                notify: NotifyType::NO_PROPOSAL_CHOSEN,
                ..
            }
        )),
        "A: {fa:?}"
    );
    assert_failure_events_name(&w.a, A_CONN, B_ADDR);
    assert_failure_events_name(&w.b, B_CONN, A_ADDR);
    // The responder keeps no state for a rejected IKE_SA_INIT.
    assert_eq!(w.b.ep.status().half_open, 0);
    assert!(ike_sas(&w.b).is_empty());
    // The initiator does not retransmit after a definitive answer.
    assert_eq!(w.a.sent.len(), 1, "A kept sending after NO_PROPOSAL_CHOSEN");
}

#[test]
fn ike_encryption_mismatch_is_named() {
    ike_mismatch(
        "aes128-sha256-prfsha256-x25519",
        "aes256-sha256-prfsha256-x25519",
        TransformType::ENCR,
        "AES_CBC_256",
        "AES_CBC_128",
    );
}

#[test]
fn ike_integrity_mismatch_is_named() {
    ike_mismatch(
        "aes128-sha256-prfsha256-x25519",
        "aes128-sha384-prfsha256-x25519",
        TransformType::INTEG,
        "HMAC_SHA2_384_192",
        "HMAC_SHA2_256_128",
    );
}

#[test]
fn ike_prf_mismatch_is_named() {
    ike_mismatch(
        "aes128gcm16-prfsha256-x25519",
        "aes128gcm16-prfsha384-x25519",
        TransformType::PRF,
        "PRF_HMAC_SHA2_384",
        "PRF_HMAC_SHA2_256",
    );
}

#[test]
fn ike_ke_group_mismatch_is_named() {
    ike_mismatch(
        "aes128gcm16-prfsha256-ecp256",
        "aes128gcm16-prfsha256-x25519",
        TransformType::KE,
        "CURVE_25519",
        "ECP_256",
    );
}

#[test]
fn invalid_ke_payload_makes_the_initiator_retry_with_the_requested_group() {
    let mut pair = Pair::default();
    // A guesses ECP_256 first; B only takes Curve25519, which A also lists.
    pair.a.ike = "aes128gcm16-prfsha256-ecp256-x25519".into();
    pair.b.ike = "aes128gcm16-prfsha256-x25519".into();
    let mut w = pair.build(4);
    establish(&mut w);
    for p in [&w.a, &w.b] {
        assert_eq!(
            established_ike(p)[0].algorithms.clone().unwrap().dh_group,
            "CURVE_25519",
            "{}",
            p.name
        );
    }
    // INIT (ECP_256), INIT (Curve25519), AUTH; answered by INVALID_KE_PAYLOAD, INIT, AUTH.
    assert_eq!(w.a.sent.len(), 3, "A's requests");
    assert_eq!(w.b.sent.len(), 3, "B's responses");
    assert_eq!(w.b.ep.status().half_open, 0);
}

#[test]
fn cookie_challenge_is_echoed_and_establishment_succeeds() {
    let mut pair = Pair::default();
    pair.b_settings.cookie_threshold = 0;
    let mut w = pair.build(5);
    w.initiate(Side::A, A_CONN);
    // After its first answer (the COOKIE demand) the responder must hold no state at all.
    w.must(
        Duration::from_secs(5),
        |w| !w.b.sent.is_empty(),
        "B never answered",
    );
    assert!(
        ike_sas(&w.b).is_empty(),
        "B created state before the cookie was returned: {:?}",
        ike_sas(&w.b)
    );
    assert_eq!(w.b.ep.status().half_open, 0);
    w.must(
        ESTABLISH_LIMIT,
        both_up,
        "no establishment after the cookie",
    );
    assert_established(&w);
    // INIT, INIT+COOKIE, AUTH: the cookie costs one round trip and no retransmission.
    assert_eq!(w.a.sent.len(), 3);
    assert_eq!(w.b.sent.len(), 3);
    assert!(
        w.elapsed() < Duration::from_secs(1),
        "took {:?}",
        w.elapsed()
    );
}

#[test]
fn ts_unacceptable_keeps_the_ike_sa_and_reports_the_child_failure() {
    let mut pair = Pair::default();
    // B only protects 10.3.0.0/24, A wants 10.2.0.0/24 behind B: no overlap.
    pair.b.local_ts = vec![TsConfig::Range(net("10.3.0.0/24"))];
    let mut w = pair.build(6);
    w.initiate(Side::A, A_CONN);
    w.must(
        ESTABLISH_LIMIT,
        |w| has_failed(&w.a) && has_failed(&w.b),
        "no failure reported",
    );
    w.run_for(Duration::from_secs(5));
    for p in [&w.a, &w.b] {
        assert_eq!(
            established_ike(p).len(),
            1,
            "{}: the IKE SA must stay up",
            p.name
        );
        assert_eq!(installed_children(p), 0, "{}", p.name);
        assert!(p.kernel.is_empty(), "{}: kernel holds state", p.name);
    }
    assert!(
        failures(&w.b)
            .iter()
            .any(|r| matches!(r, FailureReason::TsUnacceptable { child, .. } if child == B_CHILD)),
        "B: {:?}",
        failures(&w.b)
    );
    assert!(
        failures(&w.a).iter().any(|r| matches!(
            r,
            FailureReason::PeerError { notify: NotifyType::TS_UNACCEPTABLE, child: Some(c), .. } if c == A_CHILD
        )),
        "A: {:?}",
        failures(&w.a)
    );
    assert_failure_events_name(&w.a, A_CONN, B_ADDR);
    assert_failure_events_name(&w.b, B_CONN, A_ADDR);
}

#[test]
fn responder_narrows_traffic_selectors_and_both_kernels_get_the_narrowed_ones() {
    let mut pair = Pair::default();
    pair.a.local_ts = vec![TsConfig::Range(net("10.1.0.0/16"))];
    let mut w = pair.build(7);
    establish(&mut w);
    let (a_net, b_net) = (net("10.1.0.0/24"), net("10.2.0.0/24"));
    assert_policies(&w.a, &a_net, &b_net, true);
    assert_policies(&w.b, &b_net, &a_net, true);
    let child = &established_ike(&w.a)[0].children[0];
    assert_eq!(child.local_ts, vec!["10.1.0.0/24".to_string()]);
    assert_eq!(child.remote_ts, vec!["10.2.0.0/24".to_string()]);
}

#[test]
fn transport_mode_installs_transport_sas_and_host_policies() {
    let mut pair = Pair::default();
    for s in [&mut pair.a, &mut pair.b] {
        s.mode = Mode::Transport;
        s.local_ts = vec![TsConfig::Dynamic];
        s.remote_ts = vec![TsConfig::Dynamic];
    }
    let mut w = pair.build(8);
    establish(&mut w);
    let (a, b) = (net("192.0.2.1/32"), net("192.0.2.2/32"));
    assert_policies(&w.a, &a, &b, false);
    assert_policies(&w.b, &b, &a, false);
    for p in [&w.a, &w.b] {
        assert!(
            p.kernel.sas.values().all(|s| s.mode == Mode::Transport),
            "{}: {:?}",
            p.name,
            p.kernel.sas
        );
        assert!(established_ike(p)[0].children[0].mode == Mode::Transport);
    }
}

#[test]
fn child_no_proposal_chosen_keeps_the_ike_sa() {
    let mut pair = Pair::default();
    pair.a.esp = "aes128gcm16".into();
    pair.b.esp = "aes256gcm16".into();
    let mut w = pair.build(9);
    w.initiate(Side::A, A_CONN);
    w.must(
        ESTABLISH_LIMIT,
        |w| has_failed(&w.a) && has_failed(&w.b),
        "no failure reported",
    );
    w.run_for(Duration::from_secs(5));
    for p in [&w.a, &w.b] {
        let ike = established_ike(p);
        assert_eq!(ike.len(), 1, "{}: the IKE SA must stay up", p.name);
        assert_eq!(ike[0].state, IkeStatusState::Established);
        assert_eq!(installed_children(p), 0, "{}", p.name);
        assert!(p.kernel.is_empty(), "{}: kernel holds state", p.name);
    }
    let fb = failures(&w.b);
    assert!(
        fb.iter().any(|r| matches!(
            r,
            FailureReason::ProposalMismatch { protocol: ProtocolId::ESP, mismatch, .. }
                if mismatch.first_failing == Some(TransformType::ENCR)
        )),
        "B: {fb:?}"
    );
    assert!(
        failures(&w.a).iter().any(|r| matches!(
            r,
            FailureReason::PeerError { notify: NotifyType::NO_PROPOSAL_CHOSEN, child: Some(c), .. } if c == A_CHILD
        )),
        "A: {:?}",
        failures(&w.a)
    );
    assert_failure_events_name(&w.a, A_CONN, B_ADDR);
    assert_failure_events_name(&w.b, B_CONN, A_ADDR);
}

#[test]
fn kernel_refusing_an_sa_is_reported_as_a_failed_child() {
    let mut w = Pair::default().build(10);
    w.b.kernel.fail_next_add_sa = Some("EEXIST: SA exists".into());
    w.initiate(Side::A, A_CONN);
    w.must(
        ESTABLISH_LIMIT,
        |w| has_failed(&w.b),
        "B did not report the kernel error",
    );
    assert!(
        failures(&w.b).iter().any(
            |r| matches!(r, FailureReason::Kernel { error, .. } if error.message.contains("EEXIST"))
        ),
        "B: {:?}",
        failures(&w.b)
    );
    w.run_for(Duration::from_secs(5));
    // Whatever B half-installed it removed again: no orphan SA or policy stays behind.
    assert_eq!(installed_children(&w.b), 0);
    assert!(
        w.b.kernel.sas.is_empty() && w.b.kernel.policies.is_empty(),
        "B: {:?} {:?}",
        w.b.kernel.sas.keys(),
        w.b.kernel.policies
    );
}

/// A transport-mode initiator facing a tunnel-only responder: whatever the outcome, the two
/// kernels never disagree on the mode (the worst result: one side encapsulates, the other not).
#[test]
fn mode_disagreement_never_installs_mismatched_sas() {
    let mut pair = Pair::default();
    pair.a.mode = Mode::Transport;
    pair.a.local_ts = vec![TsConfig::Dynamic];
    pair.a.remote_ts = vec![TsConfig::Dynamic];
    pair.b.local_ts = vec![TsConfig::Dynamic];
    pair.b.remote_ts = vec![TsConfig::Dynamic];
    let mut w = pair.build(12);
    w.initiate(Side::A, A_CONN);
    let _ = w.run_until(ESTABLISH_LIMIT, |w| {
        both_up(w) || has_failed(&w.a) || has_failed(&w.b)
    });
    w.run_for(Duration::from_secs(5));
    if both_up(&w) {
        assert_established(&w);
        let modes: Vec<Mode> =
            w.a.kernel
                .sas
                .values()
                .chain(w.b.kernel.sas.values())
                .map(|s| s.mode)
                .collect();
        assert!(modes.windows(2).all(|m| m[0] == m[1]), "{modes:?}");
    } else {
        // Refused: no side keeps a half-installed child, and the failure says why.
        assert!(
            w.a.kernel.is_empty() && w.b.kernel.is_empty(),
            "kernel state after a refused child"
        );
        assert!(
            failures(&w.a)
                .iter()
                .chain(failures(&w.b).iter())
                .any(|r| matches!(r, FailureReason::ModeMismatch { .. })
                    || matches!(r, FailureReason::PeerError { .. })),
            "A {:?} B {:?}",
            failures(&w.a),
            failures(&w.b)
        );
    }
}

#[test]
fn cookie_challenge_survives_loss() {
    let mut established = 0;
    for seed in 1..=10u64 {
        let mut pair = Pair::default();
        pair.b_settings.cookie_threshold = 0;
        let mut w = pair.build(seed);
        w.trace = false;
        w.link.set_both(Impairment::lossy(0.3));
        w.initiate(Side::A, A_CONN);
        if w.run_until(ESTABLISH_LIMIT * 2, both_up).is_ok() {
            established += 1;
            assert_established_tolerating(&w, |r| matches!(r, FailureReason::HalfOpenTimeout));
        } else {
            assert!(
                failures(&w.a)
                    .iter()
                    .any(|r| matches!(r, FailureReason::PeerLost { .. })),
                "seed {seed}: {:?}",
                failures(&w.a)
            );
        }
    }
    assert!(established >= 9, "{established} of 10");
}

/// B only accepts "carol.example"; alice authenticates with the right PSK but the wrong identity.
#[test]
fn unexpected_peer_identity_is_refused() {
    let mut pair = Pair::default();
    pair.b.expect_remote_id = Some("carol.example".into());
    let mut w = pair.build(13);
    run_to_failure(&mut w);
    assert_nothing_installed(&w);
    assert!(
        has_failed(&w.b),
        "B accepted an identity it was not configured for"
    );
    assert!(
        failures(&w.a).iter().any(|r| matches!(
            r,
            FailureReason::PeerRejectedAuthentication | FailureReason::PeerError { .. }
        )),
        "A: {:?}",
        failures(&w.a)
    );
    assert!(ike_sas(&w.b).is_empty(), "B: {:?}", ike_sas(&w.b));
}
