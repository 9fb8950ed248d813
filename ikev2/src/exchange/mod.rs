//! The exchanges, one file each. Every file keeps the initiator half (`initiate_*`,
//! `handle_*_response`) apart from the responder half (`respond_*`).
//!
//! This module holds what they share: protecting and unprotecting messages with the IKE SA's keys,
//! and installing a negotiated Child SA.

pub(crate) mod collision;
pub(crate) mod create_child_sa;
pub(crate) mod fragment;
pub(crate) mod ike_auth;
pub(crate) mod ike_sa_init;
pub(crate) mod informational;
pub(crate) mod narrowing;

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::Mode;
use crate::consts::{EncrId, ExchangeType, PayloadType};
use crate::context::Core;
use crate::crypto::{self, CryptoError, Encr, Integ, Secret};
use crate::event::{DownReason, Event, FailureReason};
use crate::output::{Direction, EncrSpec, IntegSpec, KernelOp, SaSpec, UdpEncap};
use crate::proposal::ChildAlgorithms;
use crate::rng::Rng;
use crate::sa::child::{self, ChildSa};
use crate::sa::status::ChildStatusState;
use crate::sa::IkeSa;
use crate::timer;
use crate::wire::{
    decode_inner, encode_inner, DecodeError, Flags, Header, InnerPayload, Message, Notify,
    TrafficSelector,
};

/// What happens to the IKE SA once a message has been handled (and any reply sent).
#[derive(Debug)]
pub(crate) enum After {
    Keep,
    Destroy(DownReason),
}

/// The answer to a request: inner payloads to protect and send, then what happens to the SA.
pub(crate) struct Reply {
    pub payloads: Vec<InnerPayload>,
    pub after: After,
}

impl Reply {
    pub fn keep(payloads: Vec<InnerPayload>) -> Self {
        Reply {
            payloads,
            after: After::Keep,
        }
    }
}

/// Why a protected message could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// Not a well-formed message with an SK payload: drop, nothing is authenticated.
    Structure(DecodeError),
    NoSk,
    NoKeys,
    /// ICV or decryption failure: drop.
    Crypto,
    /// Authenticated, but the inner payloads are malformed: answer with this error notify.
    Inner(DecodeError),
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OpenError::Structure(e) | OpenError::Inner(e) => write!(f, "{e}"),
            OpenError::NoSk => f.write_str("no SK payload, or cleartext payloads next to it"),
            OpenError::NoKeys => f.write_str("IKE SA has no keys yet"),
            OpenError::Crypto => f.write_str("integrity check failed"),
        }
    }
}

/// Protects `payloads` in a new message on `sa` (SK payload only, RFC 7296 section 3.14).
pub(crate) fn seal(
    rng: &mut dyn Rng,
    sa: &IkeSa,
    exchange: ExchangeType,
    response: bool,
    message_id: u32,
    payloads: &[InnerPayload],
) -> Result<Vec<u8>, CryptoError> {
    let c = sa
        .crypto
        .as_ref()
        .ok_or(CryptoError::Malformed("IKE SA has no keys yet"))?;
    let header = Header {
        spi_i: sa.spi_i,
        spi_r: sa.spi_r,
        minor_version: 0,
        exchange,
        flags: Flags::new(sa.initiator, response),
        message_id,
    };
    let hdr = Message {
        header,
        payloads: Vec::new(),
    }
    .encode();
    let (first, inner) = encode_inner(payloads);
    let (ek, ak) = if sa.initiator {
        (&c.keys.sk_ei, &c.keys.sk_ai)
    } else {
        (&c.keys.sk_er, &c.keys.sk_ar)
    };
    crypto::sk::seal(
        &c.cipher,
        ek.as_bytes(),
        ak.as_bytes(),
        &hdr,
        first.0,
        &inner,
        rng,
    )
}

/// Verifies and decrypts a message from the peer of `sa`.
pub(crate) fn open(sa: &IkeSa, bytes: &[u8]) -> Result<Vec<InnerPayload>, OpenError> {
    let c = sa.crypto.as_ref().ok_or(OpenError::NoKeys)?;
    let msg = Message::decode(bytes).map_err(OpenError::Structure)?;
    // Only an SK payload may follow the header once keys exist; anything in cleartext would be
    // unauthenticated.
    if msg.payloads.len() != 1 || msg.sk().is_none() {
        return Err(OpenError::NoSk);
    }
    let (ek, ak) = if sa.initiator {
        (&c.keys.sk_er, &c.keys.sk_ar)
    } else {
        (&c.keys.sk_ei, &c.keys.sk_ai)
    };
    let (first, plain) = crypto::sk::open(&c.cipher, ek.as_bytes(), ak.as_bytes(), bytes)
        .map_err(|_| OpenError::Crypto)?;
    decode_inner(PayloadType(first), &plain).map_err(OpenError::Inner)
}

pub(crate) fn notify(ntype: crate::consts::NotifyType) -> InnerPayload {
    InnerPayload::Notify(Notify::new(ntype))
}

