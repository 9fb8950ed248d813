//! IKE_AUTH (RFC 7296 section 1.2): identities, authentication by PSK or by certificate and
//! signature (section 2.15, RFC 7427; see `pubkey`), each round on its own (local psk with
//! remote pubkey works), and the first Child SA (negotiated in `child`, as CREATE_CHILD_SA's).
//!
//! A Child SA failure (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE) leaves the IKE SA up, childless
//! (RFC 7296 section 1.2 last paragraph).

use std::net::IpAddr;
use std::time::Instant;

use crate::config::{AuthKind, ConnConfig, Mode};
use crate::consts::{AuthMethod, ExchangeType, NotifyType, PayloadType, ProtocolId};
use crate::context::Core;
use crate::crypto::{self, AuthInput, Secret};
use crate::event::{
    AuthFailure, DownReason, Event, FailureReason, Fault, IkeState, Internal, LogLevel,
    NoConnection,
};
use crate::exchange::collision;
use crate::rng::Rng;
use crate::sa::{IkeCrypto, IkeSa, PendingChild, Purpose};
use crate::wire::{AuthPayload, CertPayload, IdPayload, Identity, InnerPayload, SaPayload};

use super::child::{self, install_child, ts_payloads, ChildAgreement};
use super::table::Digest;
use super::{notify, seal, After, Reply};

mod pubkey;

pub(crate) use pubkey::certreq;
use pubkey::local_identity;

/// Our identity when `id` is not configured: the IKE SA's own address (strongSwan's default).
pub fn ip_identity(ip: IpAddr) -> Identity {
    match ip {
        IpAddr::V4(a) => Identity::Ipv4(a),
        IpAddr::V6(a) => Identity::Ipv6(a),
    }
}

fn peer_auth_input<'a>(sa: &'a IkeSa, id_body: &'a [u8], sk_p: &'a [u8]) -> AuthInput<'a> {
    // The peer signed its own first message and our nonce.
    if sa.initiator {
        AuthInput {
            real_message: &sa.init_response,
            peer_nonce: sa.ni.as_bytes(),
            sk_p,
            id_body,
        }
    } else {
        AuthInput {
            real_message: &sa.init_request,
            peer_nonce: sa.nr.as_bytes(),
            sk_p,
            id_body,
        }
    }
}

fn own_auth_input<'a>(sa: &'a IkeSa, id_body: &'a [u8], sk_p: &'a [u8]) -> AuthInput<'a> {
    if sa.initiator {
        AuthInput {
            real_message: &sa.init_request,
            peer_nonce: sa.nr.as_bytes(),
            sk_p,
            id_body,
        }
    } else {
        AuthInput {
            real_message: &sa.init_response,
            peer_nonce: sa.ni.as_bytes(),
            sk_p,
            id_body,
        }
    }
}

/// SK_p of one side (RFC 7296 section 2.15): each side's signed octets end with its own, the
/// initiator's being SK_pi; `own` picks ours, otherwise the peer's.
fn sk_p(c: &IkeCrypto, initiator: bool, own: bool) -> &Secret {
    if initiator == own {
        &c.keys.sk_pi
    } else {
        &c.keys.sk_pr
    }
}

/// The octets signed for `id` (RFC 7296 section 2.15): ours when `own`, else the peer's; `None`
/// before the keys exist.
fn signed_octets(sa: &IkeSa, id: &IdPayload, own: bool) -> Option<Vec<u8>> {
    let c = sa.crypto.as_ref()?;
    let sk_p = sk_p(c, sa.initiator, own);
    let body = id.body();
    let input = if own {
        own_auth_input(sa, &body, sk_p.as_bytes())
    } else {
        peer_auth_input(sa, &body, sk_p.as_bytes())
    };
    Some(crypto::signed_octets(c.prf, &input))
}

