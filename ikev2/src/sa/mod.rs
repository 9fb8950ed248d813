//! IKE SA and Child SA state, the message-ID windows and the one transition function.

pub(crate) mod child;
pub(crate) mod collision;
pub mod msgid;
pub(crate) mod pending_auth;
pub(crate) mod reassembly;
pub mod status;
pub(crate) mod table;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use crate::config::{Mode, Psk};
use crate::crypto::{IkeKeys, KeyExchange, Prf, Secret, SkCipher};
use crate::event::{Event, IkeSpis, IkeState};
use crate::proposal::ProposalSet;
use crate::timer::IkeDeadlines;
use crate::wire::Identity;

use crate::wire::TrafficSelector;
use child::ChildSa;
use msgid::{RequestWindow, ResponseWindow};
use status::{IkeAlgorithms, IkeSaStatus, IkeStatusState};

/// What an outstanding request of ours is for, so that its response is handled accordingly.
#[derive(Clone, Debug)]
pub(crate) enum Purpose {
    IkeSaInit,
    IkeAuth,
    /// Delete of the whole IKE SA.
    DeleteIke,
    /// Delete of Child SAs, by our inbound SPI.
    DeleteChild {
        spis_in: Vec<u32>,
    },
    /// Empty INFORMATIONAL.
    Liveness,
    /// Empty INFORMATIONAL sent by dead peer detection (its timeout is reported as DPD).
    Dpd,
    /// CREATE_CHILD_SA for an additional Child SA of the configured child with this name.
    CreateChild {
        child: String,
    },
    /// CREATE_CHILD_SA rekeying the Child SA with this inbound SPI.
    RekeyChild {
        spi_in: u32,
    },
    /// CREATE_CHILD_SA rekeying this IKE SA.
    RekeyIke,
}

impl Purpose {
    /// Whether the request is a CREATE_CHILD_SA (the others are INFORMATIONAL or the setup).
    pub fn is_create_child_sa(&self) -> bool {
        matches!(
            self,
            Purpose::CreateChild { .. } | Purpose::RekeyChild { .. } | Purpose::RekeyIke
        )
    }
}

/// We answered the peer's rekey of a Child SA that we were rekeying ourselves (RFC 7296 section
/// 2.25.1): which SA the peer's exchange created and its nonces, so that once our own exchange
/// completes the redundant one can be picked by the lowest nonce (section 2.8.1).
pub(crate) struct ChildCollision {
    pub old_spi_in: u32,
    pub peer_successor: u32,
    pub ni: Secret,
    pub nr: Secret,
}

/// IKE SAs an IKE SA rekey collision (RFC 7296 section 2.8.2) leaves for the endpoint to put
/// into its table, and what becomes of the old IKE SA. Taken on the endpoint's next pump of the
/// old SA.
pub(crate) struct IkeHandover {
    /// The new IKE SA that carries on; the Child SAs have already moved to it.
    pub successor: Option<Box<IkeSa>>,
    /// A redundant new IKE SA: ours, which we delete; or the peer's, awaiting its Delete.
    pub redundant: Option<Box<IkeSa>>,
    /// The old IKE SA goes at once (we answered the peer's Delete for it).
    pub destroy_old: bool,
}

/// What our outstanding CREATE_CHILD_SA request proposed, kept until its response arrives.
pub(crate) struct PendingCreate {
    pub nonce: Secret,
    pub ke: Option<KeyExchange>,
    pub proposals: ProposalSet,
    /// Child SAs: our new inbound SPI. IKE rekey: unused (see `ike_spi`).
    pub spi_in: u32,
    /// IKE rekey: our SPI of the new IKE SA.
    pub ike_spi: u64,
    pub child: Option<PendingChild>,
    /// INVALID_KE_PAYLOAD retries so far.
    pub ke_retries: u32,
}

/// A Child SA the initiator proposed in IKE_AUTH and still waits for.
#[derive(Clone, Debug)]
pub(crate) struct PendingChild {
    pub name: String,
    pub spi_in: u32,
    pub mode: Mode,
    pub proposals: ProposalSet,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
}

/// Keys and transforms once IKE_SA_INIT completed.
pub(crate) struct IkeCrypto {
    pub prf: Prf,
    pub cipher: SkCipher,
    pub keys: IkeKeys,
    pub algorithms: IkeAlgorithms,
    /// The KE group in use (an IKE rekey proposes it first).
    pub group: crate::consts::KeGroup,
}

