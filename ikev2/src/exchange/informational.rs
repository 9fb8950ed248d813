//! INFORMATIONAL (RFC 7296 section 1.4): Delete of Child and IKE SAs, and the empty message used
//! as a liveness check.

use std::time::Instant;

use crate::consts::{ExchangeType, NotifyType, ProtocolId};
use crate::context::Core;
use crate::event::{DownReason, Event, FailureReason, LogLevel};
use crate::exchange::collision;
use crate::rng::Rng;
use crate::sa::status::ChildStatusState;
use crate::sa::{IkeSa, Purpose};
use crate::wire::{DeletePayload, InnerPayload};

use super::fragment::seal_datagrams;
use super::table::Digest;
use super::{remove_child, After, Reply};

// ---------------------------------------------------------------------------------------------
// Initiator (our requests)
// ---------------------------------------------------------------------------------------------

/// The payloads of an INFORMATIONAL request for `purpose`.
pub(crate) fn request_payloads(purpose: &Purpose) -> Vec<InnerPayload> {
    match purpose {
        Purpose::DeleteIke => vec![InnerPayload::Delete(DeletePayload::ike())],
        Purpose::DeleteChild { spis_in } => vec![InnerPayload::Delete(DeletePayload::esp(spis_in))],
        _ => Vec::new(),
    }
}

/// Sends queued requests while the window is free.
pub(crate) fn pump<R: Rng>(cx: &mut Core<R>, sa: &mut IkeSa, now: Instant) {
    while sa.requests.is_free() {
        let Some(purpose) = sa.queue.pop_front() else {
            return;
        };
        let exchange = if purpose.is_create_child_sa() {
            ExchangeType::CREATE_CHILD_SA
        } else {
            ExchangeType::INFORMATIONAL
        };
        let payloads = if purpose.is_create_child_sa() {
            if !sa.is_established() || sa.rekeyed_to.is_some() {
                // A closing or superseded IKE SA creates nothing new.
                continue;
            }
            if let Purpose::RekeyChild { spi_in } = &purpose {
                // Deleted (by either side) or already replaced while the rekey waited: nothing
                // left to rekey.
                let live = sa.children.iter().any(|c| {
                    c.spi_in == *spi_in
                        && matches!(
                            c.state(),
                            ChildStatusState::Installed
                                | ChildStatusState::Installing
                                | ChildStatusState::Rekeying
                        )
                });
                if !live {
                    continue;
                }
            }
            let (group, retries) = match sa.retry_ke.take() {
                Some((_, g)) => (Some(g), 1),
                None => (None, 0),
            };
            match super::create_child_sa::request_payloads(cx, sa, &purpose, group, retries) {
                Ok(p) => p,
                Err(reason) => {
                    cx.fail(now, Some(sa.conn.clone()), sa.remote, reason);
                    continue;
                }
            }
        } else {
            request_payloads(&purpose)
        };
        let msg_id = sa.requests.next_id();
        let limit = super::fragment::limit_for(&cx.config.settings, sa);
        let rng = cx.rng_dyn();
        let datagrams = match seal_datagrams(rng, sa, exchange, false, msg_id, &payloads, limit) {
            Ok(b) => b,
            Err(e) => {
                cx.emit(Event::Log {
                    level: LogLevel::Error,
                    conn: Some(sa.conn.clone()),
                    message: format!("cannot protect {exchange}: {e}"),
                });
                continue;
            }
        };
        let policy = cx.config.settings.retransmit.clone();
        sa.requests
            .send(now, &policy, exchange, datagrams.clone(), purpose);
        sa.last_request_sent = Some(now);
        for bytes in datagrams {
            cx.send(sa.local, sa.remote, bytes);
        }
    }
}

