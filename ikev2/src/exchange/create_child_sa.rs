//! CREATE_CHILD_SA (RFC 7296 sections 1.3 and 2.8): additional Child SAs, Child SA rekeying
//! (N(REKEY_SA), optional PFS key exchange) and IKE SA rekeying (new SPIs, SKEYSEED from the old
//! SK_d, Child SAs move over, message IDs restart at 0).
//!
//! Collisions (RFC 7296 section 2.25): two rekeys of the same Child SA that cross are both
//! answered as usual; once our own completes, the SA created by the exchange holding the lowest
//! of the four nonces is redundant and deleted by its creator, while the winner's initiator
//! deletes the old one (section 2.8.1). Two crossing IKE SA rekeys are resolved the same way
//! (section 2.8.2, see `exchange::collision`). A Child SA request while we rekey the IKE SA, an IKE
//! rekey while any Child SA exchange of ours is out, and a rekey of a Child SA we are deleting
//! are answered TEMPORARY_FAILURE; whoever gets that retries after a random delay
//! (`timer::on_temporary_failure`), on the new IKE SA if the old one was rekeyed meanwhile.

use std::time::Instant;

use crate::config::{resolve_ts, ChildConfig, Mode};
use crate::consts::{KeGroup, NotifyType, PayloadType, ProtocolId};
use crate::context::Core;
use crate::crypto::{self, KeyExchange, Secret};
use crate::event::{
    CreateFailure, Event, FailureReason, Fault, IkeState, Internal, LogLevel, PfsConflict, SpiKind,
};
use crate::exchange::collision;
use crate::proposal::{self, Algorithms};
use crate::rng::Rng;
use crate::sa::status::ChildStatusState;
use crate::sa::{IkeCrypto, IkeSa, PendingChild, PendingCreate, Purpose};
use crate::timer;
use crate::wire::{InnerPayload, KePayload, Notify, SaPayload};

use super::child::{self, install_child, ts_payloads, ChildAgreement};
use super::table::{Digest, NONCE_LEN};
use super::{notify, Reply};

fn child_config<'a, R: Rng>(cx: &'a Core<R>, sa: &IkeSa, name: &str) -> Option<&'a ChildConfig> {
    cx.config.connection(&sa.conn).and_then(|c| c.child(name))
}

// ---------------------------------------------------------------------------------------------
// Initiator
// ---------------------------------------------------------------------------------------------

fn internal(e: crypto::CryptoError) -> FailureReason {
    FailureReason::Internal { why: e.into() }
}

/// Builds the CREATE_CHILD_SA request for `purpose` and records what it proposed on `sa`.
pub(crate) fn request_payloads<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    purpose: &Purpose,
    ke_group: Option<KeGroup>,
    ke_retries: u32,
) -> Result<Vec<InnerPayload>, FailureReason> {
    let nonce = cx.random_secret(NONCE_LEN);
    let (payloads, pending) = match purpose {
        Purpose::RekeyIke => rekey_ike_request(cx, sa, nonce, ke_group)?,
        Purpose::CreateChild { child } => child_request(cx, sa, nonce, ke_group, child, None)?,
        Purpose::RekeyChild { spi_in } => {
            let c = sa.children.iter().find(|c| c.spi_in == *spi_in).ok_or(
                FailureReason::RekeyFailed {
                    child: None,
                    why: CreateFailure::NoChildWithSpi(*spi_in),
                },
            )?;
            let name = c.name.clone();
            child_request(cx, sa, nonce, ke_group, &name, Some(*spi_in))?
        }
        _ => {
            return Err(FailureReason::Internal {
                why: Internal::NotCreatePurpose,
            })
        }
    };
    if let Purpose::RekeyChild { spi_in } = purpose {
        if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == *spi_in) {
            if c.state() != ChildStatusState::Rekeying {
                let ev = c.transition(&sa.conn, ChildStatusState::Rekeying);
                cx.emit(ev);
            }
        }
    }
    sa.create = Some(PendingCreate {
        ke_retries,
        ..pending
    });
    Ok(payloads)
}

