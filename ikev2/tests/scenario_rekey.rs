//! Lifetimes: Child SAs rekeyed before the kernel's hard lifetime interrupts traffic, rekey
//! collisions resolved to one Child SA, IKE SA rekeying that keeps the Child SAs, and dead peer
//! detection. The kernel model raises soft and hard expiries from the lifetimes the core installs.

mod harness;

use std::collections::BTreeSet;
use std::time::Duration;

use rswan_ikev2::event::{DownReason, Event, FailureReason};
use rswan_ikev2::timer::ConnTimers;

use harness::setup::{A_CONN, B_CONN};
use harness::*;

fn spis(p: &Peer) -> BTreeSet<u32> {
    p.kernel.sas.values().map(|s| s.spi).collect()
}

/// After a run through rekeys: one IKE SA and one Child SA per side, both kernels mirrored with
/// exactly one SA pair, no SA ever hard-expired (traffic was never interrupted), nothing refused.
fn assert_steady(w: &World) {
    w.check(
        |w| up_with_children(w, 1),
        "one IKE SA and one Child SA per side",
    );
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2);
    for p in [&w.a, &w.b] {
        assert_eq!(
            p.kernel.hard_expired, 0,
            "{}: an SA ran into its hard lifetime",
            p.name
        );
        assert!(
            p.kernel.errors().is_empty(),
            "{}: {:?}",
            p.name,
            p.kernel.errors()
        );
        assert_eq!(
            p.kernel.policies.len(),
            3,
            "{}: {:?}",
            p.name,
            p.kernel.policies
        );
        assert!(failures(p).is_empty(), "{}: {:?}", p.name, failures(p));
    }
}

#[test]
fn child_sa_is_rekeyed_before_its_lifetime_ends() {
    let mut w = Pair::default().build(60);
    establish(&mut w);
    let before = spis(&w.a);
    // Past the hard lifetime (3960 s) of the first Child SA.
    w.run_for(Duration::from_secs(4_000));
    assert_steady(&w);
    assert!(
        spis(&w.a).is_disjoint(&before),
        "the original SAs are still installed"
    );
    for p in [&w.a, &w.b] {
        assert!(
            child_down(p, DownReason::Rekeyed),
            "{}: no ChildSaDown(Rekeyed)",
            p.name
        );
    }
}

#[test]
fn a_day_of_rekeying_keeps_one_child_and_never_interrupts_traffic() {
    let mut w = Pair::default().build(61);
    w.trace = false;
    establish(&mut w);
    let ike_before = established_ike(&w.a)[0].spis;
    // 24 h: about 24 Child SA rekeys and 6 IKE SA rekeys.
    for _ in 0..24 {
        w.run_for(Duration::from_secs(3_600));
        assert_steady(&w);
    }
    assert_ne!(
        established_ike(&w.a)[0].spis,
        ike_before,
        "the IKE SA was never rekeyed"
    );
    assert_eq!(established_ike(&w.a)[0].spis, established_ike(&w.b)[0].spis);
    assert!(w.steps < w.max_steps);
}

/// A pair whose Child SA rekeys start on both sides at the same instant, so that the two
/// CREATE_CHILD_SA requests cross on the wire: B installs its Child SA one link delay before A
/// does, so rekeying it one delay later (and without jitter) aligns both rekeys.
fn crossing_rekeys(seed: u64) -> World {
    let d = Duration::from_millis(200);
    let mut pair = Pair::default();
    let no_jitter = ConnTimers {
        child_rand_time: Some(Duration::ZERO),
        ..ConnTimers::default()
    };
    pair.a_settings
        .conn_timers
        .insert(A_CONN.into(), no_jitter.clone());
    pair.b_settings.conn_timers.insert(B_CONN.into(), no_jitter);
    pair.b.child_rekey_time += d;
    let mut w = pair.build(seed);
    w.link.set_both(Impairment {
        delay: d,
        ..Impairment::PERFECT
    });
    establish(&mut w);
    w.run_for(Duration::from_secs(3_700));
    // Proof that the requests crossed: both sides sent at the same instant, an hour in.
    let a_times: BTreeSet<Duration> =
        w.a.sent
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| t.as_secs() >= 3_600)
            .collect();
    assert!(
        w.b.sent.iter().any(|(t, _)| a_times.contains(t)),
        "seed {seed}: the rekeys did not cross (A {a_times:?})"
    );
    w
}