/// One IKE SA, in either role.
pub(crate) struct IkeSa {
    pub unique_id: u32,
    /// The connection this SA belongs to. For a responder, the candidate chosen by address in
    /// IKE_SA_INIT, replaced by the one matching the peer's identity in IKE_AUTH.
    pub conn: String,
    pub initiator: bool,
    state: IkeState,
    pub spi_i: u64,
    pub spi_r: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub ni: Secret,
    pub nr: Secret,
    /// Our key exchange private value, until the shared secret is computed.
    pub ke: Option<KeyExchange>,
    /// The IKE proposals we offer as initiator (reordered after INVALID_KE_PAYLOAD).
    pub offered: Option<ProposalSet>,
    /// Initiator: number of INVALID_KE_PAYLOAD retries so far (a second one for a group we already
    /// tried means a broken peer).
    pub ke_retries: u32,
    /// Initiator: the cookie to echo in IKE_SA_INIT.
    pub cookie: Option<Vec<u8>>,
    /// Initiator: send INITIAL_CONTACT in IKE_AUTH (no other IKE SA with this peer exists).
    pub initial_contact: bool,
    /// Initiator: the responder announced CHILDLESS_IKEV2_SUPPORTED (RFC 6023).
    pub peer_childless: bool,
    /// The complete IKE_SA_INIT request and response as sent, for the AUTH payloads.
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    pub crypto: Option<IkeCrypto>,
    pub nat_local: Option<bool>,
    pub nat_remote: Option<bool>,
    /// `encap = yes`: we faked our NAT_DETECTION_SOURCE_IP and use ESP-in-UDP without a NAT.
    pub force_encap: bool,
    /// Responder: the address the IKE_SA_INIT request came from, under which the SA counts as
    /// half-open (`block_threshold`) and is found again by a retransmitted request.
    pub init_from: Option<std::net::IpAddr>,
    /// Both sides announced IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383).
    pub fragmentation: bool,
    /// Fragments of the peer's message being reassembled.
    pub reassembly: Option<reassembly::Reassembly>,
    pub local_id: Option<Identity>,
    pub remote_id: Option<Identity>,
    pub psk: Option<Psk>,
    /// Signature authentication state from IKE_SA_INIT to IKE_AUTH.
    pub sig: pending_auth::SigState,
    pub pending_child: Option<PendingChild>,
    /// Our outstanding CREATE_CHILD_SA, if any.
    pub create: Option<PendingCreate>,
    /// Requests put off until a deadline (after TEMPORARY_FAILURE, RFC 7296 section 2.25).
    pub deferred: Vec<(Instant, Purpose)>,
    /// Half-open, rekey, give-up, reauthentication and retirement deadlines; set only by the
    /// hooks in `timer`.
    pub deadlines: IkeDeadlines,
    /// Last time we sent a request on this SA (DPD on-idle counts it as traffic).
    pub last_request_sent: Option<Instant>,
    /// TEMPORARY_FAILURE answers in a row to our CREATE_CHILD_SA requests.
    pub temp_failures: u32,
    /// The KE group the peer asked for with INVALID_KE_PAYLOAD, for the retry of that request.
    pub retry_ke: Option<(Purpose, crate::consts::KeGroup)>,
    /// A crossing Child SA rekey we answered while ours was outstanding.
    pub child_collision: Option<ChildCollision>,
    /// The peer's IKE rekey we answered while ours was outstanding (RFC 7296 section 2.8.2): the
    /// IKE SA it created, held back (not in the endpoint's table, no Child SAs) until our own
    /// exchange shows which new IKE SA survives.
    pub ike_collision: Option<Box<IkeSa>>,
    /// Left by a resolved IKE rekey collision for the endpoint to apply.
    pub handover: Option<IkeHandover>,
    /// Set once this IKE SA was rekeyed: our SPI of its successor. It only awaits deletion.
    pub rekeyed_to: Option<u64>,
    pub children: Vec<ChildSa>,
    pub requests: RequestWindow<Purpose>,
    pub responses: ResponseWindow,
    /// Requests waiting for the window to free up.
    pub queue: VecDeque<Purpose>,
    pub established_at: Option<Instant>,
    pub last_peer_message: Option<Instant>,
}