/// The first error notify among `payloads`, if any.
pub(crate) fn first_error(payloads: &[InnerPayload]) -> Option<crate::consts::NotifyType> {
    payloads.iter().find_map(|p| match p {
        InnerPayload::Notify(n) if n.is_error() => Some(n.ntype),
        _ => None,
    })
}

pub(crate) fn has_notify(payloads: &[InnerPayload], ntype: crate::consts::NotifyType) -> bool {
    payloads
        .iter()
        .any(|p| matches!(p, InnerPayload::Notify(n) if n.ntype == ntype))
}

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

/// Derives the Child SA keys, emits the kernel operations (two SAs, policies) and records the
/// Child SA on `sa`. Returns the reason if the keys could not be derived.
pub(crate) fn install_child<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    ag: ChildAgreement,
) -> Result<(), FailureReason> {
    let internal = |e: CryptoError| FailureReason::Internal {
        detail: e.to_string(),
    };
    let c = sa.crypto.as_ref().ok_or(FailureReason::Internal {
        detail: "Child SA before IKE keys".into(),
    })?;
    let a = ag.algorithms;
    let key_bits = if a.encr.key_bits == 0 {
        None
    } else {
        Some(a.encr.key_bits)
    };
    let encr = Encr::new(a.encr.id, key_bits).map_err(internal)?;
    let integ = a.integ.map(Integ::new).transpose().map_err(internal)?;
    let integ_len = integ.map_or(0, |i| i.key_len());
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
        integ_len,
    )
    .map_err(internal)?;
    let ((ein, iin), (eout, iout)) = if ag.exchange_initiator {
        ((&keys.encr_r, &keys.integ_r), (&keys.encr_i, &keys.integ_i))
    } else {
        ((&keys.encr_i, &keys.integ_i), (&keys.encr_r, &keys.integ_r))
    };
    let conn = cx.config.connection(&sa.conn).cloned();
    let child_cfg = conn.as_ref().and_then(|c| c.child(&ag.name)).cloned();
    let jitter = cx.random_u64();
    let limits = child_cfg
        .as_ref()
        .map(|cc| cc.lifetimes(&cx.config.settings, &sa.conn, jitter))
        .unwrap_or_default();
    let lifetime = limits.kernel();
    let old = ag
        .rekey_of
        .and_then(|spi| sa.children.iter().find(|c| c.spi_in == spi));
    let reqid = match old {
        Some(o) => o.reqid,
        None => cx.next_reqid(),
    };
    let key_bits_effective = encr.key_bits();
    let icv_bits = aead_icv_bits(a.encr.id);
    let encap = sa.udp_encap();
    let mk_sa = |direction,
                 src: SocketAddr,
                 dst: SocketAddr,
                 spi,
                 ek: &crypto::Secret,
                 ik: &crypto::Secret| {
        SaSpec {
            src: src.ip(),
            dst: dst.ip(),
            spi,
            reqid,
            direction,
            mode: ag.mode,
            encr: EncrSpec {
                alg: a.encr.id,
                key_bits: key_bits_effective,
                icv_bits,
                key: zeroize::Zeroizing::new(ek.as_bytes().to_vec()),
            },
            integ: a.integ.map(|alg| IntegSpec {
                alg,
                key: zeroize::Zeroizing::new(ik.as_bytes().to_vec()),
            }),
            esn: a.esn == crate::consts::EsnId::ESN,
            replay_window: if direction == Direction::In {
                cx.config.settings.replay_window
            } else {
                0
            },
            // RFC 3948: ports as seen on the wire; the IKE SA is on the NAT-T ports by now.
            encap: encap.then_some(UdpEncap {
                sport: src.port(),
                dport: dst.port(),
            }),
            lifetime,
            selector: if ag.mode == Mode::Transport {
                match (ag.local_ts.first(), ag.remote_ts.first()) {
                    (Some(l), Some(r)) if direction == Direction::Out => Some((*l, *r)),
                    (Some(l), Some(r)) => Some((*r, *l)),
                    _ => None,
                }
            } else {
                None
            },
        }
    };
    let sa_in = mk_sa(Direction::In, sa.remote, sa.local, ag.spi_in, ein, iin);
    let sa_out = mk_sa(Direction::Out, sa.local, sa.remote, ag.spi_out, eout, iout);
    drop(keys);
    // Kept to re-install the pair when the peer's NAT mapping changes.
    let kernel_sas = encap.then(|| Box::new((sa_in.clone(), sa_out.clone())));
    let key = sa.local_spi();
    // Make-before-break: the inbound SA first, so the peer may switch as soon as it likes. A
    // rekey responder holds the outbound SA back until the peer deleted the old Child SA.
    let mut ops = vec![KernelOp::AddSa(sa_in)];
    let defer_out = ag.rekey_of.is_some() && !ag.exchange_initiator;
    let mut pending_out = None;
    if defer_out {
        pending_out = Some(sa_out);
    } else {
        ops.push(KernelOp::AddSa(sa_out));
    }
    if ag.rekey_of.is_none() {
        for p in child::policies(
            sa.local,
            sa.remote,
            ag.mode,
            reqid,
            &ag.local_ts,
            &ag.remote_ts,
        ) {
            ops.push(KernelOp::AddPolicy(p));
        }
    }
    let pending = u32::try_from(ops.len()).unwrap_or(u32::MAX);
    for op in ops {
        cx.kernel(op, Some((key, ag.spi_in)));
    }
    let child = ChildSa {
        name: ag.name,
        unique_id: cx.next_uid(),
        reqid,
        state: ChildStatusState::Installing,
        mode: ag.mode,
        spi_in: ag.spi_in,
        spi_out: ag.spi_out,
        encr: a.encr.id,
        encr_keysize: key_bits_effective,
        integ: a.integ,
        esn: a.esn == crate::consts::EsnId::ESN,
        encap,
        kernel_sas,
        local_ts: ag.local_ts,
        remote_ts: ag.remote_ts,
        installed_at: now,
        pending_ops: pending,
        deadlines: timer::on_child_installed(&limits, now),
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
        reqid,
        spi_in: child.spi_in,
        spi_out: child.spi_out,
        mode: child.mode,
        local_ts: lts,
        remote_ts: rts,
    });
    sa.children.push(child);
    Ok(())
}

