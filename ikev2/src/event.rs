//! Events for the control plane and the log. The core has no logger: every state change and every
//! dropped message comes out as an [`Event`] with a [`LogLevel`], and `Display` gives the one-line
//! operator message the driver logs.

use core::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::config::Mode;
use crate::consts::{ExchangeType, KeGroup, NotifyType, ProtocolId};
use crate::proposal::Mismatch;

mod failure;
pub use failure::{CreateFailure, Fault, Internal, SpiKind, TsOutside};

/// A Child SA's state as events and status report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildStatusState {
    /// Kernel operations issued, not all confirmed.
    Installing,
    Installed,
    /// A Delete is outstanding.
    Deleting,
    /// A CREATE_CHILD_SA rekey of this Child SA is in progress; it still carries traffic.
    Rekeying,
    /// Its successor is installed; it is kept only until the old SAs are deleted.
    Rekeyed,
}

impl ChildStatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChildStatusState::Installing => "INSTALLING",
            ChildStatusState::Installed => "INSTALLED",
            ChildStatusState::Deleting => "DELETING",
            ChildStatusState::Rekeying => "REKEYING",
            ChildStatusState::Rekeyed => "REKEYED",
        }
    }
}

/// How loud the driver should log an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// The two IKE SPIs, as strongSwan prints them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeSpis {
    pub initiator: u64,
    pub responder: u64,
}

impl fmt::Display for IkeSpis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}_i {:016x}_r", self.initiator, self.responder)
    }
}

impl fmt::Debug for IkeSpis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// IKE SA states, as one transition function records them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IkeState {
    /// Initiator: IKE_SA_INIT request sent.
    InitSent,
    /// Initiator: IKE_AUTH request sent.
    AuthSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
    HalfOpen,
    Established,
    /// A Delete for the IKE SA is outstanding.
    Deleting,
    /// Gone; the SA is removed right after this transition.
    Destroyed,
}

impl IkeState {
    /// strongSwan's state name for status output.
    pub fn status_name(self) -> &'static str {
        match self {
            IkeState::InitSent | IkeState::AuthSent | IkeState::HalfOpen => "CONNECTING",
            IkeState::Established => "ESTABLISHED",
            IkeState::Deleting => "DELETING",
            IkeState::Destroyed => "DESTROYING",
        }
    }
}

impl fmt::Display for IkeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            IkeState::InitSent => "INIT_SENT",
            IkeState::AuthSent => "AUTH_SENT",
            IkeState::HalfOpen => "HALF_OPEN",
            IkeState::Established => "ESTABLISHED",
            IkeState::Deleting => "DELETING",
            IkeState::Destroyed => "DESTROYED",
        };
        f.write_str(s)
    }
}

/// Why our verification of the peer's AUTH payload failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// The AUTH value does not match the one computed from our PSK.
    PskMismatch,
    /// The peer used an authentication method the connection does not allow.
    MethodNotAllowed(crate::consts::AuthMethod),
    /// No PSK is configured for this pair of identities.
    NoPsk,
    /// The peer authenticated as an identity other than the configured remote ID.
    UnexpectedIdentity { expected: String },
    /// AUTH or ID payload missing.
    MissingPayload,
    /// Certificate / signature authentication failed (chain, validity, ID, signature).
    Certificate(crate::auth::AuthError),
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthFailure::PskMismatch => f.write_str("PSK mismatch"),
            AuthFailure::MethodNotAllowed(m) => write!(f, "method {m} not allowed"),
            AuthFailure::NoPsk => f.write_str("no PSK configured"),
            AuthFailure::UnexpectedIdentity { expected } => {
                write!(f, "identity does not match configured '{expected}'")
            }
            AuthFailure::MissingPayload => f.write_str("AUTH or ID payload missing"),
            AuthFailure::Certificate(e) => write!(f, "{e}"),
        }
    }
}

