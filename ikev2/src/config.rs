//! The core's configuration: plain data, named after swanctl.conf so that the daemon's loader maps
//! keys one to one (`connections.<conn>.local.id` -> [`ConnConfig::local`]`.id`, and so on).

use core::fmt;
use std::net::IpAddr;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::proposal::ProposalSet;
use crate::timer::{
    ChildLifetimes, RetransmitPolicy, DEFAULT_COOKIE_THRESHOLD, DEFAULT_HALF_OPEN_TIMEOUT,
};
use crate::wire::Identity;
use crate::wire::TrafficSelector;

/// Everything the core needs; the daemon builds it from swanctl.conf / strongswan.conf.
/// strongSwan's `fragment_size` default: the largest IP datagram we send with a fragment.
pub const DEFAULT_FRAGMENT_SIZE: usize = 1280;

#[derive(Clone, Debug, Default)]
pub struct Config {
    pub settings: Settings,
    pub connections: Vec<ConnConfig>,
}

/// Global settings (strongswan.conf `charon.*`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// `retransmit_timeout`, `retransmit_base`, `retransmit_tries`, `retransmit_limit`.
    pub retransmit: RetransmitPolicy,
    /// Half-open IKE SAs at or above which IKE_SA_INIT requests must carry a valid COOKIE
    /// (`cookie_threshold`, 30). `0` means always demand a cookie.
    pub cookie_threshold: usize,
    /// Bounds on what unauthenticated and authenticated peers can make us hold.
    pub limits: Limits,
    /// How long a responder keeps an IKE SA that has not completed IKE_AUTH (`half_open_timeout`).
    pub half_open_timeout: Duration,
    /// ESP anti-replay window handed to the kernel for every Child SA (`replay_window`, 32).
    pub replay_window: u32,
    /// Per-connection lifecycle knobs by connection name (`dpd_mode`, `rand_time`, `over_time`);
    /// connections not listed use swanctl's defaults.
    pub conn_timers: std::collections::BTreeMap<String, crate::timer::ConnTimers>,
    /// NAT traversal: our NAT-T port (`port_nat_t`) and the NAT keepalive interval
    /// (`keep_alive`).
    pub natt: crate::timer::NattPolicy,
    /// `fragment_size`: the largest IP datagram an IKE message may take before it is sent as
    /// RFC 7383 fragments (when the peer supports them); 0 = never fragment.
    pub fragment_size: usize,
    /// `signature_authentication` (RFC 7427, default yes): announce SIGNATURE_HASH_ALGORITHMS in
    /// IKE_SA_INIT and sign with AUTH method 14 when the peer announced the hash we need. `false`
    /// limits us to the RFC 7296 / RFC 4754 methods (RSA with SHA-1, ECDSA 9/10/11).
    pub signature_authentication: bool,
    /// `rsa_pss` (strongswan.conf charon.rsa_pss, default no): sign with RSASSA-PSS instead of
    /// PKCS#1 v1.5 when RFC 7427 is in use. Verification accepts both either way.
    pub rsa_pss: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retransmit: RetransmitPolicy::default(),
            cookie_threshold: DEFAULT_COOKIE_THRESHOLD,
            limits: Limits::default(),
            half_open_timeout: DEFAULT_HALF_OPEN_TIMEOUT,
            replay_window: 32,
            conn_timers: std::collections::BTreeMap::new(),
            natt: crate::timer::NattPolicy::default(),
            fragment_size: DEFAULT_FRAGMENT_SIZE,
            signature_authentication: true,
            rsa_pss: false,
        }
    }
}

/// Every per-peer resource a peer can make us hold, bounded (ARCHITECTURE.md: "every per-peer
/// resource has a configured bound"). Names follow strongswan.conf where it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Responder half-open IKE SAs in total at which new IKE_SA_INIT requests are dropped
    /// unanswered (`half_open_limit`, strongSwan's `init_limit_half_open`).
    pub half_open: usize,
    /// Responder half-open IKE SAs from one source IP at which further IKE_SA_INIT requests from
    /// it are dropped (`block_threshold`).
    pub half_open_per_ip: usize,
    /// The largest IKE message we accept, as one datagram or reassembled from fragments
    /// (`max_packet`, strongSwan's default 10,000 octets).
    pub max_packet: usize,
    /// How long the fragments of an incomplete message are kept (`fragment_timeout`).
    pub fragment_timeout: std::time::Duration,
    /// Traffic selectors per TSi/TSr payload, received or sent (`max_ts`; the wire allows 255).
    pub ts_per_payload: usize,
    /// Kernel policies one Child SA may install, after ranges are split into prefixes
    /// (`max_policies`).
    pub policies_per_child: usize,
    /// Child SAs per IKE SA; more are refused with NO_ADDITIONAL_SAS (`max_child_sas`).
    pub child_sas_per_ike: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            half_open: 1000,
            half_open_per_ip: 20,
            max_packet: 10_000,
            fragment_timeout: std::time::Duration::from_secs(10),
            ts_per_payload: 64,
            policies_per_child: 1024,
            child_sas_per_ike: 64,
        }
    }
}

