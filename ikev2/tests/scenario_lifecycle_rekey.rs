//! CREATE_CHILD_SA in the two-peer harness: Child SA rekeying with and without PFS
//! (make-before-break in the kernel), IKE SA rekeying, additional Child SAs, PFS mismatches named
//! on both sides, TEMPORARY_FAILURE on colliding rekeys, and kernel lifetime expiry.

mod harness;

use std::time::Duration;

use rswan_ikev2::config::Config;
use rswan_ikev2::event::{DownReason, Event, FailureReason};
use rswan_ikev2::output::{Command, Direction, KernelEvent, KernelOp};
use rswan_ikev2::sa::status::ChildStatusState;
use rswan_ikev2::timer::ConnTimers;

use harness::setup::{A_CONN, B_CONN};
use harness::*;

fn child_times(w: &mut World, s: Side, rekey: u64, life: u64) {
    w.reconfigure(s, |c| {
        let ch = &mut c.connections[0].children[0];
        ch.rekey_time = Duration::from_secs(rekey);
        ch.life_time = Duration::from_secs(life);
    });
}

fn op_index(p: &Peer, f: impl Fn(&KernelOp) -> bool) -> Option<usize> {
    p.kernel.log.iter().position(|(op, _)| f(op))
}

fn add_sa_index(p: &Peer, spi: u32) -> usize {
    op_index(p, |op| matches!(op, KernelOp::AddSa(s) if s.spi == spi))
        .unwrap_or_else(|| panic!("{}: no AddSa for {spi:08x}", p.name))
}

fn del_sa_index(p: &Peer, spi: u32) -> usize {
    op_index(
        p,
        |op| matches!(op, KernelOp::DeleteSa { spi: s, .. } if *s == spi),
    )
    .unwrap_or_else(|| panic!("{}: no DeleteSa for {spi:08x}", p.name))
}

/// Child SA rekey on A's timer; checks everything a user would: new SPIs on both sides, mirrored
/// kernel state with fresh keys, make-before-break order, policies untouched, REKEYING seen.
fn child_rekey(esp: &str, seed: u64) -> World {
    let mut w = Pair::with_proposals("aes256gcm16-prfsha256-x25519", esp).build(seed);
    // A rekeys first (B's timer is far out), so roles are predictable.
    child_times(&mut w, Side::A, 60, 90);
    child_times(&mut w, Side::B, 600, 700);
    establish(&mut w);
    let old_a = first_child(&w.a);
    let old_keys: Vec<Vec<u8>> =
        w.a.kernel
            .sas
            .values()
            .map(|s| s.encr.key.to_vec())
            .collect();
    let t = w.must(
        Duration::from_secs(120),
        |w| child_replaced(w, old_a.spi_in),
        "no rekey",
    );
    assert!(
        t >= Duration::from_secs(30) && t <= Duration::from_secs(70),
        "rekeyed at {t:?}, outside rekey_time minus jitter"
    );
    let new_a = first_child(&w.a);
    let new_b = first_child(&w.b);
    assert_ne!(new_a.spi_out, old_a.spi_out);
    assert_eq!((new_a.spi_in, new_a.spi_out), (new_b.spi_out, new_b.spi_in));
    assert_eq!(
        new_a.reqid, old_a.reqid,
        "reqid kept, so the policies stay valid"
    );
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2);
    for (_, sa) in w.a.kernel.sas.iter() {
        assert!(
            !old_keys.iter().any(|k| k[..] == sa.encr.key[..]),
            "new SA reuses an old key"
        );
    }
    // Make-before-break on both sides: new inbound SA before the new outbound SA, and both
    // before the old ones are deleted; policies were never deleted or re-added.
    for (p, old_in, old_out, new) in [
        (&w.a, old_a.spi_in, old_a.spi_out, &new_a),
        (&w.b, old_a.spi_out, old_a.spi_in, &new_b),
    ] {
        let add_in = add_sa_index(p, new.spi_in);
        let add_out = add_sa_index(p, new.spi_out);
        assert!(add_in < add_out, "{}: outbound before inbound", p.name);
        assert!(
            add_out < del_sa_index(p, old_in) && add_out < del_sa_index(p, old_out),
            "{}: old SA deleted before the new pair was in",
            p.name
        );
        assert!(
            op_index(p, |op| matches!(op, KernelOp::DeletePolicy { .. })).is_none(),
            "{}: a policy was deleted",
            p.name
        );
        assert!(
            p.kernel.errors().is_empty(),
            "{}: {:?}",
            p.name,
            p.kernel.errors()
        );
        assert_policies(
            p,
            &p.kernel.policies[0].src.clone(),
            &p.kernel.policies[0].dst.clone(),
            true,
        );
        assert!(
            child_down(p, DownReason::Rekeyed),
            "{}: old Child SA not reported as rekeyed",
            p.name
        );
        assert!(failures(p).is_empty(), "{}: {:?}", p.name, failures(p));
    }
    assert!(
        w.a.events().any(|e| matches!(
            e,
            Event::ChildStateChange {
                new: ChildStatusState::Rekeying,
                ..
            }
        )),
        "status never showed REKEYING"
    );
    w
}

