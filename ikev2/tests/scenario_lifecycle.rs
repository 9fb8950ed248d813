//! After establishment: Delete of the Child SA and of the IKE SA from either side, and liveness
//! checks in both directions.

mod harness;

use std::time::Duration;

use rswan_ikev2::event::{DownReason, Event};
use rswan_ikev2::output::Command;

use harness::setup::{A_CHILD, A_CONN, B_CHILD, B_CONN};
use harness::*;

fn conn_child(s: Side) -> (&'static str, &'static str) {
    match s {
        Side::A => (A_CONN, A_CHILD),
        Side::B => (B_CONN, B_CHILD),
    }
}

fn other(s: Side) -> Side {
    match s {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

/// Side `s` deleted and the other side was told: `down` reported LocalDelete on `s` and
/// PeerDelete on the other (`event` names it for the failure message); neither kernel refused an
/// operation.
fn assert_deleted_from(w: &mut World, s: Side, down: fn(&Peer, DownReason) -> bool, event: &str) {
    assert!(
        down(w.peer(s), DownReason::LocalDelete),
        "initiating side: no local {event}"
    );
    assert!(
        down(w.peer(other(s)), DownReason::PeerDelete),
        "other side: no peer {event}"
    );
    for p in [&w.a, &w.b] {
        assert!(
            p.kernel.errors().is_empty(),
            "{}: {:?}",
            p.name,
            p.kernel.errors()
        );
    }
}

fn delete_child_from(s: Side) {
    let mut w = Pair::default().build(20);
    establish(&mut w);
    let (conn, child) = conn_child(s);
    w.command(
        s,
        Command::TerminateChild {
            conn: conn.into(),
            child: child.into(),
        },
    );
    w.must(
        Duration::from_secs(30),
        |w| up_with_children(w, 0) && w.a.kernel.is_empty() && w.b.kernel.is_empty(),
        "Child SA deleted on both sides, IKE SA kept",
    );
    // Both sides still hold the IKE SA, and said why the child went.
    assert_deleted_from(&mut w, s, child_down, "ChildSaDown");
    for p in [&w.a, &w.b] {
        assert_eq!(
            count(p, |e| matches!(e, Event::IkeSaDown { .. })),
            0,
            "{}",
            p.name
        );
    }
    // The IKE SA is still usable: a liveness check gets its answer.
    let before = w.b.sent.len() + w.a.sent.len();
    w.command(
        Side::A,
        Command::Liveness {
            conn: A_CONN.into(),
        },
    );
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.b.sent.len() + w.a.sent.len(), before + 2);
}

fn delete_ike_from(s: Side) {
    let mut w = Pair::default().build(21);
    establish(&mut w);
    let (conn, _) = conn_child(s);
    w.command(s, Command::TerminateIke { conn: conn.into() });
    w.must(
        Duration::from_secs(30),
        all_gone,
        "IKE SA deleted on both sides",
    );
    assert_deleted_from(&mut w, s, ike_down, "IkeSaDown");
    for p in [&w.a, &w.b] {
        assert_eq!(
            count(p, |e| matches!(e, Event::ChildSaDown { .. })),
            1,
            "{}",
            p.name
        );
    }
    // Nothing is scheduled for a connection that is gone.
    let sent = (w.a.sent.len(), w.b.sent.len());
    w.run_for(Duration::from_secs(600));
    assert_eq!((w.a.sent.len(), w.b.sent.len()), sent);
}

#[test]
fn delete_child_from_initiator_removes_kernel_state_on_both() {
    delete_child_from(Side::A);
}

#[test]
fn delete_child_from_responder_removes_kernel_state_on_both() {
    delete_child_from(Side::B);
}

#[test]
fn delete_ike_from_initiator_removes_everything_on_both() {
    delete_ike_from(Side::A);
}

#[test]
fn delete_ike_from_responder_removes_everything_on_both() {
    delete_ike_from(Side::B);
}

fn liveness_from(s: Side) {
    let mut w = Pair::default().build(22);
    establish(&mut w);
    w.run_for(Duration::from_secs(60));
    let (conn, _) = conn_child(s);
    let before = (w.peer(s).sent.len(), w.peer(other(s)).sent.len());
    let t0 = w.now();
    w.command(s, Command::Liveness { conn: conn.into() });
    w.run_for(Duration::from_secs(5));
    // One request, one response, no retransmission.
    assert_eq!(
        (w.peer(s).sent.len(), w.peer(other(s)).sent.len()),
        (before.0 + 1, before.1 + 1)
    );
    // The checking side saw the peer alive just now; nothing else changed.
    let ike = established_ike(w.peer(s));
    assert_eq!(ike.len(), 1);
    let seen = ike[0].last_peer_message.expect("no last_peer_message");
    assert!(
        seen > t0 && seen < t0 + Duration::from_secs(1),
        "last seen {:?} after the check",
        seen - t0
    );
    assert_established(&w);
}

#[test]
fn liveness_check_from_initiator_is_answered() {
    liveness_from(Side::A);
}

#[test]
fn liveness_check_from_responder_is_answered() {
    liveness_from(Side::B);
}

#[test]
fn shutdown_deletes_everything_on_both_sides() {
    let mut w = Pair::default().build(23);
    establish(&mut w);
    w.command(Side::B, Command::Shutdown);
    w.run_for(Duration::from_secs(30));
    for p in [&w.a, &w.b] {
        assert!(
            p.kernel.is_empty(),
            "{}: {:?} {:?}",
            p.name,
            p.kernel.sas.keys(),
            p.kernel.policies
        );
        assert!(ike_sas(p).is_empty(), "{}: {:?}", p.name, ike_sas(p));
    }
}

/// Terminating towards a peer that no longer answers still removes our own kernel state: the
/// Delete is retransmitted on the usual schedule, then the IKE SA is given up.
#[test]
fn terminate_towards_a_silent_peer_still_cleans_up_locally() {
    let mut w = Pair::default().build(24);
    establish(&mut w);
    w.link.dir[0].blackhole = true;
    let first = w.a.sent.len();
    w.command(
        Side::A,
        Command::TerminateIke {
            conn: A_CONN.into(),
        },
    );
    w.must(
        Duration::from_secs(400),
        |w| ike_sas(&w.a).is_empty() && w.a.kernel.is_empty(),
        "A removed its IKE SA and kernel state",
    );
    assert!(w.a.sent.len() - first >= 1, "no Delete sent");
    assert!(
        w.a.sent.len() - first <= 6,
        "more than the retransmit budget of Deletes"
    );
    w.run_for(Duration::from_secs(600));
    assert!(w.a.sent.len() - first <= 6);
    assert!(w.a.kernel.errors().is_empty(), "{:?}", w.a.kernel.errors());
}
