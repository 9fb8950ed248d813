//! IKE_AUTH (RFC 7296 section 1.2): identities, authentication by PSK or by certificate and
//! signature (section 2.15, RFC 7427; see `pubkey`), each round on its own (local psk with
//! remote pubkey works), and the first Child SA with traffic selector narrowing (section 2.9) and
//! USE_TRANSPORT_MODE (section 1.3.1).
//!
//! A Child SA failure (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE) leaves the IKE SA up, childless
//! (RFC 7296 section 1.2 last paragraph).

use std::net::IpAddr;
use std::time::Instant;

use crate::config::{AuthKind, ConnConfig, Mode};
use crate::consts::{AuthMethod, ExchangeType, NotifyType, ProtocolId};
use crate::context::Core;
use crate::crypto::{self, AuthInput};
use crate::event::{
    AuthFailure, DownReason, Event, FailureReason, IkeState, LimitHit, LogLevel, NoConnection,
};
use crate::exchange::narrowing::pick_child;
use crate::proposal::{self, Algorithms};
use crate::rng::Rng;
use crate::sa::child::{is_narrowing_of, ts_list};
use crate::sa::{IkeSa, PendingChild, Purpose};
use crate::wire::{
    AuthPayload, CertPayload, IdPayload, Identity, InnerPayload, SaPayload, TrafficSelector,
    TsPayload,
};

use super::{first_error, has_notify, install_child, notify, seal, After, ChildAgreement, Reply};

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