#[test]
fn child_rekey_without_pfs_is_make_before_break() {
    let w = child_rekey("aes256gcm16", 40);
    assert!(w
        .a
        .events()
        .any(|e| matches!(e, Event::Log { message, .. } if message.starts_with("rekeyed child") && !message.contains("MODP"))));
}

#[test]
fn child_rekey_with_pfs_uses_the_group() {
    let w = child_rekey("aes256gcm16-modp2048", 41);
    for p in [&w.a, &w.b] {
        assert!(
            p.events().any(|e| matches!(e, Event::Log { message, .. } if message.contains("rekeyed child") && message.contains("MODP_2048"))),
            "{}: rekey did not use MODP_2048",
            p.name
        );
    }
}

#[test]
fn child_rekey_survives_lost_messages() {
    let mut w = Pair::default().build(42);
    child_times(&mut w, Side::A, 60, 600);
    child_times(&mut w, Side::B, 900, 1000);
    establish(&mut w);
    let old = first_child(&w.a);
    w.link.set_both(Impairment::lossy(0.25));
    w.must(
        Duration::from_secs(400),
        |w| child_replaced(w, old.spi_in),
        "Child SA rekeyed over the lossy link",
    );
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2);
}

#[test]
fn ike_rekey_moves_children_and_restarts_message_ids() {
    let mut w = Pair::default().build(43);
    w.reconfigure(Side::A, |c| {
        c.connections[0].rekey_time = Duration::from_secs(100)
    });
    establish(&mut w);
    let old = established_ike(&w.a)[0].clone();
    let kernel_ops = (w.a.kernel.log.len(), w.b.kernel.log.len());
    // While the rekey request is out, status shows the SA as ESTABLISHED with detail REKEYING.
    w.must(
        Duration::from_secs(120),
        |w| established_ike(&w.a).iter().any(|s| s.detail == "REKEYING"),
        "status never showed REKEYING",
    );
    w.must(
        Duration::from_secs(120),
        |w| {
            ike_sas(&w.a).len() == 1
                && ike_sas(&w.b).len() == 1
                && established_ike(&w.a).len() == 1
                && established_ike(&w.a)[0].spis != old.spis
        },
        "IKE SA rekeyed, the old one gone on both sides",
    );
    let new_a = established_ike(&w.a)[0].clone();
    let new_b = established_ike(&w.b)[0].clone();
    assert_eq!(new_a.spis, new_b.spis, "both sides show the new SPIs");
    assert_ne!(new_a.spis.initiator, old.spis.initiator);
    assert_ne!(new_a.spis.responder, old.spis.responder);
    assert!(
        new_a.initiator,
        "the rekey initiator is the new SA's initiator"
    );
    // The Child SA moved untouched: same SPIs, nothing done in the kernel.
    assert_eq!(new_a.children.len(), 1);
    assert_eq!(new_a.children[0].spi_in, old.children[0].spi_in);
    assert_eq!((w.a.kernel.log.len(), w.b.kernel.log.len()), kernel_ops);
    for p in [&w.a, &w.b] {
        assert!(
            ike_down(p, DownReason::Rekeyed),
            "{}: no IkeSaDown(Rekeyed)",
            p.name
        );
        assert!(failures(p).is_empty(), "{}: {:?}", p.name, failures(p));
    }
    // The new SA works: a liveness check (message ID 0 on the new SA) is answered.
    let before = w.a.sent.len() + w.b.sent.len();
    w.command(
        Side::B,
        Command::Liveness {
            conn: B_CONN.into(),
        },
    );
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.a.sent.len() + w.b.sent.len(), before + 2);
    assert!(failures(&w.b).is_empty());
    // And a Child SA rekey under the new IKE SA still works.
    w.command(
        Side::A,
        Command::TerminateChild {
            conn: A_CONN.into(),
            child: harness::setup::A_CHILD.into(),
        },
    );
    w.must(
        Duration::from_secs(30),
        |w| up_with_children(w, 0),
        "Child SA deleted, IKE SA kept",
    );
}

