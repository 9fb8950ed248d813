//! What the daemon remembers for `rswanctl diagnose`: the last negotiation failure per
//! connection and per peer address (also for peers that matched no connection), and per peer
//! address what IKE traffic went each way.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rswan_ikev2::consts::NotifyType;
use rswan_ikev2::event::{AuthFailure, FailureReason, PfsConflict};
use rswan_ikev2::output::KernelErrorKind;
use rswan_ikev2::proposal::Mismatch;

/// A failed negotiation, classified for the verdict.
#[derive(Clone, Debug)]
pub struct FailureMemo {
    pub at: Instant,
    pub conn: Option<String>,
    pub peer: SocketAddr,
    /// The operator line (as logged).
    pub message: String,
    pub kind: FailureKind,
}

/// The failures the verdict distinguishes, with what the core said about them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Our PSK does not produce the peer's AUTH.
    PskMismatch,
    /// The peer sent AUTHENTICATION_FAILED.
    PeerRejectedAuth,
    /// Other authentication failure (identity, method, missing PSK), with the core's words.
    AuthFailed(String),
    /// No common proposal; `parameter` is the first transform type without overlap.
    ProposalMismatch {
        ike: bool,
        parameter: Option<String>,
        ours: Vec<String>,
        theirs: Vec<String>,
    },
    /// The peer answered NO_PROPOSAL_CHOSEN (it knows which parameter; we only know our side).
    PeerNoProposal {
        ike: bool,
    },
    /// Traffic selectors do not overlap (either side found it).
    TsMismatch,
    /// A Child SA rekey failed because one side requires a KE group (PFS) and the other offers
    /// none or another.
    PfsMismatch {
        child: String,
        conflict: PfsConflict,
    },
    /// No connection matched the peer.
    NoConnection,
    /// Retransmissions exhausted.
    Unreachable {
        retransmits: u32,
        dpd: bool,
    },
    /// The kernel refused to install a Child SA or its policies, by errno class.
    Kernel {
        kind: KernelErrorKind,
    },
    Other,
}

impl FailureMemo {
    pub fn new(
        at: Instant,
        conn: Option<String>,
        peer: SocketAddr,
        r: &FailureReason,
        message: String,
    ) -> Self {
        let mismatch = |m: &Mismatch, ike: bool| FailureKind::ProposalMismatch {
            ike,
            parameter: m.first_failing.map(|t| t.to_string()),
            ours: m.ours.clone(),
            theirs: m.theirs.clone(),
        };
        let kind = match r {
            FailureReason::AuthenticationFailed {
                why: AuthFailure::PskMismatch,
                ..
            } => FailureKind::PskMismatch,
            FailureReason::AuthenticationFailed { why, .. } => {
                FailureKind::AuthFailed(why.to_string())
            }
            FailureReason::PeerRejectedAuthentication => FailureKind::PeerRejectedAuth,
            FailureReason::ProposalMismatch {
                child, mismatch: m, ..
            } => mismatch(m, child.is_none()),
            FailureReason::PeerError { notify, child, .. }
                if *notify == NotifyType::NO_PROPOSAL_CHOSEN =>
            {
                FailureKind::PeerNoProposal {
                    ike: child.is_none(),
                }
            }
            FailureReason::PeerError { notify, .. } if *notify == NotifyType::TS_UNACCEPTABLE => {
                FailureKind::TsMismatch
            }
            FailureReason::PeerError { notify, .. }
                if *notify == NotifyType::AUTHENTICATION_FAILED =>
            {
                FailureKind::PeerRejectedAuth
            }
            FailureReason::TsUnacceptable { .. } => FailureKind::TsMismatch,
            FailureReason::PfsMismatch { child, conflict } => FailureKind::PfsMismatch {
                child: child.clone(),
                conflict: conflict.clone(),
            },
            FailureReason::NoMatchingConnection { .. } => FailureKind::NoConnection,
            FailureReason::PeerLost { retransmits } => FailureKind::Unreachable {
                retransmits: *retransmits,
                dpd: false,
            },
            FailureReason::DpdTimeout { retransmits } => FailureKind::Unreachable {
                retransmits: *retransmits,
                dpd: true,
            },
            FailureReason::Kernel { error, .. } => FailureKind::Kernel { kind: error.kind },
            _ => FailureKind::Other,
        };
        FailureMemo {
            at,
            conn,
            peer,
            message,
            kind,
        }
    }
}