impl IkeSa {
    pub fn new(
        unique_id: u32,
        conn: String,
        initiator: bool,
        spi_i: u64,
        spi_r: u64,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Self {
        IkeSa {
            unique_id,
            conn,
            initiator,
            // The first state; `created_event` announces it.
            state: if initiator {
                IkeState::InitSent
            } else {
                IkeState::HalfOpen
            },
            spi_i,
            spi_r,
            local,
            remote,
            ni: Secret::default(),
            nr: Secret::default(),
            ke: None,
            offered: None,
            ke_retries: 0,
            cookie: None,
            peer_childless: false,
            initial_contact: false,
            init_request: Vec::new(),
            init_response: Vec::new(),
            crypto: None,
            nat_local: None,
            nat_remote: None,
            force_encap: false,
            init_from: None,
            fragmentation: false,
            reassembly: None,
            local_id: None,
            remote_id: None,
            psk: None,
            sig: Default::default(),
            pending_child: None,
            create: None,
            deferred: Vec::new(),
            deadlines: IkeDeadlines::default(),
            last_request_sent: None,
            temp_failures: 0,
            retry_ke: None,
            rekeyed_to: None,
            child_collision: None,
            ike_collision: None,
            handover: None,
            children: Vec::new(),
            requests: RequestWindow::default(),
            responses: ResponseWindow::default(),
            queue: VecDeque::new(),
            established_at: None,
            last_peer_message: None,
        }
    }

    pub fn state(&self) -> IkeState {
        self.state
    }

    pub fn spis(&self) -> IkeSpis {
        IkeSpis {
            initiator: self.spi_i,
            responder: self.spi_r,
        }
    }

    /// Our own SPI: the key of the SA table.
    pub fn local_spi(&self) -> u64 {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    /// The announcement of a new SA in its first state.
    pub fn created_event(&self) -> Event {
        Event::IkeStateChange {
            conn: self.conn.clone(),
            spis: self.spis(),
            old: None,
            new: self.state,
        }
    }

    /// The one choke point for IKE SA state changes: records `old -> new` with the SPIs.
    pub fn transition(&mut self, new: IkeState) -> Event {
        let old = self.state;
        self.state = new;
        Event::IkeStateChange {
            conn: self.conn.clone(),
            spis: self.spis(),
            old: Some(old),
            new,
        }
    }

    /// Adopts the addresses of an authenticated request from the peer when only the ports changed
    /// (a peer floating to 4500) or the peer is behind a NAT (RFC 7296 section 2.23); a different
    /// IP address without NAT is not followed (that would be MOBIKE).
    /// Returns whether the peer's address or port changed.
    pub fn follow_peer(&mut self, local: SocketAddr, remote: SocketAddr) -> bool {
        let mut moved = false;
        if remote.ip() == self.remote.ip() || self.nat_remote == Some(true) {
            moved = self.remote != remote;
            self.remote = remote;
        }
        if local.ip() == self.local.ip() {
            self.local = local;
        }
        moved
    }

    /// Whether IKE runs on the NAT-T port and Child SAs use ESP-in-UDP (RFC 3948): a NAT on
    /// either side, or encapsulation forced by `encap = yes` on either side (the peer's shows up
    /// to us as a NAT in front of it).
    /// Needs the peer's NAT_DETECTION payloads: a peer without them cannot do NAT-T.
    pub fn udp_encap(&self) -> bool {
        let peer_natt = self.nat_local.is_some() && self.nat_remote.is_some();
        peer_natt
            && (self.nat_local == Some(true) || self.nat_remote == Some(true) || self.force_encap)
    }

    /// Whether we are behind a NAT, and so keep its mapping alive.
    pub fn behind_nat(&self) -> bool {
        self.nat_local == Some(true)
    }

    /// RFC 7296 section 2.23: after NAT detection the initiator moves to the NAT-T port, our
    /// `natt_port` locally and 4500 at the peer (unless the peer was configured on another port).
    /// Returns whether the ports changed.
    pub fn float_to_natt(&mut self, natt_port: u16) -> bool {
        if !self.udp_encap() || self.local.port() == natt_port {
            return false;
        }
        let was_ike_port = self.local.port() == crate::timer::IKE_PORT;
        self.local.set_port(natt_port);
        if self.remote.port() == crate::timer::IKE_PORT || was_ike_port {
            self.remote.set_port(crate::timer::NATT_PORT);
        }
        true
    }

    /// The state an IKE SA created by a rekey starts in (it is announced with `created_event`).
    pub fn set_state_silently(&mut self, state: IkeState) {
        self.state = state;
    }

    /// Whether a rekey of this IKE SA, or of the Child SA `spi_in`, is under way on our side.
    pub fn rekeying(&self, spi_in: Option<u32>) -> bool {
        let ours = |p: &Purpose| match (p, spi_in) {
            (Purpose::RekeyIke, _) => true,
            (Purpose::RekeyChild { spi_in: s }, Some(x)) => *s == x,
            _ => false,
        };
        self.requests
            .outstanding()
            .is_some_and(|o| ours(&o.purpose))
    }

    pub fn is_established(&self) -> bool {
        self.state == IkeState::Established
    }

    /// Whether the SA counts against the responder's half-open limit.
    pub fn is_half_open(&self) -> bool {
        !self.initiator && self.state == IkeState::HalfOpen
    }

    pub fn status(&self) -> IkeSaStatus {
        IkeSaStatus {
            unique_id: self.unique_id,
            state: match self.state {
                IkeState::Established => IkeStatusState::Established,
                IkeState::Deleting | IkeState::Destroyed => IkeStatusState::Deleting,
                _ => IkeStatusState::Connecting,
            },
            detail: match self.state {
                // Still ESTABLISHED and usable; the detail tells a rekey is under way or done.
                IkeState::Established if self.rekeying(None) => "REKEYING",
                IkeState::Established if self.rekeyed_to.is_some() => "REKEYED",
                IkeState::InitSent => "INIT_SENT",
                IkeState::AuthSent => "AUTH_SENT",
                IkeState::HalfOpen => "HALF_OPEN",
                IkeState::Established => "ESTABLISHED",
                IkeState::Deleting => "DELETING",
                IkeState::Destroyed => "DESTROYED",
            },
            initiator: self.initiator,
            spis: self.spis(),
            local: self.local,
            remote: self.remote,
            local_id: self.local_id.as_ref().map(|i| i.to_string()),
            remote_id: self.remote_id.as_ref().map(|i| i.to_string()),
            remote_cert: self.sig.verified.as_ref().map(|v| v.subject.clone()),
            algorithms: self.crypto.as_ref().map(|c| c.algorithms.clone()),
            nat_local: self.nat_local,
            nat_remote: self.nat_remote,
            fragmentation: self.fragmentation,
            established_at: self.established_at,
            last_peer_message: self.last_peer_message,
            children: self.children.iter().map(ChildSa::status).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_to_natt_ports_only_with_nat_or_forced_encap_and_peer_support() {
        let a: SocketAddr = "10.0.0.1:500".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:500".parse().unwrap();
        let mut sa = IkeSa::new(1, "net".into(), true, 1, 2, a, b);
        // The peer sent no NAT-D: it cannot do NAT-T, even with encap forced.
        sa.force_encap = true;
        assert!(!sa.float_to_natt(4500));
        sa.force_encap = false;
        sa.nat_local = Some(false);
        sa.nat_remote = Some(false);
        assert!(!sa.float_to_natt(4500), "no NAT, no float");
        sa.nat_local = Some(true);
        assert!(sa.float_to_natt(4500));
        assert_eq!((sa.local.port(), sa.remote.port()), (4500, 4500));
        assert!(sa.behind_nat() && sa.udp_encap());
        assert!(!sa.float_to_natt(4500), "already there");
        // A configured local NAT-T port other than 4500 is used; the peer's is still 4500.
        let mut sa = IkeSa::new(1, "net".into(), true, 1, 2, a, b);
        sa.nat_local = Some(false);
        sa.nat_remote = Some(false);
        sa.force_encap = true;
        assert!(sa.float_to_natt(14500));
        assert_eq!((sa.local.port(), sa.remote.port()), (14500, 4500));
        assert!(!sa.behind_nat());
    }

    #[test]
    fn transition_records_old_and_new_with_spis() {
        let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:500".parse().unwrap();
        let mut sa = IkeSa::new(1, "net".into(), true, 0x1122, 0, a, b);
        assert_eq!(
            sa.created_event(),
            Event::IkeStateChange {
                conn: "net".into(),
                spis: IkeSpis {
                    initiator: 0x1122,
                    responder: 0
                },
                old: None,
                new: IkeState::InitSent
            }
        );
        sa.spi_r = 0x3344;
        let ev = sa.transition(IkeState::AuthSent);
        assert_eq!(sa.state(), IkeState::AuthSent);
        assert_eq!(
            ev.to_string(),
            "<net> IKE SA 0000000000001122_i 0000000000003344_r state change: INIT_SENT => AUTH_SENT"
        );
        assert_eq!(sa.status().state, IkeStatusState::Connecting);
        sa.transition(IkeState::Established);
        assert_eq!(sa.status().state.as_str(), "ESTABLISHED");
    }
}