/// Why no configured connection accepts a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoConnection {
    /// IKE_SA_INIT: no connection has this pair of addresses.
    Addresses { local: IpAddr, remote: IpAddr },
    /// IKE_AUTH: no connection for these addresses accepts the peer's identity.
    Identity { peer_id: String, remote: IpAddr },
    /// An initiate command for a connection without a single local and remote address.
    NoSingleAddress { conn: String },
}

impl fmt::Display for NoConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoConnection::Addresses { local, remote } => {
                write!(f, "no connection for {local} ... {remote}")
            }
            NoConnection::Identity { peer_id, remote } => {
                write!(f, "no connection for peer '{peer_id}' at {remote}")
            }
            NoConnection::NoSingleAddress { conn } => write!(
                f,
                "connection '{conn}' needs a single address in local_addrs and remote_addrs to initiate"
            ),
        }
    }
}

/// What the two sides of a failed PFS (KE in CREATE_CHILD_SA) negotiation want. An empty list
/// is "no PFS".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PfsConflict {
    /// The groups the peer offers or requires against the child's own.
    Groups {
        peer: Vec<KeGroup>,
        ours: Vec<KeGroup>,
    },
    /// The peer answered NO_PROPOSAL_CHOSEN to a rekey whose algorithms it accepted before: it
    /// refused (or demanded) the key exchange; only our side is known.
    PeerRefused { ours: Vec<KeGroup> },
}

impl PfsConflict {
    /// Both sides in words, naming `child`.
    pub fn describe(&self, child: &str) -> String {
        match self {
            PfsConflict::Groups { peer, ours } => match (peer.is_empty(), ours.is_empty()) {
                (true, _) => format!(
                    "peer offers no PFS, child '{child}' requires {}",
                    group_names(ours)
                ),
                (false, true) => format!(
                    "peer requires {}, child '{child}' has no PFS group",
                    group_names(peer)
                ),
                (false, false) => format!(
                    "peer requires {}, child '{child}' accepts only {}",
                    group_names(peer),
                    group_names(ours)
                ),
            },
            PfsConflict::PeerRefused { ours } if ours.is_empty() => {
                format!("peer requires PFS, child '{child}' has no PFS group (NO_PROPOSAL_CHOSEN)")
            }
            PfsConflict::PeerRefused { ours } => format!(
                "child '{child}' requires {}, peer has no matching PFS group (NO_PROPOSAL_CHOSEN)",
                group_names(ours)
            ),
        }
    }
}

/// KE groups by their IANA names, "no PFS" for none.
pub fn group_names(groups: &[KeGroup]) -> String {
    if groups.is_empty() {
        return "no PFS".into();
    }
    groups
        .iter()
        .map(|g| crate::proposal::transform_name(crate::consts::TransformType::KE, g.0, 0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which configured bound a peer's request ran into, with the numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitHit {
    /// `max_child_sas`: the peer asked for another Child SA on an IKE SA that has `have`.
    ChildSas { have: usize },
    /// `max_ts`: the peer proposed more selectors per payload than `cap`.
    TsProposed { tsi: usize, tsr: usize, cap: usize },
    /// `max_ts`: narrowing leaves more than `cap` selectors on a side.
    TsNarrowed { cap: usize },
    /// `max_ts`: the narrowed selectors do not fit one TS payload.
    TsPayload(crate::wire::ts::TooManySelectors),
    /// `max_policies`: the selectors need `need` kernel policies, more than `max`.
    Policies { need: usize, max: usize },
}

impl LimitHit {
    /// The settings key of the bound.
    pub fn setting(&self) -> &'static str {
        match self {
            LimitHit::ChildSas { .. } => "max_child_sas",
            LimitHit::TsProposed { .. } | LimitHit::TsNarrowed { .. } | LimitHit::TsPayload(_) => {
                "max_ts"
            }
            LimitHit::Policies { .. } => "max_policies",
        }
    }
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitHit::ChildSas { have } => write!(
                f,
                "peer asked for another Child SA; this IKE SA already has {have}"
            ),
            LimitHit::TsProposed { tsi, tsr, cap } => write!(
                f,
                "peer proposed {tsi} TSi and {tsr} TSr selectors, more than {cap} per payload"
            ),
            LimitHit::TsNarrowed { cap } => {
                write!(f, "narrowing leaves more than {cap} selectors per side")
            }
            LimitHit::TsPayload(e) => write!(f, "{e}"),
            LimitHit::Policies { need, max } => write!(
                f,
                "these selectors need {need} kernel policies, more than {max}"
            ),
        }
    }
}

