#![allow(dead_code)] // shared by several test binaries, each using a subset
//! Configurations for the two peers, built the way an operator would write swanctl.conf: one
//! proposal string per side, PSKs, traffic selectors and mode.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rswan_ikev2::config::{
    Action, AddrSpec, AuthConfig, AuthKind, ChildConfig, Config, ConnConfig, Mode, Psk, Settings,
    TsConfig,
};
use rswan_ikev2::proposal::ProposalSet;
use rswan_ikev2::wire::ts::TrafficSelector;
use rswan_ikev2::wire::Identity;

use super::world::World;

pub const A_ADDR: &str = "192.0.2.1:500";
pub const B_ADDR: &str = "192.0.2.2:500";
/// Connection and child names differ per side so that a test can tell whose report it reads.
pub const A_CONN: &str = "to-bob";
pub const B_CONN: &str = "to-alice";
pub const A_CHILD: &str = "alice-net";
pub const B_CHILD: &str = "bob-net";
pub const A_ID: &str = "alice.example";
pub const B_ID: &str = "bob.example";
pub const PSK: &[u8] = b"harness-shared-secret-0123456789";

pub fn net(s: &str) -> TrafficSelector {
    let (a, p) = s.split_once('/').expect("addr/prefix");
    TrafficSelector::from_cidr(a.parse().expect("address"), p.parse().expect("prefix"))
        .expect("valid prefix")
}

/// What an operator configures on one side.
#[derive(Clone, Debug)]
pub struct Side {
    pub ike: String,
    pub esp: String,
    pub psk: Vec<u8>,
    pub local_ts: Vec<TsConfig>,
    pub remote_ts: Vec<TsConfig>,
    pub mode: Mode,
    /// The identity this side requires of its peer, when it should differ from the peer's own.
    pub expect_remote_id: Option<String>,
    /// `dpd_delay` (0 = off).
    pub dpd_delay: Duration,
    /// IKE SA `rekey_time`.
    pub ike_rekey_time: Duration,
    /// Child SA `rekey_time` and `life_time`.
    pub child_rekey_time: Duration,
    pub child_life_time: Duration,
    /// `local.auth` / `remote.auth` (PSK unless a test sets certificates, see `harness::certs`).
    pub local_auth: AuthKind,
    pub remote_auth: AuthKind,
    /// Leave `local.id` unset (our IP, or the certificate's subject DN for pubkey).
    pub omit_local_id: bool,
    /// Leave `remote.id` unset (`%any`).
    pub omit_remote_id: bool,
}

impl Side {
    fn new(local: &str, remote: &str) -> Side {
        Side {
            ike: "aes256gcm16-prfsha256-x25519".into(),
            esp: "aes256gcm16".into(),
            psk: PSK.to_vec(),
            local_ts: vec![TsConfig::Range(net(local))],
            remote_ts: vec![TsConfig::Range(net(remote))],
            mode: Mode::Tunnel,
            expect_remote_id: None,
            dpd_delay: Duration::ZERO,
            ike_rekey_time: Duration::from_secs(4 * 3600),
            child_rekey_time: Duration::from_secs(3600),
            child_life_time: Duration::from_secs(3960),
            local_auth: AuthKind::Psk,
            remote_auth: AuthKind::Psk,
            omit_local_id: false,
            omit_remote_id: false,
        }
    }
}

/// Both sides plus the global settings.
#[derive(Clone, Debug)]
pub struct Pair {
    pub a: Side,
    pub b: Side,
    pub a_settings: Settings,
    pub b_settings: Settings,
}

impl Default for Pair {
    fn default() -> Self {
        Pair {
            a: Side::new("10.1.0.0/24", "10.2.0.0/24"),
            b: Side::new("10.2.0.0/24", "10.1.0.0/24"),
            a_settings: Settings::default(),
            b_settings: Settings::default(),
        }
    }
}

impl Pair {
    /// Same IKE and ESP proposal string on both sides.
    pub fn with_proposals(ike: &str, esp: &str) -> Pair {
        let mut p = Pair::default();
        p.a.ike = ike.into();
        p.b.ike = ike.into();
        p.a.esp = esp.into();
        p.b.esp = esp.into();
        p
    }

    pub fn build(&self, seed: u64) -> World {
        self.build_at(A_ADDR.parse().unwrap(), B_ADDR.parse().unwrap(), seed)
    }

    /// Same, with other peer addresses (e.g. IPv6).
    pub fn build_at(&self, a: SocketAddr, b: SocketAddr, seed: u64) -> World {
        let ca = config(&self.a, &self.a_settings, A_CONN, A_CHILD, a, b, A_ID, B_ID);
        let cb = config(&self.b, &self.b_settings, B_CONN, B_CHILD, b, a, B_ID, A_ID);
        World::new(a, ca, b, cb, seed)
    }
}

#[allow(clippy::too_many_arguments)]
pub fn config(
    side: &Side,
    settings: &Settings,
    conn: &str,
    child: &str,
    local: SocketAddr,
    remote: SocketAddr,
    local_id: &str,
    remote_id: &str,
) -> Config {
    let ike = ProposalSet::parse_ike(&side.ike)
        .unwrap_or_else(|e| panic!("IKE proposal {:?}: {e}", side.ike));
    let esp = ProposalSet::parse_esp(&side.esp)
        .unwrap_or_else(|e| panic!("ESP proposal {:?}: {e}", side.esp));
    let addr = |ip: IpAddr| vec![AddrSpec::Addr(ip)];
    let remote_id = side.expect_remote_id.as_deref().unwrap_or(remote_id);
    Config {
        settings: settings.clone(),
        connections: vec![ConnConfig {
            name: conn.into(),
            local_addrs: addr(local.ip()),
            remote_addrs: addr(remote.ip()),
            local_port: local.port(),
            remote_port: remote.port(),
            ike_proposals: ike,
            local: AuthConfig {
                auth: side.local_auth.clone(),
                id: (!side.omit_local_id).then(|| Identity::Fqdn(local_id.into())),
            },
            remote: AuthConfig {
                auth: side.remote_auth.clone(),
                id: (!side.omit_remote_id).then(|| Identity::Fqdn(remote_id.into())),
            },
            psk: Some(Psk::new(side.psk.clone())),
            encap: false,
            dpd_delay: side.dpd_delay,
            rekey_time: side.ike_rekey_time,
            children: vec![ChildConfig {
                name: child.into(),
                local_ts: side.local_ts.clone(),
                remote_ts: side.remote_ts.clone(),
                esp_proposals: esp,
                mode: side.mode,
                start_action: Action::None,
                dpd_action: Action::None,
                close_action: Action::None,
                rekey_time: side.child_rekey_time,
                life_time: side.child_life_time,
                rekey_bytes: 0,
                life_bytes: 0,
            }],
        }],
    }
}
