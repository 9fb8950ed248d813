//! Rekey collisions in the two-peer harness (RFC 7296 sections 2.8.1, 2.8.2 and 2.25), the way
//! strongSwan resolves them: crossing Child SA rekeys and crossing IKE SA rekeys both complete
//! and the exchange holding the lowest nonce loses; a Child SA rekey crossing an IKE SA rekey is
//! answered TEMPORARY_FAILURE and retried (on the new IKE SA); a Delete crossing a rekey aborts
//! it without leaving anything behind; lost responses are replayed, never reprocessed.
//! Each collision runs over several seeds so that each side ends up the loser at least once.

mod harness;

use std::collections::BTreeSet;
use std::time::Duration;

use rswan_ikev2::config::Config;
use rswan_ikev2::event::{DownReason, Event, IkeSpis};
use rswan_ikev2::output::{Command, Direction, KernelOp};
use rswan_ikev2::sa::status::ChildSaStatus;

use harness::setup::{A_CHILD, A_CONN, B_CHILD, B_CONN};
use harness::*;

const CREATE_CHILD_SA: u8 = 36;
const INFORMATIONAL: u8 = 37;

/// The IKE header fields a test needs from a datagram it saw on the wire.
struct Wire {
    spis: IkeSpis,
    exchange: u8,
    response: bool,
}

fn wire(bytes: &[u8]) -> Wire {
    let u64_at = |o: usize| u64::from_be_bytes(bytes[o..o + 8].try_into().expect("8 octets"));
    Wire {
        spis: IkeSpis {
            initiator: u64_at(0),
            responder: u64_at(8),
        },
        exchange: bytes[18],
        response: bytes[19] & 0x20 != 0,
    }
}

/// Requests of `exchange` this peer sent at or after virtual time `from`, with their SPIs.
fn requests(p: &Peer, exchange: u8, from: Duration) -> Vec<(Duration, IkeSpis)> {
    p.sent
        .iter()
        .filter(|(t, d)| *t >= from && d.bytes.len() > 28)
        .map(|(t, d)| (*t, wire(&d.bytes)))
        .filter(|(_, w)| w.exchange == exchange && !w.response)
        .map(|(t, w)| (t, w.spis))
        .collect()
}

/// Set COLLISIONS_TRACE to see every event and datagram of a failing run.
fn trace() -> bool {
    std::env::var_os("COLLISIONS_TRACE").is_some()
}

/// IKE SA rekey after `rekey_ms`, without jitter, so that a test knows the instant.
fn ike_rekey_at(w: &mut World, s: Side, rekey_ms: u64) {
    w.reconfigure(s, |c| {
        c.connections[0].rekey_time = Duration::from_millis(rekey_ms);
        let name = c.connections[0].name.clone();
        let t = c.settings.conn_timers.entry(name).or_default();
        t.ike_rand_time = Some(Duration::ZERO);
    });
}

fn logged(p: &Peer, text: &str) -> bool {
    p.events()
        .any(|e| matches!(e, Event::Log { message, .. } if message.contains(text)))
}

fn dropped(p: &Peer) -> usize {
    count(p, |e| matches!(e, Event::Dropped { .. }))
}