/// Why a negotiation failed, typed, so that the control plane can act on it and the operator gets a
/// message naming the parameter at fault.
#[derive(Clone, Debug, PartialEq)]
pub enum FailureReason {
    /// No IKE or ESP proposal in common; the mismatch names the first failing transform type.
    ProposalMismatch {
        protocol: ProtocolId,
        child: Option<String>,
        mismatch: Mismatch,
    },
    /// We could not authenticate the peer.
    AuthenticationFailed { peer_id: String, why: AuthFailure },
    /// The peer rejected our authentication (it sent AUTHENTICATION_FAILED).
    PeerRejectedAuthentication,
    /// Traffic selectors had no overlap.
    TsUnacceptable {
        child: String,
        ours_local: String,
        ours_remote: String,
        theirs_i: String,
        theirs_r: String,
    },
    /// The peer answered with an error notify (e.g. NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE).
    PeerError {
        exchange: ExchangeType,
        notify: NotifyType,
        child: Option<String>,
    },
    /// The mode requested by one side was refused by the other.
    ModeMismatch {
        child: String,
        wanted: Mode,
        got: Mode,
    },
    /// No configured connection accepts the peer (addresses or identity).
    NoMatchingConnection { why: NoConnection },
    /// The peer asked for a KE group we do not offer (or asked twice).
    InvalidKeRefused { group: crate::consts::KeGroup },
    /// Retransmission budget spent.
    PeerLost { retransmits: u32 },
    /// The responder's half-open SA expired before IKE_AUTH completed.
    HalfOpenTimeout,
    /// A response was malformed or lacked required payloads.
    InvalidResponse { fault: Fault },
    /// A kernel operation for Child SA `child` failed; `error.kind` is the errno class (diagnose
    /// names the cause from it), `error.message` the kernel's own sentence.
    Kernel {
        child: String,
        error: rswan_ike::kernel::KernelError,
    },
    /// Internal failure (e.g. crypto backend error).
    Internal { why: Internal },
    /// A rekey (CREATE_CHILD_SA) failed; the SA being rekeyed stays until its lifetime ends.
    /// `child` is `None` for the IKE SA.
    RekeyFailed {
        child: Option<String>,
        why: CreateFailure,
    },
    /// A Child SA rekey failed because the two sides disagree on PFS; `Display` names both
    /// sides, e.g. "peer requires MODP_2048, child 'net' has no PFS group".
    PfsMismatch {
        child: String,
        conflict: PfsConflict,
    },
    /// Dead peer detection: the liveness check went unanswered for the whole retransmit budget.
    DpdTimeout { retransmits: u32 },
    /// A CREATE_CHILD_SA to add a Child SA was refused or failed.
    ChildCreateFailed { child: String, why: CreateFailure },
    /// The peer asked for more than a configured limit allows; `limit.setting()` names the key.
    LimitExceeded {
        child: Option<String>,
        limit: LimitHit,
    },
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::ProposalMismatch {
                protocol,
                child,
                mismatch,
            } => match child {
                Some(c) => write!(f, "no acceptable {protocol} proposal for child '{c}': {mismatch}"),
                None => write!(f, "no acceptable {protocol} proposal: {mismatch}"),
            },
            FailureReason::AuthenticationFailed { peer_id, why } => {
                write!(f, "authentication of '{peer_id}' failed: {why}")
            }
            FailureReason::PeerRejectedAuthentication => {
                f.write_str("peer rejected our authentication (AUTHENTICATION_FAILED)")
            }
            FailureReason::TsUnacceptable {
                child,
                ours_local,
                ours_remote,
                theirs_i,
                theirs_r,
            } => write!(
                f,
                "traffic selectors unacceptable for child '{child}': we allow {ours_local} === {ours_remote}, peer proposed {theirs_i} === {theirs_r}"
            ),
            FailureReason::PeerError {
                exchange,
                notify,
                child,
            } => match child {
                Some(c) => write!(f, "peer answered {exchange} for child '{c}' with {notify}"),
                None => write!(f, "peer answered {exchange} with {notify}"),
            },
            FailureReason::ModeMismatch { child, wanted, got } => {
                write!(f, "child '{child}': wanted mode {wanted}, peer negotiated {got}")
            }
            FailureReason::NoMatchingConnection { why } => {
                write!(f, "no matching connection: {why}")
            }
            FailureReason::InvalidKeRefused { group } => {
                write!(f, "peer requested KE group {group}, which we do not offer")
            }
            FailureReason::PeerLost { retransmits } => {
                write!(f, "lost after {retransmits} retransmits")
            }
            FailureReason::HalfOpenTimeout => f.write_str("half-open IKE SA timed out"),
            FailureReason::LimitExceeded { child, limit } => {
                let setting = limit.setting();
                match child {
                    Some(c) => write!(f, "child '{c}': {limit} (settings.{setting})"),
                    None => write!(f, "{limit} (settings.{setting})"),
                }
            }
            FailureReason::InvalidResponse { fault } => write!(f, "invalid response: {fault}"),
            FailureReason::Kernel { child, error } => write!(f, "kernel: child '{child}': {error}"),
            FailureReason::Internal { why } => write!(f, "internal error: {why}"),
            FailureReason::RekeyFailed {
                child: Some(c),
                why,
            } => write!(f, "Child SA rekey failed: child '{c}': {why}"),
            FailureReason::RekeyFailed { child: None, why } => {
                write!(f, "IKE SA rekey failed: {why}")
            }
            FailureReason::PfsMismatch { child, conflict } => {
                write!(
                    f,
                    "Child SA rekey failed: PFS mismatch: {}",
                    conflict.describe(child)
                )
            }
            FailureReason::DpdTimeout { retransmits } => {
                write!(f, "lost after {retransmits} retransmits (DPD)")
            }
            FailureReason::ChildCreateFailed { child, why } => {
                write!(f, "creating child '{child}' failed: {why}")
            }
        }
    }
}