/// An address pattern in `local_addrs` / `remote_addrs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrSpec {
    /// `%any`
    Any,
    /// A single address; the only form an initiator can send to.
    Addr(IpAddr),
    /// `addr/prefix`
    Subnet(IpAddr, u8),
}

impl AddrSpec {
    pub fn matches(&self, a: IpAddr) -> bool {
        match *self {
            AddrSpec::Any => true,
            AddrSpec::Addr(x) => x == a,
            AddrSpec::Subnet(net, p) => TrafficSelector::from_cidr(net, p)
                .map(|r| r.contains(&TrafficSelector::host(a)))
                .unwrap_or(false),
        }
    }
}

/// An IKE pre-shared key. Zeroized on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct Psk(Zeroizing<Vec<u8>>);

impl Psk {
    pub fn new(secret: Vec<u8>) -> Self {
        Psk(Zeroizing::new(secret))
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

/// `auth =` of one authentication round.
#[derive(Clone, Debug)]
pub enum AuthKind {
    Psk,
    /// Certificate / raw public-key signature authentication (swanctl `auth = pubkey`).
    Pubkey(std::sync::Arc<PubkeyConfig>),
}

impl AuthKind {
    pub fn is_psk(&self) -> bool {
        matches!(self, AuthKind::Psk)
    }

    pub fn pubkey(&self) -> Option<&PubkeyConfig> {
        match self {
            AuthKind::Pubkey(p) => Some(p),
            AuthKind::Psk => None,
        }
    }
}

/// The certificate side of an `auth = pubkey` round.
#[derive(Debug)]
pub struct PubkeyConfig {
    /// Local round: our certificate chain (end-entity first) and private key. None on a remote round.
    pub credentials: Option<crate::auth::Credentials>,
    /// Remote round: the CAs the peer's certificate must chain to (swanctl `cacerts`). Empty on a local round.
    pub cacerts: crate::auth::TrustAnchors,
    /// Local round: when we send our CERT payloads (swanctl `send_cert`, default ifasked).
    pub send_cert: crate::auth::SendCert,
    /// Whether we send CERTREQ for the remote round's cacerts (swanctl `send_certreq`, default
    /// yes); both rounds carry the connection's value, and either one set to no suppresses it.
    pub send_certreq: bool,
}

impl Default for PubkeyConfig {
    fn default() -> Self {
        PubkeyConfig {
            credentials: None,
            cacerts: crate::auth::TrustAnchors::default(),
            send_cert: crate::auth::SendCert::IfAsked,
            send_certreq: true,
        }
    }
}

/// `connections.<conn>.local` / `.remote`.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub auth: AuthKind,
    /// `id`. Local: `None` means our IP address (ID_IPV4_ADDR / ID_IPV6_ADDR). Remote: `None` means
    /// `%any`, accept whatever the peer claims (the PSK still has to match).
    pub id: Option<Identity>,
}

/// `local_ts` / `remote_ts` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsConfig {
    /// `dynamic`: the IKE SA's own address (local_ts) or the peer's (remote_ts) as a /32 or /128.
    Dynamic,
    Range(TrafficSelector),
}

// IPsec mode is a kernel notion shared with IKEv1: rswan-ike defines it.
pub use rswan_ike::kernel::Mode;

/// `start_action`, `dpd_action`, `close_action` (vici's parser: restart = start, clear = none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Action {
    #[default]
    None,
    Start,
    Trap,
}

/// `connections.<conn>.children.<child>`.
#[derive(Clone, Debug)]
pub struct ChildConfig {
    pub name: String,
    pub local_ts: Vec<TsConfig>,
    pub remote_ts: Vec<TsConfig>,
    pub esp_proposals: ProposalSet,
    pub mode: Mode,
    /// Carried for the driver (start/trap at load time); the core itself does not act on it yet.
    pub start_action: Action,
    /// What happens to this child when DPD declares the peer dead: `None` (clear), `Start`
    /// (restart: initiate again), `Trap` (reported so the driver reinstalls trap policies).
    pub dpd_action: Action,
    /// Carried for the coming close handling; not acted on yet.
    pub close_action: Action,
    /// Rekey after this long (minus random jitter up to `life_time - rekey_time`); also the
    /// kernel's soft lifetime. 0 = never.
    pub rekey_time: Duration,
    /// Hard lifetime: deleted then if no rekey succeeded (also handed to the kernel).
    pub life_time: Duration,
    /// Volume limits handed to the kernel; 0 = none. The kernel's soft expire starts a rekey,
    /// the hard one deletes the Child SA.
    pub rekey_bytes: u64,
    pub life_bytes: u64,
}