/// Whatever the collision handling, the outcome is one Child SA pair, mirrored, and traffic never
/// interrupted (no hard expiry).
#[test]
fn crossing_child_rekeys_end_with_one_child_sa() {
    // The nonces decide which SA survives; several seeds cover both outcomes.
    for seed in 62..70 {
        let w = crossing_rekeys(seed);
        assert_steady(&w);
    }
}

/// RFC 7296 section 2.25.1: "If a peer receives a request to rekey a Child SA that it is
/// currently rekeying, it SHOULD reply as usual, and SHOULD prepare to close redundant SAs later
/// based on the nonces (see Section 2.8.1)." So each side creates two new Child SAs (one per
/// request) and the redundant one is deleted, without a TEMPORARY_FAILURE round and its 1-4 s
/// back-off.
#[test]
fn crossing_child_rekeys_are_answered_as_usual_per_rfc7296_2_25_1() {
    for seed in 62..70 {
        let w = crossing_rekeys(seed);
        for p in [&w.a, &w.b] {
            let refused = p
                .events()
                .any(|e| e.to_string().contains("TEMPORARY_FAILURE"));
            assert!(
                !refused,
                "seed {seed}: {} answered or got TEMPORARY_FAILURE for a crossing rekey",
                p.name
            );
            let created = p
                .events()
                .filter(|e| matches!(e, Event::ChildSaUp { .. }))
                .count();
            assert_eq!(
                created, 3,
                "seed {seed}: {}: the first Child SA plus one per crossing request",
                p.name
            );
        }
        assert_steady(&w);
    }
}

#[test]
fn ike_sa_rekey_keeps_the_child_sas() {
    let mut pair = Pair::default();
    pair.a.ike_rekey_time = Duration::from_secs(600);
    let mut w = pair.build(67);
    establish(&mut w);
    let (ike_before, child_before) = (established_ike(&w.a)[0].spis, spis(&w.a));
    w.run_for(Duration::from_secs(700));
    assert_steady(&w);
    assert_ne!(
        established_ike(&w.a)[0].spis,
        ike_before,
        "IKE SA not rekeyed"
    );
    assert_eq!(established_ike(&w.a)[0].spis, established_ike(&w.b)[0].spis);
    assert_eq!(
        spis(&w.a),
        child_before,
        "Child SAs must survive an IKE SA rekey untouched"
    );
    // The Child SAs moved to the new IKE SA: deleting it removes them on both sides.
    w.command(
        Side::A,
        rswan_ikev2::output::Command::TerminateIke {
            conn: A_CONN.into(),
        },
    );
    w.run_for(Duration::from_secs(30));
    assert!(w.a.kernel.is_empty() && w.b.kernel.is_empty());
}

#[test]
fn dead_peer_detection_probes_an_idle_peer_and_keeps_it() {
    let mut pair = Pair::default();
    pair.a.dpd_delay = Duration::from_secs(30);
    let mut w = pair.build(68);
    establish(&mut w);
    let sent = w.a.sent.len();
    w.run_for(Duration::from_secs(95));
    // About one probe per dpd_delay, each answered.
    let probes = w.a.sent.len() - sent;
    assert!(
        (2..=4).contains(&probes),
        "{probes} probes in 95 s with dpd_delay 30 s"
    );
    assert_eq!(w.b.sent.len() - 2, probes, "every probe answered once");
    assert_established(&w);
}

