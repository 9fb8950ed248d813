//! Applying a rekey collision (RFC 7296 sections 2.8.1, 2.8.2 and 2.25) decided by
//! `sa::collision`, and how a new IKE SA takes over from the old one (also without a collision).
//!
//! IKE/IKE (section 2.8.2, as strongSwan does it): a peer that receives an IKE rekey while its
//! own is outstanding answers as usual and holds the IKE SA this creates back
//! (`IkeSa::ike_collision`). Once its own exchange completes, the new IKE SA created by the
//! exchange with the lowest of the four nonces is redundant: its creator deletes it, the other
//! new IKE SA inherits the Child SAs, and the winner (the creator of the surviving SA) deletes
//! the old one. If our own exchange fails (e.g. TEMPORARY_FAILURE from a peer that finished
//! first without noticing) or the peer deletes the old IKE SA first, the held-back SA simply
//! takes over.

use std::time::Instant;

use crate::context::Core;
use crate::event::{Event, IkeState, LogLevel};
use crate::rng::Rng;
use crate::sa::{IkeHandover, IkeSa, Purpose};
use crate::timer;

pub(crate) use crate::sa::collision::we_lost;

/// IKE_SA_UP for `sa`: when IKE_AUTH completes and when a rekeyed SA takes over.
pub(crate) fn up_event(sa: &IkeSa) -> Event {
    let id =
        |i: &Option<crate::wire::Identity>| i.as_ref().map(|i| i.to_string()).unwrap_or_default();
    Event::IkeSaUp {
        conn: sa.conn.clone(),
        spis: sa.spis(),
        local: sa.local,
        remote: sa.remote,
        local_id: id(&sa.local_id),
        remote_id: id(&sa.remote_id),
        initiator: sa.initiator,
    }
}

fn algorithms_text(sa: &IkeSa) -> String {
    let Some(a) = sa.crypto.as_ref().map(|c| &c.algorithms) else {
        return String::new();
    };
    let mut s = a.encr.clone();
    if let Some(k) = a.encr_keysize {
        s.push_str(&format!("_{k}"));
    }
    if let Some(i) = &a.integ {
        s.push_str(&format!("/{i}"));
    }
    format!("{s}/{}/{}", a.prf, a.dh_group)
}

/// Moves everything that carries on from `old` to its successor `new` (RFC 7296 section 2.18):
/// the Child SAs (untouched in the kernel), queued and deferred requests other than the old
/// SA's own rekey and teardown. `old` then only awaits its Delete.
pub(crate) fn take_over<R: Rng>(cx: &mut Core<R>, old: &mut IkeSa, new: &mut IkeSa, now: Instant) {
    new.children = std::mem::take(&mut old.children);
    new.queue = old
        .queue
        .drain(..)
        .filter(|p| !matches!(p, Purpose::DeleteIke | Purpose::RekeyIke))
        .collect();
    // A retry put off by TEMPORARY_FAILURE (e.g. a Child SA rekey refused during this IKE
    // rekey) is due on the new SA; it would be lost with the old one.
    new.deferred = std::mem::take(&mut old.deferred)
        .into_iter()
        .filter(|(_, p)| !matches!(p, Purpose::RekeyIke))
        .collect();
    new.last_peer_message = Some(now);
    old.rekeyed_to = Some(new.local_spi());
    old.temp_failures = 0;
    // The old SA only waits for its Delete; should that never come, it goes on its own.
    timer::on_ike_superseded(
        &mut old.deadlines,
        now,
        cx.config.settings.retransmit.budget(),
    );
    cx.emit(new.created_event());
    cx.emit(Event::Log {
        level: LogLevel::Info,
        conn: Some(new.conn.clone()),
        message: format!(
            "IKE SA rekeyed: {} => {} ({})",
            old.spis(),
            new.spis(),
            algorithms_text(new)
        ),
    });
    cx.emit(up_event(new));
}

