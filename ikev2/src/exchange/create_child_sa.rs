//! CREATE_CHILD_SA (RFC 7296 sections 1.3 and 2.8): additional Child SAs, Child SA rekeying
//! (N(REKEY_SA), optional PFS key exchange) and IKE SA rekeying (new SPIs, SKEYSEED from the old
//! SK_d, Child SAs move over, message IDs restart at 0).
//!
//! Collisions (RFC 7296 section 2.25): two rekeys of the same Child SA that cross are both
//! answered as usual; once our own completes, the SA created by the exchange holding the lowest
//! of the four nonces is redundant and deleted by its creator, while the winner's initiator
//! deletes the old one (section 2.8.1). Two crossing IKE SA rekeys are resolved the same way
//! (section 2.8.2, see `sa::collision`). A Child SA request while we rekey the IKE SA, an IKE
//! rekey while any Child SA exchange of ours is out, and a rekey of a Child SA we are deleting
//! are answered TEMPORARY_FAILURE; whoever gets that retries after a random delay
//! (`timer::temporary_failure_retry`), on the new IKE SA if the old one was rekeyed meanwhile.

use std::time::Instant;

use crate::config::{resolve_ts, ChildConfig, Mode};
use crate::consts::{KeGroup, NotifyType, ProtocolId, TransformType};
use crate::context::Core;
use crate::crypto::{self, KeyExchange, Secret};
use crate::event::{Event, FailureReason, IkeState, LimitHit, LogLevel, PfsConflict};
use crate::exchange::collision;
use crate::exchange::narrowing::pick_child;
use crate::proposal::{self, transform_name, Algorithms};
use crate::rng::Rng;
use crate::sa::child::{is_narrowing_of, ts_list};
use crate::sa::status::ChildStatusState;
use crate::sa::{IkeCrypto, IkeSa, PendingChild, PendingCreate, Purpose};
use crate::timer;
use crate::wire::{InnerPayload, KePayload, Notify, SaPayload, TrafficSelector};

use super::{first_error, has_notify, install_child, notify, ChildAgreement, Reply};

/// Nonce length: at least half the key size of any PRF we offer and at least 128 bits
/// (RFC 7296 section 2.10); 32 octets covers PRF_HMAC_SHA2_512.
const NONCE_LEN: usize = 32;

