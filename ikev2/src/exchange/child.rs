//! One Child SA negotiation, shared by IKE_AUTH and CREATE_CHILD_SA: the responder picks the
//! child and narrows the selectors (`narrowing`), selects the proposal, takes the peer's SPI,
//! settles the mode, allocates its own SPI and installs; the initiator checks the answer against
//! what it offered. [`install_child`] turns the agreement into kernel state.

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::{ChildConfig, ConnConfig, Mode};
use crate::consts::{EncrId, EsnId, KeGroup, NotifyType, PayloadType, ProtocolId, TransformType};
use crate::context::Core;
use crate::crypto::{self, CryptoError, Encr, Integ, KeyExchange, Secret};
use crate::event::{
    CreateFailure, Event, FailureReason, Fault, Internal, LimitHit, LogLevel, PfsConflict, SpiKind,
    TsOutside,
};
use crate::output::{Direction, EncrSpec, IntegSpec, KernelOp, SaSpec, UdpEncap};
use crate::proposal::{self, Algorithms, ChildAlgorithms, ProposalSet, Selected};
use crate::rng::Rng;
use crate::sa::child::{self, is_narrowing_of, ChildSa};
use crate::sa::status::ChildStatusState;
use crate::sa::{ChildCollision, IkeSa};
use crate::timer;
use crate::wire::{InnerPayload, KePayload, Notify, SaPayload, TrafficSelector, TsPayload};

use super::narrowing::pick_child;
use super::notify;
use super::table::{Digest, NONCE_LEN};

// ---------------------------------------------------------------------------------------------
// Responder
// ---------------------------------------------------------------------------------------------

/// Which exchange asks for the Child SA.
pub(crate) enum Via<'a> {
    /// The first Child SA, inside IKE_AUTH: no key exchange, the IKE SA's nonces.
    IkeAuth,
    /// CREATE_CHILD_SA with the peer's nonce; `rekey_of` is our inbound SPI of the Child SA it
    /// replaces.
    CreateChildSa { ni: &'a [u8], rekey_of: Option<u32> },
}

/// Responder: negotiates the Child SA the peer's `d` asks for on `sa` (connection `conn`) and
/// installs it. Returns the payloads of the answer: SA, [Nr, KEr], TSi, TSr, or one error notify.
pub(crate) fn respond<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    conn: &ConnConfig,
    d: &Digest,
    via: Via<'_>,
) -> Vec<InnerPayload> {
    match negotiate(cx, sa, now, conn, d, &via) {
        Ok(out) => out,
        Err(refusal) => refusal.answer(cx, now, &conn.name, sa.remote),
    }
}

/// How a negotiation ended without a Child SA: the notify to answer with, and the failure to
/// record (if any).
struct Refused(Notify, Option<Box<FailureReason>>);

impl Refused {
    fn with(n: NotifyType, reason: FailureReason) -> Self {
        Refused(Notify::new(n), Some(Box::new(reason)))
    }

    fn quietly(n: Notify) -> Self {
        Refused(n, None)
    }

    fn answer<R: Rng>(
        self,
        cx: &mut Core<R>,
        now: Instant,
        conn: &str,
        peer: SocketAddr,
    ) -> Vec<InnerPayload> {
        if let Some(reason) = self.1 {
            cx.fail(now, Some(conn.to_string()), peer, *reason);
        }
        vec![InnerPayload::Notify(self.0)]
    }
}

/// The child picked for a request, with the narrowed selectors and their payloads.
struct Pick {
    child: ChildConfig,
    local_ts: Vec<TrafficSelector>,
    remote_ts: Vec<TrafficSelector>,
    ts_i: TsPayload,
    ts_r: TsPayload,
}