/// A redundant new IKE SA (it never carries a Child SA): `ours` is deleted by us at once;
/// the peer's waits for the peer's Delete, or goes on its own after a grace period.
fn retire_redundant<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    winner: u64,
    ours: bool,
    now: Instant,
) {
    sa.rekeyed_to = Some(winner);
    timer::on_ike_redundant(&mut sa.deadlines, now, ours);
    sa.queue.clear();
    // Announced like any IKE SA so that its removal (IkeSaDown Rekeyed) pairs with an up.
    cx.emit(sa.created_event());
    cx.emit(up_event(sa));
    // As strongSwan, the peer deletes its redundant SA as soon as its response arrived; should
    // that response have been lost and the peer abandoned the exchange (our Delete of the old
    // SA reached it first), nobody else will: hence the grace period in `on_ike_redundant`.
    if ours {
        let ev = sa.transition(IkeState::Deleting);
        cx.emit(ev);
        sa.queue.push_back(Purpose::DeleteIke);
    }
}

/// Our IKE rekey produced `ours` while the peer's crossing rekey produced the held-back SA in
/// `old.ike_collision`: applies RFC 7296 section 2.8.2. Returns `ours` if it survives (the
/// caller installs it and deletes `old`); otherwise the peer's SA takes over through
/// `old.handover` and `ours` is deleted. Without a collision `ours` simply takes over.
pub(crate) fn resolve_ike_rekey<R: Rng>(
    cx: &mut Core<R>,
    old: &mut IkeSa,
    mut ours: IkeSa,
    now: Instant,
) -> Option<IkeSa> {
    let Some(mut theirs) = old.ike_collision.take() else {
        take_over(cx, old, &mut ours, now);
        return Some(ours);
    };
    let lost = we_lost(
        (ours.ni.as_bytes(), ours.nr.as_bytes()),
        (theirs.ni.as_bytes(), theirs.nr.as_bytes()),
    );
    if lost {
        take_over(cx, old, &mut theirs, now);
        retire_redundant(cx, &mut ours, theirs.local_spi(), true, now);
        cx.emit(Event::Log {
            level: LogLevel::Info,
            conn: Some(old.conn.clone()),
            message: format!(
                "IKE SA rekey collision lost (lowest nonce): deleting redundant IKE SA {}, {} survives",
                ours.spis(),
                theirs.spis()
            ),
        });
        old.handover = Some(IkeHandover {
            successor: Some(theirs),
            redundant: Some(Box::new(ours)),
            destroy_old: false,
        });
        return None;
    }
    take_over(cx, old, &mut ours, now);
    retire_redundant(cx, &mut theirs, ours.local_spi(), false, now);
    cx.emit(Event::Log {
        level: LogLevel::Info,
        conn: Some(old.conn.clone()),
        message: format!(
            "IKE SA rekey collision won: {} survives, waiting for the peer to delete redundant IKE SA {}",
            ours.spis(),
            theirs.spis()
        ),
    });
    old.handover = Some(IkeHandover {
        successor: None,
        redundant: Some(theirs),
        destroy_old: false,
    });
    Some(ours)
}

/// Our IKE rekey came to nothing (refused, failed, or the peer deleted the old SA first) while
/// the peer's crossing rekey created an IKE SA: that one takes over (RFC 7296 section 2.8.2,
/// the collision only one side noticed). Returns false if there was no such SA.
pub(crate) fn adopt_peers_rekey<R: Rng>(
    cx: &mut Core<R>,
    old: &mut IkeSa,
    now: Instant,
    why: &str,
    destroy_old: bool,
) -> bool {
    let Some(mut theirs) = old.ike_collision.take() else {
        return false;
    };
    take_over(cx, old, &mut theirs, now);
    cx.emit(Event::Log {
        level: LogLevel::Info,
        conn: Some(old.conn.clone()),
        message: format!(
            "IKE SA rekey collision: {why}; the peer's IKE SA {} takes over",
            theirs.spis()
        ),
    });
    old.handover = Some(IkeHandover {
        successor: Some(theirs),
        redundant: None,
        destroy_old,
    });
    true
}