#[test]
fn dead_peer_detection_declares_a_silent_peer_lost_and_removes_its_sas() {
    let mut pair = Pair::default();
    pair.a.dpd_delay = Duration::from_secs(30);
    let mut w = pair.build(69);
    establish(&mut w);
    let t_up = w.elapsed();
    w.link.dir[0].blackhole = true;
    w.link.dir[1].blackhole = true;
    let t = w.must(
        Duration::from_secs(400),
        |w| has_failed(&w.a),
        "A never declared the peer lost",
    );
    // First probe dpd_delay after the last message, then the retransmit budget (165.06 s).
    let expected = t_up + Duration::from_secs(30) + Duration::from_secs_f64(165.061_12);
    assert!(
        t.abs_diff(expected) < Duration::from_secs(1),
        "lost at {t:?}, expected about {expected:?}"
    );
    assert!(failures(&w.a)
        .iter()
        .any(|r| matches!(r, FailureReason::DpdTimeout { retransmits: 5 })));
    w.run_for(Duration::from_secs(5));
    assert!(
        ike_sas(&w.a).is_empty() && w.a.kernel.is_empty(),
        "A keeps state for a dead peer"
    );
}

/// Both sides start rekeying the IKE SA at the same instant (RFC 7296 section 2.8.2): one new
/// IKE SA survives on both sides, with the same SPIs, and it carries the Child SA.
#[test]
fn crossing_ike_rekeys_end_with_one_ike_sa() {
    let d = Duration::from_millis(200);
    for seed in 70..76 {
        let mut pair = Pair::default();
        let no_jitter = ConnTimers {
            ike_rand_time: Some(Duration::ZERO),
            ..ConnTimers::default()
        };
        pair.a_settings
            .conn_timers
            .insert(A_CONN.into(), no_jitter.clone());
        pair.b_settings.conn_timers.insert(B_CONN.into(), no_jitter);
        pair.a.ike_rekey_time = Duration::from_secs(600);
        // B's IKE SA is up one link delay before A's.
        pair.b.ike_rekey_time = Duration::from_secs(600) + d;
        let mut w = pair.build(seed);
        w.link.set_both(Impairment {
            delay: d,
            ..Impairment::PERFECT
        });
        establish(&mut w);
        let (ike_before, child_before) = (established_ike(&w.a)[0].spis, spis(&w.a));
        w.run_for(Duration::from_secs(660));
        let a_times: BTreeSet<Duration> =
            w.a.sent
                .iter()
                .map(|(t, _)| *t)
                .filter(|t| t.as_secs() >= 600)
                .collect();
        assert!(
            w.b.sent.iter().any(|(t, _)| a_times.contains(t)),
            "seed {seed}: the rekeys did not cross"
        );
        assert_steady(&w);
        assert_ne!(
            established_ike(&w.a)[0].spis,
            ike_before,
            "seed {seed}: IKE SA not rekeyed"
        );
        assert_eq!(
            established_ike(&w.a)[0].spis,
            established_ike(&w.b)[0].spis,
            "seed {seed}"
        );
        assert_eq!(ike_sas(&w.a).len(), 1, "seed {seed}: {:?}", ike_sas(&w.a));
        assert_eq!(ike_sas(&w.b).len(), 1, "seed {seed}: {:?}", ike_sas(&w.b));
        assert_eq!(
            spis(&w.a),
            child_before,
            "seed {seed}: the Child SA must not change"
        );
    }
}

