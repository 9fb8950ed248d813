//! The validated configuration with swanctl.conf defaults applied: what the daemon runs on.
//! `PartialEq` is what reload compares: a connection whose value is unchanged keeps its tunnels.

use std::path::PathBuf;
use std::time::Duration;

use rswan_ikev2::proposal::ProposalSet;
use serde::Serialize;

pub use super::schema::{Action, AuthMethod, DpdMode, Mode, SendCert};
use super::values::{fmt_duration, AddrSpec, Identity, Secret, TsSpec};

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file this came from (for messages and reload).
    pub source: PathBuf,
    pub settings: Settings,
    pub connections: Vec<Connection>,
}

impl Config {
    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    #[serde(serialize_with = "ser_duration")]
    pub retransmit_timeout: Duration,
    pub retransmit_base: f64,
    pub retransmit_tries: u32,
    #[serde(serialize_with = "ser_duration")]
    pub half_open_timeout: Duration,
    pub cookie_threshold: u32,
    /// Responder half-open IKE SAs in total at which new IKE_SA_INIT requests are dropped
    /// (charon.init_limit_half_open).
    pub half_open_limit: u32,
    /// Responder half-open IKE SAs from one source address at which its further IKE_SA_INIT
    /// requests are dropped (charon.block_threshold).
    pub block_threshold: u32,
    /// Largest IKE message accepted, as one datagram or reassembled (charon.max_packet).
    pub max_packet: u32,
    /// How long the fragments of an incomplete IKE message are kept.
    #[serde(serialize_with = "ser_duration")]
    pub fragment_timeout: Duration,
    /// Traffic selectors accepted per TSi/TSr payload, and after narrowing (1-255).
    pub max_ts: u32,
    /// Kernel policies one Child SA may install (after ranges are split into prefixes).
    pub max_policies: u32,
    /// Child SAs per IKE SA; the peer's next CREATE_CHILD_SA gets NO_ADDITIONAL_SAS.
    pub max_child_sas: u32,
    /// Folder for Wireshark key tables of every new SA (opt-in; see docs/operations.md).
    pub key_export: Option<PathBuf>,
    /// Group (name or number) whose members may change state over the control socket (up,
    /// down, reload, debug logs) besides root; `None`: root only.
    pub admin_group: Option<String>,
    /// Bytes of received IKE datagrams that may wait for the daemon loop; more are dropped.
    pub receive_queue_bytes: u64,
    /// Prefix lengths (local, remote) from which the kernel hashes policies (strongSwan's
    /// spdh_thresh), set for the network namespace at start-up.
    pub spdh_thresh_v4: (u8, u8),
    pub spdh_thresh_v6: (u8, u8),
    /// Largest IP datagram of an IKE message before it goes out as RFC 7383 fragments
    /// (strongswan.conf charon.fragment_size); 0 = never fragment.
    pub fragment_size: u32,
    /// Announce and use RFC 7427 signature authentication (charon.signature_authentication).
    pub signature_authentication: bool,
    /// Sign with RSASSA-PSS rather than PKCS#1 v1.5 under RFC 7427 (charon.rsa_pss).
    pub rsa_pss: bool,
    /// Window of the summaries of log lines about unauthenticated traffic (docs/operations.md).
    #[serde(serialize_with = "ser_duration")]
    pub log_drop_interval: Duration,
    /// Such lines logged one by one per reason and window before the rest are only counted.
    pub log_drop_burst: u32,
}

