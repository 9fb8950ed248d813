//! The YAML document as written: every section denies unknown keys (serde lists the allowed ones),
//! and every value is parsed by its own deserializer so errors carry line, column and key path.
//! Values stay text here (as written, so `0x..` secrets survive YAML's number rules); `build` in
//! mod.rs parses them and locates errors by key. Absent keys stay `None`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use zeroize::Zeroizing;

use super::unique::{de_children, de_connections};
use super::values::{de_id_list, de_list, de_secret_text, de_text};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Document {
    #[serde(default)]
    pub settings: Option<SettingsDoc>,
    #[serde(default, deserialize_with = "de_connections")]
    pub connections: Option<BTreeMap<String, ConnDoc>>,
    #[serde(default)]
    pub secrets: Option<BTreeMap<String, SecretDoc>>,
    /// A separate file holding a `secrets:` section, so the main config can stay world-readable.
    /// Relative paths resolve against the config file's directory.
    #[serde(default)]
    pub secrets_file: Option<PathBuf>,
}

/// A file named by `secrets_file`: only secrets.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SecretsDocument {
    #[serde(default)]
    pub secrets: Option<BTreeMap<String, SecretDoc>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SettingsDoc {
    #[serde(default, deserialize_with = "de_text")]
    pub retransmit_timeout: Option<String>,
    #[serde(default)]
    pub retransmit_base: Option<f64>,
    #[serde(default)]
    pub retransmit_tries: Option<u32>,
    #[serde(default, deserialize_with = "de_text")]
    pub half_open_timeout: Option<String>,
    #[serde(default)]
    pub cookie_threshold: Option<u32>,
    #[serde(default)]
    pub half_open_limit: Option<u32>,
    #[serde(default)]
    pub block_threshold: Option<u32>,
    #[serde(default)]
    pub max_packet: Option<u32>,
    #[serde(default, deserialize_with = "de_text")]
    pub fragment_timeout: Option<String>,
    #[serde(default)]
    pub max_ts: Option<u32>,
    #[serde(default)]
    pub max_policies: Option<u32>,
    #[serde(default)]
    pub max_child_sas: Option<u32>,
    #[serde(default)]
    pub key_export: Option<std::path::PathBuf>,
    #[serde(default, deserialize_with = "de_text")]
    pub admin_group: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub receive_queue_bytes: Option<String>,
    #[serde(default)]
    pub fragment_size: Option<u32>,
    #[serde(default, deserialize_with = "de_text")]
    pub signature_authentication: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub rsa_pss: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub spdh_thresh_v4: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub spdh_thresh_v6: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub log_drop_interval: Option<String>,
    #[serde(default)]
    pub log_drop_burst: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConnDoc {
    #[serde(default)]
    pub version: Option<u8>,
    #[serde(default, deserialize_with = "de_list")]
    pub local_addrs: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de_list")]
    pub remote_addrs: Option<Vec<String>>,
    #[serde(default)]
    pub local_port: Option<u16>,
    #[serde(default)]
    pub remote_port: Option<u16>,
    #[serde(default, deserialize_with = "de_list")]
    pub proposals: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de_text")]
    pub dpd_delay: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub dpd_timeout: Option<String>,
    #[serde(default)]
    pub dpd_mode: Option<DpdMode>,
    #[serde(default, deserialize_with = "de_text")]
    pub encap: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub rekey_time: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub over_time: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub rand_time: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub reauth_time: Option<String>,
    #[serde(default)]
    pub keyingtries: Option<u32>,
    #[serde(default)]
    pub send_cert: Option<SendCert>,
    #[serde(default, deserialize_with = "de_text")]
    pub send_certreq: Option<String>,
    #[serde(default)]
    pub local: Option<AuthDoc>,
    #[serde(default)]
    pub remote: Option<AuthDoc>,
    #[serde(default, deserialize_with = "de_children")]
    pub children: Option<BTreeMap<String, ChildDoc>>,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    Psk,
    Pubkey,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthDoc {
    #[serde(default)]
    pub auth: Option<AuthMethod>,
    #[serde(default, deserialize_with = "de_text")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "de_list")]
    pub certs: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de_list")]
    pub cacerts: Option<Vec<String>>,
}

/// swanctl's `send_cert`: when our certificate goes into IKE_AUTH.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SendCert {
    /// Only when the peer sent a CERTREQ (strongSwan's default).
    #[default]
    IfAsked,
    Always,
    Never,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Tunnel,
    Transport,
}

/// start_action / dpd_action / close_action. strongSwan's aliases are accepted: `clear` is
/// `none`, `route` is `trap`, `restart` is `start`.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[serde(alias = "clear")]
    None,
    #[serde(alias = "route")]
    Trap,
    #[serde(alias = "restart")]
    Start,
}

/// When dead peer detection probes (an rswan key; strongSwan always probes on demand).
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DpdMode {
    /// Probe when nothing came from the peer for dpd_delay (strongSwan's behaviour).
    OnDemand,
    /// Probe only when there was no traffic in either direction for dpd_delay.
    OnIdle,
    /// Answer the peer's probes, never send any.
    Disabled,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ChildDoc {
    #[serde(default, deserialize_with = "de_list")]
    pub local_ts: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de_list")]
    pub remote_ts: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de_list")]
    pub esp_proposals: Option<Vec<String>>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub start_action: Option<Action>,
    #[serde(default)]
    pub dpd_action: Option<Action>,
    #[serde(default)]
    pub close_action: Option<Action>,
    #[serde(default, deserialize_with = "de_text")]
    pub rekey_time: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub life_time: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub rand_time: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub rekey_bytes: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    pub life_bytes: Option<String>,
}

/// One entry of `secrets:`. `ike<suffix>` uses `id` and `secret`; `private<suffix>` (and its
/// aliases `rsa`, `ecdsa`, `pkcs8`) uses `file` and optionally `secret` (a passphrase).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretDoc {
    /// Owners of the secret: the identities it is shared between. Empty = any identity.
    #[serde(default, deserialize_with = "de_id_list")]
    pub id: Option<Vec<String>>,
    /// Wiped on drop: it holds the key's text.
    #[serde(default, deserialize_with = "de_secret_text")]
    pub secret: Option<Zeroizing<String>>,
    /// A private key file (PEM or DER), relative to the directory of the file holding the entry.
    #[serde(default)]
    pub file: Option<PathBuf>,
}