/// RFC 7296 section 1.3.2: SA (with our new IKE SPI), Ni, KEi; the group in use first unless
/// the peer asked for another one.
fn rekey_ike_request<R: Rng>(
    cx: &mut Core<R>,
    sa: &IkeSa,
    nonce: Secret,
    ke_group: Option<KeGroup>,
) -> Result<(Vec<InnerPayload>, PendingCreate), FailureReason> {
    let conn = cx
        .config
        .connection(&sa.conn)
        .ok_or(FailureReason::RekeyFailed {
            child: None,
            why: CreateFailure::ConnectionGone,
        })?;
    let mut proposals = conn.ike_proposals.clone();
    let current = sa.crypto.as_ref().map(|c| c.group);
    if let Some(p) = ke_group
        .or(current)
        .and_then(|g| proposals.with_group_first(g))
    {
        proposals = p;
    }
    let group = proposals
        .first_ke_group()
        .ok_or(FailureReason::RekeyFailed {
            child: None,
            why: CreateFailure::NoKeGroup,
        })?;
    let ke = KeyExchange::generate(group, cx.rng_dyn()).map_err(internal)?;
    // Checked against the endpoint's table when the new SA is adopted.
    let ike_spi = super::random_ike_spi(cx, |_| false);
    let payloads = vec![
        InnerPayload::Sa(SaPayload {
            proposals: proposals.to_wire(&ike_spi.to_be_bytes()),
        }),
        InnerPayload::Nonce(nonce.as_bytes().to_vec()),
        InnerPayload::Ke(KePayload {
            group,
            data: ke.public_value().to_vec(),
        }),
    ];
    let pending = PendingCreate {
        nonce,
        ke: Some(ke),
        proposals,
        spi_in: 0,
        ike_spi,
        child: None,
        ke_retries: 0,
    };
    Ok((payloads, pending))
}

/// RFC 7296 sections 1.3.1 and 1.3.3: [N(REKEY_SA)], [N(USE_TRANSPORT_MODE)], SA, Ni, [KEi],
/// TSi, TSr for child `name`; a rekey keeps the selectors and mode of the Child SA `rekey_of`.
fn child_request<R: Rng>(
    cx: &mut Core<R>,
    sa: &IkeSa,
    nonce: Secret,
    ke_group: Option<KeGroup>,
    name: &str,
    rekey_of: Option<u32>,
) -> Result<(Vec<InnerPayload>, PendingCreate), FailureReason> {
    let cc =
        child_config(cx, sa, name)
            .cloned()
            .ok_or_else(|| FailureReason::ChildCreateFailed {
                child: name.to_string(),
                why: CreateFailure::ChildGone,
            })?;
    let mut proposals = cc.esp_proposals.clone();
    if let Some(p) = ke_group.and_then(|g| proposals.with_group_first(g)) {
        proposals = p;
    }
    let old = rekey_of.and_then(|spi| sa.children.iter().find(|c| c.spi_in == spi));
    let (local_ts, remote_ts, mode) = match old {
        Some(c) => (c.local_ts.clone(), c.remote_ts.clone(), c.mode),
        None => (
            resolve_ts(&cc.local_ts, sa.local.ip()),
            resolve_ts(&cc.remote_ts, sa.remote.ip()),
            cc.mode,
        ),
    };
    let spi_in = cx.alloc_esp_spi();
    let mut payloads = Vec::new();
    if let Some(old) = rekey_of {
        payloads.push(InnerPayload::Notify(Notify::rekey_sa(ProtocolId::ESP, old)));
    }
    if mode == Mode::Transport {
        payloads.push(notify(NotifyType::USE_TRANSPORT_MODE));
    }
    payloads.push(InnerPayload::Sa(SaPayload {
        proposals: proposals.to_wire(&spi_in.to_be_bytes()),
    }));
    payloads.push(InnerPayload::Nonce(nonce.as_bytes().to_vec()));
    let ke = match proposals.first_ke_group() {
        Some(g) => {
            let ke = KeyExchange::generate(g, cx.rng_dyn()).map_err(internal)?;
            payloads.push(InnerPayload::Ke(KePayload {
                group: g,
                data: ke.public_value().to_vec(),
            }));
            Some(ke)
        }
        None => None,
    };
    let (tsi, tsr) = ts_payloads(&cc.name, &local_ts, &remote_ts)?;
    payloads.push(InnerPayload::TsI(tsi));
    payloads.push(InnerPayload::TsR(tsr));
    let pending = PendingCreate {
        nonce,
        ke,
        proposals: proposals.clone(),
        spi_in,
        ike_spi: 0,
        child: Some(PendingChild {
            name: name.to_string(),
            spi_in,
            mode,
            proposals,
            local_ts,
            remote_ts,
        }),
        ke_retries: 0,
    };
    Ok((payloads, pending))
}