#[test]
fn additional_child_sa_under_the_same_ike_sa() {
    let mut w = Pair::default().build(44);
    let extra = |local: &str, remote: &str| {
        let (l, r) = (local.to_string(), remote.to_string());
        move |c: &mut Config| {
            let mut ch = c.connections[0].children[0].clone();
            ch.name = "extra".into();
            ch.local_ts = vec![rswan_ikev2::config::TsConfig::Range(net(&l))];
            ch.remote_ts = vec![rswan_ikev2::config::TsConfig::Range(net(&r))];
            c.connections[0].children.push(ch);
        }
    };
    w.reconfigure(Side::A, extra("10.1.9.0/24", "10.2.9.0/24"));
    w.reconfigure(Side::B, extra("10.2.9.0/24", "10.1.9.0/24"));
    establish(&mut w);
    let ike = established_ike(&w.a)[0].spis;
    w.command(
        Side::A,
        Command::Initiate {
            conn: A_CONN.into(),
            child: Some("extra".into()),
        },
    );
    w.must(
        Duration::from_secs(30),
        |w| up_with_children(w, 2),
        "second Child SA up",
    );
    assert_eq!(established_ike(&w.a)[0].spis, ike, "same IKE SA");
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 4);
    assert!(w
        .a
        .kernel
        .policy(&net("10.1.9.0/24"), &net("10.2.9.0/24"), Direction::Out)
        .is_some());
    let names: Vec<String> = established_ike(&w.b)[0]
        .children
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert!(names.contains(&"extra".to_string()), "{names:?}");
}

/// A requires PFS with MODP_2048 for its Child SA, B offers none; `rekeying` rekeys first (after
/// 60 s, the other after 900 s). Established, then run for 90 s: past that first rekey.
fn pfs_mismatch_rekey(
    seed: u64,
    rekeying: Side,
) -> (World, rswan_ikev2::sa::status::ChildSaStatus) {
    let mut p = Pair::default();
    p.a.esp = "aes256gcm16-modp2048".into();
    p.b.esp = "aes256gcm16".into();
    let mut w = p.build(seed);
    for s in [Side::A, Side::B] {
        let (rekey, life) = if s == rekeying {
            (60, 600)
        } else {
            (900, 1000)
        };
        child_times(&mut w, s, rekey, life);
    }
    establish(&mut w);
    let old = first_child(&w.a);
    w.run_for(Duration::from_secs(90));
    (w, old)
}