/// Computes our PSK AUTH payload for `id`.
fn our_psk_auth(sa: &IkeSa, id: &IdPayload, psk: &[u8]) -> Option<AuthPayload> {
    let c = sa.crypto.as_ref()?;
    let sk_p = sk_p(c, sa.initiator, true);
    let body = id.body();
    let value = crypto::psk_auth(c.prf, psk, &own_auth_input(sa, &body, sk_p.as_bytes()));
    Some(AuthPayload {
        method: AuthMethod::SHARED_KEY_MIC,
        data: value.as_bytes().to_vec(),
    })
}

/// Verifies the peer's PSK AUTH payload.
fn verify_psk(
    sa: &IkeSa,
    id: &IdPayload,
    auth: &AuthPayload,
    psk: Option<&[u8]>,
) -> Result<(), AuthFailure> {
    if auth.method != AuthMethod::SHARED_KEY_MIC {
        return Err(AuthFailure::MethodNotAllowed(auth.method));
    }
    let psk = psk.ok_or(AuthFailure::NoPsk)?;
    let c = sa.crypto.as_ref().ok_or(AuthFailure::NoPsk)?;
    let sk_p = sk_p(c, sa.initiator, false);
    let body = id.body();
    crypto::verify_psk_auth(
        c.prf,
        psk,
        &peer_auth_input(sa, &body, sk_p.as_bytes()),
        &auth.data,
    )
    .map_err(|_| AuthFailure::PskMismatch)
}

/// Our CERT payloads (possibly none) and AUTH payload for the local round of `conn`, for our
/// identity `id`. `peer_name` names the peer in a "no PSK" failure.
fn authenticate_self<R: Rng>(
    cx: &mut Core<R>,
    sa: &IkeSa,
    conn: &ConnConfig,
    id: &IdPayload,
    peer_name: &str,
) -> Result<(Vec<InnerPayload>, AuthPayload), FailureReason> {
    let no_keys = || FailureReason::Internal {
        why: Internal::AuthWithoutKeys,
    };
    match &conn.local.auth {
        AuthKind::Psk => {
            let psk = sa
                .psk
                .as_ref()
                .ok_or_else(|| FailureReason::AuthenticationFailed {
                    peer_id: peer_name.to_string(),
                    why: AuthFailure::NoPsk,
                })?;
            let auth = our_psk_auth(sa, id, psk.as_bytes()).ok_or_else(no_keys)?;
            Ok((Vec::new(), auth))
        }
        AuthKind::Pubkey(cfg) => {
            let octets = signed_octets(sa, id, true).ok_or_else(no_keys)?;
            let own = pubkey::sign(
                cfg,
                &sa.sig,
                cx.config.settings.rsa_pss,
                &octets,
                cx.rng_dyn(),
            )
            .map_err(|e| {
                // strongSwan's wording: the failure is ours, not the peer's.
                FailureReason::AuthenticationFailed {
                    peer_id: format!("{} (myself)", id.id),
                    why: AuthFailure::Certificate(e),
                }
            })?;
            cx.emit(Event::Log {
                level: LogLevel::Info,
                conn: Some(conn.name.clone()),
                message: format!(
                    "authentication of '{}' (myself) with {} (AUTH method {}, {}), {} \
                     certificate(s) sent",
                    id.id,
                    own.choice.scheme,
                    own.choice.method.0,
                    own.choice.method,
                    own.certs.len()
                ),
            });
            Ok((
                own.certs.into_iter().map(InnerPayload::Cert).collect(),
                own.auth,
            ))
        }
    }
}