fn negotiate<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    conn: &ConnConfig,
    d: &Digest,
    via: &Via<'_>,
) -> Result<Vec<InnerPayload>, Refused> {
    let sa_p =
        d.sa.as_ref()
            .ok_or(Refused::quietly(Notify::new(NotifyType::INVALID_SYNTAX)))?;
    let rekey_of = match via {
        Via::IkeAuth => None,
        Via::CreateChildSa { rekey_of, .. } => *rekey_of,
    };
    let more = matches!(via, Via::CreateChildSa { .. });
    let pick = pick(cx, sa, conn, d, rekey_of, more)?;
    let ours = match via {
        Via::IkeAuth => {
            warn_pfs_prediction(cx, &conn.name, &pick.child, &sa_p.proposals);
            // The IKE_AUTH Child SA never does a key exchange (RFC 7296 section 1.2).
            pick.child.esp_proposals.without_ke()
        }
        Via::CreateChildSa { .. } => pick.child.esp_proposals.clone(),
    };
    let selected = select(&pick.child, &ours, sa_p)?;
    let (algs, spi_out) = selected_child(&selected)?;
    let (pfs, our_ke) = respond_ke(cx, algs.ke, d.ke.as_ref())?;
    let transport =
        d.has_notify(NotifyType::USE_TRANSPORT_MODE) && pick.child.mode == Mode::Transport;
    let mode = if transport {
        Mode::Transport
    } else {
        Mode::Tunnel
    };
    let nonces = match via {
        Via::IkeAuth => None,
        Via::CreateChildSa { ni, .. } => {
            Some((Secret::from_slice(ni), cx.random_secret(NONCE_LEN)))
        }
    };
    let spi_in = cx.alloc_esp_spi();
    cx.emit(selected_event(via, &conn.name, &pick.child.name, &algs));
    let ag = ChildAgreement {
        name: pick.child.name.clone(),
        mode,
        algorithms: algs,
        spi_in,
        spi_out,
        local_ts: pick.local_ts,
        remote_ts: pick.remote_ts,
        exchange_initiator: false,
        nonces: nonces.clone(),
        pfs,
        rekey_of,
    };
    install_child(cx, sa, now, ag).map_err(|r| Refused::with(NotifyType::NO_PROPOSAL_CHOSEN, r))?;
    if let (Some(old), Some((ni, nr))) = (rekey_of, &nonces) {
        replaced_by_peer(cx, sa, old, spi_in, ni, nr);
    }
    let sa_r = SaPayload {
        proposals: vec![selected.response_proposal(&spi_in.to_be_bytes())],
    };
    let nr = nonces.map(|(_, nr)| nr);
    let ke_r = our_ke.zip(algs.ke).map(|(ke, group)| KePayload {
        group,
        data: ke.public_value().to_vec(),
    });
    Ok(answer(mode, sa_r, nr, ke_r, pick.ts_i, pick.ts_r))
}

/// RFC 7296 sections 1.2 and 1.3: [N(USE_TRANSPORT_MODE)], SA, [Nr, KEr], TSi, TSr.
fn answer(
    mode: Mode,
    sa_r: SaPayload,
    nr: Option<Secret>,
    ke_r: Option<KePayload>,
    ts_i: TsPayload,
    ts_r: TsPayload,
) -> Vec<InnerPayload> {
    let mut out = Vec::new();
    if mode == Mode::Transport {
        out.push(notify(NotifyType::USE_TRANSPORT_MODE));
    }
    out.push(InnerPayload::Sa(sa_r));
    if let Some(nr) = nr {
        out.push(InnerPayload::Nonce(nr.as_bytes().to_vec()));
    }
    if let Some(ke) = ke_r {
        out.push(InnerPayload::Ke(ke));
    }
    out.push(InnerPayload::TsI(ts_i));
    out.push(InnerPayload::TsR(ts_r));
    out
}