#[test]
fn pfs_mismatch_is_named_on_both_sides() {
    let (w, old) = pfs_mismatch_rekey(45, Side::A);
    let msg = |p: &Peer| -> Vec<String> {
        p.events()
            .filter_map(|e| match e {
                Event::NegotiationFailed {
                    reason: r @ FailureReason::PfsMismatch { .. },
                    ..
                } => Some(r.to_string()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        msg(&w.b),
        vec!["Child SA rekey failed: PFS mismatch: peer requires MODP_2048, child 'bob-net' has no PFS group".to_string()]
    );
    assert_eq!(
        msg(&w.a),
        vec!["Child SA rekey failed: PFS mismatch: child 'alice-net' requires MODP_2048, peer has no matching PFS group (NO_PROPOSAL_CHOSEN)".to_string()]
    );
    // The old Child SA keeps working until its lifetime ends.
    assert_eq!(first_child(&w.a).spi_in, old.spi_in);
    assert_eq!(first_child(&w.a).state, ChildStatusState::Installed);
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2);
}

#[test]
fn pfs_mismatch_reverse_direction_names_the_group_the_peer_wants() {
    // B (no PFS) rekeys toward A, which requires MODP_2048: A refuses, B names A's requirement.
    let (w, _) = pfs_mismatch_rekey(46, Side::B);
    let text = |p: &Peer| -> String {
        p.events()
            .filter_map(|e| match e {
                Event::NegotiationFailed { reason, .. } => Some(reason.to_string()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(
        text(&w.a)
            .contains("PFS mismatch: peer offers no PFS, child 'alice-net' requires MODP_2048"),
        "{}",
        text(&w.a)
    );
    assert!(
        text(&w.b).contains("PFS mismatch: peer requires PFS, child 'bob-net' has no PFS group"),
        "{}",
        text(&w.b)
    );
}

#[test]
fn colliding_child_rekeys_resolve_by_lowest_nonce() {
    for seed in 47..53 {
        let mut w = Pair::default().build(seed);
        establish(&mut w);
        let old = first_child(&w.a);
        // Both kernels report the soft lifetime at the same instant: both rekeys cross.
        let now = w.now();
        w.a.soft_expire(now, old.spi_in);
        w.b.soft_expire(now, old.spi_out);
        w.pump();
        w.must(
            Duration::from_secs(60),
            |w| child_replaced(w, old.spi_in),
            &format!("seed {seed}"),
        );
        assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2);
        // Both answered as usual (no TEMPORARY_FAILURE), each created two successors, and
        // exactly one side found its own rekey redundant.
        let verdict = |p: &Peer| {
            p.events()
                .find_map(|e| match e {
                    Event::Log { message, .. } if message.contains("rekey collision") => {
                        Some(message.contains("local rekey is redundant"))
                    }
                    _ => None,
                })
                .unwrap_or_else(|| panic!("seed {seed}: {}: no collision detected", p.name))
        };
        assert_ne!(
            verdict(&w.a),
            verdict(&w.b),
            "seed {seed}: both sides picked the same loser"
        );
        for p in [&w.a, &w.b] {
            assert!(!tf_logged(p), "seed {seed}: {}", p.name);
            assert_eq!(count(p, |e| matches!(e, Event::ChildSaUp { .. })), 3);
            assert_clean(p);
            assert_eq!(p.kernel.policies.len(), 3, "{}: policies", p.name);
        }
    }
}

#[test]
fn colliding_ike_rekeys_resolve() {
    let mut w = Pair::default().build(48);
    // No jitter, and B (established one link delay before A) waits that much longer: both
    // timers fire at the same instant and both requests cross on the wire.
    for (s, ms) in [(Side::A, 100_000), (Side::B, 100_010)] {
        ike_rekey_exactly(&mut w, s, Duration::from_millis(ms));
    }
    establish(&mut w);
    let old = established_ike(&w.a)[0].spis;
    w.must(
        Duration::from_secs(150),
        |w| {
            ike_sas(&w.a).len() == 1
                && ike_sas(&w.b).len() == 1
                && established_ike(&w.a).len() == 1
                && established_ike(&w.b).len() == 1
                && established_ike(&w.a)[0].spis != old
        },
        "IKE SA rekeyed on both sides",
    );
    assert_eq!(established_ike(&w.a)[0].spis, established_ike(&w.b)[0].spis);
    // RFC 7296 section 2.8.2: both answered as usual and the nonces picked the survivor.
    let collided = |p: &Peer| {
        p.events().any(
            |e| matches!(e, Event::Log { message, .. } if message.contains("IKE SA rekey collision")),
        )
    };
    assert!(
        collided(&w.a) && collided(&w.b),
        "the two IKE rekeys did not collide"
    );
    assert_eq!(installed_children(&w.a), 1);
    assert_eq!(installed_children(&w.b), 1);
    for p in [&w.a, &w.b] {
        assert!(failures(p).is_empty(), "{}: {:?}", p.name, failures(p));
    }
}

#[test]
fn kernel_soft_expire_rekeys_and_hard_expire_deletes() {
    let mut w = Pair::default().build(49);
    establish(&mut w);
    let old = first_child(&w.a);
    let now = w.now();
    let dst = w.a.addr.ip();
    w.a.soft_expire(now, old.spi_in);
    w.pump();
    w.must(
        Duration::from_secs(30),
        |w| {
            up_with_children(w, 1)
                && first_child(&w.a).spi_in != old.spi_in
                && w.a.kernel.sas.len() == 2
        },
        "soft expire did not rekey",
    );
    let cur = first_child(&w.a);
    let now = w.now();
    w.a.ep.handle_kernel(
        now,
        KernelEvent::Expire {
            dst,
            spi: cur.spi_in,
            hard: true,
        },
    );
    w.pump();
    w.must(
        Duration::from_secs(30),
        |w| up_with_children(w, 0) && w.a.kernel.is_empty() && w.b.kernel.is_empty(),
        "hard expire did not delete on both sides",
    );
    assert!(
        child_down(&w.a, DownReason::Expired),
        "A: no ChildSaDown(Expired)"
    );
}

#[test]
fn child_life_time_expires_when_rekey_keeps_failing() {
    // PFS mismatch makes every rekey fail: the Child SA dies at life_time, on time.
    let mut p = Pair::default();
    p.a.esp = "aes256gcm16-modp2048".into();
    p.b.esp = "aes256gcm16".into();
    let mut w = p.build(50);
    child_times(&mut w, Side::A, 60, 120);
    child_times(&mut w, Side::B, 900, 1000);
    let t0 = establish(&mut w);
    let t = w.must(
        Duration::from_secs(200),
        |w| up_with_children(w, 0) && w.b.kernel.is_empty(),
        "Child SA deleted at its hard lifetime",
    ) - t0;
    assert!(
        t >= Duration::from_secs(119) && t <= Duration::from_secs(125),
        "deleted after {t:?}"
    );
}

/// Side `s` rekeys its IKE SA exactly `after` its establishment: `rekey_time` without the
/// `rand_time` jitter.
fn ike_rekey_exactly(w: &mut World, s: Side, after: Duration) {
    w.reconfigure(s, |c| {
        c.connections[0].rekey_time = after;
        set_conn_timers(
            c,
            ConnTimers {
                ike_rand_time: Some(Duration::ZERO),
                ..ConnTimers::default()
            },
        );
    });
}

fn tf_logged(p: &Peer) -> bool {
    p.events()
        .any(|e| matches!(e, Event::Log { message, .. } if message.contains("TEMPORARY_FAILURE")))
}

#[test]
fn ike_rekey_colliding_with_child_rekey_resolves() {
    let mut w = Pair::default().build(51);
    // B rekeys the IKE SA and A the Child SA at the same instant (no jitter on either; B is
    // established one link delay before A, which installs its Child SA when it is).
    ike_rekey_exactly(&mut w, Side::B, Duration::from_secs(100));
    w.reconfigure(Side::A, |c| {
        c.connections[0].children[0].rekey_time = Duration::from_millis(99_990);
        c.connections[0].children[0].life_time = Duration::from_secs(1000);
        set_conn_timers(
            c,
            ConnTimers {
                child_rand_time: Some(Duration::ZERO),
                ..ConnTimers::default()
            },
        );
    });
    establish(&mut w);
    let old_ike = established_ike(&w.a)[0].spis;
    let old_child = first_child(&w.a);
    w.must(
        Duration::from_secs(150),
        |w| {
            ike_sas(&w.a).len() == 1
                && ike_sas(&w.b).len() == 1
                && up_with_children(w, 1)
                && established_ike(&w.a)[0].spis != old_ike
                && first_child(&w.a).spi_in != old_child.spi_in
                && w.a.kernel.sas.len() == 2
                && w.b.kernel.sas.len() == 2
        },
        "IKE SA and Child SA rekeyed",
    );
    assert!(
        tf_logged(&w.a) && tf_logged(&w.b),
        "the rekeys did not collide"
    );
    assert_eq!(established_ike(&w.a)[0].spis, established_ike(&w.b)[0].spis);
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2);
    assert_clean(&w.a);
    assert_clean(&w.b);
}

#[test]
fn delete_crossing_a_child_rekey_leaves_nothing_behind() {
    let mut w = Pair::default().build(52);
    establish(&mut w);
    let c = first_child(&w.a);
    // A starts a rekey while B, at the same instant, deletes the Child SA.
    w.soft_expire_crossing(
        c.spi_in,
        Command::TerminateChild {
            conn: B_CONN.into(),
            child: harness::setup::B_CHILD.into(),
        },
    );
    w.must(
        Duration::from_secs(60),
        |w| up_with_children(w, 0) && w.a.kernel.is_empty() && w.b.kernel.is_empty(),
        "Child SA gone on both sides",
    );
    // B refused the rekey of a Child SA it was deleting; A did not resurrect it afterwards.
    assert!(tf_logged(&w.a), "A was not told TEMPORARY_FAILURE");
    w.run_for(Duration::from_secs(30));
    assert!(up_with_children(&w, 0));
    assert_clean(&w.a);
    assert_clean(&w.b);
}

#[test]
fn lost_rekey_and_delete_responses_are_replayed_not_reprocessed() {
    let mut w = Pair::default().build(53);
    establish(&mut w);
    let old = first_child(&w.a);
    // B's next message (the CREATE_CHILD_SA response) and the one after its replay (the
    // response to A's Delete of the old pair) are lost.
    let n = w.link.stats.sent[1];
    w.link.drop_nth[1] = vec![n + 1, n + 3];
    let now = w.now();
    w.a.soft_expire(now, old.spi_in);
    w.pump();
    w.must(
        Duration::from_secs(60),
        |w| child_replaced(w, old.spi_in),
        "Child SA rekeyed after the replays",
    );
    assert!(
        w.link.stats.dropped[1] >= 2,
        "the scripted losses did not happen"
    );
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2);
    for p in [&w.a, &w.b] {
        let inbound_adds = p
            .kernel
            .log
            .iter()
            .filter(|(op, _)| matches!(op, KernelOp::AddSa(s) if s.direction == Direction::In))
            .count();
        assert_eq!(
            inbound_adds, 2,
            "{}: a retransmitted request was processed twice",
            p.name
        );
        assert!(
            p.kernel.errors().is_empty(),
            "{}: {:?}",
            p.name,
            p.kernel.errors()
        );
        assert!(failures(p).is_empty(), "{}: {:?}", p.name, failures(p));
    }
}

#[test]
fn rekeyed_ike_sa_whose_delete_is_lost_goes_away_on_its_own() {
    let mut w = Pair::default().build(54);
    for s in [Side::A, Side::B] {
        w.reconfigure(s, |c| {
            c.settings.retransmit = rswan_ikev2::timer::RetransmitPolicy {
                timeout: Duration::from_secs(1),
                base: 2.0,
                tries: 2,
                limit: None,
            };
        });
    }
    w.reconfigure(Side::A, |c| {
        c.connections[0].rekey_time = Duration::from_secs(100)
    });
    establish(&mut w);
    let old = established_ike(&w.a)[0].spis;
    // A's next datagram is the rekey request; every transmission of the Delete after it is lost.
    let n = w.link.stats.sent[0];
    w.link.drop_nth[0] = (n + 2..n + 5).collect();
    w.must(
        Duration::from_secs(200),
        |w| {
            ike_sas(&w.a).len() == 1
                && ike_sas(&w.b).len() == 1
                && established_ike(&w.b).len() == 1
                && established_ike(&w.b)[0].spis != old
        },
        "B removed the rekeyed IKE SA without its Delete",
    );
    assert_eq!(
        w.link.stats.dropped[0], 3,
        "the Delete was not lost three times"
    );
    for p in [&w.a, &w.b] {
        assert!(
            ike_down(p, DownReason::Rekeyed),
            "{}: no IkeSaDown(Rekeyed)",
            p.name
        );
        assert_eq!(installed_children(p), 1, "{}", p.name);
        assert!(failures(p).is_empty(), "{}: {:?}", p.name, failures(p));
    }
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2);
}

#[test]
fn reauth_time_replaces_the_ike_sa_break_before_make() {
    let mut w = Pair::default().build(55);
    w.reconfigure(Side::A, |c| {
        set_conn_timers(
            c,
            ConnTimers {
                reauth_time: Some(Duration::from_secs(100)),
                ..ConnTimers::default()
            },
        );
    });
    let t0 = establish(&mut w);
    let old = established_ike(&w.a)[0].spis;
    let old_child = first_child(&w.a);
    let t = w.must(
        Duration::from_secs(150),
        |w| up_with_children(w, 1) && established_ike(&w.a)[0].spis != old,
        "IKE SA reauthenticated",
    ) - t0;
    assert!(
        t >= Duration::from_secs(90) && t <= Duration::from_secs(101),
        "reauthenticated after {t:?}"
    );
    // A whole new negotiation: IKE_SA_INIT + IKE_AUTH again, fresh Child SA, old one gone.
    assert_eq!(count(&w.a, |e| matches!(e, Event::IkeSaUp { .. })), 2);
    assert_ne!(first_child(&w.a).spi_in, old_child.spi_in);
    assert_eq!(established_ike(&w.a)[0].spis, established_ike(&w.b)[0].spis);
    assert_eq!(ike_sas(&w.b).len(), 1, "B kept the old IKE SA");
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2);
    assert_clean(&w.a);
    assert_clean(&w.b);
}

#[test]
fn delete_crossing_an_ike_rekey_closes_cleanly() {
    let mut w = Pair::default().build(56);
    // A rekeys the IKE SA at the instant B deletes it: no zero jitter, B's delete issued when
    // A's rekey timer fires.
    ike_rekey_exactly(&mut w, Side::A, Duration::from_secs(100));
    let t0 = establish(&mut w);
    let rekey_at = w.clock.at(t0 + Duration::from_secs(100));
    w.must(Duration::from_secs(200), |w| w.now() >= rekey_at, "clock");
    let now = w.now();
    w.b.ep.handle_command(
        now,
        Command::TerminateIke {
            conn: B_CONN.into(),
        },
    );
    w.pump();
    w.must(Duration::from_secs(60), all_gone, "both sides torn down");
    // The rekey request really went out and crossed the Delete (exchange type 36 in octet 18).
    let create_child_sa = |p: &Peer| {
        p.sent
            .iter()
            .filter(|(_, d)| d.bytes.get(18) == Some(&36))
            .count()
    };
    assert_eq!(create_child_sa(&w.a), 1, "A's rekey request");
    assert_eq!(create_child_sa(&w.b), 1, "B's TEMPORARY_FAILURE answer");
    for p in [&w.a, &w.b] {
        assert_clean(p);
        assert_eq!(
            count(p, |e| matches!(e, Event::IkeSaUp { .. })),
            1,
            "{}",
            p.name
        );
    }
}