/// Checks the peer's AUTH (and, for a pubkey remote round, its certificates in `payloads`)
/// against the remote round of `conn`.
fn check_peer<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    conn: &ConnConfig,
    id: &IdPayload,
    auth: &AuthPayload,
    certs: &[CertPayload],
) -> Result<(), AuthFailure> {
    let cfg = match &conn.remote.auth {
        AuthKind::Psk => return verify_psk(sa, id, auth, conn.psk.as_ref().map(|k| k.as_bytes())),
        AuthKind::Pubkey(cfg) => cfg,
    };
    if auth.method == AuthMethod::SHARED_KEY_MIC {
        return Err(AuthFailure::MethodNotAllowed(auth.method));
    }
    // IKE_AUTH was decrypted, so the keys exist; `None` cannot happen here.
    let octets = signed_octets(sa, id, false).ok_or(AuthFailure::MissingPayload)?;
    let v = pubkey::verify(cfg, certs, &id.id, cx.wall_clock(), auth, &octets)
        .map_err(AuthFailure::Certificate)?;
    cx.emit(Event::Log {
        level: LogLevel::Info,
        conn: Some(conn.name.clone()),
        message: format!(
            "authentication of '{}' with {} (AUTH method {}) successful: certificate '{}' \
             issued by '{}'",
            id.id, v.scheme, auth.method.0, v.subject, v.issuer
        ),
    });
    sa.sig.verified = Some(v);
    Ok(())
}

fn established<R: Rng>(cx: &mut Core<R>, sa: &mut IkeSa, now: Instant) {
    sa.established_at = Some(now);
    let conn = cx.config.connection(&sa.conn);
    let rekey_time = conn.map(|c| c.rekey_time);
    let timers = conn.and_then(|c| cx.config.settings.conn_timers.get(&c.name).cloned());
    // Reauthentication needs the addresses to initiate to.
    let can_initiate =
        conn.is_some_and(|c| c.initiate_to().is_some() && c.initiate_from().is_some());
    crate::timer::on_ike_established(
        &mut sa.deadlines,
        now,
        rekey_time,
        timers.as_ref(),
        can_initiate,
        || cx.random_u64(),
    );
    let ev = sa.transition(IkeState::Established);
    cx.emit(ev);
    cx.emit(collision::up_event(sa));
}

// ---------------------------------------------------------------------------------------------
// Initiator
// ---------------------------------------------------------------------------------------------

/// Initiator: sends IKE_AUTH (IDi, [IDr], AUTH, and SA/TSi/TSr for the pending Child SA).
pub(crate) fn initiate_ike_auth<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
) -> Result<(), FailureReason> {
    let conn = cx
        .config
        .connection(&sa.conn)
        .cloned()
        .ok_or_else(|| FailureReason::Internal {
            why: Internal::ConnectionVanished(sa.conn.clone()),
        })?;
    let local_id = local_identity(&conn, sa.local.ip());
    let peer_name = conn
        .remote
        .id
        .as_ref()
        .map(|i| i.to_string())
        .unwrap_or_else(|| sa.remote.ip().to_string());
    if sa.pending_child.is_none() && !sa.peer_childless {
        // RFC 6023 section 3: IKE_AUTH without a Child SA only if the responder announced support.
        return Err(FailureReason::InvalidResponse {
            fault: Fault::ChildlessUnsupported,
        });
    }
    let idi = IdPayload::new(local_id.clone());
    let (certs, auth) = authenticate_self(cx, sa, &conn, &idi, &peer_name)?;
    let payloads = request_payloads(sa, &conn, idi, certs, auth)?;
    let msg_id = sa.requests.next_id();
    let limit = super::fragment::limit_for(&cx.config.settings, sa);
    let datagrams = super::fragment::seal_datagrams(
        cx.rng_dyn(),
        sa,
        ExchangeType::IKE_AUTH,
        false,
        msg_id,
        &payloads,
        limit,
    )
    .map_err(|e| FailureReason::Internal { why: e.into() })?;
    sa.local_id = Some(local_id);
    let policy = cx.config.settings.retransmit.clone();
    sa.requests.send(
        now,
        &policy,
        ExchangeType::IKE_AUTH,
        datagrams.clone(),
        Purpose::IkeAuth,
    );
    let ev = sa.transition(IkeState::AuthSent);
    cx.emit(ev);
    for bytes in datagrams {
        cx.send(sa.local, sa.remote, bytes);
    }
    Ok(())
}