/// Initiator of the exchange: the peer answered our INFORMATIONAL request.
pub(crate) fn handle_response_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    purpose: Purpose,
) -> After {
    match purpose {
        Purpose::DeleteIke if sa.rekeyed_to.is_some() => After::Destroy(DownReason::Rekeyed),
        Purpose::DeleteIke => After::Destroy(DownReason::LocalDelete),
        Purpose::DeleteChild { spis_in } => {
            // The peer lists the SPIs it deleted; ours are gone either way, since we asked.
            for spi in spis_in {
                let reason = match sa.children.iter().find(|c| c.spi_in == spi) {
                    Some(c) if c.state() == ChildStatusState::Rekeyed => DownReason::Rekeyed,
                    _ => DownReason::LocalDelete,
                };
                remove_child(cx, sa, spi, reason);
            }
            After::Keep
        }
        _ => After::Keep,
    }
}

// ---------------------------------------------------------------------------------------------
// Responder (the peer's requests)
// ---------------------------------------------------------------------------------------------

/// Responder: handles an INFORMATIONAL request on an established SA.
pub(crate) fn respond_informational<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    d: &Digest,
) -> Reply {
    let delete_ike = d.deletes.iter().any(|x| x.protocol == ProtocolId::IKE);
    let mut deleted_in = Vec::new();
    for x in d.deletes.iter().filter(|x| x.protocol == ProtocolId::ESP) {
        for spi_out in x.spis_u32() {
            if let Some(spi_in) = peer_deleted(cx, sa, spi_out) {
                deleted_in.push(spi_in);
            }
        }
    }
    let auth_failed = d.has_notify(NotifyType::AUTHENTICATION_FAILED);
    for n in d
        .notifies
        .iter()
        .filter(|n| n.is_error() && n.ntype != NotifyType::AUTHENTICATION_FAILED)
    {
        cx.emit(Event::Log {
            level: LogLevel::Warn,
            conn: Some(sa.conn.clone()),
            message: format!("peer sent {} in INFORMATIONAL", n.ntype),
        });
    }
    if auth_failed {
        // RFC 7296 section 2.21.2: the initiator could not authenticate us and dropped the SA.
        let reason = FailureReason::PeerRejectedAuthentication;
        cx.fail(now, Some(sa.conn.clone()), sa.remote, reason.clone());
        return Reply {
            payloads: Vec::new(),
            after: After::Destroy(DownReason::Failed(reason)),
        };
    }
    if delete_ike {
        // RFC 7296 section 2.8.2: the peer finished its rekey before it saw ours (or its Delete
        // overtook our response). Its new IKE SA takes over; ours is abandoned with this one.
        if collision::adopt_peers_rekey(cx, sa, now, "the peer deleted the old IKE SA", true) {
            return Reply::keep(Vec::new());
        }
        // RFC 7296 section 1.4.1: answer with an empty INFORMATIONAL, then close everything.
        let reason = if sa.rekeyed_to.is_some() {
            DownReason::Rekeyed
        } else {
            DownReason::PeerDelete
        };
        return Reply {
            payloads: Vec::new(),
            after: After::Destroy(reason),
        };
    }
    if deleted_in.is_empty() {
        return Reply::keep(Vec::new());
    }
    Reply::keep(vec![InnerPayload::Delete(DeletePayload::esp(&deleted_in))])
}

/// The peer deleted its inbound ESP SA `spi_out` (our outbound one): the Child SA goes. Returns
/// our inbound SPI to list in the answer, unless our own Delete of it is already on the way
/// (RFC 7296 section 1.4.1: answer with nothing for it).
fn peer_deleted<R: Rng>(cx: &mut Core<R>, sa: &mut IkeSa, spi_out: u32) -> Option<u32> {
    let found = sa
        .children
        .iter()
        .find(|c| c.spi_out == spi_out)
        .map(|c| (c.spi_in, c.state(), c.redundant));
    let Some((spi_in, state, redundant)) = found else {
        cx.emit(Event::Log {
            level: LogLevel::Debug,
            conn: Some(sa.conn.clone()),
            message: format!("peer deleted unknown ESP SPI {spi_out:08x}"),
        });
        return None;
    };
    let reason = if state == ChildStatusState::Rekeyed || redundant {
        DownReason::Rekeyed
    } else {
        DownReason::PeerDelete
    };
    remove_child(cx, sa, spi_in, reason);
    (state != ChildStatusState::Deleting).then_some(spi_in)
}
