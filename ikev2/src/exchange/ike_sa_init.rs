//! IKE_SA_INIT (RFC 7296 section 1.2): proposals, key exchange, nonces, NAT detection, and the two
//! ways a responder can send the initiator back: COOKIE (section 2.6) and INVALID_KE_PAYLOAD
//! (section 1.3).

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::ConnConfig;
use crate::consts::{ExchangeType, KeGroup, NotifyType, PayloadType, ProtocolId};
use crate::context::Core;
use crate::crypto::{self, Encr, Integ, KeyExchange, Prf, Secret, SkCipher};
use crate::event::{DropReason, Event, FailureReason, Fault, Internal, LogLevel, NoConnection};
use crate::exchange::table::{Digest, Refusal, Row, NONCE_LEN};
use crate::proposal::{self, Algorithms};
use crate::rng::Rng;
use crate::sa::status::IkeAlgorithms as StatusAlgorithms;
use crate::sa::{IkeCrypto, IkeSa, Purpose};
use crate::wire::{DecodeError, Flags, Header, KePayload, Message, Notify, Payload, SaPayload};

/// How often one IKE_SA_INIT may be restarted by COOKIE or INVALID_KE_PAYLOAD before we give up
/// (a responder that keeps asking is broken or hostile).
const MAX_RESTARTS: u32 = 3;

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
            why: Internal::NoKeGroup,
        })?;
    let ke = KeyExchange::generate(group, cx.rng_dyn())
        .map_err(|e| FailureReason::Internal { why: e.into() })?;
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
    let internal = |e: crypto::CryptoError| FailureReason::Internal { why: e.into() };
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

fn invalid(fault: Fault) -> InitResult {
    InitResult::Failed(FailureReason::InvalidResponse { fault })
}

fn internal(why: Internal) -> InitResult {
    InitResult::Failed(FailureReason::Internal { why })
}

/// Why an unprotected IKE_SA_INIT message could not be read against its table row.
pub(crate) enum Unreadable {
    Decode(DecodeError),
    Refused(Refusal),
}

/// Decodes an IKE_SA_INIT message and digests it against `row`.
pub(crate) fn read(row: &Row, bytes: &[u8]) -> Result<(Header, Digest), Unreadable> {
    let msg = Message::decode(bytes).map_err(Unreadable::Decode)?;
    let d = row
        .digest_cleartext(msg.payloads)
        .map_err(Unreadable::Refused)?;
    Ok((msg.header, d))
}

/// Initiator: an IKE_SA_INIT response that did not fit its row. Unauthenticated, so a malformed
/// one is ignored; one without what a response needs ends the attempt.
pub(crate) fn unreadable_response(e: Unreadable) -> InitResult {
    match e {
        Unreadable::Decode(e) => InitResult::Ignore(DropReason::Malformed(e.to_string())),
        Unreadable::Refused(r) if r.is_malformed() => {
            InitResult::Ignore(DropReason::Malformed(r.to_string()))
        }
        Unreadable::Refused(r @ Refusal::Missing(_)) => {
            invalid(r.fault(Some(ExchangeType::IKE_SA_INIT)))
        }
        Unreadable::Refused(r) => invalid(r.fault(None)),
    }
}

