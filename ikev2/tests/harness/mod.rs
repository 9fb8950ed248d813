#![allow(dead_code)] // shared by several test binaries, each using a subset
//! Deterministic two-peer harness: two protocol cores joined by an in-memory lossy link under a
//! virtual clock, each with a model kernel. See `world.rs` for the driver loop.

pub mod certs;
pub mod clock;
pub mod kernel;
pub mod link;
pub mod setup;
pub mod world;

use std::time::Duration;

use rswan_ikev2::event::{DownReason, Event, FailureReason};
use rswan_ikev2::output::Direction;
use rswan_ikev2::sa::status::{ChildSaStatus, ChildStatusState, IkeSaStatus, IkeStatusState};

#[allow(unused_imports)]
pub use kernel::assert_mirrored;
#[allow(unused_imports)]
pub use link::Impairment;
#[allow(unused_imports)]
pub use setup::{net, Pair};
#[allow(unused_imports)]
pub use world::{Peer, Side, Stop, World};

/// Long enough for any establishment including the full retransmit budget (about 165 s).
pub const ESTABLISH_LIMIT: Duration = Duration::from_secs(200);

/// The IKE SAs this peer's `status()` shows, across all connections.
pub fn ike_sas(p: &Peer) -> Vec<IkeSaStatus> {
    p.ep.status()
        .connections
        .into_iter()
        .flat_map(|c| c.ike_sas)
        .collect()
}

pub fn established_ike(p: &Peer) -> Vec<IkeSaStatus> {
    ike_sas(p)
        .into_iter()
        .filter(|s| s.state == IkeStatusState::Established)
        .collect()
}

/// Child SAs shown as INSTALLED by `status()`.
pub fn installed_children(p: &Peer) -> usize {
    ike_sas(p)
        .iter()
        .flat_map(|s| s.children.iter())
        .filter(|c| c.state == ChildStatusState::Installed)
        .count()
}

/// Both peers show an established IKE SA with `children` installed Child SAs.
pub fn up_with_children(w: &World, children: usize) -> bool {
    for p in [&w.a, &w.b] {
        if established_ike(p).len() != 1 || installed_children(p) != children {
            return false;
        }
    }
    true
}

pub fn both_up(w: &World) -> bool {
    up_with_children(w, 1)
}

/// The first Child SA of this peer's established IKE SA, as `status()` shows it. Panics (the test
/// fails) if there is none.
pub fn first_child(p: &Peer) -> ChildSaStatus {
    established_ike(p)[0].children[0].clone()
}

/// The one Child SA was replaced: both peers are up with one Child SA, A's inbound SPI is no longer
/// `old_spi_in`, and each kernel holds only the new pair (the old one is deleted).
pub fn child_replaced(w: &World, old_spi_in: u32) -> bool {
    up_with_children(w, 1)
        && first_child(&w.a).spi_in != old_spi_in
        && w.a.kernel.sas.len() == 2
        && w.b.kernel.sas.len() == 2
}

/// Neither peer holds an IKE SA or any kernel state.
pub fn all_gone(w: &World) -> bool {
    ike_sas(&w.a).is_empty()
        && ike_sas(&w.b).is_empty()
        && w.a.kernel.is_empty()
        && w.b.kernel.is_empty()
}