/// What the endpoint does after our CREATE_CHILD_SA completed.
pub(crate) enum CreateOutcome {
    Keep,
    /// The IKE SA was rekeyed: insert this SA; the old one sends its Delete.
    NewIke(Box<IkeSa>),
}

/// Puts a rekeyed Child SA back to INSTALLED after a failed attempt.
fn unmark_rekeying<R: Rng>(cx: &mut Core<R>, sa: &mut IkeSa, spi_in: u32) {
    if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == spi_in) {
        if c.state() == ChildStatusState::Rekeying {
            let ev = c.transition(&sa.conn, ChildStatusState::Installed);
            cx.emit(ev);
        }
    }
}

/// Our CREATE_CHILD_SA exchange as the response handlers see it.
struct Ours {
    purpose: Purpose,
    pending: PendingCreate,
    /// The child created or rekeyed (none for an IKE rekey).
    child: Option<String>,
    /// Our inbound SPI of the Child SA being rekeyed.
    rekey_of: Option<u32>,
}

impl Ours {
    fn take(sa: &mut IkeSa, purpose: Purpose) -> Option<Ours> {
        let pending = sa.create.take()?;
        let child = pending.child.as_ref().map(|c| c.name.clone());
        let rekey_of = match purpose {
            Purpose::RekeyChild { spi_in } => Some(spi_in),
            _ => None,
        };
        Some(Ours {
            purpose,
            pending,
            child,
            rekey_of,
        })
    }

    /// The failure to report for `why`.
    fn failed(&self, why: CreateFailure) -> FailureReason {
        match (&self.purpose, &self.child) {
            (Purpose::CreateChild { child }, _) => FailureReason::ChildCreateFailed {
                child: child.clone(),
                why,
            },
            (_, c) => FailureReason::RekeyFailed {
                child: c.clone(),
                why,
            },
        }
    }

    /// Records the failure; a Child SA we tried to rekey is no longer being rekeyed.
    fn fail<R: Rng>(&self, cx: &mut Core<R>, sa: &mut IkeSa, now: Instant, reason: FailureReason) {
        if let Some(old) = self.rekey_of {
            unmark_rekeying(cx, sa, old);
        }
        cx.fail(now, Some(sa.conn.clone()), sa.remote, reason);
    }

    /// Our exchange failed for `fault`; a failed IKE rekey lets a crossing one of the peer's
    /// take over.
    fn abandon<R: Rng>(&self, cx: &mut Core<R>, sa: &mut IkeSa, now: Instant, fault: Fault) {
        let why = format!("our rekey failed: {fault}");
        let r = self.failed(fault.into());
        self.fail(cx, sa, now, r);
        if matches!(self.purpose, Purpose::RekeyIke) {
            collision::adopt_peers_rekey(cx, sa, now, &why, false);
        }
    }
}

/// Initiator: a response to our CREATE_CHILD_SA that lacked what the table requires.
pub(crate) fn refused_response<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    purpose: Purpose,
    fault: Fault,
) {
    if let Some(ours) = Ours::take(sa, purpose) {
        ours.abandon(cx, sa, now, fault);
    }
}

/// Initiator: the (authenticated) response to our CREATE_CHILD_SA.
pub(crate) fn handle_response_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    purpose: Purpose,
    d: &Digest,
) -> CreateOutcome {
    let Some(ours) = Ours::take(sa, purpose) else {
        return CreateOutcome::Keep;
    };
    if let Some(err) = d.first_error() {
        answered_with_error(cx, sa, now, ours, err, d);
        return CreateOutcome::Keep;
    }
    sa.temp_failures = 0;
    let res = match ours.purpose {
        Purpose::RekeyIke => finish_ike_rekey_i(cx, sa, now, &ours.pending, d),
        _ => finish_child_i(cx, sa, now, &ours.pending, d, ours.rekey_of).map(|()| None),
    };
    match res {
        Ok(Some(new)) => CreateOutcome::NewIke(Box::new(new)),
        Ok(None) => CreateOutcome::Keep,
        Err(fault) => {
            ours.abandon(cx, sa, now, fault);
            CreateOutcome::Keep
        }
    }
}

