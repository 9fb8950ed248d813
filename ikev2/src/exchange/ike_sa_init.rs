//! IKE_SA_INIT (RFC 7296 section 1.2): proposals, key exchange, nonces, NAT detection, and the two
//! ways a responder can send the initiator back: COOKIE (section 2.6) and INVALID_KE_PAYLOAD
//! (section 1.3).

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::ConnConfig;
use crate::consts::{ExchangeType, KeGroup, NotifyType, ProtocolId};
use crate::context::Core;
use crate::crypto::{self, Encr, Integ, KeyExchange, Prf, Secret, SkCipher};
use crate::event::{DropReason, Event, FailureReason, LogLevel, NoConnection};
use crate::proposal::{self, Algorithms};
use crate::rng::Rng;
use crate::sa::status::IkeAlgorithms as StatusAlgorithms;
use crate::sa::{IkeCrypto, IkeSa, Purpose};
use crate::wire::{Flags, Header, KePayload, Message, Notify, Payload, SaPayload};

/// Nonce length we send (RFC 7296 section 2.10: at least half the PRF key size, 16..=256 octets).
pub const NONCE_LEN: usize = 32;

/// How often one IKE_SA_INIT may be restarted by COOKIE or INVALID_KE_PAYLOAD before we give up
/// (a responder that keeps asking is broken or hostile).
const MAX_RESTARTS: u32 = 3;

fn nonce_ok(n: &[u8]) -> bool {
    (16..=256).contains(&n.len())
}

fn spi_bytes(spi: u64) -> [u8; 8] {
    spi.to_be_bytes()
}

// ---------------------------------------------------------------------------------------------
// Initiator
// ---------------------------------------------------------------------------------------------

/// Builds the IKE_SA_INIT request from the SA's current SPIi, Ni, KE, cookie and proposals.
/// `signature_hashes`: announce RFC 7427 (settings `signature_authentication`).
fn build_request(sa: &IkeSa, signature_hashes: bool) -> Vec<u8> {
    let mut payloads = Vec::new();
    if let Some(c) = &sa.cookie {
        // RFC 7296 section 2.6: the COOKIE notify must be the first payload.
        payloads.push(Payload::Notify(Notify::cookie(c.clone())));
    }
    if let Some(offered) = &sa.offered {
        payloads.push(Payload::Sa(SaPayload {
            proposals: offered.to_wire(&[]),
        }));
    }
    if let Some(ke) = &sa.ke {
        payloads.push(Payload::Ke(KePayload {
            group: ke.group(),
            data: ke.public_value().to_vec(),
        }));
    }
    payloads.push(Payload::Nonce(sa.ni.as_bytes().to_vec()));
    let zero = [0u8; 8];
    let spi_i = spi_bytes(sa.spi_i);
    payloads.push(Payload::Notify(Notify::nat_detection_source(source_natd(
        sa.force_encap,
        &spi_i,
        &zero,
        sa.local,
    ))));
    payloads.push(Payload::Notify(Notify::nat_detection_destination(
        crypto::natd_hash(&spi_i, &zero, sa.remote),
    )));
    payloads.push(Payload::Notify(Notify::new(
        NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
    )));
    // Sent whatever the connection's auth rounds (as strongSwan does): it costs a few octets,
    // and a responder only learns in IKE_AUTH which of its connections (maybe pubkey) applies.
    if signature_hashes {
        payloads.push(Payload::Notify(crate::auth::signature_hash_notify()));
    }
    Message {
        header: Header {
            spi_i: sa.spi_i,
            spi_r: 0,
            minor_version: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::new(true, false),
            message_id: 0,
        },
        payloads,
    }
    .encode()
}