/// What the log says was negotiated: the proposal in IKE_AUTH (a typed event the log limiter
/// summarises), the Child SA created or rekeyed in CREATE_CHILD_SA.
fn selected_event(via: &Via<'_>, conn: &str, child: &str, algs: &ChildAlgorithms) -> Event {
    match via {
        Via::IkeAuth => Event::ProposalSelected {
            conn: Some(conn.to_owned()),
            protocol: ProtocolId::ESP,
            algorithms: algs.to_string(),
        },
        Via::CreateChildSa { rekey_of, .. } => Event::Log {
            level: LogLevel::Info,
            conn: Some(conn.to_owned()),
            message: format!(
                "{} child '{child}' for the peer: ESP:{algs}",
                if rekey_of.is_some() {
                    "rekeyed"
                } else {
                    "created"
                },
            ),
        },
    }
}

/// The child: for a rekey the one being replaced (with its selectors); otherwise the first
/// configured child whose selectors overlap the request's. `additional`: a Child SA besides
/// those the IKE SA has, held to `max_child_sas`.
fn pick<R: Rng>(
    cx: &Core<R>,
    sa: &IkeSa,
    conn: &ConnConfig,
    d: &Digest,
    rekey_of: Option<u32>,
    additional: bool,
) -> Result<Pick, Refused> {
    let old = rekey_of.and_then(|s| sa.children.iter().find(|c| c.spi_in == s));
    let limits = &cx.config.settings.limits;
    let picked = match old {
        Some(o) => conn
            .child(&o.name)
            .map(|cc| (cc.clone(), o.local_ts.clone(), o.remote_ts.clone()))
            .ok_or_else(|| FailureReason::ChildCreateFailed {
                child: o.name.clone(),
                why: CreateFailure::RekeyedChildGone,
            }),
        None => {
            if additional && sa.children.len() >= limits.child_sas_per_ike {
                let reason = FailureReason::LimitExceeded {
                    child: None,
                    limit: LimitHit::ChildSas {
                        have: sa.children.len(),
                    },
                };
                return Err(Refused::with(NotifyType::NO_ADDITIONAL_SAS, reason));
            }
            let tsi = selectors(d.tsi.as_ref());
            let tsr = selectors(d.tsr.as_ref());
            let (lip, rip) = (sa.local.ip(), sa.remote.ip());
            pick_child(limits, &conn.children, &tsi, &tsr, lip, rip)
                .map(|p| (p.child.clone(), p.local_ts, p.remote_ts))
        }
    };
    let with_payloads = picked.and_then(|(child, local_ts, remote_ts)| {
        // Ours are TSr in the response: the peer's TSi narrowed is our remote_ts.
        let (ts_i, ts_r) = ts_payloads(&child.name, &remote_ts, &local_ts)?;
        Ok(Pick {
            child,
            local_ts,
            remote_ts,
            ts_i,
            ts_r,
        })
    });
    with_payloads.map_err(|r| Refused::with(NotifyType::TS_UNACCEPTABLE, r))
}

/// Our proposal out of `ours` for the peer's; a failure says whether only PFS disagrees.
fn select(child: &ChildConfig, ours: &ProposalSet, sa_p: &SaPayload) -> Result<Selected, Refused> {
    proposal::select(ours, &sa_p.proposals).map_err(|mismatch| {
        // Same algorithms without the key exchange would do: the sides disagree on PFS.
        let pfs_only = proposal::select(&ours.without_ke(), &sa_p.proposals).is_ok();
        let reason = if pfs_only {
            let peer = offered_groups(&sa_p.proposals);
            FailureReason::PfsMismatch {
                child: child.name.clone(),
                conflict: PfsConflict::Groups {
                    peer,
                    ours: ours.pfs_groups(),
                },
            }
        } else {
            FailureReason::ProposalMismatch {
                protocol: ProtocolId::ESP,
                child: Some(child.name.clone()),
                mismatch,
            }
        };
        Refused::with(NotifyType::NO_PROPOSAL_CHOSEN, reason)
    })
}