/// The peer refused our CREATE_CHILD_SA with `err`.
fn answered_with_error<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    ours: Ours,
    err: NotifyType,
    d: &Digest,
) {
    let why = format!("our rekey was answered with {err}");
    if matches!(ours.purpose, Purpose::RekeyIke)
        && collision::adopt_peers_rekey(cx, sa, now, &why, false)
    {
        return;
    }
    match err {
        NotifyType::TEMPORARY_FAILURE => temporary_failure(cx, sa, now, ours),
        NotifyType::INVALID_KE_PAYLOAD => {
            let wanted = d.notifies.iter().find_map(|n| n.invalid_ke_group());
            invalid_ke(cx, sa, now, ours, wanted)
        }
        NotifyType::NO_PROPOSAL_CHOSEN if ours.child.is_some() && ours.rekey_of.is_some() => {
            // The same algorithms were accepted without KE before, so the key exchange is
            // what the peer refused (or demanded).
            let c = ours.child.clone().unwrap_or_default();
            let conflict = PfsConflict::PeerRefused {
                ours: ours.pending.proposals.pfs_groups(),
            };
            ours.fail(
                cx,
                sa,
                now,
                FailureReason::PfsMismatch { child: c, conflict },
            );
        }
        NotifyType::CHILD_SA_NOT_FOUND => {
            // RFC 7296 section 2.25: drop ours silently and create it afresh.
            // A Child SA the peer deleted while we tried to rekey it stays deleted.
            let existed = ours.rekey_of.is_some_and(|old| {
                super::remove_child(cx, sa, old, crate::event::DownReason::PeerDelete).is_some()
            });
            if let (true, Some(name)) = (existed, ours.child) {
                if child_config(cx, sa, &name).is_some() {
                    sa.queue.push_back(Purpose::CreateChild { child: name });
                }
            }
        }
        n => {
            let r = ours.failed(CreateFailure::PeerAnswered(n));
            ours.fail(cx, sa, now, r);
        }
    }
}

/// TEMPORARY_FAILURE (RFC 7296 section 2.25): retried after a random delay, unless what we
/// wanted to rekey is gone meanwhile or the peer keeps refusing.
fn temporary_failure<R: Rng>(cx: &mut Core<R>, sa: &mut IkeSa, now: Instant, ours: Ours) {
    let moot = ours.rekey_of.is_some_and(|old| {
        !sa.children.iter().any(|c| {
            c.spi_in == old
                && !matches!(
                    c.state(),
                    ChildStatusState::Rekeyed | ChildStatusState::Deleting
                )
        })
    });
    if moot {
        // The peer's crossing rekey already replaced the Child SA, or a Delete (either side's)
        // removed it: nothing to retry.
        cx.emit(Event::Log {
            level: LogLevel::Info,
            conn: Some(sa.conn.clone()),
            message: format!(
                "peer answered TEMPORARY_FAILURE to the rekey of child '{}', which was replaced or deleted meanwhile: not retrying",
                ours.child.as_deref().unwrap_or("?")
            ),
        });
        if let Some(old) = ours.rekey_of {
            unmark_rekeying(cx, sa, old);
            if sa
                .child_collision
                .as_ref()
                .is_some_and(|c| c.old_spi_in == old)
            {
                sa.child_collision = None;
            }
        }
        return;
    }
    sa.temp_failures += 1;
    if sa.temp_failures > timer::TEMPORARY_FAILURE_MAX_RETRIES {
        let r = ours.failed(CreateFailure::TemporaryFailures(
            sa.temp_failures.saturating_sub(1),
        ));
        sa.temp_failures = 0;
        ours.fail(cx, sa, now, r);
        return;
    }
    // Back to INSTALLED until the retry (as strongSwan): a Child SA marked as being rekeyed
    // would make us refuse the peer's IKE rekey in the meantime.
    if let Some(old) = ours.rekey_of {
        unmark_rekeying(cx, sa, old);
    }
    let delay = timer::on_temporary_failure(&mut sa.deferred, ours.purpose, now, cx.random_u64());
    cx.emit(Event::Log {
        level: LogLevel::Info,
        conn: Some(sa.conn.clone()),
        message: format!(
            "peer answered TEMPORARY_FAILURE, retrying in {} ms",
            delay.as_millis()
        ),
    });
}