/// Why an inbound datagram was dropped without changing any state.
#[derive(Clone, Debug, PartialEq)]
pub enum DropReason {
    /// The bytes are not a valid IKE message (header or payload structure).
    Malformed(String),
    /// No IKE SA with these SPIs.
    UnknownSpi,
    /// Message ID outside the window (not the next request, not a retransmission, not the response
    /// to the outstanding request).
    UnexpectedMessageId { expected: u32, got: u32 },
    /// A response for which no request is outstanding, or for another exchange.
    UnexpectedResponse(String),
    /// Integrity check or decryption of SK failed.
    IntegrityCheckFailed,
    /// An IKE_SA_INIT request was refused: `half_open_limit` half-open SAs in total.
    HalfOpenLimit,
    /// An IKE_SA_INIT request was refused: `block_threshold` half-open SAs from this address.
    HalfOpenLimitPerIp,
    /// Larger than `max_packet` (a datagram, or the sum of a message's fragments).
    TooLarge { len: usize, max: usize },
    /// An SKF fragment on an IKE SA that did not negotiate fragmentation (RFC 7383 section 2.3).
    FragmentationNotNegotiated,
    /// A message type that is not valid in the SA's current state.
    UnexpectedExchange(String),
    /// Major version other than 2.
    UnsupportedVersion(u8),
    /// A critical payload we do not understand (RFC 7296 section 2.5).
    UnsupportedCritical(u8),
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Malformed(d) => write!(f, "malformed message: {d}"),
            DropReason::UnknownSpi => f.write_str("no IKE SA for these SPIs"),
            DropReason::UnexpectedMessageId { expected, got } => {
                write!(f, "unexpected message ID {got} (expected {expected})")
            }
            DropReason::UnexpectedResponse(d) => write!(f, "unexpected response: {d}"),
            DropReason::IntegrityCheckFailed => f.write_str("integrity check failed"),
            DropReason::HalfOpenLimit => {
                f.write_str("too many half-open IKE SAs (half_open_limit)")
            }
            DropReason::HalfOpenLimitPerIp => {
                f.write_str("too many half-open IKE SAs from this address (block_threshold)")
            }
            DropReason::TooLarge { len, max } => {
                write!(f, "message of {len} octets exceeds max_packet ({max})")
            }
            DropReason::FragmentationNotNegotiated => {
                f.write_str("IKE fragment, but fragmentation was not negotiated")
            }
            DropReason::UnexpectedExchange(d) => write!(f, "unexpected exchange: {d}"),
            DropReason::UnsupportedVersion(v) => write!(f, "unsupported IKE major version {v}"),
            DropReason::UnsupportedCritical(t) => {
                write!(f, "unsupported critical payload type {t}")
            }
        }
    }
}