/// RFC 7296 section 1.2 order: IDi, [CERT+], [N(INITIAL_CONTACT)], [CERTREQ], [IDr], AUTH,
/// then the pending Child SA: [N(USE_TRANSPORT_MODE)], SAi2, TSi, TSr.
fn request_payloads(
    sa: &IkeSa,
    conn: &ConnConfig,
    idi: IdPayload,
    certs: Vec<InnerPayload>,
    auth: AuthPayload,
) -> Result<Vec<InnerPayload>, FailureReason> {
    let mut payloads = vec![InnerPayload::IdI(idi)];
    payloads.extend(certs);
    if sa.initial_contact {
        payloads.push(notify(NotifyType::INITIAL_CONTACT));
    }
    if let Some(req) = certreq([conn]) {
        payloads.push(InnerPayload::CertReq(req));
    }
    if let Some(r) = &conn.remote.id {
        payloads.push(InnerPayload::IdR(IdPayload::new(r.clone())));
    }
    payloads.push(InnerPayload::Auth(auth));
    if let Some(pc) = &sa.pending_child {
        if pc.mode == Mode::Transport {
            payloads.push(notify(NotifyType::USE_TRANSPORT_MODE));
        }
        payloads.push(InnerPayload::Sa(SaPayload {
            proposals: pc.proposals.to_wire(&pc.spi_in.to_be_bytes()),
        }));
        let (tsi, tsr) = ts_payloads(&pc.name, &pc.local_ts, &pc.remote_ts)?;
        payloads.push(InnerPayload::TsI(tsi));
        payloads.push(InnerPayload::TsR(tsr));
    }
    Ok(payloads)
}

/// Initiator: handles the (authenticated, decrypted) IKE_AUTH response.
pub(crate) fn handle_response_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    d: &Digest,
) -> After {
    let (Some(idr), Some(auth)) = (&d.idr, &d.auth) else {
        let reason = match d.first_error() {
            Some(NotifyType::AUTHENTICATION_FAILED) => FailureReason::PeerRejectedAuthentication,
            Some(n) => FailureReason::PeerError {
                exchange: ExchangeType::IKE_AUTH,
                notify: n,
                child: None,
            },
            None => FailureReason::InvalidResponse {
                fault: Fault::Lacks {
                    exchange: Some(ExchangeType::IKE_AUTH),
                    payloads: vec![PayloadType::IDR, PayloadType::AUTH],
                },
            },
        };
        cx.fail(now, Some(sa.conn.clone()), sa.remote, reason.clone());
        return After::Destroy(DownReason::Failed(reason));
    };
    let Some(conn) = cx.config.connection(&sa.conn).cloned() else {
        let reason = FailureReason::Internal {
            why: Internal::ConnectionVanished(sa.conn.clone()),
        };
        cx.fail(now, Some(sa.conn.clone()), sa.remote, reason.clone());
        return After::Destroy(DownReason::Failed(reason));
    };
    let check = match &conn.remote.id {
        Some(e) if !crate::auth::same_identity(e, &idr.id) => {
            Err(AuthFailure::UnexpectedIdentity {
                expected: e.to_string(),
            })
        }
        _ => check_peer(cx, sa, &conn, idr, auth, &d.certs),
    };
    if let Err(why) = check {
        return responder_not_authenticated(cx, sa, now, idr, why);
    }
    sa.remote_id = Some(idr.id.clone());
    established(cx, sa, now);
    if let Some(pc) = sa.pending_child.take() {
        finish_child_i(cx, sa, now, pc, d);
    }
    After::Keep
}

/// Initiator: the responder failed authentication. RFC 7296 section 2.21.2: the initiator MAY
/// tell the responder in a separate INFORMATIONAL; sent once, not retransmitted, since the SA is
/// gone on our side.
fn responder_not_authenticated<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    idr: &IdPayload,
    why: AuthFailure,
) -> After {
    let reason = FailureReason::AuthenticationFailed {
        peer_id: idr.id.to_string(),
        why,
    };
    cx.fail(now, Some(sa.conn.clone()), sa.remote, reason.clone());
    let msg_id = sa.requests.next_id();
    let payloads = [notify(NotifyType::AUTHENTICATION_FAILED)];
    if let Ok(bytes) = seal(
        cx.rng_dyn(),
        sa,
        ExchangeType::INFORMATIONAL,
        false,
        msg_id,
        &payloads,
    ) {
        cx.send(sa.local, sa.remote, bytes);
    }
    After::Destroy(DownReason::Failed(reason))
}