fn group_names(groups: &[KeGroup]) -> String {
    if groups.is_empty() {
        return "no PFS".into();
    }
    groups
        .iter()
        .map(|g| transform_name(TransformType::KE, g.0, 0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The KE groups a peer's proposals list (NONE excluded).
fn offered_groups(proposals: &[crate::wire::Proposal]) -> Vec<KeGroup> {
    let mut out = Vec::new();
    for t in proposals
        .iter()
        .flat_map(|p| p.transforms.iter())
        .filter(|t| t.ttype == TransformType::KE && t.id != KeGroup::NONE.0)
    {
        if !out.contains(&KeGroup(t.id)) {
            out.push(KeGroup(t.id));
        }
    }
    out
}

/// "peer requires MODP_2048, child 'net' has no PFS group" and its variants.
fn child_config<'a, R: Rng>(cx: &'a Core<R>, sa: &IkeSa, name: &str) -> Option<&'a ChildConfig> {
    cx.config.connection(&sa.conn).and_then(|c| c.child(name))
}

// ---------------------------------------------------------------------------------------------
// Initiator
// ---------------------------------------------------------------------------------------------

fn unreachable_purpose(
) -> Result<(String, Option<&'static crate::sa::child::ChildSa>), FailureReason> {
    Err(FailureReason::Internal {
        detail: "not a CREATE_CHILD_SA purpose".into(),
    })
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
    let mut payloads = Vec::new();
    let internal = |e: crypto::CryptoError| FailureReason::Internal {
        detail: e.to_string(),
    };
    let pending = match purpose {
        Purpose::RekeyIke => {
            let conn = cx
                .config
                .connection(&sa.conn)
                .ok_or(FailureReason::RekeyFailed {
                    child: None,
                    detail: "connection no longer configured".into(),
                })?;
            let mut proposals = conn.ike_proposals.clone();
            // Stay with the group in use unless the peer asked for another one.
            let current = sa.crypto.as_ref().map(|c| c.group);
            if let Some(g) = ke_group.or(current) {
                if let Some(p) = proposals.with_group_first(g) {
                    proposals = p;
                }
            }
            let group = proposals
                .first_ke_group()
                .ok_or(FailureReason::RekeyFailed {
                    child: None,
                    detail: "no KE group in the IKE proposals".into(),
                })?;
            let ke = KeyExchange::generate(group, cx.rng_dyn()).map_err(internal)?;
            let ike_spi = loop {
                let s = cx.random_u64();
                if s != 0 {
                    break s;
                }
            };
            payloads.push(InnerPayload::Sa(SaPayload {
                proposals: proposals.to_wire(&ike_spi.to_be_bytes()),
            }));
            payloads.push(InnerPayload::Nonce(nonce.as_bytes().to_vec()));
            payloads.push(InnerPayload::Ke(KePayload {
                group,
                data: ke.public_value().to_vec(),
            }));
            PendingCreate {
                nonce,
                ke: Some(ke),
                proposals,
                spi_in: 0,
                ike_spi,
                child: None,
                ke_retries,
            }
        }
        Purpose::CreateChild { .. } | Purpose::RekeyChild { .. } => {
            let (name, rekey_of) = match purpose {
                Purpose::CreateChild { child } => (child.clone(), None),
                Purpose::RekeyChild { spi_in } => {
                    let c = sa.children.iter().find(|c| c.spi_in == *spi_in).ok_or(
                        FailureReason::RekeyFailed {
                            child: None,
                            detail: format!("no Child SA with SPI {spi_in:08x}"),
                        },
                    )?;
                    (c.name.clone(), Some(c))
                }
                _ => unreachable_purpose()?,
            };
            let cc =
                child_config(cx, sa, &name)
                    .cloned()
                    .ok_or(FailureReason::ChildCreateFailed {
                        child: name.clone(),
                        detail: "child no longer configured".into(),
                    })?;
            let mut proposals = cc.esp_proposals.clone();
            if let Some(g) = ke_group {
                if let Some(p) = proposals.with_group_first(g) {
                    proposals = p;
                }
            }
            let (local_ts, remote_ts, mode) = match rekey_of {
                Some(c) => (c.local_ts.clone(), c.remote_ts.clone(), c.mode),
                None => (
                    resolve_ts(&cc.local_ts, sa.local.ip()),
                    resolve_ts(&cc.remote_ts, sa.remote.ip()),
                    cc.mode,
                ),
            };
            let spi_in = cx.alloc_esp_spi();
            if let Purpose::RekeyChild { spi_in: old } = purpose {
                payloads.push(InnerPayload::Notify(Notify::rekey_sa(
                    ProtocolId::ESP,
                    *old,
                )));
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
            let (tsi, tsr) = super::ike_auth::ts_payloads(&cc.name, &local_ts, &remote_ts)?;
            payloads.push(InnerPayload::TsI(tsi));
            payloads.push(InnerPayload::TsR(tsr));
            PendingCreate {
                nonce,
                ke,
                proposals: proposals.clone(),
                spi_in,
                ike_spi: 0,
                child: Some(PendingChild {
                    name,
                    spi_in,
                    mode,
                    proposals,
                    local_ts,
                    remote_ts,
                }),
                ke_retries,
            }
        }
        _ => {
            return Err(FailureReason::Internal {
                detail: "not a CREATE_CHILD_SA purpose".into(),
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
    sa.create = Some(pending);
    Ok(payloads)
}

/// What the endpoint does after our CREATE_CHILD_SA completed.
pub(crate) enum CreateOutcome {
    Keep,
    /// The IKE SA was rekeyed: insert this SA; the old one sends its Delete.
    NewIke(Box<IkeSa>),
}

struct Parts<'a> {
    sa: Option<&'a SaPayload>,
    nonce: Option<&'a [u8]>,
    ke: Option<&'a KePayload>,
    tsi: Vec<TrafficSelector>,
    tsr: Vec<TrafficSelector>,
    rekey: Option<&'a Notify>,
}

fn parts(payloads: &[InnerPayload]) -> Parts<'_> {
    let mut p = Parts {
        sa: None,
        nonce: None,
        ke: None,
        tsi: Vec::new(),
        tsr: Vec::new(),
        rekey: None,
    };
    for x in payloads {
        match x {
            InnerPayload::Sa(s) => p.sa = Some(s),
            InnerPayload::Nonce(n) => p.nonce = Some(n),
            InnerPayload::Ke(k) => p.ke = Some(k),
            InnerPayload::TsI(t) => p.tsi = t.ip_selectors().copied().collect(),
            InnerPayload::TsR(t) => p.tsr = t.ip_selectors().copied().collect(),
            InnerPayload::Notify(n) if n.ntype == NotifyType::REKEY_SA => p.rekey = Some(n),
            _ => {}
        }
    }
    p
}

fn nonce_ok(n: &[u8]) -> bool {
    (16..=256).contains(&n.len())
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

/// Initiator: the (authenticated) response to our CREATE_CHILD_SA.
pub(crate) fn handle_response_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    purpose: Purpose,
    payloads: &[InnerPayload],
) -> CreateOutcome {
    let Some(pending) = sa.create.take() else {
        return CreateOutcome::Keep;
    };
    let child_name = pending.child.as_ref().map(|c| c.name.clone());
    let rekey_of = match purpose {
        Purpose::RekeyChild { spi_in } => Some(spi_in),
        _ => None,
    };
    let fail = |cx: &mut Core<R>, sa: &mut IkeSa, reason: FailureReason| {
        if let Some(old) = rekey_of {
            unmark_rekeying(cx, sa, old);
        }
        cx.fail(now, Some(sa.conn.clone()), sa.remote, reason);
    };
    let what_failed = |detail: String| match (&purpose, &child_name) {
        (Purpose::CreateChild { child }, _) => FailureReason::ChildCreateFailed {
            child: child.clone(),
            detail,
        },
        (_, Some(c)) => FailureReason::RekeyFailed {
            child: Some(c.clone()),
            detail,
        },
        _ => FailureReason::RekeyFailed {
            child: None,
            detail,
        },
    };
    if let Some(err) = first_error(payloads) {
        let why = format!("our rekey was answered with {err}");
        if matches!(purpose, Purpose::RekeyIke)
            && collision::adopt_peers_rekey(cx, sa, now, &why, false)
        {
            return CreateOutcome::Keep;
        }
        match err {
            NotifyType::TEMPORARY_FAILURE => {
                let moot = rekey_of.is_some_and(|old| {
                    !sa.children.iter().any(|c| {
                        c.spi_in == old
                            && !matches!(
                                c.state(),
                                ChildStatusState::Rekeyed | ChildStatusState::Deleting
                            )
                    })
                });
                if moot {
                    // The peer's crossing rekey already replaced the Child SA, or a Delete
                    // (either side's) removed it: nothing to retry.
                    cx.emit(Event::Log {
                        level: LogLevel::Info,
                        conn: Some(sa.conn.clone()),
                        message: format!(
                            "peer answered TEMPORARY_FAILURE to the rekey of child '{}', which was replaced or deleted meanwhile: not retrying",
                            child_name.as_deref().unwrap_or("?")
                        ),
                    });
                    if let Some(old) = rekey_of {
                        unmark_rekeying(cx, sa, old);
                        if sa
                            .child_collision
                            .as_ref()
                            .is_some_and(|c| c.old_spi_in == old)
                        {
                            sa.child_collision = None;
                        }
                    }
                    return CreateOutcome::Keep;
                }
                sa.temp_failures += 1;
                if sa.temp_failures > timer::TEMPORARY_FAILURE_MAX_RETRIES {
                    let r = what_failed(format!(
                        "peer kept answering TEMPORARY_FAILURE ({} times)",
                        sa.temp_failures - 1
                    ));
                    sa.temp_failures = 0;
                    fail(cx, sa, r);
                    return CreateOutcome::Keep;
                }
                // Back to INSTALLED until the retry (as strongSwan): a Child SA marked as being
                // rekeyed would make us refuse the peer's IKE rekey in the meantime.
                if let Some(old) = rekey_of {
                    unmark_rekeying(cx, sa, old);
                }
                let delay =
                    timer::on_temporary_failure(&mut sa.deferred, purpose, now, cx.random_u64());
                cx.emit(Event::Log {
                    level: LogLevel::Info,
                    conn: Some(sa.conn.clone()),
                    message: format!(
                        "peer answered TEMPORARY_FAILURE, retrying in {} ms",
                        delay.as_millis()
                    ),
                });
                return CreateOutcome::Keep;
            }
            NotifyType::INVALID_KE_PAYLOAD => {
                let wanted = payloads.iter().find_map(|p| match p {
                    InnerPayload::Notify(n) => n.invalid_ke_group(),
                    _ => None,
                });
                let ok = wanted.filter(|g| pending.proposals.accepts_group(*g));
                match ok {
                    Some(g) if pending.ke_retries == 0 => {
                        // Retried at once with the group the peer asked for (RFC 7296 1.3).
                        sa.retry_ke = Some((purpose.clone(), g));
                        sa.queue.push_front(purpose);
                        return CreateOutcome::Keep;
                    }
                    _ => {
                        let peer: Vec<KeGroup> = wanted.into_iter().collect();
                        let r = match &child_name {
                            Some(c) => FailureReason::PfsMismatch {
                                child: c.clone(),
                                conflict: PfsConflict::Groups {
                                    peer,
                                    ours: pending.proposals.pfs_groups(),
                                },
                            },
                            None => what_failed(format!(
                                "peer requires KE group {}, which we do not offer",
                                group_names(&peer)
                            )),
                        };
                        fail(cx, sa, r);
                        return CreateOutcome::Keep;
                    }
                }
            }
            NotifyType::NO_PROPOSAL_CHOSEN if child_name.is_some() && rekey_of.is_some() => {
                // The same algorithms were accepted without KE before, so the key exchange is
                // what the peer refused (or demanded).
                let c = child_name.clone().unwrap_or_default();
                let conflict = PfsConflict::PeerRefused {
                    ours: pending.proposals.pfs_groups(),
                };
                fail(cx, sa, FailureReason::PfsMismatch { child: c, conflict });
                return CreateOutcome::Keep;
            }
            NotifyType::CHILD_SA_NOT_FOUND => {
                // RFC 7296 section 2.25: drop ours silently and create it afresh.
                // A Child SA the peer deleted while we tried to rekey it stays deleted.
                let existed = rekey_of.is_some_and(|old| {
                    super::remove_child(cx, sa, old, crate::event::DownReason::PeerDelete).is_some()
                });
                if existed {
                    if let Some(name) = child_name {
                        if child_config(cx, sa, &name).is_some() {
                            sa.queue.push_back(Purpose::CreateChild { child: name });
                        }
                    }
                }
                return CreateOutcome::Keep;
            }
            n => {
                let r = what_failed(format!("peer answered {n}"));
                fail(cx, sa, r);
                return CreateOutcome::Keep;
            }
        }
    }
    sa.temp_failures = 0;
    let p = parts(payloads);
    let ike_rekey = matches!(purpose, Purpose::RekeyIke);
    let res = match purpose {
        Purpose::RekeyIke => finish_ike_rekey_i(cx, sa, now, &pending, &p),
        _ => finish_child_i(cx, sa, now, &pending, &p, rekey_of).map(|()| None),
    };
    match res {
        Ok(Some(new)) => CreateOutcome::NewIke(Box::new(new)),
        Ok(None) => CreateOutcome::Keep,
        Err(detail) => {
            let why = format!("our rekey failed: {detail}");
            let r = what_failed(detail);
            fail(cx, sa, r);
            if ike_rekey {
                collision::adopt_peers_rekey(cx, sa, now, &why, false);
            }
            CreateOutcome::Keep
        }
    }
}

fn shared_secret(
    ke: Option<&KeyExchange>,
    peer: Option<&KePayload>,
    group: KeGroup,
) -> Result<Secret, String> {
    let ke = ke
        .filter(|k| k.group() == group)
        .ok_or("no key exchange of the chosen group")?;
    let kp = peer.ok_or("response lacks the KE payload")?;
    if kp.group != group {
        return Err(format!(
            "KE payload of group {} for chosen group {}",
            kp.group, group
        ));
    }
    ke.shared_secret(&kp.data).map_err(|e| e.to_string())
}

fn finish_child_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    pending: &PendingCreate,
    p: &Parts<'_>,
    rekey_of: Option<u32>,
) -> Result<(), String> {
    let pc = pending.child.as_ref().ok_or("no pending child")?;
    let sa_p = p.sa.ok_or("response lacks SA")?;
    let nr = p
        .nonce
        .filter(|n| nonce_ok(n))
        .ok_or("response lacks a valid nonce")?;
    let [chosen] = sa_p.proposals.as_slice() else {
        return Err("not exactly one proposal".into());
    };
    let offered = pending.proposals.to_wire(&pending.spi_in.to_be_bytes());
    let algs = match proposal::check_response(&pending.proposals, &offered, chosen) {
        Ok(Algorithms::Child(a)) => a,
        Ok(Algorithms::Ike(_)) => return Err("IKE proposal for a Child SA".into()),
        Err(e) => return Err(e.to_string()),
    };
    let spi_out = <[u8; 4]>::try_from(chosen.spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| "ESP SPI not 4 octets")?;
    let pfs = match algs.ke {
        Some(g) => Some(shared_secret(pending.ke.as_ref(), p.ke, g)?),
        None => None,
    };
    if p.tsi.is_empty() || p.tsr.is_empty() {
        return Err("response lacks TSi or TSr".into());
    }
    if !is_narrowing_of(&p.tsi, &pc.local_ts) || !is_narrowing_of(&p.tsr, &pc.remote_ts) {
        return Err(format!(
            "responder chose TS {} === {} outside our {} === {}",
            ts_list(&p.tsi),
            ts_list(&p.tsr),
            ts_list(&pc.local_ts),
            ts_list(&pc.remote_ts)
        ));
    }
    if let Some(old) = rekey_of.filter(|o| !sa.children.iter().any(|c| c.spi_in == *o)) {
        // The peer deleted the Child SA while our rekey of it was out: it completed a crossing
        // rekey of its own (and won, RFC 7296 section 2.8.1) or wanted it gone. The pair our
        // exchange created is redundant: it is never installed here, and the peer's half is
        // deleted.
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
        return Ok(());
    }
    let ag = ChildAgreement {
        name: pc.name.clone(),
        mode: pc.mode,
        algorithms: algs,
        spi_in: pc.spi_in,
        spi_out,
        local_ts: p.tsi.clone(),
        remote_ts: p.tsr.clone(),
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
    install_child(cx, sa, now, ag).map_err(|r| r.to_string())?;
    let Some(old) = rekey_of else {
        return Ok(());
    };
    if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == old) {
        if c.state() != ChildStatusState::Rekeyed {
            let ev = c.transition(&sa.conn, ChildStatusState::Rekeyed);
            cx.emit(ev);
        }
    }
    let collision = sa.child_collision.take().filter(|c| c.old_spi_in == old);
    if let Some(col) = collision {
        // RFC 7296 section 2.8.1: the SA created by the exchange holding the lowest of the four
        // nonces is redundant; its creator deletes it, the other side deletes the old one.
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
            return Ok(());
        }
    }
    // Make-before-break: the new SAs are in; now the old pair goes (RFC 7296 section 2.8).
    sa.queue
        .push_back(Purpose::DeleteChild { spis_in: vec![old] });
    Ok(())
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
) -> Result<IkeSa, String> {
    let oc = old.crypto.as_ref().ok_or("old IKE SA has no keys")?;
    let (prf, cipher) = super::ike_sa_init::suite(algs).map_err(|e| e.to_string())?;
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
    )
    .map_err(|e| e.to_string())?;
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
    p: &Parts<'_>,
) -> Result<Option<IkeSa>, String> {
    let sa_p = p.sa.ok_or("response lacks SA")?;
    let nr = p
        .nonce
        .filter(|n| nonce_ok(n))
        .ok_or("response lacks a valid nonce")?;
    let [chosen] = sa_p.proposals.as_slice() else {
        return Err("not exactly one proposal".into());
    };
    let offered = pending.proposals.to_wire(&pending.ike_spi.to_be_bytes());
    let algs = match proposal::check_response(&pending.proposals, &offered, chosen) {
        Ok(Algorithms::Ike(a)) => a,
        Ok(Algorithms::Child(_)) => return Err("ESP proposal for an IKE rekey".into()),
        Err(e) => return Err(e.to_string()),
    };
    let spi_r = spi8(&chosen.spi)
        .filter(|s| *s != 0)
        .ok_or("IKE SPI not 8 octets")?;
    let g_ir = shared_secret(pending.ke.as_ref(), p.ke, algs.ke)?;
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
    payloads: &[InnerPayload],
    new_spi: u64,
) -> (Reply, Option<IkeSa>) {
    let p = parts(payloads);
    let Some(sa_p) = p.sa else {
        return refuse(NotifyType::INVALID_SYNTAX);
    };
    let Some(ni) = p.nonce.filter(|n| nonce_ok(n)) else {
        return refuse(NotifyType::INVALID_SYNTAX);
    };
    let ike = sa_p.proposals.iter().any(|x| x.protocol == ProtocolId::IKE);
    // RFC 7296 section 2.25: what we are in the middle of must finish first. A Child SA
    // request during our IKE rekey, an IKE rekey during any Child SA exchange of ours (or
    // while one is being deleted), and anything on an IKE SA that was already rekeyed get
    // TEMPORARY_FAILURE, as strongSwan does. An IKE rekey crossing ours is answered as usual
    // (section 2.8.2); the first one only: the peer has a window of one.
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
    let refused = sa.rekeyed_to.is_some()
        || (!ike && ike_rekeying)
        || (ike && (children_busy || sa.ike_collision.is_some()));
    if refused {
        return refuse(NotifyType::TEMPORARY_FAILURE);
    }
    if ike {
        return respond_ike_rekey(cx, sa, now, sa_p, ni, p.ke, new_spi);
    }
    let rekey_of = match p.rekey {
        Some(n) => {
            let Ok(spi) = <[u8; 4]>::try_from(n.spi.as_slice()).map(u32::from_be_bytes) else {
                return refuse(NotifyType::INVALID_SYNTAX);
            };
            let Some(c) = sa.children.iter().find(|c| c.spi_out == spi) else {
                let mut n = Notify::new(NotifyType::CHILD_SA_NOT_FOUND);
                n.protocol = ProtocolId::ESP;
                n.spi = spi.to_be_bytes().to_vec();
                return (Reply::keep(vec![InnerPayload::Notify(n)]), None);
            };
            // RFC 7296 section 2.25.1: a Child SA we are closing (or already replaced) cannot
            // be rekeyed; one we are rekeying ourselves is answered as usual (section 2.8.1
            // picks the redundant SA once both exchanges are done).
            if matches!(
                c.state(),
                ChildStatusState::Deleting | ChildStatusState::Rekeyed
            ) {
                return refuse(NotifyType::TEMPORARY_FAILURE);
            }
            Some(c.spi_in)
        }
        None => None,
    };
    respond_child(cx, sa, now, payloads, &p, sa_p, ni, rekey_of)
}

#[allow(clippy::too_many_arguments)]
fn respond_child<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    payloads: &[InnerPayload],
    p: &Parts<'_>,
    sa_p: &SaPayload,
    ni: &[u8],
    rekey_of: Option<u32>,
) -> (Reply, Option<IkeSa>) {
    let conn_name = sa.conn.clone();
    let Some(conn) = cx.config.connection(&conn_name).cloned() else {
        return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
    };
    let old = rekey_of
        .and_then(|s| sa.children.iter().find(|c| c.spi_in == s))
        .cloned();
    let limits = &cx.config.settings.limits;
    if old.is_none() && sa.children.len() >= limits.child_sas_per_ike {
        let reason = FailureReason::LimitExceeded {
            child: None,
            limit: LimitHit::ChildSas {
                have: sa.children.len(),
            },
        };
        cx.fail(now, Some(conn_name), sa.remote, reason);
        return refuse(NotifyType::NO_ADDITIONAL_SAS);
    }
    // The child: for a rekey the one being replaced (with its selectors); otherwise the first
    // configured child whose selectors overlap the request's.
    let pick = match &old {
        Some(o) => conn
            .child(&o.name)
            .map(|cc| (cc.clone(), o.local_ts.clone(), o.remote_ts.clone()))
            .ok_or_else(|| FailureReason::ChildCreateFailed {
                child: o.name.clone(),
                detail: "the child being rekeyed is no longer configured".into(),
            }),
        None => pick_child(
            limits,
            &conn.children,
            &p.tsi,
            &p.tsr,
            sa.local.ip(),
            sa.remote.ip(),
        )
        .map(|p| (p.child.clone(), p.local_ts, p.remote_ts)),
    };
    let picked = pick.and_then(|(cc, l, r)| {
        let payloads = super::ike_auth::ts_payloads(&cc.name, &r, &l)?;
        Ok((cc, l, r, payloads))
    });
    let (cc, local_ts, remote_ts, (ts_i, ts_r)) = match picked {
        Ok(x) => x,
        Err(reason) => {
            cx.fail(now, Some(conn_name), sa.remote, reason);
            return refuse(NotifyType::TS_UNACCEPTABLE);
        }
    };
    let selected = match proposal::select(&cc.esp_proposals, &sa_p.proposals) {
        Ok(s) => s,
        Err(mismatch) => {
            // Same algorithms without the key exchange would do: the sides disagree on PFS.
            let pfs_only =
                proposal::select(&cc.esp_proposals.without_ke(), &sa_p.proposals).is_ok();
            let reason = if pfs_only {
                let peer = offered_groups(&sa_p.proposals);
                FailureReason::PfsMismatch {
                    child: cc.name.clone(),
                    conflict: PfsConflict::Groups {
                        peer,
                        ours: cc.esp_proposals.pfs_groups(),
                    },
                }
            } else {
                FailureReason::ProposalMismatch {
                    protocol: ProtocolId::ESP,
                    child: Some(cc.name.clone()),
                    mismatch,
                }
            };
            cx.fail(now, Some(conn_name), sa.remote, reason);
            return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
        }
    };
    let Some(algs) = selected.algorithms.as_child().copied() else {
        return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
    };
    let Ok(spi_out) = <[u8; 4]>::try_from(selected.proposal.spi.as_slice()).map(u32::from_be_bytes)
    else {
        return refuse(NotifyType::INVALID_SYNTAX);
    };
    let mut out = Vec::new();
    let mut pfs = None;
    let mut our_ke = None;
    if let Some(g) = algs.ke {
        match p.ke {
            Some(k) if k.group == g => {
                let ke = match KeyExchange::generate(g, cx.rng_dyn()) {
                    Ok(k) => k,
                    Err(_) => return refuse(NotifyType::NO_PROPOSAL_CHOSEN),
                };
                match ke.shared_secret(&k.data) {
                    Ok(s) => pfs = Some(s),
                    Err(_) => return refuse(NotifyType::INVALID_SYNTAX),
                }
                our_ke = Some(ke);
            }
            // RFC 7296 section 1.3: the group we selected, so that the initiator can retry.
            _ => {
                return (
                    Reply::keep(vec![InnerPayload::Notify(Notify::invalid_ke(g))]),
                    None,
                )
            }
        }
    }
    let mode = if has_notify(payloads, NotifyType::USE_TRANSPORT_MODE) && cc.mode == Mode::Transport
    {
        Mode::Transport
    } else {
        Mode::Tunnel
    };
    let nr = cx.random_secret(NONCE_LEN);
    let spi_in = cx.alloc_esp_spi();
    let ag = ChildAgreement {
        name: cc.name.clone(),
        mode,
        algorithms: algs,
        spi_in,
        spi_out,
        local_ts: local_ts.clone(),
        remote_ts: remote_ts.clone(),
        exchange_initiator: false,
        nonces: Some((Secret::from_slice(ni), nr.clone())),
        pfs,
        rekey_of,
    };
    cx.emit(Event::Log {
        level: LogLevel::Info,
        conn: Some(conn_name.clone()),
        message: format!(
            "{} child '{}' for the peer: ESP:{algs}",
            if rekey_of.is_some() {
                "rekeyed"
            } else {
                "created"
            },
            cc.name
        ),
    });
    if let Err(reason) = install_child(cx, sa, now, ag) {
        cx.fail(now, Some(conn_name), sa.remote, reason);
        return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
    }
    if let Some(old) = rekey_of {
        if sa.rekeying(Some(old)) {
            sa.child_collision = Some(crate::sa::ChildCollision {
                old_spi_in: old,
                peer_successor: spi_in,
                ni: Secret::from_slice(ni),
                nr: nr.clone(),
            });
        }
        if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == old) {
            if c.state() != ChildStatusState::Rekeyed {
                let ev = c.transition(&sa.conn, ChildStatusState::Rekeyed);
                cx.emit(ev);
            }
        }
    }
    if mode == Mode::Transport {
        out.push(notify(NotifyType::USE_TRANSPORT_MODE));
    }
    out.push(InnerPayload::Sa(SaPayload {
        proposals: vec![selected.response_proposal(&spi_in.to_be_bytes())],
    }));
    out.push(InnerPayload::Nonce(nr.as_bytes().to_vec()));
    if let (Some(ke), Some(g)) = (our_ke, algs.ke) {
        out.push(InnerPayload::Ke(KePayload {
            group: g,
            data: ke.public_value().to_vec(),
        }));
    }
    out.push(InnerPayload::TsI(ts_i));
    out.push(InnerPayload::TsR(ts_r));
    (Reply::keep(out), None)
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
    let Some(conn) = cx.config.connection(&sa.conn).cloned() else {
        return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
    };
    let selected = match proposal::select(&conn.ike_proposals, &sa_p.proposals) {
        Ok(s) => s,
        Err(mismatch) => {
            let reason = FailureReason::ProposalMismatch {
                protocol: ProtocolId::IKE,
                child: None,
                mismatch,
            };
            cx.fail(now, Some(sa.conn.clone()), sa.remote, reason);
            return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
        }
    };
    let Some(algs) = selected.algorithms.as_ike().copied() else {
        return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
    };
    let Some(spi_i) = spi8(&selected.proposal.spi).filter(|s| *s != 0) else {
        return refuse(NotifyType::INVALID_SYNTAX);
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
        Err(detail) => {
            let reason = FailureReason::RekeyFailed {
                child: None,
                detail,
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

/// Used by IKE_AUTH: warns once at setup when the first rekey of `child` will certainly fail
/// because of PFS (the peer's IKE_AUTH proposals all demand a group we do not have).
pub(crate) fn warn_pfs_prediction<R: Rng>(
    cx: &mut Core<R>,
    conn: &str,
    cc: &ChildConfig,
    peer: &[crate::wire::Proposal],
) {
    if let Some(m) = proposal::predict_pfs_mismatch(&cc.name, &cc.esp_proposals, peer) {
        cx.emit(Event::Log {
            level: LogLevel::Warn,
            conn: Some(conn.to_string()),
            message: format!("Child SA rekey will fail: PFS mismatch: {m}"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pfs_details_name_both_sides() {
        let modp = vec![KeGroup::MODP_2048];
        let groups = |peer: &[KeGroup], ours: &[KeGroup]| PfsConflict::Groups {
            peer: peer.to_vec(),
            ours: ours.to_vec(),
        };
        assert_eq!(
            groups(&modp, &[]).describe("net"),
            "peer requires MODP_2048, child 'net' has no PFS group"
        );
        assert_eq!(
            groups(&[], &modp).describe("net"),
            "peer offers no PFS, child 'net' requires MODP_2048"
        );
        assert_eq!(
            groups(&modp, &[KeGroup::ECP_256]).describe("net"),
            "peer requires MODP_2048, child 'net' accepts only ECP_256"
        );
    }
}