/// INVALID_KE_PAYLOAD naming `wanted`: retried at once with that group if we offer it (RFC 7296
/// section 1.3), once.
fn invalid_ke<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    ours: Ours,
    wanted: Option<KeGroup>,
) {
    match wanted.filter(|g| ours.pending.proposals.accepts_group(*g)) {
        Some(g) if ours.pending.ke_retries == 0 => {
            sa.retry_ke = Some((ours.purpose.clone(), g));
            sa.queue.push_front(ours.purpose);
        }
        _ => {
            let peer: Vec<KeGroup> = wanted.into_iter().collect();
            let r = match &ours.child {
                Some(c) => FailureReason::PfsMismatch {
                    child: c.clone(),
                    conflict: PfsConflict::Groups {
                        peer,
                        ours: ours.pending.proposals.pfs_groups(),
                    },
                },
                None => ours.failed(CreateFailure::KeGroupRefused(peer)),
            };
            ours.fail(cx, sa, now, r);
        }
    }
}

fn shared_secret(
    ke: Option<&KeyExchange>,
    peer: Option<&KePayload>,
    group: KeGroup,
) -> Result<Secret, Fault> {
    let ke = ke
        .filter(|k| k.group() == group)
        .ok_or(Fault::NoKeyExchange)?;
    let kp = peer.ok_or(Fault::LacksKe)?;
    if kp.group != group {
        return Err(Fault::KeGroup {
            sent: kp.group,
            chosen: group,
        });
    }
    Ok(ke.shared_secret(&kp.data)?)
}

fn finish_child_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    pending: &PendingCreate,
    d: &Digest,
    rekey_of: Option<u32>,
) -> Result<(), Fault> {
    let pc = pending.child.as_ref().ok_or(Internal::NoPendingChild)?;
    let nr = d.nonce.as_deref().ok_or(Fault::NoValidNonce)?;
    let offer = child::Offer {
        proposals: &pending.proposals,
        spi_in: pending.spi_in,
        local_ts: &pc.local_ts,
        remote_ts: &pc.remote_ts,
    };
    let answer = child::check_answer(&offer, d)?;
    let algs = answer.algorithms;
    let pfs = match algs.ke {
        Some(g) => Some(shared_secret(pending.ke.as_ref(), d.ke.as_ref(), g)?),
        None => None,
    };
    if let Some(old) = rekey_of.filter(|o| !sa.children.iter().any(|c| c.spi_in == *o)) {
        peer_deleted_while_rekeying(cx, sa, pc, old);
        return Ok(());
    }
    let ag = ChildAgreement {
        name: pc.name.clone(),
        mode: pc.mode,
        algorithms: algs,
        spi_in: pc.spi_in,
        spi_out: answer.spi_out,
        local_ts: answer.local_ts,
        remote_ts: answer.remote_ts,
        exchange_initiator: true,
        nonces: Some((pending.nonce.clone(), Secret::from_slice(nr))),
        pfs,
        rekey_of,
    };
    cx.emit(Event::Log {
        level: LogLevel::Info,
        conn: Some(sa.conn.clone()),
        message: format!(
            "{} child '{}': ESP:{algs}",
            if rekey_of.is_some() {
                "rekeyed"
            } else {
                "created"
            },
            pc.name
        ),
    });
    install_child(cx, sa, now, ag).map_err(|r| Fault::Install(Box::new(r)))?;
    if let Some(old) = rekey_of {
        rekeyed(cx, sa, pending, pc, nr, old);
    }
    Ok(())
}

/// The peer deleted the Child SA `old` while our rekey of it was out: it completed a crossing
/// rekey of its own (and won, RFC 7296 section 2.8.1) or wanted it gone. The pair our exchange
/// created is redundant: it is never installed here, and the peer's half is deleted.
fn peer_deleted_while_rekeying<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    pc: &PendingChild,
    old: u32,
) {
    if sa
        .child_collision
        .as_ref()
        .is_some_and(|c| c.old_spi_in == old)
    {
        sa.child_collision = None;
    }
    cx.emit(Event::Log {
        level: LogLevel::Info,
        conn: Some(sa.conn.clone()),
        message: format!(
            "child '{}': the peer deleted the Child SA we were rekeying, deleting the redundant new one",
            pc.name
        ),
    });
    sa.queue.push_back(Purpose::DeleteChild {
        spis_in: vec![pc.spi_in],
    });
}