/// Why an IKE or Child SA went down.
#[derive(Clone, Debug, PartialEq)]
pub enum DownReason {
    /// We sent the Delete (command or shutdown).
    LocalDelete,
    /// The peer sent the Delete.
    PeerDelete,
    /// The peer stopped answering.
    PeerLost { retransmits: u32 },
    /// The IKE SA carrying a Child SA went away.
    IkeSaGone,
    /// The peer authenticated a new IKE SA with INITIAL_CONTACT: it lost this one (restart).
    Replaced,
    /// The SA failed (e.g. kernel install error).
    Failed(FailureReason),
    /// The SA was rekeyed: its successor is up and carries the traffic (IKE SA: its Child SAs).
    Rekeyed,
    /// Its lifetime (hard limit: time or bytes) ran out before a rekey succeeded.
    Expired,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::LocalDelete => f.write_str("deleted locally"),
            DownReason::PeerDelete => f.write_str("deleted by peer"),
            DownReason::PeerLost { retransmits } => {
                write!(f, "peer lost after {retransmits} retransmits")
            }
            DownReason::IkeSaGone => f.write_str("IKE SA closed"),
            DownReason::Replaced => f.write_str("replaced after the peer's INITIAL_CONTACT"),
            DownReason::Failed(r) => write!(f, "failed: {r}"),
            DownReason::Rekeyed => f.write_str("rekeyed"),
            DownReason::Expired => f.write_str("hard lifetime expired"),
        }
    }
}

/// Something the control plane or the log should know.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The one choke point for IKE SA state: every change is reported as `old -> new`.
    IkeStateChange {
        conn: String,
        spis: IkeSpis,
        old: Option<IkeState>,
        new: IkeState,
    },
    /// The one choke point for Child SA state (INSTALLING, INSTALLED, DELETING); removal is
    /// reported by `ChildSaDown`.
    ChildStateChange {
        conn: String,
        child: String,
        spi_in: u32,
        spi_out: u32,
        old: Option<ChildStatusState>,
        new: ChildStatusState,
    },
    IkeSaUp {
        conn: String,
        spis: IkeSpis,
        local: SocketAddr,
        remote: SocketAddr,
        local_id: String,
        remote_id: String,
        initiator: bool,
    },
    IkeSaDown {
        conn: String,
        spis: IkeSpis,
        remote: SocketAddr,
        reason: DownReason,
    },
    ChildSaUp {
        conn: String,
        child: String,
        reqid: u32,
        spi_in: u32,
        spi_out: u32,
        mode: Mode,
        local_ts: String,
        remote_ts: String,
    },
    ChildSaDown {
        conn: String,
        child: String,
        reqid: u32,
        spi_in: u32,
        spi_out: u32,
        reason: DownReason,
    },
    /// NAT detection result of IKE_SA_INIT.
    NatDetected {
        conn: String,
        spis: IkeSpis,
        local_behind_nat: bool,
        remote_behind_nat: bool,
    },
    /// A negotiation failed; for the IKE SA or for one Child SA (the IKE SA may stay up).
    NegotiationFailed {
        conn: Option<String>,
        peer: SocketAddr,
        reason: FailureReason,
    },
    /// An IKE_SA_INIT was answered with a COOKIE demand instead of state (RFC 7296 2.6):
    /// `half_open` SAs had reached `cookie_threshold`.
    CookieDemanded { from: SocketAddr, half_open: usize },
    /// An inbound datagram was dropped.
    Dropped {
        from: SocketAddr,
        exchange: Option<ExchangeType>,
        reason: DropReason,
    },
    /// The proposal chosen for an IKE or Child SA, in strongSwan's "selected proposal" form.
    ProposalSelected {
        conn: Option<String>,
        protocol: ProtocolId,
        algorithms: String,
    },
    /// Responder: the peer's KE payload is for another group than the selected one, so it was
    /// answered with INVALID_KE_PAYLOAD naming `requested`.
    KeGroupRequested {
        conn: String,
        proposed: crate::consts::KeGroup,
        requested: crate::consts::KeGroup,
    },
    /// Free-form diagnostic (e.g. "retransmit 2 of request 1").
    Log {
        level: LogLevel,
        conn: Option<String>,
        message: String,
    },
}