/// Initiator: handles the IKE_SA_INIT response (unprotected). The window is still open: the caller
/// closes it only on `Done`.
pub(crate) fn handle_response_i<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    h: &Header,
    d: &Digest,
    bytes: &[u8],
) -> InitResult {
    if let Some(n) = d.notify(NotifyType::COOKIE) {
        return restart_with_cookie(cx, sa, now, n.data.clone());
    }
    if let Some(n) = d.notify(NotifyType::INVALID_KE_PAYLOAD) {
        return restart_with_group(cx, sa, now, n);
    }
    if let Some(notify) = d.first_error() {
        return InitResult::Failed(FailureReason::PeerError {
            exchange: ExchangeType::IKE_SA_INIT,
            notify,
            child: None,
        });
    }
    let algs = match agree(sa, h, d) {
        Ok(a) => a,
        Err(r) => return r,
    };
    sa.init_response = bytes.to_vec();
    note_peer(cx, sa, d);
    // RFC 7296 section 3.7: the responder's CERTREQ comes in its IKE_SA_INIT response.
    sa.sig.peer_certreq = !d.certreqs.is_empty();
    let spi_r = sa.spi_r;
    detect_nat(sa, &d.notifies, spi_r);
    report_nat(cx, sa);
    cx.emit(Event::ProposalSelected {
        conn: Some(sa.conn.clone()),
        protocol: ProtocolId::IKE,
        algorithms: algs.to_string(),
    });
    InitResult::Done
}

/// RFC 7296 section 2.6: the responder wants its COOKIE echoed.
fn restart_with_cookie<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    cookie: Vec<u8>,
) -> InitResult {
    if sa.ke_retries >= MAX_RESTARTS {
        return invalid(Fault::CookieLoop);
    }
    sa.ke_retries += 1;
    cx.emit(Event::Log {
        level: LogLevel::Info,
        conn: Some(sa.conn.clone()),
        message: "received COOKIE, retrying IKE_SA_INIT".into(),
    });
    sa.cookie = Some(cookie);
    restart(cx, sa, now);
    InitResult::Restarted
}

/// RFC 7296 section 1.3: the responder wants a KE payload of another group we offered.
fn restart_with_group<R: Rng>(
    cx: &mut Core<R>,
    sa: &mut IkeSa,
    now: Instant,
    n: &Notify,
) -> InitResult {
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
    InitResult::Restarted
}

/// Checks the responder's choice against our offer and derives the keys; returns the algorithms.
fn agree(sa: &mut IkeSa, h: &Header, d: &Digest) -> Result<proposal::IkeAlgorithms, InitResult> {
    let (Some(sa_p), Some(ke_p), Some(nr)) = (&d.sa, &d.ke, &d.nonce) else {
        return Err(invalid(Fault::Lacks {
            exchange: Some(ExchangeType::IKE_SA_INIT),
            payloads: vec![PayloadType::SA, PayloadType::KE, PayloadType::NONCE],
        }));
    };
    if h.spi_r == 0 {
        return Err(invalid(Fault::ZeroSpiR));
    }
    let Some(offered) = sa.offered.clone() else {
        return Err(internal(Internal::NoOfferedProposals));
    };
    let [chosen] = sa_p.proposals.as_slice() else {
        return Err(invalid(Fault::ProposalCount(sa_p.proposals.len())));
    };
    let algs = match proposal::check_response(&offered, &offered.to_wire(&[]), chosen) {
        Ok(Algorithms::Ike(a)) => a,
        Ok(Algorithms::Child(_)) => return Err(internal(Internal::ChildAlgorithmsForIke)),
        Err(e) => return Err(invalid(Fault::Proposal(e))),
    };
    let Some(ke) = sa.ke.take() else {
        return Err(internal(Internal::NoKeyExchangeState));
    };
    if ke.group() != algs.ke || ke_p.group != algs.ke {
        return Err(invalid(Fault::KeMismatch {
            chosen: algs.ke,
            sent: ke_p.group,
            ours: ke.group(),
        }));
    }
    let g_ir = ke
        .shared_secret(&ke_p.data)
        .map_err(|e| invalid(Fault::Crypto(e)))?;
    sa.spi_r = h.spi_r;
    sa.nr = Secret::from_slice(nr);
    derive(sa, &algs, &g_ir).map_err(InitResult::Failed)?;
    Ok(algs)
}

/// What the peer's IKE_SA_INIT message announces: childless support, fragmentation, signature
/// hash algorithms.
fn note_peer<R: Rng>(cx: &Core<R>, sa: &mut IkeSa, d: &Digest) {
    if sa.initiator {
        sa.peer_childless = d.has_notify(NotifyType::CHILDLESS_IKEV2_SUPPORTED);
    }
    sa.fragmentation = d.has_notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED);
    sa.sig.note_hashes(
        d.notifies.iter(),
        cx.config.settings.signature_authentication,
    );
}