/// Our rekey of `old` installed its successor: the old pair goes, unless a crossing rekey of the
/// peer's wins (RFC 7296 section 2.8.1: the SA created by the exchange holding the lowest of the
/// four nonces is redundant; its creator deletes it, the other side deletes the old one).
fn rekeyed<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    pending: &PendingCreate,
    pc: &PendingChild,
    nr: &[u8],
    old: u32,
) {
    if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == old) {
        if c.state() != ChildStatusState::Rekeyed {
            let ev = c.transition(&sa.conn, ChildStatusState::Rekeyed);
            cx.emit(ev);
        }
    }
    let collision = sa.child_collision.take().filter(|c| c.old_spi_in == old);
    if let Some(col) = collision {
        let we_lost = collision::we_lost(
            (pending.nonce.as_bytes(), nr),
            (col.ni.as_bytes(), col.nr.as_bytes()),
        );
        let loser = if we_lost {
            pc.spi_in
        } else {
            col.peer_successor
        };
        cx.emit(Event::Log {
            level: LogLevel::Info,
            conn: Some(sa.conn.clone()),
            message: format!(
                "child '{}': rekey collision, the {} rekey is redundant (lowest nonce)",
                pc.name,
                if we_lost { "local" } else { "peer's" }
            ),
        });
        if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == loser) {
            c.redundant = true;
            timer::on_child_redundant(&mut c.deadlines);
            if we_lost {
                let ev = c.transition(&sa.conn, ChildStatusState::Rekeyed);
                cx.emit(ev);
            }
        }
        if we_lost {
            sa.queue.push_back(Purpose::DeleteChild {
                spis_in: vec![pc.spi_in],
            });
            // The peer, the winner, deletes the old Child SA.
            return;
        }
    }
    // Make-before-break: the new SAs are in; now the old pair goes (RFC 7296 section 2.8).
    sa.queue
        .push_back(Purpose::DeleteChild { spis_in: vec![old] });
}

fn spi8(v: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(v).ok().map(u64::from_be_bytes)
}

/// Derives the keys of the IKE SA that replaces `old` (RFC 7296 section 2.18) and copies what
/// carries over unchanged; the Child SAs stay on `old` until `collision::take_over`.
#[allow(clippy::too_many_arguments)]
fn derive_successor<R: Rng>(
    cx: &mut Core<R>,
    old: &IkeSa,
    now: Instant,
    algs: &proposal::IkeAlgorithms,
    g_ir: &Secret,
    ni: Secret,
    nr: Secret,
    spi_i: u64,
    spi_r: u64,
    we_initiate: bool,
) -> Result<IkeSa, Fault> {
    let oc = old.crypto.as_ref().ok_or(Internal::OldSaWithoutKeys)?;
    let (prf, cipher) = super::ike_sa_init::suite(algs)?;
    let seed = crypto::rekey_skeyseed(
        oc.prf,
        oc.keys.sk_d.as_bytes(),
        g_ir.as_bytes(),
        ni.as_bytes(),
        nr.as_bytes(),
    );
    let keys = crypto::ike_keys_from_skeyseed(
        prf,
        &cipher,
        seed.as_bytes(),
        ni.as_bytes(),
        nr.as_bytes(),
        &spi_i.to_be_bytes(),
        &spi_r.to_be_bytes(),
    )?;
    let mut new = IkeSa::new(
        cx.next_uid(),
        old.conn.clone(),
        we_initiate,
        spi_i,
        spi_r,
        old.local,
        old.remote,
    );
    new.ni = ni;
    new.nr = nr;
    new.crypto = Some(IkeCrypto {
        prf,
        cipher,
        keys,
        algorithms: super::ike_sa_init::status_algorithms(algs),
        group: algs.ke,
    });
    new.nat_local = old.nat_local;
    new.nat_remote = old.nat_remote;
    new.force_encap = old.force_encap;
    new.fragmentation = old.fragmentation;
    new.local_id = old.local_id.clone();
    new.remote_id = old.remote_id.clone();
    new.psk = old.psk.clone();
    // The peer proved its certificate once; the rekeyed SA keeps showing whom it talks to.
    new.sig.verified = old.sig.verified.clone();
    new.peer_childless = old.peer_childless;
    new.established_at = Some(now);
    new.last_peer_message = Some(now);
    new.set_state_silently(IkeState::Established);
    let conn = cx.config.connection(&new.conn).cloned();
    if let Some(c) = &conn {
        let timers = cx.config.settings.conn_timers.get(&c.name).cloned();
        let rand = cx.random_u64();
        timer::on_ike_rekeyed(
            &mut new.deadlines,
            &old.deadlines,
            now,
            c.rekey_time,
            timers.as_ref(),
            rand,
        );
    }
    Ok(new)
}