/// The octets signed for `id` (RFC 7296 section 2.15): ours when `own`, else the peer's; `None`
/// before the keys exist.
fn signed_octets(sa: &IkeSa, id: &IdPayload, own: bool) -> Option<Vec<u8>> {
    let c = sa.crypto.as_ref()?;
    // Each side's octets end with its own SK_p: the initiator's is SK_pi.
    let sk_p = if sa.initiator == own {
        &c.keys.sk_pi
    } else {
        &c.keys.sk_pr
    };
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
    let sk_p = if sa.initiator {
        &c.keys.sk_pi
    } else {
        &c.keys.sk_pr
    };
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
    let sk_p = if sa.initiator {
        &c.keys.sk_pr
    } else {
        &c.keys.sk_pi
    };
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
        detail: "IKE_AUTH without keys".into(),
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
    payloads: &[InnerPayload],
) -> Result<(), AuthFailure> {
    let cfg = match &conn.remote.auth {
        AuthKind::Psk => return verify_psk(sa, id, auth, conn.psk.as_ref().map(|k| k.as_bytes())),
        AuthKind::Pubkey(cfg) => cfg,
    };
    if auth.method == AuthMethod::SHARED_KEY_MIC {
        return Err(AuthFailure::MethodNotAllowed(auth.method));
    }
    let certs: Vec<CertPayload> = payloads
        .iter()
        .filter_map(|p| match p {
            InnerPayload::Cert(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    // IKE_AUTH was decrypted, so the keys exist; `None` cannot happen here.
    let octets = signed_octets(sa, id, false).ok_or(AuthFailure::MissingPayload)?;
    let v = pubkey::verify(cfg, &certs, &id.id, cx.wall_clock(), auth, &octets)
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

struct AuthPayloads<'a> {
    idi: Option<&'a IdPayload>,
    idr: Option<&'a IdPayload>,
    auth: Option<&'a AuthPayload>,
    sa: Option<&'a SaPayload>,
    tsi: Option<&'a TsPayload>,
    tsr: Option<&'a TsPayload>,
}

fn collect(payloads: &[InnerPayload]) -> AuthPayloads<'_> {
    let mut a = AuthPayloads {
        idi: None,
        idr: None,
        auth: None,
        sa: None,
        tsi: None,
        tsr: None,
    };
    for p in payloads {
        match p {
            InnerPayload::IdI(x) => a.idi = Some(x),
            InnerPayload::IdR(x) => a.idr = Some(x),
            InnerPayload::Auth(x) => a.auth = Some(x),
            InnerPayload::Sa(x) => a.sa = Some(x),
            InnerPayload::TsI(x) => a.tsi = Some(x),
            InnerPayload::TsR(x) => a.tsr = Some(x),
            _ => {}
        }
    }
    a
}

fn selectors(p: Option<&TsPayload>) -> Vec<TrafficSelector> {
    p.map(|t| t.ip_selectors().copied().collect())
        .unwrap_or_default()
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
    cx.emit(Event::IkeSaUp {
        conn: sa.conn.clone(),
        spis: sa.spis(),
        local: sa.local,
        remote: sa.remote,
        local_id: sa
            .local_id
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_default(),
        remote_id: sa
            .remote_id
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_default(),
        initiator: sa.initiator,
    });
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
        .ok_or(FailureReason::Internal {
            detail: format!("connection '{}' vanished", sa.conn),
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
            detail: "connection has no children and the peer does not support childless IKE SAs"
                .into(),
        });
    }
    let idi = IdPayload::new(local_id.clone());
    let (certs, auth) = authenticate_self(cx, sa, &conn, &idi, &peer_name)?;
    // RFC 7296 section 1.2 order: IDi, [CERT+], [N(INITIAL_CONTACT)], [CERTREQ], [IDr], AUTH.
    let mut payloads = vec![InnerPayload::IdI(idi)];
    payloads.extend(certs);
    if sa.initial_contact {
        payloads.push(notify(NotifyType::INITIAL_CONTACT));
    }
    if let Some(req) = certreq([&conn]) {
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
    .map_err(|e| FailureReason::Internal {
        detail: e.to_string(),
    })?;
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

/// Initiator: handles the (authenticated, decrypted) IKE_AUTH response.
pub(crate) fn handle_response_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    payloads: &[InnerPayload],
) -> After {
    let p = collect(payloads);
    let (Some(idr), Some(auth)) = (p.idr, p.auth) else {
        let reason = match first_error(payloads) {
            Some(NotifyType::AUTHENTICATION_FAILED) => FailureReason::PeerRejectedAuthentication,
            Some(n) => FailureReason::PeerError {
                exchange: ExchangeType::IKE_AUTH,
                notify: n,
                child: None,
            },
            None => FailureReason::InvalidResponse {
                detail: "IKE_AUTH response lacks IDr or AUTH".into(),
            },
        };
        cx.fail(now, Some(sa.conn.clone()), sa.remote, reason.clone());
        return After::Destroy(DownReason::Failed(reason));
    };
    let Some(conn) = cx.config.connection(&sa.conn).cloned() else {
        let reason = FailureReason::Internal {
            detail: format!("connection '{}' vanished", sa.conn),
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
        _ => check_peer(cx, sa, &conn, idr, auth, payloads),
    };
    if let Err(why) = check {
        let reason = FailureReason::AuthenticationFailed {
            peer_id: idr.id.to_string(),
            why,
        };
        cx.fail(now, Some(sa.conn.clone()), sa.remote, reason.clone());
        // RFC 7296 section 2.21.2: the initiator MAY tell the responder in a separate
        // INFORMATIONAL; sent once, not retransmitted, since the SA is gone on our side.
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
        return After::Destroy(DownReason::Failed(reason));
    }
    sa.remote_id = Some(idr.id.clone());
    established(cx, sa, now);
    if let Some(pc) = sa.pending_child.take() {
        finish_child_i(cx, sa, now, pc, payloads, &p);
    }
    After::Keep
}

/// Initiator: the Child SA part of the IKE_AUTH response.
fn finish_child_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    pc: PendingChild,
    payloads: &[InnerPayload],
    p: &AuthPayloads<'_>,
) {
    let conn = Some(sa.conn.clone());
    let child = Some(pc.name.clone());
    if let Some(n) = first_error(payloads) {
        let reason = FailureReason::PeerError {
            exchange: ExchangeType::IKE_AUTH,
            notify: n,
            child,
        };
        cx.fail(now, conn, sa.remote, reason);
        return;
    }
    let invalid = |detail: String| FailureReason::InvalidResponse {
        detail: format!("child '{}': {detail}", pc.name),
    };
    let (Some(sa_p), Some(_), Some(_)) = (p.sa, p.tsi, p.tsr) else {
        cx.fail(
            now,
            conn,
            sa.remote,
            invalid("response lacks SA, TSi or TSr".into()),
        );
        return;
    };
    let offered = pc.proposals.to_wire(&pc.spi_in.to_be_bytes());
    let chosen = match sa_p.proposals.as_slice() {
        [one] => one,
        _ => {
            cx.fail(
                now,
                conn,
                sa.remote,
                invalid("not exactly one proposal".into()),
            );
            return;
        }
    };
    let algs = match proposal::check_response(&pc.proposals, &offered, chosen) {
        Ok(Algorithms::Child(a)) => a,
        Ok(Algorithms::Ike(_)) => {
            cx.fail(
                now,
                conn,
                sa.remote,
                invalid("IKE proposal for a Child SA".into()),
            );
            return;
        }
        Err(e) => {
            cx.fail(now, conn, sa.remote, invalid(e.to_string()));
            return;
        }
    };
    let Ok(spi_bytes) = <[u8; 4]>::try_from(chosen.spi.as_slice()) else {
        cx.fail(now, conn, sa.remote, invalid("ESP SPI not 4 octets".into()));
        return;
    };
    let spi_out = u32::from_be_bytes(spi_bytes);
    let tsi = selectors(p.tsi);
    let tsr = selectors(p.tsr);
    if !is_narrowing_of(&tsi, &pc.local_ts) || !is_narrowing_of(&tsr, &pc.remote_ts) {
        cx.fail(
            now,
            conn,
            sa.remote,
            invalid(format!(
                "responder chose TS {} === {} outside our {} === {}",
                ts_list(&tsi),
                ts_list(&tsr),
                ts_list(&pc.local_ts),
                ts_list(&pc.remote_ts)
            )),
        );
        return;
    }
    let got = if has_notify(payloads, NotifyType::USE_TRANSPORT_MODE) {
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
        algorithms: algs.to_string(),
    });
    let ag = ChildAgreement {
        name: pc.name.clone(),
        mode: got,
        algorithms: algs,
        spi_in: pc.spi_in,
        spi_out,
        local_ts: tsi,
        remote_ts: tsr,
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
    payloads: &[InnerPayload],
) -> AuthVerdict {
    let p = collect(payloads);
    let (Some(idi), Some(auth)) = (p.idi, p.auth) else {
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
    let picked = pick_connection(&cx.config.connections, sa, &peer_id, p.idr.map(|i| &i.id));
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
    sa.sig.peer_certreq |= payloads
        .iter()
        .any(|p| matches!(p, InnerPayload::CertReq(_)));
    if let Err(why) = check_peer(cx, sa, &conn, idi, auth, payloads) {
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
        initial_contact: has_notify(payloads, NotifyType::INITIAL_CONTACT),
    }
}

/// Responder, second half of IKE_AUTH: our IDr and AUTH, establishment, and the Child SA.
pub(crate) fn complete_ike_auth<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    conn: &ConnConfig,
    payloads: &[InnerPayload],
) -> Reply {
    let p = collect(payloads);
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
    if p.sa.is_some() {
        out.extend(respond_child(cx, sa, now, conn, payloads, &p));
    }
    Reply::keep(out)
}

/// Responder: the Child SA part of IKE_AUTH; returns the payloads to add to the response.
fn respond_child<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    conn: &ConnConfig,
    payloads: &[InnerPayload],
    p: &AuthPayloads<'_>,
) -> Vec<InnerPayload> {
    let Some(sa_p) = p.sa else {
        return Vec::new();
    };
    let tsi = selectors(p.tsi);
    let tsr = selectors(p.tsr);
    let limits = &cx.config.settings.limits;
    let picked = match pick_child(
        limits,
        &conn.children,
        &tsi,
        &tsr,
        sa.local.ip(),
        sa.remote.ip(),
    ) {
        Ok(p) => p,
        Err(reason) => {
            cx.fail(now, Some(conn.name.clone()), sa.remote, reason);
            return vec![notify(NotifyType::TS_UNACCEPTABLE)];
        }
    };
    let (child, local_ts, remote_ts) = (picked.child, picked.local_ts, picked.remote_ts);
    // Ours are TSr in the response: the peer's TSi narrowed is its remote, i.e. our remote_ts.
    let (ts_i, ts_r) = match ts_payloads(&child.name, &remote_ts, &local_ts) {
        Ok(p) => p,
        Err(reason) => {
            cx.fail(now, Some(conn.name.clone()), sa.remote, reason);
            return vec![notify(NotifyType::TS_UNACCEPTABLE)];
        }
    };
    super::create_child_sa::warn_pfs_prediction(cx, &conn.name, child, &sa_p.proposals);
    // The IKE_AUTH Child SA never does a key exchange (RFC 7296 section 1.2).
    let ours = child.esp_proposals.without_ke();
    let selected = match proposal::select(&ours, &sa_p.proposals) {
        Ok(s) => s,
        Err(mismatch) => {
            let reason = FailureReason::ProposalMismatch {
                protocol: ProtocolId::ESP,
                child: Some(child.name.clone()),
                mismatch,
            };
            cx.fail(now, Some(conn.name.clone()), sa.remote, reason);
            return vec![notify(NotifyType::NO_PROPOSAL_CHOSEN)];
        }
    };
    let no_proposal = |cx: &mut Core<R>, detail: String| {
        let reason = FailureReason::InvalidResponse { detail };
        cx.fail(now, Some(conn.name.clone()), sa.remote, reason);
        vec![notify(NotifyType::NO_PROPOSAL_CHOSEN)]
    };
    let Some(algs) = selected.algorithms.as_child().copied() else {
        return no_proposal(cx, "ESP selection returned IKE algorithms".into());
    };
    let Ok(spi_bytes) = <[u8; 4]>::try_from(selected.proposal.spi.as_slice()) else {
        return no_proposal(cx, "peer's ESP SPI is not 4 octets".into());
    };
    let spi_out = u32::from_be_bytes(spi_bytes);
    let mode =
        if has_notify(payloads, NotifyType::USE_TRANSPORT_MODE) && child.mode == Mode::Transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
    let spi_in = cx.alloc_esp_spi();
    cx.emit(Event::ProposalSelected {
        conn: Some(conn.name.clone()),
        protocol: ProtocolId::ESP,
        algorithms: algs.to_string(),
    });
    let ag = ChildAgreement {
        name: child.name.clone(),
        mode,
        algorithms: algs,
        spi_in,
        spi_out,
        local_ts: local_ts.clone(),
        remote_ts: remote_ts.clone(),
        exchange_initiator: false,
        nonces: None,
        pfs: None,
        rekey_of: None,
    };
    if let Err(reason) = install_child(cx, sa, now, ag) {
        cx.fail(now, Some(conn.name.clone()), sa.remote, reason);
        return vec![notify(NotifyType::NO_PROPOSAL_CHOSEN)];
    }
    let mut out = Vec::new();
    if mode == Mode::Transport {
        out.push(notify(NotifyType::USE_TRANSPORT_MODE));
    }
    out.push(InnerPayload::Sa(SaPayload {
        proposals: vec![selected.response_proposal(&spi_in.to_be_bytes())],
    }));
    out.push(InnerPayload::TsI(ts_i));
    out.push(InnerPayload::TsR(ts_r));
    out
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