/// IKE datagrams exchanged with one peer address.
#[derive(Clone, Debug, Default)]
pub struct PeerTraffic {
    pub received: u64,
    pub sent: u64,
    /// Requests sent since the last datagram received: the first try and its retransmissions,
    /// when nothing answers.
    pub sent_since_reply: u32,
    pub last_received: Option<(Instant, SocketAddr, u16)>,
    pub last_sent: Option<Instant>,
    /// Whether anything ever came from the peer's port 500 / 4500 (or the configured ports).
    pub ports_seen: Vec<u16>,
}

/// The daemon's memory, keyed by connection name and by peer IP.
#[derive(Debug, Default)]
pub struct Memory {
    by_conn: HashMap<String, FailureMemo>,
    by_peer: HashMap<IpAddr, FailureMemo>,
    traffic: HashMap<IpAddr, PeerTraffic>,
}

/// Bounds the per-peer maps: an address scan must not grow the daemon without limit.
const MAX_PEERS: usize = 4096;

impl Memory {
    pub fn failure(&mut self, f: FailureMemo) {
        if self.by_peer.len() >= MAX_PEERS && !self.by_peer.contains_key(&f.peer.ip()) {
            self.by_peer.clear();
        }
        self.by_peer.insert(f.peer.ip(), f.clone());
        if let Some(c) = &f.conn {
            self.by_conn.insert(c.clone(), f);
        }
    }

    pub fn received(&mut self, now: Instant, from: SocketAddr, local_port: u16) {
        if self.traffic.len() >= MAX_PEERS && !self.traffic.contains_key(&from.ip()) {
            self.traffic.clear();
        }
        let t = self.traffic.entry(from.ip()).or_default();
        t.received += 1;
        t.sent_since_reply = 0;
        t.last_received = Some((now, from, local_port));
        if !t.ports_seen.contains(&from.port()) {
            t.ports_seen.push(from.port());
        }
    }

    /// `request`: the datagram expects an answer (counts towards `sent_since_reply`).
    pub fn sent(&mut self, now: Instant, to: SocketAddr, request: bool) {
        if self.traffic.len() >= MAX_PEERS && !self.traffic.contains_key(&to.ip()) {
            return;
        }
        let t = self.traffic.entry(to.ip()).or_default();
        t.sent += 1;
        if request {
            t.sent_since_reply = t.sent_since_reply.saturating_add(1);
        }
        t.last_sent = Some(now);
    }

    pub fn conn_failure(&self, conn: &str) -> Option<&FailureMemo> {
        self.by_conn.get(conn)
    }
    pub fn peer_failure(&self, peer: IpAddr) -> Option<&FailureMemo> {
        self.by_peer.get(&peer)
    }
    pub fn traffic(&self, peer: IpAddr) -> Option<&PeerTraffic> {
        self.traffic.get(&peer)
    }
    /// An IKE SA came up: Phase 1 failures no longer explain anything. Phase 2 failures stay
    /// (a Child SA refused in IKE_AUTH is reported around the IKE SA's own "up").
    pub fn clear_conn(&mut self, conn: &str, peer: IpAddr) {
        let phase1 = |f: &FailureMemo| {
            !matches!(
                f.kind,
                FailureKind::TsMismatch
                    | FailureKind::PfsMismatch { .. }
                    | FailureKind::ProposalMismatch { ike: false, .. }
                    | FailureKind::PeerNoProposal { ike: false }
                    | FailureKind::Kernel { .. }
            )
        };
        if self.by_conn.get(conn).is_some_and(phase1) {
            self.by_conn.remove(conn);
        }
        if self.by_peer.get(&peer).is_some_and(phase1) {
            self.by_peer.remove(&peer);
        }
    }
}