/// Our NAT_DETECTION_SOURCE_IP data. With `encap = yes` it hashes an address no packet of ours
/// carries (0.0.0.0 / :: port 0), so the peer sees a NAT in front of us and encapsulates ESP, as
/// strongSwan's faked NAT-D does.
fn source_natd(force_encap: bool, spi_i: &[u8; 8], spi_r: &[u8; 8], local: SocketAddr) -> [u8; 20] {
    let addr = if force_encap {
        let ip = match local {
            SocketAddr::V4(_) => std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        SocketAddr::new(ip, 0)
    } else {
        local
    };
    crypto::natd_hash(spi_i, spi_r, addr)
}

/// Starts a new IKE SA for `conn` as initiator and sends IKE_SA_INIT.
pub(crate) fn initiate<R: Rng>(
    cx: &mut Core<R>,
    now: Instant,
    conn: &ConnConfig,
    local: SocketAddr,
    remote: SocketAddr,
    spi_i: u64,
) -> Result<IkeSa, FailureReason> {
    let group = conn
        .ike_proposals
        .first_ke_group()
        .ok_or(FailureReason::Internal {
            detail: "IKE proposals contain no KE group".into(),
        })?;
    let ke = KeyExchange::generate(group, cx.rng_dyn()).map_err(|e| FailureReason::Internal {
        detail: e.to_string(),
    })?;
    let mut sa = IkeSa::new(
        cx.next_uid(),
        conn.name.clone(),
        true,
        spi_i,
        0,
        local,
        remote,
    );
    sa.ni = cx.random_secret(NONCE_LEN);
    sa.ke = Some(ke);
    sa.offered = Some(conn.ike_proposals.clone());
    sa.psk = conn.psk.clone();
    sa.force_encap = conn.encap;
    let bytes = build_request(&sa, cx.config.settings.signature_authentication);
    sa.init_request = bytes.clone();
    cx.emit(sa.created_event());
    let policy = cx.config.settings.retransmit.clone();
    sa.requests.send(
        now,
        &policy,
        ExchangeType::IKE_SA_INIT,
        vec![bytes.clone()],
        Purpose::IkeSaInit,
    );
    cx.send(local, remote, bytes);
    Ok(sa)
}

/// Resends IKE_SA_INIT after COOKIE or INVALID_KE_PAYLOAD: same SPIi and Ni (strongSwan does the
/// same), message ID 0 again, fresh retransmit timer.
fn restart<R: Rng>(cx: &mut Core<R>, sa: &mut IkeSa, now: Instant) {
    let bytes = build_request(sa, cx.config.settings.signature_authentication);
    sa.init_request = bytes.clone();
    let policy = cx.config.settings.retransmit.clone();
    sa.requests
        .restart_same_id(now, &policy, vec![bytes.clone()], Purpose::IkeSaInit);
    cx.send(sa.local, sa.remote, bytes);
}

/// Evaluates the responder's NAT_DETECTION payloads against the addresses we see.
fn nat_detect(
    notifies: &[&Notify],
    spi_i: u64,
    spi_r: u64,
    our_addr: SocketAddr,
    peer_addr: SocketAddr,
) -> (Option<bool>, Option<bool>) {
    let (i, r) = (spi_bytes(spi_i), spi_bytes(spi_r));
    let src: Vec<&Notify> = notifies
        .iter()
        .copied()
        .filter(|n| n.ntype == NotifyType::NAT_DETECTION_SOURCE_IP)
        .collect();
    let dst: Vec<&Notify> = notifies
        .iter()
        .copied()
        .filter(|n| n.ntype == NotifyType::NAT_DETECTION_DESTINATION_IP)
        .collect();
    if src.is_empty() || dst.is_empty() {
        return (None, None);
    }
    // The peer hashed what it believes is our address; a mismatch means a NAT rewrote it.
    let ours = crypto::natd_hash(&i, &r, our_addr);
    let local_nat = !dst.iter().any(|n| crypto::ct_eq(&n.data, &ours));
    let theirs = crypto::natd_hash(&i, &r, peer_addr);
    let remote_nat = !src.iter().any(|n| crypto::ct_eq(&n.data, &theirs));
    (Some(local_nat), Some(remote_nat))
}

/// Builds the SK cipher and PRF for negotiated IKE algorithms.
pub(crate) fn suite(a: &proposal::IkeAlgorithms) -> Result<(Prf, SkCipher), crypto::CryptoError> {
    let prf = Prf::new(a.prf)?;
    let key_bits = if a.encr.key_bits == 0 {
        None
    } else {
        Some(a.encr.key_bits)
    };
    let encr = Encr::new(a.encr.id, key_bits)?;
    let integ = a.integ.map(Integ::new).transpose()?;
    Ok((prf, SkCipher::new(encr, integ)?))
}

pub(crate) fn status_algorithms(a: &proposal::IkeAlgorithms) -> StatusAlgorithms {
    use crate::consts::TransformType as T;
    StatusAlgorithms {
        encr: proposal::transform_name(T::ENCR, a.encr.id.0, 0),
        encr_keysize: if a.encr.key_bits == 0 {
            None
        } else {
            Some(a.encr.key_bits)
        },
        integ: a.integ.map(|i| proposal::transform_name(T::INTEG, i.0, 0)),
        prf: proposal::transform_name(T::PRF, a.prf.0, 0),
        dh_group: proposal::transform_name(T::KE, a.ke.0, 0),
    }
}

/// Derives SKEYSEED and the SK_* keys once both nonces, both SPIs and g^ir are known.
fn derive(
    sa: &mut IkeSa,
    algs: &proposal::IkeAlgorithms,
    g_ir: &Secret,
) -> Result<(), FailureReason> {
    let internal = |e: crypto::CryptoError| FailureReason::Internal {
        detail: e.to_string(),
    };
    let (prf, cipher) = suite(algs).map_err(internal)?;
    let (_skeyseed, keys) = crypto::derive_ike_keys(
        prf,
        &cipher,
        g_ir.as_bytes(),
        sa.ni.as_bytes(),
        sa.nr.as_bytes(),
        &spi_bytes(sa.spi_i),
        &spi_bytes(sa.spi_r),
    )
    .map_err(internal)?;
    sa.crypto = Some(IkeCrypto {
        prf,
        cipher,
        keys,
        algorithms: status_algorithms(algs),
        group: algs.ke,
    });
    Ok(())
}

/// What the initiator does with the IKE_SA_INIT response.
pub(crate) enum InitResult {
    /// Keys derived: continue with IKE_AUTH.
    Done,
    /// The request was resent (COOKIE / INVALID_KE_PAYLOAD); keep waiting.
    Restarted,
    /// The message was not usable; keep waiting for a proper response (it was unauthenticated).
    Ignore(DropReason),
    Failed(FailureReason),
}

/// Initiator: handles the IKE_SA_INIT response (unprotected). The window is still open: the caller
/// closes it only on `Done`.
pub(crate) fn handle_response_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    bytes: &[u8],
) -> InitResult {
    let msg = match Message::decode(bytes) {
        Ok(m) => m,
        Err(e) => return InitResult::Ignore(DropReason::Malformed(e.to_string())),
    };
    if let Some(n) = msg.notify(NotifyType::COOKIE) {
        if sa.ke_retries >= MAX_RESTARTS {
            return InitResult::Failed(FailureReason::InvalidResponse {
                detail: "responder keeps demanding a COOKIE".into(),
            });
        }
        sa.ke_retries += 1;
        cx.emit(Event::Log {
            level: LogLevel::Info,
            conn: Some(sa.conn.clone()),
            message: "received COOKIE, retrying IKE_SA_INIT".into(),
        });
        sa.cookie = Some(n.data.clone());
        restart(cx, sa, now);
        return InitResult::Restarted;
    }
    if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
        let Some(group) = n.invalid_ke_group() else {
            return InitResult::Ignore(DropReason::Malformed(
                "INVALID_KE_PAYLOAD without a group".into(),
            ));
        };
        let current = sa.ke.as_ref().map(KeyExchange::group);
        let offered = sa.offered.as_ref();
        let reorder = offered.and_then(|o| o.with_group_first(group));
        let (Some(reordered), true) = (reorder, Some(group) != current) else {
            return InitResult::Failed(FailureReason::InvalidKeRefused { group });
        };
        if sa.ke_retries >= MAX_RESTARTS {
            return InitResult::Failed(FailureReason::InvalidKeRefused { group });
        }
        let ke = match KeyExchange::generate(group, cx.rng_dyn()) {
            Ok(k) => k,
            Err(_) => return InitResult::Failed(FailureReason::InvalidKeRefused { group }),
        };
        sa.ke_retries += 1;
        cx.emit(Event::Log {
            level: LogLevel::Info,
            conn: Some(sa.conn.clone()),
            message: format!(
                "peer didn't accept DH group {}, it requested {group}",
                current.unwrap_or(KeGroup::NONE)
            ),
        });
        sa.ke = Some(ke);
        sa.offered = Some(reordered);
        restart(cx, sa, now);
        return InitResult::Restarted;
    }
    if let Some(n) = msg.notifies().find(|n| n.is_error()) {
        return InitResult::Failed(FailureReason::PeerError {
            exchange: ExchangeType::IKE_SA_INIT,
            notify: n.ntype,
            child: None,
        });
    }
    let mut sa_payload = None;
    let mut ke_payload = None;
    let mut nonce = None;
    for p in &msg.payloads {
        match p {
            Payload::Sa(s) => sa_payload = Some(s),
            Payload::Ke(k) => ke_payload = Some(k),
            Payload::Nonce(n) => nonce = Some(n),
            _ => {}
        }
    }
    let (Some(sa_p), Some(ke_p), Some(nr)) = (sa_payload, ke_payload, nonce) else {
        return InitResult::Failed(FailureReason::InvalidResponse {
            detail: "IKE_SA_INIT response lacks SA, KE or Nonce".into(),
        });
    };
    if msg.header.spi_r == 0 {
        return InitResult::Failed(FailureReason::InvalidResponse {
            detail: "IKE_SA_INIT response with zero SPIr".into(),
        });
    }
    if !nonce_ok(nr) {
        return InitResult::Failed(FailureReason::InvalidResponse {
            detail: format!("nonce of {} octets", nr.len()),
        });
    }
    let Some(offered) = sa.offered.clone() else {
        return InitResult::Failed(FailureReason::Internal {
            detail: "no offered proposals".into(),
        });
    };
    let chosen = match sa_p.proposals.as_slice() {
        [one] => one,
        _ => {
            return InitResult::Failed(FailureReason::InvalidResponse {
                detail: format!(
                    "responder returned {} proposals, expected one",
                    sa_p.proposals.len()
                ),
            })
        }
    };
    let algs = match proposal::check_response(&offered, &offered.to_wire(&[]), chosen) {
        Ok(Algorithms::Ike(a)) => a,
        Ok(Algorithms::Child(_)) => {
            return InitResult::Failed(FailureReason::Internal {
                detail: "IKE proposal check returned Child algorithms".into(),
            })
        }
        Err(e) => {
            return InitResult::Failed(FailureReason::InvalidResponse {
                detail: e.to_string(),
            })
        }
    };
    let Some(ke) = sa.ke.take() else {
        return InitResult::Failed(FailureReason::Internal {
            detail: "no key exchange state".into(),
        });
    };
    if ke.group() != algs.ke || ke_p.group != algs.ke {
        return InitResult::Failed(FailureReason::InvalidResponse {
            detail: format!(
                "responder chose {} but sent KE for {} (we sent {})",
                algs.ke,
                ke_p.group,
                ke.group()
            ),
        });
    }
    let g_ir = match ke.shared_secret(&ke_p.data) {
        Ok(s) => s,
        Err(e) => {
            return InitResult::Failed(FailureReason::InvalidResponse {
                detail: e.to_string(),
            })
        }
    };
    sa.spi_r = msg.header.spi_r;
    sa.nr = Secret::from_slice(nr);
    if let Err(r) = derive(sa, &algs, &g_ir) {
        return InitResult::Failed(r);
    }
    sa.init_response = bytes.to_vec();
    sa.peer_childless = msg.notify(NotifyType::CHILDLESS_IKEV2_SUPPORTED).is_some();
    sa.fragmentation = msg
        .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
        .is_some();
    let notifies: Vec<&Notify> = msg.notifies().collect();
    sa.sig.note_hashes(
        notifies.iter().copied(),
        cx.config.settings.signature_authentication,
    );
    // RFC 7296 section 3.7: the responder's CERTREQ comes in its IKE_SA_INIT response.
    sa.sig.peer_certreq = msg
        .payloads
        .iter()
        .any(|p| matches!(p, Payload::CertReq(_)));
    let (nl, nrem) = nat_detect(&notifies, sa.spi_i, sa.spi_r, sa.local, sa.remote);
    sa.nat_local = nl;
    sa.nat_remote = nrem;
    if let (Some(l), Some(r)) = (nl, nrem) {
        cx.emit(Event::NatDetected {
            conn: sa.conn.clone(),
            spis: sa.spis(),
            local_behind_nat: l,
            remote_behind_nat: r,
        });
    }
    cx.emit(Event::ProposalSelected {
        conn: Some(sa.conn.clone()),
        protocol: ProtocolId::IKE,
        algorithms: algs.to_string(),
    });
    InitResult::Done
}