/// Twelve hours of Child and IKE SA rekeying over a lossy, duplicating, reordering link: every
/// CREATE_CHILD_SA and Delete survives retransmission and duplicates without a second Child SA,
/// an orphan SA or an interruption.
#[test]
fn rekeying_over_an_impaired_link_stays_consistent() {
    for seed in 80..83 {
        let mut pair = Pair::default();
        pair.a.ike_rekey_time = Duration::from_secs(3 * 3600);
        let mut w = pair.build(seed);
        w.trace = false;
        w.link.set_both(Impairment {
            loss: 0.1,
            duplicate: 0.2,
            reorder: 0.3,
            jitter: Duration::from_millis(500),
            ..Impairment::PERFECT
        });
        establish(&mut w);
        for hour in 0..12 {
            w.run_for(Duration::from_secs(3_600));
            // A Child SA may be between rekey and Delete of its predecessor at the hour mark;
            // let in-flight exchanges finish before looking.
            let _ = w.run_until(Duration::from_secs(200), |w| {
                w.a.kernel.sas.len() == 2 && w.b.kernel.sas.len() == 2
            });
            w.check(
                |w| up_with_children(w, 1),
                &format!("seed {seed} hour {hour}"),
            );
            assert_eq!(
                assert_mirrored(&w.a.kernel, &w.b.kernel),
                2,
                "seed {seed} hour {hour}"
            );
            for p in [&w.a, &w.b] {
                assert_eq!(
                    p.kernel.hard_expired, 0,
                    "seed {seed} hour {hour}: {}",
                    p.name
                );
                assert!(
                    p.kernel.errors().is_empty(),
                    "seed {seed} hour {hour}: {}: {:?}",
                    p.name,
                    p.kernel.errors()
                );
                assert!(
                    failures(p).is_empty(),
                    "seed {seed} hour {hour}: {}: {:?}",
                    p.name,
                    failures(p)
                );
            }
        }
        assert!(
            w.link.stats.dropped.iter().sum::<u64>() > 0
                && w.link.stats.duplicated.iter().sum::<u64>() > 0
        );
    }
}

/// A Delete of the Child SA crossing the peer's rekey of it (RFC 7296 section 2.25.1): whatever
/// the order, both sides end without the Child SA and without any SA or policy left behind, and
/// the IKE SA stays up.
fn delete_crossing_rekey(delete_from: Side) {
    for seed in 84..88 {
        let mut pair = Pair::default();
        // The other side rekeys first: its timer fires while the Delete is on its way.
        match delete_from {
            Side::A => pair.a.child_rekey_time = Duration::from_secs(3_900),
            Side::B => pair.b.child_rekey_time = Duration::from_secs(3_900),
        }
        let mut w = pair.build(seed);
        w.link.set_both(Impairment {
            delay: Duration::from_millis(200),
            ..Impairment::PERFECT
        });
        establish(&mut w);
        let rekeyer = match delete_from {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        let sent = w.peer(rekeyer).sent.len();
        // Stop the moment the rekeying side has sent its CREATE_CHILD_SA request.
        w.run_until(Duration::from_secs(3_700), |w| {
            let p = if rekeyer == Side::A { &w.a } else { &w.b };
            p.sent.len() > sent
        })
        .expect("no rekey within the rekey time");
        let (conn, child) = match delete_from {
            Side::A => (A_CONN, harness::setup::A_CHILD),
            Side::B => (B_CONN, harness::setup::B_CHILD),
        };
        w.command(
            delete_from,
            rswan_ikev2::output::Command::TerminateChild {
                conn: conn.into(),
                child: child.into(),
            },
        );
        w.run_for(Duration::from_secs(60));
        for p in [&w.a, &w.b] {
            assert_eq!(
                established_ike(p).len(),
                1,
                "seed {seed}: {}: IKE SA lost",
                p.name
            );
            assert_eq!(
                installed_children(p),
                0,
                "seed {seed}: {}: a Child SA survived the Delete",
                p.name
            );
            assert!(
                p.kernel.is_empty(),
                "seed {seed}: {} keeps {:?} / {:?}",
                p.name,
                p.kernel.sas.keys().collect::<Vec<_>>(),
                p.kernel.policies
            );
        }
        // Nothing keeps running for the deleted child (no rekey retries, no stray expiry).
        let sent = (w.a.sent.len(), w.b.sent.len());
        w.run_for(Duration::from_secs(600));
        assert_eq!(
            (w.a.sent.len(), w.b.sent.len()),
            sent,
            "seed {seed}: still sending"
        );
    }
}

#[test]
fn child_delete_from_initiator_crossing_the_responders_rekey_leaves_nothing_behind() {
    delete_crossing_rekey(Side::A);
}

#[test]
fn child_delete_from_responder_crossing_the_initiators_rekey_leaves_nothing_behind() {
    delete_crossing_rekey(Side::B);
}