impl Default for Settings {
    /// strongswan.conf's defaults (charon.retransmit_*, half_open_timeout, cookie_threshold).
    fn default() -> Self {
        Settings {
            retransmit_timeout: Duration::from_secs(4),
            retransmit_base: 1.8,
            retransmit_tries: 5,
            half_open_timeout: Duration::from_secs(30),
            cookie_threshold: 30,
            half_open_limit: 1000,
            block_threshold: 20,
            max_packet: 10_000,
            fragment_timeout: Duration::from_secs(10),
            max_ts: 64,
            max_policies: 1024,
            max_child_sas: 64,
            key_export: None,
            admin_group: None,
            receive_queue_bytes: 4 * 1024 * 1024,
            spdh_thresh_v4: (24, 24),
            spdh_thresh_v6: (64, 64),
            fragment_size: 1280,
            signature_authentication: true,
            rsa_pss: false,
            log_drop_interval: Duration::from_secs(10),
            log_drop_burst: 5,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Connection {
    pub name: String,
    pub version: u8,
    pub local_addrs: Vec<AddrSpec>,
    pub remote_addrs: Vec<AddrSpec>,
    pub local_port: u16,
    pub remote_port: u16,
    /// Proposal strings in strongSwan keyword syntax, as configured (for display).
    pub proposals: Vec<String>,
    /// `proposals` as the core's parser read them at load time.
    #[serde(skip)]
    pub ike_proposal_set: ProposalSet,
    #[serde(serialize_with = "ser_duration")]
    pub dpd_delay: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub dpd_timeout: Duration,
    pub dpd_mode: DpdMode,
    pub encap: bool,
    #[serde(serialize_with = "ser_duration")]
    pub rekey_time: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub over_time: Duration,
    /// Range of the random time subtracted from rekey_time and reauth_time (default over_time).
    #[serde(serialize_with = "ser_duration")]
    pub rand_time: Duration,
    /// Break-before-make reauthentication interval; zero = never.
    #[serde(serialize_with = "ser_duration")]
    pub reauth_time: Duration,
    /// Negotiation attempts when the peer does not answer (start/close_action=start); 0 = no limit.
    pub keyingtries: u32,
    /// When our certificate goes into IKE_AUTH (`send_cert`, default ifasked).
    pub send_cert: SendCert,
    /// Whether we ask for the peer's certificate, naming remote.cacerts (`send_certreq`, default yes).
    pub send_certreq: bool,
    pub local: Auth,
    pub remote: Auth,
    /// The pre-shared key found in `secrets` for this connection's identities (PSK auth only).
    #[serde(skip)]
    pub psk: Option<Secret>,
    /// Name of the `secrets` entry the PSK came from, for listings (never the secret itself).
    pub psk_source: Option<String>,
    pub children: Vec<Child>,
}

impl Connection {
    pub fn child(&self, name: &str) -> Option<&Child> {
        self.children.iter().find(|c| c.name == name)
    }
    /// The one address to send IKE_SA_INIT to, if `remote_addrs` names one.
    pub fn remote_host(&self) -> Option<std::net::IpAddr> {
        self.remote_addrs.iter().find_map(AddrSpec::host)
    }
    pub fn local_host(&self) -> Option<std::net::IpAddr> {
        self.local_addrs.iter().find_map(AddrSpec::host)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Auth {
    pub auth: AuthMethod,
    pub id: Identity,
    /// `id` was not written and is our certificate's subject: the core then sends the subject's
    /// exact DER rather than a re-encoding of its text form.
    #[serde(skip)]
    pub id_from_cert: bool,
    /// `certs`, resolved against the configuration file's directory (local: end entity first).
    pub certs: Vec<PathBuf>,
    /// `cacerts`, resolved likewise (remote only).
    pub cacerts: Vec<PathBuf>,
    /// The certificates read from `certs`, in order (a PEM file may hold several). Part of the
    /// value reload compares, so a renewed certificate under the same file name is a change.
    #[serde(skip)]
    pub cert_ders: Vec<Vec<u8>>,
    /// The CA certificates read from `cacerts`.
    #[serde(skip)]
    pub cacert_ders: Vec<Vec<u8>>,
    /// Subject of the end-entity certificate, for listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_subject: Option<String>,
    /// The `secrets` entry holding the key of the end-entity certificate (never the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_source: Option<String>,
    /// That entry's key file, which the driver loads for the protocol core.
    #[serde(skip)]
    pub private_key_file: Option<PathBuf>,
}

impl Auth {
    /// An authentication round without certificates (PSK, or a remote round before loading).
    pub fn new(auth: AuthMethod, id: Identity) -> Self {
        Auth {
            auth,
            id,
            id_from_cert: false,
            certs: Vec::new(),
            cacerts: Vec::new(),
            cert_ders: Vec::new(),
            cacert_ders: Vec::new(),
            cert_subject: None,
            private_key_source: None,
            private_key_file: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Child {
    pub name: String,
    pub local_ts: Vec<TsSpec>,
    pub remote_ts: Vec<TsSpec>,
    /// Empty when the key is not set: then, as in strongSwan, the AEAD-first default applies,
    /// which differs from the explicit keyword `default` (classic ciphers first).
    pub esp_proposals: Vec<String>,
    /// `esp_proposals` as the core's parser read them at load time (the default when unset).
    #[serde(skip)]
    pub esp_proposal_set: ProposalSet,
    pub mode: Mode,
    pub start_action: Action,
    pub dpd_action: Action,
    pub close_action: Action,
    #[serde(serialize_with = "ser_duration")]
    pub rekey_time: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub life_time: Duration,
    /// Range of the random time subtracted from rekey_time (default life_time - rekey_time).
    #[serde(serialize_with = "ser_duration")]
    pub rand_time: Duration,
    pub rekey_bytes: u64,
    pub life_bytes: u64,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fmt_duration(*d))
}

/// One entry of `secrets:` after decoding.
#[derive(Clone, Debug)]
pub struct SharedSecret {
    pub name: String,
    pub owners: Vec<Identity>,
    pub secret: Secret,
}

impl SharedSecret {
    /// How well this secret fits a (local, remote) identity pair, strongSwan style: both owners
    /// named beats one, one beats a secret without owners (which fits anyone). `None` = no fit.
    pub fn fit(&self, local: &Identity, remote: &Identity) -> Option<u8> {
        if self.owners.is_empty() {
            return Some(1);
        }
        let has = |id: &Identity| *id != Identity::Any && self.owners.contains(id);
        match (has(local), has(remote)) {
            (true, true) => Some(3),
            (true, false) | (false, true) => Some(2),
            (false, false) => None,
        }
    }
}