/// Evaluates the peer's NAT_DETECTION payloads (hashed with `spi_r` as the peer knew it) and
/// reports what they show.
fn detect_nat(sa: &mut IkeSa, notifies: &[Notify], spi_r: u64) {
    let notifies: Vec<&Notify> = notifies.iter().collect();
    let (nl, nrem) = nat_detect(&notifies, sa.spi_i, spi_r, sa.local, sa.remote);
    sa.nat_local = nl;
    sa.nat_remote = nrem;
}

fn report_nat<R: Rng>(cx: &mut Core<R>, sa: &IkeSa) {
    if let (Some(l), Some(r)) = (sa.nat_local, sa.nat_remote) {
        cx.emit(Event::NatDetected {
            conn: sa.conn.clone(),
            spis: sa.spis(),
            local_behind_nat: l,
            remote_behind_nat: r,
        });
    }
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

/// Responder: an IKE_SA_INIT request that did not fit its row. A critical payload we do not know
/// rejects the message with UNSUPPORTED_CRITICAL_PAYLOAD, even unauthenticated (RFC 7296 section
/// 2.5); anything else is unauthenticated garbage: dropped, no INVALID_SYNTAX (section 3.10.1).
pub(crate) fn unreadable_request<R: Rng>(
    cx: &mut Core<R>,
    local: SocketAddr,
    remote: SocketAddr,
    bytes: &[u8],
    e: Unreadable,
) -> InitRequestResult {
    let detail = match e {
        Unreadable::Decode(DecodeError::UnsupportedCritical(t)) => {
            if let Ok(raw) = Header::peek(bytes) {
                let mut n = Notify::new(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
                n.data = vec![t.0];
                cx.send(local, remote, notify_only(&raw.header, n));
                return InitRequestResult::Answered;
            }
            DecodeError::UnsupportedCritical(t).to_string()
        }
        Unreadable::Decode(e) => e.to_string(),
        Unreadable::Refused(r @ Refusal::Missing(_)) => format!("IKE_SA_INIT request {r}"),
        Unreadable::Refused(r) => r.to_string(),
    };
    InitRequestResult::Dropped(DropReason::Malformed(detail))
}

/// Parameters of one IKE_SA_INIT request the endpoint has already read against its row.
pub(crate) struct InitRequest<'a> {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub bytes: &'a [u8],
    pub header: Header,
    pub digest: Digest,
    /// Half-open SAs right now (for the COOKIE decision and `half_open_limit`).
    pub half_open: usize,
    /// Half-open SAs from `remote`'s address right now (`block_threshold`).
    pub half_open_from_ip: usize,
    pub spi_r: u64,
}

/// What the responder chose for a request: the connection and the proposal.
struct Choice {
    conn: String,
    selected: proposal::Selected,
    algs: proposal::IkeAlgorithms,
    certreq: Option<crate::wire::CertReqPayload>,
}

/// Responder: handles a new IKE_SA_INIT request.
pub(crate) fn respond_ike_sa_init<R: Rng>(
    cx: &mut Core<R>,
    now: Instant,
    req: InitRequest<'_>,
) -> InitRequestResult {
    let (Some(sa_p), Some(ke_p), Some(ni)) = (&req.digest.sa, &req.digest.ke, &req.digest.nonce)
    else {
        return InitRequestResult::Dropped(DropReason::Malformed(
            "IKE_SA_INIT request lacks SA, KE or Nonce".into(),
        ));
    };
    if let Err(r) = admit(cx, now, &req, ni) {
        return r;
    }
    let choice = match choose(cx, now, &req, sa_p) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let h = &req.header;
    if ke_p.group != choice.algs.ke {
        return ask_for_group(cx, &req, &choice, ke_p.group);
    }
    let ke = match KeyExchange::generate(choice.algs.ke, cx.rng_dyn()) {
        Ok(k) => k,
        Err(e) => return InitRequestResult::Dropped(DropReason::Malformed(e.to_string())),
    };
    let g_ir = match ke.shared_secret(&ke_p.data) {
        Ok(s) => s,
        Err(e) => return InitRequestResult::Dropped(DropReason::Malformed(e.to_string())),
    };
    let mut sa = IkeSa::new(
        cx.next_uid(),
        choice.conn.clone(),
        false,
        h.spi_i,
        req.spi_r,
        req.local,
        req.remote,
    );
    sa.ni = Secret::from_slice(ni);
    sa.nr = cx.random_secret(NONCE_LEN);
    if let Err(r) = derive(&mut sa, &choice.algs, &g_ir) {
        cx.fail(now, Some(sa.conn.clone()), req.remote, r);
        return InitRequestResult::Answered;
    }
    // The initiator hashed with SPIr = 0 (it did not know ours yet).
    detect_nat(&mut sa, &req.digest.notifies, 0);
    sa.force_encap = cx.config.connection(&sa.conn).is_some_and(|c| c.encap);
    note_peer(cx, &mut sa, &req.digest);
    let response = build_response(cx, &sa, &choice, &ke);
    sa.init_request = req.bytes.to_vec();
    sa.init_response = response.clone();
    sa.responses.answered(0, req.bytes, vec![response.clone()]);
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
        algorithms: choice.algs.to_string(),
    });
    report_nat(cx, &sa);
    cx.send(req.local, req.remote, response);
    InitRequestResult::Created(Box::new(sa))
}

