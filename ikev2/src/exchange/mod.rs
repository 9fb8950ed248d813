//! The exchanges, one file each. Every file keeps the initiator half (`initiate_*`,
//! `request_payloads`, `handle_response_i`) apart from the responder half (`respond_*`).
//! `table` says which handler runs for which message in which state, and checks each message's
//! payloads before it does; `child` is the one Child SA negotiation IKE_AUTH and CREATE_CHILD_SA
//! share, and installs what was agreed.
//!
//! This module holds what the rest share: protecting and unprotecting messages with the IKE SA's
//! keys, random IKE SPIs, and removing or re-installing Child SAs.

pub(crate) mod child;
pub(crate) mod collision;
pub(crate) mod create_child_sa;
pub(crate) mod fragment;
pub(crate) mod ike_auth;
pub(crate) mod ike_sa_init;
pub(crate) mod informational;
pub(crate) mod narrowing;
pub(crate) mod table;

use std::net::SocketAddr;

use crate::config::Mode;
use crate::consts::{ExchangeType, PayloadType};
use crate::context::Core;
use crate::crypto::{self, CryptoError, Secret};
use crate::event::{DownReason, Event};
use crate::output::KernelOp;
use crate::rng::Rng;
use crate::sa::child::{policies, ChildSa};
use crate::sa::{IkeCrypto, IkeSa};
use crate::wire::{
    decode_inner, encode_inner, DecodeError, Flags, Header, InnerPayload, Message, Notify,
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

/// SK_e and SK_a of one direction (RFC 7296 section 2.14): the initiator sends with SK_ei/SK_ai
/// and the responder with SK_er/SK_ar; `outbound` picks ours, otherwise the peer's.
pub(crate) fn sk_keys(c: &IkeCrypto, initiator: bool, outbound: bool) -> (&Secret, &Secret) {
    if initiator == outbound {
        (&c.keys.sk_ei, &c.keys.sk_ai)
    } else {
        (&c.keys.sk_er, &c.keys.sk_ar)
    }
}

/// A random IKE SPI: never zero (RFC 7296 section 3.1), never one `taken` already.
pub(crate) fn random_ike_spi<R: Rng>(cx: &mut Core<R>, taken: impl Fn(u64) -> bool) -> u64 {
    loop {
        let spi = cx.random_u64();
        if spi != 0 && !taken(spi) {
            return spi;
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
    let (ek, ak) = sk_keys(c, sa.initiator, true);
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
    let (ek, ak) = sk_keys(c, sa.initiator, false);
    let (first, plain) = crypto::sk::open(&c.cipher, ek.as_bytes(), ak.as_bytes(), bytes)
        .map_err(|_| OpenError::Crypto)?;
    decode_inner(PayloadType(first), &plain).map_err(OpenError::Inner)
}

pub(crate) fn notify(ntype: crate::consts::NotifyType) -> InnerPayload {
    InnerPayload::Notify(Notify::new(ntype))
}

#[cfg(test)]
pub(crate) fn has_notify(payloads: &[InnerPayload], ntype: crate::consts::NotifyType) -> bool {
    payloads
        .iter()
        .any(|p| matches!(p, InnerPayload::Notify(n) if n.ntype == ntype))
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
            for p in policies(local, remote, c.mode, c.reqid, &c.local_ts, &c.remote_ts) {
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