/// The selected ESP algorithms and the peer's SPI (our outbound one).
fn selected_child(selected: &Selected) -> Result<(ChildAlgorithms, u32), Refused> {
    let invalid = |fault: Fault| {
        let reason = FailureReason::InvalidResponse { fault };
        Refused::with(NotifyType::NO_PROPOSAL_CHOSEN, reason)
    };
    let algs = selected
        .algorithms
        .as_child()
        .copied()
        .ok_or_else(|| invalid(Fault::EspSelectionIke))?;
    let spi = <[u8; 4]>::try_from(selected.proposal.spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| invalid(Fault::SpiLength(SpiKind::PeerEsp)))?;
    Ok((algs, spi))
}

/// The PFS key exchange of a CREATE_CHILD_SA whose selected proposal names `group`: our KE and
/// the shared secret. A KE payload of another group is answered with the one we selected, so
/// that the initiator can retry (RFC 7296 section 1.3).
fn respond_ke<R: Rng>(
    cx: &mut Core<R>,
    group: Option<KeGroup>,
    peer: Option<&KePayload>,
) -> Result<(Option<Secret>, Option<KeyExchange>), Refused> {
    let Some(g) = group else {
        return Ok((None, None));
    };
    let Some(k) = peer.filter(|k| k.group == g) else {
        return Err(Refused::quietly(Notify::invalid_ke(g)));
    };
    let ke = KeyExchange::generate(g, cx.rng_dyn())
        .map_err(|_| Refused::quietly(Notify::new(NotifyType::NO_PROPOSAL_CHOSEN)))?;
    let secret = ke
        .shared_secret(&k.data)
        .map_err(|_| Refused::quietly(Notify::new(NotifyType::INVALID_SYNTAX)))?;
    Ok((Some(secret), Some(ke)))
}