/// RFC 7296 section 1.3: INVALID_KE_PAYLOAD naming the group we selected, so that the
/// initiator retries with it.
fn ask_for_group<R: Rng>(
    cx: &mut Core<R>,
    req: &InitRequest<'_>,
    choice: &Choice,
    got: KeGroup,
) -> InitRequestResult {
    let want = choice.algs.ke;
    let answer = notify_only(&req.header, Notify::invalid_ke(want));
    cx.send(req.local, req.remote, answer);
    cx.emit(Event::KeGroupRequested {
        conn: choice.conn.clone(),
        proposed: got,
        requested: want,
    });
    InitRequestResult::Answered
}

/// Message ID, the half-open limits, and the COOKIE (RFC 7296 section 2.6) once half-open SAs
/// pass `cookie_threshold`.
fn admit<R: Rng>(
    cx: &mut Core<R>,
    now: Instant,
    req: &InitRequest<'_>,
    ni: &[u8],
) -> Result<(), InitRequestResult> {
    let h = &req.header;
    if h.message_id != 0 {
        return Err(InitRequestResult::Dropped(
            DropReason::UnexpectedMessageId {
                expected: 0,
                got: h.message_id,
            },
        ));
    }
    let limits = &cx.config.settings.limits;
    if req.half_open >= limits.half_open {
        return Err(InitRequestResult::Dropped(DropReason::HalfOpenLimit));
    }
    if req.half_open_from_ip >= limits.half_open_per_ip {
        return Err(InitRequestResult::Dropped(DropReason::HalfOpenLimitPerIp));
    }
    if req.half_open < cx.config.settings.cookie_threshold {
        return Ok(());
    }
    cx.rotate_cookie_secret(now);
    let spi_i = spi_bytes(h.spi_i);
    let remote = req.remote;
    let echoed = req.digest.leading_cookie();
    if echoed.is_some_and(|c| cx.cookies.verify(c, ni, remote, &spi_i)) {
        return Ok(());
    }
    let cookie = cx.cookies.cookie(ni, remote, &spi_i).to_vec();
    cx.send(req.local, remote, notify_only(h, Notify::cookie(cookie)));
    cx.emit(Event::CookieDemanded {
        from: remote,
        half_open: req.half_open,
    });
    Err(InitRequestResult::Answered)
}