fn ike_downs(p: &Peer, spis: IkeSpis) -> Vec<DownReason> {
    p.events()
        .filter_map(|e| match e {
            Event::IkeSaDown {
                spis: s, reason, ..
            } if *s == spis => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn kernel_spis(p: &Peer) -> BTreeSet<u32> {
    p.kernel.sas.values().map(|s| s.spi).collect()
}

fn added(p: &Peer, dir: Direction) -> Vec<u32> {
    p.kernel
        .log
        .iter()
        .filter_map(|(op, _)| match op {
            KernelOp::AddSa(s) if s.direction == dir => Some(s.spi),
            _ => None,
        })
        .collect()
}

fn deletes_of(p: &Peer, spi: u32) -> usize {
    p.kernel
        .log
        .iter()
        .filter(|(op, _)| matches!(op, KernelOp::DeleteSa { spi: s, .. } if *s == spi))
        .count()
}

/// One IKE SA and one Child SA per side, both views agreeing on every SPI, the kernels holding
/// exactly that SA pair (mirrored, same keys) and the three tunnel policies, nothing refused,
/// traffic never interrupted, no failure reported.
fn assert_one_child_consistent(w: &World, ctx: &str) {
    w.check(|w| up_with_children(w, 1), ctx);
    for p in [&w.a, &w.b] {
        assert_eq!(ike_sas(p).len(), 1, "{ctx}: {}: {:?}", p.name, ike_sas(p));
        assert_eq!(established_ike(p)[0].children.len(), 1, "{ctx}: {}", p.name);
        assert!(
            p.kernel.errors().is_empty(),
            "{ctx}: {}: {:?}",
            p.name,
            p.kernel.errors()
        );
        assert_eq!(p.kernel.hard_expired, 0, "{ctx}: {}: traffic cut", p.name);
        assert_eq!(p.kernel.policies.len(), 3, "{ctx}: {}", p.name);
        assert!(
            failures(p).is_empty(),
            "{ctx}: {}: {:?}",
            p.name,
            failures(p)
        );
    }
    assert_eq!(
        established_ike(&w.a)[0].spis,
        established_ike(&w.b)[0].spis,
        "{ctx}"
    );
    assert_eq!(assert_mirrored(&w.a.kernel, &w.b.kernel), 2, "{ctx}");
    let (ca, cb) = (first_child(&w.a), first_child(&w.b));
    assert_eq!((ca.spi_in, ca.spi_out), (cb.spi_out, cb.spi_in), "{ctx}");
    assert_eq!(kernel_spis(&w.a), BTreeSet::from([ca.spi_in, ca.spi_out]));
    // Each side only ever sent on SAs the peer had installed inbound (make-before-break).
    for (x, y) in [(&w.a, &w.b), (&w.b, &w.a)] {
        let inbound: BTreeSet<u32> = added(y, Direction::In).into_iter().collect();
        for spi in added(x, Direction::Out) {
            assert!(
                inbound.contains(&spi),
                "{ctx}: {} sent on {spi:08x}, never installed by {}",
                x.name,
                y.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Child SA / Child SA (RFC 7296 section 2.8.1)
// ---------------------------------------------------------------------------------------------

/// Both kernels report the soft lifetime of the same Child SA at the same instant, so the two
/// CREATE_CHILD_SA requests cross on the wire.
fn crossing_child_rekeys(w: &mut World) -> ChildSaStatus {
    let old = first_child(&w.a);
    let now = w.now();
    w.a.soft_expire(now, old.spi_in);
    w.b.soft_expire(now, old.spi_out);
    w.pump();
    old
}

/// The inbound SPI of the Child SA this peer created as initiator of a rekey ("rekeyed child
/// 'x': ..." precedes its ChildSaUp) or as responder ("... for the peer").
fn rekeyed_spi_in(p: &Peer, as_responder: bool) -> Option<u32> {
    let mut armed = false;
    for e in p.events() {
        match e {
            Event::Log { message, .. } if message.starts_with("rekeyed child") => {
                armed = message.contains("for the peer") == as_responder;
            }
            Event::ChildSaUp { spi_in, .. } if armed => return Some(*spi_in),
            _ => {}
        }
    }
    None
}

/// Whether this peer found its own rekey redundant (None: it saw no collision).
fn child_verdict(p: &Peer) -> Option<bool> {
    p.events().find_map(|e| match e {
        Event::Log { message, .. } if message.contains("rekey collision, the") => {
            Some(message.contains("local rekey is redundant"))
        }
        _ => None,
    })
}

#[test]
fn crossing_child_rekeys_keep_the_pair_of_the_highest_nonce_exchange_either_side_losing() {
    let mut losers = BTreeSet::new();
    for seed in 200..212 {
        let ctx = format!("seed {seed}");
        let mut w = Pair::default().build(seed);
        w.trace = trace();
        establish(&mut w);
        let old = crossing_child_rekeys(&mut w);
        w.run_for(Duration::from_secs(30));
        assert_one_child_consistent(&w, &ctx);
        let (va, vb) = (child_verdict(&w.a), child_verdict(&w.b));
        let a_lost = va.unwrap_or_else(|| panic!("{ctx}: A saw no collision"));
        assert_eq!(
            Some(!a_lost),
            vb,
            "{ctx}: both sides must pick the same redundant pair"
        );
        let (winner, loser) = if a_lost { (&w.b, &w.a) } else { (&w.a, &w.b) };
        losers.insert(loser.name);
        // The survivor is the pair the winner's exchange created: the winner's own inbound SPI
        // from its request, which the loser installed as responder.
        let survivor = first_child(winner).spi_in;
        assert_eq!(rekeyed_spi_in(winner, false), Some(survivor), "{ctx}");
        assert_eq!(
            rekeyed_spi_in(loser, true),
            Some(first_child(loser).spi_in),
            "{ctx}"
        );
        for p in [&w.a, &w.b] {
            // First Child SA, plus one per crossing exchange; two of them gone as rekeyed.
            assert_eq!(count(p, |e| matches!(e, Event::ChildSaUp { .. })), 3);
            assert_eq!(
                child_downs(p, DownReason::Rekeyed),
                2,
                "{ctx}: {}: old and redundant pair",
                p.name
            );
            // The old pair is deleted exactly once, inbound and outbound.
            let (oi, oo) = if p.name == "A" {
                (old.spi_in, old.spi_out)
            } else {
                (old.spi_out, old.spi_in)
            };
            assert_eq!((deletes_of(p, oi), deletes_of(p, oo)), (1, 1), "{ctx}");
            assert!(!logged(p, "TEMPORARY_FAILURE"), "{ctx}: {}", p.name);
        }
        // The winner never sent on the redundant pair: its outbound SA stayed held back.
        let redundant_out = rekeyed_spi_in(loser, false).expect("loser's own pair");
        assert!(
            !added(winner, Direction::Out).contains(&redundant_out),
            "{ctx}: the winner installed the redundant outbound SA"
        );
    }
    assert_eq!(
        losers,
        BTreeSet::from(["A", "B"]),
        "the seeds must cover both nonce orderings"
    );
}

#[test]
fn crossing_child_rekeys_survive_a_lost_create_child_sa_response() {
    for seed in 212..218 {
        let ctx = format!("seed {seed}");
        let mut w = Pair::default().build(seed);
        w.trace = trace();
        establish(&mut w);
        // B's next datagram is its own rekey request, the one after it the response to A's.
        let n = w.link.stats.sent[1];
        w.link.drop_nth[1] = vec![n + 2];
        crossing_child_rekeys(&mut w);
        w.run_for(Duration::from_secs(60));
        assert_eq!(
            w.link.stats.dropped[1], 1,
            "{ctx}: the response was not lost"
        );
        assert_one_child_consistent(&w, &ctx);
        for p in [&w.a, &w.b] {
            // A replayed response is not a second exchange: at most one inbound SA per
            // exchange, none twice.
            let ins = added(p, Direction::In);
            let unique: BTreeSet<u32> = ins.iter().copied().collect();
            assert!(
                ins.len() <= 3 && unique.len() == ins.len(),
                "{ctx}: {}: {ins:x?}",
                p.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// IKE SA / IKE SA (RFC 7296 section 2.8.2)
// ---------------------------------------------------------------------------------------------

/// Both IKE SA rekey timers fire at the same instant (B is established one link delay before A,
/// so it waits that much longer), the two CREATE_CHILD_SA requests cross. Returns the old SPIs.
fn crossing_ike_rekeys(seed: u64) -> (World, IkeSpis) {
    crossing_ike_rekeys_with(seed, |_| {})
}

/// As [`crossing_ike_rekeys`], with a further change to both configurations.
fn crossing_ike_rekeys_with(seed: u64, f: impl Fn(&mut Config)) -> (World, IkeSpis) {
    let mut w = Pair::default().build(seed);
    w.trace = trace();
    ike_rekey_at(&mut w, Side::A, 100_000);
    ike_rekey_at(&mut w, Side::B, 100_010);
    w.reconfigure(Side::A, &f);
    w.reconfigure(Side::B, &f);
    establish(&mut w);
    let old = established_ike(&w.a)[0].spis;
    (w, old)
}

fn ike_verdict(p: &Peer) -> Option<bool> {
    p.events().find_map(|e| match e {
        Event::Log { message, .. } if message.contains("IKE SA rekey collision lost") => Some(true),
        Event::Log { message, .. } if message.contains("IKE SA rekey collision won") => Some(false),
        _ => None,
    })
}

/// After an IKE rekey: one IKE SA per side with the same (new) SPIs, the Child SA untouched in
/// both kernels (no kernel operation since `kernel_ops`), and it now belongs to the new IKE SA:
/// deleting that removes it on both sides.
fn assert_ike_replaced(mut w: World, old: IkeSpis, kernel_ops: (usize, usize), ctx: &str) {
    assert_one_child_consistent(&w, ctx);
    let new = established_ike(&w.a)[0].spis;
    assert_ne!(new, old, "{ctx}: not rekeyed");
    assert_eq!(
        (w.a.kernel.log.len(), w.b.kernel.log.len()),
        kernel_ops,
        "{ctx}: an IKE rekey must not touch the kernel"
    );
    for p in [&w.a, &w.b] {
        assert_eq!(
            ike_downs(p, old),
            vec![DownReason::Rekeyed],
            "{ctx}: {}: the old IKE SA goes once",
            p.name
        );
    }
    w.command(
        Side::A,
        Command::TerminateIke {
            conn: A_CONN.into(),
        },
    );
    w.run_for(Duration::from_secs(30));
    for p in [&w.a, &w.b] {
        assert!(ike_sas(p).is_empty(), "{ctx}: {}: {:?}", p.name, ike_sas(p));
        assert!(p.kernel.is_empty(), "{ctx}: {} keeps kernel state", p.name);
    }
}

#[test]
fn crossing_ike_rekeys_keep_the_highest_nonce_ike_sa_either_side_losing() {
    let mut losers = BTreeSet::new();
    for seed in 220..232 {
        let ctx = format!("seed {seed}");
        let (mut w, old) = crossing_ike_rekeys(seed);
        let ops = (w.a.kernel.log.len(), w.b.kernel.log.len());
        let t0 = w.elapsed();
        w.run_for(Duration::from_secs(120));
        // Proof of the crossing: both sent their rekey request on the old SA at one instant.
        let (ra, rb) = (
            requests(&w.a, CREATE_CHILD_SA, t0),
            requests(&w.b, CREATE_CHILD_SA, t0),
        );
        assert_eq!((ra.len(), rb.len()), (1, 1), "{ctx}: one request each");
        assert_eq!((ra[0].0, ra[0].1), (rb[0].0, old), "{ctx}: no crossing");
        let a_lost = ike_verdict(&w.a).unwrap_or_else(|| panic!("{ctx}: A saw no collision"));
        assert_eq!(
            ike_verdict(&w.b),
            Some(!a_lost),
            "{ctx}: verdicts must differ"
        );
        let (winner, loser) = if a_lost { (&w.b, &w.a) } else { (&w.a, &w.b) };
        losers.insert(loser.name);
        // The survivor is the winner's: it initiated it.
        assert!(established_ike(winner)[0].initiator, "{ctx}");
        assert!(!established_ike(loser)[0].initiator, "{ctx}");
        for p in [&w.a, &w.b] {
            assert!(!logged(p, "TEMPORARY_FAILURE"), "{ctx}: {}", p.name);
            assert_eq!(dropped(p), 0, "{ctx}: {}: a message went astray", p.name);
            // Initial, survivor and redundant SA came up; old and redundant went as rekeyed.
            assert_eq!(count(p, |e| matches!(e, Event::IkeSaUp { .. })), 3);
            assert_eq!(ike_sa_downs(p, DownReason::Rekeyed), 2, "{ctx}: {}", p.name);
        }
        // Only the winner deleted the old IKE SA, only the loser its redundant one.
        let deletes = |p: &Peer| requests(p, INFORMATIONAL, t0);
        let survivor = established_ike(&w.a)[0].spis;
        let (dw, dl) = (deletes(winner), deletes(loser));
        assert_eq!(dw.len(), 1, "{ctx}: winner's INFORMATIONAL requests {dw:?}");
        assert_eq!(dw[0].1, old, "{ctx}: the winner deletes the old IKE SA");
        assert_eq!(dl.len(), 1, "{ctx}: loser's INFORMATIONAL requests {dl:?}");
        assert!(
            dl[0].1 != old && dl[0].1 != survivor,
            "{ctx}: the loser deletes its own"
        );
        assert_ike_replaced(w, old, ops, &ctx);
    }
    assert_eq!(
        losers,
        BTreeSet::from(["A", "B"]),
        "the seeds must cover both nonce orderings"
    );
}

#[test]
fn crossing_ike_rekeys_survive_a_lost_rekey_response() {
    for seed in 232..238 {
        let ctx = format!("seed {seed}");
        let (mut w, old) = crossing_ike_rekeys(seed);
        let ops = (w.a.kernel.log.len(), w.b.kernel.log.len());
        // B's next datagram is its rekey request, the one after it its response to A's.
        let n = w.link.stats.sent[1];
        w.link.drop_nth[1] = vec![n + 2];
        // Long enough for a redundant SA whose creator abandoned it to time out.
        w.run_for(Duration::from_secs(200));
        assert_eq!(
            w.link.stats.dropped[1], 1,
            "{ctx}: the response was not lost"
        );
        assert!(
            logged(&w.a, "IKE SA rekey collision"),
            "{ctx}: no collision"
        );
        for p in [&w.a, &w.b] {
            // One successor and at most one redundant SA: a replay creates nothing.
            let ups = count(p, |e| matches!(e, Event::IkeSaUp { .. }));
            assert!((2..=3).contains(&ups), "{ctx}: {}: {ups} IkeSaUp", p.name);
        }
        assert_ike_replaced(w, old, ops, &ctx);
    }
}

/// Only B notices the collision: its own request is lost, so A's rekey completes on A's side
/// before A ever sees B's. B then learns either from A's Delete of the old IKE SA or, when that
/// is lost too, from the TEMPORARY_FAILURE A answers to B's retransmitted request; either way
/// A's new IKE SA takes over on B (RFC 7296 section 2.8.2, last paragraph).
fn collision_noticed_by_one_side(lose_deletes: bool) {
    for seed in 240..244 {
        let ctx = format!("seed {seed}, Deletes lost: {lose_deletes}");
        let (mut w, old) = crossing_ike_rekeys(seed);
        let ops = (w.a.kernel.log.len(), w.b.kernel.log.len());
        let (na, nb) = (w.link.stats.sent[0], w.link.stats.sent[1]);
        w.link.drop_nth[1] = vec![nb + 1];
        // A sends its rekey request and (having nothing to answer) the Delete of the old SA;
        // with `lose_deletes` that and its first retransmission (A's fourth datagram, after
        // the TEMPORARY_FAILURE answer to B's retransmitted request) are lost.
        if lose_deletes {
            w.link.drop_nth[0] = vec![na + 2, na + 4];
        }
        w.run_for(Duration::from_secs(120));
        assert!(
            logged(&w.b, "the peer's IKE SA"),
            "{ctx}: B did not adopt A's IKE SA"
        );
        assert!(ike_verdict(&w.a).is_none() && ike_verdict(&w.b).is_none());
        assert!(!logged(&w.a, "IKE SA rekey collision"), "{ctx}: A noticed");
        assert!(established_ike(&w.a)[0].initiator, "{ctx}: A's SA survives");
        if lose_deletes {
            assert!(
                logged(&w.b, "answered with TEMPORARY_FAILURE"),
                "{ctx}: B's retransmission was not refused"
            );
        }
        for p in [&w.a, &w.b] {
            assert_eq!(count(p, |e| matches!(e, Event::IkeSaUp { .. })), 2);
        }
        assert_ike_replaced(w, old, ops, &ctx);
    }
}

#[test]
fn ike_rekey_collision_noticed_by_one_side_ends_with_the_other_sides_ike_sa() {
    collision_noticed_by_one_side(false);
}

#[test]
fn ike_rekey_collision_noticed_by_one_side_resolves_through_temporary_failure() {
    collision_noticed_by_one_side(true);
}

#[test]
fn lost_ike_rekey_response_is_replayed_not_reprocessed() {
    let mut w = Pair::default().build(245);
    ike_rekey_at(&mut w, Side::A, 100_000);
    establish(&mut w);
    let old = established_ike(&w.a)[0].spis;
    let ops = (w.a.kernel.log.len(), w.b.kernel.log.len());
    let n = w.link.stats.sent[1];
    w.link.drop_nth[1] = vec![n + 1, n + 2];
    w.run_for(Duration::from_secs(130));
    assert_eq!(w.link.stats.dropped[1], 2);
    // A retransmitted twice; B answered each time from its cache: one new IKE SA on B.
    assert_eq!(requests(&w.a, CREATE_CHILD_SA, Duration::ZERO).len(), 3);
    for p in [&w.a, &w.b] {
        assert_eq!(
            count(p, |e| matches!(e, Event::IkeSaUp { .. })),
            2,
            "{}",
            p.name
        );
    }
    assert_ike_replaced(w, old, ops, "lost response");
}

// ---------------------------------------------------------------------------------------------
// IKE SA / Child SA (RFC 7296 section 2.25, strongSwan: TEMPORARY_FAILURE and retry)
// ---------------------------------------------------------------------------------------------

/// B's IKE SA rekey request is lost once, so B keeps rekeying for a retransmit interval while
/// A's Child SA rekey arrives: B answers TEMPORARY_FAILURE, A retries after 1-4 s (and again,
/// while B is still at it). Once B's retransmission got through, A's retry goes out on the new
/// IKE SA and succeeds.
#[test]
fn child_rekey_refused_during_ike_rekey_is_retried_on_the_new_ike_sa() {
    let mut on_new_sa = 0;
    for seed in 250..256 {
        let ctx = format!("seed {seed}");
        let mut w = Pair::default().build(seed);
        w.trace = trace();
        ike_rekey_at(&mut w, Side::B, 100_000);
        establish(&mut w);
        let old_ike = established_ike(&w.a)[0].spis;
        let old_child = first_child(&w.a);
        let n = w.link.stats.sent[1];
        w.link.drop_nth[1] = vec![n + 1];
        // The instant B sends its (lost) IKE rekey request, A's kernel asks for a Child SA
        // rekey: it reaches B while B's rekey is outstanding.
        let sent = w.b.sent.len();
        w.must(
            Duration::from_secs(200),
            |w| w.b.sent.len() > sent,
            "B never rekeyed",
        );
        let now = w.now();
        w.a.soft_expire(now, old_child.spi_in);
        w.pump();
        let t_child = w.elapsed();
        w.run_for(Duration::from_secs(60));
        assert!(
            logged(&w.a, "peer answered TEMPORARY_FAILURE, retrying in"),
            "{ctx}"
        );
        let new_ike = established_ike(&w.a)[0].spis;
        assert_ne!(new_ike, old_ike, "{ctx}: IKE SA not rekeyed");
        assert_ne!(
            first_child(&w.a).spi_in,
            old_child.spi_in,
            "{ctx}: not rekeyed"
        );
        // A's Child SA rekey requests went out on the old IKE SA until A had the new one, and
        // on the new one after that.
        let t_ike =
            w.a.events
                .iter()
                .find(|(_, e)| matches!(e, Event::IkeSaUp { spis, .. } if *spis == new_ike))
                .map(|(t, _)| *t)
                .expect("no IkeSaUp for the new IKE SA");
        let reqs = requests(&w.a, CREATE_CHILD_SA, t_child);
        assert!(reqs.len() >= 2, "{ctx}: refused and retried: {reqs:?}");
        for (t, spis) in &reqs {
            let expected = if *t < t_ike { old_ike } else { new_ike };
            assert_eq!(
                *spis, expected,
                "{ctx}: request at {t:?} (IKE rekeyed at {t_ike:?})"
            );
        }
        if reqs.last().is_some_and(|(_, s)| *s == new_ike) {
            on_new_sa += 1;
        }
        assert_one_child_consistent(&w, &ctx);
    }
    assert!(on_new_sa > 0, "no seed retried on the new IKE SA");
}

/// The other way round: A's Child SA rekey request is lost once, B's IKE rekey arrives while it
/// is outstanding and gets TEMPORARY_FAILURE; B retries and both rekeys complete.
#[test]
fn ike_rekey_refused_during_child_rekey_is_retried() {
    for seed in 256..262 {
        let ctx = format!("seed {seed}");
        let mut w = Pair::default().build(seed);
        w.trace = trace();
        ike_rekey_at(&mut w, Side::B, 100_000);
        let t_up = establish(&mut w);
        let old_ike = established_ike(&w.a)[0].spis;
        let old_child = first_child(&w.a);
        let at = w.clock.at(t_up + Duration::from_millis(99_990 - 100));
        w.must(Duration::from_secs(200), |w| w.now() >= at, "clock");
        let n = w.link.stats.sent[0];
        w.link.drop_nth[0] = vec![n + 1];
        let now = w.now();
        w.a.soft_expire(now, old_child.spi_in);
        w.pump();
        w.run_for(Duration::from_secs(60));
        assert!(
            logged(&w.b, "peer answered TEMPORARY_FAILURE, retrying in"),
            "{ctx}"
        );
        assert_ne!(established_ike(&w.a)[0].spis, old_ike, "{ctx}");
        assert_ne!(first_child(&w.a).spi_in, old_child.spi_in, "{ctx}");
        assert_one_child_consistent(&w, &ctx);
    }
}

// ---------------------------------------------------------------------------------------------
// Delete crossing a rekey
// ---------------------------------------------------------------------------------------------

/// `rekeyer` starts a Child SA rekey at the instant the other side deletes the Child SA: the
/// rekey is refused (TEMPORARY_FAILURE, the Child SA is being deleted), not retried, the Child
/// SA is not resurrected and nothing stays in either kernel; the IKE SA lives on.
fn child_delete_crossing_child_rekey(rekeyer: Side, seed: u64) {
    let mut w = Pair::default().build(seed);
    establish(&mut w);
    let c = first_child(&w.a);
    let now = w.now();
    let spi = match rekeyer {
        Side::A => c.spi_in,
        Side::B => c.spi_out,
    };
    let peer = w.peer(rekeyer);
    peer.soft_expire(now, spi);
    let (deleter, conn, child) = match rekeyer {
        Side::A => (&mut w.b, B_CONN, B_CHILD),
        Side::B => (&mut w.a, A_CONN, A_CHILD),
    };
    deleter.ep.handle_command(
        now,
        Command::TerminateChild {
            conn: conn.into(),
            child: child.into(),
        },
    );
    w.pump();
    w.run_for(Duration::from_secs(120));
    let r = if rekeyer == Side::A { &w.a } else { &w.b };
    assert!(logged(
        r,
        "which was replaced or deleted meanwhile: not retrying"
    ));
    assert!(!logged(r, "retrying in"), "a deleted Child SA was retried");
    for p in [&w.a, &w.b] {
        assert_eq!(established_ike(p).len(), 1, "{}: IKE SA lost", p.name);
        assert_eq!(installed_children(p), 0, "{}: Child SA resurrected", p.name);
        assert!(p.kernel.is_empty(), "{}: {:?}", p.name, p.kernel.sas.keys());
        assert_clean(p);
        assert_eq!(
            count(p, |e| matches!(e, Event::ChildSaUp { .. })),
            1,
            "{}: a Child SA was created",
            p.name
        );
    }
}

#[test]
fn child_delete_crossing_the_peers_child_rekey_aborts_it_either_direction() {
    for seed in 262..265 {
        child_delete_crossing_child_rekey(Side::A, seed);
        child_delete_crossing_child_rekey(Side::B, seed);
    }
}

/// B deletes the Child SA at the instant A's IKE rekey timer fires: B refuses the IKE rekey
/// while its Delete is out (as strongSwan does with a Child SA in DELETING), so the Child SA
/// cannot move to the new IKE SA half-deleted; A retries the IKE rekey afterwards.
#[test]
fn child_delete_crossing_an_ike_rekey_leaves_no_orphan_child_sa() {
    for seed in 265..269 {
        let ctx = format!("seed {seed}");
        let mut w = Pair::default().build(seed);
        ike_rekey_at(&mut w, Side::A, 100_000);
        let t_up = establish(&mut w);
        let old = established_ike(&w.a)[0].spis;
        let at = w.clock.at(t_up + Duration::from_secs(100));
        w.must(Duration::from_secs(200), |w| w.now() >= at, "clock");
        let now = w.now();
        w.b.ep.handle_command(
            now,
            Command::TerminateChild {
                conn: B_CONN.into(),
                child: B_CHILD.into(),
            },
        );
        w.pump();
        w.run_for(Duration::from_secs(60));
        assert!(
            logged(&w.a, "peer answered TEMPORARY_FAILURE, retrying in"),
            "{ctx}: the IKE rekey was not refused"
        );
        for p in [&w.a, &w.b] {
            assert_eq!(ike_sas(p).len(), 1, "{ctx}: {}: {:?}", p.name, ike_sas(p));
            assert_ne!(established_ike(p)[0].spis, old, "{ctx}: {}", p.name);
            assert!(
                established_ike(p)[0].children.is_empty(),
                "{ctx}: {}: orphan Child SA {:?}",
                p.name,
                established_ike(p)[0].children
            );
            assert!(p.kernel.is_empty(), "{ctx}: {}: kernel not empty", p.name);
            assert!(failures(p).is_empty(), "{ctx}: {}", p.name);
        }
    }
}

/// B deletes the whole IKE SA while A's Child SA rekey is on the wire: B refuses the rekey, A
/// closes everything on the Delete, and the late TEMPORARY_FAILURE finds nothing to retry.
#[test]
fn ike_delete_crossing_a_child_rekey_closes_everything() {
    let mut w = Pair::default().build(270);
    establish(&mut w);
    let c = first_child(&w.a);
    w.soft_expire_crossing(
        c.spi_in,
        Command::TerminateIke {
            conn: B_CONN.into(),
        },
    );
    w.run_for(Duration::from_secs(120));
    // A's rekey request did go out and cross the Delete.
    assert_eq!(requests(&w.a, CREATE_CHILD_SA, Duration::ZERO).len(), 1);
    for p in [&w.a, &w.b] {
        assert!(ike_sas(p).is_empty(), "{}: {:?}", p.name, ike_sas(p));
        assert!(p.kernel.is_empty(), "{}: kernel not empty", p.name);
        assert_clean(p);
    }
    assert!(!logged(&w.a, "retrying in"));
}

/// A's Child SA rekey request is lost while B deletes that Child SA: by the time A's
/// retransmission arrives, B has forgotten the SPI and answers CHILD_SA_NOT_FOUND. A must not
/// "create it afresh" (RFC 7296 section 2.25) a Child SA the peer has just deleted.
#[test]
fn child_sa_not_found_for_a_child_the_peer_deleted_does_not_recreate_it() {
    let mut w = Pair::default().build(271);
    w.trace = trace();
    establish(&mut w);
    let c = first_child(&w.a);
    let n = w.link.stats.sent[0];
    w.link.drop_nth[0] = vec![n + 1];
    w.soft_expire_crossing(
        c.spi_in,
        Command::TerminateChild {
            conn: B_CONN.into(),
            child: B_CHILD.into(),
        },
    );
    w.run_for(Duration::from_secs(60));
    // A's rekey was retransmitted after the Delete completed and refused as unknown.
    assert_eq!(requests(&w.a, CREATE_CHILD_SA, Duration::ZERO).len(), 2);
    for p in [&w.a, &w.b] {
        assert_eq!(established_ike(p).len(), 1, "{}: IKE SA lost", p.name);
        assert_eq!(
            count(p, |e| matches!(e, Event::ChildSaUp { .. })),
            1,
            "{}: the deleted Child SA was created again",
            p.name
        );
        assert!(p.kernel.is_empty(), "{}: {:?}", p.name, p.kernel.sas.keys());
        assert!(failures(p).is_empty(), "{}: {:?}", p.name, failures(p));
    }
}

/// Crossing IKE SA rekeys and, at the same instant, crossing Child SA rekeys, over a link that
/// loses, duplicates and reorders: whatever order things arrive in, both sides end with one IKE
/// SA and one Child SA, the same SPIs, nothing left over in either kernel and nothing refused.
#[test]
fn collisions_over_an_impaired_link_converge_without_leftovers() {
    let (mut ike_collisions, mut child_collisions) = (0, 0);
    for seed in 280..296 {
        let ctx = format!("seed {seed}");
        // A rekey that takes a few retransmissions must not run into the IKE SA's end
        // (rekey_time + over_time, 10 % by default).
        let (mut w, old) = crossing_ike_rekeys_with(seed, |c| {
            let name = c.connections[0].name.clone();
            let t = c.settings.conn_timers.entry(name).or_default();
            t.ike_over_time = Some(Duration::from_secs(300));
        });
        w.link.set_both(Impairment {
            loss: 0.15,
            duplicate: 0.2,
            reorder: 0.4,
            jitter: Duration::from_millis(300),
            ..Impairment::PERFECT
        });
        // Child SA rekeys on both sides the instant the IKE rekey timers fire.
        let at = w.clock.at(Duration::from_millis(100_040));
        w.must(Duration::from_secs(200), |w| w.now() >= at, "clock");
        crossing_child_rekeys(&mut w);
        // Three IKE rekeys (every 100 s) over the bad link, then a clean link for longer than
        // the retransmit budget (165 s), so that a Delete whose answer was lost has given up,
        // and ending before the next IKE rekey is due (about 600 s).
        w.run_for(Duration::from_secs(250));
        w.link.set_both(Impairment::PERFECT);
        w.run_for(Duration::from_secs(240));
        assert_one_child_consistent(&w, &ctx);
        assert_ne!(
            established_ike(&w.a)[0].spis,
            old,
            "{ctx}: IKE SA not rekeyed"
        );
        if logged(&w.a, "IKE SA rekey collision") && logged(&w.b, "IKE SA rekey collision") {
            ike_collisions += 1;
        }
        if child_verdict(&w.a).is_some() || child_verdict(&w.b).is_some() {
            child_collisions += 1;
        }
    }
    eprintln!("IKE collisions {ike_collisions}, Child SA collisions {child_collisions}");
    assert!(
        ike_collisions >= 4,
        "only {ike_collisions} seeds had an IKE rekey collision"
    );
    assert!(
        child_collisions >= 4,
        "only {child_collisions} seeds had a Child SA collision"
    );
}