/// The peer rekeyed our Child SA `old` into `spi_in`: `old` is replaced, and if we are rekeying
/// it ourselves, the nonces are kept to pick the redundant SA (RFC 7296 section 2.8.1).
fn replaced_by_peer<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    old: u32,
    spi_in: u32,
    ni: &Secret,
    nr: &Secret,
) {
    if sa.rekeying(Some(old)) {
        sa.child_collision = Some(ChildCollision {
            old_spi_in: old,
            peer_successor: spi_in,
            ni: ni.clone(),
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

fn selectors(p: Option<&TsPayload>) -> Vec<TrafficSelector> {
    p.map(|t| t.ip_selectors().copied().collect())
        .unwrap_or_default()
}

/// The TSi and TSr payloads for `tsi`/`tsr`, or the reason they cannot be sent (more selectors
/// than a payload holds: a configuration with more than 255 selectors in a child).
pub(crate) fn ts_payloads(
    child: &str,
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
) -> Result<(TsPayload, TsPayload), FailureReason> {
    let one = |ts: &[TrafficSelector]| {
        TsPayload::new(ts.iter().copied()).map_err(|e| FailureReason::LimitExceeded {
            child: Some(child.into()),
            limit: LimitHit::TsPayload(e),
        })
    };
    Ok((one(tsi)?, one(tsr)?))
}

// ---------------------------------------------------------------------------------------------
// PFS
// ---------------------------------------------------------------------------------------------

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

/// IKE_AUTH: warns once at setup when the first rekey of `child` will certainly fail because of
/// PFS (the peer's IKE_AUTH proposals all demand a group we do not have).
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

// ---------------------------------------------------------------------------------------------
// Initiator
// ---------------------------------------------------------------------------------------------

/// What we offered for a Child SA, to check the responder's answer against.
pub(crate) struct Offer<'a> {
    pub proposals: &'a ProposalSet,
    pub spi_in: u32,
    pub local_ts: &'a [TrafficSelector],
    pub remote_ts: &'a [TrafficSelector],
}

/// The responder's Child SA answer, checked against our offer.
pub(crate) struct Answer {
    pub algorithms: ChildAlgorithms,
    pub spi_out: u32,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
}

/// Initiator: one proposal out of ours, a 4-octet SPI, and selectors within what we proposed.
pub(crate) fn check_answer(offer: &Offer<'_>, d: &Digest) -> Result<Answer, Fault> {
    let sa_p = d.sa.as_ref().ok_or(Fault::Lacks {
        exchange: None,
        payloads: vec![PayloadType::SA],
    })?;
    let [chosen] = sa_p.proposals.as_slice() else {
        return Err(Fault::NotOneProposal);
    };
    let offered = offer.proposals.to_wire(&offer.spi_in.to_be_bytes());
    let algorithms = match proposal::check_response(offer.proposals, &offered, chosen) {
        Ok(Algorithms::Child(a)) => a,
        Ok(Algorithms::Ike(_)) => return Err(Fault::IkeForChild),
        Err(e) => return Err(Fault::Proposal(e)),
    };
    let spi_out = <[u8; 4]>::try_from(chosen.spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| Fault::SpiLength(SpiKind::Esp))?;
    let tsi = selectors(d.tsi.as_ref());
    let tsr = selectors(d.tsr.as_ref());
    if tsi.is_empty() || tsr.is_empty() {
        return Err(Fault::Lacks {
            exchange: None,
            payloads: vec![PayloadType::TSI, PayloadType::TSR],
        });
    }
    if !is_narrowing_of(&tsi, offer.local_ts) || !is_narrowing_of(&tsr, offer.remote_ts) {
        return Err(Fault::TsOutside(Box::new(TsOutside {
            tsi,
            tsr,
            local: offer.local_ts.to_vec(),
            remote: offer.remote_ts.to_vec(),
        })));
    }
    Ok(Answer {
        algorithms,
        spi_out,
        local_ts: tsi,
        remote_ts: tsr,
    })
}

// ---------------------------------------------------------------------------------------------
// Installation
// ---------------------------------------------------------------------------------------------

/// ICV length in bits of an AEAD ESP cipher.
fn aead_icv_bits(id: EncrId) -> Option<u16> {
    match id {
        EncrId::AES_GCM_16 | EncrId::AES_CCM_16 | EncrId::CHACHA20_POLY1305 => Some(128),
        EncrId::AES_GCM_12 | EncrId::AES_CCM_12 => Some(96),
        EncrId::AES_GCM_8 | EncrId::AES_CCM_8 => Some(64),
        EncrId::NULL_AUTH_AES_GMAC => Some(128),
        _ => None,
    }
}

/// What was agreed for a Child SA; turned into kernel state by [`install_child`].
pub(crate) struct ChildAgreement {
    pub name: String,
    pub mode: Mode,
    pub algorithms: ChildAlgorithms,
    pub spi_in: u32,
    pub spi_out: u32,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// Whether we were the initiator of the exchange that created the Child SA (selects which half
    /// of KEYMAT protects which direction).
    pub exchange_initiator: bool,
    /// CREATE_CHILD_SA: the exchange's nonces (Ni, Nr) and the PFS shared secret. `None` in
    /// IKE_AUTH, whose Child SA takes the IKE SA's nonces.
    pub nonces: Option<(Secret, Secret)>,
    pub pfs: Option<Secret>,
    /// A rekey: the Child SA being replaced. The successor keeps its reqid, so the kernel's
    /// policies (which select SAs by reqid) carry over without being touched.
    pub rekey_of: Option<u32>,
}

/// The two kernel SAs of a Child SA, keys included.
struct KernelPair {
    sa_in: SaSpec,
    sa_out: SaSpec,
    key_bits: u16,
    lifetimes: timer::ChildLifetimes,
    reqid: u32,
}

/// Derives the Child SA keys, emits the kernel operations (two SAs, policies) and records the
/// Child SA on `sa`. Returns the reason if the keys could not be derived.
pub(crate) fn install_child<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    ag: ChildAgreement,
) -> Result<(), FailureReason> {
    let pair = kernel_pair(cx, sa, &ag)?;
    let encap = sa.udp_encap();
    // Kept to re-install the pair when the peer's NAT mapping changes.
    let kernel_sas = encap.then(|| Box::new((pair.sa_in.clone(), pair.sa_out.clone())));
    let (pending_ops, pending_out) =
        emit_kernel_ops(cx, sa, &ag, pair.sa_in, pair.sa_out, pair.reqid);
    let a = ag.algorithms;
    let child = ChildSa {
        name: ag.name,
        unique_id: cx.next_uid(),
        reqid: pair.reqid,
        state: ChildStatusState::Installing,
        mode: ag.mode,
        spi_in: ag.spi_in,
        spi_out: ag.spi_out,
        encr: a.encr.id,
        encr_keysize: pair.key_bits,
        integ: a.integ,
        esn: a.esn == EsnId::ESN,
        encap,
        kernel_sas,
        local_ts: ag.local_ts,
        remote_ts: ag.remote_ts,
        installed_at: now,
        pending_ops,
        deadlines: timer::on_child_installed(&pair.lifetimes, now),
        pending_out,
        bytes_in: 0,
        bytes_out: 0,
        last_in: None,
        last_out: None,
        redundant: false,
    };
    cx.emit(child.created_event(&sa.conn));
    let (lts, rts) = child.ts_text();
    cx.emit(Event::ChildSaUp {
        conn: sa.conn.clone(),
        child: child.name.clone(),
        reqid: child.reqid,
        spi_in: child.spi_in,
        spi_out: child.spi_out,
        mode: child.mode,
        local_ts: lts,
        remote_ts: rts,
    });
    sa.children.push(child);
    Ok(())
}

/// KEYMAT for the agreement (RFC 7296 section 2.17) and the inbound and outbound kernel SAs.
fn kernel_pair<R: Rng>(
    cx: &mut Core<R>,
    sa: &IkeSa,
    ag: &ChildAgreement,
) -> Result<KernelPair, FailureReason> {
    let internal = |e: CryptoError| FailureReason::Internal { why: e.into() };
    let c = sa.crypto.as_ref().ok_or(FailureReason::Internal {
        why: Internal::ChildBeforeKeys,
    })?;
    let a = ag.algorithms;
    let key_bits = (a.encr.key_bits != 0).then_some(a.encr.key_bits);
    let encr = Encr::new(a.encr.id, key_bits).map_err(internal)?;
    let integ = a.integ.map(Integ::new).transpose().map_err(internal)?;
    let (ni, nr) = match &ag.nonces {
        Some((ni, nr)) => (ni.as_bytes(), nr.as_bytes()),
        None => (sa.ni.as_bytes(), sa.nr.as_bytes()),
    };
    let keys = crypto::derive_child_keys(
        c.prf,
        c.keys.sk_d.as_bytes(),
        ag.pfs.as_ref().map(|s| s.as_bytes()),
        ni,
        nr,
        encr.key_len(),
        integ.map_or(0, |i| i.key_len()),
    )
    .map_err(internal)?;
    let ((ein, iin), (eout, iout)) = if ag.exchange_initiator {
        ((&keys.encr_r, &keys.integ_r), (&keys.encr_i, &keys.integ_i))
    } else {
        ((&keys.encr_i, &keys.integ_i), (&keys.encr_r, &keys.integ_r))
    };
    let child_cfg = cx
        .config
        .connection(&sa.conn)
        .and_then(|c| c.child(&ag.name))
        .cloned();
    let jitter = cx.random_u64();
    let lifetimes = child_cfg
        .as_ref()
        .map(|cc| cc.lifetimes(&cx.config.settings, &sa.conn, jitter))
        .unwrap_or_default();
    let old = ag
        .rekey_of
        .and_then(|spi| sa.children.iter().find(|c| c.spi_in == spi));
    let reqid = match old {
        Some(o) => o.reqid,
        None => cx.next_reqid(),
    };
    let spec = SpecBase {
        ag,
        reqid,
        key_bits: encr.key_bits(),
        lifetime: lifetimes.kernel(),
        replay_window: cx.config.settings.replay_window,
        encap: sa.udp_encap(),
    };
    Ok(KernelPair {
        sa_in: spec.sa(Direction::In, sa.remote, sa.local, ag.spi_in, ein, iin),
        sa_out: spec.sa(Direction::Out, sa.local, sa.remote, ag.spi_out, eout, iout),
        key_bits: encr.key_bits(),
        lifetimes,
        reqid,
    })
}

/// What both kernel SAs of a Child SA share.
struct SpecBase<'a> {
    ag: &'a ChildAgreement,
    reqid: u32,
    key_bits: u16,
    lifetime: crate::output::Lifetime,
    replay_window: u32,
    encap: bool,
}

impl SpecBase<'_> {
    fn sa(
        &self,
        direction: Direction,
        src: SocketAddr,
        dst: SocketAddr,
        spi: u32,
        ek: &Secret,
        ik: &Secret,
    ) -> SaSpec {
        let (a, mode) = (self.ag.algorithms, self.ag.mode);
        let selector = match (self.ag.local_ts.first(), self.ag.remote_ts.first()) {
            (Some(l), Some(r)) if mode == Mode::Transport && direction == Direction::Out => {
                Some((*l, *r))
            }
            (Some(l), Some(r)) if mode == Mode::Transport => Some((*r, *l)),
            _ => None,
        };
        SaSpec {
            src: src.ip(),
            dst: dst.ip(),
            spi,
            reqid: self.reqid,
            direction,
            mode,
            encr: EncrSpec {
                alg: a.encr.id,
                key_bits: self.key_bits,
                icv_bits: aead_icv_bits(a.encr.id),
                key: zeroize::Zeroizing::new(ek.as_bytes().to_vec()),
            },
            integ: a.integ.map(|alg| IntegSpec {
                alg,
                key: zeroize::Zeroizing::new(ik.as_bytes().to_vec()),
            }),
            esn: a.esn == EsnId::ESN,
            replay_window: if direction == Direction::In {
                self.replay_window
            } else {
                0
            },
            // RFC 3948: ports as seen on the wire; the IKE SA is on the NAT-T ports by now.
            encap: self.encap.then_some(UdpEncap {
                sport: src.port(),
                dport: dst.port(),
            }),
            lifetime: self.lifetime,
            selector,
        }
    }
}