/// The first connection for these addresses whose IKE proposals overlap the peer's; otherwise
/// NO_PROPOSAL_CHOSEN, reported against the first candidate.
fn choose<R: Rng>(
    cx: &mut Core<R>,
    now: Instant,
    req: &InitRequest<'_>,
    sa_p: &SaPayload,
) -> Result<Choice, InitRequestResult> {
    let (local, remote, h) = (req.local, req.remote, &req.header);
    let candidates: Vec<&ConnConfig> = cx
        .config
        .connections
        .iter()
        .filter(|c| c.matches_addrs(local.ip(), remote.ip()))
        .collect();
    let mut first_mismatch = None;
    let mut chosen = None;
    for c in &candidates {
        match proposal::select(&c.ike_proposals, &sa_p.proposals) {
            Ok(sel) => {
                chosen = Some((c.name.clone(), sel));
                break;
            }
            Err(m) => {
                first_mismatch.get_or_insert((c.name.clone(), m));
            }
        }
    }
    let certreq = crate::exchange::ike_auth::certreq(candidates.iter().copied());
    let no_candidates = candidates.is_empty();
    let Some((conn, selected)) = chosen else {
        let no_proposal = Notify::new(NotifyType::NO_PROPOSAL_CHOSEN);
        cx.send(local, remote, notify_only(h, no_proposal));
        if no_candidates {
            let reason = FailureReason::NoMatchingConnection {
                why: NoConnection::Addresses {
                    local: local.ip(),
                    remote: remote.ip(),
                },
            };
            cx.fail(now, None, remote, reason);
        } else if let Some((name, mismatch)) = first_mismatch {
            let reason = FailureReason::ProposalMismatch {
                protocol: ProtocolId::IKE,
                child: None,
                mismatch,
            };
            cx.fail(now, Some(name), remote, reason);
        }
        return Err(InitRequestResult::Answered);
    };
    let Some(algs) = selected.algorithms.as_ike().copied() else {
        return Err(InitRequestResult::Dropped(DropReason::Malformed(
            "IKE selection returned Child algorithms".into(),
        )));
    };
    Ok(Choice {
        conn,
        selected,
        algs,
        certreq,
    })
}

/// The IKE_SA_INIT response: SAr1, KEr, Nr, NAT detection, what we support, CERTREQ.
fn build_response<R: Rng>(cx: &Core<R>, sa: &IkeSa, choice: &Choice, ke: &KeyExchange) -> Vec<u8> {
    let (i, r) = (spi_bytes(sa.spi_i), spi_bytes(sa.spi_r));
    let mut payloads = vec![
        Payload::Sa(SaPayload {
            proposals: vec![choice.selected.response_proposal(&[])],
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
            sa.local,
        ))),
        Payload::Notify(Notify::nat_detection_destination(crypto::natd_hash(
            &i, &r, sa.remote,
        ))),
        // RFC 6023: we accept IKE_AUTH without a Child SA.
        Payload::Notify(Notify::new(NotifyType::CHILDLESS_IKEV2_SUPPORTED)),
    ];
    // RFC 7383 section 2.3: announced only in answer to an initiator that announced it.
    if sa.fragmentation {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
        )));
    }
    // RFC 7427 section 4: answered only to an initiator that announced its own list.
    if cx.config.settings.signature_authentication && sa.sig.peer_hashes.is_some() {
        payloads.push(Payload::Notify(crate::auth::signature_hash_notify()));
    }
    // RFC 7296 section 3.7: CERTREQ for the CAs of every connection these addresses may end up
    // using (the identities that decide it only come in IKE_AUTH).
    if let Some(req) = &choice.certreq {
        payloads.push(Payload::CertReq(req.clone()));
    }
    Message {
        header: Header {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            minor_version: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::new(false, true),
            message_id: 0,
        },
        payloads,
    }
    .encode()
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