impl Event {
    pub fn level(&self) -> LogLevel {
        match self {
            Event::IkeStateChange { .. } | Event::ChildStateChange { .. } => LogLevel::Debug,
            Event::IkeSaUp { .. } | Event::ChildSaUp { .. } => LogLevel::Info,
            Event::IkeSaDown { reason, .. } | Event::ChildSaDown { reason, .. } => match reason {
                DownReason::LocalDelete
                | DownReason::PeerDelete
                | DownReason::IkeSaGone
                | DownReason::Replaced
                | DownReason::Rekeyed => LogLevel::Info,
                _ => LogLevel::Warn,
            },
            Event::NatDetected { .. } => LogLevel::Info,
            Event::NegotiationFailed { .. } => LogLevel::Error,
            Event::Dropped { .. } => LogLevel::Debug,
            Event::CookieDemanded { .. } => LogLevel::Info,
            Event::ProposalSelected { .. } | Event::KeGroupRequested { .. } => LogLevel::Info,
            Event::Log { level, .. } => *level,
        }
    }

    /// The connection the event concerns, if known.
    pub fn conn(&self) -> Option<&str> {
        match self {
            Event::IkeStateChange { conn, .. }
            | Event::ChildStateChange { conn, .. }
            | Event::IkeSaUp { conn, .. }
            | Event::IkeSaDown { conn, .. }
            | Event::ChildSaUp { conn, .. }
            | Event::ChildSaDown { conn, .. }
            | Event::NatDetected { conn, .. }
            | Event::KeGroupRequested { conn, .. } => Some(conn),
            Event::NegotiationFailed { conn, .. }
            | Event::ProposalSelected { conn, .. }
            | Event::Log { conn, .. } => conn.as_deref(),
            Event::Dropped { .. } | Event::CookieDemanded { .. } => None,
        }
    }
}

/// The `<conn> ` prefix of a log line, when the event belongs to a connection.
fn write_conn(f: &mut fmt::Formatter<'_>, conn: Option<&str>) -> fmt::Result {
    match conn {
        Some(c) => write!(f, "<{c}> "),
        None => Ok(()),
    }
}