/// Initiator: the Child SA part of the IKE_AUTH response.
fn finish_child_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    pc: PendingChild,
    d: &Digest,
) {
    let conn = Some(sa.conn.clone());
    if let Some(n) = d.first_error() {
        let reason = FailureReason::PeerError {
            exchange: ExchangeType::IKE_AUTH,
            notify: n,
            child: Some(pc.name.clone()),
        };
        cx.fail(now, conn, sa.remote, reason);
        return;
    }
    let offer = child::Offer {
        proposals: &pc.proposals,
        spi_in: pc.spi_in,
        local_ts: &pc.local_ts,
        remote_ts: &pc.remote_ts,
    };
    let answer = match child::check_answer(&offer, d) {
        Ok(a) => a,
        Err(fault) => {
            let reason = FailureReason::InvalidResponse {
                fault: Fault::Child {
                    child: pc.name.clone(),
                    fault: Box::new(fault),
                },
            };
            cx.fail(now, conn, sa.remote, reason);
            return;
        }
    };
    let got = if d.has_notify(NotifyType::USE_TRANSPORT_MODE) {
        Mode::Transport
    } else {
        Mode::Tunnel
    };
    if got != pc.mode {
        let reason = FailureReason::ModeMismatch {
            child: pc.name.clone(),
            wanted: pc.mode,
            got,
        };
        cx.fail(now, conn, sa.remote, reason);
        // The responder installed it; tell it to remove it again.
        sa.queue.push_back(Purpose::DeleteChild {
            spis_in: vec![pc.spi_in],
        });
        return;
    }
    cx.emit(Event::ProposalSelected {
        conn: conn.clone(),
        protocol: ProtocolId::ESP,
        algorithms: answer.algorithms.to_string(),
    });
    let ag = ChildAgreement {
        name: pc.name.clone(),
        mode: got,
        algorithms: answer.algorithms,
        spi_in: pc.spi_in,
        spi_out: answer.spi_out,
        local_ts: answer.local_ts,
        remote_ts: answer.remote_ts,
        exchange_initiator: true,
        nonces: None,
        pfs: None,
        rekey_of: None,
    };
    if let Err(reason) = install_child(cx, sa, now, ag) {
        cx.fail(now, conn, sa.remote, reason);
        sa.queue.push_back(Purpose::DeleteChild {
            spis_in: vec![pc.spi_in],
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Responder
// ---------------------------------------------------------------------------------------------

/// Responder: the connection for this peer: addresses must match, the configured remote ID (if
/// any) must equal IDi, and an IDr the initiator asked for must be our local ID. Connections with
/// an exact remote ID win over `%any`.
fn pick_connection<'c>(
    conns: &'c [ConnConfig],
    sa: &IkeSa,
    idi: &Identity,
    idr: Option<&Identity>,
) -> Option<&'c ConnConfig> {
    let fits = |c: &&ConnConfig| {
        let remote_ok = match &c.remote.id {
            Some(r) => crate::auth::same_identity(r, idi),
            None => true,
        };
        let local_ok = match idr {
            Some(want) => crate::auth::same_identity(&local_identity(c, sa.local.ip()), want),
            None => true,
        };
        c.matches_addrs(sa.local.ip(), sa.remote.ip()) && remote_ok && local_ok
    };
    conns
        .iter()
        .filter(fits)
        .find(|c| c.remote.id.is_some())
        .or_else(|| conns.iter().find(fits))
}

/// Responder: handles an IKE_AUTH request on a half-open SA.
/// The responder's verdict on the peer's authentication, before anything is established.
pub(crate) enum AuthVerdict {
    /// Failed: send this reply (an error notify) and drop the SA.
    Reject(Reply),
    /// The peer is who it claims: [`complete_ike_auth`] builds the response. `initial_contact`
    /// says the peer asked us to drop any older IKE SAs with it (RFC 7296 section 2.4).
    Accept {
        conn: Box<ConnConfig>,
        initial_contact: bool,
    },
}

/// Responder, first half of IKE_AUTH: picks the connection and verifies the peer's AUTH.
pub(crate) fn authenticate_ike_auth<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    d: &Digest,
) -> AuthVerdict {
    let (Some(idi), Some(auth)) = (&d.idi, &d.auth) else {
        let reason = FailureReason::AuthenticationFailed {
            peer_id: sa.remote.ip().to_string(),
            why: AuthFailure::MissingPayload,
        };
        cx.fail(now, Some(sa.conn.clone()), sa.remote, reason.clone());
        return AuthVerdict::Reject(Reply {
            payloads: vec![notify(NotifyType::INVALID_SYNTAX)],
            after: After::Destroy(DownReason::Failed(reason)),
        });
    };
    let peer_id = idi.id.clone();
    let picked = pick_connection(
        &cx.config.connections,
        sa,
        &peer_id,
        d.idr.as_ref().map(|i| &i.id),
    );
    let Some(conn) = picked.cloned() else {
        let reason = FailureReason::NoMatchingConnection {
            why: NoConnection::Identity {
                peer_id: peer_id.to_string(),
                remote: sa.remote.ip(),
            },
        };
        cx.fail(now, None, sa.remote, reason.clone());
        return AuthVerdict::Reject(Reply {
            payloads: vec![notify(NotifyType::AUTHENTICATION_FAILED)],
            after: After::Destroy(DownReason::Failed(reason)),
        });
    };
    sa.sig.peer_certreq |= !d.certreqs.is_empty();
    if let Err(why) = check_peer(cx, sa, &conn, idi, auth, &d.certs) {
        let reason = FailureReason::AuthenticationFailed {
            peer_id: peer_id.to_string(),
            why,
        };
        cx.fail(now, Some(conn.name.clone()), sa.remote, reason.clone());
        return AuthVerdict::Reject(Reply {
            payloads: vec![notify(NotifyType::AUTHENTICATION_FAILED)],
            after: After::Destroy(DownReason::Failed(reason)),
        });
    }
    sa.conn = conn.name.clone();
    sa.psk = conn.psk.clone();
    sa.remote_id = Some(peer_id);
    AuthVerdict::Accept {
        conn: Box::new(conn),
        initial_contact: d.has_notify(NotifyType::INITIAL_CONTACT),
    }
}

/// Responder, second half of IKE_AUTH: our IDr and AUTH, establishment, and the Child SA.
pub(crate) fn complete_ike_auth<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    conn: &ConnConfig,
    d: &Digest,
) -> Reply {
    let local_id = local_identity(conn, sa.local.ip());
    let idr = IdPayload::new(local_id.clone());
    let peer_name = sa
        .remote_id
        .as_ref()
        .map_or_else(|| sa.remote.ip().to_string(), |i| i.to_string());
    let (certs, our) = match authenticate_self(cx, sa, conn, &idr, &peer_name) {
        Ok(x) => x,
        Err(reason) => {
            cx.fail(now, Some(conn.name.clone()), sa.remote, reason.clone());
            return Reply {
                payloads: vec![notify(NotifyType::AUTHENTICATION_FAILED)],
                after: After::Destroy(DownReason::Failed(reason)),
            };
        }
    };
    sa.local_id = Some(local_id);
    // RFC 7296 section 1.2 order: IDr, [CERT+], AUTH.
    let mut out = vec![InnerPayload::IdR(idr)];
    out.extend(certs);
    out.push(InnerPayload::Auth(our));
    established(cx, sa, now);
    if d.sa.is_some() {
        out.extend(child::respond(cx, sa, now, conn, d, child::Via::IkeAuth));
    }
    Reply::keep(out)
}
