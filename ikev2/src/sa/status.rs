//! A snapshot of everything `rswanctl status` (and VICI `list-sas`) shows, built by
//! `Endpoint::status()`. Plain data, no references into the core.

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::Mode;
pub use crate::event::ChildStatusState;
use crate::event::{FailureReason, IkeSpis};

#[derive(Clone, Debug, Default)]
pub struct Status {
    /// One entry per configured connection, in configuration order.
    pub connections: Vec<ConnStatus>,
    /// Failures that could not be attributed to a connection (e.g. no connection matched the
    /// peer), the most recent per peer address.
    pub unmatched_failures: Vec<FailureRecord>,
    /// Responder IKE SAs that have answered IKE_SA_INIT but not completed IKE_AUTH.
    pub half_open: usize,
    /// Octets of incomplete fragmented messages held across all IKE SAs (each bounded by
    /// `max_packet`, dropped after `fragment_timeout`).
    pub reassembly_bytes: usize,
}

#[derive(Clone, Debug)]
pub struct ConnStatus {
    pub name: String,
    pub ike_sas: Vec<IkeSaStatus>,
    pub last_failure: Option<FailureRecord>,
}

#[derive(Clone, Debug)]
pub struct FailureRecord {
    pub at: Instant,
    pub peer: SocketAddr,
    pub reason: FailureReason,
}

/// Negotiated IKE algorithms in strongSwan naming (`AES_GCM_16`, `PRF_HMAC_SHA2_256`, `CURVE_25519`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeAlgorithms {
    pub encr: String,
    pub encr_keysize: Option<u16>,
    pub integ: Option<String>,
    pub prf: String,
    pub dh_group: String,
}

/// strongSwan's IKE SA state names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IkeStatusState {
    Connecting,
    Established,
    Deleting,
}

impl IkeStatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            IkeStatusState::Connecting => "CONNECTING",
            IkeStatusState::Established => "ESTABLISHED",
            IkeStatusState::Deleting => "DELETING",
        }
    }
}

#[derive(Clone, Debug)]
pub struct IkeSaStatus {
    /// Unique per endpoint, increasing (VICI `uniqueid`).
    pub unique_id: u32,
    pub state: IkeStatusState,
    /// The exact internal state name (INIT_SENT, AUTH_SENT, HALF_OPEN, ...).
    pub detail: &'static str,
    pub initiator: bool,
    pub spis: IkeSpis,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub local_id: Option<String>,
    pub remote_id: Option<String>,
    /// Subject of the peer's certificate once verified (`auth = pubkey` remote round).
    pub remote_cert: Option<String>,
    /// `None` until IKE_SA_INIT completed.
    pub algorithms: Option<IkeAlgorithms>,
    /// NAT-D results (`nat-local`, `nat-remote`); `None` before IKE_SA_INIT completed or if the
    /// peer sent no NAT_DETECTION payloads.
    pub nat_local: Option<bool>,
    pub nat_remote: Option<bool>,
    /// Both sides announced IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383): large messages are fragmented.
    pub fragmentation: bool,
    pub established_at: Option<Instant>,
    /// Last authenticated (or, before keys exist, well-formed) message from the peer.
    pub last_peer_message: Option<Instant>,
    pub children: Vec<ChildSaStatus>,
}

#[derive(Clone, Debug)]
pub struct ChildSaStatus {
    pub name: String,
    pub unique_id: u32,
    pub reqid: u32,
    pub state: ChildStatusState,
    pub mode: Mode,
    /// Host-order SPIs (VICI prints them `%.8x`).
    pub spi_in: u32,
    pub spi_out: u32,
    pub encr_alg: String,
    pub encr_keysize: Option<u16>,
    pub integ_alg: Option<String>,
    pub esn: bool,
    pub encap: bool,
    pub local_ts: Vec<String>,
    pub remote_ts: Vec<String>,
    pub installed_at: Instant,
}