impl ChildConfig {
    /// This child's lifetimes, the rekey jittered by `rand` within the `rand_time` configured for
    /// connection `conn`.
    pub fn lifetimes(&self, settings: &Settings, conn: &str, rand: u64) -> ChildLifetimes {
        let configured = ChildLifetimes {
            rekey_after: self.rekey_time,
            life: self.life_time,
            rekey_bytes: self.rekey_bytes,
            life_bytes: self.life_bytes,
        };
        let rand_time = settings
            .conn_timers
            .get(conn)
            .and_then(|t| t.child_rand_time);
        configured.with_jitter(rand_time, rand)
    }
}

/// `connections.<conn>`.
#[derive(Clone, Debug)]
pub struct ConnConfig {
    pub name: String,
    pub local_addrs: Vec<AddrSpec>,
    pub remote_addrs: Vec<AddrSpec>,
    pub local_port: u16,
    pub remote_port: u16,
    /// `proposals` (IKE).
    pub ike_proposals: ProposalSet,
    pub local: AuthConfig,
    pub remote: AuthConfig,
    /// The shared key for this connection (the daemon resolves `secrets` by the IDs).
    pub psk: Option<Psk>,
    /// `encap`: send a faked NAT_DETECTION_SOURCE_IP so that the peer believes we are behind a
    /// NAT, float to the NAT-T port and use ESP-in-UDP even without a NAT (as strongSwan does).
    pub encap: bool,
    /// `dpd_delay`: liveness check interval (0 = no DPD); the mode is in
    /// [`Settings::conn_timers`].
    pub dpd_delay: Duration,
    /// `rekey_time` of the IKE SA (0 = never rekey).
    pub rekey_time: Duration,
    pub children: Vec<ChildConfig>,
}

impl ConnConfig {
    /// The address an initiator sends to: the first plain address in `remote_addrs`.
    pub fn initiate_to(&self) -> Option<IpAddr> {
        self.remote_addrs.iter().find_map(|a| match a {
            AddrSpec::Addr(ip) => Some(*ip),
            _ => None,
        })
    }

    /// The first plain local address, if one is configured.
    pub fn initiate_from(&self) -> Option<IpAddr> {
        self.local_addrs.iter().find_map(|a| match a {
            AddrSpec::Addr(ip) => Some(*ip),
            _ => None,
        })
    }

    /// Whether this connection can serve an IKE SA between these addresses. An empty list is `%any`.
    pub fn matches_addrs(&self, local: IpAddr, remote: IpAddr) -> bool {
        let ok = |list: &[AddrSpec], a| list.is_empty() || list.iter().any(|s| s.matches(a));
        ok(&self.local_addrs, local) && ok(&self.remote_addrs, remote)
    }

    pub fn child(&self, name: &str) -> Option<&ChildConfig> {
        self.children.iter().find(|c| c.name == name)
    }
}

impl Config {
    pub fn connection(&self, name: &str) -> Option<&ConnConfig> {
        self.connections.iter().find(|c| c.name == name)
    }
}

/// Resolves `dynamic` entries against the addresses of the IKE SA.
pub fn resolve_ts(list: &[TsConfig], own: IpAddr) -> Vec<TrafficSelector> {
    list.iter()
        .map(|t| match t {
            TsConfig::Dynamic => TrafficSelector::host(own),
            TsConfig::Range(r) => *r,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_specs_match_like_swanctl() {
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(AddrSpec::Any.matches(a));
        assert!(AddrSpec::Subnet("192.0.2.0".parse().unwrap(), 24).matches(a));
        assert!(!AddrSpec::Subnet("192.0.3.0".parse().unwrap(), 24).matches(a));
        assert!(!AddrSpec::Addr("192.0.2.8".parse().unwrap()).matches(a));
    }

    #[test]
    fn psk_debug_is_redacted() {
        let p = Psk::new(b"correct-horse".to_vec());
        assert_eq!(format!("{p:?}"), "Psk(<redacted>)");
    }

    #[test]
    fn dynamic_resolves_to_host() {
        let own: IpAddr = "192.0.2.1".parse().unwrap();
        let r = resolve_ts(&[TsConfig::Dynamic], own);
        assert_eq!(r[0].to_string(), "192.0.2.1/32");
    }
}