/// The peer moved from `old` to `sa.remote` (its NAT changed the mapping, RFC 3948 section 3):
/// every ESP-in-UDP Child SA is re-installed with the new address and encapsulation port. XFRM
/// identifies an SA by destination and SPI, so each is deleted and added again (the core's
/// interface has no separate update operation). A new peer IP also moves the tunnel templates.
pub(crate) fn reissue_encap_children<R: Rng>(cx: &mut Core<R>, sa: &mut IkeSa, old: SocketAddr) {
    let key = sa.local_spi();
    let (local, remote) = (sa.local, sa.remote);
    let mut policies_moved: Vec<u32> = Vec::new();
    for c in sa.children.iter_mut() {
        let Some(specs) = c.kernel_sas.as_mut() else {
            continue;
        };
        let (sin, sout) = &mut **specs;
        sin.src = remote.ip();
        if let Some(e) = sin.encap.as_mut() {
            e.sport = remote.port();
        }
        sout.dst = remote.ip();
        if let Some(e) = sout.encap.as_mut() {
            e.dport = remote.port();
        }
        cx.kernel(
            KernelOp::DeleteSa {
                src: old.ip(),
                dst: local.ip(),
                spi: c.spi_in,
            },
            None,
        );
        c.pending_ops += 1;
        cx.kernel(KernelOp::AddSa(sin.clone()), Some((key, c.spi_in)));
        match c.pending_out.as_mut() {
            // Not installed yet: it goes in with the new ports when its time comes.
            Some(p) => {
                p.dst = remote.ip();
                p.encap = sout.encap;
            }
            None => {
                cx.kernel(
                    KernelOp::DeleteSa {
                        src: local.ip(),
                        dst: old.ip(),
                        spi: c.spi_out,
                    },
                    None,
                );
                c.pending_ops += 1;
                cx.kernel(KernelOp::AddSa(sout.clone()), Some((key, c.spi_in)));
            }
        }
        if old.ip() != remote.ip() && c.mode == Mode::Tunnel && !policies_moved.contains(&c.reqid) {
            policies_moved.push(c.reqid);
            for op in c.policy_teardown_ops(local, old) {
                cx.kernel(op, None);
            }
            for p in child::policies(local, remote, c.mode, c.reqid, &c.local_ts, &c.remote_ts) {
                cx.kernel(KernelOp::AddPolicy(p), None);
            }
        }
    }
}

/// Removes a Child SA from `sa`: kernel teardown and the down event.
pub(crate) fn remove_child<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    spi_in: u32,
    reason: DownReason,
) -> Option<ChildSa> {
    let idx = sa.children.iter().position(|c| c.spi_in == spi_in)?;
    let child = sa.children.remove(idx);
    let key = sa.local_spi();
    // A successor (same reqid) takes over: it gets its held-back outbound SA now, before the
    // old SAs go, and the shared policies stay.
    let mut successor = false;
    for s in sa
        .children
        .iter_mut()
        .filter(|c| c.reqid == child.reqid && !c.redundant)
    {
        successor = true;
        if let Some(out) = s.pending_out.take() {
            s.pending_ops += 1;
            cx.kernel(KernelOp::AddSa(out), Some((key, s.spi_in)));
        }
    }
    successor |= sa.children.iter().any(|c| c.reqid == child.reqid);
    let ops = if successor {
        child.sa_teardown_ops(sa.local, sa.remote)
    } else {
        child.teardown_ops(sa.local, sa.remote)
    };
    for op in ops {
        cx.kernel(op, None);
    }
    cx.emit(Event::ChildSaDown {
        conn: sa.conn.clone(),
        child: child.name.clone(),
        reqid: child.reqid,
        spi_in: child.spi_in,
        spi_out: child.spi_out,
        reason,
    });
    Some(child)
}