/// The failures this peer reported, in order.
pub fn failures(p: &Peer) -> Vec<&FailureReason> {
    p.events()
        .filter_map(|e| match e {
            Event::NegotiationFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

pub fn count<F: Fn(&Event) -> bool>(p: &Peer, f: F) -> usize {
    p.events().filter(|e| f(e)).count()
}

pub fn has_failed(p: &Peer) -> bool {
    !failures(p).is_empty()
}

/// How many Child SAs this peer reported going down for `reason`.
pub fn child_downs(p: &Peer, reason: DownReason) -> usize {
    count(
        p,
        |e| matches!(e, Event::ChildSaDown { reason: r, .. } if *r == reason),
    )
}

/// How many IKE SAs this peer reported going down for `reason`.
pub fn ike_sa_downs(p: &Peer, reason: DownReason) -> usize {
    count(
        p,
        |e| matches!(e, Event::IkeSaDown { reason: r, .. } if *r == reason),
    )
}

/// Whether this peer reported a Child SA going down for `reason`.
pub fn child_down(p: &Peer, reason: DownReason) -> bool {
    child_downs(p, reason) > 0
}

/// Whether this peer reported an IKE SA going down for `reason`.
pub fn ike_down(p: &Peer, reason: DownReason) -> bool {
    ike_sa_downs(p, reason) > 0
}

/// Sets the swanctl timer knobs (`rand_time`, `over_time`, `dpd_mode`, `reauth_time`) of the
/// configuration's first connection.
pub fn set_conn_timers(c: &mut rswan_ikev2::Config, t: rswan_ikev2::timer::ConnTimers) {
    let name = c.connections[0].name.clone();
    c.settings.conn_timers.insert(name, t);
}

/// Asserts that this peer reported no failure and that its kernel refused no operation.
pub fn assert_clean(p: &Peer) {
    assert!(
        failures(p).is_empty(),
        "{}: failures {:?}",
        p.name,
        failures(p)
    );
    assert!(
        p.kernel.errors().is_empty(),
        "{}: kernel refused {:?}",
        p.name,
        p.kernel.errors()
    );
}

/// Runs to establishment and asserts everything a user would check afterwards: `status()` on
/// both sides, the up events naming each side's own connection, and mirrored kernel state with one
/// inbound and one outbound SA per side plus the policies for the configured selectors.
pub fn establish(w: &mut World) -> Duration {
    establish_from(w, Side::A)
}

pub fn establish_from(w: &mut World, s: Side) -> Duration {
    let conn = if s == Side::A {
        setup::A_CONN
    } else {
        setup::B_CONN
    };
    w.initiate(s, conn);
    let t = w
        .run_until(ESTABLISH_LIMIT, both_up)
        .unwrap_or_else(|stop| {
            panic!(
                "no establishment ({stop:?}); A failures {:?}; B failures {:?}",
                failures(&w.a),
                failures(&w.b)
            )
        });
    assert_established(w);
    t
}

pub fn assert_established(w: &World) {
    assert_established_tolerating(w, |_| false);
}

/// As [`assert_established`], but failures for which `tolerated` holds may have been reported on
/// the way (e.g. a responder's half-open SA timing out while the initiator's requests were lost).
pub fn assert_established_tolerating(w: &World, tolerated: impl Fn(&FailureReason) -> bool) {
    let a_init = w.initiator == Side::A;
    for (p, conn, initiator) in [
        (&w.a, setup::A_CONN, a_init),
        (&w.b, setup::B_CONN, !a_init),
    ] {
        let ike = established_ike(p);
        assert_eq!(ike.len(), 1, "{}: {:?}", p.name, ike);
        assert_eq!(ike[0].initiator, initiator, "{}: wrong role", p.name);
        assert!(
            ike[0].algorithms.is_some(),
            "{}: established without algorithms",
            p.name
        );
        assert!(
            count(
                p,
                |e| matches!(e, Event::IkeSaUp { conn: c, .. } if c == conn)
            ) == 1,
            "{}: expected exactly one IkeSaUp for {conn}",
            p.name
        );
        assert_eq!(
            count(p, |e| matches!(e, Event::ChildSaUp { .. })),
            1,
            "{}: ChildSaUp count",
            p.name
        );
        let unexpected: Vec<_> = failures(p).into_iter().filter(|r| !tolerated(r)).collect();
        assert!(
            unexpected.is_empty(),
            "{}: unexpected failures {unexpected:?}",
            p.name
        );
        assert_eq!(
            p.kernel.sas_dir(Direction::In).len(),
            1,
            "{}: inbound SAs",
            p.name
        );
        assert_eq!(
            p.kernel.sas_dir(Direction::Out).len(),
            1,
            "{}: outbound SAs",
            p.name
        );
        assert!(
            p.kernel.errors().is_empty(),
            "{}: kernel refused {:?}",
            p.name,
            p.kernel.errors()
        );
    }
    // The IKE SPIs are the same pair on both sides.
    assert_eq!(established_ike(&w.a)[0].spis, established_ike(&w.b)[0].spis);
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2);
    // The Child SA SPIs status shows are the ones in the kernel, crossed between the peers.
    let ca = &established_ike(&w.a)[0].children[0];
    let cb = &established_ike(&w.b)[0].children[0];
    assert_eq!((ca.spi_in, ca.spi_out), (cb.spi_out, cb.spi_in));
    assert_eq!(w.a.kernel.sas_dir(Direction::In)[0].spi, ca.spi_in);
    assert_eq!(w.a.kernel.sas_dir(Direction::Out)[0].spi, ca.spi_out);
}

/// Asserts that `k` holds exactly the policies of one Child SA between `local` and `remote`:
/// out local->remote, in remote->local and, in tunnel mode, fwd remote->local.
pub fn assert_policies(
    p: &Peer,
    local: &rswan_ikev2::wire::ts::TrafficSelector,
    remote: &rswan_ikev2::wire::ts::TrafficSelector,
    tunnel: bool,
) {
    let k = &p.kernel;
    assert!(
        k.policy(local, remote, Direction::Out).is_some(),
        "{}: no out policy {local} -> {remote}: {:?}",
        p.name,
        k.policies
    );
    assert!(
        k.policy(remote, local, Direction::In).is_some(),
        "{}: no in policy {remote} -> {local}: {:?}",
        p.name,
        k.policies
    );
    assert_eq!(
        k.policy(remote, local, Direction::Fwd).is_some(),
        tunnel,
        "{}: fwd policy presence must match tunnel mode ({tunnel}): {:?}",
        p.name,
        k.policies
    );
    assert_eq!(
        k.policies.len(),
        if tunnel { 3 } else { 2 },
        "{}: {:?}",
        p.name,
        k.policies
    );
}