fn write_failure(
    f: &mut fmt::Formatter<'_>,
    peer: SocketAddr,
    reason: &FailureReason,
) -> fmt::Result {
    match reason {
        // Keeps the operator-facing wording of the issue: "peer 192.0.2.2 lost after 5 retransmits".
        FailureReason::PeerLost { .. } | FailureReason::DpdTimeout { .. } => {
            write!(f, "peer {} {reason}", peer.ip())
        }
        // Rekey failures name the child and both sides already; the peer address
        // still helps when several peers share a connection.
        FailureReason::PfsMismatch { .. } | FailureReason::RekeyFailed { .. } => {
            write!(f, "{reason} (peer {})", peer.ip())
        }
        _ => write!(f, "{reason} (peer {peer})"),
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::IkeStateChange { .. }
            | Event::ChildStateChange { .. }
            | Event::IkeSaUp { .. }
            | Event::IkeSaDown { .. }
            | Event::ChildSaUp { .. }
            | Event::ChildSaDown { .. } => self.fmt_sa(f),
            Event::CookieDemanded { from, half_open } => write!(
                f,
                "{half_open} half-open IKE SAs, demanding COOKIE from {from}"
            ),
            Event::NatDetected {
                conn,
                local_behind_nat,
                remote_behind_nat,
                ..
            } => {
                let what = match (local_behind_nat, remote_behind_nat) {
                    (false, false) => "no NAT detected",
                    (true, false) => "local host is behind NAT",
                    (false, true) => "remote host is behind NAT",
                    (true, true) => "local and remote hosts are behind NAT",
                };
                write!(f, "<{conn}> {what}")
            }
            Event::NegotiationFailed { conn, peer, reason } => {
                write_conn(f, conn.as_deref())?;
                write_failure(f, *peer, reason)
            }
            Event::Dropped {
                from,
                exchange,
                reason,
            } => match exchange {
                Some(x) => write!(f, "dropped {x} from {from}: {reason}"),
                None => write!(f, "dropped datagram from {from}: {reason}"),
            },
            Event::ProposalSelected {
                conn,
                protocol,
                algorithms,
            } => {
                write_conn(f, conn.as_deref())?;
                write!(f, "selected proposal: {protocol}:{algorithms}")
            }
            Event::KeGroupRequested {
                conn,
                proposed,
                requested,
            } => write!(
                f,
                "<{conn}> DH group {proposed} unacceptable, requesting {requested}"
            ),
            Event::Log { conn, message, .. } => match conn {
                Some(c) => write!(f, "<{c}> {message}"),
                None => f.write_str(message),
            },
        }
    }
}

impl Event {
    /// The state change and SA up/down lines, in strongSwan's wording.
    fn fmt_sa(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
                Event::IkeStateChange {
                    conn,
                    spis,
                    old,
                    new,
                } => match old {
                    Some(o) => write!(f, "<{conn}> IKE SA {spis} state change: {o} => {new}"),
                    None => write!(f, "<{conn}> IKE SA {spis} created in state {new}"),
                },
                Event::ChildStateChange {
                    conn,
                    child,
                    spi_in,
                    spi_out,
                    old,
                    new,
                } => {
                    write!(f, "<{conn}> CHILD_SA {child} {spi_in:08x}_i {spi_out:08x}_o ")?;
                    match old {
                        Some(o) => write!(f, "state change: {} => {}", o.as_str(), new.as_str()),
                        None => write!(f, "created in state {}", new.as_str()),
                    }
                }
                Event::IkeSaUp {
                    conn,
                    spis,
                    local,
                    remote,
                    local_id,
                    remote_id,
                    ..
                } => write!(
                    f,
                    "<{conn}> IKE_SA {conn} established between {}[{local_id}]...{}[{remote_id}] ({spis})",
                    local.ip(),
                    remote.ip()
                ),
                Event::IkeSaDown {
                    conn,
                    spis,
                    remote,
                    reason,
                } => write!(f, "<{conn}> IKE_SA with {} closed ({spis}): {reason}", remote.ip()),
                Event::ChildSaUp {
                    conn,
                    child,
                    reqid,
                    spi_in,
                    spi_out,
                    mode,
                    local_ts,
                    remote_ts,
                } => write!(
                    f,
                    "<{conn}> CHILD_SA {child}{{{reqid}}} established with SPIs {spi_in:08x}_i {spi_out:08x}_o and TS {local_ts} === {remote_ts} ({mode})"
                ),
                Event::ChildSaDown {
                    conn,
                    child,
                    reqid,
                    spi_in,
                    spi_out,
                    reason,
                } => write!(
                    f,
                    "<{conn}> CHILD_SA {child}{{{reqid}}} with SPIs {spi_in:08x}_i {spi_out:08x}_o closed: {reason}"
                ),
            // Display hands only the SA events to this function.
            _ => Ok(()),
        }
    }
}