fn finish_ike_rekey_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    pending: &PendingCreate,
    d: &Digest,
) -> Result<Option<IkeSa>, Fault> {
    let sa_p = d.sa.as_ref().ok_or(Fault::Lacks {
        exchange: None,
        payloads: vec![PayloadType::SA],
    })?;
    let nr = d.nonce.as_deref().ok_or(Fault::NoValidNonce)?;
    let [chosen] = sa_p.proposals.as_slice() else {
        return Err(Fault::NotOneProposal);
    };
    let offered = pending.proposals.to_wire(&pending.ike_spi.to_be_bytes());
    let algs = match proposal::check_response(&pending.proposals, &offered, chosen) {
        Ok(Algorithms::Ike(a)) => a,
        Ok(Algorithms::Child(_)) => return Err(Fault::EspForIkeRekey),
        Err(e) => return Err(Fault::Proposal(e)),
    };
    let spi_r = spi8(&chosen.spi)
        .filter(|s| *s != 0)
        .ok_or(Fault::SpiLength(SpiKind::Ike))?;
    let g_ir = shared_secret(pending.ke.as_ref(), d.ke.as_ref(), algs.ke)?;
    let new = derive_successor(
        cx,
        sa,
        now,
        &algs,
        &g_ir,
        pending.nonce.clone(),
        Secret::from_slice(nr),
        pending.ike_spi,
        spi_r,
        true,
    )?;
    Ok(collision::resolve_ike_rekey(cx, sa, new, now))
}

// ---------------------------------------------------------------------------------------------
// Responder
// ---------------------------------------------------------------------------------------------

fn refuse(n: NotifyType) -> (Reply, Option<IkeSa>) {
    (Reply::keep(vec![notify(n)]), None)
}

/// Responder: handles a CREATE_CHILD_SA request on an established SA. `new_spi` is a fresh SPI
/// of ours in case the request rekeys the IKE SA; the new SA is returned for the endpoint to
/// insert.
pub(crate) fn respond_create_child_sa<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    d: &Digest,
    new_spi: u64,
) -> (Reply, Option<IkeSa>) {
    let (Some(sa_p), Some(ni)) = (&d.sa, &d.nonce) else {
        return refuse(NotifyType::INVALID_SYNTAX);
    };
    let ike = sa_p.proposals.iter().any(|x| x.protocol == ProtocolId::IKE);
    if busy(sa, ike) {
        return refuse(NotifyType::TEMPORARY_FAILURE);
    }
    if ike {
        return respond_ike_rekey(cx, sa, now, sa_p, ni, d.ke.as_ref(), new_spi);
    }
    let rekey_of = match d.notify(NotifyType::REKEY_SA) {
        Some(n) => match rekey_target(sa, n) {
            Ok(spi) => Some(spi),
            Err(n) => return (Reply::keep(vec![InnerPayload::Notify(n)]), None),
        },
        None => None,
    };
    let Some(conn) = cx.config.connection(&sa.conn).cloned() else {
        return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
    };
    let via = child::Via::CreateChildSa { ni, rekey_of };
    (
        Reply::keep(child::respond(cx, sa, now, &conn, d, via)),
        None,
    )
}

/// RFC 7296 section 2.25: what we are in the middle of must finish first. A Child SA request
/// during our IKE rekey, an IKE rekey during any Child SA exchange of ours (or while one is being
/// deleted), and anything on an IKE SA that was already rekeyed get TEMPORARY_FAILURE, as
/// strongSwan does. An IKE rekey crossing ours is answered as usual (section 2.8.2); the first
/// one only: the peer has a window of one.
fn busy(sa: &IkeSa, ike: bool) -> bool {
    let ike_rekeying = sa.rekeying(None);
    let children_busy = sa.requests.outstanding().is_some_and(|o| {
        matches!(
            o.purpose,
            Purpose::CreateChild { .. } | Purpose::RekeyChild { .. } | Purpose::DeleteChild { .. }
        )
    }) || sa.children.iter().any(|c| {
        matches!(
            c.state(),
            ChildStatusState::Rekeying | ChildStatusState::Deleting
        )
    });
    sa.rekeyed_to.is_some()
        || (!ike && ike_rekeying)
        || (ike && (children_busy || sa.ike_collision.is_some()))
}