/// Queues the kernel operations of a new Child SA; returns how many results are due and the
/// outbound SA if it is held back.
fn emit_kernel_ops<R: Rng>(
    cx: &mut Core<R>,
    sa: &IkeSa,
    ag: &ChildAgreement,
    sa_in: SaSpec,
    sa_out: SaSpec,
    reqid: u32,
) -> (u32, Option<SaSpec>) {
    let key = sa.local_spi();
    // Make-before-break: the inbound SA first, so the peer may switch as soon as it likes. A
    // rekey responder holds the outbound SA back until the peer deleted the old Child SA.
    let mut ops = vec![KernelOp::AddSa(sa_in)];
    let mut pending_out = None;
    if ag.rekey_of.is_some() && !ag.exchange_initiator {
        pending_out = Some(sa_out);
    } else {
        ops.push(KernelOp::AddSa(sa_out));
    }
    if ag.rekey_of.is_none() {
        let policies = child::policies(
            sa.local,
            sa.remote,
            ag.mode,
            reqid,
            &ag.local_ts,
            &ag.remote_ts,
        );
        ops.extend(policies.into_iter().map(KernelOp::AddPolicy));
    }
    let pending = u32::try_from(ops.len()).unwrap_or(u32::MAX);
    for op in ops {
        cx.kernel(op, Some((key, ag.spi_in)));
    }
    (pending, pending_out)
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