// ---------------------------------------------------------------------------------------------
// Responder
// ---------------------------------------------------------------------------------------------

/// The responder's decision on an IKE_SA_INIT request.
pub(crate) enum InitRequestResult {
    /// A new half-open SA and the response that was sent.
    Created(Box<IkeSa>),
    /// Answered without creating state (COOKIE, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN, ...).
    Answered,
    Dropped(DropReason),
}

/// An unprotected IKE_SA_INIT response carrying only `n`, with SPIr 0 (RFC 7296 sections 2.6, 1.3).
fn notify_only(req: &Header, n: Notify) -> Vec<u8> {
    Message {
        header: Header {
            spi_i: req.spi_i,
            spi_r: 0,
            minor_version: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::new(false, true),
            message_id: req.message_id,
        },
        payloads: vec![Payload::Notify(n)],
    }
    .encode()
}

/// Parameters of one IKE_SA_INIT request the endpoint has already classified.
pub(crate) struct InitRequest<'a> {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub bytes: &'a [u8],
    /// Half-open SAs right now (for the COOKIE decision and `half_open_limit`).
    pub half_open: usize,
    /// Half-open SAs from `remote`'s address right now (`block_threshold`).
    pub half_open_from_ip: usize,
    pub spi_r: u64,
}

/// Responder: handles a new IKE_SA_INIT request.
pub(crate) fn respond_ike_sa_init<R: Rng>(
    cx: &mut Core<R>,
    now: Instant,
    req: InitRequest<'_>,
) -> InitRequestResult {
    let InitRequest {
        local,
        remote,
        bytes,
        half_open,
        half_open_from_ip,
        spi_r,
    } = req;
    let msg = match Message::decode(bytes) {
        Ok(m) => m,
        Err(e) => {
            if e.notify_type() == NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD {
                // RFC 7296 section 2.5: a critical payload we do not know rejects the message with
                // UNSUPPORTED_CRITICAL_PAYLOAD, even unauthenticated.
                if let Ok(raw) = Header::peek(bytes) {
                    let mut n = Notify::new(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
                    if let crate::wire::DecodeError::UnsupportedCritical(t) = e {
                        n.data = vec![t.0];
                    }
                    cx.send(local, remote, notify_only(&raw.header, n));
                    return InitRequestResult::Answered;
                }
            }
            // Anything else is unauthenticated garbage: no INVALID_SYNTAX (RFC 7296 section 2.21).
            return InitRequestResult::Dropped(DropReason::Malformed(e.to_string()));
        }
    };
    let h = msg.header;
    if h.message_id != 0 {
        return InitRequestResult::Dropped(DropReason::UnexpectedMessageId {
            expected: 0,
            got: h.message_id,
        });
    }
    let mut sa_payload = None;
    let mut ke_payload = None;
    let mut nonce = None;
    for p in &msg.payloads {
        match p {
            Payload::Sa(s) => sa_payload = Some(s),
            Payload::Ke(k) => ke_payload = Some(k),
            Payload::Nonce(n) => nonce = Some(n),
            _ => {}
        }
    }
    let (Some(sa_p), Some(ke_p), Some(ni)) = (sa_payload, ke_payload, nonce) else {
        return InitRequestResult::Dropped(DropReason::Malformed(
            "IKE_SA_INIT request lacks SA, KE or Nonce".into(),
        ));
    };
    if !nonce_ok(ni) {
        return InitRequestResult::Dropped(DropReason::Malformed(format!(
            "nonce of {} octets",
            ni.len()
        )));
    }
    let limits = &cx.config.settings.limits;
    if half_open >= limits.half_open {
        return InitRequestResult::Dropped(DropReason::HalfOpenLimit);
    }
    if half_open_from_ip >= limits.half_open_per_ip {
        return InitRequestResult::Dropped(DropReason::HalfOpenLimitPerIp);
    }
    if half_open >= cx.config.settings.cookie_threshold {
        cx.rotate_cookie_secret(now);
        let spi_i = spi_bytes(h.spi_i);
        // The COOKIE must be the first payload (RFC 7296 section 2.6).
        let echoed = match msg.payloads.first() {
            Some(Payload::Notify(n)) if n.ntype == NotifyType::COOKIE => Some(&n.data),
            _ => None,
        };
        let valid = echoed.is_some_and(|c| cx.cookies.verify(c, ni, remote, &spi_i));
        if !valid {
            let cookie = cx.cookies.cookie(ni, remote, &spi_i).to_vec();
            cx.send(local, remote, notify_only(&h, Notify::cookie(cookie)));
            cx.emit(Event::CookieDemanded {
                from: remote,
                half_open,
            });
            return InitRequestResult::Answered;
        }
    }
    let candidates: Vec<&ConnConfig> = cx
        .config
        .connections
        .iter()
        .filter(|c| c.matches_addrs(local.ip(), remote.ip()))
        .collect();
    if candidates.is_empty() {
        cx.send(
            local,
            remote,
            notify_only(&h, Notify::new(NotifyType::NO_PROPOSAL_CHOSEN)),
        );
        let reason = FailureReason::NoMatchingConnection {
            why: NoConnection::Addresses {
                local: local.ip(),
                remote: remote.ip(),
            },
        };
        cx.fail(now, None, remote, reason);
        return InitRequestResult::Answered;
    }
    let mut first_mismatch = None;
    let mut chosen = None;
    for c in &candidates {
        match proposal::select(&c.ike_proposals, &sa_p.proposals) {
            Ok(sel) => {
                chosen = Some((*c, sel));
                break;
            }
            Err(m) => {
                first_mismatch.get_or_insert((c.name.clone(), m));
            }
        }
    }
    let Some((conn, selected)) = chosen else {
        cx.send(
            local,
            remote,
            notify_only(&h, Notify::new(NotifyType::NO_PROPOSAL_CHOSEN)),
        );
        if let Some((name, mismatch)) = first_mismatch {
            let reason = FailureReason::ProposalMismatch {
                protocol: ProtocolId::IKE,
                child: None,
                mismatch,
            };
            cx.fail(now, Some(name), remote, reason);
        }
        return InitRequestResult::Answered;
    };
    let Some(algs) = selected.algorithms.as_ike().copied() else {
        return InitRequestResult::Dropped(DropReason::Malformed(
            "IKE selection returned Child algorithms".into(),
        ));
    };
    let conn_name = conn.name.clone();
    let certreq = crate::exchange::ike_auth::certreq(candidates.iter().copied());
    if ke_p.group != algs.ke {
        cx.send(local, remote, notify_only(&h, Notify::invalid_ke(algs.ke)));
        cx.emit(Event::KeGroupRequested {
            conn: conn_name,
            proposed: ke_p.group,
            requested: algs.ke,
        });
        return InitRequestResult::Answered;
    }
    let ke = match KeyExchange::generate(algs.ke, cx.rng_dyn()) {
        Ok(k) => k,
        Err(e) => {
            return InitRequestResult::Dropped(DropReason::Malformed(e.to_string()));
        }
    };
    let g_ir = match ke.shared_secret(&ke_p.data) {
        Ok(s) => s,
        Err(e) => return InitRequestResult::Dropped(DropReason::Malformed(e.to_string())),
    };
    let mut sa = IkeSa::new(
        cx.next_uid(),
        conn_name,
        false,
        h.spi_i,
        spi_r,
        local,
        remote,
    );
    sa.ni = Secret::from_slice(ni);
    sa.nr = cx.random_secret(NONCE_LEN);
    if let Err(r) = derive(&mut sa, &algs, &g_ir) {
        cx.fail(now, Some(sa.conn.clone()), remote, r);
        return InitRequestResult::Answered;
    }
    // The initiator hashed with SPIr = 0 (it did not know ours yet).
    let notifies: Vec<&Notify> = msg.notifies().collect();
    let (nl, nrem) = nat_detect(&notifies, h.spi_i, 0, local, remote);
    sa.nat_local = nl;
    sa.nat_remote = nrem;
    sa.force_encap = cx.config.connection(&sa.conn).is_some_and(|c| c.encap);
    sa.fragmentation = msg
        .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
        .is_some();
    let signature_auth = cx.config.settings.signature_authentication;
    sa.sig.note_hashes(notifies.iter().copied(), signature_auth);
    let (i, r) = (spi_bytes(sa.spi_i), spi_bytes(sa.spi_r));
    let response = Message {
        header: Header {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            minor_version: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::new(false, true),
            message_id: 0,
        },
        payloads: vec![
            Payload::Sa(SaPayload {
                proposals: vec![selected.response_proposal(&[])],
            }),
            Payload::Ke(KePayload {
                group: ke.group(),
                data: ke.public_value().to_vec(),
            }),
            Payload::Nonce(sa.nr.as_bytes().to_vec()),
            Payload::Notify(Notify::nat_detection_source(source_natd(
                sa.force_encap,
                &i,
                &r,
                local,
            ))),
            Payload::Notify(Notify::nat_detection_destination(crypto::natd_hash(
                &i, &r, remote,
            ))),
            // RFC 6023: we accept IKE_AUTH without a Child SA.
            Payload::Notify(Notify::new(NotifyType::CHILDLESS_IKEV2_SUPPORTED)),
        ],
    };
    let mut response = response;
    // RFC 7383 section 2.3: announced only in answer to an initiator that announced it.
    if sa.fragmentation {
        response.payloads.push(Payload::Notify(Notify::new(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
        )));
    }
    // RFC 7427 section 4: answered only to an initiator that announced its own list.
    if signature_auth && sa.sig.peer_hashes.is_some() {
        response
            .payloads
            .push(Payload::Notify(crate::auth::signature_hash_notify()));
    }
    // RFC 7296 section 3.7: CERTREQ for the CAs of every connection these addresses may end up
    // using (the identities that decide it only come in IKE_AUTH).
    if let Some(req) = certreq {
        response.payloads.push(Payload::CertReq(req));
    }
    let response = response.encode();
    sa.init_request = bytes.to_vec();
    sa.init_response = response.clone();
    sa.responses.answered(0, bytes, vec![response.clone()]);
    sa.last_peer_message = Some(now);
    crate::timer::on_half_open_created(
        &mut sa.deadlines,
        now,
        cx.config.settings.half_open_timeout,
    );
    cx.emit(sa.created_event());
    cx.emit(Event::ProposalSelected {
        conn: Some(sa.conn.clone()),
        protocol: ProtocolId::IKE,
        algorithms: algs.to_string(),
    });
    if let (Some(l), Some(r)) = (nl, nrem) {
        cx.emit(Event::NatDetected {
            conn: sa.conn.clone(),
            spis: sa.spis(),
            local_behind_nat: l,
            remote_behind_nat: r,
        });
    }
    cx.send(local, remote, response);
    InitRequestResult::Created(Box::new(sa))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_detection_flags_each_side() {
        let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:500".parse().unwrap();
        let nat: SocketAddr = "198.51.100.7:4500".parse().unwrap();
        let (i, r) = (1u64, 2u64);
        let mk = |ntype, addr| Notify {
            protocol: ProtocolId::NONE,
            spi: vec![],
            ntype,
            data: crypto::natd_hash(&i.to_be_bytes(), &r.to_be_bytes(), addr).to_vec(),
        };
        // Peer b saw our packets come from a, and says so: no NAT.
        let src = mk(NotifyType::NAT_DETECTION_SOURCE_IP, b);
        let dst = mk(NotifyType::NAT_DETECTION_DESTINATION_IP, a);
        assert_eq!(
            nat_detect(&[&src, &dst], i, r, a, b),
            (Some(false), Some(false))
        );
        // We are behind a NAT: the peer addressed `nat`, not our local `a`.
        let dst_nat = mk(NotifyType::NAT_DETECTION_DESTINATION_IP, nat);
        assert_eq!(
            nat_detect(&[&src, &dst_nat], i, r, a, b),
            (Some(true), Some(false))
        );
        // The peer is behind a NAT: it claims a source we do not see.
        let src_nat = mk(NotifyType::NAT_DETECTION_SOURCE_IP, nat);
        assert_eq!(
            nat_detect(&[&src_nat, &dst], i, r, a, b),
            (Some(false), Some(true))
        );
        assert_eq!(nat_detect(&[&src], i, r, a, b), (None, None));
    }
}