/// Our inbound SPI of the Child SA that N(REKEY_SA) names (by the peer's inbound SPI), or the
/// notify to answer with when there is none to rekey.
fn rekey_target(sa: &IkeSa, n: &Notify) -> Result<u32, Notify> {
    let Ok(spi) = <[u8; 4]>::try_from(n.spi.as_slice()).map(u32::from_be_bytes) else {
        return Err(Notify::new(NotifyType::INVALID_SYNTAX));
    };
    let Some(c) = sa.children.iter().find(|c| c.spi_out == spi) else {
        let mut n = Notify::new(NotifyType::CHILD_SA_NOT_FOUND);
        n.protocol = ProtocolId::ESP;
        n.spi = spi.to_be_bytes().to_vec();
        return Err(n);
    };
    // RFC 7296 section 2.25.1: a Child SA we are closing (or already replaced) cannot be
    // rekeyed; one we are rekeying ourselves is answered as usual (section 2.8.1 picks the
    // redundant SA once both exchanges are done).
    if matches!(
        c.state(),
        ChildStatusState::Deleting | ChildStatusState::Rekeyed
    ) {
        return Err(Notify::new(NotifyType::TEMPORARY_FAILURE));
    }
    Ok(c.spi_in)
}

fn respond_ike_rekey<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    sa_p: &SaPayload,
    ni: &[u8],
    ke: Option<&KePayload>,
    new_spi: u64,
) -> (Reply, Option<IkeSa>) {
    let (selected, algs, spi_i) = match select_ike(cx, sa, now, sa_p) {
        Ok(x) => x,
        Err(n) => return refuse(n),
    };
    let Some(k) = ke.filter(|k| k.group == algs.ke) else {
        return (
            Reply::keep(vec![InnerPayload::Notify(Notify::invalid_ke(algs.ke))]),
            None,
        );
    };
    let Ok(ours) = KeyExchange::generate(algs.ke, cx.rng_dyn()) else {
        return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
    };
    let Ok(g_ir) = ours.shared_secret(&k.data) else {
        return refuse(NotifyType::INVALID_SYNTAX);
    };
    let nr = cx.random_secret(NONCE_LEN);
    let mut new = match derive_successor(
        cx,
        sa,
        now,
        &algs,
        &g_ir,
        Secret::from_slice(ni),
        nr.clone(),
        spi_i,
        new_spi,
        false,
    ) {
        Ok(n) => n,
        Err(fault) => {
            let reason = FailureReason::RekeyFailed {
                child: None,
                why: fault.into(),
            };
            cx.fail(now, Some(sa.conn.clone()), sa.remote, reason);
            return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
        }
    };
    let out = vec![
        InnerPayload::Sa(SaPayload {
            proposals: vec![selected.response_proposal(&new_spi.to_be_bytes())],
        }),
        InnerPayload::Nonce(nr.as_bytes().to_vec()),
        InnerPayload::Ke(KePayload {
            group: algs.ke,
            data: ours.public_value().to_vec(),
        }),
    ];
    if sa.rekeying(None) {
        // RFC 7296 section 2.8.2: our own IKE rekey is outstanding. The new SA is held back
        // until that exchange completes and the nonces pick the survivor.
        cx.emit(Event::Log {
            level: LogLevel::Info,
            conn: Some(sa.conn.clone()),
            message: format!(
                "IKE SA rekey collision: answered the peer's rekey ({}) while ours is outstanding",
                new.spis()
            ),
        });
        sa.ike_collision = Some(Box::new(new));
        return (Reply::keep(out), None);
    }
    collision::take_over(cx, sa, &mut new, now);
    (Reply::keep(out), Some(new))
}

/// The responder's choice for the peer's IKE rekey: our proposal, its algorithms and the peer's
/// new SPI; otherwise the notify to refuse with.
fn select_ike<R: Rng>(
    cx: &mut Core<R>,
    sa: &IkeSa,
    now: Instant,
    sa_p: &SaPayload,
) -> Result<(proposal::Selected, proposal::IkeAlgorithms, u64), NotifyType> {
    let conn = cx
        .config
        .connection(&sa.conn)
        .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
    let selected = match proposal::select(&conn.ike_proposals, &sa_p.proposals) {
        Ok(s) => s,
        Err(mismatch) => {
            let reason = FailureReason::ProposalMismatch {
                protocol: ProtocolId::IKE,
                child: None,
                mismatch,
            };
            cx.fail(now, Some(sa.conn.clone()), sa.remote, reason);
            return Err(NotifyType::NO_PROPOSAL_CHOSEN);
        }
    };
    let algs = selected
        .algorithms
        .as_ike()
        .copied()
        .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
    let spi_i = spi8(&selected.proposal.spi)
        .filter(|s| *s != 0)
        .ok_or(NotifyType::INVALID_SYNTAX)?;
    Ok((selected, algs, spi_i))
}
